//! The reliable session of a client with the broker, whatever its requests and events say.
//!
//! It connects, authenticates and resumes; keeps the request queue (requests made offline go out once,
//! in order, and a request is forgotten only when answered); delivers events once, in sequence order,
//! acknowledging cumulatively and asking for a resend when it sees a gap; keeps the connection alive and
//! reconnects with backoff. Request and event bodies stay JSON text here: the typed
//! [`Client`](crate::client::Client) decodes them into its view, and the browser binding hands them to
//! JavaScript, whose JSON parser is free — so the web module carries no per-type decoding code.

use crate::ids::ClientId;
use crate::protocol::{DecodeError, ErrorBody, ErrorCode, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

mod frame;
pub use frame::{Frame, FrameKind};

/// Settings of a session (a client's or an agent console's); the session layer owns them so it
/// depends on nothing above it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Credential presented to the broker.
    pub token: String,
    /// Stable id of this app installation; keep it across restarts so the session resumes.
    pub instance: u64,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Keep-alive period while connected.
    pub ping_interval: Duration,
    /// Silence after which the connection is presumed dead (a phone that slept, a changed network).
    pub idle_timeout: Duration,
    /// Largest frame accepted from the broker.
    pub max_frame_bytes: usize,
    /// Watch center status from the start.
    pub watch_center: bool,
}

impl ClientConfig {
    /// Defaults for a token and an installation id.
    pub fn new(token: impl Into<String>, instance: u64) -> Self {
        ClientConfig {
            token: token.into(),
            instance,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(45),
            max_frame_bytes: MAX_FRAME_BYTES,
            watch_center: true,
        }
    }

    /// Refuses a request body whose frame (`{"t":"request","id":…,"req":…}` around it) would exceed
    /// the frame limit: the one check every queue of requests makes before it takes one.
    pub fn check_request_size(&self, body: &str) -> Result<(), ErrorBody> {
        if body.len() + 48 > self.max_frame_bytes {
            return Err(ErrorBody::new(
                ErrorCode::TooLarge,
                format!("the request is {} bytes; a frame holds at most {}", body.len(), self.max_frame_bytes),
            ));
        }
        Ok(())
    }
}

/// What the session tells the layer above it; bodies are the JSON text the broker sent.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent<T> {
    /// The session is up; `resumed` says whether the broker still had the previous one.
    Connected {
        /// Who the broker says the client is.
        client: ClientId,
        /// Whether events and request ids continue; if not, events start again at 1.
        resumed: bool,
    },
    /// The connection dropped; the session retries by itself at `retry_at`.
    Disconnected {
        /// Next attempt.
        retry_at: Timestamp,
    },
    /// The broker refused the credential or version; the session stops until `set_token` and `start`.
    Rejected(ErrorBody),
    /// A request was answered: its tag back, and the outcome (`{"ok":…}` or `{"err":…}`).
    Answered {
        /// Request id.
        id: u64,
        /// What the layer above attached to the request.
        tag: T,
        /// Outcome as JSON text.
        outcome: String,
    },
    /// The next event in sequence, as JSON text (each delivered once, in order).
    Event(String),
    /// A presence document of a watched presentity, as JSON text.
    Status(String),
    /// What changed in a watched presentity (a `PresenceDelta`), as JSON text.
    Delta(String),
    /// A watch ended because the owner now blocks it; the presentity as JSON text.
    WatchEnded(String),
    /// The other party of a live chat is typing or stopped (a [`Typing`](crate::typing::Typing)), as
    /// JSON text; not sequenced, so it is never replayed.
    Typing(String),
    /// The broker reported a non-fatal problem with a frame.
    ProtocolError(ErrorBody),
}

#[derive(Debug, Clone)]
struct Pending<T> {
    body: String,
    tag: T,
    sent: bool,
    /// The id the caller was given; the wire id differs once a welcome moved it past ids another
    /// process of this installation used.
    app_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not started, or stopped after a rejection or `close`.
    Stopped,
    /// Waiting to (re)connect at the time given.
    Waiting(Timestamp),
    /// The host was asked to open a transport.
    Connecting,
    /// Hello sent; waiting for Welcome.
    Handshaking,
    /// Session up.
    Ready,
}

fn missing(what: &str) -> DecodeError {
    DecodeError::Malformed(format!("missing field `{what}`"))
}

/// Events held while an earlier one is missing; beyond this the session waits for a replay instead.
const MAX_EARLY_EVENTS: usize = 4096;
/// The same bound in bytes, so a hostile or broken broker cannot fill the app's memory.
const MAX_EARLY_EVENT_BYTES: usize = 4 << 20;

/// The session state machine; `T` is what the layer above attaches to each request.
#[derive(Debug)]
pub struct Session<T> {
    cfg: ClientConfig,
    link: Link,
    connect_wanted: bool,
    attempts: u32,
    now: Timestamp,
    last_rx: Timestamp,
    next_ping: Timestamp,
    next_id: u64,
    /// Requests from this id on were made by this process (earlier ones came with a saved state).
    fresh_from: u64,
    pending: BTreeMap<u64, Pending<T>>,
    last_seq: u64,
    early: BTreeMap<u64, String>,
    early_bytes: usize,
    /// Set when a welcome skipped events another process had acknowledged; taken by the layer above.
    missed_events: bool,
    ack_due: bool,
    resend_wanted: bool,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<SessionEvent<T>>,
}

impl<T> Session<T> {
    /// A session that has not connected yet; call [`start`](Self::start).
    pub fn new(cfg: ClientConfig) -> Self {
        Session {
            cfg,
            link: Link::Stopped,
            connect_wanted: false,
            attempts: 0,
            now: Timestamp(0),
            last_rx: Timestamp(0),
            next_ping: Timestamp(0),
            next_id: 1,
            fresh_from: 1,
            pending: BTreeMap::new(),
            last_seq: 0,
            early: BTreeMap::new(),
            early_bytes: 0,
            missed_events: false,
            ack_due: false,
            resend_wanted: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A session that continues a saved one: its next request id, last event delivered and queued
    /// requests (id, JSON body, tag).
    pub fn restore(cfg: ClientConfig, next_id: u64, last_seq: u64, pending: impl IntoIterator<Item = (u64, String, T)>) -> Self {
        let mut s = Session::new(cfg);
        s.last_seq = last_seq;
        // One insert at a time (a later duplicate wins, as with collect): collecting would link a sort.
        for (id, body, tag) in pending {
            s.pending.insert(id, Pending { body, tag, sent: false, app_id: id });
        }
        s.next_id = next_id.max(s.pending.keys().next_back().map_or(1, |id| id.saturating_add(1)));
        s.fresh_from = s.next_id;
        s
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The latest time the session was given.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether the session with the broker is up.
    pub fn is_connected(&self) -> bool {
        self.link == Link::Ready
    }

    /// The id the next request will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Whether the last welcome skipped events acknowledged by another process of this
    /// installation (so the view must be read again); reading it clears it.
    pub fn take_missed_events(&mut self) -> bool {
        std::mem::take(&mut self.missed_events)
    }

    /// The last event delivered in order.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Requests not yet answered, oldest first: id, JSON body, tag.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = (u64, &str, &T)> + '_ {
        self.pending.iter().map(|(id, p)| (*id, p.body.as_str(), &p.tag))
    }

    /// Requests after `id` not yet answered, oldest first.
    pub fn pending_after(&self, id: u64) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.pending.range(id.saturating_add(1)..).map(|(id, p)| (*id, &p.tag))
    }

    /// Replaces the credential (after a rejection or before a token expires).
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.cfg.token = token.into();
    }

    /// Starts connecting (again, after a rejection or `close`).
    pub fn start(&mut self, now: Timestamp) {
        self.tick(now);
        if matches!(self.link, Link::Stopped) {
            self.link = Link::Waiting(now);
            self.handle_timeout(now);
        }
    }

    /// Stops: no more reconnects. Queued requests stay.
    pub fn close(&mut self, now: Timestamp) {
        self.tick(now);
        self.link = Link::Stopped;
        self.connect_wanted = false;
        self.unsend_all();
    }

    fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    /// True once when the host should open a fresh transport (closing any old one) and then call
    /// [`handle_connected`](Self::handle_connected).
    #[must_use]
    pub fn poll_connect(&mut self) -> bool {
        std::mem::take(&mut self.connect_wanted)
    }

    /// The transport the host opened is up.
    pub fn handle_connected(&mut self, now: Timestamp) {
        self.tick(now);
        if self.link == Link::Stopped {
            return;
        }
        self.link = Link::Handshaking;
        self.last_rx = now;
        self.transmits.clear();
        let next_request = self.pending.keys().next().copied().unwrap_or(self.next_id);
        // Written by hand like the other frames, so the web module links no frame serializer.
        let token = serde_json::to_string(&self.cfg.token).unwrap_or_default();
        let hello = format!(
            r#"{{"t":"hello","v":{PROTOCOL_VERSION},"token":{token},"instance":{},"last_seq":{},"next_request":{next_request}}}"#,
            self.cfg.instance, self.last_seq
        );
        self.transmits.push_back(hello.into_bytes());
    }

    /// The transport closed or failed; the session retries with backoff.
    pub fn handle_disconnected(&mut self, now: Timestamp) {
        self.tick(now);
        if matches!(self.link, Link::Stopped | Link::Waiting(_)) {
            return;
        }
        self.unsend_all();
        let retry_at = now.add(self.backoff());
        self.attempts = self.attempts.saturating_add(1);
        self.link = Link::Waiting(retry_at);
        self.events.push_back(SessionEvent::Disconnected { retry_at });
    }

    fn unsend_all(&mut self) {
        self.transmits.clear();
        self.early.clear();
        self.early_bytes = 0;
        self.ack_due = false;
        self.resend_wanted = false;
        for p in self.pending.values_mut() {
            p.sent = false;
        }
    }

    fn backoff(&self) -> Duration {
        let base = self.cfg.backoff_initial.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << self.attempts.min(20));
        let capped = exp.min(self.cfg.backoff_max.as_millis() as u64);
        // Spread reconnects of many clients after a server restart, deterministically per installation.
        let spread = (self.cfg.instance.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % 500;
        Duration::from_millis(capped / 2 + capped * spread / 1000)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.link {
            Link::Stopped | Link::Connecting => None,
            Link::Waiting(at) => Some(at),
            Link::Handshaking => Some(self.last_rx.add(self.cfg.idle_timeout)),
            Link::Ready => Some(self.next_ping.min(self.last_rx.add(self.cfg.idle_timeout))),
        }
    }

    /// Time passed: reconnect, keep alive, or give up on a silent connection. Early calls are no-ops.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        match self.link {
            Link::Waiting(at) if now >= at => {
                self.link = Link::Connecting;
                self.connect_wanted = true;
            }
            Link::Handshaking | Link::Ready if now >= self.last_rx.add(self.cfg.idle_timeout) => {
                // Silent too long: the network changed or the phone slept. Start over on a new transport.
                self.handle_disconnected(now);
                self.link = Link::Connecting;
                self.connect_wanted = true;
            }
            Link::Ready if now >= self.next_ping => {
                self.transmits.push_back(format!(r#"{{"t":"ping","n":{}}}"#, now.as_millis()).into_bytes());
                self.next_ping = now.add(self.cfg.ping_interval);
            }
            _ => {}
        }
    }

    /// Sends a frame that is soft state (a typing notice) if the session is up, and drops it if not:
    /// it is never queued, so it cannot go out late. Returns whether it was sent.
    pub fn send_soft(&mut self, frame: String) -> bool {
        if self.link != Link::Ready {
            return false;
        }
        self.transmits.push_back(frame.into_bytes());
        true
    }

    /// Next frame to send on the transport.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.ack_due {
            self.ack_due = false;
            self.transmits.push_back(format!(r#"{{"t":"ack","seq":{}}}"#, self.last_seq).into_bytes());
        }
        self.transmits.pop_front()
    }

    /// Next event for the layer above.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent<T>> {
        self.events.pop_front()
    }

    /// A frame arrived. A bad frame is reported and dropped; the session goes on.
    pub fn handle_input(&mut self, now: Timestamp, data: &[u8]) -> Result<(), DecodeError> {
        self.handle_decoded(now, data.len(), || Frame::decode(std::str::from_utf8(data).map_err(|_| DecodeError::NotUtf8)?))
    }

    /// A frame of `len` bytes arrived that `decode` reads (called only if the session takes it): for a
    /// host that parses frames itself. Otherwise as [`handle_input`](Self::handle_input).
    pub fn handle_decoded(&mut self, now: Timestamp, len: usize, decode: impl FnOnce() -> Result<Frame, DecodeError>) -> Result<(), DecodeError> {
        self.tick(now);
        if matches!(self.link, Link::Stopped | Link::Waiting(_)) {
            // A late frame from a transport we already gave up on: the new session will replay it.
            return Ok(());
        }
        self.last_rx = now;
        if len > self.cfg.max_frame_bytes {
            return Err(DecodeError::TooLarge(len));
        }
        let f = decode()?;
        if self.link == Link::Handshaking && !matches!(f.t, FrameKind::Welcome | FrameKind::Error) {
            // Only a transport that reorders puts these before Welcome; ask for them again once welcomed.
            self.resend_wanted = true;
            return Ok(());
        }
        match f.t {
            FrameKind::Welcome => {
                let client = f.client.ok_or_else(|| missing("client"))?;
                self.on_welcome(client, f.resumed.ok_or_else(|| missing("resumed"))?, f.next_request, f.acked);
            }
            FrameKind::Response => {
                let id = f.id.ok_or_else(|| missing("id"))?;
                let outcome = f.outcome.ok_or_else(|| missing("outcome"))?;
                if let Some(p) = self.pending.remove(&id) {
                    self.events.push_back(SessionEvent::Answered { id: p.app_id, tag: p.tag, outcome });
                }
            }
            FrameKind::Event => {
                let seq = f.seq.ok_or_else(|| missing("seq"))?;
                let event = f.event.ok_or_else(|| missing("event"))?;
                self.on_event(seq, event);
            }
            FrameKind::Status => self.events.push_back(SessionEvent::Status(f.doc.ok_or_else(|| missing("doc"))?)),
            FrameKind::Delta => self.events.push_back(SessionEvent::Delta(f.doc.ok_or_else(|| missing("delta"))?)),
            FrameKind::Typing => self.events.push_back(SessionEvent::Typing(f.doc.ok_or_else(|| missing("typing"))?)),
            FrameKind::WatchEnded => {
                let p = f.presentity.ok_or_else(|| missing("presentity"))?;
                self.events.push_back(SessionEvent::WatchEnded(p));
            }
            FrameKind::Error => {
                let error = f.error.ok_or_else(|| missing("error"))?;
                if f.fatal
                    && self.link == Link::Handshaking
                    && matches!(error.code, ErrorCode::Unauthenticated | ErrorCode::Expired | ErrorCode::Forbidden | ErrorCode::UnsupportedVersion)
                {
                    self.close(now);
                    self.events.push_back(SessionEvent::Rejected(error));
                } else if f.fatal {
                    // The broker is closing this transport (session taken over or reset): reconnect.
                    self.handle_disconnected(now);
                } else {
                    self.events.push_back(SessionEvent::ProtocolError(error));
                }
            }
            FrameKind::Pong => {}
        }
        Ok(())
    }

    fn on_welcome(&mut self, client: ClientId, resumed: bool, broker_next: Option<u64>, acked: Option<u64>) {
        if self.link != Link::Handshaking {
            return;
        }
        if let Some(a) = acked.filter(|a| resumed && *a > self.last_seq) {
            // Another process of this installation acknowledged events this one never saw; the
            // broker no longer has them, so waiting for them would hold every later event back.
            // Numbering continues after them and the layer above re-reads its view.
            self.last_seq = a;
            self.early.retain(|seq, _| *seq > a);
            self.early_bytes = self.early.values().map(|e| e.len()).sum();
            self.missed_events = true;
        }
        if let Some(n) = broker_next.filter(|n| resumed && *n > self.next_id) {
            // Another process of this installation (one that died after the state was saved, or
            // before a reinstall) sent ids this process has used since: its own requests, none sent
            // yet, move past them, so none is answered with another request's answer.
            let moved: Vec<u64> = self.pending.range(self.fresh_from..).map(|(id, _)| *id).collect();
            let mut next = n;
            for id in moved {
                let p = self.pending.remove(&id).expect("listed above");
                self.pending.insert(next, p);
                next += 1;
            }
            self.next_id = next;
            self.fresh_from = n;
        }
        self.link = Link::Ready;
        self.attempts = 0;
        self.next_ping = self.now.add(self.cfg.ping_interval);
        if !resumed {
            // A new session: its events start again at 1.
            self.last_seq = 0;
            self.early.clear();
            self.early_bytes = 0;
        }
        if std::mem::take(&mut self.resend_wanted) {
            self.push_resend();
        }
        self.events.push_back(SessionEvent::Connected { client, resumed });
        self.flush_pending();
    }

    fn on_event(&mut self, seq: u64, event: String) {
        if seq <= self.last_seq {
            // A replay of something already delivered: acknowledge again so the broker can drop it.
            self.ack_due = true;
            return;
        }
        if seq > self.last_seq + 1 {
            if self.early.is_empty() {
                // A gap opened: something was lost or overtaken. Ask once; duplicates are ignored.
                self.push_resend();
            }
            if self.early.len() < MAX_EARLY_EVENTS && self.early_bytes + event.len() <= MAX_EARLY_EVENT_BYTES && !self.early.contains_key(&seq) {
                self.early_bytes += event.len();
                self.early.insert(seq, event);
            }
            return;
        }
        self.deliver(event);
        while let Some(e) = self.early.remove(&(self.last_seq + 1)) {
            self.early_bytes -= e.len();
            self.deliver(e);
        }
    }

    /// Asks the broker for every event after the last one delivered.
    fn push_resend(&mut self) {
        self.transmits.push_back(format!(r#"{{"t":"resend","after":{}}}"#, self.last_seq).into_bytes());
    }

    fn deliver(&mut self, event: String) {
        self.last_seq += 1;
        self.ack_due = true;
        self.events.push_back(SessionEvent::Event(event));
    }

    fn flush_pending(&mut self) {
        if self.link != Link::Ready {
            return;
        }
        for (id, p) in self.pending.iter_mut().filter(|(_, p)| !p.sent) {
            p.sent = true;
            self.transmits.push_back(format!(r#"{{"t":"request","id":{id},"req":{}}}"#, p.body).into_bytes());
        }
    }

    /// Queues a request (its JSON text, `{"op":…}`); it goes out now if connected, else once the
    /// session is up, in id order. A request whose frame would exceed the frame limit is refused here,
    /// with `too_large`, and never queued: queued, it would be refused by the broker on every
    /// reconnect and saved with the state.
    pub fn enqueue(&mut self, body: String, tag: T) -> Result<u64, ErrorBody> {
        self.cfg.check_request_size(&body)?;
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).ok_or_else(|| ErrorBody::new(ErrorCode::Internal, "request ids are exhausted"))?;
        self.pending.insert(id, Pending { body, tag, sent: false, app_id: id });
        self.flush_pending();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BrokerFrame, ClientFrame, Request, MAX_FRAME_BYTES};

    fn up() -> Session<u8> {
        let mut cfg = ClientConfig::new("to\"k\u{e9}n", 7);
        cfg.watch_center = false;
        let mut s = Session::new(cfg);
        s.start(Timestamp(1));
        assert!(s.poll_connect());
        s.handle_connected(Timestamp(1));
        s.handle_input(Timestamp(1), br#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#).unwrap();
        assert!(matches!(s.poll_event(), Some(SessionEvent::Connected { resumed: false, .. })));
        s
    }

    fn sent(s: &mut Session<u8>) -> Vec<ClientFrame> {
        std::iter::from_fn(|| s.poll_transmit()).map(|f| ClientFrame::decode(&f, MAX_FRAME_BYTES).expect("hand-written frames decode")).collect()
    }

    #[test]
    fn hand_written_frames_are_the_protocol_frames() {
        let mut cfg = ClientConfig::new("to\"k\u{e9}n", 7);
        cfg.watch_center = false;
        let mut s: Session<u8> = Session::restore(cfg, 5, 3, [(4, r#"{"op":"get_profile"}"#.to_string(), 9)]);
        s.start(Timestamp(1));
        s.handle_connected(Timestamp(1));
        let hello = ClientFrame::Hello { v: PROTOCOL_VERSION, token: "to\"k\u{e9}n".into(), instance: 7, last_seq: 3, next_request: 4 };
        assert_eq!(sent(&mut s), vec![hello]);
        s.handle_input(Timestamp(2), br#"{"t":"welcome","v":1,"client":"alice","resumed":true}"#).unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Connected { client: "alice".into(), resumed: true }));
        assert_eq!(sent(&mut s), vec![ClientFrame::Request { id: 4, req: Request::GetProfile }]);
        s.handle_input(Timestamp(3), &BrokerFrame::event_from_payload(4, r#"{"ev":"chat_delivered","data":{"interaction":"i","seq":1}}"#)).unwrap();
        s.handle_timeout(Timestamp(2 + s.config().ping_interval.as_millis() as u64));
        assert_eq!(sent(&mut s), vec![ClientFrame::Ping { n: 20_002 }, ClientFrame::Ack { seq: 4 }]);
    }

    #[test]
    fn a_delta_frame_reaches_the_layer_above_as_its_raw_text() {
        let mut s = up();
        let delta = r#"{"entity":"center","base":1,"version":2,"timestamp":3}"#;
        s.handle_input(Timestamp(2), &BrokerFrame::delta_from_payload(delta)).unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Delta(delta.into())));
        assert!(matches!(s.handle_input(Timestamp(2), br#"{"t":"delta"}"#), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn events_are_delivered_once_in_order_with_one_resend_per_gap() {
        let mut s = up();
        let _ = sent(&mut s);
        let ev = |n: u64| BrokerFrame::event_from_payload(n, &format!(r#"{{"n":{n}}}"#));
        for n in [2, 3, 1, 2, 4] {
            s.handle_input(Timestamp(2), &ev(n)).unwrap();
        }
        let got: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        let want: Vec<_> = (1..=4).map(|n| SessionEvent::Event(format!(r#"{{"n":{n}}}"#))).collect();
        assert_eq!(got, want);
        assert_eq!(sent(&mut s), vec![ClientFrame::Resend { after: 0 }, ClientFrame::Ack { seq: 4 }]);
    }

    #[test]
    fn answers_carry_their_tag_and_raw_outcome() {
        let mut s = up();
        let id = s.enqueue(r#"{"op":"get_orders"}"#.into(), 42).unwrap();
        s.handle_input(Timestamp(2), format!(r#"{{"t":"response","id":{id},"outcome":{{"err":{{"code":"forbidden","message":"no"}}}}}}"#).as_bytes()).unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Answered { id, tag: 42, outcome: r#"{"err":{"code":"forbidden","message":"no"}}"#.into() }));
        // A duplicate answer (a replay after a reconnect) is not reported twice.
        s.handle_input(Timestamp(2), format!(r#"{{"t":"response","id":{id},"outcome":{{"ok":{{"kind":"done"}}}}}}"#).as_bytes()).unwrap();
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.pending().count(), 0);
    }

    #[test]
    fn bad_envelopes_get_typed_errors_and_the_session_goes_on() {
        let mut s = up();
        for bad in [&br#"{"t":"event","event":{}}"#[..], br#"{"t":"nope"}"#, br#"{"t":"response","outcome":{}}"#, b"[1]", br#"{"t":"welcome"}"#] {
            assert!(matches!(s.handle_input(Timestamp(2), bad), Err(DecodeError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(s.handle_input(Timestamp(2), b"\xff"), Err(DecodeError::NotUtf8));
        assert_eq!(s.handle_input(Timestamp(2), &vec![b' '; MAX_FRAME_BYTES + 1]), Err(DecodeError::TooLarge(MAX_FRAME_BYTES + 1)));
        assert!(s.is_connected());
    }

    #[test]
    fn a_fatal_refusal_during_the_handshake_stops_the_session() {
        let mut s: Session<()> = Session::new(ClientConfig::new("t", 1));
        s.start(Timestamp(1));
        let _ = s.poll_connect();
        s.handle_connected(Timestamp(1));
        s.handle_input(Timestamp(1), br#"{"t":"error","error":{"code":"unauthenticated","message":"bad token"},"fatal":true}"#).unwrap();
        assert!(matches!(s.poll_event(), Some(SessionEvent::Rejected(e)) if e.code == ErrorCode::Unauthenticated));
        assert_eq!(s.poll_timeout(), None);
    }
}
