//! Routing: offers to free agents, withdrawals, ending interactions.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- routing

    pub(super) fn set_agent_state(&mut self, agent: &AgentId, state: AgentState) {
        if let Some(seat) = self.seats.get_mut(agent) {
            seat.state = state;
            self.tell_monitor(CenterEvent::AgentStateChanged { agent: agent.clone(), state });
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
            // Only the head of each queue is offered, so order is kept; a callback waiting for its
            // retry keeps its place without holding up those behind it.
            if self.monitor.waiting(&queue, medium).iter().find(|w| !self.held(w)) != Some(&id) {
                continue;
            }
            let needs_phone = medium == Medium::Callback && self.cfg.dialer;
            let best = self
                .seats
                .iter()
                .filter(|(a, s)| {
                    s.state == AgentState::Available
                        && s.offer.is_none()
                        && (!s.remote || self.agent_attached(a))
                        && !l.declined_by.contains(*a)
                        && (!needs_phone || s.phone.is_some())
                        && self.monitor.agent_serves(a, &queue, medium)
                })
                .min_by_key(|(a, _)| (self.monitor.agent(a).map(|x| x.since), (*a).clone()))
                .map(|(a, _)| a.clone());
            if let Some(agent) = best {
                let l = self.live.get_mut(&id).expect("exists");
                l.offered = Some((agent.clone(), self.now));
                self.timers.insert((self.now.add(self.cfg.offer_ttl), Timer::Offer(id.clone())));
                let li = l.li.clone();
                self.seats.get_mut(&agent).expect("exists").offer = Some(id);
                self.tell_agent(&agent, AgentEvent::Offered(li), None);
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
                self.tell_agent(agent, AgentEvent::OfferWithdrawn(id.clone()), None);
            }
        }
    }

    pub(super) fn end_interaction(&mut self, id: &InteractionId) -> Result<LiveInteraction, ErrorBody> {
        self.end_interaction_as(id, None)
    }

    /// Ends an interaction; `how` overrides the outcome and summary (a call says who hung up and why).
    pub(super) fn end_interaction_as(&mut self, id: &InteractionId, how: Option<(RecordOutcome, String)>) -> Result<LiveInteraction, ErrorBody> {
        let now = self.now;
        let l = self.live.get(id).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {id}")))?;
        let was_queued = matches!(l.li.state, InteractionState::Queued { .. });
        let cancelled = l.li.callback.as_ref().filter(|c| {
            matches!(c.phase, crate::callback::CallbackPhase::DialingAgent | crate::callback::CallbackPhase::DialingCustomer | crate::callback::CallbackPhase::Scheduled | crate::callback::CallbackPhase::RetryAt { .. })
        });
        let how = how.or_else(|| cancelled.map(|c| (RecordOutcome::Abandoned, format!("callback to {}: cancelled before it was put through", c.number))));
        let (outcome, summary) = how.unwrap_or_else(|| {
            let outcome = if was_queued { RecordOutcome::Abandoned } else { RecordOutcome::Completed };
            (outcome, l.li.topic.clone().unwrap_or_else(|| format!("{} interaction", l.li.medium)))
        });
        let (mut li, mut record) = ended(&l.li, outcome, now, summary);
        record.notes.extend(l.notes.iter().cloned());
        if was_queued && !l.answered {
            self.sl.1.push_back(now);
        }
        if let Some(cb) = li.callback.as_mut() {
            use crate::callback::CallbackPhase as P;
            if matches!(cb.phase, P::DialingAgent | P::DialingCustomer | P::Connected) {
                // Ended in the app while the phones ring or talk: the dialer hangs up.
                self.events.push_back(BrokerEvent::DialCancelled { interaction: id.clone() });
            }
            if !matches!(cb.phase, P::Failed { .. }) {
                cb.phase = P::Ended;
            }
        }
        self.dials.remove(id);
        // The store write goes first: if it fails, nothing in memory has changed.
        self.store.put_record(&record)?;
        let offered = self.live.remove(id).and_then(|l| l.offered);
        self.dirty_live.insert(id.clone());
        if let Some((agent, _)) = offered {
            self.withdraw_offer(id, &agent, false);
            if let Some(seat) = self.seats.get_mut(&agent) {
                seat.offer = None;
            }
        }
        let ev = if was_queued { CenterEvent::InteractionAbandoned { interaction: id.clone() } } else { CenterEvent::InteractionEnded { interaction: id.clone() } };
        if li.queue.is_some() {
            // Connected interactions restored after a restart are not tracked by the new monitor.
            let _ = self.monitor.handle_center_event(now, ev);
        }
        if let Some(agent) = &li.agent {
            if let Some(seat) = self.seats.get_mut(agent) {
                seat.active.remove(id);
                let idle = seat.active.is_empty();
                self.tell_agent(&agent.clone(), AgentEvent::Ended(li.clone()), None);
                if idle {
                    self.set_agent_state(&agent.clone(), AgentState::Available);
                }
            }
        }
        self.center.ended(now, &li);
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        self.push_event(&li.client, &Event::HistoryChanged(record), None, None);
        self.route();
        Ok(li)
    }

    /// Puts a connected interaction back in its queue at its old place, because its agent left the
    /// seat: the client is told, and no record says it was completed. One started by an invitation
    /// goes to the queue that takes its medium; with none, it ends as failed.
    pub(super) fn requeue(&mut self, id: &InteractionId) {
        let now = self.now;
        let Some(l) = self.live.get(id) else { return };
        if l.external {
            return;
        }
        let (product, medium) = (l.li.product.clone(), l.li.medium);
        let queue = match l.li.queue.clone() {
            Some(q) => Some((q, true)),
            None => self.monitor.queue_for(product.as_ref(), medium).map(|q| (q, false)),
        };
        let Some((queue, tracked)) = queue else {
            let (li, record) = ended(&l.li, RecordOutcome::Failed, now, "the agent left and no queue takes this medium".into());
            if self.store.put_record(&record).is_ok() {
                self.live.remove(id);
                self.dirty_live.insert(id.clone());
                self.push_event(&li.client.clone(), &Event::Interaction(li), None, None);
                self.push_event(&record.client.clone(), &Event::HistoryChanged(record), None, None);
            }
            return;
        };
        let l = self.live.get_mut(id).expect("checked");
        l.li.agent = None;
        l.li.connected_at = None;
        l.li.queue = Some(queue.clone());
        l.li.state = InteractionState::Queued { position: 0, estimated_hold_secs: None };
        let client = l.li.client.clone();
        self.dirty_live.insert(id.clone());
        let ev = if tracked {
            CenterEvent::InteractionRequeued { interaction: id.clone() }
        } else {
            CenterEvent::InteractionQueued { interaction: id.clone(), queue, medium, client: Some(client.clone()) }
        };
        if self.monitor.handle_center_event(now, ev).is_err() {
            // Not tracked (restored after a restart): it waits again as a new arrival.
            let _ = self.monitor.handle_center_event(
                now,
                CenterEvent::InteractionQueued { interaction: id.clone(), queue: self.live[id].li.queue.clone().expect("set"), medium, client: Some(client.clone()) },
            );
        }
        self.refresh_position(id);
        let li = self.live[id].li.clone();
        self.push_event(&client, &Event::Interaction(li), None, None);
    }
}

/// An interaction as it ends, and the history record it becomes.
pub(super) fn ended(live: &LiveInteraction, outcome: RecordOutcome, now: Timestamp, summary: String) -> (LiveInteraction, InteractionRecord) {
    let mut li = live.clone();
    li.state = InteractionState::Ended { outcome };
    li.ended_at = Some(now);
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
        summary,
        notes: vec![],
    };
    (li, record)
}
