//! Routing: offers to free agents, withdrawals, ending interactions.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- routing

    pub(super) fn set_agent_state(&mut self, agent: &AgentId, state: AgentState) {
        if let Some(seat) = self.seats.get_mut(agent) {
            seat.state = state;
            let _ = self.monitor.handle_center_event(self.now, CenterEvent::AgentStateChanged { agent: agent.clone(), state });
        }
    }

    /// Offers waiting interactions to free agents, longest-idle agent first.
    pub(super) fn route(&mut self) {
        let mut waiting: Vec<(Timestamp, InteractionId)> = self
            .live
            .values()
            .filter(|l| !l.external && l.offered.is_none() && matches!(l.li.state, InteractionState::Queued { .. }))
            .map(|l| (l.li.created_at, l.li.id.clone()))
            .collect();
        waiting.sort();
        for (_, id) in waiting {
            let l = &self.live[&id];
            let (Some(queue), medium) = (l.li.queue.clone(), l.li.medium) else { continue };
            // Only the head of each queue is offered, so order is kept.
            if self.monitor.waiting(&queue, medium).first() != Some(&id) {
                continue;
            }
            let best = self
                .seats
                .iter()
                .filter(|(a, s)| {
                    s.state == AgentState::Available
                        && s.offer.is_none()
                        && !l.declined_by.contains(*a)
                        && self.monitor.agent_serves(a, &queue, medium)
                })
                .min_by_key(|(a, _)| (self.monitor.agent(a).map(|x| x.since), (*a).clone()))
                .map(|(a, _)| a.clone());
            if let Some(agent) = best {
                let l = self.live.get_mut(&id).expect("exists");
                l.offered = Some((agent.clone(), self.now));
                let li = l.li.clone();
                self.seats.get_mut(&agent).expect("exists").offer = Some(id);
                self.events.push_back(BrokerEvent::Agent { agent, event: AgentEvent::Offered(li) });
            }
        }
    }

    pub(super) fn withdraw_offer(&mut self, id: &InteractionId, agent: &AgentId, declined: bool) {
        if let Some(l) = self.live.get_mut(id) {
            if l.offered.as_ref().is_some_and(|(a, _)| a == agent) {
                l.offered = None;
                if declined {
                    l.declined_by.insert(agent.clone());
                }
            }
        }
        if let Some(seat) = self.seats.get_mut(agent) {
            if seat.offer.as_ref() == Some(id) {
                seat.offer = None;
                self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event: AgentEvent::OfferWithdrawn(id.clone()) });
            }
        }
    }

    pub(super) fn end_interaction(&mut self, id: &InteractionId) -> Result<LiveInteraction, ErrorBody> {
        let now = self.now;
        let l = self.live.get_mut(id).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {id}")))?;
        let was_queued = matches!(l.li.state, InteractionState::Queued { .. });
        let outcome = if was_queued { RecordOutcome::Abandoned } else { RecordOutcome::Completed };
        l.li.state = InteractionState::Ended { outcome };
        l.li.ended_at = Some(now);
        let offered = l.offered.take();
        let li = l.li.clone();
        self.live.remove(id);
        self.dirty_live.insert(id.clone());
        if let Some((agent, _)) = offered {
            self.withdraw_offer(id, &agent, false);
            if let Some(seat) = self.seats.get_mut(&agent) {
                seat.offer = None;
            }
        }
        let ev = if was_queued { CenterEvent::InteractionAbandoned { interaction: id.clone() } } else { CenterEvent::InteractionEnded { interaction: id.clone() } };
        if li.queue.is_some() {
            let _ = self.monitor.handle_center_event(now, ev);
        }
        if let Some(agent) = &li.agent {
            if let Some(seat) = self.seats.get_mut(agent) {
                seat.active.remove(id);
                let idle = seat.active.is_empty();
                self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event: AgentEvent::Ended(li.clone()) });
                if idle {
                    self.set_agent_state(&agent.clone(), AgentState::Available);
                }
            }
        }
        self.center.ended(now, &li);
        let record = InteractionRecord {
            id: li.id.clone(),
            client: li.client.clone(),
            started_at: li.created_at,
            ended_at: Some(now),
            product: li.product.clone(),
            agent: li.agent.clone(),
            medium: li.medium,
            direction: li.direction,
            outcome,
            summary: li.topic.clone().unwrap_or_else(|| format!("{} interaction", li.medium)),
            notes: vec![],
        };
        self.store.put_record(&record)?;
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        self.push_event(&li.client, &Event::HistoryChanged(record), None, None);
        self.route();
        Ok(li)
    }

}
