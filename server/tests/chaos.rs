//! Chaos: a customer and an agent chat through a fault-injecting proxy — random delays, connections
//! cut mid-stream, partitions that black-hole both directions until keep-alive gives up, and the
//! server SIGKILLed and restarted at random moments. Once the faults stop, every acknowledged
//! message is there exactly once and in order on both sides, and every request was answered.
//!
//! This machine's kernel has no `sch_netem`, so the faults are injected by a proxy on loopback
//! rather than by `tc netem` in network namespaces; TCP itself never loses or reorders bytes, so
//! what a real network does to a session — stalls, resets, silent partitions — is what it injects.

mod common;

use common::*;
use frontdesk_core::client::{ClientConfig, ClientEvent};
use frontdesk_core::interaction::{Author, InteractionState};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_server::console::{AgentConsole, ConsoleEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to traffic now.
#[derive(Default)]
struct Faults {
    /// Bumped to cut every open connection.
    generation: AtomicU64,
    /// Until when nothing is forwarded either way (a partition).
    partitioned_until: Mutex<Option<Instant>>,
    /// Upper bound of the random delay per chunk, in ms.
    max_delay_ms: AtomicU64,
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, f: Arc<Faults>, gen: u64, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if f.generation.load(Ordering::Relaxed) != gen { return; }
                continue;
            }
        };
        loop {
            if f.generation.load(Ordering::Relaxed) != gen {
                return;
            }
            let until = *f.partitioned_until.lock().unwrap();
            match until {
                Some(t) if Instant::now() < t => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => break,
            }
        }
        let d = rng.below(f.max_delay_ms.load(Ordering::Relaxed) + 1);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A TCP proxy from `listen` to `target` that applies `f`.
async fn proxy(listener: TcpListener, target: u16, f: Arc<Faults>) {
    let mut seed = 7u64;
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else { continue };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let gen = f.generation.load(Ordering::Relaxed);
        let (ir, iw) = inbound.into_split();
        let (or, ow) = outbound.into_split();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        tokio::spawn(pipe(ir, ow, f.clone(), gen, seed));
        tokio::spawn(pipe(or, iw, f.clone(), gen, seed ^ 0xABCD));
    }
}

/// Short keep-alive, so a partition is noticed in seconds rather than the production 45 s.
fn fast(mut cfg: ClientConfig) -> ClientConfig {
    cfg.ping_interval = Duration::from_millis(700);
    cfg.idle_timeout = Duration::from_millis(2_500);
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(600);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for in the loop and at the end
async fn faults_on_both_sides_and_server_kills_lose_and_double_nothing() {
    let dir = std::env::temp_dir().join(format!("frontdesk-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fd.db");
    let _ = std::fs::remove_file(&db);
    let port = free_port();
    let mut server = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    let faults = Arc::new(Faults::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = format!("ws://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(proxy(listener, port, faults.clone()));

    // The agent works from a console session; the customer from the app.
    let login = AgentRequest::LogIn { name: "Ann".into(), skills: vec!["router".into()], media: vec![Medium::Chat] };
    let (ann, mut ann_rx) = AgentConsole::start(format!("{via}/agent"), fast(ClientConfig::new(token(Principal::Agent("ann".into(), AgentRole::Agent)), 77)), login);
    let ready = ann.request(&AgentRequest::SetState { state: AgentState::Available }).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(ConsoleEvent::Answered { id, result }) = ann_rx.recv().await {
                if id == ready {
                    assert!(result.is_ok(), "{result:?}");
                    break;
                }
            }
        }
    })
    .await
    .expect("the agent is available");
    let mut alice = App::start(&via, fast(App::config("alice", 5)));
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let li = match alice.answer(id).await {
        Ok(Response::Interaction(li)) => li,
        other => panic!("{other:?}"),
    };
    let ix = li.id.clone();
    let mut console_events: Vec<AgentEvent> = vec![];
    let mut answered: Vec<u64> = vec![];
    let offered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ann_rx.recv().await.unwrap() {
                ConsoleEvent::Event(e @ AgentEvent::Offered(_)) => break e,
                ConsoleEvent::Event(e) => console_events.push(e),
                _ => {}
            }
        }
    })
    .await
    .expect("offered");
    let _ = offered;
    ann.request(&AgentRequest::Accept { interaction: ix.clone() }).unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.state == InteractionState::Connected)).await;

    // Chaos for a while: both sides keep talking.
    faults.max_delay_ms.store(30, Ordering::Relaxed);
    let mut rng = Rng(0x1234_5678);
    let (mut client_sent, mut agent_sent, mut agent_ids, mut client_ids) = (vec![], vec![], vec![], vec![]);
    let (mut kills, mut cuts, mut partitions) = (0, 0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(25) {
        match rng.below(100) {
            0..=39 => {
                let t = format!("c{:03}", client_sent.len());
                client_ids.push(alice.h.with(|c| c.send_chat(ix.clone(), t.clone())));
                client_sent.push(t);
            }
            40..=74 => {
                let t = format!("a{:03}", agent_sent.len());
                agent_ids.push(ann.request(&AgentRequest::SendChat { interaction: ix.clone(), text: t.clone() }).unwrap());
                agent_sent.push(t);
            }
            75..=84 => {
                faults.generation.fetch_add(1, Ordering::Relaxed);
                cuts += 1;
            }
            85..=90 => {
                *faults.partitioned_until.lock().unwrap() = Some(Instant::now() + Duration::from_millis(1_000 + rng.below(3_000)));
                partitions += 1;
            }
            91..=93 => {
                server.kill().unwrap();
                server.wait().unwrap();
                tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
                server = spawn_server(port, &db, &[]);
                wait_listening(port).await;
                kills += 1;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.below(250))).await;
        // Keep the event queues drained as an app would.
        while let Ok(e) = ann_rx.try_recv() {
            match e {
                ConsoleEvent::Event(e) => console_events.push(e),
                ConsoleEvent::Answered { id, .. } => answered.push(id),
                _ => {}
            }
        }
    }
    // The network heals; everything settles.
    faults.max_delay_ms.store(0, Ordering::Relaxed);
    *faults.partitioned_until.lock().unwrap() = None;
    for id in &client_ids {
        let r = alice.answer(*id).await;
        assert!(r.is_ok(), "client request {id}: {r:?}");
    }
    let until = Instant::now() + Duration::from_secs(30);
    let client_msgs = |ev: &[AgentEvent]| -> Vec<String> {
        ev.iter().filter_map(|e| if let AgentEvent::Chat(m) = e { matches!(m.from, Author::Client(_)).then(|| m.text.clone()) } else { None }).collect()
    };
    while (answered.len() < agent_ids.len() || client_msgs(&console_events).len() < client_sent.len()) && Instant::now() < until {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), ann_rx.recv()).await {
            match e {
                ConsoleEvent::Event(e) => console_events.push(e),
                ConsoleEvent::Answered { id, .. } => answered.push(id),
                _ => {}
            }
        }
    }
    fn agent_at_app(seen: &[ClientEvent]) -> Vec<String> {
        seen.iter()
            .filter_map(|e| match e {
                ClientEvent::Pushed(Event::Chat(m)) if matches!(m.from, Author::Agent(_)) => Some(m.text.clone()),
                _ => None,
            })
            .collect()
    }
    let until = Instant::now() + Duration::from_secs(20);
    while agent_at_app(&alice.seen).len() < agent_sent.len() && Instant::now() < until {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), futures::StreamExt::next(&mut alice.rx)).await {
            alice.seen.push(e);
        }
    }
    eprintln!(
        "chaos: {} customer and {} agent messages, {cuts} cuts, {partitions} partitions, {kills} server kills",
        client_sent.len(),
        agent_sent.len()
    );
    answered.retain(|id| agent_ids.contains(id));
    answered.sort_unstable();
    answered.dedup();
    assert_eq!(answered.len(), agent_ids.len(), "every agent request answered");
    assert_eq!(client_msgs(&console_events), client_sent, "the console got every customer message once, in order");
    assert_eq!(agent_at_app(&alice.seen), agent_sent, "the app got every agent message once, in order");
    let id = alice.h.with(|c| c.get_transcript(ix.clone()));
    let Ok(Response::Transcript(t)) = alice.answer(id).await else { panic!() };
    let stored = |agent: bool| -> Vec<String> { t.iter().filter(|m| matches!(m.from, Author::Agent(_)) == agent).map(|m| m.text.clone()).collect() };
    assert_eq!(stored(false), client_sent, "stored once each, in order");
    assert_eq!(stored(true), agent_sent);
    assert!(kills + cuts + partitions > 5, "the run did inject faults");
    ann.shutdown();
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
