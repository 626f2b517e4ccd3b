//! Kill the server with SIGKILL during traffic and restart it: clients reconnect and resume, and every
//! acknowledged message and mutation is there exactly once.

mod common;

use common::*;
use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::Author;
use frontdesk_core::profile::{Demographics, ProfilePatch};
use frontdesk_core::protocol::{AgentRequest, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for mid-loop, and at the end
async fn sigkill_during_traffic_loses_and_doubles_nothing() {
    let dir = std::env::temp_dir().join(format!("frontdesk-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fd.db");
    let _ = std::fs::remove_file(&db);
    let port = free_port();
    let base = format!("ws://127.0.0.1:{port}");
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;

    let (mut ann, mut alice, li) = chat_between(&base, "ann", "alice").await;

    // An invitation the client has seen must survive the restart too.
    let Ok(Response::Invitation(inv)) = ann.request(AgentRequest::Invite { client: "alice".into(), medium: Medium::Chat, message: "a second topic?".into() }).await else { panic!() };
    let inv = inv.id;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Invitation(i)) if i.id == inv)).await;
    // Traffic both ways; the server dies in the middle of it.
    let total = 30;
    let mut ids = vec![];
    for n in 0..total {
        ids.push(alice.h.with(|c| c.send_chat(li.id.clone(), format!("m{n:02}"))));
        if n % 5 == 0 {
            ids.push(alice.h.with(|c| c.update_profile(ProfilePatch { demographics: Some(Demographics { name: Some(format!("v{n}")), ..Default::default() }), ..Default::default() })));
        }
        if n < 5 {
            ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: format!("a{n}") }).await.unwrap();
        }
        if n == 12 {
            // Make sure some of the traffic was acknowledged, then kill mid-stream.
            alice.answer(ids[4]).await.unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), futures::StreamExt::next(&mut alice.rx)).await {
        alice.seen.push(e);
    }
    let acked_before: usize = alice.seen.iter().filter(|e| matches!(e, ClientEvent::Completed { result: Ok(_), .. })).count();
    let restarted = Instant::now();
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    alice.wait(20, |e| matches!(e, ClientEvent::Connected { resumed: true })).await;
    let resume = restarted.elapsed();
    // The agent console resumes its session: its seat and interaction are there.
    assert!(ann.reattach(20).await, "the console's session resumed");
    let Ok(Response::Seat(seat)) = ann.request(AgentRequest::GetSeat).await else { panic!("no seat") };
    assert!(seat.live.iter().any(|l| l.interaction.id == li.id), "{seat:?}");
    for id in &ids {
        let r = alice.answer(*id).await;
        assert!(r.is_ok(), "request {id}: {r:?}");
    }
    let id = alice.h.with(|c| c.get_transcript(li.id.clone()));
    let Ok(Response::Transcript(t)) = alice.answer(id).await else { panic!() };
    let mine: Vec<String> = t.iter().filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.text.clone()).collect();
    let want: Vec<String> = (0..total).map(|n| format!("m{n:02}")).collect();
    assert_eq!(mine, want, "every message once, in order");
    let id = alice.h.with(|c| c.get_profile());
    let Ok(Response::Profile(p)) = alice.answer(id).await else { panic!() };
    assert_eq!(p.revision, 6, "six profile edits applied once each");
    assert_eq!(p.demographics.name.as_deref(), Some("v25"));
    // The agent's five messages reached the app exactly once each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), futures::StreamExt::next(&mut alice.rx)).await {
        alice.seen.push(e);
    }
    let got: Vec<String> = alice
        .seen
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Pushed(Event::Chat(m)) if matches!(m.from, Author::Agent(_)) => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec!["a0", "a1", "a2", "a3", "a4"]);
    // The console that resumed got every client message once, in order, and the transcript agrees.
    ann.drain(300).await;
    let seen: Vec<String> = ann.delivered.iter().filter_map(|e| match e {
        AgentEvent::Chat(m) if matches!(m.from, Author::Client(_)) => Some(m.text.clone()),
        _ => None,
    }).collect();
    assert_eq!(seen, want, "the console saw every message once, in order");
    let Ok(Response::Transcript(t)) = ann.request(AgentRequest::Transcript { interaction: li.id.clone(), before: None, limit: None }).await else { panic!("transcript refused") };
    assert_eq!(t.iter().filter(|m| matches!(m.from, Author::Client(_))).count(), total);
    // The invitation is still there to accept.
    let id = alice.h.with(|c| c.respond_invitation(inv.clone(), true));
    let r = alice.answer(id).await;
    assert!(matches!(&r, Ok(Response::Invitation(i)) if i.interaction.is_some()), "{r:?}");
    // The conversation goes on after the restart.
    let r = ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "still here".into() }).await;
    assert!(r.is_ok(), "{r:?}");
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "still here")).await;
    eprintln!("restart figures: {acked_before} requests acknowledged before the kill, resume after restart in {} ms", resume.as_millis());
    alice.h.shutdown();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// After a restart the status monitor starts again, but the versions of its documents keep rising:
/// a client that kept the old center document takes the new ones, so its live status does not freeze.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)]
async fn live_status_keeps_moving_after_a_sigkill_restart() {
    use frontdesk_core::monitor::presence::Presentity;
    let dir = std::env::temp_dir().join(format!("frontdesk-restart-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fd.db");
    let _ = std::fs::remove_file(&db);
    let port = free_port();
    let base = format!("ws://127.0.0.1:{port}");
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    let mut alice = App::start(&base, App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    // Many changes before the restart push the center's version up.
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat]).await;
    for n in 0..40 {
        let state = if n % 2 == 0 { AgentState::Available } else { AgentState::Away };
        ann.request(AgentRequest::SetState { state }).await.unwrap();
    }
    ann.request(AgentRequest::LogOut).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = alice.h.with(|c| c.view().presence.get(&Presentity::Center).map(|d| d.version)).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    alice.wait(20, |e| matches!(e, ClientEvent::Connected { .. })).await;
    // One change after the restart: an agent comes online; alice sees it within a second.
    let mut bo = Agent::connect(&base, "bo", vec![Medium::Chat]).await;
    bo.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let changed = Instant::now();
    alice
        .wait(5, |e| matches!(e, ClientEvent::Presence(d) if d.entity == Presentity::Center && d.center.as_ref().is_some_and(|c| c.agents.iter().any(|a| a.id.as_str() == "bo" && a.state == AgentState::Available))))
        .await;
    assert!(changed.elapsed() < Duration::from_secs(1), "seen {:?} after the change", changed.elapsed());
    let after = alice.h.with(|c| c.view().presence.get(&Presentity::Center).map(|d| d.version)).unwrap();
    assert!(after > before, "version {after} after the restart must exceed {before}");
    child.kill().unwrap();
    child.wait().unwrap();
}
