//! A session of a client or an agent: survives disconnects, keeps unacknowledged events and the
//! request-id window.

use crate::ids::{AgentId, ClientId, InteractionId};
use crate::principal::AgentRole;
use serde::{Deserialize, Serialize};
use crate::monitor::presence::Presentity;
use crate::monitor::WatcherId;
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Who holds a session: a client, or an agent at its console.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Party {
    /// A customer (serialized as the bare id, as sessions were before agents had them).
    Client(ClientId),
    /// An agent.
    Agent {
        /// The agent.
        agent: AgentId,
    },
}

impl Party {
    /// The client, if a client holds the session.
    pub fn client(&self) -> Option<&ClientId> {
        match self {
            Party::Client(c) => Some(c),
            Party::Agent { .. } => None,
        }
    }

    /// The agent, if an agent holds the session.
    pub fn agent(&self) -> Option<&AgentId> {
        match self {
            Party::Agent { agent } => Some(agent),
            Party::Client(_) => None,
        }
    }
}

/// Identifies a session: one installation (`instance`) of one party.
pub type SessionKey = (Party, u64);

/// A transport connection, numbered by the broker.
pub type ConnId = u64;

/// Done when a party acknowledges an event: tell the other side its chat message arrived.
#[derive(Debug, Clone)]
pub(crate) enum AckHook {
    /// A client has the agent's message.
    ToAgent { agent: AgentId, interaction: InteractionId, seq: u64 },
    /// An agent's console has the client's message.
    ToClient { client: ClientId, interaction: InteractionId, seq: u64 },
}

/// An event waiting for acknowledgement.
#[derive(Debug, Clone)]
pub(crate) struct OutEvent {
    pub seq: u64,
    pub payload: Arc<str>,
    pub hook: Option<AckHook>,
}

/// What a duplicate request gets: the cached answer of a mutation, or re-execution of a read.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Frame(Arc<[u8]>),
    Reexecute,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub key: SessionKey,
    pub watcher: WatcherId,
    pub conn: Option<ConnId>,
    pub next_request: u64,
    /// Requests that arrived ahead of a missing one: their raw body, or the refusal they already got.
    pub early: BTreeMap<u64, Result<String, crate::protocol::ErrorBody>>,
    /// Bytes of the early request bodies.
    pub early_bytes: usize,
    /// Bytes of the unacknowledged events.
    pub outbox_bytes: usize,
    /// Bytes of the remembered answers.
    pub answer_bytes: usize,
    /// With a logging store: the highest event sequence and answer id already in its logs, and
    /// where the logs were last trimmed, so each commit writes only what changed.
    pub logged: Logged,
    /// An agent's role; `None` for clients.
    pub role: Option<AgentRole>,
    /// When the session expires if it stays detached.
    pub expires_at: Option<Timestamp>,
    pub answered: VecDeque<(u64, Cached)>,
    pub next_seq: u64,
    pub outbox: VecDeque<OutEvent>,
    pub sent_upto: u64,
    /// What the party watches; a few entries, so a list beats a map in size and speed.
    pub watches: Vec<Watch>,
}

/// One presentity a session watches, and where its entry is in that presentity's [`Topic`].
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    pub presentity: Presentity,
    /// Index of the entry in the topic's arrays; [`UNPLACED`] until the session is in the table.
    pub at: u32,
}

/// The index of a watch whose session is not in the table yet (rebuilt from a record).
const UNPLACED: u32 = u32::MAX;

/// What a watch is owed, in one byte. Nothing is encoded per watcher: the frames are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owed {
    Nothing,
    /// Whatever the presentity's latest document is when the connection can take it (changes
    /// coalesce while it cannot).
    Latest,
    /// A document for this watcher alone (after an access change or a reconnect), kept in
    /// [`Topic::docs`].
    Doc,
}

/// The session watchers of one presentity as parallel arrays, so a fan-out is a linear scan that
/// reads and writes a few bytes per watcher instead of following each session's pointers.
#[derive(Debug, Default)]
pub(crate) struct Topic {
    /// The session of each entry.
    pub slot: Vec<SessionId>,
    /// Version of the last document or delta sent to each; a delta based on it can follow.
    pub has: Vec<u64>,
    /// What each is owed.
    pub owed: Vec<Owed>,
    /// The documents of entries owed [`Owed::Doc`], by session, with their version.
    pub docs: FastMap<SessionId, (bytes::Bytes, u64)>,
}

impl Topic {
    /// Number of session watchers.
    pub fn len(&self) -> usize {
        self.slot.len()
    }

    /// Owes entry `i` the presentity's latest document.
    pub fn owe_latest(&mut self, i: usize) {
        if self.owed[i] == Owed::Doc {
            self.docs.remove(&self.slot[i]);
        }
        self.owed[i] = Owed::Latest;
    }

    /// Owes entry `i` a document of its own.
    pub fn owe_doc(&mut self, i: usize, frame: bytes::Bytes, version: u64) {
        self.owed[i] = Owed::Doc;
        self.docs.insert(self.slot[i], (frame, version));
    }

    /// Takes what entry `i` is owed: its own document, or the latest (`latest` gives it by the
    /// version the party has) when the party lacks it.
    pub fn take(&mut self, i: usize, latest: impl FnOnce(u64) -> Option<(bytes::Bytes, u64)>) -> Option<bytes::Bytes> {
        match std::mem::replace(&mut self.owed[i], Owed::Nothing) {
            Owed::Nothing => None,
            Owed::Doc => {
                let (frame, version) = self.docs.remove(&self.slot[i])?;
                self.has[i] = version;
                Some(frame)
            }
            Owed::Latest => {
                let (frame, version) = latest(self.has[i])?;
                self.has[i] = version;
                Some(frame)
            }
        }
    }
}

/// How far a session's logs in the store reach.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Logged {
    pub seq: u64,
    pub answer: u64,
    pub acked: u64,
    pub answers_from: u64,
}

impl Cached {
    fn len(&self) -> usize {
        match self {
            Cached::Frame(f) => f.len(),
            Cached::Reexecute => 0,
        }
    }
}

impl Session {
    /// The durable part of the session.
    pub fn record(&self) -> crate::broker::store::SessionRecord {
        let mut r = self.header();
        r.answered = self
            .answered
            .iter()
            .map(|(id, c)| {
                let frame = match c {
                    Cached::Frame(f) => Some(String::from_utf8_lossy(f).into_owned()),
                    Cached::Reexecute => None,
                };
                (*id, frame)
            })
            .collect();
        r.outbox = self.outbox.iter().map(|e| (e.seq, e.payload.to_string())).collect();
        r
    }

    /// The record without the events and answers, for a store that keeps those as logs.
    pub fn header(&self) -> crate::broker::store::SessionRecord {
        crate::broker::store::SessionRecord {
            party: self.key.0.clone(),
            role: self.role,
            seat: None,
            instance: self.key.1,
            next_request: self.next_request,
            answered: vec![],
            next_seq: self.next_seq,
            outbox: vec![],
            watches: self.watches.iter().map(|w| w.presentity.clone()).collect(),
            alerts: vec![],
        }
    }

    /// What the logs lack: events and answers newer than what was written, and the new trim points.
    #[allow(clippy::type_complexity)]
    pub fn log_delta(&self) -> (Vec<(u64, Arc<str>)>, Vec<(u64, Option<Arc<[u8]>>)>, u64, u64) {
        let events = self.outbox.iter().filter(|e| e.seq > self.logged.seq).map(|e| (e.seq, e.payload.clone())).collect();
        let answers = self
            .answered
            .iter()
            .filter(|(id, _)| *id > self.logged.answer)
            .map(|(id, c)| (*id, if let Cached::Frame(f) = c { Some(f.clone()) } else { None }))
            .collect();
        let answers_from = self.answered.front().map_or(self.next_request, |(id, _)| *id);
        (events, answers, self.acked(), answers_from)
    }

    /// A detached session rebuilt from its durable part.
    pub fn from_record(r: crate::broker::store::SessionRecord, expires_at: Timestamp) -> Self {
        let mut s = Session::new((r.party, r.instance), r.next_request);
        s.role = r.role;
        s.answered = r
            .answered
            .into_iter()
            .map(|(id, f)| (id, f.map_or(Cached::Reexecute, |f| Cached::Frame(f.into_bytes().into()))))
            .collect();
        s.next_seq = r.next_seq;
        s.outbox = r.outbox.into_iter().map(|(seq, p)| OutEvent { seq, payload: p.into(), hook: None }).collect();
        s.outbox_bytes = s.outbox.iter().map(|e| e.payload.len()).sum();
        s.answer_bytes = s.answered.iter().map(|(_, c)| c.len()).sum();
        s.sent_upto = s.acked();
        for p in r.watches {
            if !s.watching(&p) {
                // Placed in its presentity's topic when the session goes into the table.
                s.watches.push(Watch { presentity: p, at: UNPLACED });
            }
        }
        s.expires_at = Some(expires_at);
        s
    }

    pub fn new(key: SessionKey, next_request: u64) -> Self {
        Session {
            key,
            // Given by `Sessions::insert`, from the slot.
            watcher: 0,
            conn: None,
            next_request,
            early: BTreeMap::new(),
            early_bytes: 0,
            outbox_bytes: 0,
            answer_bytes: 0,
            logged: Logged::default(),
            role: None,
            expires_at: None,
            answered: VecDeque::new(),
            next_seq: 1,
            outbox: VecDeque::new(),
            sent_upto: 0,
            watches: Vec::new(),
        }
    }

    /// Whether the session watches `p`.
    pub fn watching(&self, p: &Presentity) -> bool {
        self.watches.iter().any(|w| &w.presentity == p)
    }

    /// The index of the watch of `p` in its topic.
    fn watch_at(&self, p: &Presentity) -> Option<usize> {
        self.watches.iter().find(|w| &w.presentity == p).map(|w| w.at as usize)
    }

    /// The presentities watched.
    pub fn watched(&self) -> impl Iterator<Item = &Presentity> {
        self.watches.iter().map(|w| &w.presentity)
    }

    /// Whether events within the in-flight window are left to send.
    pub fn has_events(&self, max_in_flight: u64) -> bool {
        let acked = self.acked();
        let sent = self.sent_upto.max(acked) - acked;
        sent < max_in_flight && (sent as usize) < self.outbox.len()
    }

    /// Highest sequence the client acknowledged.
    pub fn acked(&self) -> u64 {
        self.outbox.front().map_or(self.next_seq - 1, |e| e.seq - 1)
    }

    /// Drops events up to `seq` and returns their hooks.
    pub fn ack(&mut self, seq: u64) -> Vec<AckHook> {
        let mut hooks = vec![];
        while self.outbox.front().is_some_and(|e| e.seq <= seq) {
            let e = self.outbox.pop_front().expect("checked");
            self.outbox_bytes -= e.payload.len();
            if let Some(h) = e.hook {
                hooks.push(h);
            }
        }
        if self.outbox.is_empty() {
            // Released while idle, as the answers are.
            self.outbox = VecDeque::new();
        }
        hooks
    }

    /// Remembers how to answer a duplicate of request `id`, within a count and a byte budget.
    pub fn remember(&mut self, id: u64, c: Cached, keep: usize, max_bytes: usize) {
        self.answer_bytes += c.len();
        // An idle party usually holds one answer until its next request confirms it.
        self.answered.reserve_exact(1);
        self.answered.push_back((id, c));
        while self.answered.len() > keep || (self.answer_bytes > max_bytes && self.answered.len() > 1) {
            if let Some((_, old)) = self.answered.pop_front() {
                self.answer_bytes -= old.len();
            }
        }
    }

    /// Forgets answers the party has confirmed it holds: it waits on nothing below `next_request`.
    pub fn forget_answers_below(&mut self, next_request: u64) {
        while self.answered.front().is_some_and(|(id, _)| *id < next_request) {
            if let Some((_, old)) = self.answered.pop_front() {
                self.answer_bytes -= old.len();
            }
        }
        if self.answered.is_empty() {
            // Released while idle: a burst of requests must not leave its high-water mark behind.
            self.answered = VecDeque::new();
        }
    }

    /// Queues an encoded event; its sequence number.
    pub fn push(&mut self, payload: Arc<str>, hook: Option<AckHook>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outbox_bytes += payload.len();
        self.outbox.push_back(OutEvent { seq, payload, hook });
        seq
    }

    /// Drops the requests held ahead of a missing one (the connection that sent them is gone; the
    /// party resends them).
    pub fn drop_early(&mut self) {
        self.early.clear();
        self.early_bytes = 0;
    }

    /// How to answer a duplicate of `id`, if it is still remembered.
    pub fn recall(&self, id: u64) -> Option<&Cached> {
        self.answered.iter().rev().find(|(i, _)| *i == id).map(|(_, c)| c)
    }
}

/// Watcher ids of sessions carry this bit and their slot number, so a notification finds its session
/// without a map; other watchers (the broker's own, the center API's) are counted below it. Well
/// under 2^53, so the ids stay exact in JavaScript.
pub(crate) const SESSION_WATCHERS: WatcherId = 1 << 40;

/// A session's number in the broker's table: the hot paths (fan-out, sending) reach a session by it
/// without hashing the party's id.
pub(crate) type SessionId = u32;

/// Fast hashing for keys the broker chose itself (connection, watcher and session numbers, ids it
/// already checked), where SipHash's protection against chosen keys buys nothing.
pub(crate) type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// The sessions, in slots reused after a session ends, and found by key through one index. Beside
/// them, dense by slot or by presentity, what a fan-out reads for every watcher: each session's
/// connection, and each presentity's watchers ([`Topic`]).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// Boxed: the table grows by doubling, and a spare slot then costs a pointer, not a session.
    slots: Vec<Option<Box<Session>>>,
    free: Vec<SessionId>,
    ids: FastMap<SessionKey, SessionId>,
    /// The connection of each slot (0: none; connection ids are never 0), mirroring `Session::conn`.
    conn_of: Vec<ConnId>,
    topics: FastMap<Presentity, Topic>,
}

impl Sessions {
    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The number of a session by key.
    pub fn id(&self, key: &SessionKey) -> Option<SessionId> {
        self.ids.get(key).copied()
    }

    /// Whether a session with this key exists.
    pub fn contains_key(&self, key: &SessionKey) -> bool {
        self.ids.contains_key(key)
    }

    /// A session by key.
    pub fn get(&self, key: &SessionKey) -> Option<&Session> {
        self.id(key).map(|id| self.at(id))
    }

    /// A session by key, to change.
    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut Session> {
        let id = self.id(key)?;
        Some(self.at_mut(id))
    }

    /// A session by number; numbers held by the broker always name a live session.
    pub fn at(&self, id: SessionId) -> &Session {
        self.slots[id as usize].as_ref().expect("session numbers held by the broker are live")
    }

    /// A session by number, to change.
    pub fn at_mut(&mut self, id: SessionId) -> &mut Session {
        self.slots[id as usize].as_mut().expect("session numbers held by the broker are live")
    }

    /// The session that watches as `w`, found from the watcher id itself, without an index.
    pub fn by_watcher(&self, w: WatcherId) -> Option<SessionId> {
        if w & SESSION_WATCHERS == 0 {
            return None;
        }
        let id = (w & !SESSION_WATCHERS) as SessionId;
        self.slots.get(id as usize)?.as_ref().filter(|s| s.watcher == w).map(|_| id)
    }

    /// Attaches a session to a connection or detaches it (`None`).
    pub fn set_conn(&mut self, id: SessionId, conn: Option<ConnId>) {
        self.at_mut(id).conn = conn;
        self.conn_of[id as usize] = conn.unwrap_or(0);
    }

    /// Adds a session (replacing one with the same key) and gives it the watcher id of its slot;
    /// its number.
    pub fn insert(&mut self, mut s: Session) -> SessionId {
        if let Some(id) = self.id(&s.key) {
            self.unplace(id);
            s.watcher = SESSION_WATCHERS | id as WatcherId;
            *self.at_mut(id) = s;
            self.place(id);
            return id;
        }
        let key = s.key.clone();
        let id = self.free.pop().unwrap_or(self.slots.len() as SessionId);
        s.watcher = SESSION_WATCHERS | id as WatcherId;
        if id as usize == self.slots.len() {
            self.slots.push(Some(Box::new(s)));
            self.conn_of.push(0);
        } else {
            self.slots[id as usize] = Some(Box::new(s));
        }
        self.ids.insert(key, id);
        self.place(id);
        id
    }

    /// Removes a session; its number may name another session afterwards.
    pub fn remove(&mut self, key: &SessionKey) -> Option<Session> {
        let id = self.ids.remove(key)?;
        self.unplace(id);
        self.free.push(id);
        self.conn_of[id as usize] = 0;
        self.slots[id as usize].take().map(|s| *s)
    }

    /// Gives every watch of a session just put in the table its entry in its topic.
    fn place(&mut self, id: SessionId) {
        self.conn_of[id as usize] = self.at(id).conn.unwrap_or(0);
        let s = self.slots[id as usize].as_mut().expect("live");
        for w in &mut s.watches {
            let t = self.topics.entry(w.presentity.clone()).or_default();
            w.at = t.slot.len() as u32;
            t.slot.push(id);
            t.has.push(0);
            t.owed.push(Owed::Nothing);
        }
    }

    /// Takes every watch of a session out of its topic (the session stays as it is).
    fn unplace(&mut self, id: SessionId) {
        let watches: Vec<(Presentity, u32)> = self.at(id).watches.iter().map(|w| (w.presentity.clone(), w.at)).collect();
        for (p, at) in watches {
            self.unplace_one(id, &p, at);
        }
    }

    /// Removes entry `at` of `p`'s topic, moving the last entry into its place.
    fn unplace_one(&mut self, id: SessionId, p: &Presentity, at: u32) {
        let Some(t) = self.topics.get_mut(p) else { return };
        let i = at as usize;
        if t.slot.get(i) != Some(&id) {
            return;
        }
        t.slot.swap_remove(i);
        t.has.swap_remove(i);
        t.owed.swap_remove(i);
        t.docs.remove(&id);
        if let Some(&moved) = t.slot.get(i) {
            if let Some(w) = self.slots[moved as usize].as_mut().and_then(|s| s.watches.iter_mut().find(|w| &w.presentity == p)) {
                w.at = at;
            }
        }
        if t.slot.is_empty() {
            self.topics.remove(p);
        }
    }

    /// Starts a session watching `p` (once) with version `has` of its document already sent.
    pub fn add_watch(&mut self, id: SessionId, p: Presentity, has: u64) {
        if let Some(i) = self.at(id).watch_at(&p) {
            let t = self.topics.get_mut(&p).expect("watches have topics");
            t.has[i] = has;
            if t.owed[i] == Owed::Doc {
                t.docs.remove(&id);
            }
            t.owed[i] = Owed::Nothing;
            return;
        }
        let t = self.topics.entry(p.clone()).or_default();
        let at = t.slot.len() as u32;
        t.slot.push(id);
        t.has.push(has);
        t.owed.push(Owed::Nothing);
        // A party watches a few presentities: grown one at a time, the list holds no spare entries.
        let watches = &mut self.at_mut(id).watches;
        watches.reserve_exact(1);
        watches.push(Watch { presentity: p, at });
    }

    /// Stops a session watching `p`; nothing more is sent about it.
    pub fn remove_watch(&mut self, id: SessionId, p: &Presentity) {
        let s = self.at_mut(id);
        let Some(pos) = s.watches.iter().position(|w| &w.presentity == p) else { return };
        let w = s.watches.remove(pos);
        self.unplace_one(id, p, w.at);
    }

    /// The watchers of `p` to change, with the connection of every slot (for a fan-out).
    pub fn fan(&mut self, p: &Presentity) -> Option<(&mut Topic, &[ConnId])> {
        Some((self.topics.get_mut(p)?, &self.conn_of))
    }

    /// The watch of `p` by session `id`: its topic and index there.
    pub fn watch_mut(&mut self, id: SessionId, p: &Presentity) -> Option<(&mut Topic, usize)> {
        let i = self.at(id).watch_at(p)?;
        Some((self.topics.get_mut(p)?, i))
    }

    /// Whether any watch of session `id` is owed a frame.
    pub fn owes_status(&self, id: SessionId) -> bool {
        self.at(id).watches.iter().any(|w| self.topics.get(&w.presentity).is_some_and(|t| t.owed[w.at as usize] != Owed::Nothing))
    }

    /// The first frame a watch of session `id` is owed; `take` gets the topic, the index there and
    /// the presentity.
    pub fn take_status(&mut self, id: SessionId, mut take: impl FnMut(&mut Topic, usize, &Presentity) -> Option<bytes::Bytes>) -> Option<bytes::Bytes> {
        let s = self.slots[id as usize].as_ref()?;
        for w in &s.watches {
            let Some(t) = self.topics.get_mut(&w.presentity) else { continue };
            if t.owed[w.at as usize] == Owed::Nothing {
                continue;
            }
            if let Some(f) = take(t, w.at as usize, &w.presentity) {
                return Some(f);
            }
        }
        None
    }
}

impl std::ops::Index<&SessionKey> for Sessions {
    type Output = Session;
    fn index(&self, key: &SessionKey) -> &Session {
        self.get(key).expect("indexed sessions exist")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str) -> SessionKey {
        (Party::Client(c.into()), 1)
    }

    /// Every watch names its own entry, and every entry belongs to a watch.
    fn consistent(s: &Sessions) {
        let mut entries = 0;
        for (id, slot) in s.slots.iter().enumerate() {
            for w in slot.iter().flat_map(|s| &s.watches) {
                assert_eq!(s.topics[&w.presentity].slot[w.at as usize], id as SessionId, "{:?} of session {id}", w.presentity);
                entries += 1;
            }
        }
        assert_eq!(entries, s.topics.values().map(Topic::len).sum::<usize>());
    }

    #[test]
    fn watches_keep_their_entries_through_unwatch_removal_replacement_and_restore() {
        let mut s = Sessions::default();
        let (center, queue) = (Presentity::Center, Presentity::Queue("sales".into()));
        let ids: Vec<SessionId> = ["a", "b", "c", "d"].iter().map(|c| s.insert(Session::new(key(c), 1))).collect();
        for &id in &ids {
            s.add_watch(id, center.clone(), 7);
        }
        s.add_watch(ids[1], queue.clone(), 3);
        s.add_watch(ids[3], queue.clone(), 3);
        consistent(&s);
        // Watching again resets what is owed, without a second entry.
        let (t, i) = s.watch_mut(ids[2], &center).unwrap();
        t.owe_doc(i, bytes::Bytes::from_static(b"doc"), 9);
        s.add_watch(ids[2], center.clone(), 8);
        let (t, i) = s.watch_mut(ids[2], &center).unwrap();
        assert_eq!((t.len(), t.has[i], t.owed[i]), (4, 8, Owed::Nothing));
        assert!(t.docs.is_empty(), "the document owed before is gone");
        // The first one leaves: the last moves into its place and still finds its entry.
        s.remove_watch(ids[0], &center);
        consistent(&s);
        let (t, i) = s.watch_mut(ids[3], &center).unwrap();
        assert_eq!((t.slot[i], t.has[i]), (ids[3], 7));
        // A removed session takes its entries along; a topic nobody watches goes.
        s.remove(&key("b"));
        s.remove(&key("d"));
        consistent(&s);
        assert!(s.fan(&queue).is_none());
        // A session rebuilt from its record, replacing the live one, gets its entries afresh.
        let mut r = s.at(ids[2]).record();
        r.watches.push(queue.clone());
        let back = s.insert(Session::from_record(r, Timestamp(0)));
        assert_eq!(back, ids[2]);
        consistent(&s);
        assert_eq!(s.fan(&center).unwrap().0.len(), 1);
        assert_eq!(s.fan(&queue).unwrap().0.slot, [ids[2]]);
    }
}
