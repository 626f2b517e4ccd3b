//! `frontdesk-soak`: a long run at steady load with churn, to see that nothing grows.
//!
//! It starts `frontdesk-server` as a child (a durable SQLite store in a temporary directory, bot
//! agents on), then runs `--clients` customers. Each one connects, starts a chat, sends messages and
//! profile edits at a steady pace, and every so often is killed as an app would be (its state saved,
//! its connection dropped without a close) and comes back from the saved state after a pause, to
//! resume its session. Every minute it prints the server's resident memory, open descriptors,
//! requests answered and their latency percentiles (of requests answered on the connection they
//! were sent on); at the end it checks that every request made was
//! answered exactly once. Flat memory and descriptors over the run are the pass mark.

use clap::Parser;
use frontdesk_core::client::{Client, ClientConfig, ClientEvent, SavedState};
use frontdesk_core::driver::client_driver;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::principal::Principal;
use frontdesk_core::profile::{Demographics, ProfilePatch};
use frontdesk_core::Medium;
use frontdesk_net::ws::WsConnector;
use frontdesk_net::{wall_clock, TokioRuntime};
use frontdesk_server::tokens;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Customers running at once.
    #[arg(long, default_value_t = 300)]
    clients: usize,
    /// Length of the run in minutes.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    /// Seconds between two reports.
    #[arg(long, default_value_t = 60)]
    report_secs: u64,
    /// Mean seconds between two requests of one customer.
    #[arg(long, default_value_t = 2.0)]
    pace_secs: f64,
    /// Mean seconds a customer stays before its app is killed.
    #[arg(long, default_value_t = 30.0)]
    stay_secs: f64,
    /// Messages a customer sends in one chat before ending it.
    #[arg(long, default_value_t = 20)]
    chat_len: u32,
    /// Path of the server binary (default: beside this one).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
}

/// Latencies (ms) and counts since the last report, shared by all customers.
#[derive(Default)]
struct Stats {
    latencies: Mutex<Vec<u32>>,
    made: AtomicU64,
    answered: AtomicU64,
    /// Typed error answers (a chat the bot already ended, say): answered, so not lost.
    errors: AtomicU64,
    /// Requests never answered.
    lost: AtomicU64,
    duplicates: AtomicU64,
    churns: AtomicU64,
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A small deterministic generator per customer, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponentially distributed wait with the given mean.
    fn exp(&mut self, mean: f64) -> Duration {
        Duration::from_secs_f64(-mean * (1.0 - self.next()).ln())
    }
}

fn pct(v: &mut [u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn customer(i: usize, base: String, token: String, a: Arc<Args>, stats: Arc<Stats>, until: Instant) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut saved: Option<SavedState> = None;
    // Every request id this customer made, and how many answers it got (must end at exactly one).
    let mut answers: HashMap<u64, u32> = HashMap::new();
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut edits = 0u64;
    // Messages sent in the current chat; a customer ends its chat after a while, as people do.
    let mut in_chat = 0u32;
    while Instant::now() < until {
        let mut cfg = ClientConfig::new(token.clone(), i as u64 + 1);
        cfg.backoff_initial = Duration::from_millis(200);
        cfg.backoff_max = Duration::from_secs(5);
        let client = match saved.take() {
            Some(s) => Client::restore(cfg, s),
            None => Client::new(cfg),
        };
        let (h, mut rx, fut) = client_driver(client, WsConnector::new(format!("{base}/client")), TokioRuntime);
        let task = tokio::spawn(fut);
        let leave = Instant::now() + rng.exp(a.stay_secs).min(Duration::from_secs_f64(a.stay_secs * 4.0));
        let mut next = Instant::now() + rng.exp(a.pace_secs);
        while Instant::now() < leave.min(until) {
            let wait = next.saturating_duration_since(Instant::now()).min(leave.saturating_duration_since(Instant::now()));
            match tokio::time::timeout(wait, rx.next()).await {
                Ok(Some(ClientEvent::Completed { id, result })) => {
                    *answers.entry(id).or_default() += 1;
                    if answers[&id] > 1 {
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                    if let Some(t) = sent_at.remove(&id) {
                        stats.latencies.lock().unwrap().push(t.elapsed().as_millis().min(u32::MAX as u128) as u32);
                    }
                    if result.is_err() {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    next = Instant::now() + rng.exp(a.pace_secs);
                    let live = h.with(|c| {
                        c.view().interactions.values().find(|l| !matches!(l.state, InteractionState::Ended { .. })).map(|l| l.id.clone())
                    });
                    let id = h.with(|c| match (&live, rng.next()) {
                        (None, _) => {
                            in_chat = 0;
                            c.start_interaction(Medium::Chat, Some("router".into()), None, Some("soak".into()))
                        }
                        (Some(ix), _) if in_chat >= a.chat_len => c.end_interaction(ix.clone()),
                        (Some(ix), x) if x < 0.8 => {
                            in_chat += 1;
                            c.send_chat(ix.clone(), format!("message from customer {i}"))
                        }
                        _ => {
                            edits += 1;
                            c.update_profile(ProfilePatch {
                                demographics: Some(Demographics { name: Some(format!("soak {i} edit {edits}")), ..Default::default() }),
                                ..Default::default()
                            })
                        }
                    });
                    answers.entry(id).or_default();
                    sent_at.insert(id, Instant::now());
                    stats.made.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // The app is killed: the connection just drops and the state is saved as the app would have.
        // Answers the app had already received when it stopped are counted first (an app acts on
        // them before it saves); requests still in flight are answered after the resume, and their
        // latency is not the server's.
        h.shutdown();
        let _ = task.await;
        let mut received = vec![];
        while let Ok(e) = rx.try_recv() {
            received.push(e);
        }
        h.with(|c| received.extend(std::iter::from_fn(|| c.poll_event())));
        for e in received {
            if let ClientEvent::Completed { id, result } = e {
                *answers.entry(id).or_default() += 1;
                if answers[&id] > 1 {
                    stats.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                stats.answered.fetch_add(1, Ordering::Relaxed);
                if result.is_err() {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        sent_at.clear();
        saved = Some(h.with(|c| c.save()));
        stats.churns.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(rng.exp(1.5).min(Duration::from_secs(10))).await;
    }
    // Come back once more to collect the answers still owed.
    let mut cfg = ClientConfig::new(token.clone(), i as u64 + 1);
    cfg.backoff_initial = Duration::from_millis(200);
    let client = match saved.take() {
        Some(s) => Client::restore(cfg, s),
        None => Client::new(cfg),
    };
    let (h, mut rx, fut) = client_driver(client, WsConnector::new(format!("{base}/client")), TokioRuntime);
    let task = tokio::spawn(fut);
    let deadline = Instant::now() + Duration::from_secs(30);
    while answers.values().any(|n| *n == 0) && Instant::now() < deadline {
        if let Ok(Some(ClientEvent::Completed { id, .. })) = tokio::time::timeout(Duration::from_millis(500), rx.next()).await {
            *answers.entry(id).or_default() += 1;
            stats.answered.fetch_add(1, Ordering::Relaxed);
            if answers[&id] > 1 {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let missing = answers.values().filter(|n| **n == 0).count();
    if missing > 0 {
        eprintln!("customer {i}: {missing} requests never answered");
        stats.lost.fetch_add(missing as u64, Ordering::Relaxed);
    }
    h.shutdown();
    let _ = task.await;
}

#[tokio::main]
async fn main() {
    let a = Arc::new(Args::parse());
    let secret = "soak-secret";
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("frontdesk-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("soak.db");
    let bin = a.server.clone().unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("frontdesk-server"));
    let mut child = std::process::Command::new(bin)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--db", db.to_str().unwrap(), "--secret", secret, "--xmpp-addr", "off"])
        .args(["--max-msgs-per-sec", "1000", "--max-sessions-per-token", "64", "--max-unauth-per-addr", "100000"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start frontdesk-server");
    let pid = child.id();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let base = format!("ws://127.0.0.1:{port}");
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(a.minutes * 60);
    let now = wall_clock();
    let mut tasks = vec![];
    for i in 0..a.clients {
        let token = tokens::issue(secret.as_bytes(), &Principal::Client(format!("soak{i}").as_str().into()), now, a.minutes * 60 + 3600);
        tasks.push(tokio::spawn(customer(i, base.clone(), token, a.clone(), stats.clone(), until)));
        // Spread the first connections over a couple of seconds, as real arrivals would be.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("minute  rss_MiB  fds  made  answered  p50_ms  p95_ms  p99_ms  max_ms  errors  dup  churns");
    let mut last = (0u64, 0u64, 0u64);
    let mut tick = start;
    while Instant::now() < until {
        tick += Duration::from_secs(a.report_secs);
        tokio::time::sleep_until(tokio::time::Instant::from_std(tick.min(until))).await;
        let mut l = std::mem::take(&mut *stats.latencies.lock().unwrap());
        let (made, answered, churns) = (stats.made.load(Ordering::Relaxed), stats.answered.load(Ordering::Relaxed), stats.churns.load(Ordering::Relaxed));
        println!(
            "{:6.1}  {:7}  {:3}  {:8}  {:12}  {:6}  {:6}  {:6}  {:6}  {:6}  {:3}  {:6}",
            start.elapsed().as_secs_f64() / 60.0,
            proc_status(pid, "VmRSS:") / 1024,
            fds(pid),
            made - last.0,
            answered - last.1,
            pct(&mut l, 0.50),
            pct(&mut l, 0.95),
            pct(&mut l, 0.99),
            l.iter().max().copied().unwrap_or(0),
            stats.errors.load(Ordering::Relaxed),
            stats.duplicates.load(Ordering::Relaxed),
            churns - last.2,
        );
        last = (made, answered, churns);
    }
    for t in tasks {
        let _ = t.await;
    }
    let (lost, dup) = (stats.lost.load(Ordering::Relaxed), stats.duplicates.load(Ordering::Relaxed));
    println!(
        "done: {} requests made, {} never answered, {} answered twice, {} typed errors, {} app kills and resumes; server rss {} MiB, {} fds at the end",
        stats.made.load(Ordering::Relaxed),
        lost,
        dup,
        stats.errors.load(Ordering::Relaxed),
        stats.churns.load(Ordering::Relaxed),
        proc_status(pid, "VmRSS:") / 1024,
        fds(pid)
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if lost > 0 || dup > 0 {
        std::process::exit(1);
    }
}
