//! Persistence: what the store keeps, written at the end of every input, and reloaded at start-up.

use super::*;

impl Broker {
    /// Rebuilds the sessions a durable store kept, so clients resume after a restart as if the
    /// broker had never stopped. Call once, before accepting connections.
    pub fn restore_sessions(&mut self, now: Timestamp) -> Result<usize, BrokerError> {
        self.tick(now);
        let records = self.store.load_sessions()?;
        let n = records.len();
        for mut r in records {
            let w = self.next_watcher;
            self.next_watcher += 1;
            let alerts = std::mem::take(&mut r.alerts);
            let s = Session::from_record(r, w, now);
            let status = self.monitor.center_status();
            for (id, rule) in alerts {
                let holds = rule.evaluate(&status).is_some();
                self.alerts.insert(id, AlertSub { session: s.key.clone(), rule, holds });
            }
            let key = s.key.clone();
            let principal = Principal::Client(key.0.clone());
            for p in &s.watches {
                let _ = self.monitor.subscribe(w, &principal, p);
            }
            self.by_watcher.insert(w, key.clone());
            self.by_client.entry(key.0.clone()).or_default().push(key.clone());
            if let Some(at) = s.detached_at {
                self.detached.insert((at, key.clone()));
            }
            self.sessions.insert(key, s);
        }
        for inv in self.store.load_invitations()? {
            self.invitations.insert(inv.id.clone(), inv);
        }
        // Live interactions come back as they were: queued ones wait again in their queue, connected
        // ones wait for their agent to log in again.
        let mut lives = self.store.load_live()?;
        lives.sort_by_key(|l| l.created_at);
        for li in lives {
            if let (InteractionState::Queued { .. }, Some(q)) = (&li.state, &li.queue) {
                let _ = self.monitor.handle_center_event(
                    now,
                    CenterEvent::InteractionQueued { interaction: li.id.clone(), queue: q.clone(), medium: li.medium, client: Some(li.client.clone()) },
                );
            }
            let chat_seq = self.store.transcript(&li.id)?.last().map_or(0, |m| m.seq);
            self.live.insert(li.id.clone(), Live { li, external: false, offered: None, declined_by: HashSet::new(), chat_seq });
        }
        self.pump();
        Ok(n)
    }

    /// The last failure of the durable store, if any; the host should log it and may stop.
    pub fn take_store_error(&mut self) -> Option<StoreError> {
        self.store_error.take()
    }

    pub(super) fn persist(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            let r = match self.sessions.get(&key) {
                Some(s) => {
                    let mut rec = s.record();
                    rec.alerts = self.alerts.iter().filter(|(_, a)| a.session == key).map(|(id, a)| (id.clone(), a.rule.clone())).collect();
                    rec.alerts.sort_by(|a, b| a.0.cmp(&b.0));
                    self.store.save_session(&rec)
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
        if let Err(e) = self.store.commit() {
            self.store_error = Some(e);
        }
    }

}
