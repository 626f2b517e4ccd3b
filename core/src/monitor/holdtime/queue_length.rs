//! Queue-length predictors QL and QL_m: the live queue and learned service and abandonment rates.

use super::{secs, trivial, HoldTimeEstimator, Observation, QueueKey, QueueSnapshot, RateBook, RateSettings};
use crate::time::Timestamp;
use std::time::Duration;

/// Σ_{i=0..ahead} 1/(sμ + iθ) in seconds; with a free agent and nobody ahead the wait is zero.
///
/// A client with `ahead` clients in front moves up one place at rate sμ + iθ while i are still in front
/// (all s agents busy, each of the i may give up), so this is its exact mean wait in M/M/s+M.
pub fn ql_m_secs(servers: u32, available: u32, ahead: u32, mu: f64, theta: f64) -> f64 {
    if available > ahead {
        return 0.0;
    }
    let smu = servers as f64 * mu;
    if theta <= 0.0 {
        return (ahead as f64 + 1.0) / smu;
    }
    (0..=ahead).map(|i| 1.0 / (smu + i as f64 * theta)).sum()
}

/// Queue-length predictor with abandonment (QL_m): Σ_{i=0..n} 1/(sμ + iθ), with μ and θ learned online.
///
/// Built with [`QueueLength::without_abandonment`] it is the classic QL, (n+1)/(sμ), which ignores that
/// clients ahead may hang up and so overestimates in queues with abandonment.
#[derive(Debug, Clone, Default)]
pub struct QueueLength {
    book: RateBook,
    ignore_abandonment: bool,
}

impl QueueLength {
    /// QL_m with the given learning settings.
    pub fn new(settings: RateSettings) -> Self {
        QueueLength { book: RateBook::new(settings), ignore_abandonment: false }
    }

    /// Plain QL, (n+1)/(sμ), with the given learning settings.
    pub fn without_abandonment(settings: RateSettings) -> Self {
        QueueLength { book: RateBook::new(settings), ignore_abandonment: true }
    }
}

impl HoldTimeEstimator for QueueLength {
    fn name(&self) -> &'static str {
        if self.ignore_abandonment {
            "ql"
        } else {
            "ql-m"
        }
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if let Some(t) = trivial(snap, ahead) {
            return t;
        }
        let (mu, theta, _) = self.book.rates(key, snap.now);
        let theta = if self.ignore_abandonment { 0.0 } else { theta };
        Some(secs(ql_m_secs(snap.servers, snap.available, ahead, mu, theta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medium::Medium;

    fn key() -> QueueKey {
        QueueKey { queue: "q".into(), medium: Medium::Voice }
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
    fn ql_m_counts_abandonment_ahead_and_ql_does_not() {
        let settings = RateSettings { half_life: Duration::from_secs(1_000_000), prior_handle_time: Duration::from_secs(100) };
        let mut m = QueueLength::new(settings);
        let mut q = QueueLength::without_abandonment(settings);
        let k = key();
        let now = Timestamp(1_000_000);
        // μ = 1/100 exactly (the prior agrees); θ = 4 abandons over 400 s of waiting = 1/100.
        let obs = [
            Observation::ServiceEnd { handled: Duration::from_secs(100) },
            Observation::Abandon { waited: Duration::from_secs(100) },
            Observation::Abandon { waited: Duration::from_secs(100) },
            Observation::Abandon { waited: Duration::from_secs(100) },
            Observation::Abandon { waited: Duration::from_secs(100) },
        ];
        for o in obs {
            m.observe(&k, now, o);
            q.observe(&k, now, o);
        }
        let snap = QueueSnapshot { now, servers: 2, available: 0, holding: 2, head_wait: Some(Duration::from_secs(10)) };
        // sμ = 0.02, θ = 0.01: 1/0.02 + 1/0.03 + 1/0.04 = 50 + 33.3 + 25 = 108.3 s.
        let w = m.estimate(&k, &snap, 2).unwrap().as_secs_f64();
        assert!((w - 108.333).abs() < 0.01, "{w}");
        assert!((q.estimate(&k, &snap, 2).unwrap().as_secs_f64() - 150.0).abs() < 0.01);
        // A client already second in line (one ahead): 50 + 33.3.
        let w1 = m.estimate(&k, &snap, 1).unwrap().as_secs_f64();
        assert!((w1 - 83.333).abs() < 0.01, "{w1}");
        assert_eq!((m.name(), q.name()), ("ql-m", "ql"));
    }

    #[test]
    fn ql_m_secs_closed_forms() {
        assert_eq!(ql_m_secs(3, 1, 0, 0.1, 0.5), 0.0);
        assert!((ql_m_secs(3, 0, 4, 0.1, 0.0) - 5.0 / 0.3).abs() < 1e-12);
        assert!((ql_m_secs(1, 0, 1, 1.0, 1.0) - 1.5).abs() < 1e-12);
    }
}
