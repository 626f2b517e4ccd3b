//! Status alerts a client subscribes to: tell me when an agent comes online, when hold time drops.

use crate::ids::{AgentId, AlertId, ProductId, QueueId};
use crate::medium::Medium;
use crate::status::{AgentState, CenterStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A condition on center status; the alert fires each time it becomes true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum AlertRule {
    /// An agent (optionally a given one, or one skilled for a product, on a medium) is available.
    AgentAvailable {
        /// Only this agent.
        #[serde(default)]
        agent: Option<AgentId>,
        /// Only agents with this skill.
        #[serde(default)]
        product: Option<ProductId>,
        /// Only agents on this medium.
        #[serde(default)]
        medium: Option<Medium>,
    },
    /// Estimated hold time of a queue (or any queue) on a medium is at or below a threshold.
    HoldTimeBelow {
        /// Only this queue.
        #[serde(default)]
        queue: Option<QueueId>,
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

impl AlertRule {
    /// Whether the condition holds, with a human-readable reason when it does.
    pub fn evaluate(&self, c: &CenterStatus) -> Option<String> {
        match self {
            AlertRule::AgentAvailable { agent, product, medium } => c
                .agents
                .iter()
                .find(|a| {
                    a.state == AgentState::Available
                        && agent.as_ref().map_or(true, |x| &a.id == x)
                        && product.as_ref().map_or(true, |p| a.skills.contains(p))
                        && medium.map_or(true, |m| a.media.contains(&m))
                })
                .map(|a| format!("{} is available", a.name)),
            AlertRule::HoldTimeBelow { queue, medium, seconds } => c
                .queues
                .iter()
                .filter(|q| q.medium == *medium && q.offered && queue.as_ref().map_or(true, |x| &q.queue == x))
                .filter_map(|q| q.estimated_hold_secs.map(|s| (q, s)))
                .find(|(_, s)| s <= seconds)
                .map(|(q, s)| format!("{} hold time on {} is {:.0} s", q.name, q.medium, s)),
            AlertRule::MediumOffered { medium } => {
                c.media_offered.contains(medium).then(|| format!("{medium} is offered now"))
            }
        }
    }
}

/// An alert that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AlertFired {
    /// The subscription.
    pub alert: AlertId,
    /// Its rule.
    pub rule: AlertRule,
    /// When.
    pub at: Timestamp,
    /// Why, in words.
    pub message: String,
}
