//! Status codes, the per-thread error message, and the guard that keeps panics on the Rust side.

use frontdesk_core::monitor::MonitorError;
use frontdesk_core::protocol::{DecodeError, ErrorBody, ErrorCode};
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Result of every `fd_` call that can fail; `FD_OK` is zero so `if (fd_x(...))` tests for failure.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdStatus {
    /// Success.
    FD_OK = 0,
    /// A required pointer argument was NULL.
    FD_ERR_NULL_POINTER = 1,
    /// The handle was freed, never created, or is of another kind.
    FD_ERR_INVALID_HANDLE = 2,
    /// A string argument is not valid UTF-8.
    FD_ERR_INVALID_UTF8 = 3,
    /// An argument is malformed: bad JSON, an unknown enum value, a bad presentity.
    FD_ERR_INVALID_ARGUMENT = 4,
    /// The call is not allowed in the current state (no transport up, nothing offered, ...).
    FD_ERR_WRONG_STATE = 5,
    /// The agent, queue, interaction or record does not exist.
    FD_ERR_NOT_FOUND = 6,
    /// The caller may not do this.
    FD_ERR_FORBIDDEN = 7,
    /// The center cannot do it now (medium not offered, rate limited).
    FD_ERR_UNAVAILABLE = 8,
    /// The invitation, credential or session expired.
    FD_ERR_EXPIRED = 9,
    /// Bytes from the peer are not a valid frame (too large, malformed, wrong version).
    FD_ERR_PROTOCOL = 10,
    /// A panic inside the library or a callback was caught; the call did not complete.
    FD_ERR_PANIC = 11,
    /// An earlier panic left this handle in an unknown state; only its `_free` still works.
    FD_ERR_POISONED = 12,
    /// A fault inside the library.
    FD_ERR_INTERNAL = 13,
}

/// A failed call: the code the caller branches on and the text a person reads.
#[derive(Debug, Clone)]
pub(crate) struct Error {
    pub status: FdStatus,
    pub message: String,
}

/// Result type of every entry point's body.
pub(crate) type Res<T> = Result<T, Error>;

impl Error {
    /// Builds an error.
    pub fn new(status: FdStatus, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }

    /// A NULL where a pointer was required.
    pub fn null(what: &str) -> Self {
        Error::new(FdStatus::FD_ERR_NULL_POINTER, format!("{what} is NULL"))
    }

    /// A malformed argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(FdStatus::FD_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<ErrorBody> for Error {
    fn from(e: ErrorBody) -> Self {
        let status = match e.code {
            ErrorCode::Malformed | ErrorCode::TooLarge | ErrorCode::UnsupportedVersion => FdStatus::FD_ERR_PROTOCOL,
            ErrorCode::Unauthenticated | ErrorCode::Forbidden => FdStatus::FD_ERR_FORBIDDEN,
            ErrorCode::NotFound => FdStatus::FD_ERR_NOT_FOUND,
            ErrorCode::Invalid => FdStatus::FD_ERR_INVALID_ARGUMENT,
            ErrorCode::Expired => FdStatus::FD_ERR_EXPIRED,
            ErrorCode::Conflict => FdStatus::FD_ERR_WRONG_STATE,
            ErrorCode::Unavailable | ErrorCode::RateLimited => FdStatus::FD_ERR_UNAVAILABLE,
            ErrorCode::Internal => FdStatus::FD_ERR_INTERNAL,
        };
        Error::new(status, e.message)
    }
}

impl From<MonitorError> for Error {
    fn from(e: MonitorError) -> Self {
        ErrorBody::from(e).into()
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::new(FdStatus::FD_ERR_PROTOCOL, e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("bad JSON: {e}"))
    }
}

thread_local! {
    // Kept per thread so concurrent callers never read each other's message.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // Interior NULs cannot be shown through a C string; replace them rather than lose the message.
    let c = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = c);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs an entry point's body; turns errors and panics into a status and a message for the caller.
pub(crate) fn guard(f: impl FnOnce() -> Res<()>) -> FdStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FdStatus::FD_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&format!("panic caught at the C boundary: {}", panic_message(payload.as_ref())));
            FdStatus::FD_ERR_PANIC
        }
    }
}

/// Text of the last failed call on this thread; never NULL ("" before any failure).
///
/// Ownership: the library owns the string; it stays valid until the next failing `fd_` call on the
/// same thread. Do not free it. Successful calls leave it unchanged.
#[no_mangle]
pub extern "C" fn fd_last_error_message() -> *const c_char {
    // Reading a thread-local cannot fail after the thread started; still no panic may escape.
    catch_unwind(|| LAST_ERROR.with(|l| l.borrow().as_ptr())).unwrap_or(c"".as_ptr())
}

/// Stable name of a status code ("FD_ERR_NOT_FOUND"), for logs; a static string, never freed.
#[no_mangle]
pub extern "C" fn fd_status_name(status: i32) -> *const c_char {
    let s: &'static std::ffi::CStr = match status {
        0 => c"FD_OK",
        1 => c"FD_ERR_NULL_POINTER",
        2 => c"FD_ERR_INVALID_HANDLE",
        3 => c"FD_ERR_INVALID_UTF8",
        4 => c"FD_ERR_INVALID_ARGUMENT",
        5 => c"FD_ERR_WRONG_STATE",
        6 => c"FD_ERR_NOT_FOUND",
        7 => c"FD_ERR_FORBIDDEN",
        8 => c"FD_ERR_UNAVAILABLE",
        9 => c"FD_ERR_EXPIRED",
        10 => c"FD_ERR_PROTOCOL",
        11 => c"FD_ERR_PANIC",
        12 => c"FD_ERR_POISONED",
        13 => c"FD_ERR_INTERNAL",
        _ => c"FD_ERR_UNKNOWN_STATUS",
    };
    s.as_ptr()
}
