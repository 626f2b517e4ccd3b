//! XMPP over WebSocket (RFC 7395) on the server's `/xmpp` path: framing, authentication with a token,
//! binding, a subscription approved and one refused by the access rules, and a presence push.

mod common;

use base64::Engine;
use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_core::protocol::AgentRequest;
use frontdesk_server::xmpp::element::parse_one;
use frontdesk_server::{start, ServerConfig};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message in time").expect("open").unwrap();
        if let Message::Text(t) = m {
            let s = t.as_str().to_string();
            // Every message is a document of its own.
            let el = parse_one(s.as_bytes()).await.unwrap_or_else(|e| panic!("not standalone XML ({e}): {s}"));
            if matches!(el.local(), "iq" | "presence" | "message") {
                assert_eq!(el.ns(), Some("jabber:client"), "{s}");
            }
            return s;
        }
    }
}

async fn recv_until(ws: &mut Ws, pat: &str) -> String {
    for _ in 0..20 {
        let s = recv(ws).await;
        if s.contains(pat) {
            return s;
        }
    }
    panic!("never saw {pat}");
}

async fn open(base: &str) -> Ws {
    let mut req = format!("{base}/xmpp").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "xmpp".parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), "xmpp");
    ws
}

async fn send(ws: &mut Ws, s: &str) {
    ws.send(Message::text(s.to_string())).await.unwrap();
}

const OPEN: &str = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='frontdesk.local' version='1.0'/>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_over_websocket_logs_in_subscribes_and_gets_pushes() {
    let cfg = ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), db: None, secret: SECRET.to_vec(), simulate: false, sample_data: true, ..ServerConfig::default() };
    let srv = start(cfg).await.unwrap();
    let base = format!("ws://{}", srv.addr);
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Voice]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut bob = App::start(&base, App::config("bob", 1));
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = bob.h.with(|c| c.set_access_rules(vec![AccessRule { watcher: WatcherMatch::Client("alice".into()), decision: Decision::Block }]));
    bob.answer(id).await.unwrap();

    // A wrong password is refused.
    let mut bad = open(&base).await;
    send(&mut bad, OPEN).await;
    recv_until(&mut bad, "PLAIN").await;
    let creds = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0not-a-token");
    send(&mut bad, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>")).await;
    assert!(recv(&mut bad).await.contains("not-authorized"));

    let mut ws = open(&base).await;
    send(&mut ws, OPEN).await;
    assert!(recv(&mut ws).await.starts_with("<open"));
    recv_until(&mut ws, "PLAIN").await;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{}", client_token("alice")));
    send(&mut ws, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>")).await;
    assert!(recv(&mut ws).await.contains("<success"));
    send(&mut ws, OPEN).await;
    recv_until(&mut ws, "urn:ietf:params:xml:ns:xmpp-bind").await;
    send(&mut ws, "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>").await;
    assert!(recv(&mut ws).await.contains("client-alice@frontdesk.local/web"));
    send(&mut ws, "<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>").await;
    let roster = recv(&mut ws).await;
    assert!(roster.contains("agent-ann@frontdesk.local") && roster.contains("queue-support@frontdesk.local"), "{roster}");
    send(&mut ws, "<presence xmlns='jabber:client'/>").await;
    send(&mut ws, "<presence xmlns='jabber:client' type='subscribe' to='agent-ann@frontdesk.local'/>").await;
    recv_until(&mut ws, "type='subscribed'").await;
    let p = recv_until(&mut ws, "from='agent-ann@frontdesk.local'").await;
    assert!(p.contains("available"), "{p}");
    ann.request(AgentRequest::SetState { state: AgentState::Busy }).await.unwrap();
    let p = recv_until(&mut ws, "<show>dnd</show>").await;
    assert!(p.contains("on-the-phone"), "{p}");
    send(&mut ws, "<presence xmlns='jabber:client' type='subscribe' to='client-bob@frontdesk.local'/>").await;
    recv_until(&mut ws, "type='unsubscribed'").await;
    send(&mut ws, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>").await;
    assert!(recv(&mut ws).await.starts_with("<close"));
    bob.h.shutdown();
    srv.shutdown().await;
}
