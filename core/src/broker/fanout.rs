//! Fan-out: reliable events to sessions, presence to watchers, alerts and queue positions.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- events to clients

    /// Queues a reliable event for every session of a client (except `skip`), encoded once.
    pub(super) fn push_event(&mut self, client: &ClientId, event: &Event, skip: Option<&SessionKey>, hook: Option<AckHook>) {
        self.wake_if_away(client, event);
        let Some(keys) = self.by_client.get(client).cloned() else { return };
        let payload: Arc<str> = serde_json::to_string(event).expect("events serialize").into();
        for k in keys {
            if Some(&k) != skip {
                self.push_payload(&k, payload.clone(), hook.clone());
            }
        }
    }

    /// Queues an encoded event on one session; a session whose party stopped acknowledging long ago
    /// is reset rather than grown without end (the party then resyncs).
    pub(super) fn push_payload(&mut self, key: &SessionKey, payload: Arc<str>, hook: Option<AckHook>) {
        let Some(s) = self.sessions.get_mut(key) else { return };
        s.push(payload, hook);
        self.dirty.insert(key.clone());
        if s.outbox.len() > self.cfg.max_outbox || s.outbox_bytes > self.cfg.max_outbox_bytes {
            self.drop_session(key);
        } else if let Some(c) = s.conn {
            self.mark_ready(c);
        }
    }

    /// Moves monitor notifications to watchers, fires alerts, updates queue positions, and makes the
    /// changes durable. Every entry point ends here.
    pub(super) fn pump(&mut self) {
        if self.deferred {
            return;
        }
        self.distribute();
        if !self.batch {
            self.persist();
        }
    }

    pub(super) fn distribute(&mut self) {
        let mut center_changed = false;
        while let Some(ev) = self.monitor.poll_event() {
            match ev {
                MonitorEvent::Notify(n) => {
                    if n.presentity == Presentity::Center {
                        center_changed = true;
                    }
                    let frame: bytes::Bytes = BrokerFrame::status_from_payload(&n.payload).into();
                    match &n.recipients {
                        Recipients::AllowedWatchers => {
                            self.note_status(&n, frame);
                            self.fan_out(&n);
                        }
                        Recipients::Only(v) => {
                            for &w in v {
                                if !self.external.is_empty() && self.external.contains(&w) {
                                    self.events.push_back(BrokerEvent::Presence { watcher: w, doc: n.doc.clone() });
                                    continue;
                                }
                                let Some(id) = self.sessions.by_watcher(w) else { continue };
                                let conn = self.sessions.at(id).conn;
                                let Some((t, i)) = self.sessions.watch_mut(id, &n.presentity) else { continue };
                                t.owe_doc(i, frame.clone(), n.doc.version);
                                if let Some(conn) = conn {
                                    self.mark_ready(conn);
                                }
                            }
                        }
                    }
                }
                MonitorEvent::Terminated { watcher, presentity } if self.external.contains(&watcher) => {
                    self.events.push_back(BrokerEvent::WatchEnded { watcher, presentity });
                }
                MonitorEvent::Terminated { watcher, presentity } => {
                    if let Some(id) = self.sessions.by_watcher(watcher) {
                        self.sessions.remove_watch(id, &presentity);
                        if let Some(c) = self.sessions.at(id).conn {
                            self.send_frame(c, &BrokerFrame::WatchEnded { presentity }, false);
                        }
                    }
                }
            }
        }
        if center_changed {
            self.evaluate_alerts();
            self.refresh_positions();
        }
    }

    /// Keeps a presentity's newest document as shared frames: whole, and as a delta from the one
    /// before, so each watcher gets whichever it can use without anything encoded per watcher.
    fn note_status(&mut self, n: &crate::monitor::Notification, full: bytes::Bytes) {
        let delta = self.status.get(&n.presentity).and_then(|prev| {
            let d = crate::monitor::delta::PresenceDelta::between(&prev.doc, &n.doc)?;
            let json = serde_json::to_string(&d).expect("deltas serialize");
            Some((prev.doc.version, bytes::Bytes::from(BrokerFrame::delta_from_payload(&json))))
        });
        self.status.insert(n.presentity.clone(), StatusFrames { doc: n.doc.clone(), full, delta });
    }

    /// The latest frame of `p` for a party that has version `has`, and the version it brings:
    /// a delta when the party has the version it is based on, else the whole document; none when
    /// the party is not behind.
    pub(super) fn latest_frame(status: &FastMap<Presentity, StatusFrames>, p: &Presentity, has: u64) -> Option<(bytes::Bytes, u64)> {
        let f = status.get(p)?;
        let version = f.doc.version;
        if has >= version {
            return None;
        }
        let frame = match &f.delta {
            Some((base, d)) if *base == has => d.clone(),
            _ => f.full.clone(),
        };
        Some((frame, version))
    }

    /// Sends a presentity's new document to everyone allowed to see it, in one linear walk over
    /// its watchers' dense arrays. A connection with nothing else to send gets its frame decided
    /// now and joins that frame's list (delta or whole); the others are owed the latest document
    /// and take it in their turn in `poll_transmit`, so changes coalesce while they are busy.
    fn fan_out(&mut self, n: &crate::monitor::Notification) {
        let p = &n.presentity;
        let version = n.doc.version;
        // Watchers that are not sessions (the broker's own, other protocols') are numbered below
        // the sessions', so they come first in the monitor's ordered set.
        let mut outside = 0;
        for w in self.monitor.watchers(p).take_while(|w| w & session::SESSION_WATCHERS == 0) {
            outside += 1;
            if self.external.contains(&w) {
                self.events.push_back(BrokerEvent::Presence { watcher: w, doc: n.doc.clone() });
            }
        }
        let Some(f) = self.status.get(p) else { return };
        let (monitor, conns, ready) = (&self.monitor, &mut self.conns, &mut self.ready);
        let Some((t, conn_of)) = self.sessions.fan(p) else { return };
        // Every session the monitor lets see `p` has an entry here; when the counts agree, no
        // entry is politely blocked (or left from a subscription the monitor refused), and the
        // walk needs no look-up per watcher.
        let exact = monitor.allowed_count(p) == outside + t.len();
        let mut to_full = self.spare.pop().unwrap_or_default();
        let mut to_delta = self.spare.pop().unwrap_or_default();
        for i in 0..t.len() {
            let slot = t.slot[i];
            if !exact && !monitor.allows(session::SESSION_WATCHERS | slot as WatcherId, p) {
                continue;
            }
            let conn = conn_of[slot as usize];
            let c = if conn == 0 { None } else { conns.flags(&conn) };
            match c {
                Some(c) if !c.queued && c.writable && !c.closed && t.owed[i] == Owed::Nothing => {
                    let has = t.has[i];
                    if has >= version {
                        continue;
                    }
                    match &f.delta {
                        Some((base, _)) if *base == has => to_delta.push(conn),
                        _ => to_full.push(conn),
                    }
                    t.has[i] = version;
                }
                c => {
                    t.owe_latest(i);
                    if let Some(c) = c {
                        super::connections::enqueue(ready, conn, c);
                    }
                }
            }
        }
        for (data, list) in [(f.delta.as_ref().map(|d| d.1.clone()), to_delta), (Some(f.full.clone()), to_full)] {
            match data {
                Some(data) if !list.is_empty() => self.fanned.push_back(Fanned { data, presentity: p.clone(), conns: list, next: 0 }),
                _ => self.spare.push(list),
            }
        }
    }

    /// Ends one subscription, and forgets the frames of a presentity nobody watches any more.
    pub(super) fn unsubscribe(&mut self, watcher: WatcherId, p: &Presentity) {
        self.monitor.unsubscribe(watcher, p);
        if self.monitor.watcher_count(p) == 0 {
            self.status.remove(p);
        }
    }

    pub(super) fn evaluate_alerts(&mut self) {
        if self.alerts.is_empty() {
            return;
        }
        let status = self.monitor.center_status();
        let mut fired = vec![];
        for (id, a) in self.alerts.iter_mut() {
            let why = a.rule.evaluate(&status);
            match (a.holds, why) {
                (false, Some(msg)) => {
                    a.holds = true;
                    fired.push((a.session.clone(), AlertFired { alert: id.clone(), rule: a.rule.clone(), at: self.now, message: msg }));
                }
                (true, None) => a.holds = false,
                _ => {}
            }
        }
        for (key, f) in fired {
            self.push_to_session(&key, &Event::Alert(f));
        }
    }

    pub(super) fn push_to_session(&mut self, key: &SessionKey, event: &Event) {
        let payload: Arc<str> = serde_json::to_string(event).expect("events serialize").into();
        self.push_payload(key, payload, None);
    }

    pub(super) fn refresh_positions(&mut self) {
        let mut changed = vec![];
        for l in self.live.values_mut() {
            if let InteractionState::Queued { position, estimated_hold_secs } = &l.li.state {
                if l.external && l.li.queue.is_none() {
                    continue;
                }
                if let Some((pos, est)) = self.monitor.waiting_position(&l.li.id) {
                    let est = est.map(|d| d.as_secs_f64().round());
                    if pos != *position || est != *estimated_hold_secs {
                        l.li.state = InteractionState::Queued { position: pos, estimated_hold_secs: est };
                        changed.push(l.li.clone());
                        self.dirty_live.insert(l.li.id.clone());
                    }
                }
            }
        }
        for li in changed {
            self.push_event(&li.client.clone(), &Event::Interaction(li), None, None);
        }
    }

}
