//! A full descriptor table (issue 13): the accept loop sheds the oldest unauthenticated connections,
//! so an honest client queued behind a stranger's stalled sockets is served within seconds rather
//! than after their timeouts, and authenticated sessions are never shed. Loopback only; every wait
//! is bounded.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The server's descriptor limit: small enough to fill from one test, large enough to hold a few
/// hundred connections as a real table does.
const NOFILE: u32 = 256;

/// An XMPP stream header cut before its `>`: the server waits in the header read.
const STREAM_HEAD: &[u8] =
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='frontdesk.local' version='1.0'";

/// The server process and its log, killed and removed even when an assertion fails.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn log_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn hello(token: &str, instance: u64) -> Message {
    Message::text(json!({"t":"hello","v":1,"token":token,"instance":instance,"last_seq":0,"next_request":1}).to_string())
}

/// The next frame as JSON, or `None` once closed (or after `ms` of silence).
async fn frame(ws: &mut Ws, ms: u64) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_millis(ms), ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Waits for `welcome`; panics on an error frame or a close.
async fn welcomed(ws: &mut Ws) {
    loop {
        let f = frame(ws, 10_000).await.expect("welcome before close");
        match f["t"].as_str() {
            Some("welcome") => return,
            Some("error") => panic!("refused: {f}"),
            _ => {}
        }
    }
}

/// Whether the server has closed this socket (without waiting for anything).
fn closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 256];
    loop {
        match s.try_read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

async fn health(port: u16) -> bool {
    let r = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut got = vec![];
        s.read_to_end(&mut got).await.ok()?;
        got.starts_with(b"HTTP/1.1 200").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(2), r).await.ok().flatten().is_some()
}

/// The largest "(N since start)" the accept loops logged: the server's own count of shed connections.
fn logged_shed_total(log: &str) -> Option<u64> {
    log.lines().filter_map(|l| l.split(" since start)").next().filter(|_| l.contains(" since start)"))?.rsplit('(').next()?.trim().parse().ok()).max()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_descriptor_table_sheds_the_oldest_unauthenticated_connections_and_no_session() {
    let (port, xport) = (free_port(), free_port());
    let log = std::env::temp_dir().join(format!("fd-shed-{}.log", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_frontdesk-server");
    let child = Command::new("sh")
        .args(["-c", &format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""), bin])
        .args(["--addr", &format!("127.0.0.1:{port}"), "--memory", "--secret", std::str::from_utf8(SECRET).unwrap(), "--no-sim"])
        // Every stranger here is 127.0.0.1: the per-address cap is lifted so only the table limits them.
        .args(["--xmpp-addr", &format!("127.0.0.1:{xport}"), "--max-unauth-per-addr", "100000"])
        .env("RUST_LOG", "warn,frontdesk_server::limits=info")
        .env("NO_COLOR", "1")
        // The server logs to stdout.
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let srv = Server { child, log };
    wait_listening(port).await;
    wait_listening(xport).await;
    let base = format!("ws://127.0.0.1:{port}");

    // Bob authenticated before the flood.
    let (mut bob, _) = tokio_tungstenite::connect_async(format!("{base}/client")).await.unwrap();
    bob.send(hello(&client_token("bob"), 1)).await.unwrap();
    welcomed(&mut bob).await;

    // The flood, oldest first: WebSockets that never say hello, XMPP streams stalled in their header,
    // then bare TCP connections until the server's accept fails on its full table, and 100 more
    // waiting in the backlog ahead of the honest client.
    let mut silent_ws: Vec<Ws> = vec![];
    for _ in 0..100 {
        let ws = tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(format!("{base}/client"))).await;
        silent_ws.push(ws.expect("room in the table for the first WebSockets").unwrap().0);
    }
    let mut stalled_xmpp = vec![];
    for _ in 0..40 {
        let mut s = TcpStream::connect(("127.0.0.1", xport)).await.unwrap();
        s.write_all(STREAM_HEAD).await.unwrap();
        stalled_xmpp.push(s);
    }
    let mut bare = vec![];
    let mut full_at = None;
    for _ in 0..1000 {
        bare.push(tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(("127.0.0.1", port))).await.expect("backlog room").unwrap());
        if full_at.is_none() && bare.len() % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if log_text(&srv.log).contains("accept failed") {
                full_at = Some(bare.len());
            }
        }
        if full_at.is_some_and(|n| bare.len() >= n + 100) {
            break;
        }
    }
    let full_at = full_at.unwrap_or_else(|| panic!("the table never filled: {}", log_text(&srv.log)));

    // The honest client, behind all of them.
    let t0 = Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(8), async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("{base}/client")).await.unwrap();
        ws.send(hello(&client_token("carol"), 2)).await.unwrap();
        welcomed(&mut ws).await;
        ws
    })
    .await;
    let waited = t0.elapsed();
    let newest_open = bare.iter().rev().take(20).filter(|s| !closed(s)).count();
    let bare_closed = bare.iter().filter(|s| closed(s)).count();
    let xmpp_closed = stalled_xmpp.iter().filter(|s| closed(s)).count();
    let mut ws_shed = 0;
    let mut oldest_told = None;
    for (i, ws) in silent_ws.iter_mut().enumerate() {
        let f = frame(ws, 10).await;
        let shed = f.as_ref().is_some_and(|f| f["t"] == "error" && f["error"]["code"] == "unavailable" && f["fatal"] == true);
        if i == 0 {
            oldest_told = Some(f);
        }
        ws_shed += shed as usize;
    }
    eprintln!(
        "RLIMIT_NOFILE {NOFILE}: table full after {} stalled connections ({} WebSocket, {} XMPP, {full_at} TCP), {} more queued; \
         honest client served after {waited:?}; closed by then: {ws_shed} WebSocket (told why), {xmpp_closed} XMPP, {bare_closed} TCP; \
         {newest_open} of the 20 newest still open",
        silent_ws.len() + stalled_xmpp.len() + full_at,
        silent_ws.len(),
        stalled_xmpp.len(),
        bare.len() - full_at,
    );
    let mut carol = served.unwrap_or_else(|_| panic!("the honest client was not served within 8 s; server log:\n{}", log_text(&srv.log)));
    // Hello and handshake timeouts are 10 s: being served sooner means connections were shed.
    assert!(waited < Duration::from_secs(5), "served only after {waited:?}");
    assert!(matches!(&oldest_told, Some(Some(f)) if f["error"]["code"] == "unavailable"), "the oldest stalled WebSocket was not shed first: {oldest_told:?}");
    assert!(newest_open > 0, "the newest stalled connections were shed too: shedding is not oldest first");

    // Bob's connection, authenticated before the flood, was kept: a request on it is answered.
    bob.send(Message::text(json!({"t":"request","id":1,"req":{"op":"get_orders"}}).to_string())).await.unwrap();
    loop {
        let f = frame(&mut bob, 10_000).await.expect("bob's connection was kept");
        match f["t"].as_str() {
            Some("response") if f["id"] == 1 => {
                assert!(f["outcome"].get("ok").is_some(), "{f}");
                break;
            }
            Some("error") => panic!("bob got an error: {f}"),
            _ => {}
        }
    }
    // Carol, authenticated meanwhile, is never shed either.
    carol.send(Message::text(json!({"t":"request","id":1,"req":{"op":"get_orders"}}).to_string())).await.unwrap();
    loop {
        let f = frame(&mut carol, 10_000).await.expect("carol's connection was kept");
        if f["t"] == "response" && f["id"] == 1 {
            break;
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !health(port).await {
        assert!(Instant::now() < until, "/health did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // After a quiet spell the next accept on each port reports the burst, with the server's count.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(health(port).await, "/health after the burst");
    drop(TcpStream::connect(("127.0.0.1", xport)).await);
    let until = Instant::now() + Duration::from_secs(5);
    let total = loop {
        let text = log_text(&srv.log);
        if let Some(n) = logged_shed_total(&text) {
            break n;
        }
        assert!(Instant::now() < until, "no burst report in the log:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = log_text(&srv.log);
    let warnings = text.lines().filter(|l| l.contains("accept failed")).count();
    eprintln!("server: {total} unauthenticated connections shed, {warnings} accept warning(s)");
    assert!(total >= ws_shed as u64 && total > 0, "server counted {total}, {ws_shed} WebSockets were told");
    assert!(warnings <= 2, "accept failures are logged once per burst and port, not per connection:\n{text}");
}
