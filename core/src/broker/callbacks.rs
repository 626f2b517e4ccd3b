//! Callbacks in the broker: a client asks to be called back (now or in a slot of its agenda), waits
//! in the queue like a chat would, and when an agent takes it the host's dialer rings the agent's
//! phone, then the client's, and reports what happened. Retries keep the client's place.

use super::*;
use crate::callback::{agenda_allows, normalize_number, CallSide, Callback, CallbackPhase, Dial, DialFailure, DialProgress};

/// How far ahead a slot may be booked.
const MAX_SLOT_AHEAD: Duration = Duration::from_secs(30 * 24 * 3600);

impl Broker {
    /// A client asks for a callback to `number` (its profile's phone number if none) at `at` (as
    /// soon as possible if none, else inside its agenda).
    pub(super) fn request_callback(
        &mut self,
        me: &ClientId,
        number: Option<String>,
        at: Option<Timestamp>,
        product: Option<ProductId>,
        queue: Option<QueueId>,
        topic: Option<String>,
    ) -> Result<LiveInteraction, BrokerError> {
        let number = match number {
            Some(n) => n,
            None => self.client_address(me, Medium::Callback)?.ok_or_else(|| err(ErrorCode::Invalid, "number: give the number to call"))?,
        };
        let number = normalize_number(&number).map_err(|e| err(ErrorCode::Invalid, format!("number: {e}")))?;
        // A slot that has just begun (or a clock a little behind) is "now".
        let at = at.filter(|t| *t > self.now.add(Duration::from_secs(60)));
        if let Some(t) = at {
            if t > self.now.add(MAX_SLOT_AHEAD) {
                return Err(err(ErrorCode::Invalid, "at: a callback is booked at most 30 days ahead"));
            }
            let agenda = self.store.profile(me)?.unwrap_or_default().agenda;
            match agenda_allows(&agenda, t) {
                Ok(true) => {}
                Ok(false) => return Err(err(ErrorCode::Invalid, format!("at: {}", crate::callback::CallbackError::OutsideAgenda(t)))),
                Err(e) => return Err(err(ErrorCode::Invalid, format!("at: {e}"))),
            }
        }
        let cb = Callback { number: number.clone(), at, phase: CallbackPhase::Scheduled, attempts: 0, dial: 0 };
        let li = self.start_interaction_with(me, Medium::Callback, product, queue, topic, None, Some(cb), at.is_none())?;
        if let Some(t) = at {
            self.timers.insert((t, Timer::Callback(li.id.clone())));
        }
        Ok(li)
    }

    /// Whether a waiting callback is held back from the agents until its retry time.
    pub(super) fn held(&self, id: &InteractionId) -> bool {
        self.live
            .get(id)
            .and_then(|l| l.li.callback.as_ref())
            .is_some_and(|c| matches!(c.phase, CallbackPhase::RetryAt { at, .. } if at > self.now))
    }

    /// A callback's slot or retry time came: it enters its queue (a booked one) or becomes
    /// routable again (a retry, which kept its place).
    pub(super) fn callback_due(&mut self, id: &InteractionId) {
        let now = self.now;
        let Some(l) = self.live.get(id) else { return };
        let Some(cb) = l.li.callback.clone() else { return };
        let due = match &cb.phase {
            CallbackPhase::Scheduled => cb.at.is_some_and(|t| t <= now),
            CallbackPhase::RetryAt { at, .. } => *at <= now,
            _ => false,
        };
        if !due || !matches!(l.li.state, InteractionState::Queued { .. }) {
            return;
        }
        if self.monitor.waiting_position(id).is_none() {
            let (queue, medium, client) = (l.li.queue.clone(), l.li.medium, l.li.client.clone());
            if let Some(queue) = queue {
                let _ = self.monitor.handle_center_event(now, CenterEvent::InteractionQueued { interaction: id.clone(), queue, medium, client: Some(client) });
            }
        }
        self.set_phase(id, CallbackPhase::Scheduled);
        self.refresh_position(id);
        self.notify_client_of(id);
        self.route();
    }

    /// An agent took a callback: the host's dialer owes it a call.
    pub(super) fn callback_taken(&mut self, id: &InteractionId) {
        let Some(l) = self.live.get_mut(id) else { return };
        let Some(cb) = l.li.callback.as_mut() else { return };
        if !self.cfg.dialer {
            // The agent calls by hand: from the center's side it is under way.
            cb.phase = CallbackPhase::Connected;
            self.dirty_live.insert(id.clone());
            return;
        }
        cb.dial += 1;
        cb.phase = CallbackPhase::DialingAgent;
        self.dirty_live.insert(id.clone());
        self.dials.insert(id.clone());
        self.events.push_back(BrokerEvent::DialOwed);
    }

    /// Calls the host's dialer owes, each once: ring `agent_phone`, then `number`, then bridge.
    pub fn take_dials(&mut self, now: Timestamp) -> Vec<Dial> {
        self.tick(now);
        let mut v = vec![];
        for id in std::mem::take(&mut self.dials) {
            let Some(l) = self.live.get(&id) else { continue };
            let (Some(cb), Some(agent)) = (&l.li.callback, &l.li.agent) else { continue };
            if cb.phase != CallbackPhase::DialingAgent {
                continue;
            }
            let Some(phone) = self.seats.get(agent).and_then(|s| s.phone.clone()) else { continue };
            v.push(Dial { interaction: id.clone(), dial: cb.dial, agent_phone: phone, number: cb.number.clone() });
        }
        v
    }

    /// The host's dialer reports on dial number `dial` of a callback; reports of an earlier dial
    /// (given up, or from before a restart) are refused with `conflict`.
    pub fn center_dial_progress(&mut self, now: Timestamp, interaction: &InteractionId, dial: u32, progress: DialProgress) -> Result<(), BrokerError> {
        self.tick(now);
        let l = self.live.get(interaction).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {interaction}")))?;
        let cb = l.li.callback.clone().ok_or_else(|| err(ErrorCode::Invalid, format!("{interaction} is not a callback")))?;
        let dialing = matches!(cb.phase, CallbackPhase::DialingAgent | CallbackPhase::DialingCustomer | CallbackPhase::Connected);
        if cb.dial != dial || !dialing {
            return Err(err(ErrorCode::Conflict, format!("dial {dial} of {interaction} is not under way")));
        }
        let agent = l.li.agent.clone();
        match progress {
            DialProgress::AgentRinging => self.set_phase(interaction, CallbackPhase::DialingAgent),
            DialProgress::CustomerRinging => self.set_phase(interaction, CallbackPhase::DialingCustomer),
            DialProgress::Connected => {
                self.set_phase(interaction, CallbackPhase::Connected);
                // Talk time starts when both are on the line.
                self.live.get_mut(interaction).expect("checked").li.connected_at = Some(now);
            }
            DialProgress::Ended { by } => {
                let l = &self.live[interaction];
                let secs = l.li.connected_at.map_or(0, |c| now.since(c).as_secs());
                let who = match by {
                    CallSide::Customer => "the customer".to_owned(),
                    CallSide::Agent => agent.as_ref().and_then(|a| self.seats.get(a)).map_or_else(|| "the agent".into(), |s| s.name.clone()),
                };
                let summary = format!("callback to {}, {} min {} s, hung up by {who}", cb.number, secs / 60, secs % 60);
                self.set_phase(interaction, CallbackPhase::Ended);
                self.end_interaction_as(interaction, Some((RecordOutcome::Completed, summary)))?;
            }
            DialProgress::Failed { side, reason } => self.dial_failed(interaction, agent, side, reason)?,
        }
        self.notify_client_of(interaction);
        self.pump();
        Ok(())
    }

    fn dial_failed(&mut self, id: &InteractionId, agent: Option<AgentId>, side: CallSide, reason: DialFailure) -> Result<(), BrokerError> {
        let cb = self.live[id].li.callback.clone().expect("a callback");
        if reason == DialFailure::Cancelled {
            // The end that cancelled it already wrote the record.
            return Ok(());
        }
        if let Some(a) = &agent {
            self.tell_agent(a, AgentEvent::DialFailed { interaction: id.clone(), side, reason }, None);
        }
        let attempts = cb.attempts + u32::from(side == CallSide::Customer);
        if side == CallSide::Customer && (!reason.retryable() || attempts >= self.cfg.callback_attempts) {
            self.set_phase(id, CallbackPhase::Failed { reason });
            let tries = if attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
            let summary = format!("callback to {}: {} ({tries})", cb.number, reason.describe());
            self.end_interaction_as(id, Some((RecordOutcome::Failed, summary)))?;
            return Ok(());
        }
        if let Some(a) = &agent {
            if let Some(seat) = self.seats.get_mut(a) {
                seat.active.remove(id);
                let idle = seat.active.is_empty();
                // An agent whose phone did not answer is not sent the next call.
                let next = if side == CallSide::Agent { AgentState::Away } else { AgentState::Available };
                if idle || side == CallSide::Agent {
                    self.set_agent_state(a, next);
                }
                self.dirty_agent(a);
            }
        }
        let phase = if side == CallSide::Customer {
            let at = self.now.add(self.cfg.callback_retry);
            self.timers.insert((at, Timer::Callback(id.clone())));
            CallbackPhase::RetryAt { at, reason }
        } else {
            CallbackPhase::Scheduled
        };
        if let Some(cb) = self.live.get_mut(id).and_then(|l| l.li.callback.as_mut()) {
            cb.attempts = attempts;
            cb.phase = phase;
        }
        // Back at its old place in the queue; a retry waits there until its time.
        self.requeue(id);
        Ok(())
    }

    /// After a restart the dialer's calls are gone: a callback that was dialing is tried again (an
    /// attempt is counted, so a restart loop cannot call forever), one that was connected is closed
    /// with a record, since nobody can see its end any more.
    pub(super) fn restore_callback(&mut self, li: &mut LiveInteraction) -> Option<(RecordOutcome, String)> {
        if !self.cfg.dialer {
            // Callbacks placed by hand are the agents' to close.
            return None;
        }
        let cb = li.callback.as_mut()?;
        match cb.phase {
            CallbackPhase::DialingAgent | CallbackPhase::DialingCustomer => {
                cb.attempts += 1;
                if cb.attempts >= self.cfg.callback_attempts {
                    cb.phase = CallbackPhase::Failed { reason: DialFailure::Interrupted };
                    return Some((RecordOutcome::Failed, format!("callback to {}: {} ({} attempts)", cb.number, DialFailure::Interrupted.describe(), cb.attempts)));
                }
                cb.phase = CallbackPhase::RetryAt { at: self.now, reason: DialFailure::Interrupted };
                li.state = InteractionState::Queued { position: 0, estimated_hold_secs: None };
                li.agent = None;
                li.connected_at = None;
                None
            }
            CallbackPhase::Connected => {
                cb.phase = CallbackPhase::Ended;
                Some((RecordOutcome::Completed, format!("callback to {}: connected when the server restarted; its end was not seen", cb.number)))
            }
            _ => None,
        }
    }

    /// Whether a restored callback waits for its booked slot (so it is not in the queue yet).
    pub(super) fn waits_for_slot(&mut self, li: &LiveInteraction) -> bool {
        let Some(cb) = &li.callback else { return false };
        match cb.phase {
            CallbackPhase::Scheduled if cb.at.is_some_and(|t| t > self.now) => {
                self.timers.insert((cb.at.expect("checked"), Timer::Callback(li.id.clone())));
                true
            }
            CallbackPhase::RetryAt { at, .. } => {
                self.timers.insert((at, Timer::Callback(li.id.clone())));
                false
            }
            _ => false,
        }
    }

    /// Whether the host places callbacks itself (see [`BrokerConfig::dialer`]); a host that starts
    /// its dialer after building the broker turns it on here.
    pub fn set_dialer(&mut self, on: bool) {
        self.cfg.dialer = on;
    }

    /// An agent's phone (a SIP URI), which the dialer rings for the callbacks it takes; none takes
    /// the agent out of callback routing when the host dials.
    pub fn agent_set_phone(&mut self, now: Timestamp, agent: &AgentId, phone: Option<String>) -> Result<(), BrokerError> {
        self.tick(now);
        let phone = match phone.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) if p.len() > 256 || !(p.starts_with("sip:") || p.starts_with("sips:")) || p.chars().any(|c| c.is_control() || c == ' ') => {
                return Err(err(ErrorCode::Invalid, "phone: a SIP URI such as sip:ann@192.0.2.10:5060, at most 256 bytes"));
            }
            Some(p) => Some(p),
        };
        let seat = self.seats.get_mut(agent).ok_or_else(|| err(ErrorCode::Conflict, format!("{agent} is not logged in")))?;
        seat.phone = phone;
        self.dirty_agent(agent);
        self.route();
        self.pump();
        Ok(())
    }

    fn set_phase(&mut self, id: &InteractionId, phase: CallbackPhase) {
        if let Some(cb) = self.live.get_mut(id).and_then(|l| l.li.callback.as_mut()) {
            if cb.phase != phase {
                cb.phase = phase;
                self.dirty_live.insert(id.clone());
            }
        }
    }

    /// Sets a waiting interaction's place and estimated hold from the monitor.
    pub(super) fn refresh_position(&mut self, id: &InteractionId) {
        if let Some((pos, est)) = self.monitor.waiting_position(id) {
            if let Some(l) = self.live.get_mut(id) {
                l.li.state = InteractionState::Queued { position: pos, estimated_hold_secs: est.map(|d| d.as_secs_f64().round()) };
            }
        }
    }

    /// Tells the client's devices and the agent how a callback stands now.
    fn notify_client_of(&mut self, id: &InteractionId) {
        let Some(l) = self.live.get(id) else { return };
        let li = l.li.clone();
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        if let (Some(agent), InteractionState::Connected) = (&li.agent, &li.state) {
            self.tell_agent(&agent.clone(), AgentEvent::Connected(li.clone()), None);
        }
    }
}
