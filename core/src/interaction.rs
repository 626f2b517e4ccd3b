//! Live interactions a client starts in a medium of its choice, and the chat messages inside them.

use crate::ids::{AgentId, ClientId, InteractionId, ProductId, QueueId};
use crate::medium::Medium;
use crate::records::{Direction, Outcome};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a live interaction is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InteractionState {
    /// Waiting for an agent.
    Queued {
        /// 1-based position in the queue.
        position: u32,
        /// Estimated remaining wait in seconds, when it can be estimated.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiveInteraction {
    /// Id, shared with the history record it becomes.
    pub id: InteractionId,
    /// The client.
    pub client: ClientId,
    /// Medium chosen by the client (or proposed by the inviting agent).
    pub medium: Medium,
    /// Queue it waits or waited in.
    pub queue: Option<QueueId>,
    /// Product it is about.
    pub product: Option<ProductId>,
    /// Topic given by the client.
    pub topic: Option<String>,
    /// Agent handling it.
    pub agent: Option<AgentId>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// State.
    #[serde(flatten)]
    pub state: InteractionState,
    /// When it was requested.
    pub created_at: Timestamp,
    /// When an agent connected.
    pub connected_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Address the center uses to reach the client (phone number for callback and voice, email for email).
    pub client_address: Option<String>,
    /// Telephony state of a callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<crate::callback::Callback>,
    /// The agent's messages the client has read, up to this seq (kept here so a console or app
    /// that starts over still shows "read").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_read: u64,
    /// The client's messages the agent has read, up to this seq.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub agent_read: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Author {
    /// The client.
    Client(ClientId),
    /// An agent.
    Agent(AgentId),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChatMessage {
    /// Interaction it belongs to.
    pub interaction: InteractionId,
    /// Broker-assigned sequence within the interaction, so transcripts sort the same everywhere.
    pub seq: u64,
    /// Author.
    pub from: Author,
    /// Text (for a file, its name, so a reader that shows only text still shows something).
    pub text: String,
    /// When the broker accepted it.
    pub at: Timestamp,
    /// The file this message carries, read with `GET /attachments/{interaction}/{seq}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::attachment::Attachment>,
}

/// Longest chat message accepted, in bytes.
pub const MAX_CHAT_BYTES: usize = 8 * 1024;

/// Puts a message in its place in a transcript held in order, once: pages, pushed messages and
/// replays overlap, and each must show once.
pub fn insert_message(transcript: &mut Vec<ChatMessage>, m: ChatMessage) {
    let at = transcript.partition_point(|x| x.seq < m.seq);
    if transcript.get(at).map_or(true, |x| x.seq != m.seq) {
        transcript.insert(at, m);
    }
}
