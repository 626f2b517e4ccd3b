//! `--compare`: every server in turn under the same load, then the tables with ratios.

use crate::measure::{Figures, Run};
use crate::Args;

/// A number with thousands separators, as the README writes them.
fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

/// How frontdesk fares against the other: "1.42× better" or "1.42× worse".
fn ratio(fd: f64, other: f64, lower_is_better: bool) -> String {
    if fd <= 0.0 || other <= 0.0 {
        return "–".into();
    }
    let r = if lower_is_better { other / fd } else { fd / other };
    if r >= 1.0 {
        format!("{r:.2}× better")
    } else {
        format!("{:.2}× worse", 1.0 / r)
    }
}

/// One table: a row per figure both peers have.
fn table(title: &str, connect: &str, fd: &Figures, other: &Figures, other_name: &str, fan: &str, req: &str) -> String {
    let mut t = format!("| {title} | frontdesk | {other_name} | frontdesk vs {other_name} |\n|---|---|---|---|\n");
    let mut row = |name: &str, a: String, b: String, r: String| t.push_str(&format!("| {name} | {a} | {b} | {r} |\n"));
    if let (Some(a), Some(b)) = (fd.login_ms, other.login_ms) {
        row("one STARTTLS login on the idle server (median of 9)", format!("{a:.1} ms"), format!("{b:.1} ms"), ratio(a, b, true));
    }
    let (a, b) = (fd.connect.as_secs_f64(), other.connect.as_secs_f64());
    row(connect, format!("{a:.2} s"), format!("{b:.2} s"), ratio(a, b, true));
    if let (Some(a), Some(b)) = (fd.kib_per_conn, other.kib_per_conn) {
        row("server memory per connection (RSS delta / N)", format!("{a:.1} KiB"), format!("{b:.1} KiB"), ratio(a, b, true));
    }
    if let Some(a) = fd.heap_per_conn {
        row("frontdesk heap per connection (counting allocator)", format!("{:.2} KiB", a / 1024.0), "–".into(), "–".into());
    }
    row(fan, thousands(fd.fan_out), thousands(other.fan_out), ratio(fd.fan_out, other.fan_out, false));
    if let (Some(a), Some(b)) = (fd.requests, other.requests) {
        row(req, thousands(a), thousands(b), ratio(a, b, false));
    }
    t
}

/// Runs frontdesk, socket.io, frontdesk's XMPP listener and Prosody one after another (each alone
/// on the machine, a fresh process each) and prints both tables.
pub async fn run(a: &Args) -> Run<()> {
    println!("== frontdesk, WebSocket sessions");
    let fd = crate::sessions(a).await?;
    println!("\n== socket.io baseline");
    let sio = crate::socketio::run(a.clients, a.flips, a.seconds, a.socketio_pad, a.socketio_delta, crate::free_port()).await?;
    println!("\n== frontdesk, XMPP over TCP (STARTTLS)");
    let fx = crate::xmpp_tcp(a).await?;
    println!("\n== Prosody, XMPP over TCP (STARTTLS)");
    let px = crate::xmpp_prosody(a).await?;
    let n = crate::compare::thousands(a.clients as f64);
    println!();
    println!("{}", table(&format!("{n} sessions"), "connect (+ authenticate) and watch", &fd, &sio, "socket.io", "status fan-out, notifications/s", "request round trips/s"));
    println!("{}", table(&format!("{n} XMPP subscribers"), "log in, bind and subscribe", &fx, &px, "Prosody", "presence pushes/s", "ping round trips/s (XEP-0199)"));
    Ok(())
}
