//! `frontdesk-load`: a load generator that measures a frontdesk server on loopback.
//!
//! It starts `frontdesk-server` as a child process (in-memory store, no bots), opens `--clients`
//! WebSocket sessions that each authenticate and watch center status, and reports: time to connect,
//! the server's resident memory per session, request round trips per second, and presence
//! notifications delivered per second when an agent's state flips (a fan-out to every session).

use clap::Parser;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_net::wall_clock;
use frontdesk_core::protocol::AgentRequest;
use frontdesk_server::tokens;
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// Sessions to open.
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// Agent state flips for the fan-out measurement.
    #[arg(long, default_value_t = 20)]
    flips: usize,
    /// Seconds of request traffic for the round-trip measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Seconds between pings of every session with --connect (0: never, as this tool did before,
    /// so that the server's idle timeout closes sessions that wait longer).
    #[arg(long, default_value_t = 20)]
    ping_secs: u64,
    /// Path of the server binary (default: beside this one).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
    /// Measure XMPP presence subscribers (over WebSocket, RFC 7395) instead of frontdesk sessions.
    #[arg(long)]
    xmpp: bool,
    /// Measure the socket.io baseline (server/bench/socketio, run with node) the same way instead.
    #[arg(long)]
    socketio: bool,
    /// Filler bytes in the socket.io center document, so its frames are as large as frontdesk's (1,803
    /// bytes with one agent; the baseline's own fields make 1,171).
    #[arg(long, default_value_t = 623)]
    socketio_pad: usize,
    /// Load servers already running instead of starting one: their base URLs, comma-separated
    /// (`ws://127.0.0.1:8080,ws://127.0.0.1:8081`), sessions spread over them in turn — the nodes of
    /// a cluster. Memory is then not measured here (the nodes are not this tool's children).
    #[arg(long)]
    connect: Option<String>,
    /// Client ids are PREFIX0, PREFIX1…: several load processes use different prefixes.
    #[arg(long, default_value = "load")]
    prefix: String,
    /// The secret the servers sign tokens with (with --connect).
    #[arg(long, default_value = "load-secret")]
    secret: String,
    /// Only count: no agent flips and no request rounds here (another process flips); prints the
    /// notifications this process's sessions received per second.
    #[arg(long)]
    passive: bool,
    /// With several load processes: after connecting, each creates DIR/ready-PREFIX and waits for
    /// --workers such files before measuring, so all sessions are there before the fan-out.
    #[arg(long)]
    barrier: Option<std::path::PathBuf>,
    /// How many load processes meet at the barrier.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let secret = a.secret.as_str();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    if a.socketio {
        socketio(&a, port).await;
        return;
    }
    if let Some(urls) = a.connect.clone() {
        external(&a, urls.split(',').map(|u| u.trim().trim_end_matches('/').to_owned()).collect()).await;
        return;
    }
    let bin = a.server.clone().unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("frontdesk-server"));
    let mut child = std::process::Command::new(bin)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--memory", "--no-sim", "--secret", secret, "--max-msgs-per-sec", "100000", "--rate-burst", "100000", "--max-unauth-per-addr", "100000", "--xmpp-addr", "off"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start frontdesk-server");
    let base = format!("ws://127.0.0.1:{port}");
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let idle = rss_kib(child.id());
    if a.xmpp {
        xmpp(&a, &base, secret, child.id(), idle).await;
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let c = Counters::default();
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(a.clients);
    let now = wall_clock();
    for i in 0..a.clients {
        let tok = tokens::issue(secret.as_bytes(), &Principal::Client(format!("load{i}").as_str().into()), now, 3600);
        let (ws, _) = tokio_tungstenite::connect_async(format!("{base}/client")).await.expect("connect");
        let (mut tx, rx) = ws.split();
        tx.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{tok}","instance":1,"last_seq":0,"next_request":1}}"#))).await.unwrap();
        tx.send(Message::text(r#"{"t":"request","id":1,"req":{"op":"watch","presentity":"center"}}"#)).await.unwrap();
        spawn_reader(rx, &c, r#"{"t":"status""#, r#"{"t":"response""#);
        senders.push(tx);
    }
    report_connect(&c, a.clients, t0, child.id(), idle, "sessions", "connected, authenticated and watching").await;

    // Fan-out: each agent state flip changes center status for every watcher.
    let (mut agent, _) = tokio_tungstenite::connect_async(format!("{base}/agent")).await.unwrap();
    let at = tokens::issue(secret.as_bytes(), &Principal::Agent("ann".into(), AgentRole::Agent), now, 3600);
    agent.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{at}","instance":1,"last_seq":0,"next_request":1}}"#))).await.unwrap();
    agent.send(Message::text(serde_json::to_string(&serde_json::json!({"t":"request","id":1,"req":AgentRequest::LogIn { name: "Ann".into(), skills: vec![], media: vec![frontdesk_core::Medium::Chat] }})).unwrap())).await.unwrap();
    fan_out(&mut agent, &c, &a, |k| {
        let state = if k % 2 == 0 { frontdesk_core::status::AgentState::Available } else { frontdesk_core::status::AgentState::Away };
        serde_json::to_string(&serde_json::json!({"t":"request","id":k as u64 + 2,"req":AgentRequest::SetState { state }})).unwrap()
    })
    .await;
    // Request round trips: every session sends requests as fast as answers come back.
    round_trips(&mut senders, &c, &a, "requests", |id| format!(r#"{{"t":"request","id":{id},"req":{{"op":"get_center_status"}}}}"#)).await;
    let _ = child.kill();
    let _ = child.wait();
}

/// Sessions on servers already running (the nodes of a cluster), spread over them in turn.
async fn external(a: &Args, bases: Vec<String>) {
    let secret = a.secret.as_str();
    let c = Counters::default();
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(a.clients);
    let now = wall_clock();
    let mut alive = Keepalive(Instant::now(), a.ping_secs);
    for i in 0..a.clients {
        alive.tick(&mut senders).await;
        let base = &bases[i % bases.len()];
        let tok = tokens::issue(secret.as_bytes(), &Principal::Client(format!("{}{i}", a.prefix).as_str().into()), now, 3600);
        let ws = loop {
            match tokio_tungstenite::connect_async(format!("{base}/client")).await {
                Ok((ws, _)) => break ws,
                // A node's accept queue overflows under a burst: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let (mut tx, rx) = ws.split();
        tx.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{tok}","instance":1,"last_seq":0,"next_request":1}}"#))).await.unwrap();
        tx.send(Message::text(r#"{"t":"request","id":1,"req":{"op":"watch","presentity":"center"}}"#)).await.unwrap();
        spawn_reader(rx, &c, r#"{"t":"status""#, r#"{"t":"response""#);
        senders.push(tx);
    }
    while Counters::get(&c.answers) < a.clients as u64 {
        assert!(t0.elapsed() < Duration::from_secs(600), "only {} of {} sessions answered", Counters::get(&c.answers), a.clients);
        alive.tick(&mut senders).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect = t0.elapsed();
    println!("{}: {} sessions on {} nodes connected, authenticated and watching in {:.2} s ({:.0}/s)", a.prefix, a.clients, bases.len(), connect.as_secs_f64(), a.clients as f64 / connect.as_secs_f64());
    // Pinged before the barrier, the sessions need no ping during a short fan-out (which would
    // share NATS with it and blur its counts).
    alive.ping(&mut senders).await;
    if let Some(dir) = &a.barrier {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("ready-{}", a.prefix)), "").unwrap();
        while std::fs::read_dir(dir).map_or(0, |d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("ready-")).count()) < a.workers {
            alive.tick(&mut senders).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if a.passive {
        // Counts what the other process's flips bring: first to last notification.
        let before = Counters::get(&c.frames);
        let target = before + (a.flips * a.clients) as u64;
        let until = Instant::now() + Duration::from_secs(300);
        while Counters::get(&c.frames) == before && Instant::now() < until {
            alive.tick(&mut senders).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t1 = Instant::now();
        while Counters::get(&c.frames) < target && Instant::now() < until {
            alive.tick(&mut senders).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let n = Counters::get(&c.frames) - before;
        println!("{}: fan-out: {n} presence notifications in {:.2} s → {:.0} notifications/s to this process's {} sessions", a.prefix, t1.elapsed().as_secs_f64(), n as f64 / t1.elapsed().as_secs_f64(), a.clients);
        report_closed(&c, a);
    } else {
        let (mut agent, _) = tokio_tungstenite::connect_async(format!("{}/agent", bases[0])).await.unwrap();
        let at = tokens::issue(secret.as_bytes(), &Principal::Agent("ann".into(), AgentRole::Agent), now, 3600);
        agent.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{at}","instance":1,"last_seq":0,"next_request":1}}"#))).await.unwrap();
        agent.send(Message::text(serde_json::to_string(&serde_json::json!({"t":"request","id":1,"req":AgentRequest::LogIn { name: "Ann".into(), skills: vec![], media: vec![frontdesk_core::Medium::Chat] }})).unwrap())).await.unwrap();
        fan_out(&mut agent, &c, a, |k| {
            let state = if k % 2 == 0 { frontdesk_core::status::AgentState::Available } else { frontdesk_core::status::AgentState::Away };
            serde_json::to_string(&serde_json::json!({"t":"request","id":k as u64 + 2,"req":AgentRequest::SetState { state }})).unwrap()
        })
        .await;
        report_closed(&c, a);
        round_trips(&mut senders, &c, a, &format!("{}: requests", a.prefix), |id| format!(r#"{{"t":"request","id":{id},"req":{{"op":"get_center_status"}}}}"#)).await;
    }
}

/// Says how many of this process's sockets the server closed and whether every notification came.
fn report_closed(c: &Counters, a: &Args) {
    let closed = Counters::get(&c.closed);
    if closed > 0 {
        println!("{}: {closed} of {} sockets were closed by the server (their sessions would resume in a real client)", a.prefix, a.clients);
    }
}

/// Pings every session as a real client does (every 20 s): a session silent for the server's idle
/// timeout (90 s) is closed, and a connect phase of 100,000 sessions alone takes longer than that.
struct Keepalive(Instant, u64);

impl Keepalive {
    async fn tick<S: futures::Sink<Message> + Unpin>(&mut self, senders: &mut [S]) {
        if self.0.elapsed() >= Duration::from_secs(self.1) {
            self.ping(senders).await;
        }
    }

    async fn ping<S: futures::Sink<Message> + Unpin>(&mut self, senders: &mut [S]) {
        if self.1 == 0 {
            return;
        }
        for tx in senders.iter_mut() {
            let _ = tx.send(Message::text(r#"{"t":"ping","n":0}"#)).await;
        }
        self.0 = Instant::now();
    }
}

/// What the readers of all connections have seen.
#[derive(Default, Clone)]
struct Counters {
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    answers: Arc<AtomicU64>,
    /// Sockets the server closed (a lost session would otherwise look like a slow fan-out).
    closed: Arc<AtomicU64>,
}

impl Counters {
    fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }
}

/// Counts the status frames and answers one connection receives.
fn spawn_reader<S>(mut rx: S, c: &Counters, status: &'static str, answer: &'static str)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin + Send + 'static,
{
    let c = c.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m {
                // A status change after the first document comes as a delta frame.
                if t.as_str().starts_with(status) || t.as_str().starts_with(r#"{"t":"delta""#) {
                    c.bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                    c.frames.fetch_add(1, Ordering::Relaxed);
                } else if t.as_str().starts_with(answer) {
                    c.answers.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        c.closed.fetch_add(1, Ordering::Relaxed);
    });
}

/// Waits for every connection's first answer, then prints the connect rate and memory per connection.
async fn report_connect(c: &Counters, n: usize, t0: Instant, pid: u32, idle: u64, what: &str, how: &str) {
    while Counters::get(&c.answers) < n as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = rss_kib(pid);
    println!("{what}: {n} {how} in {:.2} s ({:.0}/s)", connect.as_secs_f64(), n as f64 / connect.as_secs_f64());
    println!("server memory: {} MiB idle, {} MiB loaded → {:.1} KiB per connection", idle / 1024, loaded / 1024, (loaded.saturating_sub(idle)) as f64 / n as f64);
}

/// Sends `flips` agent state changes, each once the previous one reached every watcher (so nothing
/// is coalesced away), and prints notifications per second.
async fn fan_out<S>(agent: &mut S, c: &Counters, a: &Args, flip: impl Fn(usize) -> String)
where
    S: futures::Sink<Message> + Unpin,
    S::Error: std::fmt::Debug,
{
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, bytes_before) = (Counters::get(&c.frames), Counters::get(&c.bytes));
    let t1 = Instant::now();
    for k in 0..a.flips {
        agent.send(Message::text(flip(k))).await.unwrap();
        let target = before + (k as u64 + 1) * a.clients as u64;
        let until = Instant::now() + Duration::from_secs(60);
        while Counters::get(&c.frames) < target && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let fan = Counters::get(&c.frames) - before;
    let fan_t = t1.elapsed();
    println!(
        "fan-out: {} presence notifications in {:.2} s → {:.0} notifications/s ({} flips to {} watchers, {:.1} ms per flip to all, {} bytes each)",
        fan,
        fan_t.as_secs_f64(),
        fan as f64 / fan_t.as_secs_f64(),
        a.flips,
        a.clients,
        fan_t.as_secs_f64() * 1000.0 / a.flips as f64,
        (Counters::get(&c.bytes) - bytes_before) / fan.max(1)
    );
}

/// Every connection sends a request as soon as all answers to the previous round are back, for
/// `seconds`; prints answers per second.
async fn round_trips<S>(senders: &mut [S], c: &Counters, a: &Args, what: &str, req: impl Fn(u64) -> String)
where
    S: futures::Sink<Message> + Unpin,
{
    let start = Counters::get(&c.answers);
    let t2 = Instant::now();
    let deadline = t2 + Duration::from_secs(a.seconds);
    let mut id = 2u64;
    while Instant::now() < deadline {
        for tx in senders.iter_mut() {
            let _ = tx.send(Message::text(req(id))).await;
        }
        id += 1;
        let target = start + (id - 2) * a.clients as u64;
        while Counters::get(&c.answers) < target && Instant::now() < deadline + Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let n = Counters::get(&c.answers) - start;
    println!("{what}: {} answered in {:.2} s → {:.0} requests/s", n, t2.elapsed().as_secs_f64(), n as f64 / t2.elapsed().as_secs_f64());
}

/// The same three measurements against the socket.io baseline in server/bench/socketio (Engine.IO v4
/// over WebSocket, spoken here directly so both servers face the same load generator).
async fn socketio(a: &Args, port: u16) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/socketio/server.mjs");
    let mut child = std::process::Command::new("node").arg(&script).arg(port.to_string()).arg(a.socketio_pad.to_string()).spawn().expect("start node server/bench/socketio/server.mjs (run npm ci there first)");
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let idle = rss_kib(child.id());
    let c = Counters::default();
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(a.clients);
    for _ in 0..a.clients {
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
        let (mut tx, mut rx) = ws.split();
        // Engine.IO open packet, then a Socket.IO connect to the main namespace.
        while let Some(Ok(m)) = rx.next().await {
            if matches!(&m, Message::Text(t) if t.as_str().starts_with('0')) {
                break;
            }
        }
        tx.send(Message::text("40")).await.unwrap();
        tx.send(Message::text(r#"421["watch","center"]"#)).await.unwrap();
        spawn_reader(rx, &c, r#"42["status""#, "43");
        senders.push(tx);
    }
    report_connect(&c, a.clients, t0, child.id(), idle, "socket.io sockets", "connected and watching").await;
    let (agent, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    let (mut agent, mut agent_rx) = agent.split();
    let _ = agent_rx.next().await;
    agent.send(Message::text("40")).await.unwrap();
    tokio::spawn(async move { while agent_rx.next().await.is_some() {} });
    fan_out(&mut agent, &c, a, |k| {
        let state = if k % 2 == 0 { "available" } else { "away" };
        format!(r#"42["agent_state",{{"id":"ann","name":"Ann","state":"{state}"}}]"#)
    })
    .await;
    round_trips(&mut senders, &c, a, "socket.io requests", |id| format!(r#"42{id}["get_center_status"]"#)).await;
    let _ = child.kill();
    let _ = child.wait();
}

async fn agent_console(base: &str, secret: &str) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut agent, _) = tokio_tungstenite::connect_async(format!("{base}/agent")).await.unwrap();
    let at = tokens::issue(secret.as_bytes(), &Principal::Agent("ann".into(), AgentRole::Agent), wall_clock(), 3600);
    agent.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{at}","instance":2,"last_seq":0,"next_request":1}}"#))).await.unwrap();
    let login = AgentRequest::LogIn { name: "Ann".into(), skills: vec![], media: vec![frontdesk_core::Medium::Voice] };
    agent.send(Message::text(serde_json::json!({"t":"request","id":1,"req":login}).to_string())).await.unwrap();
    agent
}

/// XMPP presence subscribers over WebSocket: each logs in, binds, subscribes to an agent; then the
/// agent's state flips and every subscriber must get each change.
async fn xmpp(a: &Args, base: &str, secret: &str, pid: u32, idle: u64) {
    use base64::Engine;
    let mut agent = agent_console(base, secret).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pushes = Arc::new(AtomicU64::new(0));
    let subscribed = Arc::new(AtomicU64::new(0));
    let now = wall_clock();
    let t0 = Instant::now();
    let mut keep = vec![];
    let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='frontdesk.local' version='1.0'/>";
    for i in 0..a.clients {
        let tok = tokens::issue(secret.as_bytes(), &Principal::Client(format!("x{i}").as_str().into()), now, 3600);
        let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("{base}/xmpp")).unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "xmpp".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
        let (mut tx, mut rx) = ws.split();
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0x{i}\0{tok}"));
        // The endpoint answers in order, so the whole login can be sent at once.
        for m in [
            open.to_string(),
            format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"),
            open.to_string(),
            "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>".into(),
            "<presence xmlns='jabber:client' type='subscribe' to='agent-ann@frontdesk.local'/>".into(),
        ] {
            tx.send(Message::text(m)).await.unwrap();
        }
        let pushes = pushes.clone();
        let subscribed = subscribed.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m {
                    let t = t.as_str();
                    if t.contains("type='subscribed'") {
                        subscribed.fetch_add(1, Ordering::Relaxed);
                    } else if t.starts_with("<presence") && t.contains("from='agent-ann@") {
                        pushes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        keep.push(tx);
    }
    while subscribed.load(Ordering::Relaxed) < a.clients as u64 {
        assert!(t0.elapsed() < Duration::from_secs(300), "subscriptions did not complete");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = rss_kib(pid);
    println!("xmpp: {} subscribers logged in (SASL PLAIN), bound and subscribed in {:.2} s", a.clients, connect.as_secs_f64());
    println!("server memory: {} MiB idle, {} MiB with subscribers → {:.1} KiB per XMPP session", idle / 1024, loaded / 1024, (loaded.saturating_sub(idle)) as f64 / a.clients as f64);
    let before = pushes.load(Ordering::Relaxed);
    let t1 = Instant::now();
    for k in 0..a.flips {
        let state = if k % 2 == 0 { frontdesk_core::status::AgentState::Busy } else { frontdesk_core::status::AgentState::Available };
        let req = serde_json::json!({"t":"request","id":k as u64 + 2,"req":AgentRequest::SetState { state }});
        agent.send(Message::text(req.to_string())).await.unwrap();
        let target = before + (k as u64 + 1) * a.clients as u64;
        let until = Instant::now() + Duration::from_secs(60);
        while pushes.load(Ordering::Relaxed) < target && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let n = pushes.load(Ordering::Relaxed) - before;
    let dt = t1.elapsed();
    println!("xmpp presence pushes: {n} in {:.2} s → {:.0} pushes/s ({} state changes × {} subscribers)", dt.as_secs_f64(), n as f64 / dt.as_secs_f64(), a.flips, a.clients);
}
