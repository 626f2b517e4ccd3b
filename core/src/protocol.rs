//! The wire protocol between a client and the broker: versioned JSON frames with request ids,
//! sequenced events and cumulative acknowledgements.
//!
//! Reliability rests on two counters. Requests carry ids that the client never reuses within an
//! installation (`instance`); the broker applies each id once and answers duplicates from a cache.
//! Events carry a per-session sequence number; the client delivers each exactly once, in order, and
//! acknowledges cumulatively, and the broker keeps every unacknowledged event for replay on resume.

use crate::alert::{AlertFired, AlertRule};
use crate::ids::{AgentId, AlertId, ClientId, InteractionId, InvitationId, OrderId, ProductId, QueueId};
use crate::interaction::{ChatMessage, LiveInteraction};
use crate::invitation::Invitation;
use crate::medium::Medium;
use crate::monitor::access::AccessRule;
use crate::monitor::delta::PresenceDelta;
use crate::monitor::presence::{PresenceDocument, Presentity};
use crate::monitor::WatcherInfo;
use crate::principal::{AgentRole, Principal};
use crate::status::AgentState;
use crate::time::Timestamp;
use crate::typing::Typing;
use crate::ids::ProductId as SkillId;
use crate::profile::{ClientProfile, ProfilePatch};
use crate::call::{CallSignal, IceServer};
use crate::records::{DeliveryDetails, HistoryFilter, InteractionRecord, Order, Product};
use crate::status::{CenterStatus, ClientStatus};
use serde::{Deserialize, Serialize};

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest frame accepted in either direction, in bytes.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// A frame from a client to the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame on every connection: authenticate and resume.
    Hello {
        /// Protocol version.
        v: u16,
        /// Credential checked by the broker's verifier.
        token: String,
        /// Stable id of this installation of the app; with the client id it names the session.
        instance: u64,
        /// Last event sequence number delivered to the app (0 for none).
        last_seq: u64,
        /// Lowest request id the client still waits on (or its next id if none).
        next_request: u64,
    },
    /// A request.
    Request {
        /// Id, unique per instance, increasing.
        id: u64,
        /// What is asked.
        req: Request,
    },
    /// Cumulative acknowledgement of events up to `seq`.
    Ack {
        /// Highest sequence delivered.
        seq: u64,
    },
    /// Asks for every event after `after` again, and the current presence of all watches; sent when
    /// the client saw a gap (a transport that lost or reordered frames).
    Resend {
        /// Last sequence delivered.
        after: u64,
    },
    /// Keep-alive.
    Ping {
        /// Echoed back.
        n: u64,
    },
    /// A typing notice for the other party of a live chat; dropped when not connected, never queued.
    Typing {
        /// The notice.
        typing: Typing,
    },
}

/// What a client can ask of the broker; the broker scopes every request to the caller's own data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Read the own profile.
    GetProfile,
    /// Edit the own profile.
    UpdateProfile {
        /// Fields to replace.
        patch: ProfilePatch,
    },
    /// Read the own interaction history.
    GetHistory {
        /// Filter.
        #[serde(default)]
        filter: HistoryFilter,
    },
    /// Add a note to one of the own past interactions.
    AddNote {
        /// Interaction.
        interaction: InteractionId,
        /// Text.
        text: String,
    },
    /// Read product information.
    GetProducts,
    /// Read the own orders.
    GetOrders,
    /// Change delivery details of an own order that has not shipped.
    UpdateDelivery {
        /// Order.
        order: OrderId,
        /// New details.
        delivery: DeliveryDetails,
    },
    /// Read center status once.
    GetCenterStatus,
    /// Subscribe to a presentity's presence.
    Watch {
        /// Presentity.
        presentity: Presentity,
    },
    /// End a subscription.
    Unwatch {
        /// Presentity.
        presentity: Presentity,
    },
    /// Publish the own status to the center.
    SetStatus {
        /// Status.
        status: ClientStatus,
    },
    /// Decide who may watch the own status.
    SetAccessRules {
        /// Rules, first match wins.
        rules: Vec<AccessRule>,
    },
    /// List who watches the own status.
    ListWatchers,
    /// Subscribe to a status alert.
    SubscribeAlert {
        /// Condition.
        rule: AlertRule,
    },
    /// Cancel an alert.
    UnsubscribeAlert {
        /// Alert.
        alert: AlertId,
    },
    /// Accept or decline an invitation addressed to the client.
    RespondInvitation {
        /// Invitation.
        invitation: InvitationId,
        /// Accept (true) or decline.
        accept: bool,
    },
    /// Invite an agent.
    InviteAgent {
        /// Agent.
        agent: AgentId,
        /// Proposed medium.
        medium: Medium,
        /// Message.
        message: String,
    },
    /// Start a live interaction in a chosen medium.
    StartInteraction {
        /// Medium.
        medium: Medium,
        /// Product it is about.
        #[serde(default)]
        product: Option<ProductId>,
        /// Queue, if the client picks one; else the broker routes by product.
        #[serde(default)]
        queue: Option<QueueId>,
        /// Topic in the client's words (an email's subject).
        #[serde(default)]
        topic: Option<String>,
        /// A first message (an email's text, which an email needs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Ask to be called back, keeping a place in the queue meanwhile ("call me now" when `at` is
    /// none).
    RequestCallback {
        /// Number to call, international form (+ country code); the profile's phone number if none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        number: Option<String>,
        /// A slot inside the own agenda; as soon as possible if none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
        /// Product it is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<ProductId>,
        /// Queue, if the client picks one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<QueueId>,
        /// Topic in the client's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// Send a chat message in an own interaction.
    SendChat {
        /// Interaction.
        interaction: InteractionId,
        /// Text.
        text: String,
    },
    /// Marks the agent's messages read up to `seq` (the panel showing them is visible); a lower
    /// mark than one already made changes nothing.
    MarkRead {
        /// Interaction.
        interaction: InteractionId,
        /// Highest message seen.
        seq: u64,
    },
    /// Read the transcript of an own interaction, one page at a time: the newest `limit` messages
    /// before sequence number `before` (messages are numbered 1, 2, 3… per interaction).
    GetTranscript {
        /// Interaction.
        interaction: InteractionId,
        /// Only messages numbered below this (the oldest one held, to read further back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// At most this many (the broker caps it at its page size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Leave an own interaction (abandon the queue or hang up).
    EndInteraction {
        /// Interaction.
        interaction: InteractionId,
    },
    /// The own live interactions with their transcripts, so a reloaded page or a restored app picks
    /// up where it was.
    GetLive,
    /// A call signalling message for the other side of an own voice or video interaction.
    Signal {
        /// Interaction.
        interaction: InteractionId,
        /// The message.
        signal: CallSignal,
    },
    /// STUN/TURN servers for an own connected call, with TURN credentials minted for it.
    IceServers {
        /// Interaction.
        interaction: InteractionId,
    },
    /// Registers a device to wake while no session of the client is attached (the app is in the
    /// background): agent messages, invitations, a callback dialing and a connected interaction
    /// then come as a push too. Registering the same token again replaces it.
    RegisterPush {
        /// Push service of the token.
        platform: crate::push::PushPlatform,
        /// Device token.
        token: String,
    },
    /// Forgets a device registered with `register_push` (the app logged out or lost the token).
    UnregisterPush {
        /// Device token.
        token: String,
    },
}

/// What an agent (or a supervisor) can ask of the broker on its own session; the broker scopes
/// every request to what the agent's role allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AgentRequest {
    /// Take a seat (or join the seat this agent already has, from another console).
    LogIn {
        /// Display name.
        name: String,
        /// Products handled.
        #[serde(default)]
        skills: Vec<SkillId>,
        /// Media handled.
        media: Vec<Medium>,
    },
    /// Leave the seat: offers go to others, live interactions back to their queue.
    LogOut,
    /// Set the phone (a SIP URI) the center's dialer rings for the callbacks this agent takes.
    SetPhone {
        /// The URI; none to take no callbacks.
        #[serde(default)]
        phone: Option<String>,
    },
    /// The seat as it is now: state, offer, live interactions with transcripts, pending invitations.
    GetSeat,
    /// Change state.
    SetState {
        /// New state.
        state: AgentState,
    },
    /// Invite a client.
    Invite {
        /// Client.
        client: ClientId,
        /// Medium.
        medium: Medium,
        /// Message.
        message: String,
    },
    /// Answer a client's invitation.
    RespondInvitation {
        /// Invitation.
        invitation: InvitationId,
        /// Accept or decline.
        accept: bool,
    },
    /// Accept an offered interaction.
    Accept {
        /// Interaction.
        interaction: InteractionId,
    },
    /// Decline an offered interaction.
    Decline {
        /// Interaction.
        interaction: InteractionId,
    },
    /// Send a chat message.
    SendChat {
        /// Interaction.
        interaction: InteractionId,
        /// Text.
        text: String,
    },
    /// Marks the client's messages read up to `seq`; a lower mark than one already made changes nothing.
    MarkRead {
        /// Interaction.
        interaction: InteractionId,
        /// Highest message seen.
        seq: u64,
    },
    /// End an interaction.
    End {
        /// Interaction.
        interaction: InteractionId,
    },
    /// Read a served client's profile.
    ClientProfile {
        /// Client.
        client: ClientId,
    },
    /// Read a served client's history.
    ClientHistory {
        /// Client.
        client: ClientId,
        /// Filter.
        #[serde(default)]
        filter: HistoryFilter,
    },
    /// Read a served client's orders (the customer panel shows them beside the conversation).
    ClientOrders {
        /// Client.
        client: ClientId,
    },
    /// Add a note to a past interaction the agent handled.
    AddNote {
        /// Interaction.
        interaction: InteractionId,
        /// Text.
        text: String,
    },
    /// Read center status.
    CenterStatus,
    /// Read the transcript of an interaction the agent handles, one page at a time (as the client's
    /// `get_transcript`).
    Transcript {
        /// Interaction.
        interaction: InteractionId,
        /// Only messages numbered below this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// At most this many (the broker caps it at its page size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// A call signalling message for the other side of a voice or video interaction the agent handles.
    Signal {
        /// Interaction.
        interaction: InteractionId,
        /// The message.
        signal: CallSignal,
    },
    /// STUN/TURN servers for a connected call the agent handles, with TURN credentials minted for it.
    IceServers {
        /// Interaction.
        interaction: InteractionId,
    },
    // Agent desktop (transfer, wrap-up, wallboard): see the types after `AgentEvent`.
    /// Hand a connected interaction the agent holds to another agent or a queue; the client stays
    /// connected, and the transcript and the note follow.
    Transfer {
        /// Interaction.
        interaction: InteractionId,
        /// Who takes it.
        to: TransferTarget,
        /// A note for the next agent (kept on the history record).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Record how an interaction the agent ended went, on its history record (once).
    WrapUp {
        /// Interaction.
        interaction: InteractionId,
        /// One of the center's wrap-up outcomes (any text when it configures none).
        outcome: String,
        /// Free text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The supervisor's wallboard: queues, agents and service level now (supervisors only).
    Wallboard,
}

impl AgentRequest {
    /// Whether a duplicate may simply be executed again: the request only reads.
    pub fn is_repeatable(&self) -> bool {
        matches!(
            self,
            AgentRequest::GetSeat
                | AgentRequest::ClientProfile { .. }
                | AgentRequest::ClientHistory { .. }
                | AgentRequest::CenterStatus
                | AgentRequest::Transcript { .. }
                | AgentRequest::IceServers { .. }
                | AgentRequest::MarkRead { .. }
                | AgentRequest::Wallboard
        )
    }
}

/// A live interaction with its transcript so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiveWithTranscript {
    /// The interaction.
    pub interaction: LiveInteraction,
    /// Its newest chat messages, in order (empty for other media): at most the broker's
    /// `live_transcript` of them, so a long chat costs one bounded answer; older ones are read with
    /// `get_transcript` and `before` (a first message numbered above 1 means there are some).
    pub transcript: Vec<ChatMessage>,
}

/// An agent's seat as the broker holds it, for a console that (re)attaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SeatView {
    /// Agent id.
    pub agent: AgentId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: AgentRole,
    /// Media handled.
    pub media: Vec<Medium>,
    /// State.
    pub state: AgentState,
    /// The interaction offered now, if any.
    pub offer: Option<LiveInteraction>,
    /// Connected interactions with their transcripts.
    pub live: Vec<LiveWithTranscript>,
    /// Invitations sent or received that wait for an answer.
    pub invitations: Vec<Invitation>,
    /// The outcomes a wrap-up may name (any text when empty).
    #[serde(default)]
    pub wrap_up_outcomes: Vec<String>,
}

impl Request {
    /// Whether a duplicate may simply be executed again: the request only reads, or, like watching,
    /// repeating it in order ends in the same state. Its answer is then not kept, which for a watch
    /// saves a whole presence document per session.
    pub fn is_repeatable(&self) -> bool {
        matches!(
            self,
            Request::Watch { .. }
                | Request::Unwatch { .. }
                | Request::GetProfile
                | Request::GetHistory { .. }
                | Request::GetProducts
                | Request::GetOrders
                | Request::GetCenterStatus
                | Request::ListWatchers
                | Request::GetTranscript { .. }
                | Request::GetLive
                | Request::IceServers { .. }
                | Request::MarkRead { .. }
        )
    }
}

/// The successful answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Response {
    /// Nothing to return.
    Done,
    /// A profile.
    Profile(ClientProfile),
    /// History records, newest first.
    History(Vec<InteractionRecord>),
    /// One history record.
    Record(InteractionRecord),
    /// Products.
    Products(Vec<Product>),
    /// Orders.
    Orders(Vec<Order>),
    /// One order.
    Order(Order),
    /// Center status.
    CenterStatus(CenterStatus),
    /// A presence document.
    Presence(PresenceDocument),
    /// Watchers of the own status.
    Watchers(Vec<WatcherInfo>),
    /// An alert subscription.
    Alert(AlertId),
    /// An invitation.
    Invitation(Invitation),
    /// A live interaction.
    Interaction(LiveInteraction),
    /// A chat message as stored.
    Chat(ChatMessage),
    /// A transcript.
    Transcript(Vec<ChatMessage>),
    /// Live interactions with their transcripts.
    Live(Vec<LiveWithTranscript>),
    /// An agent's seat.
    Seat(SeatView),
    /// STUN/TURN servers for a call.
    IceServers(Vec<IceServer>),
    /// The supervisor's wallboard.
    Wallboard(Wallboard),
}

/// Why a request or frame failed; stable codes for programs, a message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON of a known shape.
    Malformed,
    /// The frame exceeds the size limit.
    TooLarge,
    /// The protocol version is not spoken.
    UnsupportedVersion,
    /// No valid credential.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    /// No such thing (or not the caller's).
    NotFound,
    /// The request is well-formed but its content is refused.
    Invalid,
    /// The invitation or session has expired.
    Expired,
    /// The thing is not in a state that allows it.
    Conflict,
    /// The center cannot do it now (medium not offered, no queue).
    Unavailable,
    /// Too many requests; slow down.
    RateLimited,
    /// A fault on the broker side.
    Internal,
}

/// An error with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[error("{code:?}: {message}")]
pub struct ErrorBody {
    /// Code.
    pub code: ErrorCode,
    /// Explanation.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into() }
    }
}

/// Outcome of a request as carried on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Success.
    Ok(Response),
    /// Failure.
    Err(ErrorBody),
}

impl From<Result<Response, ErrorBody>> for Outcome {
    fn from(r: Result<Response, ErrorBody>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl From<Outcome> for Result<Response, ErrorBody> {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

/// Something the broker pushes to the client reliably (sequenced, acknowledged, replayed on resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "ev", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// The profile changed (edited on another device, or by the center).
    ProfileChanged(ClientProfile),
    /// An order changed.
    OrderChanged(Order),
    /// A history record was added or changed.
    HistoryChanged(InteractionRecord),
    /// A status alert fired.
    Alert(AlertFired),
    /// An invitation arrived or changed state.
    Invitation(Invitation),
    /// A live interaction changed (queued position, connected, ended).
    Interaction(LiveInteraction),
    /// A chat message from the agent (or from another device of the client).
    Chat(ChatMessage),
    /// The agent's side received a chat message the client sent.
    ChatDelivered {
        /// Interaction.
        interaction: InteractionId,
        /// Message sequence.
        seq: u64,
    },
    /// The agent has read the client's messages up to `seq`.
    ChatRead {
        /// Interaction.
        interaction: InteractionId,
        /// Highest message read.
        seq: u64,
    },
    /// A call signalling message from the agent.
    Signal {
        /// Interaction.
        interaction: InteractionId,
        /// The message.
        signal: CallSignal,
    },
}

/// Something the broker pushes to an agent's sessions reliably (sequenced, acknowledged, replayed on
/// resume); in-process hosts get the same as [`BrokerEvent::Agent`](crate::broker::BrokerEvent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The client has read the agent's messages up to `seq`.
    ChatRead {
        /// Interaction.
        interaction: InteractionId,
        /// Highest message read.
        seq: u64,
    },
    /// A message the agent wrote on an email interaction could not be mailed.
    MailFailed {
        /// Interaction.
        interaction: InteractionId,
        /// Message sequence.
        seq: u64,
        /// Address it was for.
        to: String,
        /// Why, as the relay or the mailer said.
        reason: String,
    },
    /// A callback this agent took could not be put through: the agent's phone (the agent is set
    /// away) or the client's line failed; the callback waits in its queue for a retry or has ended.
    DialFailed {
        /// Interaction.
        interaction: InteractionId,
        /// Which leg failed.
        side: crate::callback::CallSide,
        /// Why.
        reason: crate::callback::DialFailure,
    },
    /// A call signalling message from the client.
    Signal {
        /// Interaction.
        interaction: InteractionId,
        /// The message.
        signal: CallSignal,
    },
    /// An interaction was transferred: to the agent that held it (it is no longer its), and to the
    /// agent it goes to (an offer follows).
    Transferred {
        /// Interaction.
        interaction: InteractionId,
        /// The agent that held it.
        from: AgentId,
        /// Where it goes.
        to: TransferTarget,
        /// The note for the next agent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

// ---------------------------------------------------------------- agent desktop types

/// Where a transfer sends an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum TransferTarget {
    /// A logged-in agent that takes interactions (available or busy); it gets an offer.
    Agent(AgentId),
    /// A queue; the interaction waits there for the next free agent.
    Queue(QueueId),
}

/// One queue on the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WallboardQueue {
    /// The queue's figures (waiting, estimated hold time, staffing).
    #[serde(flatten)]
    pub figures: crate::status::QueueStatus,
    /// How long the longest waiting interaction has waited, in seconds (none when none waits).
    pub longest_wait_secs: Option<f64>,
}

/// One agent on the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WallboardAgent {
    /// Agent id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: AgentRole,
    /// State.
    pub state: AgentState,
    /// Connected interactions.
    pub live: Vec<InteractionId>,
    /// The interaction offered now.
    pub offer: Option<InteractionId>,
}

/// The supervisor's wallboard at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Wallboard {
    /// When the figures were taken.
    pub at: Timestamp,
    /// Per queue and medium.
    pub queues: Vec<WallboardQueue>,
    /// Seated agents.
    pub agents: Vec<WallboardAgent>,
    /// Service level: answered within the threshold over all answered and abandoned in the window
    /// (none when nothing was answered or abandoned).
    pub service_level: Option<f64>,
    /// Threshold, in seconds.
    pub threshold_secs: u32,
    /// Window, in seconds.
    pub window_secs: u32,
    /// Answered in the window.
    pub answered: u32,
    /// Of those, answered within the threshold.
    pub answered_in_threshold: u32,
    /// Abandoned in the window (left the queue before an agent answered).
    pub abandoned: u32,
}

/// A frame from the broker to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BrokerFrame {
    /// Answer to Hello.
    Welcome {
        /// Protocol version.
        v: u16,
        /// Who the broker thinks the client is.
        client: ClientId,
        /// Whether the session (its events and request ids) continues; if false, start over from sequence 0.
        resumed: bool,
        /// For an agent's session, its role (`client` then holds the agent's id); absent for clients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<AgentRole>,
        /// The first request id the broker takes as new: a client restored from an older save (or a
        /// reinstall reusing its installation id) numbers its own new requests from here, so they are
        /// never mistaken for requests another process sent under the same ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_request: Option<u64>,
        /// On a resumed session, the last event another process of this installation acknowledged,
        /// when it is past the `last_seq` this hello gave: those events are gone, so the party
        /// continues its numbering after them (and syncs its view) instead of waiting for them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acked: Option<u64>,
    },
    /// Answer to a request.
    Response {
        /// Request id.
        id: u64,
        /// Outcome.
        outcome: Outcome,
    },
    /// A reliable event.
    Event {
        /// Sequence number in this session, from 1.
        seq: u64,
        /// The event.
        event: Event,
    },
    /// A presence document of a watched presentity; newer versions supersede older.
    Status {
        /// The document.
        doc: PresenceDocument,
    },
    /// What changed in a watched presentity since the version `delta.base`; a watcher holding
    /// another version re-watches to get the whole document.
    Delta {
        /// The change.
        delta: PresenceDelta,
    },
    /// A watch ended because the owner's rules now block it.
    WatchEnded {
        /// Presentity.
        presentity: Presentity,
    },
    /// The other party of a live chat is typing or stopped; soft state, not sequenced, forgotten
    /// after [`TYPING_TTL`](crate::typing::TYPING_TTL) without a refresh.
    Typing {
        /// The notice.
        typing: Typing,
    },
    /// A frame-level error (the frame was dropped; the session goes on unless `fatal`).
    Error {
        /// What went wrong.
        error: ErrorBody,
        /// The broker closes the connection after this frame.
        fatal: bool,
    },
    /// Keep-alive answer.
    Pong {
        /// Echo.
        n: u64,
    },
}

/// Kinds of frames a party sends to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InKind {
    /// Authenticate and resume.
    Hello,
    /// A request.
    Request,
    /// Cumulative acknowledgement.
    Ack,
    /// Ask for a replay.
    Resend,
    /// Keep-alive.
    Ping,
    /// A typing notice.
    Typing,
}

/// A frame to the broker read only as far as its envelope. The request body stays raw until the
/// broker knows who is asking (a client or an agent), so a body that does not decode is answered as
/// that request's error instead of an error tied to nothing.
#[derive(Debug, Deserialize)]
pub struct InEnvelope<'a> {
    /// Frame kind.
    pub t: InKind,
    /// Hello: protocol version.
    pub v: Option<u16>,
    /// Hello: credential.
    pub token: Option<String>,
    /// Hello: installation.
    pub instance: Option<u64>,
    /// Hello: last event delivered.
    pub last_seq: Option<u64>,
    /// Hello: lowest request id still waited on.
    pub next_request: Option<u64>,
    /// Request: id.
    pub id: Option<u64>,
    /// Request: body, undecoded.
    #[serde(borrow)]
    pub req: Option<&'a serde_json::value::RawValue>,
    /// Ack: highest sequence delivered.
    pub seq: Option<u64>,
    /// Resend: last sequence delivered.
    pub after: Option<u64>,
    /// Ping: echoed.
    pub n: Option<u64>,
    /// Typing: the notice.
    pub typing: Option<Typing>,
}

impl<'a> InEnvelope<'a> {
    /// Decodes an envelope with a size limit.
    pub fn decode(bytes: &'a [u8], limit: usize) -> Result<Self, DecodeError> {
        if bytes.len() > limit {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
        serde_json::from_str(s).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// The id of a request frame read from its first bytes, for a frame too large to decode: so the
/// refusal can answer that request and the sender's queue moves on.
pub fn request_id_of(bytes: &[u8]) -> Option<u64> {
    let head = &bytes[..bytes.len().min(128)];
    let head = std::str::from_utf8(head).ok().or_else(|| std::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok())?;
    let compact: String = head.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.strip_prefix(r#"{"t":"request","id":"#)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Decodes a request body and names the field that is wrong when it does not decode
/// (`patch.agenda[0].days[0]: invalid type: null, expected u8`).
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ErrorBody> {
    let first = match serde_json::from_str::<T>(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let msg = first.to_string();
    // Tagged enums hide the path from serde, so find it: the smallest part of the body whose removal
    // makes this error go away. Bounded, so a hostile body costs little.
    let path = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| {
        let mut budget = 48;
        blame::<T>(&v, &v, &mut Vec::new(), strip_position(&msg), &mut budget)
    });
    let msg = strip_position(&msg);
    Err(ErrorBody::new(ErrorCode::Invalid, match path {
        Some(p) if !p.is_empty() => format!("{p}: {msg}"),
        _ => msg,
    }))
}

/// serde_json's message without its " at line 1 column 42" tail, which means nothing to a caller.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn removed(root: &serde_json::Value, path: &[Seg]) -> serde_json::Value {
    let mut v = root.clone();
    let mut cur = &mut v;
    for (n, seg) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        match (seg, cur) {
            (Seg::Key(k), serde_json::Value::Object(m)) if last => {
                m.remove(k);
                break;
            }
            (Seg::Index(i), serde_json::Value::Array(a)) if last => {
                a.remove(*i);
                break;
            }
            (Seg::Key(k), serde_json::Value::Object(m)) => cur = m.get_mut(k).expect("walked"),
            (Seg::Index(i), serde_json::Value::Array(a)) => cur = &mut a[*i],
            _ => break,
        }
    }
    v
}

fn blame<T: serde::de::DeserializeOwned>(
    root: &serde_json::Value,
    here: &serde_json::Value,
    path: &mut Vec<Seg>,
    kind: String,
    budget: &mut u32,
) -> Option<String> {
    let children: Vec<(Seg, &serde_json::Value)> = match here {
        serde_json::Value::Object(m) => m.iter().filter(|(k, _)| !(path.is_empty() && k.as_str() == "op")).map(|(k, v)| (Seg::Key(k.clone()), v)).collect(),
        serde_json::Value::Array(a) => a.iter().enumerate().map(|(i, v)| (Seg::Index(i), v)).collect(),
        _ => vec![],
    };
    for (seg, child) in children {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        path.push(seg);
        let without = removed(root, path);
        let gone = match serde_json::from_value::<T>(without) {
            Ok(_) => true,
            Err(e) => strip_position(&e.to_string()) != kind,
        };
        if gone {
            // The fault is in this part; look for it further in.
            let deeper = blame::<T>(root, child, path, kind, budget);
            let out = deeper.or_else(|| Some(render(path)));
            path.pop();
            return out;
        }
        path.pop();
    }
    None
}

/// Errors decoding a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the frame limit.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("frame is not valid UTF-8")]
    NotUtf8,
    /// Not a known frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// The wire error for it.
    pub fn to_body(&self) -> ErrorBody {
        let code = match self {
            DecodeError::TooLarge(_) => ErrorCode::TooLarge,
            DecodeError::NotUtf8 | DecodeError::Malformed(_) => ErrorCode::Malformed,
        };
        ErrorBody::new(code, self.to_string())
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
    serde_json::from_str(s).map_err(|e| DecodeError::Malformed(e.to_string()))
}

impl ClientFrame {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("frames always serialize")
    }

    /// Decodes with a size limit.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        decode(bytes, limit)
    }
}

impl BrokerFrame {
    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("frames always serialize")
    }

    /// Decodes with a size limit.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        decode(bytes, limit)
    }

    /// A status frame around an already encoded presence document, so one encoding serves every watcher.
    pub fn status_from_payload(doc_json: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(doc_json.len() + 20);
        v.extend_from_slice(b"{\"t\":\"status\",\"doc\":");
        v.extend_from_slice(doc_json.as_bytes());
        v.push(b'}');
        v
    }

    /// A delta frame around an already encoded presence delta, so one encoding serves every watcher.
    pub fn delta_from_payload(delta_json: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(delta_json.len() + 22);
        v.extend_from_slice(b"{\"t\":\"delta\",\"delta\":");
        v.extend_from_slice(delta_json.as_bytes());
        v.push(b'}');
        v
    }

    /// An event frame around an already encoded event.
    pub fn event_from_payload(seq: u64, event_json: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(event_json.len() + 40);
        v.extend_from_slice(b"{\"t\":\"event\",\"seq\":");
        v.extend_from_slice(seq.to_string().as_bytes());
        v.extend_from_slice(b",\"event\":");
        v.extend_from_slice(event_json.as_bytes());
        v.push(b'}');
        v
    }
}

/// A principal's display form for logs.
pub fn describe(p: &Principal) -> String {
    match p {
        Principal::Client(c) => format!("client {c}"),
        Principal::Agent(a, r) => format!("{r:?} {a}").to_lowercase(),
        Principal::Service(s) => format!("service {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_payload_frames_decode_like_encoded_ones() {
        let doc = PresenceDocument::closed(Presentity::Center, crate::Timestamp(5));
        let json = serde_json::to_string(&doc).unwrap();
        let f = BrokerFrame::decode(&BrokerFrame::status_from_payload(&json), MAX_FRAME_BYTES).unwrap();
        assert_eq!(f, BrokerFrame::Status { doc });
        let ev = Event::ChatDelivered { interaction: "i1".into(), seq: 3 };
        let json = serde_json::to_string(&ev).unwrap();
        let f = BrokerFrame::decode(&BrokerFrame::event_from_payload(42, &json), MAX_FRAME_BYTES).unwrap();
        assert_eq!(f, BrokerFrame::Event { seq: 42, event: ev });
    }

    #[test]
    fn delta_frames_round_trip_and_match_their_shared_payload() {
        let delta: PresenceDelta = serde_json::from_str(
            r#"{"entity":"agent:ann","base":4,"version":5,"timestamp":1234,"activities":["away"],"note":null,"tuples":{"set":[{"id":"agent-chat","status":"closed"}]}}"#,
        )
        .unwrap();
        let f = BrokerFrame::Delta { delta: delta.clone() };
        let bytes = f.encode();
        assert!(bytes.starts_with(br#"{"t":"delta","delta":{"entity":"agent:ann","base":4,"version":5,"#), "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(BrokerFrame::decode(&bytes, MAX_FRAME_BYTES).unwrap(), f);
        let json = serde_json::to_string(&delta).unwrap();
        assert_eq!(BrokerFrame::delta_from_payload(&json), bytes, "the shared payload frames it the same way");
        assert!(matches!(BrokerFrame::decode(br#"{"t":"delta","delta":{"entity":"center"}}"#, MAX_FRAME_BYTES), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_body_that_does_not_decode_names_the_field() {
        let e = decode_body::<Request>(r#"{"op":"update_profile","patch":{"agenda":[{"days":[1,null],"start_minute":1,"end_minute":2,"time_zone":"UTC"}]}}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        assert!(e.message.starts_with("patch.agenda[0].days[1]: invalid type: null"), "{}", e.message);
        let e = decode_body::<Request>(r#"{"op":"send_chat","interaction":"i"}"#).unwrap_err();
        assert!(e.message.contains("missing field `text`"), "{}", e.message);
        let e = decode_body::<AgentRequest>(r#"{"op":"set_state","state":"sleeping"}"#).unwrap_err();
        assert!(e.message.starts_with("state: unknown variant `sleeping`"), "{}", e.message);
        assert_eq!(request_id_of(br#"{"t":"request","id":42,"req":{"op":"#), Some(42));
        assert_eq!(request_id_of(br#"{"t":"ack","seq":4}"#), None);
    }

    #[test]
    fn bad_frames_get_typed_errors() {
        assert_eq!(ClientFrame::decode(&[0xff, 0xfe], 100), Err(DecodeError::NotUtf8));
        assert_eq!(ClientFrame::decode(&[b' '; 101], 100), Err(DecodeError::TooLarge(101)));
        assert!(matches!(ClientFrame::decode(br#"{"t":"nope"}"#, 100), Err(DecodeError::Malformed(_))));
        assert!(matches!(ClientFrame::decode(br#"{"t":"ack"}"#, 100), Err(DecodeError::Malformed(_))));
    }
}
