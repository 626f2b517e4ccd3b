//! WebAssembly engine of the frontdesk browser client: the core's reliable [`Session`] on the
//! browser's `WebSocket` and timers.
//!
//! The engine does what must not be got wrong — authenticate and resume, the request queue that
//! survives disconnects and reloads, events once and in order, acknowledgements, resends, keep-alive
//! and backoff — with the same sans-IO code the native client runs. Request and event bodies cross as
//! JSON text: the browser's own `JSON.parse` reads them, so the module carries no per-type decoding
//! code. The Promise-based `Client` and its local view are in `frontdesk.js` (web/client.js) on top.

mod driver;
mod frame;
mod js;

use driver::{pump, Inner};
use frontdesk_core::client::ClientConfig;
use frontdesk_core::session::Session as Core;
use js_sys::Function;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A reliable session with a frontdesk server; reports to one listener `(kind, a, b)`.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<RefCell<Inner>>,
}

#[wasm_bindgen]
impl Session {
    /// A session with the server at `url` (the full `/client` URL) for `token`. `instance` names this
    /// installation; `saved` is a string from `save()` of an earlier page (its queue is resent).
    /// `listener(kind, a, b)` gets: `connected` (client id, resumed), `disconnected` (retry at, ms),
    /// `rejected` (error JSON), `answered` (request id, outcome JSON), `event` (event JSON, in order,
    /// once), `status` (presence JSON), `watch_ended` (presentity JSON), `typing` (a typing notice's
    /// JSON, not sequenced), `error` (error JSON).
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, token: &str, instance: f64, saved: Option<String>, listener: Function) -> Session {
        let saved = saved.and_then(|s| frame::saved(&s));
        let instance = saved.as_ref().map_or(instance as u64, |s| s.instance);
        let mut cfg = ClientConfig::new(token, instance);
        cfg.watch_center = false;
        let core = match saved {
            Some(s) => Core::restore(cfg, s.next_id, s.last_seq, s.pending.into_iter().map(|(id, b)| (id, b, ()))),
            None => Core::new(cfg),
        };
        Session { inner: Inner::new(core, url, listener) }
    }

    /// Starts connecting (and reconnecting until `close()`).
    pub fn start(&self) {
        self.inner.borrow_mut().core.start(js::now());
        pump(&self.inner);
    }

    /// Stops: closes the connection, no more reconnects; queued requests stay for `save()`.
    pub fn close(&self) {
        self.inner.borrow_mut().shutdown();
    }

    /// Replaces the credential (after a `rejected` report); call `start()` again.
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: &str) {
        self.inner.borrow_mut().core.set_token(token);
    }

    /// Throws what `send` would throw for this body (`too_large` as JSON text), without queuing it:
    /// for a layer that holds requests itself before handing them over.
    #[wasm_bindgen(js_name = checkRequest)]
    pub fn check_request(&self, body: &str) -> Result<(), JsValue> {
        let r = self.inner.borrow().core.config().check_request_size(body);
        r.map_err(|e| JsValue::from_str(&driver::error_json(&e)))
    }

    /// Queues a request (`{"op":…}` as JSON text); returns its id. It goes out now if connected, or
    /// once connected; its answer comes as `answered`, after any number of reconnects. A request
    /// over the frame limit is never queued: this throws the error (`{"code":"too_large",…}` as
    /// JSON text).
    pub fn send(&self, body: String) -> Result<f64, JsValue> {
        let r = self.inner.borrow_mut().core.enqueue(body, ());
        match r {
            Ok(id) => {
                pump(&self.inner);
                Ok(id as f64)
            }
            // The refusal as it is (`too_large`, or `internal` once the ids are exhausted).
            Err(e) => Err(JsValue::from_str(&driver::error_json(&e))),
        }
    }

    /// Sends a soft-state frame (a typing notice, JSON text) if connected, else drops it: it is never
    /// queued, so it cannot arrive late. Returns whether it went out.
    #[wasm_bindgen(js_name = sendSoft)]
    pub fn send_soft(&self, frame: String) -> bool {
        let sent = self.inner.borrow_mut().core.send_soft(frame);
        pump(&self.inner);
        sent
    }

    /// Whether the session with the server is up.
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.inner.borrow().core.is_connected()
    }

    /// Requests not yet answered, as JSON `[[id, request], …]`, oldest first.
    pub fn pending(&self) -> String {
        let g = self.inner.borrow();
        let items: Vec<String> = g.core.pending().map(|(id, body, _)| format!("[{id},{body}]")).collect();
        format!("[{}]", items.join(","))
    }

    /// What to keep across a page reload so nothing queued is lost: pass it back to the constructor.
    pub fn save(&self) -> String {
        let pending = self.pending();
        let g = self.inner.borrow();
        let c = &g.core;
        format!(r#"{{"instance":{},"next_id":{},"last_seq":{},"pending":{pending}}}"#, c.config().instance, c.next_id(), c.last_seq())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // `free()` from JS: stop the socket and timer so nothing calls into a dropped session.
        self.inner.borrow_mut().shutdown();
    }
}
