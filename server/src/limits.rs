//! What one stranger may make the server hold, shared by every listener: rate buckets per principal,
//! connections per principal, unauthenticated connections per address, and accept loops that survive
//! a full descriptor table (they back off and shed the oldest unauthenticated connections).

use frontdesk_core::principal::Principal;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key limits are counted under: the principal, not the token (a re-issued token shares it).
pub fn principal_key(p: &Principal) -> String {
    match p {
        Principal::Client(c) => format!("client:{c}"),
        Principal::Agent(a, _) => format!("agent:{a}"),
        Principal::Service(s) => format!("service:{s}"),
    }
}

/// Token bucket: `rate` per second, up to `burst` at once.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = burst.max(1) as f64;
        Bucket { tokens: burst, rate: rate as f64, burst, at: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_n(1.0)
    }

    /// Takes `n` tokens if there are that many.
    pub fn take_n(&mut self, n: f64) -> bool {
        self.refill(Instant::now());
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    fn has(&mut self, n: f64) -> bool {
        self.refill(Instant::now());
        self.tokens >= n
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// Rate buckets per principal, in messages and in bytes: reconnecting does not refill them.
#[derive(Debug)]
pub struct RateLimits {
    rate: u32,
    burst: u32,
    bytes_rate: u32,
    bytes_burst: u32,
    buckets: Mutex<(HashMap<String, RateHandle>, usize)>,
}

/// One principal's buckets; a connection holds it, so each message locks only its own principal's
/// buckets, not the table of all of them.
#[derive(Debug, Clone)]
pub struct RateHandle(Arc<Mutex<(Bucket, Bucket)>>);

impl RateHandle {
    /// Takes one message of `len` bytes (from neither bucket if either lacks it).
    pub fn take(&self, len: usize) -> bool {
        let mut g = lock(&self.0);
        let (msgs, bytes) = &mut *g;
        if msgs.has(1.0) && bytes.has(len as f64) {
            msgs.take_n(1.0) && bytes.take_n(len as f64)
        } else {
            false
        }
    }
}

/// Buckets kept before the full ones (principals idle long enough to have refilled) are dropped.
const PRUNE_AT: usize = 4096;

impl RateLimits {
    /// `rate` messages per second, `burst` at once; `bytes_rate` bytes per second, `bytes_burst` at
    /// once; per principal.
    pub fn new(rate: u32, burst: u32, bytes_rate: u32, bytes_burst: u32) -> Self {
        RateLimits { rate, burst, bytes_rate, bytes_burst, buckets: Mutex::new((HashMap::new(), PRUNE_AT)) }
    }

    /// The buckets of `key`, made on first use.
    pub fn handle(&self, key: &str) -> RateHandle {
        let mut g = lock(&self.buckets);
        let (m, prune_at) = &mut *g;
        if let Some(h) = m.get(key) {
            return h.clone();
        }
        if m.len() >= *prune_at {
            // Only buckets no connection holds and that have refilled are forgotten: forgetting them
            // gives their principal nothing it would not have had anyway.
            let now = Instant::now();
            m.retain(|_, h| Arc::strong_count(&h.0) > 1 || !lock(&h.0).0.is_full(now) || !lock(&h.0).1.is_full(now));
            // Next time only after the table has doubled, so pruning stays linear in all.
            *prune_at = (2 * m.len()).max(PRUNE_AT);
        }
        let h = RateHandle(Arc::new(Mutex::new((Bucket::new(self.rate, self.burst), Bucket::new(self.bytes_rate, self.bytes_burst)))));
        m.insert(key.to_string(), h.clone());
        h
    }

    /// Takes one message of `len` bytes from `key`'s buckets (from neither if either lacks it).
    pub fn take(&self, key: &str, len: usize) -> bool {
        self.handle(key).take(len)
    }
}

/// A counted slot; released when dropped.
#[derive(Debug)]
pub struct Slot<K: std::hash::Hash + Eq + Clone> {
    cap: Arc<Cap<K>>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut m = lock(&self.cap.held);
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// At most `max` slots held per key at once.
#[derive(Debug)]
pub struct Cap<K> {
    max: usize,
    held: Mutex<HashMap<K, usize>>,
}

impl<K: std::hash::Hash + Eq + Clone> Cap<K> {
    /// A cap of `max` per key.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Cap { max, held: Mutex::default() })
    }

    /// A slot for `key`, or `None` when `key` holds `max` already.
    pub fn acquire(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut m = lock(&self.held);
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot { cap: self.clone(), key })
    }

    /// Slots held under `key`.
    pub fn held(&self, key: &K) -> usize {
        lock(&self.held).get(key).copied().unwrap_or(0)
    }
}

/// Connections one principal holds, over every endpoint (`/client`, `/agent`, XMPP).
pub type SessionCap = Cap<String>;
/// Connections one address holds before they authenticate.
pub type AddrCap = Cap<IpAddr>;
/// A connection not yet authenticated, counted against its address.
pub type AddrSlot = Slot<IpAddr>;
/// A connection of an authenticated principal.
pub type SessionSlot = Slot<String>;

/// How long an accept loop waits after an error: long enough not to spin while the descriptor table
/// is full (the pending connection stays in the backlog and the next accept fails at once), short
/// enough to serve again soon after descriptors come back.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Fewest unauthenticated connections shed per accept that fails on a full descriptor table (1 % of
/// them when there are more): enough descriptors for what one backoff lets in, few enough that a
/// brief shortage costs honest strangers little.
pub const SHED_BATCH: usize = 16;

/// Accept failures this far apart are separate bursts, each logged once.
const BURST_QUIET: Duration = Duration::from_secs(2);

/// `errno` for a full table of the process (EMFILE) or of the system (ENFILE): the same numbers on
/// Linux, the BSDs and macOS, and std names neither.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

const PENDING: u8 = 0;
const SHED: u8 = 1;
const DONE: u8 = 2;

/// What became of one listed connection. It changes only under the registry's lock, so shedding and
/// authenticating cannot both win.
#[derive(Debug)]
struct Fate {
    state: AtomicU8,
    notify: Notify,
}

/// Why an unauthenticated connection was closed by the server rather than by its peer or a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shed: the descriptor table was full and this was among the oldest unauthenticated connections")]
pub struct Shed;

/// Connections accepted and not yet authenticated, oldest first, shared by every listener because
/// they share one descriptor table: when it is full, the oldest are closed so that newer ones (an
/// honest client behind a stranger's stalled sockets) get a descriptor. Authenticated sessions are
/// never listed, so never shed.
#[derive(Debug, Default)]
pub struct UnauthRegistry {
    /// The next accept number, and the listed connections by accept number.
    inner: Mutex<(u64, BTreeMap<u64, Arc<Fate>>)>,
    shed: AtomicU64,
}

impl UnauthRegistry {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Lists a connection just accepted; it leaves the list when it authenticates or closes.
    pub fn register(self: &Arc<Self>, slot: AddrSlot) -> UnauthConn {
        let fate = Arc::new(Fate { state: AtomicU8::new(PENDING), notify: Notify::new() });
        let mut g = lock(&self.inner);
        let (next, listed) = &mut *g;
        let id = *next;
        *next += 1;
        listed.insert(id, fate.clone());
        UnauthConn { _slot: slot, registry: self.clone(), id, fate: ShedSignal(fate) }
    }

    /// Closes the `n` oldest unauthenticated connections (their tasks drop their sockets); returns how
    /// many were shed.
    pub fn shed_oldest(&self, n: usize) -> usize {
        let shed: Vec<Arc<Fate>> = {
            let mut g = lock(&self.inner);
            let listed = &mut g.1;
            let mut v = Vec::with_capacity(n.min(listed.len()));
            while v.len() < n {
                let Some((_, f)) = listed.pop_first() else { break };
                f.state.store(SHED, Ordering::Release);
                v.push(f);
            }
            v
        };
        for f in &shed {
            f.notify.notify_waiters();
        }
        self.shed.fetch_add(shed.len() as u64, Ordering::Relaxed);
        shed.len()
    }

    /// Connections listed now.
    pub fn len(&self) -> usize {
        lock(&self.inner).1.len()
    }

    /// Whether no connection waits to authenticate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections shed since the start: what descriptor shortages have cost strangers.
    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Takes `id` off the list unless it was shed; `true` if it was still listed.
    fn leave(&self, id: u64, fate: &Fate) -> bool {
        let listed = lock(&self.inner).1.remove(&id).is_some();
        if listed {
            fate.state.store(DONE, Ordering::Release);
        }
        listed
    }
}

/// A connection not yet authenticated: counted against its address and listed for shedding until it
/// authenticates ([`UnauthConn::authenticate`]) or closes (drops this).
#[derive(Debug)]
pub struct UnauthConn {
    _slot: AddrSlot,
    registry: Arc<UnauthRegistry>,
    id: u64,
    fate: ShedSignal,
}

impl UnauthConn {
    /// The signal that this connection was shed, for code that outlives this guard's borrow.
    pub fn signal(&self) -> ShedSignal {
        self.fate.clone()
    }

    /// Runs `fut` unless the connection is shed first (then `fut` is dropped): for steps that hold
    /// nothing but the socket, such as a handshake.
    pub async fn or_shed<F: Future>(&self, fut: F) -> Result<F::Output, Shed> {
        self.fate.guard(fut).await
    }

    /// Leaves the list and the address's count as authenticated, so it is never shed; `Err` if it was
    /// shed first, and then the connection must close rather than become a session.
    pub fn authenticate(self) -> Result<(), Shed> {
        if self.registry.leave(self.id, &self.fate.0) {
            Ok(())
        } else {
            Err(Shed)
        }
    }
}

impl Drop for UnauthConn {
    fn drop(&mut self) {
        self.registry.leave(self.id, &self.fate.0);
    }
}

/// Fires when its connection is shed, and never once it has authenticated or closed.
#[derive(Debug, Clone)]
pub struct ShedSignal(Arc<Fate>);

impl ShedSignal {
    /// Waits until the connection held in `s` is shed; for ever once `s` is `None` (authenticated:
    /// the session then no longer holds its entry of the list).
    pub async fn shed_of(s: &Option<ShedSignal>) {
        match s {
            Some(s) => s.shed().await,
            None => std::future::pending().await,
        }
    }

    /// Waits until the connection is shed (for ever if it never is).
    pub async fn shed(&self) {
        loop {
            // Registered before the state is read, so a shed between the two is not missed.
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.state.load(Ordering::Acquire) == SHED {
                return;
            }
            notified.await;
        }
    }

    /// Runs `fut`, dropping it if the connection is shed first. Safe around a whole connection that
    /// authenticates with [`UnauthConn::authenticate`]: once that succeeded this never fires, so no
    /// session is dropped half-way.
    pub async fn guard<F: Future>(&self, fut: F) -> Result<F::Output, Shed> {
        tokio::select! {
            biased;
            out = fut => Ok(out),
            () = self.shed() => Err(Shed),
        }
    }
}

/// Accept failures close together, logged as one.
struct Burst {
    start: Instant,
    last: Instant,
    shed: usize,
}

impl Burst {
    fn report(self, name: &str, registry: &UnauthRegistry) {
        tracing::info!(
            "{name}: accepting again after {:.1} s of failures; {} unauthenticated connections shed meanwhile ({} since start)",
            self.last.duration_since(self.start).as_secs_f64(),
            self.shed,
            registry.shed_total()
        );
    }
}

/// Accepts for ever: an error never ends the loop; on any accept error it backs off instead of
/// spinning, and on a full descriptor table (EMFILE/ENFILE) it first sheds the oldest unauthenticated
/// connections, so the backlog (where honest clients wait too) moves. A connection from an address
/// over its cap of unauthenticated connections is closed at once. Every accepted socket has
/// `TCP_NODELAY` set (the main and the XMPP listener both come through here).
pub async fn accept_loop(
    listener: TcpListener,
    name: &'static str,
    unauth: Arc<AddrCap>,
    registry: Arc<UnauthRegistry>,
    mut on: impl FnMut(TcpStream, SocketAddr, UnauthConn),
) {
    let mut burst: Option<Burst> = None;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Both listeners are interactive and write in small pieces (a sync is several frames; a
                // stream header is followed by its features): Nagle's algorithm would hold the second
                // until the peer's delayed ACK, about 40 ms each time (88 ms per STARTTLS login).
                let _ = stream.set_nodelay(true);
                if burst.as_ref().is_some_and(|b| b.last.elapsed() >= BURST_QUIET) {
                    burst.take().expect("checked").report(name, &registry);
                }
                match unauth.acquire(peer.ip()) {
                    Some(slot) => on(stream, peer, registry.register(slot)),
                    None => {
                        tracing::debug!(%peer, "{name}: too many unauthenticated connections from this address");
                        drop(stream);
                    }
                }
            }
            // The peer gave up before it was accepted: nothing to wait for.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) => {}
            Err(e) => {
                let now = Instant::now();
                let full = matches!(e.raw_os_error(), Some(EMFILE | ENFILE));
                // Backing off alone frees nothing while strangers hold the table: their stalled sockets
                // would keep it full until their timeouts, and honest clients queue behind them.
                let shed = if full { registry.shed_oldest(SHED_BATCH.max(registry.len() / 100)) } else { 0 };
                match &mut burst {
                    Some(b) if now.duration_since(b.last) < BURST_QUIET => {
                        b.last = now;
                        b.shed += shed;
                    }
                    _ => {
                        if let Some(b) = burst.take() {
                            b.report(name, &registry);
                        }
                        if full {
                            tracing::warn!("{name}: accept failed ({e}); backing off and shedding the oldest unauthenticated connections ({shed} now)");
                        } else {
                            tracing::warn!("{name}: accept failed ({e}); backing off");
                        }
                        burst = Some(Burst { start: now, last: now, shed });
                    }
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(reg: &Arc<UnauthRegistry>, cap: &Arc<AddrCap>) -> UnauthConn {
        reg.register(cap.acquire("127.0.0.1".parse().unwrap()).unwrap())
    }

    #[tokio::test]
    async fn the_oldest_are_shed_and_authenticated_ones_never() {
        let (reg, cap) = (UnauthRegistry::new(), AddrCap::new(100));
        let conns: Vec<UnauthConn> = (0..5).map(|_| conn(&reg, &cap)).collect();
        let signals: Vec<ShedSignal> = conns.iter().map(|c| c.signal()).collect();
        let mut conns = conns.into_iter();
        // The oldest authenticates: it is no longer a candidate.
        assert_eq!(conns.next().unwrap().authenticate(), Ok(()));
        let rest: Vec<UnauthConn> = conns.collect();
        assert_eq!(reg.shed_oldest(2), 2);
        assert_eq!(reg.shed_total(), 2);
        assert_eq!(reg.len(), 2);
        let fired = |s: &ShedSignal| s.0.state.load(Ordering::Acquire) == SHED;
        assert_eq!(signals.iter().map(fired).collect::<Vec<_>>(), [false, true, true, false, false]);
        tokio::time::timeout(Duration::from_secs(1), signals[1].shed()).await.expect("a shed connection is told");
        assert!(tokio::time::timeout(Duration::from_millis(50), signals[0].shed()).await.is_err());
        // Shed first, it may not become a session.
        let mut rest = rest.into_iter();
        assert_eq!(rest.next().unwrap().authenticate(), Err(Shed));
        // Closing leaves the list and frees the address's count.
        drop(rest);
        assert!(reg.is_empty());
        assert_eq!(cap.held(&"127.0.0.1".parse().unwrap()), 0);
        assert_eq!(reg.shed_oldest(16), 0);
    }

    #[tokio::test]
    async fn guard_drops_the_future_only_when_shed() {
        let (reg, cap) = (UnauthRegistry::new(), AddrCap::new(100));
        let c = conn(&reg, &cap);
        assert_eq!(c.or_shed(async { 7 }).await, Ok(7));
        let sig = c.signal();
        let waiting = tokio::spawn(async move { sig.guard(futures::future::pending::<()>()).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        reg.shed_oldest(1);
        assert_eq!(tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap(), Err(Shed));
    }

    /// Timing Nagle's stall in a test would be flaky on a shared machine; the option itself is not.
    #[tokio::test]
    async fn every_accepted_socket_has_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let accepting = tokio::spawn(accept_loop(listener, "test", AddrCap::new(100), UnauthRegistry::new(), move |stream, _, _| {
            let _ = tx.send(stream.nodelay().unwrap());
        }));
        let _client = TcpStream::connect(addr).await.unwrap();
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap(), Some(true));
        accepting.abort();
    }
}
