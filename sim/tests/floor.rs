//! The analytic floor against closed forms, and against a short simulation.

use frontdesk_core::monitor::holdtime::erlang_c;
use frontdesk_sim::{mmsm_floor, run, Scenario};

#[test]
fn floor_of_mm1_is_one_minus_rho_over_rho() {
    // M/M/1: W = 0 w.p. 1−ρ, else Gamma(k, μ) with k ~ Geometric; E[W] = ρ/(μ−λ), RASE = (1−ρ)/ρ.
    for rho in [0.3, 0.7, 0.95] {
        let f = mmsm_floor(1, rho, 1.0, 0.0).unwrap();
        assert!((f.mean_wait - rho / (1.0 - rho)).abs() < 1e-9 * f.mean_wait.max(1.0), "{f:?}");
        assert!((f.rase - (1.0 - rho) / rho).abs() < 1e-9, "{f:?}");
        assert!((f.p_wait - rho).abs() < 1e-9);
    }
}

#[test]
fn floor_of_mms_matches_erlang_c() {
    // M/M/s: P(wait) = C, E[W] = C/(sμ−λ), and E[(n+1)/(sμ)²] = C/((1−ρ)(sμ)²), so RASE = (1−ρ)/C.
    for (s, rho) in [(10u32, 0.8), (100, 0.95), (1000, 0.99)] {
        let mu = 1.0 / 300.0;
        let lambda = rho * s as f64 * mu;
        let f = mmsm_floor(s, lambda, mu, 0.0).unwrap();
        let c = erlang_c(s, lambda / mu);
        let rel = |a: f64, b: f64| (a - b).abs() / b;
        assert!(rel(f.p_wait, c) < 1e-9, "{f:?} vs {c}");
        assert!(rel(f.mean_wait, c / (s as f64 * mu - lambda)) < 1e-9, "{f:?}");
        assert!(rel(f.rase, (1.0 - rho) / c) < 1e-9, "{f:?}");
    }
    assert!(mmsm_floor(10, 1.0, 0.1, 0.0).is_none(), "unstable without abandonment");
}

#[test]
fn abandonment_lowers_the_mean_wait_and_the_relative_floor() {
    let mu = 1.0 / 300.0;
    let a = mmsm_floor(100, 1.4 * 100.0 * mu, mu, 1.0 / 600.0).unwrap();
    // Fluid limit: the queue settles where λ = sμ + nθ, so a newcomer waits about ln(ρ)/θ = 202 s.
    assert!((a.mean_wait - 600.0 * 1.4f64.ln()).abs() < 10.0, "{a:?}");
    assert!(a.p_wait > 0.999);
    // About n = (λ−sμ)/θ = 80 exponential stages: RASE near 1/(n+1), well below one.
    assert!(a.rase > 0.005 && a.rase < 0.03, "{a:?}");
}

#[test]
fn simulated_ql_m_with_true_rates_sits_on_the_analytic_floor() {
    let mu = 1.0 / 300.0;
    let theta = 1.0 / 600.0;
    let sc = Scenario::mmsm("M/M/10+M ρ=1.2", 10, 1.2, mu, theta, 60_000, 7);
    let floor = sc.floor().unwrap();
    let o = run(&sc);
    let star = o.index("ql-m*").unwrap();
    let (sim, ci) = (o.rase(star), o.rase_ci(star));
    eprintln!("floor {:.4}, ql-m* {sim:.4} ± {ci:.4}, ql-m {:.4}, adaptive {:.4}", floor.rase, o.rase(o.index("ql-m").unwrap()), o.rase(o.index("adaptive").unwrap()));
    assert!((sim - floor.rase).abs() <= ci, "simulated {sim} ± {ci} vs analytic {}", floor.rase);
    assert!(ci < 0.15 * floor.rase, "the test must be able to tell: ci {ci}");
    // The simulated system is the analytic one.
    assert!((o.mean_wait() / floor.mean_wait - 1.0).abs() < 0.05, "{} vs {}", o.mean_wait(), floor.mean_wait);
    assert!((o.delayed as f64 / o.n as f64 - floor.p_wait).abs() < 0.02);
    // Learned rates cost little, the adaptive default tracks QL_m, and Erlang C is far off.
    let rase = |n: &str| o.rase(o.index(n).unwrap());
    assert!(rase("ql-m") < 1.1 * sim, "{} vs {sim}", rase("ql-m"));
    assert!(rase("adaptive") < 1.1 * sim, "{} vs {sim}", rase("adaptive"));
    assert!(rase("erlang-c") > 2.0 * rase("adaptive"));
    assert!(rase("hol") > rase("ql-m") && rase("les") > rase("ql-m"), "QL_m is the conditional mean here");
}

#[test]
fn two_skill_center_runs_and_every_client_is_scored() {
    let sc = frontdesk_sim::scenarios::two_skill(5_000, 3);
    let o = run(&sc);
    assert_eq!(o.batches.iter().map(|b| b.0).sum::<usize>(), 5_000);
    assert!(o.mean_wait() > 0.0 && o.abandoned > 0);
    for i in 0..o.predictors.len() {
        assert!(o.rase(i).is_finite(), "{}", o.predictors[i].name);
    }
}
