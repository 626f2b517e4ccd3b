//! Status reads shared by the monitor and the broker handles (the broker embeds a monitor).

use crate::error::{Error, Res};
use crate::types::{fd_agent_state, FdAgentState, FdQueueStatus};
use frontdesk_core::monitor::holdtime::QueueKey;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::{AgentId, Medium, QueueId};

/// State of an agent; unknown agents read as logged out, which is how the monitor sees them.
pub(crate) fn agent_state(m: &StatusMonitor, agent: &str) -> FdAgentState {
    m.agent(&AgentId::new(agent)).map_or(FdAgentState::FD_AGENT_LOGGED_OUT, |a| fd_agent_state(a.state))
}

/// Figures of one queue and medium, computed the way the center status computes them.
pub(crate) fn queue_status(m: &StatusMonitor, queue: &str, medium: Medium) -> Res<FdQueueStatus> {
    let key = QueueKey { queue: QueueId::new(queue), medium };
    let snap = m.queue_snapshot(&key).ok_or_else(|| Error::from(frontdesk_core::monitor::MonitorError::UnknownPresentity(Presentity::Queue(key.queue.clone()))))?;
    let est = m.estimate(&key, snap.holding);
    Ok(FdQueueStatus {
        agents_available: snap.available,
        agents_staffed: snap.servers,
        holding: snap.holding,
        has_estimate: est.is_some(),
        estimated_hold_secs: est.map_or(0.0, |d| (d.as_secs_f64() * 10.0).round() / 10.0),
        offered: snap.servers > 0 || !medium.is_live(),
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
