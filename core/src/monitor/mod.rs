//! The status monitor: follows agents, queues and clients and reports their status as presence (RFC 2778).
//!
//! Input is [`CenterEvent`]s and client status updates with an explicit `now`; output is polled as
//! [`MonitorEvent`]s. Bursts are coalesced: a presentity changed many times between two polls yields one
//! notification, encoded once and shared (`Arc`) by all of its watchers.

pub mod access;
pub mod holdtime;
pub mod hours;
pub mod pidf;
pub mod presence;
pub mod delta;
mod staffing;

use crate::center_event::CenterEvent;
use crate::ids::{AgentId, ClientId, InteractionId, ProductId, QueueId};
use crate::medium::Medium;
use crate::principal::Principal;
use crate::status::{AgentState, AgentSummary, CenterStatus, ClientActivity, ClientStatus, QueueStatus};
use crate::time::Timestamp;
use access::{AccessRule, Decision};
use holdtime::{HoldTimeEstimator, Observation, QueueKey, QueueSnapshot};
use presence::{Activity, BasicStatus, PresenceDocument, Presentity, Tuple};
use staffing::Staffing;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Who is watching: an id chosen by the caller (the broker uses its session ids).
pub type WatcherId = u64;

/// Errors a watcher or publisher gets from the monitor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// The presentity's access rules refuse this watcher.
    #[error("not allowed to watch {0}")]
    Forbidden(Presentity),
    /// Nothing is known about that presentity.
    #[error("unknown presentity {0}")]
    UnknownPresentity(Presentity),
    /// Only the owner may change its access rules.
    #[error("only the owner may set access rules of {0}")]
    NotOwner(Presentity),
    /// The event refers to an interaction the monitor never saw queued.
    #[error("unknown interaction {0}")]
    UnknownInteraction(InteractionId),
    /// The event refers to an agent that is not logged in.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// A published presence document was refused.
    #[error("bad presence document: {0}")]
    BadDocument(String),
    /// The event refers to a queue that was never configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// Business hours that cannot be.
    #[error("hours of queue {0}: {1}")]
    BadHours(QueueId, String),
}

/// Settings of the monitor.
pub struct MonitorConfig {
    /// How often waiting queues are re-estimated even without events (hold time moves with the clock).
    pub refresh_interval: Duration,
    /// The hold-time predictor.
    pub estimator: Box<dyn HoldTimeEstimator>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig { refresh_interval: Duration::from_secs(5), estimator: holdtime::default_estimator() }
    }
}

impl std::fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("refresh_interval", &self.refresh_interval)
            .field("estimator", &self.estimator.name())
            .finish()
    }
}

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// Every watcher allowed to see the presentity (look them up with [`StatusMonitor::watchers`]).
    AllowedWatchers,
    /// Only these watchers (after a rule change or a fresh subscription).
    Only(Vec<WatcherId>),
}

/// A presence document ready to send.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Whose presence.
    pub presentity: Presentity,
    /// The document.
    pub doc: Arc<PresenceDocument>,
    /// The document as JSON, encoded once for every watcher.
    pub payload: Arc<str>,
    /// Who gets it.
    pub recipients: Recipients,
}

/// What the monitor has to say.
#[derive(Debug, Clone)]
pub enum MonitorEvent {
    /// A presence document to deliver.
    Notify(Notification),
    /// A subscription ended because the access rules now block the watcher.
    Terminated {
        /// Watcher.
        watcher: WatcherId,
        /// Presentity.
        presentity: Presentity,
    },
}

/// How a watcher stands with a presentity, for the owner's watcher list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatcherInfo {
    /// Watcher id.
    pub watcher: WatcherId,
    /// Who it is.
    pub principal: Principal,
    /// Whether it sees the real status.
    pub decision: Decision,
}

#[derive(Debug, Clone)]
struct QueueConfig {
    name: String,
    products: Vec<ProductId>,
    media: Vec<Medium>,
    /// Agents serving the queue, by medium (indexed by `Medium as usize`), kept up to date on every
    /// agent event so that status reads never scan the agents.
    staff: [Staffing; Medium::ALL.len()],
}

#[derive(Debug, Clone)]
struct Tracked {
    key: QueueKey,
    queued_at: Timestamp,
    answered: Option<(AgentId, Timestamp)>,
}

#[derive(Debug, Default)]
struct Subscribers {
    // Ordered sets: a notification visits watchers in the order their sessions were made, which
    // is the order the broker keeps them in memory, and a B-tree is smaller than a hash table.
    allowed: BTreeSet<WatcherId>,
    polite: BTreeSet<WatcherId>,
    principals: BTreeMap<WatcherId, Principal>,
}

/// The status monitor state machine.
#[derive(Debug)]
pub struct StatusMonitor {
    refresh_interval: Duration,
    estimator: Box<dyn HoldTimeEstimator>,
    queues: BTreeMap<QueueId, QueueConfig>,
    agents: BTreeMap<AgentId, AgentSummary>,
    interactions: HashMap<InteractionId, Tracked>,
    waiting: BTreeMap<QueueKey, VecDeque<InteractionId>>,
    clients: HashMap<ClientId, ClientStatus>,
    rules: HashMap<Presentity, Vec<AccessRule>>,
    subs: HashMap<Presentity, Subscribers>,
    versions: HashMap<Presentity, u64>,
    dirty: BTreeSet<Presentity>,
    events: VecDeque<MonitorEvent>,
    now: Timestamp,
    next_refresh: Option<Timestamp>,
    /// Business hours by queue (a queue without is always open).
    hours: BTreeMap<QueueId, hours::BusinessHours>,
    /// The next moment a queue opens or closes.
    next_hours: Option<Timestamp>,
}

impl std::fmt::Debug for dyn HoldTimeEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for StatusMonitor {
    fn default() -> Self {
        Self::new(MonitorConfig::default())
    }
}

impl StatusMonitor {
    /// A monitor that knows nothing yet.
    pub fn new(config: MonitorConfig) -> Self {
        StatusMonitor {
            refresh_interval: config.refresh_interval,
            estimator: config.estimator,
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            interactions: HashMap::new(),
            waiting: BTreeMap::new(),
            clients: HashMap::new(),
            rules: HashMap::new(),
            subs: HashMap::new(),
            versions: HashMap::new(),
            dirty: BTreeSet::new(),
            events: VecDeque::new(),
            now: Timestamp(0),
            next_refresh: None,
            hours: BTreeMap::new(),
            next_hours: None,
        }
    }

    /// Name of the hold-time predictor in use.
    pub fn estimator_name(&self) -> &'static str {
        self.estimator.name()
    }

    /// Feeds one center event.
    pub fn handle_center_event(&mut self, now: Timestamp, event: CenterEvent) -> Result<(), MonitorError> {
        self.now = self.now.max(now);
        match event {
            CenterEvent::QueueHoursSet { queue, hours } => {
                if !self.queues.contains_key(&queue) {
                    return Err(MonitorError::UnknownQueue(queue));
                }
                match hours {
                    Some(h) => {
                        h.validate().map_err(|why| MonitorError::BadHours(queue.clone(), why))?;
                        self.hours.insert(queue.clone(), h);
                    }
                    None => {
                        self.hours.remove(&queue);
                    }
                }
                self.dirty.insert(Presentity::Queue(queue));
                self.dirty.insert(Presentity::Center);
                self.schedule_hours();
            }
            CenterEvent::QueueConfigured { queue, name, products, media } => {
                self.dirty.insert(Presentity::Queue(queue.clone()));
                // A (re)configured queue counts its agents once; every later agent event keeps the count.
                let mut q = QueueConfig { name, products, media, staff: Default::default() };
                for a in self.agents.values() {
                    q.count(a, 1);
                }
                self.queues.insert(queue, q);
            }
            CenterEvent::AgentLoggedIn { agent, name, skills, media } => {
                self.dirty.insert(Presentity::Agent(agent.clone()));
                let a = AgentSummary { id: agent.clone(), name, state: AgentState::Away, skills, media, since: now };
                if let Some(old) = self.agents.insert(agent, a) {
                    self.count_agent(&old, -1);
                }
            }
            CenterEvent::AgentLoggedOut { agent } => {
                let Some(old) = self.agents.remove(&agent) else {
                    return Err(MonitorError::UnknownAgent(agent));
                };
                self.count_agent(&old, -1);
                self.dirty.insert(Presentity::Agent(agent));
                self.mark_all_queues();
            }
            CenterEvent::AgentStateChanged { agent, state } => {
                let a = self.agents.get_mut(&agent).ok_or_else(|| MonitorError::UnknownAgent(agent.clone()))?;
                if a.state != state {
                    let old = a.clone();
                    a.state = state;
                    a.since = now;
                    let new = a.clone();
                    self.count_agent(&old, -1);
                    self.count_agent(&new, 1);
                }
                if state == AgentState::LoggedOut {
                    self.agents.remove(&agent);
                }
                self.dirty.insert(Presentity::Agent(agent));
            }
            CenterEvent::InteractionQueued { interaction, queue, medium, client: _ } => {
                let key = QueueKey { queue: queue.clone(), medium };
                self.estimator.observe(&key, now, Observation::Arrival);
                self.waiting.entry(key.clone()).or_default().push_back(interaction.clone());
                self.interactions.insert(interaction, Tracked { key, queued_at: now, answered: None });
                self.dirty.insert(Presentity::Queue(queue));
            }
            CenterEvent::InteractionAnswered { interaction, agent } => {
                let t = self.interactions.get_mut(&interaction).ok_or_else(|| MonitorError::UnknownInteraction(interaction.clone()))?;
                if t.answered.is_none() {
                    t.answered = Some((agent, now));
                    let key = t.key.clone();
                    let waited = now.since(t.queued_at);
                    self.estimator.observe(&key, now, Observation::ServiceStart { waited });
                    self.remove_waiting(&key, &interaction);
                    self.dirty.insert(Presentity::Queue(key.queue));
                }
            }
            CenterEvent::InteractionAbandoned { interaction } => {
                let t = self.interactions.remove(&interaction).ok_or_else(|| MonitorError::UnknownInteraction(interaction.clone()))?;
                if t.answered.is_none() {
                    self.estimator.observe(&t.key, now, Observation::Abandon { waited: now.since(t.queued_at) });
                    self.remove_waiting(&t.key, &interaction);
                }
                self.dirty.insert(Presentity::Queue(t.key.queue));
            }
            CenterEvent::InteractionRequeued { interaction } => {
                let t = self.interactions.get_mut(&interaction).ok_or_else(|| MonitorError::UnknownInteraction(interaction.clone()))?;
                if t.answered.take().is_some() {
                    let (key, queued_at) = (t.key.clone(), t.queued_at);
                    // Back at its old place: ahead of everyone who came after it.
                    let w = self.waiting.entry(key.clone()).or_default();
                    let at = w
                        .iter()
                        .position(|x| self.interactions.get(x).is_some_and(|o| (o.queued_at, x) > (queued_at, &interaction)))
                        .unwrap_or(w.len());
                    w.insert(at, interaction);
                    self.dirty.insert(Presentity::Queue(key.queue));
                }
            }
            CenterEvent::InteractionEnded { interaction } => {
                let t = self.interactions.remove(&interaction).ok_or_else(|| MonitorError::UnknownInteraction(interaction.clone()))?;
                match t.answered {
                    Some((_, at)) => self.estimator.observe(&t.key, now, Observation::ServiceEnd { handled: now.since(at) }),
                    None => {
                        // Ended while still waiting: the client gave up, whatever the center called it.
                        self.estimator.observe(&t.key, now, Observation::Abandon { waited: now.since(t.queued_at) });
                        self.remove_waiting(&t.key, &interaction);
                    }
                }
                self.dirty.insert(Presentity::Queue(t.key.queue));
            }
        }
        // Every center change moves the center's figures.
        self.dirty.insert(Presentity::Center);
        self.schedule_refresh();
        Ok(())
    }

    /// Publishes a client's own status (the center sees it; others as the client's rules allow).
    pub fn publish_client_status(&mut self, now: Timestamp, client: ClientId, status: ClientStatus) {
        self.now = self.now.max(now);
        let p = Presentity::Client(client.clone());
        if self.clients.get(&client) != Some(&status) {
            self.clients.insert(client, status);
            self.dirty.insert(p);
        }
    }

    /// Applies a PIDF document a vendor's system published for an agent: the agent's state follows
    /// its tuples and RPID activities.
    pub fn handle_agent_pidf(&mut self, now: Timestamp, agent: AgentId, xml: &[u8]) -> Result<AgentState, MonitorError> {
        let parsed = pidf::parse_pidf(xml, &pidf::PidfLimits::default()).map_err(|e| MonitorError::BadDocument(e.to_string()))?;
        let state = pidf::agent_state_from_pidf(&parsed);
        self.handle_center_event(now, CenterEvent::AgentStateChanged { agent, state })?;
        Ok(state)
    }

    /// Forgets a client's status (its data was erased).
    pub fn remove_client(&mut self, client: &ClientId) {
        self.clients.remove(client);
        self.rules.remove(&Presentity::Client(client.clone()));
    }

    fn mark_all_queues(&mut self) {
        for q in self.queues.keys() {
            self.dirty.insert(Presentity::Queue(q.clone()));
        }
    }

    fn remove_waiting(&mut self, key: &QueueKey, id: &InteractionId) {
        if let Some(w) = self.waiting.get_mut(key) {
            if let Some(i) = w.iter().position(|x| x == id) {
                w.remove(i);
            }
        }
    }

    fn schedule_refresh(&mut self) {
        let any_waiting = self.waiting.values().any(|w| !w.is_empty());
        self.next_refresh = any_waiting.then(|| self.next_refresh.unwrap_or(self.now.add(self.refresh_interval)));
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [self.next_refresh, self.next_hours].into_iter().flatten().min()
    }

    fn schedule_hours(&mut self) {
        self.next_hours = self.hours.values().filter_map(|h| h.next_change(self.now)).min();
    }

    /// Whether a queue is open now, and until when it stays so.
    pub fn queue_open(&self, queue: &QueueId) -> (bool, Option<Timestamp>) {
        match self.hours.get(queue) {
            Some(h) => (h.is_open(self.now), h.next_change(self.now)),
            None => (true, None),
        }
    }

    /// Re-estimates waiting queues; early or spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.next_hours.is_some_and(|at| now >= at) {
            // A queue opened or closed: its status (and the center's) changes with no other event.
            let changed: Vec<QueueId> = self.hours.keys().cloned().collect();
            for q in changed {
                self.dirty.insert(Presentity::Queue(q));
            }
            self.dirty.insert(Presentity::Center);
            self.schedule_hours();
        }
        if let Some(at) = self.next_refresh {
            if now >= at {
                self.next_refresh = None;
                let keys: Vec<QueueId> =
                    self.waiting.iter().filter(|(_, w)| !w.is_empty()).map(|(k, _)| k.queue.clone()).collect();
                for q in keys {
                    self.dirty.insert(Presentity::Queue(q));
                }
                self.dirty.insert(Presentity::Center);
                self.schedule_refresh();
            }
        }
    }

    /// Next output: coalesced notifications first built here, once per changed presentity.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MonitorEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        while let Some(p) = self.dirty.pop_first() {
            let has_watchers = self.subs.get(&p).is_some_and(|s| !s.allowed.is_empty());
            // Versions move even without watchers so that a later fetch is newer than any earlier copy.
            // A hybrid logical clock (microseconds of `now`, or one more than the last): versions keep
            // rising across a restart of the process, so watchers never drop new documents as old.
            let floor = self.now.as_millis().saturating_mul(1000);
            let v = self.versions.entry(p.clone()).or_insert(0);
            *v = v.saturating_add(1).max(floor);
            if !has_watchers {
                continue;
            }
            let doc = self.document(&p);
            return Some(MonitorEvent::Notify(self.notification(p, doc, Recipients::AllowedWatchers)));
        }
        None
    }

    fn notification(&self, presentity: Presentity, doc: PresenceDocument, recipients: Recipients) -> Notification {
        let payload: Arc<str> = serde_json::to_string(&doc).expect("presence documents always serialize").into();
        Notification { presentity, doc: Arc::new(doc), payload, recipients }
    }

    /// Watchers that see the real presence of `p` (the recipients of [`Recipients::AllowedWatchers`]).
    pub fn watchers(&self, p: &Presentity) -> impl Iterator<Item = WatcherId> + '_ {
        self.subs.get(p).into_iter().flat_map(|s| s.allowed.iter().copied())
    }

    /// Number of watchers that see the real presence of `p`.
    pub fn allowed_count(&self, p: &Presentity) -> usize {
        self.subs.get(p).map_or(0, |s| s.allowed.len())
    }

    /// Whether watcher `w` of `p` sees its real presence.
    pub fn allows(&self, w: WatcherId, p: &Presentity) -> bool {
        self.subs.get(p).is_some_and(|s| s.allowed.contains(&w))
    }

    /// Number of watchers (allowed and politely blocked) of `p`.
    pub fn watcher_count(&self, p: &Presentity) -> usize {
        self.subs.get(p).map_or(0, |s| s.principals.len())
    }

    fn known(&self, p: &Presentity) -> bool {
        match p {
            Presentity::Center => true,
            Presentity::Queue(q) => self.queues.contains_key(q),
            // Agents and clients may be watched while offline: they show as closed.
            Presentity::Agent(_) | Presentity::Client(_) => true,
        }
    }

    fn decision(&self, p: &Presentity, who: &Principal) -> Decision {
        access::decide(self.rules.get(p).map_or(&[][..], |r| r), p, who)
    }

    /// One-off read of a presentity (RFC 2778 fetch; polling is repeated fetch).
    pub fn fetch(&self, who: &Principal, p: &Presentity) -> Result<PresenceDocument, MonitorError> {
        if !self.known(p) {
            return Err(MonitorError::UnknownPresentity(p.clone()));
        }
        match self.decision(p, who) {
            Decision::Allow => Ok(self.document(p)),
            Decision::PoliteBlock => Ok(PresenceDocument::closed(p.clone(), self.now)),
            Decision::Block => Err(MonitorError::Forbidden(p.clone())),
        }
    }

    /// Subscribes a watcher; returns the document it sees now. Re-subscribing is harmless.
    pub fn subscribe(&mut self, watcher: WatcherId, who: &Principal, p: &Presentity) -> Result<PresenceDocument, MonitorError> {
        let doc = self.fetch(who, p)?;
        let decision = self.decision(p, who);
        let s = self.subs.entry(p.clone()).or_default();
        s.principals.insert(watcher, who.clone());
        if decision == Decision::Allow {
            s.allowed.insert(watcher);
        } else {
            s.polite.insert(watcher);
        }
        Ok(doc)
    }

    /// Ends one subscription.
    pub fn unsubscribe(&mut self, watcher: WatcherId, p: &Presentity) {
        if let Some(s) = self.subs.get_mut(p) {
            s.allowed.remove(&watcher);
            s.polite.remove(&watcher);
            s.principals.remove(&watcher);
            if s.principals.is_empty() {
                self.subs.remove(p);
            }
        }
    }

    /// The watchers of a presentity as its owner may list them.
    pub fn list_watchers(&self, who: &Principal, p: &Presentity) -> Result<Vec<WatcherInfo>, MonitorError> {
        if !access::may_set_rules(p, who) {
            return Err(MonitorError::NotOwner(p.clone()));
        }
        let mut v: Vec<WatcherInfo> = self
            .subs
            .get(p)
            .map(|s| {
                s.principals
                    .iter()
                    .map(|(w, pr)| WatcherInfo {
                        watcher: *w,
                        principal: pr.clone(),
                        decision: if s.allowed.contains(w) { Decision::Allow } else { Decision::PoliteBlock },
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|w| w.watcher);
        Ok(v)
    }

    /// Replaces the access rules of a presentity and re-evaluates its watchers at once.
    pub fn set_access_rules(&mut self, who: &Principal, p: &Presentity, rules: Vec<AccessRule>) -> Result<(), MonitorError> {
        if !access::may_set_rules(p, who) {
            return Err(MonitorError::NotOwner(p.clone()));
        }
        self.rules.insert(p.clone(), rules);
        let Some(s) = self.subs.get(p) else { return Ok(()) };
        let mut to_allow = vec![];
        let mut to_polite = vec![];
        let mut to_end = vec![];
        for (w, pr) in &s.principals {
            let d = self.decision(p, pr);
            let was_allowed = s.allowed.contains(w);
            match d {
                Decision::Allow if !was_allowed => to_allow.push(*w),
                Decision::PoliteBlock if was_allowed => to_polite.push(*w),
                Decision::Block => to_end.push(*w),
                _ => {}
            }
        }
        let s = self.subs.get_mut(p).expect("checked above");
        for w in &to_allow {
            s.polite.remove(w);
            s.allowed.insert(*w);
        }
        for w in &to_polite {
            s.allowed.remove(w);
            s.polite.insert(*w);
        }
        for w in &to_end {
            s.allowed.remove(w);
            s.polite.remove(w);
            s.principals.remove(w);
            self.events.push_back(MonitorEvent::Terminated { watcher: *w, presentity: p.clone() });
        }
        if !to_allow.is_empty() {
            let doc = self.document(p);
            let n = self.notification(p.clone(), doc, Recipients::Only(to_allow));
            self.events.push_back(MonitorEvent::Notify(n));
        }
        if !to_polite.is_empty() {
            let doc = PresenceDocument::closed(p.clone(), self.now);
            let n = self.notification(p.clone(), doc, Recipients::Only(to_polite));
            self.events.push_back(MonitorEvent::Notify(n));
        }
        Ok(())
    }

    /// Access rules of a presentity.
    pub fn access_rules(&self, p: &Presentity) -> &[AccessRule] {
        self.rules.get(p).map_or(&[], |r| r)
    }

    /// Puts back rules read from the store at start-up (their owner set them; nobody watches yet).
    pub fn restore_access_rules(&mut self, p: Presentity, rules: Vec<AccessRule>) {
        self.rules.insert(p, rules);
    }

    /// Figures of every queue and medium, agents and media offered, as of the last input.
    pub fn center_status(&self) -> CenterStatus {
        let mut queues = vec![];
        for (qid, q) in &self.queues {
            for &m in &q.media {
                queues.push(self.queue_status(qid, q, m));
            }
        }
        let mut media: Vec<Medium> = queues.iter().filter(|q| q.offered).map(|q| q.medium).collect();
        media.sort();
        media.dedup();
        CenterStatus { at: self.now, queues, media_offered: media, agents: self.agents.values().cloned().collect() }
    }

    fn serves(a: &AgentSummary, q: &QueueConfig, m: Medium) -> bool {
        a.media.contains(&m) && (q.products.is_empty() || q.products.iter().any(|p| a.skills.contains(p)))
    }

    fn snapshot(&self, qid: &QueueId, q: &QueueConfig, m: Medium) -> (QueueKey, QueueSnapshot) {
        let key = QueueKey { queue: qid.clone(), medium: m };
        let Staffing { servers, available } = q.staff[m as usize];
        let w = self.waiting.get(&key);
        let holding = w.map_or(0, |w| w.len() as u32);
        let head_wait = w
            .and_then(|w| w.front())
            .and_then(|id| self.interactions.get(id))
            .map(|t| self.now.since(t.queued_at));
        (key, QueueSnapshot { now: self.now, servers, available, holding, head_wait })
    }

    fn queue_status(&self, qid: &QueueId, q: &QueueConfig, m: Medium) -> QueueStatus {
        let (key, snap) = self.snapshot(qid, q, m);
        let est = self.estimator.estimate(&key, &snap, snap.holding);
        let (open, until) = self.queue_open(qid);
        QueueStatus {
            queue: qid.clone(),
            name: q.name.clone(),
            medium: m,
            products: q.products.clone(),
            agents_available: snap.available,
            agents_staffed: snap.servers,
            holding: snap.holding,
            estimated_hold_secs: est.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
            // Email waits in the backlog at any hour; live media need an agent and open hours.
            offered: !m.is_live() || (open && snap.servers > 0),
            open,
            until,
        }
    }

    /// The figures of one queue and medium exactly as the center status has them, without building
    /// the whole status.
    pub fn queue_figures(&self, queue: &QueueId, medium: Medium) -> Option<QueueStatus> {
        let q = self.queues.get(queue)?;
        Some(self.queue_status(queue, q, medium))
    }

    /// The state of a queue as the estimator sees it, for simulators and diagnostics.
    pub fn queue_snapshot(&self, key: &QueueKey) -> Option<QueueSnapshot> {
        let q = self.queues.get(&key.queue)?;
        Some(self.snapshot(&key.queue, q, key.medium).1)
    }

    /// The estimator's figure for a client with `ahead` clients in front of it in `key`.
    pub fn estimate(&self, key: &QueueKey, ahead: u32) -> Option<Duration> {
        let snap = self.queue_snapshot(key)?;
        self.estimator.estimate(key, &snap, ahead)
    }

    /// Position (1-based) and estimated remaining wait of a waiting interaction.
    pub fn waiting_position(&self, id: &InteractionId) -> Option<(u32, Option<Duration>)> {
        let t = self.interactions.get(id)?;
        if t.answered.is_some() {
            return None;
        }
        let pos = self.waiting.get(&t.key)?.iter().position(|x| x == id)? as u32;
        let q = self.queues.get(&t.key.queue)?;
        let (key, snap) = self.snapshot(&t.key.queue, q, t.key.medium);
        Some((pos + 1, self.estimator.estimate(&key, &snap, pos)))
    }

    /// The queue that serves a product on a medium, preferring queues with agents staffed.
    pub fn queue_for(&self, product: Option<&ProductId>, medium: Medium) -> Option<QueueId> {
        let mut best: Option<(u32, &QueueId)> = None;
        for (qid, q) in &self.queues {
            if !q.media.contains(&medium) {
                continue;
            }
            if let Some(p) = product {
                if !q.products.is_empty() && !q.products.contains(p) {
                    continue;
                }
            }
            let staffed = self.snapshot(qid, q, medium).1.servers;
            if best.map_or(true, |(s, _)| staffed > s) {
                best = Some((staffed, qid));
            }
        }
        best.map(|(_, q)| q.clone())
    }

    /// Whether an agent is logged in and serves the queue on the medium.
    pub fn agent_serves(&self, agent: &AgentId, queue: &QueueId, medium: Medium) -> bool {
        match (self.agents.get(agent), self.queues.get(queue)) {
            (Some(a), Some(q)) => Self::serves(a, q, medium),
            _ => false,
        }
    }

    /// An agent's current summary.
    pub fn agent(&self, agent: &AgentId) -> Option<&AgentSummary> {
        self.agents.get(agent)
    }

    /// The interactions waiting in a queue for a medium, head first.
    pub fn waiting(&self, queue: &QueueId, medium: Medium) -> Vec<InteractionId> {
        let key = QueueKey { queue: queue.clone(), medium };
        self.waiting.get(&key).map(|w| w.iter().cloned().collect()).unwrap_or_default()
    }

    /// The full presence document of a presentity now.
    pub fn document(&self, p: &Presentity) -> PresenceDocument {
        let version = self.versions.get(p).copied().unwrap_or(0);
        let mut doc = PresenceDocument::closed(p.clone(), self.now);
        doc.version = version;
        match p {
            Presentity::Center => {
                let c = self.center_status();
                doc.tuples = Medium::ALL
                    .iter()
                    .map(|m| Tuple {
                        id: format!("center-{m}"),
                        status: if c.media_offered.contains(m) { BasicStatus::Open } else { BasicStatus::Closed },
                        medium: Some(*m),
                        contact: Some(format!("frontdesk:center;medium={m}")),
                        note: None,
                    })
                    .collect();
                doc.center = Some(c);
            }
            Presentity::Queue(qid) => {
                if let Some(q) = self.queues.get(qid) {
                    let figures: Vec<QueueStatus> = q.media.iter().map(|&m| self.queue_status(qid, q, m)).collect();
                    doc.tuples = figures
                        .iter()
                        .map(|f| Tuple {
                            id: format!("queue-{}", f.medium),
                            status: if f.offered { BasicStatus::Open } else { BasicStatus::Closed },
                            medium: Some(f.medium),
                            contact: Some(format!("frontdesk:queue:{qid};medium={}", f.medium)),
                            note: f.estimated_hold_secs.map(|s| format!("estimated hold {s:.0} s, {} holding", f.holding)),
                        })
                        .collect();
                    doc.center = Some(CenterStatus {
                        at: self.now,
                        media_offered: figures.iter().filter(|f| f.offered).map(|f| f.medium).collect(),
                        queues: figures,
                        agents: vec![],
                    });
                }
            }
            Presentity::Agent(aid) => {
                if let Some(a) = self.agents.get(aid) {
                    doc.tuples = a
                        .media
                        .iter()
                        .map(|m| Tuple {
                            id: format!("agent-{m}"),
                            status: if a.state == AgentState::Available { BasicStatus::Open } else { BasicStatus::Closed },
                            medium: Some(*m),
                            contact: Some(format!("frontdesk:agent:{aid};medium={m}")),
                            note: None,
                        })
                        .collect();
                    doc.activities = match a.state {
                        AgentState::Busy if a.media.iter().any(|m| matches!(m, Medium::Voice | Medium::Video | Medium::Callback)) => {
                            vec![Activity::OnThePhone]
                        }
                        AgentState::Busy => vec![Activity::Busy],
                        AgentState::AfterWork => vec![Activity::Working],
                        AgentState::Away => vec![Activity::Away],
                        AgentState::Available | AgentState::LoggedOut => vec![],
                    };
                    doc.agent = Some(a.clone());
                }
            }
            Presentity::Client(cid) => {
                if let Some(c) = self.clients.get(cid) {
                    let open = c.activity != ClientActivity::Offline;
                    doc.tuples = vec![Tuple {
                        id: "client-app".into(),
                        status: if open { BasicStatus::Open } else { BasicStatus::Closed },
                        medium: c.medium,
                        contact: Some(format!("frontdesk:client:{cid}")),
                        note: c.note.clone(),
                    }];
                    if c.activity == ClientActivity::Idle {
                        doc.activities = vec![Activity::Unknown];
                    }
                    doc.note = c.note.clone();
                    doc.client = Some(c.clone());
                }
            }
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_after_a_change(m: &mut StatusMonitor, now: Timestamp) -> u64 {
        m.subscribe(1, &Principal::Service("t".into()), &Presentity::Center).unwrap();
        m.handle_center_event(now, CenterEvent::AgentLoggedIn { agent: "ann".into(), name: "Ann".into(), skills: vec![], media: vec![Medium::Chat] })
            .unwrap();
        let mut last = 0;
        while let Some(e) = m.poll_event() {
            if let MonitorEvent::Notify(n) = e {
                last = n.doc.version;
            }
        }
        last
    }

    /// A restarted process numbers from scratch; watchers that kept the old documents must still
    /// take the new ones, so versions rise across the restart.
    #[test]
    fn versions_keep_rising_across_a_restart() {
        let t = Timestamp(1_795_597_200_000);
        let mut before = StatusMonitor::default();
        let mut v = version_after_a_change(&mut before, t);
        for n in 0..1000u64 {
            let state = if n % 2 == 0 { AgentState::Available } else { AgentState::Away };
            before.handle_center_event(t, CenterEvent::AgentStateChanged { agent: "ann".into(), state }).unwrap();
            while before.poll_event().is_some() {}
            let next = before.document(&Presentity::Center).version;
            assert!(next > v, "versions move on every change");
            v = next;
        }
        let mut after = StatusMonitor::default();
        let restarted = version_after_a_change(&mut after, Timestamp(t.0 + 1_000));
        assert!(restarted > v, "{restarted} after a restart must exceed {v}");
    }
}
