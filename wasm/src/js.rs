//! The host's clock and timers.

use frontdesk_core::time::Timestamp;
use js_sys::Function;
use wasm_bindgen::prelude::*;

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
