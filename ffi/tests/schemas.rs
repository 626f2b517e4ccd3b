//! The committed JSON Schemas (ffi/schemas/) against real JSON: what the C tests pass in, and what
//! the library emits and accepts when driven through its C functions.

use frontdesk::schema::{self, Direction};
use frontdesk::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const T0: u64 = 1_795_597_200_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Validators built from the committed files, since those are what vendors read.
struct Schemas {
    by_file: BTreeMap<&'static str, jsonschema::Validator>,
    seen: Mutex<BTreeMap<&'static str, usize>>,
}

impl Schemas {
    fn load() -> Schemas {
        let mut by_file = BTreeMap::new();
        for f in schema::all() {
            let path = root().join("ffi/schemas").join(f.file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let json: Value = serde_json::from_str(&text).unwrap();
            let v = jsonschema::validator_for(&json).unwrap_or_else(|e| panic!("{} is no valid schema: {e}", f.file));
            by_file.insert(f.file, v);
        }
        Schemas { by_file, seen: Mutex::new(BTreeMap::new()) }
    }

    fn errors(&self, file: &str, json: &str) -> Vec<String> {
        let Ok(value) = serde_json::from_str::<Value>(json) else { return vec!["not JSON".into()] };
        let v = self.by_file.get(file).unwrap_or_else(|| panic!("no schema {file}"));
        v.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path)).collect()
    }

    /// Fails the test unless `json` validates against `file`.
    fn valid(&self, file: &'static str, json: &str) {
        let errs = self.errors(file, json);
        assert!(errs.is_empty(), "{file} rejects JSON the library accepts or emits:\n{json}\n{}", errs.join("\n"));
        *self.seen.lock().unwrap().entry(file).or_default() += 1;
    }

    /// Fails the test if `json` validates against `file`.
    fn invalid(&self, file: &'static str, json: &str) {
        assert!(!self.errors(file, json).is_empty(), "{file} accepts JSON the library refuses: {json}");
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Takes a string the library handed out and frees it with the library's own function.
unsafe fn take(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let s = CStr::from_ptr(p).to_str().unwrap().to_owned();
    fd_string_free(p);
    Some(s)
}

fn ok(st: FdStatus) {
    assert_eq!(st, FdStatus::FD_OK, "{}", unsafe { CStr::from_ptr(fd_last_error_message()).to_string_lossy() });
}

// ------------------------------------------------------------------ drift

#[test]
fn committed_schemas_are_what_the_types_generate() {
    for f in schema::all() {
        let path = root().join("ffi/schemas").join(f.file);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == f.text(), "{} drifted: run `cargo run -p frontdesk-ffi --features schema --bin fd-schemas`", path.display());
    }
    assert_eq!(std::fs::read_to_string(root().join("ffi/schemas/README.md")).unwrap_or_default(), schema::index());
}

// ------------------------------------------------------------------ the C tests' JSON

/// The C tests' JSON string literals: every call of an accepting function whose JSON argument is
/// a literal (or a named constant or array of them) must validate if the call is expected to
/// succeed, and must not if the library refuses it as an invalid argument.
#[test]
fn json_the_c_tests_pass_matches_the_schemas() {
    let s = Schemas::load();
    let header = std::fs::read_to_string(root().join("bindings/c/frontdesk.h")).unwrap();
    let (mut checked, mut refused, mut skipped) = (0, 0, 0);
    for entry in std::fs::read_dir(root().join("tests/c")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "c") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        for f in schema::all().into_iter().filter(|f| f.direction != Direction::Out) {
            for func in f.functions {
                let (name, param) = func.split_once('(').unwrap();
                let param = param.trim_end_matches(')');
                let Some(idx) = param_index(&header, name, param) else { continue };
                for call in calls(&src, name) {
                    let Some(arg) = call.args.get(idx) else { continue };
                    let values = literal_values(&src, arg);
                    if values.is_empty() {
                        skipped += 1;
                        continue;
                    }
                    for json in values {
                        let where_ = format!("{}: {name}({arg})", path.file_name().unwrap().to_string_lossy());
                        match call.expect.as_deref() {
                            Some("FD_OK") => {
                                let errs = s.errors(f.file, &json);
                                assert!(errs.is_empty(), "{where_}: the C test expects success but {} rejects {json}: {errs:?}", f.file);
                                checked += 1;
                            }
                            Some("FD_ERR_INVALID_ARGUMENT") => {
                                if !s.errors(f.file, &json).is_empty() {
                                    refused += 1;
                                } else {
                                    // Refused for another argument (a bad URL, a blank name, an agent who
                                    // is not on the interaction), which must then be a literal too.
                                    let other = call.args.iter().enumerate().any(|(i, a)| i != idx && a.starts_with('"'));
                                    assert!(other, "{where_}: the library refuses {json} but {} accepts it", f.file);
                                    skipped += 1;
                                }
                            }
                            Some("FD_ERR_INVALID_UTF8") | None => skipped += 1,
                            // Refused for the handle, a NULL or the state: the JSON itself is fine.
                            Some(_) => {
                                if serde_json::from_str::<Value>(&json).is_ok() {
                                    let errs = s.errors(f.file, &json);
                                    assert!(errs.is_empty(), "{where_}: {} rejects {json}: {errs:?}", f.file);
                                    checked += 1;
                                } else {
                                    skipped += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    println!("C tests' JSON: {checked} valid as expected, {refused} refused as expected, {skipped} not literal or not about the JSON");
    assert!(checked >= 20 && refused >= 10, "the C tests' JSON was not found ({checked} valid, {refused} refused)");
}

/// Index of parameter `param` of C function `name` in the header.
fn param_index(header: &str, name: &str, param: &str) -> Option<usize> {
    let start = header.find(&format!(" {name}("))? + name.len() + 2;
    let end = start + header[start..].find(')')?;
    header[start..end].split(',').position(|p| p.trim().rsplit([' ', '*']).next() == Some(param))
}

struct Call {
    args: Vec<String>,
    /// The status the test expects: `CHECK_OK(call)` or `CHECK_ST(call, STATUS)`.
    expect: Option<String>,
}

/// Every call of `name` in C source `src`, with its arguments split at top-level commas.
fn calls(src: &str, name: &str) -> Vec<Call> {
    let mut out = vec![];
    let pat = format!("{name}(");
    let mut from = 0;
    while let Some(pos) = src[from..].find(&pat).map(|p| p + from) {
        from = pos + pat.len();
        if src[..pos].chars().next_back().is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            continue;
        }
        let Some((args, end)) = split_args(&src[from..]) else { continue };
        let before = src[..pos].trim_end();
        let expect = if before.ends_with("CHECK_OK(") {
            Some("FD_OK".to_owned())
        } else if before.ends_with("CHECK_ST(") {
            let rest = src[from + end..].trim_start().strip_prefix(',').map(str::trim_start);
            rest.and_then(|r| r.split(|ch: char| !(ch.is_alphanumeric() || ch == '_')).next()).map(str::to_owned)
        } else {
            None
        };
        out.push(Call { args, expect });
    }
    out
}

/// Splits the arguments of a call whose `(` was just consumed; returns them and the offset after `)`.
fn split_args(s: &str) -> Option<(Vec<String>, usize)> {
    split_until(s, ')')
}

/// Splits at top-level commas up to the unmatched `close` (`)` of a call, `}` of an initializer).
fn split_until(s: &str, close: char) -> Option<(Vec<String>, usize)> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut args = vec![];
    let mut cur = String::new();
    for (i, ch) in s.char_indices() {
        if in_str {
            cur.push(ch);
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                cur.push(ch);
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(ch);
            }
            c if c == close && depth == 0 => {
                args.push(cur.trim().to_owned());
                return Some((args, i + 1));
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                cur.push(ch);
            }
            ',' if depth == 0 => {
                args.push(cur.trim().to_owned());
                cur.clear();
            }
            _ => cur.push(ch),
        }
    }
    None
}

/// The string(s) an argument stands for: adjacent literals, a constant defined as literals, or
/// each element of an array of literals indexed in the call; nothing for anything computed.
fn literal_values(src: &str, arg: &str) -> Vec<String> {
    if arg.starts_with('"') {
        return concat_literals(arg).into_iter().collect();
    }
    let ident = arg.split('[').next().unwrap_or(arg);
    if ident.is_empty() || !ident.chars().all(|ch| ch.is_alphanumeric() || ch == '_') || ident == "NULL" {
        return vec![];
    }
    let indexed = arg.contains('[');
    for decl in [format!("*{ident}[] = {{"), format!("*{ident} = "), format!("*{ident} =\n")] {
        if let Some(p) = src.find(&decl) {
            let body = &src[p + decl.len()..];
            if indexed {
                let (items, _) = split_until(body, '}').unwrap_or_default();
                return items.iter().filter_map(|i| concat_literals(i)).collect();
            }
            let end = body.find(';').unwrap_or(body.len());
            let body = body[..end].trim();
            return concat_literals(body).into_iter().collect();
        }
    }
    vec![]
}

/// `"a" "b"` → `ab`, with C escapes undone; None unless the text is only string literals.
fn concat_literals(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.trim().chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            c if c.is_whitespace() => {}
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        other => out.push(other),
                    },
                    other => out.push(other),
                }
            },
            _ => return None,
        }
    }
    Some(out)
}

// ------------------------------------------------------------------ what the library emits and accepts

/// Moves frames between a client and a broker in memory, as tests/c/test_util.h's `pump` does.
struct Link {
    broker: *mut FdBroker,
    client: *mut FdClient,
    conn: u64,
    up: bool,
    /// Every frame the client sent, so the requests the typed C calls make can be checked too.
    sent: Vec<Value>,
}

impl Link {
    unsafe fn pump(&mut self, now: u64) {
        for _ in 0..1000 {
            let mut moved = false;
            let mut want = false;
            ok(fd_client_poll_connect(self.client, &mut want));
            if want {
                if self.up {
                    ok(fd_broker_handle_disconnect(self.broker, now, self.conn));
                }
                ok(fd_broker_open_connection(self.broker, now, &mut self.conn));
                self.up = true;
                ok(fd_client_handle_connected(self.client, now));
                moved = true;
            }
            let mut f = FdBytes { data: std::ptr::null_mut(), len: 0 };
            while fd_client_poll_transmit(self.client, &mut f) == FdStatus::FD_OK && !f.data.is_null() {
                let bytes = std::slice::from_raw_parts(f.data, f.len);
                self.sent.push(serde_json::from_slice(bytes).expect("a client frame is JSON"));
                ok(fd_broker_handle_input(self.broker, now, self.conn, f.data, f.len));
                fd_bytes_free(&mut f);
                moved = true;
            }
            let mut t = FdTransmit { conn: 0, data: FdBytes { data: std::ptr::null_mut(), len: 0 }, close: false };
            while fd_broker_poll_transmit(self.broker, &mut t) == FdStatus::FD_OK && !t.data.data.is_null() {
                if t.conn == self.conn {
                    ok(fd_client_handle_input(self.client, now, t.data.data, t.data.len));
                }
                fd_bytes_free(&mut t.data);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the link never went quiet");
    }
}

unsafe fn drain_client(s: &Schemas, client: *mut FdClient) -> Vec<String> {
    let mut out = vec![];
    loop {
        let mut ev = std::ptr::null_mut();
        ok(fd_client_poll_event(client, &mut ev));
        let Some(ev) = take(ev) else { return out };
        s.valid("client-event.schema.json", &ev);
        out.push(ev);
    }
}

unsafe fn drain_broker(s: &Schemas, broker: *mut FdBroker) -> Vec<String> {
    let mut out = vec![];
    loop {
        let mut ev = std::ptr::null_mut();
        ok(fd_broker_poll_event(broker, &mut ev));
        let Some(ev) = take(ev) else { return out };
        s.valid("broker-event.schema.json", &ev);
        out.push(ev);
    }
}

unsafe fn drain_monitor(s: &Schemas, monitor: *mut FdMonitor) -> usize {
    let mut n = 0;
    loop {
        let mut ev = std::ptr::null_mut();
        ok(fd_monitor_poll_event(monitor, &mut ev));
        let Some(ev) = take(ev) else { return n };
        s.valid("monitor-event.schema.json", &ev);
        n += 1;
    }
}

/// Checks `json` against the schema of what `call` accepts, then passes it and expects success.
fn accepted(s: &Schemas, file: &'static str, json: &str, call: impl FnOnce(*const c_char) -> FdStatus) {
    s.valid(file, json);
    let cs = c(json);
    ok(call(cs.as_ptr()));
}

/// Checks `json` is outside the schema, then passes it and expects `FD_ERR_INVALID_ARGUMENT`.
fn refused(s: &Schemas, file: &'static str, json: &str, call: impl FnOnce(*const c_char) -> FdStatus) {
    s.invalid(file, json);
    let cs = c(json);
    assert_eq!(call(cs.as_ptr()), FdStatus::FD_ERR_INVALID_ARGUMENT, "the library took {json}");
}

/// A second later.
fn tick(now: &mut u64) -> u64 {
    *now += 1000;
    *now
}

fn field(json: &str, pointer: &str) -> String {
    let v: Value = serde_json::from_str(json).unwrap();
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no {pointer} in {json}")).to_owned()
}

#[test]
fn json_the_library_emits_and_accepts_matches_the_schemas() {
    let s = Schemas::load();
    unsafe { broker_and_client(&s) };
    unsafe { monitor(&s) };
    unsafe { network_handles(&s) };
    // The output schemas are no catch-alls either.
    s.invalid("client-event.schema.json", r#"{"type":"nope"}"#);
    s.invalid("client-event.schema.json", r#"{"type":"completed","id":1,"result":{"maybe":1}}"#);
    s.invalid("broker-event.schema.json", r#"{"type":"agent","agent":"ann","event":"teleported","data":{}}"#);
    s.invalid("monitor-event.schema.json", r#"{"type":"notify","presentity":"center"}"#);
    s.invalid("presence.schema.json", "{}");
    s.invalid("agent-event.schema.json", r#"{"type":"transport_error","url":"ws://x"}"#);
    let seen = s.seen.lock().unwrap();
    let missing: Vec<&str> = schema::all().iter().map(|f| f.file).filter(|f| !seen.contains_key(f)).collect();
    println!("validated: {seen:?}");
    assert!(missing.is_empty(), "no real JSON checked against {missing:?}");
}

unsafe fn broker_and_client(s: &Schemas) {
    let mut now = T0;
    let tokens = r#"{"tok-alice":{"kind":"client","id":"alice"},"tok-ann":{"kind":"agent","id":["ann","agent"]}}"#;
    s.valid("broker-tokens.schema.json", tokens);
    let mut b = std::ptr::null_mut();
    ok(fd_broker_new(c(tokens).as_ptr(), &mut b));
    refused(s, "broker-tokens.schema.json", r#"{"tok":{"kind":"robot","id":"x"}}"#, |j| {
        let mut other = std::ptr::null_mut();
        fd_broker_new(j, &mut other)
    });

    let router = c("router");
    let products = [router.as_ptr()];
    ok(fd_broker_configure_queue(b, now, c("support").as_ptr(), c("Support").as_ptr(), products.as_ptr(), 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_CALLBACK));
    accepted(s, "product.schema.json", r#"{"id":"router","name":"FastNet Router","description":"A router"}"#, |j| fd_broker_put_product_json(b, j));
    refused(s, "product.schema.json", r#"{"id":1}"#, |j| fd_broker_put_product_json(b, j));
    accepted(
        s,
        "interaction-record.schema.json",
        r#"{"id":"h1","client":"alice","started_at":1795500000000,"ended_at":1795500600000,"product":"router","agent":"ann","medium":"voice","direction":"inbound","outcome":"completed","summary":"alice asked about router"}"#,
        |j| fd_broker_put_record_json(b, j),
    );
    refused(s, "interaction-record.schema.json", r#"{"id":"h2","client":"alice","medium":"fax"}"#, |j| fd_broker_put_record_json(b, j));
    accepted(
        s,
        "order.schema.json",
        r#"{"id":"o1","client":"alice","product":"router","status":"placed","history":[],"delivery":{"address":"1 Main St","window":null,"instructions":null},"revision":1}"#,
        |j| fd_broker_put_order_json(b, j),
    );
    refused(s, "order.schema.json", r#"{"id":"o2","client":"alice","product":"router","status":"lost"}"#, |j| fd_broker_put_order_json(b, j));
    accepted(s, "client-profile.schema.json", "{}", |j| fd_broker_put_profile_json(b, c("alice").as_ptr(), j));
    refused(s, "client-profile.schema.json", r#"{"demographics":"old"}"#, |j| fd_broker_put_profile_json(b, c("alice").as_ptr(), j));
    accepted(s, "center-event.schema.json", r#"{"type":"queue_configured","queue":"sales","name":"Sales","products":[],"media":["chat"]}"#, |j| {
        fd_broker_center_event_json(b, now, j)
    });
    refused(s, "center-event.schema.json", r#"{"type":"coffee_break"}"#, |j| fd_broker_center_event_json(b, now, j));
    ok(fd_broker_agent_login(b, now, c("ann").as_ptr(), c("Ann").as_ptr(), 0, products.as_ptr(), 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_CALLBACK));
    ok(fd_broker_agent_set_state(b, now, c("ann").as_ptr(), FdAgentState::FD_AGENT_AVAILABLE as u32));
    drain_broker(s, b);

    let mut cl = std::ptr::null_mut();
    ok(fd_client_new(c("tok-alice").as_ptr(), 1, &mut cl));
    ok(fd_client_start(cl, now));
    let mut link = Link { broker: b, client: cl, conn: 0, up: false, sent: vec![] };
    link.pump(now);
    assert!(drain_client(s, cl).iter().any(|e| e.contains(r#""type":"synced""#)));
    drain_broker(s, b);

    // Requests as JSON: each validates and is taken; malformed ones are outside the schema and refused.
    for req in [
        r#"{"op":"get_orders"}"#,
        r#"{"op":"get_profile"}"#,
        r#"{"op":"get_products"}"#,
        r#"{"op":"get_history","filter":{}}"#,
        r#"{"op":"watch","presentity":"queue:support"}"#,
    ] {
        let mut id = 0;
        accepted(s, "client-request.schema.json", req, |j| fd_client_request_json(cl, j, &mut id));
    }
    for bad in [r#"{"op":"fly"}"#, r#"{"op":"watch","presentity":"planet:mars"}"#, r#"{"op":"send_chat","interaction":5,"text":"x"}"#] {
        refused(s, "client-request.schema.json", bad, |j| fd_client_request_json(cl, j, std::ptr::null_mut()));
    }
    s.invalid("client-request.schema.json", r#"{"op":"#);
    accepted(s, "client-status.schema.json", r#"{"activity":"online","medium":"chat","note":null}"#, |j| fd_client_set_status_json(cl, j, std::ptr::null_mut()));
    refused(s, "client-status.schema.json", r#"{"activity":"asleep"}"#, |j| fd_client_set_status_json(cl, j, std::ptr::null_mut()));
    link.pump(now);
    let events = drain_client(s, cl);
    assert!(events.iter().any(|e| e.contains(r#""kind":"orders""#)), "{events:?}");
    drain_broker(s, b);

    // A chat: the agent invites, the client accepts, both write.
    let mut inv = std::ptr::null_mut();
    ok(fd_broker_agent_invite(b, tick(&mut now), c("ann").as_ptr(), c("alice").as_ptr(), FdMedium::FD_MEDIUM_CHAT as u32, c("Can I help?").as_ptr(), &mut inv));
    let inv = take(inv).unwrap();
    s.valid("invitation.schema.json", &inv);
    link.pump(now);
    drain_client(s, cl);
    ok(fd_client_respond_invitation(cl, c(&field(&inv, "/id")).as_ptr(), true, std::ptr::null_mut()));
    link.pump(tick(&mut now));
    drain_client(s, cl);
    let mut view = std::ptr::null_mut();
    ok(fd_client_view_json(cl, &mut view));
    let view = take(view).unwrap();
    s.valid("client-view.schema.json", &view);
    let interaction = field(&view, "/interactions/0/id");
    ok(fd_client_send_chat(cl, c(&interaction).as_ptr(), c("hello from Rust").as_ptr(), std::ptr::null_mut()));
    link.pump(tick(&mut now));
    let mut msg = std::ptr::null_mut();
    ok(fd_broker_agent_send_chat(b, tick(&mut now), c("ann").as_ptr(), c(&interaction).as_ptr(), c("hello from Ann").as_ptr(), &mut msg));
    s.valid("chat-message.schema.json", &take(msg).unwrap());
    link.pump(now);
    drain_client(s, cl);
    let signal = r#"{"kind":"end_of_candidates"}"#;
    accepted(s, "call-signal.schema.json", signal, |j| fd_client_signal_json(cl, c(&interaction).as_ptr(), j, std::ptr::null_mut()));
    refused(s, "call-signal.schema.json", r#"{"kind":"warp"}"#, |j| fd_client_signal_json(cl, c(&interaction).as_ptr(), j, std::ptr::null_mut()));
    refused(s, "call-signal.schema.json", r#"{"kind":"teleport"}"#, |j| fd_broker_agent_signal(b, now, c("ann").as_ptr(), c(&interaction).as_ptr(), j));
    link.pump(now);
    drain_client(s, cl);
    assert!(drain_broker(s, b).iter().any(|e| e.contains("hello from Rust")));
    ok(fd_broker_agent_end(b, tick(&mut now), c("ann").as_ptr(), c(&interaction).as_ptr()));
    link.pump(now);
    drain_client(s, cl);
    drain_broker(s, b);
    ok(fd_broker_agent_set_state(b, now, c("ann").as_ptr(), FdAgentState::FD_AGENT_AVAILABLE as u32));

    // The client asks for a chat; the broker offers it to ann, who accepts.
    ok(fd_client_start_interaction(cl, FdMedium::FD_MEDIUM_CHAT as u32, router.as_ptr(), std::ptr::null(), c("wifi").as_ptr(), std::ptr::null_mut()));
    link.pump(tick(&mut now));
    drain_client(s, cl);
    let offered = drain_broker(s, b).into_iter().find(|e| e.contains(r#""event":"offered""#)).expect("an offer");
    let chat = field(&offered, "/data/id");
    let mut li = std::ptr::null_mut();
    ok(fd_broker_agent_accept(b, tick(&mut now), c("ann").as_ptr(), c(&chat).as_ptr(), &mut li));
    s.valid("live-interaction.schema.json", &take(li).unwrap());
    link.pump(now);
    drain_client(s, cl);
    drain_broker(s, b);
    ok(fd_broker_agent_end(b, tick(&mut now), c("ann").as_ptr(), c(&chat).as_ptr()));
    link.pump(now);
    drain_client(s, cl);
    drain_broker(s, b);

    // A callback: offered to ann, who accepts; the dialer takes the dial and reports its progress.
    ok(fd_broker_set_dialer(b, true));
    ok(fd_broker_agent_set_phone(b, now, c("ann").as_ptr(), c("sip:ann@127.0.0.1:5070").as_ptr()));
    ok(fd_broker_agent_set_state(b, now, c("ann").as_ptr(), FdAgentState::FD_AGENT_AVAILABLE as u32));
    ok(fd_client_request_callback(cl, c("+49 30 123456").as_ptr(), 0, router.as_ptr(), c("call me").as_ptr(), std::ptr::null_mut()));
    link.pump(tick(&mut now));
    drain_client(s, cl);
    let offered = drain_broker(s, b).into_iter().find(|e| e.contains(r#""event":"offered""#)).expect("a callback offer");
    let callback = c(&field(&offered, "/data/id"));
    let mut li = std::ptr::null_mut();
    ok(fd_broker_agent_accept(b, now, c("ann").as_ptr(), callback.as_ptr(), &mut li));
    s.valid("live-interaction.schema.json", &take(li).unwrap());
    let mut dials = std::ptr::null_mut();
    ok(fd_broker_take_dials(b, now, &mut dials));
    let dials = take(dials).unwrap();
    s.valid("dials.schema.json", &dials);
    assert!(dials.contains(r#""dial":1"#), "{dials}");
    let p = |j| fd_broker_dial_progress(b, now, callback.as_ptr(), 1, j);
    accepted(s, "dial-progress.schema.json", r#"{"progress":"customer_ringing"}"#, p);
    refused(s, "dial-progress.schema.json", r#"{"progress":"teleported"}"#, p);
    accepted(s, "dial-progress.schema.json", r#"{"progress":"connected"}"#, p);
    link.pump(now);
    drain_client(s, cl);
    drain_broker(s, b);
    now += 61_000;
    accepted(s, "dial-progress.schema.json", r#"{"progress":"ended","by":"agent"}"#, |j| fd_broker_dial_progress(b, now, callback.as_ptr(), 1, j));
    link.pump(now);
    drain_client(s, cl);
    drain_broker(s, b);

    // What the typed calls (fd_client_get_history, _respond_invitation, _send_chat, _start_interaction,
    // _request_callback, ...) put on the wire is a request of the same schema.
    let ops: Vec<String> = link
        .sent
        .iter()
        .filter(|f| f["t"] == "request")
        .map(|f| {
            s.valid("client-request.schema.json", &f["req"].to_string());
            f["req"]["op"].as_str().unwrap().to_owned()
        })
        .collect();
    for op in ["get_history", "respond_invitation", "send_chat", "start_interaction", "request_callback", "signal"] {
        assert!(ops.iter().any(|o| o == op), "no {op} request among {ops:?}");
    }

    // Reads of the broker's embedded monitor.
    let mut out = std::ptr::null_mut();
    ok(fd_broker_center_status_json(b, &mut out));
    s.valid("center-status.schema.json", &take(out).unwrap());
    for p in ["center", "queue:support", "agent:ann", "client:alice"] {
        let mut out = std::ptr::null_mut();
        ok(fd_broker_presence_json(b, c(p).as_ptr(), &mut out));
        s.valid("presence.schema.json", &take(out).unwrap());
    }

    // Save and restore: the saved state validates and is taken back.
    let mut saved = std::ptr::null_mut();
    ok(fd_client_save_json(cl, &mut saved));
    let saved = take(saved).unwrap();
    let mut restored = std::ptr::null_mut();
    accepted(s, "client-saved-state.schema.json", &saved, |j| fd_client_restore(c("tok-alice").as_ptr(), j, &mut restored));
    refused(s, "client-saved-state.schema.json", r#"{"bad":true}"#, |j| fd_client_restore(c("tok-alice").as_ptr(), j, &mut std::ptr::null_mut()));
    ok(fd_client_free(restored));
    ok(fd_client_free(cl));
    ok(fd_broker_free(b));
}

unsafe fn monitor(s: &Schemas) {
    let mut m = std::ptr::null_mut();
    ok(fd_monitor_new(&mut m));
    let router = c("router");
    let products = [router.as_ptr()];
    ok(fd_monitor_agent_logged_in(m, T0, c("ann").as_ptr(), c("Ann").as_ptr(), products.as_ptr(), 1, FD_MEDIA_CHAT));
    let mut doc = std::ptr::null_mut();
    ok(fd_monitor_watch(m, 7, std::ptr::null(), c("agent:ann").as_ptr(), &mut doc));
    s.valid("presence.schema.json", &take(doc).unwrap());
    accepted(s, "principal.schema.json", r#"{"kind":"client","id":"alice"}"#, |j| fd_monitor_watch(m, 8, j, c("center").as_ptr(), std::ptr::null_mut()));
    refused(s, "principal.schema.json", r#"{"kind":"alien"}"#, |j| fd_monitor_watch(m, 9, j, c("center").as_ptr(), std::ptr::null_mut()));
    accepted(s, "center-event.schema.json", r#"{"type":"agent_state_changed","agent":"ann","state":"after_work"}"#, |j| fd_monitor_push_json(m, T0 + 70_000, j));
    refused(s, "center-event.schema.json", r#"{"type":"agent_state_changed","agent":"ann","state":"asleep"}"#, |j| fd_monitor_push_json(m, T0 + 70_000, j));
    accepted(s, "client-status.schema.json", r#"{"activity":"online","medium":"chat","note":"hi"}"#, |j| fd_monitor_client_status_json(m, T0, c("alice").as_ptr(), j));
    ok(fd_monitor_unwatch(m, 7, c("agent:ann").as_ptr()));
    assert!(drain_monitor(s, m) > 0);
    let mut out = std::ptr::null_mut();
    ok(fd_monitor_center_status_json(m, &mut out));
    s.valid("center-status.schema.json", &take(out).unwrap());
    let mut out = std::ptr::null_mut();
    ok(fd_monitor_presence_json(m, c("client:alice").as_ptr(), &mut out));
    s.valid("presence.schema.json", &take(out).unwrap());
    ok(fd_monitor_free(m));
}

/// Network handles aimed at a closed loopback port: their transport errors, disconnects and views.
unsafe fn network_handles(s: &Schemas) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = c(&format!("ws://127.0.0.1:{port}"));
    let mut cl = std::ptr::null_mut();
    let st = fd_client_connect(url.as_ptr(), c("tok").as_ptr(), 1, &mut cl);
    if st == FdStatus::FD_ERR_UNAVAILABLE {
        panic!("built without the network feature: the agent console's JSON cannot be checked");
    }
    ok(st);
    let media = r#"{"media":["chat","voice"],"skills":["router"]}"#;
    let mut agent = std::ptr::null_mut();
    accepted(s, "agent-media.schema.json", media, |j| fd_agent_connect(url.as_ptr(), c("tok").as_ptr(), 1, c("Ann").as_ptr(), j, &mut agent));
    s.valid("agent-media.schema.json", r#"["chat"]"#);
    for bad in ["", "[]", "chat", r#"["fax"]"#, r#"{"skills":["router"]}"#, r#"{"media":[]}"#] {
        refused(s, "agent-media.schema.json", bad, |j| fd_agent_connect(url.as_ptr(), c("tok").as_ptr(), 1, c("Ann").as_ptr(), j, &mut std::ptr::null_mut()));
    }
    let mut id = 0;
    accepted(s, "agent-request.schema.json", r#"{"op":"center_status"}"#, |j| fd_agent_request_json(agent, j, &mut id));
    accepted(s, "agent-request.schema.json", r#"{"op":"get_seat"}"#, |j| fd_agent_request_json(agent, j, &mut id));
    refused(s, "agent-request.schema.json", r#"{"op":"get_orders"}"#, |j| fd_agent_request_json(agent, j, &mut id));

    let (mut client_errors, mut agent_errors) = (0, 0);
    for _ in 0..50 {
        let mut ev = std::ptr::null_mut();
        ok(fd_client_wait_event(cl, 100, &mut ev));
        if let Some(ev) = take(ev) {
            s.valid("client-event.schema.json", &ev);
            client_errors += usize::from(ev.contains("transport_error"));
        }
        let mut ev = std::ptr::null_mut();
        ok(fd_agent_wait_event(agent, 100, &mut ev));
        if let Some(ev) = take(ev) {
            s.valid("agent-event.schema.json", &ev);
            agent_errors += usize::from(ev.contains("transport_error"));
        }
        if client_errors > 0 && agent_errors > 0 {
            break;
        }
    }
    assert!(client_errors > 0 && agent_errors > 0, "no transport_error from a closed port");
    let mut view = std::ptr::null_mut();
    ok(fd_agent_view_json(agent, &mut view));
    s.valid("agent-view.schema.json", &take(view).unwrap());
    ok(fd_agent_free(agent));
    ok(fd_client_free(cl));
}
