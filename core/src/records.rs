//! The center's data about a client: interaction history, products and orders.

use crate::ids::{AgentId, ClientId, InteractionId, OrderId, ProductId};
use crate::medium::Medium;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Who started an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The client reached out.
    Inbound,
    /// The center reached out (invitation, callback, campaign).
    Outbound,
}

/// How an interaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Handled by an agent.
    Completed,
    /// The client left the queue before an agent answered.
    Abandoned,
    /// Refused or failed before it started.
    Failed,
}

/// A client-visible note attached to a past interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Note {
    /// When it was written.
    pub at: Timestamp,
    /// "client" or the agent's id.
    pub author: String,
    /// The text.
    pub text: String,
}

/// One entry of the client's interaction history; every record is time stamped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InteractionRecord {
    /// Interaction id.
    pub id: InteractionId,
    /// Whose interaction it was.
    pub client: ClientId,
    /// When it began (queued or invited).
    pub started_at: Timestamp,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Product it was about.
    pub product: Option<ProductId>,
    /// Agent who took part.
    pub agent: Option<AgentId>,
    /// Medium used.
    pub medium: Medium,
    /// Inbound or outbound.
    pub direction: Direction,
    /// How it ended.
    pub outcome: Outcome,
    /// Short summary.
    pub summary: String,
    /// Notes added afterwards.
    #[serde(default)]
    pub notes: Vec<Note>,
}

/// Which history records a client wants; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryFilter {
    /// Only this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductId>,
    /// Only with this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
    /// Started at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// Started before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Paging: only records that come after this one (newest first), so the last record of one page
    /// asks for the next even when several started at the same moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<InteractionId>,
    /// Paging: at most this many records (the broker caps it at its page size; a full page means
    /// there may be more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl HistoryFilter {
    /// Whether a record passes.
    pub fn matches(&self, r: &InteractionRecord) -> bool {
        self.product.as_ref().map_or(true, |p| r.product.as_ref() == Some(p))
            && self.agent.as_ref().map_or(true, |a| r.agent.as_ref() == Some(a))
            && self.from.map_or(true, |f| r.started_at >= f)
            && self.until.map_or(true, |u| r.started_at < u)
    }
}

/// A product the center supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Product {
    /// Product id.
    pub id: ProductId,
    /// Display name.
    pub name: String,
    /// Short description.
    pub description: String,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet paid or confirmed.
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

impl OrderStatus {
    /// Whether the client may still change delivery details.
    pub fn delivery_editable(self) -> bool {
        matches!(self, OrderStatus::Placed | OrderStatus::Processing)
    }
}

/// Where and when an order is delivered; the part of an order the client may edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeliveryDetails {
    /// Postal address.
    pub address: String,
    /// Preferred delivery window, free text ("weekdays after 18:00").
    pub window: Option<String>,
    /// Instructions for the carrier.
    pub instructions: Option<String>,
}

/// One change of an order's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatusChange {
    /// When.
    pub at: Timestamp,
    /// New status.
    pub status: OrderStatus,
}

/// A client's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Order {
    /// Order id.
    pub id: OrderId,
    /// Owner.
    pub client: ClientId,
    /// Ordered product.
    pub product: ProductId,
    /// Current status.
    pub status: OrderStatus,
    /// Every status it went through, oldest first.
    pub history: Vec<StatusChange>,
    /// Delivery details.
    pub delivery: DeliveryDetails,
    /// Bumped on each change.
    #[serde(default)]
    pub revision: u64,
}
