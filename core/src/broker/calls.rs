//! Voice and video calls: signalling relayed between the two sides of a connected interaction over
//! their reliable sessions, ICE servers with minted TURN credentials, and the record of how a call
//! ended.

use super::*;
use crate::call::{CallSignal, HangUpReason, IceServer};

/// Who sends a signal.
pub(super) enum Side<'a> {
    /// The interaction's client.
    Client(&'a ClientId),
    /// The agent handling it.
    Agent(&'a AgentId),
}

impl Broker {
    /// The live call `interaction` of this side, or the error that side should see.
    fn own_call(&self, side: &Side, interaction: &InteractionId) -> Result<&Live, ErrorBody> {
        let l = match side {
            // Another client's interaction answers exactly like a missing one.
            Side::Client(me) => self.own_live(me, interaction)?,
            Side::Agent(a) => self
                .live
                .get(interaction)
                .filter(|l| l.li.agent.as_ref() == Some(*a))
                .ok_or_else(|| err(ErrorCode::Forbidden, format!("{a} does not handle interaction {interaction}")))?,
        };
        if !matches!(l.li.medium, Medium::Voice | Medium::Video) {
            return Err(err(ErrorCode::Invalid, format!("interaction {interaction} is {}, not a call", l.li.medium)));
        }
        if l.li.state != InteractionState::Connected {
            return Err(err(ErrorCode::Conflict, format!("the call {interaction} is not connected")));
        }
        Ok(l)
    }

    /// Relays one signalling message to the other side (reliably, in order); a hang-up also ends the
    /// interaction with a record of who hung up, why and how long the call lasted.
    pub(super) fn relay_signal(&mut self, side: Side, interaction: &InteractionId, signal: CallSignal) -> Result<Response, ErrorBody> {
        signal.validate().map_err(|why| err(ErrorCode::Invalid, format!("signal: {why}")))?;
        let l = self.own_call(&side, interaction)?;
        if l.signals >= self.cfg.max_signals_per_call {
            return Err(err(ErrorCode::RateLimited, format!("at most {} signalling messages per call", self.cfg.max_signals_per_call)));
        }
        let (client, agent, medium, connected_at) = (l.li.client.clone(), l.li.agent.clone(), l.li.medium, l.li.connected_at);
        self.live.get_mut(interaction).expect("found above").signals += 1;
        let hang_up = match &signal {
            CallSignal::HangUp { reason } => Some(*reason),
            _ => None,
        };
        match &side {
            Side::Client(_) => {
                if let Some(a) = &agent {
                    self.tell_agent(a, AgentEvent::Signal { interaction: interaction.clone(), signal }, None);
                }
            }
            Side::Agent(_) => self.push_event(&client, &Event::Signal { interaction: interaction.clone(), signal }, None, None),
        }
        if let Some(reason) = hang_up {
            let by = match side {
                Side::Client(_) => "the customer".to_owned(),
                Side::Agent(a) => self.seats.get(a).map_or_else(|| a.to_string(), |s| s.name.clone()),
            };
            let secs = connected_at.map_or(0, |c| self.now.since(c).as_secs());
            let (outcome, how) = match reason {
                HangUpReason::Normal => (RecordOutcome::Completed, format!("hung up by {by}")),
                HangUpReason::Failed => (RecordOutcome::Failed, format!("the connection failed ({by}'s side)")),
                HangUpReason::MediaRefused => (RecordOutcome::Failed, format!("{by} refused the microphone or camera")),
            };
            let summary = format!("{medium} call, {} min {} s, {how}", secs / 60, secs % 60);
            let li = self.end_interaction_as(interaction, Some((outcome, summary)))?;
            self.push_event(&client, &Event::Interaction(li), None, None);
        }
        Ok(Response::Done)
    }

    /// STUN/TURN servers for this side's connected call, TURN credentials minted for it.
    pub(super) fn ice_servers(&self, side: Side, interaction: &InteractionId) -> Result<Vec<IceServer>, ErrorBody> {
        self.own_call(&side, interaction)?;
        let who = match side {
            Side::Client(c) => format!("client-{c}"),
            Side::Agent(a) => format!("agent-{a}"),
        };
        let mut v: Vec<IceServer> = self.cfg.ice_servers.clone();
        if let Some(t) = &self.cfg.turn {
            v.push(t.mint(self.now, &who));
        }
        Ok(v)
    }

    /// An in-process agent host sends a call signalling message (as a console's `signal` request).
    pub fn agent_signal(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, signal: CallSignal) -> Result<(), BrokerError> {
        self.tick(now);
        let r = self.relay_signal(Side::Agent(agent), interaction, signal).map(drop);
        self.pump();
        r
    }

    /// STUN/TURN servers for a call an in-process agent handles.
    pub fn agent_ice_servers(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<Vec<IceServer>, BrokerError> {
        self.tick(now);
        self.ice_servers(Side::Agent(agent), interaction)
    }
}
