//! What one principal can make the broker hold is bounded, and hitting a bound is a typed error for
//! that request, never a panic, a stall or a lost answer.

use frontdesk_core::broker::Broker;
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::protocol::{BrokerFrame, ClientFrame, ErrorCode, Outcome, Request, Response, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use frontdesk_core::records::{Direction, HistoryFilter, InteractionRecord, Outcome as RecordOutcome};
use frontdesk_core::{Medium, Timestamp};
use frontdesk_tests::{token, Fixture, T0};

fn hello(who: &str, instance: u64, next_request: u64) -> Vec<u8> {
    ClientFrame::Hello { v: PROTOCOL_VERSION, token: token(who), instance, last_seq: 0, next_request }.encode()
}

fn frames(b: &mut Broker) -> Vec<BrokerFrame> {
    std::iter::from_fn(|| b.poll_transmit()).map(|t| BrokerFrame::decode(&t.data, MAX_FRAME_BYTES).unwrap()).collect()
}

fn request(id: u64, req: &Request) -> Vec<u8> {
    ClientFrame::Request { id, req: req.clone() }.encode()
}

fn answer(out: &[BrokerFrame], id: u64) -> Option<&Outcome> {
    out.iter().find_map(|f| match f {
        BrokerFrame::Response { id: i, outcome } if *i == id => Some(outcome),
        _ => None,
    })
}

#[test]
fn request_ids_at_the_top_of_the_range_neither_panic_nor_wedge() {
    let mut b = Fixture::new().hub.broker;
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &hello("alice", 1, u64::MAX));
    b.handle_input(T0, c, &request(u64::MAX, &Request::GetProfile));
    let out = frames(&mut b);
    assert!(matches!(answer(&out, u64::MAX), Some(Outcome::Ok(Response::Profile(_)))), "{out:?}");
    // And once more: a duplicate at the top is answered again, not applied twice.
    b.handle_input(T0, c, &request(u64::MAX, &Request::GetProfile));
    assert!(answer(&frames(&mut b), u64::MAX).is_some());
}

#[test]
fn a_restored_client_with_a_huge_next_id_refuses_instead_of_overflowing() {
    let cfg = ClientConfig::new(token("alice"), 3);
    // A state saved (or tampered with) with the last id of the range.
    let mut saved = serde_json::to_value(Client::new(cfg.clone()).save()).unwrap();
    saved["next_id"] = serde_json::json!(u64::MAX);
    let mut c = Client::restore(cfg, serde_json::from_value(saved).unwrap());
    let first = c.get_profile();
    let second = c.get_profile();
    let refused: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| if let ClientEvent::Completed { id, result: Err(e) } = e { Some((id, e.code)) } else { None })
        .collect();
    assert_eq!(refused, vec![(first, ErrorCode::Internal), (second, ErrorCode::Internal)], "the id space is exhausted: typed errors, no panic");
    assert_eq!(c.pending_requests().count(), 0);
}

#[test]
fn early_requests_are_bounded_in_bytes_and_dropped_with_their_connection() {
    let mut b = Fixture::new().hub.broker;
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &hello("alice", 1, 1));
    frames(&mut b);
    // Request 1 never comes; 2.. arrive early with 100 KB notes: about 1 MiB is held, the rest refused.
    let note = |id| request(id, &Request::AddNote { interaction: "h0".into(), text: "n".repeat(100_000) });
    let mut refused = 0;
    for id in 2..40 {
        b.handle_input(T0, c, &note(id));
        let out = frames(&mut b);
        if let Some(Outcome::Err(e)) = answer(&out, id) {
            assert_eq!(e.code, ErrorCode::RateLimited);
            refused += 1;
        }
    }
    assert!(refused >= 25, "only about ten 100 KB requests fit in the 1 MiB early budget; {refused} refused");
    // The connection drops: what was held early goes with it; the client resends on its next connection.
    b.handle_disconnect(T0, c);
    let c2 = b.open_connection(T0);
    b.handle_input(T0, c2, &hello("alice", 1, 1));
    b.handle_input(T0, c2, &request(1, &Request::GetProfile));
    let out = frames(&mut b);
    assert!(matches!(answer(&out, 1), Some(Outcome::Ok(_))));
    assert!(answer(&out, 2).is_none(), "request 2 was dropped with the old connection, not applied: {out:?}");
    assert!(b.store().record(&"h0".into()).unwrap().unwrap().notes.is_empty());
}

#[test]
fn watches_notes_and_sessions_per_principal_are_capped_with_typed_errors() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    // Watches: 256 per session, then rate_limited (the center watch counts).
    let mut last = None;
    for n in 0..300 {
        last = Some(f.hub.client(a).watch(Presentity::Client(format!("c{n}").as_str().into())));
    }
    let e = f.answer(a, last.unwrap()).unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited, "{e:?}");
    // Notes: at most 200 per record, each 1..4000 bytes.
    let mut codes = vec![];
    for n in 0..205 {
        let id = f.hub.client(a).add_note("h0".into(), format!("note {n}"));
        codes.push(f.answer(a, id).err().map(|e| e.code));
    }
    assert!(codes[..200].iter().all(|c| c.is_none()));
    assert!(codes[200..].iter().all(|c| *c == Some(ErrorCode::RateLimited)), "{:?}", &codes[200..]);
    f.hub.broker.agent_login(f.now, "ann".into(), "Ann", frontdesk_core::principal::AgentRole::Supervisor, vec![], vec![Medium::Chat]);
    let e = f.hub.broker.agent_add_note(f.now, &"ann".into(), &"h1".into(), &"x".repeat(5000)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid, "agents' notes have the same bounds");
    // Sessions: a 17th installation replaces the one away longest.
    let mut b = f.hub.broker;
    for i in 10..26u64 {
        let c = b.open_connection(Timestamp(T0.0 + i));
        b.handle_input(Timestamp(T0.0 + i), c, &hello("bob", i, 1));
        b.handle_disconnect(Timestamp(T0.0 + i), c);
    }
    let before = b.session_count();
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &hello("bob", 99, 1));
    assert!(frames(&mut b).iter().any(|f| matches!(f, BrokerFrame::Welcome { .. })));
    assert_eq!(b.session_count(), before, "one old session made room");
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &hello("bob", 10, 1));
    let resumed = frames(&mut b).iter().find_map(|f| if let BrokerFrame::Welcome { resumed, .. } = f { Some(*resumed) } else { None });
    assert_eq!(resumed, Some(false), "the session away longest (instance 10) was the one dropped");
}

#[test]
fn a_long_history_is_read_in_pages_that_each_fit_a_frame_with_nothing_missed_or_repeated() {
    let mut f = Fixture::new();
    for i in 0..300 {
        f.hub
            .broker
            .center_put_record(InteractionRecord {
                id: format!("big{i:03}").as_str().into(),
                client: "alice".into(),
                // Ten at each moment, so pages must not split by time alone.
                started_at: Timestamp(T0.0 - 1_000_000 - i / 10),
                ended_at: None,
                product: None,
                agent: None,
                medium: Medium::Email,
                direction: Direction::Inbound,
                outcome: RecordOutcome::Completed,
                summary: "s".repeat(2000),
                notes: vec![],
            })
            .unwrap();
    }
    let a = f.connect("alice", 1);
    // Unpaged, the answer is the first page, not a refusal: 303 records of 2 KB exceed a frame.
    let id = f.hub.client(a).get_history(HistoryFilter::default());
    let Ok(Response::History(first)) = f.answer(a, id) else { panic!("no first page") };
    assert!(!first.is_empty() && first.len() < 303, "{}", first.len());
    let mut seen = vec![];
    let mut after = None;
    loop {
        let id = f.hub.client(a).get_history(HistoryFilter { after: after.clone(), limit: Some(120), ..Default::default() });
        let Ok(Response::History(page)) = f.answer(a, id) else { panic!("page refused") };
        assert!(page.len() <= 120);
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        seen.extend(page);
    }
    assert_eq!(seen.len(), 303, "every record once");
    let mut ids: Vec<_> = seen.iter().map(|r| r.id.clone()).collect();
    assert!(seen.windows(2).all(|w| w[0].started_at >= w[1].started_at), "newest first");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 303, "none twice");
    // Paging from another client's record answers exactly as from a missing one.
    for other in ["h3", "nope"] {
        let id = f.hub.client(a).get_history(HistoryFilter { after: Some(other.into()), ..Default::default() });
        let e = f.answer(a, id).unwrap_err();
        assert_eq!((e.code, e.message), (ErrorCode::NotFound, format!("no record {other}")));
    }
}

#[test]
fn a_long_chat_resumes_with_its_newest_messages_and_is_read_back_in_pages() {
    let mut f = Fixture::new();
    f.ann_available();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Ok(Response::Interaction(li)) = f.answer(a, id) else { panic!() };
    f.hub.broker.agent_accept(f.now, &"ann".into(), &li.id).unwrap();
    f.settle();
    for i in 0..600u32 {
        // 4 KB each: 200 of them would be 800 KB, far over a frame.
        let id = f.hub.client(a).send_chat(li.id.clone(), format!("{i:04} {}", "x".repeat(4000)));
        if i % 50 == 49 {
            assert!(f.answer(a, id).is_ok());
        }
    }
    f.settle();
    // Another device of alice's: its sync gets the newest messages only.
    let b = f.connect("alice", 2);
    let held = f.hub.client_ref(b).view().chats[&li.id].clone();
    assert!(!held.is_empty() && held.len() <= 50, "{}", held.len());
    assert_eq!(held.last().unwrap().seq, 600);
    // Read back page by page until message 1.
    let mut pages = 0;
    while let Some(first) = f.hub.client_ref(b).view().chats[&li.id].first().map(|m| m.seq).filter(|s| *s > 1) {
        let id = f.hub.client(b).get_transcript_page(li.id.clone(), Some(first), None);
        let Ok(Response::Transcript(page)) = f.answer(b, id) else { panic!("page refused") };
        assert!(!page.is_empty() && page.last().unwrap().seq == first - 1, "the page ends just before {first}");
        pages += 1;
        assert!(pages < 100);
    }
    let all = &f.hub.client_ref(b).view().chats[&li.id];
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=600).collect::<Vec<u64>>(), "every message once, in order");
    assert!(all[7].text.starts_with("0007 "));
    assert!(pages >= 4, "byte-bounded pages: {pages}");
    // The agent reads a page in the middle.
    let page = f.hub.broker.agent_transcript(&"ann".into(), &li.id, Some(100), Some(10)).unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), (90..100).collect::<Vec<u64>>());
    // Bob cannot read it, paged or not.
    let c = f.connect("bob", 1);
    let id = f.hub.client(c).get_transcript_page(li.id.clone(), Some(10), Some(5));
    assert_eq!(f.answer(c, id).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn a_client_refuses_a_request_over_the_frame_limit_at_the_call_and_goes_on() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let big = f.hub.client(a).add_note("h0".into(), "x".repeat(300_000));
    assert!(f.hub.client_ref(a).pending_requests().all(|(id, _)| id != big), "never queued");
    assert_eq!(f.answer(a, big).unwrap_err().code, ErrorCode::TooLarge);
    let ok = f.hub.client(a).get_profile();
    assert!(f.answer(a, ok).is_ok(), "the next request is answered");
    let saved = serde_json::to_value(f.hub.client_ref(a).save()).unwrap();
    assert!(saved["pending"].as_object().is_none_or(|p| p.is_empty()), "nothing oversized is saved with the state: {saved}");
}

#[test]
fn presence_for_presentities_never_watched_is_not_kept() {
    let cfg = ClientConfig::new(token("alice"), 3);
    let mut c = Client::new(cfg);
    c.start(T0);
    let _ = c.poll_connect();
    c.handle_connected(T0);
    c.handle_input(T0, br#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#).unwrap();
    for n in 0..100 {
        let doc = frontdesk_core::monitor::presence::PresenceDocument::closed(Presentity::Client(format!("x{n}").as_str().into()), T0);
        c.handle_input(T0, &BrokerFrame::Status { doc }.encode()).unwrap();
    }
    assert!(c.view().presence.len() <= 1, "only the center, which it watches: {}", c.view().presence.len());
}

/// A store that counts what the broker asks it to write, keeping sessions as logs or whole.
struct CountingStore {
    inner: frontdesk_core::broker::store::MemoryStore,
    logs: bool,
    bytes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl frontdesk_core::broker::store::DataStore for CountingStore {
    fn profile(&self, c: &frontdesk_core::ClientId) -> Result<Option<frontdesk_core::profile::ClientProfile>, frontdesk_core::broker::store::StoreError> {
        self.inner.profile(c)
    }
    fn put_profile(&mut self, c: &frontdesk_core::ClientId, p: &frontdesk_core::profile::ClientProfile) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.inner.put_profile(c, p)
    }
    fn history(&self, c: &frontdesk_core::ClientId, f: &HistoryFilter) -> Result<Vec<InteractionRecord>, frontdesk_core::broker::store::StoreError> {
        self.inner.history(c, f)
    }
    fn record(&self, id: &frontdesk_core::InteractionId) -> Result<Option<InteractionRecord>, frontdesk_core::broker::store::StoreError> {
        self.inner.record(id)
    }
    fn put_record(&mut self, r: &InteractionRecord) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.inner.put_record(r)
    }
    fn products(&self) -> Result<Vec<frontdesk_core::records::Product>, frontdesk_core::broker::store::StoreError> {
        self.inner.products()
    }
    fn put_product(&mut self, p: &frontdesk_core::records::Product) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.inner.put_product(p)
    }
    fn orders(&self, c: &frontdesk_core::ClientId) -> Result<Vec<frontdesk_core::records::Order>, frontdesk_core::broker::store::StoreError> {
        self.inner.orders(c)
    }
    fn order(&self, id: &frontdesk_core::OrderId) -> Result<Option<frontdesk_core::records::Order>, frontdesk_core::broker::store::StoreError> {
        self.inner.order(id)
    }
    fn put_order(&mut self, o: &frontdesk_core::records::Order) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.inner.put_order(o)
    }
    fn append_chat(&mut self, m: &frontdesk_core::interaction::ChatMessage) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.inner.append_chat(m)
    }
    fn transcript(&self, id: &frontdesk_core::InteractionId) -> Result<Vec<frontdesk_core::interaction::ChatMessage>, frontdesk_core::broker::store::StoreError> {
        self.inner.transcript(id)
    }
    fn save_session(&mut self, s: &frontdesk_core::broker::store::SessionRecord) -> Result<(), frontdesk_core::broker::store::StoreError> {
        self.bytes.fetch_add(serde_json::to_vec(s).unwrap().len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn logs_sessions(&self) -> bool {
        self.logs
    }
    fn append_session_log(&mut self, _: &frontdesk_core::broker::Party, _: u64, ev: &[(u64, &str)], an: &[(u64, Option<&str>)]) -> Result<(), frontdesk_core::broker::store::StoreError> {
        let n: usize = ev.iter().map(|(_, e)| e.len() + 8).sum::<usize>() + an.iter().map(|(_, a)| a.map_or(0, str::len) + 8).sum::<usize>();
        self.bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Bytes the broker writes to its store while 1,000 order changes reach a client that is away.
fn bytes_written_for_an_away_client(logs: bool) -> usize {
    use frontdesk_core::broker::auth::StaticTokens;
    use frontdesk_core::broker::center::BuiltinRouting;
    use frontdesk_core::monitor::StatusMonitor;
    use frontdesk_core::principal::Principal;
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = CountingStore { inner: Default::default(), logs, bytes: bytes.clone() };
    let tokens = StaticTokens::new().with(token("alice"), Principal::Client("alice".into()));
    let mut b = Broker::with_parts(Default::default(), Box::new(tokens), Box::new(store), Box::new(BuiltinRouting), StatusMonitor::default());
    let c = b.open_connection(T0);
    b.handle_input(T0, c, &hello("alice", 1, 1));
    frames(&mut b);
    b.handle_disconnect(T0, c);
    let order = |n: u32| frontdesk_core::records::Order {
        id: "o1".into(),
        client: "alice".into(),
        product: "router".into(),
        status: frontdesk_core::records::OrderStatus::Placed,
        history: vec![],
        delivery: Default::default(),
        revision: n as u64,
    };
    let before = bytes.load(std::sync::atomic::Ordering::Relaxed);
    for n in 0..1000 {
        b.center_put_order(order(n)).unwrap();
    }
    bytes.load(std::sync::atomic::Ordering::Relaxed) - before
}

#[test]
fn what_a_commit_writes_is_proportional_to_the_change_not_to_the_session() {
    let logged = bytes_written_for_an_away_client(true);
    let whole = bytes_written_for_an_away_client(false);
    eprintln!("1,000 events to an away client: {logged} bytes written with logs, {whole} rewriting whole records");
    // 1,000 events of about 200 bytes: the logs write each once (plus a small header per commit);
    // rewriting the whole record writes the growing outbox every time, about 500 times as much.
    assert!(logged < 1000 * 600, "logged: {logged} bytes");
    assert!(whole > 50 * logged, "whole records: {whole} bytes against {logged}");
}
