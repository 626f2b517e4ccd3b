//! Callbacks: the center phones the client back, at once or in a slot of the client's agenda,
//! keeping the client's place in the queue meanwhile.
//!
//! The broker owns the callback's life (queueing, retries, durability); the host's dialer owns the
//! telephone network. They meet at [`Dial`] (a call the host owes) and [`DialProgress`] (what the
//! dialer saw), both numbered by attempt so a report from an attempt that was given up is ignored.

use crate::ids::InteractionId;
use crate::medium::Medium;
use crate::profile::AgendaWindow;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A callback's telephony state, carried by its live interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Callback {
    /// Number to call, E.164 (`+4930123456`).
    pub number: String,
    /// The slot the client asked for; none for "as soon as possible".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Where the callback is.
    #[serde(flatten)]
    pub phase: CallbackPhase,
    /// Attempts that reached the customer's side and failed (busy, no answer…).
    #[serde(default)]
    pub attempts: u32,
    /// Numbers each dial the host is asked to place, so stale reports are told apart.
    #[serde(default)]
    pub dial: u32,
}

/// Where a callback is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum CallbackPhase {
    /// Waiting for its slot or for an agent (its place in the queue is the interaction's state).
    Scheduled,
    /// An agent took it: the agent's phone rings.
    DialingAgent,
    /// The agent answered: the client's phone rings.
    DialingCustomer,
    /// Both talk.
    Connected,
    /// The last attempt failed; it goes back to the agents at `at`.
    RetryAt {
        /// When.
        #[serde(rename = "retry_at")]
        at: Timestamp,
        /// Why the last attempt failed.
        reason: DialFailure,
    },
    /// Given up.
    Failed {
        /// Why the last attempt failed.
        reason: DialFailure,
    },
    /// Over (after a conversation or a cancel).
    Ended,
}

/// Why a dial failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DialFailure {
    /// The line was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The call was refused (declined, number unknown): not retried.
    Rejected,
    /// The trunk (or the agent's phone) could not be reached.
    Unreachable,
    /// The server stopped while dialing.
    Interrupted,
    /// Cancelled by the client or the agent.
    Cancelled,
}

impl DialFailure {
    /// Whether another attempt may go better.
    pub fn retryable(self) -> bool {
        matches!(self, DialFailure::Busy | DialFailure::NoAnswer | DialFailure::Unreachable | DialFailure::Interrupted)
    }

    /// Words for records and consoles.
    pub fn describe(self) -> &'static str {
        match self {
            DialFailure::Busy => "busy",
            DialFailure::NoAnswer => "no answer",
            DialFailure::Rejected => "rejected",
            DialFailure::Unreachable => "unreachable",
            DialFailure::Interrupted => "interrupted by a server restart",
            DialFailure::Cancelled => "cancelled",
        }
    }
}

/// A call the host's dialer owes: ring the agent, then the client, then bridge them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dial {
    /// The callback.
    pub interaction: InteractionId,
    /// Which dial this is; progress reports carry it back.
    pub dial: u32,
    /// The agent's phone (a SIP URI).
    pub agent_phone: String,
    /// The client's number, E.164.
    pub number: String,
}

/// Which leg of a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallSide {
    /// The agent's phone.
    Agent,
    /// The client's phone.
    Customer,
}

/// What the host's dialer saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum DialProgress {
    /// The agent's phone rings.
    AgentRinging,
    /// The agent answered; the client is being called.
    CustomerRinging,
    /// The two are bridged.
    Connected,
    /// A leg hung up after they talked.
    Ended {
        /// Who hung up.
        by: CallSide,
    },
    /// A leg failed before they talked.
    Failed {
        /// Which leg.
        side: CallSide,
        /// Why.
        reason: DialFailure,
    },
}

/// Why a number or slot is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Not an E.164 number.
    #[error("{0:?} is not a phone number in international form (+ country code and number, e.g. +4930123456)")]
    BadNumber(String),
    /// The slot is outside every agenda window that takes calls.
    #[error("{0} lies outside your agenda; pick a time in one of its windows or add one")]
    OutsideAgenda(Timestamp),
    /// An agenda window names a zone that does not exist.
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
}

/// The number in E.164 form: `+`, a country code not starting with 0, 8 to 15 digits in all.
/// Spaces, dots, dashes and parentheses people type are dropped.
pub fn normalize_number(raw: &str) -> Result<String, CallbackError> {
    let bad = || CallbackError::BadNumber(raw.chars().take(40).collect());
    let t = raw.trim();
    let digits = t.strip_prefix('+').ok_or_else(bad)?;
    let mut out = String::from("+");
    for c in digits.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return Err(bad()),
        }
    }
    let n = out.len() - 1;
    if !(8..=15).contains(&n) || out.as_bytes()[1] == b'0' {
        return Err(bad());
    }
    Ok(out)
}

/// Whether `at` falls in a window of the agenda that takes phone calls (windows without media
/// take every medium the client has).
pub fn agenda_allows(agenda: &[AgendaWindow], at: Timestamp) -> Result<bool, CallbackError> {
    let ts = jiff::Timestamp::from_millisecond(i64::try_from(at.as_millis()).unwrap_or(i64::MAX)).map_err(|_| CallbackError::OutsideAgenda(at))?;
    for w in agenda {
        if !(w.media.is_empty() || w.media.iter().any(|m| matches!(m, Medium::Callback | Medium::Voice))) {
            continue;
        }
        let tz = jiff::tz::TimeZone::get(&w.time_zone).map_err(|_| CallbackError::UnknownZone(w.time_zone.clone()))?;
        let local = ts.to_zoned(tz);
        let day = local.weekday().to_monday_one_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        if w.days.contains(&day) && (w.start_minute..w.end_minute).contains(&minute) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[u8], start: u16, end: u16, tz: &str) -> AgendaWindow {
        AgendaWindow { days: days.to_vec(), start_minute: start, end_minute: end, time_zone: tz.into(), media: vec![] }
    }

    #[test]
    fn numbers_are_normalized_or_refused() {
        assert_eq!(normalize_number(" +49 (30) 123-456.78 ").unwrap(), "+493012345678");
        for bad in ["030123456", "+0123456789", "+12", "+1234567890123456", "+49 30 abc", "", "+"] {
            assert!(matches!(normalize_number(bad), Err(CallbackError::BadNumber(_))), "{bad}");
        }
    }

    #[test]
    fn slots_follow_the_windows_in_their_zone() {
        // 2026-12-01T08:30Z is a Tuesday, 09:30 in Paris (UTC+1 in winter) and 03:30 in New York.
        let at = Timestamp(1_796_113_800_000);
        let paris = window(&[2], 9 * 60, 10 * 60, "Europe/Paris");
        let ny = window(&[2], 9 * 60, 10 * 60, "America/New_York");
        assert!(agenda_allows(&[paris.clone()], at).unwrap());
        assert!(!agenda_allows(&[ny], at).unwrap());
        assert!(!agenda_allows(&[window(&[3], 9 * 60, 10 * 60, "Europe/Paris")], at).unwrap(), "wrong day");
        let mut email_only = paris;
        email_only.media = vec![Medium::Email];
        assert!(!agenda_allows(&[email_only], at).unwrap(), "a window for email takes no calls");
        assert_eq!(agenda_allows(&[window(&[2], 0, 1440, "Mars/Olympus")], at), Err(CallbackError::UnknownZone("Mars/Olympus".into())));
    }

    #[test]
    fn the_phase_reads_flat_on_the_wire() {
        let cb = Callback { number: "+4930123456".into(), at: None, phase: CallbackPhase::RetryAt { at: Timestamp(5), reason: DialFailure::Busy }, attempts: 1, dial: 1 };
        let json = serde_json::to_value(&cb).unwrap();
        assert_eq!(json, serde_json::json!({"number": "+4930123456", "phase": "retry_at", "retry_at": 5, "reason": "busy", "attempts": 1, "dial": 1}));
        assert_eq!(serde_json::from_value::<Callback>(json).unwrap(), cb);
    }
}
