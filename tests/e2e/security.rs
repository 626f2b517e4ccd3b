//! Authorisation and bad input: each party reaches only what it may, and garbage gets typed errors.

use frontdesk_core::broker::Broker;
use frontdesk_core::client::ClientEvent;
use frontdesk_core::principal::AgentRole;
use frontdesk_core::protocol::{Outcome, BrokerFrame, ClientFrame, ErrorCode, Request, Response, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use frontdesk_core::records::HistoryFilter;
use frontdesk_core::Medium;
use frontdesk_tests::{token, Fixture, T0};

#[test]
fn a_client_cannot_read_or_alter_another_clients_data() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    // Bob's record h3 and order o3 do not exist for alice.
    let id = f.hub.client(a).add_note("h3".into(), "mine now");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    assert!(f.hub.broker.store().record(&"h3".into()).unwrap().unwrap().notes.is_empty());
    let id = f.hub.client(a).get_orders();
    let Response::Orders(v) = f.answer(a, id).unwrap() else { panic!() };
    assert!(v.iter().all(|o| o.client.as_str() == "alice"));
    let id = f.hub.client(a).get_transcript("h3".into());
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    // Bob's live interaction: alice can neither chat in it nor end it.
    let b = f.connect("bob", 1);
    f.ann_available();
    let id = f.hub.client(b).start_interaction(Medium::Chat, None, Some("support".into()), None);
    let Response::Interaction(li) = f.answer(b, id).unwrap() else { panic!() };
    let id = f.hub.client(a).send_chat(li.id.clone(), "hijack");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    let id = f.hub.client(a).end_interaction(li.id.clone());
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::NotFound);
    assert!(f.hub.broker.interaction(&li.id).is_some());
    // Her own note works.
    let id = f.hub.client(a).add_note("h0".into(), "router fixed");
    let Response::Record(r) = f.answer(a, id).unwrap() else { panic!() };
    assert_eq!(r.notes[0].author, "client");
}

#[test]
fn an_agent_reads_only_clients_it_serves_and_a_supervisor_reads_all() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let ann = "ann".into();
    let e = f.hub.broker.agent_client_profile(&ann, &"alice".into()).unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert_eq!(f.hub.broker.agent_client_history(&ann, &"bob".into(), &HistoryFilter::default()).unwrap_err().code, ErrorCode::Forbidden);
    // Once ann invites alice she may read alice's data — still not bob's.
    f.ann_available();
    let inv = f.hub.broker.agent_invite(f.now, &ann, &"alice".into(), Medium::Chat, "hello").unwrap();
    assert!(f.hub.broker.agent_client_profile(&ann, &"alice".into()).is_ok());
    assert_eq!(f.hub.broker.agent_client_history(&ann, &"alice".into(), &HistoryFilter::default()).unwrap().len(), 3);
    assert_eq!(f.hub.broker.agent_client_profile(&ann, &"bob".into()).unwrap_err().code, ErrorCode::Forbidden);
    // Notes only on interactions the agent handled.
    assert!(f.hub.broker.agent_add_note(f.now, &ann, &"h0".into(), "followed up").is_ok());
    assert_eq!(f.hub.broker.agent_add_note(f.now, &ann, &"h1".into(), "not mine").unwrap_err().code, ErrorCode::Forbidden);
    // An agent cannot chat in or end an interaction it does not handle.
    let id = f.hub.client(a).respond_invitation(inv.id, true);
    let Response::Invitation(i) = f.answer(a, id).unwrap() else { panic!() };
    let ix = i.interaction.unwrap();
    f.hub.broker.agent_login(f.now, "eve".into(), "Eve", AgentRole::Agent, vec![], vec![Medium::Chat]);
    assert_eq!(f.hub.broker.agent_send_chat(f.now, &"eve".into(), &ix, "hi").unwrap_err().code, ErrorCode::Forbidden);
    assert_eq!(f.hub.broker.agent_end(f.now, &"eve".into(), &ix).unwrap_err().code, ErrorCode::Forbidden);
    // A supervisor reads anyone.
    f.hub.broker.agent_login(f.now, "sam".into(), "Sam", AgentRole::Supervisor, vec![], vec![Medium::Chat]);
    assert!(f.hub.broker.agent_client_profile(&"sam".into(), &"bob".into()).is_ok());
}

#[test]
fn bad_or_expired_credentials_are_rejected_and_the_client_stops() {
    let mut f = Fixture::new();
    for (tok, code) in [("nope", ErrorCode::Unauthenticated), ("tok-old", ErrorCode::Expired), ("tok-service", ErrorCode::Forbidden)] {
        let s = f.hub.add_client(f.now, frontdesk_core::client::ClientConfig::new(tok, 9));
        f.settle();
        let ev = f.events(s);
        assert!(ev.iter().any(|e| matches!(e, ClientEvent::Rejected(b) if b.code == code)), "{tok}: {ev:?}");
        assert!(!f.hub.client_ref(s).is_connected());
        assert_eq!(f.hub.client_ref(s).poll_timeout(), None, "no retry loop with a bad token");
    }
}

fn raw_session() -> (Broker, u64) {
    let f = Fixture::new();
    let mut b = f.hub.broker;
    let c = b.open_connection(T0);
    let hello = ClientFrame::Hello { v: PROTOCOL_VERSION, token: token("alice"), instance: 1, last_seq: 0, next_request: 1 };
    b.handle_input(T0, c, &hello.encode());
    while b.poll_transmit().is_some() {}
    (b, c)
}

fn frames(b: &mut Broker) -> Vec<BrokerFrame> {
    std::iter::from_fn(|| b.poll_transmit()).map(|t| BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).unwrap()).collect()
}

#[test]
fn malformed_oversized_and_non_utf8_frames_get_typed_errors_and_the_session_survives() {
    let (mut b, c) = raw_session();
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (b"{not json".to_vec(), ErrorCode::Malformed),
        (vec![0xff, 0xfe, 0x00], ErrorCode::Malformed),
        (vec![b' '; MAX_FRAME_BYTES + 1], ErrorCode::TooLarge),
    ];
    for (data, code) in cases {
        b.handle_input(T0, c, &data);
        let out = frames(&mut b);
        assert!(matches!(&out[..], [BrokerFrame::Error { error, fatal: false }] if error.code == code), "{out:?}");
    }
    // Requests whose body is wrong are answered as that request, naming the field, and the window
    // moves on: an unknown op, a null in the agenda, an oversized note.
    let huge = format!(r#"{{"t":"request","id":3,"req":{{"op":"add_note","interaction":"x","text":"{}"}}}}"#, "a".repeat(300_000));
    let cases: Vec<(u64, Vec<u8>, ErrorCode, &str)> = vec![
        (1, br#"{"t":"request","id":1,"req":{"op":"launch_missiles"}}"#.to_vec(), ErrorCode::Invalid, "launch_missiles"),
        (2, br#"{"t":"request","id":2,"req":{"op":"update_profile","patch":{"agenda":[{"days":[null],"start_minute":540,"end_minute":1020,"time_zone":"Europe/Paris"}]}}}"#.to_vec(), ErrorCode::Invalid, "patch.agenda"),
        (3, huge.into_bytes(), ErrorCode::TooLarge, "request 3"),
    ];
    for (id, data, code, names) in cases {
        b.handle_input(T0, c, &data);
        let out = frames(&mut b);
        assert!(
            matches!(&out[..], [BrokerFrame::Response { id: i, outcome: Outcome::Err(e) }] if *i == id && e.code == code && e.message.contains(names)),
            "{out:?}"
        );
    }
    // The session still answers, in order.
    b.handle_input(T0, c, &ClientFrame::Request { id: 4, req: Request::GetProfile }.encode());
    assert!(matches!(&frames(&mut b)[..], [BrokerFrame::Response { id: 4, outcome: Outcome::Ok(_) }]));
}

#[test]
fn a_flood_of_garbage_closes_only_the_offending_connection() {
    let (mut b, c) = raw_session();
    let other = b.open_connection(T0);
    b.handle_input(T0, other, &ClientFrame::Hello { v: PROTOCOL_VERSION, token: token("bob"), instance: 1, last_seq: 0, next_request: 1 }.encode());
    let mut closed = false;
    for _ in 0..100 {
        b.handle_input(T0, c, b"garbage");
        while let Some(t) = b.poll_transmit() {
            if t.conn == c && t.close {
                closed = true;
            }
        }
    }
    assert!(closed, "the offender is cut off");
    b.handle_input(T0, other, &ClientFrame::Request { id: 1, req: Request::GetOrders }.encode());
    let out: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).filter(|t| t.conn == other).collect();
    assert!(out.iter().any(|t| BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).is_ok_and(|f| matches!(f, BrokerFrame::Response { id: 1, .. }))));
}

#[test]
fn unknown_version_and_requests_before_hello_are_refused() {
    let f = Fixture::new();
    let mut b = f.hub.broker;
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &ClientFrame::Request { id: 1, req: Request::GetProfile }.encode());
    assert!(matches!(&frames(&mut b)[..], [BrokerFrame::Error { error, fatal: false }] if error.code == ErrorCode::Unauthenticated));
    b.handle_input(T0, c, &ClientFrame::Hello { v: 99, token: token("alice"), instance: 1, last_seq: 0, next_request: 1 }.encode());
    let t: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
    assert!(t[0].close);
    assert!(matches!(BrokerFrame::decode(&t[0].data, MAX_FRAME_BYTES).unwrap(), BrokerFrame::Error { error, fatal: true } if error.code == ErrorCode::UnsupportedVersion));
}

#[test]
fn client_reports_bad_frames_from_the_broker_without_losing_state() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let before = f.hub.client_ref(a).view().clone();
    let e = f.hub.client(a).handle_input(f.now, b"\xff\xff").unwrap_err();
    assert_eq!(e, frontdesk_core::protocol::DecodeError::NotUtf8);
    let e = f.hub.client(a).handle_input(f.now, br#"{"t":"event","seq":"x"}"#).unwrap_err();
    assert!(matches!(e, frontdesk_core::protocol::DecodeError::Malformed(_)));
    assert_eq!(f.hub.client_ref(a).view(), &before);
    assert!(f.hub.client_ref(a).is_connected());
}

#[test]
fn oversized_and_empty_chat_and_profile_fields_are_refused() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    f.ann_available();
    let inv = f.hub.broker.agent_invite(f.now, &"ann".into(), &"alice".into(), Medium::Chat, "").unwrap();
    f.settle();
    let id = f.hub.client(a).respond_invitation(inv.id, true);
    let Response::Invitation(i) = f.answer(a, id).unwrap() else { panic!() };
    let ix = i.interaction.unwrap();
    let id = f.hub.client(a).send_chat(ix.clone(), "x".repeat(9000));
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
    let id = f.hub.client(a).send_chat(ix.clone(), "");
    assert_eq!(f.answer(a, id).unwrap_err().code, ErrorCode::Invalid);
    assert!(f.hub.broker.store().transcript(&ix).unwrap().is_empty());
}

mod hostile_broker {
    use frontdesk_tests::Fixture;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
            "[a-z\u{e9}\"\\\\]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just(r#"{"ok":{"kind":"done"}}"#.to_string()),
            Just(r#"{"ev":"chat","data":{}}"#.to_string()),
            Just(r#"{"code":"nope","message":1}"#.to_string()),
            Just("[[],{}]".to_string()),
        ]
    }

    /// Frames shaped like the broker's, with every field possibly missing, mistyped or nonsensical.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        let t = prop_oneof![
            Just("welcome"), Just("response"), Just("event"), Just("status"), Just("watch_ended"), Just("error"), Just("pong"), Just("other")
        ];
        let field = prop_oneof![Just("v"), Just("id"), Just("seq"), Just("client"), Just("resumed"), Just("fatal"), Just("error"), Just("outcome"), Just("event"), Just("doc"), Just("presentity"), Just("n")];
        prop_oneof![
            4 => (t, proptest::collection::vec((field, value()), 0..6)).prop_map(|(t, fs)| {
                let body: Vec<String> = fs.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
                format!(r#"{{"t":"{t}"{}{}}}"#, if body.is_empty() { "" } else { "," }, body.join(",")).into_bytes()
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever a broker (or something pretending to be one) sends, the client answers with a
        /// typed error or takes it, never panics, and a well-formed event after it is still delivered.
        #[test]
        fn hostile_frames_never_panic_the_client_and_the_session_goes_on(frames in proptest::collection::vec(frame(), 1..12)) {
            let mut f = Fixture::new();
            let a = f.connect("alice", 1);
            let me = f.hub.client_ref(a).view().client.clone();
            for fr in &frames {
                let _ = f.hub.client(a).handle_input(f.now, fr);
            }
            prop_assert_eq!(&f.hub.client_ref(a).view().client, &me);
            if f.hub.client_ref(a).is_connected() {
                let seq = f.hub.client_ref(a).last_event_seq() + 1;
                let ev = format!(r#"{{"t":"event","seq":{seq},"event":{{"ev":"chat_delivered","data":{{"interaction":"ix","seq":7}}}}}}"#);
                prop_assert!(f.hub.client(a).handle_input(f.now, ev.as_bytes()).is_ok());
                prop_assert!(f.hub.client_ref(a).view().delivered.contains(&("ix".into(), 7)));
            }
        }
    }
}
