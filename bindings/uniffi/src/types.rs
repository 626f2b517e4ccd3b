//! The domain as foreign languages see it: uniffi records and enums mirroring `frontdesk-core`.
//!
//! Ids are plain strings and instants are milliseconds since the Unix epoch (`*_ms`), because those
//! map the same way to Kotlin, Swift and Python without extra runtime types.

use frontdesk_core as fc;
use frontdesk_core::Timestamp;

/// Maps a fieldless core enum to its mirror and back, variant by variant.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident <=> $core:path { $($(#[$vdoc:meta])* $v:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vdoc])* $v),* }

        impl From<$core> for $name {
            fn from(x: $core) -> Self {
                use $core as C;
                match x { $(C::$v => $name::$v),* }
            }
        }

        impl From<$name> for $core {
            fn from(x: $name) -> Self {
                use $core as C;
                match x { $($name::$v => C::$v),* }
            }
        }
    };
}

mirror_enum!(
    /// A communication medium; voice and callback travel over the telephone network.
    Medium <=> fc::Medium {
        /// Text chat in the app.
        Chat,
        /// A voice call placed by the client.
        Voice,
        /// A video call.
        Video,
        /// The center calls the client back.
        Callback,
        /// Asynchronous email.
        Email,
    }
);

mirror_enum!(
    /// Which push service a device token belongs to.
    PushPlatform <=> fc::push::PushPlatform {
        /// Firebase Cloud Messaging (Android).
        Fcm,
        /// Apple Push Notification service (iOS).
        Apns,
        /// Web Push (a browser's push subscription, as JSON).
        Webpush,
        /// The app vendor's own endpoint, named by the token.
        Webhook,
    }
);

mirror_enum!(
    /// Which leg of a callback.
    CallSide <=> fc::callback::CallSide {
        /// The agent's phone.
        Agent,
        /// The client's phone.
        Customer,
    }
);

mirror_enum!(
    /// Why a callback's dial failed.
    DialFailure <=> fc::callback::DialFailure {
        /// The line was busy.
        Busy,
        /// Nobody answered in time.
        NoAnswer,
        /// Refused (declined, number unknown): not retried.
        Rejected,
        /// The trunk or the phone could not be reached.
        Unreachable,
        /// The server stopped while dialing.
        Interrupted,
        /// Cancelled by the client or the agent.
        Cancelled,
    }
);

/// Where a callback is.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CallbackPhase {
    /// Waiting for its slot or an agent (the interaction's state has the place in the queue).
    Scheduled,
    /// An agent took it; the agent's phone rings.
    DialingAgent,
    /// The client's phone rings.
    DialingCustomer,
    /// Both talk.
    Connected,
    /// The last attempt failed; the agents get it again at `at_ms`.
    RetryAt {
        /// When.
        at_ms: u64,
        /// Why the last attempt failed.
        reason: DialFailure,
    },
    /// Given up.
    Failed {
        /// Why the last attempt failed.
        reason: DialFailure,
    },
    /// Over.
    Ended,
}

/// A callback's telephony state (not `Callback`: Kotlin's bindings import JNA's `Callback`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CallbackInfo {
    /// Number called, E.164.
    pub number: String,
    /// Booked slot; none for "as soon as possible".
    pub at_ms: Option<u64>,
    /// Where it is.
    pub phase: CallbackPhase,
    /// Attempts on the client's line that failed.
    pub attempts: u32,
}

impl From<fc::callback::Callback> for CallbackInfo {
    fn from(c: fc::callback::Callback) -> Self {
        use fc::callback::CallbackPhase as P;
        CallbackInfo {
            number: c.number,
            at_ms: c.at.map(ms),
            phase: match c.phase {
                P::Scheduled => CallbackPhase::Scheduled,
                P::DialingAgent => CallbackPhase::DialingAgent,
                P::DialingCustomer => CallbackPhase::DialingCustomer,
                P::Connected => CallbackPhase::Connected,
                P::RetryAt { at, reason } => CallbackPhase::RetryAt { at_ms: ms(at), reason: reason.into() },
                P::Failed { reason } => CallbackPhase::Failed { reason: reason.into() },
                P::Ended => CallbackPhase::Ended,
            },
            attempts: c.attempts,
        }
    }
}

mirror_enum!(
    /// Who started an interaction.
    Direction <=> fc::records::Direction {
        /// The client reached out.
        Inbound,
        /// The center reached out.
        Outbound,
    }
);

mirror_enum!(
    /// How an interaction ended.
    Outcome <=> fc::records::Outcome {
        /// Handled by an agent.
        Completed,
        /// The client left the queue before an agent answered.
        Abandoned,
        /// Refused or failed before it started.
        Failed,
    }
);

mirror_enum!(
    /// Where an order is in its life.
    OrderStatus <=> fc::records::OrderStatus {
        /// Placed, not yet confirmed.
        Placed,
        /// Confirmed and being prepared.
        Processing,
        /// Handed to the carrier.
        Shipped,
        /// Received.
        Delivered,
        /// Cancelled.
        Cancelled,
    }
);

mirror_enum!(
    /// What an agent is doing.
    AgentState <=> fc::status::AgentState {
        /// Not logged in.
        LoggedOut,
        /// Ready for an interaction.
        Available,
        /// Handling an interaction.
        Busy,
        /// Wrapping up after an interaction.
        AfterWork,
        /// Logged in but not taking interactions.
        Away,
    }
);

mirror_enum!(
    /// Whether a client is around.
    ClientActivity <=> fc::status::ClientActivity {
        /// Using the app now.
        Online,
        /// App open but untouched for a while.
        Idle,
        /// Gone.
        Offline,
    }
);

mirror_enum!(
    /// Who invited whom.
    InvitationDirection <=> fc::invitation::InvitationDirection {
        /// An agent invites the client.
        AgentToClient,
        /// The client invites an agent.
        ClientToAgent,
    }
);

mirror_enum!(
    /// Where an invitation stands.
    InvitationState <=> fc::invitation::InvitationState {
        /// Waiting for an answer.
        Pending,
        /// Accepted; an interaction was started.
        Accepted,
        /// Declined.
        Declined,
        /// Not answered in time.
        Expired,
        /// Withdrawn by the sender.
        Cancelled,
    }
);

fn ms(t: Timestamp) -> u64 {
    t.as_millis()
}

fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn media(v: &[fc::Medium]) -> Vec<Medium> {
    v.iter().map(|m| (*m).into()).collect()
}

fn core_media(v: Vec<Medium>) -> Vec<fc::Medium> {
    v.into_iter().map(Into::into).collect()
}

/// Who the client is, as far as the client chooses to say.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct Demographics {
    /// Name to address the client by.
    #[uniffi(default)]
    pub name: Option<String>,
    /// Preferred languages as BCP 47 tags, most preferred first.
    #[uniffi(default)]
    pub languages: Vec<String>,
    /// Country as ISO 3166-1 alpha-2.
    #[uniffi(default)]
    pub country: Option<String>,
    /// Year of birth.
    #[uniffi(default)]
    pub birth_year: Option<u16>,
}

/// One medium the client can use, with the address the center reaches them at.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Capability {
    /// The medium.
    pub medium: Medium,
    /// Phone number, email address or handle; none where the app itself is the endpoint.
    #[uniffi(default)]
    pub address: Option<String>,
    /// Devices usable for it ("mobile", "desktop").
    #[uniffi(default)]
    pub devices: Vec<String>,
}

/// A weekly window in which the client can be reached.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgendaWindow {
    /// ISO weekdays, 1 = Monday … 7 = Sunday (not `u8`: a list of those would be bytes in Python).
    pub days: Vec<u16>,
    /// Start as minutes after local midnight.
    pub start_minute: u16,
    /// End as minutes after local midnight (exclusive).
    pub end_minute: u16,
    /// IANA time zone of the client.
    pub time_zone: String,
    /// Media accepted in this window; empty means all capabilities.
    #[uniffi(default)]
    pub media: Vec<Medium>,
}

/// What the client cares about, used for routing and alerts.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct Interests {
    /// Product ids the client owns or wants.
    #[uniffi(default)]
    pub products: Vec<String>,
    /// Free topics ("billing").
    #[uniffi(default)]
    pub topics: Vec<String>,
}

/// Everything the client may post and edit about themselves.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ClientProfile {
    /// Demographics.
    pub demographics: Demographics,
    /// Communication capabilities.
    pub capabilities: Vec<Capability>,
    /// Personal agenda.
    pub agenda: Vec<AgendaWindow>,
    /// Interests.
    pub interests: Interests,
    /// Bumped by the broker on each accepted edit.
    pub revision: u64,
}

/// A partial profile edit: each present field replaces the stored one.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct ProfilePatch {
    /// New demographics.
    #[uniffi(default)]
    pub demographics: Option<Demographics>,
    /// New capability list.
    #[uniffi(default)]
    pub capabilities: Option<Vec<Capability>>,
    /// New agenda.
    #[uniffi(default)]
    pub agenda: Option<Vec<AgendaWindow>>,
    /// New interests.
    #[uniffi(default)]
    pub interests: Option<Interests>,
}

impl From<fc::profile::Demographics> for Demographics {
    fn from(d: fc::profile::Demographics) -> Self {
        Demographics { name: d.name, languages: d.languages, country: d.country, birth_year: d.birth_year }
    }
}

impl From<Demographics> for fc::profile::Demographics {
    fn from(d: Demographics) -> Self {
        fc::profile::Demographics { name: d.name, languages: d.languages, country: d.country, birth_year: d.birth_year }
    }
}

impl From<fc::profile::Capability> for Capability {
    fn from(c: fc::profile::Capability) -> Self {
        Capability { medium: c.medium.into(), address: c.address, devices: c.devices }
    }
}

impl From<Capability> for fc::profile::Capability {
    fn from(c: Capability) -> Self {
        fc::profile::Capability { medium: c.medium.into(), address: c.address, devices: c.devices }
    }
}

impl From<fc::profile::AgendaWindow> for AgendaWindow {
    fn from(w: fc::profile::AgendaWindow) -> Self {
        AgendaWindow { days: w.days.into_iter().map(u16::from).collect(), start_minute: w.start_minute, end_minute: w.end_minute, time_zone: w.time_zone, media: media(&w.media) }
    }
}

impl From<AgendaWindow> for fc::profile::AgendaWindow {
    fn from(w: AgendaWindow) -> Self {
        fc::profile::AgendaWindow {
            // Out-of-range days become 0, which the broker refuses with a reason.
            days: w.days.into_iter().map(|d| u8::try_from(d).unwrap_or(0)).collect(),
            start_minute: w.start_minute,
            end_minute: w.end_minute,
            time_zone: w.time_zone,
            media: core_media(w.media),
        }
    }
}

impl From<fc::profile::Interests> for Interests {
    fn from(i: fc::profile::Interests) -> Self {
        Interests { products: strings(&i.products), topics: i.topics }
    }
}

impl From<Interests> for fc::profile::Interests {
    fn from(i: Interests) -> Self {
        fc::profile::Interests { products: i.products.into_iter().map(fc::ProductId).collect(), topics: i.topics }
    }
}

impl From<fc::profile::ClientProfile> for ClientProfile {
    fn from(p: fc::profile::ClientProfile) -> Self {
        ClientProfile {
            demographics: p.demographics.into(),
            capabilities: p.capabilities.into_iter().map(Into::into).collect(),
            agenda: p.agenda.into_iter().map(Into::into).collect(),
            interests: p.interests.into(),
            revision: p.revision,
        }
    }
}

impl From<ProfilePatch> for fc::profile::ProfilePatch {
    fn from(p: ProfilePatch) -> Self {
        fc::profile::ProfilePatch {
            demographics: p.demographics.map(Into::into),
            capabilities: p.capabilities.map(|v| v.into_iter().map(Into::into).collect()),
            agenda: p.agenda.map(|v| v.into_iter().map(Into::into).collect()),
            interests: p.interests.map(Into::into),
        }
    }
}

/// A note attached to a past interaction.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Note {
    /// When it was written.
    pub at_ms: u64,
    /// "client" or the agent's id.
    pub author: String,
    /// The text.
    pub text: String,
}

/// One entry of the client's interaction history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InteractionRecord {
    /// Interaction id.
    pub id: String,
    /// Whose interaction it was.
    pub client_id: String,
    /// When it began.
    pub started_at_ms: u64,
    /// When it ended.
    #[uniffi(default)]
    pub ended_at_ms: Option<u64>,
    /// Product it was about.
    #[uniffi(default)]
    pub product_id: Option<String>,
    /// Agent who took part.
    #[uniffi(default)]
    pub agent_id: Option<String>,
    /// Medium used.
    pub medium: Medium,
    /// Inbound or outbound.
    pub direction: Direction,
    /// How it ended.
    pub outcome: Outcome,
    /// Short summary.
    pub summary: String,
    /// Notes added afterwards.
    #[uniffi(default)]
    pub notes: Vec<Note>,
}

impl From<fc::records::InteractionRecord> for InteractionRecord {
    fn from(r: fc::records::InteractionRecord) -> Self {
        InteractionRecord {
            id: r.id.0,
            client_id: r.client.0,
            started_at_ms: ms(r.started_at),
            ended_at_ms: r.ended_at.map(ms),
            product_id: r.product.map(|p| p.0),
            agent_id: r.agent.map(|a| a.0),
            medium: r.medium.into(),
            direction: r.direction.into(),
            outcome: r.outcome.into(),
            summary: r.summary,
            notes: r.notes.into_iter().map(|n| Note { at_ms: ms(n.at), author: n.author, text: n.text }).collect(),
        }
    }
}

impl From<InteractionRecord> for fc::records::InteractionRecord {
    fn from(r: InteractionRecord) -> Self {
        fc::records::InteractionRecord {
            id: fc::InteractionId(r.id),
            client: fc::ClientId(r.client_id),
            started_at: Timestamp(r.started_at_ms),
            ended_at: r.ended_at_ms.map(Timestamp),
            product: r.product_id.map(fc::ProductId),
            agent: r.agent_id.map(fc::AgentId),
            medium: r.medium.into(),
            direction: r.direction.into(),
            outcome: r.outcome.into(),
            summary: r.summary,
            notes: r.notes.into_iter().map(|n| fc::records::Note { at: Timestamp(n.at_ms), author: n.author, text: n.text }).collect(),
        }
    }
}

/// Which history records to read; every set field must match.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct HistoryFilter {
    /// Only this product.
    #[uniffi(default)]
    pub product_id: Option<String>,
    /// Only with this agent.
    #[uniffi(default)]
    pub agent_id: Option<String>,
    /// Started at or after (ms since the epoch).
    #[uniffi(default)]
    pub from_ms: Option<u64>,
    /// Started before (ms since the epoch).
    #[uniffi(default)]
    pub until_ms: Option<u64>,
    /// Paging: only records after this one (newest first); pass the last record of a full page.
    #[uniffi(default)]
    pub after_id: Option<String>,
    /// Paging: at most this many (the broker caps it at its page size, 200 by default).
    #[uniffi(default)]
    pub limit: Option<u32>,
}

impl From<HistoryFilter> for fc::records::HistoryFilter {
    fn from(f: HistoryFilter) -> Self {
        fc::records::HistoryFilter {
            product: f.product_id.map(fc::ProductId),
            agent: f.agent_id.map(fc::AgentId),
            from: f.from_ms.map(Timestamp),
            until: f.until_ms.map(Timestamp),
            after: f.after_id.map(fc::InteractionId),
            limit: f.limit,
        }
    }
}

/// A product the center supports.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Product {
    /// Product id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short description.
    pub description: String,
}

impl From<fc::records::Product> for Product {
    fn from(p: fc::records::Product) -> Self {
        Product { id: p.id.0, name: p.name, description: p.description }
    }
}

impl From<Product> for fc::records::Product {
    fn from(p: Product) -> Self {
        fc::records::Product { id: fc::ProductId(p.id), name: p.name, description: p.description }
    }
}

/// Where and when an order is delivered; the part of an order the client may edit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeliveryDetails {
    /// Postal address.
    pub address: String,
    /// Preferred delivery window, free text.
    #[uniffi(default)]
    pub window: Option<String>,
    /// Instructions for the carrier.
    #[uniffi(default)]
    pub instructions: Option<String>,
}

impl From<fc::records::DeliveryDetails> for DeliveryDetails {
    fn from(d: fc::records::DeliveryDetails) -> Self {
        DeliveryDetails { address: d.address, window: d.window, instructions: d.instructions }
    }
}

impl From<DeliveryDetails> for fc::records::DeliveryDetails {
    fn from(d: DeliveryDetails) -> Self {
        fc::records::DeliveryDetails { address: d.address, window: d.window, instructions: d.instructions }
    }
}

/// One change of an order's status.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StatusChange {
    /// When.
    pub at_ms: u64,
    /// New status.
    pub status: OrderStatus,
}

/// A client's order.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Owner.
    pub client_id: String,
    /// Ordered product.
    pub product_id: String,
    /// Current status.
    pub status: OrderStatus,
    /// Every status it went through, oldest first.
    #[uniffi(default)]
    pub history: Vec<StatusChange>,
    /// Delivery details.
    pub delivery: DeliveryDetails,
    /// Bumped on each change.
    #[uniffi(default)]
    pub revision: u64,
}

impl From<fc::records::Order> for Order {
    fn from(o: fc::records::Order) -> Self {
        Order {
            id: o.id.0,
            client_id: o.client.0,
            product_id: o.product.0,
            status: o.status.into(),
            history: o.history.into_iter().map(|s| StatusChange { at_ms: ms(s.at), status: s.status.into() }).collect(),
            delivery: o.delivery.into(),
            revision: o.revision,
        }
    }
}

impl From<Order> for fc::records::Order {
    fn from(o: Order) -> Self {
        fc::records::Order {
            id: fc::OrderId(o.id),
            client: fc::ClientId(o.client_id),
            product: fc::ProductId(o.product_id),
            status: o.status.into(),
            history: o.history.into_iter().map(|s| fc::records::StatusChange { at: Timestamp(s.at_ms), status: s.status.into() }).collect(),
            delivery: o.delivery.into(),
            revision: o.revision,
        }
    }
}

/// An agent as clients see them.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgentSummary {
    /// Agent id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Current state.
    pub state: AgentState,
    /// Product ids the agent handles.
    pub skills: Vec<String>,
    /// Media the agent handles.
    pub media: Vec<Medium>,
    /// Since when the agent has been in this state.
    pub since_ms: u64,
}

/// Figures of one queue for one medium.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QueueStatus {
    /// Queue id.
    pub queue_id: String,
    /// Display name.
    pub name: String,
    /// Medium these figures are for.
    pub medium: Medium,
    /// Product ids served.
    pub products: Vec<String>,
    /// Agents ready for this medium now.
    pub agents_available: u32,
    /// Agents logged in for this medium.
    pub agents_staffed: u32,
    /// Interactions waiting.
    pub holding: u32,
    /// Estimated wait for a client joining now, in seconds; none when it cannot be estimated.
    pub estimated_hold_secs: Option<f64>,
    /// Whether new interactions on this medium are taken now.
    pub offered: bool,
    /// Whether the queue is within its business hours.
    pub open: bool,
    /// When it next opens (if closed) or closes (if open), ms since the epoch; none without hours.
    pub until_ms: Option<u64>,
}

/// The center as a whole.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CenterStatus {
    /// When the figures were computed.
    pub at_ms: u64,
    /// Per queue and medium.
    pub queues: Vec<QueueStatus>,
    /// Media offered anywhere right now.
    pub media_offered: Vec<Medium>,
    /// Agents logged in.
    pub agents: Vec<AgentSummary>,
}

impl From<fc::status::AgentSummary> for AgentSummary {
    fn from(a: fc::status::AgentSummary) -> Self {
        AgentSummary { id: a.id.0, name: a.name, state: a.state.into(), skills: strings(&a.skills), media: media(&a.media), since_ms: ms(a.since) }
    }
}

impl From<fc::status::CenterStatus> for CenterStatus {
    fn from(c: fc::status::CenterStatus) -> Self {
        CenterStatus {
            at_ms: ms(c.at),
            queues: c
                .queues
                .into_iter()
                .map(|q| QueueStatus {
                    queue_id: q.queue.0,
                    name: q.name,
                    medium: q.medium.into(),
                    products: strings(&q.products),
                    agents_available: q.agents_available,
                    agents_staffed: q.agents_staffed,
                    holding: q.holding,
                    estimated_hold_secs: q.estimated_hold_secs,
                    offered: q.offered,
                    open: q.open,
                    until_ms: q.until.map(|t| t.0),
                })
                .collect(),
            media_offered: media(&c.media_offered),
            agents: c.agents.into_iter().map(Into::into).collect(),
        }
    }
}

/// The client's own status, visible to the center.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ClientStatus {
    /// Activity.
    pub activity: ClientActivity,
    /// Medium the client is on right now.
    #[uniffi(default)]
    pub medium: Option<Medium>,
    /// Free text ("in a meeting until 3").
    #[uniffi(default)]
    pub note: Option<String>,
}

impl From<ClientStatus> for fc::status::ClientStatus {
    fn from(s: ClientStatus) -> Self {
        fc::status::ClientStatus { activity: s.activity.into(), medium: s.medium.map(Into::into), note: s.note }
    }
}

/// A condition on center status; the alert fires each time it becomes true.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AlertRule {
    /// An agent (optionally a given one, one skilled for a product, on a medium) is available.
    AgentAvailable {
        /// Only this agent.
        agent_id: Option<String>,
        /// Only agents with this product skill.
        product_id: Option<String>,
        /// Only agents on this medium.
        medium: Option<Medium>,
    },
    /// Estimated hold time of a queue (or any queue) on a medium is at or below a threshold.
    HoldTimeBelow {
        /// Only this queue.
        queue_id: Option<String>,
        /// Medium.
        medium: Medium,
        /// Threshold in seconds.
        seconds: f64,
    },
    /// The center offers a medium.
    MediumOffered {
        /// Medium.
        medium: Medium,
    },
}

impl From<AlertRule> for fc::alert::AlertRule {
    fn from(r: AlertRule) -> Self {
        match r {
            AlertRule::AgentAvailable { agent_id, product_id, medium } => fc::alert::AlertRule::AgentAvailable {
                agent: agent_id.map(fc::AgentId),
                product: product_id.map(fc::ProductId),
                medium: medium.map(Into::into),
            },
            AlertRule::HoldTimeBelow { queue_id, medium, seconds } => {
                fc::alert::AlertRule::HoldTimeBelow { queue: queue_id.map(fc::QueueId), medium: medium.into(), seconds }
            }
            AlertRule::MediumOffered { medium } => fc::alert::AlertRule::MediumOffered { medium: medium.into() },
        }
    }
}

impl From<fc::alert::AlertRule> for AlertRule {
    fn from(r: fc::alert::AlertRule) -> Self {
        match r {
            fc::alert::AlertRule::AgentAvailable { agent, product, medium } => AlertRule::AgentAvailable {
                agent_id: agent.map(|a| a.0),
                product_id: product.map(|p| p.0),
                medium: medium.map(Into::into),
            },
            fc::alert::AlertRule::HoldTimeBelow { queue, medium, seconds } => {
                AlertRule::HoldTimeBelow { queue_id: queue.map(|q| q.0), medium: medium.into(), seconds }
            }
            fc::alert::AlertRule::MediumOffered { medium } => AlertRule::MediumOffered { medium: medium.into() },
        }
    }
}

/// An alert that fired.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertFired {
    /// The subscription.
    pub alert_id: String,
    /// Its rule.
    pub rule: AlertRule,
    /// When.
    pub at_ms: u64,
    /// Why, in words.
    pub message: String,
}

impl From<fc::alert::AlertFired> for AlertFired {
    fn from(a: fc::alert::AlertFired) -> Self {
        AlertFired { alert_id: a.alert.0, rule: a.rule.into(), at_ms: ms(a.at), message: a.message }
    }
}

/// An invitation to a live interaction.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Invitation {
    /// Broker-assigned id.
    pub id: String,
    /// Direction.
    pub direction: InvitationDirection,
    /// The client side.
    pub client_id: String,
    /// The agent side.
    pub agent_id: String,
    /// Agent's display name.
    pub agent_name: String,
    /// Proposed medium.
    pub medium: Medium,
    /// Message from the sender.
    pub message: String,
    /// Sent at.
    pub created_at_ms: u64,
    /// Expires at.
    pub expires_at_ms: u64,
    /// State.
    pub state: InvitationState,
    /// The interaction started by accepting it.
    pub interaction_id: Option<String>,
}

impl From<fc::invitation::Invitation> for Invitation {
    fn from(i: fc::invitation::Invitation) -> Self {
        Invitation {
            id: i.id.0,
            direction: i.direction.into(),
            client_id: i.client.0,
            agent_id: i.agent.0,
            agent_name: i.agent_name,
            medium: i.medium.into(),
            message: i.message,
            created_at_ms: ms(i.created_at),
            expires_at_ms: ms(i.expires_at),
            state: i.state.into(),
            interaction_id: i.interaction.map(|x| x.0),
        }
    }
}

/// Where a live interaction is.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum InteractionState {
    /// Waiting for an agent.
    Queued {
        /// 1-based position in the queue.
        position: u32,
        /// Estimated remaining wait in seconds.
        estimated_hold_secs: Option<f64>,
    },
    /// An agent is on it.
    Connected,
    /// Over.
    Ended {
        /// How it ended.
        outcome: Outcome,
    },
}

/// A live interaction.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LiveInteraction {
    /// Id, shared with the history record it becomes.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Medium.
    pub medium: Medium,
    /// Queue it waits or waited in.
    pub queue_id: Option<String>,
    /// Product it is about.
    pub product_id: Option<String>,
    /// Topic given by the client.
    pub topic: Option<String>,
    /// Agent handling it.
    pub agent_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// State.
    pub state: InteractionState,
    /// When it was requested.
    pub created_at_ms: u64,
    /// When an agent connected.
    pub connected_at_ms: Option<u64>,
    /// When it ended.
    pub ended_at_ms: Option<u64>,
    /// Address the center uses to reach the client (phone number, email).
    pub client_address: Option<String>,
    /// A callback's telephony state.
    pub callback: Option<CallbackInfo>,
    /// The agent's messages the client has read, up to this seq (0: none).
    pub client_read: u64,
    /// The client's messages the agent has read, up to this seq (0: none).
    pub agent_read: u64,
}

impl From<fc::interaction::LiveInteraction> for LiveInteraction {
    fn from(l: fc::interaction::LiveInteraction) -> Self {
        use fc::interaction::InteractionState as S;
        LiveInteraction {
            id: l.id.0,
            client_id: l.client.0,
            medium: l.medium.into(),
            queue_id: l.queue.map(|q| q.0),
            product_id: l.product.map(|p| p.0),
            topic: l.topic,
            agent_id: l.agent.map(|a| a.0),
            direction: l.direction.into(),
            state: match l.state {
                S::Queued { position, estimated_hold_secs } => InteractionState::Queued { position, estimated_hold_secs },
                S::Connected => InteractionState::Connected,
                S::Ended { outcome } => InteractionState::Ended { outcome: outcome.into() },
            },
            created_at_ms: ms(l.created_at),
            connected_at_ms: l.connected_at.map(ms),
            ended_at_ms: l.ended_at.map(ms),
            client_address: l.client_address,
            callback: l.callback.map(Into::into),
            client_read: l.client_read,
            agent_read: l.agent_read,
        }
    }
}

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Author {
    /// The client.
    Client {
        /// Client id.
        id: String,
    },
    /// An agent.
    Agent {
        /// Agent id.
        id: String,
    },
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatMessage {
    /// Interaction it belongs to.
    pub interaction_id: String,
    /// Broker-assigned sequence within the interaction.
    pub seq: u64,
    /// Author.
    pub author: Author,
    /// Text.
    pub text: String,
    /// When the broker accepted it.
    pub at_ms: u64,
    /// The file it carries, read from the server with `GET /attachments/{interaction_id}/{seq}`.
    #[uniffi(default)]
    pub attachment: Option<Attachment>,
}

/// What a chat message says about the file it carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// File name as the sender gave it.
    pub name: String,
    /// Media type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

impl From<fc::interaction::ChatMessage> for ChatMessage {
    fn from(m: fc::interaction::ChatMessage) -> Self {
        ChatMessage {
            interaction_id: m.interaction.0,
            seq: m.seq,
            author: match m.from {
                fc::interaction::Author::Client(c) => Author::Client { id: c.0 },
                fc::interaction::Author::Agent(a) => Author::Agent { id: a.0 },
            },
            text: m.text,
            at_ms: ms(m.at),
            attachment: m.attachment.map(|a| Attachment { name: a.name, content_type: a.content_type, size: a.size }),
        }
    }
}

/// A snapshot of the client's local view: its data and the center's status as last synced.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ClientView {
    /// Who the broker says we are (none before the first session).
    pub client_id: Option<String>,
    /// Whether a session with the broker is up.
    pub connected: bool,
    /// Own profile, with unacknowledged edits applied.
    pub profile: ClientProfile,
    /// Own orders, by id order.
    pub orders: Vec<Order>,
    /// Product catalogue.
    pub products: Vec<Product>,
    /// History records seen, newest first.
    pub history: Vec<InteractionRecord>,
    /// Latest center status.
    pub center: Option<CenterStatus>,
    /// Invitations seen.
    pub invitations: Vec<Invitation>,
    /// Live interactions (and ended ones of this run).
    pub interactions: Vec<LiveInteraction>,
    /// Alerts that fired, oldest first.
    pub alerts: Vec<AlertFired>,
    /// Requests sent and not yet answered (a UI shows these as "sending").
    pub pending_requests: u32,
}

impl ClientView {
    pub(crate) fn of(c: &fc::client::Client) -> Self {
        let v = c.view();
        ClientView {
            client_id: v.client.as_ref().map(|c| c.0.clone()),
            connected: c.is_connected(),
            profile: v.profile.clone().into(),
            orders: v.orders.values().cloned().map(Into::into).collect(),
            products: v.products.iter().cloned().map(Into::into).collect(),
            history: v.history.iter().cloned().map(Into::into).collect(),
            center: v.center.clone().map(Into::into),
            invitations: v.invitations.values().cloned().map(Into::into).collect(),
            interactions: v.interactions.values().cloned().map(Into::into).collect(),
            alerts: v.alerts.iter().cloned().map(Into::into).collect(),
            pending_requests: c.pending_requests().count() as u32,
        }
    }
}

/// Which watchers an access rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum WatcherMatch {
    /// Everybody.
    Anyone,
    /// Any client.
    AnyClient,
    /// Any agent or supervisor.
    AnyAgent,
    /// One client.
    Client {
        /// Client id.
        id: String,
    },
    /// One agent.
    Agent {
        /// Agent id.
        id: String,
    },
}

mirror_enum!(
    /// What an access rule decides for the watchers it matches.
    Decision <=> fc::monitor::access::Decision {
        /// They see the real status.
        Allow,
        /// They are refused (their watch fails with `Forbidden`).
        Block,
        /// They are accepted but always see "closed", so they cannot tell they are blocked (RFC 2778).
        PoliteBlock,
    }
);

/// One rule about who may watch the client's own status; the first rule that matches decides.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccessRule {
    /// Who.
    pub watcher: WatcherMatch,
    /// What.
    pub decision: Decision,
}

impl From<AccessRule> for fc::monitor::access::AccessRule {
    fn from(r: AccessRule) -> Self {
        use fc::monitor::access::WatcherMatch as W;
        let watcher = match r.watcher {
            WatcherMatch::Anyone => W::Anyone,
            WatcherMatch::AnyClient => W::AnyClient,
            WatcherMatch::AnyAgent => W::AnyAgent,
            WatcherMatch::Client { id } => W::Client(fc::ClientId(id)),
            WatcherMatch::Agent { id } => W::Agent(fc::AgentId(id)),
        };
        fc::monitor::access::AccessRule { watcher, decision: r.decision.into() }
    }
}

/// The latest presence of a watched presentity, as the client's view holds it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Presence {
    /// Presentity in wire form ("center", "queue:support", "agent:ann", "client:bob").
    pub presentity: String,
    /// Grows with each change.
    pub version: u64,
    /// Whether it can be reached some way now (an open tuple); a politely blocked watcher always sees false.
    pub open: bool,
    /// Media on which it can be reached now.
    pub open_media: Vec<Medium>,
    /// Free text.
    pub note: Option<String>,
    /// Center figures (the center presentity).
    pub center: Option<CenterStatus>,
    /// The agent (an agent presentity).
    pub agent: Option<AgentSummary>,
    /// The client's status (a client presentity that allows us).
    pub client: Option<ClientStatus>,
}

impl From<fc::monitor::presence::PresenceDocument> for Presence {
    fn from(d: fc::monitor::presence::PresenceDocument) -> Self {
        use fc::monitor::presence::BasicStatus;
        Presence {
            presentity: d.entity.to_string(),
            version: d.version,
            open: d.is_open(),
            open_media: d.tuples.iter().filter(|t| t.status == BasicStatus::Open).filter_map(|t| t.medium.map(Into::into)).collect(),
            note: d.note,
            center: d.center.map(Into::into),
            agent: d.agent.map(Into::into),
            client: d.client.map(Into::into),
        }
    }
}

impl From<fc::status::ClientStatus> for ClientStatus {
    fn from(s: fc::status::ClientStatus) -> Self {
        ClientStatus { activity: s.activity.into(), medium: s.medium.map(Into::into), note: s.note }
    }
}

/// Parses a presentity's wire form, refusing anything else at once (not as a failed request later).
pub(crate) fn presentity(s: &str) -> Result<fc::monitor::presence::Presentity, crate::error::FrontdeskError> {
    fc::monitor::presence::Presentity::parse(s).ok_or_else(|| crate::error::FrontdeskError::Invalid {
        message: format!("bad presentity {s:?}: want center, queue:ID, agent:ID or client:ID"),
    })
}
