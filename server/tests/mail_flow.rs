//! Email through the whole server over loopback: a client writes from the app, an agent answers
//! from the console, the answer reaches a real relay (aiosmtpd) threaded and with a tokenised
//! Reply-To, and the client's replies from a mail program (smtplib) come back into the
//! interaction by token or by `In-Reply-To`; automatic mail is dropped and strangers refused.
//! Mail written while the relay is down is sent once after a restart.
//!
//! Needs a Python with aiosmtpd 1.4.6, found as in `mail.rs`: `FRONTDESK_PYTHON`, else the venv at
//! `~/.cache/frontdesk-test-venv`, else `python3`.

mod common;
mod mail_support;

use common::*;
use mail_support::{bare, message, smtplib, Relay};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{Author, LiveInteraction};
use frontdesk_core::profile::{Capability, ProfilePatch};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_server::mail::{InboundConfig, MailerConfig, TlsMode};
use frontdesk_server::mailroom::{InboundSettings, MailSettings};
use frontdesk_server::{start, Running, ServerConfig};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const REPLY_DOMAIN: &str = "reply.test";
const ALICE: &str = "alice@client.test";


/// Business hours that exclude today (UTC): the queue is closed for live media all test long.
fn closed_today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    let monday_based = (days + 3) % 7;
    let other = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][((monday_based + 2) % 7) as usize];
    format!("{other} 10:00-11:00 Z")
}

async fn server(db: &Path, relay_port: u16, port: u16) -> Running {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let mut out = MailerConfig::new("127.0.0.1", TlsMode::None, "Support <support@centre.test>", REPLY_DOMAIN);
    out.relay_port = relay_port;
    out.timeout = Duration::from_secs(5);
    let hours = frontdesk_core::monitor::hours::BusinessHours::parse(&closed_today()).unwrap();
    let cfg = ServerConfig {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        db: Some(db.to_path_buf()),
        secret: SECRET.to_vec(),
        simulate: false,
        sample_data: false,
        mail: Some(MailSettings {
            outbound: Some(out),
            inbound: Some(InboundSettings { addr: "127.0.0.1:0".parse().unwrap(), config: InboundConfig::new(REPLY_DOMAIN) }),
            retry: Duration::from_secs(1),
        }),
        queue_hours: vec![("support".into(), hours)],
        ..ServerConfig::default()
    };
    start(cfg).await.unwrap()
}

/// Alice (with an email address in her profile) writes by email; eve accepts it.
async fn written_and_taken(base: &str) -> (App, Agent, LiveInteraction) {
    let mut alice = App::start(base, App::config("alice", 1));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let chat = alice.h.with(|c| c.view().center.clone().unwrap().queue(&"support".into(), Medium::Chat).cloned().unwrap());
    assert!(!chat.open && !chat.offered, "outside the configured business hours: {chat:?}");
    let caps = vec![Capability { medium: Medium::Email, address: Some(ALICE.into()), devices: vec![] }];
    let id = alice.h.with(|c| c.update_profile(ProfilePatch { capabilities: Some(caps), ..Default::default() }));
    alice.answer(id).await.expect("profile saved");
    let id = alice.h.with(|c| c.send_email(Some("router".into()), "Router reboots", "It reboots every hour."));
    let Ok(Response::Interaction(li)) = alice.answer(id).await else { panic!("email not started") };
    let mut eve = Agent::connect(base, "eve", vec![Medium::Email]).await;
    eve.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    eve.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)).await;
    eve.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    (alice, eve, li)
}

async fn reply(eve: &mut Agent, ix: &InteractionId, text: &str) {
    let r = eve.request(AgentRequest::SendChat { interaction: ix.clone(), text: text.into() }).await;
    assert!(matches!(r, Ok(Response::Chat(_))), "send_chat: {r:?}");
}


fn client_chats(eve: &Agent) -> Vec<String> {
    eve.delivered
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Chat(m) if matches!(m.from, Author::Client(_)) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_by_mail_reaches_the_relay_and_the_clients_replies_reach_the_agent() {
    let dir = TempDir::new("thread");
    let relay_port = free_port();
    let mut relay = Relay::start(&dir, relay_port).await;
    let srv = server(&dir.0.join("fd.db"), relay_port, 0).await;
    let smtp = srv.smtp_addr.expect("listener on").port();
    let base = format!("ws://{}", srv.addr);
    let (mut alice, mut eve, li) = written_and_taken(&base).await;

    // The agent's answer goes out by mail, threaded and with the interaction's reply address.
    let t = Instant::now();
    reply(&mut eve, &li.id, "Please update its firmware.").await;
    let got = relay.next(10).await;
    let out_ms = t.elapsed().as_millis();
    let h = &got["headers"];
    assert_eq!(got["rcpt"], json!([ALICE]));
    assert_eq!(
        (h["To"].as_str(), h["Subject"].as_str(), h["From"].as_str()),
        (Some(ALICE), Some("Re: Router reboots"), Some("Support <support@centre.test>")),
        "{got}"
    );
    let reply_to = h["Reply-To"].as_str().unwrap().to_string();
    let token = reply_to
        .strip_prefix("reply+")
        .and_then(|r| r.strip_suffix(&format!("@{REPLY_DOMAIN}")))
        .unwrap_or_else(|| panic!("Reply-To {reply_to}"));
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()), "an unguessable token: {token}");
    let m1 = bare(&h["Message-ID"]);
    assert!(m1.ends_with(&format!("@{REPLY_DOMAIN}")), "{m1}");
    assert!(h.get("In-Reply-To").is_none(), "the first mail of the thread answers no mail: {h}");
    assert_eq!(got["body"].as_str().unwrap().trim_end(), "Please update its firmware.");
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "Please update its firmware.")).await;

    // Alice answers from her mail program to the Reply-To, quoting below her words.
    let quoted =
        "Thanks, that fixed it.\n\nOn Tue, 3 Dec 2024 at 10:00, Support <support@centre.test> wrote:\n> Please update its firmware.\n";
    let c1 = message(ALICE, &reply_to, "c1@client.test", Some((&m1, &format!("<{m1}>"))), "", quoted);
    let t = Instant::now();
    let r = smtplib(&dir, smtp, ALICE, &reply_to, c1.clone()).await;
    assert_eq!(r["result"], "ok", "{r}");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "Thanks, that fixed it." && m.from == Author::Client("alice".into()) && m.interaction == li.id)).await;
    let in_ms = t.elapsed().as_millis();
    alice
        .wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "Thanks, that fixed it." && m.interaction == li.id))
        .await;

    // The relay sends it again (its 250 was lost): taken once. An out-of-office note: dropped.
    assert_eq!(smtplib(&dir, smtp, ALICE, &reply_to, c1).await["result"], "ok");
    let auto = message(
        ALICE,
        &reply_to,
        "auto1@client.test",
        Some((&m1, &format!("<{m1}>"))),
        "Auto-Submitted: auto-replied\r\n",
        "I am out of the office until Monday.",
    );
    assert_eq!(smtplib(&dir, smtp, ALICE, &reply_to, auto).await["result"], "ok", "acknowledged, so the relay does not retry it");

    // A reply without the token (to the centre's address) threads by In-Reply-To.
    let refs = format!("<{m1}> <c1@client.test>");
    let c2 = message(
        ALICE,
        &format!("support@{REPLY_DOMAIN}"),
        "c2@client.test",
        Some(("c1@client.test", &refs)),
        "",
        "One more thing: it is the X200.",
    );
    assert_eq!(smtplib(&dir, smtp, ALICE, &format!("support@{REPLY_DOMAIN}"), c2).await["result"], "ok");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "One more thing: it is the X200." && m.interaction == li.id)).await;
    let replies: Vec<String> = client_chats(&eve).into_iter().filter(|t| t != "It reboots every hour.").collect();
    assert_eq!(replies, ["Thanks, that fixed it.", "One more thing: it is the X200."], "each reply once, the automatic one never");

    // The next answer names the thread: In-Reply-To the latest, References all of it.
    reply(&mut eve, &li.id, "Noted: the X200 gets firmware 2.1.").await;
    let h = relay.next(10).await["headers"].clone();
    assert_eq!(h["Reply-To"].as_str(), Some(reply_to.as_str()), "one token per interaction");
    assert_eq!(h["In-Reply-To"].as_str(), Some("<c2@client.test>"));
    assert_eq!(h["References"].as_str(), Some(format!("<{m1}> <c1@client.test> <c2@client.test>").as_str()));
    assert_ne!(bare(&h["Message-ID"]), m1);

    // A stranger: refused, whether writing fresh, guessing a token or naming alice's own mail.
    let stranger = "mallory@else.test";
    let r = smtplib(
        &dir,
        smtp,
        stranger,
        &format!("support@{REPLY_DOMAIN}"),
        message(stranger, "support@reply.test", "s1@else.test", None, "", "Hello?"),
    )
    .await;
    assert_eq!((r["error"].as_str(), r["code"].as_u64()), (Some("data"), Some(550)), "{r}");
    let guessed = format!("reply+{}@{REPLY_DOMAIN}", "0".repeat(32));
    let r = smtplib(&dir, smtp, stranger, &guessed, message(stranger, &guessed, "s2@else.test", None, "", "Let me in")).await;
    assert_eq!((r["error"].as_str(), r["refused"][&guessed][0].as_u64()), (Some("recipients"), Some(550)), "{r}");
    let forged =
        message(stranger, "support@reply.test", "s3@else.test", Some(("c2@client.test", "<c2@client.test>")), "", "Into alice's thread");
    let r = smtplib(&dir, smtp, stranger, &format!("support@{REPLY_DOMAIN}"), forged).await;
    assert_eq!(r["code"].as_u64(), Some(550), "a client's own id threads only its sender's mail: {r}");
    eve.drain(300).await;
    assert!(
        client_chats(&eve).iter().all(|t| !t.contains("Hello?")
            && !t.contains("Let me in")
            && !t.contains("alice's thread")
            && !t.contains("out of the office")),
        "{:?}",
        client_chats(&eve)
    );
    eprintln!("mail flow: agent reply → relay {out_ms} ms; client's mail → agent console {in_ms} ms");
    srv.shutdown().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_written_while_the_relay_is_down_goes_once_after_a_restart() {
    let dir = TempDir::new("restart");
    let db = dir.0.join("fd.db");
    // Nothing listens there yet: the relay is down. The server keeps its port, so the console resumes.
    let (relay_port, port) = (free_port(), free_port());
    let srv = server(&db, relay_port, port).await;
    let base = format!("ws://{}", srv.addr);
    let (_alice, mut eve, li) = written_and_taken(&base).await;
    reply(&mut eve, &li.id, "We will send a technician.").await;
    // An attempt fails (connection refused) and backs off; then the server stops.
    tokio::time::sleep(Duration::from_millis(700)).await;
    srv.shutdown().await;

    let mut relay = Relay::start(&dir, relay_port).await;
    let t = Instant::now();
    let srv = server(&db, relay_port, port).await;
    let got = relay.next(15).await;
    let restart_ms = t.elapsed().as_millis();
    let h = got["headers"].clone();
    assert_eq!(got["rcpt"], json!([ALICE]));
    assert_eq!(h["Subject"].as_str(), Some("Re: Router reboots"));
    assert_eq!(got["body"].as_str().unwrap().trim_end(), "We will send a technician.");
    relay.quiet_for(2500).await.unwrap_or_else(|m| panic!("sent twice: {m}"));
    // Its outcome was committed: another restart sends nothing.
    srv.shutdown().await;
    let srv = server(&db, relay_port, port).await;
    relay.quiet_for(1500).await.unwrap_or_else(|m| panic!("sent again after a restart: {m}"));

    // A reply to it threads into the interaction through the token and id kept across restarts.
    assert!(eve.reattach(10).await, "the console resumes its session");
    let reply_to = h["Reply-To"].as_str().unwrap().to_string();
    let m = bare(&h["Message-ID"]);
    let r = smtplib(
        &dir,
        srv.smtp_addr.unwrap().port(),
        ALICE,
        &reply_to,
        message(ALICE, &reply_to, "c9@client.test", Some((&m, &format!("<{m}>"))), "", "Tuesday works."),
    )
    .await;
    assert_eq!(r["result"], "ok", "{r}");
    eve.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "Tuesday works." && m.interaction == li.id)).await;
    eprintln!("mail flow: restart with the relay back → mail at the relay {restart_ms} ms");
    srv.shutdown().await;
    relay.stop().await;
}
