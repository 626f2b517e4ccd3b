//! Network transports for frontdesk. The core stays free of I/O; this crate adapts it to tokio and
//! WebSocket (`ws://`, and `wss://` through rustls).

use frontdesk_core::driver::Runtime;
use frontdesk_core::Timestamp;
use futures::future::{BoxFuture, FutureExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "websocket")]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod ws;

/// The driver's clock and timers on tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

/// Wall-clock now as a core timestamp.
pub fn wall_clock() -> Timestamp {
    Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0))
}

impl Runtime for TokioRuntime {
    fn now(&self) -> Timestamp {
        wall_clock()
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let d = Duration::from_millis(at.0.saturating_sub(wall_clock().0));
        tokio::time::sleep(d).boxed()
    }
}
