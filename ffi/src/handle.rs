//! The handle registry: C holds ids, never addresses, so a freed or forged handle is an error, not a crash.
//!
//! Every handle is a number from a counter that never repeats, dressed as an opaque pointer. A global
//! table maps live numbers to objects; `_free` removes the entry. Each object has its own lock, so calls
//! on one handle from several threads are serialized and calls on different handles run in parallel.
//! Events go to callbacks on the calling thread after the object's lock is released, so a callback may
//! call back into the library, even on the same handle.

use crate::error::{Error, FdStatus, Res};
use crate::events::{FdEventCallback, RawCallback};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// A core object that reports events as JSON text.
pub(crate) trait EventSource: Send + 'static {
    /// The next event, encoded; `None` when nothing is pending.
    fn next_event(&mut self) -> Option<String>;
}

/// A kind of handle stored in the registry.
pub(crate) trait Kind: EventSource + Sized {
    /// Name used in error messages.
    const NAME: &'static str;
    /// Stores an object of this kind in a registry entry.
    fn wrap(o: Arc<Object<Self>>) -> Entry;
    /// The object if the entry is of this kind.
    fn unwrap(e: &Entry) -> Option<&Arc<Object<Self>>>;
    /// Runs once when the handle is freed, after it left the registry and with no lock held (a
    /// network client stops and joins its thread here).
    fn on_free(_o: &Object<Self>) {}
}

#[derive(Clone, Copy)]
struct Sub {
    id: u64,
    cb: RawCallback,
    user_data: usize,
}

/// The state behind one lock: the core object, undelivered events and the callbacks.
pub(crate) struct Inner<T> {
    core: T,
    pending: VecDeque<String>,
    subs: Vec<Sub>,
}

/// One live object.
pub(crate) struct Object<T> {
    inner: Mutex<Inner<T>>,
    dispatching: AtomicBool,
    /// Signalled after every change, for hosts blocked in a `_wait_event`.
    changed: Condvar,
    /// Set when the handle is freed, so waiters stop waiting.
    freed: AtomicBool,
}

impl<T> Object<T> {
    /// Locks the state even after a panic poisoned it (for a `_free` that must still clean up).
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    pub(crate) fn lock_anyway(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> Inner<T> {
    /// The core object.
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    pub(crate) fn core(&mut self) -> &mut T {
        &mut self.core
    }
}

/// A registry entry.
pub(crate) enum Entry {
    /// A status monitor.
    Monitor(Arc<Object<crate::monitor::MonitorCore>>),
    /// A broker.
    Broker(Arc<Object<crate::broker::BrokerCore>>),
    /// A client.
    Client(Arc<Object<crate::client::ClientCore>>),
    /// An agent console.
    Agent(Arc<Object<crate::agent::AgentCore>>),
    /// A callback registration on another handle.
    Subscription {
        /// Handle it is registered on.
        owner: usize,
        /// Its id in the owner's list.
        id: u64,
    },
}

impl Entry {
    fn kind_name(&self) -> &'static str {
        match self {
            Entry::Monitor(_) => "monitor",
            Entry::Broker(_) => "broker",
            Entry::Client(_) => "client",
            Entry::Agent(_) => "agent",
            Entry::Subscription { .. } => "subscription",
        }
    }

    fn remove_sub(&self, id: u64) {
        fn rm<T>(o: &Object<T>, id: u64) {
            // A poisoned owner will never dispatch again; nothing to remove then.
            if let Ok(mut g) = o.inner.lock() {
                g.subs.retain(|s| s.id != id);
            }
        }
        match self {
            Entry::Monitor(o) => rm(o, id),
            Entry::Broker(o) => rm(o, id),
            Entry::Client(o) => rm(o, id),
            Entry::Agent(o) => rm(o, id),
            Entry::Subscription { .. } => {}
        }
    }
}

// A BTreeMap rather than a HashMap: its nodes are referenced from their start, so leak checkers
// report the table as reachable at exit instead of "possibly lost" (hashbrown points mid-block).
static REGISTRY: LazyLock<RwLock<BTreeMap<usize, Entry>>> = LazyLock::new(|| RwLock::new(BTreeMap::new()));
// Multiples of 16 from 16 up: look like aligned pointers to C, never NULL, never reused.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(16);
static NEXT_SUB: AtomicU64 = AtomicU64::new(1);

fn registry_read() -> std::sync::RwLockReadGuard<'static, BTreeMap<usize, Entry>> {
    // No code runs under the registry lock that could panic, but never let poison spread anyway.
    REGISTRY.read().unwrap_or_else(|p| p.into_inner())
}

fn registry_write() -> std::sync::RwLockWriteGuard<'static, BTreeMap<usize, Entry>> {
    REGISTRY.write().unwrap_or_else(|p| p.into_inner())
}

fn new_id() -> usize {
    NEXT_HANDLE.fetch_add(16, Ordering::Relaxed)
}

/// Stores a new object; returns its handle value.
pub(crate) fn register<T: Kind>(core: T) -> usize {
    let o = Arc::new(Object {
        inner: Mutex::new(Inner { core, pending: VecDeque::new(), subs: Vec::new() }),
        dispatching: AtomicBool::new(false),
        changed: Condvar::new(),
        freed: AtomicBool::new(false),
    });
    let id = new_id();
    registry_write().insert(id, T::wrap(o));
    id
}

/// The live object behind a handle of kind `T`.
pub(crate) fn lookup<T: Kind>(h: usize) -> Res<Arc<Object<T>>> {
    if h == 0 {
        return Err(Error::null(T::NAME));
    }
    let reg = registry_read();
    match reg.get(&h) {
        None => Err(Error::new(FdStatus::FD_ERR_INVALID_HANDLE, format!("{} handle is freed or was never created", T::NAME))),
        Some(e) => T::unwrap(e).cloned().ok_or_else(|| {
            Error::new(FdStatus::FD_ERR_INVALID_HANDLE, format!("handle is a {}, not a {}", e.kind_name(), T::NAME))
        }),
    }
}

/// Frees a handle of kind `T`; NULL is a no-op, a second free is an error.
pub(crate) fn free<T: Kind>(h: usize) -> Res<()> {
    if h == 0 {
        return Ok(());
    }
    let mut reg = registry_write();
    match reg.get(&h) {
        Some(e) if T::unwrap(e).is_some() => {
            // Dropped after the lock is released: the object may still be in use by a call on another
            // thread, which holds its own reference and finishes normally.
            let e = reg.remove(&h);
            drop(reg);
            if let Some(o) = e.as_ref().and_then(T::unwrap) {
                o.freed.store(true, Ordering::Release);
                o.changed.notify_all();
                T::on_free(o);
            }
            drop(e);
            Ok(())
        }
        Some(e) => Err(Error::new(FdStatus::FD_ERR_INVALID_HANDLE, format!("handle is a {}, not a {}", e.kind_name(), T::NAME))),
        None => Err(Error::new(FdStatus::FD_ERR_INVALID_HANDLE, format!("{} handle is already freed or was never created", T::NAME))),
    }
}

fn poisoned(name: &str) -> Error {
    Error::new(FdStatus::FD_ERR_POISONED, format!("{name} handle is unusable after an earlier panic; free it"))
}

fn lock<'a, T>(o: &'a Object<T>, name: &str) -> Res<MutexGuard<'a, Inner<T>>> {
    o.inner.lock().map_err(|_| poisoned(name))
}

/// Reads a core object; no events are dispatched.
pub(crate) fn with_ref<T: Kind, R>(h: usize, f: impl FnOnce(&T) -> Res<R>) -> Res<R> {
    let o = lookup::<T>(h)?;
    let g = lock(&o, T::NAME)?;
    inject(FdPanicSite::FD_PANIC_CORE);
    f(&g.core)
}

/// Changes a core object, then hands new events to the registered callbacks, if any.
pub(crate) fn with_mut<T: Kind, R>(h: usize, f: impl FnOnce(&mut T) -> Res<R>) -> Res<R> {
    let o = lookup::<T>(h)?;
    drive(&o, true, f)?
}

/// Changes the object behind `o` (already looked up, or held by a library thread), wakes waiters,
/// and delivers new events to callbacks. `injectable` is false on library threads, so a panic a test
/// armed for a host call is never spent there.
pub(crate) fn drive<T: Kind, R>(o: &Object<T>, injectable: bool, f: impl FnOnce(&mut T) -> R) -> Res<R> {
    let (r, deliver) = {
        let mut g = lock(o, T::NAME)?;
        if injectable {
            inject(FdPanicSite::FD_PANIC_CORE);
        }
        let r = f(&mut g.core);
        let deliver = !g.subs.is_empty();
        if deliver {
            let inner = &mut *g;
            while let Some(e) = inner.core.next_event() {
                inner.pending.push_back(e);
            }
        }
        (r, deliver)
    };
    o.changed.notify_all();
    if deliver {
        dispatch(o, T::NAME, injectable)?;
    }
    Ok(r)
}

/// The next event for a host that polls: undelivered ones first, then fresh ones from the core.
pub(crate) fn poll_event<T: Kind>(h: usize) -> Res<Option<String>> {
    let o = lookup::<T>(h)?;
    let mut g = lock(&o, T::NAME)?;
    inject(FdPanicSite::FD_PANIC_CORE);
    if let Some(e) = g.pending.pop_front() {
        return Ok(Some(e));
    }
    Ok(g.core.next_event())
}

/// Like [`poll_event`], but waits up to `timeout` for an event produced by another thread.
pub(crate) fn wait_event<T: Kind>(h: usize, timeout: Duration) -> Res<Option<String>> {
    let o = lookup::<T>(h)?;
    let end = Instant::now() + timeout;
    let mut g = lock(&o, T::NAME)?;
    inject(FdPanicSite::FD_PANIC_CORE);
    loop {
        if let Some(e) = g.pending.pop_front() {
            return Ok(Some(e));
        }
        if let Some(e) = g.core.next_event() {
            return Ok(Some(e));
        }
        let left = end.saturating_duration_since(Instant::now());
        // Freed meanwhile: nothing more will come (the caller's next call reports the stale handle).
        if left.is_zero() || o.freed.load(Ordering::Acquire) {
            return Ok(None);
        }
        g = o.changed.wait_timeout(g, left.min(Duration::from_millis(100))).map_err(|_| poisoned(T::NAME))?.0;
    }
}

struct ResetOnDrop<'a>(&'a AtomicBool);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Delivers pending events in order; one thread at a time, and re-entrant calls leave it to the outer loop.
fn dispatch<T: Kind>(o: &Object<T>, name: &str, injectable: bool) -> Res<()> {
    loop {
        if o.dispatching.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // Another frame (this thread's outer call or another thread) is delivering and will see ours.
            return Ok(());
        }
        {
            let _reset = ResetOnDrop(&o.dispatching);
            loop {
                let (event, ids) = {
                    let mut g = lock(o, name)?;
                    if g.subs.is_empty() {
                        break;
                    }
                    match g.pending.pop_front() {
                        Some(e) => (e, g.subs.iter().map(|s| s.id).collect::<Vec<_>>()),
                        None => break,
                    }
                };
                let text = CString::new(event).map_err(|_| Error::new(FdStatus::FD_ERR_INTERNAL, "event contains a NUL byte"))?;
                for id in ids {
                    // Looked up again each time: a callback may have freed a later subscription.
                    let sub = lock(o, name)?.subs.iter().find(|s| s.id == id).copied();
                    if let Some(s) = sub {
                        if injectable {
                            inject(FdPanicSite::FD_PANIC_CALLBACK);
                        }
                        // SAFETY: the caller registered a valid function and vouched for its user data.
                        unsafe { (s.cb)(s.user_data as *mut c_void, text.as_ptr()) };
                    }
                }
            }
        }
        let g = lock(o, name)?;
        if g.pending.is_empty() || g.subs.is_empty() {
            return Ok(());
        }
    }
}

/// Registers a callback on a handle; returns the subscription's handle value.
pub(crate) fn subscribe<T: Kind>(h: usize, cb: FdEventCallback, user_data: *mut c_void) -> Res<usize> {
    let cb = cb.ok_or_else(|| Error::null("callback"))?;
    let o = lookup::<T>(h)?;
    let id = NEXT_SUB.fetch_add(1, Ordering::Relaxed);
    lock(&o, T::NAME)?.subs.push(Sub { id, cb, user_data: user_data as usize });
    let sh = new_id();
    registry_write().insert(sh, Entry::Subscription { owner: h, id });
    Ok(sh)
}

/// Ends a subscription; NULL is a no-op, a second free is an error.
pub(crate) fn unsubscribe(sh: usize) -> Res<()> {
    if sh == 0 {
        return Ok(());
    }
    let mut reg = registry_write();
    let (owner, id) = match reg.get(&sh) {
        Some(Entry::Subscription { owner, id }) => (*owner, *id),
        Some(e) => {
            return Err(Error::new(FdStatus::FD_ERR_INVALID_HANDLE, format!("handle is a {}, not a subscription", e.kind_name())))
        }
        None => return Err(Error::new(FdStatus::FD_ERR_INVALID_HANDLE, "subscription is already freed or was never created")),
    };
    reg.remove(&sh);
    // The owner may be gone already; then there is nothing left to detach from.
    if let Some(e) = reg.get(&owner) {
        e.remove_sub(id);
    }
    Ok(())
}

/// Where a test asks for a panic, to prove none crosses the boundary.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdPanicSite {
    /// Nothing armed.
    FD_PANIC_NONE = 0,
    /// Inside the next call's core work, while the handle's lock is held (the handle is then poisoned).
    FD_PANIC_CORE = 1,
    /// In the next callback delivery, outside the lock (the handle stays usable).
    FD_PANIC_CALLBACK = 2,
}

static ARMED: AtomicU32 = AtomicU32::new(0);

fn inject(site: FdPanicSite) {
    let s = site as u32;
    if ARMED.load(Ordering::Relaxed) == s && ARMED.compare_exchange(s, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
        panic!("panic injected by fd_debug_inject_panic ({site:?})");
    }
}

/// Arms a one-shot panic at `site` (an `FdPanicSite`), for tests that prove no panic crosses the boundary.
///
/// Process-wide: the next call on any thread that reaches the site panics; the panic is caught and that
/// call returns `FD_ERR_PANIC`. `FD_PANIC_NONE` disarms. Unknown values return `FD_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fd_debug_inject_panic(site: u32) -> FdStatus {
    crate::error::guard(|| {
        if site > FdPanicSite::FD_PANIC_CALLBACK as u32 {
            return Err(Error::invalid(format!("unknown panic site {site}")));
        }
        ARMED.store(site, Ordering::Release);
        Ok(())
    })
}

/// Ends a subscription: its callback is not called again (except a delivery already running on
/// another thread). NULL is a no-op; a freed handle returns `FD_ERR_INVALID_HANDLE`. May be called
/// from inside the callback itself, and before or after the handle it was registered on is freed.
#[no_mangle]
pub extern "C" fn fd_subscription_free(subscription: *mut FdSubscription) -> FdStatus {
    crate::error::guard(|| unsubscribe(subscription as usize))
}

/// A callback registration, returned by the `_subscribe` functions and freed by `fd_subscription_free`.
pub struct FdSubscription {
    _private: (),
}
