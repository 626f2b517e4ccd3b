//! The agent protocol over WebSocket (path `/agent`): JSON frames, so a console in any language can
//! play the agent. One `hello` with an agent token, then requests with ids; events are pushed.

use frontdesk_core::broker::AgentEvent;
use frontdesk_core::protocol::ErrorBody;
use frontdesk_core::records::HistoryFilter;
use frontdesk_core::status::AgentState;
use frontdesk_core::{ClientId, InteractionId, InvitationId, Medium, ProductId};
use serde::{Deserialize, Serialize};

/// A frame from an agent console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum AgentIn {
    /// Authenticate and log in.
    Hello {
        /// Agent token.
        token: String,
        /// Display name.
        name: String,
        /// Products handled.
        #[serde(default)]
        skills: Vec<ProductId>,
        /// Media handled.
        media: Vec<Medium>,
    },
    /// A request.
    Request {
        /// Id echoed in the response.
        id: u64,
        /// What.
        req: AgentRequest,
    },
}

/// What an agent can ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AgentRequest {
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
    /// Read center status.
    CenterStatus,
    /// Read the transcript of an interaction the agent handles (to catch up after reconnecting).
    Transcript {
        /// Interaction.
        interaction: InteractionId,
    },
}

/// A frame to an agent console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum AgentOut {
    /// Logged in.
    Welcome {
        /// Agent id.
        agent: String,
    },
    /// Answer to a request.
    Response {
        /// Request id.
        id: u64,
        /// Result value (JSON of the core type) or error.
        #[serde(flatten)]
        result: AgentResult,
    },
    /// Something happened.
    Event {
        /// The event.
        event: AgentEvent,
    },
    /// A frame-level error.
    Error {
        /// What.
        error: ErrorBody,
        /// Whether the server closes the connection.
        fatal: bool,
    },
}

/// A request's outcome on the agent wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentResult {
    /// Success with a value.
    Ok(serde_json::Value),
    /// Failure.
    Err(ErrorBody),
}
