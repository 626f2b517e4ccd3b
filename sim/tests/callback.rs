//! Callbacks (issue 15): a queue taking voice and callback, where callback clients are far more patient.
//! The monitor must key rates by queue *and* medium; these tests fail if it pooled the media.

use frontdesk_sim::scenarios::{callback_dedicated, callback_shared, CALLBACK_SHARE, THETA, THETA_CALLBACK};
use frontdesk_sim::{mmsm_floor, run, Outcome};

fn rase(o: &Outcome, name: &str) -> f64 {
    o.rase(o.index(name).unwrap_or_else(|| panic!("no predictor {name}")))
}

#[test]
fn combined_floor_is_the_arrival_weighted_floor_of_the_lines() {
    let sc = callback_dedicated(1000, 1);
    let mu = 1.0 / 300.0;
    let voice = mmsm_floor(7, (1.0 - CALLBACK_SHARE) * 10.0 * mu, mu, THETA).unwrap();
    let cb = mmsm_floor(3, CALLBACK_SHARE * 10.0 * mu, mu, THETA_CALLBACK).unwrap();
    assert_eq!(sc.line_floor(0), Some(voice));
    assert_eq!(sc.line_floor(1), Some(cb));
    let f = sc.floor().unwrap();
    let w = |v: f64, c: f64| (1.0 - CALLBACK_SHARE) * v + CALLBACK_SHARE * c;
    assert!((f.mean_wait - w(voice.mean_wait, cb.mean_wait)).abs() < 1e-9);
    assert!((f.p_wait - w(voice.p_wait, cb.p_wait)).abs() < 1e-12);
    assert!((f.ase - w(voice.ase, cb.ase)).abs() < 1e-6);
    assert!((f.rase - f.ase / f.mean_wait.powi(2)).abs() < 1e-12);
    // Callback clients wait far longer (3 agents, hardly anyone gives up), so the line floors differ.
    assert!(cb.mean_wait > 5.0 * voice.mean_wait && cb.rase < 0.5 * voice.rase, "{voice:?} {cb:?}");
    // Shared agents: no line is its own M/M/s+M.
    let shared = callback_shared(1000, 1);
    assert!(shared.line_floor(0).is_none() && shared.line_floor(1).is_none() && shared.floor().is_none());
}

#[test]
fn callback_line_learns_its_own_patience_and_adaptive_tracks_each_lines_floor() {
    let sc = callback_dedicated(100_000, 7);
    let o = run(&sc);
    let [voice, cb] = &o.lines[..] else { panic!("two lines") };
    assert_eq!((voice.outcome.n + cb.outcome.n, o.n), (o.n, 100_000));
    assert_eq!(voice.outcome.abandoned + cb.outcome.abandoned, o.abandoned);
    // The monitor's observations of each key teach that key's patience: 10 min on hold, 4 h for a callback.
    let patience = |theta: f64| 1.0 / theta / 60.0;
    eprintln!("learned 1/θ: voice {:.1} min, callback {:.1} min", patience(voice.learned_theta), patience(cb.learned_theta));
    assert!((patience(voice.learned_theta) / 10.0 - 1.0).abs() < 0.1, "{}", patience(voice.learned_theta));
    assert!((patience(cb.learned_theta) / 240.0 - 1.0).abs() < 0.15, "{}", patience(cb.learned_theta));
    for l in [voice, cb] {
        let lo = &l.outcome;
        let floor = lo.floor.expect("dedicated agents: each line is M/M/s+M");
        let star = lo.index("ql-m*").unwrap();
        let (ad, pooled, qlm_star) = (rase(lo, "adaptive"), rase(lo, "adaptive pooled"), lo.rase(star));
        eprintln!(
            "{}: floor {:.4}, ql-m* {qlm_star:.4} ± {:.4}, ql-m {:.4}, ql-m pooled {:.4}, adaptive {ad:.4}, adaptive pooled {pooled:.4}",
            lo.name,
            floor.rase,
            lo.rase_ci(star),
            rase(lo, "ql-m"),
            rase(lo, "ql-m pooled")
        );
        // The line simulated is the analytic one.
        assert!((lo.mean_wait() / floor.mean_wait - 1.0).abs() < 0.1, "{}: {} vs {}", lo.name, lo.mean_wait(), floor.mean_wait);
        assert!((qlm_star / floor.rase - 1.0).abs() < 0.15, "{}: ql-m* {qlm_star} vs floor {}", lo.name, floor.rase);
        // Learning the rates of one key from the monitor's events costs little on the voice line (7 agents,
        // about 90 delays an hour). The callback line has 3 agents and about 30 delays an hour whose waits are
        // correlated over hours: the blend's 2 h error scores are noisy there and cost 10–20 % over QL_m with
        // the true rates (QL_m on 12 h rates alone is within 2 %; see docs/holdtime.md).
        if l.key.medium == frontdesk_core::medium::Medium::Voice {
            assert!(ad < 1.1 * floor.rase, "{}: adaptive {ad} vs floor {}", lo.name, floor.rase);
        } else {
            assert!(ad < 1.25 * qlm_star, "{}: adaptive {ad} vs ql-m* {qlm_star}", lo.name);
        }
        // ...and pooling the media would cost a lot: callers would be promised the callback clients' patience.
        assert!(pooled > 1.4 * ad, "{}: pooled {pooled} vs adaptive {ad}", lo.name);
    }
    // The combined row is scored against the combined floor.
    let f = o.floor.unwrap();
    assert!((rase(&o, "ql-m*") / f.rase - 1.0).abs() < 0.1, "{} vs {}", rase(&o, "ql-m*"), f.rase);
}

#[test]
fn shared_agents_serve_both_media_and_every_client_is_scored() {
    let o = run(&callback_shared(20_000, 3));
    assert!(o.floor.is_none());
    assert_eq!(o.lines.iter().map(|l| l.outcome.n).sum::<usize>(), 20_000);
    assert_eq!(o.batches.iter().map(|b| b.0).sum::<usize>(), 20_000);
    let [voice, cb] = &o.lines[..] else { panic!("two lines") };
    // Longest-waiting head first: both media wait about as long, but callback clients hardly ever give up.
    assert!(voice.outcome.mean_wait() > 0.0 && cb.outcome.mean_wait() > 0.0);
    assert!(cb.outcome.abandoned * 5 < voice.outcome.abandoned, "{} vs {}", cb.outcome.abandoned, voice.outcome.abandoned);
    let patience = |theta: f64| 1.0 / theta / 60.0;
    assert!((patience(voice.learned_theta) / 10.0 - 1.0).abs() < 0.15, "{}", patience(voice.learned_theta));
    assert!(cb.learned_theta > 0.0 && (patience(cb.learned_theta) / 240.0).ln().abs() < 2f64.ln(), "{}", patience(cb.learned_theta));
    for i in 0..o.predictors.len() {
        assert!(o.rase(i).is_finite(), "{}", o.predictors[i].name);
    }
}
