//! What one stranger may make the server hold, shared by every listener: rate buckets per principal,
//! connections per principal, unauthenticated connections per address, and accept loops that survive
//! a full descriptor table.

use frontdesk_core::principal::Principal;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

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

/// Accepts for ever: an error never ends the loop; on EMFILE/ENFILE (or any other accept error) it
/// backs off instead of spinning. A connection from an address over its cap of unauthenticated
/// connections is closed at once.
pub async fn accept_loop(listener: TcpListener, name: &'static str, unauth: Arc<AddrCap>, mut on: impl FnMut(TcpStream, SocketAddr, AddrSlot)) {
    let mut failing = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                failing = false;
                match unauth.acquire(peer.ip()) {
                    Some(slot) => on(stream, peer, slot),
                    None => {
                        tracing::debug!(%peer, "{name}: too many unauthenticated connections from this address");
                        drop(stream);
                    }
                }
            }
            // The peer gave up before it was accepted: nothing to wait for.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!("{name}: accept failed ({e}); backing off");
                    failing = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
