//! The agent console for Kotlin, Swift and Python: `FrontdeskAgent.connect(url, token, instance, name,
//! media, listener)` runs [`AgentClient`](frontdesk_core::agent::AgentClient) over WebSocket.
//!
//! One library thread per console runs a single-threaded tokio runtime: it owns the socket, takes the
//! console's lock for one turn at a time (due timers, frames read, connect requests, frames to
//! write), releases it and then calls the listener, so a listener may call back into the console.
//! App calls only take the lock to queue a request or copy the view, then wake the thread.

use crate::error::{ErrorInfo, FrontdeskError};
use crate::events::{AgentEvent, AgentSeat, ListenerError, Response};
use crate::runtime::wall_clock;
use crate::types::{AgentState, CenterStatus, ChatMessage, HistoryFilter, Invitation, LiveInteraction, Medium};
use frontdesk_core as fc;
use frontdesk_core::agent::{AgentClient, AgentClientEvent, AgentConfig, AgentRequestId};
use frontdesk_core::transport::{Connector, Transport};
use frontdesk_core::Timestamp;
use frontdesk_net::ws::WsConnector;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Answers kept for `wait`; older ones are dropped so an app that never waits leaks nothing.
const RESULTS_KEPT: usize = 1024;
/// A dial that gets no answer is given up after this long (then the console backs off and retries).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A copy of the console's local view.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgentView {
    /// Who the broker says we are.
    pub agent_id: Option<String>,
    /// Whether the session is up.
    pub connected: bool,
    /// Display name of the seat.
    pub name: Option<String>,
    /// State (`LoggedOut` until seated).
    pub state: AgentState,
    /// Media the seat handles.
    pub media: Vec<Medium>,
    /// The interaction offered now.
    pub offer: Option<LiveInteraction>,
    /// Connected interactions, oldest first.
    pub live: Vec<LiveInteraction>,
    /// Every interaction seen in this run (ended ones too).
    pub interactions: Vec<LiveInteraction>,
    /// Pending invitations, oldest first.
    pub invitations: Vec<Invitation>,
    /// Latest center status read.
    pub center: Option<CenterStatus>,
}

fn view_of(a: &AgentClient) -> AgentView {
    let v = a.view();
    AgentView {
        agent_id: v.agent.as_ref().map(|x| x.0.clone()),
        connected: a.is_connected(),
        name: v.name.clone(),
        state: v.state.into(),
        media: v.media.iter().copied().map(Into::into).collect(),
        offer: v.offer.clone().map(Into::into),
        live: v.live().cloned().map(Into::into).collect(),
        interactions: v.interactions.values().cloned().map(Into::into).collect(),
        invitations: v.pending_invitations().cloned().map(Into::into).collect(),
        center: v.center.clone().map(Into::into),
    }
}

/// What the console tells the app; already applied to the view when it arrives.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AgentConsoleEvent {
    /// The session is up; `resumed` says whether it continued the previous one.
    Connected {
        /// Whether the broker still had the session.
        resumed: bool,
    },
    /// The connection dropped; the console retries by itself.
    Disconnected {
        /// Next attempt (ms since the epoch).
        retry_at_ms: u64,
    },
    /// The network failed (a dial refused or timed out, a connection that broke); comes just before
    /// the `Disconnected` it causes.
    TransportError {
        /// The URL dialled.
        url: String,
        /// The cause.
        message: String,
    },
    /// The broker refused the token; connect again with a new one.
    Rejected {
        /// Why.
        error: ErrorInfo,
    },
    /// The console took (or re-read) its seat: after every connect.
    Seated {
        /// The seat.
        seat: AgentSeat,
    },
    /// A request succeeded.
    Completed {
        /// The id its method returned.
        request_id: u64,
        /// Answer.
        response: Response,
    },
    /// A request failed.
    Failed {
        /// The id its method returned.
        request_id: u64,
        /// Why.
        error: ErrorInfo,
    },
    /// The broker pushed an event (offers, connections, chat, receipts, invitations).
    Pushed {
        /// The event.
        event: AgentEvent,
    },
    /// A frame or answer that did not decode, or an automatic log-in the broker refused.
    ProtocolError {
        /// What went wrong.
        error: ErrorInfo,
    },
    /// The client started or stopped typing (also when a notice expired).
    Typing {
        /// Interaction.
        interaction_id: String,
        /// Typing now.
        on: bool,
    },
}

impl AgentConsoleEvent {
    /// The variant's name, for messages about a listener that failed on it.
    fn kind(&self) -> &'static str {
        match self {
            AgentConsoleEvent::Connected { .. } => "Connected",
            AgentConsoleEvent::Disconnected { .. } => "Disconnected",
            AgentConsoleEvent::TransportError { .. } => "TransportError",
            AgentConsoleEvent::Rejected { .. } => "Rejected",
            AgentConsoleEvent::Seated { .. } => "Seated",
            AgentConsoleEvent::Completed { .. } => "Completed",
            AgentConsoleEvent::Failed { .. } => "Failed",
            AgentConsoleEvent::Pushed { .. } => "Pushed",
            AgentConsoleEvent::ProtocolError { .. } => "ProtocolError",
            AgentConsoleEvent::Typing { .. } => "Typing",
        }
    }
}

/// Receives a console's events, in order, on the library's thread (hop to the UI thread for views).
#[uniffi::export(with_foreign)]
pub trait AgentListener: Send + Sync {
    /// One event; must return quickly. An exception thrown here is logged (Python: the `frontdesk`
    /// logger; elsewhere stderr) and the next event still comes.
    fn on_event(&self, event: AgentConsoleEvent) -> Result<(), ListenerError>;
}

enum Inbound {
    Up(u64),
    Frame(u64, Vec<u8>),
    /// The connection of that generation is gone, and why.
    Down(u64, String),
}

enum Msg {
    Wake,
    Stop,
}

struct State {
    agent: AgentClient,
    listener: Option<Arc<dyn AgentListener>>,
    results: HashMap<u64, Result<Response, ErrorInfo>>,
    order: VecDeque<u64>,
    seated: bool,
    rejected: Option<ErrorInfo>,
    stopped: bool,
    hang_up: bool,
}

struct Shared {
    st: Mutex<State>,
    changed: Condvar,
}

fn lock(sh: &Shared) -> MutexGuard<'_, State> {
    sh.st.lock().unwrap_or_else(|e| e.into_inner())
}

/// An agent console connected to a broker server.
#[derive(uniffi::Object)]
pub struct FrontdeskAgent {
    sh: Arc<Shared>,
    tx: UnboundedSender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl FrontdeskAgent {
    fn with<R>(&self, f: impl FnOnce(&mut AgentClient) -> R) -> Result<R, FrontdeskError> {
        let mut st = lock(&self.sh);
        if st.stopped {
            return Err(FrontdeskError::Closed { message: "this agent console was shut down".into() });
        }
        let r = f(&mut st.agent);
        drop(st);
        let _ = self.tx.send(Msg::Wake);
        Ok(r)
    }

    fn read<R>(&self, f: impl FnOnce(&AgentClient) -> R) -> R {
        f(&lock(&self.sh).agent)
    }

    fn wait_for<R>(&self, timeout: Duration, what: &str, mut f: impl FnMut(&mut State) -> Option<R>) -> Result<R, FrontdeskError> {
        if std::thread::current().id() == self.thread_id {
            return Err(FrontdeskError::Invalid { message: format!("waiting for {what} inside a listener would deadlock") });
        }
        let end = std::time::Instant::now() + timeout;
        let mut st = lock(&self.sh);
        loop {
            if let Some(r) = f(&mut st) {
                return Ok(r);
            }
            if st.stopped {
                return Err(FrontdeskError::Closed { message: "this agent console was shut down".into() });
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(FrontdeskError::Timeout { message: format!("no {what} within {} ms", timeout.as_millis()) });
            }
            st = self.sh.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Drop for FrontdeskAgent {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[uniffi::export]
impl FrontdeskAgent {
    /// Connects an agent console to a broker server at a `ws://` or `wss://` URL (e.g.
    /// `ws://10.0.2.2:8080/agent`); `instance` names the console installation (keep it so the session
    /// resumes). Returns at once; the console logs in as `name` handling `media` after every connect
    /// the broker did not resume, re-reads its seat after every connect, and reports to `listener`.
    /// `extra_roots_pem` as for `FrontdeskClient.connect`.
    #[uniffi::constructor(default(extra_roots_pem = None))]
    pub fn connect(
        url: String,
        token: String,
        instance: u64,
        name: String,
        media: Vec<Medium>,
        listener: Arc<dyn AgentListener>,
        extra_roots_pem: Option<String>,
    ) -> Result<Arc<Self>, FrontdeskError> {
        let url = crate::network::endpoint_url(&url, "/agent")?;
        let connector = crate::network::connector(&url, extra_roots_pem)?;
        if name.trim().is_empty() || media.is_empty() {
            return Err(FrontdeskError::Invalid { message: "an agent needs a display name and at least one medium".into() });
        }
        let mut agent = AgentClient::new(AgentConfig::new(token, instance, name, media.into_iter().map(Into::into).collect()));
        agent.start(wall_clock());
        let sh = Arc::new(Shared {
            st: Mutex::new(State {
                agent,
                listener: Some(listener),
                results: HashMap::new(),
                order: VecDeque::new(),
                seated: false,
                rejected: None,
                stopped: false,
                hang_up: false,
            }),
            changed: Condvar::new(),
        });
        let (tx, rx) = unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FrontdeskError::Internal { message: format!("cannot start the network thread: {e}") })?;
        let sh2 = sh.clone();
        let thread = std::thread::Builder::new()
            .name("frontdesk-agent".into())
            .spawn(move || rt.block_on(run(sh2, connector, url, rx)))
            .map_err(|e| FrontdeskError::Internal { message: format!("cannot start the network thread: {e}") })?;
        let thread_id = thread.thread().id();
        Ok(Arc::new(FrontdeskAgent { sh, tx, thread: Mutex::new(Some(thread)), thread_id }))
    }

    /// Closes the connection and stops the thread (unless called from the listener: then it ends when
    /// the listener returns). The seat stays on the broker for its grace period. Later calls throw `Closed`.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        if std::thread::current().id() == self.thread_id {
            return;
        }
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }

    /// Whether the session is up.
    pub fn is_connected(&self) -> bool {
        self.read(|a| a.is_connected())
    }

    /// A copy of the local view.
    pub fn view(&self) -> AgentView {
        self.read(view_of)
    }

    /// The transcript of an interaction as known locally (each message once, in order).
    pub fn transcript(&self, interaction_id: String) -> Vec<ChatMessage> {
        self.read(|a| a.view().transcript(&fc::InteractionId(interaction_id)).iter().cloned().map(Into::into).collect())
    }

    /// Whether the client's app has received our message `seq` in an interaction.
    pub fn is_delivered(&self, interaction_id: String, seq: u64) -> bool {
        self.read(|a| a.view().is_delivered(&fc::InteractionId(interaction_id), seq))
    }

    /// Blocks until request `request_id` is answered; throws its error. For scripts and tests.
    pub fn wait(&self, request_id: u64, timeout_ms: u64) -> Result<Response, FrontdeskError> {
        self.wait_for(Duration::from_millis(timeout_ms), &format!("answer to request {request_id}"), |st| {
            let r = st.results.remove(&request_id)?;
            st.order.retain(|x| *x != request_id);
            Some(r)
        })?
        .map_err(Into::into)
    }

    /// Blocks until the console has its seat, or throws why not (e.g. `Unauthenticated`).
    pub fn wait_seated(&self, timeout_ms: u64) -> Result<AgentView, FrontdeskError> {
        self.wait_for(Duration::from_millis(timeout_ms), "seat", |st| match &st.rejected {
            Some(e) => Some(Err(FrontdeskError::from(e.clone()))),
            None => st.seated.then(|| Ok(view_of(&st.agent))),
        })?
    }

    /// Takes the seat (or joins it); remembered for every later automatic log-in.
    pub fn log_in(&self, name: String, skills: Vec<String>, media: Vec<Medium>) -> Result<u64, FrontdeskError> {
        self.with(|a| a.log_in(name, skills.into_iter().map(fc::ProductId).collect(), media.into_iter().map(Into::into).collect()))
    }

    /// Leaves the seat; no automatic log-in until `log_in`.
    pub fn log_out(&self) -> Result<u64, FrontdeskError> {
        self.with(|a| a.log_out())
    }

    /// Re-reads the seat (answered with `Response.Seat`).
    pub fn get_seat(&self) -> Result<u64, FrontdeskError> {
        self.with(|a| a.get_seat())
    }

    /// Changes state (`Available` to take offers).
    pub fn set_state(&self, state: AgentState) -> Result<u64, FrontdeskError> {
        self.with(|a| a.set_state(state.into()))
    }

    /// Sets the phone (a SIP URI) the center's dialer rings for the callbacks this agent takes.
    pub fn set_phone(&self, phone: Option<String>) -> Result<u64, FrontdeskError> {
        self.with(|a| a.set_phone(phone))
    }

    /// Invites a client.
    pub fn invite(&self, client_id: String, medium: Medium, message: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.invite(fc::ClientId(client_id), medium.into(), message))
    }

    /// Answers a client's invitation.
    pub fn respond_invitation(&self, invitation_id: String, accept: bool) -> Result<u64, FrontdeskError> {
        self.with(|a| a.respond_invitation(fc::InvitationId(invitation_id), accept))
    }

    /// Accepts an offered interaction.
    pub fn accept(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.accept(fc::InteractionId(interaction_id)))
    }

    /// Declines an offered interaction.
    pub fn decline(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.decline(fc::InteractionId(interaction_id)))
    }

    /// Sends a chat message (stored once, however often the connection drops).
    pub fn send_chat(&self, interaction_id: String, text: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.send_chat(fc::InteractionId(interaction_id), text))
    }

    /// Marks the client's messages read up to `seq`; the client sees `ChatRead`.
    pub fn mark_read(&self, interaction_id: String, seq: u64) -> Result<u64, FrontdeskError> {
        self.with(|a| a.mark_read(fc::InteractionId(interaction_id), seq))
    }

    /// Tells the client the agent is typing (`on`) or stopped; call it on every keystroke, a notice
    /// goes out at most every couple of seconds. Returns whether one went out (none while offline).
    pub fn send_typing(&self, interaction_id: String, on: bool) -> Result<bool, FrontdeskError> {
        Ok(self.with(|a| a.send_typing(crate::runtime::wall_clock(), &fc::InteractionId(interaction_id), on))??)
    }

    /// Ends an interaction.
    pub fn end(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.end(fc::InteractionId(interaction_id)))
    }

    /// Hands a connected interaction to another agent (`to_agent`) or a queue (`to_queue`; exactly one).
    pub fn transfer(&self, interaction_id: String, to_agent: Option<String>, to_queue: Option<String>, note: Option<String>) -> Result<u64, FrontdeskError> {
        let to = match (to_agent, to_queue) {
            (Some(a), None) => fc::protocol::TransferTarget::Agent(fc::AgentId(a)),
            (None, Some(q)) => fc::protocol::TransferTarget::Queue(fc::QueueId(q)),
            _ => return Err(FrontdeskError::Invalid { message: "transfer: name either an agent or a queue".into() }),
        };
        self.with(|a| a.transfer(fc::InteractionId(interaction_id), to, note))
    }

    /// Records how an ended interaction went (an outcome of the center's list), once.
    pub fn wrap_up(&self, interaction_id: String, outcome: String, note: Option<String>) -> Result<u64, FrontdeskError> {
        self.with(|a| a.wrap_up(fc::InteractionId(interaction_id), outcome, note))
    }

    /// Reads the wallboard (supervisors only), answered as `Response::Wallboard`.
    pub fn wallboard(&self) -> Result<u64, FrontdeskError> {
        self.with(|a| a.wallboard())
    }

    /// Reads a served client's profile.
    pub fn client_profile(&self, client_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.client_profile(fc::ClientId(client_id)))
    }

    /// Reads a served client's history.
    pub fn client_history(&self, client_id: String, filter: HistoryFilter) -> Result<u64, FrontdeskError> {
        self.with(|a| a.client_history(fc::ClientId(client_id), filter.into()))
    }

    /// Reads a served client's orders, newest first.
    pub fn client_orders(&self, client_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.client_orders(fc::ClientId(client_id)))
    }

    /// Adds a note to a past interaction the agent handled.
    pub fn add_note(&self, interaction_id: String, text: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.add_note(fc::InteractionId(interaction_id), text))
    }

    /// Reads center status.
    pub fn center_status(&self) -> Result<u64, FrontdeskError> {
        self.with(|a| a.center_status())
    }

    /// Reads the transcript of an interaction the agent handles from the broker.
    pub fn get_transcript(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.transcript(fc::InteractionId(interaction_id)))
    }

    /// Sends a call signalling message to the client of a connected voice or video interaction;
    /// the client's arrive as `AgentEvent::Signal`.
    pub fn signal(&self, interaction_id: String, signal: crate::call::CallSignal) -> Result<u64, FrontdeskError> {
        self.with(|a| a.signal(fc::InteractionId(interaction_id), signal.into()))
    }

    /// Reads STUN/TURN servers for a connected call.
    pub fn ice_servers(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.with(|a| a.ice_servers(fc::InteractionId(interaction_id)))
    }

    /// Reads a page of an interaction's transcript: the newest `limit` messages numbered below
    /// `before`.
    pub fn get_transcript_page(&self, interaction_id: String, before: Option<u64>, limit: Option<u32>) -> Result<u64, FrontdeskError> {
        self.with(|a| a.transcript_page(fc::InteractionId(interaction_id), before, limit))
    }
}

fn convert(st: &mut State, e: AgentClientEvent) -> AgentConsoleEvent {
    match e {
        AgentClientEvent::Connected { resumed } => AgentConsoleEvent::Connected { resumed },
        AgentClientEvent::Disconnected { retry_at } => AgentConsoleEvent::Disconnected { retry_at_ms: retry_at.as_millis() },
        AgentClientEvent::Rejected { error } => {
            let error: ErrorInfo = error.into();
            st.rejected = Some(error.clone());
            AgentConsoleEvent::Rejected { error }
        }
        AgentClientEvent::Seated { seat } => {
            st.seated = true;
            AgentConsoleEvent::Seated { seat: seat.into() }
        }
        AgentClientEvent::Completed { id, result } => {
            let r = result.map(Response::from).map_err(ErrorInfo::from);
            keep(st, id, r.clone());
            match r {
                Ok(response) => AgentConsoleEvent::Completed { request_id: id, response },
                Err(error) => AgentConsoleEvent::Failed { request_id: id, error },
            }
        }
        AgentClientEvent::Pushed { event } => AgentConsoleEvent::Pushed { event: event.into() },
        AgentClientEvent::ProtocolError { error } => AgentConsoleEvent::ProtocolError { error: error.into() },
        AgentClientEvent::Typing { interaction, on } => AgentConsoleEvent::Typing { interaction_id: interaction.0, on },
    }
}

fn keep(st: &mut State, id: AgentRequestId, r: Result<Response, ErrorInfo>) {
    if st.order.len() >= RESULTS_KEPT {
        if let Some(old) = st.order.pop_front() {
            st.results.remove(&old);
        }
    }
    st.results.insert(id, r);
    st.order.push_back(id);
}

/// What one turn produced, in order: console events still to convert, and network failures.
enum Out {
    Console(AgentClientEvent),
    Note(AgentConsoleEvent),
}

struct Io {
    connector: WsConnector,
    url: String,
    gen: u64,
    out: Option<UnboundedSender<Vec<u8>>>,
    inbox: UnboundedSender<Inbound>,
}

impl Io {
    fn hang_up(&mut self) {
        self.out = None;
        self.gen += 1;
    }

    fn dial(&mut self) {
        self.hang_up();
        let (out, out_rx) = unbounded_channel();
        tokio::spawn(connection(self.gen, self.connector.clone(), out_rx, self.inbox.clone()));
        self.out = Some(out);
    }

    /// Runs the console at `now` until it has nothing more to do; returns its next deadline. Network
    /// failures go to `notes`, each after the console events that came before it.
    fn turn(&mut self, st: &mut State, inbound: &mut Vec<Inbound>, out: &mut Vec<Out>) -> Option<Timestamp> {
        let now = wall_clock();
        if std::mem::take(&mut st.hang_up) {
            self.hang_up();
        }
        let a = &mut st.agent;
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        loop {
            let mut moved = false;
            for x in inbound.drain(..) {
                moved = true;
                match x {
                    Inbound::Up(g) if g == self.gen => a.handle_connected(now),
                    // A malformed frame is reported by the console itself (protocol_error) and dropped.
                    Inbound::Frame(g, data) if g == self.gen => drop(a.handle_input(now, &data)),
                    Inbound::Down(g, why) if g == self.gen => {
                        self.out = None;
                        out.extend(std::iter::from_fn(|| a.poll_event()).map(Out::Console));
                        out.push(Out::Note(AgentConsoleEvent::TransportError { url: self.url.clone(), message: why }));
                        a.handle_disconnected(now);
                    }
                    _ => {}
                }
            }
            if a.poll_connect() {
                moved = true;
                self.dial();
            }
            while let Some(f) = a.poll_transmit() {
                moved = true;
                if let Some(o) = &self.out {
                    let _ = o.send(f);
                }
            }
            if !moved {
                return a.poll_timeout();
            }
        }
    }
}

async fn run(sh: Arc<Shared>, connector: WsConnector, url: String, mut rx: UnboundedReceiver<Msg>) {
    let (inbox, mut inbound_rx) = unbounded_channel();
    let mut io = Io { connector, url, gen: 0, out: None, inbox };
    let mut inbound = Vec::new();
    loop {
        while let Ok(x) = inbound_rx.try_recv() {
            inbound.push(x);
        }
        let (calls, deadline, listener) = {
            let mut st = lock(&sh);
            let mut out = vec![];
            let deadline = io.turn(&mut st, &mut inbound, &mut out);
            out.extend(std::iter::from_fn(|| st.agent.poll_event()).map(Out::Console));
            let calls: Vec<AgentConsoleEvent> = out
                .into_iter()
                .map(|o| match o {
                    Out::Console(e) => convert(&mut st, e),
                    Out::Note(n) => n,
                })
                .collect();
            (calls, deadline, st.listener.clone())
        };
        sh.changed.notify_all();
        if let Some(l) = listener {
            for ev in calls {
                let kind = ev.kind();
                // A listener that throws (or a Rust listener that panics) must not stop the console.
                crate::runtime::report_listener_failure(kind, std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_event(ev))));
            }
        }
        let wait = deadline.map_or(Duration::from_secs(3600), |t| Duration::from_millis(t.0.saturating_sub(wall_clock().0).max(1)));
        tokio::select! {
            m = rx.recv() => match m {
                Some(Msg::Wake) => {}
                Some(Msg::Stop) | None => break,
            },
            Some(x) = inbound_rx.recv() => inbound.push(x),
            _ = tokio::time::sleep(wait) => {}
        }
    }
    io.hang_up();
    let mut st = lock(&sh);
    st.stopped = true;
    // The listener may hold the console object; dropping it here breaks that cycle.
    st.listener = None;
    drop(st);
    sh.changed.notify_all();
}

/// One connection: dials, then moves frames both ways until either side ends it.
async fn connection(g: u64, mut connector: WsConnector, mut out: UnboundedReceiver<Vec<u8>>, inbox: UnboundedSender<Inbound>) {
    let Transport { mut sender, mut receiver } = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect()).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            let _ = inbox.send(Inbound::Down(g, format!("cannot connect: {e}")));
            return;
        }
        Err(_) => {
            let _ = inbox.send(Inbound::Down(g, format!("cannot connect: no answer within {} s", CONNECT_TIMEOUT.as_secs())));
            return;
        }
    };
    let _ = inbox.send(Inbound::Up(g));
    loop {
        tokio::select! {
            f = out.recv() => match f {
                Some(f) => {
                    if let Err(e) = sender.send(f).await {
                        let _ = inbox.send(Inbound::Down(g, format!("cannot send: {e}")));
                        return;
                    }
                }
                None => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sender.close()).await;
                    return;
                }
            },
            r = receiver.recv() => match r {
                Ok(data) => {
                    let _ = inbox.send(Inbound::Frame(g, data));
                }
                Err(e) => {
                    let _ = inbox.send(Inbound::Down(g, format!("connection lost: {e}")));
                    return;
                }
            },
        }
    }
}
