//! Three nodes on loopback sharing one PostgreSQL and one NATS (both real, started here): a client on
//! one node and an agent on another chat both ways, a status change reaches a watcher on the third,
//! and a SIGKILL of the leading node loses nothing acknowledged — its clients fail over to the
//! other nodes, which take over the broker from the database.
//!
//! Without PostgreSQL 15 or nats-server the tests say so and pass, unless `FRONTDESK_REQUIRE_CLUSTER`
//! is set (tests/run-all.sh sets it): then they fail.

mod cluster_support;
mod common;

use cluster_support::{have_services, nats, until, Postgres, Services};
use common::{client_token, Agent, TempDir};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::driver::{client_driver, Handle};
use frontdesk_core::interaction::Author;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;
use frontdesk_net::ws::WsConnector;
use frontdesk_net::TokioRuntime;
use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// A client on the async driver whose URL lists several nodes.
struct App {
    h: Handle<Client>,
    rx: UnboundedReceiver<ClientEvent>,
    seen: Vec<ClientEvent>,
}

impl App {
    fn start(urls: &[String], c: &str) -> App {
        let mut cfg = ClientConfig::new(client_token(c), 7);
        cfg.backoff_initial = Duration::from_millis(50);
        cfg.backoff_max = Duration::from_millis(400);
        let list = urls.iter().map(|u| format!("{u}/client")).collect::<Vec<_>>().join(",");
        let (h, rx, fut) = client_driver(Client::new(cfg), WsConnector::new(list), TokioRuntime);
        tokio::spawn(fut);
        App { h, rx, seen: vec![] }
    }

    async fn wait(&mut self, secs: u64, f: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        if let Some(i) = self.seen.iter().position(&f) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let e = tokio::time::timeout_at(deadline, self.rx.next()).await.unwrap_or_else(|_| panic!("timed out; last {:?}", self.seen.iter().rev().take(4).collect::<Vec<_>>())).expect("driver");
            if f(&e) {
                return e;
            }
            self.seen.push(e);
        }
    }

    async fn answer(&mut self, id: u64, secs: u64) -> Result<Response, frontdesk_core::protocol::ErrorBody> {
        match self.wait(secs, |e| matches!(e, ClientEvent::Completed { id: i, .. } if *i == id)).await {
            ClientEvent::Completed { result, .. } => result,
            _ => unreachable!(),
        }
    }
}

/// Reattaches a console whose node closed its socket (the leader changed), until it resumes.
async fn back(a: &mut Agent, secs: u64) {
    assert!(a.reattach(secs).await, "the console's session resumed on the new leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_broker_and_a_sigkilled_leader_loses_nothing() {
    let Some(s) = Services::start("cluster") else { return };
    // A leads (it starts first); B and C follow.
    let mut a = s.node("a", &[], &[]);
    let end = Instant::now() + Duration::from_secs(20);
    while !a.leads() {
        assert!(Instant::now() < end, "node a did not lead: {}", std::fs::read_to_string(&a.log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = s.node("b", &[], &[]);
    let c = s.node("c", &[], &[]);
    for n in [&a, &b, &c] {
        common::wait_listening(n.port).await;
    }
    assert!(!b.leads() && !c.leads(), "one leader");

    // Ann's console on B, Alice on A (failing over to B and C), Bob on C.
    let mut ann = Agent::connect(&b.base(), "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&[a.base(), b.base(), c.base()], "alice");
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let mut bob = App::start(&[c.base()], "bob");
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;

    // A chat across nodes, both ways.
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, Some("across nodes".into())));
    let Ok(Response::Interaction(li)) = alice.answer(id, 10).await else { panic!("not started") };
    let offered = ann.event(|e| matches!(e, AgentEvent::Offered(_))).await;
    assert!(matches!(offered, AgentEvent::Offered(o) if o.id == li.id));
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    let id = alice.h.with(|c| c.send_chat(li.id.clone(), "hello from node a"));
    alice.answer(id, 10).await.unwrap();
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.text == "hello from node a")).await;
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "hello from node b".into() }).await.unwrap();
    alice.wait(10, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "hello from node b")).await;

    // A status change made on B reaches the watcher on C.
    ann.request(AgentRequest::SetState { state: AgentState::AfterWork }).await.unwrap();
    until(10, "bob on node c sees ann's state set on node b", || bob_sees(&bob_view(&bob), AgentState::AfterWork)).await;

    // Traffic, and the leader killed in the middle of it.
    let started = Instant::now();
    let mut acked = vec![];
    for i in 0..40 {
        if i == 15 {
            a.kill();
        }
        let text = format!("message {i}");
        let id = alice.h.with(|c| c.send_chat(li.id.clone(), text.clone()));
        // Queued while the cluster changes leader; answered once a new one has the database.
        if alice.answer(id, 30).await.is_ok() {
            acked.push(text);
        }
    }
    let failover = started.elapsed();
    until(20, "b or c leads", || b.leads() || c.leads()).await;
    assert_eq!(acked.len(), 40, "every message was answered, none refused");
    eprintln!("40 messages with a leader SIGKILLed after 15: {:.1} s; new leader {}", failover.as_secs_f64(), if b.leads() { "b" } else { "c" });

    // The console comes back on B and sees each message once, in order.
    back(&mut ann, 20).await;
    let r = ann.request(AgentRequest::Transcript { interaction: li.id.clone(), before: None, limit: Some(200) }).await;
    let Ok(Response::Transcript(msgs)) = r else { panic!("transcript: {r:?}") };
    let mine: Vec<&str> = msgs.iter().filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.text.as_str()).collect();
    let mut want = vec!["hello from node a"];
    want.extend(acked.iter().map(String::as_str));
    assert_eq!(mine, want, "every acknowledged message exactly once, in order");
    // The chat goes on both ways on the new leader.
    ann.request(AgentRequest::SendChat { interaction: li.id.clone(), text: "still here".into() }).await.unwrap();
    alice.wait(20, |e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "still here")).await;
    let _ = (b, c);
}

fn bob_view(bob: &App) -> Option<frontdesk_core::status::CenterStatus> {
    bob.h.with(|c| c.view().center.clone())
}

fn bob_sees(center: &Option<frontdesk_core::status::CenterStatus>, state: AgentState) -> bool {
    center.as_ref().is_some_and(|c| c.agents.iter().any(|a| a.id.as_str() == "ann" && a.state == state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_and_postgres_restarts_mid_traffic_lose_nothing_acknowledged() {
    let Some(mut s) = Services::start("cluster-restarts") else { return };
    let a = s.node("a", &[], &[]);
    let b = s.node("b", &[], &[]);
    until(20, "a node leads", || a.leads() || b.leads()).await;
    for n in [&a, &b] {
        common::wait_listening(n.port).await;
    }
    let mut ann = Agent::connect(&a.base(), "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&[b.base(), a.base()], "alice");
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id, 10).await else { panic!("not started") };
    ann.event(|e| matches!(e, AgentEvent::Offered(_))).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    let mut acked = vec![];
    let started = Instant::now();
    for i in 0..30 {
        if i == 10 {
            // NATS goes away (its process is dropped) and comes back on the same port.
            drop(s.nats.take());
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.nats = Some(nats(s.nats_port));
        }
        if i == 20 {
            s.pg.restart();
        }
        let text = format!("message {i}");
        let id = alice.h.with(|c| c.send_chat(li.id.clone(), text.clone()));
        if alice.answer(id, 40).await.is_ok() {
            acked.push(text);
        }
    }
    eprintln!("30 messages through a NATS restart and a PostgreSQL restart: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(acked.len(), 30, "every message answered");
    let logs = [&a, &b].map(|n| std::fs::read_to_string(&n.log).unwrap_or_default());
    assert!(logs.iter().any(|l| l.contains("stopped leading")), "the PostgreSQL restart cost the leader its lock, and it queued again");
    assert_eq!(logs.iter().map(|l| l.matches("this node leads").count()).sum::<usize>(), 2, "led twice in all: before and after the restart");
    // The console was cut off meanwhile (its node dropped its sockets with NATS): it resumes, and
    // reads each message once, in order.
    back(&mut ann, 20).await;
    let r = ann.request(AgentRequest::Transcript { interaction: li.id.clone(), before: None, limit: Some(200) }).await;
    let Ok(Response::Transcript(msgs)) = r else { panic!("transcript: {r:?}") };
    let mine: Vec<&str> = msgs.iter().filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.text.as_str()).collect();
    assert_eq!(mine, acked.iter().map(String::as_str).collect::<Vec<_>>(), "every acknowledged message exactly once, in order");
    drop(s.nats.take());
}

/// A bare WebSocket watcher of the center: every text frame it reads, and whether its socket ended.
struct Watcher {
    frames: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _tx: futures::stream::SplitSink<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, tokio_tungstenite::tungstenite::Message>,
}

impl Watcher {
    async fn start(base: &str, name: &str) -> Watcher {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        let (ws, _) = tokio_tungstenite::connect_async(format!("{base}/client")).await.expect("connect");
        let (mut tx, mut rx) = ws.split();
        let tok = client_token(name);
        tx.send(Message::text(format!(r#"{{"t":"hello","v":1,"token":"{tok}","instance":1,"last_seq":0,"next_request":1}}"#))).await.unwrap();
        tx.send(Message::text(r#"{"t":"request","id":1,"req":{"op":"watch","presentity":"center"}}"#)).await.unwrap();
        let w = Watcher { frames: Default::default(), ended: Default::default(), _tx: tx };
        let (frames, ended) = (w.frames.clone(), w.ended.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m {
                    frames.lock().unwrap().push(t.as_str().to_owned());
                }
            }
            ended.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        w
    }

    fn count(&self, needle: &str) -> usize {
        self.frames.lock().unwrap().iter().filter(|f| f.contains(needle)).count()
    }

    fn ended(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What arrived on `fd.out.<node>` so far, by node.
async fn drain_out(sub: &mut async_nats::Subscriber, got: &mut Vec<async_nats::Message>, for_ms: u64) {
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(for_ms), sub.next()).await {
        got.push(m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_crosses_nats_once_per_gateway_and_a_lost_message_is_repaired() {
    let Some(s) = Services::start("cluster-fanout") else { return };
    let a = s.leader("a", &[], &[]).await;
    let b = s.node("b", &[], &[]);
    let c = s.node("c", &[], &[]);
    for n in [&a, &b, &c] {
        common::wait_listening(n.port).await;
    }
    let bus = async_nats::connect(format!("nats://127.0.0.1:{}", s.nats_port)).await.unwrap();
    let mut out = bus.subscribe("fd.out.>").await.unwrap();

    // Ann's console on the leader; two watchers on each of B and C, and Bob (who resumes) on B.
    let mut ann = Agent::connect(&a.base(), "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let watchers = [Watcher::start(&b.base(), "w1").await, Watcher::start(&b.base(), "w2").await, Watcher::start(&c.base(), "w3").await, Watcher::start(&c.base(), "w4").await];
    let mut bob = App::start(&[b.base()], "bob");
    bob.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    until(10, "every watcher has the center", || watchers.iter().all(|w| w.count("\"ann\"") >= 1) && bob_sees(&bob_view(&bob), AgentState::Available)).await;
    let mut got = vec![];
    drain_out(&mut out, &mut got, 300).await;

    // One change: each watcher reads it once, and each gateway's NATS subject carries it once.
    ann.request(AgentRequest::SetState { state: AgentState::AfterWork }).await.unwrap();
    until(10, "every watcher sees after_work", || watchers.iter().all(|w| w.count("\"after_work\"") >= 1)).await;
    got.clear();
    drain_out(&mut out, &mut got, 300).await;
    for w in &watchers {
        assert_eq!(w.count("\"after_work\""), 1, "once per watcher");
    }
    for node in ["b", "c"] {
        let msgs: Vec<_> = got.iter().filter(|m| m.subject.as_str() == format!("fd.out.{node}")).collect();
        let entries: Vec<_> = msgs.iter().flat_map(|m| frontdesk_server::cluster::decode_out(&m.payload).expect("an fd.out batch")).filter(|e| std::str::from_utf8(&e.frame).is_ok_and(|f| f.contains("\"after_work\""))).collect();
        let watching = if node == "b" { 3 } else { 2 };
        eprintln!("fd.out.{node}: {} message(s), {} payload bytes for one change to {watching} watchers", msgs.len(), msgs.iter().map(|m| m.payload.len()).sum::<usize>());
        assert_eq!(entries.len(), 1, "node {node}: the change crossed NATS once ({} messages)", msgs.len());
        assert_eq!(entries[0].socks.len(), watching, "node {node}: one entry names every watcher there");
    }

    // A lost message on fd.out.b that the leader never sent (forged: a thousand numbers skipped): B
    // asks for the missing ones, the leader has not got them, B drops its sockets, and Bob resumes
    // through it and sees the next change.
    // (The last numbered one: an idle leader's announcement of its last number carries none.)
    let last = got.iter().rev().find(|m| m.subject.as_str() == "fd.out.b" && m.headers.as_ref().is_some_and(|h| h.get("q").is_some())).expect("a message to b");
    let h = last.headers.clone().unwrap();
    let q: u64 = h.get("q").unwrap().as_str().parse().unwrap();
    let mut forged = async_nats::HeaderMap::new();
    forged.insert("e", h.get("e").unwrap().as_str());
    forged.insert("r", h.get("r").unwrap().as_str());
    forged.insert("q", (q + 1000).to_string().as_str());
    bus.publish_with_headers("fd.out.b", forged, Vec::new().into()).await.unwrap();
    bus.flush().await.unwrap();
    until(10, "b's watchers are dropped", || watchers[..2].iter().all(Watcher::ended)).await;
    assert!(watchers[2..].iter().all(|w| !w.ended()), "c's watchers are untouched");
    let log = std::fs::read_to_string(&b.log).unwrap();
    assert!(log.contains("the leader no longer has") && log.contains("dropping this node's sockets so they resume"), "the gap is logged: {log}");
    ann.request(AgentRequest::SetState { state: AgentState::Away }).await.unwrap();
    until(30, "bob on b sees ann away after the gap", || bob_sees(&bob_view(&bob), AgentState::Away)).await;
    until(10, "c's watchers see away once", || watchers[2..].iter().all(|w| w.count("\"away\"") == 1)).await;
    let _ = (a, c);
}

fn product(id: &str) -> frontdesk_core::records::Product {
    frontdesk_core::records::Product { id: id.into(), name: id.to_uppercase(), description: format!("The {id}") }
}

#[test]
fn a_deposed_leaders_commits_fail_and_leave_nothing_in_postgres() {
    use frontdesk_core::broker::store::DataStore;
    use frontdesk_server::pg_store::PgStore;
    if !have_services() {
        return;
    }
    let tmp = TempDir::new("cluster-fence");
    let pg = Postgres::start(&tmp);
    let (mut first, first_epoch) = PgStore::connect_leader(&pg.url()).unwrap();
    first.put_product(&product("kept")).unwrap();
    first.commit().unwrap();
    // A unit in flight when the epoch moves on: its writes already sit in the open transaction
    // (a read flushed them there and sees them).
    first.put_product(&product("in-flight")).unwrap();
    assert_eq!(first.products().unwrap().len(), 2);
    let (mut second, second_epoch) = PgStore::connect_leader(&pg.url()).unwrap();
    assert_eq!(second_epoch.epoch, first_epoch.epoch + 1, "each leader takes the next epoch");
    assert!(!first_epoch.is_deposed(), "nobody is told before committing");
    let e = first.commit().unwrap_err();
    assert!(e.0.contains("fenced"), "{e}");
    assert!(first_epoch.is_deposed(), "the failed commit deposes the old leader");
    // Every later unit of the old leader fails too, whether written in one go or flushed early.
    first.put_product(&product("later")).unwrap();
    assert!(first.commit().is_err());
    first.put_order(&frontdesk_core::records::Order {
        id: "o1".into(),
        client: "alice".into(),
        product: "kept".into(),
        status: frontdesk_core::records::OrderStatus::Placed,
        history: vec![],
        delivery: frontdesk_core::records::DeliveryDetails { address: "1 Main St".into(), window: None, instructions: None },
        revision: 1,
    }).unwrap();
    let _ = first.orders(&"alice".into()).unwrap();
    assert!(first.commit().is_err());
    // The new leader commits as usual.
    second.put_product(&product("new-leader")).unwrap();
    second.commit().unwrap();
    assert!(!second_epoch.is_deposed());
    let ids: Vec<String> = pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM products").split(',').map(str::to_owned).collect();
    assert_eq!(ids, ["kept", "new-leader"], "nothing the deposed leader tried is in PostgreSQL");
    assert_eq!(pg.psql("SELECT count(*) FROM orders"), "0");
    assert_eq!(pg.psql("SELECT epoch FROM leader_epoch"), second_epoch.epoch.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_epoch_was_taken_stops_leading_and_its_refused_commit_is_never_answered() {
    let Some(s) = Services::start("cluster-fenced-node") else { return };
    let a = s.leader("a", &[], &[]).await;
    let b = s.node("b", &[], &[]);
    for n in [&a, &b] {
        common::wait_listening(n.port).await;
    }
    let mut ann = Agent::connect(&b.base(), "ann", vec![Medium::Chat]).await;
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&[b.base()], "alice");
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id, 10).await else { panic!("not started") };
    ann.event(|e| matches!(e, AgentEvent::Offered(_))).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    let id = alice.h.with(|c| c.send_chat(li.id.clone(), "before"));
    alice.answer(id, 10).await.unwrap();
    // Another leader's epoch, as if a node had taken the lock while A was cut off from its lock
    // connection only: A's next commit is refused, A stops leading, and the message it could not
    // commit is answered only once a leader has it in PostgreSQL.
    s.pg.psql("UPDATE leader_epoch SET epoch = epoch + 1");
    let id = alice.h.with(|c| c.send_chat(li.id.clone(), "after"));
    alice.answer(id, 30).await.unwrap();
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("stopped leading: fenced: another node took a newer leader epoch"), "{log}");
    back(&mut ann, 20).await;
    let r = ann.request(AgentRequest::Transcript { interaction: li.id.clone(), before: None, limit: Some(50) }).await;
    let Ok(Response::Transcript(msgs)) = r else { panic!("transcript: {r:?}") };
    let mine: Vec<&str> = msgs.iter().filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.text.as_str()).collect();
    assert_eq!(mine, ["before", "after"], "the refused message was not answered by the deposed leader, then committed once");
    let _ = b;
}

/// The presence deltas a bare watcher read, as (entity, base, version), in arrival order.
fn deltas(w: &Watcher) -> Vec<(String, u64, u64)> {
    w.frames
        .lock()
        .unwrap()
        .iter()
        .filter_map(|f| serde_json::from_str::<serde_json::Value>(f).ok())
        .filter(|v| v["t"] == "delta")
        .map(|v| (v["delta"]["entity"].to_string(), v["delta"]["base"].as_u64().unwrap(), v["delta"]["version"].as_u64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_lost_on_fd_out_is_resent_from_the_window_and_no_socket_is_dropped() {
    let Some(s) = Services::start("cluster-resend") else { return };
    // A leads and never publishes its 3rd and 40th messages to B (a test hook): NATS "lost" them.
    let a = s.leader("a", &[("FRONTDESK_TEST_DROP_FD_OUT", "b:3,40")], &[]).await;
    let b = s.node("b", &[], &[]);
    for n in [&a, &b] {
        common::wait_listening(n.port).await;
    }
    // First a quiet cluster: Ann's console alone on B, one request at a time, so a lost message
    // has nothing after it to show the gap but the leader's last number (an answer lost so once
    // waited for the next unrelated change).
    let mut ann = Agent::connect(&b.base(), "ann", vec![Medium::Chat]).await;
    for i in 0..4 {
        let state = if i % 2 == 0 { AgentState::Away } else { AgentState::Available };
        let t = std::time::Instant::now();
        ann.request(AgentRequest::SetState { state }).await.expect("answered on the same socket");
        assert!(t.elapsed() < Duration::from_secs(2), "answered within the gap wait, not by a resumed socket: {:?}", t.elapsed());
    }
    let blog = std::fs::read_to_string(&b.log).unwrap();
    assert!(blog.contains("the leader's last number shows messages missing at the end"), "the tail showed the lost message: {blog}");
    // Then a busy one: a watcher of the center on B, and on A Bea, whose state changes keep
    // messages flowing to B whatever Ann waits for.
    let watcher = Watcher::start(&b.base(), "w1").await;
    let mut bea = Agent::connect(&a.base(), "bea", vec![Medium::Chat]).await;
    let churn = tokio::spawn(async move {
        for i in 0..30 {
            let state = if i % 2 == 0 { AgentState::Available } else { AgentState::Away };
            bea.request(AgentRequest::SetState { state }).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        bea
    });
    for i in 0..10 {
        let state = if i % 2 == 0 { AgentState::Available } else { AgentState::AfterWork };
        ann.request(AgentRequest::SetState { state }).await.expect("answered on the same socket");
    }
    let _bea = churn.await.unwrap();
    ann.drain(300).await;
    until(10, "the watcher saw bea's last state", || watcher.count("\"bea\"") > 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let alog = std::fs::read_to_string(&a.log).unwrap();
    let blog = std::fs::read_to_string(&b.log).unwrap();
    assert!(alog.contains("fd.out message 3 not published"), "the hook dropped a message: {alog}");
    assert!(alog.contains("fd.out message 40 not published"), "the hook dropped a second message: {alog}");
    assert!(blog.contains("a gap was repaired from the leader's resend window"), "B repaired the gap: {blog}");
    assert!(!blog.contains("dropping this node's sockets"), "no socket dropped: {blog}");
    assert!(!watcher.ended(), "the watcher's socket stayed up");
    // Every frame once, in order: Ann's ten answers came on her one socket (a dropped one would
    // have failed her request), and the watcher's deltas form one unbroken chain.
    // Each delta builds on the version the one before it made: one lost, doubled or overtaken
    // would break the chain.
    let ds = deltas(&watcher);
    assert!(ds.len() >= 20, "the watcher saw the changes: {ds:?}");
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for (entity, base, version) in &ds {
        if let Some(v) = last.get(entity) {
            assert_eq!(base, v, "{entity}: a delta on the version before it, in order, once: {ds:?}");
        }
        last.insert(entity.clone(), *version);
    }
    let ann_seqs: Vec<u64> = ann.raw.iter().map(|(q, _)| *q).collect();
    assert_eq!(ann_seqs, (1..=ann_seqs.len() as u64).collect::<Vec<_>>(), "ann's events (if any), once each, in order");
    let _ = (a, b);
}

/// The last value of `field=N` in a log's lines containing `what`.
fn logged_figure(log: &str, what: &str, field: &str) -> Option<u64> {
    let key = format!("{field}=");
    log.lines().filter(|l| l.contains(what)).filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix(&key)?.parse().ok())).next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_on_a_gateway_has_its_events_held_by_the_leader_and_then_gets_each_once() {
    let Some(s) = Services::start("cluster-backpressure") else { return };
    let water = ["--out-high-water", "65536", "--out-low-water", "16384"];
    let a = s.leader("a", &[], &water).await;
    let b = s.node("b", &[], &water);
    for n in [&a, &b] {
        common::wait_listening(n.port).await;
    }
    // Ann's console on B (with a small TCP receive buffer: her stall shows at once), Alice on A,
    // in a chat.
    let mut ann = Agent::new(&b.base(), "ann");
    ann.recv_buffer = Some(4096);
    assert!(!ann.attach().await);
    ann.request(AgentRequest::LogIn { name: "ANN".into(), skills: vec!["router".into()], media: vec![Medium::Chat] }).await.unwrap();
    ann.request(AgentRequest::SetState { state: AgentState::Available }).await.unwrap();
    let mut alice = App::start(&[a.base()], "alice");
    alice.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = alice.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, None));
    let Ok(Response::Interaction(li)) = alice.answer(id, 10).await else { panic!("not started") };
    ann.event(|e| matches!(e, AgentEvent::Offered(_))).await;
    ann.request(AgentRequest::Accept { interaction: li.id.clone() }).await.unwrap();
    // Ann stops reading while Alice writes 300 lines of 8 KB (2.4 MB) to her.
    let n = 300;
    let filler = "x".repeat(8000);
    for i in 0..n {
        let id = alice.h.with(|c| c.send_chat(li.id.clone(), format!("{i:04} {filler}")));
        alice.answer(id, 10).await.expect("alice's line answered");
    }
    until(10, "the leader held ann's events for her gateway", || std::fs::read_to_string(&a.log).is_ok_and(|l| l.contains("sessions held for their gateways' back-pressure"))).await;
    // While she is stalled, B's queue for her stays near the high-water mark, far below what was
    // sent: B's next 5 s figures (logged after the last line was answered) say so.
    let marks = std::fs::read_to_string(&b.log).unwrap().matches("fd.out.b received").count();
    until(12, "b logged its figures", || std::fs::read_to_string(&b.log).is_ok_and(|l| l.matches("fd.out.b received").count() > marks)).await;
    let blog = std::fs::read_to_string(&b.log).unwrap();
    let peak = logged_figure(&blog, "fd.out.b received", "peak_queued").unwrap();
    let pauses = logged_figure(&blog, "fd.out.b received", "pauses").unwrap();
    eprintln!("a reader stalled on a gateway: 2.4 MB sent to it, {pauses} pause(s), at most {peak} bytes queued for it on the gateway (high-water mark 65536)");
    assert!(pauses >= 1, "the gateway paused the session");
    assert!(peak < 256 << 10, "the gateway's queue stayed bounded while she was stalled: {peak} bytes");
    // She reads again: every line once, in order, on the same socket.
    let end = Instant::now() + Duration::from_secs(30);
    while !ann.delivered.iter().any(|e| matches!(e, AgentEvent::Chat(m) if m.text.starts_with(&format!("{:04} ", n - 1)))) {
        assert!(Instant::now() < end, "ann did not get alice's last line");
        ann.drain(200).await;
    }
    let lines: Vec<String> = ann.delivered.iter().filter_map(|e| match e {
        AgentEvent::Chat(m) if matches!(m.from, Author::Client(_)) => Some(m.text[..4].to_owned()),
        _ => None,
    }).collect();
    assert_eq!(lines, (0..n).map(|i| format!("{i:04}")).collect::<Vec<_>>(), "every line once, in order");
    let seqs: Vec<u64> = ann.raw.iter().map(|(q, _)| *q).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no event twice, none skipped");
    let blog = std::fs::read_to_string(&b.log).unwrap();
    assert!(!blog.contains("dropping this node's sockets"), "{blog}");
    let _ = (a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_logs_how_many_sockets_it_closed_for_silence() {
    let Some(s) = Services::start("cluster-idle") else { return };
    let a = s.leader("a", &[], &[]).await;
    let b = s.node("b", &[], &["--idle-timeout-secs", "1"]);
    common::wait_listening(b.port).await;
    // Three watchers that never ping: B closes them after a second of silence, and says how many.
    let ws = [Watcher::start(&b.base(), "w1").await, Watcher::start(&b.base(), "w2").await, Watcher::start(&b.base(), "w3").await];
    until(10, "b closed the silent sockets", || ws.iter().all(Watcher::ended)).await;
    until(12, "b logged the idle closes", || std::fs::read_to_string(&b.log).is_ok_and(|l| l.contains("idle sockets closed in the last 5 s"))).await;
    let log = std::fs::read_to_string(&b.log).unwrap();
    let closed: u64 = log.lines().filter(|l| l.contains("idle sockets closed")).filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("closed=")?.parse::<u64>().ok())).sum();
    assert_eq!(closed, 3, "{log}");
    let _ = (a, b);
}

fn png(n: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..n).map(|i| (i % 251) as u8));
    v
}

/// POST /visitor on `port`: (status, answer).
async fn visitor(port: u16, body: &str) -> (u16, serde_json::Value) {
    let (status, _, b) = common::http(port, "POST", "/visitor", None, "text/plain", body.as_bytes()).await;
    (status, serde_json::from_slice(&b).unwrap_or_default())
}

/// Files and a visitor's identification through any node, though only the leader holds the
/// broker: a client posts a picture on a follower, the agent reads the same bytes on the leader and
/// the client on the third node, nobody else can; a file larger than NATS carries between nodes is
/// refused as too large; a visitor who identifies on a follower keeps the conversation it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_a_visitors_identification_work_through_any_node() {
    use frontdesk_core::principal::{AgentRole, Principal};
    use hmac::{KeyInit, Mac};
    let Some(s) = Services::start("cluster-http") else { return };
    let args = ["--site-key", "shop-1", "--identity-secret", "site-identity-secret", "--attachment-max-bytes", "3000000"];
    let a = s.leader("a", &[], &args).await;
    let b = s.node("b", &[], &args);
    let c = s.node("c", &[], &args);
    for n in [&a, &b, &c] {
        common::wait_listening(n.port).await;
    }
    let (mut ann, _alice, li) = common::chat_between(&b.base(), "ann", "alice").await;
    let (alice_token, ann_token) = (client_token("alice"), common::token(Principal::Agent("ann".into(), AgentRole::Agent)));
    let ix = li.id.0.clone();

    let picture = png(200_000);
    let (status, _, body) = common::http(b.port, "POST", &format!("/attachments/{ix}?name=pic.png"), Some(&alice_token), "image/png", &picture).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let msg: frontdesk_core::interaction::ChatMessage = serde_json::from_slice(&body).unwrap();
    assert_eq!(msg.attachment.as_ref().map(|m| m.size), Some(picture.len() as u64));
    ann.event(|e| matches!(e, AgentEvent::Chat(m) if m.seq == msg.seq && m.attachment.is_some())).await;
    let path = format!("/attachments/{ix}/{}", msg.seq);
    for (node, t) in [(&a, &ann_token), (&c, &alice_token)] {
        let (status, _, got) = common::http(node.port, "GET", &path, Some(t), "text/plain", b"").await;
        assert_eq!(status, 200, "GET on node {}: {}", node.name, String::from_utf8_lossy(&got));
        assert!(got == picture, "the same bytes through node {}", node.name);
    }
    let (status, _, _) = common::http(c.port, "GET", &path, Some(&client_token("mallory")), "text/plain", b"").await;
    assert_eq!(status, 404, "another client cannot read it through any node");
    // Within the policy's 3 MB but over NATS's 1 MiB: refused, with the reason, and nothing posted.
    let (status, _, body) = common::http(b.port, "POST", &format!("/attachments/{ix}?name=big.png"), Some(&alice_token), "image/png", &png(1_500_000)).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("max_payload"), "{}", String::from_utf8_lossy(&body));

    // A visitor (a token from node c) chats anonymously, then identifies on node b.
    let (status, v) = visitor(c.port, r#"{"site":"shop-1"}"#).await;
    assert_eq!(status, 200, "{v}");
    let mut cfg = ClientConfig::new(v["token"].as_str().unwrap().to_owned(), 1);
    cfg.backoff_initial = Duration::from_millis(50);
    let mut guest = common::App::start(&c.base(), cfg);
    guest.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = guest.h.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, Some("before signing in".into())));
    let Ok(Response::Interaction(visit)) = guest.answer(id).await else { panic!("not started") };
    let id = guest.h.with(|c| c.end_interaction(visit.id.clone()));
    guest.answer(id).await.unwrap();
    guest.h.shutdown();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"site-identity-secret").unwrap();
    mac.update(b"dana-7");
    let hash: String = mac.finalize().into_bytes().iter().map(|x| format!("{x:02x}")).collect();
    let body = format!(r#"{{"site":"shop-1","visitor":"{}","user":"dana-7","hash":"{hash}"}}"#, v["visitor"].as_str().unwrap());
    let (status, u) = visitor(b.port, &body).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["adopted"].as_u64(), Some(1), "the visitor's conversation moved: {u}");
    let mut cfg = ClientConfig::new(u["token"].as_str().unwrap().to_owned(), 1);
    cfg.backoff_initial = Duration::from_millis(50);
    let mut dana = common::App::start(&a.base(), cfg);
    dana.wait(10, |e| matches!(e, ClientEvent::Synced)).await;
    let id = dana.h.with(|c| c.get_history(frontdesk_core::records::HistoryFilter::default()));
    let Ok(Response::History(h)) = dana.answer(id).await else { panic!("no history") };
    assert_eq!(h.iter().map(|r| &r.id).collect::<Vec<_>>(), [&visit.id], "the visitor's conversation is the client's now");
    let _ = (a, b, c);
}
