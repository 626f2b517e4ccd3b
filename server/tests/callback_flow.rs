//! Callbacks end to end: the real server (in-process, and the binary for the SIGKILL case) with
//! its SIP dialer, sipp as the trunk and the customer's phone, baresip as the agent's phone, an
//! agent console and a client app over WebSocket. Every peer binds 127.0.0.1 only, and the SDP
//! the trunk received is checked to name 127.0.0.1. Without sipp or baresip the tests say so and
//! pass, unless `FRONTDESK_REQUIRE_SIP` is set.

mod common;
mod sip_peers;

use common::{spawn_server, wait_listening, Agent, App, TempDir, SECRET};
use frontdesk_core::callback::{CallbackPhase, DialFailure};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{InteractionState, LiveInteraction};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::records::{HistoryFilter, InteractionRecord, Outcome};
use frontdesk_core::status::AgentState;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_server::sip::{SipConfig, Trunk};
use frontdesk_server::{start, ServerConfig};
use futures::StreamExt;
use sip_peers::{free_port, now_of_day, peers, Baresip, Ladder, Sipp, STEP};
use std::future::Future;
use std::time::Duration;

const NUMBER: &str = "+4930123456";

/// Each scenario ends within this, peers and all.
const BOUND: Duration = Duration::from_secs(35);

async fn bounded(f: impl Future<Output = ()>) {
    tokio::time::timeout(BOUND, f).await.expect("the scenario ends in time");
}

/// The server in-process with its dialer on a free loopback port and `trunk_port` as the trunk.
async fn server(trunk_port: u16, retry_secs: u64) -> (frontdesk_server::server::Running, String) {
    let trunk = Trunk { uri: format!("sip:127.0.0.1:{trunk_port}"), user: None, password: None, caller_id: Some("+4930555000".into()) };
    let mut sip = SipConfig::new("127.0.0.1:0".parse().unwrap(), trunk);
    sip.ring_timeout = Duration::from_secs(10);
    sip.reach_timeout = Duration::from_secs(3);
    let cfg = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        db: None,
        secret: SECRET.to_vec(),
        simulate: false,
        sample_data: true,
        sip: Some(sip),
        callback_attempts: 3,
        callback_retry: Duration::from_secs(retry_secs),
        ..ServerConfig::default()
    };
    let srv = start(cfg).await.expect("server starts");
    assert!(srv.sip_addr.is_some_and(|a| a.ip().is_loopback()), "the dialer is on loopback");
    let base = format!("ws://{}", srv.addr);
    (srv, base)
}

/// An agent who takes callbacks on `phone`, away until told otherwise.
async fn agent(base: &str, phone: &str) -> Agent {
    let mut ann = Agent::connect(base, "ann", vec![Medium::Callback]).await;
    let r = ann.request(AgentRequest::SetPhone { phone: Some(phone.into()) }).await;
    assert!(r.is_ok(), "set_phone: {r:?}");
    ann
}

/// Waits for the offer of `id` and accepts it.
async fn accept(ann: &mut Agent, id: &InteractionId) {
    ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == *id)).await;
    let r = ann.request(AgentRequest::Accept { interaction: id.clone() }).await;
    assert!(r.is_ok(), "accept: {r:?}");
}

/// The client app and the callback it asked for, with every state of it the app was pushed.
struct Customer {
    app: App,
    li: LiveInteraction,
    /// How far `until` has read `app.seen`.
    cursor: usize,
}

impl Customer {
    async fn ask(base: &str, name: &str) -> Customer {
        let mut app = App::start(base, App::config(name, 1));
        app.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
        let id = app.h.with(|c| c.request_callback(Some(NUMBER.into()), None, Some("router".into()), Some("Router reboots".into())));
        let li = match app.answer(id).await {
            Ok(Response::Interaction(li)) => li,
            other => panic!("request_callback: {other:?}"),
        };
        let cb = li.callback.clone().expect("a callback");
        assert_eq!((cb.number.as_str(), &cb.phase), (NUMBER, &CallbackPhase::Scheduled));
        assert!(matches!(li.state, InteractionState::Queued { .. }), "{li:?}");
        let cursor = app.seen.len();
        Customer { app, li, cursor }
    }

    fn ours(&self, e: &ClientEvent) -> Option<LiveInteraction> {
        match e {
            ClientEvent::Pushed(Event::Interaction(x)) if x.id == self.li.id => Some(x.clone()),
            _ => None,
        }
    }

    /// The next push of the callback (after the last one returned) that satisfies `f`.
    async fn until(&mut self, secs: u64, what: &str, f: impl Fn(&LiveInteraction) -> bool) -> LiveInteraction {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            while self.cursor < self.app.seen.len() {
                let e = self.app.seen[self.cursor].clone();
                self.cursor += 1;
                if let Some(x) = self.ours(&e).filter(|x| f(x)) {
                    return x;
                }
            }
            match tokio::time::timeout_at(deadline, self.app.rx.next()).await {
                Ok(Some(e)) => self.app.seen.push(e),
                Ok(None) => panic!("the client driver stopped"),
                Err(_) => panic!("the client saw no {what}; phases so far {:?}", self.phases()),
            }
        }
    }

    /// The next client event (not yet read) that satisfies `f`.
    async fn event(&mut self, secs: u64, what: &str, f: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.app.rx.next()).await {
                Ok(Some(e)) => {
                    self.app.seen.push(e.clone());
                    if f(&e) {
                        return e;
                    }
                }
                Ok(None) => panic!("the client driver stopped"),
                Err(_) => panic!("the client saw no {what}; phases so far {:?}", self.phases()),
            }
        }
    }

    async fn phase(&mut self, secs: u64, want: fn(&CallbackPhase) -> bool, what: &str) -> LiveInteraction {
        self.until(secs, what, |x| x.callback.as_ref().is_some_and(|c| want(&c.phase))).await
    }

    async fn ended(&mut self, secs: u64) -> LiveInteraction {
        self.until(secs, "end", |x| matches!(x.state, InteractionState::Ended { .. })).await
    }

    /// The phases the app was pushed, in order, repeats folded.
    fn phases(&self) -> Vec<String> {
        let mut v: Vec<String> = vec![name(&CallbackPhase::Scheduled)];
        for e in &self.app.seen {
            if let Some(cb) = self.ours(e).and_then(|x| x.callback) {
                let n = name(&cb.phase);
                if v.last() != Some(&n) {
                    v.push(n);
                }
            }
        }
        v
    }

    async fn record(&mut self) -> InteractionRecord {
        let id = self.app.h.with(|c| c.get_history(HistoryFilter::default()));
        match self.app.answer(id).await {
            Ok(Response::History(records)) => records.into_iter().find(|r| r.id == self.li.id).expect("the callback's record"),
            other => panic!("get_history: {other:?}"),
        }
    }
}

fn name(p: &CallbackPhase) -> String {
    match p {
        CallbackPhase::Scheduled => "scheduled".into(),
        CallbackPhase::DialingAgent => "dialing_agent".into(),
        CallbackPhase::DialingCustomer => "dialing_customer".into(),
        CallbackPhase::Connected => "connected".into(),
        CallbackPhase::RetryAt { reason, .. } => format!("retry_at({})", reason.describe()),
        CallbackPhase::Failed { reason } => format!("failed({})", reason.describe()),
        CallbackPhase::Ended => "ended".into(),
    }
}

fn dialing_customer(p: &CallbackPhase) -> bool {
    *p == CallbackPhase::DialingCustomer
}

fn connected(p: &CallbackPhase) -> bool {
    *p == CallbackPhase::Connected
}

fn loopback_only(ladder: &Ladder) {
    assert!(!ladder.received_sdp_addrs.is_empty(), "the trunk got SDP");
    assert!(ladder.received_sdp_addrs.iter().all(|a| a == "127.0.0.1"), "SDP to the trunk names only loopback: {:?}", ladder.received_sdp_addrs);
}

/// "callback to +4930123456, 0 min N s, hung up by the customer" with N in `secs`.
fn completed_summary(r: &InteractionRecord, secs: std::ops::RangeInclusive<u64>) {
    assert_eq!((r.medium, r.outcome), (Medium::Callback, Outcome::Completed), "{r:?}");
    let n = r
        .summary
        .strip_prefix(&format!("callback to {NUMBER}, 0 min "))
        .and_then(|s| s.strip_suffix(" s, hung up by the customer"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("summary {:?}", r.summary));
    assert!(secs.contains(&n), "talk time {n} s in {:?}", r.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_callback_connects_the_agent_and_the_customer() {
    if !peers() {
        return;
    }
    bounded(async {
        let mut phone = Baresip::start().await;
        let trunk = Sipp::start("answer_hangup.xml", free_port(), &["-d", "2000"]).await;
        let (srv, base) = server(trunk.port, 1).await;
        let mut ann = agent(&base, &phone.uri).await;
        // Ann is on another call (busy staffs the queue, so callbacks are offered).
        ann.request(AgentRequest::SetState { state: AgentState::Busy }).await.unwrap();
        let mut alice = Customer::ask(&base, "alice").await;
        // The callback waits for an agent; then ann becomes free.
        // No acks meanwhile: the test console does not set TCP_NODELAY, so an ack written just
        // before the accept would hold the accept back for the server's delayed ACK (~40 ms).
        ann.auto_ack = false;
        let freed = now_of_day();
        ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
        ann.event(|e| matches!(e, AgentEvent::Offered(o) if o.id == alice.li.id)).await;
        let offered = now_of_day();
        let r = ann.request(AgentRequest::Accept { interaction: alice.li.id.clone() }).await;
        assert!(r.is_ok(), "accept: {r:?}");
        ann.auto_ack = true;
        ann.ack().await;
        alice.phase(STEP.as_secs(), dialing_customer, "dialing_customer").await;
        alice.phase(STEP.as_secs(), connected, "connected").await;
        phone.event("CALL_ESTABLISHED", STEP).await;
        phone.event("CALL_RTPESTAB", STEP).await;
        let end = alice.ended(STEP.as_secs()).await;
        assert!(matches!(end.state, InteractionState::Ended { outcome: Outcome::Completed }), "{end:?}");
        assert_eq!(alice.phases(), ["scheduled", "dialing_agent", "dialing_customer", "connected", "ended"]);
        phone.event("CALL_CLOSED", STEP).await;
        let (status, ladder) = trunk.finish().await;
        assert!(status.success(), "sipp's scenario");
        ladder.assert(&["> INVITE", "< 180", "< 200", "> ACK", "< BYE", "> 200"]);
        loopback_only(&ladder);
        let r = alice.record().await;
        completed_summary(&r, 1..=4);
        assert_eq!(r.agent.as_ref().map(|a| a.as_str()), Some("ann"));
        let invite = ladder.invite_at.expect("sipp logged the INVITE's time");
        eprintln!(
            "FIGURE agent free -> customer INVITE at sipp: {:.1} ms (free -> offer at the console {:.1} ms, offer -> INVITE, with the accept and the agent leg, {:.1} ms)",
            (invite - freed) * 1000.0,
            (offered - freed) * 1000.0,
            (invite - offered) * 1000.0
        );
        alice.app.h.shutdown();
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_customer_is_retried_keeping_the_place_and_then_connects() {
    if !peers() {
        return;
    }
    bounded(async {
        let mut phone = Baresip::start().await;
        let port = free_port();
        let busy = Sipp::start("busy.xml", port, &[]).await;
        let (srv, base) = server(port, 1).await;
        let mut ann = agent(&base, &phone.uri).await;
        ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
        let mut alice = Customer::ask(&base, "alice").await;
        accept(&mut ann, &alice.li.id).await;
        let retry = alice.phase(STEP.as_secs(), |p| matches!(p, CallbackPhase::RetryAt { .. }), "retry_at").await;
        let cb = retry.callback.clone().unwrap();
        assert!(matches!(cb.phase, CallbackPhase::RetryAt { reason: DialFailure::Busy, .. }), "{cb:?}");
        assert_eq!(cb.attempts, 1);
        assert!(matches!(retry.state, InteractionState::Queued { position: 1, .. }), "its place is kept: {retry:?}");
        ann.event(|e| matches!(e, AgentEvent::DialFailed { reason: DialFailure::Busy, .. })).await;
        phone.event("CALL_CLOSED", STEP).await;
        let (status, ladder) = busy.finish().await;
        assert!(status.success(), "sipp's busy scenario");
        ladder.assert(&["> INVITE", "< 180", "< 486", "> ACK"]);
        // The customer is free now; the retry comes a second later and connects.
        let answer = Sipp::start("answer_hangup.xml", port, &["-d", "1000"]).await;
        accept(&mut ann, &alice.li.id).await;
        alice.phase(STEP.as_secs(), connected, "connected on the retry").await;
        phone.event("CALL_RTPESTAB", STEP).await;
        let end = alice.ended(STEP.as_secs()).await;
        assert_eq!(end.callback.as_ref().map(|c| (c.attempts, c.dial)), Some((1, 2)), "{end:?}");
        assert_eq!(alice.phases(), ["scheduled", "dialing_agent", "dialing_customer", "retry_at(busy)", "scheduled", "dialing_agent", "dialing_customer", "connected", "ended"]);
        let (status, ladder) = answer.finish().await;
        assert!(status.success(), "sipp's answer scenario");
        ladder.assert(&["> INVITE", "< 180", "< 200", "> ACK", "< BYE", "> 200"]);
        loopback_only(&ladder);
        completed_summary(&alice.record().await, 0..=3);
        alice.app.h.shutdown();
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_the_customer_rings_hangs_up_both_legs() {
    if !peers() {
        return;
    }
    bounded(async {
        let mut phone = Baresip::start().await;
        let trunk = Sipp::start("noanswer.xml", free_port(), &[]).await;
        let (srv, base) = server(trunk.port, 1).await;
        let mut ann = agent(&base, &phone.uri).await;
        ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
        let mut alice = Customer::ask(&base, "alice").await;
        accept(&mut ann, &alice.li.id).await;
        alice.phase(STEP.as_secs(), dialing_customer, "dialing_customer").await;
        phone.event("CALL_ESTABLISHED", STEP).await;
        let id = alice.app.h.with(|c| c.end_interaction(alice.li.id.clone()));
        let r = alice.app.answer(id).await;
        assert!(r.is_ok(), "end_interaction: {r:?}");
        phone.event("CALL_CLOSED", STEP).await;
        let (status, ladder) = trunk.finish().await;
        assert!(status.success(), "sipp got the CANCEL");
        ladder.assert(&["> INVITE", "< 180", "> CANCEL", "< 200", "< 487", "> ACK"]);
        loopback_only(&ladder);
        let r = alice.record().await;
        assert_eq!((r.medium, r.outcome, r.summary.as_str()), (Medium::Callback, Outcome::Abandoned, "callback to +4930123456: cancelled before it was put through"), "{r:?}");
        alice.app.h.shutdown();
        srv.shutdown().await;
    })
    .await;
}

/// The server binary, SIGKILLed when dropped.
struct Binary(std::process::Child);

impl Binary {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_dialing_retries_once_after_the_restart() {
    if !peers() {
        return;
    }
    bounded(async {
        let dir = TempDir::new("callback-restart");
        let db = dir.0.join("fd.db");
        let (port, sip_port, trunk_port) = (free_port(), free_port(), free_port());
        let base = format!("ws://127.0.0.1:{port}");
        let (trunk_uri, listen) = (format!("sip:127.0.0.1:{trunk_port}"), format!("127.0.0.1:{sip_port}"));
        let args = ["--sip-trunk", &trunk_uri, "--sip-listen", &listen, "--sip-ring-secs", "10", "--callback-attempts", "3", "--callback-retry-secs", "1"];
        let mut phone = Baresip::start().await;
        let ringing = Sipp::start("noanswer.xml", trunk_port, &[]).await;
        let mut server = Binary(spawn_server(port, &db, &args));
        wait_listening(port).await;
        let mut ann = agent(&base, &phone.uri).await;
        ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
        let mut alice = Customer::ask(&base, "alice").await;
        accept(&mut ann, &alice.li.id).await;
        alice.phase(STEP.as_secs(), dialing_customer, "dialing_customer").await;
        phone.event("CALL_ESTABLISHED", STEP).await;

        // The customer's phone rings; the server dies.
        server.kill();
        drop(ringing);
        // The agent hears nothing on the dead call and hangs up.
        phone.command("hangup").await;
        phone.event("CALL_CLOSED", STEP).await;
        let answer = Sipp::start("answer_hangup.xml", trunk_port, &["-d", "1000"]).await;
        let mut server = Binary(spawn_server(port, &db, &args));
        wait_listening(port).await;
        alice.event(20, "a resumed connection", |e| matches!(e, ClientEvent::Connected { resumed: true })).await;
        // The app sees the callback put back: interrupted, one attempt counted.
        let back = alice.until(10, "the callback put back", |x| x.callback.as_ref().is_some_and(|c| matches!(c.phase, CallbackPhase::RetryAt { .. } | CallbackPhase::Scheduled))).await;
        let cb = back.callback.clone().unwrap();
        eprintln!("after the restart the client saw {} (attempts {})", name(&cb.phase), cb.attempts);
        assert_eq!(cb.attempts, 1, "{cb:?}");
        if let CallbackPhase::RetryAt { reason, .. } = cb.phase {
            assert_eq!(reason, DialFailure::Interrupted);
        }
        // The console comes back to its seat and takes the callback again.
        assert!(ann.reattach(20).await, "the console's session resumed");
        match ann.request(AgentRequest::GetSeat).await {
            // The restore took the callback off her seat, so she is free again (not Busy with
            // nothing live) and is offered it without doing anything.
            Ok(Response::Seat(seat)) => assert!(seat.state == AgentState::Available || seat.offer.is_some(), "seat after the restart: {seat:?}"),
            other => panic!("get_seat: {other:?}"),
        }
        accept(&mut ann, &alice.li.id).await;
        alice.phase(STEP.as_secs(), connected, "connected after the restart").await;
        phone.event("CALL_RTPESTAB", STEP).await;
        let end = alice.ended(STEP.as_secs()).await;
        assert!(matches!(end.state, InteractionState::Ended { outcome: Outcome::Completed }), "{end:?}");
        assert_eq!(end.callback.as_ref().map(|c| (c.attempts, c.dial)), Some((1, 2)), "one dial after the restart: {end:?}");
        let (status, ladder) = answer.finish().await;
        assert!(status.success(), "sipp's answer scenario");
        ladder.assert(&["> INVITE", "< 180", "< 200", "> ACK", "< BYE", "> 200"]);
        let invites = ladder.initial_invites();
        assert_eq!(invites.len(), 1, "exactly one INVITE for the customer after the restart: {invites:?}");
        // Nothing dials it again afterwards: the trunk's port stays quiet past the retry time.
        let quiet = tokio::net::UdpSocket::bind(("127.0.0.1", trunk_port)).await.unwrap();
        let mut buf = [0u8; 2048];
        if let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_millis(1500), quiet.recv_from(&mut buf)).await {
            panic!("the trunk got another datagram from {from}: {}", String::from_utf8_lossy(&buf[..n]));
        }
        completed_summary(&alice.record().await, 0..=3);
        alice.app.h.shutdown();
        server.kill();
    })
    .await;
}
