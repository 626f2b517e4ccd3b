//! Interop: a standard XMPP client (slixmpp, Python) logs in to the XMPP endpoint, subscribes to an
//! agent, sees it go on the phone and back, and is refused a presentity it may not watch.
//!
//! Needs `python3` with slixmpp: set `FRONTDESK_PYTHON` to an interpreter that has it (CI makes a
//! venv); otherwise `python3` is used, and the test is skipped if it lacks slixmpp — unless
//! `FRONTDESK_REQUIRE_XMPP=1` (or `FRONTDESK_PYTHON` is set), so CI cannot skip it silently.

mod common;
mod interop_support;

use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_core::protocol::AgentRequest;
use frontdesk_server::{start, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_subscribes_sees_agent_changes_and_is_refused_what_it_may_not_watch() {
    let Some(python) = interop_support::python() else { return };
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

    let r = interop_support::run(&python, &["127.0.0.1", &xa.port().to_string(), "alice@frontdesk.local", &client_token("alice"), "agent-ann@frontdesk.local", "client-bob@frontdesk.local"], async |step| match step {
        "STEP agent-available" => drop(ann.request(AgentRequest::SetState { state: AgentState::Busy }).await.unwrap()),
        "STEP agent-on-the-phone" => drop(ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap()),
        _ => {}
    })
    .await;
    assert_eq!(r.verdict, "OK", "steps {:?}\nstderr: {}", r.steps, r.stderr);
    assert!(r.success);
    assert_eq!(r.steps.len(), 6, "{:?}", r.steps);
    bob.h.shutdown();
    srv.shutdown().await;
}
