//! WebAssembly bindings of the frontdesk client: a `Client` class for browsers (and any JS host with a
//! global `WebSocket` and `setTimeout`) whose requests return Promises and whose pushed events go to
//! listeners.
//!
//! The sans-IO core does all the protocol work; this crate is only its driver: a `WebSocket` feeds
//! `handle_input`, `setTimeout` follows `poll_timeout`, and `Date.now()` is the clock. Values cross the
//! boundary as JSON (already linked for the protocol), which is smaller than a second serializer.

mod driver;
mod js;

use driver::{pump, Inner};
use frontdesk_core::client::{Client as Core, ClientConfig, SavedState};
use frontdesk_core::medium::Medium;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::protocol::Request;
use js::from_js;
use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = include_str!("types.d.ts");

/// A contact-center client: connects to a frontdesk server, keeps a live view, queues requests offline.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<RefCell<Inner>>,
}

fn medium(s: &str) -> Result<Medium, JsValue> {
    Medium::parse(s).ok_or_else(|| js::error("invalid", &format!("unknown medium {s:?}")))
}

#[wasm_bindgen]
impl Client {
    /// A client of the server at `server` (`wss://host[:port]`; `/client` is appended); call `start()`.
    #[wasm_bindgen(constructor)]
    pub fn new(server: &str, token: &str, #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue) -> Client {
        let get = |k: &str| js_sys::Reflect::get(&options, &k.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
        // Math.random is enough: the instance only has to differ between installations of one client.
        let instance = get("instance").and_then(|v| v.as_f64()).unwrap_or_else(|| (js_sys::Math::random() * 9.0e15).floor()) as u64;
        let mut cfg = ClientConfig::new(token, instance);
        if let Some(w) = get("watchCenter").and_then(|v| v.as_bool()) {
            cfg.watch_center = w;
        }
        let saved = get("saved").and_then(|v| v.as_string()).and_then(|s| serde_json::from_str::<SavedState>(&s).ok());
        let core = match saved {
            Some(s) => Core::restore(cfg, s),
            None => Core::new(cfg),
        };
        let url = format!("{}/client", server.trim_end_matches('/'));
        Client { inner: Inner::new(core, url) }
    }

    /// Starts connecting (and reconnecting until `close()`); events go to the listeners added with `on`.
    pub fn start(&self) {
        self.inner.borrow_mut().core.start(js::now());
        pump(&self.inner);
    }

    /// Stops: closes the connection, no more reconnects; queued requests stay for `save()`.
    pub fn close(&self) {
        self.inner.borrow_mut().shutdown();
    }

    /// Replaces the credential (after a `rejected` event); call `start()` again.
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: &str) {
        self.inner.borrow_mut().core.set_token(token);
    }

    /// Adds a listener for an event type (`connected`, `disconnected`, `rejected`, `synced`, `status`,
    /// `presence`, `event`, `chat`, `invitation`, `interaction`, `alert`, `profile_changed`,
    /// `order_changed`, `history_changed`, `chat_delivered`, `completed`, `error`, `change`).
    pub fn on(&self, kind: String, #[wasm_bindgen(unchecked_param_type = "(data: any) => void")] listener: Function) {
        self.inner.borrow_mut().listeners.push((kind, listener));
    }

    /// Removes a listener added with `on`.
    pub fn off(&self, kind: &str, listener: &Function) {
        self.inner.borrow_mut().listeners.retain(|(k, l)| !(k == kind && l == listener));
    }

    /// Whether a session with the server is up.
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.inner.borrow().core.is_connected()
    }

    /// The local view: profile, orders, products, history, center status, invitations, interactions,
    /// chats, alerts, and requests still waiting for an answer.
    #[wasm_bindgen(unchecked_return_type = "ClientView")]
    pub fn view(&self) -> JsValue {
        let g = self.inner.borrow();
        let v = g.core.view();
        let pending: Vec<String> = g.core.pending_requests().map(|(id, r)| format!(r#"{{"id":{id},"req":{}}}"#, js::json(r))).collect();
        // Built as text: a serde_json::Value would instantiate every Serialize impl a second time.
        js::parse(&format!(
            r#"{{"connected":{},"client":{},"profile":{},"orders":{},"products":{},"history":{},"center":{},"invitations":{},"interactions":{},"chats":{},"delivered":{},"alerts":{},"pending":[{}]}}"#,
            g.core.is_connected(),
            js::json(&v.client),
            js::json(&v.profile),
            js::json(&v.orders.values().collect::<Vec<_>>()),
            js::json(&v.products),
            js::json(&v.history),
            js::json(&v.center),
            js::json(&v.invitations.values().collect::<Vec<_>>()),
            js::json(&v.interactions.values().collect::<Vec<_>>()),
            js::json(&v.chats),
            js::json(&v.delivered),
            js::json(&v.alerts),
            pending.join(","),
        ))
    }

    /// What to keep across a page reload so queued requests survive: pass it back as `options.saved`.
    pub fn save(&self) -> String {
        serde_json::to_string(&self.inner.borrow().core.save()).unwrap_or_default()
    }

    /// Sends any protocol request (`{op: "get_profile"}` …); resolves with the answer's value.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn request(&self, #[wasm_bindgen(unchecked_param_type = "Request")] req: JsValue) -> Result<Promise, JsValue> {
        Ok(self.call(from_js(&req)?))
    }

    /// Reads the own profile.
    #[wasm_bindgen(js_name = getProfile, unchecked_return_type = "Promise<ClientProfile>")]
    pub fn get_profile(&self) -> Promise {
        self.call(Request::GetProfile)
    }

    /// Edits the own profile (the view shows the edit at once); resolves with the stored profile.
    #[wasm_bindgen(js_name = updateProfile, unchecked_return_type = "Promise<ClientProfile>")]
    pub fn update_profile(&self, #[wasm_bindgen(unchecked_param_type = "ProfilePatch")] patch: JsValue) -> Result<Promise, JsValue> {
        Ok(self.call(Request::UpdateProfile { patch: from_js(&patch)? }))
    }

    /// Reads the own interaction history, optionally filtered by product and agent.
    #[wasm_bindgen(js_name = getHistory, unchecked_return_type = "Promise<InteractionRecord[]>")]
    pub fn get_history(&self, #[wasm_bindgen(unchecked_param_type = "HistoryFilter | undefined")] filter: JsValue) -> Result<Promise, JsValue> {
        let filter = if filter.is_undefined() || filter.is_null() { Default::default() } else { from_js(&filter)? };
        Ok(self.call(Request::GetHistory { filter }))
    }

    /// Adds a note to one of the own past interactions.
    #[wasm_bindgen(js_name = addNote, unchecked_return_type = "Promise<InteractionRecord>")]
    pub fn add_note(&self, interaction: &str, text: String) -> Promise {
        self.call(Request::AddNote { interaction: interaction.into(), text })
    }

    /// Reads the product catalogue.
    #[wasm_bindgen(js_name = getProducts, unchecked_return_type = "Promise<Product[]>")]
    pub fn get_products(&self) -> Promise {
        self.call(Request::GetProducts)
    }

    /// Reads the own orders.
    #[wasm_bindgen(js_name = getOrders, unchecked_return_type = "Promise<Order[]>")]
    pub fn get_orders(&self) -> Promise {
        self.call(Request::GetOrders)
    }

    /// Changes delivery details of an own order that has not shipped.
    #[wasm_bindgen(js_name = updateDelivery, unchecked_return_type = "Promise<Order>")]
    pub fn update_delivery(&self, order: &str, #[wasm_bindgen(unchecked_param_type = "DeliveryDetails")] delivery: JsValue) -> Result<Promise, JsValue> {
        Ok(self.call(Request::UpdateDelivery { order: order.into(), delivery: from_js(&delivery)? }))
    }

    /// Reads center status once (it is also pushed live as `status` events).
    #[wasm_bindgen(js_name = getCenterStatus, unchecked_return_type = "Promise<CenterStatus>")]
    pub fn get_center_status(&self) -> Promise {
        self.call(Request::GetCenterStatus)
    }

    /// Watches a presentity (`center`, `queue:<id>`, `agent:<id>`); kept across reconnects.
    #[wasm_bindgen(unchecked_return_type = "Promise<PresenceDocument>")]
    pub fn watch(&self, presentity: &str) -> Result<Promise, JsValue> {
        let presentity = Presentity::parse(presentity).ok_or_else(|| js::error("invalid", "not a presentity"))?;
        Ok(self.call(Request::Watch { presentity }))
    }

    /// Stops watching a presentity.
    #[wasm_bindgen(unchecked_return_type = "Promise<null>")]
    pub fn unwatch(&self, presentity: &str) -> Result<Promise, JsValue> {
        let presentity = Presentity::parse(presentity).ok_or_else(|| js::error("invalid", "not a presentity"))?;
        Ok(self.call(Request::Unwatch { presentity }))
    }

    /// Publishes the own status (`{activity, medium?, note?}`) to the center.
    #[wasm_bindgen(js_name = setStatus, unchecked_return_type = "Promise<null>")]
    pub fn set_status(&self, #[wasm_bindgen(unchecked_param_type = "ClientStatus")] status: JsValue) -> Result<Promise, JsValue> {
        Ok(self.call(Request::SetStatus { status: from_js(&status)? }))
    }

    /// Subscribes to a status alert; resolves with its id.
    #[wasm_bindgen(js_name = subscribeAlert, unchecked_return_type = "Promise<string>")]
    pub fn subscribe_alert(&self, #[wasm_bindgen(unchecked_param_type = "AlertRule")] rule: JsValue) -> Result<Promise, JsValue> {
        Ok(self.call(Request::SubscribeAlert { rule: from_js(&rule)? }))
    }

    /// Cancels a status alert.
    #[wasm_bindgen(js_name = unsubscribeAlert, unchecked_return_type = "Promise<null>")]
    pub fn unsubscribe_alert(&self, alert: &str) -> Promise {
        self.call(Request::UnsubscribeAlert { alert: alert.into() })
    }

    /// Accepts or declines an invitation; an accepted one resolves with its interaction set.
    #[wasm_bindgen(js_name = respondInvitation, unchecked_return_type = "Promise<Invitation>")]
    pub fn respond_invitation(&self, invitation: &str, accept: bool) -> Promise {
        self.call(Request::RespondInvitation { invitation: invitation.into(), accept })
    }

    /// Invites an agent to an interaction in a medium.
    #[wasm_bindgen(js_name = inviteAgent, unchecked_return_type = "Promise<Invitation>")]
    pub fn invite_agent(&self, agent: &str, #[wasm_bindgen(unchecked_param_type = "Medium")] medium_name: &str, message: String) -> Result<Promise, JsValue> {
        Ok(self.call(Request::InviteAgent { agent: agent.into(), medium: medium(medium_name)?, message }))
    }

    /// Starts a live interaction in the chosen medium; resolves with it (queued or connected).
    #[wasm_bindgen(js_name = startInteraction, unchecked_return_type = "Promise<LiveInteraction>")]
    pub fn start_interaction(&self, #[wasm_bindgen(unchecked_param_type = "Medium")] medium_name: &str, product: Option<String>, topic: Option<String>) -> Result<Promise, JsValue> {
        let medium = medium(medium_name)?;
        Ok(self.call(Request::StartInteraction { medium, product: product.map(frontdesk_core::ProductId), queue: None, topic }))
    }

    /// Sends a chat message in an own interaction; resolves with the message as stored.
    #[wasm_bindgen(js_name = sendChat, unchecked_return_type = "Promise<ChatMessage>")]
    pub fn send_chat(&self, interaction: &str, text: String) -> Promise {
        self.call(Request::SendChat { interaction: interaction.into(), text })
    }

    /// Reads an interaction's transcript.
    #[wasm_bindgen(js_name = getTranscript, unchecked_return_type = "Promise<ChatMessage[]>")]
    pub fn get_transcript(&self, interaction: &str) -> Promise {
        self.call(Request::GetTranscript { interaction: interaction.into() })
    }

    /// Leaves an interaction (abandons the queue or hangs up).
    #[wasm_bindgen(js_name = endInteraction, unchecked_return_type = "Promise<LiveInteraction>")]
    pub fn end_interaction(&self, interaction: &str) -> Promise {
        self.call(Request::EndInteraction { interaction: interaction.into() })
    }
}

impl Client {
    /// Queues a request and returns a Promise settled when its answer arrives (possibly after reconnects).
    fn call(&self, req: Request) -> Promise {
        let id = {
            let mut g = self.inner.borrow_mut();
            g.dirty = true;
            g.core.request(req)
        };
        let inner = &self.inner;
        let promise = Promise::new(&mut |resolve, reject| {
            inner.borrow_mut().promises.insert(id, (resolve, reject));
        });
        pump(&self.inner);
        promise
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // `free()` from JS: stop the socket and timer so nothing calls into a dropped client.
        self.inner.borrow_mut().shutdown();
    }
}
