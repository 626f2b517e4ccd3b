//! The RFC 2778 presence model: presentities, their tuples and the documents watchers receive.

use crate::ids::{AgentId, ClientId, QueueId};
use crate::medium::Medium;
use crate::status::{AgentSummary, CenterStatus, ClientStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Something whose presence can be watched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(with = "String", extend("pattern" = "^(center|(queue|agent|client):.+)$")))]
pub enum Presentity {
    /// The whole center: queues, media offered and agents.
    Center,
    /// One queue.
    Queue(QueueId),
    /// One agent.
    Agent(AgentId),
    /// One client (visible to the center, and to others the client allows).
    Client(ClientId),
}

impl Presentity {
    /// Wire form: `center`, `queue:<id>`, `agent:<id>`, `client:<id>`.
    pub fn to_uri_part(&self) -> String {
        match self {
            Presentity::Center => "center".into(),
            Presentity::Queue(q) => format!("queue:{q}"),
            Presentity::Agent(a) => format!("agent:{a}"),
            Presentity::Client(c) => format!("client:{c}"),
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Presentity> {
        if s == "center" {
            return Some(Presentity::Center);
        }
        let (kind, id) = s.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        match kind {
            "queue" => Some(Presentity::Queue(id.into())),
            "agent" => Some(Presentity::Agent(id.into())),
            "client" => Some(Presentity::Client(id.into())),
            _ => None,
        }
    }
}

impl Presentity {
    /// The local part used in address-style names (XMPP JIDs, PIDF `pres:` URIs): `center`,
    /// `queue-<id>`, `agent-<id>`, `client-<id>` — a `:` is not allowed there.
    pub fn local_part(&self) -> String {
        self.to_uri_part().replacen(':', "-", 1)
    }

    /// Parses a local part made by [`local_part`](Self::local_part).
    pub fn from_local_part(s: &str) -> Option<Presentity> {
        if s == "center" {
            return Some(Presentity::Center);
        }
        let (kind, id) = s.split_once('-')?;
        Presentity::parse(&format!("{kind}:{id}"))
    }
}

impl std::fmt::Display for Presentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_uri_part())
    }
}

impl Serialize for Presentity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_uri_part())
    }
}

impl<'de> Deserialize<'de> for Presentity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Presentity::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a presentity: {s:?}")))
    }
}

/// PIDF basic status of a tuple: can the presentity be reached this way now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BasicStatus {
    /// Reachable.
    Open,
    /// Not reachable.
    Closed,
}

/// RPID (RFC 4480) activities we report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    /// In a voice or video interaction.
    OnThePhone,
    /// Busy with another medium.
    Busy,
    /// Away from work.
    Away,
    /// In a meeting.
    Meeting,
    /// Working, e.g. after-call work.
    Working,
    /// Idle client.
    Unknown,
}

/// One communication means of a presentity (RFC 2778 presence tuple).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Tuple {
    /// Stable id within the document.
    pub id: String,
    /// Open or closed.
    pub status: BasicStatus,
    /// The medium of this means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<Medium>,
    /// Contact address (URI) for this means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a watcher receives about one presentity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PresenceDocument {
    /// Whose presence.
    pub entity: Presentity,
    /// Increases with each change, so stale copies can be dropped.
    pub version: u64,
    /// When it was computed.
    pub timestamp: Timestamp,
    /// Communication means.
    pub tuples: Vec<Tuple>,
    /// Person-level activities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Center figures (for the center presentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center: Option<CenterStatus>,
    /// Agent details (for an agent presentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentSummary>,
    /// Client status (for a client presentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientStatus>,
}

impl PresenceDocument {
    /// The document a politely blocked watcher sees: one closed tuple and nothing else (RFC 2778 polite blocking).
    pub fn closed(entity: Presentity, timestamp: Timestamp) -> Self {
        PresenceDocument {
            entity,
            version: 0,
            timestamp,
            tuples: vec![Tuple { id: "t0".into(), status: BasicStatus::Closed, medium: None, contact: None, note: None }],
            activities: vec![],
            note: None,
            center: None,
            agent: None,
            client: None,
        }
    }

    /// Whether any tuple is open.
    pub fn is_open(&self) -> bool {
        self.tuples.iter().any(|t| t.status == BasicStatus::Open)
    }
}
