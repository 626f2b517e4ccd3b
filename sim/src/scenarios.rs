//! The scenarios of `docs/holdtime.md`, with fixed seeds.

use crate::dist::{Arrivals, Dist};
use crate::engine::{AgentGroup, QueueSpec, Scenario};

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
    v
}

/// Two queues, 20 dedicated agents each and 10 shared: sales (4 min) 22 erlangs, support (6 min) 30 erlangs.
pub fn two_skill(measured: usize, seed: u64) -> Scenario {
    let q = |name: &str, lambda: f64, handle: f64| QueueSpec {
        name: name.into(),
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
