//! The media through which a client and the center can interact.

use serde::{Deserialize, Serialize};

/// A communication medium; voice and callback travel over the telephone network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// Text chat in the app or page.
    Chat,
    /// A voice call placed by the client.
    Voice,
    /// A video call.
    Video,
    /// The center calls the client back on a number the client gave.
    Callback,
    /// Asynchronous email.
    Email,
}

impl Medium {
    /// Every medium, in a stable order.
    pub const ALL: [Medium; 5] = [Medium::Chat, Medium::Voice, Medium::Video, Medium::Callback, Medium::Email];

    /// Lower-case name used on the wire and in presence documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Chat => "chat",
            Medium::Voice => "voice",
            Medium::Video => "video",
            Medium::Callback => "callback",
            Medium::Email => "email",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Medium> {
        Medium::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether an agent must be live on it (email waits in a backlog instead).
    pub fn is_live(self) -> bool {
        !matches!(self, Medium::Email)
    }

    /// Whether its interactions carry written messages (a transcript): chat and email, and calls,
    /// where the chat stays usable beside the voice or video (a link to paste, a number to spell).
    pub fn has_messages(self) -> bool {
        !matches!(self, Medium::Callback)
    }
}

impl std::fmt::Display for Medium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
