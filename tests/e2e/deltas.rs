//! Status as deltas: after the document a watch answers with, a watcher gets only what changed,
//! versioned; a watcher that fell behind gets a whole document, and a lost delta is repaired.

use frontdesk_core::broker::Broker;
use frontdesk_core::monitor::presence::{PresenceDocument, Presentity};
use frontdesk_core::protocol::{BrokerFrame, ClientFrame, Outcome, Request, Response, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use frontdesk_core::status::AgentState;
use frontdesk_core::AgentId;
use frontdesk_tests::link::Link;
use frontdesk_tests::{token, Fixture, T0};

fn frames(b: &mut Broker) -> Vec<(BrokerFrame, usize)> {
    std::iter::from_fn(|| b.poll_transmit()).map(|t| (BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).unwrap(), t.data.len())).collect()
}

/// A broker with one client watching the center; the document the watch answered with.
fn watching() -> (Broker, u64, PresenceDocument) {
    let mut b = Fixture::new().hub.broker;
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &ClientFrame::Hello { v: PROTOCOL_VERSION, token: token("alice"), instance: 1, last_seq: 0, next_request: 1 }.encode());
    b.handle_input(T0, c, &ClientFrame::Request { id: 1, req: Request::Watch { presentity: Presentity::Center } }.encode());
    let doc = frames(&mut b)
        .into_iter()
        .find_map(|(f, _)| match f {
            BrokerFrame::Response { id: 1, outcome: Outcome::Ok(Response::Presence(d)) } => Some(d),
            _ => None,
        })
        .expect("the watch is answered with the document");
    (b, c, doc)
}

fn set(b: &mut Broker, state: AgentState) {
    b.agent_set_state(T0, &AgentId::from("ann"), state).unwrap();
}

#[test]
fn a_change_goes_as_a_delta_from_the_version_the_watcher_has() {
    let (mut b, _, mut doc) = watching();
    for state in [AgentState::Available, AgentState::Busy, AgentState::Available] {
        set(&mut b, state);
        let out = frames(&mut b);
        let [(BrokerFrame::Delta { delta }, size)] = &out[..] else { panic!("one delta frame, got {out:?}") };
        assert_eq!(delta.base, doc.version, "based on what the watcher has");
        delta.apply(&mut doc).unwrap();
        let now = b.monitor().document(&Presentity::Center);
        assert_eq!(doc, now, "the delta brings the watcher's copy to the broker's document");
        let full = serde_json::to_string(&now).unwrap().len();
        assert!(size * 2 < full, "a delta of {size} B against a document of {full} B");
    }
}

#[test]
fn a_watcher_that_fell_behind_gets_the_whole_document_once() {
    let (mut b, c, doc) = watching();
    b.set_writable(c, false);
    set(&mut b, AgentState::Available);
    set(&mut b, AgentState::Busy);
    assert!(frames(&mut b).is_empty(), "nothing goes to a connection that cannot take it");
    b.set_writable(c, true);
    let out = frames(&mut b);
    let [(BrokerFrame::Status { doc: got }, _)] = &out[..] else { panic!("one whole document, got {out:?}") };
    assert!(got.version > doc.version);
    assert_eq!(got, &b.monitor().document(&Presentity::Center), "the latest, the two changes coalesced");
    // And deltas resume from that one.
    set(&mut b, AgentState::Available);
    let out = frames(&mut b);
    assert!(matches!(&out[..], [(BrokerFrame::Delta { delta }, _)] if delta.base == got.version), "{out:?}");
}

#[test]
fn a_connection_that_fills_up_before_its_change_is_taken_gets_the_whole_latest_document_later() {
    let (mut b, c, doc) = watching();
    set(&mut b, AgentState::Available);
    // The host found the socket full before it drained the broker: the change waits and coalesces.
    b.set_writable(c, false);
    set(&mut b, AgentState::Busy);
    assert!(frames(&mut b).is_empty(), "nothing goes to a connection that cannot take it");
    b.set_writable(c, true);
    let out = frames(&mut b);
    let [(BrokerFrame::Status { doc: got }, _)] = &out[..] else { panic!("one whole document, got {out:?}") };
    assert!(got.version > doc.version);
    assert_eq!(got, &b.monitor().document(&Presentity::Center), "the latest, the two changes coalesced");
}

#[test]
fn a_change_goes_before_frames_queued_after_it_on_the_same_connection() {
    let (mut b, c, doc) = watching();
    set(&mut b, AgentState::Available);
    b.handle_input(T0, c, &ClientFrame::Ping { n: 7 }.encode());
    let out = frames(&mut b);
    assert!(
        matches!(&out[..], [(BrokerFrame::Delta { delta }, _), (BrokerFrame::Pong { n: 7 }, _)] if delta.base == doc.version),
        "the change first, then the answer: {out:?}"
    );
}

#[test]
fn a_lost_delta_is_noticed_and_repaired_by_the_client() {
    let mut l = Link::new(Fixture::new(), "alice", 1);
    l.outputs();
    l.heal();
    let ann = AgentId::from("ann");
    l.broker.agent_set_state(l.now, &ann, AgentState::Available).unwrap();
    l.outputs();
    l.heal();
    let first = l.client.view().presence[&Presentity::Center].version;
    assert_eq!(first, l.broker.monitor().document(&Presentity::Center).version, "the client follows the center");
    // One delta is lost on the way (a proxy dropped it): the next does not fit.
    l.broker.agent_set_state(l.now, &ann, AgentState::Busy).unwrap();
    l.outputs();
    let lost = l.to_client.pop_back().expect("a frame for the client");
    assert!(String::from_utf8_lossy(&lost).starts_with("{\"t\":\"delta\""), "{}", String::from_utf8_lossy(&lost));
    l.broker.agent_set_state(l.now, &ann, AgentState::Available).unwrap();
    l.outputs();
    l.heal();
    assert_eq!(l.client.presence_gaps(), 1, "the gap was seen once");
    assert_eq!(l.client.view().presence[&Presentity::Center], l.broker.monitor().document(&Presentity::Center), "and repaired by a fresh document");
}

/// Any token is the client of that name: the test needs more clients than the fixture has.
struct Names;
impl frontdesk_core::broker::auth::Verifier for Names {
    fn verify(&self, token: &str, _now: frontdesk_core::Timestamp) -> Result<frontdesk_core::principal::Principal, frontdesk_core::broker::auth::AuthError> {
        Ok(frontdesk_core::principal::Principal::Client(token.into()))
    }
}

#[test]
fn a_politely_blocked_watcher_among_allowed_ones_gets_no_real_status_and_an_unwatch_leaves_the_others_served() {
    use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
    use frontdesk_core::status::{ClientActivity, ClientStatus};
    let mut b = Broker::new(Names);
    let alice = Presentity::Client("alice".into());
    let mut conn = std::collections::HashMap::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let c = b.open_connection(T0);
        b.handle_input(T0, c, &ClientFrame::Hello { v: PROTOCOL_VERSION, token: name.into(), instance: 1, last_seq: 0, next_request: 1 }.encode());
        conn.insert(name, c);
    }
    let rules = ["carol", "dave"].map(|w| AccessRule { watcher: WatcherMatch::Client(w.into()), decision: Decision::Allow }).to_vec();
    b.handle_input(T0, conn["alice"], &ClientFrame::Request { id: 1, req: Request::SetAccessRules { rules } }.encode());
    for name in ["bob", "carol", "dave"] {
        b.handle_input(T0, conn[name], &ClientFrame::Request { id: 1, req: Request::Watch { presentity: alice.clone() } }.encode());
    }
    while b.poll_transmit().is_some() {}
    // Who gets a status frame of alice carrying her note when she changes it.
    let change = |b: &mut Broker, id: u64, note: &str| -> Vec<&str> {
        let status = ClientStatus { activity: ClientActivity::Idle, medium: None, note: Some(note.into()) };
        b.handle_input(T0, conn["alice"], &ClientFrame::Request { id, req: Request::SetStatus { status } }.encode());
        let mut got: Vec<&str> = std::iter::from_fn(|| b.poll_transmit())
            .filter(|t| {
                let f = BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).unwrap();
                let real = |s: &Option<ClientStatus>| s.as_ref().and_then(|s| s.note.as_deref()) == Some(note);
                match f {
                    BrokerFrame::Status { doc } => doc.entity == alice && real(&doc.client),
                    BrokerFrame::Delta { delta } => delta.entity == alice && delta.client.as_ref().is_some_and(real),
                    _ => false,
                }
            })
            .map(|t| *conn.iter().find(|(_, c)| **c == t.conn).unwrap().0)
            .collect();
        got.sort();
        got
    };
    assert_eq!(change(&mut b, 2, "on the bus"), ["carol", "dave"], "bob is politely blocked: he never sees her real status");
    b.handle_input(T0, conn["carol"], &ClientFrame::Request { id: 2, req: Request::Unwatch { presentity: alice.clone() } }.encode());
    while b.poll_transmit().is_some() {}
    assert_eq!(change(&mut b, 3, "at home"), ["dave"], "carol stopped watching; dave still watches");
}
