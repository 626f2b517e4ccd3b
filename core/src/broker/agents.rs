//! The agent API: log-in, states, offers, chat, reads scoped by role.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- agent API

    /// Sets a queue's business hours (none: always open); outside them its live media are not
    /// offered, and email still is.
    pub fn set_queue_hours(&mut self, now: Timestamp, queue: QueueId, hours: Option<crate::monitor::hours::BusinessHours>) -> Result<(), BrokerError> {
        self.tick(now);
        self.monitor.handle_center_event(now, CenterEvent::QueueHoursSet { queue, hours })?;
        self.pump();
        Ok(())
    }

    /// Configures a queue (what it serves, on which media).
    pub fn configure_queue(&mut self, now: Timestamp, queue: QueueId, name: &str, products: Vec<ProductId>, media: Vec<Medium>) {
        self.tick(now);
        self.tell_monitor(CenterEvent::QueueConfigured { queue, name: name.into(), products, media });
        self.pump();
    }

    /// An agent logs in (state `Away` until it says it is available).
    pub fn agent_login(&mut self, now: Timestamp, agent: AgentId, name: &str, role: AgentRole, skills: Vec<ProductId>, media: Vec<Medium>) {
        self.tick(now);
        self.take_seat(agent, name, role, skills, media, false);
        self.pump();
    }

    /// Seats an agent; `remote` seats belong to console sessions and end with the last of them.
    pub(super) fn take_seat(&mut self, agent: AgentId, name: &str, role: AgentRole, skills: Vec<ProductId>, media: Vec<Medium>, remote: bool) {
        self.seats.insert(
            agent.clone(),
            Seat {
                name: name.into(),
                role,
                skills: skills.clone(),
                media: media.clone(),
                remote,
                state: AgentState::Away,
                offer: None,
                active: BTreeSet::new(),
                phone: None,
            },
        );
        self.tell_monitor(CenterEvent::AgentLoggedIn { agent: agent.clone(), name: name.into(), skills, media });
        // After a restart, interactions this agent was connected to are its own again.
        let mine: Vec<InteractionId> = self
            .live
            .values()
            .filter(|l| l.li.agent.as_ref() == Some(&agent) && l.li.state == InteractionState::Connected)
            .map(|l| l.li.id.clone())
            .collect();
        if !mine.is_empty() {
            self.seats.get_mut(&agent).expect("inserted").active.extend(mine);
            self.set_agent_state(&agent, AgentState::Busy);
        }
        self.dirty_agent(&agent);
    }

    /// An agent logs out: its offers go to others, its live interactions back to their queue at
    /// their old place (the client is told), and its pending invitations are cancelled.
    pub fn agent_logout(&mut self, now: Timestamp, agent: &AgentId) -> Result<(), BrokerError> {
        self.tick(now);
        self.logout_seat(agent)?;
        self.pump();
        Ok(())
    }

    pub(super) fn logout_seat(&mut self, agent: &AgentId) -> Result<(), BrokerError> {
        let seat = self.seat(agent)?.clone();
        if let Some(id) = &seat.offer {
            self.withdraw_offer(id, agent, false);
        }
        for id in seat.active.iter() {
            self.requeue(id);
        }
        let pending: Vec<InvitationId> =
            self.invitations.values().filter(|i| &i.agent == agent && i.state == InvitationState::Pending).map(|i| i.id.clone()).collect();
        for id in pending {
            self.settle_invitation(&id, InvitationState::Cancelled);
        }
        self.seats.remove(agent);
        self.tell_monitor(CenterEvent::AgentLoggedOut { agent: agent.clone() });
        self.dirty_agent(agent);
        self.route();
        Ok(())
    }

    /// The agent's seat, or the one error every agent request gets when there is none.
    pub(super) fn seat(&self, agent: &AgentId) -> Result<&Seat, BrokerError> {
        self.seats.get(agent).ok_or_else(|| err(ErrorCode::Conflict, format!("agent {agent} is not logged in; log in first")))
    }

    /// Marks the agent's sessions for saving (their records carry the seat).
    pub(super) fn dirty_agent(&mut self, agent: &AgentId) {
        if let Some(keys) = self.by_agent.get(agent) {
            self.dirty.extend(keys.iter().cloned());
        }
    }

    /// Tells an agent: its in-process host through [`BrokerEvent::Agent`], and every console
    /// session reliably (sequenced, replayed after a reconnect or a restart).
    pub(super) fn tell_agent(&mut self, agent: &AgentId, event: AgentEvent, hook: Option<AckHook>) {
        if let Some(keys) = self.by_agent.get(agent).cloned() {
            let payload: Arc<str> = serde_json::to_string(&event).expect("events serialize").into();
            for k in keys {
                self.push_payload(&k, payload.clone(), hook.clone());
            }
        }
        self.events.push_back(BrokerEvent::Agent { agent: agent.clone(), event });
    }

    /// Whether the agent has console sessions, whose acknowledgements are the delivery receipts.
    pub(super) fn agent_has_consoles(&self, agent: &AgentId) -> bool {
        self.by_agent.contains_key(agent)
    }

    /// Runs what acknowledgements settle: delivery receipts to the other side, once each.
    pub(super) fn run_hooks(&mut self, hooks: Vec<AckHook>) {
        for h in hooks {
            match h {
                AckHook::ToAgent { agent, interaction, seq } => self.tell_agent(&agent, AgentEvent::ChatDelivered { interaction, seq }, None),
                AckHook::ToClient { client, interaction, seq } => {
                    let Some(l) = self.live.get_mut(&interaction) else { continue };
                    if l.delivered_to_agent >= seq {
                        continue;
                    }
                    l.delivered_to_agent = seq;
                    self.push_event(&client, &Event::ChatDelivered { interaction, seq }, None, None);
                }
            }
        }
    }

    /// The seat as a console shows it.
    pub(super) fn seat_view(&self, agent: &AgentId) -> Result<SeatView, BrokerError> {
        let seat = self.seat(agent)?;
        let mut live = vec![];
        for id in &seat.active {
            if let Some(l) = self.live.get(id) {
                live.push(LiveWithTranscript { interaction: l.li.clone(), transcript: self.live_transcript(id, seat.active.len())? });
            }
        }
        live.sort_by_key(|l| l.interaction.created_at);
        let mut invitations: Vec<Invitation> =
            self.invitations.values().filter(|i| &i.agent == agent && i.state == InvitationState::Pending).cloned().collect();
        invitations.sort_by_key(|i| i.created_at);
        Ok(SeatView {
            agent: agent.clone(),
            name: seat.name.clone(),
            role: seat.role,
            media: seat.media.clone(),
            state: seat.state,
            offer: seat.offer.as_ref().and_then(|id| self.live.get(id)).map(|l| l.li.clone()),
            live,
            invitations,
            wrap_up_outcomes: self.cfg.wrap_up_outcomes.clone(),
        })
    }

    /// Executes a request from an agent's console session.
    pub(super) fn execute_agent(&mut self, key: &SessionKey, req: AgentRequest) -> Result<Response, BrokerError> {
        let agent = key.0.agent().expect("agent sessions only").clone();
        let role = self.sessions[key].role.unwrap_or(AgentRole::Agent);
        let now = self.now;
        match req {
            AgentRequest::LogIn { name, skills, media } => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.len() > 200 {
                    return Err(err(ErrorCode::Invalid, "name: a display name has 1 to 200 bytes"));
                }
                if media.is_empty() {
                    return Err(err(ErrorCode::Invalid, "media: name at least one medium the agent handles"));
                }
                if skills.len() > 256 {
                    return Err(err(ErrorCode::Invalid, "skills: at most 256"));
                }
                match self.seats.get_mut(&agent) {
                    // Another console (or the same one after a reload) joins the seat as it is; a seat
                    // an in-process host took is the consoles' from now on.
                    Some(seat) => {
                        seat.remote = true;
                        self.dirty_agent(&agent);
                    }
                    None => self.take_seat(agent.clone(), &name, role, skills, media, true),
                }
                self.seat_view(&agent).map(Response::Seat)
            }
            AgentRequest::LogOut => {
                self.logout_seat(&agent)?;
                Ok(Response::Done)
            }
            AgentRequest::SetPhone { phone } => self.agent_set_phone(now, &agent, phone).map(|_| Response::Done),
            AgentRequest::GetSeat => self.seat_view(&agent).map(Response::Seat),
            AgentRequest::SetState { state } => self.agent_set_state(now, &agent, state).map(|_| Response::Done),
            AgentRequest::Invite { client, medium, message } => self.agent_invite(now, &agent, &client, medium, &message).map(Response::Invitation),
            AgentRequest::RespondInvitation { invitation, accept } => {
                self.agent_respond_invitation(now, &agent, &invitation, accept).map(Response::Invitation)
            }
            AgentRequest::Accept { interaction } => self.agent_accept(now, &agent, &interaction).map(Response::Interaction),
            AgentRequest::Decline { interaction } => self.agent_decline(now, &agent, &interaction).map(|_| Response::Done),
            AgentRequest::SendChat { interaction, text } => self.agent_send_chat(now, &agent, &interaction, &text).map(Response::Chat),
            AgentRequest::MarkRead { interaction, seq } => self.agent_mark_read(now, &agent, &interaction, seq).map(|()| Response::Done),
            AgentRequest::End { interaction } => self.agent_end(now, &agent, &interaction).map(Response::Interaction),
            AgentRequest::ClientProfile { client } => self.agent_client_profile(&agent, &client).map(Response::Profile),
            AgentRequest::ClientHistory { client, filter } => self.agent_client_history(&agent, &client, &filter).map(Response::History),
            AgentRequest::ClientOrders { client } => self.agent_client_orders(&agent, &client).map(Response::Orders),
            AgentRequest::AddNote { interaction, text } => self.agent_add_note(now, &agent, &interaction, &text).map(Response::Record),
            AgentRequest::CenterStatus => Ok(Response::CenterStatus(self.monitor.center_status())),
            AgentRequest::Signal { interaction, signal } => self.relay_signal(calls::Side::Agent(&agent), &interaction, signal),
            AgentRequest::IceServers { interaction } => self.ice_servers(calls::Side::Agent(&agent), &interaction).map(Response::IceServers),
            AgentRequest::Transcript { interaction, before, limit } => {
                self.agent_transcript(&agent, &interaction, before, limit).map(Response::Transcript)
            }
            AgentRequest::Transfer { interaction, to, note } => self.agent_transfer(now, &agent, &interaction, to, note).map(|_| Response::Done),
            AgentRequest::WrapUp { interaction, outcome, note } => {
                self.agent_wrap_up(now, &agent, &interaction, &outcome, note.as_deref()).map(Response::Record)
            }
            AgentRequest::Wallboard => self.wallboard(&agent).map(Response::Wallboard),
        }
    }

    /// An agent changes state (available, away, after work).
    pub fn agent_set_state(&mut self, now: Timestamp, agent: &AgentId, state: AgentState) -> Result<(), BrokerError> {
        self.tick(now);
        self.seat(agent)?;
        if state == AgentState::LoggedOut {
            return self.agent_logout(now, agent);
        }
        self.set_agent_state(agent, state);
        if state != AgentState::Available {
            if let Some(id) = self.seats[agent].offer.clone() {
                self.withdraw_offer(&id, agent, false);
            }
        }
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent accepts the interaction offered to it.
    pub fn agent_accept(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<LiveInteraction, BrokerError> {
        self.tick(now);
        let offered_here = self.live.get(interaction).and_then(|l| l.offered.as_ref()).is_some_and(|(a, _)| a == agent);
        if !offered_here {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is not offered to {agent}")));
        }
        let l = self.live.get_mut(interaction).expect("checked");
        l.offered = None;
        if !l.answered {
            l.answered = true;
            self.sl.0.push_back((now, now.since(l.li.created_at)));
        }
        let l = self.live.get_mut(interaction).expect("checked");
        l.li.agent = Some(agent.clone());
        l.li.state = InteractionState::Connected;
        l.li.connected_at = Some(now);
        // Before anyone is told, so client and agent see the callback's dial under way.
        self.callback_taken(interaction);
        let li = self.live[interaction].li.clone();
        self.dirty_live.insert(interaction.clone());
        let seat = self.seats.get_mut(agent).expect("offers go to seated agents");
        seat.offer = None;
        seat.active.insert(interaction.clone());
        self.tell_monitor(CenterEvent::InteractionAnswered { interaction: interaction.clone(), agent: agent.clone() });
        self.set_agent_state(agent, AgentState::Busy);
        self.push_event(&li.client, &Event::Interaction(li.clone()), None, None);
        self.tell_agent(agent, AgentEvent::Connected(li.clone()), None);
        self.route();
        self.pump();
        Ok(li)
    }

    /// An agent declines the interaction offered to it; it goes to another agent.
    pub fn agent_decline(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<(), BrokerError> {
        self.tick(now);
        let offered_here = self.live.get(interaction).and_then(|l| l.offered.as_ref()).is_some_and(|(a, _)| a == agent);
        if !offered_here {
            return Err(err(ErrorCode::Conflict, format!("interaction {interaction} is not offered to {agent}")));
        }
        self.withdraw_offer(interaction, agent, true);
        self.route();
        self.pump();
        Ok(())
    }

    /// An agent invites a client to an interaction in a medium.
    pub fn agent_invite(&mut self, now: Timestamp, agent: &AgentId, client: &ClientId, medium: Medium, message: &str) -> Result<Invitation, BrokerError> {
        self.tick(now);
        self.seat(agent)?;
        let inv = self.new_invitation(InvitationDirection::AgentToClient, client, agent, medium, message)?;
        self.push_event(client, &Event::Invitation(inv.clone()), None, None);
        self.pump();
        Ok(inv)
    }

    /// An agent answers an invitation a client sent it.
    pub fn agent_respond_invitation(&mut self, now: Timestamp, agent: &AgentId, id: &InvitationId, accept: bool) -> Result<Invitation, BrokerError> {
        self.tick(now);
        let inv = self
            .invitations
            .get(id)
            .filter(|i| &i.agent == agent && i.direction == InvitationDirection::ClientToAgent)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no invitation {id} for {agent}")))?
            .clone();
        self.check_pending(&inv)?;
        let out = if accept {
            let li = self.connect_invitation(&inv)?;
            self.invitations.get_mut(id).expect("checked").interaction = Some(li.id);
            self.settle_invitation(id, InvitationState::Accepted)
        } else {
            self.settle_invitation(id, InvitationState::Declined)
        };
        self.pump();
        Ok(out)
    }

    /// An agent sends a chat message in an interaction it handles.
    pub fn agent_send_chat(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, text: &str) -> Result<ChatMessage, BrokerError> {
        self.tick(now);
        if text.is_empty() || text.len() > MAX_CHAT_BYTES {
            self.agent_may_post(agent, interaction)?;
            return Err(err(ErrorCode::Invalid, format!("a message has 1 to {MAX_CHAT_BYTES} bytes")));
        }
        self.agent_message(agent, interaction, text.into(), None)
    }

    /// Checks that an agent may post in an interaction: it handles it, and the medium has messages.
    pub(super) fn agent_may_post(&self, agent: &AgentId, interaction: &InteractionId) -> Result<(), BrokerError> {
        let l = self.live.get(interaction).filter(|l| l.li.agent.as_ref() == Some(agent)).ok_or_else(|| {
            err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}"))
        })?;
        if !l.li.medium.has_messages() {
            return Err(err(ErrorCode::Invalid, format!("messages go in chat, email and call interactions, not {}", l.li.medium)));
        }
        Ok(())
    }

    /// Posts an agent's message (text or a file) and sends it to the client.
    pub(super) fn agent_message(
        &mut self,
        agent: &AgentId,
        interaction: &InteractionId,
        text: String,
        file: Option<(crate::attachment::Attachment, &[u8])>,
    ) -> Result<ChatMessage, BrokerError> {
        self.agent_may_post(agent, interaction)?;
        let l = &self.live[interaction];
        let (client, email) = (l.li.client.clone(), l.li.medium == Medium::Email);
        let over_http = file.is_some();
        let msg = self.append_message(interaction, Author::Agent(agent.clone()), text, file)?;
        if over_http {
            // A file comes over HTTP, not as a console's request: no console has the message as an
            // answer, so every console of the agent gets it as an event.
            self.tell_agent(agent, AgentEvent::Chat(msg.clone()), None);
        }
        if email {
            self.owe_mail(agent, &msg);
        }
        let hook = AckHook::ToAgent { agent: agent.clone(), interaction: interaction.clone(), seq: msg.seq };
        self.push_event(&client, &Event::Chat(msg.clone()), None, Some(hook));
        self.pump();
        Ok(msg)
    }

    /// An agent ends an interaction it handles.
    pub fn agent_end(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId) -> Result<LiveInteraction, BrokerError> {
        self.tick(now);
        if !self.live.get(interaction).is_some_and(|l| l.li.agent.as_ref() == Some(agent)) {
            return Err(err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}")));
        }
        let li = self.end_interaction(interaction)?;
        self.pump();
        Ok(li)
    }

    /// Live interactions an agent is connected to (a console that reconnects lists them again).
    pub fn agent_interactions(&self, agent: &AgentId) -> Vec<LiveInteraction> {
        let mut v: Vec<LiveInteraction> =
            self.live.values().filter(|l| l.li.agent.as_ref() == Some(agent) && l.li.state == InteractionState::Connected).map(|l| l.li.clone()).collect();
        v.sort_by_key(|l| l.created_at);
        v
    }

    /// A page of the transcript of an interaction the agent handles (supervisors: any), so a console
    /// that was away catches up.
    pub fn agent_transcript(
        &self,
        agent: &AgentId,
        interaction: &InteractionId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<ChatMessage>, BrokerError> {
        self.agent_may_read_interaction(agent, interaction)?;
        self.transcript_page(interaction, before, limit)
    }

    /// Checks that an agent may read an interaction's transcript and files: it handles or handled
    /// it, is offered it (a transfer is read before it is accepted), or supervises.
    pub(super) fn agent_may_read_interaction(&self, agent: &AgentId, interaction: &InteractionId) -> Result<(), BrokerError> {
        let seat = self.seat(agent)?;
        let handles = self.live.get(interaction).is_some_and(|l| l.li.agent.as_ref() == Some(agent) || l.offered.as_ref().is_some_and(|(a, _)| a == agent))
            || self.store.record(interaction)?.is_some_and(|r| r.agent.as_ref() == Some(agent));
        if !handles && seat.role != AgentRole::Supervisor {
            return Err(err(ErrorCode::Forbidden, format!("{agent} does not handle interaction {interaction}")));
        }
        Ok(())
    }

    pub(super) fn agent_may_read(&self, agent: &AgentId, client: &ClientId) -> Result<(), BrokerError> {
        let seat = self.seat(agent)?;
        if seat.role == AgentRole::Supervisor {
            return Ok(());
        }
        let serving = seat.active.iter().chain(seat.offer.iter()).any(|i| self.live.get(i).is_some_and(|l| &l.li.client == client));
        let invited = self.invitations.values().any(|i| &i.agent == agent && &i.client == client && i.state == InvitationState::Pending);
        if serving || invited {
            Ok(())
        } else {
            Err(err(ErrorCode::Forbidden, format!("{agent} is not serving client {client}")))
        }
    }

    /// A client's profile, for an agent serving that client (or a supervisor).
    pub fn agent_client_profile(&self, agent: &AgentId, client: &ClientId) -> Result<ClientProfile, BrokerError> {
        self.agent_may_read(agent, client)?;
        Ok(self.store.profile(client)?.unwrap_or_default())
    }

    /// A client's history, for an agent serving that client (or a supervisor).
    pub fn agent_client_history(&self, agent: &AgentId, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, BrokerError> {
        self.agent_may_read(agent, client)?;
        self.history_page(client, filter)
    }

    /// A served client's orders, newest first (same access as its profile and history).
    pub fn agent_client_orders(&self, agent: &AgentId, client: &ClientId) -> Result<Vec<crate::records::Order>, BrokerError> {
        self.agent_may_read(agent, client)?;
        let mut v = self.store.orders(client)?;
        v.sort_by(|a, b| b.history.first().map(|h| h.at).cmp(&a.history.first().map(|h| h.at)).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    /// A note by an agent on a past interaction it handled (supervisors: any).
    pub fn agent_add_note(&mut self, now: Timestamp, agent: &AgentId, interaction: &InteractionId, text: &str) -> Result<InteractionRecord, BrokerError> {
        self.tick(now);
        let seat = self.seat(agent)?;
        let mut r = self.store.record(interaction)?.ok_or_else(|| err(ErrorCode::NotFound, format!("no interaction {interaction}")))?;
        if seat.role != AgentRole::Supervisor && r.agent.as_ref() != Some(agent) {
            return Err(err(ErrorCode::Forbidden, format!("{agent} did not handle interaction {interaction}")));
        }
        self.add_note_checked(&mut r, Note { at: now, author: agent.to_string(), text: text.trim().to_owned() })?;
        self.store.put_record(&r)?;
        self.push_event(&r.client.clone(), &Event::HistoryChanged(r.clone()), None, None);
        self.pump();
        Ok(r)
    }

}
