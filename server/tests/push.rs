//! Pushes end to end: a client registers its device, its app is backgrounded (the socket goes), an
//! agent writes, and the relay given with `--push-webhook` (a real HTTP listener on 127.0.0.1 here)
//! receives one push with the text preview (allowed by `--push-include-text`) — after a refused first attempt, so the retry is
//! exercised; when the app comes back it reads the messages through its session as usual.

mod common;

use common::*;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::push::PushPlatform;
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_server::push::PushBody;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A minimal HTTP relay: answers 503 to the first `refuse` POSTs, 200 after; sends each POST's
/// (status it answered, path, body) to the channel.
fn relay(refuse: usize) -> (u16, mpsc::Receiver<(u16, String, String)>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let status = if n < refuse { 503 } else { 200 };
            let _ = write!(s, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((status, path, String::from_utf8(body).unwrap()));
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backgrounded_app_is_pushed_through_the_relay_and_reads_the_message_on_return() {
    let (relay_port, posts) = relay(1);
    let dir = TempDir::new("push");
    let port = free_port();
    let url = format!("http://127.0.0.1:{relay_port}/push");
    let mut child = spawn_server(port, &dir.0.join("fd.db"), &["--push-webhook", &url, "--push-include-text"]);
    wait_listening(port).await;
    let base = format!("ws://127.0.0.1:{port}");

    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&base, App::config("alice", 7));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.register_push(PushPlatform::Fcm, "fcm-device-token"));
    assert_eq!(alice.answer(id).await, Ok(Response::Done));
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!() };
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && x.state == InteractionState::Connected)).await;
    assert!(posts.recv_timeout(Duration::from_millis(300)).is_err(), "nothing is pushed while the app is attached");

    // The OS closes the backgrounded app's socket; the agent writes twice.
    alice.h.shutdown();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = "Your router ships tomorrow morning; the courier calls ahead.";
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: text.into() }).await.unwrap();
    let sent = Instant::now();
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "Anything else?".into() }).await.unwrap();

    // The relay refuses the first attempt; the retry a second later is taken.
    let (s1, path, b1) = posts.recv_timeout(Duration::from_secs(5)).expect("a first attempt");
    assert_eq!((s1, path.as_str()), (503, "/push"));
    let (s2, _, b2) = posts.recv_timeout(Duration::from_secs(5)).expect("a retry");
    assert_eq!(s2, 200);
    assert_eq!(b1, b2, "the retry carries the same push");
    let p: PushBody = serde_json::from_str(&b2).unwrap();
    assert_eq!(
        p,
        PushBody {
            client: "alice".into(),
            platform: "fcm".into(),
            token: "fcm-device-token".into(),
            title: "ANN".into(),
            body: text.into(),
            interaction: Some(li.id.to_string()),
            kind: "message".into(),
            collapse: li.id.to_string(),
        }
    );
    println!("push: agent's message to the relay's 200 in {} ms (one 503 and a retry)", sent.elapsed().as_millis());
    assert!(posts.recv_timeout(Duration::from_secs(2)).is_err(), "the second message in the window wakes no one again");

    // The app comes back (same installation): both messages arrive through the session.
    let mut back = App::start(&base, App::config("alice", 7));
    back.wait(10, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let texts: Vec<String> = back.h.with(|c| c.view().chats.get(&li.id).map(|v| v.iter().map(|m| m.text.clone()).collect()).unwrap_or_default());
        if texts.iter().any(|t| t == text) && texts.iter().any(|t| t == "Anything else?") {
            break;
        }
        assert!(Instant::now() < until, "messages not read on return: {texts:?} / {:?}", back.seen);
        let _ = tokio::time::timeout(Duration::from_millis(100), futures::StreamExt::next(&mut back.rx)).await;
    }
    assert!(posts.recv_timeout(Duration::from_millis(300)).is_err());
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for mid-test, and at the end
async fn a_registration_survives_a_restart_and_the_away_app_is_still_pushed() {
    let (relay_port, posts) = relay(0);
    let dir = TempDir::new("push-restart");
    let db = dir.0.join("fd.db");
    let port = free_port();
    let url = format!("http://127.0.0.1:{relay_port}/push");
    let mut child = spawn_server(port, &db, &["--push-webhook", &url]);
    wait_listening(port).await;
    let base = format!("ws://127.0.0.1:{port}");
    let mut ann = Agent::connect(&base, "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&base, App::config("alice", 3));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.register_push(PushPlatform::Apns, "apns-device-1"));
    assert_eq!(alice.answer(id).await, Ok(Response::Done));
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!() };
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id && x.state == InteractionState::Connected)).await;

    // The server dies and comes back on the same database; the app is backgrounded meanwhile.
    child.kill().unwrap();
    child.wait().unwrap();
    alice.h.shutdown();
    drop(alice);
    let mut child = spawn_server(port, &db, &["--push-webhook", &url]);
    wait_listening(port).await;
    assert!(ann.reattach(20).await, "the console's session resumed");
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "Back after the restart".into() }).await.unwrap();
    let (status, _, body) = posts.recv_timeout(Duration::from_secs(10)).expect("the device registered before the restart is pushed");
    assert_eq!(status, 200);
    let p: PushBody = serde_json::from_str(&body).unwrap();
    assert_eq!((p.client.as_str(), p.platform.as_str(), p.token.as_str()), ("alice", "apns", "apns-device-1"));
    assert_eq!(p.interaction, Some(li.id.to_string()));
    assert_eq!((p.title.as_str(), p.body.as_str()), ("New activity", "You have a new message"), "no text without --push-include-text");
    let _ = child.kill();
    let _ = child.wait();
}
