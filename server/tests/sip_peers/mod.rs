//! The SIP peers the network tests run on loopback: sipp (Debian sip-tester) as the trunk and the
//! customer's phone, baresip (headless, auto-answer, driven over ctrl_tcp) as the agent's phone.
//! Shared by `sip.rs` (the dialer alone) and `callback_flow.rs` (callbacks through the server).

#![allow(dead_code)]

use crate::common::TempDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;

pub const STEP: Duration = Duration::from_secs(10);

/// Whether sipp and baresip are installed; without them, skip unless CI asked for them.
pub fn peers() -> bool {
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
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpListener::bind(("127.0.0.1", s.local_addr().unwrap().port()));
    match t {
        Ok(_) => s.local_addr().unwrap().port(),
        Err(_) => free_port(),
    }
}

/// Whether something has bound UDP 127.0.0.1:`port`, read from /proc so as not to race the peer
/// for the port.
pub fn udp_bound(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp").map(|t| t.lines().any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))).unwrap_or(false)
}

pub async fn wait_bound(port: u16, who: &str) {
    let until = Instant::now() + STEP;
    while !udp_bound(port) {
        assert!(Instant::now() < until, "{who} did not bind 127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// sipp as the trunk: one call of one scenario, its messages logged for the ladder.
pub struct Sipp {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Sipp {
    pub async fn start(scenario: &str, port: u16, extra: &[&str]) -> Sipp {
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
    pub async fn finish(mut self) -> (ExitStatus, Ladder) {
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
pub struct Ladder {
    pub steps: Vec<String>,
    /// When sipp logged the first INVITE it received, in seconds of its day.
    pub invite_at: Option<f64>,
    pub received_sdp_addrs: Vec<String>,
    pub raw: String,
}

impl Ladder {
    pub fn read(path: &Path) -> Ladder {
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

    /// The INVITEs sipp received that opened a call (not re-INVITEs or retransmissions): each
    /// Call-ID once, with when sipp logged it (seconds of its day), in order.
    pub fn initial_invites(&self) -> Vec<(String, Option<f64>)> {
        let mut seen: Vec<(String, Option<f64>)> = Vec::new();
        for chunk in self.raw.split("----------------------------------------------- ") {
            if !chunk.contains("message received") {
                continue;
            }
            let mut lines = chunk.lines().skip_while(|l| !l.contains("message ")).skip(1).skip_while(|l| l.trim().is_empty());
            if !lines.next().is_some_and(|l| l.trim().starts_with("INVITE ")) {
                continue;
            }
            let header = |name: &str| chunk.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()));
            let (Some(call_id), to) = (header("Call-ID:"), header("To:").unwrap_or_default()) else { continue };
            // An INVITE inside a dialog carries the To tag sipp gave it.
            if to.contains("tag=") || seen.iter().any(|(c, _)| *c == call_id) {
                continue;
            }
            seen.push((call_id, seconds_of_day(chunk.split_whitespace().nth(1).unwrap_or(""))));
        }
        seen
    }

    pub fn assert(&self, want: &[&str]) {
        assert_eq!(self.steps, want, "sipp's ladder; messages:\n{}", self.raw);
        assert!(self.received_sdp_addrs.iter().all(|a| a == "127.0.0.1"), "SDP to the trunk names only loopback: {:?}", self.received_sdp_addrs);
    }
}

/// `HH:MM:SS.micros` as seconds.
pub fn seconds_of_day(t: &str) -> Option<f64> {
    let mut p = t.split(':');
    let (h, m, s): (f64, f64, f64) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Now, in seconds of the UTC day (sipp logs local time; the test machines run in UTC).
pub fn now_of_day() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (d.as_secs() % 86_400) as f64 + d.subsec_micros() as f64 / 1e6
}

/// baresip as the agent's phone, answering by itself; events and commands over ctrl_tcp.
pub struct Baresip {
    _child: Child,
    pub uri: String,
    pub ctrl: TcpStream,
    pub events: Vec<Value>,
    _dir: TempDir,
}

impl Baresip {
    /// A phone that answers by itself.
    pub async fn start() -> Baresip {
        Baresip::with_answermode("auto").await
    }

    /// A phone that only rings (`manual`) or answers by itself (`auto`). Ports are picked free but
    /// a parallel test may take one before baresip binds it: then it starts again on others.
    pub async fn with_answermode(mode: &str) -> Baresip {
        for _ in 0..2 {
            if let Some(b) = Baresip::try_start(mode).await {
                return b;
            }
        }
        Baresip::try_start(mode).await.expect("baresip's ctrl_tcp never came up (three tries on fresh ports)")
    }

    async fn try_start(mode: &str) -> Option<Baresip> {
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
                    if Instant::now() >= until {
                        eprintln!("baresip's ctrl_tcp on {ctrl}: {e}; starting again on other ports");
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        wait_bound(sip, "baresip").await;
        Some(Baresip { _child: child, uri: format!("sip:agent1@127.0.0.1:{sip}"), ctrl: stream, events: Vec::new(), _dir: dir })
    }

    /// One netstring from ctrl_tcp, as JSON.
    pub async fn read(&mut self) -> Value {
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
    pub async fn event(&mut self, kind: &str, within: Duration) -> Value {
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

    pub async fn command(&mut self, command: &str) {
        let body = json!({"command": command, "params": "", "token": "t"}).to_string();
        self.ctrl.write_all(format!("{}:{body},", body.len()).as_bytes()).await.unwrap();
    }
}

