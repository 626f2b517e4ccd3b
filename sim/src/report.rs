//! Markdown tables of simulated outcomes.

use crate::engine::Outcome;
use std::fmt::Write;

/// Predictors in report order (the deployable ones; "ql-m*" is the reference with true rates).
pub const COLUMNS: [&str; 6] = ["erlang-c", "ql", "ql-m", "hol", "les", "adaptive"];

/// Four significant digits (small RASEs need them), or scientific notation for Erlang C's explosions.
fn num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.2e}")
    } else if x == 0.0 || !x.is_finite() || x.abs() >= 1.0 {
        format!("{x:.4}")
    } else {
        let decimals = (3 - x.abs().log10().floor() as i32).max(4) as usize;
        format!("{x:.decimals$}")
    }
}

fn cell(o: &Outcome, name: &str, f: impl Fn(&Outcome, usize) -> f64) -> String {
    o.index(name).map_or("—".into(), |i| num(f(o, i)))
}

/// The RASE table: floor (analytic and simulated with true rates) beside every predictor.
pub fn rase_table(outs: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | mean delay (s) [analytic] | P(wait) [analytic] | abandoned | floor (analytic) | ql-m* (sim, ±95%) | {} | adaptive / floor | adaptive / ql-m* |",
        COLUMNS.join(" | ")
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|{}---:|---:|", "---:|".repeat(COLUMNS.len()));
    for o in outs {
        let floor = o.floor.map_or("—".into(), |f| num(f.rase));
        let star = o.index("ql-m*").map_or("—".into(), |i| format!("{} ± {}", num(o.rase(i)), num(o.rase_ci(i))));
        let cols: Vec<String> = COLUMNS.iter().map(|c| cell(o, c, Outcome::rase)).collect();
        let ratio = match (o.floor, o.index("adaptive")) {
            (Some(f), Some(i)) => format!("{:.3}", o.rase(i) / f.rase),
            _ => "—".into(),
        };
        // Same clients, same sample path: far less noisy than the ratio to the analytic floor.
        let paired = match (o.index("adaptive"), o.index("ql-m*")) {
            (Some(i), Some(j)) => format!("{:.3}", o.rase(i) / o.rase(j)),
            _ => "—".into(),
        };
        let (mw, pw) = match o.floor {
            Some(f) => (format!(" [{:.1}]", f.mean_wait), format!(" [{:.3}]", f.p_wait)),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            s,
            "| {} | {:.1}{mw} | {:.3}{pw} | {:.3} | {} | {} | {} | {} | {} |",
            o.name,
            o.mean_wait(),
            o.delayed as f64 / o.n as f64,
            o.abandoned as f64 / o.n as f64,
            floor,
            star,
            cols.join(" | "),
            ratio,
            paired
        );
    }
    s
}

/// Predictors shown per line: the learned QL_m and the default, each also learning with media pooled.
pub const LINE_COLUMNS: [&str; 4] = ["ql-m", "ql-m pooled", "adaptive", "adaptive pooled"];

/// Per line (queue and medium) of every scenario with more than one: the line's share of arrivals, its
/// delays and own floor, the mean patience 1/θ the monitor's observations of that key taught (true value in
/// brackets), and RASE over the line's clients (ASE over the line's squared mean delay).
pub fn line_table(outs: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | line | share | mean delay (s) [analytic] | P(wait) [analytic] | abandoned | learned 1/θ (min) [true] | floor (analytic) | ql-m* (sim, ±95%) | {} | adaptive / floor | adaptive / ql-m* |",
        LINE_COLUMNS.join(" | ")
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|{}---:|---:|", "---:|".repeat(LINE_COLUMNS.len()));
    for o in outs.iter().filter(|o| o.lines.len() > 1) {
        let total: usize = o.lines.iter().map(|l| l.outcome.n).sum();
        for l in &o.lines {
            let lo = &l.outcome;
            let floor = lo.floor.map_or("—".into(), |f| num(f.rase));
            let star = lo.index("ql-m*").map_or("—".into(), |i| format!("{} ± {}", num(lo.rase(i)), num(lo.rase_ci(i))));
            let cols: Vec<String> = LINE_COLUMNS.iter().map(|c| cell(lo, c, Outcome::rase)).collect();
            let ratio = match (lo.floor, lo.index("adaptive")) {
                (Some(f), Some(i)) => format!("{:.3}", lo.rase(i) / f.rase),
                _ => "—".into(),
            };
            let paired = match (lo.index("adaptive"), lo.index("ql-m*")) {
                (Some(i), Some(j)) => format!("{:.3}", lo.rase(i) / lo.rase(j)),
                _ => "—".into(),
            };
            let (mw, pw) = match lo.floor {
                Some(f) => (format!(" [{:.1}]", f.mean_wait), format!(" [{:.3}]", f.p_wait)),
                None => (String::new(), String::new()),
            };
            let patience = |theta: f64| if theta > 0.0 { format!("{:.1}", 1.0 / theta / 60.0) } else { "∞".into() };
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.1}{mw} | {:.3}{pw} | {:.3} | {} [{}] | {} | {} | {} | {} | {} |",
                o.name,
                lo.name,
                lo.n as f64 / total.max(1) as f64,
                lo.mean_wait(),
                lo.delayed as f64 / lo.n.max(1) as f64,
                lo.abandoned as f64 / lo.n.max(1) as f64,
                patience(l.learned_theta),
                patience(l.true_theta),
                floor,
                star,
                cols.join(" | "),
                ratio,
                paired
            );
        }
    }
    s
}

/// Average squared error (s²), mean absolute error and mean error (s) per predictor.
pub fn error_table(outs: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| scenario | measured | {} |", COLUMNS.iter().map(|c| format!("{c} ASE / MAE / bias")).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(COLUMNS.len()));
    for o in outs {
        let cols: Vec<String> = COLUMNS
            .iter()
            .map(|c| match o.index(c) {
                Some(i) if o.ase(i) >= 1e6 => format!("{:.2e} / {:.1} / {:+.1}", o.ase(i), o.mae(i), o.bias(i)),
                Some(i) => format!("{:.0} / {:.1} / {:+.1}", o.ase(i), o.mae(i), o.bias(i)),
                None => "—".into(),
            })
            .collect();
        let _ = writeln!(s, "| {} | {} | {} |", o.name, o.n, cols.join(" | "));
    }
    s
}

/// Simulated span and wall-clock time per scenario.
pub fn timing_table(outs: &[Outcome]) -> String {
    let mut s = String::from("| scenario | simulated (h) | run time (s) |\n|---|---:|---:|\n");
    for o in outs {
        let _ = writeln!(s, "| {} | {:.1} | {:.1} |", o.name, o.sim_secs / 3600.0, o.run_secs);
    }
    s
}
