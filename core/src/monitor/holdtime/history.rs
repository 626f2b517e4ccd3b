//! Delay-history predictors: HOL (the head of the line's elapsed wait) and LES (the last delayed client's wait).
//!
//! They need no rate model, which makes them robust when handle times or patience are not exponential;
//! they are noisier than QL_m where its model holds.

use super::{secs, trivial, HoldTimeEstimator, Observation, QueueKey, QueueSnapshot, RateBook, RateSettings};
use crate::time::Timestamp;
use std::time::Duration;

/// A delay figure for a new arrival, scaled down for a client already waiting `ahead` places from the head:
/// the newcomer would have `holding` ahead, and the wait grows about linearly with the places to go.
fn scaled(figure: f64, snap: &QueueSnapshot, ahead: u32) -> f64 {
    if ahead >= snap.holding {
        figure
    } else {
        figure * (ahead as f64 + 1.0) / (snap.holding as f64 + 1.0)
    }
}

/// QL's (n+1)/(sμ): what the history predictors say when there is no history to go on.
fn fallback(book: &RateBook, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> f64 {
    let (mu, _, _) = book.rates(key, snap.now);
    (ahead as f64 + 1.0) / (snap.servers as f64 * mu)
}

/// HOL seconds: the head's elapsed wait, or QL's figure when nobody waits yet.
pub(super) fn hol_secs(book: &RateBook, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> f64 {
    match snap.head_wait {
        Some(h) if snap.holding > 0 => scaled(h.as_secs_f64(), snap, ahead),
        _ => fallback(book, key, snap, ahead),
    }
}

/// LES seconds: the last delayed client's wait, or QL's figure before any client was delayed.
pub(super) fn les_secs(book: &RateBook, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> f64 {
    match book.get(key).and_then(|r| r.last_entered_service_wait()) {
        Some(w) => scaled(w.as_secs_f64(), snap, ahead),
        None => fallback(book, key, snap, ahead),
    }
}

/// HOL: a newcomer will wait about as long as the client now at the head of the line has waited so far.
#[derive(Debug, Clone, Default)]
pub struct HeadOfLine {
    book: RateBook,
}

impl HeadOfLine {
    /// With the given learning settings (μ is learned only for the empty-queue fallback).
    pub fn new(settings: RateSettings) -> Self {
        HeadOfLine { book: RateBook::new(settings) }
    }
}

impl HoldTimeEstimator for HeadOfLine {
    fn name(&self) -> &'static str {
        "hol"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if let Some(t) = trivial(snap, ahead) {
            return t;
        }
        Some(secs(hol_secs(&self.book, key, snap, ahead)))
    }
}

/// LES: a newcomer will wait about as long as the last client who had to wait before an agent took it.
#[derive(Debug, Clone, Default)]
pub struct LastEnteredService {
    book: RateBook,
}

impl LastEnteredService {
    /// With the given learning settings (μ is learned only for the no-history fallback).
    pub fn new(settings: RateSettings) -> Self {
        LastEnteredService { book: RateBook::new(settings) }
    }
}

impl HoldTimeEstimator for LastEnteredService {
    fn name(&self) -> &'static str {
        "les"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if let Some(t) = trivial(snap, ahead) {
            return t;
        }
        Some(secs(les_secs(&self.book, key, snap, ahead)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medium::Medium;

    fn key() -> QueueKey {
        QueueKey { queue: "q".into(), medium: Medium::Chat }
    }

    fn settings() -> RateSettings {
        RateSettings { half_life: Duration::from_secs(3600), prior_handle_time: Duration::from_secs(60) }
    }

    #[test]
    fn hol_is_the_head_elapsed_wait_and_scales_for_waiting_clients() {
        let e = HeadOfLine::new(settings());
        let k = key();
        let snap = QueueSnapshot { now: Timestamp(50_000), servers: 2, available: 0, holding: 3, head_wait: Some(Duration::from_secs(40)) };
        assert_eq!(e.estimate(&k, &snap, 3), Some(Duration::from_secs(40)));
        // The second in line (one ahead) has 2 of the newcomer's 4 places to go.
        assert_eq!(e.estimate(&k, &snap, 1), Some(Duration::from_secs(20)));
        // Empty queue, all busy: QL's 1/(sμ) with the prior μ = 1/60 → 30 s.
        let empty = QueueSnapshot { holding: 0, head_wait: None, ..snap };
        assert_eq!(e.estimate(&k, &empty, 0), Some(Duration::from_secs(30)));
        assert_eq!(e.name(), "hol");
    }

    #[test]
    fn les_remembers_the_last_delayed_client_only() {
        let mut e = LastEnteredService::new(settings());
        let k = key();
        let other = QueueKey { queue: "q".into(), medium: Medium::Voice };
        let snap = QueueSnapshot { now: Timestamp(90_000), servers: 1, available: 0, holding: 1, head_wait: Some(Duration::from_secs(5)) };
        // No history: (1+1)/(1/60) = 120 s.
        assert_eq!(e.estimate(&k, &snap, 1), Some(Duration::from_secs(120)));
        e.observe(&k, Timestamp(10_000), Observation::Arrival);
        e.observe(&k, Timestamp(20_000), Observation::ServiceStart { waited: Duration::from_secs(10) });
        e.observe(&k, Timestamp(30_000), Observation::Arrival);
        e.observe(&k, Timestamp(77_000), Observation::ServiceStart { waited: Duration::from_secs(47) });
        e.observe(&k, Timestamp(80_000), Observation::ServiceStart { waited: Duration::ZERO });
        // Another medium of the same queue learns separately.
        e.observe(&other, Timestamp(81_000), Observation::ServiceStart { waited: Duration::from_secs(999) });
        assert_eq!(e.estimate(&k, &snap, 1), Some(Duration::from_secs(47)));
        assert_eq!(e.estimate(&k, &snap, 0), Some(Duration::from_millis(23_500)));
        assert_eq!(e.name(), "les");
    }
}
