//! Persistence: what the store keeps, written at the end of every input, and reloaded at start-up.

use super::*;

impl Broker {
    /// Rebuilds the sessions a durable store kept, so clients resume after a restart as if the
    /// broker had never stopped. Call once, before accepting connections.
    pub fn restore_sessions(&mut self, now: Timestamp) -> Result<usize, BrokerError> {
        self.tick(now);
        let records = self.store.load_sessions()?;
        let n = records.len();
        let mut seats = vec![];
        for mut r in records {
            let alerts = std::mem::take(&mut r.alerts);
            if let (Party::Agent { agent }, Some(seat)) = (&r.party, r.seat.take()) {
                seats.push((agent.clone(), r.role.unwrap_or(AgentRole::Agent), seat));
            }
            let expires_at = now.add(self.detached_ttl(&r.party));
            let s = Session::from_record(r, expires_at);
            let status = self.monitor.center_status();
            for (id, rule) in alerts {
                let holds = rule.evaluate(&status).is_some();
                self.alerts.insert(id, AlertSub { session: s.key.clone(), rule, holds });
            }
            let key = s.key.clone();
            let id = self.sessions.insert(s);
            let s = self.sessions.at(id);
            if let Party::Client(c) = &key.0 {
                let principal = Principal::Client(c.clone());
                for p in s.watched() {
                    let _ = self.monitor.subscribe(s.watcher, &principal, p);
                }
            }
            self.detached.insert((expires_at, key.clone()));
            self.index_session(&key);
        }
        for inv in self.store.load_invitations()? {
            if inv.state == InvitationState::Pending {
                self.timers.insert((inv.expires_at, Timer::Invitation(inv.id.clone())));
            }
            self.invitations.insert(inv.id.clone(), inv);
        }
        // Live interactions come back as they were: queued ones wait again in their queue, connected
        // ones wait for their agent to log in again.
        // Mail owed before the restart is owed still; the mailer sends it when it is due.
        for m in self.store.load_mail()? {
            // A lease held by the mailer of the process that died ends now.
            let (id, due) = (m.id.clone(), m.due.min(now));
            self.mail.insert(id.clone(), m);
            self.mail_due_at(&id, due);
        }
        for (client, targets) in self.store.load_push_targets()? {
            self.pushes.restore(client, targets);
        }
        for (p, rules) in self.store.load_access_rules()? {
            self.monitor.restore_access_rules(p, rules);
        }
        let mut lives = self.store.load_live()?;
        lives.sort_by_key(|l| l.created_at);
        for mut li in lives {
            if let Some((outcome, summary)) = self.restore_callback(&mut li) {
                let (ended, record) = super::routing::ended(&li, outcome, now, summary);
                self.store.put_record(&record)?;
                self.store.delete_live(&li.id)?;
                self.push_event(&li.client, &Event::Interaction(ended), None, None);
                self.push_event(&li.client.clone(), &Event::HistoryChanged(record), None, None);
                continue;
            }
            // A callback booked for later joins its queue when its slot comes.
            let booked = self.waits_for_slot(&li);
            if li.callback.is_some() && !booked {
                // Its new state (a retry after the restart) is saved with the others.
                self.dirty_live.insert(li.id.clone());
            }
            if let (false, InteractionState::Queued { .. }, Some(q)) = (booked, &li.state, &li.queue) {
                let _ = self.monitor.handle_center_event(
                    now,
                    CenterEvent::InteractionQueued { interaction: li.id.clone(), queue: q.clone(), medium: li.medium, client: Some(li.client.clone()) },
                );
            }
            let chat_seq = self.store.transcript_page(&li.id, None, 1)?.last().map_or(0, |m| m.seq);
            self.live.insert(li.id.clone(), Live { li, external: false, offered: None, declined_by: HashSet::new(), chat_seq, delivered_to_agent: 0, signals: 0, notes: vec![], answered: false });
        }
        // Seats of agents whose consoles had sessions are taken again, with their interactions; a
        // console that does not come back within the grace period ends the seat.
        seats.sort_by(|a, b| a.0.cmp(&b.0));
        seats.dedup_by(|a, b| a.0 == b.0);
        for (agent, role, seat) in seats {
            self.take_seat(agent.clone(), &seat.name, role, seat.skills, seat.media, true);
            self.seats.get_mut(&agent).expect("taken").phone = seat.phone;
            if let Some(state) = seat.state.filter(|s| *s != AgentState::LoggedOut) {
                if self.seats[&agent].active.is_empty() {
                    // Busy with nothing live (a callback the restart took back to its queue) would
                    // leave the agent out of routing with nobody to serve.
                    let state = if state == AgentState::Busy { AgentState::Available } else { state };
                    self.set_agent_state(&agent, state);
                }
            }
        }
        self.pump();
        Ok(n)
    }

    /// The last failure of the durable store, if any; the host should log it and may stop.
    pub fn take_store_error(&mut self) -> Option<StoreError> {
        self.store_error.take()
    }

    /// Writes what a session's logs lack (new events and answers) and trims them (acknowledged
    /// events, forgotten answers): proportional to the change, whatever the session holds.
    fn write_session_log(&mut self, key: &SessionKey) -> Result<(), StoreError> {
        let s = &self.sessions[key];
        let (events, answers, acked, answers_from) = s.log_delta();
        let logged = s.logged;
        if !events.is_empty() || !answers.is_empty() {
            let ev: Vec<(u64, &str)> = events.iter().map(|(q, p)| (*q, &**p)).collect();
            let frames: Vec<(u64, Option<String>)> =
                answers.iter().map(|(id, f)| (*id, f.as_ref().map(|f| String::from_utf8_lossy(f).into_owned()))).collect();
            let an: Vec<(u64, Option<&str>)> = frames.iter().map(|(id, f)| (*id, f.as_deref())).collect();
            self.store.append_session_log(&key.0, key.1, &ev, &an)?;
        }
        if acked > logged.acked || answers_from > logged.answers_from {
            self.store.trim_session_log(&key.0, key.1, acked, answers_from)?;
        }
        let l = &mut self.sessions.get_mut(key).expect("exists").logged;
        l.seq = events.last().map_or(l.seq, |(q, _)| *q).max(l.seq);
        l.answer = answers.last().map_or(l.answer, |(id, _)| *id).max(l.answer);
        l.acked = l.acked.max(acked);
        l.answers_from = l.answers_from.max(answers_from);
        Ok(())
    }

    pub(super) fn persist(&mut self) {
        let logs = self.store.logs_sessions();
        if !self.store.keeps_sessions() {
            self.dirty.clear();
        }
        for key in std::mem::take(&mut self.dirty) {
            let r = match self.sessions.get(&key) {
                Some(s) => {
                    let mut rec = if logs { s.header() } else { s.record() };
                    if let Party::Agent { agent } = &key.0 {
                        rec.seat = self.seats.get(agent).filter(|s| s.remote).map(|s| store::SeatRecord {
                            name: s.name.clone(),
                            skills: s.skills.clone(),
                            media: s.media.clone(),
                            state: Some(s.state),
                            phone: s.phone.clone(),
                        });
                    }
                    rec.alerts = self.alerts.iter().filter(|(_, a)| a.session == key).map(|(id, a)| (id.clone(), a.rule.clone())).collect();
                    rec.alerts.sort_by(|a, b| a.0.cmp(&b.0));
                    let r = self.store.save_session(&rec);
                    if logs && r.is_ok() {
                        self.write_session_log(&key)
                    } else {
                        r
                    }
                }
                None => self.store.delete_session(&key.0, key.1),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for id in std::mem::take(&mut self.dirty_invitations) {
            let r = match self.invitations.get(&id) {
                Some(i) => self.store.save_invitation(i),
                None => self.store.delete_invitation(&id),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for id in std::mem::take(&mut self.dirty_live) {
            let r = match self.live.get(&id) {
                Some(l) if !l.external || l.li.queue.is_some() => self.store.save_live(&l.li),
                Some(_) => Ok(()),
                None => self.store.delete_live(&id),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for id in std::mem::take(&mut self.dirty_mail) {
            let r = match self.mail.get(&id) {
                Some(m) => self.store.save_mail(m),
                None => self.store.delete_mail(&id),
            };
            if let Err(e) = r {
                self.store_error = Some(e);
            }
        }
        for p in std::mem::take(&mut self.dirty_rules) {
            if let Err(e) = self.store.save_access_rules(&p, self.monitor.access_rules(&p)) {
                self.store_error = Some(e);
            }
        }
        for client in std::mem::take(&mut self.pushes.dirty) {
            if let Err(e) = self.store.save_push_targets(&client, self.pushes.saved(&client)) {
                self.store_error = Some(e);
            }
        }
        if let Err(e) = self.store.commit() {
            self.store_error = Some(e);
        }
    }

}
