//! Nothing acknowledged is lost or doubled: disconnects, duplicated and reordered frames, app restarts.

use frontdesk_core::broker::{AgentEvent, BrokerEvent};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::interaction::Author;
use frontdesk_core::profile::{Demographics, ProfilePatch};
use frontdesk_core::protocol::{Event, Response};
use frontdesk_core::{InteractionId, Medium};
use frontdesk_tests::link::Link;
use frontdesk_tests::{token, Fixture};
use proptest::prelude::*;

/// Alice and ann in a connected chat; returns the link and the interaction.
fn chatting() -> (Link, InteractionId) {
    let mut f = Fixture::new();
    f.ann_available();
    let mut l = Link::new(f, "alice", 7);
    l.heal();
    let inv = l.broker.agent_invite(l.now, &"ann".into(), &"alice".into(), Medium::Chat, "hi").unwrap();
    l.outputs();
    l.heal();
    let id = l.client.respond_invitation(inv.id, true);
    l.outputs();
    l.heal();
    let ix = match l.completed(id) {
        Some(Ok(Response::Invitation(i))) => i.interaction.clone().unwrap(),
        other => panic!("{other:?}"),
    };
    (l, ix)
}

fn name_patch(n: u32) -> ProfilePatch {
    ProfilePatch { demographics: Some(Demographics { name: Some(format!("name-{n}")), ..Default::default() }), ..Default::default() }
}

fn agent_texts_seen_by_app(l: &Link) -> Vec<String> {
    l.events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Pushed(Event::Chat(m)) if matches!(m.from, Author::Agent(_)) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

fn client_texts_stored(l: &Link, ix: &InteractionId) -> Vec<String> {
    l.broker
        .store()
        .transcript(ix)
        .unwrap()
        .into_iter()
        .filter(|m| matches!(m.from, Author::Client(_)))
        .map(|m| m.text)
        .collect()
}

#[test]
fn offline_queue_goes_out_once_in_order_when_the_network_returns() {
    let mut f = Fixture::new();
    f.ann_available();
    let a = f.connect("alice", 1);
    let inv = f.hub.broker.agent_invite(f.now, &"ann".into(), &"alice".into(), Medium::Chat, "hi").unwrap();
    f.settle();
    let id = f.hub.client(a).respond_invitation(inv.id, true);
    let Response::Invitation(i) = f.answer(a, id).unwrap() else { panic!() };
    let ix = i.interaction.unwrap();
    // The phone goes to sleep.
    f.hub.set_online(f.now, a, false);
    assert!(!f.hub.client_ref(a).is_connected());
    let ids: Vec<_> = (0..3).map(|n| f.hub.client(a).send_chat(ix.clone(), format!("offline {n}"))).collect();
    let pid = f.hub.client(a).update_profile(name_patch(1));
    assert_eq!(f.hub.client_ref(a).pending_requests().count(), 4);
    // Meanwhile the agent writes.
    f.hub.broker.agent_send_chat(f.now, &"ann".into(), &ix, "are you there?").unwrap();
    f.hub.broker.agent_send_chat(f.now, &"ann".into(), &ix, "hello?").unwrap();
    f.advance(60_000);
    assert!(!f.hub.client_ref(a).is_connected(), "still offline");
    // The network returns; the backoff timer reconnects by itself.
    f.hub.set_online(f.now, a, true);
    f.advance(31_000);
    assert!(f.hub.client_ref(a).is_connected());
    let ev = f.events(a);
    assert!(ev.contains(&ClientEvent::Connected { resumed: true }), "{ev:?}");
    for id in ids {
        assert!(ev.iter().any(|e| matches!(e, ClientEvent::Completed { id: i, result: Ok(_) } if *i == id)));
    }
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Completed { id, result: Ok(_) } if *id == pid)));
    let texts: Vec<String> = f.hub.broker.store().transcript(&ix).unwrap().into_iter().filter(|m| matches!(m.from, Author::Client(_))).map(|m| m.text).collect();
    assert_eq!(texts, vec!["offline 0", "offline 1", "offline 2"]);
    let got: Vec<&str> = f.hub.client_ref(a).view().chats[&ix].iter().filter(|m| matches!(m.from, Author::Agent(_))).map(|m| m.text.as_str()).collect();
    assert_eq!(got, vec!["are you there?", "hello?"]);
    assert_eq!(f.hub.broker.store().profile(&"alice".into()).unwrap().unwrap().revision, 1);
    // Ann learns both her messages reached the app.
    let delivered = f.agent_events("ann").into_iter().filter(|e| matches!(e, AgentEvent::ChatDelivered { .. })).count();
    assert_eq!(delivered, 2, "agent messages acknowledged by the app");
}

#[test]
fn lost_answer_is_not_applied_twice() {
    let (mut l, ix) = chatting();
    let id = l.client.send_chat(ix.clone(), "exactly once");
    l.outputs();
    // The request reaches the broker, but the connection dies before the answer comes back.
    l.to_broker_one();
    assert_eq!(client_texts_stored(&l, &ix), vec!["exactly once"]);
    assert!(!l.to_client.is_empty());
    l.cut();
    assert!(l.completed(id).is_none());
    l.heal();
    assert!(matches!(l.completed(id), Some(Ok(Response::Chat(m))) if m.seq == 1), "the cached answer is replayed");
    assert_eq!(client_texts_stored(&l, &ix), vec!["exactly once"]);
}

#[test]
fn app_killed_with_queued_requests_resumes_from_saved_state() {
    let (mut l, ix) = chatting();
    l.cut();
    l.client.send_chat(ix.clone(), "written before the app was killed");
    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, "while you were away").unwrap();
    let saved = serde_json::to_string(&l.client.save()).unwrap();
    // A new process: a new Client restored from what the app saved.
    let mut c = Client::restore(ClientConfig::new(token("alice"), 0), serde_json::from_str(&saved).unwrap());
    c.start(l.now);
    l.client = c;
    l.events.clear();
    l.outputs();
    l.heal();
    assert_eq!(client_texts_stored(&l, &ix), vec!["written before the app was killed"]);
    assert_eq!(agent_texts_seen_by_app(&l), vec!["while you were away"]);
    assert!(l.events.contains(&ClientEvent::Connected { resumed: true }));
    // The restored app starts with an empty view; the resumed session still loads it.
    assert!(l.events.contains(&ClientEvent::Synced), "{:?}", l.events);
    assert!(!l.client.view().products.is_empty(), "view loaded after restore");
}

#[test]
fn silent_connection_is_detected_and_replaced() {
    let (mut l, ix) = chatting();
    // The network vanishes without a close (a phone changing network): frames go nowhere.
    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, "lost in the air?").unwrap();
    l.outputs();
    l.to_client.clear();
    l.advance(20_000); // ping goes out
    l.to_broker.clear();
    l.advance(30_000); // 45 s of silence: the client gives up on this transport
    assert!(l.events.iter().any(|e| matches!(e, ClientEvent::Disconnected { .. })));
    l.heal();
    assert_eq!(agent_texts_seen_by_app(&l), vec!["lost in the air?"]);
}

#[derive(Debug, Clone)]
enum Op {
    ToBroker,
    ToClient,
    DupToBroker,
    DupToClient,
    SwapToBroker,
    SwapToClient,
    Cut,
    Wait(u16),
    ClientChat,
    ClientProfile,
    AgentChat,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::ToBroker),
        6 => Just(Op::ToClient),
        1 => Just(Op::DupToBroker),
        1 => Just(Op::DupToClient),
        1 => Just(Op::SwapToBroker),
        1 => Just(Op::SwapToClient),
        1 => Just(Op::Cut),
        1 => (0u16..3000).prop_map(Op::Wait),
        2 => Just(Op::ClientChat),
        1 => Just(Op::ClientProfile),
        2 => Just(Op::AgentChat),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128), ..ProptestConfig::default() })]

    /// Whatever the network does, once it heals: every client mutation is applied exactly once and in
    /// order, every agent message reaches the app exactly once and in order, and every request is answered.
    #[test]
    fn random_interleavings_lose_and_double_nothing(ops in proptest::collection::vec(op(), 1..120)) {
        let (mut l, ix) = chatting();
        l.events.clear();
        let mut sent = vec![];
        let mut agent_sent = vec![];
        let mut profile_edits = 0u32;
        let mut ids = vec![];
        for o in ops {
            match o {
                Op::ToBroker => l.to_broker_one(),
                Op::ToClient => l.to_client_one(),
                Op::DupToBroker => if let Some(d) = l.to_broker.front().cloned() { l.to_broker.push_back(d) },
                Op::DupToClient => if let Some(d) = l.to_client.front().cloned() { l.to_client.push_back(d) },
                Op::SwapToBroker => if l.to_broker.len() >= 2 { l.to_broker.swap(0, 1) },
                Op::SwapToClient => if l.to_client.len() >= 2 { l.to_client.swap(0, 1) },
                Op::Cut => l.cut(),
                Op::Wait(ms) => l.advance(ms as u64),
                Op::ClientChat => {
                    let t = format!("c{}", sent.len());
                    ids.push(l.client.send_chat(ix.clone(), t.clone()));
                    sent.push(t);
                    l.outputs();
                }
                Op::ClientProfile => {
                    profile_edits += 1;
                    ids.push(l.client.update_profile(name_patch(profile_edits)));
                    l.outputs();
                }
                Op::AgentChat => {
                    let t = format!("a{}", agent_sent.len());
                    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, &t).unwrap();
                    agent_sent.push(t);
                    l.outputs();
                }
            }
        }
        l.heal();
        prop_assert_eq!(client_texts_stored(&l, &ix), sent);
        prop_assert_eq!(agent_texts_seen_by_app(&l), agent_sent.clone());
        for id in ids {
            prop_assert!(matches!(l.completed(id), Some(Ok(_))), "request {} unanswered: {:?}", id, l.completed(id));
        }
        let p = l.broker.store().profile(&"alice".into()).unwrap().unwrap_or_default();
        prop_assert_eq!(p.revision, profile_edits as u64);
        if profile_edits > 0 {
            prop_assert_eq!(l.client.view().profile.demographics.name.clone(), Some(format!("name-{profile_edits}")));
        }
        // The agent hears of every message's delivery once everything is acknowledged.
        let delivered: std::collections::BTreeSet<u64> = l.broker_events.iter().filter_map(|e| match e {
            BrokerEvent::Agent { event: AgentEvent::ChatDelivered { seq, .. }, .. } => Some(*seq),
            _ => None,
        }).collect();
        let agent_seqs: std::collections::BTreeSet<u64> = l.broker.store().transcript(&ix).unwrap().into_iter()
            .filter(|m| matches!(m.from, Author::Agent(_))).map(|m| m.seq).collect();
        prop_assert!(delivered.is_superset(&agent_seqs), "delivered {:?} of {:?}", delivered, agent_seqs);
    }
}

/// A detached session is kept for `session_ttl` (so a phone that slept resumes with everything), then
/// dropped; a session that came back in time is not.
#[test]
fn detached_sessions_expire_after_their_ttl_and_only_then() {
    use frontdesk_core::protocol::{BrokerFrame, ClientFrame, MAX_FRAME_BYTES, PROTOCOL_VERSION};
    use frontdesk_tests::T0;
    let f = Fixture::new();
    let mut b = f.hub.broker;
    let ttl = std::time::Duration::from_secs(24 * 3600);
    let hello = |who: &str, seq: u64| ClientFrame::Hello { v: PROTOCOL_VERSION, token: token(who), instance: 1, last_seq: seq, next_request: 1 }.encode();
    let welcome = |b: &mut frontdesk_core::broker::Broker| {
        std::iter::from_fn(|| b.poll_transmit())
            .map(|t| BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).unwrap())
            .find_map(|f| if let BrokerFrame::Welcome { resumed, .. } = f { Some(resumed) } else { None })
    };
    let (a, c) = (b.open_connection(T0), b.open_connection(T0));
    b.handle_input(T0, a, &hello("alice", 0));
    b.handle_input(T0, c, &hello("bob", 0));
    while b.poll_transmit().is_some() {}
    b.handle_disconnect(T0, a);
    let later = T0.add(std::time::Duration::from_secs(60));
    b.handle_disconnect(later, c);
    assert_eq!(b.poll_timeout(), Some(T0.add(ttl)), "the first to expire is alice's");
    // Bob comes back in time: his session resumes and no longer expires.
    let c2 = b.open_connection(later);
    b.handle_input(later, c2, &hello("bob", 0));
    assert_eq!(welcome(&mut b), Some(true));
    b.handle_timeout(T0.add(ttl));
    assert_eq!(b.poll_timeout().filter(|t| *t < T0.add(ttl * 2)), None, "nothing else is waiting to expire");
    let a2 = b.open_connection(T0.add(ttl));
    b.handle_input(T0.add(ttl), a2, &hello("alice", 0));
    assert_eq!(welcome(&mut b), Some(false), "alice's session was dropped after the ttl");
}

/// A stale save: the app saved, made more requests, died without saving again; the restored app's
/// new requests take ids the dead process already used. They must be executed, not answered with the
/// dead process's answers.
#[test]
fn requests_after_restoring_a_stale_save_are_executed_not_taken_for_the_dead_process_ones() {
    let name = |n: &str| ProfilePatch { demographics: Some(Demographics { name: Some(n.into()), ..Default::default() }), ..Default::default() };
    let mut f = Fixture::new();
    let a = f.connect("alice", 7);
    let saved = serde_json::to_string(&f.hub.client_ref(a).save()).unwrap();
    for n in ["Alice One", "Alice Two"] {
        let id = f.hub.client(a).update_profile(name(n));
        assert!(f.answer(a, id).is_ok());
    }
    f.hub.detach(f.now, a);
    // Restored from the older save, offline: the new edit gets an id the dead process used.
    let mut c = Client::restore(ClientConfig::new(token("alice"), 7), serde_json::from_str(&saved).unwrap());
    let edit = c.update_profile(name("Alice Three"));
    let b = f.hub.attach(f.now, c);
    let Ok(Response::Profile(p)) = f.answer(b, edit) else { panic!("the edit is answered under the id it was given") };
    assert_eq!(p.demographics.name.as_deref(), Some("Alice Three"), "executed, not the dead process's answer");
    assert_eq!(f.hub.client_ref(b).view().profile.demographics.name.as_deref(), Some("Alice Three"));
    // And the session goes on: the next request is new too.
    let id = f.hub.client(b).update_profile(name("Alice Four"));
    let Ok(Response::Profile(p)) = f.answer(b, id) else { panic!() };
    assert_eq!(p.demographics.name.as_deref(), Some("Alice Four"));
}
