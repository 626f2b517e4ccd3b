//! Callbacks in the core: a client asks to be called back now or in a slot of its agenda, keeps its
//! place in the queue, and the host's dialer is asked to ring the agent, then the client; failures
//! retry with the place kept, cancels hang up, and every end writes a record.

use frontdesk_core::broker::{BrokerConfig, BrokerEvent};
use frontdesk_core::callback::{CallSide, CallbackPhase, Dial, DialFailure, DialProgress};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::embedded::Slot;
use frontdesk_core::interaction::{InteractionState, LiveInteraction};
use frontdesk_core::profile::{AgendaWindow, ProfilePatch};
use frontdesk_core::protocol::{AgentEvent, ErrorCode, Event, Response};
use frontdesk_core::records::Outcome;
use frontdesk_core::status::AgentState;
use frontdesk_core::{AgentId, Medium, Timestamp};
use frontdesk_tests::{Fixture, T0};
use std::time::Duration;

const ANN_PHONE: &str = "sip:ann@127.0.0.1:5070";

fn dialing() -> Fixture {
    let cfg = BrokerConfig { dialer: true, callback_retry: Duration::from_secs(60), callback_attempts: 3, ..Default::default() };
    Fixture::with_config(cfg)
}

fn ann() -> AgentId {
    AgentId::from("ann")
}

fn ann_ready(f: &mut Fixture, phone: bool) {
    if phone {
        f.hub.broker.agent_set_phone(f.now, &ann(), Some(ANN_PHONE.into())).unwrap();
    }
    f.hub.broker.agent_set_state(f.now, &ann(), AgentState::Available).unwrap();
    f.settle();
}

fn ask(f: &mut Fixture, a: Slot, number: &str, at: Option<Timestamp>) -> Result<LiveInteraction, frontdesk_core::protocol::ErrorBody> {
    let id = f.hub.client(a).request_callback(Some(number.into()), at, Some("router".into()), Some("Router reboots".into()));
    f.answer(a, id).map(|r| match r {
        Response::Interaction(li) => li,
        other => panic!("{other:?}"),
    })
}

/// The callback as the client's view has it now.
fn seen(f: &Fixture, a: Slot, li: &LiveInteraction) -> LiveInteraction {
    f.hub.client_ref(a).view().interactions[&li.id].clone()
}

fn phase(f: &Fixture, a: Slot, li: &LiveInteraction) -> CallbackPhase {
    seen(f, a, li).callback.expect("a callback").phase
}

/// Ann takes the offered callback and the host takes the dial it is owed.
fn taken(f: &mut Fixture, li: &LiveInteraction) -> Dial {
    f.settle();
    let offered = f.agent_events("ann");
    assert!(offered.iter().any(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)), "{offered:?}");
    f.hub.broker.agent_accept(f.now, &ann(), &li.id).unwrap();
    f.settle();
    assert!(f.broker_events().iter().any(|e| matches!(e, BrokerEvent::DialOwed)), "the host's dialer is woken");
    let mut dials = f.hub.broker.take_dials(f.now);
    assert_eq!(dials.len(), 1);
    assert!(f.hub.broker.take_dials(f.now).is_empty(), "each dial is handed out once");
    dials.pop().unwrap()
}

fn progress(f: &mut Fixture, d: &Dial, p: DialProgress) {
    f.hub.broker.center_dial_progress(f.now, &d.interaction, d.dial, p).unwrap();
    f.settle();
}

fn history_of(f: &Fixture, _a: Slot, li: &LiveInteraction) -> frontdesk_core::records::InteractionRecord {
    f.hub.broker.store().record(&li.id).unwrap().expect("a record")
}

#[test]
fn numbers_must_be_international_and_slots_inside_the_agenda() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    let e = ask(&mut f, a, "030 1234567", None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(e.message.starts_with("number:"), "{e:?}");
    // No number given and none in the profile.
    let id = f.hub.client(a).request_callback(None, None, None, None);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
    // Wednesdays 10:00-12:00 in Paris: T0 is Wednesday 09:00Z, 10:00 in Paris.
    let window = AgendaWindow { days: vec![3], start_minute: 600, end_minute: 720, time_zone: "Europe/Paris".into(), media: vec![] };
    let id = f.hub.client(a).update_profile(ProfilePatch { agenda: Some(vec![window]), ..Default::default() });
    f.answer(a, id).unwrap();
    let e = ask(&mut f, a, "+49 30 1234567", Some(Timestamp(T0.0 + 3 * 3_600_000))).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(e.message.starts_with("at:") && e.message.contains("outside your agenda"), "{e:?}");
    assert!(ask(&mut f, a, "+49 30 1234567", Some(Timestamp(T0.0 + 40 * 86_400_000))).unwrap_err().message.contains("30 days"));
    let li = ask(&mut f, a, "+49 30 1234567", Some(Timestamp(T0.0 + 3_600_000))).unwrap();
    let cb = li.callback.clone().unwrap();
    assert_eq!((cb.number.as_str(), cb.at, li.client_address.as_deref()), ("+49301234567", Some(Timestamp(T0.0 + 3_600_000)), Some("+49301234567")));
}

#[test]
fn a_callback_rings_the_agent_then_the_client_and_writes_its_record() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    ann_ready(&mut f, false);
    let li = ask(&mut f, a, "+4930123456", None).unwrap();
    assert!(matches!(li.state, InteractionState::Queued { position: 1, .. }), "{li:?}");
    assert_eq!(li.callback.as_ref().unwrap().phase, CallbackPhase::Scheduled);
    // Ann has no phone yet: the dialer could not ring her, so she is not offered it.
    assert!(!f.agent_events("ann").iter().any(|e| matches!(e, AgentEvent::Offered(_))));
    let e = f.hub.broker.agent_set_phone(f.now, &ann(), Some("tel:123".into())).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    f.hub.broker.agent_set_phone(f.now, &ann(), Some(ANN_PHONE.into())).unwrap();
    let d = taken(&mut f, &li);
    assert_eq!((d.agent_phone.as_str(), d.number.as_str(), d.dial), (ANN_PHONE, "+4930123456", 1));
    assert_eq!(phase(&f, a, &li), CallbackPhase::DialingAgent);
    progress(&mut f, &d, DialProgress::AgentRinging);
    progress(&mut f, &d, DialProgress::CustomerRinging);
    assert_eq!(phase(&f, a, &li), CallbackPhase::DialingCustomer);
    progress(&mut f, &d, DialProgress::Connected);
    assert_eq!(phase(&f, a, &li), CallbackPhase::Connected);
    f.advance(83_000);
    progress(&mut f, &d, DialProgress::Ended { by: CallSide::Customer });
    let end = seen(&f, a, &li);
    assert!(matches!(end.state, InteractionState::Ended { outcome: Outcome::Completed }), "{end:?}");
    let r = history_of(&f, a, &li);
    assert_eq!((r.medium, r.outcome, r.agent.as_ref().map(|x| x.as_str())), (Medium::Callback, Outcome::Completed, Some("ann")));
    assert_eq!(r.summary, "callback to +4930123456, 1 min 23 s, hung up by the customer");
    assert_eq!(f.hub.broker.monitor().agent(&ann()).unwrap().state, AgentState::Available, "free for the next one");
    // A report on a dial that is over is refused.
    let e = f.hub.broker.center_dial_progress(f.now, &d.interaction, d.dial, DialProgress::Connected).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[test]
fn a_busy_line_retries_later_keeping_the_place_and_gives_up_after_the_attempts() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    let b = f.connect("bob", 1);
    ann_ready(&mut f, true);
    let li = ask(&mut f, a, "+4930123456", None).unwrap();
    let d1 = taken(&mut f, &li);
    progress(&mut f, &d1, DialProgress::AgentRinging);
    progress(&mut f, &d1, DialProgress::CustomerRinging);
    progress(&mut f, &d1, DialProgress::Failed { side: CallSide::Customer, reason: DialFailure::Busy });
    let events = f.agent_events("ann");
    assert!(events.iter().any(|e| matches!(e, AgentEvent::DialFailed { side: CallSide::Customer, reason: DialFailure::Busy, .. })), "{events:?}");
    let retry_at = Timestamp(f.now.0 + 60_000);
    let s = seen(&f, a, &li);
    assert_eq!(s.callback.as_ref().unwrap().phase, CallbackPhase::RetryAt { at: retry_at, reason: DialFailure::Busy });
    assert_eq!(s.callback.as_ref().unwrap().attempts, 1);
    assert!(matches!(s.state, InteractionState::Queued { position: 1, .. }), "its place is kept: {s:?}");
    assert_eq!(f.hub.broker.monitor().agent(&ann()).unwrap().state, AgentState::Available);
    // A stale report of the failed dial changes nothing.
    let e = f.hub.broker.center_dial_progress(f.now, &d1.interaction, d1.dial, DialProgress::Connected).unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Bob's chat behind it is not held up by the wait.
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(chat)) = f.answer(b, id) else { panic!() };
    assert!(matches!(chat.state, InteractionState::Queued { .. }), "{chat:?}");
    assert!(f.agent_events("ann").iter().any(|e| matches!(e, AgentEvent::Offered(o) if o.id == chat.id)));
    f.hub.broker.agent_accept(f.now, &ann(), &chat.id).unwrap();
    f.hub.broker.agent_end(f.now, &ann(), &chat.id).unwrap();
    f.settle();
    f.agent_events("ann");
    // Not before its time…
    f.advance(59_000);
    assert!(!f.agent_events("ann").iter().any(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id)));
    // …then dialed again, and again busy, and no answer: three attempts and it is given up.
    f.advance(1_000);
    let d2 = taken(&mut f, &li);
    assert_eq!(d2.dial, 2);
    progress(&mut f, &d2, DialProgress::Failed { side: CallSide::Customer, reason: DialFailure::Busy });
    f.advance(60_000);
    let d3 = taken(&mut f, &li);
    progress(&mut f, &d3, DialProgress::CustomerRinging);
    progress(&mut f, &d3, DialProgress::Failed { side: CallSide::Customer, reason: DialFailure::NoAnswer });
    let s = seen(&f, a, &li);
    assert!(matches!(s.state, InteractionState::Ended { outcome: Outcome::Failed }), "{s:?}");
    assert_eq!(s.callback.unwrap().phase, CallbackPhase::Failed { reason: DialFailure::NoAnswer });
    assert_eq!(history_of(&f, a, &li).summary, "callback to +4930123456: no answer (3 attempts)");
}

#[test]
fn a_refused_call_is_not_retried_and_an_agent_phone_that_fails_costs_no_attempt() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    ann_ready(&mut f, true);
    let li = ask(&mut f, a, "+4930123456", None).unwrap();
    let d = taken(&mut f, &li);
    // Ann's phone does not answer: she is set away, the client keeps its place and its attempts.
    progress(&mut f, &d, DialProgress::Failed { side: CallSide::Agent, reason: DialFailure::NoAnswer });
    assert_eq!(f.hub.broker.monitor().agent(&ann()).unwrap().state, AgentState::Away);
    let s = seen(&f, a, &li);
    assert!(matches!(s.state, InteractionState::Queued { position: 1, .. }), "{s:?}");
    assert_eq!((s.callback.as_ref().unwrap().attempts, s.callback.as_ref().unwrap().phase.clone()), (0, CallbackPhase::Scheduled));
    f.hub.broker.agent_set_state(f.now, &ann(), AgentState::Available).unwrap();
    f.settle();
    let d = taken(&mut f, &li);
    progress(&mut f, &d, DialProgress::Failed { side: CallSide::Customer, reason: DialFailure::Rejected });
    let r = history_of(&f, a, &li);
    assert_eq!((r.outcome, r.summary.as_str()), (Outcome::Failed, "callback to +4930123456: rejected (1 attempt)"));
}

#[test]
fn cancelling_while_the_phones_ring_hangs_up_the_legs() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    ann_ready(&mut f, true);
    let li = ask(&mut f, a, "+4930123456", None).unwrap();
    let d = taken(&mut f, &li);
    progress(&mut f, &d, DialProgress::CustomerRinging);
    let id = f.hub.client(a).end_interaction(li.id.clone());
    f.answer(a, id).unwrap();
    let events = f.broker_events();
    assert!(events.iter().any(|e| matches!(e, BrokerEvent::DialCancelled { interaction } if *interaction == li.id)), "{events:?}");
    let r = history_of(&f, a, &li);
    assert_eq!((r.outcome, r.summary.as_str()), (Outcome::Abandoned, "callback to +4930123456: cancelled before it was put through"));
    // The dialer's own report of the cancel finds nothing to change.
    assert!(f.hub.broker.center_dial_progress(f.now, &d.interaction, d.dial, DialProgress::Failed { side: CallSide::Customer, reason: DialFailure::Cancelled }).is_err());
    // An agent ending a connected callback hangs it up too.
    let li = ask(&mut f, a, "+4930123456", None).unwrap();
    let d = taken(&mut f, &li);
    progress(&mut f, &d, DialProgress::Connected);
    f.hub.broker.agent_end(f.now, &ann(), &li.id).unwrap();
    f.settle();
    assert!(f.broker_events().iter().any(|e| matches!(e, BrokerEvent::DialCancelled { interaction } if *interaction == li.id)));
    assert_eq!(history_of(&f, a, &li).outcome, Outcome::Completed);
}

#[test]
fn a_booked_callback_joins_the_queue_when_its_slot_comes() {
    let mut f = dialing();
    let a = f.connect("alice", 1);
    let b = f.connect("bob", 1);
    let window = AgendaWindow { days: vec![3], start_minute: 600, end_minute: 720, time_zone: "Europe/Paris".into(), media: vec![Medium::Callback] };
    let id = f.hub.client(a).update_profile(ProfilePatch { agenda: Some(vec![window]), ..Default::default() });
    f.answer(a, id).unwrap();
    let slot = Timestamp(T0.0 + 30 * 60_000);
    let li = ask(&mut f, a, "+4930123456", Some(slot)).unwrap();
    assert!(matches!(li.state, InteractionState::Queued { position: 0, estimated_hold_secs: None }), "not in the queue yet: {li:?}");
    // Ann is free, yet only Bob's chat is offered to her meanwhile.
    ann_ready(&mut f, true);
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(chat)) = f.answer(b, id) else { panic!() };
    assert!(f.agent_events("ann").iter().all(|e| !matches!(e, AgentEvent::Offered(o) if o.id == li.id)));
    f.hub.broker.agent_accept(f.now, &ann(), &chat.id).unwrap();
    f.hub.broker.agent_end(f.now, &ann(), &chat.id).unwrap();
    f.settle();
    f.advance(29 * 60_000);
    assert!(f.agent_events("ann").iter().all(|e| !matches!(e, AgentEvent::Offered(o) if o.id == li.id)), "not before its slot");
    f.advance(60_000);
    let d = taken(&mut f, &li);
    assert_eq!(d.number, "+4930123456");
    assert!(f.events(a).iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.id == li.id)), "the client saw it move");
}

#[test]
fn without_a_dialer_the_agent_sees_the_number_and_calls_by_hand() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    ann_ready(&mut f, false);
    // "Call me now" through the plain start request uses the profile's phone number.
    let caps = vec![frontdesk_core::profile::Capability { medium: Medium::Voice, address: Some("+44 20 7946 0000".into()), devices: vec![] }];
    let id = f.hub.client(a).update_profile(ProfilePatch { capabilities: Some(caps), ..Default::default() });
    f.answer(a, id).unwrap();
    let id = f.hub.client(a).start_interaction(Medium::Callback, Some("router".into()), None, None);
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!() };
    assert_eq!(li.callback.as_ref().unwrap().number, "+442079460000");
    let offered = f.agent_events("ann");
    assert!(offered.iter().any(|e| matches!(e, AgentEvent::Offered(o) if o.id == li.id && o.client_address.as_deref() == Some("+442079460000"))), "{offered:?}");
    let got = f.hub.broker.agent_accept(f.now, &ann(), &li.id).unwrap();
    f.settle();
    assert_eq!(got.state, InteractionState::Connected);
    assert!(!f.broker_events().iter().any(|e| matches!(e, BrokerEvent::DialOwed)));
    assert!(f.hub.broker.take_dials(f.now).is_empty());
}
