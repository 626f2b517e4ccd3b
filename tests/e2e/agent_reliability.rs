//! The agent's console has the same reliable session as the client: whatever the networks on both
//! sides do — cuts, duplicated and reordered frames, waits — every message reaches the other side once
//! and in order, every request is applied once, and receipts only follow acknowledgements.

use frontdesk_core::client::ClientConfig;
use frontdesk_core::interaction::Author;
use frontdesk_core::protocol::Event;
use frontdesk_core::session::{Session, SessionEvent};
use frontdesk_core::{InteractionId, Medium, Timestamp};
use frontdesk_tests::link::Link;
use frontdesk_tests::Fixture;
use frontdesk_core::client::ClientEvent;
use proptest::prelude::*;
use std::collections::VecDeque;

/// An agent console over a raw session, wired to the same broker as the client's link.
struct Console {
    s: Session<u32>,
    conn: Option<u64>,
    to_broker: VecDeque<Vec<u8>>,
    to_console: VecDeque<Vec<u8>>,
    events: Vec<serde_json::Value>,
    answers: Vec<(u64, serde_json::Value)>,
}

impl Console {
    fn new(now: Timestamp, instance: u64) -> Self {
        let mut cfg = ClientConfig::new("tok-agent", instance);
        cfg.watch_center = false;
        let mut s = Session::new(cfg);
        s.start(now);
        Console { s, conn: None, to_broker: VecDeque::new(), to_console: VecDeque::new(), events: vec![], answers: vec![] }
    }

    fn request(&mut self, body: serde_json::Value) -> u64 {
        self.s.enqueue(body.to_string(), 0).expect("small requests are queued")
    }

    fn outputs(&mut self, l: &mut Link) {
        for _ in 0..4 {
            if self.s.poll_connect() {
                self.cut(l);
                self.conn = Some(l.broker.open_connection(l.now));
                self.s.handle_connected(l.now);
            }
            while let Some(d) = self.s.poll_transmit() {
                self.to_broker.push_back(d);
            }
            while let Some(e) = self.s.poll_event() {
                match e {
                    SessionEvent::Event(t) => self.events.push(serde_json::from_str(&t).unwrap()),
                    SessionEvent::Answered { id, outcome, .. } => self.answers.push((id, serde_json::from_str(&outcome).unwrap())),
                    _ => {}
                }
            }
        }
    }

    fn cut(&mut self, l: &mut Link) {
        self.to_broker.clear();
        self.to_console.clear();
        if let Some(c) = self.conn.take() {
            l.broker.handle_disconnect(l.now, c);
            self.s.handle_disconnected(l.now);
        }
    }
}

/// Both sides' frames: the client link keeps its own; the console's are sorted out here.
fn pump(l: &mut Link, c: &mut Console) {
    for _ in 0..4 {
        c.outputs(l);
        l.outputs();
        // Frames for the console's connection; those for a connection it already left are lost.
        while let Some((conn, data, close)) = l.others.pop_front() {
            if Some(conn) == c.conn {
                c.to_console.push_back(data);
                if close {
                    c.to_console.push_back(b"<close>".to_vec());
                }
            }
        }
    }
}

fn console_to_broker(l: &mut Link, c: &mut Console) {
    if let (Some(d), Some(conn)) = (c.to_broker.pop_front(), c.conn) {
        l.broker.handle_input(l.now, conn, &d);
    }
    pump(l, c);
}

fn broker_to_console(l: &mut Link, c: &mut Console) {
    if let Some(d) = c.to_console.pop_front() {
        if d == b"<close>" {
            c.cut(l);
        } else {
            let _ = c.s.handle_input(l.now, &d);
        }
    }
    pump(l, c);
}

fn advance(l: &mut Link, c: &mut Console, ms: u64) {
    l.now = Timestamp(l.now.0 + ms);
    c.s.handle_timeout(l.now);
    l.client.handle_timeout(l.now);
    l.broker.handle_timeout(l.now);
    pump(l, c);
}

/// Delivers everything on both sides, reconnecting as needed, until all is quiet.
fn heal(l: &mut Link, c: &mut Console) {
    for _ in 0..20_000 {
        if !c.to_broker.is_empty() {
            console_to_broker(l, c);
        } else if !c.to_console.is_empty() {
            broker_to_console(l, c);
        } else if !l.to_broker.is_empty() {
            l.to_broker_one();
            pump(l, c);
        } else if !l.to_client.is_empty() {
            l.to_client_one();
            pump(l, c);
        } else if c.s.poll_timeout().is_some() && (!c.s.is_connected() || c.s.pending().next().is_some()) {
            if c.s.is_connected() {
                c.cut(l);
            }
            let t = c.s.poll_timeout().unwrap_or(l.now);
            advance(l, c, t.0.saturating_sub(l.now.0) + 1);
        } else if !l.client.is_connected() || l.client.pending_requests().next().is_some() {
            if l.client.is_connected() {
                l.cut();
            }
            let t = l.client.poll_timeout().unwrap_or(l.now);
            advance(l, c, t.0.saturating_sub(l.now.0) + 1);
        } else {
            return;
        }
    }
    panic!("did not heal");
}

/// Alice in a chat with ann, who works from a console session; the console's events so far dropped.
fn chatting() -> (Link, Console, InteractionId) {
    let f = Fixture::new();
    let mut l = Link::new(f, "alice", 7);
    let mut c = Console::new(l.now, 99);
    pump(&mut l, &mut c);
    heal(&mut l, &mut c);
    c.request(serde_json::json!({"op":"log_in","name":"Ann","media":["chat"]}));
    c.request(serde_json::json!({"op":"set_state","state":"available"}));
    heal(&mut l, &mut c);
    let start = l.client.start_interaction(Medium::Chat, Some("router".into()), None, None);
    heal(&mut l, &mut c);
    assert!(l.completed(start).is_some_and(|r| r.is_ok()));
    let offered = c.events.iter().find(|e| e["ev"] == "offered").expect("the console is offered the chat").clone();
    let ix: InteractionId = offered["data"]["id"].as_str().unwrap().into();
    c.request(serde_json::json!({"op":"accept","interaction":ix}));
    heal(&mut l, &mut c);
    assert!(l.client.view().interactions[&ix].agent.is_some(), "connected");
    c.events.clear();
    c.answers.clear();
    l.events.clear();
    (l, c, ix)
}

fn client_texts_at_console(c: &Console) -> Vec<String> {
    c.events
        .iter()
        .filter(|e| e["ev"] == "chat" && e["data"]["from"]["kind"] == "client")
        .map(|e| e["data"]["text"].as_str().unwrap().to_owned())
        .collect()
}

fn texts_stored(l: &Link, ix: &InteractionId, agent: bool) -> Vec<String> {
    l.broker
        .store()
        .transcript(ix)
        .unwrap()
        .into_iter()
        .filter(|m| matches!(m.from, Author::Agent(_)) == agent)
        .map(|m| m.text)
        .collect()
}

fn agent_texts_at_app(l: &Link) -> Vec<String> {
    l.events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Pushed(Event::Chat(m)) if matches!(m.from, Author::Agent(_)) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_console_that_drops_mid_chat_keeps_the_chat_and_gets_every_message_sent_meanwhile() {
    let (mut l, mut c, ix) = chatting();
    c.cut(&mut l);
    for n in 0..3 {
        l.client.send_chat(ix.clone(), format!("while away {n}"));
    }
    l.outputs();
    while !l.to_broker.is_empty() || !l.to_client.is_empty() {
        if !l.to_broker.is_empty() {
            l.to_broker_one();
        } else {
            l.to_client_one();
        }
    }
    // No receipt for what no console has seen.
    assert!(!l.events.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { .. }))), "{:?}", l.events);
    // 30 s later (inside the grace period) the console comes back.
    advance(&mut l, &mut c, 30_000);
    heal(&mut l, &mut c);
    assert_eq!(client_texts_at_console(&c), vec!["while away 0", "while away 1", "while away 2"]);
    assert!(l.client.view().interactions[&ix].agent.is_some(), "still connected, not ended");
    assert!(l.broker.store().record(&ix).unwrap().is_none(), "nothing recorded as completed");
    let receipts = l.events.iter().filter(|e| matches!(e, ClientEvent::Pushed(Event::ChatDelivered { .. }))).count();
    assert_eq!(receipts, 3, "a receipt for each message, once the console acknowledged it");
}

#[test]
fn a_console_away_past_the_grace_period_ends_the_seat_and_the_chat_waits_in_the_queue_again() {
    let (mut l, mut c, ix) = chatting();
    // The console is closed and stays away (the agent's laptop went to sleep).
    c.cut(&mut l);
    c.s.close(l.now);
    advance(&mut l, &mut c, 59_000);
    assert!(l.broker.monitor().agent(&"ann".into()).is_some(), "still seated inside the grace period");
    advance(&mut l, &mut c, 2_000);
    heal(&mut l, &mut c);
    let li = &l.client.view().interactions[&ix];
    assert!(matches!(li.state, frontdesk_core::interaction::InteractionState::Queued { .. }), "{li:?}");
    assert_eq!(li.agent, None);
    assert!(l.broker.store().record(&ix).unwrap().is_none(), "not recorded as completed");
    assert!(l.broker.monitor().agent(&"ann".into()).is_none(), "the seat ended");
}

#[test]
fn a_retried_agent_request_is_applied_once() {
    let (mut l, mut c, ix) = chatting();
    c.request(serde_json::json!({"op":"send_chat","interaction":ix,"text":"only once"}));
    // The request reaches the broker, but the answer is lost with the connection.
    c.outputs(&mut l);
    console_to_broker(&mut l, &mut c);
    c.to_console.clear();
    c.cut(&mut l);
    heal(&mut l, &mut c);
    assert_eq!(texts_stored(&l, &ix, true), vec!["only once"]);
    assert_eq!(agent_texts_at_app(&l), vec!["only once"]);
    assert_eq!(c.answers.len(), 1, "answered once: {:?}", c.answers);
}

#[derive(Debug, Clone)]
enum Op {
    ToBroker,
    ToClient,
    ConsoleToBroker,
    ToConsole,
    DupToBroker,
    DupToConsole,
    SwapToConsole,
    SwapConsoleToBroker,
    Cut,
    CutConsole,
    Wait(u16),
    ClientChat,
    AgentChat,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::ToBroker),
        5 => Just(Op::ToClient),
        5 => Just(Op::ConsoleToBroker),
        5 => Just(Op::ToConsole),
        1 => Just(Op::DupToBroker),
        1 => Just(Op::DupToConsole),
        1 => Just(Op::SwapToConsole),
        1 => Just(Op::SwapConsoleToBroker),
        1 => Just(Op::Cut),
        1 => Just(Op::CutConsole),
        1 => (0u16..3000).prop_map(Op::Wait),
        2 => Just(Op::ClientChat),
        2 => Just(Op::AgentChat),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96), ..ProptestConfig::default() })]

    /// Random interleavings of client and agent requests, disconnects on both sides, duplicated and
    /// reordered frames: once healed, every message is stored once and seen once, in order, on both
    /// sides, and each client message the console acknowledged has its receipt.
    #[test]
    fn random_interleavings_on_both_sides_lose_and_double_nothing(ops in proptest::collection::vec(op(), 1..120)) {
        let (mut l, mut c, ix) = chatting();
        let (mut client_sent, mut agent_sent) = (vec![], vec![]);
        for o in ops {
            match o {
                Op::ToBroker => { l.to_broker_one(); pump(&mut l, &mut c) }
                Op::ToClient => { l.to_client_one(); pump(&mut l, &mut c) }
                Op::ConsoleToBroker => console_to_broker(&mut l, &mut c),
                Op::ToConsole => broker_to_console(&mut l, &mut c),
                Op::DupToBroker => if let Some(d) = l.to_broker.front().cloned() { l.to_broker.push_back(d) },
                Op::DupToConsole => if let Some(d) = c.to_console.front().cloned() { c.to_console.push_back(d) },
                Op::SwapToConsole => if c.to_console.len() >= 2 { c.to_console.swap(0, 1) },
                Op::SwapConsoleToBroker => if c.to_broker.len() >= 2 { c.to_broker.swap(0, 1) },
                Op::Cut => { l.cut(); pump(&mut l, &mut c) }
                Op::CutConsole => { c.cut(&mut l); pump(&mut l, &mut c) }
                Op::Wait(ms) => advance(&mut l, &mut c, ms as u64),
                Op::ClientChat => {
                    let t = format!("c{}", client_sent.len());
                    l.client.send_chat(ix.clone(), t.clone());
                    client_sent.push(t);
                    pump(&mut l, &mut c);
                }
                Op::AgentChat => {
                    let t = format!("a{}", agent_sent.len());
                    c.request(serde_json::json!({"op":"send_chat","interaction":ix,"text":t}));
                    agent_sent.push(t);
                    pump(&mut l, &mut c);
                }
            }
        }
        heal(&mut l, &mut c);
        prop_assert_eq!(texts_stored(&l, &ix, false), client_sent.clone());
        prop_assert_eq!(texts_stored(&l, &ix, true), agent_sent.clone());
        prop_assert_eq!(client_texts_at_console(&c), client_sent.clone());
        prop_assert_eq!(agent_texts_at_app(&l), agent_sent.clone());
        // Receipts both ways once everything is acknowledged.
        let to_client: std::collections::BTreeSet<u64> = l.events.iter().filter_map(|e| match e {
            ClientEvent::Pushed(Event::ChatDelivered { seq, .. }) => Some(*seq), _ => None }).collect();
        let client_seqs: std::collections::BTreeSet<u64> = l.broker.store().transcript(&ix).unwrap().into_iter()
            .filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.seq).collect();
        prop_assert_eq!(&to_client, &client_seqs);
        let to_console: std::collections::BTreeSet<u64> = c.events.iter()
            .filter(|e| e["ev"] == "chat_delivered").map(|e| e["data"]["seq"].as_u64().unwrap()).collect();
        let agent_seqs: std::collections::BTreeSet<u64> = l.broker.store().transcript(&ix).unwrap().into_iter()
            .filter(|m| matches!(m.from, Author::Agent(_))).map(|m| m.seq).collect();
        prop_assert_eq!(&to_console, &agent_seqs);
        prop_assert_eq!(c.answers.len(), agent_sent.len() , "each agent request answered once");
    }
}
