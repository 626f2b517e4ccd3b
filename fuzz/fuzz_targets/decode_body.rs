//! `protocol::decode_body` on arbitrary UTF-8, as `Request` and as `AgentRequest`.
//!
//! When a body does not decode, `decode_body` walks the JSON to name the failing field (bounded by a
//! budget), so a hostile body must cost little and never panic. Properties: never panics; a refusal
//! is `invalid` with a non-empty message; a body that decodes re-encodes to JSON that decodes to the
//! same value (the wire form is stable).
#![no_main]

use frontdesk_core::protocol::{decode_body, AgentRequest, ErrorCode, Request};
use libfuzzer_sys::fuzz_target;

fn check<T>(body: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    match decode_body::<T>(body) {
        Ok(v) => {
            let again = serde_json::to_string(&v).expect("requests serialize");
            let back = decode_body::<T>(&again).unwrap_or_else(|e| panic!("re-encoded {again} does not decode: {e:?}"));
            assert_eq!(back, v, "{body} -> {again}");
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Invalid, "{body}: {e:?}");
            assert!(!e.message.is_empty(), "{body}: empty message");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    check::<Request>(body);
    check::<AgentRequest>(body);
});
