//! The socket.io baseline (server/bench/socketio, run with node), driven through the same
//! measurements as frontdesk: Engine.IO v4 over WebSocket, spoken here directly.

use crate::measure::{self, expect_text, send, Counters, Figures, Run};
use crate::Child;
use futures::StreamExt;
use std::path::Path;
use std::time::Instant;

/// The baseline's directory.
fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/socketio")
}

/// Installs the baseline's pinned dependencies once (`npm ci`), so `--compare` runs from a clean checkout.
fn install() -> Run<()> {
    if dir().join("node_modules/socket.io").exists() {
        return Ok(());
    }
    println!("socket.io: npm ci in {}", dir().display());
    let ok = std::process::Command::new("npm").arg("ci").arg("--no-audit").arg("--no-fund").current_dir(dir()).status().map_err(|e| format!("npm ci: {e} (is node installed?)"))?;
    ok.success().then_some(()).ok_or_else(|| format!("npm ci in {} failed ({ok})", dir().display()))
}

/// Connect, memory, fan-out and round trips against the baseline, with `pad` filler bytes in its
/// center document, or (`delta`) broadcasting what changed instead of the document.
pub async fn run(clients: usize, flips: usize, seconds: u64, pad: usize, delta: bool, port: u16) -> Run<Figures> {
    install()?;
    let mut cmd = std::process::Command::new("node");
    cmd.arg(dir().join("server.mjs")).arg(port.to_string());
    if delta {
        cmd.arg("0").arg("delta");
    } else {
        cmd.arg(pad.to_string());
    }
    let child = Child::spawn("node server/bench/socketio/server.mjs", &mut cmd)?;
    measure::listening("socket.io", port).await?;
    let idle = measure::rss_kib(child.pid());
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let c = Counters::default();
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(clients);
    for i in 0..clients {
        let what = format!("socket.io socket {i}");
        let (mut tx, mut rx) = crate::raw::connect(&what, &url).await?;
        // Engine.IO open packet, then a Socket.IO connect to the main namespace.
        rx.expect_text(&format!("{what}: Engine.IO open"), |t| t.starts_with('0')).await?;
        send(&what, &mut tx, "40").await?;
        // An event sent before the namespace's connect ack is dropped by the server.
        rx.expect_text(&format!("{what}: namespace connect ack"), |t| t.starts_with("40")).await?;
        send(&what, &mut tx, r#"421["watch","center"]"#).await?;
        crate::raw::spawn_reader(rx, &c, &[r#"42["status""#], "43");
        senders.push(tx);
    }
    let mut f = measure::report_connect(&c.answers, clients, t0, Some((child.pid(), idle)), "socket.io sockets", "connected and watching").await?;
    let (mut agent, mut agent_rx) = measure::connect_ws("socket.io agent", url.as_str()).await?.split();
    expect_text("socket.io agent: Engine.IO open", &mut agent_rx, |t| t.starts_with('0')).await?;
    send("socket.io agent", &mut agent, "40").await?;
    expect_text("socket.io agent: namespace connect ack", &mut agent_rx, |t| t.starts_with("40")).await?;
    tokio::spawn(async move { while agent_rx.next().await.is_some() {} });
    f.fan_out = measure::fan_out(&c, clients, flips, async |k| {
        let state = if k % 2 == 0 { "available" } else { "away" };
        send("socket.io agent_state", &mut agent, format!(r#"42["agent_state",{{"id":"ann","name":"Ann","state":"{state}"}}]"#)).await
    })
    .await?;
    f.requests = Some(measure::round_trips(&mut senders, &c, seconds, "socket.io requests", |id| format!(r#"42{id}["get_center_status"]"#)).await?);
    Ok(f)
}
