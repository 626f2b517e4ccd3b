//! Identifiers of the things a contact center talks about; strings on the wire, distinct types in code.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps any string-like value.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    )*};
}

id_type!(
    /// A customer of the center.
    ClientId,
    /// A person (or bot) answering interactions for the center.
    AgentId,
    /// A queue where interactions wait for an agent.
    QueueId,
    /// A product or topic the center serves.
    ProductId,
    /// A customer order.
    OrderId,
    /// A live or past interaction between a client and the center.
    InteractionId,
    /// An invitation from an agent to a client or back.
    InvitationId,
    /// A status-alert subscription of a client.
    AlertId,
);
