//! XMPP on a cluster: a standard XMPP client (slixmpp) logged in to a node that does not lead
//! subscribes to an agent whose console is on a third node, sees it go on the phone and back, and is
//! refused a presentity it may not watch — with the leader SIGKILLed in the middle. Its XMPP stream
//! stays up: the node's bridge opens its sessions again on the new leader and the client sees the
//! next changes. Real PostgreSQL, NATS and slixmpp (the same script as `xmpp.rs`).
//!
//! Without PostgreSQL 15 or nats-server the test says so and passes, unless
//! `FRONTDESK_REQUIRE_CLUSTER` is set (tests/run-all.sh sets it): then it fails. It needs a Python
//! with slixmpp (`FRONTDESK_PYTHON`, as `xmpp.rs`).

mod cluster_support;
mod common;
mod interop_support;

use cluster_support::{until, Node, Services};
use common::{client_token, free_port, Agent, App};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
use frontdesk_core::protocol::AgentRequest;
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use std::time::{Duration, Instant};

fn xmpp_node(s: &Services, name: &str, xmpp: u16) -> Node {
    s.node(name, &[], &["--xmpp-addr", &format!("127.0.0.1:{xmpp}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xmpp_client_on_a_follower_watches_an_agent_across_a_leader_sigkill() {
    let Some(s) = Services::start("cluster-xmpp") else { return };
    let Some(python) = interop_support::python() else { return };
    let ports = [free_port(), free_port(), free_port()];
    let mut a = xmpp_node(&s, "a", ports[0]);
    until(20, "a leads", || a.leads()).await;
    let b = xmpp_node(&s, "b", ports[1]);
    let c = xmpp_node(&s, "c", ports[2]);
    for p in [a.port, b.port, c.port, ports[1]] {
        common::wait_listening(p).await;
    }
    // Ann's console and Bob (who blocks alice from his status) on C; alice's XMPP client on B.
    let mut ann = Agent::connect(&c.base(), "ann", vec![Medium::Voice, Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut bob = App::start(&c.base(), App::config("bob", 1));
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = bob.h.with(|c| c.set_access_rules(vec![AccessRule { watcher: WatcherMatch::Client("alice".into()), decision: Decision::Block }]));
    bob.answer(id).await.unwrap();

    let mut failover = Duration::ZERO;
    let args = ["127.0.0.1", &ports[1].to_string(), "alice@frontdesk.local", &client_token("alice"), "agent-ann@frontdesk.local", "client-bob@frontdesk.local"];
    let r = interop_support::run(&python, &args, async |step| match step {
        "STEP agent-available" => {
            // The leader dies while alice watches; the change after it must still reach her.
            let t = Instant::now();
            a.kill();
            until(20, "b or c leads", || b.leads() || c.leads()).await;
            // C closes its sockets once it hears the new leader; the console comes back after.
            until(20, "c moved its sockets", || std::fs::read_to_string(&c.log).is_ok_and(|l| l.contains("a new leader: this node's sockets resume there"))).await;
            assert!(ann.reattach(20).await, "ann's console resumes");
            failover = t.elapsed();
            ann.request(AgentRequest::SetState { state: AgentState::Busy }).await.unwrap();
        }
        "STEP agent-on-the-phone" => drop(ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap()),
        _ => {}
    })
    .await;
    let blog = std::fs::read_to_string(&b.log).unwrap_or_default();
    assert_eq!(r.verdict, "OK", "steps {:?}\nstderr: {}\nnode b: {blog}", r.steps, r.stderr);
    assert!(r.success);
    // One login: a stream that broke would have started the script's session over.
    assert_eq!(r.steps.len(), 6, "{:?}", r.steps);
    assert!(blog.contains("opening this node's XMPP sessions again on the leader"), "b's bridge moved its session: {blog}");
    eprintln!("cluster xmpp: leader killed → new leader and console back in {:.1} s; the client kept its stream", failover.as_secs_f64());
    bob.h.shutdown();
    let _ = (b, c);
}
