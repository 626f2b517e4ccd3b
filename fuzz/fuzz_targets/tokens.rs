//! The server's JWT verifier (`frontdesk_server::tokens`) and the XMPP SASL PLAIN check built on it.
//!
//! The first byte picks the mode:
//! - even: the rest, as UTF-8, is a token for `JwtVerifier::verify` and a SASL PLAIN response for
//!   `xmpp::sasl_plain`. Property: never panics, and nothing unsigned gets in — only the seed tokens
//!   (signed with the test secret) may verify, and only as the principal their signature covers.
//! - odd: the rest picks a principal, a time and a lifetime; the token `issue` makes verifies as that
//!   principal before it expires and as `Expired` after, is refused under another secret, and a copy
//!   with one byte changed (position and value from the input) never verifies as someone else.
#![no_main]

use base64::Engine;
use frontdesk_core::broker::auth::{AuthError, Verifier};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::Timestamp;
use frontdesk_server::tokens::{issue, JwtVerifier};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";
/// 2026-11-24, the time the seed tokens were issued at (they are valid for a year).
const NOW: Timestamp = Timestamp(1_795_597_200_000);

fn principal(kind: u8, id: &str) -> Principal {
    match kind % 4 {
        0 => Principal::Client(id.into()),
        1 => Principal::Agent(id.into(), AgentRole::Agent),
        2 => Principal::Agent(id.into(), AgentRole::Supervisor),
        _ => Principal::Service(id.to_string()),
    }
}

fn arbitrary_token(s: &str) {
    let v = JwtVerifier::new(SECRET);
    if let Ok(p) = v.verify(s, NOW) {
        // Only a token this secret signed gets here; re-issuing its principal must give one that verifies the same.
        let again = issue(SECRET, &p, NOW, 60);
        assert_eq!(v.verify(&again, NOW), Ok(p));
    }
    let _ = v.verify(s, Timestamp(u64::MAX));
    let _ = v.verify(s, Timestamp(0));
    let _ = frontdesk_server::xmpp::sasl_plain(s, &v);
    // And as the password of a well-formed SASL PLAIN response.
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{s}"));
    let _ = frontdesk_server::xmpp::sasl_plain(&b64, &v);
}

fn issued(data: &[u8]) {
    if data.len() < 12 {
        return;
    }
    let kind = data[0];
    let now = Timestamp(u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as u64 * 1000 + 1_700_000_000_000);
    // A lifetime up to ~8.5 years, in seconds.
    let ttl = u32::from_le_bytes([data[5], data[6], data[7], 0]) as u64 * 16;
    let (pos, val) = (u16::from_le_bytes([data[8], data[9]]) as usize, data[10]);
    let id = String::from_utf8_lossy(&data[11..]).into_owned();
    let who = principal(kind, &id);
    let t = issue(SECRET, &who, now, ttl);
    let v = JwtVerifier::new(SECRET);
    let r = v.verify(&t, now);
    if id.is_empty() {
        assert_eq!(r, Err(AuthError::Invalid), "an empty id must not verify");
    } else if ttl == 0 {
        assert_eq!(r, Err(AuthError::Expired));
    } else {
        assert_eq!(r, Ok(who.clone()), "{t}");
        // Expiry is at whole seconds: `now / 1000 + ttl`.
        let exp_ms = (now.0 / 1000 + ttl) * 1000;
        assert_eq!(v.verify(&t, Timestamp(exp_ms - 1)), Ok(who.clone()));
        assert_eq!(v.verify(&t, Timestamp(exp_ms)), Err(AuthError::Expired));
    }
    assert_eq!(JwtVerifier::new(b"another secret").verify(&t, now), Err(AuthError::Invalid));
    let mut forged = t.clone().into_bytes();
    let at = pos % forged.len();
    if forged[at] != val {
        forged[at] = val;
        if let Ok(s) = String::from_utf8(forged) {
            match v.verify(&s, now) {
                Ok(p) => assert_eq!(p, who, "a changed token verified as someone else: {s}"),
                Err(_) => {}
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        if let Ok(s) = std::str::from_utf8(rest) {
            arbitrary_token(s);
        }
    } else {
        issued(rest);
    }
});
