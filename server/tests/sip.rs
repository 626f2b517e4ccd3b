//! The SIP dialer against real peers over loopback: sipp (Debian sip-tester) plays the trunk and
//! the customer's phone with the scenarios in `tests/sip/`, baresip (headless, auto-answer, a sine
//! tone as microphone, driven over ctrl_tcp) plays the agent's phone.
//!
//! Every peer binds 127.0.0.1 only, and the tests check that the SDP each phone sent names
//! 127.0.0.1, so no media leaves loopback. Without sipp or baresip the tests that need them say
//! so and pass, unless `FRONTDESK_REQUIRE_SIP` is set (tests/run-all.sh sets it): then they fail.

mod common;

use common::TempDir;
use frontdesk_server::sip::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

/// Whether sipp and baresip are installed; without them, skip unless CI asked for them.
fn peers() -> bool {
    let have = |bin: &str| std::process::Command::new("which").arg(bin).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    if have("sipp") && have("baresip") {
        return true;
    }
    if std::env::var_os("FRONTDESK_REQUIRE_SIP").is_some() {
        panic!("sipp or baresip missing and FRONTDESK_REQUIRE_SIP is set: apt-get install -y sip-tester baresip-core");
    }
    eprintln!("SKIPPED: sipp or baresip not installed (apt-get install -y sip-tester baresip-core)");
    false
}

/// A port nobody listens on right now. The OS hands ports out in turn, so parallel tests do not
/// get the same one back.
fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpListener::bind(("127.0.0.1", s.local_addr().unwrap().port()));
    match t {
        Ok(_) => s.local_addr().unwrap().port(),
        Err(_) => free_port(),
    }
}

/// Whether something has bound UDP 127.0.0.1:`port`, read from /proc so as not to race the peer
/// for the port.
fn udp_bound(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp").map(|t| t.lines().any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))).unwrap_or(false)
}

async fn wait_bound(port: u16, who: &str) {
    let until = Instant::now() + STEP;
    while !udp_bound(port) {
        assert!(Instant::now() < until, "{who} did not bind 127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// sipp as the trunk: one call of one scenario, its messages logged for the ladder.
struct Sipp {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Sipp {
    async fn start(scenario: &str, port: u16, extra: &[&str]) -> Sipp {
        let dir = TempDir::new("sipp");
        let log = dir.0.join("messages.log");
        let media = free_port();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip").join(scenario);
        let mut cmd = Command::new("sipp");
        cmd.args(["-sf"]).arg(&file);
        cmd.args(["-i", "127.0.0.1", "-bind_local", "-mi", "127.0.0.1", "-p", &port.to_string(), "-mp", &media.to_string()]);
        cmd.args(["-rtp_echo", "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error", "-trace_msg", "-message_file"]).arg(&log);
        cmd.args(extra);
        cmd.current_dir(&dir.0).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("sipp starts");
        let until = Instant::now() + STEP;
        while !udp_bound(port) {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).await.ok();
                panic!("sipp {scenario} exited before binding ({status}): {err}");
            }
            assert!(Instant::now() < until, "sipp did not bind 127.0.0.1:{port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Sipp { child, port, log, _dir: dir }
    }

    /// Waits for sipp to end its call; its exit status and the ladder it saw.
    async fn finish(mut self) -> (ExitStatus, Ladder) {
        let status = timeout(Duration::from_secs(45), self.child.wait()).await.expect("sipp ends").unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).await.ok();
        }
        let ladder = Ladder::read(&self.log);
        if !status.success() {
            eprintln!("sipp stderr: {err}\nsipp ladder: {:?}", ladder.steps);
        }
        (status, ladder)
    }
}

/// The messages sipp received (`> INVITE`) and sent (`< 180`), retransmissions folded, and the
/// SDP addresses of what it received.
struct Ladder {
    steps: Vec<String>,
    /// When sipp logged the first INVITE it received, in seconds of its day.
    invite_at: Option<f64>,
    received_sdp_addrs: Vec<String>,
    raw: String,
}

impl Ladder {
    fn read(path: &Path) -> Ladder {
        let raw = std::fs::read_to_string(path).unwrap_or_default();
        let mut steps: Vec<String> = Vec::new();
        let mut addrs = Vec::new();
        let mut invite_at = None;
        for chunk in raw.split("----------------------------------------------- ") {
            let received = chunk.contains("message received");
            if !received && !chunk.contains("message sent") {
                continue;
            }
            let mut lines = chunk.lines().skip_while(|l| !l.contains("message ")).skip(1).skip_while(|l| l.trim().is_empty());
            let Some(first) = lines.next() else { continue };
            let first = first.trim();
            let name = if let Some(rest) = first.strip_prefix("SIP/2.0 ") { rest.split(' ').next().unwrap_or("").to_string() } else { first.split(' ').next().unwrap_or("").to_string() };
            let step = format!("{} {name}", if received { ">" } else { "<" });
            if received && name == "INVITE" && invite_at.is_none() {
                invite_at = seconds_of_day(chunk.split_whitespace().nth(1).unwrap_or(""));
            }
            if received {
                addrs.extend(chunk.lines().filter_map(|l| l.trim().strip_prefix("c=")).filter_map(|c| c.split_whitespace().nth(2).map(str::to_string)));
            }
            if steps.last() != Some(&step) {
                steps.push(step);
            }
        }
        Ladder { steps, invite_at, received_sdp_addrs: addrs, raw }
    }

    fn assert(&self, want: &[&str]) {
        assert_eq!(self.steps, want, "sipp's ladder; messages:\n{}", self.raw);
        assert!(self.received_sdp_addrs.iter().all(|a| a == "127.0.0.1"), "SDP to the trunk names only loopback: {:?}", self.received_sdp_addrs);
    }
}

/// `HH:MM:SS.micros` as seconds.
fn seconds_of_day(t: &str) -> Option<f64> {
    let mut p = t.split(':');
    let (h, m, s): (f64, f64, f64) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Now, in seconds of the UTC day (sipp logs local time; the test machines run in UTC).
fn now_of_day() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (d.as_secs() % 86_400) as f64 + d.subsec_micros() as f64 / 1e6
}

/// baresip as the agent's phone, answering by itself; events and commands over ctrl_tcp.
struct Baresip {
    _child: Child,
    uri: String,
    ctrl: TcpStream,
    events: Vec<Value>,
    _dir: TempDir,
}

impl Baresip {
    /// A phone that answers by itself.
    async fn start() -> Baresip {
        Baresip::with_answermode("auto").await
    }

    /// A phone that only rings (`manual`) or answers by itself (`auto`).
    async fn with_answermode(mode: &str) -> Baresip {
        let dir = TempDir::new("baresip");
        let (sip, ctrl) = (free_port(), free_port());
        let config = format!(
            "module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\ndns_server 127.0.0.1:53\n\
             audio_player aufile,{heard}\naudio_source ausine,440\nausrc_srate 48000\nausrc_channels 2\n\
             module g711.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n\
             module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n",
            heard = dir.0.join("heard.wav").display()
        );
        dir.write("config", config);
        dir.write("accounts", format!("<sip:agent1@127.0.0.1:{sip}>;regint=0;answermode={mode}\n"));
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("baresip starts");
        let until = Instant::now() + STEP;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)).await {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < until, "baresip's ctrl_tcp on {ctrl}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        wait_bound(sip, "baresip").await;
        Baresip { _child: child, uri: format!("sip:agent1@127.0.0.1:{sip}"), ctrl: stream, events: Vec::new(), _dir: dir }
    }

    /// One netstring from ctrl_tcp, as JSON.
    async fn read(&mut self) -> Value {
        let mut len = Vec::new();
        loop {
            let b = self.ctrl.read_u8().await.expect("ctrl_tcp open");
            if b == b':' {
                break;
            }
            len.push(b);
        }
        let n: usize = std::str::from_utf8(&len).unwrap().trim().parse().expect("netstring length");
        let mut body = vec![0; n + 1];
        self.ctrl.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body[..n]).expect("ctrl_tcp JSON")
    }

    /// Waits for the event `kind` (e.g. CALL_RTPESTAB), keeping what came before it.
    async fn event(&mut self, kind: &str, within: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
            return self.events.remove(i);
        }
        let seen = self.events.clone();
        timeout(within, async {
            loop {
                let v = self.read().await;
                if v["type"] == kind {
                    return v;
                }
                if v.get("event").is_some() {
                    self.events.push(v);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("baresip reported no {kind}; saw {seen:?} {:?}", self.events))
    }

    async fn command(&mut self, command: &str) {
        let body = json!({"command": command, "params": "", "token": "t"}).to_string();
        self.ctrl.write_all(format!("{}:{body},", body.len()).as_bytes()).await.unwrap();
    }
}

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
