//! frontdesk-core: the transport-agnostic heart of frontdesk.
//!
//! Three sans-IO state machines — [`Client`](client::Client), [`Broker`](broker::Broker) and
//! [`StatusMonitor`](monitor::StatusMonitor) — take inputs with an explicit `now` and are polled for
//! outputs. Nothing in this crate reads a clock, opens a socket or spawns a thread.

pub mod center_event;
pub mod ids;
pub mod medium;
pub mod monitor;
pub mod principal;
pub mod profile;
pub mod records;
pub mod status;
pub mod time;

pub use ids::*;
pub use medium::Medium;
pub use time::Timestamp;
pub mod alert;
pub mod attachment;
pub mod call;
pub mod callback;
pub mod interaction;
pub mod invitation;
pub mod protocol;
pub mod push;
pub mod broker;
pub mod client;
pub mod agent;
pub mod session;
pub mod typing;
pub mod embedded;
pub mod driver;
pub mod transport;
