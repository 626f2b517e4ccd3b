//! Direct pushes: a loopback HTTP/2 TLS server stands in for FCM (and its OAuth token endpoint) and
//! APNs. It checks what a backgrounded app's pushes look like on the wire: signed tokens, auth
//! headers, collapse keys, topic, no message text unless `--push-include-text`; one push per
//! waiting interaction (two messages on one interaction collapse), none for an attached app, and a
//! token the service calls gone is dropped.

mod common;

use bytes::Bytes;
use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::push::PushPlatform;
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "KEY1234567";
const TOPIC: &str = "com.example.frontdesk";
const PROJECT: &str = "demo-project";
const ACCESS: &str = "ya29.test-access-token";
/// Tokens the stand-in answers as gone.
const FCM_DEAD: &str = "fcm-dead";
const APNS_DEAD: &str = "apns-dead";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    version: hyper::Version,
}

/// Keys and certificate of one test.
struct Creds {
    rsa_public: Vec<u8>,
    ec_public: Vec<u8>,
    cert: std::path::PathBuf,
    account: std::path::PathBuf,
    p8: std::path::PathBuf,
}

/// Starts the stand-in: HTTP/2 only (ALPN h2), a self-signed certificate for 127.0.0.1.
async fn stand_in(dir: &TempDir) -> (u16, Creds, mpsc::UnboundedReceiver<Seen>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = dir.write("ca.pem", ck.cert.pem());
    let tls = frontdesk_server::tls::from_pem(ck.cert.pem().as_bytes(), ck.signing_key.serialize_pem().as_bytes()).unwrap();
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();

    // The service account's RSA key (ring cannot make one; openssl can).
    let rsa = dir.0.join("rsa.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test's RSA key");
    assert!(ok.success());
    let rsa_public = std::process::Command::new("openssl").args(["pkey", "-in", rsa.to_str().unwrap(), "-pubout"]).output().unwrap().stdout;
    let account = serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "sa-key-1",
        "private_key": std::fs::read_to_string(&rsa).unwrap(),
        "client_email": "push@demo-project.iam.gserviceaccount.com",
        "token_uri": format!("https://127.0.0.1:{port}/token"),
    });
    let account = dir.write("service-account.json", account.to_string());
    let ec = rcgen::KeyPair::generate().unwrap();
    let p8 = dir.write("AuthKey.p8", ec.serialize_pem());
    let ec_public = ec.public_key_pem().into_bytes();

    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else { return };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let version = req.version();
                        let headers = req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
                        let body = String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
                        let (status, answer) = if path == "/token" {
                            (200, serde_json::json!({ "access_token": ACCESS, "expires_in": 3600, "token_type": "Bearer" }).to_string())
                        } else if body.contains(FCM_DEAD) {
                            (404, r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#.to_owned())
                        } else if path.ends_with(APNS_DEAD) {
                            (410, r#"{"reason":"Unregistered","timestamp":1700000000000}"#.to_owned())
                        } else if path.starts_with("/v1/") {
                            (200, format!(r#"{{"name":"projects/{PROJECT}/messages/1"}}"#))
                        } else {
                            (200, String::new())
                        };
                        let _ = tx.send(Seen { path, headers, body, version });
                        Ok::<_, std::convert::Infallible>(hyper::Response::builder().status(status).body(Full::new(Bytes::from(answer))).unwrap())
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), svc).await;
            });
        }
    });
    (port, Creds { rsa_public, ec_public, cert, account, p8 }, rx)
}

fn server_args(port: u16, c: &Creds) -> Vec<String> {
    let base = format!("https://127.0.0.1:{port}");
    [
        "--push-fcm-service-account", c.account.to_str().unwrap(),
        "--push-fcm-endpoint", &base,
        "--push-apns-key", c.p8.to_str().unwrap(),
        "--push-apns-key-id", KEY_ID,
        "--push-apns-team-id", TEAM,
        "--push-apns-topic", TOPIC,
        "--push-apns-endpoint", &base,
        "--push-ca", c.cert.to_str().unwrap(),
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Everything the stand-in receives within `ms` of quiet.
async fn collect(rx: &mut mpsc::UnboundedReceiver<Seen>, want: usize, ms: u64) -> Vec<Seen> {
    let mut v = vec![];
    let until = Instant::now() + Duration::from_secs(10);
    while v.len() < want && Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some(s)) => v.push(s),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    // Then nothing more within `ms`.
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await {
        v.push(s);
    }
    v
}

async fn connected_chat(base: &str, client: &str, instance: u64, ann: &mut Agent, tokens: &[(PushPlatform, &str)]) -> (App, frontdesk_core::InteractionId) {
    let mut app = App::start(base, App::config(client, instance));
    app.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    for (p, t) in tokens {
        let id = app.h.with(|c| c.register_push(*p, *t));
        assert_eq!(app.answer(id).await, Ok(Response::Done));
    }
    let id = app.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = app.answer(id).await else { panic!() };
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    app.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && x.state == InteractionState::Connected)).await;
    (app, li.id)
}

fn verify_apns_jwt(h: &HashMap<String, String>, c: &Creds) {
    let jwt = h["authorization"].strip_prefix("bearer ").expect("bearer provider token");
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::ES256, Some(KEY_ID)));
    let mut v = Validation::new(Algorithm::ES256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &DecodingKey::from_ec_pem(&c.ec_public).unwrap(), &v).expect("signed with the team's key").claims;
    assert_eq!(claims["iss"], TEAM);
    let iat = claims["iat"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(iat <= now && now - iat < 3600, "iat {iat} now {now}");
}

fn verify_oauth(s: &Seen, c: &Creds, port: u16) {
    assert_eq!(s.headers["content-type"], "application/x-www-form-urlencoded");
    let form: HashMap<&str, &str> = s.body.split('&').filter_map(|kv| kv.split_once('=')).collect();
    assert_eq!(form["grant_type"], "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[format!("https://127.0.0.1:{port}/token")]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(form["assertion"], &DecodingKey::from_rsa_pem(&c.rsa_public).unwrap(), &v).expect("signed with the account's key").claims;
    assert_eq!(claims["iss"], "push@demo-project.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backgrounded_app_gets_one_push_per_waiting_interaction_without_text_and_none_once_back() {
    let dir = TempDir::new("push-direct");
    let (fake, creds, mut seen) = stand_in(&dir).await;
    let port = free_port();
    let args = server_args(fake, &creds);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let mut child = spawn_server(port, &dir.0.join("fd.db"), &args);
    wait_listening(port).await;
    let base = format!("ws://127.0.0.1:{port}");
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let (alice, li) = connected_chat(&base, "alice", 5, &mut ann, &[(PushPlatform::Fcm, "fcm-alice"), (PushPlatform::Apns, "apns-alice")]).await;
    ann.request(AgentRequest::SendChat { interaction: li.clone(), text: "while you are here".into() }).await.unwrap();
    assert!(collect(&mut seen, 0, 400).await.is_empty(), "an attached app is not pushed");

    // Backgrounded: two messages on the interaction, then an invitation.
    alice.h.shutdown();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let secret = "Your parcel code is 4471";
    ann.request(AgentRequest::SendChat { interaction: li.clone(), text: secret.into() }).await.unwrap();
    ann.request(AgentRequest::SendChat { interaction: li.clone(), text: "Anything else?".into() }).await.unwrap();
    let Ok(Response::Invitation(_)) = ann.request(AgentRequest::Invite { client: "alice".into(), medium: Medium::Chat, message: "A word about your warranty?".into() }).await else { panic!() };
    let got = collect(&mut seen, 5, 1500).await;
    let tokens: Vec<&Seen> = got.iter().filter(|s| s.path == "/token").collect();
    assert_eq!(tokens.len(), 1, "one OAuth exchange, its token kept: {got:#?}");
    verify_oauth(tokens[0], &creds, fake);
    let fcm: Vec<&Seen> = got.iter().filter(|s| s.path == format!("/v1/projects/{PROJECT}/messages:send")).collect();
    let apns: Vec<&Seen> = got.iter().filter(|s| s.path == "/3/device/apns-alice").collect();
    assert_eq!((fcm.len(), apns.len(), got.len()), (2, 2, 5), "one push per waiting interaction and device: {got:#?}");
    for s in &got {
        assert_eq!(s.version, hyper::Version::HTTP_2);
        for text in [secret, "Anything else?", "warranty", "ANN"] {
            assert!(!s.body.contains(text), "no text without --push-include-text: {}", s.body);
        }
    }
    let mut fcm_keys = vec![];
    for s in &fcm {
        assert_eq!(s.headers["authorization"], format!("Bearer {ACCESS}"));
        let m: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        let m = &m["message"];
        assert_eq!(m["token"], "fcm-alice");
        assert!(m.get("notification").is_none(), "data only: {m}");
        let key = m["android"]["collapse_key"].as_str().unwrap().to_owned();
        assert_eq!(m["data"]["collapse"], key.as_str());
        fcm_keys.push((key, m["data"]["kind"].as_str().unwrap().to_owned(), m["data"]["interaction"].as_str().map(String::from)));
    }
    fcm_keys.sort();
    let mut want = vec![("invitation".to_owned(), "invitation".to_owned(), None), (li.to_string(), "message".to_owned(), Some(li.to_string()))];
    want.sort();
    assert_eq!(fcm_keys, want);
    let mut apns_keys = vec![];
    for s in &apns {
        verify_apns_jwt(&s.headers, &creds);
        assert_eq!((s.headers["apns-topic"].as_str(), s.headers["apns-push-type"].as_str()), (TOPIC, "alert"));
        let b: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        assert_eq!(b["aps"]["alert"]["title"], "New activity");
        apns_keys.push((s.headers["apns-collapse-id"].clone(), b["kind"].as_str().unwrap().to_owned()));
    }
    apns_keys.sort();
    let mut want = vec![("invitation".to_owned(), "invitation".to_owned()), (li.to_string(), "message".to_owned())];
    want.sort();
    assert_eq!(apns_keys, want);
    let a = apns.iter().map(|s| s.headers["authorization"].clone()).collect::<Vec<_>>();
    assert_eq!(a[0], a[1], "the provider token is reused");

    // Woken, the app resumes: the session delivers both messages, once; while
    // it is attached nothing is pushed.
    let mut back = App::start(&base, App::config("alice", 5));
    back.wait(10, |e| matches!(e, ClientEvent::Connected { resumed: true })).await;
    let texts = |back: &App| back.h.with(|c| c.view().chats.get(&li).map(|m| m.iter().map(|m| m.text.clone()).collect::<Vec<_>>()).unwrap_or_default());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let t = texts(&back);
        let n = |x: &str| t.iter().filter(|y| *y == x).count();
        if n("Anything else?") == 1 {
            assert_eq!(n(secret), 1, "each message once: {t:?}");
            break;
        }
        assert!(Instant::now() < until, "not delivered on return: {t:?}");
        let _ = tokio::time::timeout(Duration::from_millis(100), futures::StreamExt::next(&mut back.rx)).await;
    }
    // The invitation has no other way in than the resumed session's events.
    let until = Instant::now() + Duration::from_secs(10);
    while !back.h.with(|c| c.view().invitations.values().any(|i| i.message.contains("warranty"))) {
        assert!(Instant::now() < until, "the waiting invitation is delivered on return");
        let _ = tokio::time::timeout(Duration::from_millis(100), futures::StreamExt::next(&mut back.rx)).await;
    }
    ann.request(AgentRequest::SendChat { interaction: li.clone(), text: "Good to have you back".into() }).await.unwrap();
    assert!(collect(&mut seen, 0, 500).await.is_empty(), "a resumed app is not pushed");

    // A device the services call gone is forgotten, durably.
    let mut bob = App::start(&base, App::config("bob", 9));
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    for (p, t) in [(PushPlatform::Fcm, FCM_DEAD), (PushPlatform::Apns, APNS_DEAD)] {
        let id = bob.h.with(|c| c.register_push(p, t));
        assert_eq!(bob.answer(id).await, Ok(Response::Done));
    }
    bob.h.shutdown();
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.request(AgentRequest::Invite { client: "bob".into(), medium: Medium::Chat, message: "hello".into() }).await.unwrap();
    let got = collect(&mut seen, 2, 300).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let db = rusqlite::Connection::open_with_flags(dir.0.join("fd.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Option<String> = rusqlite::OptionalExtension::optional(db.query_row("SELECT json FROM push_targets WHERE client = 'bob'", [], |r| r.get(0))).unwrap();
        if left.is_none() {
            break;
        }
        assert!(Instant::now() < until, "gone tokens still registered: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_include_text_the_push_carries_the_message() {
    let dir = TempDir::new("push-text");
    let (fake, creds, mut seen) = stand_in(&dir).await;
    let port = free_port();
    let mut args = server_args(fake, &creds);
    args.push("--push-include-text".into());
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let mut child = spawn_server(port, &dir.0.join("fd.db"), &args);
    wait_listening(port).await;
    let base = format!("ws://127.0.0.1:{port}");
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let (alice, li) = connected_chat(&base, "alice", 6, &mut ann, &[(PushPlatform::Fcm, "fcm-alice"), (PushPlatform::Apns, "apns-alice")]).await;
    alice.h.shutdown();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = "Your parcel code is 4471";
    ann.request(AgentRequest::SendChat { interaction: li.clone(), text: text.into() }).await.unwrap();
    let got = collect(&mut seen, 3, 500).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    let fcm = got.iter().find(|s| s.path.starts_with("/v1/")).expect("an FCM send");
    let m: serde_json::Value = serde_json::from_str(&fcm.body).unwrap();
    assert_eq!((m["message"]["data"]["title"].as_str(), m["message"]["data"]["body"].as_str()), (Some("ANN"), Some(text)));
    let apns = got.iter().find(|s| s.path == "/3/device/apns-alice").expect("an APNs send");
    let b: serde_json::Value = serde_json::from_str(&apns.body).unwrap();
    assert_eq!((b["aps"]["alert"]["title"].as_str(), b["aps"]["alert"]["body"].as_str()), (Some("ANN"), Some(text)));
    assert_eq!(apns.headers["apns-collapse-id"], li.to_string());
    let _ = child.kill();
    let _ = child.wait();
}
