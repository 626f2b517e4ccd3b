//! Live status of the center (queues, agents, media) and of a client, as the status monitor reports it.

use crate::ids::{AgentId, ProductId, QueueId};
use crate::medium::Medium;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What an agent is doing, as the center's ACD reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Logged in and ready for an interaction.
    Available,
    /// Handling an interaction.
    Busy,
    /// Wrapping up after an interaction.
    AfterWork,
    /// Logged in but not taking interactions (break, meeting).
    Away,
}

impl AgentState {
    /// Whether the agent is logged in at all.
    pub fn logged_in(self) -> bool {
        !matches!(self, AgentState::LoggedOut)
    }
}

/// An agent as clients see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentSummary {
    /// Agent id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Current state.
    pub state: AgentState,
    /// Products the agent handles.
    pub skills: Vec<ProductId>,
    /// Media the agent handles.
    pub media: Vec<Medium>,
    /// Since when the agent has been in this state.
    pub since: Timestamp,
}

/// Figures of one queue for one medium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueStatus {
    /// Queue id.
    pub queue: QueueId,
    /// Display name.
    pub name: String,
    /// Medium these figures are for.
    pub medium: Medium,
    /// Products served by the queue.
    pub products: Vec<ProductId>,
    /// Agents ready to take an interaction of this medium now.
    pub agents_available: u32,
    /// Agents logged in for this medium (available, busy or wrapping up).
    pub agents_staffed: u32,
    /// Interactions waiting.
    pub holding: u32,
    /// Estimated wait for a client joining now, in seconds; none when it cannot be estimated (no agents).
    pub estimated_hold_secs: Option<f64>,
    /// Whether the center takes new interactions on this medium in this queue right now.
    pub offered: bool,
    /// Whether the queue is within its business hours (always, without hours).
    #[serde(default = "yes")]
    pub open: bool,
    /// When it next opens (if closed) or closes (if open); none without hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

/// The center as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CenterStatus {
    /// When the figures were computed.
    pub at: Timestamp,
    /// Per queue and medium.
    pub queues: Vec<QueueStatus>,
    /// Media offered anywhere right now.
    pub media_offered: Vec<Medium>,
    /// Agents logged in, with their state.
    pub agents: Vec<AgentSummary>,
}

impl CenterStatus {
    /// Figures for a queue and medium.
    pub fn queue(&self, queue: &QueueId, medium: Medium) -> Option<&QueueStatus> {
        self.queues.iter().find(|q| &q.queue == queue && q.medium == medium)
    }

    /// Agents available now, optionally only those with a product skill.
    pub fn available_agents<'a>(&'a self, product: Option<&'a ProductId>) -> impl Iterator<Item = &'a AgentSummary> + 'a {
        self.agents
            .iter()
            .filter(move |a| a.state == AgentState::Available && product.map_or(true, |p| a.skills.contains(p)))
    }
}

/// Whether a client is around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientActivity {
    /// Using the app now.
    Online,
    /// App open but untouched for a while.
    Idle,
    /// Gone.
    #[default]
    Offline,
}

/// The client's own status, visible to the center (and to others the client allows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientStatus {
    /// Activity.
    pub activity: ClientActivity,
    /// Medium the client is on right now, if any.
    pub medium: Option<Medium>,
    /// Free text ("in a meeting until 3").
    pub note: Option<String>,
}
