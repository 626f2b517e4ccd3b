//! Crossing the JS boundary: JSON both ways (serde_json is linked for the protocol anyway), errors as
//! `Error` objects with a `code`, and the host's clock and timers.

use js_sys::{Function, JSON};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use frontdesk_core::time::Timestamp;

#[wasm_bindgen]
extern "C" {
    /// The host's `setTimeout` (global in browsers, workers and node alike).
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(f: &Function, ms: f64) -> JsValue;
    /// The host's `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
}

/// Wall-clock time for the core.
pub fn now() -> Timestamp {
    Timestamp(js_sys::Date::now() as u64)
}

/// JSON text of a Rust value (`null` if it cannot be written, which our types never do).
pub fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A plain JS value from JSON text.
pub fn parse(s: &str) -> JsValue {
    JSON::parse(s).unwrap_or(JsValue::NULL)
}

/// A plain JS value (objects, arrays) from a Rust value.
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    parse(&json(v))
}

/// A property of a JS object.
pub fn get(o: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(o, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A Rust value from a plain JS value; the error says which field is wrong.
pub fn from_js<T: DeserializeOwned>(v: &JsValue) -> Result<T, JsValue> {
    let s = JSON::stringify(v).map(String::from).map_err(|_| error("invalid", "value is not JSON"))?;
    serde_json::from_str(&s).map_err(|e| error("invalid", &e.to_string()))
}

/// A JS `Error` with a stable `code` (the protocol's error codes, or `invalid` for bad arguments).
pub fn error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}
