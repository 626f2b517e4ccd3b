//! The adaptive default: scores the other predictors on clients whose delay became known, and blends them.
//!
//! The estimator keeps, per queue key, the arrival time of every waiting client and what each candidate
//! predicted for it on arrival. Candidates are QL_m with rates learned over a short half-life (follows a
//! changing day) and over a long one (less noise when the day is steady), QL_m calibrated by the observed
//! ratio of delays to predictions (absorbs model error such as shared agents or wrap-up time), HOL and LES. When the client reaches an agent the realised delay scores every candidate;
//! answers weight the candidates by recent squared error, so the blend follows whichever is right for this
//! queue now (QL_m in a Markovian queue, HOL or LES when handle times or patience are far from exponential).
//!
//! Clients who abandon never show their full delay, and those served are biased towards short delays. Scores
//! therefore weight each served client by 1/P(it would not have abandoned) = e^{θw} (inverse probability
//! weighting with the learned θ), which removes that bias for exponential patience.

use super::history::{hol_secs, les_secs};
use super::queue_length::ql_m_secs;
use super::{secs, trivial, Decayed, HoldTimeEstimator, Observation, QueueKey, QueueSnapshot, RateBook, RateSettings};
use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Number of candidates the adaptive estimator blends.
const CANDIDATES: usize = 5;

/// Names of the candidates, in the order of [`Adaptive::weights`].
pub const CANDIDATE_NAMES: [&str; CANDIDATES] = ["ql-m", "ql-m-slow", "ql-m-cal", "hol", "les"];

/// Waiting clients older than this are forgotten (an interaction that ended unanswered gives no observation).
const MAX_PENDING_AGE: Duration = Duration::from_secs(24 * 3600);
/// Bound on remembered waiting clients per key, so a lost event stream cannot grow memory without end.
const MAX_PENDING: usize = 100_000;
/// Bound on inverse-probability weights: one client who waited very long must not dominate the scores.
const MAX_IPW: f64 = 20.0;

/// Tuning of [`Adaptive`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSettings {
    /// How μ and θ are learned by the fast candidates (and the HOL/LES fallbacks).
    pub rates: RateSettings,
    /// Half-life of the slow QL_m candidate's rates.
    pub slow_half_life: Duration,
    /// Half-life of the error scores and the calibration: long enough to span many waits, since the delays
    /// of clients queued together are strongly correlated.
    pub score_half_life: Duration,
    /// Scored clients needed before the scores are trusted; until then the answer is QL_m.
    pub min_scored: f64,
    /// Exponent on (best error / error): high values pick the best candidate, low values average.
    pub sharpness: f64,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings {
            rates: RateSettings::default(),
            slow_half_life: Duration::from_secs(12 * 3600),
            score_half_life: Duration::from_secs(2 * 3600),
            min_scored: 50.0,
            sharpness: 8.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    at: Timestamp,
    preds: Option<[f64; CANDIDATES]>,
}

#[derive(Debug, Clone, Default)]
struct Track {
    pending: VecDeque<Pending>,
    /// Interactions of this key in service: the agents whose departures free places in this queue.
    busy: u32,
    sq: [Decayed; CANDIDATES],
    weight: Decayed,
    cal_num: Decayed,
    cal_den: Decayed,
}

impl Track {
    /// Least-squares factor from slow QL_m to the observed delays, 1 until enough clients were scored.
    fn calibration(&self, now: Timestamp, s: &AdaptiveSettings) -> f64 {
        let hl = s.score_half_life;
        let den = self.cal_den.get(now, hl);
        if self.weight.get(now, hl) < s.min_scored || den <= 0.0 {
            1.0
        } else {
            (self.cal_num.get(now, hl) / den).clamp(0.5, 2.0)
        }
    }

    fn take_pending(&mut self, now: Timestamp, waited: Duration) -> Option<Pending> {
        let at = now.0.saturating_sub(waited.as_millis().min(u64::MAX as u128) as u64);
        let i = self.pending.iter().position(|p| p.at.0 == at)?;
        self.pending.remove(i)
    }
}

/// The default predictor: a blend of QL_m (fast, slow, calibrated), HOL and LES weighted by recent observed error.
#[derive(Debug, Clone, Default)]
pub struct Adaptive {
    settings: AdaptiveSettings,
    book: RateBook,
    slow: RateBook,
    tracks: HashMap<QueueKey, Track>,
}

/// Agents whose departures serve this key: all staffed ones while some are free, else those busy with it.
///
/// Agents shared with other queues are staffed here but may be busy elsewhere for a long time; counting only
/// those serving this key keeps QL_m from promising their capacity.
fn effective_servers(track: Option<&Track>, snap: &QueueSnapshot) -> u32 {
    match track {
        Some(t) if snap.available == 0 && t.busy > 0 => t.busy.min(snap.servers),
        _ => snap.servers,
    }
}

/// Every candidate's figure in seconds, for a client with `ahead` in front who will have to wait.
fn candidates(book: &RateBook, slow: &RateBook, key: &QueueKey, cal: f64, snap: &QueueSnapshot, ahead: u32) -> [f64; CANDIDATES] {
    let (mu, theta, _) = book.rates(key, snap.now);
    let fast = ql_m_secs(snap.servers, 0, ahead, mu, theta);
    let (mu, theta, _) = slow.rates(key, snap.now);
    let slow = ql_m_secs(snap.servers, 0, ahead, mu, theta);
    [fast, slow, slow * cal, hol_secs(book, key, snap, ahead), les_secs(book, key, snap, ahead)]
}

impl Adaptive {
    /// With the given settings.
    pub fn new(settings: AdaptiveSettings) -> Self {
        let slow = RateSettings { half_life: settings.slow_half_life, ..settings.rates };
        Adaptive { settings, book: RateBook::new(settings.rates), slow: RateBook::new(slow), tracks: HashMap::new() }
    }

    /// Current blend weights of the candidates ([`CANDIDATE_NAMES`] order), summing to one; `None` while
    /// too few clients were scored and QL_m alone answers.
    pub fn weights(&self, key: &QueueKey, now: Timestamp) -> Option<[f64; CANDIDATES]> {
        let t = self.tracks.get(key)?;
        let hl = self.settings.score_half_life;
        if t.weight.get(now, hl) < self.settings.min_scored {
            return None;
        }
        let sq = t.sq.map(|d| d.get(now, hl));
        let best = sq.iter().copied().fold(f64::INFINITY, f64::min);
        let mut w = [0.0; CANDIDATES];
        for (wi, &sq) in w.iter_mut().zip(&sq) {
            *wi = if sq <= 0.0 { 1.0 } else { (best / sq).powf(self.settings.sharpness) };
        }
        let total: f64 = w.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return None;
        }
        Some(w.map(|x| x / total))
    }

    fn score(&mut self, key: &QueueKey, now: Timestamp, waited: Duration) {
        let theta = self.book.rates(key, now).1;
        let hl = self.settings.score_half_life;
        let Some(t) = self.tracks.get_mut(key) else { return };
        let Some(p) = t.take_pending(now, waited) else { return };
        let Some(preds) = p.preds else { return };
        if waited.is_zero() {
            // Answered at once: every candidate says zero then, so nothing to learn.
            return;
        }
        let w_real = waited.as_secs_f64();
        let ipw = (theta * w_real).min(MAX_IPW.ln()).exp();
        for (sq, pred) in t.sq.iter_mut().zip(preds) {
            sq.add(now, hl, ipw * (pred - w_real).powi(2));
        }
        t.weight.add(now, hl, ipw);
        t.cal_num.add(now, hl, ipw * w_real * preds[1]);
        t.cal_den.add(now, hl, ipw * preds[1] * preds[1]);
    }
}

impl HoldTimeEstimator for Adaptive {
    fn name(&self) -> &'static str {
        "adaptive"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.book.observe(key, now, obs);
        self.slow.observe(key, now, obs);
        if !self.tracks.contains_key(key) {
            self.tracks.insert(key.clone(), Track::default());
        }
        match obs {
            Observation::Arrival => {
                let settings = self.settings;
                let t = self.tracks.get_mut(key).expect("inserted above");
                while t.pending.front().is_some_and(|p| now.since(p.at) > MAX_PENDING_AGE) || t.pending.len() >= MAX_PENDING {
                    t.pending.pop_front();
                }
                // What each candidate says now, had it been asked: all agents serving this key are busy
                // unless the client is answered at once, and then the prediction is never scored.
                let holding = t.pending.len() as u32;
                let preds = (t.busy > 0).then(|| {
                    let snap = QueueSnapshot {
                        now,
                        servers: t.busy,
                        available: 0,
                        holding,
                        head_wait: t.pending.front().map(|p| now.since(p.at)),
                    };
                    candidates(&self.book, &self.slow, key, t.calibration(now, &settings), &snap, holding)
                });
                t.pending.push_back(Pending { at: now, preds });
            }
            Observation::ServiceStart { waited } => {
                self.score(key, now, waited);
                if let Some(t) = self.tracks.get_mut(key) {
                    t.busy += 1;
                }
            }
            Observation::Abandon { waited } => {
                if let Some(t) = self.tracks.get_mut(key) {
                    t.take_pending(now, waited);
                }
            }
            Observation::ServiceEnd { .. } => {
                if let Some(t) = self.tracks.get_mut(key) {
                    t.busy = t.busy.saturating_sub(1);
                }
            }
        }
    }

    fn estimate(&self, key: &QueueKey, snap: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        if let Some(t) = trivial(snap, ahead) {
            return t;
        }
        let track = self.tracks.get(key);
        let snap = QueueSnapshot { servers: effective_servers(track, snap), ..snap.clone() };
        let cal = track.map_or(1.0, |t| t.calibration(snap.now, &self.settings));
        let preds = candidates(&self.book, &self.slow, key, cal, &snap, ahead);
        let Some(w) = self.weights(key, snap.now) else { return Some(secs(preds[0])) };
        Some(secs(preds.iter().zip(w).map(|(p, w)| p * w).sum()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medium::Medium;

    fn key() -> QueueKey {
        QueueKey { queue: "q".into(), medium: Medium::Voice }
    }

    fn settings() -> AdaptiveSettings {
        AdaptiveSettings {
            rates: RateSettings { half_life: Duration::from_secs(1_000_000), prior_handle_time: Duration::from_secs(100) },
            slow_half_life: Duration::from_secs(4_000_000),
            score_half_life: Duration::from_secs(100_000),
            min_scored: 5.0,
            sharpness: 8.0,
        }
    }

    /// One agent, handle time exactly 100 s, a client every 100 s who always finds exactly `backlog` ahead
    /// and so waits `(backlog + 1) × 100` s: deterministic, so QL is exact and HOL is off by the head's lag.
    fn feed_deterministic_queue(e: &mut Adaptive, backlog: u64, clients: u64) -> Timestamp {
        let k = key();
        let t0 = 1_000_000u64;
        let ms = |s: u64| Timestamp(t0 + s * 1000);
        // Client i arrives at 100·i and is answered at 100·(i + backlog + 1); client -1 is in service at 0.
        e.observe(&k, ms(0), Observation::Arrival);
        e.observe(&k, ms(0), Observation::ServiceStart { waited: Duration::ZERO });
        let mut now = ms(0);
        for step in 1..=clients + backlog {
            let t = step * 100;
            // Departure and next answer at t, then the arrival at t.
            e.observe(&k, ms(t), Observation::ServiceEnd { handled: Duration::from_secs(100) });
            if step > backlog {
                let waited = (backlog + 1) * 100;
                e.observe(&k, ms(t), Observation::ServiceStart { waited: Duration::from_secs(waited) });
            } else {
                // The first clients are answered early to build the backlog.
                e.observe(&k, ms(t), Observation::ServiceStart { waited: Duration::ZERO });
                e.observe(&k, ms(t), Observation::Arrival);
                continue;
            }
            e.observe(&k, ms(t), Observation::Arrival);
            now = ms(t);
        }
        now
    }

    #[test]
    fn answers_ql_m_until_scored_then_weights_the_exact_candidate() {
        let mut e = Adaptive::new(settings());
        let k = key();
        let snap = QueueSnapshot { now: Timestamp(1_000_000), servers: 1, available: 0, holding: 2, head_wait: Some(Duration::from_secs(150)) };
        // Nothing learned: QL_m with the prior μ = 1/100, no abandonment: 300 s.
        assert_eq!(e.estimate(&k, &snap, 2), Some(Duration::from_secs(300)));
        assert_eq!(e.weights(&k, snap.now), None);
        let now = feed_deterministic_queue(&mut e, 2, 300);
        let w = e.weights(&k, now).expect("scored");
        // The QL_m candidates and LES (the wait never changes) are exact; HOL is 100 s short and loses.
        assert!(w[3] < 0.01, "{w:?}");
        assert!(w[0] + w[1] + w[2] + w[4] > 0.99, "{w:?}");
        let snap = QueueSnapshot { now, servers: 1, available: 0, holding: 2, head_wait: Some(Duration::from_secs(200)) };
        let est = e.estimate(&k, &snap, 2).unwrap().as_secs_f64();
        assert!((est - 300.0).abs() < 1.0, "{est}");
    }

    #[test]
    fn follows_hol_when_the_rate_model_is_wrong() {
        let mut e = Adaptive::new(settings());
        let k = key();
        let t0 = 1_000_000u64;
        let ms = |s: u64| Timestamp(t0 + s * 1000);
        // Handle times are reported as 10 s (say, after-work hides the real 100 s), so QL_m believes the
        // queue moves ten times faster than it does; the head's elapsed wait is always the truth.
        e.observe(&k, ms(0), Observation::Arrival);
        e.observe(&k, ms(0), Observation::ServiceStart { waited: Duration::ZERO });
        for i in 1..=400u64 {
            let t = i * 100;
            e.observe(&k, ms(t), Observation::ServiceEnd { handled: Duration::from_secs(10) });
            if i == 1 {
                e.observe(&k, ms(t), Observation::ServiceStart { waited: Duration::ZERO });
            } else {
                // Client i-1 arrived at 100·(i-1) and waited 100 s; it was at the head the whole time.
                e.observe(&k, ms(t), Observation::ServiceStart { waited: Duration::from_secs(100) });
            }
            e.observe(&k, ms(t), Observation::Arrival);
        }
        let w = e.weights(&k, ms(40_000)).expect("scored");
        assert!(w[0] < 0.01 && w[1] < 0.01, "{w:?}");
        // The calibrated QL_m learns the factor of ten (clamped at 2) and the head is always empty on arrival
        // (HOL falls back to QL), so LES, exact, carries the blend.
        assert!(w[4] > 0.9, "{w:?}");
        let snap = QueueSnapshot { now: ms(40_050), servers: 1, available: 0, holding: 1, head_wait: Some(Duration::from_secs(50)) };
        let les = e.estimate(&k, &snap, 1).unwrap().as_secs_f64();
        assert!(les > 45.0 && les < 105.0, "{les}");
    }

    #[test]
    fn abandoned_clients_are_forgotten_and_busy_agents_count_as_servers() {
        let mut e = Adaptive::new(settings());
        let k = key();
        let t = |s: u64| Timestamp(1_000_000 + s * 1000);
        for _ in 0..3 {
            e.observe(&k, t(0), Observation::Arrival);
            e.observe(&k, t(0), Observation::ServiceStart { waited: Duration::ZERO });
        }
        e.observe(&k, t(1), Observation::Arrival);
        e.observe(&k, t(2), Observation::Arrival);
        e.observe(&k, t(5), Observation::Abandon { waited: Duration::from_secs(4) });
        let tr = &e.tracks[&k];
        assert_eq!(tr.busy, 3);
        assert_eq!(tr.pending.len(), 1);
        assert_eq!(tr.pending[0].at, t(2));
        // Ten staffed, none free, three busy with this key: QL_m counts three servers: 2/(3/100).
        let snap = QueueSnapshot { now: t(5), servers: 10, available: 0, holding: 1, head_wait: Some(Duration::from_secs(3)) };
        let est = e.estimate(&k, &snap, 1).unwrap().as_secs_f64();
        // θ = 1 abandon over 4 s of waiting: 1/0.03 + 1/(0.03 + 0.25).
        assert!((est - (1.0 / 0.03 + 1.0 / 0.28)).abs() < 0.01, "{est}");
    }
}
