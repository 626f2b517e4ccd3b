//! Broker frames and saved state read with the browser's `JSON.parse` (free: it is in every browser)
//! instead of serde_json's deserializer, which with its error messages was most of the module.

use frontdesk_core::protocol::{DecodeError, ErrorBody, ErrorCode};
use frontdesk_core::session::{Frame, FrameKind};
use frontdesk_core::ClientId;
use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::prelude::*;

fn get(o: &JsValue, k: &str) -> Option<JsValue> {
    Reflect::get(o, &JsValue::from_str(k)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn bad(what: &str) -> DecodeError {
    DecodeError::Malformed(format!("invalid field `{what}`"))
}

/// A whole number ≥ 0 (JSON numbers are doubles here: exact up to 2^53, far beyond any id or sequence).
fn num(o: &JsValue, k: &str) -> Result<Option<u64>, DecodeError> {
    get(o, k).map(|v| v.as_f64().filter(|n| *n >= 0.0 && n.fract() == 0.0).map(|n| n as u64).ok_or_else(|| bad(k))).transpose()
}

fn flag(o: &JsValue, k: &str) -> Result<Option<bool>, DecodeError> {
    get(o, k).map(|v| v.as_bool().ok_or_else(|| bad(k))).transpose()
}

fn string(o: &JsValue, k: &str) -> Result<Option<String>, DecodeError> {
    get(o, k).map(|v| v.as_string().ok_or_else(|| bad(k))).transpose()
}

/// A value back to JSON text, for the layer above (which parses it again with `JSON.parse`).
fn text(o: &JsValue, k: &str) -> Option<String> {
    get(o, k).and_then(|v| JSON::stringify(&v).ok()).and_then(|s| s.as_string())
}

/// Reads a broker frame's text as the native decoder does.
pub fn decode(data: &str) -> Result<Frame, DecodeError> {
    let o = JSON::parse(data).map_err(|_| DecodeError::Malformed("not JSON".into()))?;
    if !o.is_object() || Array::is_array(&o) {
        return Err(DecodeError::Malformed("not an object".into()));
    }
    let t = string(&o, "t")?.ok_or_else(|| DecodeError::Malformed("missing field `t`".into()))?;
    let error = match get(&o, "error") {
        None => None,
        Some(e) => {
            let code = string(&e, "code")?.and_then(|c| ErrorCode::from_wire(&c)).ok_or_else(|| bad("error.code"))?;
            Some(ErrorBody::new(code, string(&e, "message")?.ok_or_else(|| bad("error.message"))?))
        }
    };
    Ok(Frame {
        t: FrameKind::from_wire(&t).ok_or_else(|| DecodeError::Malformed(format!("unknown frame `{t}`")))?,
        id: num(&o, "id")?,
        seq: num(&o, "seq")?,
        client: string(&o, "client")?.map(ClientId),
        resumed: flag(&o, "resumed")?,
        next_request: num(&o, "next_request")?,
        acked: num(&o, "acked")?,
        fatal: flag(&o, "fatal")?.unwrap_or(false),
        error,
        outcome: text(&o, "outcome"),
        event: text(&o, "event"),
        doc: text(&o, "doc").or_else(|| text(&o, "delta")).or_else(|| text(&o, "typing")),
        presentity: text(&o, "presentity"),
    })
}

/// What `save()` keeps: enough to resume the session and resend what was not answered.
pub struct Saved {
    /// The installation's id.
    pub instance: u64,
    /// The next request id.
    pub next_id: u64,
    /// The last event delivered.
    pub last_seq: u64,
    /// Requests not yet answered: id and JSON body.
    pub pending: Vec<(u64, String)>,
}

/// Reads a string from `save()`; `None` if it is not one (then the session starts afresh).
pub fn saved(s: &str) -> Option<Saved> {
    let o = JSON::parse(s).ok()?;
    let n = |k| num(&o, k).ok().flatten();
    let pending = Array::from(&get(&o, "pending").filter(Array::is_array)?)
        .iter()
        .map(|p| Some((num(&p, "0").ok()??, text(&p, "1")?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Saved { instance: n("instance")?, next_id: n("next_id")?, last_seq: n("last_seq")?, pending })
}
