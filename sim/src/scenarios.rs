//! The scenarios of `docs/holdtime.md`, with fixed seeds.

use crate::dist::{Arrivals, Dist};
use crate::engine::{AgentGroup, QueueSpec, Scenario};
use frontdesk_core::medium::Medium;

/// Service rate of the reference scenarios: one client per 5 minutes per agent.
pub const MU: f64 = 1.0 / 300.0;
/// Abandonment rate of the reference scenarios: patience of 10 minutes on average.
pub const THETA: f64 = 1.0 / 600.0;
/// Loads of the M/M/s+M grid.
pub const RHOS: [f64; 4] = [0.9, 1.0, 1.2, 1.4];

/// Every reported scenario; `scale` multiplies the measured arrivals (1.0 for the report, less for a quick look).
pub fn standard(scale: f64) -> Vec<Scenario> {
    let n = |base: usize| ((base as f64 * scale).round() as usize).max(1000);
    let mut v = vec![];
    let mut seed = 1u64;
    for (s, base) in [(10u32, 1_000_000usize), (100, 2_000_000), (1000, 4_000_000)] {
        for rho in RHOS {
            v.push(Scenario::mmsm(format!("M/M/{s}+M ρ={rho}"), s, rho, MU, THETA, n(base), seed));
            seed += 1;
        }
    }
    let mut lognormal = Scenario::mmsm("M/LN/100+M ρ=1.0 (handle CV 1)", 100, 1.0, MU, THETA, n(2_000_000), 101);
    lognormal.queues[0].handle = Dist::LogNormal { mean: 300.0, cv: 1.0 };
    v.push(lognormal);
    let mut patience = Scenario::mmsm("M/M/100+LN ρ=1.2 (patience CV 1)", 100, 1.2, MU, THETA, n(2_000_000), 102);
    patience.queues[0].patience = Dist::LogNormal { mean: 600.0, cv: 1.0 };
    v.push(patience);
    let mut day = Scenario::mmsm("Mt/M/100+M ρ=1.0±40% daily", 100, 1.0, MU, THETA, n(2_000_000), 103);
    day.queues[0].arrivals = Arrivals::Sinusoid { mean: 100.0 * MU, amplitude: 0.4, period: 86_400.0 };
    day.warmup = 86_400.0;
    v.push(day);
    v.push(two_skill(n(2_000_000), 104));
    // The callback line's queue relaxes over 1/θ = 4 h: 4 million arrivals (3.8 simulated years) keep its
    // mean delay, the RASE denominator, within about 1 % of the analytic one.
    v.push(callback_dedicated(n(4_000_000), 105));
    v.push(callback_shared(n(4_000_000), 106));
    v
}

/// Share of a callback scenario's arrivals that choose a callback instead of holding.
pub const CALLBACK_SHARE: f64 = 0.3;
/// Abandonment rate of clients waiting for a callback: a mean patience of 4 hours (cancelling the
/// request, or giving up on it), against 10 minutes on hold ([`THETA`]).
pub const THETA_CALLBACK: f64 = 1.0 / (4.0 * 3600.0);

/// One queue "support" taking voice and callback: 10 agents' worth of load at ρ = 1 (λ = 10μ), 30 % of it
/// callbacks; both media take 5 min to handle, callers hold for 10 min on average and callback clients 4 h.
fn callback_lines() -> Vec<QueueSpec> {
    let line = |medium: Medium, share: f64, patience: f64| QueueSpec {
        name: "support".into(),
        medium,
        arrivals: Arrivals::Constant(share * 10.0 * MU),
        handle: Dist::Exp { mean: 1.0 / MU },
        patience: Dist::Exp { mean: patience },
    };
    vec![line(Medium::Voice, 1.0 - CALLBACK_SHARE, 1.0 / THETA), line(Medium::Callback, CALLBACK_SHARE, 1.0 / THETA_CALLBACK)]
}

/// Callbacks with their own agents: 7 on voice, 3 on callback, so each line is its own M/M/s+M at ρ = 1
/// (voice M/M/7+M with θ = 1/10 min, callback M/M/3+M with θ = 1/4 h) and the analytic floor applies.
pub fn callback_dedicated(measured: usize, seed: u64) -> Scenario {
    Scenario {
        name: "callback 30%, 7 voice + 3 callback agents, ρ=1".into(),
        queues: callback_lines(),
        agents: vec![AgentGroup { count: 7, skills: vec![0] }, AgentGroup { count: 3, skills: vec![1] }],
        // The callback line relaxes on the scale of 1/θ = 4 h and the slow candidate learns over 12 h.
        warmup: 86_400.0,
        measured,
        seed,
    }
}

/// The same load with the 10 agents shared by both media (a freed agent takes the longer-waiting head).
pub fn callback_shared(measured: usize, seed: u64) -> Scenario {
    Scenario {
        name: "callback 30%, 10 shared agents, ρ=1".into(),
        queues: callback_lines(),
        agents: vec![AgentGroup { count: 10, skills: vec![0, 1] }],
        warmup: 86_400.0,
        measured,
        seed,
    }
}

/// Two queues, 20 dedicated agents each and 10 shared: sales (4 min) 22 erlangs, support (6 min) 30 erlangs.
pub fn two_skill(measured: usize, seed: u64) -> Scenario {
    let q = |name: &str, lambda: f64, handle: f64| QueueSpec {
        name: name.into(),
        medium: Medium::Voice,
        arrivals: Arrivals::Constant(lambda),
        handle: Dist::Exp { mean: handle },
        patience: Dist::Exp { mean: 600.0 },
    };
    Scenario {
        name: "two-skill 20+20+10 shared, ρ≈1.04".into(),
        queues: vec![q("sales", 22.0 / 240.0, 240.0), q("support", 30.0 / 360.0, 360.0)],
        agents: vec![
            AgentGroup { count: 20, skills: vec![0] },
            AgentGroup { count: 20, skills: vec![1] },
            AgentGroup { count: 10, skills: vec![0, 1] },
        ],
        warmup: 86_400.0,
        measured,
        seed,
    }
}
