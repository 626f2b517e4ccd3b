//! The measurements every peer gets, whatever its protocol: connect, memory, fan-out and round trips,
//! each wait bounded so a lost message fails the run instead of hanging it.

use futures::{SinkExt, StreamExt};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long one connect, send or expected answer may take before the run fails.
pub const STEP: Duration = Duration::from_secs(30);

/// How long a whole phase (all connects, one flip reaching everyone) may take.
pub const PHASE: Duration = Duration::from_secs(300);

/// A run's outcome: figures, or what went missing.
pub type Run<T> = Result<T, String>;

/// What one peer measured; a row of the comparison table each.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Every connection connected, authenticated and watching (or subscribed).
    pub connect: Duration,
    /// Server RSS growth over its idle RSS per connection, KiB; `None` when the server is not ours.
    pub kib_per_conn: Option<f64>,
    /// Server heap growth per connection, bytes, as its counting allocator saw it (frontdesk only).
    pub heap_per_conn: Option<f64>,
    /// Status notifications (or presence pushes) delivered per second.
    pub fan_out: f64,
    /// Request round trips per second; `None` where the peer has no request measured.
    pub requests: Option<f64>,
    /// One login on the idle server, median of a few, milliseconds (XMPP only).
    pub login_ms: Option<f64>,
}

/// Fails with `what` if `fut` does not finish within `limit`.
pub async fn within<T>(what: impl std::fmt::Display, limit: Duration, fut: impl Future<Output = T>) -> Run<T> {
    tokio::time::timeout(limit, fut).await.map_err(|_| format!("{what}: nothing within {} s (a lost message?)", limit.as_secs()))
}

/// Polls `count` until it reaches `target`; fails with a count of what arrived after `limit`.
pub async fn wait_for(what: &str, count: &AtomicU64, target: u64, limit: Duration) -> Run<()> {
    let until = Instant::now() + limit;
    loop {
        let n = count.load(Ordering::Relaxed);
        if n >= target {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!("{what}: {n} of {target} arrived within {} s (a lost message?)", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The measured server's process id once `report_connect` knows it (0: not ours, as with
/// `--connect`): the fan-out and the round trips then also print the server's own CPU per message,
/// which, unlike the rates, does not depend on how fast this load generator reads.
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat`.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

/// The server's and this load generator's CPU since `since` per message, as "; server CPU N µs
/// each, load generator M µs", or nothing. The two share the machine's cores, so a rate is only
/// as high as their sum allows.
fn server_cpu(since: (Option<f64>, Option<f64>), messages: u64) -> String {
    let pid = SERVER_PID.load(Ordering::Relaxed);
    let per = |a: f64, b: f64| (b - a) * 1e6 / messages.max(1) as f64;
    let own = match (since.1, cpu_secs(std::process::id())) {
        (Some(a), Some(b)) => format!(", load generator {:.1} µs", per(a, b)),
        _ => String::new(),
    };
    match (since.0, cpu_secs(pid)) {
        (Some(a), Some(b)) if pid != 0 && messages > 0 => format!("; server CPU {:.1} µs each{own}", per(a, b)),
        _ => String::new(),
    }
}

fn server_cpu_now() -> (Option<f64>, Option<f64>) {
    let own = cpu_secs(std::process::id());
    match SERVER_PID.load(Ordering::Relaxed) {
        0 => (None, own),
        pid => (cpu_secs(pid), own),
    }
}

/// Live heap bytes a frontdesk-server started with `--count-heap` reports at `/metrics` on `port`.
pub async fn heap_bytes(port: u16) -> Run<i64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within("GET /metrics", STEP, async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("GET /metrics: {e}"))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.map_err(|e| format!("GET /metrics: {e}"))?;
        let mut body = String::new();
        s.read_to_string(&mut body).await.map_err(|e| format!("GET /metrics: {e}"))?;
        body.lines()
            .find_map(|l| l.strip_prefix("frontdesk_heap_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("GET /metrics: no frontdesk_heap_bytes in {body:?}"))
    })
    .await?
}

/// Resident memory of a process, KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Waits until something listens on a loopback port (a child server starting).
pub async fn listening(what: &str, port: u16) -> Run<()> {
    within(format!("{what} listening on 127.0.0.1:{port}"), STEP, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A WebSocket client connection, as every WebSocket mode opens it.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket, bounded by [`STEP`].
pub async fn connect_ws<R: tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin>(what: &str, req: R) -> Run<Ws> {
    within(what, STEP, tokio_tungstenite::connect_async(req)).await?.map(|(ws, _)| ws).map_err(|e| format!("{what}: {e}"))
}

/// Sends one text frame, bounded by [`STEP`] (a server that stops reading would block it).
pub async fn send<S>(what: &str, tx: &mut S, text: impl Into<String>) -> Run<()>
where
    S: futures::Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
{
    within(what, STEP, tx.send(Message::text(text.into()))).await?.map_err(|e| format!("{what}: {e}"))
}

/// Reads text frames until one satisfies `done`, bounded by [`STEP`].
pub async fn expect_text<S>(what: &str, rx: &mut S, done: impl Fn(&str) -> bool) -> Run<String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    within(what, STEP, async {
        while let Some(m) = rx.next().await {
            match m {
                Ok(Message::Text(t)) if done(t.as_str()) => return Ok(t.as_str().to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
        Err(format!("{what}: the server closed the connection"))
    })
    .await?
}

/// What the readers of all connections have seen.
#[derive(Default, Clone)]
pub struct Counters {
    /// Status notifications (or presence pushes) received.
    pub frames: Arc<AtomicU64>,
    /// Their bytes.
    pub bytes: Arc<AtomicU64>,
    /// Answers to requests received.
    pub answers: Arc<AtomicU64>,
    /// Sockets the server closed (a lost session would otherwise look like a slow fan-out).
    pub closed: Arc<AtomicU64>,
}

impl Counters {
    /// One counter's value now.
    pub fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }
}

/// Waits until `ready` counts every connection, then prints the connect rate and memory per
/// connection (the server settled for half a second first).
pub async fn report_connect(ready: &AtomicU64, n: usize, t0: Instant, server: Option<(u32, u64)>, what: &str, how: &str) -> Run<Figures> {
    wait_for(&format!("{what}: {how}"), ready, n as u64, PHASE).await?;
    let connect = t0.elapsed();
    println!("{what}: {n} {how} in {:.2} s ({:.0}/s)", connect.as_secs_f64(), n as f64 / connect.as_secs_f64());
    let mut f = Figures { connect, ..Figures::default() };
    if let Some((pid, idle)) = server {
        SERVER_PID.store(pid, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let loaded = rss_kib(pid);
        let per = loaded.saturating_sub(idle) as f64 / n as f64;
        println!("server memory: {} MiB idle, {} MiB loaded → {per:.1} KiB per connection", idle / 1024, loaded / 1024);
        f.kib_per_conn = Some(per);
    }
    Ok(f)
}

/// Makes `flips` status changes, each once the previous one reached every watcher (so nothing is
/// coalesced away), and prints notifications per second.
pub async fn fan_out(c: &Counters, clients: usize, flips: usize, mut flip: impl AsyncFnMut(usize) -> Run<()>) -> Run<f64> {
    // The agent's own login changed the status too: its notifications still on their way would
    // otherwise count towards the first flip.
    let until = Instant::now() + PHASE;
    let mut last = Counters::get(&c.frames);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = Counters::get(&c.frames);
        if now == last || Instant::now() > until {
            break;
        }
        last = now;
    }
    let (before, bytes_before) = (Counters::get(&c.frames), Counters::get(&c.bytes));
    let cpu0 = server_cpu_now();
    let t1 = Instant::now();
    for k in 0..flips {
        flip(k).await?;
        let target = before + (k as u64 + 1) * clients as u64;
        wait_for(&format!("fan-out, change {} of {flips}", k + 1), &c.frames, target, PHASE).await?;
    }
    let fan = Counters::get(&c.frames) - before;
    let fan_t = t1.elapsed();
    let rate = fan as f64 / fan_t.as_secs_f64();
    // XMPP readers count stanzas in a byte stream, not frames: they have no size to tell.
    let size = match (Counters::get(&c.bytes) - bytes_before) / fan.max(1) {
        0 => String::new(),
        b => format!(", {b} bytes each"),
    };
    println!(
        "fan-out: {fan} notifications in {:.2} s → {rate:.0} notifications/s ({flips} changes to {clients} watchers, {:.1} ms per change to all{size}{})",
        fan_t.as_secs_f64(),
        fan_t.as_secs_f64() * 1000.0 / flips as f64,
        server_cpu(cpu0, fan),
    );
    Ok(rate)
}

/// Every connection sends a request as soon as all answers to the previous round are back, for
/// `seconds`; prints answers per second.
pub async fn round_trips<S>(senders: &mut [S], c: &Counters, seconds: u64, what: &str, req: impl Fn(u64) -> String) -> Run<f64>
where
    S: futures::Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
{
    let start = Counters::get(&c.answers);
    let cpu0 = server_cpu_now();
    let t2 = Instant::now();
    let deadline = t2 + Duration::from_secs(seconds);
    let mut id = 2u64;
    while Instant::now() < deadline {
        for tx in senders.iter_mut() {
            send(what, tx, req(id)).await?;
        }
        id += 1;
        let target = start + (id - 2) * senders.len() as u64;
        wait_for(&format!("{what}, round {}", id - 2), &c.answers, target, PHASE).await?;
    }
    let n = Counters::get(&c.answers) - start;
    let rate = n as f64 / t2.elapsed().as_secs_f64();
    println!("{what}: {n} answered in {:.2} s → {rate:.0} requests/s{}", t2.elapsed().as_secs_f64(), server_cpu(cpu0, n));
    Ok(rate)
}
