//! `--count-heap` serves the server's live heap at `/metrics`, the figure `frontdesk-load` reads
//! for memory per session; without the flag the path is not there.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The gauge at `/metrics`, or the status when there is none.
async fn heap(port: u16) -> Result<i64, u16> {
    let (status, _, body) = http(port, "GET", "/metrics", None, "text/plain", b"").await;
    if status != 200 {
        return Err(status);
    }
    let text = String::from_utf8(body).unwrap();
    Ok(text.lines().find_map(|l| l.strip_prefix("frontdesk_heap_bytes ")).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("no gauge in {text:?}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for at the end
async fn count_heap_serves_live_heap_bytes_that_grow_with_sessions_and_nothing_without_the_flag() {
    let dir = TempDir::new("heap-metrics");
    let port = free_port();
    let mut child = spawn_server(port, &dir.0.join("off.db"), &[]);
    wait_listening(port).await;
    assert_eq!(heap(port).await, Err(404), "no /metrics without --count-heap");
    child.kill().unwrap();
    child.wait().unwrap();

    let port = free_port();
    let mut child = spawn_server(port, &dir.0.join("on.db"), &["--count-heap"]);
    wait_listening(port).await;
    let before = heap(port).await.expect("/metrics with --count-heap");
    // Sessions that authenticate and watch: the server holds each of them, so the live heap grows.
    let mut socks = vec![];
    for i in 0..50 {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/client")).await.unwrap();
        let hello = format!(r#"{{"t":"hello","v":1,"token":"{}","instance":1,"last_seq":0,"next_request":1}}"#, client_token(&format!("heap{i}")));
        ws.send(Message::text(hello)).await.unwrap();
        ws.send(Message::text(r#"{"t":"request","id":1,"req":{"op":"watch","presentity":"center"}}"#)).await.unwrap();
        loop {
            let m = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.expect("an answer in time").unwrap().unwrap();
            if m.to_text().unwrap().starts_with(r#"{"t":"response""#) {
                break;
            }
        }
        socks.push(ws);
    }
    let after = heap(port).await.unwrap();
    assert!(after - before > 50 * 256, "50 sessions held {} bytes of heap", after - before);
    drop(socks);
    child.kill().unwrap();
    child.wait().unwrap();
}
