//! Helpers for the network tests: an agent console over WebSocket (frame by frame), a client on the
//! async driver, and the server binary.

#![allow(dead_code)]

use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::driver::{client_driver, Handle};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::Medium;
use frontdesk_net::ws::WsConnector;
use frontdesk_net::{wall_clock, TokioRuntime};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, ErrorBody, Outcome, Response};
use frontdesk_server::tokens;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The secret the tests sign with.
pub const SECRET: &[u8] = b"test-secret";

/// A token for a principal.
pub fn token(p: Principal) -> String {
    tokens::issue(SECRET, &p, wall_clock(), 3600)
}

/// A client token.
pub fn client_token(c: &str) -> String {
    token(Principal::Client(c.into()))
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An agent console speaking the session protocol frame by frame, so tests can drop its socket,
/// resume, repeat a request id or stop acknowledging.
pub struct Agent {
    base: String,
    token: String,
    /// The installation id; with the agent id it names the session.
    pub instance: u64,
    ws: Option<Ws>,
    /// Next request id.
    pub next: u64,
    /// Last event sequence delivered (in order).
    pub last_seq: u64,
    /// Acknowledge each event as it is delivered.
    pub auto_ack: bool,
    /// Events delivered and not yet taken.
    pub events: Vec<AgentEvent>,
    /// Every event frame received, with its sequence, duplicates included.
    pub raw: Vec<(u64, AgentEvent)>,
    /// Every event delivered, once each, in sequence order.
    pub delivered: Vec<AgentEvent>,
    /// A TCP receive buffer to ask for (bytes), with small segments too, so a console that stops
    /// reading stalls its server at once instead of after megabytes of kernel buffers (a sender's
    /// buffer grows with the segment size, 64 KiB on loopback).
    pub recv_buffer: Option<u32>,
    answers: HashMap<u64, Result<Response, ErrorBody>>,
}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1000);

impl Agent {
    /// Connects, opens a fresh agent session and logs in.
    pub async fn connect(base: &str, id: &str, media: Vec<Medium>) -> Agent {
        let mut a = Agent::new(base, id);
        assert!(!a.attach().await, "a fresh session");
        let r = a.request(AgentRequest::LogIn { name: id.to_uppercase(), skills: vec!["router".into(), "phone".into()], media }).await;
        assert!(matches!(r, Ok(Response::Seat(_))), "log_in: {r:?}");
        a
    }

    /// A supervisor's console, connected and logged in.
    pub async fn supervisor(base: &str, id: &str) -> Agent {
        let mut a = Agent::new(base, id);
        a.token = token(Principal::Agent(id.into(), AgentRole::Supervisor));
        assert!(!a.attach().await, "a fresh session");
        let r = a.request(AgentRequest::LogIn { name: id.to_uppercase(), skills: vec![], media: vec![Medium::Chat] }).await;
        assert!(matches!(r, Ok(Response::Seat(_))), "log_in: {r:?}");
        a
    }

    /// A console not yet connected.
    pub fn new(base: &str, id: &str) -> Agent {
        Agent {
            base: base.to_string(),
            token: token(Principal::Agent(id.into(), AgentRole::Agent)),
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            ws: None,
            next: 1,
            last_seq: 0,
            auto_ack: true,
            events: vec![],
            raw: vec![],
            delivered: vec![],
            recv_buffer: None,
            answers: HashMap::new(),
        }
    }

    /// Opens a connection and sends hello with what this console has seen; returns `resumed`.
    pub async fn attach(&mut self) -> bool {
        let url = format!("{}/agent", self.base);
        let ws = match self.recv_buffer {
            None => tokio_tungstenite::connect_async(url).await.expect("agent connects").0,
            Some(bytes) => {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.set_recv_buffer_size(bytes).unwrap();
                let mss: libc::c_int = 536;
                // SAFETY: a valid socket and a c_int option of the right size.
                let r = unsafe {
                    libc::setsockopt(std::os::fd::AsRawFd::as_raw_fd(&sock), libc::IPPROTO_TCP, libc::TCP_MAXSEG, (&mss as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
                };
                assert_eq!(r, 0, "TCP_MAXSEG");
                let addr: std::net::SocketAddr = self.base.trim_start_matches("ws://").parse().expect("ws://ip:port");
                let tcp = sock.connect(addr).await.expect("agent connects");
                tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await.expect("agent handshake").0
            }
        };
        self.ws = Some(ws);
        let hello = json!({"t":"hello","v":1,"token":self.token,"instance":self.instance,"last_seq":self.last_seq,"next_request":self.next});
        self.send_text(hello.to_string()).await;
        loop {
            let f = self.recv_frame().await;
            match f["t"].as_str() {
                Some("welcome") => {
                    assert!(f["role"] == "agent" || f["role"] == "supervisor", "{f}");
                    let resumed = f["resumed"].as_bool().unwrap();
                    if !resumed {
                        self.last_seq = 0;
                    }
                    return resumed;
                }
                Some("error") => panic!("refused: {f}"),
                _ => {}
            }
        }
    }

    /// Reconnects (retrying while the server is down, up to `secs`); returns `resumed`.
    pub async fn reattach(&mut self, secs: u64) -> bool {
        self.ws = None;
        let until = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if tokio::net::TcpStream::connect(self.base.trim_start_matches("ws://")).await.is_ok() {
                return self.attach().await;
            }
            assert!(tokio::time::Instant::now() < until, "server did not come back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Drops the socket without a closing handshake, like a network that went away.
    pub fn drop_socket(&mut self) {
        self.ws = None;
    }

    async fn send_text(&mut self, text: String) {
        self.ws.as_mut().expect("connected").send(Message::text(text)).await.unwrap();
    }

    /// Sends request `id` as is (a retry reuses an id).
    pub async fn send_request(&mut self, id: u64, req: &AgentRequest) {
        self.send_text(json!({"t":"request","id":id,"req":req}).to_string()).await;
    }

    async fn recv_frame(&mut self) -> serde_json::Value {
        loop {
            let ws = self.ws.as_mut().expect("connected");
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("agent frame in time").expect("open").unwrap();
            match m {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
                _ => {}
            }
        }
    }

    /// Reads one frame and files it: answers by id, events in sequence (acknowledged if `auto_ack`).
    async fn pump(&mut self) {
        let f = self.recv_frame().await;
        match f["t"].as_str() {
            Some("response") => {
                let o: Outcome = serde_json::from_value(f["outcome"].clone()).unwrap();
                self.answers.insert(f["id"].as_u64().unwrap(), o.into());
            }
            Some("event") => {
                let seq = f["seq"].as_u64().unwrap();
                let e: AgentEvent = serde_json::from_value(f["event"].clone()).unwrap_or_else(|e| panic!("event {f}: {e}"));
                self.raw.push((seq, e.clone()));
                if seq == self.last_seq + 1 {
                    self.last_seq = seq;
                    self.delivered.push(e.clone());
                    self.events.push(e);
                    if self.auto_ack {
                        self.ack().await;
                    }
                } else if seq > self.last_seq + 1 {
                    let after = self.last_seq;
                    self.send_text(json!({"t":"resend","after":after}).to_string()).await;
                }
            }
            Some("error") => panic!("error frame: {f}"),
            _ => {}
        }
    }

    /// Acknowledges everything delivered.
    pub async fn ack(&mut self) {
        let seq = self.last_seq;
        self.send_text(json!({"t":"ack","seq":seq}).to_string()).await;
    }

    /// Waits for the answer to request `id`.
    pub async fn answer(&mut self, id: u64) -> Result<Response, ErrorBody> {
        loop {
            if let Some(r) = self.answers.remove(&id) {
                return r;
            }
            self.pump().await;
        }
    }

    /// Sends a request and waits for its answer, keeping events that arrive meanwhile.
    pub async fn request(&mut self, req: AgentRequest) -> Result<Response, ErrorBody> {
        let id = self.next;
        self.next += 1;
        self.send_request(id, &req).await;
        self.answer(id).await
    }

    /// Waits for an event matching `f`.
    pub async fn event(&mut self, f: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
        loop {
            if let Some(i) = self.events.iter().position(&f) {
                return self.events.remove(i);
            }
            self.pump().await;
        }
    }

    /// Reads for `ms` milliseconds, filing what comes.
    pub async fn drain(&mut self, ms: u64) {
        let _ = tokio::time::timeout(Duration::from_millis(ms), async {
            loop {
                self.pump().await;
            }
        })
        .await;
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs the server binary on `port` with database `db`, no bots, no XMPP, and `extra` arguments.
pub fn spawn_server(port: u16, db: &std::path::Path, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk-server"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--db", db.to_str().unwrap(), "--secret", std::str::from_utf8(SECRET).unwrap(), "--no-sim", "--xmpp-addr", "off"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server binary starts")
}

/// Waits until something listens on `port`.
pub async fn wait_listening(port: u16) {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(std::time::Instant::now() < until, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client running on the async driver over WebSocket.
pub struct App {
    /// Handle to the client state machine.
    pub h: Handle<Client>,
    /// Its events.
    pub rx: UnboundedReceiver<ClientEvent>,
    /// Events seen so far.
    pub seen: Vec<ClientEvent>,
}

impl App {
    /// Starts a client.
    pub fn start(base: &str, cfg: ClientConfig) -> App {
        let (h, rx, fut) = client_driver(Client::new(cfg), WsConnector::new(format!("{base}/client")), TokioRuntime);
        tokio::spawn(fut);
        App { h, rx, seen: vec![] }
    }

    /// A client with fast reconnects for tests.
    pub fn config(c: &str, instance: u64) -> ClientConfig {
        let mut cfg = ClientConfig::new(client_token(c), instance);
        cfg.backoff_initial = Duration::from_millis(50);
        cfg.backoff_max = Duration::from_millis(500);
        cfg
    }

    /// Waits (up to `secs`) for an event matching `f`.
    pub async fn wait(&mut self, secs: u64, f: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        if let Some(e) = self.seen.iter().find(|e| f(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let e = tokio::time::timeout_at(deadline, self.rx.next()).await.unwrap_or_else(|_| panic!("timed out; seen {:#?}", self.seen.iter().rev().take(5).collect::<Vec<_>>())).expect("driver running");
            self.seen.push(e.clone());
            if f(&e) {
                return e;
            }
        }
    }

    /// Waits for the answer to request `id`.
    pub async fn answer(&mut self, id: u64) -> Result<frontdesk_core::protocol::Response, frontdesk_core::protocol::ErrorBody> {
        match self.wait(10, |e| matches!(e, ClientEvent::Completed { id: i, .. } if *i == id)).await {
            ClientEvent::Completed { result, .. } => result,
            _ => unreachable!(),
        }
    }
}

/// A Python with aiosmtpd (the mail tests' relay and sender): `FRONTDESK_PYTHON` (tests/run-all.sh
/// sets it to the venv it prepares), else that venv, else `python3`; without one a test fails and
/// says how to make it.
pub fn aiosmtpd_python() -> String {
    static FOUND: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_aiosmtpd_python).clone()
}

fn find_aiosmtpd_python() -> String {
    let venv = std::env::var("HOME").map(|h| format!("{h}/.cache/frontdesk-test-venv/bin/python")).unwrap_or_default();
    let candidates: Vec<String> = std::env::var("FRONTDESK_PYTHON").into_iter().chain([venv, "python3".to_string()]).collect();
    for py in &candidates {
        let ok = std::process::Command::new(py).args(["-c", "import aiosmtpd"]).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success());
        if ok {
            return py.clone();
        }
    }
    panic!(
        "the mail tests need Python with aiosmtpd; tried {candidates:?}. Create the test venv with\n  \
         python3 -m venv ~/.cache/frontdesk-test-venv && ~/.cache/frontdesk-test-venv/bin/pip install aiosmtpd==1.4.6 slixmpp==1.17.0\n\
         (or run `bash tests/run-all.sh`, which does it), then run\n  \
         FRONTDESK_PYTHON=~/.cache/frontdesk-test-venv/bin/python cargo test -p frontdesk-server --test mail --test mail_flow"
    );
}

/// A directory for a test's scripts, certificates and databases, removed at the end.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A fresh directory named after `name`, this process and the moment.
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let p = std::env::temp_dir().join(format!("frontdesk-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// Writes a file into it; its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> std::path::PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // FRONTDESK_KEEP_TMP=1 keeps it (servers' logs, databases) to look into a failure.
        if std::env::var_os("FRONTDESK_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// An available agent console and a client app in a connected chat about the router: the start of
/// most conversation tests.
pub async fn chat_between(base: &str, agent: &str, client: &str) -> (Agent, App, frontdesk_core::interaction::LiveInteraction) {
    use frontdesk_core::interaction::InteractionState;
    use frontdesk_core::protocol::Event;
    let mut ann = Agent::connect(base, agent, vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: frontdesk_core::status::AgentState::Available }).await.unwrap();
    let mut app = App::start(base, App::config(client, 1));
    app.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = app.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = app.answer(id).await else { panic!("no interaction") };
    ann.event(|e| matches!(e, AgentEvent::Offered(_))).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    app.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.state == InteractionState::Connected)).await;
    (ann, app, li)
}

/// One HTTP/1.1 exchange on a fresh connection: (status, head, body).
pub async fn http(port: u16, method: &str, path: &str, token: Option<&str>, ctype: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes()).await.unwrap();
    // A refused upload is answered before its body is read; the write may then fail, which is fine.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut s, body).await;
    let mut out = vec![];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), tokio::io::AsyncReadExt::read_to_end(&mut s, &mut out)).await.expect("an answer in time");
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, out[end..].to_vec())
}

