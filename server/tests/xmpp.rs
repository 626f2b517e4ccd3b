//! Interop: a standard XMPP client (slixmpp, Python) logs in to the XMPP endpoint, subscribes to an
//! agent, sees it go on the phone and back, and is refused a presentity it may not watch.
//!
//! Needs `python3` with slixmpp: set `FRONTDESK_PYTHON` to an interpreter that has it (CI makes a
//! venv); otherwise `python3` is used, and the test is skipped if it lacks slixmpp — unless
//! `FRONTDESK_REQUIRE_XMPP=1` (or `FRONTDESK_PYTHON` is set), so CI cannot skip it silently.

mod common;

use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_core::protocol::AgentRequest;
use frontdesk_server::{start, ServerConfig};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_subscribes_sees_agent_changes_and_is_refused_what_it_may_not_watch() {
    let python = std::env::var("FRONTDESK_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var_os("FRONTDESK_PYTHON").is_some() || std::env::var_os("FRONTDESK_REQUIRE_XMPP").is_some();
    let has_slixmpp = std::process::Command::new(&python).args(["-c", "import slixmpp"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_slixmpp {
        assert!(!required, "{python} cannot import slixmpp (FRONTDESK_PYTHON or FRONTDESK_REQUIRE_XMPP is set)");
        eprintln!("skipped: {python} has no slixmpp; set FRONTDESK_PYTHON to a venv with it (tests/run-all.sh does)");
        return;
    }
    let cfg = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        db: None,
        secret: SECRET.to_vec(),
        simulate: false,
        sample_data: true,
        xmpp_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    };
    let srv = start(cfg).await.unwrap();
    let base = format!("ws://{}", srv.addr);
    let xa = srv.xmpp_addr.unwrap();
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Voice, Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    // Bob blocks alice from his status.
    let mut bob = App::start(&base, App::config("bob", 1));
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = bob.h.with(|c| c.set_access_rules(vec![AccessRule { watcher: WatcherMatch::Client("alice".into()), decision: Decision::Block }]));
    bob.answer(id).await.unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xmpp/interop.py");
    let mut child = tokio::process::Command::new(python)
        .args([script, "127.0.0.1", &xa.port().to_string(), "alice@frontdesk.local", &client_token("alice"), "agent-ann@frontdesk.local", "client-bob@frontdesk.local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut steps = vec![];
    let started = std::time::Instant::now();
    let verdict = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(l)) = lines.next_line().await {
            match l.as_str() {
                "STEP agent-available" => {
                    ann.request(AgentRequest::SetState { state: AgentState::Busy }).await.unwrap();
                }
                "STEP agent-on-the-phone" => {
                    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
                }
                _ => {}
            }
            eprintln!("[{} ms] {l}", started.elapsed().as_millis());
            if !l.starts_with("STEP ") {
                return l;
            }
            steps.push(l);
        }
        "FAIL no verdict".to_string()
    })
    .await
    .unwrap_or_else(|_| "FAIL timed out".into());
    eprintln!("[{} ms] verdict {verdict}", started.elapsed().as_millis());
    let status = child.wait().await.unwrap();
    eprintln!("[{} ms] python exited", started.elapsed().as_millis());
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert_eq!(verdict, "OK", "steps {steps:?}\nstderr: {err}");
    assert!(status.success());
    assert_eq!(steps.len(), 6, "{steps:?}");
    bob.h.shutdown();
    srv.shutdown().await;
    eprintln!("[{} ms] server stopped", started.elapsed().as_millis());
}
