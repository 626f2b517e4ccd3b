//! Signalling-only SIP for callbacks: third-party call control (RFC 3725). The [`Dialer`] rings
//! the agent's phone, then the customer through the configured trunk, and points each phone's
//! media at the other; RTP flows between the two phones and never through us.
//!
//! Nothing here knows the broker or the callback's retry policy: one [`Dialer::place`] is one
//! attempt, and its [`Progress`] stream ends with [`Progress::Ended`] or [`Progress::Failed`].
//! The ladder, the failure handling and the crate choice are in `docs/sip.md`.

mod call;
mod dialer;
mod sdp;

pub use dialer::{parse_datagram, CallHandle, Dialer};

use std::net::SocketAddr;
use std::time::Duration;

/// How the dialer listens and where it sends customers' calls.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// The UDP address to listen on and to advertise in Via and Contact (not 0.0.0.0: peers
    /// must be able to reach the advertised address).
    pub listen: SocketAddr,
    /// The trunk that carries calls to customers' numbers.
    pub trunk: Trunk,
    /// How long a phone may ring before the leg counts as not answered and is cancelled.
    pub ring_timeout: Duration,
    /// How long a leg may stay without any response (not even 100 Trying) before its far end
    /// counts as unreachable; far shorter than the transaction's own 32 s Timer B.
    pub reach_timeout: Duration,
    /// The user part of the From of the call to the agent's phone (its display name is the
    /// customer's number, so the agent sees whom the callback is for).
    pub agent_caller_user: String,
}

impl SipConfig {
    /// A configuration with the usual timers: 30 s of ringing, 4 s to hear from a far end.
    pub fn new(listen: SocketAddr, trunk: Trunk) -> SipConfig {
        SipConfig { listen, trunk, ring_timeout: Duration::from_secs(30), reach_timeout: Duration::from_secs(4), agent_caller_user: "callback".into() }
    }
}

/// The SIP trunk towards the public telephone network.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// The trunk's URI, e.g. `sip:trunk.example.net:5060`; the customer's number becomes its
    /// user part.
    pub uri: String,
    /// The digest user name, when the trunk challenges (401 or 407).
    pub user: Option<String>,
    /// The digest password that goes with `user`.
    pub password: Option<String>,
    /// The calling number the customer sees (From user part); `user` when unset.
    pub caller_id: Option<String>,
}

/// One callback to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The callback's id, for logs.
    pub id: String,
    /// The agent's phone, e.g. `sip:agent1@10.0.0.7:5060`.
    pub agent_uri: String,
    /// The customer's number in E.164, e.g. `+4930123456`.
    pub customer_number: String,
}

/// What happened to a placed callback, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The agent's phone rings (also reported just before `AgentAnswered` if it answered at once).
    AgentRinging,
    /// The agent picked up; the customer is dialled next.
    AgentAnswered,
    /// The customer's phone rings (180/183 from the trunk; also reported just before
    /// `Connected` if the customer answered without one).
    CustomerRinging,
    /// Both answered and each phone's media points at the other.
    Connected,
    /// A connected call ended. Last item.
    Ended {
        /// Who hung up.
        by: Side,
        /// From `Connected` to the hang-up.
        duration: Duration,
    },
    /// The callback did not connect; every leg is torn down. Last item.
    Failed {
        /// The leg that failed, or `Center` when we cancelled.
        leg: Side,
        /// Why.
        reason: FailReason,
    },
}

/// A party of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The agent's phone.
    Agent,
    /// The customer's phone, through the trunk.
    Customer,
    /// Us: the call was cancelled through [`CallHandle::cancel`].
    Center,
}

/// Why a leg failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// 486 Busy Here or 600 Busy Everywhere.
    Busy,
    /// The phone rang for `ring_timeout` (we cancelled it), or the far end said 408/480.
    NoAnswer,
    /// Any other final failure status, e.g. 403, 404, 488, 603.
    Rejected(u16),
    /// No response within `reach_timeout`, a transport error, or 502/503/504.
    Unreachable,
    /// Cancelled through [`CallHandle::cancel`], or the agent hung up while the customer rang.
    Cancelled,
}

impl FailReason {
    /// The outcome name history keeps: `busy`, `no_answer`, `rejected`, `unreachable` or
    /// `cancelled`.
    pub fn outcome(&self) -> &'static str {
        match self {
            FailReason::Busy => "busy",
            FailReason::NoAnswer => "no_answer",
            FailReason::Rejected(_) => "rejected",
            FailReason::Unreachable => "unreachable",
            FailReason::Cancelled => "cancelled",
        }
    }

    /// Whether a later attempt may succeed (busy, no answer, unreachable); a rejection or a
    /// cancel will not change by retrying.
    pub fn retryable(&self) -> bool {
        matches!(self, FailReason::Busy | FailReason::NoAnswer | FailReason::Unreachable)
    }
}

/// What can go wrong before a call is placed.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// The listen address could not be bound (in use, or not ours).
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the socket failed.
        source: std::io::Error,
    },
    /// A configured URI does not parse; fix the configuration.
    #[error("bad SIP URI {uri:?}: {reason}")]
    BadUri {
        /// The URI as configured.
        uri: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The listen address is unspecified (0.0.0.0 or ::), which peers cannot reach back.
    #[error("listen address {0} is unspecified; give the address peers reach us at")]
    Unspecified(SocketAddr),
    /// A datagram that is not a SIP message.
    #[error("malformed SIP message: {0}")]
    Malformed(String),
    /// The SIP stack refused to start.
    #[error("SIP stack: {0}")]
    Stack(String),
}
