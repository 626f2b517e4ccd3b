//! frontdesk for Kotlin, Swift and Python, through uniffi.
//!
//! The app holds a [`FrontdeskClient`](client::FrontdeskClient) and implements a
//! [`ClientListener`](events::ClientListener). Requests return a request id at once; answers
//! (`Completed`/`Failed`) and pushes arrive at the listener from the library's own thread
//! ([`runtime`]), so no call blocks the UI thread. [`EmbeddedCenter`](center::EmbeddedCenter) is a
//! whole center in-process, for tests and demos. The core stays free of uniffi: every exported type
//! here mirrors one of `frontdesk-core`.

// The namespace stays `frontdesk` (modules `frontdesk.py`, `frontdesk.kt`) while the library file is
// libfrontdesk_uniffi, so it never collides with the C ABI's libfrontdesk.
uniffi::setup_scaffolding!("frontdesk");

#[cfg(feature = "network")]
pub mod agent;
pub mod call;
pub mod center;
pub mod client;
pub mod error;
pub mod events;
#[cfg(feature = "network")]
mod network;
mod runtime;
pub mod types;

#[cfg(feature = "network")]
pub use agent::{AgentConsoleEvent, AgentListener, AgentView, FrontdeskAgent};
pub use center::EmbeddedCenter;
pub use client::FrontdeskClient;
pub use error::{ErrorCode, ErrorInfo, FrontdeskError};
pub use events::{AgentEvent, AgentSeat, ClientEvent, ClientListener, ListenerError, Response};
