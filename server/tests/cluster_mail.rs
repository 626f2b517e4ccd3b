//! Email on a cluster: every node's SMTP listener takes clients' replies and the leader's mailroom
//! commits them before the relay hears `250`; the threading (reply tokens, Message-IDs) lives in
//! PostgreSQL, so a reply to a mail the killed leader sent still reaches its conversation through the
//! next leader, by token and by `In-Reply-To`. Real PostgreSQL, NATS, aiosmtpd and smtplib.
//!
//! Without PostgreSQL 15 or nats-server the test says so and passes, unless
//! `FRONTDESK_REQUIRE_CLUSTER` is set (tests/run-all.sh sets it): then it fails.

mod cluster_support;
mod common;
mod mail_support;

use cluster_support::{until, Node, Services};
use common::{free_port, Agent, App};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::Author;
use frontdesk_core::profile::{Capability, ProfilePatch};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use mail_support::{bare, message, smtplib, Relay};
use serde_json::Value;
use std::time::{Duration, Instant};

const ALICE: &str = "alice@client.test";

/// A node that sends through `relay` and takes mail on its own SMTP port.
fn mail_node(s: &Services, name: &str, relay: u16, smtp: u16) -> Node {
    let (relay, smtp) = (format!("127.0.0.1:{relay}"), format!("127.0.0.1:{smtp}"));
    let args = ["--smtp-relay", &relay, "--smtp-tls", "none", "--mail-from", "Support <support@centre.test>", "--mail-domain", "reply.test", "--smtp-listen", &smtp, "--mail-retry-secs", "1"];
    s.node(name, &[], &args)
}

/// Whether smtplib was told to come back later (451 at RCPT or DATA): nothing was taken.
fn temporary(r: &Value) -> bool {
    r["code"].as_u64() == Some(451) || r["refused"].as_object().is_some_and(|m| m.values().all(|v| v[0].as_u64() == Some(451)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_by_mail_reach_the_conversation_through_any_node_and_after_the_leader_dies() {
    let Some(s) = Services::start("cluster-mail") else { return };
    let relay_port = free_port();
    let mut relay = Relay::start(&s.tmp, relay_port).await;
    let smtp = [free_port(), free_port(), free_port()];
    let mut a = mail_node(&s, "a", relay_port, smtp[0]);
    until(20, "a leads", || a.leads()).await;
    let b = mail_node(&s, "b", relay_port, smtp[1]);
    let c = mail_node(&s, "c", relay_port, smtp[2]);
    for n in [&a, &b, &c] {
        common::wait_listening(n.port).await;
    }
    for p in smtp {
        common::wait_listening(p).await;
    }

    // Alice writes by email from the app on B; Eve takes it on B and answers: the leader (A) sends it.
    let mut alice = App::start(&b.base(), App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let caps = vec![Capability { medium: Medium::Email, address: Some(ALICE.into()), devices: vec![] }];
    let id = alice.h.with(|c| c.update_profile(ProfilePatch { capabilities: Some(caps), ..Default::default() }));
    alice.answer(id).await.expect("profile saved");
    let id = alice.h.with(|c| c.send_email(Some("router".into()), "Router reboots", "It reboots every hour."));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!("email not started") };
    let mut eve = Agent::connect(&b.base(), "eve", vec![Medium::Email]).await;
    eve.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    eve.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    eve.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    eve.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "Please update its firmware.".into() }).await.unwrap();
    let h = relay.next(15).await["headers"].clone();
    let reply_to = h["Reply-To"].as_str().expect("a reply address").to_string();
    let m1 = bare(&h["Message-ID"]);

    // Her reply comes in on C's listener (C does not lead): taken once the leader committed it.
    let c1 = message(ALICE, &reply_to, "c1@client.test", Some((&m1, &format!("<{m1}>"))), "", "Thanks, that fixed it.");
    let r = smtplib(&s.tmp, smtp[2], ALICE, &reply_to, c1).await;
    assert_eq!(r["result"], "ok", "{r}");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "Thanks, that fixed it." && m.interaction == li.id && m.from == Author::Client("alice".into()))).await;
    // A stranger guessing a token is refused at RCPT by the leader's threads, through C too.
    let guessed = format!("reply+{}@reply.test", "0".repeat(32));
    let r = smtplib(&s.tmp, smtp[2], "mallory@else.test", &guessed, message("mallory@else.test", &guessed, "s1@else.test", None, "", "Let me in")).await;
    assert_eq!((r["error"].as_str(), r["refused"][&guessed][0].as_u64()), (Some("recipients"), Some(550)), "{r}");

    // The leader dies. A reply sent meanwhile is refused for now (451, the relay keeps it) or taken:
    // never acknowledged and lost. The token and the thread were in PostgreSQL, not in A's memory.
    a.kill();
    let follower = || if b.leads() { smtp[2] } else { smtp[1] };
    let c2 = message(ALICE, &reply_to, "c2@client.test", Some((&m1, &format!("<{m1}> <c1@client.test>"))), "", "It is the X200.");
    let t = Instant::now();
    let mut refused_for_now = 0;
    loop {
        let r = smtplib(&s.tmp, follower(), ALICE, &reply_to, c2.clone()).await;
        if r["result"] == "ok" {
            break;
        }
        assert!(temporary(&r), "only a temporary refusal while no node leads: {r}");
        assert!(t.elapsed() < Duration::from_secs(30), "a new leader took the mail in time");
        refused_for_now += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t.elapsed();
    until(20, "b or c leads", || b.leads() || c.leads()).await;
    assert!(eve.reattach(20).await, "the console resumes on the new leader");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "It is the X200." && m.interaction == li.id)).await;

    // Without the token (to the centre's address), threaded by In-Reply-To to the dead leader's mail.
    let c3 = message(ALICE, "support@reply.test", "c3@client.test", Some((&m1, &format!("<{m1}>"))), "", "Firmware 2.1 is on.");
    let r = smtplib(&s.tmp, follower(), ALICE, "support@reply.test", c3.clone()).await;
    assert_eq!(r["result"], "ok", "{r}");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "Firmware 2.1 is on." && m.interaction == li.id)).await;
    // The relay sends it again (its 250 lost): taken once, by the Message-ID the new leader finds.
    assert_eq!(smtplib(&s.tmp, follower(), ALICE, "support@reply.test", c3).await["result"], "ok");
    eve.drain(500).await;
    let from_alice: Vec<String> = eve
        .delivered
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Chat(m) if matches!(m.from, Author::Client(_)) && m.interaction == li.id => Some(m.text.clone()),
            _ => None,
        })
        .filter(|t| t != "It reboots every hour.")
        .collect();
    assert_eq!(from_alice, ["Thanks, that fixed it.", "It is the X200.", "Firmware 2.1 is on."], "each reply once, in order");
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "Firmware 2.1 is on.")).await;

    // The new leader's answer keeps the thread: the same reply address, References back to A's mail.
    eve.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "Good to hear.".into() }).await.unwrap();
    let h = relay.next(15).await["headers"].clone();
    assert_eq!(h["Reply-To"].as_str(), Some(reply_to.as_str()), "one token per interaction, across leaders");
    assert_eq!(h["In-Reply-To"].as_str(), Some("<c3@client.test>"));
    let refs = h["References"].as_str().unwrap_or_default().to_string();
    assert!(refs.starts_with(&format!("<{m1}>")) && refs.contains("<c1@client.test>") && refs.contains("<c2@client.test>"), "{refs}");
    eprintln!("cluster mail: a reply sent as the leader died taken after {:.1} s ({refused_for_now} temporary refusals)", took.as_secs_f64());
    relay.stop().await;
    let _ = (b, c);
}
