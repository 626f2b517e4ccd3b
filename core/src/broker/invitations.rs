//! Invitations in both directions, built and settled in one place.

use super::*;

impl Broker {
    /// Builds, validates and records a pending invitation between a client and a seated agent, with
    /// its expiry timer; the caller tells the invited side.
    pub(super) fn new_invitation(
        &mut self,
        direction: InvitationDirection,
        client: &ClientId,
        agent: &AgentId,
        medium: Medium,
        message: &str,
    ) -> Result<Invitation, ErrorBody> {
        if message.len() > 2000 {
            return Err(err(ErrorCode::Invalid, "message: an invitation message has at most 2000 bytes"));
        }
        let seat = self.seat(agent)?;
        if !seat.media.contains(&medium) {
            let code = if direction == InvitationDirection::ClientToAgent { ErrorCode::Unavailable } else { ErrorCode::Invalid };
            return Err(err(code, format!("medium: agent {agent} does not handle {medium}")));
        }
        let agent_name = seat.name.clone();
        let now = self.now;
        let inv = Invitation {
            id: InvitationId(self.next_id("inv")),
            direction,
            client: client.clone(),
            agent: agent.clone(),
            agent_name,
            medium,
            message: message.into(),
            created_at: now,
            expires_at: now.add(self.cfg.invitation_ttl),
            state: InvitationState::Pending,
            interaction: None,
        };
        self.invitations.insert(inv.id.clone(), inv.clone());
        self.dirty_invitations.insert(inv.id.clone());
        self.timers.insert((inv.expires_at, Timer::Invitation(inv.id.clone())));
        Ok(inv)
    }

    pub(super) fn client_respond_invitation(&mut self, key: &SessionKey, id: &InvitationId, accept: bool) -> Result<Response, ErrorBody> {
        let me = key.0.client().expect("client sessions only");
        let inv = self
            .invitations
            .get(id)
            .filter(|i| &i.client == me && i.direction == InvitationDirection::AgentToClient)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no invitation {id} for you")))?
            .clone();
        self.check_pending(&inv)?;
        if !accept {
            return Ok(Response::Invitation(self.settle_invitation(id, InvitationState::Declined)));
        }
        let li = self.connect_invitation(&inv)?;
        // The interaction id goes in before the change is announced, so every copy carries it.
        self.invitations.get_mut(id).expect("checked").interaction = Some(li.id);
        Ok(Response::Invitation(self.settle_invitation(id, InvitationState::Accepted)))
    }

    pub(super) fn check_pending(&self, inv: &Invitation) -> Result<(), ErrorBody> {
        if inv.state == InvitationState::Pending && inv.expires_at <= self.now {
            return Err(err(ErrorCode::Expired, format!("invitation {} expired at {}", inv.id, inv.expires_at)));
        }
        match inv.state {
            InvitationState::Pending => Ok(()),
            InvitationState::Expired => Err(err(ErrorCode::Expired, format!("invitation {} expired", inv.id))),
            s => Err(err(ErrorCode::Conflict, format!("invitation {} is already {s:?}", inv.id).to_lowercase())),
        }
    }

    /// Starts the interaction an accepted invitation asked for, with the agent at once.
    pub(super) fn connect_invitation(&mut self, inv: &Invitation) -> Result<LiveInteraction, ErrorBody> {
        if !self.seats.contains_key(&inv.agent) {
            return Err(err(ErrorCode::Unavailable, format!("agent {} has logged out", inv.agent)));
        }
        let client_address = self.client_address(&inv.client, inv.medium)?;
        let id = InteractionId(self.next_id("ix"));
        let li = LiveInteraction {
            id: id.clone(),
            client: inv.client.clone(),
            medium: inv.medium,
            queue: None,
            product: None,
            topic: Some(inv.message.clone()).filter(|m| !m.is_empty()),
            agent: Some(inv.agent.clone()),
            direction: match inv.direction {
                InvitationDirection::AgentToClient => Direction::Outbound,
                InvitationDirection::ClientToAgent => Direction::Inbound,
            },
            state: InteractionState::Connected,
            created_at: self.now,
            connected_at: Some(self.now),
            ended_at: None,
            client_address,
            callback: None,
            client_read: 0,
            agent_read: 0,
        };
        self.live.insert(id.clone(), Live { li: li.clone(), external: false, offered: None, declined_by: HashSet::new(), chat_seq: 0, delivered_to_agent: 0, signals: 0, notes: vec![], answered: false });
        self.dirty_live.insert(id.clone());
        let seat = self.seats.get_mut(&inv.agent).expect("checked");
        seat.active.insert(id);
        self.set_agent_state(&inv.agent.clone(), AgentState::Busy);
        self.push_event(&inv.client, &Event::Interaction(li.clone()), None, None);
        self.tell_agent(&inv.agent, AgentEvent::Connected(li.clone()), None);
        Ok(li)
    }

    pub(super) fn settle_invitation(&mut self, id: &InvitationId, state: InvitationState) -> Invitation {
        let inv = self.invitations.get_mut(id).expect("caller checked");
        inv.state = state;
        let inv = inv.clone();
        self.dirty_invitations.insert(id.clone());
        self.push_event(&inv.client.clone(), &Event::Invitation(inv.clone()), None, None);
        self.tell_agent(&inv.agent, AgentEvent::InvitationUpdated(inv.clone()), None);
        if state != InvitationState::Pending {
            // Settled invitations are kept a while so late answers get a clear error, then forgotten.
            let horizon = self.now.as_millis().saturating_sub(3_600_000);
            let old: Vec<InvitationId> = self
                .invitations
                .values()
                .filter(|i| i.state != InvitationState::Pending && i.expires_at.as_millis() <= horizon)
                .map(|i| i.id.clone())
                .collect();
            for id in old {
                self.invitations.remove(&id);
                self.dirty_invitations.insert(id);
            }
        }
        inv
    }

}
