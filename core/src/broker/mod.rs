//! The broker: manages client and center data and the communication between clients and agents.
//!
//! Sans-IO: the host tells it about connections (`open_connection`, `handle_input`,
//! `handle_disconnect`) and time (`handle_timeout`), and drains `poll_transmit` and `poll_event`.
//! Agents are served through methods (`agent_*`) so that a program, a console or a test can play one.

pub mod auth;
pub mod center;
mod session;
pub mod store;

pub use session::{ConnId, SessionKey};

use crate::alert::{AlertFired, AlertRule};
use crate::center_event::CenterEvent;
use crate::ids::{AgentId, AlertId, ClientId, InteractionId, InvitationId, OrderId, ProductId, QueueId};
use crate::interaction::{Author, ChatMessage, InteractionState, LiveInteraction, MAX_CHAT_BYTES};
use crate::invitation::{Invitation, InvitationDirection, InvitationState};
use crate::medium::Medium;
use crate::monitor::holdtime::QueueKey;
use crate::monitor::presence::Presentity;
use crate::monitor::{MonitorError, MonitorEvent, Recipients, StatusMonitor, WatcherId};
use crate::principal::{AgentRole, Principal};
use crate::profile::ClientProfile;
use crate::protocol::{
    BrokerFrame, ClientFrame, ErrorBody, ErrorCode, Event, Outcome, Request, Response, MAX_FRAME_BYTES, PROTOCOL_VERSION,
};
use crate::records::{Direction, HistoryFilter, InteractionRecord, Note, Order, OrderStatus, Outcome as RecordOutcome, Product, StatusChange};
use crate::status::{AgentState, ClientActivity, ClientStatus};
use crate::time::Timestamp;
use auth::{AuthError, Verifier};
use center::{Admission, BuiltinRouting, CenterAdapter};
use session::{AckHook, Cached, OutEvent, Session};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use store::{DataStore, MemoryStore, StoreError};

/// Errors of the broker's own API are the same typed errors clients get on the wire.
pub type BrokerError = ErrorBody;

impl From<StoreError> for ErrorBody {
    fn from(e: StoreError) -> Self {
        ErrorBody::new(ErrorCode::Internal, e.to_string())
    }
}

impl From<MonitorError> for ErrorBody {
    fn from(e: MonitorError) -> Self {
        let code = match e {
            MonitorError::Forbidden(_) | MonitorError::NotOwner(_) => ErrorCode::Forbidden,
            MonitorError::UnknownPresentity(_) | MonitorError::UnknownInteraction(_) | MonitorError::UnknownAgent(_) => {
                ErrorCode::NotFound
            }
            MonitorError::BadDocument(_) => ErrorCode::Invalid,
        };
        ErrorBody::new(code, e.to_string())
    }
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, msg)
}

/// Limits and timers of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Largest frame accepted.
    pub max_frame_bytes: usize,
    /// How long a disconnected session keeps its events and request window.
    pub session_ttl: Duration,
    /// Default lifetime of an invitation.
    pub invitation_ttl: Duration,
    /// How long an agent has to accept an offered interaction before it goes to another agent.
    pub offer_ttl: Duration,
    /// Events kept unacknowledged per session before the session is reset (the client then resyncs).
    pub max_outbox: usize,
    /// Events sent ahead of the client's acknowledgements.
    pub max_in_flight: usize,
    /// Requests arriving ahead of a missing one that are held rather than refused.
    pub max_early_requests: usize,
    /// Answers remembered per session for duplicate requests.
    pub answers_kept: usize,
    /// Malformed frames tolerated on a connection before it is closed.
    pub max_bad_frames: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_frame_bytes: MAX_FRAME_BYTES,
            session_ttl: Duration::from_secs(24 * 3600),
            invitation_ttl: Duration::from_secs(120),
            offer_ttl: Duration::from_secs(20),
            max_outbox: 10_000,
            max_in_flight: 256,
            max_early_requests: 256,
            answers_kept: 64,
            max_bad_frames: 16,
        }
    }
}

/// Bytes to send on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Connection.
    pub conn: ConnId,
    /// One frame.
    pub data: Vec<u8>,
    /// Close the connection after sending this frame.
    pub close: bool,
}

/// What happens to an agent, for the agent's console.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "ev", content = "data", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A live interaction is offered; accept or decline it.
    Offered(LiveInteraction),
    /// An offer went away (the client left, or it timed out).
    OfferWithdrawn(InteractionId),
    /// The agent is connected with a client.
    Connected(LiveInteraction),
    /// An interaction ended.
    Ended(LiveInteraction),
    /// A client invites the agent.
    InvitationReceived(Invitation),
    /// An invitation the agent sent or received changed state.
    InvitationUpdated(Invitation),
    /// A chat message from the client.
    Chat(ChatMessage),
    /// The client's app received a chat message the agent sent.
    ChatDelivered {
        /// Interaction.
        interaction: InteractionId,
        /// Message sequence.
        seq: u64,
    },
}

/// What the broker reports to its host.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerEvent {
    /// Something for an agent.
    Agent {
        /// Agent.
        agent: AgentId,
        /// What.
        event: AgentEvent,
    },
    /// A client's first session attached.
    ClientOnline(ClientId),
    /// A client's last session detached.
    ClientOffline(ClientId),
    /// A presence document for a watcher registered with [`Broker::external_watcher`] (another
    /// protocol's session, such as XMPP).
    Presence {
        /// The watcher.
        watcher: WatcherId,
        /// The document (shared by all its watchers).
        doc: Arc<crate::monitor::presence::PresenceDocument>,
    },
    /// An external watcher's subscription ended because the owner's rules now block it.
    WatchEnded {
        /// The watcher.
        watcher: WatcherId,
        /// The presentity.
        presentity: Presentity,
    },
}

#[derive(Debug)]
struct Conn {
    session: Option<SessionKey>,
    outq: VecDeque<(Vec<u8>, bool)>,
    writable: bool,
    queued: bool,
    bad_frames: u32,
    closed: bool,
}

#[derive(Debug, Clone)]
struct Seat {
    name: String,
    role: AgentRole,
    media: Vec<Medium>,
    state: AgentState,
    offer: Option<InteractionId>,
    active: BTreeSet<InteractionId>,
}

#[derive(Debug, Clone)]
struct Live {
    li: LiveInteraction,
    external: bool,
    offered: Option<(AgentId, Timestamp)>,
    declined_by: HashSet<AgentId>,
    chat_seq: u64,
}

#[derive(Debug, Clone)]
struct AlertSub {
    session: SessionKey,
    rule: AlertRule,
    holds: bool,
}

/// The broker state machine.
pub struct Broker {
    cfg: BrokerConfig,
    verifier: Box<dyn Verifier>,
    store: Box<dyn DataStore>,
    center: Box<dyn CenterAdapter>,
    monitor: StatusMonitor,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    ready: VecDeque<ConnId>,
    sessions: HashMap<SessionKey, Session>,
    /// Detached sessions by when they were detached, so expiry is found without scanning every session.
    detached: BTreeSet<(Timestamp, SessionKey)>,
    by_watcher: HashMap<WatcherId, SessionKey>,
    by_client: HashMap<ClientId, Vec<SessionKey>>,
    next_watcher: WatcherId,
    seats: HashMap<AgentId, Seat>,
    live: HashMap<InteractionId, Live>,
    invitations: HashMap<InvitationId, Invitation>,
    alerts: HashMap<AlertId, AlertSub>,
    events: VecDeque<BrokerEvent>,
    dirty: HashSet<SessionKey>,
    external: HashSet<WatcherId>,
    dirty_live: HashSet<InteractionId>,
    dirty_invitations: HashSet<InvitationId>,
    store_error: Option<StoreError>,
    counter: u64,
    now: Timestamp,
}

/// The watcher id the broker uses itself, so center changes always produce a notification for alerts.
const SELF_WATCHER: WatcherId = 0;

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("agents", &self.seats.len())
            .field("live", &self.live.len())
            .finish()
    }
}

impl Broker {
    /// A broker with an in-memory store, built-in routing and a default status monitor.
    pub fn new(verifier: impl Verifier + 'static) -> Self {
        Self::with_parts(BrokerConfig::default(), Box::new(verifier), Box::new(MemoryStore::new()), Box::new(BuiltinRouting), StatusMonitor::default())
    }

    /// A broker from its parts.
    pub fn with_parts(
        cfg: BrokerConfig,
        verifier: Box<dyn Verifier>,
        store: Box<dyn DataStore>,
        center: Box<dyn CenterAdapter>,
        mut monitor: StatusMonitor,
    ) -> Self {
        monitor
            .subscribe(SELF_WATCHER, &Principal::Service("broker".into()), &Presentity::Center)
            .expect("the center presentity always exists");
        Broker {
            cfg,
            verifier,
            store,
            center,
            monitor,
            conns: HashMap::new(),
            next_conn: 1,
            ready: VecDeque::new(),
            sessions: HashMap::new(),
            detached: BTreeSet::new(),
            by_watcher: HashMap::new(),
            by_client: HashMap::new(),
            next_watcher: SELF_WATCHER + 1,
            seats: HashMap::new(),
            live: HashMap::new(),
            invitations: HashMap::new(),
            alerts: HashMap::new(),
            events: VecDeque::new(),
            dirty: HashSet::new(),
            external: HashSet::new(),
            dirty_live: HashSet::new(),
            dirty_invitations: HashSet::new(),
            store_error: None,
            counter: 0,
            now: Timestamp(0),
        }
    }

    /// Rebuilds the sessions a durable store kept, so clients resume after a restart as if the
    /// broker had never stopped. Call once, before accepting connections.
    pub fn restore_sessions(&mut self, now: Timestamp) -> Result<usize, BrokerError> {
        self.tick(now);
        let records = self.store.load_sessions()?;
        let n = records.len();
        for mut r in records {
            let w = self.next_watcher;
            self.next_watcher += 1;
            let alerts = std::mem::take(&mut r.alerts);
            let s = Session::from_record(r, w, now);
            let status = self.monitor.center_status();
            for (id, rule) in alerts {
                let holds = rule.evaluate(&status).is_some();
                self.alerts.insert(id, AlertSub { session: s.key.clone(), rule, holds });
            }
            let key = s.key.clone();
            let principal = Principal::Client(key.0.clone());
            for p in &s.watches {
                let _ = self.monitor.subscribe(w, &principal, p);
            }
            self.by_watcher.insert(w, key.clone());
            self.by_client.entry(key.0.clone()).or_default().push(key.clone());
            if let Some(at) = s.detached_at {
                self.detached.insert((at, key.clone()));
            }
            self.sessions.insert(key, s);
        }
        for inv in self.store.load_invitations()? {
            self.invitations.insert(inv.id.clone(), inv);
        }
        // Live interactions come back as they were: queued ones wait again in their queue, connected
        // ones wait for their agent to log in again.
        let mut lives = self.store.load_live()?;
        lives.sort_by_key(|l| l.created_at);
        for li in lives {
            if let (InteractionState::Queued { .. }, Some(q)) = (&li.state, &li.queue) {
                let _ = self.monitor.handle_center_event(
                    now,
                    CenterEvent::InteractionQueued { interaction: li.id.clone(), queue: q.clone(), medium: li.medium, client: Some(li.client.clone()) },
                );
            }
            let chat_seq = self.store.transcript(&li.id)?.last().map_or(0, |m| m.seq);
            self.live.insert(li.id.clone(), Live { li, external: false, offered: None, declined_by: HashSet::new(), chat_seq });
        }
        self.pump();
        Ok(n)
    }

    /// The last failure of the durable store, if any; the host should log it and may stop.
    pub fn take_store_error(&mut self) -> Option<StoreError> {
        self.store_error.take()
    }

    fn persist(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            let r = match self.sessions.get(&key) {
                Some(s) => {
                    let mut rec = s.record();
                    rec.alerts = self.alerts.iter().filter(|(_, a)| a.session == key).map(|(id, a)| (id.clone(), a.rule.clone())).collect();
                    rec.alerts.sort_by(|a, b| a.0.cmp(&b.0));
                    self.store.save_session(&rec)
                }
                None => self.store.delete_session(&key.0, key.1),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for id in std::mem::take(&mut self.dirty_invitations) {
            let r = match self.invitations.get(&id) {
                Some(i) => self.store.save_invitation(i),
                None => self.store.delete_invitation(&id),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for id in std::mem::take(&mut self.dirty_live) {
            let r = match self.live.get(&id) {
                Some(l) if !l.external || l.li.queue.is_some() => self.store.save_live(&l.li),
                Some(_) => Ok(()),
                None => self.store.delete_live(&id),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        if let Err(e) = self.store.commit() {
            self.store_error = Some(e);
        }
    }

    /// The status monitor, for reading center status and presence.
    pub fn monitor(&self) -> &StatusMonitor {
        &self.monitor
    }

    /// The data store, for seeding and inspection by the host.
    pub fn store(&self) -> &dyn DataStore {
        self.store.as_ref()
    }

    /// Number of sessions (attached or waiting for their client to come back).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}-{}", self.now.as_millis(), self.counter)
    }

    // ---------------------------------------------------------------- connections

    /// A transport connection opened; returns its id for later calls.
    pub fn open_connection(&mut self, now: Timestamp) -> ConnId {
        self.tick(now);
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, Conn { session: None, outq: VecDeque::new(), writable: true, queued: false, bad_frames: 0, closed: false });
        id
    }

    /// Tells whether a connection can take more bytes; while it cannot, presence updates coalesce.
    pub fn set_writable(&mut self, conn: ConnId, writable: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.writable = writable;
        }
        if writable {
            self.mark_ready(conn);
        }
    }

    /// The connection is gone; its session waits for the client to come back.
    pub fn handle_disconnect(&mut self, now: Timestamp, conn: ConnId) {
        self.tick(now);
        let Some(c) = self.conns.remove(&conn) else { return };
        if let Some(key) = c.session {
            self.detach(&key, conn);
        }
        self.pump();
    }

    fn detach(&mut self, key: &SessionKey, conn: ConnId) {
        let now = self.now;
        let Some(s) = self.sessions.get_mut(key) else { return };
        if s.conn != Some(conn) {
            return;
        }
        s.conn = None;
        if let Some(old) = s.detached_at.replace(now) {
            self.detached.remove(&(old, key.clone()));
        }
        self.detached.insert((now, key.clone()));
        let client = key.0.clone();
        if !self.client_attached(&client) {
            self.monitor.publish_client_status(now, client.clone(), ClientStatus { activity: ClientActivity::Offline, medium: None, note: None });
            self.events.push_back(BrokerEvent::ClientOffline(client));
        }
    }

    fn client_attached(&self, client: &ClientId) -> bool {
        self.by_client.get(client).is_some_and(|ks| ks.iter().any(|k| self.sessions.get(k).is_some_and(|s| s.conn.is_some())))
    }

    /// Bytes arrived on a connection. Bad frames are answered with a typed error and dropped; the
    /// session survives until too many arrive.
    pub fn handle_input(&mut self, now: Timestamp, conn: ConnId, data: &[u8]) {
        self.tick(now);
        if !self.conns.contains_key(&conn) {
            return;
        }
        match ClientFrame::decode(data, self.cfg.max_frame_bytes) {
            Ok(frame) => self.on_frame(conn, frame),
            Err(e) => {
                let c = self.conns.get_mut(&conn).expect("checked");
                c.bad_frames += 1;
                let fatal = c.bad_frames > self.cfg.max_bad_frames;
                self.send_frame(conn, &BrokerFrame::Error { error: e.to_body(), fatal }, fatal);
            }
        }
        self.pump();
    }

    fn on_frame(&mut self, conn: ConnId, frame: ClientFrame) {
        match frame {
            ClientFrame::Hello { v, token, instance, last_seq, next_request } => self.on_hello(conn, v, &token, instance, last_seq, next_request),
            ClientFrame::Ping { n } => self.send_frame(conn, &BrokerFrame::Pong { n }, false),
            ClientFrame::Ack { seq } => {
                let Some(key) = self.conns[&conn].session.clone() else {
                    return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Unauthenticated, "send hello first"), fatal: false }, false);
                };
                let s = self.sessions.get_mut(&key).expect("attached sessions exist");
                let seq = seq.min(s.next_seq - 1);
                if s.acked() < seq {
                    self.dirty.insert(key.clone());
                }
                for h in s.ack(seq) {
                    self.events.push_back(BrokerEvent::Agent {
                        agent: h.agent,
                        event: AgentEvent::ChatDelivered { interaction: h.interaction, seq: h.seq },
                    });
                }
                // Acknowledgements open the in-flight window.
                self.mark_ready(conn);
            }
            ClientFrame::Resend { after } => {
                let Some(key) = self.conns[&conn].session.clone() else { return };
                let s = self.sessions.get_mut(&key).expect("attached sessions exist");
                let hooks = s.ack(after.min(s.next_seq - 1));
                s.sent_upto = s.acked();
                for h in hooks {
                    self.events.push_back(BrokerEvent::Agent { agent: h.agent, event: AgentEvent::ChatDelivered { interaction: h.interaction, seq: h.seq } });
                }
                self.refresh_watches(&key);
                self.mark_ready(conn);
            }
            ClientFrame::Request { id, req } => {
                let Some(key) = self.conns[&conn].session.clone() else {
                    // Not a Response: the request was not executed and must stay pending on the client.
                    let e = err(ErrorCode::Unauthenticated, format!("request {id} before hello was dropped; send hello first"));
                    return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: false }, false);
                };
                self.on_request(conn, &key, id, req);
            }
        }
    }

    fn on_hello(&mut self, conn: ConnId, v: u16, token: &str, instance: u64, last_seq: u64, next_request: u64) {
        if v != PROTOCOL_VERSION {
            let e = err(ErrorCode::UnsupportedVersion, format!("protocol version {v} is not supported; this broker speaks {PROTOCOL_VERSION}"));
            return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
        if self.conns[&conn].session.is_some() {
            let e = err(ErrorCode::Conflict, "already authenticated on this connection");
            return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: false }, false);
        }
        let client = match self.verifier.verify(token, self.now) {
            Ok(Principal::Client(c)) => c,
            Ok(_) => {
                let e = err(ErrorCode::Forbidden, "this endpoint serves clients; agents use the agent API");
                return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
            }
            Err(AuthError::Expired) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Expired, "credential expired"), fatal: true }, true)
            }
            Err(AuthError::Invalid) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Unauthenticated, "invalid credential"), fatal: true }, true)
            }
        };
        let key: SessionKey = (client.clone(), instance);
        let was_online = self.client_attached(&client);
        let resumed = self.sessions.contains_key(&key);
        if !resumed {
            let w = self.next_watcher;
            self.next_watcher += 1;
            self.sessions.insert(key.clone(), Session::new(key.clone(), w, next_request));
            self.by_watcher.insert(w, key.clone());
            self.by_client.entry(client.clone()).or_default().push(key.clone());
        }
        // A session holds one connection: a newer one (the phone woke up) replaces a dead one.
        let old = self.sessions[&key].conn;
        if let Some(old) = old {
            if let Some(c) = self.conns.get_mut(&old) {
                c.session = None;
            }
            let e = err(ErrorCode::Conflict, "session taken over by a newer connection");
            self.send_frame(old, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
        let s = self.sessions.get_mut(&key).expect("inserted above");
        s.conn = Some(conn);
        if let Some(at) = s.detached_at.take() {
            self.detached.remove(&(at, key.clone()));
        }
        s.next_request = s.next_request.max(next_request);
        let hooks = if resumed { s.ack(last_seq.min(s.next_seq - 1)) } else { vec![] };
        self.dirty.insert(key.clone());
        // Everything unacknowledged goes again on the new connection.
        s.sent_upto = s.acked();
        self.conns.get_mut(&conn).expect("exists").session = Some(key.clone());
        self.send_frame(conn, &BrokerFrame::Welcome { v: PROTOCOL_VERSION, client: client.clone(), resumed }, false);
        for h in hooks {
            self.events.push_back(BrokerEvent::Agent { agent: h.agent, event: AgentEvent::ChatDelivered { interaction: h.interaction, seq: h.seq } });
        }
        // Presence may have changed while away: send the current documents of all watches.
        self.refresh_watches(&key);
        if !was_online {
            let prev = self.monitor.document(&Presentity::Client(client.clone())).client;
            let status = match prev {
                Some(st) if st.activity != ClientActivity::Offline => st,
                _ => ClientStatus { activity: ClientActivity::Online, medium: None, note: None },
            };
            self.monitor.publish_client_status(self.now, client.clone(), status);
            self.events.push_back(BrokerEvent::ClientOnline(client));
        }
        self.mark_ready(conn);
    }

    fn refresh_watches(&mut self, key: &SessionKey) {
        let principal = Principal::Client(key.0.clone());
        let watches: Vec<Presentity> = self.sessions[key].watches.iter().cloned().collect();
        for p in watches {
            if let Ok(doc) = self.monitor.fetch(&principal, &p) {
                let payload: Arc<str> = serde_json::to_string(&doc).expect("documents serialize").into();
                self.sessions.get_mut(key).expect("exists").pending_status.insert(p, payload);
            }
        }
    }

    fn on_request(&mut self, conn: ConnId, key: &SessionKey, id: u64, req: Request) {
        let s = self.sessions.get_mut(key).expect("attached sessions exist");
        if id < s.next_request {
            match s.recall(id).cloned() {
                Some(Cached::Frame(f)) => return self.send_raw(conn, f.to_vec(), false),
                Some(Cached::Reexecute) => {
                    let out = self.execute(key, req);
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: out.into() }, false);
                }
                None if req.is_read_only() => {
                    let out = self.execute(key, req);
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: out.into() }, false);
                }
                None => {
                    let e = err(ErrorCode::Conflict, format!("request {id} was already applied; its answer is no longer kept"));
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
                }
            }
        }
        if id > s.next_request {
            if s.early.len() >= self.cfg.max_early_requests && !s.early.contains_key(&id) {
                let e = err(ErrorCode::RateLimited, "too many requests ahead of a missing one");
                return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
            }
            s.early.insert(id, req);
            return;
        }
        // In order: apply it, then any that were waiting for it.
        let mut next = Some((id, req));
        while let Some((id, req)) = next.take() {
            let read_only = req.is_read_only();
            let out = self.execute(key, req);
            let frame: Arc<[u8]> = BrokerFrame::Response { id, outcome: out.into() }.encode().into();
            let keep = self.cfg.answers_kept;
            let s = self.sessions.get_mut(key).expect("exists");
            s.remember(id, if read_only { Cached::Reexecute } else { Cached::Frame(frame.clone()) }, keep);
            s.next_request = id + 1;
            self.dirty.insert(key.clone());
            next = s.early.remove(&(id + 1)).map(|r| (id + 1, r));
            self.send_raw(conn, frame.to_vec(), false);
        }
    }

    fn send_frame(&mut self, conn: ConnId, f: &BrokerFrame, close: bool) {
        self.send_raw(conn, f.encode(), close);
    }

    fn send_raw(&mut self, conn: ConnId, data: Vec<u8>, close: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closed {
                return;
            }
            c.closed |= close;
            c.outq.push_back((data, close));
            self.mark_ready(conn);
        }
    }

    fn mark_ready(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.queued {
                c.queued = true;
                self.ready.push_back(conn);
            }
        }
    }

    /// The next frame to send. Connections take turns, so one busy client cannot starve the others.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        while let Some(conn) = self.ready.pop_front() {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            c.queued = false;
            if !c.writable {
                continue;
            }
            if let Some((data, close)) = c.outq.pop_front() {
                if close {
                    c.outq.clear();
                } else {
                    self.mark_ready(conn);
                }
                return Some(Transmit { conn, data, close });
            }
            if c.closed {
                continue;
            }
            let Some(key) = c.session.clone() else { continue };
            let max_in_flight = self.cfg.max_in_flight as u64;
            let s = self.sessions.get_mut(&key).expect("attached sessions exist");
            let acked = s.acked();
            if s.sent_upto < acked {
                s.sent_upto = acked;
            }
            if s.sent_upto - acked < max_in_flight {
                let idx = (s.sent_upto - acked) as usize;
                if let Some(e) = s.outbox.get(idx) {
                    let data = BrokerFrame::event_from_payload(e.seq, &e.payload);
                    s.sent_upto = e.seq;
                    self.mark_ready(conn);
                    return Some(Transmit { conn, data, close: false });
                }
            }
            if let Some((_, payload)) = s.pending_status.pop_first() {
                let data = BrokerFrame::status_from_payload(&payload);
                self.mark_ready(conn);
                return Some(Transmit { conn, data, close: false });
            }
        }
        None
    }

    /// The next event for the host (agent consoles, presence of clients).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<BrokerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let inv = self.invitations.values().filter(|i| i.state == InvitationState::Pending).map(|i| i.expires_at).min();
        let offers = self.live.values().filter_map(|l| l.offered.as_ref().map(|(_, at)| at.add(self.cfg.offer_ttl))).min();
        let sessions = self.detached.first().map(|(at, _)| at.add(self.cfg.session_ttl));
        [inv, offers, sessions, self.monitor.poll_timeout()].into_iter().flatten().min()
    }

    /// Expires invitations, offers and abandoned sessions, and refreshes hold-time figures.
    /// Early or spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        self.monitor.handle_timeout(now);
        let expired: Vec<InvitationId> = self
            .invitations
            .values()
            .filter(|i| i.state == InvitationState::Pending && i.expires_at <= now)
            .map(|i| i.id.clone())
            .collect();
        for id in expired {
            self.settle_invitation(&id, InvitationState::Expired);
        }
        let late: Vec<(InteractionId, AgentId)> = self
            .live
            .values()
            .filter_map(|l| l.offered.as_ref().filter(|(_, at)| at.add(self.cfg.offer_ttl) <= now).map(|(a, _)| (l.li.id.clone(), a.clone())))
            .collect();
        for (id, agent) in late {
            self.withdraw_offer(&id, &agent, true);
        }
        let gone: Vec<SessionKey> =
            self.detached.iter().take_while(|(at, _)| at.add(self.cfg.session_ttl) <= now).map(|(_, k)| k.clone()).collect();
        for k in gone {
            self.drop_session(&k);
        }
        self.route();
        self.pump();
    }

    fn drop_session(&mut self, key: &SessionKey) {
        let Some(s) = self.sessions.remove(key) else { return };
        if let Some(at) = s.detached_at {
            self.detached.remove(&(at, key.clone()));
        }
        self.dirty.insert(key.clone());
        for p in &s.watches {
            self.monitor.unsubscribe(s.watcher, p);
        }
        self.by_watcher.remove(&s.watcher);
        if let Some(v) = self.by_client.get_mut(&key.0) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_client.remove(&key.0);
            }
        }
        self.alerts.retain(|_, a| &a.session != key);
        if let Some(conn) = s.conn {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = None;
            }
            let e = err(ErrorCode::Expired, "session reset; reconnect to start a new one");
            self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
    }

    // ---------------------------------------------------------------- events to clients

    /// Queues a reliable event for every session of a client (except `skip`), encoded once.
    fn push_event(&mut self, client: &ClientId, event: &Event, skip: Option<&SessionKey>, hook: Option<AckHook>) {
        let Some(keys) = self.by_client.get(client).cloned() else { return };
        let payload: Arc<str> = serde_json::to_string(event).expect("events serialize").into();
        let max = self.cfg.max_outbox;
        let mut overflow = vec![];
        for k in keys {
            if Some(&k) == skip {
                continue;
            }
            let s = self.sessions.get_mut(&k).expect("indexed sessions exist");
            let seq = s.next_seq;
            s.next_seq += 1;
            s.outbox.push_back(OutEvent { seq, payload: payload.clone(), hook: hook.clone() });
            self.dirty.insert(k.clone());
            if s.outbox.len() > max {
                overflow.push(k.clone());
            } else if let Some(c) = s.conn {
                self.mark_ready(c);
            }
        }
        for k in overflow {
            self.drop_session(&k);
        }
    }

    /// Moves monitor notifications to watchers, fires alerts, updates queue positions, and makes the
    /// changes durable. Every entry point ends here.
    fn pump(&mut self) {
        self.distribute();
        self.persist();
    }

    fn distribute(&mut self) {
        let mut center_changed = false;
        while let Some(ev) = self.monitor.poll_event() {
            match ev {
                MonitorEvent::Notify(n) => {
                    if n.presentity == Presentity::Center {
                        center_changed = true;
                    }
                    let targets: Vec<WatcherId> = match &n.recipients {
                        Recipients::AllowedWatchers => self.monitor.watchers(&n.presentity).collect(),
                        Recipients::Only(v) => v.clone(),
                    };
                    for w in targets {
                        if self.external.contains(&w) {
                            self.events.push_back(BrokerEvent::Presence { watcher: w, doc: n.doc.clone() });
                            continue;
                        }
                        let Some(key) = self.by_watcher.get(&w) else { continue };
                        let s = self.sessions.get_mut(key).expect("indexed sessions exist");
                        s.pending_status.insert(n.presentity.clone(), n.payload.clone());
                        if let Some(c) = s.conn {
                            self.mark_ready(c);
                        }
                    }
                }
                MonitorEvent::Terminated { watcher, presentity } if self.external.contains(&watcher) => {
                    self.events.push_back(BrokerEvent::WatchEnded { watcher, presentity });
                }
                MonitorEvent::Terminated { watcher, presentity } => {
                    if let Some(key) = self.by_watcher.get(&watcher).cloned() {
                        let s = self.sessions.get_mut(&key).expect("indexed sessions exist");
                        s.watches.remove(&presentity);
                        s.pending_status.remove(&presentity);
                        if let Some(c) = s.conn {
                            self.send_frame(c, &BrokerFrame::WatchEnded { presentity }, false);
                        }
                    }
                }
            }
        }
        if center_changed {
            self.evaluate_alerts();
            self.refresh_positions();
        }
    }

    fn evaluate_alerts(&mut self) {
        if self.alerts.is_empty() {
            return;
        }
        let status = self.monitor.center_status();
        let mut fired = vec![];
        for (id, a) in self.alerts.iter_mut() {
            let why = a.rule.evaluate(&status);
            match (a.holds, why) {
                (false, Some(msg)) => {
                    a.holds = true;
                    fired.push((a.session.clone(), AlertFired { alert: id.clone(), rule: a.rule.clone(), at: self.now, message: msg }));
                }
                (true, None) => a.holds = false,
                _ => {}
            }
        }
        for (key, f) in fired {
            self.push_to_session(&key, &Event::Alert(f));
        }
    }

    fn push_to_session(&mut self, key: &SessionKey, event: &Event) {
        let payload: Arc<str> = serde_json::to_string(event).expect("events serialize").into();
        if let Some(s) = self.sessions.get_mut(key) {
            let seq = s.next_seq;
            s.next_seq += 1;
            s.outbox.push_back(OutEvent { seq, payload, hook: None });
            self.dirty.insert(key.clone());
            if let Some(c) = s.conn {
                self.mark_ready(c);
            }
        }
    }

    fn refresh_positions(&mut self) {
        let mut changed = vec![];
        for l in self.live.values_mut() {
            if let InteractionState::Queued { position, estimated_hold_secs } = &l.li.state {
                if l.external && l.li.queue.is_none() {
                    continue;
                }
                if let Some((pos, est)) = self.monitor.waiting_position(&l.li.id) {
                    let est = est.map(|d| d.as_secs_f64().round());
                    if pos != *position || est != *estimated_hold_secs {
                        l.li.state = InteractionState::Queued { position: pos, estimated_hold_secs: est };
                        changed.push(l.li.clone());
                        self.dirty_live.insert(l.li.id.clone());
                    }
                }
            }
        }
        for li in changed {
            self.push_event(&li.client.clone(), &Event::Interaction(li), None, None);
        }
    }

    // ---------------------------------------------------------------- client requests

    fn execute(&mut self, key: &SessionKey, req: Request) -> Result<Response, ErrorBody> {
        let me = key.0.clone();
        let now = self.now;
        match req {
            Request::GetProfile => Ok(Response::Profile(self.store.profile(&me)?.unwrap_or_default())),
            Request::UpdateProfile { patch } => {
                patch.validate().map_err(|m| err(ErrorCode::Invalid, m))?;
                let mut p = self.store.profile(&me)?.unwrap_or_default();
                patch.apply_to(&mut p);
                p.revision += 1;
                self.store.put_profile(&me, &p)?;
                self.push_event(&me, &Event::ProfileChanged(p.clone()), Some(key), None);
                Ok(Response::Profile(p))
            }
            Request::GetHistory { filter } => Ok(Response::History(self.store.history(&me, &filter)?)),
            Request::AddNote { interaction, text } => {
                let text = text.trim().to_owned();
                if text.is_empty() || text.len() > 4000 {
                    return Err(err(ErrorCode::Invalid, "a note has 1 to 4000 bytes"));
                }
                let mut r = self.own_record(&me, &interaction)?;
                r.notes.push(Note { at: now, author: "client".into(), text });
                self.store.put_record(&r)?;
                self.push_event(&me, &Event::HistoryChanged(r.clone()), Some(key), None);
                Ok(Response::Record(r))
            }
            Request::GetProducts => Ok(Response::Products(self.store.products()?)),
            Request::GetOrders => Ok(Response::Orders(self.store.orders(&me)?)),
            Request::UpdateDelivery { order, delivery } => {
                let mut o = self.own_order(&me, &order)?;
                if !o.status.delivery_editable() {
                    return Err(err(ErrorCode::Conflict, format!("order {order} is {:?}; delivery can no longer change", o.status)));
                }
                if delivery.address.trim().is_empty() || delivery.address.len() > 1000 {
                    return Err(err(ErrorCode::Invalid, "a delivery address has 1 to 1000 bytes"));
                }
                o.delivery = delivery;
                o.revision += 1;
                self.store.put_order(&o)?;
                self.push_event(&me, &Event::OrderChanged(o.clone()), Some(key), None);
                Ok(Response::Order(o))
            }
            Request::GetCenterStatus => Ok(Response::CenterStatus(self.monitor.center_status())),
            Request::Watch { presentity } => {
                let w = self.sessions[key].watcher;
                let doc = self.monitor.subscribe(w, &Principal::Client(me), &presentity)?;
                let s = self.sessions.get_mut(key).expect("exists");
                s.watches.insert(presentity.clone());
                s.pending_status.remove(&presentity);
                self.dirty.insert(key.clone());
                Ok(Response::Presence(doc))
            }
            Request::Unwatch { presentity } => {
                let s = self.sessions.get_mut(key).expect("exists");
                s.watches.remove(&presentity);
                s.pending_status.remove(&presentity);
                let w = s.watcher;
                self.monitor.unsubscribe(w, &presentity);
                self.dirty.insert(key.clone());
                Ok(Response::Done)
            }
            Request::SetStatus { status } => {
                if status.note.as_ref().is_some_and(|n| n.len() > 500) {
                    return Err(err(ErrorCode::Invalid, "a status note has at most 500 bytes"));
                }
                self.monitor.publish_client_status(now, me, status);
                Ok(Response::Done)
            }
            Request::SetAccessRules { rules } => {
                if rules.len() > 256 {
                    return Err(err(ErrorCode::Invalid, "at most 256 access rules"));
                }
                self.monitor.set_access_rules(&Principal::Client(me.clone()), &Presentity::Client(me), rules)?;
                Ok(Response::Done)
            }
            Request::ListWatchers => {
                Ok(Response::Watchers(self.monitor.list_watchers(&Principal::Client(me.clone()), &Presentity::Client(me))?))
            }
            Request::SubscribeAlert { rule } => {
                if self.alerts.values().filter(|a| &a.session == key).count() >= 64 {
                    return Err(err(ErrorCode::RateLimited, "at most 64 alerts per session"));
                }
                let id = AlertId(self.next_id("al"));
                let why = rule.evaluate(&self.monitor.center_status());
                self.alerts.insert(id.clone(), AlertSub { session: key.clone(), rule: rule.clone(), holds: why.is_some() });
                self.dirty.insert(key.clone());
                if let Some(message) = why {
                    self.push_to_session(key, &Event::Alert(AlertFired { alert: id.clone(), rule, at: now, message }));
                }
                Ok(Response::Alert(id))
            }
            Request::UnsubscribeAlert { alert } => match self.alerts.get(&alert) {
                Some(a) if &a.session == key => {
                    self.alerts.remove(&alert);
                    self.dirty.insert(key.clone());
                    Ok(Response::Done)
                }
                _ => Err(err(ErrorCode::NotFound, format!("no alert {alert}"))),
            },
            Request::RespondInvitation { invitation, accept } => self.client_respond_invitation(key, &invitation, accept),
            Request::InviteAgent { agent, medium, message } => {
                if message.len() > 2000 {
                    return Err(err(ErrorCode::Invalid, "an invitation message has at most 2000 bytes"));
                }
                let seat = self.seats.get(&agent).ok_or_else(|| err(ErrorCode::Unavailable, format!("agent {agent} is not logged in")))?;
                if !seat.media.contains(&medium) {
                    return Err(err(ErrorCode::Unavailable, format!("agent {agent} does not handle {medium}")));
                }
                let agent_name = seat.name.clone();
                let inv = Invitation {
                    id: InvitationId(self.next_id("inv")),
                    direction: InvitationDirection::ClientToAgent,
                    client: me,
                    agent: agent.clone(),
                    agent_name,
                    medium,
                    message,
                    created_at: now,
                    expires_at: now.add(self.cfg.invitation_ttl),
                    state: InvitationState::Pending,
                    interaction: None,
                };
                self.invitations.insert(inv.id.clone(), inv.clone());
                self.dirty_invitations.insert(inv.id.clone());
                self.events.push_back(BrokerEvent::Agent { agent, event: AgentEvent::InvitationReceived(inv.clone()) });
                Ok(Response::Invitation(inv))
            }
            Request::StartInteraction { medium, product, queue, topic } => {
                self.start_interaction(&me, medium, product, queue, topic).map(Response::Interaction)
            }
            Request::SendChat { interaction, text } => {
                let l = self.own_live(&me, &interaction)?;
                if matches!(l.li.state, InteractionState::Ended { .. }) {
                    return Err(err(ErrorCode::Conflict, "the interaction has ended"));
                }
                if l.li.medium != Medium::Chat {
                    return Err(err(ErrorCode::Invalid, format!("chat messages go in chat interactions, not {}", l.li.medium)));
                }
                if text.is_empty() || text.len() > MAX_CHAT_BYTES {
                    return Err(err(ErrorCode::Invalid, format!("a chat message has 1 to {MAX_CHAT_BYTES} bytes")));
                }
                let msg = self.append_chat(&interaction, Author::Client(me.clone()), text)?;
                self.push_event(&me, &Event::Chat(msg.clone()), Some(key), None);
                let agent = self.live[&interaction].li.agent.clone();
                if let Some(agent) = agent.filter(|a| self.seats.contains_key(a)) {
                    self.events.push_back(BrokerEvent::Agent { agent, event: AgentEvent::Chat(msg.clone()) });
                    // The agent console is in-process: handing it over is delivery.
                    self.push_event(&me, &Event::ChatDelivered { interaction, seq: msg.seq }, None, None);
                }
                Ok(Response::Chat(msg))
            }
            Request::GetTranscript { interaction } => {
                let mine = self.live.get(&interaction).is_some_and(|l| l.li.client == me)
                    || self.store.record(&interaction)?.is_some_and(|r| r.client == me);
                if !mine {
                    return Err(err(ErrorCode::NotFound, format!("no interaction {interaction}")));
                }
                Ok(Response::Transcript(self.store.transcript(&interaction)?))
            }
            Request::EndInteraction { interaction } => {
                let l = self.own_live(&me, &interaction)?;
                if matches!(l.li.state, InteractionState::Ended { .. }) {
                    return Ok(Response::Interaction(l.li.clone()));
                }
                Ok(Response::Interaction(self.end_interaction(&interaction)?))
            }
        }
    }

    fn own_record(&self, me: &ClientId, id: &InteractionId) -> Result<InteractionRecord, ErrorBody> {
        // Another client's record answers exactly like a missing one, so ids cannot be probed.
        self.store.record(id)?.filter(|r| &r.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no interaction {id}")))
    }

    fn own_order(&self, me: &ClientId, id: &OrderId) -> Result<Order, ErrorBody> {
        self.store.order(id)?.filter(|o| &o.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no order {id}")))
    }

    fn own_live(&self, me: &ClientId, id: &InteractionId) -> Result<&Live, ErrorBody> {
        self.live.get(id).filter(|l| &l.li.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {id}")))
    }

    fn append_chat(&mut self, interaction: &InteractionId, from: Author, text: String) -> Result<ChatMessage, ErrorBody> {
        let l = self.live.get_mut(interaction).expect("caller checked");
        l.chat_seq += 1;
        let msg = ChatMessage { interaction: interaction.clone(), seq: l.chat_seq, from, text, at: self.now };
        self.store.append_chat(&msg)?;
        Ok(msg)
    }

    fn client_address(&self, me: &ClientId, medium: Medium) -> Result<Option<String>, ErrorBody> {
        let profile = self.store.profile(me)?.unwrap_or_default();
        let cap = profile.capabilities.iter().find(|c| c.medium == medium || (medium == Medium::Callback && c.medium == Medium::Voice));
        match medium {
            Medium::Chat => Ok(None),
            Medium::Voice | Medium::Callback | Medium::Email | Medium::Video => match cap {
                Some(c) => Ok(c.address.clone()),
                None if medium == Medium::Voice => Ok(None),
                None => Err(err(
                    ErrorCode::Invalid,
                    format!("add a {medium} capability (with an address) to your profile before starting a {medium} interaction"),
                )),
            },
        }
    }

    fn start_interaction(
        &mut self,
        me: &ClientId,
        medium: Medium,
        product: Option<ProductId>,
        queue: Option<QueueId>,
        topic: Option<String>,
    ) -> Result<LiveInteraction, ErrorBody> {
        if topic.as_ref().is_some_and(|t| t.len() > 500) {
            return Err(err(ErrorCode::Invalid, "a topic has at most 500 bytes"));
        }
        let open = self.live.values().filter(|l| &l.li.client == me && !matches!(l.li.state, InteractionState::Ended { .. })).count();
        if open >= 4 {
            return Err(err(ErrorCode::RateLimited, "at most 4 live interactions at once"));
        }
        let queue = match queue {
            Some(q) => q,
            None => self
                .monitor
                .queue_for(product.as_ref(), medium)
                .ok_or_else(|| err(ErrorCode::Unavailable, format!("no queue takes {medium} for this product")))?,
        };
        let status = self.monitor.center_status();
        let qs = status.queue(&queue, medium).ok_or_else(|| err(ErrorCode::NotFound, format!("queue {queue} does not take {medium}")))?;
        if !qs.offered {
            return Err(err(ErrorCode::Unavailable, format!("{medium} is not offered in {} right now", qs.name)));
        }
        let client_address = self.client_address(me, medium)?;
        let id = InteractionId(self.next_id("ix"));
        let li = LiveInteraction {
            id: id.clone(),
            client: me.clone(),
            medium,
            queue: Some(queue.clone()),
            product,
            topic,
            agent: None,
            direction: Direction::Inbound,
            state: InteractionState::Queued { position: 0, estimated_hold_secs: None },
            created_at: self.now,
            connected_at: None,
            ended_at: None,
            client_address,
        };
        let external = match self.center.admit(self.now, &li) {
            Admission::RouteHere => false,
            Admission::External => true,
            Admission::Refuse(why) => return Err(err(ErrorCode::Unavailable, why)),
        };
        self.monitor.handle_center_event(
            self.now,
            CenterEvent::InteractionQueued { interaction: id.clone(), queue, medium, client: Some(me.clone()) },
        )?;
        self.live.insert(id.clone(), Live { li, external, offered: None, declined_by: HashSet::new(), chat_seq: 0 });
        self.dirty_live.insert(id.clone());
        if let Some((pos, est)) = self.monitor.waiting_position(&id) {
            self.live.get_mut(&id).expect("inserted").li.state =
                InteractionState::Queued { position: pos, estimated_hold_secs: est.map(|d| d.as_secs_f64().round()) };
        }
        self.route();
        Ok(self.live[&id].li.clone())
    }

    fn client_respond_invitation(&mut self, key: &SessionKey, id: &InvitationId, accept: bool) -> Result<Response, ErrorBody> {
        let me = &key.0;
        let inv = self
            .invitations
            .get(id)
            .filter(|i| &i.client == me && i.direction == InvitationDirection::AgentToClient)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no invitation {id} for you")))?
            .clone();
        self.check_pending(&inv)?;
        if !accept {
            return Ok(Response::Invitation(self.settle_invitation(id, InvitationState::Declined)));
        }
        let li = self.connect_invitation(&inv)?;
        // The interaction id goes in before the change is announced, so every copy carries it.
        self.invitations.get_mut(id).expect("checked").interaction = Some(li.id);
        Ok(Response::Invitation(self.settle_invitation(id, InvitationState::Accepted)))
    }

    fn check_pending(&self, inv: &Invitation) -> Result<(), ErrorBody> {
        if inv.state == InvitationState::Pending && inv.expires_at <= self.now {
            return Err(err(ErrorCode::Expired, format!("invitation {} expired at {}", inv.id, inv.expires_at)));
        }
        match inv.state {
            InvitationState::Pending => Ok(()),
            InvitationState::Expired => Err(err(ErrorCode::Expired, format!("invitation {} expired", inv.id))),
            s => Err(err(ErrorCode::Conflict, format!("invitation {} is already {s:?}", inv.id).to_lowercase())),
        }
    }

    /// Starts the interaction an accepted invitation asked for, with the agent at once.
    fn connect_invitation(&mut self, inv: &Invitation) -> Result<LiveInteraction, ErrorBody> {
        if !self.seats.contains_key(&inv.agent) {
            return Err(err(ErrorCode::Unavailable, format!("agent {} has logged out", inv.agent)));
        }
        let client_address = self.client_address(&inv.client, inv.medium)?;
        let id = InteractionId(self.next_id("ix"));
        let li = LiveInteraction {
            id: id.clone(),
            client: inv.client.clone(),
            medium: inv.medium,
            queue: None,
            product: None,
            topic: Some(inv.message.clone()).filter(|m| !m.is_empty()),
            agent: Some(inv.agent.clone()),
            direction: match inv.direction {
                InvitationDirection::AgentToClient => Direction::Outbound,
                InvitationDirection::ClientToAgent => Direction::Inbound,
            },
            state: InteractionState::Connected,
            created_at: self.now,
            connected_at: Some(self.now),
            ended_at: None,
            client_address,
        };
        self.live.insert(id.clone(), Live { li: li.clone(), external: false, offered: None, declined_by: HashSet::new(), chat_seq: 0 });
        self.dirty_live.insert(id.clone());
        let seat = self.seats.get_mut(&inv.agent).expect("checked");
        seat.active.insert(id);
        self.set_agent_state(&inv.agent.clone(), AgentState::Busy);
        self.push_event(&inv.client, &Event::Interaction(li.clone()), None, None);
        self.events.push_back(BrokerEvent::Agent { agent: inv.agent.clone(), event: AgentEvent::Connected(li.clone()) });
        Ok(li)
    }

    fn settle_invitation(&mut self, id: &InvitationId, state: InvitationState) -> Invitation {
        let inv = self.invitations.get_mut(id).expect("caller checked");
        inv.state = state;
        let inv = inv.clone();
        self.dirty_invitations.insert(id.clone());
        self.push_event(&inv.client.clone(), &Event::Invitation(inv.clone()), None, None);
        self.events.push_back(BrokerEvent::Agent { agent: inv.agent.clone(), event: AgentEvent::InvitationUpdated(inv.clone()) });
        if state != InvitationState::Pending {
            // Settled invitations are kept a while so late answers get a clear error, then forgotten.
            let horizon = self.now.as_millis().saturating_sub(3_600_000);
            let old: Vec<InvitationId> = self
                .invitations
                .values()
                .filter(|i| i.state != InvitationState::Pending && i.expires_at.as_millis() <= horizon)
                .map(|i| i.id.clone())
                .collect();
            for id in old {
                self.invitations.remove(&id);
                self.dirty_invitations.insert(id);
            }
        }
        inv
    }

    // ---------------------------------------------------------------- routing

    fn set_agent_state(&mut self, agent: &AgentId, state: AgentState) {
        if let Some(seat) = self.seats.get_mut(agent) {
            seat.state = state;
            let _ = self.monitor.handle_center_event(self.now, CenterEvent::AgentStateChanged { agent: agent.clone(), state });
        }
    }

    /// Offers waiting interactions to free agents, longest-idle agent first.
    fn route(&mut self) {
        let mut waiting: Vec<(Timestamp, InteractionId)> = self
            .live
            .values()
            .filter(|l| !l.external && l.offered.is_none() && matches!(l.li.state, InteractionState::Queued { .. }))
            .map(|l| (l.li.created_at, l.li.id.clone()))
            .collect();
        waiting.sort();
        for (_, id) in waiting {
            let l = &self.live[&id];
            let (Some(queue), medium) = (l.li.queue.clone(), l.li.medium) else { continue };
            // Only the head of each queue is offered, so order is kept.
            if self.monitor.waiting(&queue, medium).first() != Some(&id) {
                continue;
            }
            let best = self
                .seats
                .iter()
                .filter(|(a, s)| {
                    s.state == AgentState::Available
                        && s.offer.is_none()
                        && !l.declined_by.contains(*a)
                        && self.monitor.agent_serves(a, &queue, medium)
                })
                .min_by_key(|(a, _)| (self.monitor.agent(a).map(|x| x.since), (*a).clone()))
                .map(|(a, _)| a.clone());
            if let Some(agent) = best {
                let l = self.live.get_mut(&id).expect("exists");
                l.offered = Some((agent.clone(), self.now));
                let li = l.li.clone();
                self.seats.get_mut(&agent).expect("exists").offer = Some(id);
                self.events.push_back(BrokerEvent::Agent { agent, event: AgentEvent::Offered(li) });
            }
        }
    }

    fn withdraw_offer(&mut self, id: &InteractionId, agent: &AgentId, declined: bool) {
        if let Some(l) = self.live.get_mut(id) {
            if l.offered.as_ref().is_some_and(|(a, _)| a == agent) {
                l.offered = None;
                if declined {
                    l.declined_by.insert(agent.clone());
                }
            }
        }
        if let Some(seat) = self.seats.get_mut(agent) {
            if seat.offer.as_ref() == Some(id) {
                seat.offer = None;
                self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event: AgentEvent::OfferWithdrawn(id.clone()) });
            }
        }
    }

    fn end_interaction(&mut self, id: &InteractionId) -> Result<LiveInteraction, ErrorBody> {
        let now = self.now;
        let l = self.live.get_mut(id).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {id}")))?;
        let was_queued = matches!(l.li.state, InteractionState::Queued { .. });
        let outcome = if was_queued { RecordOutcome::Abandoned } else { RecordOutcome::Completed };
        l.li.state = InteractionState::Ended { outcome };
        l.li.ended_at = Some(now);
        let offered = l.offered.take();
        let li = l.li.clone();
        self.live.remove(id);
        self.dirty_live.insert(id.clone());
        if let Some((agent, _)) = offered {
            self.withdraw_offer(id, &agent, false);
            if let Some(seat) = self.seats.get_mut(&agent) {
                seat.offer = None;
            }
        }
        let ev = if was_queued { CenterEvent::InteractionAbandoned { interaction: id.clone() } } else { CenterEvent::InteractionEnded { interaction: id.clone() } };
        if li.queue.is_some() {
            let _ = self.monitor.handle_center_event(now, ev);
        }
        if let Some(agent) = &li.agent {
            if let Some(seat) = self.seats.get_mut(agent) {
                seat.active.remove(id);
                let idle = seat.active.is_empty();
                self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event: AgentEvent::Ended(li.clone()) });
                if idle {
                    self.set_agent_state(&agent.clone(), AgentState::Available);
                }
            }
        }
        self.center.ended(now, &li);
        let record = InteractionRecord {
            id: li.id.clone(),
            client: li.client.clone(),
            started_at: li.created_at,
            ended_at: Some(now),
            product: li.product.clone(),
            agent: li.agent.clone(),
            medium: li.medium,
            direction: li.direction,
            outcome,
            summary: li.topic.clone().unwrap_or_else(|| format!("{} interaction", li.medium)),
            notes: vec![],
        };
        self.store.put_record(&record)?;
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        self.push_event(&li.client, &Event::HistoryChanged(record), None, None);
        self.route();
        Ok(li)
    }

    // ---------------------------------------------------------------- agent API

    /// Configures a queue (what it serves, on which media).
    pub fn configure_queue(&mut self, now: Timestamp, queue: QueueId, name: &str, products: Vec<ProductId>, media: Vec<Medium>) {
        self.tick(now);
        let _ = self.monitor.handle_center_event(now, CenterEvent::QueueConfigured { queue, name: name.into(), products, media });
        self.pump();
    }

    /// An agent logs in (state `Away` until it says it is available).
    pub fn agent_login(&mut self, now: Timestamp, agent: AgentId, name: &str, role: AgentRole, skills: Vec<ProductId>, media: Vec<Medium>) {
        self.tick(now);
        self.seats.insert(
            agent.clone(),
            Seat { name: name.into(), role, media: media.clone(), state: AgentState::Away, offer: None, active: BTreeSet::new() },
        );
        let _ = self.monitor.handle_center_event(now, CenterEvent::AgentLoggedIn { agent: agent.clone(), name: name.into(), skills, media });
        // After a restart, interactions this agent was connected to are its own again.
        let mine: Vec<InteractionId> = self
            .live
            .values()
            .filter(|l| l.li.agent.as_ref() == Some(&agent) && l.li.state == InteractionState::Connected)
            .map(|l| l.li.id.clone())
            .collect();
        if !mine.is_empty() {
            self.seats.get_mut(&agent).expect("inserted").active.extend(mine);
            self.set_agent_state(&agent, AgentState::Busy);
        }
        self.pump();
    }

    /// An agent logs out; its offers go to others and its pending invitations are cancelled.
    pub fn agent_logout(&mut self, now: Timestamp, agent: &AgentId) -> Result<(), BrokerError> {
        self.tick(now);
        let seat = self.seats.get(agent).ok_or_else(|| err(ErrorCode::NotFound, format!("agent {agent} is not logged in")))?.clone();
        if let Some(id) = &seat.offer {
            self.withdraw_offer(id, agent, false);
        }
        for id in seat.active.iter() {
            let _ = self.end_interaction(id);
        }
        let pending: Vec<InvitationId> =
            self.invitations.values().filter(|i| &i.agent == agent && i.state == InvitationState::Pending).map(|i| i.id.clone()).collect();
        for id in pending {
            self.settle_invitation(&id, InvitationState::Cancelled);
        }
        self.seats.remove(agent);
        let _ = self.monitor.handle_center_event(now, CenterEvent::AgentLoggedOut { agent: agent.clone() });
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent changes state (available, away, after work).
    pub fn agent_set_state(&mut self, now: Timestamp, agent: &AgentId, state: AgentState) -> Result<(), BrokerError> {
        self.tick(now);
        if !self.seats.contains_key(agent) {
            return Err(err(ErrorCode::NotFound, format!("agent {agent} is not logged in")));
        }
        if state == AgentState::LoggedOut {
            return self.agent_logout(now, agent);
        }
        self.set_agent_state(agent, state);
        if state != AgentState::Available {
            if let Some(id) = self.seats[agent].offer.clone() {
                self.withdraw_offer(&id, agent, false);
            }
        }
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent accepts the interaction offered to it.
    pub fn agent_accept(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<LiveInteraction, BrokerError> {
        self.tick(now);
        let offered_here = self.live.get(interaction).and_then(|l| l.offered.as_ref()).is_some_and(|(a, _)| a == agent);
        if !offered_here {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is not offered to {agent}")));
        }
        let l = self.live.get_mut(interaction).expect("checked");
        l.offered = None;
        l.li.agent = Some(agent.clone());
        l.li.state = InteractionState::Connected;
        l.li.connected_at = Some(now);
        let li = l.li.clone();
        self.dirty_live.insert(interaction.clone());
        let seat = self.seats.get_mut(agent).expect("offers go to seated agents");
        seat.offer = None;
        seat.active.insert(interaction.clone());
        let _ = self.monitor.handle_center_event(now, CenterEvent::InteractionAnswered { interaction: interaction.clone(), agent: agent.clone() });
        self.set_agent_state(agent, AgentState::Busy);
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event: AgentEvent::Connected(li.clone()) });
        self.route();
        self.pump();
        Ok(li)
    }

    /// An agent declines the interaction offered to it; it goes to another agent.
    pub fn agent_decline(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<(), BrokerError> {
        self.tick(now);
        let offered_here = self.live.get(interaction).and_then(|l| l.offered.as_ref()).is_some_and(|(a, _)| a == agent);
        if !offered_here {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is not offered to {agent}")));
        }
        self.withdraw_offer(interaction, agent, true);
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent invites a client to an interaction in a medium.
    pub fn agent_invite(&mut self, now: Timestamp, agent: &AgentId, client: &ClientId, medium: Medium, message: &str) -> Result<Invitation, BrokerError> {
        self.tick(now);
        let seat = self.seats.get(agent).ok_or_else(|| err(ErrorCode::NotFound, format!("agent {agent} is not logged in")))?;
        if !seat.media.contains(&medium) {
            return Err(err(ErrorCode::Invalid, format!("agent {agent} does not handle {medium}")));
        }
        if message.len() > 2000 {
            return Err(err(ErrorCode::Invalid, "an invitation message has at most 2000 bytes"));
        }
        let agent_name = seat.name.clone();
        let inv = Invitation {
            id: InvitationId(self.next_id("inv")),
            direction: InvitationDirection::AgentToClient,
            client: client.clone(),
            agent: agent.clone(),
            agent_name,
            medium,
            message: message.into(),
            created_at: now,
            expires_at: now.add(self.cfg.invitation_ttl),
            state: InvitationState::Pending,
            interaction: None,
        };
        self.invitations.insert(inv.id.clone(), inv.clone());
        self.dirty_invitations.insert(inv.id.clone());
        self.push_event(client, &Event::Invitation(inv.clone()), None, None);
        self.pump();
        Ok(inv)
    }

    /// An agent answers an invitation a client sent it.
    pub fn agent_respond_invitation(&mut self, now: Timestamp, agent: &AgentId, id: &InvitationId, accept: bool) -> Result<Invitation, BrokerError> {
        self.tick(now);
        let inv = self
            .invitations
            .get(id)
            .filter(|i| &i.agent == agent && i.direction == InvitationDirection::ClientToAgent)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no invitation {id} for {agent}")))?
            .clone();
        self.check_pending(&inv)?;
        let out = if accept {
            let li = self.connect_invitation(&inv)?;
            self.invitations.get_mut(id).expect("checked").interaction = Some(li.id);
            self.settle_invitation(id, InvitationState::Accepted)
        } else {
            self.settle_invitation(id, InvitationState::Declined)
        };
        self.pump();
        Ok(out)
    }

    /// An agent sends a chat message in an interaction it handles.
    pub fn agent_send_chat(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, text: &str) -> Result<ChatMessage, BrokerError> {
        self.tick(now);
        let l = self.live.get(interaction).filter(|l| l.li.agent.as_ref() == Some(agent)).ok_or_else(|| {
            err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}"))
        })?;
        if l.li.medium != Medium::Chat {
            return Err(err(ErrorCode::Invalid, "chat messages go in chat interactions"));
        }
        if text.is_empty() || text.len() > MAX_CHAT_BYTES {
            return Err(err(ErrorCode::Invalid, format!("a chat message has 1 to {MAX_CHAT_BYTES} bytes")));
        }
        let client = l.li.client.clone();
        let msg = self.append_chat(interaction, Author::Agent(agent.clone()), text.into())?;
        let hook = AckHook { agent: agent.clone(), interaction: interaction.clone(), seq: msg.seq };
        self.push_event(&client, &Event::Chat(msg.clone()), None, Some(hook));
        self.pump();
        Ok(msg)
    }

    /// An agent ends an interaction it handles.
    pub fn agent_end(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<LiveInteraction, BrokerError> {
        self.tick(now);
        if !self.live.get(interaction).is_some_and(|l| l.li.agent.as_ref() == Some(agent)) {
            return Err(err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}")));
        }
        let li = self.end_interaction(interaction)?;
        self.pump();
        Ok(li)
    }

    /// Live interactions an agent is connected to (a console that reconnects lists them again).
    pub fn agent_interactions(&self, agent: &AgentId) -> Vec<LiveInteraction> {
        let mut v: Vec<LiveInteraction> =
            self.live.values().filter(|l| l.li.agent.as_ref() == Some(agent) && l.li.state == InteractionState::Connected).map(|l| l.li.clone()).collect();
        v.sort_by_key(|l| l.created_at);
        v
    }

    /// The transcript of an interaction the agent handles (supervisors: any), so a console that was
    /// away catches up.
    pub fn agent_transcript(&self, agent: &AgentId, interaction: &InteractionId) -> Result<Vec<ChatMessage>, BrokerError> {
        let seat = self.seats.get(agent).ok_or_else(|| err(ErrorCode::Unauthenticated, format!("agent {agent} is not logged in")))?;
        let handles = self.live.get(interaction).is_some_and(|l| l.li.agent.as_ref() == Some(agent))
            || self.store.record(interaction)?.is_some_and(|r| r.agent.as_ref() == Some(agent));
        if !handles && seat.role != AgentRole::Supervisor {
            return Err(err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}")));
        }
        Ok(self.store.transcript(interaction)?)
    }

    fn agent_may_read(&self, agent: &AgentId, client: &ClientId) -> Result<(), BrokerError> {
        let seat = self.seats.get(agent).ok_or_else(|| err(ErrorCode::Unauthenticated, format!("agent {agent} is not logged in")))?;
        if seat.role == AgentRole::Supervisor {
            return Ok(());
        }
        let serving = seat.active.iter().chain(seat.offer.iter()).any(|i| self.live.get(i).is_some_and(|l| &l.li.client == client));
        let invited = self.invitations.values().any(|i| &i.agent == agent && &i.client == client && i.state == InvitationState::Pending);
        if serving || invited {
            Ok(())
        } else {
            Err(err(ErrorCode::Forbidden, format!("{agent} is not serving client {client}")))
        }
    }

    /// A client's profile, for an agent serving that client (or a supervisor).
    pub fn agent_client_profile(&self, agent: &AgentId, client: &ClientId) -> Result<ClientProfile, BrokerError> {
        self.agent_may_read(agent, client)?;
        Ok(self.store.profile(client)?.unwrap_or_default())
    }

    /// A client's history, for an agent serving that client (or a supervisor).
    pub fn agent_client_history(&self, agent: &AgentId, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, BrokerError> {
        self.agent_may_read(agent, client)?;
        Ok(self.store.history(client, filter)?)
    }

    /// A note by an agent on a past interaction it handled (supervisors: any).
    pub fn agent_add_note(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, text: &str) -> Result<InteractionRecord, BrokerError> {
        self.tick(now);
        let seat = self.seats.get(agent).ok_or_else(|| err(ErrorCode::Unauthenticated, format!("agent {agent} is not logged in")))?;
        let mut r = self.store.record(interaction)?.ok_or_else(|| err(ErrorCode::NotFound, format!("no interaction {interaction}")))?;
        if seat.role != AgentRole::Supervisor && r.agent.as_ref() != Some(agent) {
            return Err(err(ErrorCode::Forbidden, format!("{agent} did not handle interaction {interaction}")));
        }
        r.notes.push(Note { at: now, author: agent.to_string(), text: text.into() });
        self.store.put_record(&r)?;
        self.push_event(&r.client.clone(), &Event::HistoryChanged(r.clone()), None, None);
        self.pump();
        Ok(r)
    }

    // ---------------------------------------------------------------- external watchers

    /// Registers a watcher served by another protocol (XMPP); its notifications come out as
    /// [`BrokerEvent::Presence`].
    pub fn external_watcher(&mut self) -> WatcherId {
        let w = self.next_watcher;
        self.next_watcher += 1;
        self.external.insert(w);
        w
    }

    /// Subscribes an external watcher under the access rules of the presentity.
    pub fn external_subscribe(&mut self, watcher: WatcherId, who: &Principal, p: &Presentity) -> Result<crate::monitor::presence::PresenceDocument, BrokerError> {
        if !self.external.contains(&watcher) {
            return Err(err(ErrorCode::NotFound, "unknown watcher"));
        }
        let doc = self.monitor.subscribe(watcher, who, p)?;
        Ok(doc)
    }

    /// Ends one subscription of an external watcher.
    pub fn external_unsubscribe(&mut self, watcher: WatcherId, p: &Presentity) {
        self.monitor.unsubscribe(watcher, p);
    }

    /// Forgets an external watcher and all its subscriptions.
    pub fn external_drop(&mut self, watcher: WatcherId, presentities: &[Presentity]) {
        for p in presentities {
            self.monitor.unsubscribe(watcher, p);
        }
        self.external.remove(&watcher);
    }

    /// Publishes the status of a client connected through another protocol.
    pub fn publish_client_status(&mut self, now: Timestamp, client: ClientId, status: ClientStatus) {
        self.tick(now);
        self.monitor.publish_client_status(now, client, status);
        self.pump();
    }

    /// Replaces the access rules of a principal's own presentity.
    pub fn set_access_rules(&mut self, who: &Principal, p: &Presentity, rules: Vec<crate::monitor::access::AccessRule>) -> Result<(), BrokerError> {
        self.monitor.set_access_rules(who, p, rules)?;
        self.pump();
        Ok(())
    }

    /// Agents logged in now (for rosters).
    pub fn agents(&self) -> Vec<crate::status::AgentSummary> {
        self.monitor.center_status().agents
    }

    // ---------------------------------------------------------------- center (service) API

    /// Feeds an event from an external center (a vendor's ACD bridge) into the status monitor.
    pub fn center_event(&mut self, now: Timestamp, event: CenterEvent) -> Result<(), BrokerError> {
        self.tick(now);
        self.monitor.handle_center_event(now, event)?;
        self.pump();
        Ok(())
    }

    /// Adds or replaces a product.
    pub fn center_put_product(&mut self, product: Product) -> Result<(), BrokerError> {
        self.store.put_product(&product)?;
        self.pump();
        Ok(())
    }

    /// Adds or replaces a history record (imported from the center's CRM).
    pub fn center_put_record(&mut self, record: InteractionRecord) -> Result<(), BrokerError> {
        self.store.put_record(&record)?;
        self.push_event(&record.client.clone(), &Event::HistoryChanged(record), None, None);
        self.pump();
        Ok(())
    }

    /// Adds or replaces an order; the client is told.
    pub fn center_put_order(&mut self, order: Order) -> Result<(), BrokerError> {
        self.store.put_order(&order)?;
        self.push_event(&order.client.clone(), &Event::OrderChanged(order), None, None);
        self.pump();
        Ok(())
    }

    /// Moves an order to a new status, recording it in the order's history; the client is told.
    pub fn center_set_order_status(&mut self, now: Timestamp, order: &OrderId, status: OrderStatus) -> Result<Order, BrokerError> {
        self.tick(now);
        let mut o = self.store.order(order)?.ok_or_else(|| err(ErrorCode::NotFound, format!("no order {order}")))?;
        o.status = status;
        o.history.push(StatusChange { at: now, status });
        o.revision += 1;
        self.store.put_order(&o)?;
        self.push_event(&o.client.clone(), &Event::OrderChanged(o.clone()), None, None);
        self.pump();
        Ok(o)
    }

    /// Seeds a client's profile (from the center's CRM).
    pub fn center_put_profile(&mut self, client: &ClientId, profile: ClientProfile) -> Result<(), BrokerError> {
        self.store.put_profile(client, &profile)?;
        self.pump();
        Ok(())
    }

    /// Hold-time key of a live interaction, for hosts that show per-interaction figures.
    pub fn interaction_queue(&self, id: &InteractionId) -> Option<QueueKey> {
        let l = self.live.get(id)?;
        Some(QueueKey { queue: l.li.queue.clone()?, medium: l.li.medium })
    }

    /// A live interaction by id.
    pub fn interaction(&self, id: &InteractionId) -> Option<&LiveInteraction> {
        self.live.get(id).map(|l| &l.li)
    }
}
