//! Staffing kept per queue and medium: each agent event adjusts the counts of the queues the agent
//! serves (O(queues)), so status reads (`media_offered`, queue figures) never scan the agents.

use super::{QueueConfig, StatusMonitor};
use crate::ids::QueueId;
use crate::medium::Medium;
use crate::status::{AgentState, AgentSummary};

/// How many agents serve one queue on one medium.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Staffing {
    /// Available, busy or in after-call work.
    pub(super) servers: u32,
    /// Available.
    pub(super) available: u32,
}

impl QueueConfig {
    /// Adds (`sign` > 0) or removes one agent's share of this queue's staffing.
    pub(super) fn count(&mut self, a: &AgentSummary, sign: i32) {
        if !matches!(a.state, AgentState::Available | AgentState::Busy | AgentState::AfterWork) {
            return;
        }
        let available = u32::from(a.state == AgentState::Available);
        for m in Medium::ALL {
            if StatusMonitor::serves(a, self, m) {
                let st = &mut self.staff[m as usize];
                if sign > 0 {
                    st.servers += 1;
                    st.available += available;
                } else {
                    st.servers -= 1;
                    st.available -= available;
                }
            }
        }
    }
}

impl StatusMonitor {
    /// Adds or removes one agent's share of every queue's staffing: O(queues).
    pub(super) fn count_agent(&mut self, a: &AgentSummary, sign: i32) {
        for q in self.queues.values_mut() {
            q.count(a, sign);
        }
    }

    /// The media offered now, as [`center_status`](Self::center_status) has them, in O(queues).
    pub fn media_offered(&self) -> Vec<Medium> {
        let mut media = vec![];
        for (qid, q) in &self.queues {
            let open = self.hours.get(qid).map_or(true, |h| h.is_open(self.now));
            for &m in &q.media {
                // Email waits in the backlog at any hour; live media need an agent and open hours.
                if !m.is_live() || (open && q.staff[m as usize].servers > 0) {
                    media.push(m);
                }
            }
        }
        media.sort();
        media.dedup();
        media
    }

    /// Counts the agents serving a queue on a medium by scanning them all: what the kept counts must
    /// always equal (servers, available). For tests.
    #[doc(hidden)]
    pub fn staffing_by_scan(&self, queue: &QueueId, medium: Medium) -> Option<(u32, u32)> {
        let q = self.queues.get(queue)?;
        let mut st = Staffing::default();
        for a in self.agents.values() {
            if Self::serves(a, q, medium) && matches!(a.state, AgentState::Available | AgentState::Busy | AgentState::AfterWork) {
                st.servers += 1;
                st.available += u32::from(a.state == AgentState::Available);
            }
        }
        Some((st.servers, st.available))
    }
}

#[cfg(test)]
mod tests {
    use crate::center_event::CenterEvent;
    use crate::medium::Medium;
    use crate::monitor::StatusMonitor;
    use crate::status::AgentState;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    const STATES: [AgentState; 5] = [AgentState::Available, AgentState::Busy, AgentState::AfterWork, AgentState::Away, AgentState::LoggedOut];
    const PRODUCTS: [&str; 3] = ["router", "fiber", "tv"];

    fn media(mask: u8) -> Vec<Medium> {
        Medium::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, m)| m).collect()
    }

    fn products(mask: u8) -> Vec<crate::ids::ProductId> {
        PRODUCTS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, p)| (*p).into()).collect()
    }

    fn event() -> impl Strategy<Value = CenterEvent> {
        prop_oneof![
            (0..3u8, 0..8u8, 0..32u8).prop_map(|(q, p, m)| CenterEvent::QueueConfigured {
                queue: format!("q{q}").as_str().into(),
                name: format!("Q{q}"),
                products: products(p),
                media: media(m),
            }),
            (0..6u8, 0..8u8, 0..32u8).prop_map(|(a, p, m)| CenterEvent::AgentLoggedIn {
                agent: format!("a{a}").as_str().into(),
                name: format!("A{a}"),
                skills: products(p),
                media: media(m),
            }),
            (0..6u8).prop_map(|a| CenterEvent::AgentLoggedOut { agent: format!("a{a}").as_str().into() }),
            (0..6u8, 0..5usize).prop_map(|(a, s)| CenterEvent::AgentStateChanged { agent: format!("a{a}").as_str().into(), state: STATES[s] }),
            (0..6u8, 0..5usize).prop_map(|(a, s)| CenterEvent::AgentStateChanged { agent: format!("a{a}").as_str().into(), state: STATES[s] }),
        ]
    }

    proptest! {
        /// Whatever the agents and queues do, the kept counts equal a full scan, and the O(queues)
        /// `media_offered` equals the center status's.
        #[test]
        fn kept_staffing_equals_a_scan(events in proptest::collection::vec(event(), 1..80)) {
            let mut m = StatusMonitor::default();
            let t = Timestamp(1_795_597_200_000);
            for e in events {
                let _ = m.handle_center_event(t, e);
                for q in 0..3 {
                    let qid: crate::ids::QueueId = format!("q{q}").as_str().into();
                    for medium in Medium::ALL {
                        if let Some(f) = m.queue_figures(&qid, medium) {
                            let scan = m.staffing_by_scan(&qid, medium).unwrap();
                            prop_assert_eq!((f.agents_staffed, f.agents_available), scan);
                        }
                    }
                }
                prop_assert_eq!(m.media_offered(), m.center_status().media_offered);
            }
        }
    }
}
