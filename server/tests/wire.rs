//! The WebSocket byte layer of `/client` and `/agent` on a plain socket (`server/src/wire.rs`), driven
//! by hand-made frames over raw TCP: what a browser or a mobile stack may legally send (frames with the
//! upgrade request, fragments, pings between them, a frame split over many writes) is understood,
//! and what RFC 6455 forbids gets its close code.

mod common;

use common::*;
use frontdesk_core::protocol::BrokerFrame;
use frontdesk_server::{start, ServerConfig};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(origins: Vec<String>) -> frontdesk_server::Running {
    let cfg = ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), db: None, secret: SECRET.to_vec(), simulate: false, sample_data: true, allowed_origins: origins, ..ServerConfig::default() };
    start(cfg).await.unwrap()
}

fn upgrade(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")
}

/// A client frame: masked, as RFC 6455 requires of clients.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    frontdesk_server::wire::client_frame(opcode, fin, [0x37, 0xfa, 0x21, 0x3d], payload)
}

fn hello(name: &str) -> Vec<u8> {
    json!({"t":"hello","v":1,"token":client_token(name),"instance":1,"last_seq":0,"next_request":1}).to_string().into_bytes()
}

/// Reads the HTTP answer head.
async fn head(s: &mut TcpStream) -> String {
    let mut h = vec![];
    let mut b = [0u8; 1];
    while !h.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await.expect("an answer in time").unwrap();
        assert!(n > 0, "closed before the head ended: {}", String::from_utf8_lossy(&h));
        h.push(b[0]);
    }
    String::from_utf8(h).unwrap()
}

/// Reads one server frame: (opcode, payload); server frames are never masked.
async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut h)).await.expect("a frame in time").unwrap();
    assert_eq!(h[1] & 0x80, 0, "a server frame is unmasked");
    assert_eq!(h[0] & 0x80, 0x80, "the server sends whole frames");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).await.unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await.unwrap();
    (h[0] & 0x0f, p)
}

async fn broker_frame(s: &mut TcpStream) -> BrokerFrame {
    loop {
        let (op, p) = read_frame(s).await;
        if op == 1 {
            return BrokerFrame::decode(&p, frontdesk_core::protocol::MAX_FRAME_BYTES).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_with_the_upgrade_fragmented_or_split_byte_by_byte_are_understood() {
    let srv = server(vec![]).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // The hello in the same packet as the upgrade request.
    let mut first = upgrade("/client", "").into_bytes();
    first.extend(frame(1, true, &hello("wanda")));
    s.write_all(&first).await.unwrap();
    let h = head(&mut s).await;
    assert!(h.starts_with("HTTP/1.1 101"), "{h}");
    assert!(h.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{h}");
    assert!(matches!(broker_frame(&mut s).await, BrokerFrame::Welcome { .. }));
    // A request in three fragments with a ping between them: the pong comes back with its payload,
    // the request is answered once.
    let req = json!({"t":"request","id":1,"req":{"op":"get_profile"}}).to_string().into_bytes();
    let (a, rest) = req.split_at(5);
    let (b, c) = rest.split_at(7);
    let mut bytes = frame(1, false, a);
    bytes.extend(frame(0, false, b));
    bytes.extend(frame(9, true, b"are you there"));
    bytes.extend(frame(0, true, c));
    s.write_all(&bytes).await.unwrap();
    let mut pong = None;
    let mut answered = 0;
    while pong.is_none() || answered == 0 {
        let (op, p) = read_frame(&mut s).await;
        match op {
            0xa => pong = Some(p),
            1 => {
                if let BrokerFrame::Response { id: 1, .. } = BrokerFrame::decode(&p, frontdesk_core::protocol::MAX_FRAME_BYTES).unwrap() {
                    answered += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(pong.unwrap(), b"are you there");
    // A frame written a byte at a time.
    let req = json!({"t":"request","id":2,"req":{"op":"get_profile"}}).to_string().into_bytes();
    for b in frame(1, true, &req) {
        s.write_all(&[b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    loop {
        if let BrokerFrame::Response { id, .. } = broker_frame(&mut s).await {
            assert_eq!(id, 2);
            break;
        }
    }
    // A close is answered with a close.
    s.write_all(&frame(8, true, &1000u16.to_be_bytes())).await.unwrap();
    loop {
        let (op, _) = read_frame(&mut s).await;
        if op == 8 {
            break;
        }
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_rfc_6455_forbids_is_closed_with_its_code_and_bad_upgrades_get_http_errors() {
    let srv = server(vec!["https://shop.example".into()]).await;
    let close_code = |p: Vec<u8>| u16::from_be_bytes([p[0], p[1]]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", {
            let mut f = vec![0x81, 2];
            f.extend_from_slice(b"hi");
            f
        }, 1002),
        ("a reserved opcode", frame(3, true, b"x"), 1002),
        ("a continuation with no message", frame(0, true, b"x"), 1002),
        ("a fragmented ping", frame(9, false, b"x"), 1002),
        ("a message over the limit", frame(2, true, &vec![b'a'; frontdesk_net::ws::MAX_MESSAGE_BYTES + 1]), 1009),
    ];
    for (what, bytes, code) in cases {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(upgrade("/client", "").as_bytes()).await.unwrap();
        assert!(head(&mut s).await.starts_with("HTTP/1.1 101"));
        s.write_all(&frame(1, true, &hello("vic"))).await.unwrap();
        assert!(matches!(broker_frame(&mut s).await, BrokerFrame::Welcome { .. }));
        let _ = s.write_all(&bytes).await;
        loop {
            let (op, p) = read_frame(&mut s).await;
            if op == 8 {
                assert_eq!(close_code(p), code, "{what}");
                break;
            }
        }
    }
    let addr = srv.addr;
    let refused = |req: String| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        head(&mut s).await
    };
    let h = refused(upgrade("/client", "Origin: https://evil.example\r\n")).await;
    assert!(h.starts_with("HTTP/1.1 403"), "{h}");
    let h = refused(upgrade("/client", "Origin: https://shop.example\r\n")).await;
    assert!(h.starts_with("HTTP/1.1 101"), "{h}");
    let h = refused(upgrade("/agent", "").replace("Version: 13", "Version: 8")).await;
    assert!(h.starts_with("HTTP/1.1 426") && h.contains("Sec-WebSocket-Version: 13"), "{h}");
    let h = refused(upgrade("/client", "").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")).await;
    assert!(h.starts_with("HTTP/1.1 400"), "{h}");
    srv.shutdown().await;
}
