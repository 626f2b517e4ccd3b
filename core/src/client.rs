//! The client state machine: what runs in the app.
//!
//! It owns the session with the broker (connect, authenticate, resume), a local view of the client's
//! data and of center status, and the queue of requests. Requests made while offline wait and go out
//! once, in order, when the connection returns; a request is forgotten only when the broker answered
//! it, and the broker applies each request id once, so nothing acknowledged is lost or doubled.
//! Events from the broker are delivered to the app once, in sequence order, whatever the transport did.

use crate::alert::{AlertFired, AlertRule};
use crate::ids::{AgentId, AlertId, ClientId, InteractionId, InvitationId, OrderId, ProductId, QueueId};
use crate::interaction::{ChatMessage, LiveInteraction};
use crate::invitation::Invitation;
use crate::medium::Medium;
use crate::monitor::access::AccessRule;
use crate::monitor::delta::PresenceDelta;
use crate::monitor::presence::{PresenceDocument, Presentity};
use crate::profile::{ClientProfile, ProfilePatch};
use crate::protocol::{DecodeError, ErrorBody, ErrorCode, Event, Outcome, Request, Response};
use crate::session::{Session, SessionEvent};
use crate::records::{DeliveryDetails, HistoryFilter, InteractionRecord, Order, Product};
use crate::status::{CenterStatus, ClientStatus};
use crate::time::Timestamp;
use crate::typing::{Typing, TypingPeers, TypingThrottle};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Identifies a request made through the client; its answer comes back as [`ClientEvent::Completed`].
pub type RequestId = u64;

/// Ids from here up name requests the client refused itself (too large) and never sent; the broker
/// never sees them, so they leave no gap in the ids it applies.
pub const LOCAL_REFUSAL_IDS: RequestId = 1 << 62;

pub use crate::session::ClientConfig;

/// What the client tells the app.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The session is up; `resumed` says whether it continued the previous one.
    Connected {
        /// Whether the broker still had the session.
        resumed: bool,
    },
    /// The connection dropped; the client retries by itself at `retry_at`.
    Disconnected {
        /// Next attempt.
        retry_at: Timestamp,
    },
    /// A connection attempt failed or the connection broke, and why (a refused port, a certificate
    /// refused, the peer gone). Reported by the driver that runs the client (see
    /// [`crate::driver::client_driver`]) just before the `Disconnected` it causes; the client retries by itself.
    TransportError(crate::transport::TransportError),
    /// The broker refused the credential or version; the client stops until `set_token` and `start`.
    Rejected(ErrorBody),
    /// Profile, orders, products and center status are loaded into the view.
    Synced,
    /// A request was answered.
    Completed {
        /// Request.
        id: RequestId,
        /// Answer.
        result: Result<Response, ErrorBody>,
    },
    /// The broker pushed an event (already applied to the view).
    Pushed(Event),
    /// A watched presentity's presence changed (already applied to the view).
    Presence(PresenceDocument),
    /// A watch ended because the owner now blocks it.
    WatchEnded(Presentity),
    /// The broker reported a non-fatal problem with a frame.
    ProtocolError(ErrorBody),
    /// The agent started or stopped typing in a chat (also when a notice expired); see
    /// [`ClientView::typing`].
    Typing {
        /// Interaction.
        interaction: InteractionId,
        /// Typing now.
        on: bool,
    },
}

/// The client's local copy of its data and of the center's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientView {
    /// Who the broker says we are.
    pub client: Option<ClientId>,
    /// Own profile, with edits not yet acknowledged applied on top.
    pub profile: ClientProfile,
    /// Own orders.
    pub orders: BTreeMap<OrderId, Order>,
    /// Product catalogue.
    pub products: Vec<Product>,
    /// History records seen, newest first.
    pub history: Vec<InteractionRecord>,
    /// Latest center status.
    pub center: Option<CenterStatus>,
    /// Latest presence of every watched presentity.
    pub presence: BTreeMap<Presentity, PresenceDocument>,
    /// Invitations, by id.
    pub invitations: BTreeMap<InvitationId, Invitation>,
    /// Live interactions (and ended ones of this run), by id.
    pub interactions: BTreeMap<InteractionId, LiveInteraction>,
    /// Chat transcripts, by interaction.
    pub chats: BTreeMap<InteractionId, Vec<ChatMessage>>,
    /// Chat messages of ours the agent has received: (interaction, seq).
    pub delivered: BTreeSet<(InteractionId, u64)>,
    /// Our messages the agent has read, up to this seq, by interaction.
    pub read: BTreeMap<InteractionId, u64>,
    /// Where the agent is typing now.
    pub typing: TypingPeers,
    /// Alerts that fired, oldest first.
    pub alerts: Vec<AlertFired>,
}

impl ClientView {
    fn upsert_record(&mut self, r: InteractionRecord) {
        self.history.retain(|x| x.id != r.id);
        let at = self.history.partition_point(|x| x.started_at > r.started_at);
        self.history.insert(at, r);
    }

    fn upsert_order(&mut self, o: Order) {
        if self.orders.get(&o.id).map_or(true, |old| old.revision <= o.revision) {
            self.orders.insert(o.id.clone(), o);
        }
    }

    fn note_read(&mut self, interaction: &InteractionId, seq: u64) {
        if seq == 0 {
            return;
        }
        let r = self.read.entry(interaction.clone()).or_default();
        *r = (*r).max(seq);
    }

    fn add_chat(&mut self, m: ChatMessage) {
        crate::interaction::insert_message(self.chats.entry(m.interaction.clone()).or_default(), m);
    }

    /// Applies a pushed event, as the client does when the session delivers it (public so that the
    /// golden traces in `tests/vectors/` can drive the view without a session).
    pub fn apply_event(&mut self, e: &Event) {
        match e {
            // Signalling is for the app's WebRTC stack, not the view.
            Event::Signal { .. } => {}
            Event::ProfileChanged(p) => {
                if p.revision >= self.profile.revision {
                    self.profile = p.clone();
                }
            }
            Event::OrderChanged(o) => self.upsert_order(o.clone()),
            Event::HistoryChanged(r) => self.upsert_record(r.clone()),
            Event::Alert(a) => self.alerts.push(a.clone()),
            Event::Invitation(i) => {
                self.invitations.insert(i.id.clone(), i.clone());
            }
            Event::Interaction(li) => {
                if li.state != crate::interaction::InteractionState::Connected {
                    self.typing.forget(&li.id);
                }
                self.interactions.insert(li.id.clone(), li.clone());
            }
            Event::Chat(m) => self.add_chat(m.clone()),
            Event::ChatDelivered { interaction, seq } => {
                self.delivered.insert((interaction.clone(), *seq));
            }
            Event::ChatRead { interaction, seq } => self.note_read(interaction, *seq),
        }
    }

    /// Applies the successful answer `r` to request `req`.
    pub fn apply_response(&mut self, req: &Request, r: &Response) {
        match r {
            Response::Profile(p) => {
                // Answers can overtake each other on a reordering transport; the newer revision wins.
                if p.revision >= self.profile.revision {
                    self.profile = p.clone();
                }
            }
            Response::History(v) => {
                if matches!(req, Request::GetHistory { filter } if *filter == HistoryFilter::default()) {
                    self.history = v.clone();
                } else {
                    for x in v {
                        self.upsert_record(x.clone());
                    }
                }
            }
            Response::Record(x) => self.upsert_record(x.clone()),
            Response::Products(v) => self.products = v.clone(),
            Response::Orders(v) => self.orders = v.iter().map(|o| (o.id.clone(), o.clone())).collect(),
            Response::Order(o) => self.upsert_order(o.clone()),
            Response::CenterStatus(c) => self.center = Some(c.clone()),
            Response::Presence(d) => {
                self.apply_presence(d.clone(), true);
            }
            Response::Invitation(i) => {
                self.invitations.insert(i.id.clone(), i.clone());
            }
            Response::Interaction(li) => {
                self.note_read(&li.id, li.agent_read);
                // A queued-position answer may arrive after a newer pushed state; keep the further one.
                let newer = self.interactions.get(&li.id).is_some_and(|old| progress(old) > progress(li));
                if !newer {
                    self.interactions.insert(li.id.clone(), li.clone());
                }
            }
            Response::Chat(m) => self.add_chat(m.clone()),
            Response::Transcript(v) => {
                // A page: merged with what is held, since pages and pushed messages may overlap.
                if let Request::GetTranscript { interaction, .. } = req {
                    self.chats.entry(interaction.clone()).or_default();
                }
                for m in v {
                    self.add_chat(m.clone());
                }
            }
            Response::Live(v) => {
                for l in v {
                    self.note_read(&l.interaction.id, l.interaction.agent_read);
                    let newer = self.interactions.get(&l.interaction.id).is_some_and(|old| progress(old) > progress(&l.interaction));
                    if !newer {
                        self.interactions.insert(l.interaction.id.clone(), l.interaction.clone());
                    }
                    for m in &l.transcript {
                        self.add_chat(m.clone());
                    }
                }
            }
            Response::Done | Response::Alert(_) | Response::Watchers(_) | Response::Seat(_) | Response::IceServers(_) | Response::Wallboard(_) => {}
        }
    }

    /// Applies a presence document (`force` for an answer to a watch); false if it was older than the one held.
    pub fn apply_presence(&mut self, d: PresenceDocument, force: bool) -> bool {
        let stale = !force && self.presence.get(&d.entity).is_some_and(|old| old.version > d.version);
        if stale {
            return false;
        }
        if d.entity == Presentity::Center {
            if let Some(c) = &d.center {
                self.center = Some(c.clone());
            }
        }
        self.presence.insert(d.entity.clone(), d);
        true
    }
}

fn progress(li: &LiveInteraction) -> u8 {
    use crate::interaction::InteractionState::*;
    match li.state {
        Queued { .. } => 0,
        Connected => 1,
        Ended { .. } => 2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    App,
    Sync,
    Rewatch,
    /// A watch sent again because a delta did not fit the document held: its answer is announced
    /// like a pushed document, since it carries the change the lost delta had.
    Repair,
}

/// What the client attaches to each queued request: the typed request and why it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    req: Request,
    purpose: Purpose,
}

/// What a client must keep across an app restart so nothing queued is lost: save it when the app goes
/// to the background and pass it to [`Client::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SavedState {
    instance: u64,
    next_id: u64,
    last_seq: u64,
    #[cfg_attr(feature = "schema", schemars(with = "BTreeMap<u64, serde_json::Map<String, serde_json::Value>>", description = "Requests not yet answered, by id; opaque: hand the saved JSON back unchanged."))]
    pending: BTreeMap<u64, Pending>,
    watches: BTreeSet<Presentity>,
}

/// The client state machine: a [`Session`] for reliability, with typed requests and a local view.
#[derive(Debug)]
pub struct Client {
    session: Session<Pending>,
    watches: BTreeSet<Presentity>,
    synced: bool,
    events: VecDeque<ClientEvent>,
    view: ClientView,
    refused: u64,
    gaps: u64,
    throttle: TypingThrottle,
}

fn body(req: &Request) -> String {
    serde_json::to_string(req).expect("requests always serialize")
}

fn malformed(what: &str, e: serde_json::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Malformed, format!("{what}: {e}"))
}

impl Client {
    /// A client that has not connected yet; call [`start`](Self::start).
    pub fn new(cfg: ClientConfig) -> Self {
        let mut watches = BTreeSet::new();
        if cfg.watch_center {
            watches.insert(Presentity::Center);
        }
        Client { session: Session::new(cfg), watches, synced: false, events: VecDeque::new(), view: ClientView::default(), refused: 0, gaps: 0, throttle: TypingThrottle::default() }
    }

    /// A client that continues where a saved one stopped (same installation, queued requests kept).
    pub fn restore(mut cfg: ClientConfig, saved: SavedState) -> Self {
        cfg.instance = saved.instance;
        // A state saved by an older version may hold a request too large to ever be accepted: it is
        // answered here with `too_large` instead of wedging the queue again.
        let mut events = VecDeque::new();
        let mut pending = vec![];
        for (id, p) in saved.pending {
            let b = body(&p.req);
            match cfg.check_request_size(&b) {
                Err(e) => events.push_back(ClientEvent::Completed { id, result: Err(e) }),
                Ok(()) => pending.push((id, b, p)),
            }
        }
        Client {
            session: Session::restore(cfg, saved.next_id, saved.last_seq, pending),
            watches: saved.watches,
            synced: false,
            events,
            view: ClientView::default(),
            refused: 0,
            gaps: 0,
            throttle: TypingThrottle::default(),
        }
    }

    /// What to keep across an app restart.
    pub fn save(&self) -> SavedState {
        SavedState {
            instance: self.session.config().instance,
            next_id: self.session.next_id(),
            last_seq: self.session.last_seq(),
            pending: self.session.pending().map(|(id, _, p)| (id, p.clone())).collect(),
            watches: self.watches.clone(),
        }
    }

    /// The local view.
    pub fn view(&self) -> &ClientView {
        &self.view
    }

    /// Whether a session with the broker is up.
    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// Requests not yet answered, oldest first (a UI shows these as "sending").
    pub fn pending_requests(&self) -> impl Iterator<Item = (RequestId, &Request)> + '_ {
        self.session.pending().filter(|(_, _, p)| p.purpose == Purpose::App).map(|(id, _, p)| (id, &p.req))
    }

    /// Presence deltas that did not fit the document held (one was lost, or none was held yet), each
    /// repaired by fetching the whole document again.
    pub fn presence_gaps(&self) -> u64 {
        self.gaps
    }

    /// Last event sequence delivered to the app.
    pub fn last_event_seq(&self) -> u64 {
        self.session.last_seq()
    }

    /// Replaces the credential (after a rejection or before a token expires).
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.session.set_token(token);
    }

    /// Starts connecting (again, after a rejection or `close`).
    pub fn start(&mut self, now: Timestamp) {
        self.session.start(now);
    }

    /// Stops: no more reconnects. Queued requests stay (see [`save`](Self::save)).
    pub fn close(&mut self, now: Timestamp) {
        self.session.close(now);
        self.drain();
    }

    /// True once when the host should open a fresh transport (closing any old one) and then call
    /// [`handle_connected`](Self::handle_connected).
    #[must_use]
    pub fn poll_connect(&mut self) -> bool {
        self.session.poll_connect()
    }

    /// The transport the host opened is up.
    pub fn handle_connected(&mut self, now: Timestamp) {
        self.session.handle_connected(now);
    }

    /// The transport closed or failed; the client retries with backoff.
    pub fn handle_disconnected(&mut self, now: Timestamp) {
        self.session.handle_disconnected(now);
        self.drain();
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [self.session.poll_timeout(), self.view.typing.poll_timeout()].into_iter().flatten().min()
    }

    /// Time passed: reconnect, keep alive, give up on a silent connection, or let a typing notice
    /// expire. Early calls are no-ops.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.session.handle_timeout(now);
        for interaction in self.view.typing.expire(now) {
            self.events.push_back(ClientEvent::Typing { interaction, on: false });
        }
        self.drain();
    }

    /// Next frame to send on the transport.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.session.poll_transmit()
    }

    /// Next event for the app.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// A frame arrived. A bad frame is reported and dropped; the session goes on.
    pub fn handle_input(&mut self, now: Timestamp, data: &[u8]) -> Result<(), DecodeError> {
        let r = self.session.handle_input(now, data);
        match self.drain() {
            Some(bad) => r.and(Err(DecodeError::Malformed(bad.message))),
            None => r,
        }
    }

    /// Turns what the session reported into view changes and app events; returns the first body that
    /// did not decode (it is also reported as a protocol error).
    fn drain(&mut self) -> Option<ErrorBody> {
        let mut bad = None;
        while let Some(e) = self.session.poll_event() {
            if let Err(e) = self.on_session_event(e) {
                self.events.push_back(ClientEvent::ProtocolError(e.clone()));
                bad.get_or_insert(e);
            }
        }
        bad
    }

    fn on_session_event(&mut self, e: SessionEvent<Pending>) -> Result<(), ErrorBody> {
        match e {
            SessionEvent::Connected { client, resumed } => self.on_welcome(client, resumed),
            SessionEvent::Disconnected { retry_at } => self.events.push_back(ClientEvent::Disconnected { retry_at }),
            SessionEvent::Rejected(e) => self.events.push_back(ClientEvent::Rejected(e)),
            SessionEvent::Answered { id, tag: p, outcome } => {
                let result: Result<Response, ErrorBody> = match serde_json::from_str::<Outcome>(&outcome) {
                    Ok(o) => o.into(),
                    Err(e) => Err(malformed("answer", e)),
                };
                if let Ok(r) = &result {
                    self.view.apply_response(&p.req, r);
                    if matches!(r, Response::Profile(_)) {
                        // The broker applies requests in id order: only later edits are still ahead of it.
                        self.reapply_profile_edits(id);
                    }
                }
                if let (Request::Watch { presentity }, Err(_)) = (&p.req, &result) {
                    self.watches.remove(presentity);
                }
                if let (Purpose::Repair, Ok(Response::Presence(d))) = (p.purpose, &result) {
                    if self.view.presence.get(&d.entity) == Some(d) {
                        self.events.push_back(ClientEvent::Presence(d.clone()));
                    }
                }
                match p.purpose {
                    Purpose::App => self.events.push_back(ClientEvent::Completed { id, result }),
                    Purpose::Sync | Purpose::Rewatch | Purpose::Repair => {
                        if let Err(e) = result {
                            self.events.push_back(ClientEvent::ProtocolError(e));
                        }
                        if !self.synced && !self.session.pending().any(|(_, _, p)| p.purpose == Purpose::Sync) {
                            self.synced = true;
                            self.events.push_back(ClientEvent::Synced);
                        }
                    }
                }
            }
            SessionEvent::Event(text) => {
                let event: Event = serde_json::from_str(&text).map_err(|e| malformed("event", e))?;
                self.view.apply_event(&event);
                if matches!(event, Event::ProfileChanged(_)) {
                    self.reapply_profile_edits(0);
                }
                self.events.push_back(ClientEvent::Pushed(event));
            }
            SessionEvent::Status(text) => {
                let doc: PresenceDocument = serde_json::from_str(&text).map_err(|e| malformed("presence", e))?;
                // Only what the app watches is kept: a broken broker cannot grow the view at will.
                if self.watches.contains(&doc.entity) && self.view.apply_presence(doc.clone(), false) {
                    self.events.push_back(ClientEvent::Presence(doc));
                }
            }
            SessionEvent::Delta(text) => {
                let delta: PresenceDelta = serde_json::from_str(&text).map_err(|e| malformed("presence delta", e))?;
                self.on_delta(delta);
            }
            SessionEvent::WatchEnded(text) => {
                let presentity: Presentity = serde_json::from_str(&text).map_err(|e| malformed("presentity", e))?;
                self.watches.remove(&presentity);
                self.view.presence.remove(&presentity);
                self.events.push_back(ClientEvent::WatchEnded(presentity));
            }
            SessionEvent::ProtocolError(e) => self.events.push_back(ClientEvent::ProtocolError(e)),
            SessionEvent::Typing(text) => {
                let t: Typing = serde_json::from_str(&text).map_err(|e| malformed("typing", e))?;
                // Only for a chat the view knows: a broken broker cannot grow the view at will.
                if self.view.interactions.contains_key(&t.interaction) && self.view.typing.note(self.session.now(), &t) {
                    self.events.push_back(ClientEvent::Typing { interaction: t.interaction, on: t.on });
                }
            }
        }
        Ok(())
    }

    fn on_delta(&mut self, delta: PresenceDelta) {
        if !self.watches.contains(&delta.entity) {
            return;
        }
        let held = self.view.presence.get(&delta.entity);
        if held.is_some_and(|d| d.version >= delta.version && d.version != delta.base) {
            // Older than what is held (the answer to a re-watch overtook it): nothing was missed.
            return;
        }
        let mut doc = held.cloned();
        match doc.as_mut().map(|d| delta.apply(d)) {
            Some(Ok(())) => {
                let doc = doc.expect("applied to it");
                self.view.apply_presence(doc.clone(), true);
                self.events.push_back(ClientEvent::Presence(doc));
            }
            _ => {
                self.gaps += 1;
                // The answer to a watch carries the whole document; one in flight already will do.
                let watch = Request::Watch { presentity: delta.entity };
                if !self.session.pending().any(|(_, _, x)| x.req == watch) {
                    let _ = self.enqueue(watch, Purpose::Repair);
                }
            }
        }
    }

    fn on_welcome(&mut self, client: ClientId, resumed: bool) {
        self.view.client = Some(client);
        if !resumed {
            // A new session: its presence versions are its own, and its watches must be made again.
            for v in self.view.presence.values_mut() {
                v.version = 0;
            }
            let watches: Vec<Presentity> = self.watches.iter().cloned().collect();
            for p in watches {
                let watch = Request::Watch { presentity: p };
                if !self.session.pending().any(|(_, _, x)| x.req == watch) {
                    let _ = self.enqueue(watch, Purpose::Rewatch);
                }
            }
        }
        // Events acknowledged by another process of this installation are gone: read the view again.
        if self.session.take_missed_events() {
            self.synced = false;
        }
        // Also on a resumed session: a client restored from a saved state has an empty view.
        if !self.synced && !self.session.pending().any(|(_, _, p)| p.purpose == Purpose::Sync) {
            for r in [Request::GetProfile, Request::GetOrders, Request::GetProducts, Request::GetLive] {
                let _ = self.enqueue(r, Purpose::Sync);
            }
        }
        self.events.push_back(ClientEvent::Connected { resumed });
    }

    fn reapply_profile_edits(&mut self, after: RequestId) {
        for (_, p) in self.session.pending_after(after) {
            if let Request::UpdateProfile { patch } = &p.req {
                patch.apply_to(&mut self.view.profile);
            }
        }
    }

    fn enqueue(&mut self, req: Request, purpose: Purpose) -> Result<RequestId, ErrorBody> {
        let b = body(&req);
        self.session.enqueue(b, Pending { req, purpose })
    }

    /// Sends any request; it waits while offline and goes out once, in order, when connected.
    pub fn request(&mut self, req: Request) -> RequestId {
        match self.try_request(req) {
            Ok(id) => id,
            Err(e) => {
                // Refused before it was queued: the app hears it as this request's answer, under an id
                // from the local range that never reaches the broker.
                self.refused += 1;
                let id = LOCAL_REFUSAL_IDS + self.refused;
                self.events.push_back(ClientEvent::Completed { id, result: Err(e) });
                id
            }
        }
    }

    /// Sends any request, or refuses it at once (`too_large`) when its frame would exceed the limit.
    pub fn try_request(&mut self, req: Request) -> Result<RequestId, ErrorBody> {
        // Local effects only once the request is queued, so a refused edit leaves the view as it was.
        let local = req.clone();
        let id = self.enqueue(req, Purpose::App)?;
        match local {
            Request::UpdateProfile { patch } => patch.apply_to(&mut self.view.profile),
            Request::Watch { presentity } => {
                self.watches.insert(presentity);
            }
            Request::Unwatch { presentity } => {
                self.watches.remove(&presentity);
                self.view.presence.remove(&presentity);
            }
            _ => {}
        }
        Ok(id)
    }

    /// Reads the own profile.
    pub fn get_profile(&mut self) -> RequestId {
        self.request(Request::GetProfile)
    }

    /// Edits the own profile; the view shows the edit at once.
    pub fn update_profile(&mut self, patch: ProfilePatch) -> RequestId {
        self.request(Request::UpdateProfile { patch })
    }

    /// Reads the own history.
    pub fn get_history(&mut self, filter: HistoryFilter) -> RequestId {
        self.request(Request::GetHistory { filter })
    }

    /// Adds a note to an own past interaction.
    pub fn add_note(&mut self, interaction: InteractionId, text: impl Into<String>) -> RequestId {
        self.request(Request::AddNote { interaction, text: text.into() })
    }

    /// Reads the product catalogue.
    pub fn get_products(&mut self) -> RequestId {
        self.request(Request::GetProducts)
    }

    /// Reads the own orders.
    pub fn get_orders(&mut self) -> RequestId {
        self.request(Request::GetOrders)
    }

    /// Changes delivery details of an own order.
    pub fn update_delivery(&mut self, order: OrderId, delivery: DeliveryDetails) -> RequestId {
        self.request(Request::UpdateDelivery { order, delivery })
    }

    /// Reads center status once.
    pub fn get_center_status(&mut self) -> RequestId {
        self.request(Request::GetCenterStatus)
    }

    /// Watches a presentity (kept across reconnects).
    pub fn watch(&mut self, presentity: Presentity) -> RequestId {
        self.request(Request::Watch { presentity })
    }

    /// Stops watching.
    pub fn unwatch(&mut self, presentity: Presentity) -> RequestId {
        self.request(Request::Unwatch { presentity })
    }

    /// Publishes the own status to the center.
    pub fn set_status(&mut self, status: ClientStatus) -> RequestId {
        self.request(Request::SetStatus { status })
    }

    /// Decides who may watch the own status.
    pub fn set_access_rules(&mut self, rules: Vec<AccessRule>) -> RequestId {
        self.request(Request::SetAccessRules { rules })
    }

    /// Lists who watches the own status.
    pub fn list_watchers(&mut self) -> RequestId {
        self.request(Request::ListWatchers)
    }

    /// Subscribes to a status alert.
    pub fn subscribe_alert(&mut self, rule: AlertRule) -> RequestId {
        self.request(Request::SubscribeAlert { rule })
    }

    /// Cancels a status alert.
    pub fn unsubscribe_alert(&mut self, alert: AlertId) -> RequestId {
        self.request(Request::UnsubscribeAlert { alert })
    }

    /// Accepts or declines an invitation.
    pub fn respond_invitation(&mut self, invitation: InvitationId, accept: bool) -> RequestId {
        self.request(Request::RespondInvitation { invitation, accept })
    }

    /// Invites an agent.
    pub fn invite_agent(&mut self, agent: AgentId, medium: Medium, message: impl Into<String>) -> RequestId {
        self.request(Request::InviteAgent { agent, medium, message: message.into() })
    }

    /// Starts a live interaction in the chosen medium.
    pub fn start_interaction(&mut self, medium: Medium, product: Option<ProductId>, queue: Option<QueueId>, topic: Option<String>) -> RequestId {
        self.request(Request::StartInteraction { medium, product, queue, topic, message: None })
    }

    /// Asks to be called back at `number` (the profile's phone number if none), at `at` inside the
    /// own agenda or as soon as possible ("call me now"); the place in the queue is kept meanwhile
    /// and the interaction's `callback` shows where the call is.
    pub fn request_callback(&mut self, number: Option<String>, at: Option<Timestamp>, product: Option<ProductId>, topic: Option<String>) -> RequestId {
        self.request(Request::RequestCallback { number, at, product, queue: None, topic })
    }

    /// Writes to the center by email: an email interaction with a subject and a text, answered by
    /// mail to the client's email capability (and in the app).
    pub fn send_email(&mut self, product: Option<ProductId>, subject: impl Into<String>, text: impl Into<String>) -> RequestId {
        self.request(Request::StartInteraction { medium: Medium::Email, product, queue: None, topic: Some(subject.into()), message: Some(text.into()) })
    }

    /// Sends a call signalling message (offer, answer, candidate, media state, hang-up) to the
    /// agent of a connected voice or video interaction; the agent's come as `Event::Signal`.
    pub fn signal(&mut self, interaction: InteractionId, signal: crate::call::CallSignal) -> RequestId {
        self.request(Request::Signal { interaction, signal })
    }

    /// Registers this device for pushes while no session of the client is attached (the app is in
    /// the background); the host wakes it through the push service of `platform`.
    pub fn register_push(&mut self, platform: crate::push::PushPlatform, token: impl Into<String>) -> RequestId {
        self.request(Request::RegisterPush { platform, token: token.into() })
    }

    /// Forgets a device registered with [`register_push`](Self::register_push).
    pub fn unregister_push(&mut self, token: impl Into<String>) -> RequestId {
        self.request(Request::UnregisterPush { token: token.into() })
    }

    /// Reads the STUN/TURN servers for a connected call (TURN credentials minted for it).
    pub fn ice_servers(&mut self, interaction: InteractionId) -> RequestId {
        self.request(Request::IceServers { interaction })
    }

    /// Sends a chat message.
    pub fn send_chat(&mut self, interaction: InteractionId, text: impl Into<String>) -> RequestId {
        self.request(Request::SendChat { interaction, text: text.into() })
    }

    /// Reads an interaction's newest messages (a page; see `get_transcript_page` for older ones).
    pub fn get_transcript(&mut self, interaction: InteractionId) -> RequestId {
        self.get_transcript_page(interaction, None, None)
    }

    /// Reads a page of an interaction's transcript: the newest `limit` messages numbered below
    /// `before`; the view merges it with what it holds.
    pub fn get_transcript_page(&mut self, interaction: InteractionId, before: Option<u64>, limit: Option<u32>) -> RequestId {
        self.request(Request::GetTranscript { interaction, before, limit })
    }

    /// Marks the agent's messages read up to `seq` (call it while the chat is on screen); the agent
    /// sees `ChatRead`. Marks at or below one already made change nothing.
    pub fn mark_read(&mut self, interaction: InteractionId, seq: u64) -> RequestId {
        self.request(Request::MarkRead { interaction, seq })
    }

    /// Tells the agent the customer is typing (`on`) or stopped; call it on every keystroke, it
    /// goes out at most every couple of seconds. Soft state: dropped when offline, never queued.
    /// Returns whether a notice was sent; `not_found` for an interaction that is not the client's.
    pub fn send_typing(&mut self, now: Timestamp, interaction: &InteractionId, on: bool) -> Result<bool, ErrorBody> {
        if !self.view.interactions.get(interaction).is_some_and(|l| l.state == crate::interaction::InteractionState::Connected) {
            return Err(ErrorBody::new(ErrorCode::NotFound, format!("no connected interaction {interaction}")));
        }
        Ok(self.throttle.admit(now, interaction, on) && self.session.send_soft(Typing::frame(interaction, on)))
    }

    /// Leaves an interaction.
    pub fn end_interaction(&mut self, interaction: InteractionId) -> RequestId {
        self.request(Request::EndInteraction { interaction })
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
