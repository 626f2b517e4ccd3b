//! The agent console state machine: what runs in an agent's desktop or a bot.
//!
//! [`AgentClient`] is to an agent what [`Client`](crate::client::Client) is to a customer: a typed,
//! sans-IO layer on the same reliable [`Session`] (requests go out once, in order, and are forgotten
//! only when answered; events are delivered once, in sequence order, and acknowledged — the client's
//! delivery receipt for a chat message goes out when the console acknowledges it).
//!
//! On top of the session it
//! - takes the seat by itself: `log_in` (with the name, skills and media it remembers) after every
//!   connect the broker did not resume, and `get_seat` after every connect, so the view is resynced
//!   after a reconnect, a broker restart or an app restart ([`AgentClient::restore`]);
//! - holds requests the app makes while the session is not up and sends them after that `log_in`, so
//!   `set_state(Available)` right after `start` works on a fresh session; on a resumed session they
//!   wait for the `get_seat` answer, and if the seat ended meanwhile (the broker's grace period) the
//!   console logs in again first. (Requests already sent before a drop are resent by the session
//!   ahead of these, as it must to keep their ids in order.);
//! - keeps an [`AgentView`]: the seat state, the current offer, live interactions with their
//!   transcripts (de-duplicated by message sequence), pending invitations, and delivery receipts.
//!
//! Request ids returned by the request methods are the console's own (they survive a save/restore);
//! their answers come back as [`AgentClientEvent::Completed`].

use crate::client::ClientConfig;
use crate::ids::{AgentId, ClientId, InteractionId, InvitationId, ProductId};
use crate::interaction::{ChatMessage, InteractionState, LiveInteraction};
use crate::invitation::{Invitation, InvitationState};
use crate::medium::Medium;
use crate::principal::AgentRole;
use crate::protocol::{AgentEvent, AgentRequest, DecodeError, ErrorBody, ErrorCode, Outcome, Response, SeatView};
use crate::records::HistoryFilter;
use crate::session::{Session, SessionEvent};
use crate::status::{AgentState, CenterStatus};
use crate::time::Timestamp;
use crate::typing::{Typing, TypingPeers, TypingThrottle};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Identifies a request made through the console; its answer comes back as
/// [`AgentClientEvent::Completed`] with the same id.
pub type AgentRequestId = u64;

/// Settings of an agent console.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Token, installation id and timings of the session (`watch_center` is ignored).
    pub session: ClientConfig,
    /// Display name sent with every automatic `log_in`.
    pub name: String,
    /// Products handled.
    pub skills: Vec<ProductId>,
    /// Media handled (at least one).
    pub media: Vec<Medium>,
}

impl AgentConfig {
    /// Defaults for a token, an installation id, a display name and the media handled.
    pub fn new(token: impl Into<String>, instance: u64, name: impl Into<String>, media: Vec<Medium>) -> Self {
        let mut session = ClientConfig::new(token, instance);
        session.watch_center = false;
        AgentConfig { session, name: name.into(), skills: vec![], media }
    }

    /// With products handled.
    pub fn with_skills(mut self, skills: Vec<ProductId>) -> Self {
        self.skills = skills;
        self
    }
}

/// What the console tells the app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentClientEvent {
    /// The session is up; `resumed` says whether it continued the previous one.
    Connected {
        /// Whether the broker still had the session.
        resumed: bool,
    },
    /// The connection dropped; the console retries by itself at `retry_at`.
    Disconnected {
        /// Next attempt.
        retry_at: Timestamp,
    },
    /// The broker refused the credential or version; the console stops until `set_token` and `start`.
    Rejected {
        /// Why.
        error: ErrorBody,
    },
    /// The seat (taken by the automatic `log_in` or re-read by `get_seat`) is in the view.
    Seated {
        /// The seat as the broker holds it.
        seat: SeatView,
    },
    /// A request was answered (already applied to the view).
    Completed {
        /// Request.
        id: AgentRequestId,
        /// Answer; as JSON `{"ok":…}` or `{"err":…}`, like the wire.
        #[serde(serialize_with = "as_outcome")]
        #[cfg_attr(feature = "schema", schemars(with = "Outcome"))]
        result: Result<Response, ErrorBody>,
    },
    /// The broker pushed an event (already applied to the view).
    Pushed {
        /// The event.
        event: AgentEvent,
    },
    /// A non-fatal problem: a frame or body that did not decode, or an automatic request refused
    /// (a `log_in` the broker turned down).
    ProtocolError {
        /// What went wrong.
        error: ErrorBody,
    },
    /// The client started or stopped typing in a chat (also when a notice expired).
    Typing {
        /// Interaction.
        interaction: InteractionId,
        /// Typing now.
        on: bool,
    },
}

fn as_outcome<S: serde::Serializer>(r: &Result<Response, ErrorBody>, s: S) -> Result<S::Ok, S::Error> {
    Outcome::from(r.clone()).serialize(s)
}

/// The console's local copy of its seat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentView {
    /// Who the broker says we are.
    pub agent: Option<AgentId>,
    /// Display name of the seat.
    pub name: Option<String>,
    /// Role of the seat.
    pub role: Option<AgentRole>,
    /// Media the seat handles.
    pub media: Vec<Medium>,
    /// State (`logged_out` until seated).
    pub state: AgentState,
    /// The interaction offered now.
    pub offer: Option<LiveInteraction>,
    /// Live interactions (and ended ones of this run), by id.
    pub interactions: BTreeMap<InteractionId, LiveInteraction>,
    /// Chat transcripts, by interaction, in sequence order, each message once.
    pub chats: BTreeMap<InteractionId, Vec<ChatMessage>>,
    /// Invitations sent or received, by id (pending ones, and ones settled during this run).
    pub invitations: BTreeMap<InvitationId, Invitation>,
    /// Chat messages of ours the client's app has received: (interaction, seq).
    pub delivered: BTreeSet<(InteractionId, u64)>,
    /// Latest center status read.
    pub center: Option<CenterStatus>,
    /// Messages of ours on email interactions that could not be mailed, with why: (interaction,
    /// seq) → reason.
    pub mail_failed: BTreeMap<(InteractionId, u64), String>,
    /// The client's read marks: our messages up to this seq are read, by interaction.
    pub read: BTreeMap<InteractionId, u64>,
    /// Where the client is typing now (soft state, not part of the serialized view).
    #[serde(skip)]
    pub typing: TypingPeers,
}

impl Default for AgentView {
    fn default() -> Self {
        AgentView {
            agent: None,
            name: None,
            role: None,
            media: vec![],
            state: AgentState::LoggedOut,
            offer: None,
            interactions: BTreeMap::new(),
            chats: BTreeMap::new(),
            invitations: BTreeMap::new(),
            delivered: BTreeSet::new(),
            center: None,
            mail_failed: BTreeMap::new(),
            read: BTreeMap::new(),
            typing: TypingPeers::default(),
        }
    }
}

impl AgentView {
    /// Connected interactions, oldest first.
    pub fn live(&self) -> impl Iterator<Item = &LiveInteraction> + '_ {
        let mut v: Vec<&LiveInteraction> = self.interactions.values().filter(|l| l.state == InteractionState::Connected).collect();
        v.sort_by_key(|l| l.created_at);
        v.into_iter()
    }

    /// The transcript of an interaction (empty if none seen).
    pub fn transcript(&self, interaction: &InteractionId) -> &[ChatMessage] {
        self.chats.get(interaction).map_or(&[], |v| v.as_slice())
    }

    /// Whether the client's app has received our message `seq` in `interaction`.
    pub fn is_delivered(&self, interaction: &InteractionId, seq: u64) -> bool {
        self.delivered.contains(&(interaction.clone(), seq))
    }

    /// Pending invitations, oldest first.
    pub fn pending_invitations(&self) -> impl Iterator<Item = &Invitation> + '_ {
        let mut v: Vec<&Invitation> = self.invitations.values().filter(|i| i.state == InvitationState::Pending).collect();
        v.sort_by_key(|i| i.created_at);
        v.into_iter()
    }

    /// Whether the client has read our message `seq` in `interaction`.
    pub fn is_read(&self, interaction: &InteractionId, seq: u64) -> bool {
        self.read.get(interaction).is_some_and(|r| *r >= seq)
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

    fn upsert_interaction(&mut self, li: &LiveInteraction) {
        self.note_read(&li.id, li.client_read);
        if li.state != InteractionState::Connected {
            self.typing.forget(&li.id);
        }
        // An answer can arrive after a newer pushed state; keep the further one.
        let newer = self.interactions.get(&li.id).is_some_and(|old| progress(old) > progress(li));
        if !newer {
            self.interactions.insert(li.id.clone(), li.clone());
        }
        if li.state != InteractionState::Connected && self.offer.as_ref().is_some_and(|o| o.id == li.id) && progress(li) > 0 {
            self.offer = None;
        }
    }

    fn apply_seat(&mut self, s: &SeatView) {
        self.agent = Some(s.agent.clone());
        self.name = Some(s.name.clone());
        self.role = Some(s.role);
        self.media = s.media.clone();
        self.state = s.state;
        self.offer = s.offer.clone();
        // What was connected here but is not in the seat any more ended or went back to its queue
        // while the console was away.
        let live: BTreeSet<&InteractionId> = s.live.iter().map(|l| &l.interaction.id).collect();
        self.interactions.retain(|id, l| l.state != InteractionState::Connected || live.contains(id));
        for l in &s.live {
            self.note_read(&l.interaction.id, l.interaction.client_read);
            self.interactions.insert(l.interaction.id.clone(), l.interaction.clone());
            for m in &l.transcript {
                self.add_chat(m.clone());
            }
        }
        let pending: BTreeSet<&InvitationId> = s.invitations.iter().map(|i| &i.id).collect();
        self.invitations.retain(|id, i| i.state != InvitationState::Pending || pending.contains(id));
        for i in &s.invitations {
            self.invitations.insert(i.id.clone(), i.clone());
        }
    }

    fn apply_event(&mut self, e: &AgentEvent) {
        match e {
            // Signalling is for the console's WebRTC stack, not the view.
            AgentEvent::Signal { .. } => {}
            AgentEvent::Transferred { interaction, from, .. } => {
                // Handed on by this agent: no longer its own (the offer to a target comes separately).
                if self.agent.as_ref() == Some(from) {
                    self.interactions.remove(interaction);
                    if !self.interactions.values().any(|l| l.state == InteractionState::Connected) && self.state == AgentState::Busy {
                        self.state = AgentState::Available;
                    }
                }
            }
            AgentEvent::Offered(li) => {
                self.offer = Some(li.clone());
                self.interactions.insert(li.id.clone(), li.clone());
            }
            AgentEvent::OfferWithdrawn(id) => {
                if self.offer.as_ref().is_some_and(|o| &o.id == id) {
                    self.offer = None;
                }
                if self.interactions.get(id).is_some_and(|l| l.state != InteractionState::Connected) {
                    self.interactions.remove(id);
                }
            }
            AgentEvent::Connected(li) => {
                if self.offer.as_ref().is_some_and(|o| o.id == li.id) {
                    self.offer = None;
                }
                self.upsert_interaction(li);
                self.state = AgentState::Busy;
            }
            AgentEvent::Ended(li) => {
                if self.offer.as_ref().is_some_and(|o| o.id == li.id) {
                    self.offer = None;
                }
                self.upsert_interaction(li);
            }
            AgentEvent::InvitationReceived(i) | AgentEvent::InvitationUpdated(i) => {
                self.invitations.insert(i.id.clone(), i.clone());
            }
            AgentEvent::Chat(m) => self.add_chat(m.clone()),
            AgentEvent::ChatDelivered { interaction, seq } => {
                self.delivered.insert((interaction.clone(), *seq));
            }
            AgentEvent::ChatRead { interaction, seq } => self.note_read(interaction, *seq),
            AgentEvent::MailFailed { interaction, seq, reason, .. } => {
                self.mail_failed.insert((interaction.clone(), *seq), reason.clone());
            }
            AgentEvent::DialFailed { interaction, side, .. } => {
                // Back in its queue (or ended): no longer this agent's.
                self.interactions.remove(interaction);
                if *side == crate::callback::CallSide::Agent {
                    self.state = AgentState::Away;
                }
            }
        }
    }

    fn apply_response(&mut self, req: &AgentRequest, r: &Response) {
        match (req, r) {
            (_, Response::Seat(s)) => self.apply_seat(s),
            (AgentRequest::SetState { state }, Response::Done) => self.state = *state,
            (AgentRequest::LogOut, Response::Done) => {
                self.state = AgentState::LoggedOut;
                self.offer = None;
                self.interactions.retain(|_, l| l.state != InteractionState::Connected);
                self.invitations.retain(|_, i| i.state != InvitationState::Pending);
            }
            (AgentRequest::Decline { interaction }, Response::Done) if self.offer.as_ref().is_some_and(|o| &o.id == interaction) => {
                self.offer = None;
            }
            (AgentRequest::Accept { .. }, Response::Interaction(li)) => {
                if self.offer.as_ref().is_some_and(|o| o.id == li.id) {
                    self.offer = None;
                }
                self.upsert_interaction(li);
                if li.state == InteractionState::Connected {
                    self.state = AgentState::Busy;
                }
            }
            (_, Response::Interaction(li)) => self.upsert_interaction(li),
            (_, Response::Invitation(i)) => {
                self.invitations.insert(i.id.clone(), i.clone());
            }
            (_, Response::Chat(m)) => self.add_chat(m.clone()),
            (AgentRequest::Transcript { interaction, .. }, Response::Transcript(v)) => {
                for m in v {
                    self.add_chat(m.clone());
                }
                self.chats.entry(interaction.clone()).or_default();
            }
            (_, Response::CenterStatus(c)) => self.center = Some(c.clone()),
            _ => {}
        }
    }
}

fn progress(li: &LiveInteraction) -> u8 {
    match li.state {
        InteractionState::Queued { .. } => 0,
        InteractionState::Connected => 1,
        InteractionState::Ended { .. } => 2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Purpose {
    /// The app asked; answered as `Completed` with the app's id.
    App(AgentRequestId),
    /// The automatic `log_in`.
    Login,
    /// The automatic `get_seat`.
    Sync,
}

/// What the console attaches to each queued request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    req: AgentRequest,
    purpose: Purpose,
}

/// What a console must keep across an app restart so nothing queued is lost: save it and pass it to
/// [`AgentClient::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSavedState {
    instance: u64,
    next_id: u64,
    last_seq: u64,
    pending: BTreeMap<u64, Pending>,
    held: Vec<(AgentRequestId, AgentRequest)>,
    next_app_id: AgentRequestId,
    name: String,
    skills: Vec<ProductId>,
    media: Vec<Medium>,
    seated: bool,
}

/// The agent console state machine: a [`Session`] for reliability, with typed agent requests, the
/// automatic log-in, and a local view of the seat.
#[derive(Debug)]
pub struct AgentClient {
    session: Session<Pending>,
    name: String,
    skills: Vec<ProductId>,
    media: Vec<Medium>,
    /// Whether the console wants a seat (false after `log_out`, until `log_in`).
    seated: bool,
    /// App requests made while the session was not up: they go after the automatic log-in.
    held: VecDeque<(AgentRequestId, AgentRequest)>,
    /// Set on a resumed session until the seat was re-read: app requests are held meanwhile.
    gated: bool,
    next_app_id: AgentRequestId,
    events: VecDeque<AgentClientEvent>,
    view: AgentView,
    throttle: TypingThrottle,
}

fn body(req: &AgentRequest) -> String {
    serde_json::to_string(req).expect("requests always serialize")
}

fn malformed(what: &str, e: serde_json::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Malformed, format!("{what}: {e}"))
}

impl AgentClient {
    /// A console that has not connected yet; call [`start`](Self::start).
    pub fn new(cfg: AgentConfig) -> Self {
        AgentClient {
            session: Session::new(cfg.session),
            name: cfg.name,
            skills: cfg.skills,
            media: cfg.media,
            seated: true,
            held: VecDeque::new(),
            gated: false,
            next_app_id: 1,
            events: VecDeque::new(),
            view: AgentView::default(),
            throttle: TypingThrottle::default(),
        }
    }

    /// A console that continues where a saved one stopped (same installation, queued requests kept;
    /// the saved name, skills and media win over the config's).
    pub fn restore(cfg: AgentConfig, saved: AgentSavedState) -> Self {
        let mut scfg = cfg.session;
        scfg.instance = saved.instance;
        let mut events = VecDeque::new();
        let mut pending = vec![];
        for (id, p) in saved.pending {
            let b = body(&p.req);
            match scfg.check_request_size(&b) {
                Err(e) => {
                    if let Purpose::App(app) = p.purpose {
                        events.push_back(AgentClientEvent::Completed { id: app, result: Err(e) });
                    }
                }
                Ok(()) => pending.push((id, b, p)),
            }
        }
        AgentClient {
            session: Session::restore(scfg, saved.next_id, saved.last_seq, pending),
            name: saved.name,
            skills: saved.skills,
            media: saved.media,
            seated: saved.seated,
            held: saved.held.into_iter().collect(),
            gated: false,
            next_app_id: saved.next_app_id.max(1),
            events,
            view: AgentView::default(),
            throttle: TypingThrottle::default(),
        }
    }

    /// What to keep across an app restart.
    pub fn save(&self) -> AgentSavedState {
        AgentSavedState {
            instance: self.session.config().instance,
            next_id: self.session.next_id(),
            last_seq: self.session.last_seq(),
            pending: self.session.pending().map(|(id, _, p)| (id, p.clone())).collect(),
            held: self.held.iter().cloned().collect(),
            next_app_id: self.next_app_id,
            name: self.name.clone(),
            skills: self.skills.clone(),
            media: self.media.clone(),
            seated: self.seated,
        }
    }

    /// The local view.
    pub fn view(&self) -> &AgentView {
        &self.view
    }

    /// Whether a session with the broker is up.
    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// App requests not yet answered, oldest first (a UI shows these as "sending").
    pub fn pending_requests(&self) -> Vec<(AgentRequestId, AgentRequest)> {
        let mut v: Vec<(AgentRequestId, AgentRequest)> = self
            .session
            .pending()
            .filter_map(|(_, _, p)| match p.purpose {
                Purpose::App(id) => Some((id, p.req.clone())),
                _ => None,
            })
            .collect();
        v.extend(self.held.iter().cloned());
        v
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

    /// The transport closed or failed; the console retries with backoff.
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
            self.events.push_back(AgentClientEvent::Typing { interaction, on: false });
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
    pub fn poll_event(&mut self) -> Option<AgentClientEvent> {
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

    fn drain(&mut self) -> Option<ErrorBody> {
        let mut bad = None;
        while let Some(e) = self.session.poll_event() {
            if let Err(e) = self.on_session_event(e) {
                self.events.push_back(AgentClientEvent::ProtocolError { error: e.clone() });
                bad.get_or_insert(e);
            }
        }
        bad
    }

    fn on_session_event(&mut self, e: SessionEvent<Pending>) -> Result<(), ErrorBody> {
        match e {
            SessionEvent::Connected { client, resumed } => self.on_welcome(client, resumed),
            SessionEvent::Disconnected { retry_at } => self.events.push_back(AgentClientEvent::Disconnected { retry_at }),
            SessionEvent::Rejected(error) => self.events.push_back(AgentClientEvent::Rejected { error }),
            SessionEvent::Answered { id: _, tag: p, outcome } => {
                let result: Result<Response, ErrorBody> = match serde_json::from_str::<Outcome>(&outcome) {
                    Ok(o) => o.into(),
                    Err(e) => Err(malformed("answer", e)),
                };
                if let Ok(r) = &result {
                    self.view.apply_response(&p.req, r);
                }
                match p.purpose {
                    Purpose::App(id) => {
                        if let Ok(Response::Seat(seat)) = &result {
                            self.events.push_back(AgentClientEvent::Seated { seat: seat.clone() });
                        }
                        self.events.push_back(AgentClientEvent::Completed { id, result });
                    }
                    Purpose::Login | Purpose::Sync => {
                        match result {
                            Ok(Response::Seat(seat)) => self.events.push_back(AgentClientEvent::Seated { seat }),
                            Err(e) if p.purpose == Purpose::Sync && e.code == ErrorCode::Conflict => {
                                // No seat: the grace period ended it while the console was away (the
                                // session itself resumed), so take it again. A console that logged out
                                // has none to re-read: nothing to report.
                                if self.seated {
                                    self.log_in_again();
                                }
                            }
                            Err(error) => self.events.push_back(AgentClientEvent::ProtocolError { error }),
                            Ok(_) => {}
                        }
                        if p.purpose == Purpose::Sync {
                            self.release_held();
                        }
                    }
                }
            }
            SessionEvent::Event(text) => {
                let event: AgentEvent = serde_json::from_str(&text).map_err(|e| malformed("event", e))?;
                self.view.apply_event(&event);
                if matches!(event, AgentEvent::Ended(_)) {
                    // The seat's state after an interaction (after-work, available) is not pushed.
                    self.resync();
                }
                self.events.push_back(AgentClientEvent::Pushed { event });
            }
            // Agents watch nothing; a broker that sends these anyway is ignored.
            SessionEvent::Status(_) | SessionEvent::Delta(_) | SessionEvent::WatchEnded(_) => {}
            SessionEvent::ProtocolError(error) => self.events.push_back(AgentClientEvent::ProtocolError { error }),
            SessionEvent::Typing(text) => {
                let t: Typing = serde_json::from_str(&text).map_err(|e| malformed("typing", e))?;
                if self.view.interactions.contains_key(&t.interaction) && self.view.typing.note(self.session.now(), &t) {
                    self.events.push_back(AgentClientEvent::Typing { interaction: t.interaction, on: t.on });
                }
            }
        }
        Ok(())
    }

    fn on_welcome(&mut self, agent: ClientId, resumed: bool) {
        self.view.agent = Some(AgentId(agent.0));
        if !resumed && self.seated {
            self.log_in_again();
        }
        self.resync();
        if resumed && self.seated {
            // The seat may have ended while away: requests wait for the re-read (and a new log-in).
            self.gated = true;
        } else {
            self.release_held();
        }
        self.events.push_back(AgentClientEvent::Connected { resumed });
    }

    fn log_in_again(&mut self) {
        if !self.session.pending().any(|(_, _, p)| matches!(p.req, AgentRequest::LogIn { .. })) {
            let req = AgentRequest::LogIn { name: self.name.clone(), skills: self.skills.clone(), media: self.media.clone() };
            self.push_internal(req, Purpose::Login);
        }
    }

    /// Sends the app requests held while the session was not up (or while the seat was re-read).
    fn release_held(&mut self) {
        self.gated = false;
        while let Some((id, req)) = self.held.pop_front() {
            self.push(id, req);
        }
    }

    fn resync(&mut self) {
        if !self.session.pending().any(|(_, _, p)| p.purpose == Purpose::Sync) {
            self.push_internal(AgentRequest::GetSeat, Purpose::Sync);
        }
    }

    fn push_internal(&mut self, req: AgentRequest, purpose: Purpose) {
        let b = body(&req);
        if let Err(error) = self.session.enqueue(b, Pending { req, purpose }) {
            self.events.push_back(AgentClientEvent::ProtocolError { error });
        }
    }

    fn push(&mut self, id: AgentRequestId, req: AgentRequest) {
        let b = body(&req);
        if let Err(e) = self.session.enqueue(b, Pending { req, purpose: Purpose::App(id) }) {
            self.events.push_back(AgentClientEvent::Completed { id, result: Err(e) });
        }
    }

    /// Sends any agent request; it waits while offline (and, on a fresh session, until the automatic
    /// log-in went out) and goes out once, in order. A request too large for a frame is answered at
    /// once with `too_large`.
    pub fn request(&mut self, req: AgentRequest) -> AgentRequestId {
        let id = self.next_app_id;
        self.next_app_id += 1;
        match &req {
            AgentRequest::LogIn { name, skills, media } => {
                self.name = name.clone();
                self.skills = skills.clone();
                self.media = media.clone();
                self.seated = true;
            }
            AgentRequest::LogOut => self.seated = false,
            _ => {}
        }
        if self.session.is_connected() && !self.gated {
            self.push(id, req);
        } else if let Err(e) = self.session.config().check_request_size(&body(&req)) {
            self.events.push_back(AgentClientEvent::Completed { id, result: Err(e) });
        } else {
            self.held.push_back((id, req));
        }
        id
    }

    /// Takes the seat (or joins it); remembered for every later automatic log-in.
    pub fn log_in(&mut self, name: impl Into<String>, skills: Vec<ProductId>, media: Vec<Medium>) -> AgentRequestId {
        self.request(AgentRequest::LogIn { name: name.into(), skills, media })
    }

    /// Leaves the seat; no automatic log-in until [`log_in`](Self::log_in).
    pub fn log_out(&mut self) -> AgentRequestId {
        self.request(AgentRequest::LogOut)
    }

    /// Re-reads the seat.
    pub fn get_seat(&mut self) -> AgentRequestId {
        self.request(AgentRequest::GetSeat)
    }

    /// Changes state.
    pub fn set_state(&mut self, state: AgentState) -> AgentRequestId {
        self.request(AgentRequest::SetState { state })
    }

    /// Sets the phone (a SIP URI) the center's dialer rings for the callbacks this agent takes.
    pub fn set_phone(&mut self, phone: Option<String>) -> AgentRequestId {
        self.request(AgentRequest::SetPhone { phone })
    }

    /// Invites a client.
    pub fn invite(&mut self, client: ClientId, medium: Medium, message: impl Into<String>) -> AgentRequestId {
        self.request(AgentRequest::Invite { client, medium, message: message.into() })
    }

    /// Answers a client's invitation.
    pub fn respond_invitation(&mut self, invitation: InvitationId, accept: bool) -> AgentRequestId {
        self.request(AgentRequest::RespondInvitation { invitation, accept })
    }

    /// Accepts an offered interaction.
    pub fn accept(&mut self, interaction: InteractionId) -> AgentRequestId {
        self.request(AgentRequest::Accept { interaction })
    }

    /// Declines an offered interaction.
    pub fn decline(&mut self, interaction: InteractionId) -> AgentRequestId {
        self.request(AgentRequest::Decline { interaction })
    }

    /// Sends a chat message (stored once, however often the connection drops).
    pub fn send_chat(&mut self, interaction: InteractionId, text: impl Into<String>) -> AgentRequestId {
        self.request(AgentRequest::SendChat { interaction, text: text.into() })
    }

    /// Marks the client's messages read up to `seq` (call it while the chat is on screen); the
    /// client sees `chat_read`. Marks at or below one already made change nothing.
    pub fn mark_read(&mut self, interaction: InteractionId, seq: u64) -> AgentRequestId {
        self.request(AgentRequest::MarkRead { interaction, seq })
    }

    /// Tells the client the agent is typing (`on`) or stopped; call it on every keystroke, it goes
    /// out at most every couple of seconds. Soft state: dropped when offline, never queued.
    /// Returns whether a notice was sent; `not_found` for an interaction this console does not hold.
    pub fn send_typing(&mut self, now: Timestamp, interaction: &InteractionId, on: bool) -> Result<bool, ErrorBody> {
        if !self.view.interactions.get(interaction).is_some_and(|l| l.state == InteractionState::Connected) {
            return Err(ErrorBody::new(ErrorCode::NotFound, format!("no connected interaction {interaction}")));
        }
        Ok(self.throttle.admit(now, interaction, on) && self.session.send_soft(Typing::frame(interaction, on)))
    }

    /// Ends an interaction.
    pub fn end(&mut self, interaction: InteractionId) -> AgentRequestId {
        self.request(AgentRequest::End { interaction })
    }

    /// Reads a served client's profile.
    pub fn client_profile(&mut self, client: ClientId) -> AgentRequestId {
        self.request(AgentRequest::ClientProfile { client })
    }

    /// Reads a served client's history.
    pub fn client_history(&mut self, client: ClientId, filter: HistoryFilter) -> AgentRequestId {
        self.request(AgentRequest::ClientHistory { client, filter })
    }

    /// Reads a served client's orders.
    pub fn client_orders(&mut self, client: ClientId) -> AgentRequestId {
        self.request(AgentRequest::ClientOrders { client })
    }

    /// Adds a note to a past interaction the agent handled.
    pub fn add_note(&mut self, interaction: InteractionId, text: impl Into<String>) -> AgentRequestId {
        self.request(AgentRequest::AddNote { interaction, text: text.into() })
    }

    /// Reads center status.
    pub fn center_status(&mut self) -> AgentRequestId {
        self.request(AgentRequest::CenterStatus)
    }

    /// Sends a call signalling message to the client of a connected voice or video interaction;
    /// the client's come as `AgentEvent::Signal`.
    pub fn signal(&mut self, interaction: InteractionId, signal: crate::call::CallSignal) -> AgentRequestId {
        self.request(AgentRequest::Signal { interaction, signal })
    }

    /// Hands a connected interaction to another agent or a queue, with a note for the next agent.
    pub fn transfer(&mut self, interaction: InteractionId, to: crate::protocol::TransferTarget, note: Option<String>) -> AgentRequestId {
        self.request(AgentRequest::Transfer { interaction, to, note })
    }

    /// Records how an interaction this agent ended went (an outcome of the center's list), once.
    pub fn wrap_up(&mut self, interaction: InteractionId, outcome: impl Into<String>, note: Option<String>) -> AgentRequestId {
        self.request(AgentRequest::WrapUp { interaction, outcome: outcome.into(), note })
    }

    /// Reads the wallboard (supervisors only; others get `forbidden`).
    pub fn wallboard(&mut self) -> AgentRequestId {
        self.request(AgentRequest::Wallboard)
    }

    /// Reads the STUN/TURN servers for a connected call (TURN credentials minted for it).
    pub fn ice_servers(&mut self, interaction: InteractionId) -> AgentRequestId {
        self.request(AgentRequest::IceServers { interaction })
    }

    /// Reads the newest messages of an interaction the agent handles.
    pub fn transcript(&mut self, interaction: InteractionId) -> AgentRequestId {
        self.transcript_page(interaction, None, None)
    }

    /// Reads a page of an interaction's transcript: the newest `limit` messages numbered below
    /// `before`; the view merges it with what it holds.
    pub fn transcript_page(&mut self, interaction: InteractionId, before: Option<u64>, limit: Option<u32>) -> AgentRequestId {
        self.request(AgentRequest::Transcript { interaction, before, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::auth::StaticTokens;
    use crate::broker::{Broker, ConnId};
    use crate::client::{Client, ClientEvent};
    use crate::interaction::Author;
    use crate::principal::Principal;
    use crate::protocol::Event;

    const T0: Timestamp = Timestamp(1_795_597_200_000);

    /// A broker, one agent console and one customer, joined in memory; the test can cut the
    /// console's connection and lose frames on their way to it.
    struct Net {
        b: Broker,
        agent: AgentClient,
        aconn: Option<ConnId>,
        agent_online: bool,
        /// Frames from the broker to the console are dropped while set.
        lose_to_agent: bool,
        client: Client,
        cconn: Option<ConnId>,
        now: Timestamp,
        aev: Vec<AgentClientEvent>,
        cev: Vec<ClientEvent>,
    }

    fn broker() -> Broker {
        let tokens = StaticTokens::new()
            .with("tok-alice", Principal::Client("alice".into()))
            .with("tok-ann", Principal::Agent("ann".into(), AgentRole::Agent));
        let mut b = Broker::new(tokens);
        b.configure_queue(T0, "support".into(), "Support", vec!["router".into()], vec![Medium::Chat]);
        b
    }

    fn ann() -> AgentConfig {
        AgentConfig::new("tok-ann", 7, "Ann", vec![Medium::Chat]).with_skills(vec!["router".into()])
    }

    impl Net {
        fn new(agent: AgentClient) -> Self {
            let mut n = Net {
                b: broker(),
                agent,
                aconn: None,
                agent_online: true,
                lose_to_agent: false,
                client: Client::new(ClientConfig::new("tok-alice", 1)),
                cconn: None,
                now: T0,
                aev: vec![],
                cev: vec![],
            };
            n.agent.start(T0);
            n.client.start(T0);
            n.run();
            n
        }

        fn run(&mut self) {
            let now = self.now;
            for _ in 0..1000 {
                let mut moved = false;
                if self.agent.poll_connect() {
                    moved = true;
                    if let Some(c) = self.aconn.take() {
                        self.b.handle_disconnect(now, c);
                    }
                    if self.agent_online {
                        self.aconn = Some(self.b.open_connection(now));
                        self.agent.handle_connected(now);
                    } else {
                        self.agent.handle_disconnected(now);
                    }
                }
                if self.client.poll_connect() {
                    moved = true;
                    self.cconn = Some(self.b.open_connection(now));
                    self.client.handle_connected(now);
                }
                while let Some(f) = self.agent.poll_transmit() {
                    moved = true;
                    if let Some(c) = self.aconn {
                        self.b.handle_input(now, c, &f);
                    }
                }
                while let Some(f) = self.client.poll_transmit() {
                    moved = true;
                    if let Some(c) = self.cconn {
                        self.b.handle_input(now, c, &f);
                    }
                }
                while let Some(t) = self.b.poll_transmit() {
                    moved = true;
                    if Some(t.conn) == self.aconn {
                        if !self.lose_to_agent {
                            self.agent.handle_input(now, &t.data).expect("broker frames decode");
                        }
                    } else if Some(t.conn) == self.cconn {
                        self.client.handle_input(now, &t.data).expect("broker frames decode");
                    }
                }
                while let Some(e) = self.agent.poll_event() {
                    moved = true;
                    self.aev.push(e);
                }
                while let Some(e) = self.client.poll_event() {
                    moved = true;
                    self.cev.push(e);
                }
                while self.b.poll_event().is_some() {}
                if !moved {
                    return;
                }
            }
            panic!("the network does not settle");
        }

        /// Cuts the console's connection; it stays offline until `reconnect_agent`.
        fn drop_agent(&mut self) {
            self.agent_online = false;
            if let Some(c) = self.aconn.take() {
                self.b.handle_disconnect(self.now, c);
            }
            self.agent.handle_disconnected(self.now);
            self.run();
        }

        fn reconnect_agent(&mut self) {
            self.agent_online = true;
            self.lose_to_agent = false;
            self.advance(60_000);
        }

        fn advance(&mut self, ms: u64) {
            let until = Timestamp(self.now.0 + ms);
            loop {
                let next = [self.agent.poll_timeout(), self.client.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().filter(|t| *t <= until).min();
                let Some(t) = next else { break };
                self.now = self.now.max(t);
                self.agent.handle_timeout(self.now);
                self.client.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.run();
                if t >= until {
                    break;
                }
            }
            self.now = until;
            self.run();
        }

        fn agent_answer(&mut self, id: AgentRequestId) -> Result<Response, ErrorBody> {
            self.run();
            self.aev
                .iter()
                .find_map(|e| match e {
                    AgentClientEvent::Completed { id: i, result } if *i == id => Some(result.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no answer to agent request {id}"))
        }

        fn agent_chats(&self) -> Vec<String> {
            self.aev
                .iter()
                .filter_map(|e| match e {
                    AgentClientEvent::Pushed { event: AgentEvent::Chat(m) } => Some(m.text.clone()),
                    _ => None,
                })
                .collect()
        }

        /// The customer starts a chat; the console, available, gets the offer and accepts it.
        fn connected_chat(&mut self) -> InteractionId {
            let r = self.agent.set_state(AgentState::Available);
            assert_eq!(self.agent_answer(r), Ok(Response::Done));
            self.client.start_interaction(Medium::Chat, Some("router".into()), None, Some("red light".into()));
            self.run();
            let offer = self.agent.view().offer.clone().expect("the console sees the offer");
            let a = self.agent.accept(offer.id.clone());
            assert!(matches!(self.agent_answer(a), Ok(Response::Interaction(li)) if li.state == InteractionState::Connected));
            assert_eq!(self.agent.view().state, AgentState::Busy);
            assert!(self.agent.view().offer.is_none());
            offer.id
        }
    }

    #[test]
    fn a_console_logs_in_by_itself_and_requests_made_before_the_welcome_follow_the_log_in() {
        let mut agent = AgentClient::new(ann());
        // Made before any connection: held, then sent after the automatic log-in.
        let early = agent.set_state(AgentState::Available);
        let mut n = Net::new(agent);
        assert_eq!(n.agent_answer(early), Ok(Response::Done));
        assert!(n.aev.iter().any(|e| matches!(e, AgentClientEvent::Connected { resumed: false })));
        assert!(n.aev.iter().any(|e| matches!(e, AgentClientEvent::Seated { seat } if seat.name == "Ann")));
        let v = n.agent.view();
        assert_eq!(v.agent, Some(AgentId::from("ann")));
        assert_eq!(v.state, AgentState::Available);
        assert_eq!(v.role, Some(AgentRole::Agent));
        assert!(!n.aev.iter().any(|e| matches!(e, AgentClientEvent::ProtocolError { .. })), "{:?}", n.aev);
    }

    #[test]
    fn customer_messages_sent_while_the_console_is_away_arrive_once_in_order_after_the_reconnect() {
        let mut n = Net::new(AgentClient::new(ann()));
        let ix = n.connected_chat();
        n.drop_agent();
        for t in ["m1", "m2", "m3"] {
            n.client.send_chat(ix.clone(), t);
        }
        n.run();
        assert!(n.agent_chats().is_empty());
        n.reconnect_agent();
        assert!(n.aev.iter().any(|e| matches!(e, AgentClientEvent::Connected { resumed: true })));
        assert_eq!(n.agent_chats(), ["m1", "m2", "m3"]);
        let texts: Vec<&str> = n.agent.view().transcript(&ix).iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["m1", "m2", "m3"]);
        // The console acknowledged them: the customer has its receipts, once each.
        let receipts: Vec<u64> = n
            .cev
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Pushed(Event::ChatDelivered { seq, .. }) => Some(*seq),
                _ => None,
            })
            .collect();
        assert_eq!(receipts, [1, 2, 3]);
        // A later drop and reconnect replays nothing already acknowledged.
        n.drop_agent();
        n.reconnect_agent();
        assert_eq!(n.agent_chats().len(), 3);
    }

    #[test]
    fn a_send_chat_whose_answer_was_lost_is_retried_and_stored_once() {
        let mut n = Net::new(AgentClient::new(ann()));
        let ix = n.connected_chat();
        n.lose_to_agent = true;
        let id = n.agent.send_chat(ix.clone(), "hello alice");
        n.run();
        // The broker stored it, but its answer never reached the console.
        assert!(!n.aev.iter().any(|e| matches!(e, AgentClientEvent::Completed { id: i, .. } if *i == id)));
        n.drop_agent();
        n.reconnect_agent();
        let Ok(Response::Chat(m)) = n.agent_answer(id) else { panic!("send_chat not answered") };
        assert_eq!(m.text, "hello alice");
        assert_eq!(n.aev.iter().filter(|e| matches!(e, AgentClientEvent::Completed { id: i, .. } if *i == id)).count(), 1);
        let t = n.agent.transcript(ix.clone());
        let Ok(Response::Transcript(msgs)) = n.agent_answer(t) else { panic!("no transcript") };
        assert_eq!(msgs.iter().filter(|m| m.text == "hello alice").count(), 1);
        assert_eq!(n.agent.view().transcript(&ix).len(), 1);
        // The customer got it once, and the console got the receipt.
        let got = n.cev.iter().filter(|e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.from == Author::Agent("ann".into()))).count();
        assert_eq!(got, 1);
        assert!(n.agent.view().is_delivered(&ix, m.seq));
    }

    #[test]
    fn a_restored_console_resyncs_its_seat_and_sends_what_was_queued() {
        let mut n = Net::new(AgentClient::new(ann()));
        let ix = n.connected_chat();
        n.drop_agent();
        let queued = n.agent.send_chat(ix.clone(), "sorry, I was away");
        let saved = n.agent.save();
        let json = serde_json::to_string(&saved).unwrap();
        n.agent = AgentClient::restore(ann(), serde_json::from_str(&json).unwrap());
        n.agent.start(n.now);
        n.reconnect_agent();
        assert!(matches!(n.agent_answer(queued), Ok(Response::Chat(_))));
        let v = n.agent.view();
        assert_eq!(v.state, AgentState::Busy);
        assert_eq!(v.live().map(|l| l.id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&ix));
        assert_eq!(v.transcript(&ix).len(), 1);
        let e = n.agent.end(ix.clone());
        assert!(matches!(n.agent_answer(e), Ok(Response::Interaction(li)) if matches!(li.state, InteractionState::Ended { .. })));
        assert_eq!(n.agent.view().live().count(), 0);
    }

    #[test]
    fn a_refused_automatic_log_in_is_reported_and_answers_keep_the_wire_shape() {
        // No media: the broker refuses the seat; the console says so and the session goes on.
        let mut n = Net::new(AgentClient::new(AgentConfig::new("tok-ann", 9, "Ann", vec![])));
        assert!(n.aev.iter().any(|e| matches!(e, AgentClientEvent::ProtocolError { error } if error.code == ErrorCode::Invalid)), "{:?}", n.aev);
        let r = n.agent.set_state(AgentState::Available);
        assert!(matches!(n.agent_answer(r), Err(e) if e.code == ErrorCode::Conflict));
        let done = AgentClientEvent::Completed { id: 3, result: Ok(Response::Done) };
        assert_eq!(serde_json::to_string(&done).unwrap(), r#"{"type":"completed","id":3,"result":{"ok":{"kind":"done"}}}"#);
        let failed = AgentClientEvent::Completed { id: 4, result: Err(ErrorBody::new(ErrorCode::Conflict, "x")) };
        assert_eq!(serde_json::to_string(&failed).unwrap(), r#"{"type":"completed","id":4,"result":{"err":{"code":"conflict","message":"x"}}}"#);
        let ok = n.agent.log_in("Ann", vec![], vec![Medium::Chat]);
        assert!(matches!(n.agent_answer(ok), Ok(Response::Seat(_))));
        assert_eq!(n.agent.view().state, AgentState::Away);
    }

    #[test]
    fn a_console_away_longer_than_the_seat_grace_period_takes_its_seat_again() {
        let mut n = Net::new(AgentClient::new(ann()));
        let ix = n.connected_chat();
        n.drop_agent();
        // Away past the grace period: the broker ends the seat and requeues the chat; the session stays.
        n.advance(120_000);
        let queued = n.agent.set_state(AgentState::Away);
        n.reconnect_agent();
        // Whether the broker kept the session (the re-read finds no seat) or dropped it with the seat
        // (a fresh session), the console logs in again, then sends what was queued.
        assert!(n.aev.iter().filter(|e| matches!(e, AgentClientEvent::Seated { .. })).count() >= 2);
        assert_eq!(n.agent_answer(queued), Ok(Response::Done));
        assert!(!n.aev.iter().any(|e| matches!(e, AgentClientEvent::ProtocolError { .. })), "{:?}", n.aev);
        let v = n.agent.view();
        assert_eq!(v.state, AgentState::Away);
        assert!(v.live().all(|l| l.id != ix), "the requeued chat is not live here any more");
    }

    #[test]
    fn on_a_resumed_session_without_a_seat_requests_wait_for_the_new_log_in() {
        let mut a = AgentClient::new(ann());
        a.start(T0);
        assert!(a.poll_connect());
        a.handle_connected(T0);
        let ops = |a: &mut AgentClient| -> Vec<(u64, String)> {
            std::iter::from_fn(|| a.poll_transmit())
                .filter_map(|f| {
                    let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
                    (v["t"] == "request").then(|| (v["id"].as_u64().unwrap(), v["req"]["op"].as_str().unwrap().to_owned()))
                })
                .collect()
        };
        let _ = ops(&mut a);
        a.handle_input(T0, br#"{"t":"welcome","v":1,"client":"ann","resumed":true,"role":"agent"}"#).unwrap();
        let state = a.set_state(AgentState::Available);
        let sent = ops(&mut a);
        assert_eq!(sent.iter().map(|(_, op)| op.as_str()).collect::<Vec<_>>(), ["get_seat"]);
        let refusal = format!(r#"{{"t":"response","id":{},"outcome":{{"err":{{"code":"conflict","message":"agent ann is not logged in; log in first"}}}}}}"#, sent[0].0);
        a.handle_input(T0, refusal.as_bytes()).unwrap();
        let sent = ops(&mut a);
        assert_eq!(sent.iter().map(|(_, op)| op.as_str()).collect::<Vec<_>>(), ["log_in", "set_state"]);
        assert!(std::iter::from_fn(|| a.poll_event()).all(|e| !matches!(e, AgentClientEvent::ProtocolError { .. } | AgentClientEvent::Completed { .. })));
        assert!(a.pending_requests().iter().any(|(id, _)| *id == state));
    }

    #[test]
    fn a_logged_out_console_does_not_log_in_again_by_itself() {
        let mut n = Net::new(AgentClient::new(ann()));
        let out = n.agent.log_out();
        assert_eq!(n.agent_answer(out), Ok(Response::Done));
        assert_eq!(n.agent.view().state, AgentState::LoggedOut);
        n.drop_agent();
        n.b = broker(); // a broker that forgot the session: the next one is fresh
        n.cconn = None;
        n.reconnect_agent();
        assert_eq!(n.agent.view().state, AgentState::LoggedOut);
        let back = n.agent.log_in("Ann B", vec![], vec![Medium::Chat]);
        assert!(matches!(n.agent_answer(back), Ok(Response::Seat(s)) if s.name == "Ann B"));
        assert_eq!(n.agent.view().state, AgentState::Away);
    }
}
