//! The TURN credentials the server hands to both sides of a call are accepted by a real coturn
//! (`use-auth-secret`), and a tampered one is not. Loopback only; needs coturn (`turnserver`,
//! `turnutils_uclient`), which tests/run-all.sh installs.

mod common;

use common::*;
use frontdesk_core::call::{IceServer, TurnConfig};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_server::{start, ServerConfig};
use std::process::{Command, Stdio};
use std::time::Duration;

const TURN_SECRET: &str = "turn-test-secret";

struct Turn(std::process::Child);

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn turnserver(port: u16) -> Turn {
    let child = Command::new("turnserver")
        .args(["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--use-auth-secret", "--realm=frontdesk.test", "--no-tls", "--no-dtls", "--no-cli"])
        .args(["--allow-loopback-peers", "--simple-log", "--log-file=stdout", "--min-port=49152", "--max-port=49400"])
        .arg(format!("--listening-port={port}"))
        .arg(format!("--static-auth-secret={TURN_SECRET}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("this test needs coturn (apt-get install coturn; tests/run-all.sh does): {e}"));
    Turn(child)
}

/// Allocates a relay and sends through it with these credentials; true if coturn let it.
fn allocates(port: u16, s: &IceServer) -> bool {
    let out = Command::new("timeout")
        .args(["20", "turnutils_uclient", "-p", &port.to_string(), "-n", "2", "-m", "1", "-y", "-e", "127.0.0.1"])
        .args(["-u", s.username.as_deref().unwrap(), "-w", s.credential.as_deref().unwrap(), "127.0.0.1"])
        .output()
        .expect("turnutils_uclient runs");
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_the_credentials_minted_for_each_side_of_a_call() {
    let turn_port = free_port();
    let _turn = turnserver(turn_port);
    let port = free_port();
    let cfg = ServerConfig {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        db: None,
        secret: SECRET.to_vec(),
        simulate: false,
        sample_data: true,
        stun: vec![format!("stun:127.0.0.1:{turn_port}")],
        turn: Some(TurnConfig { urls: vec![format!("turn:127.0.0.1:{turn_port}?transport=udp")], secret: TURN_SECRET.into(), ttl: Duration::from_secs(600) }),
        ..ServerConfig::default()
    };
    let server = start(cfg).await.unwrap();
    let base = format!("ws://{}", server.addr);
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Voice]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&base, App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Voice, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!("call not started") };
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();

    let id = alice.h.with(|c| c.ice_servers(li.id.clone()));
    let Ok(Response::IceServers(mine)) = alice.answer(id).await else { panic!("no ICE servers") };
    assert_eq!(mine[0].urls, vec![format!("stun:127.0.0.1:{turn_port}")]);
    let turn = mine.iter().find(|s| s.username.is_some()).expect("a TURN server with credentials");
    assert!(turn.username.as_deref().unwrap().ends_with(":client-alice"), "{turn:?}");
    let Ok(Response::IceServers(theirs)) = ann.request(AgentRequest::IceServers { interaction: li.id.clone() }).await else { panic!("no ICE servers for ann") };
    let agent_turn = theirs.iter().find(|s| s.username.is_some()).unwrap();

    // Real coturn, checking the HMAC itself.
    let (t1, t2) = (turn.clone(), agent_turn.clone());
    let (ok_client, ok_agent, tampered) = tokio::task::spawn_blocking(move || {
        let mut bad = t1.clone();
        bad.credential = Some(format!("x{}", &t1.credential.as_deref().unwrap()[1..]));
        (allocates(turn_port, &t1), allocates(turn_port, &t2), allocates(turn_port, &bad))
    })
    .await
    .unwrap();
    assert!(ok_client, "coturn refused the customer's minted credential");
    assert!(ok_agent, "coturn refused the agent's minted credential");
    assert!(!tampered, "coturn took a tampered credential");
    server.shutdown().await;
}
