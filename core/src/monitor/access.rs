//! RFC 2778 access rules: which watchers may see a presentity, and how a refusal looks to them.

use super::presence::Presentity;
use crate::ids::{AgentId, ClientId};
use crate::principal::Principal;
use serde::{Deserialize, Serialize};

/// Which watchers a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum WatcherMatch {
    /// Everybody.
    Anyone,
    /// Any client.
    AnyClient,
    /// Any agent or supervisor.
    AnyAgent,
    /// One client.
    Client(ClientId),
    /// One agent.
    Agent(AgentId),
}

impl WatcherMatch {
    /// Whether the principal is matched.
    pub fn matches(&self, p: &Principal) -> bool {
        match (self, p) {
            (WatcherMatch::Anyone, _) => true,
            (WatcherMatch::AnyClient, Principal::Client(_)) => true,
            (WatcherMatch::AnyAgent, Principal::Agent(..)) => true,
            (WatcherMatch::Client(c), Principal::Client(d)) => c == d,
            (WatcherMatch::Agent(a), Principal::Agent(b, _)) => a == b,
            _ => false,
        }
    }
}

/// What a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The watcher sees the real presence.
    Allow,
    /// The watcher is refused with an error.
    Block,
    /// The watcher is accepted but always sees "closed", so it cannot tell it is blocked.
    PoliteBlock,
}

/// One rule; the first matching rule of a presentity decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccessRule {
    /// Who.
    pub watcher: WatcherMatch,
    /// What.
    pub decision: Decision,
}

/// The default when no rule of the owner matches: the center is public, clients are private to the center.
pub fn default_decision(presentity: &Presentity, watcher: &Principal) -> Decision {
    match (presentity, watcher) {
        (_, Principal::Service(_)) => Decision::Allow,
        (Presentity::Center | Presentity::Queue(_) | Presentity::Agent(_), _) => Decision::Allow,
        (Presentity::Client(c), Principal::Client(d)) if c == d => Decision::Allow,
        (Presentity::Client(_), Principal::Agent(..)) => Decision::Allow,
        (Presentity::Client(_), Principal::Client(_)) => Decision::PoliteBlock,
    }
}

/// Whether `who` may set the access rules of `presentity`: its owner, or a back-end service.
pub fn may_set_rules(presentity: &Presentity, who: &Principal) -> bool {
    match (presentity, who) {
        (_, Principal::Service(_)) => true,
        (Presentity::Client(c), Principal::Client(d)) => c == d,
        (Presentity::Agent(a), Principal::Agent(b, _)) => a == b,
        _ => false,
    }
}

/// Evaluates rules in order, falling back to the default.
pub fn decide(rules: &[AccessRule], presentity: &Presentity, watcher: &Principal) -> Decision {
    // The owner always sees itself: a rule cannot lock a client out of its own status.
    if may_set_rules(presentity, watcher) && !matches!(watcher, Principal::Service(_)) {
        return Decision::Allow;
    }
    rules
        .iter()
        .find(|r| r.watcher.matches(watcher))
        .map(|r| r.decision)
        .unwrap_or_else(|| default_decision(presentity, watcher))
}
