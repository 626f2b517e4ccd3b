//! Sessions of clients and agents: hello and resume, detaching, the request window, expiry.

use super::*;
use std::borrow::Cow;

impl Broker {
    /// How long a detached session of this party is kept: a client's for a day, an agent's for the
    /// grace period after which its seat ends.
    pub(super) fn detached_ttl(&self, party: &Party) -> Duration {
        match party {
            Party::Client(_) => self.cfg.session_ttl,
            Party::Agent { .. } => self.cfg.agent_grace,
        }
    }

    /// Starts (or restarts) the expiry clock of a detached session.
    pub(super) fn set_expiry(&mut self, key: &SessionKey, at: Option<Timestamp>) {
        let Some(s) = self.sessions.get_mut(key) else { return };
        if let Some(old) = std::mem::replace(&mut s.expires_at, at) {
            self.detached.remove(&(old, key.clone()));
        }
        if let Some(at) = at {
            self.detached.insert((at, key.clone()));
        }
    }

    pub(super) fn detach(&mut self, key: &SessionKey, conn: ConnId) {
        let now = self.now;
        let Some(id) = self.sessions.id(key) else { return };
        if self.sessions.at(id).conn != Some(conn) {
            return;
        }
        self.sessions.set_conn(id, None);
        self.sessions.at_mut(id).drop_early();
        let at = now.add(self.detached_ttl(&key.0));
        self.set_expiry(key, Some(at));
        if let Party::Client(client) = &key.0 {
            if !self.client_attached(client) {
                self.monitor.publish_client_status(now, client.clone(), ClientStatus { activity: ClientActivity::Offline, medium: None, note: None });
                self.events.push_back(BrokerEvent::ClientOffline(client.clone()));
            }
        }
    }

    pub(super) fn client_attached(&self, client: &ClientId) -> bool {
        self.by_client.get(client).is_some_and(|ks| ks.iter().any(|k| self.sessions.get(k).is_some_and(|s| s.conn.is_some())))
    }

    /// Whether any console of the agent is connected now.
    pub(super) fn agent_attached(&self, agent: &AgentId) -> bool {
        self.by_agent.get(agent).is_some_and(|ks| ks.iter().any(|k| self.sessions.get(k).is_some_and(|s| s.conn.is_some())))
    }

    /// Indexes a new session under its party.
    pub(super) fn index_session(&mut self, key: &SessionKey) {
        match &key.0 {
            // Most parties have one session: a list sized for one, not the four a first push allots.
            Party::Client(c) => self.by_client.entry(c.clone()).or_insert_with(|| Vec::with_capacity(1)).push(key.clone()),
            Party::Agent { agent } => self.by_agent.entry(agent.clone()).or_insert_with(|| Vec::with_capacity(1)).push(key.clone()),
        }
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
        let (party, role) = match self.verifier.verify(token, self.now) {
            Ok(Principal::Client(c)) => (Party::Client(c), None),
            Ok(Principal::Agent(a, role)) => (Party::Agent { agent: a }, Some(role)),
            Ok(Principal::Service(_)) => {
                let e = err(ErrorCode::Forbidden, "sessions are for clients and agents; services use the center API");
                return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
            }
            Err(AuthError::Expired) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Expired, "credential expired"), fatal: true }, true)
            }
            Err(AuthError::Invalid) => {
                return self.send_frame(conn, &BrokerFrame::Error { error: err(ErrorCode::Unauthenticated, "invalid credential"), fatal: true }, true)
            }
        };
        let key: SessionKey = (party.clone(), instance);
        let was_online = party.client().is_some_and(|c| self.client_attached(c));
        let resumed = self.sessions.contains_key(&key);
        if !resumed {
            let mine: Vec<SessionKey> = match &party {
                Party::Client(c) => self.by_client.get(c).cloned().unwrap_or_default(),
                Party::Agent { agent } => self.by_agent.get(agent).cloned().unwrap_or_default(),
            };
            if mine.len() >= self.cfg.max_sessions_per_principal {
                // A new installation replaces the one that has been away longest; all attached: refused.
                let oldest = mine.iter().filter_map(|k| self.sessions[k].expires_at.map(|at| (at, k.clone()))).min();
                match oldest {
                    Some((_, k)) => self.drop_session(&k),
                    None => {
                        let e = err(ErrorCode::RateLimited, format!("at most {} sessions at once", self.cfg.max_sessions_per_principal));
                        return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
                    }
                }
            }
            let mut s = Session::new(key.clone(), next_request);
            s.role = role;
            self.sessions.insert(s);
            self.index_session(&key);
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
        self.set_expiry(&key, None);
        let sid = self.sessions.id(&key).expect("inserted above");
        self.sessions.set_conn(sid, Some(conn));
        let s = self.sessions.at_mut(sid);
        // A role can change between tokens (promoted to supervisor); the newest credential decides.
        s.role = role;
        s.next_request = s.next_request.max(next_request);
        s.forget_answers_below(next_request);
        let hooks = if resumed { s.ack(last_seq.min(s.next_seq - 1)) } else { vec![] };
        // A process that lost its state (no save, or an older one) knows less than was acknowledged.
        let acked = Some(s.acked()).filter(|a| resumed && *a > last_seq);
        self.dirty.insert(key.clone());
        // Everything unacknowledged goes again on the new connection.
        s.sent_upto = s.acked();
        self.conns.get_mut(&conn).expect("exists").session = self.sessions.id(&key);
        let id = match &party {
            Party::Client(c) => c.clone(),
            Party::Agent { agent } => ClientId(agent.0.clone()),
        };
        let next_request = Some(self.sessions[&key].next_request);
        self.send_frame(conn, &BrokerFrame::Welcome { v: PROTOCOL_VERSION, client: id, resumed, role, next_request, acked }, false);
        self.run_hooks(hooks);
        let Party::Client(client) = party else {
            return self.mark_ready(conn);
        };
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
        let Party::Client(client) = &key.0 else { return };
        let principal = Principal::Client(client.clone());
        let watches: Vec<Presentity> = self.sessions[key].watched().cloned().collect();
        for p in watches {
            if let Ok(doc) = self.monitor.fetch(&principal, &p) {
                // The party may have lost what it had: a whole document, and deltas from its version.
                let payload = serde_json::to_string(&doc).expect("documents serialize");
                let frame = bytes::Bytes::from(BrokerFrame::status_from_payload(&payload));
                let id = self.sessions.id(key).expect("exists");
                if let Some((t, i)) = self.sessions.watch_mut(id, &p) {
                    t.owe_doc(i, frame, doc.version);
                }
            }
        }
    }

    /// Decodes a request body for the party that sent it and executes it; says whether a duplicate may run again.
    fn execute_body(&mut self, key: &SessionKey, body: Result<Cow<'_, str>, ErrorBody>) -> (Result<Response, ErrorBody>, bool) {
        let body = match body {
            Ok(b) => b,
            Err(e) => return (Err(e), false),
        };
        match &key.0 {
            Party::Client(_) => match decode_body::<Request>(&body) {
                Ok(req) => {
                    let ro = req.is_repeatable();
                    (self.execute(key, req), ro)
                }
                Err(e) => (Err(e), false),
            },
            Party::Agent { .. } => match decode_body::<AgentRequest>(&body) {
                Ok(req) => {
                    let ro = req.is_repeatable();
                    (self.execute_agent(key, req), ro)
                }
                Err(e) => (Err(e), false),
            },
        }
    }

    /// Whether a duplicate of this body whose answer is forgotten may run again.
    fn body_is_repeatable(key: &SessionKey, body: &Result<Cow<'_, str>, ErrorBody>) -> bool {
        let Ok(body) = body else { return false };
        match &key.0 {
            Party::Client(_) => decode_body::<Request>(body).is_ok_and(|r| r.is_repeatable()),
            Party::Agent { .. } => decode_body::<AgentRequest>(body).is_ok_and(|r| r.is_repeatable()),
        }
    }

    /// Applies request `id` once and in order; a duplicate gets the remembered answer, an early one
    /// waits for the missing ones before it. `body` is the raw request, or the refusal it already got.
    pub(super) fn on_request(&mut self, conn: ConnId, key: &SessionKey, id: u64, body: Result<Cow<'_, str>, ErrorBody>) {
        let s = self.sessions.get_mut(key).expect("attached sessions exist");
        if id < s.next_request {
            match s.recall(id).cloned() {
                Some(Cached::Frame(f)) => return self.send_raw(conn, f.to_vec(), false),
                Some(Cached::Reexecute) => {}
                None if Self::body_is_repeatable(key, &body) => {}
                None => {
                    let e = err(ErrorCode::Conflict, format!("request {id} was already applied; its answer is no longer kept"));
                    return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
                }
            }
            self.deferred = true;
            let (out, _) = self.execute_body(key, body);
            self.deferred = false;
            let frame = self.answer_frame(id, out);
            return self.send_raw(conn, frame.to_vec(), false);
        }
        if id > s.next_request {
            let size = body.as_ref().map_or(0, |b| b.len());
            let full = s.early.len() >= self.cfg.max_early_requests || s.early_bytes + size > self.cfg.max_early_bytes;
            if full && !s.early.contains_key(&id) {
                let e = err(ErrorCode::RateLimited, format!("request {id} refused: too many requests ahead of a missing one"));
                if s.early.len() >= 2 * self.cfg.max_early_requests {
                    // Only a sender that ignores refusals gets here: close; its session waits for it.
                    return self.send_frame(conn, &BrokerFrame::Error { error: e, fatal: true }, true);
                }
                // Answered now, and held as a small refusal so the window moves past it in order.
                s.early.insert(id, Err(e.clone()));
                return self.send_frame(conn, &BrokerFrame::Response { id, outcome: Outcome::Err(e) }, false);
            }
            if let Some(old) = s.early.insert(id, body.map(Cow::into_owned)) {
                s.early_bytes -= old.map_or(0, |b| b.len());
            }
            s.early_bytes += size;
            return;
        }
        // In order: apply it, then any that were waiting for it. Persistence waits for the end of the
        // input, so each mutation commits together with the answer that says it was applied.
        let mut next = Some((id, body));
        while let Some((id, body)) = next.take() {
            self.deferred = true;
            let (out, repeatable) = self.execute_body(key, body);
            self.deferred = false;
            let frame = self.answer_frame(id, out);
            let (keep, max_bytes) = (self.cfg.answers_kept, self.cfg.max_answer_bytes);
            let Some(s) = self.sessions.get_mut(key) else {
                // The request ended its own session (an agent that logged out and was reset).
                return self.send_raw(conn, frame.to_vec(), false);
            };
            s.remember(id, if repeatable { Cached::Reexecute } else { Cached::Frame(frame.clone()) }, keep, max_bytes);
            s.next_request = id.saturating_add(1);
            self.dirty.insert(key.clone());
            next = id.checked_add(1).and_then(|n| s.early.remove(&n).map(|r| (n, r.map(Cow::Owned))));
            if let Some((_, Ok(b))) = &next {
                s.early_bytes -= b.len();
            }
            self.send_raw(conn, frame.to_vec(), false);
        }
    }

    /// The response frame, or a `too_large` refusal when the answer would not fit in a frame the
    /// party accepts (it would be dropped there and the request would never complete).
    fn answer_frame(&self, id: u64, out: Result<Response, ErrorBody>) -> Arc<[u8]> {
        let frame = BrokerFrame::Response { id, outcome: out.into() }.encode();
        if frame.len() <= self.cfg.max_frame_bytes {
            return frame.into();
        }
        let e = err(
            ErrorCode::TooLarge,
            format!("the answer to request {id} is {} bytes, over the frame limit of {}; read it in pages (`limit`, and `after` or `before`)", frame.len(), self.cfg.max_frame_bytes),
        );
        BrokerFrame::Response { id, outcome: Outcome::Err(e) }.encode().into()
    }

    pub(super) fn drop_session(&mut self, key: &SessionKey) {
        self.set_expiry(key, None);
        let Some(s) = self.sessions.remove(key) else { return };
        self.dirty.insert(key.clone());
        for p in s.watched() {
            self.unsubscribe(s.watcher, p);
        }
        match &key.0 {
            Party::Client(c) => {
                if let Some(v) = self.by_client.get_mut(c) {
                    v.retain(|k| k != key);
                    if v.is_empty() {
                        self.by_client.remove(c);
                    }
                }
            }
            Party::Agent { agent } => {
                if let Some(v) = self.by_agent.get_mut(agent) {
                    v.retain(|k| k != key);
                    if v.is_empty() {
                        self.by_agent.remove(agent);
                    }
                }
                // The last console stayed away past the grace period: the seat ends, and its
                // interactions go back to their queue.
                let remote = self.seats.get(agent).is_some_and(|s| s.remote);
                if remote && !self.by_agent.contains_key(agent) {
                    let agent = agent.clone();
                    let _ = self.logout_seat(&agent);
                }
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
