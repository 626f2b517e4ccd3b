//! Invitations: an agent invites a client to interact, or a client invites an agent.

use crate::ids::{AgentId, ClientId, InteractionId, InvitationId};
use crate::medium::Medium;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Who invited whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationDirection {
    /// An agent invites a client.
    AgentToClient,
    /// A client invites an agent.
    ClientToAgent,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    /// Waiting for an answer.
    Pending,
    /// Accepted; an interaction was started.
    Accepted,
    /// Declined.
    Declined,
    /// Not answered in time.
    Expired,
    /// Withdrawn by the sender, or the sender went away.
    Cancelled,
}

/// An invitation to a live interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Invitation {
    /// Broker-assigned id; unguessable by other clients only in the sense that it is checked against the invitee.
    pub id: InvitationId,
    /// Direction.
    pub direction: InvitationDirection,
    /// The client side.
    pub client: ClientId,
    /// The agent side.
    pub agent: AgentId,
    /// Agent's display name, so the client can show who invites.
    pub agent_name: String,
    /// Proposed medium.
    pub medium: Medium,
    /// Message from the sender.
    pub message: String,
    /// Sent at.
    pub created_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
    /// State.
    pub state: InvitationState,
    /// The interaction started by accepting it.
    pub interaction: Option<InteractionId>,
}
