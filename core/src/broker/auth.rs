//! Authentication of connecting parties: a pluggable verifier turns a credential into a principal.

use crate::principal::Principal;
use crate::time::Timestamp;
use std::collections::HashMap;

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown or forged credential.
    #[error("invalid credential")]
    Invalid,
    /// The credential was valid but is no longer.
    #[error("credential expired")]
    Expired,
}

/// Checks credentials; the server plugs signed expiring tokens here, tests a fixed table.
pub trait Verifier: Send {
    /// The principal a token stands for at `now`.
    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError>;
}

/// A fixed table of tokens, each optionally expiring.
#[derive(Debug, Default, Clone)]
pub struct StaticTokens {
    tokens: HashMap<String, (Principal, Option<Timestamp>)>,
}

impl StaticTokens {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token that never expires.
    pub fn with(mut self, token: impl Into<String>, who: Principal) -> Self {
        self.tokens.insert(token.into(), (who, None));
        self
    }

    /// Adds a token valid until `expires`.
    pub fn with_expiry(mut self, token: impl Into<String>, who: Principal, expires: Timestamp) -> Self {
        self.tokens.insert(token.into(), (who, Some(expires)));
        self
    }
}

impl Verifier for StaticTokens {
    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        match self.tokens.get(token) {
            None => Err(AuthError::Invalid),
            Some((_, Some(exp))) if now >= *exp => Err(AuthError::Expired),
            Some((p, _)) => Ok(p.clone()),
        }
    }
}
