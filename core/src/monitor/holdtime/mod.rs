//! Estimated hold time: predictors of how long a client joining (or waiting in) a queue will wait.
//!
//! The monitor feeds every estimator the same observations a real center produces and asks it for a
//! figure whenever it publishes queue status. Rates are learned online with exponential decay so that
//! estimates follow a changing day.

use crate::ids::QueueId;
use crate::medium::Medium;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

/// A queue and medium pair: hold times differ per medium even in one queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    /// Queue.
    pub queue: QueueId,
    /// Medium.
    pub medium: Medium,
}

/// Something the center did that tells about its rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// A client joined the queue.
    Arrival,
    /// A waiting client reached an agent after `waited`.
    ServiceStart {
        /// Time spent waiting.
        waited: Duration,
    },
    /// An agent finished an interaction that took `handled`.
    ServiceEnd {
        /// Handle time.
        handled: Duration,
    },
    /// A waiting client gave up after `waited`.
    Abandon {
        /// Time spent waiting.
        waited: Duration,
    },
}

/// The state of a queue at the moment an estimate is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSnapshot {
    /// Now.
    pub now: Timestamp,
    /// Agents staffed for this queue and medium (s).
    pub servers: u32,
    /// Of those, free right now.
    pub available: u32,
    /// Clients waiting (n).
    pub holding: u32,
    /// How long the client at the head of the line has waited, if any.
    pub head_wait: Option<Duration>,
}

/// A hold-time predictor.
pub trait HoldTimeEstimator: Send {
    /// Short name for reports ("erlang-c", "ql").
    fn name(&self) -> &'static str;
    /// Learns from one observation.
    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation);
    /// Expected wait of a client with `ahead` clients in front of it (a new arrival has `holding` ahead);
    /// `None` when no figure can be given, e.g. nobody staffs the queue.
    fn estimate(&self, key: &QueueKey, snapshot: &QueueSnapshot, ahead: u32) -> Option<Duration>;
}

/// The predictor the monitor uses unless told otherwise.
pub fn default_estimator() -> Box<dyn HoldTimeEstimator> {
    Box::new(QueueLength::new(RateSettings::default()))
}

/// A decayed sum: recent observations weigh more, with weight halving every `half_life`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Decayed {
    value: f64,
    at: Timestamp,
}

impl Decayed {
    /// Decays to `now` and adds `x`.
    pub fn add(&mut self, now: Timestamp, half_life: Duration, x: f64) {
        self.value = self.get(now, half_life) + x;
        self.at = self.at.max(now);
    }

    /// The sum decayed to `now`.
    pub fn get(&self, now: Timestamp, half_life: Duration) -> f64 {
        if self.at == Timestamp(0) && self.value == 0.0 {
            return 0.0;
        }
        let dt = now.since(self.at).as_secs_f64();
        let hl = half_life.as_secs_f64().max(1e-9);
        self.value * (-dt * std::f64::consts::LN_2 / hl).exp()
    }
}

/// Service, abandonment and arrival rates of one queue, learned online.
#[derive(Debug, Clone, Default)]
pub struct LearnedRates {
    services: Decayed,
    handle_secs: Decayed,
    abandons: Decayed,
    exposure_secs: Decayed,
    arrivals: Decayed,
    first_seen: Option<Timestamp>,
    last_entered_service_wait: Option<Duration>,
}

impl LearnedRates {
    /// Folds in one observation.
    pub fn observe(&mut self, now: Timestamp, hl: Duration, obs: Observation) {
        self.first_seen.get_or_insert(now);
        match obs {
            Observation::Arrival => self.arrivals.add(now, hl, 1.0),
            Observation::ServiceStart { waited } => {
                self.exposure_secs.add(now, hl, waited.as_secs_f64());
                self.last_entered_service_wait = Some(waited);
            }
            Observation::ServiceEnd { handled } => {
                self.services.add(now, hl, 1.0);
                self.handle_secs.add(now, hl, handled.as_secs_f64());
            }
            Observation::Abandon { waited } => {
                self.abandons.add(now, hl, 1.0);
                self.exposure_secs.add(now, hl, waited.as_secs_f64());
            }
        }
    }

    /// Service rate per agent (1/s), or `prior` until something was observed.
    pub fn mu(&self, now: Timestamp, hl: Duration, prior: f64) -> f64 {
        let n = self.services.get(now, hl);
        let t = self.handle_secs.get(now, hl);
        // One pseudo-observation of the prior keeps early estimates sane.
        (n + 1.0) / (t + 1.0 / prior)
    }

    /// Abandonment rate per waiting client (1/s); zero until an abandonment is seen.
    pub fn theta(&self, now: Timestamp, hl: Duration) -> f64 {
        let a = self.abandons.get(now, hl);
        let t = self.exposure_secs.get(now, hl);
        if a <= 0.0 || t <= 0.0 {
            0.0
        } else {
            a / t
        }
    }

    /// Arrival rate (1/s) over the decay window.
    pub fn lambda(&self, now: Timestamp, hl: Duration) -> f64 {
        let Some(first) = self.first_seen else { return 0.0 };
        // The decayed count over the decayed length of the window observed so far.
        let elapsed = now.since(first).as_secs_f64();
        let tau = hl.as_secs_f64() / std::f64::consts::LN_2;
        let window = tau * (1.0 - (-elapsed / tau).exp());
        if window <= 0.0 {
            0.0
        } else {
            self.arrivals.get(now, hl) / window
        }
    }

    /// The wait of the last client to enter service (the LES predictor's figure).
    pub fn last_entered_service_wait(&self) -> Option<Duration> {
        self.last_entered_service_wait
    }
}

/// Settings shared by the learned-rate estimators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Half-life of observations.
    pub half_life: Duration,
    /// Mean handle time assumed before any is observed.
    pub prior_handle_time: Duration,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings { half_life: Duration::from_secs(30 * 60), prior_handle_time: Duration::from_secs(300) }
    }
}

/// Keeps `LearnedRates` per queue key.
#[derive(Debug, Clone, Default)]
pub struct RateBook {
    /// Settings.
    pub settings: RateSettings,
    rates: HashMap<QueueKey, LearnedRates>,
}

impl RateBook {
    /// A book with the given settings.
    pub fn new(settings: RateSettings) -> Self {
        RateBook { settings, rates: HashMap::new() }
    }

    /// Records one observation.
    pub fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        let hl = self.settings.half_life;
        self.rates.entry(key.clone()).or_default().observe(now, hl, obs);
    }

    /// Rates of a key, if any were observed.
    pub fn get(&self, key: &QueueKey) -> Option<&LearnedRates> {
        self.rates.get(key)
    }

    /// (μ, θ, λ) per second at `now`.
    pub fn rates(&self, key: &QueueKey, now: Timestamp) -> (f64, f64, f64) {
        let s = &self.settings;
        let prior = 1.0 / s.prior_handle_time.as_secs_f64().max(1e-3);
        match self.rates.get(key) {
            Some(r) => (r.mu(now, s.half_life, prior), r.theta(now, s.half_life), r.lambda(now, s.half_life)),
            None => (prior, 0.0, 0.0),
        }
    }
}

/// Probability that an arrival waits in M/M/s with offered load `a = λ/μ` (Erlang C), stable for large s.
pub fn erlang_c(servers: u32, a: f64) -> f64 {
    let s = servers as f64;
    if servers == 0 || a >= s {
        return 1.0;
    }
    // Erlang B by the recursion B(k) = a·B(k-1) / (k + a·B(k-1)), then C from B.
    let mut b = 1.0;
    for k in 1..=servers {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / s;
    b / (1.0 - rho + rho * b)
}

/// Erlang C: the expected wait of M/M/s with learned λ and μ; the textbook baseline, blind to the live queue.
#[derive(Debug, Clone, Default)]
pub struct ErlangC {
    book: RateBook,
}

impl ErlangC {
    /// With the given learning settings.
    pub fn new(settings: RateSettings) -> Self {
        ErlangC { book: RateBook::new(settings) }
    }
}

impl HoldTimeEstimator for ErlangC {
    fn name(&self) -> &'static str {
        "erlang-c"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, _ahead: u32) -> Option<Duration> {
        if snap.servers == 0 {
            return None;
        }
        let (mu, _, lambda) = self.book.rates(key, snap.now);
        let s = snap.servers as f64;
        if lambda >= s * mu {
            // Unstable in theory; fall back to the queue-length figure rather than infinity.
            return Some(Duration::from_secs_f64((snap.holding as f64 + 1.0) / (s * mu)));
        }
        let c = erlang_c(snap.servers, lambda / mu);
        Some(Duration::from_secs_f64(c / (s * mu - lambda)))
    }
}

/// Queue-length predictor with abandonment (QL_m): Σ_{i=0..n} 1/(sμ + iθ), with μ and θ learned online.
///
/// Without abandonment it is the classic QL, (n+1)/(sμ).
#[derive(Debug, Clone, Default)]
pub struct QueueLength {
    book: RateBook,
}

impl QueueLength {
    /// With the given learning settings.
    pub fn new(settings: RateSettings) -> Self {
        QueueLength { book: RateBook::new(settings) }
    }
}

/// Σ_{i=0..ahead} 1/(sμ + iθ) in seconds; with a free agent and nobody ahead the wait is zero.
pub fn ql_m_secs(servers: u32, available: u32, ahead: u32, mu: f64, theta: f64) -> f64 {
    if available > ahead {
        return 0.0;
    }
    let smu = servers as f64 * mu;
    (0..=ahead).map(|i| 1.0 / (smu + i as f64 * theta)).sum()
}

impl HoldTimeEstimator for QueueLength {
    fn name(&self) -> &'static str {
        "ql-m"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if snap.servers == 0 {
            return None;
        }
        let (mu, theta, _) = self.book.rates(key, snap.now);
        Some(Duration::from_secs_f64(ql_m_secs(snap.servers, snap.available, ahead, mu, theta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QueueKey {
        QueueKey { queue: "q".into(), medium: Medium::Voice }
    }

    #[test]
    fn erlang_c_matches_known_values() {
        // s = 2, a = 1: C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // s = 1 reduces to rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // Large s stays finite and in [0,1].
        let c = erlang_c(1000, 950.0);
        assert!(c > 0.0 && c < 1.0, "{c}");
    }

    #[test]
    fn ql_learns_handle_time_and_uses_queue_length() {
        let mut e = QueueLength::new(RateSettings { half_life: Duration::from_secs(3600), prior_handle_time: Duration::from_secs(300) });
        let k = key();
        // 200 services of 120 s each: μ → 1/120.
        for i in 0..200 {
            e.observe(&k, Timestamp(i * 1000), Observation::ServiceEnd { handled: Duration::from_secs(120) });
        }
        let snap = QueueSnapshot { now: Timestamp(200_000), servers: 4, available: 0, holding: 3, head_wait: None };
        let w = e.estimate(&k, &snap, 3).unwrap().as_secs_f64();
        // (3+1)/(4/120) = 120 s, within the prior's pull.
        assert!((w - 120.0).abs() < 3.0, "{w}");
        let free = QueueSnapshot { available: 1, holding: 0, ..snap };
        assert_eq!(e.estimate(&k, &free, 0), Some(Duration::ZERO));
        let none = QueueSnapshot { servers: 0, ..free };
        assert_eq!(e.estimate(&k, &none, 0), None);
    }

    #[test]
    fn decay_halves_weight_per_half_life() {
        let mut d = Decayed::default();
        d.add(Timestamp(1000), Duration::from_secs(10), 8.0);
        assert!((d.get(Timestamp(11_000), Duration::from_secs(10)) - 4.0).abs() < 1e-9);
    }
}
