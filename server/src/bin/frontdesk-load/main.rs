//! `frontdesk-load`: a load generator that measures a frontdesk server on loopback.
//!
//! It starts `frontdesk-server` as a child process (in-memory store, no bots), opens `--clients`
//! WebSocket sessions that each authenticate and watch center status, and reports: time to connect,
//! the server's resident memory per session, request round trips per second, and presence
//! notifications delivered per second when an agent's state flips (a fan-out to every session).
//! `--socketio`, `--xmpp` and `--compare` measure the baselines the same way.

mod compare;
mod measure;
mod prosody;
mod raw;
mod socketio;
mod xmpp;

use clap::Parser;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::AgentRequest;
use frontdesk_net::wall_clock;
use frontdesk_server::tokens;
use measure::{send, Counters, Figures, Run, Ws, PHASE};
use std::time::{Duration, Instant};

/// Logins timed one by one on an idle XMPP server: the median of several, as the machine is shared.
const LOGIN_PROBES: usize = 9;

/// The agent every XMPP subscriber of frontdesk watches.
pub const FRONTDESK_AGENT: &str = "agent-ann@frontdesk.local";

#[derive(Parser)]
#[command(about = "Measures frontdesk-server (and, for comparison, socket.io and Prosody) on loopback")]
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
    /// Path of the server binary (default: beside this one).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
    /// Measure XMPP presence subscribers (over WebSocket, RFC 7395) instead of frontdesk sessions.
    #[arg(long)]
    xmpp: bool,
    /// With --xmpp: subscribers log in over TCP with STARTTLS (as --compare does), not WebSocket.
    #[arg(long)]
    xmpp_tcp: bool,
    /// Measure the socket.io baseline (server/bench/socketio, run with node) the same way instead.
    #[arg(long)]
    socketio: bool,
    /// Run frontdesk, the socket.io baseline, frontdesk's XMPP listener and Prosody in turn with the
    /// same load, and print the tables with ratios.
    ///
    /// Each server is a fresh child process on a loopback port, measured alone: frontdesk's sessions
    /// and socket.io's sockets connect, authenticate (socket.io: none) and watch center status; one
    /// agent's state flips --flips times (each flip reaching every watcher before the next); every
    /// connection then sends requests in rounds for --seconds. Memory is the server's RSS growth over
    /// its idle RSS divided by the connections.
    ///
    /// XMPP, over TCP with STARTTLS and SASL PLAIN for both (the load generator waits for each answer,
    /// 64 logins in flight): first one login on the idle server (median of 9), then --clients
    /// subscribers each send initial presence and a subscription request to one agent and are ready at
    /// its first presence; the agent's presence alternates dnd and available --flips times; then XEP-0199
    /// pings in rounds. Prosody (Debian's package, installed with apt-get if absent) runs from a
    /// generated config in a temp dir (Nagle off, as frontdesk sets TCP_NODELAY): accounts with plain
    /// passwords (internal_plain) and rosters are written as its storage files beforehand — the
    /// agent's roster holds every subscriber with subscription `from` (subscriptions a deployment
    /// already has; establishing 9,000 online rewrites the agent's whole roster each time) — and the
    /// presence source is an XMPP client logged in as the agent. frontdesk's presence source is the
    /// agent's console changing its state.
    #[arg(long, verbatim_doc_comment)]
    compare: bool,
    /// Filler bytes in the socket.io center document, so its frames are as large as frontdesk's (1,803
    /// bytes with one agent; the baseline's own fields make 1,171).
    #[arg(long, default_value_t = 623)]
    socketio_pad: usize,
    /// The socket.io baseline broadcasts what changed (the agent and the queue's counters, about 330
    /// bytes) instead of its whole document, as frontdesk sends deltas; the filler is then not added.
    #[arg(long)]
    socketio_delta: bool,
    /// Seconds between pings of every session with --connect (0: never, so the server's idle timeout
    /// closes sessions that wait longer).
    #[arg(long, default_value_t = 20)]
    ping_secs: u64,
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

/// A child server, killed when dropped (also when a measurement fails half-way).
pub struct Child(std::process::Child);

impl Child {
    /// Starts `cmd`; `what` names it in the error.
    pub fn spawn(what: &str, cmd: &mut std::process::Command) -> Run<Child> {
        cmd.stdout(std::process::Stdio::null()).spawn().map(Child).map_err(|e| format!("start {what}: {e}"))
    }

    /// Its process id, for its RSS.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills it and reaps it.
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port (bound and released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A frontdesk-server child: in memory, no simulated traffic, limits out of the load's way.
struct Frontdesk {
    child: Child,
    base: String,
    xmpp: Option<u16>,
    idle: u64,
    port: u16,
}

impl Frontdesk {
    async fn start(a: &Args, xmpp: bool) -> Run<Frontdesk> {
        let port = free_port();
        let xmpp = xmpp.then(free_port);
        let bin = a.server.clone().unwrap_or_else(|| std::env::current_exe().expect("own path").with_file_name("frontdesk-server"));
        let xaddr = xmpp.map_or("off".to_owned(), |p| format!("127.0.0.1:{p}"));
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["--addr", &format!("127.0.0.1:{port}"), "--memory", "--no-sim", "--secret", &a.secret, "--max-msgs-per-sec", "100000", "--rate-burst", "100000", "--max-unauth-per-addr", "100000", "--xmpp-addr", &xaddr, "--count-heap"]).env("RUST_LOG", "warn");
        let child = Child::spawn(&bin.display().to_string(), &mut cmd)?;
        measure::listening("frontdesk-server", port).await?;
        if let Some(x) = xmpp {
            measure::listening("frontdesk-server's XMPP listener", x).await?;
        }
        let idle = measure::rss_kib(child.pid());
        Ok(Frontdesk { child, base: format!("ws://127.0.0.1:{port}"), xmpp, idle, port })
    }

    fn server(&self) -> Option<(u32, u64)> {
        Some((self.child.pid(), self.idle))
    }

    /// frontdesk's XMPP listener as subscribers see it: SASL PLAIN with a token as password.
    fn xmpp_peer(&self, secret: &str) -> xmpp::Peer {
        let secret = secret.to_owned();
        let now = wall_clock();
        xmpp::Peer {
            addr: ([127, 0, 0, 1], self.xmpp.expect("started with XMPP")).into(),
            domain: "frontdesk.local".into(),
            agent: FRONTDESK_AGENT.into(),
            creds: Box::new(move |user| (user.to_owned(), tokens::issue(secret.as_bytes(), &Principal::Client(user.into()), now, 3600))),
        }
    }
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let r = if a.compare {
        compare::run(&a).await
    } else if a.socketio {
        socketio::run(a.clients, a.flips, a.seconds, a.socketio_pad, a.socketio_delta, free_port()).await.map(drop)
    } else if let Some(urls) = a.connect.clone() {
        external(&a, urls.split(',').map(|u| u.trim().trim_end_matches('/').to_owned()).collect()).await
    } else if a.xmpp && a.xmpp_tcp {
        xmpp_tcp(&a).await.map(drop)
    } else if a.xmpp {
        xmpp_ws(&a).await.map(drop)
    } else {
        sessions(&a).await.map(drop)
    };
    if let Err(e) = r {
        eprintln!("frontdesk-load: {e}");
        std::process::exit(1);
    }
}

/// The hello that opens a frontdesk session.
fn hello(secret: &str, principal: &Principal, instance: u32) -> String {
    let tok = tokens::issue(secret.as_bytes(), principal, wall_clock(), 3600);
    format!(r#"{{"t":"hello","v":1,"token":"{tok}","instance":{instance},"last_seq":0,"next_request":1}}"#)
}

/// The sending halves of the sessions' sockets.
type Senders = Vec<raw::RawTx>;

/// Pings every session as a real client does: a session silent for the server's idle timeout (90 s)
/// is closed, and connecting 100,000 sessions alone takes longer than that.
struct Keepalive(Instant, u64);

impl Keepalive {
    /// Pings every `secs` seconds (0: never).
    fn every(secs: u64) -> Self {
        Keepalive(Instant::now(), secs)
    }

    /// Pings if the interval has passed.
    async fn tick(&mut self, senders: &mut Senders) {
        if self.1 > 0 && self.0.elapsed() >= Duration::from_secs(self.1) {
            self.ping(senders).await;
        }
    }

    /// Pings every session now.
    async fn ping(&mut self, senders: &mut Senders) {
        if self.1 == 0 {
            return;
        }
        for tx in senders.iter_mut() {
            let _ = futures::SinkExt::send(tx, tokio_tungstenite::tungstenite::Message::text(r#"{"t":"ping","n":0}"#)).await;
        }
        self.0 = Instant::now();
    }

    /// Waits, pinging, until `n` reaches `target`; fails after `limit`.
    async fn wait(&mut self, senders: &mut Senders, what: &str, n: &std::sync::atomic::AtomicU64, target: u64, limit: Duration) -> Run<()> {
        let until = Instant::now() + limit;
        while Counters::get(n) < target {
            if Instant::now() > until {
                return Err(format!("{what}: {} of {target} after {} s", Counters::get(n), limit.as_secs()));
            }
            self.tick(senders).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

/// Says how many of this process's sockets the server closed.
fn report_closed(c: &Counters, a: &Args) {
    let closed = Counters::get(&c.closed);
    if closed > 0 {
        println!("{}: {closed} of {} sockets were closed by the server (their sessions would resume in a real client)", a.prefix, a.clients);
    }
}

/// Opens `clients` sessions spread over `bases` (in turn), each authenticating and watching center
/// status in one go; retries a connect the accept queue refused (a burst on a cluster's node).
async fn open_sessions(a: &Args, bases: &[String], c: &Counters, alive: &mut Keepalive) -> Run<Senders> {
    let mut senders = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        alive.tick(&mut senders).await;
        let base = &bases[i % bases.len()];
        let mut tries = 0;
        let ws = loop {
            match raw::connect("session", &format!("{base}/client")).await {
                Ok(halves) => break halves,
                Err(e) if tries >= 100 => return Err(format!("session {i}: {e}")),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let (mut tx, rx) = ws;
        send("hello", &mut tx, hello(&a.secret, &Principal::Client(format!("{}{i}", a.prefix).as_str().into()), 1)).await?;
        send("watch", &mut tx, r#"{"t":"request","id":1,"req":{"op":"watch","presentity":"center"}}"#).await?;
        raw::spawn_reader(rx, c, &[r#"{"t":"status""#, r#"{"t":"delta""#], r#"{"t":"response""#);
        senders.push(tx);
    }
    Ok(senders)
}

/// The agent console that flips its state for the fan-out (frontdesk's status source).
async fn agent_console(base: &str, secret: &str, medium: frontdesk_core::Medium) -> Run<Ws> {
    let mut agent = measure::connect_ws("agent console", format!("{base}/agent")).await?;
    send("agent hello", &mut agent, hello(secret, &Principal::Agent("ann".into(), AgentRole::Agent), 2)).await?;
    let login = AgentRequest::LogIn { name: "Ann".into(), skills: vec![], media: vec![medium] };
    send("agent login", &mut agent, serde_json::json!({"t":"request","id":1,"req":login}).to_string()).await?;
    Ok(agent)
}

/// Flip `k` of the agent's state, between `a` and `b`.
async fn set_state(agent: &mut Ws, k: usize, a: frontdesk_core::status::AgentState, b: frontdesk_core::status::AgentState) -> Run<()> {
    let state = if k % 2 == 0 { a } else { b };
    send("agent state", agent, serde_json::json!({"t":"request","id":k as u64 + 2,"req":AgentRequest::SetState { state }}).to_string()).await
}

/// frontdesk sessions over WebSocket: connect, memory, fan-out, round trips.
async fn sessions(a: &Args) -> Run<Figures> {
    use frontdesk_core::status::AgentState::{Available, Away};
    let fd = Frontdesk::start(a, false).await?;
    let heap0 = measure::heap_bytes(fd.port).await?;
    let c = Counters::default();
    let t0 = Instant::now();
    let mut senders = open_sessions(a, std::slice::from_ref(&fd.base), &c, &mut Keepalive::every(0)).await?;
    let mut f = measure::report_connect(&c.answers, a.clients, t0, fd.server(), "sessions", "connected, authenticated and watching").await?;
    let per = (measure::heap_bytes(fd.port).await? - heap0) as f64 / a.clients as f64;
    println!("server heap (counting allocator): {:.0} B per connection", per);
    f.heap_per_conn = Some(per);
    // Fan-out: each agent state flip changes center status for every watcher.
    let mut agent = agent_console(&fd.base, &a.secret, frontdesk_core::Medium::Chat).await?;
    f.fan_out = measure::fan_out(&c, a.clients, a.flips, async |k| set_state(&mut agent, k, Available, Away).await).await?;
    // Request round trips: every session sends requests as fast as answers come back.
    f.requests = Some(measure::round_trips(&mut senders, &c, a.seconds, "requests", |id| format!(r#"{{"t":"request","id":{id},"req":{{"op":"get_center_status"}}}}"#)).await?);
    Ok(f)
}

/// Sessions on servers already running (the nodes of a cluster), spread over them in turn.
async fn external(a: &Args, bases: Vec<String>) -> Run<()> {
    use frontdesk_core::status::AgentState::{Available, Away};
    let c = Counters::default();
    let t0 = Instant::now();
    let mut alive = Keepalive::every(a.ping_secs);
    let mut senders = open_sessions(a, &bases, &c, &mut alive).await?;
    alive.wait(&mut senders, &format!("{}: sessions answering", a.prefix), &c.answers, a.clients as u64, Duration::from_secs(600)).await?;
    let connect = t0.elapsed();
    println!("{}: {} sessions on {} nodes connected, authenticated and watching in {:.2} s ({:.0}/s)", a.prefix, a.clients, bases.len(), connect.as_secs_f64(), a.clients as f64 / connect.as_secs_f64());
    if let Some(dir) = &a.barrier {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(format!("ready-{}", a.prefix)), "").map_err(|e| e.to_string())?;
        let ready = || std::fs::read_dir(dir).map_or(0, |d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("ready-")).count());
        let until = Instant::now() + Duration::from_secs(600);
        while ready() < a.workers {
            if Instant::now() > until {
                return Err(format!("barrier: {} of {} load processes ready after 600 s", ready(), a.workers));
            }
            alive.tick(&mut senders).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Pinged just before the fan-out, the sessions need no ping during it (which would share NATS
    // with it and blur its counts).
    alive.ping(&mut senders).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if a.passive {
        // Counts what the other process's flips bring: first to last notification.
        let before = Counters::get(&c.frames);
        let target = before + (a.flips * a.clients) as u64;
        alive.wait(&mut senders, &format!("{}: first notification", a.prefix), &c.frames, before + 1, PHASE).await?;
        let t1 = Instant::now();
        let done = alive.wait(&mut senders, &format!("{}: fan-out", a.prefix), &c.frames, target, PHASE).await;
        report_closed(&c, a);
        done?;
        let n = Counters::get(&c.frames) - before;
        println!("{}: fan-out: {n} presence notifications in {:.2} s → {:.0} notifications/s to this process's {} sessions", a.prefix, t1.elapsed().as_secs_f64(), n as f64 / t1.elapsed().as_secs_f64(), a.clients);
    } else {
        let mut agent = agent_console(&bases[0], &a.secret, frontdesk_core::Medium::Chat).await?;
        let done = measure::fan_out(&c, a.clients, a.flips, async |k| set_state(&mut agent, k, Available, Away).await).await;
        report_closed(&c, a);
        done?;
        measure::round_trips(&mut senders, &c, a.seconds, &format!("{}: requests", a.prefix), |id| format!(r#"{{"t":"request","id":{id},"req":{{"op":"get_center_status"}}}}"#)).await?;
    }
    Ok(())
}

/// XMPP subscribers over WebSocket (RFC 7395) to frontdesk: each logs in, binds, subscribes to an
/// agent; then the agent's state flips and every subscriber must get each change.
async fn xmpp_ws(a: &Args) -> Run<Figures> {
    use frontdesk_core::status::AgentState::{Available, Busy};
    let fd = Frontdesk::start(a, false).await?;
    let mut agent = agent_console(&fd.base, &a.secret, frontdesk_core::Medium::Voice).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = Counters::default();
    let (mut f, mut outs) = xmpp::subscribe_ws(&fd.base, &a.secret, a.clients, fd.server(), &c).await?;
    f.fan_out = measure::fan_out(&c, a.clients, a.flips, async |k| set_state(&mut agent, k, Busy, Available).await).await?;
    f.requests = Some(xmpp::pings(&mut outs, &c, a.seconds, "frontdesk.local").await?);
    Ok(f)
}

/// XMPP subscribers over TCP with STARTTLS to frontdesk's listener, the load `--compare` puts on
/// Prosody too.
async fn xmpp_tcp(a: &Args) -> Run<Figures> {
    use frontdesk_core::status::AgentState::{Available, Busy};
    let fd = Frontdesk::start(a, true).await?;
    let peer = std::sync::Arc::new(fd.xmpp_peer(&a.secret));
    let login_ms = xmpp::login_latency(&peer, LOGIN_PROBES).await?;
    let mut agent = agent_console(&fd.base, &a.secret, frontdesk_core::Medium::Voice).await?;
    xmpp_load(a, peer, fd.server(), login_ms, async |k| set_state(&mut agent, k, Busy, Available).await).await
}

/// The same XMPP load on Prosody, its agent's presence alternating dnd and available.
async fn xmpp_prosody(a: &Args) -> Run<Figures> {
    use xmpp::Say;
    let p = prosody::start(a.clients, free_port()).await?;
    let idle = measure::rss_kib(p.child.pid());
    let peer = std::sync::Arc::new(p.peer());
    let login_ms = xmpp::login_latency(&peer, LOGIN_PROBES).await?;
    let mut agent = xmpp::agent_client(&peer, "agent").await?;
    let show = |k: usize| if k % 2 == 0 { "<presence><show>dnd</show></presence>" } else { "<presence/>" };
    xmpp_load(a, peer, Some((p.child.pid(), idle)), login_ms, async |k| agent.say("agent presence", show(k).into()).await).await
}

/// Subscribers over TCP, the agent's presence flipping, then pings: what both XMPP servers get once
/// their presence source is logged in.
async fn xmpp_load(a: &Args, peer: std::sync::Arc<xmpp::Peer>, server: Option<(u32, u64)>, login_ms: f64, flip: impl AsyncFnMut(usize) -> Run<()>) -> Run<Figures> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = Counters::default();
    let domain = peer.domain.clone();
    let (mut f, mut outs) = xmpp::subscribe_tcp(peer, a.clients, server, &c).await?;
    f.login_ms = Some(login_ms);
    f.fan_out = measure::fan_out(&c, a.clients, a.flips, flip).await?;
    f.requests = Some(xmpp::pings(&mut outs, &c, a.seconds, &domain).await?);
    Ok(f)
}
