//! A website's visitors get tokens from a public site key (`POST /visitor`): anonymous ones, renewed
//! ones, and ones whose user id the site's backend signed; everything else is a typed refusal.

mod common;

use common::*;
use frontdesk_core::client::{ClientConfig, ClientEvent};
use frontdesk_core::protocol::Response;
use frontdesk_core::records::HistoryFilter;
use frontdesk_server::visitors::VisitorConfig;
use frontdesk_server::{start, ServerConfig};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDENTITY: &[u8] = b"site-identity-secret";

async fn post(addr: std::net::SocketAddr, method: &str, body: &str, origin: Option<&str>) -> (u16, String, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let req = format!("{method} /visitor HTTP/1.1\r\nHost: x\r\n{origin}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = vec![];
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_string(), serde_json::from_str(body).unwrap())
}

fn signed(user: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(IDENTITY).unwrap();
    mac.update(user.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

async fn connects_as(base: &str, token: &str) -> (App, String) {
    let mut cfg = ClientConfig::new(token.to_string(), 1);
    cfg.backoff_initial = Duration::from_millis(50);
    let mut app = App::start(base, cfg);
    app.wait(10, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let client = app.h.with(|c| c.view().client.clone()).expect("the broker named the client");
    (app, client.0)
}

/// A server for the site `shop-1`, whose backend signs user ids with [`IDENTITY`].
fn shop_config() -> ServerConfig {
    ServerConfig {
        addr: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        db: None,
        secret: SECRET.to_vec(),
        simulate: false,
        visitors: VisitorConfig { site_keys: vec!["shop-1".into()], identity_secret: Some(IDENTITY.to_vec()), ttl: Duration::from_secs(3600), per_addr_per_min: 8 },
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_get_tokens_from_a_site_key_and_nothing_else_does() {
    let cfg = ServerConfig { allowed_origins: vec!["https://shop.example".into()], ..shop_config() };
    let server = start(cfg).await.unwrap();
    let (addr, base) = (server.addr, format!("ws://{}", server.addr));

    // An anonymous visitor: a token for a fresh client, usable at once, with nothing of anyone else's.
    let (status, head, v) = post(addr, "POST", r#"{"site":"shop-1"}"#, Some("https://shop.example")).await;
    assert_eq!(status, 200, "{v}");
    assert!(head.contains("Access-Control-Allow-Origin: https://shop.example") && head.contains("Cache-Control: no-store"), "{head}");
    let visitor = v["visitor"].as_str().unwrap().to_string();
    assert!(visitor.starts_with("v-") && visitor.len() == 34, "{visitor}");
    let (mut app, client) = connects_as(&base, v["token"].as_str().unwrap()).await;
    assert_eq!(client, visitor);
    let id = app.h.with(|c| c.get_history(HistoryFilter::default()));
    assert!(matches!(app.answer(id).await, Ok(Response::History(h)) if h.is_empty()), "a visitor sees no one's history");
    // The page comes back with its visitor id: the same client again.
    let (status, _, v2) = post(addr, "POST", &format!(r#"{{"site":"shop-1","visitor":"{visitor}"}}"#), None).await;
    assert_eq!((status, v2["client"].as_str()), (200, Some(visitor.as_str())));
    // A user id the site's backend signed: a verified client.
    let (status, _, u) = post(addr, "POST", &format!(r#"{{"site":"shop-1","user":"alice-42","hash":"{}"}}"#, signed("alice-42")), None).await;
    assert_eq!(status, 200, "{u}");
    let (_app2, client) = connects_as(&base, u["token"].as_str().unwrap()).await;
    assert_eq!(client, "u-alice-42");

    // Refusals, each with its reason.
    let cases = [
        ("POST", r#"{"site":"other"}"#.to_string(), 403, "unknown site key"),
        ("POST", format!(r#"{{"site":"shop-1","user":"alice-42","hash":"{}"}}"#, signed("mallory")), 403, "does not match"),
        ("POST", r#"{"site":"shop-1","user":"alice-42"}"#.to_string(), 400, "together"),
        ("POST", r#"{"site":"shop-1","visitor":"u-alice-42"}"#.to_string(), 400, "visitor"),
        ("POST", "not json".to_string(), 400, "body"),
        ("GET", String::new(), 405, "POST"),
    ];
    for (method, body, want, why) in cases {
        let (status, _, e) = post(addr, method, &body, None).await;
        assert_eq!(status, want, "{body}: {e}");
        assert!(e["error"].as_str().unwrap().contains(why), "{body}: {e}");
    }
    // A foreign origin gets no CORS header (its page cannot read the token).
    let (_, head, _) = post(addr, "POST", r#"{"site":"shop-1"}"#, Some("https://evil.example")).await;
    assert!(!head.contains("Access-Control-Allow-Origin"), "{head}");
    // One address mints at most 8 per minute (this test made 5 successful and 5 refused-at-the-key before).
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(post(addr, "POST", r#"{"site":"shop-1"}"#, None).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_identified_later_keeps_its_history_and_profile() {
    use frontdesk_core::profile::{Demographics, ProfilePatch};
    let cfg = shop_config();
    let server = start(cfg).await.unwrap();
    let (addr, base) = (server.addr, format!("ws://{}", server.addr));
    let mut ann = Agent::connect(&base, "ann", vec![frontdesk_core::Medium::Chat]).await;
    ann.request(frontdesk_core::protocol::AgentRequest::SetState { state: frontdesk_core::status::AgentState::Available }).await.unwrap();
    // Anonymous: a name in the profile and a chat that ends.
    let (_, _, v) = post(addr, "POST", r#"{"site":"shop-1"}"#, None).await;
    let visitor = v["visitor"].as_str().unwrap().to_string();
    let (mut app, _) = connects_as(&base, v["token"].as_str().unwrap()).await;
    let id = app.h.with(|c| c.update_profile(ProfilePatch { demographics: Some(Demographics { name: Some("Dana".into()), ..Default::default() }), ..Default::default() }));
    app.answer(id).await.unwrap();
    let id = app.h.with(|c| c.start_interaction(frontdesk_core::Medium::Chat, Some("router".into()), None, Some("wifi drops".into())));
    let Ok(Response::Interaction(li)) = app.answer(id).await else { panic!("not started") };
    let id = app.h.with(|c| c.end_interaction(li.id.clone()));
    app.answer(id).await.unwrap();
    app.h.shutdown();
    // The site's backend signs the user id; the page names its visitor too: its past comes along.
    let body = format!(r#"{{"site":"shop-1","visitor":"{visitor}","user":"dana-7","hash":"{}"}}"#, signed("dana-7"));
    let (status, _, u) = post(addr, "POST", &body, None).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!((u["client"].as_str(), u["adopted"].as_u64()), (Some("u-dana-7"), Some(1)), "{u}");
    let (mut dana, client) = connects_as(&base, u["token"].as_str().unwrap()).await;
    assert_eq!(client, "u-dana-7");
    let id = dana.h.with(|c| c.get_history(HistoryFilter::default()));
    let Ok(Response::History(h)) = dana.answer(id).await else { panic!("no history") };
    assert_eq!(h.iter().map(|r| &r.id).collect::<Vec<_>>(), [&li.id], "the visitor's conversation is the client's now");
    let id = dana.h.with(|c| c.get_profile());
    let Ok(Response::Profile(p)) = dana.answer(id).await else { panic!("no profile") };
    assert_eq!(p.demographics.name.as_deref(), Some("Dana"));
    // The visitor id no longer holds it; a forged hash moves nothing.
    let (mut again, _) = connects_as(&base, post(addr, "POST", &format!(r#"{{"site":"shop-1","visitor":"{visitor}"}}"#), None).await.2["token"].as_str().unwrap()).await;
    let id = again.h.with(|c| c.get_history(HistoryFilter::default()));
    assert!(matches!(again.answer(id).await, Ok(Response::History(h)) if h.is_empty()));
    let forged = format!(r#"{{"site":"shop-1","visitor":"{visitor}","user":"mallory","hash":"{}"}}"#, signed("dana-7"));
    assert_eq!(post(addr, "POST", &forged, None).await.0, 403);
    server.shutdown().await;
}
