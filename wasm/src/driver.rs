//! The driver of the core client on the JS event loop: one `pump` after every input (socket event,
//! timer, app call) drains the core's outputs, then listeners and Promises run with no borrow held, so
//! they may call back into the client.

use crate::js::{self, to_js};
use frontdesk_core::client::{Client as Core, ClientEvent};
use frontdesk_core::protocol::{ErrorBody, Response};
use frontdesk_core::time::Timestamp;
use js_sys::Function;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

/// An open (or opening) socket with the handlers that must live as long as it does.
struct Socket {
    ws: WebSocket,
    _handlers: [Closure<dyn FnMut(JsValue)>; 3],
}

impl Drop for Socket {
    fn drop(&mut self) {
        // A replaced socket must not report into the client any more.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// State shared by the `Client` object, its socket handlers and its timer.
pub struct Inner {
    /// The sans-IO client.
    pub core: Core,
    url: String,
    socket: Option<Socket>,
    timer: Option<(Timestamp, JsValue)>,
    tick: Option<Closure<dyn FnMut()>>,
    /// Resolve and reject functions of the Promises of app requests, by request id.
    pub promises: BTreeMap<u64, (Function, Function)>,
    /// Listeners by event type, in the order added.
    pub listeners: Vec<(String, Function)>,
    me: Weak<RefCell<Inner>>,
    last_center: Option<String>,
    /// A local change (a queued request, an optimistic profile edit) that listeners of `change` must see.
    pub dirty: bool,
}

impl Inner {
    /// Shared state for a core client that will connect to `url`.
    pub fn new(core: Core, url: String) -> Rc<RefCell<Inner>> {
        Rc::new_cyclic(|me: &Weak<RefCell<Inner>>| {
            let w = me.clone();
            let tick = Closure::<dyn FnMut()>::new(move || {
                if let Some(rc) = w.upgrade() {
                    {
                        let mut g = rc.borrow_mut();
                        g.timer = None;
                        g.core.handle_timeout(js::now());
                    }
                    pump(&rc);
                }
            });
            RefCell::new(Inner { core, url, socket: None, timer: None, tick: Some(tick), promises: BTreeMap::new(), listeners: Vec::new(), me: me.clone(), last_center: None, dirty: false })
        })
    }

    /// Stops the core, the socket and the timer.
    pub fn shutdown(&mut self) {
        self.core.close(js::now());
        self.socket = None;
        if let Some((_, id)) = self.timer.take() {
            js::clear_timeout(&id);
        }
    }

    fn handler(&self, f: fn(&mut Core, Timestamp, JsValue)) -> Closure<dyn FnMut(JsValue)> {
        let w = self.me.clone();
        Closure::new(move |e: JsValue| {
            if let Some(rc) = w.upgrade() {
                f(&mut rc.borrow_mut().core, js::now(), e);
                pump(&rc);
            }
        })
    }

    fn open(&mut self, now: Timestamp) {
        self.socket = None;
        match WebSocket::new(&self.url) {
            Ok(ws) => {
                let handlers = [
                    self.handler(|c, now, _| c.handle_connected(now)),
                    self.handler(|c, now, e| {
                        if let Some(s) = e.unchecked_into::<MessageEvent>().data().as_string() {
                            // A bad frame is reported by the core as a protocol error; the session goes on.
                            let _ = c.handle_input(now, s.as_bytes());
                        }
                    }),
                    self.handler(|c, now, _| c.handle_disconnected(now)),
                ];
                ws.set_onopen(Some(handlers[0].as_ref().unchecked_ref()));
                ws.set_onmessage(Some(handlers[1].as_ref().unchecked_ref()));
                ws.set_onclose(Some(handlers[2].as_ref().unchecked_ref()));
                self.socket = Some(Socket { ws, _handlers: handlers });
            }
            Err(_) => {
                // No WebSocket or a bad URL: count it as a failed attempt so the core backs off.
                self.core.handle_connected(now);
                self.core.handle_disconnected(now);
            }
        }
    }

    fn schedule(&mut self, now: Timestamp) {
        let want = self.core.poll_timeout();
        if self.timer.as_ref().map(|t| t.0) == want {
            return;
        }
        if let Some((_, id)) = self.timer.take() {
            js::clear_timeout(&id);
        }
        if let (Some(at), Some(tick)) = (want, &self.tick) {
            let ms = at.as_millis().saturating_sub(now.as_millis()) as f64;
            self.timer = Some((at, js::set_timeout(tick.as_ref().unchecked_ref(), ms)));
        }
    }
}

fn error_js(e: &ErrorBody) -> JsValue {
    js::error(js::json(&e.code).trim_matches('"'), &e.message)
}

fn response_js(r: &Response) -> JsValue {
    // The answer's value without its `kind` tag: the method already says what it returns.
    match r {
        Response::Done => JsValue::NULL,
        _ => js::get(&to_js(r), "value"),
    }
}

/// Drains the core after an input, then calls Promises and listeners outside the borrow.
pub fn pump(rc: &Rc<RefCell<Inner>>) {
    let mut settle: Vec<(Function, JsValue)> = Vec::new();
    let mut out: Vec<(String, JsValue)> = Vec::new();
    {
        let mut g = rc.borrow_mut();
        let now = js::now();
        if g.core.poll_connect() {
            g.open(now);
        }
        while let Some(frame) = g.core.poll_transmit() {
            if let Some(s) = &g.socket {
                // Frames are JSON text; a send on a closing socket fails and the core resends after resume.
                let _ = s.ws.send_with_str(&String::from_utf8_lossy(&frame));
            }
        }
        while let Some(e) = g.core.poll_event() {
            match e {
                ClientEvent::Connected { resumed } => out.push(("connected".into(), js::parse(&format!(r#"{{"resumed":{resumed}}}"#)))),
                ClientEvent::Disconnected { retry_at } => out.push(("disconnected".into(), js::parse(&format!(r#"{{"retryAt":{}}}"#, retry_at.as_millis())))),
                ClientEvent::Rejected(e) => out.push(("rejected".into(), error_js(&e))),
                ClientEvent::Synced => out.push(("synced".into(), JsValue::UNDEFINED)),
                ClientEvent::Completed { id, result } => match (g.promises.remove(&id), &result) {
                    (Some((ok, _)), Ok(r)) => settle.push((ok, response_js(r))),
                    (Some((_, err)), Err(e)) => settle.push((err, error_js(e))),
                    // A request restored from a saved state: its Promise died with the old page.
                    (None, Ok(r)) => out.push(("completed".into(), js::parse(&format!(r#"{{"id":{id},"ok":true,"value":{}}}"#, js::json(r))))),
                    (None, Err(e)) => out.push(("completed".into(), js::parse(&format!(r#"{{"id":{id},"ok":false,"error":{}}}"#, js::json(e))))),
                },
                ClientEvent::Pushed(ev) => {
                    let v = to_js(&ev);
                    // Also under its own name (`chat`, `invitation`, `profile_changed`…) for listeners of one kind.
                    out.push((js::get(&v, "ev").as_string().unwrap_or_default(), js::get(&v, "data")));
                    out.push(("event".into(), v));
                }
                ClientEvent::Presence(doc) => out.push(("presence".into(), to_js(&doc))),
                ClientEvent::WatchEnded(p) => out.push(("watch_ended".into(), p.to_uri_part().into())),
                ClientEvent::ProtocolError(e) => out.push(("error".into(), error_js(&e))),
            }
        }
        if !out.is_empty() || !settle.is_empty() || std::mem::take(&mut g.dirty) {
            // Center status reaches the view by pushes and by (re)watch answers, which raise no event of
            // their own: compare instead, so `status` fires for the first status too.
            let center = g.core.view().center.as_ref().map(js::json);
            if center.is_some() && center != g.last_center {
                out.push(("status".into(), js::parse(center.as_deref().unwrap_or("null"))));
                g.last_center = center;
            }
            out.push(("change".into(), JsValue::UNDEFINED));
        }
        g.schedule(now);
    }
    for (f, v) in settle {
        let _ = f.call1(&JsValue::UNDEFINED, &v);
    }
    for (kind, v) in out {
        // Copy the matching listeners first: a listener may add or remove listeners.
        let ls: Vec<Function> = rc.borrow().listeners.iter().filter(|(k, _)| *k == kind).map(|(_, l)| l.clone()).collect();
        for l in ls {
            let _ = l.call1(&JsValue::UNDEFINED, &v);
        }
    }
}
