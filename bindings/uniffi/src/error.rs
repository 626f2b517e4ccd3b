//! Errors as foreign exceptions: one uniffi error enum whose variants follow the wire's error codes.

use frontdesk_core::protocol::{ErrorBody, ErrorCode as CoreCode};

/// Why something failed; each variant becomes an exception class whose message reads like the text
/// after each `#[error]` ("not found: no order o3"). Flat, so foreign code sees that text as the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum FrontdeskError {
    /// The broker could not read a frame (a bug on one side).
    #[error("malformed frame: {message}")]
    Malformed {
        /// What was wrong.
        message: String,
    },
    /// The frame or message is too large.
    #[error("too large: {message}")]
    TooLarge {
        /// What was too large.
        message: String,
    },
    /// This library speaks a protocol version the broker does not; update the app.
    #[error("unsupported protocol version: {message}")]
    UnsupportedVersion {
        /// Details.
        message: String,
    },
    /// The token was refused; get a new one and call `authenticate`.
    #[error("not authenticated: {message}")]
    Unauthenticated {
        /// Details.
        message: String,
    },
    /// The caller may not do this.
    #[error("forbidden: {message}")]
    Forbidden {
        /// Details.
        message: String,
    },
    /// No such thing, or it belongs to someone else.
    #[error("not found: {message}")]
    NotFound {
        /// Details.
        message: String,
    },
    /// The request's content was refused; fix it and retry.
    #[error("invalid: {message}")]
    Invalid {
        /// Details.
        message: String,
    },
    /// The invitation, token or session has expired.
    #[error("expired: {message}")]
    Expired {
        /// Details.
        message: String,
    },
    /// The thing is not in a state that allows it (e.g. an order already shipped).
    #[error("conflict: {message}")]
    Conflict {
        /// Details.
        message: String,
    },
    /// The center cannot do it now (medium not offered, no queue); try later or another medium.
    #[error("unavailable: {message}")]
    Unavailable {
        /// Details.
        message: String,
    },
    /// Too many requests; slow down.
    #[error("rate limited: {message}")]
    RateLimited {
        /// Details.
        message: String,
    },
    /// A fault on the broker side.
    #[error("internal error: {message}")]
    Internal {
        /// Details.
        message: String,
    },
    /// Nothing arrived within the time given to a blocking wait; the request may still complete.
    #[error("timed out: {message}")]
    Timeout {
        /// What was waited for.
        message: String,
    },
    /// The client or center was closed or shut down; create a new one.
    #[error("closed: {message}")]
    Closed {
        /// What was closed.
        message: String,
    },
}

/// Stable code of an error, for programs (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ErrorCode {
    /// See [`FrontdeskError::Malformed`].
    Malformed,
    /// See [`FrontdeskError::TooLarge`].
    TooLarge,
    /// See [`FrontdeskError::UnsupportedVersion`].
    UnsupportedVersion,
    /// See [`FrontdeskError::Unauthenticated`].
    Unauthenticated,
    /// See [`FrontdeskError::Forbidden`].
    Forbidden,
    /// See [`FrontdeskError::NotFound`].
    NotFound,
    /// See [`FrontdeskError::Invalid`].
    Invalid,
    /// See [`FrontdeskError::Expired`].
    Expired,
    /// See [`FrontdeskError::Conflict`].
    Conflict,
    /// See [`FrontdeskError::Unavailable`].
    Unavailable,
    /// See [`FrontdeskError::RateLimited`].
    RateLimited,
    /// See [`FrontdeskError::Internal`].
    Internal,
}

/// An error carried inside an event (events cannot throw).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ErrorInfo {
    /// Code.
    pub code: ErrorCode,
    /// Explanation.
    pub message: String,
}

impl From<CoreCode> for ErrorCode {
    fn from(c: CoreCode) -> Self {
        match c {
            CoreCode::Malformed => ErrorCode::Malformed,
            CoreCode::TooLarge => ErrorCode::TooLarge,
            CoreCode::UnsupportedVersion => ErrorCode::UnsupportedVersion,
            CoreCode::Unauthenticated => ErrorCode::Unauthenticated,
            CoreCode::Forbidden => ErrorCode::Forbidden,
            CoreCode::NotFound => ErrorCode::NotFound,
            CoreCode::Invalid => ErrorCode::Invalid,
            CoreCode::Expired => ErrorCode::Expired,
            CoreCode::Conflict => ErrorCode::Conflict,
            CoreCode::Unavailable => ErrorCode::Unavailable,
            CoreCode::RateLimited => ErrorCode::RateLimited,
            CoreCode::Internal => ErrorCode::Internal,
        }
    }
}

impl From<ErrorBody> for ErrorInfo {
    fn from(e: ErrorBody) -> Self {
        ErrorInfo { code: e.code.into(), message: e.message }
    }
}

impl From<ErrorInfo> for FrontdeskError {
    fn from(e: ErrorInfo) -> Self {
        let message = e.message;
        match e.code {
            ErrorCode::Malformed => FrontdeskError::Malformed { message },
            ErrorCode::TooLarge => FrontdeskError::TooLarge { message },
            ErrorCode::UnsupportedVersion => FrontdeskError::UnsupportedVersion { message },
            ErrorCode::Unauthenticated => FrontdeskError::Unauthenticated { message },
            ErrorCode::Forbidden => FrontdeskError::Forbidden { message },
            ErrorCode::NotFound => FrontdeskError::NotFound { message },
            ErrorCode::Invalid => FrontdeskError::Invalid { message },
            ErrorCode::Expired => FrontdeskError::Expired { message },
            ErrorCode::Conflict => FrontdeskError::Conflict { message },
            ErrorCode::Unavailable => FrontdeskError::Unavailable { message },
            ErrorCode::RateLimited => FrontdeskError::RateLimited { message },
            ErrorCode::Internal => FrontdeskError::Internal { message },
        }
    }
}

impl From<ErrorBody> for FrontdeskError {
    fn from(e: ErrorBody) -> Self {
        ErrorInfo::from(e).into()
    }
}

/// Turns a "no such thing" into the error foreign callers get.
pub(crate) fn not_found(what: impl std::fmt::Display) -> FrontdeskError {
    FrontdeskError::NotFound { message: what.to_string() }
}

/// The runtime is gone.
pub(crate) fn closed() -> FrontdeskError {
    FrontdeskError::Closed { message: "the frontdesk runtime was shut down".into() }
}
