//! The small threaded runtime around the sans-IO core.
//!
//! One background thread owns the state machines (behind a mutex), reads the real clock, runs them,
//! waits on a channel with the core's `poll_timeout` as deadline, and calls foreign listeners. App calls
//! take the mutex only for in-memory state changes (queueing a request, reading the view), then wake the
//! thread; all frame moving and listener calls happen on the background thread. Listeners are called
//! with the mutex released, so a listener may call back into the client.
//!
//! What the thread runs is an [`Engine`]: today the in-process hub ([`EmbeddedEngine`]); a network
//! engine (one client, frames over a socket whose reader posts into the same wake channel) plugs in
//! behind the same trait.

use crate::error::{closed, FrontdeskError, ErrorInfo};
use crate::events::{AgentEvent, ClientEvent, ClientListener, ListenerError, Response};
use frontdesk_core::broker::BrokerEvent;
use frontdesk_core::client::{Client, ClientEvent as CoreEvent, RequestId};
use frontdesk_core::embedded::{Embedded, Slot};
use frontdesk_core::protocol::ErrorBody;
use frontdesk_core::Timestamp;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Names a client inside an engine.
pub(crate) type ClientKey = u64;

/// Answers kept for blocking waits; older ones are dropped so an app that never waits leaks nothing.
const RESULTS_KEPT: usize = 1024;

/// Agent events kept per agent for tests that never read them.
const AGENT_EVENTS_KEPT: usize = 4096;

/// The wall clock as the core wants it.
pub(crate) fn wall_clock() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Timestamp(ms)
}

/// What an engine reports for one client: the core's events, and what only the host can see.
pub(crate) enum EngineEvent {
    /// An event of the client state machine.
    Core(CoreEvent),
    /// The network failed (a dial, or a connection that broke); the core only hears "disconnected".
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    Transport {
        /// The URL dialled.
        url: String,
        /// The cause, as the socket layer put it.
        message: String,
    },
}

/// State machines the runtime thread drives.
pub(crate) trait Engine: Send + 'static {
    /// Runs due timers and moves frames until nothing is left to do at `now`.
    fn run(&mut self, now: Timestamp);
    /// Earliest time anything wants to run.
    fn poll_timeout(&self) -> Option<Timestamp>;
    /// A client by key.
    fn client(&mut self, key: ClientKey) -> Option<&mut Client>;
    /// Next app event of any client.
    fn poll_client_event(&mut self) -> Option<(ClientKey, EngineEvent)>;
    /// Next broker event, where the engine hosts the broker.
    fn poll_broker_event(&mut self) -> Option<BrokerEvent>;
    /// Removes a client (its object was dropped or closed).
    fn remove_client(&mut self, now: Timestamp, key: ClientKey);
    /// Closes a client's transport after the client was stopped (in memory there is nothing to close).
    fn close_transport(&mut self, _key: ClientKey) {}
    /// For engine-specific operations (the embedded center reaches its broker this way).
    fn as_any(&mut self) -> &mut dyn Any;
}

/// The in-process engine: a broker and its clients wired in memory.
pub(crate) struct EmbeddedEngine {
    /// The hub.
    pub hub: Embedded,
    slots: Vec<Slot>,
    cursor: usize,
}

impl EmbeddedEngine {
    /// Wraps a hub.
    pub fn new(hub: Embedded) -> Self {
        EmbeddedEngine { hub, slots: Vec::new(), cursor: 0 }
    }

    /// Adds and starts a client.
    pub fn add_client(&mut self, now: Timestamp, client: Client) -> ClientKey {
        let slot = self.hub.attach(now, client);
        self.slots.push(slot);
        slot as ClientKey
    }

    /// Cuts or restores a client's network, to show reconnects.
    pub fn set_online(&mut self, now: Timestamp, key: ClientKey, online: bool) -> bool {
        let slot = key as Slot;
        if !self.slots.contains(&slot) {
            return false;
        }
        self.hub.set_online(now, slot, online);
        true
    }
}

impl Engine for EmbeddedEngine {
    fn run(&mut self, now: Timestamp) {
        self.hub.run(now);
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.hub.poll_timeout()
    }

    fn client(&mut self, key: ClientKey) -> Option<&mut Client> {
        let slot = key as Slot;
        self.slots.contains(&slot).then(|| self.hub.client(slot))
    }

    fn poll_client_event(&mut self) -> Option<(ClientKey, EngineEvent)> {
        // Round-robin over slots so one chatty client cannot starve the others.
        for _ in 0..self.slots.len() {
            self.cursor = (self.cursor + 1) % self.slots.len();
            let slot = self.slots[self.cursor];
            if let Some(e) = self.hub.poll_client_event(slot) {
                return Some((slot as ClientKey, EngineEvent::Core(e)));
            }
        }
        None
    }

    fn poll_broker_event(&mut self) -> Option<BrokerEvent> {
        self.hub.poll_broker_event()
    }

    fn remove_client(&mut self, now: Timestamp, key: ClientKey) {
        let slot = key as Slot;
        if let Some(i) = self.slots.iter().position(|s| *s == slot) {
            self.slots.remove(i);
            self.cursor = 0;
            let _ = self.hub.detach(now, slot);
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// An engine with nothing in it, for a runtime whose real engine could not start.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) struct NoEngine;

impl Engine for NoEngine {
    fn run(&mut self, _now: Timestamp) {}
    fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }
    fn client(&mut self, _key: ClientKey) -> Option<&mut Client> {
        None
    }
    fn poll_client_event(&mut self) -> Option<(ClientKey, EngineEvent)> {
        None
    }
    fn poll_broker_event(&mut self) -> Option<BrokerEvent> {
        None
    }
    fn remove_client(&mut self, _now: Timestamp, _key: ClientKey) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Where a client's session stands, for blocking waits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Standing {
    /// Synced at least once.
    pub synced: bool,
    /// Last rejection, cleared by a new `authenticate`.
    pub rejected: Option<ErrorInfo>,
}

/// Everything behind the runtime's mutex.
pub(crate) struct State {
    /// The state machines.
    pub engine: Box<dyn Engine>,
    /// Listeners by client.
    pub listeners: HashMap<ClientKey, Arc<dyn ClientListener>>,
    /// Recent answers, for `wait`.
    results: HashMap<(ClientKey, RequestId), Result<Response, ErrorInfo>>,
    result_order: VecDeque<(ClientKey, RequestId)>,
    /// Session standing by client, for `wait_synced`.
    pub standing: HashMap<ClientKey, Standing>,
    /// Agent events by agent id, for the embedded center.
    agent_events: HashMap<String, VecDeque<AgentEvent>>,
    /// Set once the runtime was shut down.
    pub stopped: bool,
}

impl State {
    fn keep_result(&mut self, key: ClientKey, id: RequestId, r: Result<Response, ErrorInfo>) {
        if self.result_order.len() >= RESULTS_KEPT {
            if let Some(old) = self.result_order.pop_front() {
                self.results.remove(&old);
            }
        }
        self.results.insert((key, id), r);
        self.result_order.push_back((key, id));
    }

    /// Takes a kept answer.
    pub fn take_result(&mut self, key: ClientKey, id: RequestId) -> Option<Result<Response, ErrorInfo>> {
        let r = self.results.remove(&(key, id))?;
        self.result_order.retain(|k| *k != (key, id));
        Some(r)
    }

    /// Takes the oldest event of an agent.
    pub fn take_agent_event(&mut self, agent: &str) -> Option<AgentEvent> {
        self.agent_events.get_mut(agent)?.pop_front()
    }
}

enum Msg {
    Wake,
    Stop,
}

/// Wakes the runtime thread from elsewhere (a socket reader), so it runs the engine at once.
#[derive(Clone)]
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) struct Waker(Sender<Msg>);

#[cfg_attr(not(feature = "network"), allow(dead_code))]
impl Waker {
    /// Asks for a turn of the loop; a no-op once the runtime stopped.
    pub fn wake(&self) {
        let _ = self.0.send(Msg::Wake);
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A handle on the runtime thread; the thread stops when the last handle is dropped or on `shutdown`.
pub(crate) struct Runtime {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl Runtime {
    /// Starts a thread driving `engine`.
    pub fn start(engine: Box<dyn Engine>) -> Arc<Runtime> {
        Self::start_with(|_| engine)
    }

    /// Starts a thread driving the engine `make` builds; the engine gets a waker for its own threads.
    pub fn start_with(make: impl FnOnce(Waker) -> Box<dyn Engine>) -> Arc<Runtime> {
        let (tx, rx) = channel::<Msg>();
        let engine = make(Waker(tx.clone()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                engine,
                listeners: HashMap::new(),
                results: HashMap::new(),
                result_order: VecDeque::new(),
                standing: HashMap::new(),
                agent_events: HashMap::new(),
                stopped: false,
            }),
            changed: Condvar::new(),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("frontdesk".into())
            .spawn(move || {
                loop {
                    let deadline = step(&sh);
                    // A due timer right after a run would spin; give it a millisecond.
                    let wait = deadline.map(|at| Duration::from_millis(at.as_millis().saturating_sub(wall_clock().as_millis()).max(1)));
                    let msg = match wait {
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(d) => rx.recv_timeout(d),
                    };
                    match msg {
                        Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
                        Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                let mut st = lock(&sh);
                st.stopped = true;
                // Listeners may hold the client objects; dropping them here breaks that cycle.
                st.listeners.clear();
                drop(st);
                sh.changed.notify_all();
            })
            .expect("spawning the frontdesk thread");
        let thread_id = thread.thread().id();
        Arc::new(Runtime { shared, tx, thread: Mutex::new(Some(thread)), thread_id })
    }

    /// Runs `f` on the state under the mutex (in-memory work only), then wakes the thread.
    pub fn with<R>(&self, f: impl FnOnce(&mut State, Timestamp) -> R) -> Result<R, FrontdeskError> {
        let mut st = lock(&self.shared);
        if st.stopped {
            return Err(closed());
        }
        let r = f(&mut st, wall_clock());
        drop(st);
        let _ = self.tx.send(Msg::Wake);
        Ok(r)
    }

    /// Reads the state without waking the thread.
    pub fn read<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, FrontdeskError> {
        let mut st = lock(&self.shared);
        if st.stopped {
            return Err(closed());
        }
        Ok(f(&mut st))
    }

    /// Blocks until `f` returns something or `timeout` passes; never call it from a listener.
    pub fn wait_for<R>(&self, timeout: Duration, what: &str, mut f: impl FnMut(&mut State) -> Option<R>) -> Result<R, FrontdeskError> {
        if std::thread::current().id() == self.thread_id {
            return Err(FrontdeskError::Invalid { message: format!("waiting for {what} inside a listener would deadlock") });
        }
        let end = std::time::Instant::now() + timeout;
        let mut st = lock(&self.shared);
        loop {
            if let Some(r) = f(&mut st) {
                return Ok(r);
            }
            if st.stopped {
                return Err(closed());
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(FrontdeskError::Timeout { message: format!("no {what} within {} ms", timeout.as_millis()) });
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Stops the thread and waits for it (unless called from it).
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        if std::thread::current().id() == self.thread_id {
            return;
        }
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A poisoned mutex only means a listener panicked mid-call elsewhere; the state itself is consistent.
fn lock(sh: &Shared) -> MutexGuard<'_, State> {
    sh.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// One turn of the loop: run, collect events, wake waiters, call listeners; returns the next deadline.
fn step(sh: &Shared) -> Option<Timestamp> {
    let mut calls: Vec<(Arc<dyn ClientListener>, ClientEvent)> = Vec::new();
    let deadline = {
        let mut st = lock(sh);
        st.engine.run(wall_clock());
        while let Some((key, ev)) = st.engine.poll_client_event() {
            let ev = match ev {
                EngineEvent::Core(ev) => {
                    match &ev {
                        CoreEvent::Completed { id, result } => {
                            let r = result.clone().map(Response::from).map_err(|e: ErrorBody| ErrorInfo::from(e));
                            st.keep_result(key, *id, r);
                        }
                        CoreEvent::Synced => st.standing.entry(key).or_default().synced = true,
                        CoreEvent::Rejected(e) => st.standing.entry(key).or_default().rejected = Some(e.clone().into()),
                        _ => {}
                    }
                    ev.into()
                }
                EngineEvent::Transport { url, message } => ClientEvent::TransportError { url, message },
            };
            if let Some(l) = st.listeners.get(&key) {
                calls.push((l.clone(), ev));
            }
        }
        while let Some(be) = st.engine.poll_broker_event() {
            if let BrokerEvent::Agent { agent, event } = be {
                let q = st.agent_events.entry(agent.0).or_default();
                if q.len() >= AGENT_EVENTS_KEPT {
                    q.pop_front();
                }
                q.push_back(event.into());
            }
        }
        st.engine.poll_timeout()
    };
    sh.changed.notify_all();
    for (l, ev) in calls {
        let kind = ev.kind();
        // A listener that throws (an error, or a panic in a Rust listener) must not stop the runtime.
        report_listener_failure(kind, std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_event(ev))));
    }
    deadline
}

/// Says on stderr that a listener threw, unless its language already logged it: the exception cannot
/// go anywhere else (the call came from the library's thread), and dropping it silently hides app bugs.
pub(crate) fn report_listener_failure(kind: &str, outcome: std::thread::Result<Result<(), ListenerError>>) {
    match outcome {
        Ok(Ok(())) | Ok(Err(ListenerError::Reported { .. })) => {}
        Ok(Err(ListenerError::Failed { reason })) => {
            eprintln!("frontdesk: the listener threw on a {kind} event (the library goes on with the next one): {reason}")
        }
        Err(panic) => {
            let why = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            eprintln!("frontdesk: the listener panicked on a {kind} event (the library goes on with the next one): {why}")
        }
    }
}
