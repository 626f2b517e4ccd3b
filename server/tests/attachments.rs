//! Files in a conversation over HTTP: a client sends a picture and the agent gets the message that
//! carries it and reads the same bytes; the agent sends one back; too big, forbidden, disguised and
//! scanner-refused files are refused with their reason; another client and an agent who never handled
//! the interaction cannot read them; the file survives a server restart.

mod common;

use common::*;
use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{Author, ChatMessage};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{Event, Response};
use frontdesk_core::Medium;

fn png(n: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..n).map(|i| (i % 251) as u8));
    v
}

fn error_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).unwrap()["error"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for at the end of each run
async fn parties_send_and_read_files_and_nobody_else_can() {
    let dir = TempDir::new("attachments");
    let db = dir.0.join("fd.db");
    let port = free_port();
    let base = format!("ws://127.0.0.1:{port}");
    // The scanner refuses files that contain the EICAR marker, as a virus scanner would.
    let scan = "! grep -q EICAR";
    let args = ["--attachment-max-bytes", "300000", "--attachment-scan", scan];
    let mut child = spawn_server(port, &db, &args);
    wait_listening(port).await;

    let (mut ann, mut alice, li) = chat_between(&base, "ann", "alice").await;

    let alice_token = client_token("alice");
    let ann_token = token(Principal::Agent("ann".into(), AgentRole::Agent));
    let ix = li.id.0.clone();

    // The client sends a picture bigger than one frame of the session protocol (256 KiB).
    let picture = png(280_000);
    let (status, _, body) = http(port, "POST", &format!("/attachments/{ix}?name=photos%2Fcr%C3%A8me.png"), Some(&alice_token), "image/png", &picture).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let msg: ChatMessage = serde_json::from_slice(&body).unwrap();
    let meta = msg.attachment.clone().expect("the message carries the file");
    assert_eq!((meta.name.as_str(), meta.content_type.as_str(), meta.size), ("crème.png", "image/png", picture.len() as u64));
    assert_eq!(msg.text, "crème.png");
    // The agent gets it as a chat message, and the client's own app sees it too.
    let AgentEvent::Chat(got) = ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.attachment.is_some())).await else { unreachable!() };
    assert_eq!(got, msg);
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.seq == msg.seq && m.attachment.is_some())).await;
    // Both read the same bytes, as a download that cannot run as a page.
    let path = format!("/attachments/{ix}/{}", msg.seq);
    for t in [&ann_token, &alice_token] {
        let (status, head, body) = http(port, "GET", &path, Some(t), "text/plain", b"").await;
        assert_eq!(status, 200);
        assert!(body == picture, "the bytes read are those sent");
        let h = head.to_ascii_lowercase();
        assert!(h.contains("content-type: image/png") && h.contains("x-content-type-options: nosniff"), "{head}");
        assert!(h.contains("content-disposition: attachment; filename*=utf-8''cr%c3%a8me%2epng"), "{head}");
    }

    // The agent sends a PDF back.
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n".to_vec();
    let (status, _, body) = http(port, "POST", &format!("/attachments/{ix}?name=invoice.pdf"), Some(&ann_token), "application/pdf", &pdf).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let back: ChatMessage = serde_json::from_slice(&body).unwrap();
    assert_eq!(back.from, Author::Agent("ann".into()));
    // Her console shows it too, though it came over HTTP rather than as the console's request.
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.seq == back.seq)).await;
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.seq == back.seq && m.attachment.as_ref().is_some_and(|a| a.name == "invoice.pdf"))).await;

    // Refusals, each with its reason; none posts a message.
    let up = |t: String, name: &'static str, ctype: &'static str, data: Vec<u8>| {
        let p = format!("/attachments/{ix}?name={name}");
        async move { http(port, "POST", &p, Some(&t), ctype, &data).await }
    };
    let (s, _, b) = up(alice_token.clone(), "big.png", "image/png", png(300_001)).await;
    assert_eq!(s, 413, "{}", error_of(&b));
    let (s, _, b) = up(alice_token.clone(), "page.html", "text/html", b"<script>alert(1)</script>".to_vec()).await;
    assert_eq!(s, 403, "{}", error_of(&b));
    assert!(error_of(&b).contains("not taken"));
    let (s, _, b) = up(alice_token.clone(), "tool.exe", "application/x-msdownload", b"MZ\x90\0".to_vec()).await;
    assert_eq!(s, 403, "{}", error_of(&b));
    let (s, _, b) = up(alice_token.clone(), "fake.png", "image/png", b"<html>not a picture</html>".to_vec()).await;
    assert_eq!(s, 400, "{}", error_of(&b));
    let (s, _, b) = up(alice_token.clone(), "virus.txt", "text/plain", b"X5O!P%@AP EICAR-STANDARD-ANTIVIRUS-TEST-FILE".to_vec()).await;
    assert_eq!(s, 422, "{}", error_of(&b));
    assert!(error_of(&b).contains("scanner"));
    // Another client can neither post in nor read alice's interaction, nor learn that it exists.
    let (s, _, _) = up(client_token("mallory"), "a.png", "image/png", png(10)).await;
    assert_eq!(s, 404);
    let (s, _, _) = http(port, "GET", &path, Some(&client_token("mallory")), "text/plain", b"").await;
    assert_eq!(s, 404);
    // Nor can an agent who does not handle it; a supervisor can read it.
    let _bob = Agent::connect(&base, "bob", vec![Medium::Chat]).await;
    let bob = token(Principal::Agent("bob".into(), AgentRole::Agent));
    let (s, _, _) = http(port, "GET", &path, Some(&bob), "text/plain", b"").await;
    assert_eq!(s, 403);
    let (s, _, _) = http(port, "POST", &format!("/attachments/{ix}?name=a.png"), Some(&bob), "image/png", &png(10)).await;
    assert_eq!(s, 403);
    let _sue = Agent::supervisor(&base, "sue").await;
    let (s, _, body) = http(port, "GET", &path, Some(&token(Principal::Agent("sue".into(), AgentRole::Supervisor))), "text/plain", b"").await;
    assert_eq!(s, 200);
    assert!(body == picture);
    let (s, _, _) = http(port, "GET", &path, None, "text/plain", b"").await;
    assert_eq!(s, 401);
    let (s, _, _) = http(port, "GET", &path, Some("not-a-token"), "text/plain", b"").await;
    assert_eq!(s, 401);
    let (s, _, _) = http(port, "GET", &format!("/attachments/{ix}/999"), Some(&alice_token), "text/plain", b"").await;
    assert_eq!(s, 404);
    // Only the two files were posted: the refusals left no message behind.
    let id = alice.h.with(|c| c.get_transcript(li.id.clone()));
    let Ok(Response::Transcript(t)) = alice.answer(id).await else { panic!() };
    assert_eq!(t.iter().filter(|m| m.attachment.is_some()).count(), 2, "{t:#?}");

    // The file outlives the process: SQLite keeps it with its message.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = spawn_server(port, &db, &args);
    wait_listening(port).await;
    let (status, _, body) = http(port, "GET", &path, Some(&alice_token), "text/plain", b"").await;
    assert_eq!(status, 200);
    assert!(body == picture);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for at the end
async fn uploads_count_against_the_principals_rate_limit() {
    let dir = TempDir::new("attachments-rate");
    let port = free_port();
    let base = format!("ws://127.0.0.1:{port}");
    let mut child = spawn_server(port, &dir.0.join("fd.db"), &["--max-msgs-per-sec", "1", "--rate-burst", "30"]);
    wait_listening(port).await;
    let (_ann, _alice, li) = chat_between(&base, "ann", "alice").await;
    let t = client_token("alice");
    let mut statuses = vec![];
    for _ in 0..40 {
        statuses.push(http(port, "POST", &format!("/attachments/{}?name=a.txt", li.id.0), Some(&t), "text/plain", b"hello").await.0);
    }
    // The burst left after the session's own messages is taken, then uploads are refused, not stored.
    assert!(statuses.iter().filter(|s| **s == 201).count() >= 5, "{statuses:?}");
    assert!(statuses.ends_with(&[429, 429, 429]), "{statuses:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
