//! wasm-bindgen tests of the Session engine in node, with a stand-in WebSocket: the hello goes out, a
//! welcome connects, answers and events reach the listener once and in order, bad frames are reported
//! without ending the session, and the offline queue survives save/restore.

use frontdesk_wasm::Session;
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = "
export function install() {
  globalThis.sockets = [];
  globalThis.WebSocket = class { constructor(url) { this.url = url; this.sent = []; globalThis.sockets.push(this); }
    send(s) { this.sent.push(s); } close() {} };
}
export function last() { return globalThis.sockets[globalThis.sockets.length - 1]; }
export function recorder() { const log = []; const f = (k, a, b) => log.push([k, a, b]); f.log = log; return f; }
")]
extern "C" {
    fn install();
    fn last() -> JsValue;
    fn recorder() -> Function;
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

/// The reports the listener got, as (kind, a, b) with a and b as strings.
fn log(f: &Function) -> Vec<(String, String, String)> {
    let s = |v: JsValue| v.as_string().or_else(|| v.as_f64().map(|n| n.to_string())).or_else(|| v.as_bool().map(|b| b.to_string())).unwrap_or_default();
    Array::from(&get(f, "log")).iter().map(|e| {
        let e = Array::from(&e);
        (s(e.get(0)), s(e.get(1)), s(e.get(2)))
    }).collect()
}

fn sent(ws: &JsValue) -> Vec<String> {
    Array::from(&get(ws, "sent")).iter().map(|s| s.as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
fn offline_requests_queue_and_survive_save_restore() {
    let s = Session::new("ws://127.0.0.1:1/client".into(), "t", 77.0, None, recorder());
    assert!(!s.connected());
    assert_eq!(s.send(r#"{"op":"get_profile"}"#.into()).unwrap(), 1.0);
    assert_eq!(s.send(r#"{"op":"send_chat","interaction":"ix-1","text":"hello"}"#.into()).unwrap(), 2.0);
    let d = Session::new("ws://127.0.0.1:1/client".into(), "t", 1.0, Some(s.save()), recorder());
    assert_eq!(d.pending(), s.pending(), "the queue survives a reload");
    assert!(d.save().contains(r#""instance":77"#), "the installation is kept: {}", d.save());
    assert_eq!(d.send(r#"{"op":"get_orders"}"#.into()).unwrap(), 3.0, "ids go on where the old page stopped");
}

#[wasm_bindgen_test]
fn a_request_over_the_frame_limit_throws_and_is_never_queued() {
    let s = Session::new("ws://127.0.0.1:1/client".into(), "t", 3.0, None, recorder());
    let big = format!(r#"{{"op":"add_note","interaction":"ix","text":"{}"}}"#, "x".repeat(300 * 1024));
    let e = s.send(big).unwrap_err().as_string().unwrap();
    assert!(e.contains(r#""code":"too_large""#), "{e}");
    assert_eq!(s.pending(), "[]", "not queued, so not saved");
    assert_eq!(s.send(r#"{"op":"get_orders"}"#.into()).unwrap(), 1.0, "the next request goes on");
}

#[wasm_bindgen_test]
fn connects_answers_and_delivers_events_once_in_order() {
    install();
    let l = recorder();
    let s = Session::new("ws://center.test/client".into(), "tok", 5.0, None, l.clone());
    let id = s.send(r#"{"op":"get_products"}"#.into()).unwrap();
    s.start();
    let ws = last();
    assert_eq!(get(&ws, "url").as_string().as_deref(), Some("ws://center.test/client"));
    fire(&ws, "onopen", None);
    assert!(sent(&ws)[0].contains(r#""t":"hello""#) && sent(&ws)[0].contains(r#""token":"tok""#), "{:?}", sent(&ws));
    fire(&ws, "onmessage", Some(r#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#));
    assert!(s.connected());
    assert_eq!(sent(&ws)[1], format!(r#"{{"t":"request","id":{id},"req":{{"op":"get_products"}}}}"#), "the offline request goes out");
    fire(&ws, "onmessage", Some(&format!(r#"{{"t":"response","id":{id},"outcome":{{"ok":{{"kind":"products","value":[]}}}}}}"#)));
    fire(&ws, "onmessage", Some(r#"{"t":"event","seq":2,"event":{"ev":"chat","data":2}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"event","seq":1,"event":{"ev":"chat","data":1}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"event","seq":1,"event":{"ev":"chat","data":1}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"event","seq":"x"}"#));
    assert!(s.connected(), "a bad frame does not end the session");
    let got = log(&l);
    let kinds: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["connected", "answered", "event", "event", "error"], "{got:?}");
    assert_eq!(got[0].1, "alice");
    assert_eq!(got[1].2, r#"{"ok":{"kind":"products","value":[]}}"#);
    assert_eq!((got[2].1.as_str(), got[3].1.as_str()), (r#"{"ev":"chat","data":1}"#, r#"{"ev":"chat","data":2}"#));
    assert!(got[4].1.contains(r#""code":"malformed""#), "{}", got[4].1);
    assert!(sent(&ws).iter().any(|f| f == r#"{"t":"resend","after":0}"#), "a gap asks for a resend: {:?}", sent(&ws));
    assert_eq!(s.pending(), "[]");
    s.close();
}

#[wasm_bindgen_test]
fn a_refused_token_is_reported_and_stops_the_session() {
    install();
    let l = recorder();
    let s = Session::new("ws://center.test/client".into(), "bad", 5.0, None, l.clone());
    s.start();
    fire(&last(), "onopen", None);
    fire(&last(), "onmessage", Some(r#"{"t":"error","error":{"code":"unauthenticated","message":"no"},"fatal":true}"#));
    let got = log(&l);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "rejected");
    assert!(got[0].1.contains("unauthenticated"));
    assert!(!s.connected());
}

#[wasm_bindgen_test]
fn frames_read_by_json_parse_reach_the_listener_as_the_native_decoder_reads_them() {
    install();
    let l = recorder();
    let s = Session::new("ws://center.test/client".into(), "tok", 5.0, Some("not a saved state".into()), l.clone());
    assert_eq!(s.pending(), "[]", "an unreadable saved state starts afresh");
    s.start();
    let ws = last();
    fire(&ws, "onopen", None);
    fire(&ws, "onmessage", Some(r#"{"t":"welcome","v":1,"client":"alice","resumed":false,"extra":[1.5,{"x":null}]}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"status","doc":{"entity":"center","version":1}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"delta","delta":{"entity":"center","base":1}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"typing","typing":{"interaction":"i","on":true}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"watch_ended","presentity":"agent:ann"}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"error","error":{"code":"rate_limited","message":"slow \"down\"\n"}}"#));
    fire(&ws, "onmessage", Some(r#"{"t":"pong","n":1}"#));
    // Refused, each with a malformed error, and the session goes on.
    for bad in ["{", "[1]", r#"{"t":"nope"}"#, r#"{"t":"response","id":-1,"outcome":{}}"#, r#"{"t":"event","seq":1.5,"event":{}}"#,
        r#"{"t":"error","error":{"code":"nope","message":"x"}}"#, r#"{"t":"welcome","client":7,"resumed":true}"#, r#"{"t":"status"}"#] {
        fire(&ws, "onmessage", Some(bad));
    }
    assert!(s.connected());
    let got = log(&l);
    let kinds: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds[..6], ["connected", "status", "delta", "typing", "watch_ended", "error"], "{got:?}");
    assert_eq!(got[1].1, r#"{"entity":"center","version":1}"#);
    assert_eq!(got[2].1, r#"{"entity":"center","base":1}"#);
    assert_eq!(got[3].1, r#"{"interaction":"i","on":true}"#);
    assert_eq!(got[4].1, r#""agent:ann""#);
    assert_eq!(got[5].1, r#"{"code":"rate_limited","message":"slow \"down\"\n"}"#, "the error as JSON text, escaped");
    assert_eq!(got.len(), 6 + 8, "{got:?}");
    for (k, a, _) in &got[6..] {
        assert!(k == "error" && a.contains(r#""code":"malformed""#), "{k} {a}");
    }
}
