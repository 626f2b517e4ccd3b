//! Who is asking: the authenticated identity every request and subscription is checked against.

use crate::ids::{AgentId, ClientId};
use serde::{Deserialize, Serialize};

/// What an agent's role allows beyond its own interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    /// Sees and serves the clients it is interacting with or has invited.
    Agent,
    /// Also reads any client's data, for coaching and escalations; still cannot edit a client's own profile.
    Supervisor,
}

/// An authenticated party.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// A customer.
    Client(ClientId),
    /// A center agent with a role.
    Agent(AgentId, AgentRole),
    /// A back-end service of the center (ACD bridge, CRM), trusted with everything.
    Service(String),
}

impl Principal {
    /// The client id if this is a client.
    pub fn client(&self) -> Option<&ClientId> {
        match self {
            Principal::Client(c) => Some(c),
            _ => None,
        }
    }

    /// The agent id if this is an agent.
    pub fn agent(&self) -> Option<&AgentId> {
        match self {
            Principal::Agent(a, _) => Some(a),
            _ => None,
        }
    }
}
