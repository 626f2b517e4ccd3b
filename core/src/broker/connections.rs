//! Transport connections: frames in, queued frames out, connections taking turns.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- connections

    /// A transport connection opened; returns its id for later calls.
    pub fn open_connection(&mut self, now: Timestamp) -> ConnId {
        self.tick(now);
        self.conns.insert(Conn { session: None, outq: VecDeque::new(), bad_frames: 0 })
    }

    /// Tells whether a connection can take more bytes; while it cannot, presence updates coalesce.
    pub fn set_writable(&mut self, conn: ConnId, writable: bool) {
        if let Some(f) = self.conns.flags(&conn) {
            f.writable = writable;
        }
        if writable {
            self.mark_ready(conn);
        }
    }

    /// The connection is gone; its session waits for the client to come back.
    pub fn handle_disconnect(&mut self, now: Timestamp, conn: ConnId) {
        self.tick(now);
        let Some(c) = self.conns.remove(&conn) else { return };
        if let Some(id) = c.session {
            let key = self.sessions.at(id).key.clone();
            self.detach(&key, conn);
        }
        self.pump();
    }


    /// Bytes arrived on a connection. Bad frames are answered with a typed error and dropped; the
    /// session survives until too many arrive. A request whose body does not decode, or that is too
    /// large, is answered as that request's error, so the sender's queue moves on.
    pub fn handle_input(&mut self, now: Timestamp, conn: ConnId, data: &[u8]) {
        self.tick(now);
        if !self.conns.contains_key(&conn) {
            return;
        }
        match InEnvelope::decode(data, self.cfg.max_frame_bytes) {
            Ok(f) => {
                if let Err(e) = self.on_frame(conn, f) {
                    self.bad_frame(conn, e);
                }
            }
            Err(e) => match (request_id_of(data), self.conns[&conn].session.map(|id| self.sessions.at(id).key.clone())) {
                (Some(id), Some(key)) => {
                    let refusal = match e {
                        DecodeError::TooLarge(n) => err(
                            ErrorCode::TooLarge,
                            format!("request {id} of {n} bytes exceeds the limit of {} bytes", self.cfg.max_frame_bytes),
                        ),
                        other => err(ErrorCode::Malformed, format!("request {id}: {other}")),
                    };
                    self.on_request(conn, &key, id, Err(refusal));
                }
                _ => self.bad_frame(conn, e.to_body()),
            },
        }
        self.pump();
    }

    /// Answers a frame that cannot be tied to a request, once; too many close the connection.
    fn bad_frame(&mut self, conn: ConnId, e: ErrorBody) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.bad_frames += 1;
        let fatal = c.bad_frames > self.cfg.max_bad_frames;
        self.send_frame(conn, &BrokerFrame::Error { error: e, fatal }, fatal);
    }

    fn on_frame(&mut self, conn: ConnId, f: InEnvelope<'_>) -> Result<(), ErrorBody> {
        let need = |v: Option<u64>, what: &str| v.ok_or_else(|| err(ErrorCode::Malformed, format!("missing field `{what}`")));
        if f.t == InKind::Hello {
            let v = f.v.ok_or_else(|| err(ErrorCode::Malformed, "missing field `v`"))?;
            let token = f.token.ok_or_else(|| err(ErrorCode::Malformed, "missing field `token`"))?;
            let (instance, last_seq, next_request) = (need(f.instance, "instance")?, need(f.last_seq, "last_seq")?, need(f.next_request, "next_request")?);
            self.on_hello(conn, v, &token, instance, last_seq, next_request);
            return Ok(());
        }
        if f.t == InKind::Ping {
            self.send_frame(conn, &BrokerFrame::Pong { n: need(f.n, "n")? }, false);
            return Ok(());
        }
        let Some(key) = self.conns[&conn].session.map(|id| self.sessions.at(id).key.clone()) else {
            // Not a Response: nothing was executed, and a request must stay pending on its sender.
            return Err(err(ErrorCode::Unauthenticated, "send hello first; the frame was dropped"));
        };
        match f.t {
            InKind::Ack => {
                let seq = need(f.seq, "seq")?;
                let s = self.sessions.get_mut(&key).expect("attached sessions exist");
                let seq = seq.min(s.next_seq - 1);
                if s.acked() < seq {
                    self.dirty.insert(key.clone());
                }
                let hooks = s.ack(seq);
                self.run_hooks(hooks);
                // Acknowledgements open the in-flight window.
                self.mark_ready(conn);
            }
            InKind::Resend => {
                let after = need(f.after, "after")?;
                let s = self.sessions.get_mut(&key).expect("attached sessions exist");
                let hooks = s.ack(after.min(s.next_seq - 1));
                s.sent_upto = s.acked();
                self.run_hooks(hooks);
                self.refresh_watches(&key);
                self.mark_ready(conn);
            }
            InKind::Request => {
                let id = need(f.id, "id")?;
                let body = f.req.map(|r| std::borrow::Cow::Borrowed(r.get())).ok_or_else(|| err(ErrorCode::Invalid, format!("request {id}: missing field `req`")));
                self.on_request(conn, &key, id, body);
            }
            InKind::Typing => self.on_typing(conn, &key, f.typing.ok_or_else(|| err(ErrorCode::Malformed, "missing field `typing`"))?),
            InKind::Hello | InKind::Ping => unreachable!("handled above"),
        }
        Ok(())
    }

    pub(super) fn send_frame(&mut self, conn: ConnId, f: &BrokerFrame, close: bool) {
        self.send_raw(conn, f.encode(), close);
    }

    pub(super) fn send_raw(&mut self, conn: ConnId, data: Vec<u8>, close: bool) {
        if let Some((f, c)) = self.conns.get_all(&conn) {
            if f.closed {
                return;
            }
            f.closed |= close;
            c.outq.push_back((data.into(), close));
            self.mark_ready(conn);
        }
    }

    pub(super) fn mark_ready(&mut self, conn: ConnId) {
        if let Some(f) = self.conns.flags(&conn) {
            enqueue(&mut self.ready, conn, f);
        }
    }

    /// The next frame to send. Connections take turns, so one busy client cannot starve the others.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.poll_fanned() {
            return Some(t);
        }
        let max_in_flight = self.cfg.max_in_flight as u64;
        while let Some(conn) = self.ready.pop_front() {
            let Some((f, c)) = self.conns.get_all(&conn) else { continue };
            f.queued = false;
            if !f.writable {
                continue;
            }
            let session = if f.closed { None } else { c.session };
            let data = match c.outq.pop_front() {
                Some((data, true)) => {
                    c.outq.clear();
                    return Some(Transmit { conn, data, close: true });
                }
                Some((data, false)) => {
                    if c.outq.is_empty() {
                        // Released while idle: most connections hold nothing here between frames.
                        c.outq = VecDeque::new();
                    }
                    data
                }
                None => {
                    let Some(id) = session else { continue };
                    let status = &self.status;
                    let event = next_event(self.sessions.at_mut(id), max_in_flight);
                    let Some(data) = event.or_else(|| self.sessions.take_status(id, |t, i, p| t.take(i, |has| Self::latest_frame(status, p, has)))) else {
                        continue;
                    };
                    data
                }
            };
            // Visit the connection again only if it has more: one pass per connection and frame.
            if !c.outq.is_empty() || session.is_some_and(|id| self.sessions.at(id).has_events(max_in_flight) || self.sessions.owes_status(id)) {
                enqueue(&mut self.ready, conn, f);
            }
            return Some(Transmit { conn, data, close: false });
        }
        None
    }
}

impl Broker {
    /// The next frame of a fan-out, to a connection that had nothing else queued when it was decided.
    fn poll_fanned(&mut self) -> Option<Transmit> {
        while let Some(f) = self.fanned.front_mut() {
            let Some(&conn) = f.conns.get(f.next) else {
                let mut list = self.fanned.pop_front().expect("checked").conns;
                list.clear();
                self.spare.push(list);
                continue;
            };
            f.next += 1;
            let Some((flags, c)) = self.conns.get_all(&conn) else { continue };
            if flags.closed {
                continue;
            }
            if !flags.writable {
                // It filled up since: the frame is owed again and coalesces until it can be taken;
                // its party may lack the base of a delta now, so a whole document follows.
                if let Some((t, i)) = c.session.and_then(|id| self.sessions.watch_mut(id, &f.presentity)) {
                    t.has[i] = 0;
                    t.owe_latest(i);
                }
                continue;
            }
            return Some(Transmit { conn, data: f.data.clone(), close: false });
        }
        None
    }
}

/// Puts a connection in the sending turn once, however often it is marked before its turn comes.
pub(super) fn enqueue(ready: &mut VecDeque<ConnId>, conn: ConnId, c: &mut ConnFlags) {
    if !c.queued {
        c.queued = true;
        ready.push_back(conn);
    }
}

/// The next unacknowledged event within the in-flight window, framed with its sequence number.
fn next_event(s: &mut Session, max_in_flight: u64) -> Option<bytes::Bytes> {
    let acked = s.acked();
    if s.sent_upto < acked {
        s.sent_upto = acked;
    }
    if s.sent_upto - acked >= max_in_flight {
        return None;
    }
    let e = s.outbox.get((s.sent_upto - acked) as usize)?;
    let data = BrokerFrame::event_from_payload(e.seq, &e.payload);
    s.sent_upto = e.seq;
    Some(data.into())
}
