//! The broker: manages client and center data and the communication between clients and agents.
//!
//! Sans-IO: the host tells it about connections (`open_connection`, `handle_input`,
//! `handle_disconnect`) and time (`handle_timeout`), and drains `poll_transmit` and `poll_event`.
//! Agents are served through methods (`agent_*`) so that a program, a console or a test can play one.

pub mod auth;
pub mod center;
mod agents;
mod attachments;
mod calls;
mod callbacks;
mod config;
mod desk;
mod center_api;
mod connections;
mod fanout;
mod invitations;
pub mod mail;
mod persistence;
mod push;
mod requests;
mod routing;
mod session;
mod sessions;
mod typing;
pub mod store;

pub use crate::protocol::AgentEvent;
pub use config::BrokerConfig;
pub use session::{ConnId, Party, SessionKey};

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
    decode_body, request_id_of, AgentRequest, BrokerFrame, DecodeError, ErrorBody, ErrorCode, Event, InEnvelope, InKind, LiveWithTranscript,
    Outcome, Request, Response, SeatView, PROTOCOL_VERSION,
};
use crate::records::{Direction, HistoryFilter, InteractionRecord, Note, Order, OrderStatus, Outcome as RecordOutcome, Product, StatusChange};
use crate::status::{AgentState, ClientActivity, ClientStatus};
use crate::time::Timestamp;
use auth::{AuthError, Verifier};
use center::{Admission, BuiltinRouting, CenterAdapter};
use session::{AckHook, Cached, FastMap, Owed, Session, SessionId, Sessions};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
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
            MonitorError::UnknownPresentity(_) | MonitorError::UnknownInteraction(_) | MonitorError::UnknownAgent(_) | MonitorError::UnknownQueue(_) => {
                ErrorCode::NotFound
            }
            MonitorError::BadDocument(_) | MonitorError::BadHours(..) => ErrorCode::Invalid,
        };
        ErrorBody::new(code, e.to_string())
    }
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, msg)
}

/// Bytes to send on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Connection.
    pub conn: ConnId,
    /// One frame, shared with every other connection it goes to (a status change is encoded once).
    pub data: bytes::Bytes,
    /// Close the connection after sending this frame.
    pub close: bool,
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
    /// Mail became owed: the host's mailer should look at [`Broker::mail_due`].
    MailOwed,
    /// A callback was taken by an agent: the host's dialer should look at [`Broker::take_dials`].
    DialOwed,
    /// A callback being dialed or talked on ended in the app (the client cancelled, the agent
    /// ended it): the host's dialer hangs up its legs.
    DialCancelled {
        /// The callback.
        interaction: InteractionId,
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
    /// Something waits for a client with no attached session: the host wakes its device (one event
    /// per registered target, at most once per client per `push_interval`).
    Push {
        /// The client.
        client: ClientId,
        /// The device to wake.
        target: crate::push::PushTarget,
        /// Short title (who wrote, what happened).
        title: String,
        /// Text preview.
        body: String,
        /// The interaction concerned, for the app to open.
        interaction: Option<InteractionId>,
        /// What happened (with `interaction`, the collapse key: [`crate::push::collapse_key`]).
        kind: crate::push::PushKind,
    },
    /// An external watcher's subscription ended because the owner's rules now block it.
    WatchEnded {
        /// The watcher.
        watcher: WatcherId,
        /// The presentity.
        presentity: Presentity,
    },
}

/// Something due at a time; checked against the current state when it fires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Invitation(InvitationId),
    Offer(InteractionId),
    Mail(String),
    Callback(InteractionId),
}

/// Connections in reused slots. A connection id is its slot and the slot's generation, so the hot
/// paths reach a connection by indexing, and an id kept after its connection closed names nothing.
/// A slot holds the generation and the flags a fan-out reads beside a pointer to the rest, so the
/// fan-out's walk over a million connections reads 16 bytes each.
#[derive(Debug, Default)]
struct Conns {
    slots: Vec<(u32, ConnFlags, Option<Box<Conn>>)>,
    free: Vec<u32>,
    len: usize,
}

impl Conns {
    fn slot(id: ConnId) -> (usize, u32) {
        ((id & 0xffff_ffff) as usize, (id >> 32) as u32)
    }

    fn get(&self, id: &ConnId) -> Option<&Conn> {
        let (i, g) = Self::slot(*id);
        self.slots.get(i).filter(|s| s.0 == g)?.2.as_deref()
    }

    fn get_mut(&mut self, id: &ConnId) -> Option<&mut Conn> {
        self.get_all(id).map(|(_, c)| c)
    }

    /// The flags and the rest of a connection, to change.
    fn get_all(&mut self, id: &ConnId) -> Option<(&mut ConnFlags, &mut Conn)> {
        let (i, g) = Self::slot(*id);
        let s = self.slots.get_mut(i).filter(|s| s.0 == g)?;
        Some((&mut s.1, s.2.as_deref_mut()?))
    }

    /// The flags of a connection, to change, without touching the rest of it.
    fn flags(&mut self, id: &ConnId) -> Option<&mut ConnFlags> {
        let (i, g) = Self::slot(*id);
        let s = self.slots.get_mut(i).filter(|s| s.0 == g && s.2.is_some())?;
        Some(&mut s.1)
    }

    fn contains_key(&self, id: &ConnId) -> bool {
        self.get(id).is_some()
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Adds a connection, writable and not in the sending turn; its id (never 0, never one given before).
    fn insert(&mut self, c: Conn) -> ConnId {
        self.len += 1;
        let flags = ConnFlags { writable: true, queued: false, closed: false };
        match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.0 += 1;
                s.1 = flags;
                s.2 = Some(Box::new(c));
                ((s.0 as u64) << 32) | i as u64
            }
            None => {
                self.slots.push((1, flags, Some(Box::new(c))));
                (1u64 << 32) | (self.slots.len() - 1) as u64
            }
        }
    }

    fn remove(&mut self, id: &ConnId) -> Option<Conn> {
        let (i, g) = Self::slot(*id);
        let c = self.slots.get_mut(i).filter(|s| s.0 == g)?.2.take()?;
        self.len -= 1;
        self.free.push(i as u32);
        Some(*c)
    }
}

impl std::ops::Index<&ConnId> for Conns {
    type Output = Conn;
    fn index(&self, id: &ConnId) -> &Conn {
        self.get(id).expect("connection ids held by the broker are open")
    }
}

/// What decides whether a connection takes a frame now.
#[derive(Debug, Clone, Copy)]
struct ConnFlags {
    /// The host can send on it; while it cannot, presence updates coalesce.
    writable: bool,
    /// In the sending turn (`ready`) already.
    queued: bool,
    /// A closing frame is queued: nothing more goes.
    closed: bool,
}

#[derive(Debug)]
struct Conn {
    session: Option<SessionId>,
    outq: VecDeque<(bytes::Bytes, bool)>,
    bad_frames: u32,
}

#[derive(Debug, Clone)]
struct Seat {
    name: String,
    role: AgentRole,
    skills: Vec<ProductId>,
    media: Vec<Medium>,
    /// Taken by a console's session (it ends when the last console stays away past the grace
    /// period), not by an in-process host.
    remote: bool,
    state: AgentState,
    offer: Option<InteractionId>,
    active: BTreeSet<InteractionId>,
    /// The agent's phone (SIP URI) for callbacks.
    phone: Option<String>,
}

#[derive(Debug, Clone)]
struct Live {
    li: LiveInteraction,
    external: bool,
    offered: Option<(AgentId, Timestamp)>,
    declined_by: HashSet<AgentId>,
    chat_seq: u64,
    /// Highest client message an agent's console has acknowledged (receipts go out once).
    delivered_to_agent: u64,
    /// Call signalling messages relayed so far (bounded per call).
    signals: u32,
    /// Transfer notes, put on the history record when it ends.
    notes: Vec<Note>,
    /// Answered once already (a transfer's second answer is no new answer for the service level).
    answered: bool,
}

/// A presentity's latest document as frames: whole, and as a delta from the version before.
#[derive(Debug, Clone)]
struct StatusFrames {
    doc: Arc<crate::monitor::presence::PresenceDocument>,
    full: bytes::Bytes,
    delta: Option<(u64, bytes::Bytes)>,
}

/// One shared status frame and the idle connections it goes to, sent in list order.
#[derive(Debug)]
struct Fanned {
    data: bytes::Bytes,
    presentity: Presentity,
    conns: Vec<ConnId>,
    next: usize,
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
    conns: Conns,
    ready: VecDeque<ConnId>,
    /// Status frames decided in the fan-out for connections that had nothing else to send, each
    /// with its connections in order; sent before `ready`, so every connection keeps its order.
    fanned: VecDeque<Fanned>,
    /// Emptied connection lists of sent fan-outs, kept so the next change allocates nothing.
    spare: Vec<Vec<ConnId>>,
    sessions: Sessions,
    /// Invitation expiries and offer time-outs by when they are due.
    timers: BTreeSet<(Timestamp, Timer)>,
    /// Detached sessions by when they expire, so expiry is found without scanning every session.
    detached: BTreeSet<(Timestamp, SessionKey)>,
    /// The latest status frames of every presentity with watchers, encoded once for all of them.
    status: FastMap<Presentity, StatusFrames>,
    by_client: HashMap<ClientId, Vec<SessionKey>>,
    by_agent: HashMap<AgentId, Vec<SessionKey>>,
    /// Set while a request executes: distribution and persistence wait for the end of the input, so
    /// a mutation commits together with the answer that says it was applied.
    deferred: bool,
    /// Set between [`Broker::begin_batch`] and [`Broker::end_batch`]: inputs commit together.
    batch: bool,
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
    /// Mail owed to clients, by id, until the host's mailer delivers it.
    mail: BTreeMap<String, mail::OutboundMail>,
    dirty_mail: HashSet<String>,
    /// Presentities whose access rules changed since the last commit.
    dirty_rules: HashSet<Presentity>,
    /// Callbacks taken by agents whose dial the host has not yet taken.
    dials: BTreeSet<InteractionId>,
    /// Recent answers (when, waited) and abandons (when), for the wallboard's service level.
    sl: (VecDeque<(Timestamp, Duration)>, VecDeque<Timestamp>),
    /// Devices to wake by client, and when each client was last pushed.
    pushes: push::Pushes,
    store_error: Option<StoreError>,
    /// Typing notices passed on in the current second, by interaction and side (true: the agent's).
    typing: HashMap<(InteractionId, bool), (Timestamp, u32)>,
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
            conns: Conns::default(),
            ready: VecDeque::new(),
            fanned: VecDeque::new(),
            spare: Vec::new(),
            sessions: Sessions::default(),
            detached: BTreeSet::new(),
            timers: BTreeSet::new(),
            status: FastMap::default(),
            by_client: HashMap::new(),
            by_agent: HashMap::new(),
            deferred: false,
            batch: false,
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
            mail: BTreeMap::new(),
            dirty_mail: HashSet::new(),
            dirty_rules: HashSet::new(),
            dials: BTreeSet::new(),
            sl: (VecDeque::new(), VecDeque::new()),
            pushes: push::Pushes::default(),
            store_error: None,
            typing: HashMap::new(),
            counter: 0,
            now: Timestamp(0),
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

    pub(super) fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    /// Tells the status monitor about a change the broker itself made. The monitor tracks exactly
    /// what the broker does, so a refusal is a broker bug: loud in tests, never a panic in production.
    pub(super) fn tell_monitor(&mut self, event: CenterEvent) {
        let r = self.monitor.handle_center_event(self.now, event);
        debug_assert!(r.is_ok(), "the monitor refused the broker's own event: {r:?}");
    }

    pub(super) fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}-{}", self.now.as_millis(), self.counter)
    }



    /// Starts a group commit: what the inputs handled until [`end_batch`](Self::end_batch) change
    /// is made durable in one transaction there, instead of one per input. The host must not send
    /// anything from [`poll_transmit`](Self::poll_transmit) before `end_batch`, since those frames
    /// answer inputs that are not committed yet.
    pub fn begin_batch(&mut self) {
        self.batch = true;
    }

    /// Ends a group commit: everything since [`begin_batch`](Self::begin_batch) commits now.
    pub fn end_batch(&mut self) {
        self.batch = false;
        self.pump();
    }

    /// The next event for the host (agent consoles, presence of clients).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<BrokerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        // Timers of settled invitations and withdrawn offers stay until due: a spurious wake-up is
        // cheaper than finding them.
        let timers = self.timers.first().map(|(at, _)| *at);
        let sessions = self.detached.first().map(|(at, _)| *at);
        [timers, sessions, self.monitor.poll_timeout()].into_iter().flatten().min()
    }

    /// Expires invitations, offers and abandoned sessions, and refreshes hold-time figures.
    /// Early or spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        self.monitor.handle_timeout(now);
        while let Some((at, t)) = self.timers.first().cloned().filter(|(at, _)| *at <= now) {
            self.timers.remove(&(at, t.clone()));
            match t {
                Timer::Invitation(id) => {
                    if self.invitations.get(&id).is_some_and(|i| i.state == InvitationState::Pending && i.expires_at <= now) {
                        self.settle_invitation(&id, InvitationState::Expired);
                    }
                }
                Timer::Mail(id) => {
                    // A back-off or a lease ran out: the host's mailer takes what is due.
                    if self.mail.get(&id).is_some_and(|m| m.due <= now) {
                        self.events.push_back(BrokerEvent::MailOwed);
                    }
                }
                Timer::Callback(id) => self.callback_due(&id),
                Timer::Offer(id) => {
                    let late = self.live.get(&id).and_then(|l| l.offered.clone()).filter(|(_, since)| since.add(self.cfg.offer_ttl) <= now);
                    if let Some((agent, _)) = late {
                        self.withdraw_offer(&id, &agent, true);
                    }
                }
            }
        }
        let gone: Vec<SessionKey> =
            self.detached.iter().take_while(|(at, _)| *at <= now).map(|(_, k)| k.clone()).collect();
        for k in gone {
            self.drop_session(&k);
        }
        self.route();
        self.pump();
    }

}
