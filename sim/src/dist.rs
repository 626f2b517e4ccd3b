//! Random inputs of the simulator: handle times, patience and arrival rates.

use rand::rngs::SmallRng;
use rand::Rng;
use rand_distr::StandardNormal;

/// A distribution of durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Exponential with this mean.
    Exp {
        /// Mean (s).
        mean: f64,
    },
    /// Lognormal with this mean and coefficient of variation.
    LogNormal {
        /// Mean (s).
        mean: f64,
        /// Standard deviation over mean.
        cv: f64,
    },
    /// Infinite (clients who never abandon).
    Never,
}

impl Dist {
    /// One draw.
    pub fn sample(&self, rng: &mut SmallRng) -> f64 {
        match *self {
            Dist::Exp { mean } => -mean * (1.0 - rng.gen::<f64>()).ln(),
            Dist::LogNormal { mean, cv } => {
                let s2 = (1.0 + cv * cv).ln();
                let z: f64 = rng.sample(StandardNormal);
                (mean.ln() - s2 / 2.0 + s2.sqrt() * z).exp()
            }
            Dist::Never => f64::INFINITY,
        }
    }

    /// Mean (infinite for `Never`).
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Exp { mean } | Dist::LogNormal { mean, .. } => mean,
            Dist::Never => f64::INFINITY,
        }
    }

    /// Whether the distribution is exponential (the M of M/M/s+M), so the analytic floor applies.
    pub fn is_exponential(&self) -> bool {
        matches!(self, Dist::Exp { .. })
    }
}

/// How clients arrive at a queue: Poisson with a constant or a time-varying rate (per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// Homogeneous Poisson.
    Constant(f64),
    /// Rate `mean·(1 + amplitude·sin(2πt/period))`, a day's swing with `period` = 86 400 s.
    Sinusoid {
        /// Mean rate (1/s).
        mean: f64,
        /// Relative swing, e.g. 0.4 for ±40 %.
        amplitude: f64,
        /// Period (s).
        period: f64,
    },
}

impl Arrivals {
    /// Rate at time `t` (1/s).
    pub fn rate(&self, t: f64) -> f64 {
        match *self {
            Arrivals::Constant(l) => l,
            Arrivals::Sinusoid { mean, amplitude, period } => mean * (1.0 + amplitude * (std::f64::consts::TAU * t / period).sin()),
        }
    }

    /// Mean rate (1/s).
    pub fn mean(&self) -> f64 {
        match *self {
            Arrivals::Constant(l) => l,
            Arrivals::Sinusoid { mean, .. } => mean,
        }
    }

    /// The next arrival after `t`, by thinning a Poisson process at the peak rate.
    pub fn next(&self, t: f64, rng: &mut SmallRng) -> f64 {
        match *self {
            Arrivals::Constant(l) => t - (1.0 - rng.gen::<f64>()).ln() / l,
            Arrivals::Sinusoid { mean, amplitude, .. } => {
                let peak = mean * (1.0 + amplitude.abs());
                let mut t = t;
                loop {
                    t -= (1.0 - rng.gen::<f64>()).ln() / peak;
                    if rng.gen::<f64>() * peak <= self.rate(t) {
                        return t;
                    }
                }
            }
        }
    }
}
