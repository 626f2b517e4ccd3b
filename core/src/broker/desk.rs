//! The agent desktop's requests: transfer to an agent or a queue, wrap-up, the supervisor's wallboard.

use super::*;
use crate::protocol::{TransferTarget, Wallboard, WallboardAgent, WallboardQueue};

/// Longest transfer note or wrap-up note, in bytes.
const MAX_DESK_NOTE: usize = 2000;
/// Longest free-text wrap-up outcome, in bytes.
const MAX_OUTCOME: usize = 100;
/// What marks a wrap-up among a record's notes (one per interaction).
const WRAP_UP: &str = "Wrap-up: ";

impl Broker {
    /// An agent hands a connected interaction it holds to another agent (who gets an offer) or to a
    /// queue. The client stays connected and is told it waits again; transcript and note follow.
    pub fn agent_transfer(
        &mut self,
        now: Timestamp,
        agent: &AgentId,
        interaction: &InteractionId,
        to: TransferTarget,
        note: Option<String>,
    ) -> Result<(), BrokerError> {
        self.tick(now);
        self.seat(agent)?;
        let l = self
            .live
            .get(interaction)
            .filter(|l| l.li.agent.as_ref() == Some(agent) && l.li.state == InteractionState::Connected)
            .ok_or_else(|| err(ErrorCode::Forbidden, format!("{agent} does not hold interaction {interaction}")))?;
        let medium = l.li.medium;
        if medium == Medium::Callback || l.external {
            return Err(err(ErrorCode::Invalid, format!("a {medium} interaction is not transferred here; its phone system does that")));
        }
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.len() > MAX_DESK_NOTE) {
            return Err(err(ErrorCode::Invalid, format!("note: at most {MAX_DESK_NOTE} bytes")));
        }
        match &to {
            TransferTarget::Agent(target) => {
                if target == agent {
                    return Err(err(ErrorCode::Invalid, "to: an agent cannot transfer to itself"));
                }
                let seat = self.seats.get(target).ok_or_else(|| err(ErrorCode::Unavailable, format!("agent {target} is not logged in")))?;
                let takes = matches!(seat.state, AgentState::Available | AgentState::Busy)
                    && seat.offer.is_none()
                    && seat.media.contains(&medium)
                    && (!seat.remote || self.agent_attached(target));
                if !takes {
                    return Err(err(ErrorCode::Unavailable, format!("agent {target} cannot take a {medium} interaction now ({:?})", seat.state)));
                }
            }
            TransferTarget::Queue(queue) => {
                if self.monitor.queue_figures(queue, medium).is_none() {
                    return Err(err(ErrorCode::NotFound, format!("no queue {queue} takes {medium}")));
                }
            }
        }
        let l = self.live.get_mut(interaction).expect("checked");
        if let Some(text) = &note {
            l.notes.push(Note { at: now, author: agent.to_string(), text: format!("Transfer note: {text}") });
        }
        l.declined_by.clear();
        let old_queue = l.li.queue.clone();
        // The source agent lets go first, so it can be offered the interaction again if it comes back.
        if let Some(seat) = self.seats.get_mut(agent) {
            seat.active.remove(interaction);
            if seat.active.is_empty() && seat.state == AgentState::Busy {
                self.set_agent_state(agent, AgentState::Available);
            }
        }
        match &to {
            TransferTarget::Queue(queue) if old_queue.as_ref() != Some(queue) => {
                if old_queue.is_some() {
                    // Handled as far as the old queue's figures go; it arrives new in the other.
                    let _ = self.monitor.handle_center_event(now, CenterEvent::InteractionEnded { interaction: interaction.clone() });
                }
                let l = self.live.get_mut(interaction).expect("checked");
                l.li.agent = None;
                l.li.connected_at = None;
                l.li.queue = Some(queue.clone());
                l.li.state = InteractionState::Queued { position: 0, estimated_hold_secs: None };
                let client = l.li.client.clone();
                self.dirty_live.insert(interaction.clone());
                self.tell_monitor(CenterEvent::InteractionQueued { interaction: interaction.clone(), queue: queue.clone(), medium, client: Some(client.clone()) });
                self.refresh_position(interaction);
                let li = self.live[interaction].li.clone();
                self.push_event(&client, &Event::Interaction(li), None, None);
            }
            _ => self.requeue(interaction),
        }
        self.dirty_agent(agent);
        let event = AgentEvent::Transferred { interaction: interaction.clone(), from: agent.clone(), to: to.clone(), note };
        self.tell_agent(agent, event.clone(), None);
        if let TransferTarget::Agent(target) = &to {
            if let Some(l) = self.live.get_mut(interaction).filter(|l| matches!(l.li.state, InteractionState::Queued { .. })) {
                l.offered = Some((target.clone(), now));
                let li = l.li.clone();
                self.timers.insert((now.add(self.cfg.offer_ttl), Timer::Offer(interaction.clone())));
                self.seats.get_mut(target).expect("checked").offer = Some(interaction.clone());
                self.tell_agent(target, event, None);
                self.tell_agent(target, AgentEvent::Offered(li), None);
            }
        }
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent records how an interaction it ended went, once, as a note on its history record.
    pub fn agent_wrap_up(
        &mut self,
        now: Timestamp,
        agent: &AgentId,
        interaction: &InteractionId,
        outcome: &str,
        note: Option<&str>,
    ) -> Result<InteractionRecord, BrokerError> {
        self.tick(now);
        self.seat(agent)?;
        let outcome = outcome.trim();
        let allowed = &self.cfg.wrap_up_outcomes;
        if allowed.is_empty() {
            if outcome.is_empty() || outcome.len() > MAX_OUTCOME {
                return Err(err(ErrorCode::Invalid, format!("outcome: 1 to {MAX_OUTCOME} bytes")));
            }
        } else if !allowed.iter().any(|o| o == outcome) {
            return Err(err(ErrorCode::Invalid, format!("outcome: one of {}", allowed.join(", "))));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.len() > MAX_DESK_NOTE) {
            return Err(err(ErrorCode::Invalid, format!("note: at most {MAX_DESK_NOTE} bytes")));
        }
        if self.live.get(interaction).is_some_and(|l| l.li.agent.as_ref() == Some(agent)) {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is still live; end it first")));
        }
        let mut r = self.store.record(interaction)?.ok_or_else(|| err(ErrorCode::NotFound, format!("no interaction {interaction}")))?;
        if r.agent.as_ref() != Some(agent) {
            return Err(err(ErrorCode::Forbidden, format!("{agent} did not handle interaction {interaction}")));
        }
        if r.notes.iter().any(|n| n.text.starts_with(WRAP_UP)) {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is wrapped up already")));
        }
        let text = match note {
            Some(n) => format!("{WRAP_UP}{outcome}. {n}"),
            None => format!("{WRAP_UP}{outcome}"),
        };
        self.add_note_checked(&mut r, Note { at: now, author: agent.to_string(), text })?;
        self.store.put_record(&r)?;
        self.push_event(&r.client.clone(), &Event::HistoryChanged(r.clone()), None, None);
        self.pump();
        Ok(r)
    }

    /// The wallboard, for supervisors only.
    pub fn wallboard(&mut self, agent: &AgentId) -> Result<Wallboard, BrokerError> {
        let now = self.now;
        if self.seat(agent)?.role != AgentRole::Supervisor {
            return Err(err(ErrorCode::Forbidden, format!("{agent} is not a supervisor")));
        }
        let window = self.cfg.service_level_window;
        let gone = |t: &Timestamp| now.since(*t) > window;
        while self.sl.0.front().is_some_and(|(t, _)| gone(t)) {
            self.sl.0.pop_front();
        }
        while self.sl.1.front().is_some_and(gone) {
            self.sl.1.pop_front();
        }
        let threshold = self.cfg.service_level_threshold;
        let answered = self.sl.0.len() as u32;
        let within = self.sl.0.iter().filter(|(_, w)| *w <= threshold).count() as u32;
        let abandoned = self.sl.1.len() as u32;
        let asked = answered + abandoned;
        let status = self.monitor.center_status();
        let queues = status
            .queues
            .into_iter()
            .map(|figures| {
                let longest = self
                    .monitor
                    .waiting(&figures.queue, figures.medium)
                    .iter()
                    .filter_map(|id| self.live.get(id))
                    .map(|l| now.since(l.li.created_at).as_secs_f64())
                    .fold(None, |m: Option<f64>, w| Some(m.map_or(w, |m| m.max(w))));
                WallboardQueue { figures, longest_wait_secs: longest }
            })
            .collect();
        let mut agents: Vec<WallboardAgent> = self
            .seats
            .iter()
            .map(|(id, s)| WallboardAgent {
                id: id.clone(),
                name: s.name.clone(),
                role: s.role,
                state: s.state,
                live: s.active.iter().cloned().collect(),
                offer: s.offer.clone(),
            })
            .collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Wallboard {
            at: now,
            queues,
            agents,
            service_level: (asked > 0).then(|| within as f64 / asked as f64),
            threshold_secs: threshold.as_secs() as u32,
            window_secs: window.as_secs() as u32,
            answered,
            answered_in_threshold: within,
            abandoned,
        })
    }
}
