//! Signed, expiring credentials (JWT, HS256): `sub` names the principal, `role` the agent role.

use frontdesk_core::broker::auth::{AuthError, Verifier};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::Timestamp;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<AgentRole>,
    exp: u64,
}

/// Issues a token for a principal valid for `ttl_secs` from `now`.
pub fn issue(secret: &[u8], who: &Principal, now: Timestamp, ttl_secs: u64) -> String {
    let (sub, role) = match who {
        Principal::Client(c) => (format!("client:{c}"), None),
        Principal::Agent(a, r) => (format!("agent:{a}"), Some(*r)),
        Principal::Service(s) => (format!("service:{s}"), None),
    };
    let claims = Claims { sub, role, exp: (now.as_millis() / 1000).saturating_add(ttl_secs) };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).expect("HS256 signing cannot fail")
}

/// Verifies HS256 tokens signed with the server's secret.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier")
    }
}

impl JwtVerifier {
    /// With the shared secret.
    pub fn new(secret: &[u8]) -> Self {
        JwtVerifier { key: DecodingKey::from_secret(secret) }
    }
}

impl Verifier for JwtVerifier {
    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        // Expiry is checked against the broker's `now`, not the library's clock, so tests can move time.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = decode::<Claims>(token, &self.key, &v).map_err(|_| AuthError::Invalid)?;
        // `exp` comes from outside: a huge one saturates (a token valid for ever, as its signer asked)
        // rather than overflowing.
        if data.claims.exp.saturating_mul(1000) <= now.as_millis() {
            return Err(AuthError::Expired);
        }
        let (kind, id) = data.claims.sub.split_once(':').ok_or(AuthError::Invalid)?;
        if id.is_empty() {
            return Err(AuthError::Invalid);
        }
        match kind {
            "client" => Ok(Principal::Client(id.into())),
            "agent" => Ok(Principal::Agent(id.into(), data.claims.role.unwrap_or(AgentRole::Agent))),
            "service" => Ok(Principal::Service(id.into())),
            _ => Err(AuthError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_resist_forgery() {
        let now = Timestamp(1_800_000_000_000);
        let t = issue(b"secret", &Principal::Client("alice".into()), now, 60);
        let v = JwtVerifier::new(b"secret");
        assert_eq!(v.verify(&t, now), Ok(Principal::Client("alice".into())));
        assert_eq!(v.verify(&t, Timestamp(now.0 + 61_000)), Err(AuthError::Expired));
        assert_eq!(JwtVerifier::new(b"other").verify(&t, now), Err(AuthError::Invalid));
        let mut forged = t.clone();
        forged.insert(forged.len() - 3, 'x');
        assert_eq!(v.verify(&forged, now), Err(AuthError::Invalid));
        let a = issue(b"secret", &Principal::Agent("ann".into(), AgentRole::Supervisor), now, 60);
        assert_eq!(v.verify(&a, now), Ok(Principal::Agent("ann".into(), AgentRole::Supervisor)));
    }
}
