//! Arbitrary broker frames to a client-side `Session` and to a typed `Client`, after a welcome.
//!
//! The first byte picks the mode:
//! - bit 0: 0 drives a bare `session::Session`, 1 a `client::Client` (which decodes bodies into its view);
//! - bit 1: structured — the rest is split into frames on `0x00`; otherwise the rest is one frame.
//!
//! In structured mode a frame of one byte is a command: `0x01` drops the connection and reconnects
//! (the welcome that follows resumes), `0x02` advances the clock 30 s and runs the timers.
//! Before the input, requests with ids 1..=9 are queued (see `REQUESTS`), so responses can land.
//!
//! Properties: never panics; every frame sent is within the limit and decodes as a `ClientFrame`;
//! acks and resends never name a sequence beyond the last one delivered; events are delivered in
//! order, once (`last_seq` equals the number delivered since the last fresh welcome, and never exceeds
//! the highest `seq` the input carried); each request is answered at most once; the client's view
//! holds no more entries than the input had bytes, and its event sequence obeys the same bounds.
#![no_main]

use frontdesk_core::client::Client;
use frontdesk_core::medium::Medium;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::protocol::{ClientFrame, MAX_FRAME_BYTES};
use frontdesk_core::records::HistoryFilter;
use frontdesk_core::session::{ClientConfig, Session, SessionEvent};
use frontdesk_core::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

const T0: Timestamp = Timestamp(1_795_597_200_000);
const WELCOME: &[u8] = br#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#;
const WELCOME_RESUMED: &[u8] = br#"{"t":"welcome","v":1,"client":"alice","resumed":true}"#;

/// Request bodies queued first, ids 1..=9 (the same requests the `Client` mode makes).
const REQUESTS: [&str; 9] = [
    r#"{"op":"get_profile"}"#,
    r#"{"op":"get_history","filter":{}}"#,
    r#"{"op":"get_orders"}"#,
    r#"{"op":"get_products"}"#,
    r#"{"op":"get_center_status"}"#,
    r#"{"op":"watch","presentity":"center"}"#,
    r#"{"op":"get_live"}"#,
    r#"{"op":"start_interaction","medium":"chat","product":null,"queue":null,"topic":"help"}"#,
    r#"{"op":"send_chat","interaction":"ix1","text":"hello"}"#,
];

/// Highest `seq` anywhere at the top level of a frame (what an event could be delivered as).
fn seq_of(frame: &[u8]) -> u64 {
    // Only the top level is read, its other members skipped unparsed, as the session reads a frame:
    // a body may hold a number no f64 can carry (1e724), which is valid JSON but which
    // `serde_json::Value` refuses, and the frame's seq would go uncounted.
    #[derive(serde::Deserialize)]
    struct Top {
        seq: Option<u64>,
    }
    serde_json::from_slice::<Top>(frame).ok().and_then(|t| t.seq).unwrap_or(0)
}

fn check_transmit(frame: &[u8], last_seq: u64) {
    assert!(frame.len() <= MAX_FRAME_BYTES, "a {} byte frame was sent", frame.len());
    let f = ClientFrame::decode(frame, MAX_FRAME_BYTES).unwrap_or_else(|e| panic!("sent frame does not decode ({e}): {}", String::from_utf8_lossy(frame)));
    match f {
        ClientFrame::Ack { seq } => assert!(seq <= last_seq, "ack {seq} beyond last delivered {last_seq}"),
        ClientFrame::Resend { after } => assert!(after <= last_seq, "resend after {after} beyond last delivered {last_seq}"),
        _ => {}
    }
}

struct SessionHarness {
    s: Session<u8>,
    now: Timestamp,
    delivered: u64,
    max_seq: u64,
    answered: BTreeSet<u64>,
}

impl SessionHarness {
    fn drain(&mut self) {
        while let Some(e) = self.s.poll_event() {
            match e {
                SessionEvent::Connected { resumed: false, .. } => self.delivered = 0,
                SessionEvent::Event(_) => self.delivered += 1,
                SessionEvent::Answered { id, tag, .. } => {
                    assert!((1..=REQUESTS.len() as u64).contains(&id), "answer for unknown id {id}");
                    assert_eq!(tag as u64, id, "answer carries another request's tag");
                    assert!(self.answered.insert(id), "request {id} answered twice");
                }
                _ => {}
            }
        }
        assert_eq!(self.s.last_seq(), self.delivered, "last_seq is not the number of events delivered");
        assert!(self.s.last_seq() <= self.max_seq, "delivered seq {} never sent (max {})", self.s.last_seq(), self.max_seq);
        while let Some(f) = self.s.poll_transmit() {
            check_transmit(&f, self.s.last_seq());
        }
    }

    fn input(&mut self, frame: &[u8]) {
        self.max_seq = self.max_seq.max(seq_of(frame));
        let _ = self.s.handle_input(self.now, frame);
        self.drain();
    }

    fn reconnect(&mut self) {
        self.s.handle_disconnected(self.now);
        self.drain();
        while !self.s.poll_connect() {
            let Some(t) = self.s.poll_timeout() else { return };
            self.now = Timestamp(self.now.0.max(t.0));
            self.s.handle_timeout(self.now);
            self.drain();
        }
        self.s.handle_connected(self.now);
        self.drain();
        let _ = self.s.handle_input(self.now, WELCOME_RESUMED);
        self.drain();
    }

    fn tick(&mut self) {
        self.now = Timestamp(self.now.0 + 30_000);
        self.s.handle_timeout(self.now);
        self.drain();
    }
}

fn run_session(structured: bool, rest: &[u8]) {
    let mut cfg = ClientConfig::new("tok-alice", 1);
    cfg.watch_center = false;
    let mut h = SessionHarness { s: Session::new(cfg), now: T0, delivered: 0, max_seq: 0, answered: BTreeSet::new() };
    for (i, r) in REQUESTS.iter().enumerate() {
        assert_eq!(h.s.enqueue(r.to_string(), i as u8 + 1), Ok(i as u64 + 1));
    }
    h.s.start(h.now);
    assert!(h.s.poll_connect());
    h.s.handle_connected(h.now);
    h.input(WELCOME);
    if !structured {
        h.input(rest);
        return;
    }
    for frame in rest.split(|b| *b == 0).take(256) {
        match frame {
            [1] => h.reconnect(),
            [2] => h.tick(),
            _ => h.input(frame),
        }
    }
}

struct ClientHarness {
    c: Client,
    now: Timestamp,
    bytes: usize,
    max_seq: u64,
}

impl ClientHarness {
    fn drain(&mut self) {
        while self.c.poll_event().is_some() {}
        let v = self.c.view();
        let entries = v.orders.len()
            + v.products.len()
            + v.history.len()
            + v.presence.len()
            + v.invitations.len()
            + v.interactions.len()
            + v.chats.values().map(|c| c.len() + 1).sum::<usize>()
            + v.delivered.len()
            + v.alerts.len();
        assert!(entries <= self.bytes, "the view holds {entries} entries from {} bytes of input", self.bytes);
        assert!(self.c.last_event_seq() <= self.max_seq, "delivered seq {} never sent (max {})", self.c.last_event_seq(), self.max_seq);
        assert!(self.c.pending_requests().count() <= REQUESTS.len());
        while let Some(f) = self.c.poll_transmit() {
            check_transmit(&f, self.c.last_event_seq());
        }
    }

    fn input(&mut self, frame: &[u8]) {
        self.bytes += frame.len();
        self.max_seq = self.max_seq.max(seq_of(frame));
        let _ = self.c.handle_input(self.now, frame);
        self.drain();
    }

    fn reconnect(&mut self) {
        self.c.handle_disconnected(self.now);
        self.drain();
        while !self.c.poll_connect() {
            let Some(t) = self.c.poll_timeout() else { return };
            self.now = Timestamp(self.now.0.max(t.0));
            self.c.handle_timeout(self.now);
            self.drain();
        }
        self.c.handle_connected(self.now);
        self.drain();
        let _ = self.c.handle_input(self.now, WELCOME_RESUMED);
        self.drain();
    }

    fn tick(&mut self) {
        self.now = Timestamp(self.now.0 + 30_000);
        self.c.handle_timeout(self.now);
        self.drain();
    }
}

fn run_client(structured: bool, rest: &[u8]) {
    let mut cfg = ClientConfig::new("tok-alice", 1);
    cfg.watch_center = false;
    let mut h = ClientHarness { c: Client::new(cfg), now: T0, bytes: 0, max_seq: 0 };
    let c = &mut h.c;
    let ids = [
        c.get_profile(),
        c.get_history(HistoryFilter::default()),
        c.get_orders(),
        c.get_products(),
        c.get_center_status(),
        c.watch(Presentity::Center),
        c.request(frontdesk_core::protocol::Request::GetLive),
        c.start_interaction(Medium::Chat, None, None, Some("help".into())),
        c.send_chat("ix1".into(), "hello"),
    ];
    assert_eq!(ids.iter().map(|i| *i as u64).collect::<Vec<_>>(), (1..=9).collect::<Vec<u64>>());
    h.c.start(h.now);
    assert!(h.c.poll_connect());
    h.c.handle_connected(h.now);
    h.input(WELCOME);
    if !structured {
        h.input(rest);
        return;
    }
    for frame in rest.split(|b| *b == 0).take(256) {
        match frame {
            [1] => h.reconnect(),
            [2] => h.tick(),
            _ => h.input(frame),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        run_session(mode & 2 != 0, rest);
    } else {
        run_client(mode & 2 != 0, rest);
    }
});
