//! Client requests, each scoped to the caller's own data.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- client requests

    pub(super) fn execute(&mut self, key: &SessionKey, req: Request) -> Result<Response, ErrorBody> {
        let me = key.0.client().expect("client sessions only").clone();
        let now = self.now;
        match req {
            Request::GetProfile => Ok(Response::Profile(self.store.profile(&me)?.unwrap_or_default())),
            Request::UpdateProfile { patch } => {
                patch.validate().map_err(|m| err(ErrorCode::Invalid, m))?;
                let mut p = self.store.profile(&me)?.unwrap_or_default();
                patch.apply_to(&mut p);
                p.revision += 1;
                self.store.put_profile(&me, &p)?;
                self.push_event(&me, &Event::ProfileChanged(p.clone()), Some(key), None);
                Ok(Response::Profile(p))
            }
            Request::GetHistory { filter } => Ok(Response::History(self.history_page(&me, &filter)?)),
            Request::AddNote { interaction, text } => {
                let mut r = self.own_record(&me, &interaction)?;
                self.add_note_checked(&mut r, Note { at: now, author: "client".into(), text: text.trim().to_owned() })?;
                self.store.put_record(&r)?;
                self.push_event(&me, &Event::HistoryChanged(r.clone()), Some(key), None);
                Ok(Response::Record(r))
            }
            Request::GetProducts => Ok(Response::Products(self.store.products()?)),
            Request::GetOrders => Ok(Response::Orders(self.store.orders(&me)?)),
            Request::UpdateDelivery { order, delivery } => {
                let mut o = self.own_order(&me, &order)?;
                if !o.status.delivery_editable() {
                    return Err(err(ErrorCode::Conflict, format!("order {order} is {:?}; delivery can no longer change", o.status)));
                }
                if delivery.address.trim().is_empty() || delivery.address.len() > 1000 {
                    return Err(err(ErrorCode::Invalid, "a delivery address has 1 to 1000 bytes"));
                }
                o.delivery = delivery;
                o.revision += 1;
                self.store.put_order(&o)?;
                self.push_event(&me, &Event::OrderChanged(o.clone()), Some(key), None);
                Ok(Response::Order(o))
            }
            Request::GetCenterStatus => Ok(Response::CenterStatus(self.monitor.center_status())),
            Request::Watch { presentity } => {
                let s = &self.sessions[key];
                if s.watches.len() >= self.cfg.max_watches && !s.watching(&presentity) {
                    return Err(err(ErrorCode::RateLimited, format!("presentity: at most {} watches per session", self.cfg.max_watches)));
                }
                let w = s.watcher;
                let doc = self.monitor.subscribe(w, &Principal::Client(me), &presentity)?;
                let id = self.sessions.id(key).expect("exists");
                // The answer carries the document: later changes go as deltas from its version.
                self.sessions.add_watch(id, presentity.clone(), doc.version);
                self.dirty.insert(key.clone());
                Ok(Response::Presence(doc))
            }
            Request::Unwatch { presentity } => {
                let id = self.sessions.id(key).expect("exists");
                self.sessions.remove_watch(id, &presentity);
                let w = self.sessions.at(id).watcher;
                self.unsubscribe(w, &presentity);
                self.dirty.insert(key.clone());
                Ok(Response::Done)
            }
            Request::SetStatus { status } => {
                if status.note.as_ref().is_some_and(|n| n.len() > 500) {
                    return Err(err(ErrorCode::Invalid, "a status note has at most 500 bytes"));
                }
                self.monitor.publish_client_status(now, me, status);
                Ok(Response::Done)
            }
            Request::SetAccessRules { rules } => {
                if rules.len() > self.cfg.max_access_rules {
                    return Err(err(ErrorCode::Invalid, format!("rules: at most {} access rules", self.cfg.max_access_rules)));
                }
                self.monitor.set_access_rules(&Principal::Client(me.clone()), &Presentity::Client(me.clone()), rules)?;
                self.dirty_rules.insert(Presentity::Client(me));
                Ok(Response::Done)
            }
            Request::ListWatchers => {
                Ok(Response::Watchers(self.monitor.list_watchers(&Principal::Client(me.clone()), &Presentity::Client(me))?))
            }
            Request::SubscribeAlert { rule } => {
                if self.alerts.values().filter(|a| &a.session == key).count() >= self.cfg.max_alerts {
                    return Err(err(ErrorCode::RateLimited, format!("at most {} alerts per session", self.cfg.max_alerts)));
                }
                let id = AlertId(self.next_id("al"));
                let why = rule.evaluate(&self.monitor.center_status());
                self.alerts.insert(id.clone(), AlertSub { session: key.clone(), rule: rule.clone(), holds: why.is_some() });
                self.dirty.insert(key.clone());
                if let Some(message) = why {
                    self.push_to_session(key, &Event::Alert(AlertFired { alert: id.clone(), rule, at: now, message }));
                }
                Ok(Response::Alert(id))
            }
            Request::UnsubscribeAlert { alert } => match self.alerts.get(&alert) {
                Some(a) if &a.session == key => {
                    self.alerts.remove(&alert);
                    self.dirty.insert(key.clone());
                    Ok(Response::Done)
                }
                _ => Err(err(ErrorCode::NotFound, format!("no alert {alert}"))),
            },
            Request::RespondInvitation { invitation, accept } => self.client_respond_invitation(key, &invitation, accept),
            Request::InviteAgent { agent, medium, message } => {
                if !self.seats.contains_key(&agent) {
                    // Seen from the client, an agent who is not seated is not available.
                    return Err(err(ErrorCode::Unavailable, format!("agent {agent} is not available")));
                }
                let inv = self.new_invitation(InvitationDirection::ClientToAgent, &me, &agent, medium, &message)?;
                self.tell_agent(&agent, AgentEvent::InvitationReceived(inv.clone()), None);
                Ok(Response::Invitation(inv))
            }
            Request::StartInteraction { medium: Medium::Callback, product, queue, topic, message: None } => {
                self.request_callback(&me, None, None, product, queue, topic).map(Response::Interaction)
            }
            Request::StartInteraction { medium, product, queue, topic, message } => {
                self.start_interaction(&me, medium, product, queue, topic, message).map(Response::Interaction)
            }
            Request::RequestCallback { number, at, product, queue, topic } => {
                self.request_callback(&me, number, at, product, queue, topic).map(Response::Interaction)
            }
            Request::SendChat { interaction, text } => {
                self.client_may_post(&me, &interaction)?;
                if text.is_empty() || text.len() > MAX_CHAT_BYTES {
                    return Err(err(ErrorCode::Invalid, format!("a message has 1 to {MAX_CHAT_BYTES} bytes")));
                }
                Ok(Response::Chat(self.client_message(&me, &interaction, text, None, Some(key))?))
            }
            Request::MarkRead { interaction, seq } => self.client_mark_read(&me, &interaction, seq).map(|()| Response::Done),
            Request::GetTranscript { interaction, before, limit } => {
                self.client_may_read(&me, &interaction)?;
                Ok(Response::Transcript(self.transcript_page(&interaction, before, limit)?))
            }
            Request::Signal { interaction, signal } => self.relay_signal(calls::Side::Client(&me), &interaction, signal),
            Request::IceServers { interaction } => self.ice_servers(calls::Side::Client(&me), &interaction).map(Response::IceServers),
            Request::RegisterPush { platform, token } => self.register_push(&me, platform, token).map(|()| Response::Done),
            Request::UnregisterPush { token } => {
                let _ = self.pushes.unregister(&me, &token);
                Ok(Response::Done)
            }
            Request::GetLive => {
                let mut v = vec![];
                let mine: Vec<&Live> = self.live.values().filter(|l| l.li.client == me).collect();
                for l in &mine {
                    v.push(LiveWithTranscript { interaction: l.li.clone(), transcript: self.live_transcript(&l.li.id, mine.len())? });
                }
                v.sort_by_key(|l| l.interaction.created_at);
                Ok(Response::Live(v))
            }
            Request::EndInteraction { interaction } => {
                let l = self.own_live(&me, &interaction)?;
                if matches!(l.li.state, InteractionState::Ended { .. }) {
                    return Ok(Response::Interaction(l.li.clone()));
                }
                Ok(Response::Interaction(self.end_interaction(&interaction)?))
            }
        }
    }

    /// Adds a note within the limits: 1 to 4000 bytes, a bounded number per record, and a record
    /// that still fits in one frame (it is pushed whole to the client's sessions).
    pub(super) fn add_note_checked(&mut self, r: &mut InteractionRecord, note: Note) -> Result<(), ErrorBody> {
        if note.text.is_empty() || note.text.len() > 4000 {
            return Err(err(ErrorCode::Invalid, "text: a note has 1 to 4000 bytes"));
        }
        if r.notes.len() >= self.cfg.max_notes_per_record {
            return Err(err(ErrorCode::RateLimited, format!("interaction: at most {} notes per interaction", self.cfg.max_notes_per_record)));
        }
        r.notes.push(note);
        let size = serde_json::to_vec(&*r).map_or(usize::MAX, |v| v.len());
        if size + 256 > self.cfg.max_frame_bytes {
            r.notes.pop();
            return Err(err(ErrorCode::TooLarge, "text: the interaction's notes are full"));
        }
        Ok(())
    }

    pub(super) fn own_record(&self, me: &ClientId, id: &InteractionId) -> Result<InteractionRecord, ErrorBody> {
        // Another client's record answers exactly like a missing one, so ids cannot be probed.
        self.store.record(id)?.filter(|r| &r.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no interaction {id}")))
    }

    pub(super) fn own_order(&self, me: &ClientId, id: &OrderId) -> Result<Order, ErrorBody> {
        self.store.order(id)?.filter(|o| &o.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no order {id}")))
    }

    pub(super) fn own_live(&self, me: &ClientId, id: &InteractionId) -> Result<&Live, ErrorBody> {
        self.live.get(id).filter(|l| &l.li.client == me).ok_or_else(|| err(ErrorCode::NotFound, format!("no live interaction {id}")))
    }

    /// Checks that a client may post in an interaction: its own, not ended, in a medium with messages.
    pub(super) fn client_may_post(&self, me: &ClientId, interaction: &InteractionId) -> Result<(), ErrorBody> {
        let l = self.own_live(me, interaction)?;
        if matches!(l.li.state, InteractionState::Ended { .. }) {
            return Err(err(ErrorCode::Conflict, "the interaction has ended"));
        }
        if !l.li.medium.has_messages() {
            return Err(err(ErrorCode::Invalid, format!("messages go in chat, email and call interactions, not {}", l.li.medium)));
        }
        Ok(())
    }

    /// Checks that a client may read an interaction's transcript and files: one of its own, live or
    /// past. Another's is "not found", so a client cannot learn which interactions exist.
    pub(super) fn client_may_read(&self, me: &ClientId, interaction: &InteractionId) -> Result<(), ErrorBody> {
        let mine = self.live.get(interaction).is_some_and(|l| &l.li.client == me) || self.store.record(interaction)?.is_some_and(|r| &r.client == me);
        if mine {
            Ok(())
        } else {
            Err(err(ErrorCode::NotFound, format!("no interaction {interaction}")))
        }
    }

    pub(super) fn append_chat(&mut self, interaction: &InteractionId, from: Author, text: String) -> Result<ChatMessage, ErrorBody> {
        self.append_message(interaction, from, text, None)
    }

    /// Numbers and stores a message, and the file it carries first: a message never names a file
    /// the store lacks (a file without its message is only dead weight).
    pub(super) fn append_message(
        &mut self,
        interaction: &InteractionId,
        from: Author,
        text: String,
        file: Option<(crate::attachment::Attachment, &[u8])>,
    ) -> Result<ChatMessage, ErrorBody> {
        let seq = self.live.get(interaction).expect("caller checked").chat_seq + 1;
        let attachment = match file {
            Some((meta, data)) => {
                self.store.put_attachment(interaction, seq, data)?;
                Some(meta)
            }
            None => None,
        };
        self.live.get_mut(interaction).expect("caller checked").chat_seq = seq;
        let msg = ChatMessage { interaction: interaction.clone(), seq, from, text, at: self.now, attachment };
        self.store.append_chat(&msg)?;
        Ok(msg)
    }

    pub(super) fn client_address(&self, me: &ClientId, medium: Medium) -> Result<Option<String>, ErrorBody> {
        let profile = self.store.profile(me)?.unwrap_or_default();
        let cap = profile.capabilities.iter().find(|c| c.medium == medium || (medium == Medium::Callback && c.medium == Medium::Voice));
        match medium {
            Medium::Chat => Ok(None),
            Medium::Voice | Medium::Callback | Medium::Email | Medium::Video => match cap {
                Some(c) => Ok(c.address.clone()),
                // A call in the app needs no address: the app itself is the endpoint.
                None if matches!(medium, Medium::Voice | Medium::Video) => Ok(None),
                None => Err(err(
                    ErrorCode::Invalid,
                    {
                        let a = if medium == Medium::Email { "an" } else { "a" };
                        format!("add {a} {medium} capability (with an address) to your profile before starting {a} {medium} interaction")
                    },
                )),
            },
        }
    }

    pub(super) fn start_interaction(
        &mut self,
        me: &ClientId,
        medium: Medium,
        product: Option<ProductId>,
        queue: Option<QueueId>,
        topic: Option<String>,
        message: Option<String>,
    ) -> Result<LiveInteraction, ErrorBody> {
        self.start_interaction_with(me, medium, product, queue, topic, message, None, true)
    }

    /// Starts an interaction; a callback carries its telephony state, and one booked for later
    /// (`queue_now` false) enters its queue when its slot comes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_interaction_with(
        &mut self,
        me: &ClientId,
        medium: Medium,
        product: Option<ProductId>,
        queue: Option<QueueId>,
        topic: Option<String>,
        message: Option<String>,
        callback: Option<crate::callback::Callback>,
        queue_now: bool,
    ) -> Result<LiveInteraction, ErrorBody> {
        if topic.as_ref().is_some_and(|t| t.len() > 500) {
            return Err(err(ErrorCode::Invalid, "a topic has at most 500 bytes"));
        }
        let message = message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
        if message.is_some() && !medium.has_messages() {
            return Err(err(ErrorCode::Invalid, format!("message: a {medium} interaction starts without one")));
        }
        if message.as_ref().is_some_and(|m| m.len() > MAX_CHAT_BYTES) {
            return Err(err(ErrorCode::Invalid, format!("message: at most {MAX_CHAT_BYTES} bytes")));
        }
        if medium == Medium::Email && message.is_none() {
            return Err(err(ErrorCode::Invalid, "message: an email needs a text"));
        }
        let open = self.live.values().filter(|l| &l.li.client == me && !matches!(l.li.state, InteractionState::Ended { .. })).count();
        if open >= self.cfg.max_live_per_client {
            return Err(err(ErrorCode::RateLimited, format!("at most {} live interactions at once", self.cfg.max_live_per_client)));
        }
        let queue = match queue {
            Some(q) => q,
            None => self
                .monitor
                .queue_for(product.as_ref(), medium)
                .ok_or_else(|| err(ErrorCode::Unavailable, format!("no queue takes {medium} for this product")))?,
        };
        let status = self.monitor.center_status();
        let qs = status.queue(&queue, medium).ok_or_else(|| err(ErrorCode::NotFound, format!("queue {queue} does not take {medium}")))?;
        // A callback booked for later does not need the queue to be open now.
        if queue_now && !qs.offered && !qs.open {
            return Err(err(ErrorCode::Unavailable, format!("{} is closed now (outside its business hours); email is taken at any time", qs.name)));
        }
        if queue_now && !qs.offered {
            return Err(err(ErrorCode::Unavailable, format!("{medium} is not offered in {} right now", qs.name)));
        }
        let client_address = match &callback {
            Some(cb) => Some(cb.number.clone()),
            None => self.client_address(me, medium)?,
        };
        let id = InteractionId(self.next_id("ix"));
        let li = LiveInteraction {
            id: id.clone(),
            client: me.clone(),
            medium,
            queue: Some(queue.clone()),
            product,
            topic,
            agent: None,
            direction: Direction::Inbound,
            state: InteractionState::Queued { position: 0, estimated_hold_secs: None },
            created_at: self.now,
            connected_at: None,
            ended_at: None,
            client_address,
            callback,
            client_read: 0,
            agent_read: 0,
        };
        let external = match self.center.admit(self.now, &li) {
            Admission::RouteHere => false,
            Admission::External => true,
            Admission::Refuse(why) => return Err(err(ErrorCode::Unavailable, why)),
        };
        if queue_now {
            self.monitor.handle_center_event(
                self.now,
                CenterEvent::InteractionQueued { interaction: id.clone(), queue, medium, client: Some(me.clone()) },
            )?;
        }
        self.live.insert(id.clone(), Live { li, external, offered: None, declined_by: HashSet::new(), chat_seq: 0, delivered_to_agent: 0, signals: 0, notes: vec![], answered: false });
        self.dirty_live.insert(id.clone());
        if let Some(text) = message {
            // Before routing, so the agent it is offered to sees it with the offer's transcript.
            let msg = self.append_chat(&id, Author::Client(me.clone()), text)?;
            self.push_event(me, &Event::Chat(msg), None, None);
        }
        self.refresh_position(&id);
        self.route();
        Ok(self.live[&id].li.clone())
    }


    /// One page of a client's history, newest first, at most `max_page` records.
    pub(super) fn history_page(&self, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, BrokerError> {
        let mut v = self.store.history(client, filter)?;
        if let Some(after) = &filter.after {
            // Another client's record is as unknown as a missing one.
            let at = v.iter().position(|r| &r.id == after).ok_or_else(|| err(ErrorCode::NotFound, format!("no record {after}")))?;
            v.drain(..=at);
        }
        v.truncate(self.page_size(filter.limit));
        Ok(fit(v, self.page_bytes(), false))
    }

    /// One page of a transcript: the newest messages numbered below `before`, in order.
    pub(super) fn transcript_page(&self, id: &InteractionId, before: Option<u64>, limit: Option<u32>) -> Result<Vec<ChatMessage>, BrokerError> {
        Ok(fit(self.store.transcript_page(id, before, self.page_size(limit))?, self.page_bytes(), true))
    }

    /// The tail of a transcript sent with one of `of` live interactions in one answer, so all of
    /// them fit in a frame together.
    pub(super) fn live_transcript(&self, id: &InteractionId, of: usize) -> Result<Vec<ChatMessage>, BrokerError> {
        Ok(fit(self.store.transcript_page(id, None, self.cfg.live_transcript)?, self.page_bytes() / of.max(1), true))
    }

    fn page_size(&self, limit: Option<u32>) -> usize {
        limit.map_or(self.cfg.max_page, |l| usize::try_from(l).unwrap_or(usize::MAX).min(self.cfg.max_page))
    }

    /// Bytes a page may take: a frame less room for the envelope and the other parts of an answer.
    fn page_bytes(&self) -> usize {
        self.cfg.max_frame_bytes / 4 * 3
    }
}

/// Keeps as many items as fit in `budget` encoded bytes (at least one, since every single record
/// and message fits in a frame by construction): the first ones, or the last ones if `keep_end`.
fn fit<T: serde::Serialize>(mut items: Vec<T>, budget: usize, keep_end: bool) -> Vec<T> {
    let size = |x: &T| {
        let mut n = Count(0);
        serde_json::to_writer(&mut n, x).map_or(usize::MAX, |_| n.0 + 1)
    };
    let (mut used, mut kept) = (0usize, 0usize);
    let order: Box<dyn Iterator<Item = &T>> = if keep_end { Box::new(items.iter().rev()) } else { Box::new(items.iter()) };
    for x in order {
        used = used.saturating_add(size(x));
        if used > budget && kept > 0 {
            break;
        }
        kept += 1;
    }
    if keep_end {
        items.drain(..items.len() - kept);
    } else {
        items.truncate(kept);
    }
    items
}

/// Counts encoded bytes without keeping them.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
