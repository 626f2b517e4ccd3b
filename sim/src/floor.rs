//! The exact error floor of M/M/s+M: no predictor that knows the queue length can beat QL_m there.
//!
//! With n clients waiting ahead and all s agents busy, an arrival's potential wait is a sum of independent
//! exponentials with rates sμ + iθ, i = 0..n, so E[W|n] = Σ 1/(sμ+iθ) (QL_m) and Var[W|n] = Σ 1/(sμ+iθ)².
//! By PASTA an arrival sees the stationary birth-death chain of M/M/s+M (Erlang A); the floor ASE is
//! E[Var(W|n)] over it, with W = 0 when an agent is free, and RASE = ASE / E[W]².

/// Mean delay and the least achievable squared error of its prediction, for an arriving client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// E[W] over all arrivals (zero for those who find a free agent), potential wait for abandoners.
    pub mean_wait: f64,
    /// P(W > 0): all agents busy on arrival.
    pub p_wait: f64,
    /// The least average squared error, E[Var(W | n)] (s²).
    pub ase: f64,
    /// ASE / E[W]².
    pub rase: f64,
}

/// The floor of M/M/s+M with arrival rate λ, service rate μ per agent and abandonment rate θ (all per second);
/// `None` when the chain has no steady state (θ = 0 and λ ≥ sμ) or the input is degenerate.
pub fn mmsm_floor(servers: u32, lambda: f64, mu: f64, theta: f64) -> Option<Floor> {
    let s = servers as f64;
    if servers == 0 || lambda <= 0.0 || mu <= 0.0 || theta < 0.0 || (theta == 0.0 && lambda >= s * mu) {
        return None;
    }
    // log π_k up to where the tail no longer matters; the chain's mode is near max(λ/μ, s + (λ−sμ)/θ).
    let mut log_pi = vec![0.0f64];
    let mut max = 0.0f64;
    let ln_l = lambda.ln();
    let mut k = 0usize;
    loop {
        k += 1;
        let kf = k as f64;
        let death = kf.min(s) * mu + (kf - s).max(0.0) * theta;
        let next = log_pi[k - 1] + ln_l - death.ln();
        log_pi.push(next);
        max = max.max(next);
        // Past the mode and 50 nats below it: the rest weighs less than e^-50 times the chain length.
        if kf > s && death > lambda && next < max - 50.0 {
            break;
        }
        if k > 50_000_000 {
            return None;
        }
    }
    let mut z = 0.0;
    let (mut ew, mut ase, mut pw) = (0.0, 0.0, 0.0);
    let (mut m, mut v) = (0.0, 0.0);
    for (k, lp) in log_pi.iter().enumerate() {
        let p = (lp - max).exp();
        z += p;
        if k >= servers as usize {
            // An arrival seeing k in system has n = k − s ahead: add the term for i = n.
            let rate = s * mu + (k - servers as usize) as f64 * theta;
            m += 1.0 / rate;
            v += 1.0 / (rate * rate);
            ew += p * m;
            ase += p * v;
            pw += p;
        }
    }
    let (ew, ase, pw) = (ew / z, ase / z, pw / z);
    Some(Floor { mean_wait: ew, p_wait: pw, ase, rase: ase / (ew * ew) })
}
