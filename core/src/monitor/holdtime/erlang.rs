//! Erlang C: the M/M/s mean wait from learned arrival and service rates; the baseline to beat.

use super::{secs, trivial, HoldTimeEstimator, Observation, QueueKey, QueueSnapshot, RateBook, RateSettings};
use crate::time::Timestamp;
use std::time::Duration;

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
///
/// Whether the client waits at all is read from the snapshot (a free agent means zero), so the figure for a
/// client who must wait is the M/M/s delay given waiting, 1/(sμ−λ) = E[W]/C(s, λ/μ). When the learned load
/// is at or above capacity M/M/s has no steady state; rather than infinity it then falls back to
/// (n+1)/(sμ), which flatters the baseline in overload.
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

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if let Some(t) = trivial(snap, ahead) {
            return t;
        }
        let (mu, _, lambda) = self.book.rates(key, snap.now);
        let smu = snap.servers as f64 * mu;
        if lambda >= smu {
            return Some(secs((snap.holding as f64 + 1.0) / smu));
        }
        Some(secs(1.0 / (smu - lambda)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medium::Medium;

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
    fn erlang_c_uses_learned_lambda_and_mu_not_the_queue() {
        let settings = RateSettings { half_life: Duration::from_secs(1_000_000), prior_handle_time: Duration::from_secs(100) };
        let mut e = ErlangC::new(settings);
        let k = QueueKey { queue: "q".into(), medium: Medium::Chat };
        let t0 = 1_000_000u64;
        // λ = 1 per 20 s over 2000 s, handle time exactly 100 s: a = 5 on s = 10 agents.
        for i in 0..100u64 {
            e.observe(&k, Timestamp(t0 + i * 20_000), Observation::Arrival);
            e.observe(&k, Timestamp(t0 + i * 20_000), Observation::ServiceEnd { handled: Duration::from_secs(100) });
        }
        let now = Timestamp(t0 + 2_000_000);
        let snap = QueueSnapshot { now, servers: 10, available: 0, holding: 7, head_wait: Some(Duration::from_secs(30)) };
        let w = e.estimate(&k, &snap, 7).unwrap().as_secs_f64();
        // 1/(sμ-λ) = 1/(0.1-0.05) = 20 s, whatever the queue length.
        assert!((w - 20.0).abs() < 0.5, "{w}");
        let longer = QueueSnapshot { holding: 70, ..snap.clone() };
        assert_eq!(e.estimate(&k, &longer, 70).unwrap().as_secs_f64().round(), w.round());
        // Overload (s = 4 < a = 5) falls back to (n+1)/(sμ) = 8/0.04 = 200 s.
        let small = QueueSnapshot { servers: 4, ..snap };
        let w = e.estimate(&k, &small, 7).unwrap().as_secs_f64();
        assert!((w - 200.0).abs() < 2.0, "{w}");
    }
}
