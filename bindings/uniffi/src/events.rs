//! What reaches the app: client events through a foreign-implemented listener, and request answers.

use crate::error::ErrorInfo;
use crate::types::*;
use frontdesk_core as fc;
use frontdesk_core::broker::AgentEvent as CoreAgentEvent;
use frontdesk_core::client::ClientEvent as CoreEvent;
use frontdesk_core::protocol::{Event, Response as CoreResponse};

/// The successful answer to a request.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Response {
    /// Nothing to return.
    Done,
    /// The own profile.
    Profile {
        /// Profile as stored.
        profile: ClientProfile,
    },
    /// History records, newest first.
    History {
        /// Records.
        records: Vec<InteractionRecord>,
    },
    /// One history record (after adding a note).
    Record {
        /// Record.
        record: InteractionRecord,
    },
    /// The product catalogue.
    Products {
        /// Products.
        products: Vec<Product>,
    },
    /// The own orders.
    Orders {
        /// Orders.
        orders: Vec<Order>,
    },
    /// One order (after a delivery edit).
    OrderResult {
        /// Order.
        order: Order,
    },
    /// Center status.
    Center {
        /// Status.
        status: CenterStatus,
    },
    /// A watch started; its presence follows as events.
    Watching {
        /// Presentity in wire form ("center", "agent:ann").
        presentity: String,
    },
    /// Watchers of the own status.
    Watchers {
        /// Their principals in display form.
        watchers: Vec<String>,
    },
    /// An alert subscription was made.
    AlertSubscribed {
        /// Its id, for `unsubscribe_alert`.
        alert_id: String,
    },
    /// An invitation (sent, accepted or declined).
    InvitationResult {
        /// Invitation.
        invitation: Invitation,
    },
    /// A live interaction (started).
    Interaction {
        /// Interaction.
        interaction: LiveInteraction,
    },
    /// A chat message as stored.
    Chat {
        /// Message.
        message: ChatMessage,
    },
    /// A transcript.
    Transcript {
        /// Messages in order.
        messages: Vec<ChatMessage>,
    },
    /// The own live interactions (their transcripts are in the view's chats).
    Live {
        /// Interactions, oldest first.
        interactions: Vec<LiveInteraction>,
    },
    /// An agent's seat (an agent console's `log_in` and `get_seat`).
    Seat {
        /// The seat.
        seat: AgentSeat,
    },
    /// STUN/TURN servers for a call.
    IceServers {
        /// Servers, TURN credentials minted for this call.
        servers: Vec<crate::call::IceServer>,
    },
    /// The supervisor's wallboard, as the wire's JSON (queues, agents, service level).
    Wallboard {
        /// The wallboard's JSON.
        json: String,
    },
    /// Another answer this API does not model.
    Other {
        /// The answer as JSON text.
        json: String,
    },
}

/// The seat as the broker holds it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgentSeat {
    /// Agent id.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// Whether the agent is a supervisor.
    pub supervisor: bool,
    /// Media handled.
    pub media: Vec<Medium>,
    /// State.
    pub state: AgentState,
    /// The interaction offered now.
    pub offer: Option<LiveInteraction>,
    /// Connected interactions, oldest first.
    pub live: Vec<LiveInteraction>,
    /// Invitations waiting for an answer.
    pub invitations: Vec<Invitation>,
}

impl From<frontdesk_core::protocol::SeatView> for AgentSeat {
    fn from(s: fc::protocol::SeatView) -> Self {
        AgentSeat {
            agent_id: s.agent.0,
            name: s.name,
            supervisor: s.role == frontdesk_core::principal::AgentRole::Supervisor,
            media: s.media.into_iter().map(Into::into).collect(),
            state: s.state.into(),
            offer: s.offer.map(Into::into),
            live: s.live.into_iter().map(|l| l.interaction.into()).collect(),
            invitations: s.invitations.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<CoreResponse> for Response {
    fn from(r: CoreResponse) -> Self {
        let all = |v: Vec<_>| v.into_iter().map(Into::into).collect();
        match r {
            CoreResponse::Done => Response::Done,
            CoreResponse::Profile(p) => Response::Profile { profile: p.into() },
            CoreResponse::History(v) => Response::History { records: v.into_iter().map(Into::into).collect() },
            CoreResponse::Record(x) => Response::Record { record: x.into() },
            CoreResponse::Products(v) => Response::Products { products: v.into_iter().map(Into::into).collect() },
            CoreResponse::Orders(v) => Response::Orders { orders: all(v) },
            CoreResponse::Order(o) => Response::OrderResult { order: o.into() },
            CoreResponse::CenterStatus(c) => Response::Center { status: c.into() },
            CoreResponse::Presence(d) => Response::Watching { presentity: d.entity.to_string() },
            CoreResponse::Watchers(v) => Response::Watchers { watchers: v.iter().map(|w| fc::protocol::describe(&w.principal)).collect() },
            CoreResponse::Alert(a) => Response::AlertSubscribed { alert_id: a.0 },
            CoreResponse::Invitation(i) => Response::InvitationResult { invitation: i.into() },
            CoreResponse::Interaction(l) => Response::Interaction { interaction: l.into() },
            CoreResponse::Chat(m) => Response::Chat { message: m.into() },
            CoreResponse::Transcript(v) => Response::Transcript { messages: v.into_iter().map(Into::into).collect() },
            CoreResponse::Live(v) => Response::Live { interactions: v.into_iter().map(|l| l.interaction.into()).collect() },
            CoreResponse::Seat(s) => Response::Seat { seat: s.into() },
            CoreResponse::IceServers(v) => Response::IceServers { servers: v.into_iter().map(Into::into).collect() },
            CoreResponse::Wallboard(w) => Response::Wallboard { json: serde_json::to_string(&w).unwrap_or_default() },
        }
    }
}

/// Something the client tells the app; already applied to the view when it arrives.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ClientEvent {
    /// The session is up; `resumed` says whether it continued the previous one.
    Connected {
        /// Whether the broker still had the session.
        resumed: bool,
    },
    /// The connection dropped; the client retries by itself.
    Disconnected {
        /// Next attempt (ms since the epoch).
        retry_at_ms: u64,
    },
    /// The network failed: a dial was refused or timed out, or a connection broke. Comes just before
    /// the `Disconnected` it causes (a network client only: in memory nothing can fail this way).
    TransportError {
        /// The URL dialled.
        url: String,
        /// The cause ("cannot connect: … Connection refused").
        message: String,
    },
    /// The broker refused the token or version; call `authenticate` with a new token.
    Rejected {
        /// Why.
        error: ErrorInfo,
    },
    /// Profile, orders, products and center status are loaded into the view.
    Synced,
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
    /// The profile changed (edited on another device or by the center).
    ProfileChanged {
        /// New profile.
        profile: ClientProfile,
    },
    /// An order changed.
    OrderChanged {
        /// New order.
        order: Order,
    },
    /// A history record was added or changed.
    HistoryChanged {
        /// Record.
        record: InteractionRecord,
    },
    /// A status alert fired.
    Alert {
        /// What fired.
        fired: AlertFired,
    },
    /// An invitation arrived or changed state.
    InvitationChanged {
        /// Invitation.
        invitation: Invitation,
    },
    /// A live interaction changed (queue position, connected, ended).
    InteractionChanged {
        /// Interaction.
        interaction: LiveInteraction,
    },
    /// A chat message arrived (from the agent, or from another device of the client).
    ChatReceived {
        /// Message.
        message: ChatMessage,
    },
    /// The agent received a chat message the client sent.
    ChatDelivered {
        /// Interaction.
        interaction_id: String,
        /// Message sequence.
        seq: u64,
    },
    /// The agent has read the client's messages up to `seq`.
    ChatRead {
        /// Interaction.
        interaction_id: String,
        /// Highest message read.
        seq: u64,
    },
    /// The agent started or stopped typing (also when a notice expired).
    Typing {
        /// Interaction.
        interaction_id: String,
        /// Typing now.
        on: bool,
    },
    /// A call signalling message from the agent, for the app's WebRTC stack.
    Signal {
        /// Interaction.
        interaction_id: String,
        /// The message.
        signal: crate::call::CallSignal,
    },
    /// Center status changed.
    CenterStatusChanged {
        /// New status.
        status: CenterStatus,
    },
    /// Another watched presentity changed; read details from the view.
    PresenceChanged {
        /// Presentity in wire form.
        presentity: String,
    },
    /// A watch ended because the owner now blocks it.
    WatchEnded {
        /// Presentity in wire form.
        presentity: String,
    },
    /// The broker reported a non-fatal problem.
    ProtocolError {
        /// What.
        error: ErrorInfo,
    },
}

impl ClientEvent {
    /// The variant's name, for messages about a listener that failed on it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ClientEvent::Connected { .. } => "Connected",
            ClientEvent::Disconnected { .. } => "Disconnected",
            ClientEvent::TransportError { .. } => "TransportError",
            ClientEvent::Rejected { .. } => "Rejected",
            ClientEvent::Synced => "Synced",
            ClientEvent::Completed { .. } => "Completed",
            ClientEvent::Failed { .. } => "Failed",
            ClientEvent::ProfileChanged { .. } => "ProfileChanged",
            ClientEvent::OrderChanged { .. } => "OrderChanged",
            ClientEvent::HistoryChanged { .. } => "HistoryChanged",
            ClientEvent::Alert { .. } => "Alert",
            ClientEvent::InvitationChanged { .. } => "InvitationChanged",
            ClientEvent::InteractionChanged { .. } => "InteractionChanged",
            ClientEvent::ChatReceived { .. } => "ChatReceived",
            ClientEvent::ChatDelivered { .. } => "ChatDelivered",
            ClientEvent::ChatRead { .. } => "ChatRead",
            ClientEvent::Typing { .. } => "Typing",
            ClientEvent::Signal { .. } => "Signal",
            ClientEvent::CenterStatusChanged { .. } => "CenterStatusChanged",
            ClientEvent::PresenceChanged { .. } => "PresenceChanged",
            ClientEvent::WatchEnded { .. } => "WatchEnded",
            ClientEvent::ProtocolError { .. } => "ProtocolError",
        }
    }
}

impl From<CoreEvent> for ClientEvent {
    fn from(e: CoreEvent) -> Self {
        match e {
            CoreEvent::Connected { resumed } => ClientEvent::Connected { resumed },
            CoreEvent::Disconnected { retry_at } => ClientEvent::Disconnected { retry_at_ms: retry_at.as_millis() },
            CoreEvent::Rejected(e) => ClientEvent::Rejected { error: e.into() },
            // Only the core's Rust driver reports these; this package's engine reports its own with the URL.
            CoreEvent::TransportError(e) => ClientEvent::TransportError { url: String::new(), message: e.to_string() },
            CoreEvent::Synced => ClientEvent::Synced,
            CoreEvent::Completed { id, result: Ok(r) } => ClientEvent::Completed { request_id: id, response: r.into() },
            CoreEvent::Completed { id, result: Err(e) } => ClientEvent::Failed { request_id: id, error: e.into() },
            CoreEvent::Pushed(ev) => match ev {
                Event::ProfileChanged(p) => ClientEvent::ProfileChanged { profile: p.into() },
                Event::OrderChanged(o) => ClientEvent::OrderChanged { order: o.into() },
                Event::HistoryChanged(r) => ClientEvent::HistoryChanged { record: r.into() },
                Event::Alert(a) => ClientEvent::Alert { fired: a.into() },
                Event::Invitation(i) => ClientEvent::InvitationChanged { invitation: i.into() },
                Event::Interaction(l) => ClientEvent::InteractionChanged { interaction: l.into() },
                Event::Chat(m) => ClientEvent::ChatReceived { message: m.into() },
                Event::ChatDelivered { interaction, seq } => ClientEvent::ChatDelivered { interaction_id: interaction.0, seq },
                Event::ChatRead { interaction, seq } => ClientEvent::ChatRead { interaction_id: interaction.0, seq },
                Event::Signal { interaction, signal } => ClientEvent::Signal { interaction_id: interaction.0, signal: signal.into() },
            },
            CoreEvent::Presence(doc) => match doc.center {
                Some(c) => ClientEvent::CenterStatusChanged { status: c.into() },
                None => ClientEvent::PresenceChanged { presentity: doc.entity.to_string() },
            },
            CoreEvent::WatchEnded(p) => ClientEvent::WatchEnded { presentity: p.to_string() },
            CoreEvent::ProtocolError(e) => ClientEvent::ProtocolError { error: e.into() },
            CoreEvent::Typing { interaction, on } => ClientEvent::Typing { interaction_id: interaction.0, on },
        }
    }
}

/// Receives a client's events. Implemented in Kotlin, Swift or Python; called on the library's
/// background thread, never on the thread that made a request, so hop to the UI thread to touch views.
#[uniffi::export(with_foreign)]
pub trait ClientListener: Send + Sync {
    /// One event, in order; must return quickly (it holds up the events after it). An exception
    /// thrown here cannot reach the app's own code (this call comes from the library's thread): it is
    /// logged (Python: the `frontdesk` logger, with the traceback; other languages: stderr) and the
    /// next event still comes.
    fn on_event(&self, event: ClientEvent) -> Result<(), ListenerError>;
}

/// An exception a listener threw; the runtime reports it and goes on, so one app bug does not stop the events.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener failed; the library writes the reason to stderr.
    #[error("listener failed: {reason}")]
    Failed {
        /// What it said (not `message`: that clashes with Kotlin's `Throwable.message`).
        reason: String,
    },
    /// The listener failed and the foreign side already logged it (the Python package does, with the
    /// traceback), so the library stays quiet.
    #[error("listener failed (already logged): {reason}")]
    Reported {
        /// What it said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

/// What happens to a simulated agent of an [`EmbeddedCenter`](crate::center::EmbeddedCenter).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AgentEvent {
    /// A live interaction is offered; accept or decline it.
    Offered {
        /// Interaction.
        interaction: LiveInteraction,
    },
    /// An offer went away (the client left, or it timed out).
    OfferWithdrawn {
        /// Interaction.
        interaction_id: String,
    },
    /// The agent is connected with a client.
    Connected {
        /// Interaction.
        interaction: LiveInteraction,
    },
    /// An interaction ended.
    Ended {
        /// Interaction.
        interaction: LiveInteraction,
    },
    /// A client invites the agent.
    InvitationReceived {
        /// Invitation.
        invitation: Invitation,
    },
    /// An invitation the agent sent or received changed state.
    InvitationUpdated {
        /// Invitation.
        invitation: Invitation,
    },
    /// A chat message from the client.
    Chat {
        /// Message.
        message: ChatMessage,
    },
    /// The client's app received a chat message the agent sent.
    ChatDelivered {
        /// Interaction.
        interaction_id: String,
        /// Message sequence.
        seq: u64,
    },
    /// The client has read the agent's messages up to `seq`.
    ChatRead {
        /// Interaction.
        interaction_id: String,
        /// Highest message read.
        seq: u64,
    },
    /// A message the agent wrote on an email interaction could not be mailed.
    MailFailed {
        /// Interaction.
        interaction_id: String,
        /// Message sequence.
        seq: u64,
        /// Address it was for.
        to: String,
        /// Why.
        reason: String,
    },
    /// An interaction was transferred: away from this agent (`from` is it), or to it (an offer follows).
    Transferred {
        /// Interaction.
        interaction_id: String,
        /// The agent that held it.
        from: String,
        /// The agent it goes to, if to an agent.
        to_agent: Option<String>,
        /// The queue it goes to, if to a queue.
        to_queue: Option<String>,
        /// The note for the next agent.
        note: Option<String>,
    },
    /// A callback this agent took could not be put through (its own phone: the agent is set away).
    DialFailed {
        /// Interaction.
        interaction_id: String,
        /// Which leg failed.
        side: crate::types::CallSide,
        /// Why.
        reason: crate::types::DialFailure,
    },
    /// A call signalling message from the client, for the console's WebRTC stack.
    Signal {
        /// Interaction.
        interaction_id: String,
        /// The message.
        signal: crate::call::CallSignal,
    },
}

impl From<CoreAgentEvent> for AgentEvent {
    fn from(e: CoreAgentEvent) -> Self {
        match e {
            CoreAgentEvent::Offered(l) => AgentEvent::Offered { interaction: l.into() },
            CoreAgentEvent::OfferWithdrawn(id) => AgentEvent::OfferWithdrawn { interaction_id: id.0 },
            CoreAgentEvent::Connected(l) => AgentEvent::Connected { interaction: l.into() },
            CoreAgentEvent::Ended(l) => AgentEvent::Ended { interaction: l.into() },
            CoreAgentEvent::InvitationReceived(i) => AgentEvent::InvitationReceived { invitation: i.into() },
            CoreAgentEvent::InvitationUpdated(i) => AgentEvent::InvitationUpdated { invitation: i.into() },
            CoreAgentEvent::Chat(m) => AgentEvent::Chat { message: m.into() },
            CoreAgentEvent::ChatDelivered { interaction, seq } => AgentEvent::ChatDelivered { interaction_id: interaction.0, seq },
            CoreAgentEvent::ChatRead { interaction, seq } => AgentEvent::ChatRead { interaction_id: interaction.0, seq },
            CoreAgentEvent::MailFailed { interaction, seq, to, reason } => AgentEvent::MailFailed { interaction_id: interaction.0, seq, to, reason },
            CoreAgentEvent::DialFailed { interaction, side, reason } => AgentEvent::DialFailed { interaction_id: interaction.0, side: side.into(), reason: reason.into() },
            CoreAgentEvent::Signal { interaction, signal } => AgentEvent::Signal { interaction_id: interaction.0, signal: signal.into() },
            CoreAgentEvent::Transferred { interaction, from, to, note } => {
                let (to_agent, to_queue) = match to {
                    fc::protocol::TransferTarget::Agent(a) => (Some(a.0), None),
                    fc::protocol::TransferTarget::Queue(q) => (None, Some(q.0)),
                };
                AgentEvent::Transferred { interaction_id: interaction.0, from: from.0, to_agent, to_queue, note }
            }
        }
    }
}
