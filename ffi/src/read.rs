//! Status reads shared by the monitor and the broker handles (the broker embeds a monitor).

use crate::error::{Error, Res};
use crate::types::{fd_agent_state, FdAgentState, FdQueueStatus};
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::{AgentId, Medium, QueueId};

/// State of an agent; unknown agents read as logged out, which is how the monitor sees them.
pub(crate) fn agent_state(m: &StatusMonitor, agent: &str) -> FdAgentState {
    m.agent(&AgentId::new(agent)).map_or(FdAgentState::FD_AGENT_LOGGED_OUT, |a| fd_agent_state(a.state))
}

/// Figures of one queue and medium, as the center status has them.
pub(crate) fn queue_status(m: &StatusMonitor, queue: &str, medium: Medium) -> Res<FdQueueStatus> {
    let id = QueueId::new(queue);
    let q = m.queue_figures(&id, medium).ok_or_else(|| Error::from(frontdesk_core::monitor::MonitorError::UnknownPresentity(Presentity::Queue(id.clone()))))?;
    Ok(FdQueueStatus {
        agents_available: q.agents_available,
        agents_staffed: q.agents_staffed,
        holding: q.holding,
        has_estimate: q.estimated_hold_secs.is_some(),
        estimated_hold_secs: q.estimated_hold_secs.unwrap_or(0.0),
        offered: q.offered,
        open: q.open,
        until_ms: q.until.map_or(0, |t| t.0),
    })
}

/// The whole center's figures as JSON.
pub(crate) fn center_status_json(m: &StatusMonitor) -> Res<String> {
    Ok(serde_json::to_string(&m.center_status())?)
}

/// A presentity from its wire form ("center", "queue:<id>", "agent:<id>", "client:<id>").
pub(crate) fn presentity(s: &str) -> Res<Presentity> {
    Presentity::parse(s).ok_or_else(|| Error::invalid(format!("not a presentity: {s:?} (want center, queue:ID, agent:ID or client:ID)")))
}

/// The full presence document of a presentity as JSON.
pub(crate) fn presence_json(m: &StatusMonitor, p: &str) -> Res<String> {
    Ok(serde_json::to_string(&m.document(&presentity(p)?))?)
}

pub(crate) fn presence_pidf(m: &StatusMonitor, p: &str, domain: &str) -> Res<String> {
    Ok(frontdesk_core::monitor::pidf::to_pidf(&m.document(&presentity(p)?), domain))
}
