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
use crate::monitor::presence::{PresenceDocument, Presentity};
use crate::profile::{ClientProfile, ProfilePatch};
use crate::protocol::{BrokerFrame, ClientFrame, DecodeError, ErrorBody, ErrorCode, Event, Request, Response, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use crate::records::{DeliveryDetails, HistoryFilter, InteractionRecord, Order, Product};
use crate::status::{CenterStatus, ClientStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Identifies a request made through the client; its answer comes back as [`ClientEvent::Completed`].
pub type RequestId = u64;

/// Settings of a client.
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
}

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

    fn add_chat(&mut self, m: ChatMessage) {
        let v = self.chats.entry(m.interaction.clone()).or_default();
        if !v.iter().any(|x| x.seq == m.seq) {
            let at = v.partition_point(|x| x.seq < m.seq);
            v.insert(at, m);
        }
    }

    fn apply_event(&mut self, e: &Event) {
        match e {
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
                self.interactions.insert(li.id.clone(), li.clone());
            }
            Event::Chat(m) => self.add_chat(m.clone()),
            Event::ChatDelivered { interaction, seq } => {
                self.delivered.insert((interaction.clone(), *seq));
            }
        }
    }

    fn apply_response(&mut self, req: &Request, r: &Response) {
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
                // A queued-position answer may arrive after a newer pushed state; keep the further one.
                let newer = self.interactions.get(&li.id).is_some_and(|old| progress(old) > progress(li));
                if !newer {
                    self.interactions.insert(li.id.clone(), li.clone());
                }
            }
            Response::Chat(m) => self.add_chat(m.clone()),
            Response::Transcript(v) => {
                if let Request::GetTranscript { interaction } = req {
                    self.chats.insert(interaction.clone(), v.clone());
                }
            }
            Response::Done | Response::Alert(_) | Response::Watchers(_) => {}
        }
    }

    fn apply_presence(&mut self, d: PresenceDocument, force: bool) -> bool {
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    req: Request,
    purpose: Purpose,
    #[serde(skip)]
    sent: bool,
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

/// What a client must keep across an app restart so nothing queued is lost: save it when the app goes
/// to the background and pass it to [`Client::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    instance: u64,
    next_id: u64,
    last_seq: u64,
    pending: BTreeMap<u64, Pending>,
    watches: BTreeSet<Presentity>,
}

/// The client state machine.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    link: Link,
    connect_wanted: bool,
    attempts: u32,
    now: Timestamp,
    last_rx: Timestamp,
    next_ping: Timestamp,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    last_seq: u64,
    early: BTreeMap<u64, Event>,
    ack_due: bool,
    resend_wanted: bool,
    watches: BTreeSet<Presentity>,
    synced: bool,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    view: ClientView,
}

/// Events held while an earlier one is missing; beyond this the client waits for a replay instead.
const MAX_EARLY_EVENTS: usize = 4096;

impl Client {
    /// A client that has not connected yet; call [`start`](Self::start).
    pub fn new(cfg: ClientConfig) -> Self {
        let mut watches = BTreeSet::new();
        if cfg.watch_center {
            watches.insert(Presentity::Center);
        }
        Client {
            cfg,
            link: Link::Stopped,
            connect_wanted: false,
            attempts: 0,
            now: Timestamp(0),
            last_rx: Timestamp(0),
            next_ping: Timestamp(0),
            next_id: 1,
            pending: BTreeMap::new(),
            last_seq: 0,
            early: BTreeMap::new(),
            ack_due: false,
            resend_wanted: false,
            watches,
            synced: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            view: ClientView::default(),
        }
    }

    /// A client that continues where a saved one stopped (same installation, queued requests kept).
    pub fn restore(mut cfg: ClientConfig, saved: SavedState) -> Self {
        cfg.instance = saved.instance;
        let mut c = Client::new(cfg);
        c.next_id = saved.next_id;
        c.last_seq = saved.last_seq;
        c.pending = saved.pending;
        c.watches = saved.watches;
        c
    }

    /// What to keep across an app restart.
    pub fn save(&self) -> SavedState {
        SavedState {
            instance: self.cfg.instance,
            next_id: self.next_id,
            last_seq: self.last_seq,
            pending: self.pending.clone(),
            watches: self.watches.clone(),
        }
    }

    /// The local view.
    pub fn view(&self) -> &ClientView {
        &self.view
    }

    /// Whether a session with the broker is up.
    pub fn is_connected(&self) -> bool {
        self.link == Link::Ready
    }

    /// Requests not yet answered, oldest first (a UI shows these as "sending").
    pub fn pending_requests(&self) -> impl Iterator<Item = (RequestId, &Request)> + '_ {
        self.pending.iter().filter(|(_, p)| p.purpose == Purpose::App).map(|(id, p)| (*id, &p.req))
    }

    /// Last event sequence delivered to the app.
    pub fn last_event_seq(&self) -> u64 {
        self.last_seq
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

    /// Stops: no more reconnects. Queued requests stay (see [`save`](Self::save)).
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
        let hello = ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            token: self.cfg.token.clone(),
            instance: self.cfg.instance,
            last_seq: self.last_seq,
            next_request,
        };
        self.transmits.push_back(hello.encode());
    }

    /// The transport closed or failed; the client retries with backoff.
    pub fn handle_disconnected(&mut self, now: Timestamp) {
        self.tick(now);
        if matches!(self.link, Link::Stopped | Link::Waiting(_)) {
            return;
        }
        self.unsend_all();
        let retry_at = now.add(self.backoff());
        self.attempts = self.attempts.saturating_add(1);
        self.link = Link::Waiting(retry_at);
        self.events.push_back(ClientEvent::Disconnected { retry_at });
    }

    fn unsend_all(&mut self) {
        self.transmits.clear();
        self.early.clear();
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
                self.transmits.push_back(ClientFrame::Ping { n: now.as_millis() }.encode());
                self.next_ping = now.add(self.cfg.ping_interval);
            }
            _ => {}
        }
    }

    /// Next frame to send on the transport.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.ack_due {
            self.ack_due = false;
            self.transmits.push_back(ClientFrame::Ack { seq: self.last_seq }.encode());
        }
        self.transmits.pop_front()
    }

    /// Next event for the app.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// A frame arrived. A bad frame is reported and dropped; the session goes on.
    pub fn handle_input(&mut self, now: Timestamp, data: &[u8]) -> Result<(), DecodeError> {
        self.tick(now);
        if matches!(self.link, Link::Stopped | Link::Waiting(_)) {
            // A late frame from a transport we already gave up on: the new session will replay it.
            return Ok(());
        }
        self.last_rx = now;
        let frame = BrokerFrame::decode(data, self.cfg.max_frame_bytes)?;
        if self.link == Link::Handshaking && !matches!(frame, BrokerFrame::Welcome { .. } | BrokerFrame::Error { .. }) {
            // Only a transport that reorders puts these before Welcome; ask for them again once welcomed.
            self.resend_wanted = true;
            return Ok(());
        }
        match frame {
            BrokerFrame::Welcome { v: _, client, resumed } => self.on_welcome(client, resumed),
            BrokerFrame::Response { id, outcome } => {
                if let Some(p) = self.pending.remove(&id) {
                    let result: Result<Response, ErrorBody> = outcome.into();
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
                    match p.purpose {
                        Purpose::App => self.events.push_back(ClientEvent::Completed { id, result }),
                        Purpose::Sync | Purpose::Rewatch => {
                            if let Err(e) = result {
                                self.events.push_back(ClientEvent::ProtocolError(e));
                            }
                            if !self.synced && !self.pending.values().any(|p| p.purpose == Purpose::Sync) {
                                self.synced = true;
                                self.events.push_back(ClientEvent::Synced);
                            }
                        }
                    }
                }
            }
            BrokerFrame::Event { seq, event } => self.on_event(seq, event),
            BrokerFrame::Status { doc } => {
                if self.view.apply_presence(doc.clone(), false) {
                    self.events.push_back(ClientEvent::Presence(doc));
                }
            }
            BrokerFrame::WatchEnded { presentity } => {
                self.watches.remove(&presentity);
                self.view.presence.remove(&presentity);
                self.events.push_back(ClientEvent::WatchEnded(presentity));
            }
            BrokerFrame::Error { error, fatal } => {
                if fatal && self.link == Link::Handshaking
                    && matches!(error.code, ErrorCode::Unauthenticated | ErrorCode::Expired | ErrorCode::Forbidden | ErrorCode::UnsupportedVersion)
                {
                    self.close(now);
                    self.events.push_back(ClientEvent::Rejected(error));
                } else if fatal {
                    // The broker is closing this transport (session taken over or reset): reconnect.
                    self.handle_disconnected(now);
                } else {
                    self.events.push_back(ClientEvent::ProtocolError(error));
                }
            }
            BrokerFrame::Pong { .. } => {}
        }
        Ok(())
    }

    fn on_welcome(&mut self, client: ClientId, resumed: bool) {
        if self.link != Link::Handshaking {
            return;
        }
        self.link = Link::Ready;
        self.attempts = 0;
        self.next_ping = self.now.add(self.cfg.ping_interval);
        self.view.client = Some(client);
        if !resumed {
            // A new session: its events start again at 1, and its presence versions are its own.
            self.last_seq = 0;
            self.early.clear();
            for v in self.view.presence.values_mut() {
                v.version = 0;
            }
            let watches: Vec<Presentity> = self.watches.iter().cloned().collect();
            for p in watches {
                if !self.pending.values().any(|x| x.req == (Request::Watch { presentity: p.clone() })) {
                    self.enqueue(Request::Watch { presentity: p }, Purpose::Rewatch);
                }
            }
            if !self.synced {
                for r in [Request::GetProfile, Request::GetOrders, Request::GetProducts] {
                    self.enqueue(r, Purpose::Sync);
                }
            }
        }
        if std::mem::take(&mut self.resend_wanted) {
            self.transmits.push_back(ClientFrame::Resend { after: self.last_seq }.encode());
        }
        self.events.push_back(ClientEvent::Connected { resumed });
        self.flush_pending();
    }

    fn on_event(&mut self, seq: u64, event: Event) {
        if seq <= self.last_seq {
            // A replay of something already delivered: acknowledge again so the broker can drop it.
            self.ack_due = true;
            return;
        }
        if seq > self.last_seq + 1 {
            if self.early.is_empty() {
                // A gap opened: something was lost or overtaken. Ask once; duplicates are ignored.
                self.transmits.push_back(ClientFrame::Resend { after: self.last_seq }.encode());
            }
            if self.early.len() < MAX_EARLY_EVENTS {
                self.early.insert(seq, event);
            }
            return;
        }
        self.deliver(event);
        while let Some(e) = self.early.remove(&(self.last_seq + 1)) {
            self.deliver(e);
        }
    }

    fn deliver(&mut self, event: Event) {
        self.last_seq += 1;
        self.ack_due = true;
        self.view.apply_event(&event);
        if matches!(event, Event::ProfileChanged(_)) {
            self.reapply_profile_edits(0);
        }
        self.events.push_back(ClientEvent::Pushed(event));
    }

    fn reapply_profile_edits(&mut self, after: RequestId) {
        for (_, p) in self.pending.range(after + 1..) {
            if let Request::UpdateProfile { patch } = &p.req {
                patch.apply_to(&mut self.view.profile);
            }
        }
    }

    fn flush_pending(&mut self) {
        if self.link != Link::Ready {
            return;
        }
        for (id, p) in self.pending.iter_mut().filter(|(_, p)| !p.sent) {
            p.sent = true;
            self.transmits.push_back(ClientFrame::Request { id: *id, req: p.req.clone() }.encode());
        }
    }

    fn enqueue(&mut self, req: Request, purpose: Purpose) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { req, purpose, sent: false });
        self.flush_pending();
        id
    }

    /// Sends any request; it waits while offline and goes out once, in order, when connected.
    pub fn request(&mut self, req: Request) -> RequestId {
        match &req {
            Request::UpdateProfile { patch } => patch.apply_to(&mut self.view.profile),
            Request::Watch { presentity } => {
                self.watches.insert(presentity.clone());
            }
            Request::Unwatch { presentity } => {
                self.watches.remove(presentity);
                self.view.presence.remove(presentity);
            }
            _ => {}
        }
        self.enqueue(req, Purpose::App)
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
        self.request(Request::StartInteraction { medium, product, queue, topic })
    }

    /// Sends a chat message.
    pub fn send_chat(&mut self, interaction: InteractionId, text: impl Into<String>) -> RequestId {
        self.request(Request::SendChat { interaction, text: text.into() })
    }

    /// Reads an interaction's transcript.
    pub fn get_transcript(&mut self, interaction: InteractionId) -> RequestId {
        self.request(Request::GetTranscript { interaction })
    }

    /// Leaves an interaction.
    pub fn end_interaction(&mut self, interaction: InteractionId) -> RequestId {
        self.request(Request::EndInteraction { interaction })
    }
}
