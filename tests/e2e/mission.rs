//! The mission flow end to end through the embedded in-memory transport.

use frontdesk_core::alert::AlertRule;
use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{Author, InteractionState};
use frontdesk_core::invitation::InvitationState;
use frontdesk_core::monitor::presence::{BasicStatus, Presentity};
use frontdesk_core::profile::{AgendaWindow, Capability, Demographics, Interests, ProfilePatch};
use frontdesk_core::protocol::{ErrorCode, Event, Response};
use frontdesk_core::records::{DeliveryDetails, HistoryFilter, OrderStatus, Outcome};
use frontdesk_core::status::{AgentState, ClientActivity, ClientStatus};
use frontdesk_core::{AgentId, Medium, Timestamp};
use frontdesk_tests::{Fixture, T0};

fn full_patch() -> ProfilePatch {
    ProfilePatch {
        demographics: Some(Demographics { name: Some("Alice Martin".into()), languages: vec!["fr".into(), "en".into()], country: Some("FR".into()), birth_year: Some(1990) }),
        capabilities: Some(vec![
            Capability { medium: Medium::Chat, address: None, devices: vec!["mobile".into()] },
            Capability { medium: Medium::Callback, address: Some("+33 1 23 45 67 89".into()), devices: vec!["mobile".into()] },
        ]),
        agenda: Some(vec![AgendaWindow { days: vec![1, 2, 3, 4, 5], start_minute: 18 * 60, end_minute: 21 * 60, time_zone: "Europe/Paris".into(), media: vec![] }]),
        interests: Some(Interests { products: vec!["router".into()], topics: vec!["billing".into()] }),
    }
}

#[test]
fn client_posts_and_edits_own_data() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).update_profile(full_patch());
    // Optimistic: the view shows the edit before the broker answered.
    assert_eq!(f.hub.client_ref(a).view().profile.demographics.name.as_deref(), Some("Alice Martin"));
    let Response::Profile(p) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(p.revision, 1);
    assert_eq!(p.agenda[0].time_zone, "Europe/Paris");
    // A second edit replaces only what it names.
    let id = f.hub.client(a).update_profile(ProfilePatch { interests: Some(Interests { products: vec!["tv".into()], topics: vec![] }), ..Default::default() });
    let Response::Profile(p) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(p.revision, 2);
    assert_eq!(p.demographics.country.as_deref(), Some("FR"));
    assert_eq!(p.interests.products, vec!["tv".into()]);
    // Stored: a second device of the same client reads it back.
    let a2 = f.connect("alice", 2);
    assert_eq!(f.hub.client_ref(a2).view().profile, p);
    // Invalid edits are refused with a reason and change nothing.
    let bad = ProfilePatch { agenda: Some(vec![AgendaWindow { days: vec![9], start_minute: 10, end_minute: 5, time_zone: "".into(), media: vec![] }]), ..Default::default() };
    let id = f.hub.client(a).update_profile(bad);
    let e = f.answer(a, id).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let id = f.hub.client(a).get_profile();
    assert_eq!(f.answer(a, id).unwrap(), Response::Profile(p));
}

#[test]
fn edits_on_one_device_reach_the_other() {
    let mut f = Fixture::new();
    let a1 = f.connect("alice", 1);
    let a2 = f.connect("alice", 2);
    f.events(a2);
    let id = f.hub.client(a1).update_profile(full_patch());
    f.answer(a1, id).unwrap();
    let ev = f.events(a2);
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::ProfileChanged(p)) if p.revision == 1)), "{ev:?}");
    assert_eq!(f.hub.client_ref(a2).view().profile.demographics.name.as_deref(), Some("Alice Martin"));
}

#[test]
fn history_is_filtered_by_product_agent_and_date() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let all = f.hub.client(a).get_history(HistoryFilter::default());
    let Response::History(v) = f.answer(a, all).unwrap() else { panic!() };
    assert_eq!(v.len(), 3, "only alice's records");
    assert!(v.windows(2).all(|w| w[0].started_at >= w[1].started_at), "newest first");
    let id = f.hub.client(a).get_history(HistoryFilter { product: Some("router".into()), ..Default::default() });
    let Response::History(v) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(v.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["h0", "h2"]);
    let id = f.hub.client(a).get_history(HistoryFilter { agent: Some("bo".into()), ..Default::default() });
    let Response::History(v) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(v.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["h1", "h2"]);
    let id = f.hub.client(a).get_history(HistoryFilter { product: Some("router".into()), agent: Some("bo".into()), ..Default::default() });
    let Response::History(v) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(v.len(), 1);
    let id = f.hub.client(a).get_history(HistoryFilter { from: Some(Timestamp(T0.0 - 2 * 86_400_000)), ..Default::default() });
    let Response::History(v) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(v.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["h0", "h1"]);
    // Bob's TV record is not alice's, whatever the filter.
    let id = f.hub.client(a).get_history(HistoryFilter { product: Some("tv".into()), ..Default::default() });
    assert_eq!(f.answer(a, id).unwrap(), Response::History(vec![]));
}

#[test]
fn client_changes_delivery_of_own_open_order_only() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let d = DeliveryDetails { address: "9 Rue Neuve, Paris".into(), window: Some("after 18:00".into()), instructions: Some("ring twice".into()) };
    let id = f.hub.client(a).update_delivery("o1".into(), d.clone());
    let Response::Order(o) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(o.delivery, d);
    assert_eq!(f.hub.broker.store().order(&"o1".into()).unwrap().unwrap().delivery, d);
    // Shipped orders cannot change.
    let id = f.hub.client(a).update_delivery("o2".into(), d.clone());
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Conflict);
    // Bob's order is invisible to alice: same answer as a missing one.
    let id = f.hub.client(a).update_delivery("o3".into(), d.clone());
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(f.hub.broker.store().order(&"o3".into()).unwrap().unwrap().delivery.address, "1 Main St");
    // The center moves the order on; the client sees it live.
    f.events(a);
    f.hub.broker.center_set_order_status(f.now, &"o1".into(), OrderStatus::Shipped).unwrap();
    f.settle();
    assert_eq!(f.hub.client_ref(a).view().orders[&"o1".into()].status, OrderStatus::Shipped);
    assert_eq!(f.hub.client_ref(a).view().orders[&"o1".into()].history.len(), 2);
}

#[test]
fn center_status_is_pushed_live() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let c = f.hub.client_ref(a).view().center.clone().unwrap();
    let q = c.queue(&"support".into(), Medium::Chat).unwrap();
    assert_eq!((q.agents_available, q.agents_staffed, q.offered), (0, 0, false));
    assert!(!c.media_offered.contains(&Medium::Chat));
    f.events(a);
    f.ann_available();
    let ev = f.events(a);
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Presence(d) if d.entity == Presentity::Center)), "{ev:?}");
    let c = f.hub.client_ref(a).view().center.clone().unwrap();
    let q = c.queue(&"support".into(), Medium::Chat).unwrap();
    assert_eq!((q.agents_available, q.agents_staffed, q.offered), (1, 1, true));
    assert_eq!(q.estimated_hold_secs, Some(0.0));
    assert!(c.media_offered.contains(&Medium::Chat) && c.media_offered.contains(&Medium::Voice));
    assert_eq!(c.available_agents(Some(&"router".into())).count(), 1);
    assert_eq!(c.available_agents(Some(&"tv".into())).count(), 0);
    // Ann busy with bob; alice joins the queue: holding and a positive hold time appear.
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(li) = f.answer(b, id).unwrap() else { panic!() };
    f.hub.broker.agent_accept(f.now, &"ann".into(), &li.id).unwrap();
    f.settle();
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(li) = f.answer(a, id).unwrap() else { panic!() };
    let InteractionState::Queued { position, estimated_hold_secs } = li.state else { panic!("{li:?}") };
    assert_eq!(position, 1);
    assert!(estimated_hold_secs.unwrap() > 0.0);
    let c = f.hub.client_ref(a).view().center.clone().unwrap();
    let q = c.queue(&"support".into(), Medium::Chat).unwrap();
    assert_eq!((q.holding, q.agents_available), (1, 0));
    assert!(q.estimated_hold_secs.unwrap() > 0.0);
}

#[test]
fn center_sees_client_status_and_client_controls_who_else_does() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let b = f.connect("bob", 1);
    let ann = frontdesk_core::principal::Principal::Agent("ann".into(), frontdesk_core::principal::AgentRole::Agent);
    let alice = Presentity::Client("alice".into());
    let doc = f.hub.broker.monitor().fetch(&ann, &alice).unwrap();
    assert!(doc.is_open(), "connected clients are online to the center");
    let id = f.hub.client(a).set_status(ClientStatus { activity: ClientActivity::Idle, medium: Some(Medium::Chat), note: Some("on the bus".into()) });
    f.answer(a, id).unwrap();
    let doc = f.hub.broker.monitor().fetch(&ann, &alice).unwrap();
    assert_eq!(doc.client.unwrap().note.as_deref(), Some("on the bus"));
    // Bob watches alice: politely blocked, he sees "closed" and nothing else.
    let id = f.hub.client(b).watch(alice.clone());
    let Response::Presence(d) = f.answer(b, id).unwrap() else { panic!() };
    assert_eq!(d.tuples[0].status, BasicStatus::Closed);
    assert!(d.client.is_none());
    // Alice lists her watchers, then allows bob; he now sees her real status.
    let id = f.hub.client(a).list_watchers();
    let Response::Watchers(w) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(w.len(), 1);
    use frontdesk_core::monitor::access::{AccessRule, Decision, WatcherMatch};
    let id = f.hub.client(a).set_access_rules(vec![AccessRule { watcher: WatcherMatch::Client("bob".into()), decision: Decision::Allow }]);
    f.answer(a, id).unwrap();
    f.settle();
    let d = f.hub.client_ref(b).view().presence[&alice].clone();
    assert!(d.is_open());
    assert_eq!(d.client.unwrap().activity, ClientActivity::Idle);
    // Bob cannot set alice's rules.
    let e = f.hub.broker.monitor().list_watchers(&frontdesk_core::principal::Principal::Client("bob".into()), &alice).unwrap_err();
    assert!(matches!(e, frontdesk_core::monitor::MonitorError::NotOwner(_)));
    // Alice goes offline: the center sees it.
    f.hub.set_online(f.now, a, false);
    assert!(!f.hub.broker.monitor().fetch(&ann, &alice).unwrap().is_open());
}

#[test]
fn alerts_fire_when_an_agent_comes_online_and_hold_time_drops() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).subscribe_alert(AlertRule::AgentAvailable { agent: None, product: Some("router".into()), medium: Some(Medium::Chat) });
    f.answer(a, id).unwrap();
    let id = f.hub.client(a).subscribe_alert(AlertRule::HoldTimeBelow { queue: Some("support".into()), medium: Medium::Chat, seconds: 60.0 });
    f.answer(a, id).unwrap();
    assert!(f.hub.client_ref(a).view().alerts.is_empty(), "nothing holds yet");
    f.ann_available();
    let alerts = f.hub.client_ref(a).view().alerts.clone();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts.iter().any(|x| x.message.contains("Ann is available")));
    // Edge-triggered: a repeated state does not fire again; going away and back does.
    f.hub.broker.agent_set_state(f.now, &"ann".into(), AgentState::Away).unwrap();
    f.settle();
    f.ann_available();
    assert_eq!(f.hub.client_ref(a).view().alerts.len(), 4);
}

#[test]
fn agent_invites_client_who_accepts_and_chats() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    f.ann_available();
    let inv = f.hub.broker.agent_invite(f.now, &"ann".into(), &"alice".into(), Medium::Chat, "Can I help with your router?").unwrap();
    f.settle();
    let ev = f.events(a);
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::Invitation(i)) if i.id == inv.id && i.agent_name == "Ann")), "{ev:?}");
    let id = f.hub.client(a).respond_invitation(inv.id.clone(), true);
    let Response::Invitation(i) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(i.state, InvitationState::Accepted);
    let ix = i.interaction.unwrap();
    assert_eq!(f.hub.client_ref(a).view().interactions[&ix].state, InteractionState::Connected);
    let ae = f.agent_events("ann");
    assert!(ae.iter().any(|e| matches!(e, AgentEvent::Connected(li) if li.id == ix)));
    assert_eq!(f.hub.broker.monitor().agent(&"ann".into()).unwrap().state, AgentState::Busy);
    // Chat both ways, with delivery acknowledgements both ways.
    let id = f.hub.client(a).send_chat(ix.clone(), "Yes please, it keeps rebooting");
    let Response::Chat(m) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(m.seq, 1);
    assert!(f.hub.client_ref(a).view().delivered.contains(&(ix.clone(), 1)));
    let ae = f.agent_events("ann");
    assert!(ae.iter().any(|e| matches!(e, AgentEvent::Chat(m) if m.text.contains("rebooting"))));
    let m = f.hub.broker.agent_send_chat(f.now, &"ann".into(), &ix, "Let's update its firmware").unwrap();
    f.settle();
    let chat = &f.hub.client_ref(a).view().chats[&ix];
    assert_eq!(chat.len(), 2);
    assert_eq!(chat[1].from, Author::Agent("ann".into()));
    let ae = f.agent_events("ann");
    assert!(ae.contains(&AgentEvent::ChatDelivered { interaction: ix.clone(), seq: m.seq }), "{ae:?}");
    // The agent ends it: it becomes history, ann is free again.
    f.hub.broker.agent_end(f.now, &"ann".into(), &ix).unwrap();
    f.settle();
    let v = f.hub.client_ref(a).view();
    assert!(matches!(v.interactions[&ix].state, InteractionState::Ended { outcome: Outcome::Completed }));
    assert_eq!(v.history[0].id, ix);
    assert_eq!(v.history[0].direction, frontdesk_core::records::Direction::Outbound);
    assert_eq!(f.hub.broker.monitor().agent(&"ann".into()).unwrap().state, AgentState::Available);
}

#[test]
fn invitations_can_be_declined_expire_and_cannot_be_forged() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let b = f.connect("bob", 1);
    f.ann_available();
    let inv = f.hub.broker.agent_invite(f.now, &"ann".into(), &"alice".into(), Medium::Voice, "Call?").unwrap();
    f.settle();
    // Bob tries to accept alice's invitation: refused as if it did not exist.
    let id = f.hub.client(b).respond_invitation(inv.id.clone(), true);
    assert_eq!(f.answer(b, id).unwrap_err().code, ErrorCode::NotFound);
    // A made-up id is refused too.
    let id = f.hub.client(a).respond_invitation("inv-forged".into(), true);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    // Alice declines; the agent hears it; a second answer conflicts.
    let id = f.hub.client(a).respond_invitation(inv.id.clone(), false);
    let Response::Invitation(i) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(i.state, InvitationState::Declined);
    assert!(f.agent_events("ann").iter().any(|e| matches!(e, AgentEvent::InvitationUpdated(i) if i.state == InvitationState::Declined)));
    let id = f.hub.client(a).respond_invitation(inv.id.clone(), true);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Conflict);
    // An unanswered invitation expires; accepting it afterwards says so.
    let inv = f.hub.broker.agent_invite(f.now, &"ann".into(), &"alice".into(), Medium::Chat, "Still there?").unwrap();
    f.advance(121_000);
    assert_eq!(f.hub.client_ref(a).view().invitations[&inv.id].state, InvitationState::Expired);
    let id = f.hub.client(a).respond_invitation(inv.id.clone(), true);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Expired);
}

#[test]
fn client_invites_an_agent() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    f.ann_available();
    let id = f.hub.client(a).invite_agent("ann".into(), Medium::Chat, "You helped me last week");
    let Response::Invitation(inv) = f.answer(a, id).unwrap() else { panic!() };
    assert!(f.agent_events("ann").iter().any(|e| matches!(e, AgentEvent::InvitationReceived(i) if i.id == inv.id)));
    let i = f.hub.broker.agent_respond_invitation(f.now, &"ann".into(), &inv.id, true).unwrap();
    f.settle();
    let ix = i.interaction.unwrap();
    assert_eq!(f.hub.client_ref(a).view().invitations[&inv.id].state, InvitationState::Accepted);
    assert_eq!(f.hub.client_ref(a).view().invitations[&inv.id].interaction.as_ref(), Some(&ix), "the pushed copy names the interaction");
    assert_eq!(f.hub.client_ref(a).view().interactions[&ix].state, InteractionState::Connected);
    // Another agent cannot answer it.
    let e = f.hub.broker.agent_respond_invitation(f.now, &"sam".into(), &inv.id, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    // Inviting an agent who is not logged in is refused.
    let id = f.hub.client(a).invite_agent("nobody".into(), Medium::Chat, "");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Unavailable);
}

#[test]
fn live_interaction_in_chosen_medium_is_queued_offered_connected_and_ended() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    // Nobody staffs the queue: the medium is not offered.
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, Some("rebooting".into()));
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Unavailable);
    f.ann_available();
    // Callback needs a phone number first.
    let id = f.hub.client(a).start_interaction(Medium::Callback, Some("router".into()), None, None);
    let e = f.answer(a, id).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(e.message.contains("callback"), "{e}");
    // Video is not a medium of the support queue.
    let id = f.hub.client(a).start_interaction(Medium::Video, None, Some("support".into()), None);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    // Callback with a number: queued, offered to ann, accepted.
    let id = f.hub.client(a).update_profile(full_patch());
    f.answer(a, id).unwrap();
    let id = f.hub.client(a).start_interaction(Medium::Callback, Some("router".into()), None, Some("rebooting".into()));
    let Response::Interaction(li) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(li.client_address.as_deref(), Some("+33123456789"), "normalized to E.164");
    assert_eq!(li.queue.as_ref().unwrap().as_str(), "support");
    let offered = f.agent_events("ann");
    assert!(offered.iter().any(|e| matches!(e, AgentEvent::Offered(x) if x.id == li.id)), "{offered:?}");
    // Ann declines: nobody else, it stays queued; the offer times out for nobody.
    f.hub.broker.agent_decline(f.now, &"ann".into(), &li.id).unwrap();
    f.settle();
    assert!(matches!(f.hub.broker.interaction(&li.id).unwrap().state, InteractionState::Queued { .. }));
    // A second agent logs in and gets it.
    f.hub.broker.agent_login(f.now, "bo".into(), "Bo", frontdesk_core::principal::AgentRole::Agent, vec!["router".into()], vec![Medium::Callback]);
    f.hub.broker.agent_set_state(f.now, &"bo".into(), AgentState::Available).unwrap();
    f.settle();
    assert!(f.agent_events("bo").iter().any(|e| matches!(e, AgentEvent::Offered(x) if x.id == li.id)));
    f.hub.broker.agent_accept(f.now, &"bo".into(), &li.id).unwrap();
    f.settle();
    assert_eq!(f.hub.client_ref(a).view().interactions[&li.id].state, InteractionState::Connected);
    assert_eq!(f.hub.client_ref(a).view().interactions[&li.id].agent, Some(AgentId::from("bo")));
    // The client hangs up.
    let id = f.hub.client(a).end_interaction(li.id.clone());
    f.answer(a, id).unwrap();
    let id = f.hub.client(a).get_history(HistoryFilter { agent: Some("bo".into()), product: Some("router".into()), ..Default::default() });
    let Response::History(v) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(v[0].id, li.id);
    assert_eq!(v[0].medium, Medium::Callback);
    assert_eq!(v[0].summary, "rebooting");
}

#[test]
fn queued_client_sees_position_move_and_can_abandon() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let b = f.connect("bob", 1);
    f.ann_available();
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(lb) = f.answer(b, id).unwrap() else { panic!() };
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(la) = f.answer(a, id).unwrap() else { panic!() };
    assert!(matches!(la.state, InteractionState::Queued { position: 2, .. }), "{la:?}");
    f.hub.broker.agent_accept(f.now, &"ann".into(), &lb.id).unwrap();
    f.settle();
    assert!(matches!(f.hub.client_ref(a).view().interactions[&la.id].state, InteractionState::Queued { position: 1, .. }));
    let id = f.hub.client(a).end_interaction(la.id.clone());
    let Response::Interaction(x) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(x.state, InteractionState::Ended { outcome: Outcome::Abandoned });
    assert_eq!(f.hub.broker.monitor().center_status().queue(&"support".into(), Medium::Chat).unwrap().holding, 0);
}
