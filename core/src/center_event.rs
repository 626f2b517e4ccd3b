//! Events a contact center reports about its agents, queues and interactions: the status monitor's input.

use crate::ids::{AgentId, ClientId, InteractionId, ProductId, QueueId};
use crate::medium::Medium;
use crate::status::AgentState;
use serde::{Deserialize, Serialize};

/// One thing that happened in the center; from the broker's built-in routing or a vendor's ACD bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CenterEvent {
    /// A queue exists (or changed) with the products and media it serves.
    QueueConfigured {
        /// Queue id.
        queue: QueueId,
        /// Display name.
        name: String,
        /// Products; empty means any.
        products: Vec<ProductId>,
        /// Media it takes.
        media: Vec<Medium>,
    },
    /// An agent logged in; starts `Away` until a state change says otherwise.
    AgentLoggedIn {
        /// Agent id.
        agent: AgentId,
        /// Display name.
        name: String,
        /// Products handled.
        skills: Vec<ProductId>,
        /// Media handled.
        media: Vec<Medium>,
    },
    /// An agent logged out.
    AgentLoggedOut {
        /// Agent id.
        agent: AgentId,
    },
    /// An agent changed state.
    AgentStateChanged {
        /// Agent id.
        agent: AgentId,
        /// New state.
        state: AgentState,
    },
    /// An interaction started waiting in a queue.
    InteractionQueued {
        /// Interaction id.
        interaction: InteractionId,
        /// Queue.
        queue: QueueId,
        /// Medium.
        medium: Medium,
        /// Client, when known.
        client: Option<ClientId>,
    },
    /// An agent answered a waiting interaction.
    InteractionAnswered {
        /// Interaction id.
        interaction: InteractionId,
        /// Agent.
        agent: AgentId,
    },
    /// The client left the queue before being answered.
    InteractionAbandoned {
        /// Interaction id.
        interaction: InteractionId,
    },
    /// An answered interaction waits again at its old place, because its agent left.
    InteractionRequeued {
        /// Interaction id.
        interaction: InteractionId,
    },
    /// An answered interaction ended.
    InteractionEnded {
        /// Interaction id.
        interaction: InteractionId,
    },
    /// A queue's business hours were set (none: always open).
    QueueHoursSet {
        /// Queue id.
        queue: QueueId,
        /// The hours.
        hours: Option<crate::monitor::hours::BusinessHours>,
    },
}
