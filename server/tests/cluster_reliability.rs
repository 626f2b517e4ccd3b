//! The reliability property across nodes: three nodes on loopback sharing one PostgreSQL and one
//! nats-server (both real, started here); a client and an agent console in a chat, each on its own
//! node, while a generated sequence of operations runs — chat lines both ways, profile edits, either
//! party dropping its socket and coming back through another node, a gateway SIGKILLed and
//! restarted, the leader SIGKILLed and restarted. Once it settles: every request was answered, each
//! message and edit is in the database exactly once and in order, and each side was handed each of
//! the other's messages exactly once, in order.
//!
//! Cases: `FRONTDESK_CLUSTER_CASES` (default 5), each 10–30 operations, on one cluster started once
//! (each case has its own client and agent). No shrinking (each case takes seconds): a failure prints
//! the case's operations as generated. Without PostgreSQL 15 or nats-server the test says so and
//! passes, unless `FRONTDESK_REQUIRE_CLUSTER` is set.

mod cluster_support;
mod common;

use cluster_support::{have_services, nats, until, Node, Postgres, Proc};
use common::{client_token, token, TempDir};
use frontdesk_core::agent::{AgentClient, AgentClientEvent, AgentConfig};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::interaction::Author;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::profile::{Demographics, ProfilePatch};
use frontdesk_core::protocol::{AgentEvent, Event, Response};
use frontdesk_core::{InteractionId, Medium, Timestamp};
use frontdesk_net::wall_clock;
use frontdesk_net::ws::WsConnector;
use frontdesk_core::transport::Connector;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// The sans-IO surface the client and the agent console share, so one driver runs both.
trait Machine: Send + 'static {
    type Ev: Send + Debug + 'static;
    fn start(&mut self, now: Timestamp);
    fn poll_connect(&mut self) -> bool;
    fn handle_connected(&mut self, now: Timestamp);
    fn handle_disconnected(&mut self, now: Timestamp);
    fn poll_timeout(&self) -> Option<Timestamp>;
    fn handle_timeout(&mut self, now: Timestamp);
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn poll_event(&mut self) -> Option<Self::Ev>;
    fn handle_input(&mut self, now: Timestamp, data: &[u8]);
}

macro_rules! machine {
    ($t:ty, $ev:ty) => {
        impl Machine for $t {
            type Ev = $ev;
            fn start(&mut self, now: Timestamp) {
                <$t>::start(self, now)
            }
            fn poll_connect(&mut self) -> bool {
                <$t>::poll_connect(self)
            }
            fn handle_connected(&mut self, now: Timestamp) {
                <$t>::handle_connected(self, now)
            }
            fn handle_disconnected(&mut self, now: Timestamp) {
                <$t>::handle_disconnected(self, now)
            }
            fn poll_timeout(&self) -> Option<Timestamp> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Timestamp) {
                <$t>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Vec<u8>> {
                <$t>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<$ev> {
                <$t>::poll_event(self)
            }
            fn handle_input(&mut self, now: Timestamp, data: &[u8]) {
                let _ = <$t>::handle_input(self, now, data);
            }
        }
    };
}
machine!(Client, ClientEvent);
machine!(AgentClient, AgentClientEvent);

/// A party on its own driver: which node it dials next, and a switch to drop its socket.
struct Party<M: Machine> {
    m: Arc<Mutex<M>>,
    wake: Arc<Notify>,
    kick: Arc<Notify>,
    target: Arc<AtomicUsize>,
    rx: mpsc::UnboundedReceiver<M::Ev>,
    seen: Vec<M::Ev>,
    task: tokio::task::JoinHandle<()>,
}

impl<M: Machine> Party<M> {
    fn start(m: M, ports: Vec<u16>, path: &'static str, first: usize) -> Party<M> {
        let m = Arc::new(Mutex::new(m));
        let (wake, kick, target) = (Arc::new(Notify::new()), Arc::new(Notify::new()), Arc::new(AtomicUsize::new(first)));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(m.clone(), wake.clone(), kick.clone(), target.clone(), ports, path, tx));
        Party { m, wake, kick, target, rx, seen: vec![], task }
    }

    fn with<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        let r = f(&mut self.m.lock().unwrap());
        self.wake.notify_one();
        r
    }

    /// Drops the socket without a word; the party comes back through node `to`.
    fn move_to(&self, to: usize) {
        self.target.store(to, Ordering::SeqCst);
        self.kick.notify_one();
    }

    /// Files what the driver reported, waiting up to `ms` for the first.
    async fn collect(&mut self, ms: u64) {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(ms), self.rx.recv()).await {
            self.seen.push(e);
        }
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
    }

    /// Waits up to `secs` for an event `f` picks something from.
    async fn wait<R>(&mut self, secs: u64, what: &str, f: impl Fn(&M::Ev) -> Option<R>) -> Result<R, String> {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut at = 0;
        loop {
            while at < self.seen.len() {
                if let Some(r) = f(&self.seen[at]) {
                    return Ok(r);
                }
                at += 1;
            }
            if Instant::now() > end {
                return Err(format!("timed out after {secs} s waiting for {what}; last events {:?}", self.seen.iter().rev().take(5).collect::<Vec<_>>()));
            }
            self.collect(100).await;
        }
    }
}

impl<M: Machine> Drop for Party<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The driver: like `frontdesk_core::driver::client_driver`, with a node to dial chosen from
/// outside and a kick that drops the socket as a dead network would.
async fn drive<M: Machine>(m: Arc<Mutex<M>>, wake: Arc<Notify>, kick: Arc<Notify>, target: Arc<AtomicUsize>, ports: Vec<u16>, path: &'static str, tx: mpsc::UnboundedSender<M::Ev>) {
    m.lock().unwrap().start(wall_clock());
    let mut t: Option<frontdesk_core::transport::Transport> = None;
    loop {
        let now = wall_clock();
        let (connect, frames, deadline) = {
            let mut c = m.lock().unwrap();
            if c.poll_timeout().is_some_and(|d| d <= now) {
                c.handle_timeout(now);
            }
            while let Some(e) = c.poll_event() {
                let _ = tx.send(e);
            }
            let connect = c.poll_connect();
            let frames: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
            (connect, frames, c.poll_timeout())
        };
        if connect {
            t = None;
            let at = target.load(Ordering::SeqCst) % ports.len();
            let mut conn = WsConnector::new(format!("ws://127.0.0.1:{}/{path}", ports[at]));
            let r = tokio::time::timeout(Duration::from_secs(5), conn.connect()).await;
            let mut c = m.lock().unwrap();
            c.handle_connected(wall_clock());
            match r {
                Ok(Ok(x)) => t = Some(x),
                _ => {
                    // That node is down: the next attempt tries the next one.
                    let _ = target.compare_exchange(at, (at + 1) % ports.len(), Ordering::SeqCst, Ordering::SeqCst);
                    c.handle_disconnected(wall_clock());
                }
            }
            continue;
        }
        let mut failed = false;
        if let Some(x) = t.as_mut() {
            for f in frames {
                if tokio::time::timeout(Duration::from_secs(5), x.sender.send(f)).await.map_or(true, |r| r.is_err()) {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            t = None;
            m.lock().unwrap().handle_disconnected(wall_clock());
            continue;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep(Duration::from_millis(d.0.saturating_sub(wall_clock().0))).await,
                None => std::future::pending().await,
            }
        };
        let recv = async {
            match t.as_mut() {
                Some(x) => x.receiver.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            r = recv => match r {
                Ok(data) => m.lock().unwrap().handle_input(wall_clock(), &data),
                Err(_) => {
                    t = None;
                    m.lock().unwrap().handle_disconnected(wall_clock());
                }
            },
            _ = kick.notified() => {
                if t.take().is_some() {
                    m.lock().unwrap().handle_disconnected(wall_clock());
                }
            }
            _ = sleep => {}
        }
    }
}

/// One generated step.
#[derive(Debug, Clone)]
enum Op {
    ClientChat,
    AgentChat,
    ClientProfile,
    /// The client drops its socket and comes back through node n % 3.
    ClientMove(u8),
    /// The agent console drops its socket and comes back through node n % 3.
    AgentMove(u8),
    /// A node that does not lead (the first or second of them) is SIGKILLed and restarted after ms.
    KillGateway(u8, u16),
    /// The leader is SIGKILLed and restarted after ms (another node takes over).
    KillLeader(u16),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::ClientChat),
        5 => Just(Op::AgentChat),
        2 => Just(Op::ClientProfile),
        2 => any::<u8>().prop_map(Op::ClientMove),
        2 => any::<u8>().prop_map(Op::AgentMove),
        1 => (any::<u8>(), 0u16..500).prop_map(|(n, ms)| Op::KillGateway(n, ms)),
        1 => (0u16..500).prop_map(Op::KillLeader),
        2 => (0u16..400).prop_map(Op::Wait),
    ]
}

/// The shared services and the three nodes.
struct Cluster {
    tmp: TempDir,
    pg: Postgres,
    nats_port: u16,
    _nats: Proc,
    nodes: Vec<Node>,
}

impl Cluster {
    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(Node::leads_now)
    }

    async fn restart(&mut self, i: usize, after_ms: u16) {
        self.nodes[i].kill();
        tokio::time::sleep(Duration::from_millis(after_ms.into())).await;
        self.nodes[i].spawn(&self.pg, self.nats_port);
    }

    /// Warnings and errors of every node, for a failure's message.
    fn warnings(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let log = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("leads") || l.contains("===")).collect();
            out += &format!("--- node {} ---\n{}\n", n.name, lines[lines.len().saturating_sub(30)..].join("\n"));
        }
        out
    }
}

fn name_patch(n: u32) -> ProfilePatch {
    ProfilePatch { demographics: Some(Demographics { name: Some(format!("name-{n}")), ..Default::default() }), ..Default::default() }
}

fn client_party(c: &str, ports: Vec<u16>, first: usize) -> Party<Client> {
    let mut cfg = ClientConfig::new(client_token(c), 7);
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(400);
    Party::start(Client::new(cfg), ports, "client", first)
}

fn agent_party(a: &str, ports: Vec<u16>, first: usize) -> Party<AgentClient> {
    let mut cfg = AgentConfig::new(token(Principal::Agent(a.into(), AgentRole::Agent)), 9, a.to_uppercase(), vec![Medium::Chat]);
    cfg.session.backoff_initial = Duration::from_millis(50);
    cfg.session.backoff_max = Duration::from_millis(400);
    Party::start(AgentClient::new(cfg), ports, "agent", first)
}

fn client_done(p: &Party<Client>, id: u64) -> Option<Result<(), String>> {
    p.seen.iter().find_map(|e| match e {
        ClientEvent::Completed { id: i, result } if *i == id => Some(result.as_ref().map(|_| ()).map_err(|e| format!("{e:?}"))),
        _ => None,
    })
}

fn agent_done(p: &Party<AgentClient>, id: u64) -> Option<Result<Response, String>> {
    p.seen.iter().find_map(|e| match e {
        AgentClientEvent::Completed { id: i, result } if *i == id => Some(result.clone().map_err(|e| format!("{e:?}"))),
        _ => None,
    })
}

/// The agent's chat lines as the client was handed them, duplicates included.
fn client_got(p: &Party<Client>, ix: &InteractionId) -> Vec<String> {
    p.seen.iter().filter_map(|e| match e {
        ClientEvent::Pushed(Event::Chat(m)) if &m.interaction == ix && matches!(m.from, Author::Agent(_)) => Some(m.text.clone()),
        _ => None,
    }).collect()
}

/// The client's chat lines as the console was handed them, duplicates included.
fn agent_got(p: &Party<AgentClient>, ix: &InteractionId) -> Vec<String> {
    p.seen.iter().filter_map(|e| match e {
        AgentClientEvent::Pushed { event: AgentEvent::Chat(m) } if &m.interaction == ix && matches!(m.from, Author::Client(_)) => Some(m.text.clone()),
        _ => None,
    }).collect()
}

/// Runs one case; `Err` says which promise broke.
async fn run_case(cl: &mut Cluster, case: usize, ops: &[Op]) -> Result<(), String> {
    until(30, "a node leads", || cl.leader().is_some()).await;
    let (cname, aname) = (format!("alice{case}"), format!("ann{case}"));
    let mut client = client_party(&cname, cl.ports(), case % 3);
    let mut agent = agent_party(&aname, cl.ports(), (case + 1) % 3);
    agent.wait(30, "the console seated", |e| matches!(e, AgentClientEvent::Seated { .. }).then_some(())).await?;
    client.wait(30, "the client synced", |e| matches!(e, ClientEvent::Synced).then_some(())).await?;
    // The agent invites the client into a chat; the client accepts.
    agent.with(|a| a.invite(cname.as_str().into(), Medium::Chat, "hi"));
    let inv = client.wait(30, "the invitation", |e| match e {
        ClientEvent::Pushed(Event::Invitation(i)) => Some(i.id.clone()),
        _ => None,
    }).await?;
    let id = client.with(|c| c.respond_invitation(inv, true));
    let ix = client.wait(30, "the accepted invitation", |e| match e {
        ClientEvent::Completed { id: i, result: Ok(Response::Invitation(v)) } if *i == id => v.interaction.clone(),
        _ => None,
    }).await?;

    let (mut client_sent, mut agent_sent, mut client_reqs, mut agent_reqs) = (vec![], vec![], vec![], vec![]);
    let mut edits = 0u32;
    for o in ops {
        match *o {
            Op::ClientChat => {
                let t = format!("c{}", client_sent.len());
                client_reqs.push(client.with(|c| c.send_chat(ix.clone(), t.clone())));
                client_sent.push(t);
            }
            Op::AgentChat => {
                let t = format!("a{}", agent_sent.len());
                agent_reqs.push(agent.with(|a| a.send_chat(ix.clone(), t.clone())));
                agent_sent.push(t);
            }
            Op::ClientProfile => {
                edits += 1;
                client_reqs.push(client.with(|c| c.update_profile(name_patch(edits))));
            }
            Op::ClientMove(n) => client.move_to(n as usize % 3),
            Op::AgentMove(n) => agent.move_to(n as usize % 3),
            Op::KillGateway(n, ms) => {
                let lead = cl.leader();
                let others: Vec<usize> = (0..3).filter(|i| Some(*i) != lead).collect();
                cl.restart(others[n as usize % others.len()], ms).await;
            }
            Op::KillLeader(ms) => {
                if let Some(l) = cl.leader() {
                    cl.restart(l, ms).await;
                }
            }
            Op::Wait(ms) => tokio::time::sleep(Duration::from_millis(ms.into())).await,
        }
        client.collect(0).await;
        agent.collect(0).await;
    }

    // Settle: every request answered, each side handed everything the other wrote.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        client.collect(100).await;
        agent.collect(100).await;
        let answered = client_reqs.iter().all(|id| client_done(&client, *id).is_some()) && agent_reqs.iter().all(|id| agent_done(&agent, *id).is_some());
        if answered && client_got(&client, &ix).len() >= agent_sent.len() && agent_got(&agent, &ix).len() >= client_sent.len() {
            break;
        }
        if Instant::now() > end {
            return Err(format!(
                "not settled in 60 s: client requests unanswered {:?}, agent requests unanswered {:?}; the client got {:?} of {:?}, the agent {:?} of {:?}",
                client_reqs.iter().filter(|id| client_done(&client, **id).is_none()).collect::<Vec<_>>(),
                agent_reqs.iter().filter(|id| agent_done(&agent, **id).is_none()).collect::<Vec<_>>(),
                client_got(&client, &ix), agent_sent, agent_got(&agent, &ix), client_sent
            ));
        }
    }
    // Anything handed twice would come now.
    client.collect(300).await;
    agent.collect(300).await;
    for id in &client_reqs {
        client_done(&client, *id).expect("answered").map_err(|e| format!("client request {id} refused: {e}"))?;
    }
    for id in &agent_reqs {
        agent_done(&agent, *id).expect("answered").map_err(|e| format!("agent request {id} refused: {e}"))?;
    }
    check("the client was handed the agent's lines", &client_got(&client, &ix), &agent_sent)?;
    check("the console was handed the client's lines", &agent_got(&agent, &ix), &client_sent)?;

    // What the database holds, read through the leader.
    let id = agent.with(|a| a.request(frontdesk_core::protocol::AgentRequest::Transcript { interaction: ix.clone(), before: None, limit: Some(200) }));
    let r = agent.wait(30, "the transcript", |e| match e {
        AgentClientEvent::Completed { id: i, result } if *i == id => Some(result.clone()),
        _ => None,
    }).await?;
    let Ok(Response::Transcript(msgs)) = r else { return Err(format!("transcript: {r:?}")) };
    let by = |client: bool| msgs.iter().filter(|m| matches!(m.from, Author::Client(_)) == client).map(|m| m.text.clone()).collect::<Vec<_>>();
    check("the stored client lines", &by(true), &client_sent)?;
    check("the stored agent lines", &by(false), &agent_sent)?;
    let id = agent.with(|a| a.client_profile(cname.as_str().into()));
    let r = agent.wait(30, "the client's profile", |e| match e {
        AgentClientEvent::Completed { id: i, result } if *i == id => Some(result.clone()),
        _ => None,
    }).await?;
    let Ok(Response::Profile(p)) = r else { return Err(format!("profile: {r:?}")) };
    if p.revision != u64::from(edits) {
        return Err(format!("{edits} profile edits acknowledged, the stored profile is at revision {}", p.revision));
    }
    let want = (edits > 0).then(|| format!("name-{edits}"));
    if p.demographics.name != want || client.with(|c| c.view().profile.demographics.name.clone()) != want {
        return Err(format!("the last edit ({want:?}) is not what is stored ({:?}) or what the client shows", p.demographics.name));
    }
    Ok(())
}

fn check(what: &str, got: &[String], want: &[String]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, want exactly {want:?}"))
    }
}

#[test]
fn every_acknowledged_message_and_edit_arrives_once_in_order_across_nodes_that_die() {
    if !have_services() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cluster = rt.block_on(async {
        let tmp = TempDir::new("cluster-reliability");
        let pg = Postgres::start(&tmp);
        let nats_port = common::free_port();
        let nats = nats(nats_port);
        let a = Node::start("a", &pg, nats_port, &tmp);
        until(30, "a leads", || a.leads_now()).await;
        let nodes = vec![a, Node::start("b", &pg, nats_port, &tmp), Node::start("c", &pg, nats_port, &tmp)];
        for n in &nodes {
            common::wait_listening(n.port).await;
        }
        Cluster { tmp, pg, nats_port, _nats: nats, nodes }
    });
    let cluster = RefCell::new(cluster);
    let cases = std::env::var("FRONTDESK_CLUSTER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut runner = TestRunner::new(Config { cases, max_shrink_iters: 0, failure_persistence: None, ..Config::default() });
    let case = AtomicUsize::new(0);
    let started = Instant::now();
    let stats: RefCell<HashMap<&str, usize>> = RefCell::default();
    let r = runner.run(&proptest::collection::vec(op(), 10..=30), |ops| {
        let n = case.fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        let mut cl = cluster.borrow_mut();
        let r = rt.block_on(run_case(&mut cl, n, &ops));
        for o in &ops {
            let k = match o {
                Op::KillGateway(..) => "gateway kills",
                Op::KillLeader(_) => "leader kills",
                Op::ClientMove(_) | Op::AgentMove(_) => "moves",
                _ => "messages, edits, waits",
            };
            *stats.borrow_mut().entry(k).or_default() += 1;
        }
        eprintln!("case {n}: {} operations in {:.1} s: {}", ops.len(), t.elapsed().as_secs_f64(), if r.is_ok() { "ok" } else { "FAILED" });
        r.map_err(|e| TestCaseError::fail(format!("case {n}: {e}\noperations: {ops:?}\n{}", cl.warnings())))
    });
    eprintln!("{cases} cases in {:.1} s; {:?}", started.elapsed().as_secs_f64(), stats.borrow());
    let _ = &cluster.borrow().tmp;
    if let Err(e) = r {
        panic!("{e}");
    }
}
