//! Pushes: a client whose app is backgrounded (no attached session) is woken once per window by
//! an agent's message, an invitation or a connected interaction, and reads it all on its return.

use frontdesk_core::broker::{BrokerConfig, BrokerEvent};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::protocol::Response;
use frontdesk_core::push::{PushPlatform, PushTarget};
use frontdesk_core::{AgentId, Medium};
use frontdesk_tests::{cid, Fixture};
use std::time::Duration;

fn pushes(f: &mut Fixture) -> Vec<BrokerEvent> {
    f.broker_events().into_iter().filter(|e| matches!(e, BrokerEvent::Push { .. })).collect()
}

#[test]
fn an_away_client_is_pushed_once_per_window_and_reads_everything_on_return() {
    let mut f = Fixture::with_config(BrokerConfig { push_interval: Duration::from_secs(30), ..BrokerConfig::default() });
    let ann = AgentId::from("ann");
    f.ann_available();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).register_push(PushPlatform::Fcm, "fcm-token-1");
    assert_eq!(f.answer(a, id), Ok(Response::Done));
    assert_eq!(f.hub.broker.push_targets(&cid("alice")), [PushTarget { platform: PushPlatform::Fcm, token: "fcm-token-1".into() }]);
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!("no interaction") };
    f.hub.broker.agent_accept(f.now, &ann, &li.id).unwrap();
    f.settle();
    assert!(pushes(&mut f).is_empty(), "an attached client is not pushed");

    // The OS closes the backgrounded app's socket; the agent writes twice.
    f.hub.set_online(f.now, a, false);
    f.events(a);
    f.hub.broker.agent_send_chat(f.now, &ann, &li.id, "Your router ships tomorrow; anything else?").unwrap();
    f.settle();
    f.advance(5_000);
    f.hub.broker.agent_send_chat(f.now, &ann, &li.id, "Still there?").unwrap();
    f.settle();
    let p = pushes(&mut f);
    assert_eq!(p.len(), 1, "one push per window: {p:?}");
    let BrokerEvent::Push { client, target, title, body, interaction, .. } = &p[0] else { unreachable!() };
    assert_eq!(client, &cid("alice"));
    assert_eq!(target.token, "fcm-token-1");
    assert_eq!(title, "Ann");
    assert_eq!(body, "Your router ships tomorrow; anything else?");
    assert_eq!(interaction.as_ref(), Some(&li.id));

    // After the window, the next message wakes it again.
    f.advance(30_000);
    f.hub.broker.agent_send_chat(f.now, &ann, &li.id, "x".repeat(300).as_str()).unwrap();
    f.settle();
    let p = pushes(&mut f);
    assert_eq!(p.len(), 1, "{p:?}");
    let BrokerEvent::Push { body, .. } = &p[0] else { unreachable!() };
    assert_eq!(body.chars().count(), 121, "the preview is cut at 120 characters and an ellipsis");

    // The app comes back: every message arrives through the session as usual.
    f.hub.set_online(f.now, a, true);
    f.advance(60_000);
    let ev = f.events(a);
    assert!(ev.iter().any(|e| matches!(e, ClientEvent::Connected { resumed: true })), "{ev:?}");
    let texts: Vec<String> = ev
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Pushed(frontdesk_core::protocol::Event::Chat(m)) => Some(m.text),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[1], "Still there?");

    // While attached, nothing is pushed; once unregistered, nothing either.
    f.advance(60_000);
    f.hub.broker.agent_send_chat(f.now, &ann, &li.id, "Good to see you").unwrap();
    f.settle();
    assert!(pushes(&mut f).is_empty());
    let id = f.hub.client(a).unregister_push("fcm-token-1");
    assert_eq!(f.answer(a, id), Ok(Response::Done));
    f.hub.set_online(f.now, a, false);
    f.hub.broker.agent_send_chat(f.now, &ann, &li.id, "Bye").unwrap();
    f.settle();
    assert!(pushes(&mut f).is_empty());
    assert!(f.hub.broker.push_targets(&cid("alice")).is_empty());
}

#[test]
fn an_invitation_wakes_an_away_client_and_bad_tokens_are_refused() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).register_push(PushPlatform::Apns, "");
    assert!(f.answer(a, id).is_err(), "an empty token is refused");
    let id = f.hub.client(a).register_push(PushPlatform::Webpush, "{\"endpoint\":\"https://push.example/1\"}");
    assert_eq!(f.answer(a, id), Ok(Response::Done));
    let id = f.hub.client(a).register_push(PushPlatform::Webhook, "device-2");
    assert_eq!(f.answer(a, id), Ok(Response::Done));
    f.hub.set_online(f.now, a, false);
    f.broker_events();
    f.hub.broker.agent_invite(f.now, &AgentId::from("ann"), &cid("alice"), Medium::Chat, "Can I help with your order?").unwrap();
    f.settle();
    let p = pushes(&mut f);
    assert_eq!(p.len(), 2, "one per device: {p:?}");
    let BrokerEvent::Push { title, body, .. } = &p[0] else { unreachable!() };
    assert_eq!(title, "Ann invites you to a chat");
    assert_eq!(body, "Can I help with your order?");
}

#[test]
fn a_fresh_app_on_the_same_installation_gets_what_waited_after_events_its_predecessor_acknowledged() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    f.hub.broker.agent_invite(f.now, &AgentId::from("ann"), &cid("alice"), Medium::Chat, "First?").unwrap();
    f.settle();
    f.advance(1000);
    f.settle();
    assert_eq!(f.hub.client(a).view().invitations.len(), 1, "the first invitation arrived while attached");
    f.hub.set_online(f.now, a, false);
    f.hub.broker.agent_invite(f.now, &AgentId::from("ann"), &cid("alice"), Medium::Chat, "Second?").unwrap();
    f.settle();
    // The app was reinstalled, or its process died before it saved: same installation, empty state.
    let b = f.connect("alice", 1);
    f.settle();
    f.advance(1000);
    f.settle();
    assert!(f.events(b).iter().any(|e| matches!(e, ClientEvent::Connected { resumed: true })));
    let msgs: Vec<String> = f.hub.client(b).view().invitations.values().map(|i| i.message.clone()).collect();
    assert!(msgs.contains(&"Second?".to_owned()), "what waited while away is delivered, not held behind acknowledged events: {msgs:?}");
}
