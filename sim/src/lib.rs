//! `frontdesk-sim`: a discrete-event contact-center simulator that scores frontdesk's hold-time predictors.
//!
//! It plays Poisson clients (constant or time-varying rate) into queues served by skilled agents, with
//! exponential or lognormal handle times and patience, and feeds a real
//! [`StatusMonitor`](frontdesk_core::monitor::StatusMonitor) the same [`CenterEvent`](frontdesk_core::center_event::CenterEvent)s
//! a center would. Every predictor sees the monitor's observations and is asked, for each arriving client,
//! how long it will wait; the client's actual delay (its potential delay if it abandons) scores the answer.
//! [`floor`] gives the exact error floor of M/M/s+M to check the simulation against.
//!
//! Everything is seeded, so a scenario gives the same figures on every run.

pub mod dist;
pub mod engine;
pub mod floor;
pub mod report;
pub mod scenarios;

pub use dist::{Arrivals, Dist};
pub use engine::{media_pooled_estimators, run, run_with, AgentGroup, Line, MediaPooled, Outcome, QueueSpec, Scenario};
pub use floor::{mmsm_floor, Floor};
