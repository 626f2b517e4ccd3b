//! The agent desktop's requests: transfer to an agent or a queue with the history following,
//! wrap-up after the end, the real state, and the supervisor's wallboard — with who may do what.

use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::principal::AgentRole;
use frontdesk_core::protocol::{ErrorCode, Event, Response, TransferTarget};
use frontdesk_core::status::AgentState;
use frontdesk_core::{AgentId, InteractionId, Medium};
use frontdesk_tests::Fixture;

fn ann() -> AgentId {
    "ann".into()
}

fn bo() -> AgentId {
    "bo".into()
}

/// Ann (available) takes a chat from `client`; returns its id.
fn chat_taken_by_ann(f: &mut Fixture, client: &str, instance: u64) -> (frontdesk_core::embedded::Slot, InteractionId) {
    let s = f.connect(client, instance);
    let id = f.hub.client(s).start_interaction(Medium::Chat, Some("router".into()), None, Some("rebooting".into()));
    let Response::Interaction(li) = f.answer(s, id).unwrap() else { panic!("no interaction") };
    f.hub.broker.agent_accept(f.now, &ann(), &li.id).unwrap();
    f.settle();
    (s, li.id)
}

/// Bo, a second agent, seated and available for chat.
fn bo_available(f: &mut Fixture) {
    f.hub.broker.agent_login(f.now, bo(), "Bo", AgentRole::Agent, vec!["router".into()], vec![Medium::Chat]);
    f.hub.broker.agent_set_state(f.now, &bo(), AgentState::Available).unwrap();
    f.settle();
}

fn seat_state(f: &mut Fixture, agent: &AgentId) -> AgentState {
    f.hub.broker.monitor().center_status().agents.iter().find(|a| &a.id == agent).map(|a| a.state).expect("seated")
}

#[test]
fn two_chats_keep_the_agent_busy_until_the_last_ends() {
    let mut f = Fixture::new();
    f.ann_available();
    let (_, one) = chat_taken_by_ann(&mut f, "alice", 1);
    assert_eq!(seat_state(&mut f, &ann()), AgentState::Busy, "busy while in a conversation");
    // Busy agents are offered no more automatically; ann makes herself available for a second chat.
    f.hub.broker.agent_set_state(f.now, &ann(), AgentState::Available).unwrap();
    let (_, two) = chat_taken_by_ann(&mut f, "bob", 1);
    assert_eq!(f.hub.broker.agent_interactions(&ann()).len(), 2, "two conversations side by side");
    f.hub.broker.agent_end(f.now, &ann(), &one).unwrap();
    assert_eq!(seat_state(&mut f, &ann()), AgentState::Busy, "still one live");
    f.hub.broker.agent_end(f.now, &ann(), &two).unwrap();
    assert_eq!(seat_state(&mut f, &ann()), AgentState::Available);
}

#[test]
fn transfer_to_an_agent_keeps_the_client_and_the_history() {
    let mut f = Fixture::new();
    f.ann_available();
    let (a, ix) = chat_taken_by_ann(&mut f, "alice", 1);
    let id = f.hub.client(a).send_chat(ix.clone(), "It keeps rebooting");
    f.answer(a, id).unwrap();
    f.hub.broker.agent_send_chat(f.now, &ann(), &ix, "Let me get a specialist").unwrap();
    bo_available(&mut f);
    f.broker_events();
    f.events(a);

    f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Agent(bo()), Some("firmware 2.1, already rebooted".into())).unwrap();
    f.settle();
    let ev = f.broker_events();
    let to = |who: &str| -> Vec<&AgentEvent> {
        ev.iter()
            .filter_map(|e| match e {
                frontdesk_core::broker::BrokerEvent::Agent { agent, event } if agent.as_str() == who => Some(event),
                _ => None,
            })
            .collect()
    };
    assert!(to("ann").iter().any(|e| matches!(e, AgentEvent::Transferred { from, .. } if *from == ann())), "{ev:?}");
    let bo_ev = to("bo");
    assert!(bo_ev.iter().any(|e| matches!(e, AgentEvent::Transferred { note: Some(n), .. } if n.contains("firmware"))), "{bo_ev:?}");
    assert!(bo_ev.iter().any(|e| matches!(e, AgentEvent::Offered(li) if li.id == ix)), "{bo_ev:?}");
    // Ann lets go and is free again; the client is still there, told it waits for the next agent.
    assert!(f.hub.broker.agent_interactions(&ann()).is_empty());
    assert_eq!(seat_state(&mut f, &ann()), AgentState::Available);
    let cev = f.events(a);
    assert!(
        cev.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Interaction(li)) if li.id == ix && matches!(li.state, InteractionState::Queued { .. }) && li.agent.is_none())),
        "{cev:?}"
    );
    // Before accepting, bo reads the transcript and the customer's profile and history.
    let t = f.hub.broker.agent_transcript(&bo(), &ix, None, None).unwrap();
    assert_eq!(t.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), vec!["It keeps rebooting", "Let me get a specialist"]);
    assert!(f.hub.broker.agent_client_history(&bo(), &"alice".into(), &Default::default()).unwrap().len() >= 3);
    f.hub.broker.agent_accept(f.now, &bo(), &ix).unwrap();
    f.settle();
    assert_eq!(seat_state(&mut f, &bo()), AgentState::Busy);
    let cev = f.events(a);
    assert!(cev.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Interaction(li)) if li.agent == Some(bo()) && li.state == InteractionState::Connected)), "{cev:?}");
    // The same conversation goes on with bo; ann may no longer write in it.
    f.hub.broker.agent_send_chat(f.now, &bo(), &ix, "Hi, Bo here").unwrap();
    assert_eq!(f.hub.broker.agent_send_chat(f.now, &ann(), &ix, "still me?").unwrap_err().code, ErrorCode::Forbidden);
    // The note follows to the history record, and bo wraps it up.
    f.hub.broker.agent_end(f.now, &bo(), &ix).unwrap();
    let r = f.hub.broker.agent_wrap_up(f.now, &bo(), &ix, "resolved", Some("new firmware fixed it")).unwrap();
    assert_eq!(r.agent, Some(bo()));
    let texts: Vec<&str> = r.notes.iter().map(|n| n.text.as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("firmware 2.1")), "{texts:?}");
    assert!(texts.contains(&"Wrap-up: resolved. new firmware fixed it"), "{texts:?}");
}

#[test]
fn transfer_to_a_queue_waits_there_and_bad_targets_are_typed_errors() {
    let mut f = Fixture::new();
    f.ann_available();
    let (a, ix) = chat_taken_by_ann(&mut f, "alice", 1);
    // Unknown queue, agent not logged in, agent away, self: typed errors, nothing changes.
    let e = f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Queue("nowhere".into()), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Agent("zed".into()), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Unavailable);
    f.hub.broker.agent_login(f.now, bo(), "Bo", AgentRole::Agent, vec![], vec![Medium::Chat]);
    let e = f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Agent(bo()), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Unavailable, "bo is away");
    let e = f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Agent(ann()), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert_eq!(f.hub.broker.agent_interactions(&ann()).len(), 1, "still ann's");
    // Only the agent holding it may transfer it.
    f.hub.broker.agent_set_state(f.now, &bo(), AgentState::Available).unwrap();
    let e = f.hub.broker.agent_transfer(f.now, &bo(), &ix, TransferTarget::Agent(ann()), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // To the sales queue (chat): it waits there; bo does not serve sales, so it is not offered to bo.
    f.hub.broker.agent_transfer(f.now, &ann(), &ix, TransferTarget::Queue("sales".into()), None).unwrap();
    f.settle();
    let li = f.hub.client_ref(a).view().interactions.get(&ix).cloned().expect("still live for the client");
    assert_eq!(li.queue.as_ref().map(|q| q.as_str()), Some("sales"));
    assert!(matches!(li.state, InteractionState::Queued { .. }), "{li:?}");
    let wb = supervisor_wallboard(&mut f);
    let sales = wb.queues.iter().find(|q| q.figures.queue.as_str() == "sales" && q.figures.medium == Medium::Chat).unwrap();
    assert_eq!(sales.figures.holding, 1);
    assert!(sales.longest_wait_secs.is_some());
}

fn supervisor_wallboard(f: &mut Fixture) -> frontdesk_core::protocol::Wallboard {
    if f.hub.broker.monitor().center_status().agents.iter().all(|a| a.id.as_str() != "sam") {
        f.hub.broker.agent_login(f.now, "sam".into(), "Sam", AgentRole::Supervisor, vec![], vec![Medium::Chat]);
    }
    f.hub.broker.wallboard(&"sam".into()).unwrap()
}

#[test]
fn wrap_up_follows_the_end_once_with_a_listed_outcome() {
    let mut f = Fixture::new();
    f.ann_available();
    let (a, ix) = chat_taken_by_ann(&mut f, "alice", 1);
    let e = f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "resolved", None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "not before the end");
    f.hub.broker.agent_end(f.now, &ann(), &ix).unwrap();
    let e = f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "made up", None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(e.message.contains("resolved"), "names the list: {}", e.message);
    f.hub.broker.agent_login(f.now, bo(), "Bo", AgentRole::Agent, vec![], vec![Medium::Chat]);
    assert_eq!(f.hub.broker.agent_wrap_up(f.now, &bo(), &ix, "resolved", None).unwrap_err().code, ErrorCode::Forbidden, "not bo's");
    f.events(a);
    f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "escalated", None).unwrap();
    f.settle();
    // Stored on the history record, which the client's app sees change.
    let ev = f.events(a);
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::HistoryChanged(r)) if r.id == ix && r.notes.iter().any(|n| n.text == "Wrap-up: escalated"))), "{ev:?}");
    assert_eq!(f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "resolved", None).unwrap_err().code, ErrorCode::Conflict, "once");
}

#[test]
fn wrap_up_takes_free_text_when_no_list_is_configured() {
    let cfg = frontdesk_core::broker::BrokerConfig { wrap_up_outcomes: vec![], ..Default::default() };
    let mut f = Fixture::with_config(cfg);
    f.ann_available();
    let (_, ix) = chat_taken_by_ann(&mut f, "alice", 1);
    f.hub.broker.agent_end(f.now, &ann(), &ix).unwrap();
    assert_eq!(f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "  ", None).unwrap_err().code, ErrorCode::Invalid);
    let r = f.hub.broker.agent_wrap_up(f.now, &ann(), &ix, "sold an extender", None).unwrap();
    assert!(r.notes.iter().any(|n| n.text == "Wrap-up: sold an extender"));
}

#[test]
fn the_wallboard_shows_queues_agents_and_service_level_to_supervisors_only() {
    let mut f = Fixture::new();
    assert_eq!(f.hub.broker.wallboard(&ann()).unwrap_err().code, ErrorCode::Forbidden, "an agent may not");
    let wb = supervisor_wallboard(&mut f);
    assert_eq!(wb.service_level, None, "nothing answered yet");
    assert_eq!(wb.threshold_secs, 20);
    // Alice waits 5 s (within 20 s), bob 30 s (outside), carol's… abandoned after 40 s: 1 of 3.
    f.ann_available();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(one) = f.answer(a, id).unwrap() else { panic!() };
    f.advance(5_000);
    f.hub.broker.agent_accept(f.now, &ann(), &one.id).unwrap();
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(two) = f.answer(b, id).unwrap() else { panic!() };
    f.advance(10_000);
    let wb = supervisor_wallboard(&mut f);
    let support = wb.queues.iter().find(|q| q.figures.queue.as_str() == "support" && q.figures.medium == Medium::Chat).unwrap();
    assert_eq!(support.figures.holding, 1, "bob waits");
    assert!(support.longest_wait_secs.unwrap() >= 10.0, "{support:?}");
    let ann_row = wb.agents.iter().find(|x| x.id == ann()).unwrap();
    assert_eq!((ann_row.state, ann_row.live.clone()), (AgentState::Busy, vec![one.id.clone()]));
    assert_eq!(wb.service_level, Some(1.0));
    f.advance(20_000);
    f.hub.broker.agent_set_state(f.now, &ann(), AgentState::Available).unwrap();
    f.settle();
    f.hub.broker.agent_accept(f.now, &ann(), &two.id).unwrap();
    let a2 = f.connect("alice", 2);
    let id = f.hub.client(a2).start_interaction(Medium::Chat, Some("phone".into()), None, None);
    let Response::Interaction(three) = f.answer(a2, id).unwrap() else { panic!() };
    f.advance(40_000);
    let id = f.hub.client(a2).end_interaction(three.id.clone());
    f.answer(a2, id).unwrap();
    let wb = supervisor_wallboard(&mut f);
    assert_eq!((wb.answered, wb.answered_in_threshold, wb.abandoned), (2, 1, 1));
    assert!((wb.service_level.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    // An hour later the window has moved past all of it.
    f.advance(3_700_000);
    assert_eq!(supervisor_wallboard(&mut f).service_level, None);
}

#[test]
fn console_sessions_get_the_same_answers_on_the_wire() {
    use frontdesk_core::protocol::{decode_body, AgentRequest};
    // The request bodies the desktop sends decode to the typed requests.
    let t: AgentRequest = decode_body(r#"{"op":"transfer","interaction":"i1","to":{"kind":"queue","id":"sales"},"note":"n"}"#).unwrap();
    assert_eq!(t, AgentRequest::Transfer { interaction: "i1".into(), to: TransferTarget::Queue("sales".into()), note: Some("n".into()) });
    let w: AgentRequest = decode_body(r#"{"op":"wrap_up","interaction":"i1","outcome":"resolved"}"#).unwrap();
    assert_eq!(w, AgentRequest::WrapUp { interaction: "i1".into(), outcome: "resolved".into(), note: None });
    assert_eq!(decode_body::<AgentRequest>(r#"{"op":"wallboard"}"#).unwrap(), AgentRequest::Wallboard);
    // A client has no such request: it is refused before anything runs.
    assert_eq!(decode_body::<frontdesk_core::protocol::Request>(r#"{"op":"wallboard"}"#).unwrap_err().code, ErrorCode::Invalid);
}

#[test]
fn the_customer_panel_shows_the_served_clients_orders_and_no_one_elses() {
    let mut f = Fixture::new();
    f.ann_available();
    let order = |id: &str, client: &str, at: u64| frontdesk_core::records::Order {
        id: id.into(),
        client: client.into(),
        product: "router".into(),
        status: frontdesk_core::records::OrderStatus::Placed,
        history: vec![frontdesk_core::records::StatusChange { at: frontdesk_core::Timestamp(at), status: frontdesk_core::records::OrderStatus::Placed }],
        delivery: Default::default(),
        revision: 1,
    };
    for o in [order("a-old", "alice", 1_000), order("a-new", "alice", 2_000), order("c-1", "carol", 1_500)] {
        f.hub.broker.center_put_order(o).unwrap();
    }
    // Before ann serves alice, her orders are not ann's to read.
    assert_eq!(f.hub.broker.agent_client_orders(&ann(), &"alice".into()).unwrap_err().code, ErrorCode::Forbidden);
    let (_, _chat) = chat_taken_by_ann(&mut f, "alice", 1);
    let orders = f.hub.broker.agent_client_orders(&ann(), &"alice".into()).unwrap();
    assert!(orders.iter().all(|o| o.client.0 == "alice"), "only alice's: {orders:?}");
    let ids: Vec<&str> = orders.iter().map(|o| o.id.0.as_str()).filter(|i| i.starts_with("a-")).collect();
    assert_eq!(ids, ["a-new", "a-old"], "newest first");
    // Serving alice does not open carol's orders; a supervisor reads any client's.
    assert_eq!(f.hub.broker.agent_client_orders(&ann(), &"carol".into()).unwrap_err().code, ErrorCode::Forbidden);
    f.hub.broker.agent_login(f.now, "sam".into(), "Sam", AgentRole::Supervisor, vec![], vec![Medium::Chat]);
    assert_eq!(f.hub.broker.agent_client_orders(&"sam".into(), &"carol".into()).unwrap().len(), 1);
}
