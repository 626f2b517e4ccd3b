//! The SIP dialer against real peers over loopback: sipp (Debian sip-tester) plays the trunk and
//! the customer's phone with the scenarios in `tests/sip/`, baresip (headless, auto-answer, a sine
//! tone as microphone, driven over ctrl_tcp) plays the agent's phone.
//!
//! Every peer binds 127.0.0.1 only, and the tests check that the SDP each phone sent names
//! 127.0.0.1, so no media leaves loopback. Without sipp or baresip the tests that need them say
//! so and pass, unless `FRONTDESK_REQUIRE_SIP` is set (tests/run-all.sh sets it): then they fail.

mod common;
mod sip_peers;

use frontdesk_server::sip::*;
use sip_peers::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::time::timeout;

fn config(trunk_port: u16) -> SipConfig {
    let mut cfg = SipConfig::new("127.0.0.1:0".parse().unwrap(), Trunk { uri: format!("sip:127.0.0.1:{trunk_port}"), user: None, password: None, caller_id: Some("+4930555000".into()) });
    cfg.ring_timeout = Duration::from_secs(10);
    cfg.reach_timeout = Duration::from_secs(3);
    cfg
}

fn callback(agent: &str) -> Callback {
    Callback { id: "cb-1".into(), agent_uri: agent.into(), customer_number: "+4930123456".into() }
}

async fn step(call: &mut CallHandle, within: Duration) -> Progress {
    timeout(within, call.next()).await.expect("the next step in time").expect("the call reports until it ends")
}

/// Walks a call to Connected; the time from `place` to the customer's phone ringing.
async fn connect(call: &mut CallHandle, placed: Instant) -> Duration {
    assert_eq!(step(call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(call, STEP).await, Progress::CustomerRinging);
    let ringing = placed.elapsed();
    assert_eq!(step(call, STEP).await, Progress::Connected);
    ringing
}

const ANSWERED_BY_US: &[&str] = &["> INVITE", "< 180", "< 200", "> ACK", "> BYE", "< 200"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_call_ends_when_the_customer_hangs_up() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk_port = free_port();
    let trunk = Sipp::start("answer_hangup.xml", trunk_port, &["-d", "2500"]).await;
    let dialer = Dialer::bind(config(trunk.port)).await.unwrap();
    let (placed, placed_of_day) = (Instant::now(), now_of_day());
    let mut call = dialer.place(callback(&agent.uri));
    let ringing = connect(&mut call, placed).await;
    agent.event("CALL_ESTABLISHED", STEP).await;
    agent.event("CALL_RTPESTAB", STEP).await;
    match step(&mut call, STEP).await {
        Progress::Ended { by: Side::Customer, duration } => assert!(duration >= Duration::from_secs(2), "{duration:?}"),
        other => panic!("{other:?}"),
    }
    agent.event("CALL_CLOSED", STEP).await;
    assert!(timeout(STEP, call.next()).await.unwrap().is_none(), "Ended is the last step");
    let (status, ladder) = trunk.finish().await;
    assert!(status.success(), "sipp's scenario");
    ladder.assert(&["> INVITE", "< 180", "< 200", "> ACK", "< BYE", "> 200"]);
    let invite = ladder.invite_at.map(|t| t - placed_of_day).filter(|d| d.abs() < 60.0);
    eprintln!("place() to sipp's INVITE: {:?} ms; to the customer's 180 Ringing: {} ms", invite.map(|d| (d * 1000.0).round()), ringing.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_call_ends_when_the_agent_hangs_up() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start("answer.xml", free_port(), &[]).await;
    let dialer = Dialer::bind(config(trunk.port)).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    connect(&mut call, Instant::now()).await;
    agent.event("CALL_RTPESTAB", STEP).await;
    agent.command("hangup").await;
    assert!(matches!(step(&mut call, STEP).await, Progress::Ended { by: Side::Agent, .. }));
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success(), "sipp got our BYE");
    ladder.assert(ANSWERED_BY_US);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_customer_fails_the_call_and_a_second_attempt_connects() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let port = free_port();
    let trunk = Sipp::start("busy.xml", port, &[]).await;
    let dialer = Dialer::bind(config(port)).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(&mut call, STEP).await, Progress::CustomerRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::Failed { leg: Side::Customer, reason: FailReason::Busy });
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(&["> INVITE", "< 180", "< 486", "> ACK"]);

    // The retry (the core's policy decides when): the same dialer, the customer free now.
    let trunk = Sipp::start("answer.xml", port, &[]).await;
    let mut call = dialer.place(callback(&agent.uri));
    connect(&mut call, Instant::now()).await;
    agent.event("CALL_RTPESTAB", STEP).await;
    call.cancel();
    assert!(matches!(step(&mut call, STEP).await, Progress::Ended { by: Side::Center, .. }));
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(ANSWERED_BY_US);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_customer_is_cancelled_after_the_ring_timeout() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start("noanswer.xml", free_port(), &[]).await;
    let mut cfg = config(trunk.port);
    cfg.ring_timeout = Duration::from_secs(2);
    let dialer = Dialer::bind(cfg).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(&mut call, STEP).await, Progress::CustomerRinging);
    let rang = Instant::now();
    assert_eq!(step(&mut call, STEP).await, Progress::Failed { leg: Side::Customer, reason: FailReason::NoAnswer });
    let waited = rang.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5), "{waited:?}");
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(&["> INVITE", "< 180", "> CANCEL", "< 200", "< 487", "> ACK"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_trunk_is_unreachable() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start("unavailable.xml", free_port(), &[]).await;
    let dialer = Dialer::bind(config(trunk.port)).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(&mut call, STEP).await, Progress::Failed { leg: Side::Customer, reason: FailReason::Unreachable });
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(&["> INVITE", "< 503", "> ACK"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_the_customer_rings_cancels_both_legs() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start("noanswer.xml", free_port(), &[]).await;
    let dialer = Dialer::bind(config(trunk.port)).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(&mut call, STEP).await, Progress::CustomerRinging);
    call.cancel();
    assert_eq!(step(&mut call, Duration::from_secs(5)).await, Progress::Failed { leg: Side::Center, reason: FailReason::Cancelled });
    agent.event("CALL_CLOSED", STEP).await;
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(&["> INVITE", "< 180", "> CANCEL", "< 200", "< 487", "> ACK"]);
}

async fn digest(code: &str) {
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start(&format!("auth_{code}.xml"), free_port(), &[]).await;
    let mut cfg = config(trunk.port);
    cfg.trunk.user = Some("trunkuser".into());
    cfg.trunk.password = Some("s3cret".into());
    let dialer = Dialer::bind(cfg).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    connect(&mut call, Instant::now()).await;
    agent.event("CALL_RTPESTAB", STEP).await;
    call.cancel();
    assert!(matches!(step(&mut call, STEP).await, Progress::Ended { by: Side::Center, .. }));
    let (status, ladder) = trunk.finish().await;
    assert!(status.success(), "sipp accepted the digest");
    ladder.assert(&["> INVITE", &format!("< {code}"), "> ACK", "> INVITE", "< 200", "> ACK", "> BYE", "< 200"]);
    if code == "407" {
        check_digest(&ladder.raw, "Proxy-Authorization:", "trunkuser", "s3cret");
    } else {
        assert!(ladder.raw.contains("\nAuthorization: Digest"), "sipp verified it");
    }
}

/// Recomputes the digest (RFC 2617 with qop=auth, MD5) of the INVITE that carried `header`.
fn check_digest(raw: &str, header: &str, user: &str, password: &str) {
    use md5::{Digest, Md5};
    let hex = |s: String| Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let line = raw.lines().find(|l| l.trim_start().starts_with(header)).unwrap_or_else(|| panic!("no {header} in:\n{raw}"));
    let param = |name: &str| -> String {
        let at = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 1;
        let rest = &line[at..];
        match rest.strip_prefix('"') {
            Some(q) => q[..q.find('"').unwrap()].to_string(),
            None => rest.split([',', ' ']).next().unwrap().to_string(),
        }
    };
    assert_eq!(param("username"), user);
    assert_eq!(param("realm"), "trunk.test");
    let ha1 = hex(format!("{user}:trunk.test:{password}"));
    let ha2 = hex(format!("INVITE:{}", param("uri")));
    let want = hex(format!("{ha1}:{}:{}:{}:auth:{ha2}", param("nonce"), param("nc"), param("cnonce")));
    assert_eq!(param("response"), want, "digest in {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_proxy_challenge_is_answered_with_credentials() {
    if peers() {
        digest("407").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_www_challenge_is_answered_with_credentials() {
    if peers() {
        digest("401").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_agent_fails_quickly() {
    // Nothing listens there: no response at all, so the bound is reach_timeout, not Timer B.
    let dead = free_port();
    let mut cfg = config(free_port());
    cfg.reach_timeout = Duration::from_secs(1);
    let dialer = Dialer::bind(cfg).await.unwrap();
    let placed = Instant::now();
    let mut call = dialer.place(callback(&format!("sip:agent@127.0.0.1:{dead}")));
    assert_eq!(step(&mut call, Duration::from_secs(5)).await, Progress::Failed { leg: Side::Agent, reason: FailReason::Unreachable });
    assert!(placed.elapsed() < Duration::from_secs(3), "{:?}", placed.elapsed());
}

#[tokio::test]
async fn malformed_datagrams_are_dropped_and_the_dialer_keeps_answering() {
    let dialer = Dialer::bind(config(free_port())).await.unwrap();
    let to: SocketAddr = dialer.local_addr();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let options = format!(
        "OPTIONS sip:frontdesk@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe-1\r\nFrom: <sip:probe@{me}>;tag=p1\r\n\
         To: <sip:frontdesk@{to}>\r\nCall-ID: probe-1@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        me = peer.local_addr().unwrap()
    );
    let garbage: Vec<Vec<u8>> = vec![
        options.as_bytes()[..40].to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80, b'S', b'I', b'P'],
        [b"INVITE sip:x@y SIP/2.0\r\nVia: \xff\xfe\r\n".as_slice(), &[0xc3; 2000]].concat(),
        vec![b'A'; 60_000],
        b"SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\nshort".to_vec(),
        options.replace("Content-Length: 0", "Content-Length: -5").into_bytes(),
    ];
    for g in &garbage {
        peer.send_to(g, to).await.unwrap();
    }
    peer.send_to(options.as_bytes(), to).await.unwrap();
    let mut buf = vec![0; 65_536];
    let (n, _) = timeout(Duration::from_secs(5), peer.recv_from(&mut buf)).await.expect("an answer to OPTIONS after the garbage").unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_the_agent_rings_cancels_the_agent_leg() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::with_answermode("manual").await;
    let dialer = Dialer::bind(config(free_port())).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    agent.event("CALL_INCOMING", STEP).await;
    call.cancel();
    assert_eq!(step(&mut call, Duration::from_secs(5)).await, Progress::Failed { leg: Side::Center, reason: FailReason::Cancelled });
    agent.event("CALL_CLOSED", STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_agent_is_cancelled_after_the_ring_timeout() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::with_answermode("manual").await;
    let mut cfg = config(free_port());
    cfg.ring_timeout = Duration::from_secs(2);
    let dialer = Dialer::bind(cfg).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, Duration::from_secs(6)).await, Progress::Failed { leg: Side::Agent, reason: FailReason::NoAnswer });
    agent.event("CALL_CLOSED", STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_hanging_up_while_the_customer_rings_cancels_the_customer() {
    if !peers() {
        return;
    }
    let mut agent = Baresip::start().await;
    let trunk = Sipp::start("noanswer.xml", free_port(), &[]).await;
    let dialer = Dialer::bind(config(trunk.port)).await.unwrap();
    let mut call = dialer.place(callback(&agent.uri));
    assert_eq!(step(&mut call, STEP).await, Progress::AgentRinging);
    assert_eq!(step(&mut call, STEP).await, Progress::AgentAnswered);
    assert_eq!(step(&mut call, STEP).await, Progress::CustomerRinging);
    agent.event("CALL_ESTABLISHED", STEP).await;
    agent.command("hangup").await;
    assert_eq!(step(&mut call, STEP).await, Progress::Failed { leg: Side::Agent, reason: FailReason::Cancelled });
    let (status, ladder) = trunk.finish().await;
    assert!(status.success());
    ladder.assert(&["> INVITE", "< 180", "> CANCEL", "< 200", "< 487", "> ACK"]);
}
