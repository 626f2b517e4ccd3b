//! Estimated hold time: predictors of how long a client joining (or waiting in) a queue will wait.
//!
//! The monitor feeds every estimator the same observations a real center produces and asks it for a
//! figure whenever it publishes queue status. Rates are learned online with exponential decay so that
//! estimates follow a changing day.
//!
//! Predictors (one module each), after Ibrahim & Whitt, "Real-time delay estimation based on delay
//! history" (2009) and "... in overloaded multiserver queues with abandonments" (2009):
//! - [`ErlangC`]: the M/M/s mean wait from learned λ and μ; the textbook baseline, blind to the live queue;
//! - [`QueueLength`]: QL, (n+1)/(sμ), and QL_m, Σ_{i=0..n} 1/(sμ+iθ), the conditional mean in M/M/s+M;
//! - [`HeadOfLine`] (HOL) and [`LastEnteredService`] (LES): delay-history predictors that need no rates;
//! - [`Adaptive`]: the default; scores the others on clients whose delay became known and blends them.
//!
//! `frontdesk-sim` measures them all; see `docs/holdtime.md`.

mod adaptive;
mod erlang;
mod history;
mod queue_length;

pub use adaptive::{Adaptive, AdaptiveSettings, CANDIDATE_NAMES};
pub use erlang::{erlang_c, ErlangC};
pub use history::{HeadOfLine, LastEnteredService};
pub use queue_length::{ql_m_secs, QueueLength};

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

/// The predictor the monitor uses unless told otherwise: the adaptive blend, the most accurate in `frontdesk-sim`.
pub fn default_estimator() -> Box<dyn HoldTimeEstimator> {
    Box::new(Adaptive::new(AdaptiveSettings::default()))
}

/// Every predictor of this module with default settings, for comparisons (the simulator, diagnostics).
pub fn all_estimators() -> Vec<Box<dyn HoldTimeEstimator>> {
    let s = RateSettings::default();
    vec![
        Box::new(ErlangC::new(s)),
        Box::new(QueueLength::without_abandonment(s)),
        Box::new(QueueLength::new(s)),
        Box::new(HeadOfLine::new(s)),
        Box::new(LastEnteredService::new(s)),
        Box::new(Adaptive::new(AdaptiveSettings::default())),
    ]
}

/// The figure every predictor gives when a free agent will take the client at once, or `None` when
/// nobody staffs the queue; `Some(None)` means "no shortcut, predict".
fn trivial(snap: &QueueSnapshot, ahead: u32) -> Option<Option<Duration>> {
    if snap.servers == 0 {
        Some(None)
    } else if snap.available > ahead {
        Some(Some(Duration::ZERO))
    } else {
        None
    }
}

/// Seconds to a `Duration`, clamping the nonsense (NaN, negative, absurdly large) that bad rates could give.
fn secs(x: f64) -> Duration {
    if x.is_finite() && x > 0.0 {
        Duration::from_secs_f64(x.min(1e9))
    } else {
        Duration::ZERO
    }
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
                // Clients answered at once say nothing about the queue, so LES remembers delayed ones only.
                if !waited.is_zero() {
                    self.last_entered_service_wait = Some(waited);
                }
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

    /// The wait of the last delayed client to enter service (the LES predictor's figure).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_weight_per_half_life() {
        let mut d = Decayed::default();
        d.add(Timestamp(1000), Duration::from_secs(10), 8.0);
        assert!((d.get(Timestamp(11_000), Duration::from_secs(10)) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn rates_learn_mu_theta_lambda() {
        let hl = Duration::from_secs(1_000_000);
        let mut r = LearnedRates::default();
        // One arrival a second for 1000 s; 500 services of 100 s; 10 abandons over 1000 s of waiting.
        for i in 0..1000u64 {
            r.observe(Timestamp(1_000_000 + i * 1000), hl, Observation::Arrival);
        }
        let now = Timestamp(1_000_000 + 1000 * 1000);
        for _ in 0..500 {
            r.observe(now, hl, Observation::ServiceEnd { handled: Duration::from_secs(100) });
        }
        for _ in 0..10 {
            r.observe(now, hl, Observation::Abandon { waited: Duration::from_secs(50) });
            r.observe(now, hl, Observation::ServiceStart { waited: Duration::from_secs(50) });
        }
        assert!((r.mu(now, hl, 1.0 / 300.0) - 0.01).abs() < 1e-4);
        assert!((r.theta(now, hl) - 10.0 / 1000.0).abs() < 1e-9);
        assert!((r.lambda(now, hl) - 1.0).abs() < 0.01, "{}", r.lambda(now, hl));
        assert_eq!(r.last_entered_service_wait(), Some(Duration::from_secs(50)));
        r.observe(now, hl, Observation::ServiceStart { waited: Duration::ZERO });
        assert_eq!(r.last_entered_service_wait(), Some(Duration::from_secs(50)), "immediate answers are not delays");
    }

    #[test]
    fn every_predictor_says_zero_with_a_free_agent_and_none_without_staff() {
        let k = QueueKey { queue: "q".into(), medium: Medium::Voice };
        let snap = QueueSnapshot { now: Timestamp(5_000), servers: 3, available: 1, holding: 0, head_wait: None };
        for e in all_estimators() {
            assert_eq!(e.estimate(&k, &snap, 0), Some(Duration::ZERO), "{}", e.name());
            let none = QueueSnapshot { servers: 0, available: 0, ..snap.clone() };
            assert_eq!(e.estimate(&k, &none, 0), None, "{}", e.name());
        }
        assert_eq!(default_estimator().name(), "adaptive");
    }
}
