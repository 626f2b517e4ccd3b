//! The mission flow, bad input and limits over real WebSocket on loopback.

mod common;

use common::*;
use frontdesk_core::alert::AlertRule;
use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::invitation::InvitationState;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::profile::{Capability, ProfilePatch};
use frontdesk_core::protocol::{AgentRequest, BrokerFrame, ErrorCode, Event, Response, MAX_FRAME_BYTES};
use frontdesk_core::records::{DeliveryDetails, HistoryFilter};
use frontdesk_core::status::AgentState;
use frontdesk_core::{InvitationId, Medium};
use frontdesk_server::{start, ServerConfig};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn server() -> (frontdesk_server::Running, String) {
    let cfg = ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), db: None, secret: SECRET.to_vec(), simulate: false, sample_data: true, ..ServerConfig::default() };
    let r = start(cfg).await.unwrap();
    let base = format!("ws://{}", r.addr);
    (r, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_mission_flow_over_websocket() {
    let (srv, base) = server().await;
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat, Medium::Voice]).await;
    let mut alice = App::start(&base, App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    // Data: post, read history filtered, change an order.
    let id = alice.h.with(|c| c.update_profile(ProfilePatch { capabilities: Some(vec![Capability { medium: Medium::Chat, address: None, devices: vec![] }]), ..Default::default() }));
    assert!(matches!(alice.answer(id).await, Ok(Response::Profile(p)) if p.revision == 1));
    let id = alice.h.with(|c| c.get_history(HistoryFilter { product: Some("router".into()), ..Default::default() }));
    let Ok(Response::History(v)) = alice.answer(id).await else { panic!() };
    assert_eq!(v.len(), 1);
    let id = alice.h.with(|c| c.update_delivery("A-1001".into(), DeliveryDetails { address: "4 Quai Rambaud".into(), ..Default::default() }));
    assert!(matches!(alice.answer(id).await, Ok(Response::Order(o)) if o.delivery.address == "4 Quai Rambaud"));
    let id = alice.h.with(|c| c.update_delivery("B-2001".into(), DeliveryDetails { address: "not mine".into(), ..Default::default() }));
    assert_eq!(alice.answer(id).await.unwrap_err().code, ErrorCode::NotFound);
    // Alert and live status.
    let id = alice.h.with(|c| c.subscribe_alert(AlertRule::AgentAvailable { agent: Some("ann".into()), product: None, medium: None }));
    alice.answer(id).await.unwrap();
    assert!(ann.request(AgentRequest::SetState { state: AgentState::Available }).await.is_ok());
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Alert(a)) if a.message.contains("ANN"))).await;
    alice.wait(10, |e| matches!(e, ClientEvent::Presence(d) if d.entity == Presentity::Center && d.center.as_ref().is_some_and(|c| c.available_agents(None).count() == 1))).await;
    // Invitation from the agent, accepted; chat both ways.
    let Ok(Response::Invitation(inv)) = ann.request(AgentRequest::Invite { client: "alice".into(), medium: Medium::Chat, message: "Need help?".into() }).await else { panic!() };
    let inv: InvitationId = inv.id;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Invitation(i)) if i.id == inv)).await;
    let id = alice.h.with(|c| c.respond_invitation(inv.clone(), true));
    let Ok(Response::Invitation(i)) = alice.answer(id).await else { panic!() };
    assert_eq!(i.state, InvitationState::Accepted);
    let ix = i.interaction.unwrap();
    let id = alice.h.with(|c| c.send_chat(ix.clone(), "hello from the app"));
    alice.answer(id).await.unwrap();
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "hello from the app")).await;
    ann.request(AgentRequest::SendChat { interaction: ix.clone(), text: "hello from the console".into() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "hello from the console")).await;
    ann.event(|e| matches!(e, AgentEvent::ChatDelivered { .. })).await;
    assert!(ann.request(AgentRequest::End { interaction: ix.clone() }).await.is_ok());
    // Medium choice: a callback without a number is refused; a chat is queued and offered to ann.
    let id = alice.h.with(|c| c.start_interaction(Medium::Callback, Some("router".into()), None, None));
    assert!(alice.answer(id).await.is_err());
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!() };
    let AgentEvent::Offered(o) = ann.event(|e| matches!(e, AgentEvent::Offered(_))).await else { unreachable!() };
    assert_eq!(o.id, li.id);
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && x.state == InteractionState::Connected)).await;
    // Agents may only read the clients they serve.
    assert!(ann.request(AgentRequest::ClientProfile { client: "alice".into() }).await.is_ok());
    assert!(matches!(ann.request(AgentRequest::ClientProfile { client: "bob".into() }).await, Err(e) if e.code == ErrorCode::Forbidden));
    alice.h.shutdown();
    srv.shutdown().await;
}

async fn raw(base: &str) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(format!("{base}/client")).await.unwrap().0
}

async fn next_frame(ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) -> Option<BrokerFrame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return Some(BrokerFrame::decode(t.as_bytes(), MAX_FRAME_BYTES).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_oversized_and_floods_are_refused_without_hurting_others() {
    let (srv, base) = server().await;
    let mut bob = App::start(&base, App::config("bob", 1));
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let mut ws = raw(&base).await;
    for (data, code) in [
        ("not json at all".to_string(), ErrorCode::Malformed),
        (r#"{"t":"hello","v":1,"tok"#.to_string(), ErrorCode::Malformed),
        (" ".repeat(MAX_FRAME_BYTES + 10), ErrorCode::TooLarge),
    ] {
        ws.send(Message::text(data)).await.unwrap();
        assert!(matches!(next_frame(&mut ws).await, Some(BrokerFrame::Error { error, fatal: false }) if error.code == code));
    }
    ws.send(Message::binary(vec![0xff, 0xfe, 0xfd])).await.unwrap();
    assert!(matches!(next_frame(&mut ws).await, Some(BrokerFrame::Error { error, .. }) if error.code == ErrorCode::Malformed));
    // A flood is cut off.
    let mut flood = raw(&base).await;
    for _ in 0..400 {
        if flood.send(Message::text(r#"{"t":"ping","n":1}"#)).await.is_err() {
            break;
        }
    }
    let mut limited = false;
    while let Some(f) = next_frame(&mut flood).await {
        if matches!(f, BrokerFrame::Error { error, fatal: true } if error.code == ErrorCode::RateLimited) {
            limited = true;
        }
    }
    assert!(limited, "the flooder was told and cut off");
    // Bob is unaffected.
    let id = bob.h.with(|c| c.get_orders());
    assert!(matches!(bob.answer(id).await, Ok(Response::Orders(v)) if v.len() == 1));
    bob.h.shutdown();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_too_many_sessions_per_token_are_refused() {
    let (srv, base) = server().await;
    let mut forged = App::start(&base, frontdesk_core::client::ClientConfig::new("eyJhbGciOiJIUzI1NiJ9.e30.forged", 1));
    forged.wait(10, |e| matches!(e, ClientEvent::Rejected(b) if b.code == ErrorCode::Unauthenticated)).await;
    let tok = client_token("carol");
    let mut refused = 0;
    let mut conns = vec![];
    for i in 0..10u64 {
        let mut ws = raw(&base).await;
        let hello = frontdesk_core::protocol::ClientFrame::Hello { v: 1, token: tok.clone(), instance: i, last_seq: 0, next_request: 1 };
        ws.send(Message::binary(hello.encode())).await.unwrap();
        match next_frame(&mut ws).await {
            Some(BrokerFrame::Welcome { .. }) => conns.push(ws),
            Some(BrokerFrame::Error { error, fatal: true }) if error.code == ErrorCode::RateLimited => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((conns.len(), refused), (8, 2));
    srv.shutdown().await;
}

/// With a certificate the same port serves `wss://` and `https://`: a client that trusts it syncs and
/// gets answers; one that trusts only the system's roots is refused at the handshake; the widget's
/// files come over HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_wss_and_https_on_the_same_port() {
    use frontdesk_core::driver::client_driver;
    use frontdesk_net::ws::WsConnector;
    use frontdesk_net::TokioRuntime;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = frontdesk_server::tls::from_pem(ck.cert.pem().as_bytes(), ck.signing_key.serialize_pem().as_bytes()).unwrap();
    let cfg = ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), db: None, secret: SECRET.to_vec(), simulate: false, sample_data: true, tls: Some(tls), ..ServerConfig::default() };
    let r = start(cfg).await.unwrap();
    let url = format!("wss://localhost:{}/client", r.addr.port());

    let trusted = WsConnector::new(url.clone()).with_root_certificates(vec![ck.cert.der().clone()]).unwrap();
    let (h, rx, fut) = client_driver(frontdesk_core::client::Client::new(App::config("alice", 1)), trusted, TokioRuntime);
    tokio::spawn(fut);
    let mut app = App { h, rx, seen: vec![] };
    app.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = app.h.with(|c| c.get_history(HistoryFilter::default()));
    assert!(matches!(app.answer(id).await, Ok(Response::History(v)) if !v.is_empty()));

    // The system's roots do not include a self-signed certificate: the handshake fails, typed.
    let mut untrusted = WsConnector::new(url.clone());
    let e = frontdesk_core::transport::Connector::connect(&mut untrusted).await.expect_err("refused");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // Plain HTTP files over TLS: fetch the widget with a rustls client.
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client_cfg = tokio_rustls::rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls_stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client_cfg)).connect(name, tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls_stream.write_all(b"GET /frontdesk-widget.js HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut body = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls_stream.read_to_end(&mut body)).await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("HTTP/1.1 200 OK") && text.contains("customElements"), "{}", &text[..text.len().min(200)]);
    r.shutdown().await;
}
