//! Typing notices: soft state between the two parties of a live chat, never sequenced or stored.
//!
//! A notice is sent as a frame of its own (`{"t":"typing","typing":{"interaction":…,"on":…}}`) and
//! lost with its connection; the receiver forgets it after [`TYPING_TTL`] without a refresh, so a
//! lost "stopped" or a party that vanished cannot leave "is typing…" on screen.

use crate::ids::InteractionId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a notice holds without a refresh.
pub const TYPING_TTL: Duration = Duration::from_secs(6);
/// How often a sender repeats "typing" while the person keeps typing; well inside the TTL, so one
/// lost refresh does not blink the indicator.
pub const TYPING_REFRESH: Duration = Duration::from_secs(2);

/// One typing notice, the same in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Typing {
    /// The chat it is about.
    pub interaction: InteractionId,
    /// Typing (true) or stopped (false).
    pub on: bool,
}

impl Typing {
    /// The frame that carries it, written by hand so the web module links no frame serializer.
    pub fn frame(interaction: &InteractionId, on: bool) -> String {
        let id = serde_json::to_string(&interaction.0).unwrap_or_default();
        format!(r#"{{"t":"typing","typing":{{"interaction":{id},"on":{on}}}}}"#)
    }
}

/// Who is typing on the other side, each until its notice expires.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypingPeers {
    until: BTreeMap<InteractionId, Timestamp>,
}

impl TypingPeers {
    /// Takes a notice; true when what the app shows changes.
    pub fn note(&mut self, now: Timestamp, t: &Typing) -> bool {
        if t.on {
            self.until.insert(t.interaction.clone(), now.add(TYPING_TTL)).is_none()
        } else {
            self.until.remove(&t.interaction).is_some()
        }
    }

    /// Whether the other side is typing in this interaction.
    pub fn is_typing(&self, interaction: &InteractionId) -> bool {
        self.until.contains_key(interaction)
    }

    /// When the next notice expires.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.until.values().min().copied()
    }

    /// Forgets expired notices and returns their interactions; early calls return none.
    pub fn expire(&mut self, now: Timestamp) -> Vec<InteractionId> {
        let gone: Vec<InteractionId> = self.until.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
        for id in &gone {
            self.until.remove(id);
        }
        gone
    }

    /// Forgets an interaction (it ended).
    pub fn forget(&mut self, interaction: &InteractionId) {
        self.until.remove(interaction);
    }
}

/// The sender's side: a change goes out at once, an unchanged "typing" only every [`TYPING_REFRESH`],
/// so an app may call on every keystroke.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypingThrottle {
    last: BTreeMap<InteractionId, (bool, Timestamp)>,
}

impl TypingThrottle {
    /// Whether this notice should go on the wire now.
    pub fn admit(&mut self, now: Timestamp, interaction: &InteractionId, on: bool) -> bool {
        let send = match self.last.get(interaction) {
            Some((was, at)) => *was != on || (on && now >= at.add(TYPING_REFRESH)),
            None => on,
        };
        if send {
            self.last.insert(interaction.clone(), (on, now));
        }
        if !on && send {
            self.last.remove(interaction);
        }
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_expire_and_the_sender_throttles() {
        let ix: InteractionId = "i".into();
        let mut p = TypingPeers::default();
        assert!(p.note(Timestamp(0), &Typing { interaction: ix.clone(), on: true }));
        assert!(!p.note(Timestamp(1000), &Typing { interaction: ix.clone(), on: true }), "a refresh changes nothing shown");
        assert_eq!(p.poll_timeout(), Some(Timestamp(7000)));
        assert!(p.expire(Timestamp(6999)).is_empty());
        assert_eq!(p.expire(Timestamp(7000)), vec![ix.clone()]);
        let mut t = TypingThrottle::default();
        assert!(!t.admit(Timestamp(0), &ix, false), "nothing to stop");
        assert!(t.admit(Timestamp(0), &ix, true));
        assert!(!t.admit(Timestamp(500), &ix, true));
        assert!(t.admit(Timestamp(2000), &ix, true));
        assert!(t.admit(Timestamp(2100), &ix, false));
        assert!(!t.admit(Timestamp(2200), &ix, false));
        assert_eq!(Typing::frame(&ix, true), r#"{"t":"typing","typing":{"interaction":"i","on":true}}"#);
    }
}
