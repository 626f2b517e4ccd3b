//! Runs every scenario and prints the hold-time report (see docs/holdtime.md).
//!
//! `frontdesk-sim [--scale X] [--only SUBSTRING]`: X scales the measured arrivals (default 1).

use frontdesk_sim::report::{error_table, line_table, rase_table, timing_table};
use frontdesk_sim::scenarios::standard;
use std::time::Instant;

fn main() {
    let mut scale = 1.0;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => scale = args.next().and_then(|x| x.parse().ok()).expect("--scale takes a number"),
            "--only" => only = args.next(),
            _ => {
                eprintln!("usage: frontdesk-sim [--scale X] [--only SUBSTRING]");
                std::process::exit(2);
            }
        }
    }
    let started = Instant::now();
    let mut outs = vec![];
    for sc in standard(scale) {
        if only.as_ref().is_some_and(|o| !sc.name.contains(o.as_str())) {
            continue;
        }
        let o = frontdesk_sim::run(&sc);
        let a = o.index("adaptive").map_or(f64::NAN, |i| o.rase(i));
        eprintln!("{:<36} {:>8} clients {:>7.1} s  adaptive RASE {:.4}  floor {}", o.name, o.n, o.run_secs, a, o.floor.map_or("—".into(), |f| format!("{:.4}", f.rase)));
        outs.push(o);
    }
    println!("## RASE (average squared error / squared mean delay)\n");
    println!("{}", rase_table(&outs));
    if outs.iter().any(|o| o.lines.len() > 1) {
        println!("## Per line (queue and medium)\n");
        println!("{}", line_table(&outs));
    }
    println!("## Average squared error (s²) / mean absolute error (s) / mean error (s)\n");
    println!("{}", error_table(&outs));
    println!("## Run time\n");
    println!("{}", timing_table(&outs));
    println!("Total: {:.1} s (scale {scale}).", started.elapsed().as_secs_f64());
}
