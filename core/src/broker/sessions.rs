//! Sessions: hello and resume, detaching, the request window, expiry.

use super::*;

impl Broker {
    pub(super) fn detach(&mut self, key: &SessionKey, conn: ConnId) {
        let now = self.now;
        let Some(s) = self.sessions.get_mut(key) else { return };
        if s.conn != Some(conn) {
            return;
        }
        s.conn = None;
        if let Some(old) = s.detached_at.replace(now) {
            self.detached.remove(&(old, key.clone()));
        }
        self.detached.insert((now, key.clone()));
        let client = key.0.clone();
        if !self.client_attached(&client) {
            self.monitor.publish_client_status(now, client.clone(), ClientStatus { activity: ClientActivity::Offline, medium: None, note: None });
            self.events.push_back(BrokerEvent::ClientOffline(client));
        }
    }

    pub(super) fn client_attached(&self, client: &ClientId) -> bool {
        self.by_client.get(client).is_some_and(|ks| ks.iter().any(|k| self.sessions.get(k).is_some_and(|s| s.conn.is_some())))
    }


    pub(super) fn on_hello(&mut self, conn: ConnId, v: u16, token: &str, instance: u64, last_seq: u64, next_request: u64) {
        if v != PROTOCOL_VERSION {
            let e = err(ErrorCode::UnsupportedVersion, format!("protocol version {v} is not supported; this broker speaks {PROTOCOL_VERSION}"));
            return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
        if self.conns[&conn].session.is_some() {
            let e = err(ErrorCode::Conflict, "already authenticated on this connection");
            return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: false }, false);
        }
        let client = match self.verifier.verify(token, self.now) {
            Ok(Principal::Client(c)) => c,
            Ok(_) => {
                let e = err(ErrorCode::Forbidden, "this endpoint serves clients; agents use the agent API");
                return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
            }
            Err(AuthError::Expired) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Expired, "credential expired"), fatal: true }, true)
            }
            Err(AuthError::Invalid) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Unauthenticated, "invalid credential"), fatal: true }, true)
            }
        };
        let key: SessionKey = (client.clone(), instance);
        let was_online = self.client_attached(&client);
        let resumed = self.sessions.contains_key(&key);
        if !resumed {
            let w = self.next_watcher;
            self.next_watcher += 1;
            self.sessions.insert(key.clone(), Session::new(key.clone(), w, next_request));
            self.by_watcher.insert(w, key.clone());
            self.by_client.entry(client.clone()).or_default().push(key.clone());
        }
        // A session holds one connection: a newer one (the phone woke up) replaces a dead one.
        let old = self.sessions[&key].conn;
        if let Some(old) = old {
            if let Some(c) = self.conns.get_mut(&old) {
                c.session = None;
            }
            let e = err(ErrorCode::Conflict, "session taken over by a newer connection");
            self.send_frame(old, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
        let s = self.sessions.get_mut(&key).expect("inserted above");
        s.conn = Some(conn);
        if let Some(at) = s.detached_at.take() {
            self.detached.remove(&(at, key.clone()));
        }
        s.next_request = s.next_request.max(next_request);
        let hooks = if resumed { s.ack(last_seq.min(s.next_seq - 1)) } else { vec![] };
        self.dirty.insert(key.clone());
        // Everything unacknowledged goes again on the new connection.
        s.sent_upto = s.acked();
        self.conns.get_mut(&conn).expect("exists").session = Some(key.clone());
        self.send_frame(conn, &BrokerFrame::Welcome { v: PROTOCOL_VERSION, client: client.clone(), resumed }, false);
        for h in hooks {
            self.events.push_back(BrokerEvent::Agent { agent: h.agent, event: AgentEvent::ChatDelivered { interaction: h.interaction, seq: h.seq } });
        }
        // Presence may have changed while away: send the current documents of all watches.
        self.refresh_watches(&key);
        if !was_online {
            let prev = self.monitor.document(&Presentity::Client(client.clone())).client;
            let status = match prev {
                Some(st) if st.activity != ClientActivity::Offline => st,
                _ => ClientStatus { activity: ClientActivity::Online, medium: None, note: None },
            };
            self.monitor.publish_client_status(self.now, client.clone(), status);
            self.events.push_back(BrokerEvent::ClientOnline(client));
        }
        self.mark_ready(conn);
    }

    pub(super) fn refresh_watches(&mut self, key: &SessionKey) {
        let principal = Principal::Client(key.0.clone());
        let watches: Vec<Presentity> = self.sessions[key].watches.iter().cloned().collect();
        for p in watches {
            if let Ok(doc) = self.monitor.fetch(&principal, &p) {
                let payload: Arc<str> = serde_json::to_string(&doc).expect("documents serialize").into();
                self.sessions.get_mut(key).expect("exists").pending_status.insert(p, payload);
            }
        }
    }

    pub(super) fn on_request(&mut self, conn: ConnId, key: &SessionKey, id: u64, req: Request) {
        let s = self.sessions.get_mut(key).expect("attached sessions exist");
        if id < s.next_request {
            match s.recall(id).cloned() {
                Some(Cached::Frame(f)) => return self.send_raw(conn, f.to_vec(), false),
                Some(Cached::Reexecute) => {
                    let out = self.execute(key, req);
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: out.into() }, false);
                }
                None if req.is_read_only() => {
                    let out = self.execute(key, req);
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: out.into() }, false);
                }
                None => {
                    let e = err(ErrorCode::Conflict, format!("request {id} was already applied; its answer is no longer kept"));
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
                }
            }
        }
        if id > s.next_request {
            if s.early.len() >= self.cfg.max_early_requests && !s.early.contains_key(&id) {
                let e = err(ErrorCode::RateLimited, "too many requests ahead of a missing one");
                return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
            }
            s.early.insert(id, req);
            return;
        }
        // In order: apply it, then any that were waiting for it.
        let mut next = Some((id, req));
        while let Some((id, req)) = next.take() {
            let read_only = req.is_read_only();
            let out = self.execute(key, req);
            let frame: Arc<[u8]> = BrokerFrame::Response { id, outcome: out.into() }.encode().into();
            let keep = self.cfg.answers_kept;
            let s = self.sessions.get_mut(key).expect("exists");
            s.remember(id, if read_only { Cached::Reexecute } else { Cached::Frame(frame.clone()) }, keep);
            s.next_request = id + 1;
            self.dirty.insert(key.clone());
            next = s.early.remove(&(id + 1)).map(|r| (id + 1, r));
            self.send_raw(conn, frame.to_vec(), false);
        }
    }


    pub(super) fn drop_session(&mut self, key: &SessionKey) {
        let Some(s) = self.sessions.remove(key) else { return };
        if let Some(at) = s.detached_at {
            self.detached.remove(&(at, key.clone()));
        }
        self.dirty.insert(key.clone());
        for p in &s.watches {
            self.monitor.unsubscribe(s.watcher, p);
        }
        self.by_watcher.remove(&s.watcher);
        if let Some(v) = self.by_client.get_mut(&key.0) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_client.remove(&key.0);
            }
        }
        self.alerts.retain(|_, a| &a.session != key);
        if let Some(conn) = s.conn {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = None;
            }
            let e = err(ErrorCode::Expired, "session reset; reconnect to start a new one");
            self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
        }
    }

}
