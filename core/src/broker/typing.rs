//! Typing notices relayed between the two parties of a live chat, and read marks.
//!
//! Typing is soft state: relayed to the other party's connected sessions as an unsequenced frame,
//! never put in an outbox or the store, rate-limited per interaction and side. Read marks are the
//! opposite: durable in the live interaction and told to the other side as a sequenced event.

use super::*;
use crate::typing::Typing;

impl Broker {
    /// A typing notice from a session: passed on to the other party of the interaction, or refused
    /// (`not_found`, as for any interaction that is not the sender's) with a non-fatal error frame.
    pub(super) fn on_typing(&mut self, conn: ConnId, key: &SessionKey, t: Typing) {
        let from_agent = matches!(key.0, Party::Agent { .. });
        let Some(l) = self.live.get(&t.interaction).filter(|l| match &key.0 {
            Party::Client(c) => &l.li.client == c,
            Party::Agent { agent } => l.li.agent.as_ref() == Some(agent),
        }) else {
            let e = err(ErrorCode::NotFound, format!("typing: no live interaction {} of yours", t.interaction));
            return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: false }, false);
        };
        // Before an agent takes it, or after it ended, there is no one to tell.
        if l.li.state != InteractionState::Connected || !l.li.medium.has_messages() {
            return;
        }
        let targets = match (&l.li.agent, from_agent) {
            (Some(a), false) => self.by_agent.get(a).cloned().unwrap_or_default(),
            (_, true) => self.by_client.get(&l.li.client).cloned().unwrap_or_default(),
            (None, false) => return,
        };
        if !self.typing_admit(&t.interaction, from_agent) {
            return;
        }
        let frame = BrokerFrame::Typing { typing: t }.encode();
        for k in targets {
            if let Some(c) = self.sessions.get(&k).and_then(|s| s.conn) {
                self.send_raw(c, frame.clone(), false);
            }
        }
    }

    /// At most `max_typing_per_sec` notices per interaction and side in one second.
    fn typing_admit(&mut self, interaction: &InteractionId, from_agent: bool) -> bool {
        let now = self.now;
        if self.typing.len() > 4096 {
            self.typing.retain(|_, (since, _)| now < since.add(Duration::from_secs(1)));
        }
        let e = self.typing.entry((interaction.clone(), from_agent)).or_insert((now, 0));
        if now >= e.0.add(Duration::from_secs(1)) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= self.cfg.max_typing_per_sec
    }

    /// A client marks the agent's messages read up to `seq`: kept with the live interaction and told
    /// to the agent once; a mark at or below one already made changes nothing.
    pub(super) fn client_mark_read(&mut self, me: &ClientId, interaction: &InteractionId, seq: u64) -> Result<(), ErrorBody> {
        let l = self.own_live(me, interaction)?;
        if seq > l.chat_seq {
            return Err(err(ErrorCode::Invalid, format!("seq: interaction {interaction} has {} messages", l.chat_seq)));
        }
        if seq <= l.li.client_read {
            return Ok(());
        }
        let l = self.live.get_mut(interaction).expect("found above");
        l.li.client_read = seq;
        let agent = l.li.agent.clone();
        self.dirty_live.insert(interaction.clone());
        if let Some(a) = agent {
            self.tell_agent(&a, AgentEvent::ChatRead { interaction: interaction.clone(), seq }, None);
        }
        Ok(())
    }

    /// An agent marks the client's messages read up to `seq` in an interaction it handles: kept with
    /// the live interaction and told to every session of the client once.
    pub fn agent_mark_read(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, seq: u64) -> Result<(), BrokerError> {
        self.tick(now);
        let l = self
            .live
            .get_mut(interaction)
            .filter(|l| l.li.agent.as_ref() == Some(agent))
            .ok_or_else(|| err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}")))?;
        if seq > l.chat_seq {
            return Err(err(ErrorCode::Invalid, format!("seq: interaction {interaction} has {} messages", l.chat_seq)));
        }
        if seq > l.li.agent_read {
            l.li.agent_read = seq;
            let client = l.li.client.clone();
            self.dirty_live.insert(interaction.clone());
            self.push_event(&client, &Event::ChatRead { interaction: interaction.clone(), seq }, None, None);
        }
        self.pump();
        Ok(())
    }
}
