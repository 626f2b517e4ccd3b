//! The hook between the broker and a real contact center (ACD, telephony): told of each live
//! interaction a client asks for, it may refuse it or take it over.

use crate::interaction::LiveInteraction;
use crate::time::Timestamp;

/// What the center adapter decides about a requested interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The broker's own routing offers it to its logged-in agents.
    RouteHere,
    /// An external center routes it and reports back through the broker's `center_*` calls.
    External,
    /// Refused, with a reason the client sees.
    Refuse(String),
}

/// A pluggable contact-center adapter; the default routes everything to the broker's own agents.
pub trait CenterAdapter: Send {
    /// A client asked for a live interaction (already queued in the status monitor).
    fn admit(&mut self, now: Timestamp, interaction: &LiveInteraction) -> Admission;
    /// The interaction ended or was abandoned, so the center can free resources (a phone line).
    fn ended(&mut self, _now: Timestamp, _interaction: &LiveInteraction) {}
}

/// Routes every interaction to the broker's own agents.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinRouting;

impl CenterAdapter for BuiltinRouting {
    fn admit(&mut self, _now: Timestamp, _interaction: &LiveInteraction) -> Admission {
        Admission::RouteHere
    }
}
