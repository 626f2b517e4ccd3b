//! Voice and video call signalling through the broker: relayed both ways in order, only between the
//! two sides of a connected call, bounded, with ICE servers and TURN credentials per call, and a
//! record that says who hung up, why and for how long.

use frontdesk_core::broker::BrokerConfig;
use frontdesk_core::call::{CallSignal, HangUpReason, IceServer, TurnConfig};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::embedded::Slot;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::protocol::{AgentEvent, ErrorCode, Event, Response};
use frontdesk_core::records::{HistoryFilter, Outcome};
use frontdesk_core::{InteractionId, Medium};
use frontdesk_tests::Fixture;
use std::time::Duration;

fn config() -> BrokerConfig {
    BrokerConfig {
        ice_servers: vec![IceServer { urls: vec!["stun:127.0.0.1:3478".into()], username: None, credential: None }],
        turn: Some(TurnConfig { urls: vec!["turn:127.0.0.1:3478".into()], secret: b"S".to_vec(), ttl: Duration::from_secs(600) }),
        max_signals_per_call: 20,
        ..BrokerConfig::default()
    }
}

/// Alice calls (voice); ann answers.
fn connected_call(f: &mut Fixture) -> (Slot, InteractionId) {
    call_from(f, 1)
}

/// The same from another device of alice's.
fn call_from(f: &mut Fixture, instance: u64) -> (Slot, InteractionId) {
    f.ann_available();
    let a = f.connect("alice", instance);
    let id = f.hub.client(a).start_interaction(Medium::Voice, Some("router".into()), None, None);
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!("not queued") };
    f.hub.broker.agent_accept(f.now, &"ann".into(), &li.id).unwrap();
    f.settle();
    f.agent_events("ann");
    (a, li.id)
}

fn signals_to_client(f: &mut Fixture, a: Slot) -> Vec<CallSignal> {
    f.events(a)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Pushed(Event::Signal { signal, .. }) => Some(signal),
            _ => None,
        })
        .collect()
}

fn signals_to_agent(f: &mut Fixture) -> Vec<CallSignal> {
    f.agent_events("ann")
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Signal { signal, .. } => Some(signal),
            _ => None,
        })
        .collect()
}

#[test]
fn offer_answer_and_candidates_are_relayed_both_ways_in_order() {
    let mut f = Fixture::with_config(config());
    let (a, ix) = connected_call(&mut f);
    let offer = CallSignal::Offer { sdp: "v=0 offer".into(), restart: false };
    let cand = |n: u16| CallSignal::Candidate { candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"), sdp_mid: Some("0".into()), sdp_mline_index: Some(0) };
    for s in [offer.clone(), cand(1), cand(2), CallSignal::EndOfCandidates] {
        let id = f.hub.client(a).signal(ix.clone(), s);
        assert!(matches!(f.answer(a, id), Ok(Response::Done)));
    }
    assert_eq!(signals_to_agent(&mut f), vec![offer, cand(1), cand(2), CallSignal::EndOfCandidates]);
    let answer = CallSignal::Answer { sdp: "v=0 answer".into() };
    f.hub.broker.agent_signal(f.now, &"ann".into(), &ix, answer.clone()).unwrap();
    f.hub.broker.agent_signal(f.now, &"ann".into(), &ix, CallSignal::Media { muted: true, camera: false }).unwrap();
    f.settle();
    assert_eq!(signals_to_client(&mut f, a), vec![answer, CallSignal::Media { muted: true, camera: false }]);
    // A network change: an ICE restart is an offer like any other, replayed after a reconnect.
    let b = f.connect("alice", 2);
    f.hub.broker.agent_signal(f.now, &"ann".into(), &ix, CallSignal::Offer { sdp: "v=0 restart".into(), restart: true }).unwrap();
    f.settle();
    assert_eq!(signals_to_client(&mut f, b), vec![CallSignal::Offer { sdp: "v=0 restart".into(), restart: true }], "every device of the client");
}

#[test]
fn ice_servers_come_with_turn_credentials_minted_per_party() {
    let mut f = Fixture::with_config(config());
    let (a, ix) = connected_call(&mut f);
    let id = f.hub.client(a).ice_servers(ix.clone());
    let Ok(Response::IceServers(v)) = f.answer(a, id) else { panic!("no servers") };
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].urls, vec!["stun:127.0.0.1:3478".to_string()]);
    let expiry = f.now.0 / 1000 + 600;
    assert_eq!(v[1].username.as_deref(), Some(format!("{expiry}:client-alice").as_str()));
    assert!(v[1].credential.as_ref().is_some_and(|c| c.len() == 28), "base64 of 20 bytes");
    let agent = f.hub.broker.agent_ice_servers(f.now, &"ann".into(), &ix).unwrap();
    assert_eq!(agent[1].username.as_deref(), Some(format!("{expiry}:agent-ann").as_str()));
    // No call, no credentials: a chat, or somebody else's call.
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).ice_servers(ix.clone());
    assert_eq!(f.answer(b, id).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn only_the_two_sides_of_a_connected_call_may_signal_and_only_so_much() {
    let mut f = Fixture::with_config(config());
    let (a, ix) = connected_call(&mut f);
    let offer = || CallSignal::Offer { sdp: "v=0".into(), restart: false };
    // Bob guesses the id: answered as if it did not exist, and ann hears nothing.
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).signal(ix.clone(), offer());
    assert_eq!(f.answer(b, id).unwrap_err().code, ErrorCode::NotFound);
    assert!(signals_to_agent(&mut f).is_empty());
    // Another agent is refused.
    f.hub.broker.agent_login(f.now, "bo".into(), "Bo", frontdesk_core::principal::AgentRole::Agent, vec![], vec![Medium::Voice]);
    assert_eq!(f.hub.broker.agent_signal(f.now, &"bo".into(), &ix, offer()).unwrap_err().code, ErrorCode::Forbidden);
    // Oversized SDP.
    let id = f.hub.client(a).signal(ix.clone(), CallSignal::Offer { sdp: "x".repeat(40_000), restart: false });
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
    // A chat is no call.
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(chat)) = f.answer(b, id) else { panic!() };
    let id = f.hub.client(b).signal(chat.id.clone(), offer());
    assert_eq!(f.answer(b, id).unwrap_err().code, ErrorCode::Invalid);
    // At most 20 signalling messages in this configuration.
    for i in 0..20 {
        let id = f.hub.client(a).signal(ix.clone(), offer());
        assert!(f.answer(a, id).is_ok(), "message {i}");
    }
    let id = f.hub.client(a).signal(ix.clone(), offer());
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::RateLimited);
}

#[test]
fn a_queued_call_cannot_signal_yet() {
    let mut f = Fixture::with_config(config());
    let a = f.connect("alice", 1);
    f.ann_available();
    // Ann takes bob's call first, so alice's waits.
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).start_interaction(Medium::Voice, Some("router".into()), None, None);
    let Ok(Response::Interaction(lb)) = f.answer(b, id) else { panic!() };
    f.hub.broker.agent_accept(f.now, &"ann".into(), &lb.id).unwrap();
    let id = f.hub.client(a).start_interaction(Medium::Voice, Some("router".into()), None, None);
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!() };
    assert!(matches!(li.state, InteractionState::Queued { .. }));
    let id = f.hub.client(a).signal(li.id.clone(), CallSignal::Offer { sdp: "v=0".into(), restart: false });
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Conflict);
}

#[test]
fn a_hang_up_ends_the_call_on_both_sides_with_a_record_of_how() {
    let mut f = Fixture::with_config(config());
    let (a, ix) = connected_call(&mut f);
    f.advance(125_000);
    let id = f.hub.client(a).signal(ix.clone(), CallSignal::HangUp { reason: HangUpReason::Normal });
    assert!(f.answer(a, id).is_ok());
    let ev = f.agent_events("ann");
    assert!(ev.iter().any(|e| matches!(e, AgentEvent::Signal { signal: CallSignal::HangUp { .. }, .. })), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, AgentEvent::Ended(li) if li.id == ix)), "{ev:?}");
    assert!(matches!(f.hub.client_ref(a).view().interactions[&ix].state, InteractionState::Ended { .. }));
    let id = f.hub.client(a).get_history(HistoryFilter::default());
    let Ok(Response::History(h)) = f.answer(a, id) else { panic!() };
    let r = h.iter().find(|r| r.id == ix).expect("recorded");
    assert_eq!((r.medium, r.outcome, r.agent.as_ref().map(|a| a.as_str())), (Medium::Voice, Outcome::Completed, Some("ann")));
    assert_eq!(r.summary, "voice call, 2 min 5 s, hung up by the customer");
    // A call whose agent refused the camera is recorded as failed, and a signal after the end is refused.
    let (a, ix) = call_from(&mut f, 2);
    f.hub.broker.agent_signal(f.now, &"ann".into(), &ix, CallSignal::HangUp { reason: HangUpReason::MediaRefused }).unwrap();
    f.settle();
    let got = signals_to_client(&mut f, a);
    assert!(got.contains(&CallSignal::HangUp { reason: HangUpReason::MediaRefused }), "{got:?} {:?}", f.hub.client_ref(a).view().interactions.get(&ix));
    let id = f.hub.client(a).get_history(HistoryFilter::default());
    let Ok(Response::History(h)) = f.answer(a, id) else { panic!() };
    let r = h.iter().find(|r| r.id == ix).expect("recorded");
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.summary.ends_with("Ann refused the microphone or camera"), "{}", r.summary);
    let id = f.hub.client(a).signal(ix.clone(), CallSignal::EndOfCandidates);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
}
