//! Email as a medium in the core: a client writes, an agent answers by mail (owed until the host's
//! mailer delivers it), replies come back into the interaction, closed threads reopen.

use frontdesk_core::broker::mail::{InboundMail, MailOutcome};
use frontdesk_core::broker::BrokerEvent;
use frontdesk_core::interaction::{Author, InteractionState};
use frontdesk_core::principal::AgentRole;
use frontdesk_core::profile::{Capability, ProfilePatch};
use frontdesk_core::protocol::{AgentEvent, ErrorCode, Response};
use frontdesk_core::{AgentId, InteractionId, Medium, Timestamp};
use frontdesk_tests::Fixture;

fn with_email(f: &mut Fixture, who: &str, address: &str) -> frontdesk_core::embedded::Slot {
    let a = f.connect(who, 1);
    let caps = vec![Capability { medium: Medium::Email, address: Some(address.into()), devices: vec![] }];
    let id = f.hub.client(a).update_profile(ProfilePatch { capabilities: Some(caps), ..Default::default() });
    f.answer(a, id).unwrap();
    a
}

/// Eve answers email for the support queue.
fn eve(f: &mut Fixture) -> AgentId {
    let eve = AgentId::from("eve");
    f.hub.broker.agent_login(f.now, eve.clone(), "Eve", AgentRole::Agent, vec!["router".into()], vec![Medium::Email]);
    f.hub.broker.agent_set_state(f.now, &eve, frontdesk_core::status::AgentState::Available).unwrap();
    f.settle();
    eve
}

/// Alice writes; eve takes it.
fn written_and_taken(f: &mut Fixture) -> (frontdesk_core::embedded::Slot, AgentId, InteractionId) {
    let a = with_email(f, "alice", "alice@example.org");
    let id = f.hub.client(a).send_email(Some("router".into()), "Router reboots", "It reboots every hour.");
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!("not started") };
    assert_eq!((li.medium, li.client_address.as_deref(), li.topic.as_deref()), (Medium::Email, Some("alice@example.org"), Some("Router reboots")));
    let e = eve(f);
    let offered = f.agent_events("eve");
    assert!(offered.iter().any(|x| matches!(x, AgentEvent::Offered(o) if o.id == li.id)), "{offered:?}");
    f.hub.broker.agent_accept(f.now, &e, &li.id).unwrap();
    f.settle();
    (a, e, li.id)
}

#[test]
fn email_waits_in_the_backlog_with_nobody_live_and_needs_a_text() {
    let mut f = Fixture::new();
    let a = with_email(&mut f, "alice", "alice@example.org");
    // No agent handles email now, yet it is offered: it waits in the backlog.
    let c = f.hub.client_ref(a).view().center.clone().unwrap();
    assert!(c.queue(&"support".into(), Medium::Email).unwrap().offered);
    let id = f.hub.client(a).send_email(None, "Hello", "  ");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
    let id = f.hub.client(a).send_email(None, "Hello", "Are you there?");
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!() };
    assert!(matches!(li.state, InteractionState::Queued { position: 1, .. }), "{li:?}");
    assert_eq!(f.hub.client_ref(a).view().chats[&li.id][0].text, "Are you there?", "the text is message 1");
    // Without an address there is no email.
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).send_email(None, "Hi", "text");
    assert_eq!(f.answer(b, id).unwrap_err().code, ErrorCode::Invalid);
}

#[test]
fn an_agents_reply_is_owed_as_mail_until_the_mailer_delivers_it() {
    let mut f = Fixture::new();
    let (a, e, ix) = written_and_taken(&mut f);
    f.broker_events();
    let m = f.hub.broker.agent_send_chat(f.now, &e, &ix, "Please update its firmware.").unwrap();
    f.settle();
    assert!(f.broker_events().iter().any(|x| matches!(x, BrokerEvent::MailOwed)), "the host is woken");
    let due = f.hub.broker.take_mail_due(f.now);
    assert_eq!(due.len(), 1);
    assert!(f.hub.broker.take_mail_due(f.now).is_empty(), "leased to the mailer");
    assert_eq!(f.hub.broker.take_mail_due(Timestamp(f.now.0 + 120_000)).len(), 1, "due again when the lease ends without an outcome");
    let mail = &due[0];
    assert_eq!((mail.to.as_str(), mail.subject.as_str(), mail.text.as_str(), mail.from_name.as_str()), ("alice@example.org", "Router reboots", "Please update its firmware.", "Eve"));
    assert_eq!((mail.interaction.clone(), mail.seq), (ix.clone(), m.seq));
    // The app sees the reply too.
    f.settle();
    assert!(f.hub.client_ref(a).view().chats[&ix].iter().any(|x| x.seq == m.seq && x.from == Author::Agent(e.clone())));
    // A relay that is down: tried again after a back-off, not before.
    f.hub.broker.center_mail_outcome(f.now, &mail.id, MailOutcome::Temporary("421 try later".into())).unwrap();
    assert!(f.hub.broker.take_mail_due(Timestamp(f.now.0 + 59_000)).is_empty());
    assert_eq!(f.hub.broker.take_mail_due(Timestamp(f.now.0 + 60_000)).len(), 1);
    f.hub.broker.center_mail_outcome(f.now, &mail.id, MailOutcome::Sent).unwrap();
    assert_eq!(f.hub.broker.mail_owed(), 0);
    assert_eq!(f.hub.broker.center_mail_outcome(f.now, &mail.id, MailOutcome::Sent).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn mail_that_cannot_go_is_reported_to_the_agent() {
    let mut f = Fixture::new();
    let (_a, e, ix) = written_and_taken(&mut f);
    let m1 = f.hub.broker.agent_send_chat(f.now, &e, &ix, "One").unwrap();
    let m2 = f.hub.broker.agent_send_chat(f.now, &e, &ix, "Two").unwrap();
    f.agent_events("eve");
    let id1 = format!("{ix}/{}", m1.seq);
    f.hub.broker.center_mail_outcome(f.now, &id1, MailOutcome::Permanent("550 no such user".into())).unwrap();
    f.settle();
    let ev = f.agent_events("eve");
    assert!(ev.iter().any(|x| matches!(x, AgentEvent::MailFailed { seq, reason, .. } if *seq == m1.seq && reason.contains("550"))), "{ev:?}");
    // Temporary failures give up after the configured attempts (8), with the agent told.
    let id2 = format!("{ix}/{}", m2.seq);
    for i in 0..8 {
        assert_eq!(f.hub.broker.mail_owed(), 1, "attempt {i}");
        f.hub.broker.center_mail_outcome(f.now, &id2, MailOutcome::Temporary("connection refused".into())).unwrap();
    }
    assert_eq!(f.hub.broker.mail_owed(), 0);
    f.settle();
    let ev = f.agent_events("eve");
    assert!(ev.iter().any(|x| matches!(x, AgentEvent::MailFailed { seq, reason, .. } if *seq == m2.seq && reason.contains("8 attempts"))), "{ev:?}");
}

#[test]
fn a_reply_by_mail_goes_into_its_interaction_and_a_late_one_reopens_the_matter() {
    let mut f = Fixture::new();
    let (a, e, ix) = written_and_taken(&mut f);
    f.agent_events("eve");
    let got = f
        .hub
        .broker
        .center_mail_received(f.now, InboundMail { interaction: Some(ix.clone()), from: "alice@work.example".into(), subject: "Re: Router reboots".into(), text: "Done, thanks".into() })
        .unwrap();
    assert!(!got.new_interaction && got.interaction == ix);
    f.settle();
    assert!(f.hub.client_ref(a).view().chats[&ix].iter().any(|m| m.text == "Done, thanks" && m.from == Author::Client("alice".into())));
    assert!(f.agent_events("eve").iter().any(|x| matches!(x, AgentEvent::Chat(m) if m.text == "Done, thanks")));
    // Eve closes it; a later reply to that thread starts a new interaction of alice's, queued.
    f.hub.broker.agent_end(f.now, &e, &ix).unwrap();
    let again = f
        .hub
        .broker
        .center_mail_received(f.now, InboundMail { interaction: Some(ix.clone()), from: "x@y".into(), subject: "Re: Router reboots".into(), text: "It is back".into() })
        .unwrap();
    assert!(again.new_interaction && again.interaction != ix);
    f.settle();
    let li = f.hub.client_ref(a).view().interactions.get(&again.interaction).cloned().expect("alice sees it");
    assert_eq!((li.medium, li.topic.as_deref(), li.product.as_ref().map(|p| p.as_str())), (Medium::Email, Some("Re: Router reboots"), Some("router")));
}

#[test]
fn mail_matched_to_nothing_reaches_the_client_with_that_address_or_is_refused() {
    let mut f = Fixture::new();
    let _a = with_email(&mut f, "alice", "Alice@Example.org");
    let mail = |from: &str, text: &str| InboundMail { interaction: None, from: from.into(), subject: "Question".into(), text: text.into() };
    let got = f.hub.broker.center_mail_received(f.now, mail("alice@example.ORG", "Do you ship abroad?")).unwrap();
    assert!(got.new_interaction);
    let e = f.hub.broker.center_mail_received(f.now, mail("stranger@example.net", "hi")).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = f.hub.broker.center_mail_received(f.now, mail("alice@example.org", &"x".repeat(9000))).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    let e = f.hub.broker.center_mail_received(f.now, mail("alice@example.org", " \n ")).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    // A guessed interaction of someone else's is no way in: bob's chat takes no mail.
    f.ann_available();
    let b = f.connect("bob", 1);
    let id = f.hub.client(b).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(chat)) = f.answer(b, id) else { panic!() };
    let got = f
        .hub
        .broker
        .center_mail_received(f.now, InboundMail { interaction: Some(chat.id.clone()), ..mail("alice@example.org", "into bob's chat?") })
        .unwrap();
    assert!(got.new_interaction && got.interaction != chat.id, "a new email of alice's, not bob's chat");
    f.settle();
    assert!(f.hub.client_ref(b).view().chats.get(&chat.id).is_none_or(|v| v.iter().all(|m| m.text != "into bob's chat?")));
}

#[test]
fn chat_email_and_calls_take_messages_a_callback_refuses_them() {
    let mut f = Fixture::new();
    f.ann_available();
    let a = f.connect("alice", 1);
    // A call needs no address in the profile, and its chat stays usable beside it.
    let id = f.hub.client(a).start_interaction(Medium::Voice, Some("router".into()), None, None);
    let Ok(Response::Interaction(voice)) = f.answer(a, id) else { panic!() };
    let id = f.hub.client(a).send_chat(voice.id.clone(), "my order number is A-1001");
    assert!(f.answer(a, id).is_ok());
    let caps = vec![Capability { medium: Medium::Callback, address: Some("+33 1 23 45 67 89".into()), devices: vec![] }];
    let id = f.hub.client(a).update_profile(ProfilePatch { capabilities: Some(caps), ..Default::default() });
    f.answer(a, id).unwrap();
    let id = f.hub.client(a).start_interaction(Medium::Callback, Some("router".into()), None, None);
    let Ok(Response::Interaction(cb)) = f.answer(a, id) else { panic!() };
    let id = f.hub.client(a).send_chat(cb.id.clone(), "hello?");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
}

#[test]
fn outside_business_hours_live_media_are_not_offered_and_email_still_is() {
    use frontdesk_core::monitor::hours::BusinessHours;
    let mut f = Fixture::new();
    f.ann_available();
    // The fixture's clock starts on a Wednesday at 09:00 UTC: closed until 10:00.
    let hours = BusinessHours::parse("Mon-Fri 10:00-17:00 Z").unwrap();
    assert!(!hours.is_open(f.now), "the fixture's clock is outside the hours");
    let opens = hours.next_change(f.now).unwrap();
    f.hub.broker.set_queue_hours(f.now, "support".into(), Some(hours)).unwrap();
    let a = with_email(&mut f, "alice", "alice@example.org");
    let q = |f: &Fixture, m: Medium| f.hub.client_ref(a).view().center.clone().unwrap().queue(&"support".into(), m).cloned().unwrap();
    let chat = q(&f, Medium::Chat);
    assert_eq!((chat.open, chat.offered, chat.until), (false, false, Some(opens)), "closed, with an agent available");
    assert!(q(&f, Medium::Email).offered, "email at any hour");
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Unavailable);
    let id = f.hub.client(a).send_email(Some("router".into()), "After hours", "Please call me back tomorrow");
    assert!(f.answer(a, id).is_ok());
    // At opening time the status changes by itself, pushed to the client.
    f.advance(opens.0 - f.now.0);
    let chat = q(&f, Medium::Chat);
    assert!(chat.open && chat.offered, "{chat:?}");
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    assert!(f.answer(a, id).is_ok());
    // Unknown queue and impossible hours are typed errors.
    assert_eq!(f.hub.broker.set_queue_hours(f.now, "nope".into(), None).unwrap_err().code, ErrorCode::NotFound);
    let bad = BusinessHours { utc_offset_minutes: 0, windows: vec![] };
    assert_eq!(f.hub.broker.set_queue_hours(f.now, "support".into(), Some(bad)).unwrap_err().code, ErrorCode::Invalid);
}

#[test]
fn a_mail_that_fell_due_again_wakes_the_host_by_itself() {
    let mut f = Fixture::new();
    let (_a, e, ix) = written_and_taken(&mut f);
    f.hub.broker.agent_send_chat(f.now, &e, &ix, "Try this").unwrap();
    let m = f.hub.broker.take_mail_due(f.now).pop().unwrap();
    f.hub.broker.center_mail_outcome(f.now, &m.id, MailOutcome::Temporary("421 busy".into())).unwrap();
    f.settle();
    f.broker_events();
    // The back-off (60 s after the first failure) is a timer: the host hears of it with no poll.
    assert!(f.hub.broker.poll_timeout().is_some_and(|t| t.0 <= f.now.0 + 60_000));
    f.advance(59_000);
    assert!(!f.broker_events().iter().any(|x| matches!(x, BrokerEvent::MailOwed)), "not before it is due");
    f.advance(1_000);
    assert!(f.broker_events().iter().any(|x| matches!(x, BrokerEvent::MailOwed)), "woken when due");
    assert_eq!(f.hub.broker.take_mail_due(f.now).len(), 1);
}

#[test]
fn files_are_not_taken_in_email_where_the_mailer_would_send_only_their_name() {
    let mut f = Fixture::new();
    let (_a, e, id) = written_and_taken(&mut f);
    let pdf = b"%PDF-1.4\n%%EOF\n";
    for who in [frontdesk_core::principal::Principal::Client("alice".into()), frontdesk_core::principal::Principal::Agent(e.clone(), AgentRole::Agent)] {
        let r = f.hub.broker.attach(f.now, &who, &id, "a.pdf", "application/pdf", pdf);
        assert_eq!(r.unwrap_err().code, ErrorCode::Invalid, "{who:?}");
    }
    assert!(f.hub.broker.store().transcript(&id).unwrap().iter().all(|m| m.attachment.is_none()));
}
