//! frontdesk-ffi: a C ABI over the frontdesk client, broker and status monitor.
//!
//! Rules the header repeats for C developers:
//! - Handles (`FdMonitor*`, `FdBroker*`, `FdClient*`, `FdSubscription*`) are opaque ids checked
//!   against a registry on every call: a NULL, freed or foreign handle returns an error code.
//! - Every fallible call returns an `FdStatus`; `fd_last_error_message()` explains the last failure on
//!   the calling thread. No panic crosses the boundary: it comes back as `FD_ERR_PANIC`.
//! - Strings in are borrowed NUL-terminated UTF-8; strings and bytes out belong to the caller and are
//!   freed with `fd_string_free` / `fd_bytes_free`, never with `free()`.
//! - All functions may be called from any thread; calls on one handle are serialized internally.
//!   Time is always an argument (`now_ms`, milliseconds since the Unix epoch): the library has no clock.

#![allow(non_camel_case_types)]
#![deny(missing_docs)]

pub mod agent;
pub mod broker;
pub mod client;
pub mod error;
pub mod events;
pub mod handle;
pub mod monitor;
mod net;
mod read;
#[cfg(feature = "schema")]
pub mod schema;
pub mod strings;
pub mod types;

pub use agent::*;
pub use broker::*;
pub use client::*;
pub use error::*;
pub use events::*;
pub use handle::*;
pub use monitor::*;
pub use strings::*;
pub use types::*;

/// Version of this library as a static string ("0.1.0"); never freed.
#[no_mangle]
pub extern "C" fn fd_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Milliseconds since the Unix epoch from the system clock, for hosts without a clock of their own.
#[no_mangle]
pub extern "C" fn fd_now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
