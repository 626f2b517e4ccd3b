//! The driver of the core session on the JS event loop: one `pump` after every input (socket event,
//! timer, app call) drains the core's outputs, then the listener runs with no borrow held, so it may
//! call back into the session.

use crate::js;
use frontdesk_core::protocol::ErrorBody;
use frontdesk_core::session::{Session as Core, SessionEvent};
use frontdesk_core::time::Timestamp;
use js_sys::Function;
use std::cell::RefCell;
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

/// State shared by the `Session` object, its socket handlers and its timer.
pub struct Inner {
    /// The sans-IO session.
    pub core: Core<()>,
    /// The nodes to try (one URL, or several separated by commas).
    urls: Vec<String>,
    /// The one tried next: kept while it works, moved on when a socket to it never opened.
    at: usize,
    opened: bool,
    socket: Option<Socket>,
    timer: Option<(Timestamp, JsValue)>,
    tick: Option<Closure<dyn FnMut()>>,
    listener: Function,
    me: Weak<RefCell<Inner>>,
}

impl Inner {
    /// Shared state for a core session that will connect to `url`.
    pub fn new(core: Core<()>, url: String, listener: Function) -> Rc<RefCell<Inner>> {
        let mut urls: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
        if urls.is_empty() {
            urls.push(url);
        }
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
            RefCell::new(Inner { core, urls, at: 0, opened: false, socket: None, timer: None, tick: Some(tick), listener, me: me.clone() })
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

    fn handler(&self, f: fn(&mut Inner, Timestamp, JsValue) -> Option<String>) -> Closure<dyn FnMut(JsValue)> {
        let w = self.me.clone();
        Closure::new(move |e: JsValue| {
            if let Some(rc) = w.upgrade() {
                let bad = f(&mut rc.borrow_mut(), js::now(), e);
                if let Some(bad) = bad {
                    report(&rc, "error", &bad.into(), &JsValue::UNDEFINED);
                }
                pump(&rc);
            }
        })
    }

    fn open(&mut self, now: Timestamp) {
        self.socket = None;
        self.opened = false;
        match WebSocket::new(&self.urls[self.at]) {
            Ok(ws) => {
                let handlers = [
                    self.handler(|g, now, _| {
                        g.opened = true;
                        g.core.handle_connected(now);
                        None
                    }),
                    self.handler(|g, now, e| {
                        let s = e.unchecked_into::<MessageEvent>().data().as_string()?;
                        // A bad frame is dropped and reported; the session goes on.
                        let e = g.core.handle_decoded(now, s.len(), || crate::frame::decode(&s)).err()?;
                        Some(error_json(&e.to_body()))
                    }),
                    self.handler(|g, now, _| {
                        if !g.opened {
                            // That node is down: the next attempt, after the back-off, tries another.
                            g.at = (g.at + 1) % g.urls.len();
                        }
                        g.core.handle_disconnected(now);
                        None
                    }),
                ];
                ws.set_onopen(Some(handlers[0].as_ref().unchecked_ref()));
                ws.set_onmessage(Some(handlers[1].as_ref().unchecked_ref()));
                ws.set_onclose(Some(handlers[2].as_ref().unchecked_ref()));
                self.socket = Some(Socket { ws, _handlers: handlers });
            }
            Err(_) => {
                // No WebSocket or a bad URL: count it as a failed attempt so the core backs off.
                self.at = (self.at + 1) % self.urls.len();
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

/// An error as JSON text (`{"code":…,"message":…}`), written by hand so the module links no serializer.
pub fn error_json(e: &ErrorBody) -> String {
    let message = js_sys::JSON::stringify(&JsValue::from_str(&e.message)).ok().and_then(|s| s.as_string()).unwrap_or_default();
    format!(r#"{{"code":"{}","message":{message}}}"#, e.code.as_wire())
}

fn report(rc: &Rc<RefCell<Inner>>, kind: &str, a: &JsValue, b: &JsValue) {
    let l = rc.borrow().listener.clone();
    let _ = l.call3(&JsValue::UNDEFINED, &kind.into(), a, b);
}

/// Drains the core after an input, then calls the listener outside the borrow.
pub fn pump(rc: &Rc<RefCell<Inner>>) {
    let mut out: Vec<(&str, JsValue, JsValue)> = Vec::new();
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
            let u = JsValue::UNDEFINED;
            out.push(match e {
                SessionEvent::Connected { client, resumed } => ("connected", client.0.into(), resumed.into()),
                SessionEvent::Disconnected { retry_at } => ("disconnected", (retry_at.as_millis() as f64).into(), u),
                SessionEvent::Rejected(e) => ("rejected", error_json(&e).into(), u),
                SessionEvent::Answered { id, outcome, .. } => ("answered", (id as f64).into(), outcome.into()),
                SessionEvent::Event(s) => ("event", s.into(), u),
                SessionEvent::Status(s) => ("status", s.into(), u),
                SessionEvent::Delta(s) => ("delta", s.into(), u),
                SessionEvent::WatchEnded(s) => ("watch_ended", s.into(), u),
                SessionEvent::Typing(s) => ("typing", s.into(), u),
                SessionEvent::ProtocolError(e) => ("error", error_json(&e).into(), u),
            });
        }
        g.schedule(now);
    }
    for (kind, a, b) in out {
        report(rc, kind, &a, &b);
    }
}
