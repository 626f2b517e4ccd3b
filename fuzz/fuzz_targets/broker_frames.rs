//! Arbitrary frames to a `Broker`.
//!
//! The first byte picks the mode:
//! - bits 0-1: who says hello first — 0 nobody (raw frames to a fresh connection), 1 a client,
//!   2 an agent, 3 a supervisor;
//! - bit 2: structured — the rest is split into frames on `0x00` (a byte valid JSON never holds);
//!   otherwise the rest is one frame.
//!
//! In structured mode a frame of one byte is a command instead: `0x01` drops the connection and
//! reconnects with a resuming hello, `0x02` advances the clock 30 s and runs the timers, `0x03` opens
//! a second connection with the same hello (a takeover).
//!
//! Property: the broker never panics; every frame it transmits is within the frame limit and is a
//! JSON object with a `t`; every `response` (and, to a client, every frame) decodes with
//! `BrokerFrame::decode`; an agent's `event` frames carry an `AgentEvent`.
#![no_main]

use frontdesk_core::broker::auth::StaticTokens;
use frontdesk_core::broker::Broker;
use frontdesk_core::medium::Medium;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{AgentEvent, BrokerFrame, MAX_FRAME_BYTES};
use frontdesk_core::broker::ConnId;
use frontdesk_core::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

const T0: Timestamp = Timestamp(1_795_597_200_000);

const HELLOS: [&str; 3] = [
    r#"{"t":"hello","v":1,"token":"tok-alice","instance":1,"last_seq":0,"next_request":1}"#,
    r#"{"t":"hello","v":1,"token":"tok-ann","instance":7,"last_seq":0,"next_request":1}"#,
    r#"{"t":"hello","v":1,"token":"tok-sue","instance":9,"last_seq":0,"next_request":1}"#,
];

#[derive(Clone, Copy, PartialEq)]
enum Party {
    None,
    Client,
    Agent,
}

fn broker() -> Broker {
    let tokens = StaticTokens::new()
        .with("tok-alice", Principal::Client("alice".into()))
        .with("tok-bob", Principal::Client("bob".into()))
        .with("tok-ann", Principal::Agent("ann".into(), AgentRole::Agent))
        .with("tok-sue", Principal::Agent("sue".into(), AgentRole::Supervisor))
        .with_expiry("tok-old", Principal::Client("carol".into()), Timestamp(T0.0 + 10_000));
    let mut b = Broker::new(tokens);
    b.configure_queue(T0, "support".into(), "Support", vec!["router".into()], vec![Medium::Chat, Medium::Voice]);
    b
}

struct Harness {
    b: Broker,
    now: Timestamp,
    /// Which party said hello on each open connection (decides how its frames are checked).
    party: HashMap<ConnId, Party>,
}

impl Harness {
    fn input(&mut self, conn: ConnId, data: &[u8]) {
        self.b.handle_input(self.now, conn, data);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.b.poll_transmit() {
            let party = self.party.get(&t.conn).copied().unwrap_or(Party::None);
            check(&t.data, party);
            if t.close {
                self.b.handle_disconnect(self.now, t.conn);
                self.party.remove(&t.conn);
            }
        }
        while self.b.poll_event().is_some() {}
    }

    fn open(&mut self, hello: Option<(usize, Party)>) -> ConnId {
        let c = self.b.open_connection(self.now);
        let party = hello.map_or(Party::None, |(_, p)| p);
        self.party.insert(c, party);
        if let Some((h, _)) = hello {
            self.input(c, HELLOS[h].as_bytes());
        }
        c
    }
}

fn check(frame: &[u8], party: Party) {
    assert!(frame.len() <= MAX_FRAME_BYTES, "broker sent a frame of {} bytes", frame.len());
    let v: serde_json::Value = serde_json::from_slice(frame).unwrap_or_else(|e| panic!("broker sent non-JSON ({e}): {}", String::from_utf8_lossy(frame)));
    let t = v.get("t").and_then(|t| t.as_str()).unwrap_or_else(|| panic!("frame without t: {v}"));
    let typed = BrokerFrame::decode(frame, MAX_FRAME_BYTES);
    match (t, party) {
        ("event", Party::Agent) => {
            let ev = v.get("event").cloned().expect("event frame without event");
            if let Err(e) = serde_json::from_value::<AgentEvent>(ev) {
                panic!("agent event does not decode ({e}): {v}");
            }
        }
        ("response", _) | (_, Party::Client) | (_, Party::None) => {
            if let Err(e) = typed {
                panic!("{t} frame does not decode ({e}): {v}");
            }
        }
        (_, Party::Agent) => {
            if let Err(e) = typed {
                panic!("{t} frame to an agent does not decode ({e}): {v}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut h = Harness { b: broker(), now: T0, party: HashMap::new() };
    let hello = match mode & 3 {
        0 => None,
        1 => Some((0, Party::Client)),
        2 => Some((1, Party::Agent)),
        _ => Some((2, Party::Agent)),
    };
    let mut conn = h.open(hello);
    if mode & 4 == 0 {
        h.input(conn, rest);
        return;
    }
    for frame in rest.split(|b| *b == 0).take(256) {
        match frame {
            [1] => {
                h.b.handle_disconnect(h.now, conn);
                h.party.remove(&conn);
                h.drain();
                conn = h.open(hello);
            }
            [2] => {
                h.now = Timestamp(h.now.0 + 30_000);
                h.b.handle_timeout(h.now);
                h.drain();
            }
            [3] => {
                conn = h.open(hello);
            }
            _ => h.input(conn, frame),
        }
    }
    // Run the timers far out (offer time-outs, grace periods, invitation expiry, session expiry).
    for step in [60_000, 3_600_000, 90_000_000] {
        h.now = Timestamp(h.now.0 + step);
        h.b.handle_timeout(h.now);
        h.drain();
    }
});
