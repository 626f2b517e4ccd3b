//! Agent consoles on the reliable session over real WebSocket: a dropped console resumes within the
//! grace period with nothing lost or doubled, a retried request acts once, receipts wait for the
//! console's acknowledgement, the grace period running out requeues the customer, and a console
//! resumes across a SIGKILL restart of the server.

mod common;

use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{Author, InteractionState, LiveInteraction};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::records::HistoryFilter;
use frontdesk_core::status::AgentState;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_server::{start, ServerConfig};
use std::time::{Duration, Instant};

async fn server(grace: Duration) -> (frontdesk_server::Running, String) {
    let cfg = ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), db: None, secret: SECRET.to_vec(), simulate: false, sample_data: true, agent_grace: grace, ..ServerConfig::default() };
    let r = start(cfg).await.unwrap();
    let base = format!("ws://{}", r.addr);
    (r, base)
}

/// Ann takes alice's chat; both sides see it connected.
async fn connected_chat(base: &str) -> (Agent, App, LiveInteraction) {
    let mut ann = Agent::connect(base, "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(base, App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!() };
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && x.state == InteractionState::Connected)).await;
    (ann, alice, li)
}

/// Alice sends `text` in `ix` and waits for it to be accepted; returns the message's sequence.
async fn say(alice: &mut App, ix: &InteractionId, text: &str) -> u64 {
    let id = alice.h.with(|c| c.send_chat(ix.clone(), text));
    match alice.answer(id).await {
        Ok(Response::Chat(m)) => m.seq,
        other => panic!("send_chat {text}: {other:?}"),
    }
}

/// Collects what alice's app hears for `ms` milliseconds.
async fn settle(alice: &mut App, ms: u64) {
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(ms), futures::StreamExt::next(&mut alice.rx)).await {
        alice.seen.push(e);
    }
}

fn client_chats(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Chat(m) if matches!(m.from, Author::Client(_)) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

fn raw_count(a: &Agent, text: &str) -> usize {
    a.raw.iter().filter(|(_, e)| matches!(e, AgentEvent::Chat(m) if m.text == text)).count()
}

fn told_ended(alice: &App, ix: &InteractionId) -> bool {
    alice.seen.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if &x.id == ix && matches!(x.state, InteractionState::Ended { .. })))
}

async fn has_history_record(alice: &mut App, ix: &InteractionId) -> bool {
    let id = alice.h.with(|c| c.get_history(HistoryFilter::default()));
    let Ok(Response::History(v)) = alice.answer(id).await else { panic!() };
    v.iter().any(|r| &r.id == ix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_dropped_mid_chat_resumes_with_the_interaction_and_every_message_once_in_order() {
    let (srv, base) = server(Duration::from_secs(60)).await;
    let (mut ann, mut alice, li) = connected_chat(&base).await;
    say(&mut alice, &li.id, "before").await;
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "before")).await;
    // The network goes away under the console; the customer keeps writing.
    ann.drop_socket();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gap: Vec<String> = (0..5).map(|n| format!("gap{n}")).collect();
    for t in &gap {
        say(&mut alice, &li.id, t).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Same instance, within the grace period: the session resumes.
    assert!(ann.attach().await, "the console's session resumed");
    ann.drain(500).await;
    let mut want = vec!["before".to_string()];
    want.extend(gap.iter().cloned());
    assert_eq!(client_chats(&ann.delivered), want, "every message once, in order");
    for t in &gap {
        assert_eq!(raw_count(&ann, t), 1, "{t} sent to the console once");
    }
    // The interaction is still connected on both sides; nothing ended or went into the history.
    let Ok(Response::Seat(seat)) = ann.request(AgentRequest::GetSeat).await else { panic!() };
    assert!(seat.live.iter().any(|l| l.interaction.id == li.id), "{seat:?}");
    settle(&mut alice, 200).await;
    assert!(!told_ended(&alice, &li.id), "the customer was told the interaction ended");
    assert!(!has_history_record(&mut alice, &li.id).await, "a completed record was written");
    // And the conversation goes on.
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "still with you".into() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "still with you")).await;
    alice.h.shutdown();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_chat_retried_with_the_same_id_after_a_lost_answer_reaches_the_customer_once() {
    let (srv, base) = server(Duration::from_secs(60)).await;
    let (mut ann, mut alice, li) = connected_chat(&base).await;
    let req = AgentRequest::SendChat { interaction: li.id.clone(), text: "exactly once".into() };
    let id = ann.next;
    ann.send_request(id, &req).await;
    // The connection dies before the answer is read.
    ann.drop_socket();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The console still waits on `id`: it says so in hello and sends the request again.
    assert!(ann.attach().await);
    ann.send_request(id, &req).await;
    let first = ann.answer(id).await;
    assert!(matches!(&first, Ok(Response::Chat(m)) if m.text == "exactly once"), "{first:?}");
    // A duplicate on the same connection gets the same answer.
    ann.send_request(id, &req).await;
    assert_eq!(ann.answer(id).await, first);
    ann.next = id + 1;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "exactly once")).await;
    settle(&mut alice, 500).await;
    let got = alice.seen.iter().filter(|e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "exactly once")).count();
    assert_eq!(got, 1, "the customer got the message once");
    let tid = alice.h.with(|c| c.get_transcript(li.id.clone()));
    let Ok(Response::Transcript(t)) = alice.answer(tid).await else { panic!() };
    assert_eq!(t.iter().filter(|m| m.text == "exactly once").count(), 1, "stored once");
    alice.h.shutdown();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_console_gives_the_customer_no_receipt_for_what_it_never_acknowledged() {
    let (srv, base) = server(Duration::from_secs(60)).await;
    let (mut ann, mut alice, li) = connected_chat(&base).await;
    // A console that reads and acknowledges: the receipt comes.
    let seen = say(&mut alice, &li.id, "read this").await;
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "read this")).await;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { interaction, seq }) if *interaction == li.id && *seq == seen)).await;
    // Now the console goes silent: it neither reads nor acknowledges.
    ann.auto_ack = false;
    let lost1 = say(&mut alice, &li.id, "into the void 1").await;
    let lost2 = say(&mut alice, &li.id, "into the void 2").await;
    settle(&mut alice, 1000).await;
    let receipt = |a: &App, s: u64| a.seen.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { interaction, seq }) if *interaction == li.id && *seq >= s));
    assert!(!receipt(&alice, lost1), "a receipt for a message the console never acknowledged");
    // The console reads them but still does not acknowledge: still no receipt.
    ann.drain(300).await;
    assert_eq!(client_chats(&ann.delivered), vec!["read this", "into the void 1", "into the void 2"]);
    settle(&mut alice, 300).await;
    assert!(!receipt(&alice, lost1), "a receipt before the acknowledgement");
    // The acknowledgement is what delivers the receipt.
    ann.ack().await;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { interaction, seq }) if *interaction == li.id && *seq == lost2)).await;
    alice.h.shutdown();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_running_out_ends_the_seat_and_requeues_the_customer() {
    let grace = Duration::from_secs(2);
    let (srv, base) = server(grace).await;
    let (mut ann, mut alice, li) = connected_chat(&base).await;
    ann.drop_socket();
    let dropped = Instant::now();
    // Within the grace period nothing changes for the customer.
    settle(&mut alice, 700).await;
    let requeued = |a: &App| a.seen.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && matches!(x.state, InteractionState::Queued { .. })));
    assert!(!requeued(&alice), "requeued before the grace period ran out");
    assert!(!told_ended(&alice, &li.id));
    // Then the seat ends and the interaction goes back to its queue.
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && matches!(x.state, InteractionState::Queued { .. }))).await;
    let after = dropped.elapsed();
    assert!(after >= grace - Duration::from_millis(300), "requeued after {after:?}, before the grace of {grace:?}");
    settle(&mut alice, 200).await;
    assert!(!told_ended(&alice, &li.id), "the customer was told the interaction ended");
    assert!(!has_history_record(&mut alice, &li.id).await, "a completed record was written");
    // The console coming back now finds a new session, without the seat.
    assert!(!ann.attach().await, "the session outlived the grace period");
    let r = ann.request(AgentRequest::GetSeat).await;
    assert!(r.is_err(), "the seat outlived the grace period: {r:?}");
    alice.h.shutdown();
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_resumes_after_a_sigkill_restart_and_gets_what_was_sent_meanwhile() {
    let dir = std::env::temp_dir().join(format!("frontdesk-agent-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fd.db");
    let _ = std::fs::remove_file(&db);
    let port = free_port();
    let base = format!("ws://127.0.0.1:{port}");
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    let (mut ann, mut alice, li) = connected_chat(&base).await;
    say(&mut alice, &li.id, "before").await;
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "before")).await;
    // The console loses its connection; the customer writes; the server is killed; the customer
    // writes again while it is down.
    ann.drop_socket();
    say(&mut alice, &li.id, "gap1").await;
    say(&mut alice, &li.id, "gap2").await;
    child.kill().unwrap();
    child.wait().unwrap();
    let id3 = alice.h.with(|c| c.send_chat(li.id.clone(), "gap3"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    alice.wait(20, |e| matches!(e, ClientEvent::Connected { resumed: true })).await;
    assert!(alice.answer(id3).await.is_ok());
    // The console resumes its session and gets the three messages, once each, in order.
    assert!(ann.reattach(20).await, "the console's session resumed after the restart");
    ann.drain(500).await;
    assert_eq!(client_chats(&ann.delivered), vec!["before", "gap1", "gap2", "gap3"]);
    for t in ["gap1", "gap2", "gap3"] {
        assert_eq!(raw_count(&ann, t), 1, "{t} sent to the console once");
    }
    let Ok(Response::Seat(seat)) = ann.request(AgentRequest::GetSeat).await else { panic!() };
    assert!(seat.live.iter().any(|l| l.interaction.id == li.id), "{seat:?}");
    settle(&mut alice, 200).await;
    assert!(!told_ended(&alice, &li.id), "the customer was told the interaction ended");
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "back".into() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "back")).await;
    alice.h.shutdown();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Rust console (`frontdesk_server::console`, used by `frontdesk-cli agent` and the agent bot)
/// takes the seat before anything asked of it early, and hands over events typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_console_logs_in_first_and_hands_over_typed_events() {
    use frontdesk_server::console::{AgentConsole, ConsoleEvent};
    let (srv, base) = server(Duration::from_secs(60)).await;
    let login = AgentRequest::LogIn { name: "Ann".into(), skills: vec!["router".into()], media: vec![Medium::Chat] };
    let mut cfg = App::config("alice", 77);
    cfg.token = token(frontdesk_core::principal::Principal::Agent("ann".into(), frontdesk_core::principal::AgentRole::Agent));
    let (console, mut rx) = AgentConsole::start(format!("{base}/agent"), cfg, login);
    // Asked before the connection is even up: it goes out after the log_in.
    let ready = console.request(&AgentRequest::SetState { state: AgentState::Available }).unwrap();
    let mut alice = App::start(&base, App::config("alice", 1));
    let mut started = false;
    let mut log = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let offered = loop {
        let e = tokio::time::timeout_at(deadline, rx.recv()).await.unwrap_or_else(|_| panic!("timed out; {log:?}")).unwrap();
        log.push(e.clone());
        match e {
            ConsoleEvent::LoggedIn(r) => assert!(matches!(r, Ok(Response::Seat(_))), "{r:?}"),
            ConsoleEvent::Answered { id, result } if id == ready => {
                assert!(result.is_ok(), "set_state after log_in: {result:?}");
                alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
                alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
                started = true;
            }
            ConsoleEvent::Event(AgentEvent::Offered(li)) => break li,
            _ => {}
        }
    };
    assert!(started);
    assert!(matches!(log.first(), Some(ConsoleEvent::Connected { agent, resumed: false }) if agent == "ann"), "{log:?}");
    console.request(&AgentRequest::Accept { interaction: offered.id.clone() }).unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == offered.id && x.state == InteractionState::Connected)).await;
    say(&mut alice, &offered.id, "typed").await;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await.expect("chat in time").unwrap() {
            ConsoleEvent::Event(AgentEvent::Chat(m)) if m.text == "typed" => break,
            _ => {}
        }
    }
    // The console acknowledged it: the customer gets the receipt.
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { interaction, .. }) if *interaction == offered.id)).await;
    console.shutdown();
    alice.h.shutdown();
    srv.shutdown().await;
}
