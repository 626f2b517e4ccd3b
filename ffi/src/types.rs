//! Plain C types for the hot paths: enums passed as `uint32_t` values and a queue-figures struct.
//!
//! Enum arguments arrive as raw `uint32_t` and are checked here, because a C caller can pass any number
//! and an out-of-range Rust enum would be undefined behaviour.

use crate::error::{Error, Res};
use frontdesk_core::principal::AgentRole;
use frontdesk_core::status::AgentState;
use frontdesk_core::Medium;

/// A communication medium; its bit in a media mask is `1u << value` (see `FD_MEDIA_*`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdMedium {
    /// Text chat.
    FD_MEDIUM_CHAT = 0,
    /// A voice call placed by the client.
    FD_MEDIUM_VOICE = 1,
    /// A video call.
    FD_MEDIUM_VIDEO = 2,
    /// The center calls the client back.
    FD_MEDIUM_CALLBACK = 3,
    /// Asynchronous email.
    FD_MEDIUM_EMAIL = 4,
}

/// Media mask bit of chat.
pub const FD_MEDIA_CHAT: u32 = 1;
/// Media mask bit of voice.
pub const FD_MEDIA_VOICE: u32 = 2;
/// Media mask bit of video.
pub const FD_MEDIA_VIDEO: u32 = 4;
/// Media mask bit of callback.
pub const FD_MEDIA_CALLBACK: u32 = 8;
/// Media mask bit of email.
pub const FD_MEDIA_EMAIL: u32 = 16;
/// Every media mask bit.
pub const FD_MEDIA_ALL: u32 = 31;
/// Written by `_poll_timeout` calls when no timer is due.
pub const FD_NO_TIMEOUT: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// What an agent is doing, as the center's ACD reports it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdAgentState {
    /// Not logged in (also what an unknown agent reads as).
    FD_AGENT_LOGGED_OUT = 0,
    /// Ready for an interaction.
    FD_AGENT_AVAILABLE = 1,
    /// Handling an interaction.
    FD_AGENT_BUSY = 2,
    /// Wrapping up after an interaction.
    FD_AGENT_AFTER_WORK = 3,
    /// Logged in but not taking interactions.
    FD_AGENT_AWAY = 4,
}

/// What an agent's role allows beyond its own interactions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdAgentRole {
    /// Serves the clients it interacts with.
    FD_ROLE_AGENT = 0,
    /// Also reads any client's data.
    FD_ROLE_SUPERVISOR = 1,
}

/// Figures of one queue for one medium, filled by the `_queue_status` reads.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct FdQueueStatus {
    /// Agents ready to take an interaction of this medium now.
    pub agents_available: u32,
    /// Agents logged in for this medium (available, busy or wrapping up).
    pub agents_staffed: u32,
    /// Interactions waiting.
    pub holding: u32,
    /// Whether `estimated_hold_secs` holds an estimate (none without agents).
    pub has_estimate: bool,
    /// Estimated wait in seconds for a client joining now; 0 without an estimate.
    pub estimated_hold_secs: f64,
    /// Whether the queue takes new interactions on this medium right now.
    pub offered: bool,
    /// Whether the queue is within its business hours (always, without hours).
    pub open: bool,
    /// When it next opens (if closed) or closes (if open), ms since the epoch; 0 without hours.
    pub until_ms: u64,
}

/// A medium from its raw C value.
pub(crate) fn medium(v: u32) -> Res<Medium> {
    Medium::ALL.get(v as usize).copied().ok_or_else(|| Error::invalid(format!("unknown FdMedium value {v}")))
}

/// Media from a mask of `FD_MEDIA_*` bits, in the stable order.
pub(crate) fn media(mask: u32) -> Res<Vec<Medium>> {
    if mask & !FD_MEDIA_ALL != 0 {
        return Err(Error::invalid(format!("media mask {mask:#x} has unknown bits")));
    }
    Ok(Medium::ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, m)| *m).collect())
}

/// The mask of a set of media.
pub(crate) fn media_mask(media: &[Medium]) -> u32 {
    media.iter().map(|m| 1u32 << (Medium::ALL.iter().position(|x| x == m).unwrap_or(0))).fold(0, |a, b| a | b)
}

/// An agent state from its raw C value.
pub(crate) fn agent_state(v: u32) -> Res<AgentState> {
    Ok(match v {
        0 => AgentState::LoggedOut,
        1 => AgentState::Available,
        2 => AgentState::Busy,
        3 => AgentState::AfterWork,
        4 => AgentState::Away,
        _ => return Err(Error::invalid(format!("unknown FdAgentState value {v}"))),
    })
}

/// The C value of an agent state.
pub(crate) fn fd_agent_state(s: AgentState) -> FdAgentState {
    match s {
        AgentState::LoggedOut => FdAgentState::FD_AGENT_LOGGED_OUT,
        AgentState::Available => FdAgentState::FD_AGENT_AVAILABLE,
        AgentState::Busy => FdAgentState::FD_AGENT_BUSY,
        AgentState::AfterWork => FdAgentState::FD_AGENT_AFTER_WORK,
        AgentState::Away => FdAgentState::FD_AGENT_AWAY,
    }
}

/// An agent role from its raw C value.
pub(crate) fn agent_role(v: u32) -> Res<AgentRole> {
    match v {
        0 => Ok(AgentRole::Agent),
        1 => Ok(AgentRole::Supervisor),
        _ => Err(Error::invalid(format!("unknown FdAgentRole value {v}"))),
    }
}
