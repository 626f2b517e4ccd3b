//! wasm-bindgen tests of the Client in node, with a stand-in WebSocket: the hello goes out, a welcome
//! connects, an answer resolves the request's Promise, and an offline queue survives save/restore.

use frontdesk_wasm::Client;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = "
export function install() {
  globalThis.sockets = [];
  globalThis.WebSocket = class { constructor(url) { this.url = url; this.sent = []; globalThis.sockets.push(this); }
    send(s) { this.sent.push(s); } close() {} };
}
export function last() { return globalThis.sockets[globalThis.sockets.length - 1]; }
")]
extern "C" {
    fn install();
    fn last() -> JsValue;
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap()
}

fn fire(ws: &JsValue, handler: &str, data: Option<&str>) {
    let ev = js_sys::Object::new();
    if let Some(d) = data {
        Reflect::set(&ev, &"data".into(), &d.into()).unwrap();
    }
    get(ws, handler).unchecked_into::<Function>().call1(ws, &ev).unwrap();
}

fn pending(c: &Client) -> u32 {
    js_sys::Array::from(&get(&c.view(), "pending")).length()
}

#[wasm_bindgen_test]
fn offline_requests_queue_and_survive_save_restore() {
    let c = Client::new("ws://127.0.0.1:1", "t", JsValue::UNDEFINED);
    assert!(!c.connected());
    let _ = c.get_profile();
    let _ = c.send_chat("ix-1", "hello".into());
    assert_eq!(pending(&c), 2);
    let opts = js_sys::Object::new();
    Reflect::set(&opts, &"saved".into(), &c.save().into()).unwrap();
    let d = Client::new("ws://127.0.0.1:1", "t", opts.into());
    assert_eq!(pending(&d), 2, "the queue survives a reload");
}

#[wasm_bindgen_test]
fn bad_arguments_throw_typed_errors() {
    let c = Client::new("ws://x", "t", JsValue::UNDEFINED);
    let e = c.start_interaction("pigeon", None, None).err().expect("unknown medium");
    assert_eq!(get(&e, "code").as_string().as_deref(), Some("invalid"));
}

#[wasm_bindgen_test]
async fn connects_and_resolves_promises() {
    install();
    let c = Client::new("ws://center.test", "tok", JsValue::UNDEFINED);
    c.start();
    let ws = last();
    assert_eq!(get(&ws, "url").as_string().as_deref(), Some("ws://center.test/client"));
    fire(&ws, "onopen", None);
    let hello = js_sys::Array::from(&get(&ws, "sent")).get(0).as_string().unwrap();
    assert!(hello.contains(r#""t":"hello""#) && hello.contains(r#""token":"tok""#), "{hello}");
    fire(&ws, "onmessage", Some(r#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#));
    assert!(c.connected());
    let p = c.get_products();
    let sent = js_sys::Array::from(&get(&ws, "sent"));
    let last_req = sent.get(sent.length() - 1).as_string().unwrap();
    let id: u64 = last_req.split(r#""id":"#).nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    fire(&ws, "onmessage", Some(&format!(r#"{{"t":"response","id":{id},"outcome":{{"ok":{{"kind":"products","value":[{{"id":"router","name":"Router","description":"d"}}]}}}}}}"#)));
    let v = JsFuture::from(p).await.unwrap();
    assert_eq!(js_sys::Array::from(&v).length(), 1);
    c.close();
}
