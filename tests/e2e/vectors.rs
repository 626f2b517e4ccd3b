//! Golden traces: what a client's view receives (answers with the request they answer, events,
//! presence) recorded from a real in-memory broker, and the view it must end with. The Rust
//! `ClientView` replays them here and the browser's JS view replays the same files
//! (`web/client.test.mjs`), so the two view implementations cannot drift apart.
//!
//! `FRONTDESK_WRITE_VECTORS=1 cargo test -p frontdesk-tests --test vectors` rewrites the files after
//! a deliberate change; otherwise the recorded trace must equal the committed one.

use frontdesk_core::client::ClientView;
use frontdesk_core::interaction::Author;
use frontdesk_core::monitor::delta::PresenceDelta;
use frontdesk_core::monitor::presence::PresenceDocument;
use frontdesk_core::profile::{AgendaWindow, ProfilePatch};
use frontdesk_core::protocol::{Event, Outcome, Request};
use frontdesk_core::records::OrderStatus;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_tests::link::Link;
use frontdesk_tests::Fixture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Records what the client side of a link receives.
#[derive(Default)]
struct Recorder {
    requests: BTreeMap<u64, Value>,
    steps: Vec<Value>,
}

impl Recorder {
    /// Delivers everything in flight (no faults), recording requests and what the client gets.
    fn run(&mut self, l: &mut Link) {
        for _ in 0..10_000 {
            if let Some(d) = l.to_broker.front() {
                let f: Value = serde_json::from_slice(d).unwrap();
                if f["t"] == "request" {
                    self.requests.insert(f["id"].as_u64().unwrap(), f["req"].clone());
                }
                l.to_broker_one();
            } else if let Some(d) = l.to_client.front() {
                if d.as_slice() != b"<close>" {
                    let f: Value = serde_json::from_slice(d).unwrap();
                    match f["t"].as_str().unwrap() {
                        "response" => {
                            let req = self.requests[&f["id"].as_u64().unwrap()].clone();
                            self.steps.push(json!({"answer": {"req": req, "outcome": f["outcome"]}}));
                        }
                        "event" => self.steps.push(json!({"event": f["event"]})),
                        "status" => self.steps.push(json!({"status": f["doc"]})),
                        "delta" => self.steps.push(json!({"delta": f["delta"]})),
                        _ => {}
                    }
                }
                l.to_client_one();
            } else if !l.client.is_connected() || l.client.pending_requests().next().is_some() {
                // Waiting for the connect timer.
                let t = l.client.poll_timeout().unwrap_or(l.now);
                l.advance(t.0.saturating_sub(l.now.0) + 1);
            } else {
                return;
            }
        }
        panic!("did not settle");
    }
}

/// The view as plain JSON in a shape both implementations can produce: maps become lists sorted by id.
fn normalize(v: &ClientView) -> Value {
    let values = |it: Vec<Value>| Value::Array(it);
    json!({
        "client": v.client,
        "profile": v.profile,
        "orders": values(v.orders.values().map(|o| json!(o)).collect()),
        "products": v.products,
        "history": v.history,
        "center": v.center,
        "presence": values(v.presence.values().map(|d| json!(d)).collect()),
        "invitations": values(v.invitations.values().map(|i| json!(i)).collect()),
        "interactions": values(v.interactions.values().map(|i| json!(i)).collect()),
        "chats": v.chats.iter().map(|(k, m)| (k.to_string(), json!(m))).collect::<serde_json::Map<_, _>>(),
        "delivered": values(v.delivered.iter().map(|(i, s)| json!([i, s])).collect()),
        "alerts": v.alerts,
    })
}

/// Replays a trace's steps on a fresh view, as the Rust client does.
fn replay(trace: &Value) -> ClientView {
    let mut v = ClientView::default();
    v.client = trace["client"].as_str().map(Into::into);
    for step in trace["steps"].as_array().unwrap() {
        if let Some(a) = step.get("answer") {
            let req: Request = serde_json::from_value(a["req"].clone()).unwrap();
            if let Outcome::Ok(r) = serde_json::from_value::<Outcome>(a["outcome"].clone()).unwrap() {
                v.apply_response(&req, &r);
            }
        } else if let Some(e) = step.get("event") {
            v.apply_event(&serde_json::from_value::<Event>(e.clone()).unwrap());
        } else if let Some(d) = step.get("status") {
            v.apply_presence(serde_json::from_value::<PresenceDocument>(d.clone()).unwrap(), false);
        } else if let Some(d) = step.get("delta") {
            // A recorded delta always fits: the trace has no losses.
            let d: PresenceDelta = serde_json::from_value(d.clone()).unwrap();
            let mut doc = v.presence[&d.entity].clone();
            d.apply(&mut doc).expect("a recorded delta fits the document before it");
            v.apply_presence(doc, false);
        }
    }
    v
}

fn check(name: &str, l: &Link, rec: Recorder) {
    let trace = json!({
        "name": name,
        "client": l.client.view().client,
        "steps": rec.steps,
        "view": normalize(l.client.view()),
    });
    // The live client and a replay of what it received agree.
    assert_eq!(normalize(&replay(&trace)), trace["view"], "{name}: replay differs from the live view");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&trace).unwrap() + "\n";
    if std::env::var_os("FRONTDESK_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    } else {
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing; run with FRONTDESK_WRITE_VECTORS=1", path.display()));
        let committed: Value = serde_json::from_str(&committed).unwrap();
        assert_eq!(committed, trace, "{name}: the recorded trace changed; rerun with FRONTDESK_WRITE_VECTORS=1 if intended");
        // And the committed file replays to its own view.
        assert_eq!(normalize(&replay(&committed)), committed["view"]);
    }
}

fn new_link() -> (Link, Recorder) {
    let mut f = Fixture::new();
    f.ann_available();
    let mut l = Link::new(f, "alice", 7);
    let mut rec = Recorder::default();
    rec.run(&mut l);
    (l, rec)
}

#[test]
fn a_chat_from_start_to_end_with_edits_orders_and_an_invitation() {
    let (mut l, mut rec) = new_link();
    let start = l.client.start_interaction(Medium::Chat, Some("router".into()), None, Some("wifi drops".into()));
    rec.run(&mut l);
    let ix: InteractionId = match l.completed(start) {
        Some(Ok(frontdesk_core::protocol::Response::Interaction(li))) => li.id.clone(),
        other => panic!("{other:?}"),
    };
    l.broker.agent_accept(l.now, &"ann".into(), &ix).unwrap();
    l.outputs();
    rec.run(&mut l);
    l.client.send_chat(ix.clone(), "hello");
    l.advance(1_000);
    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, "hi, how can I help?").unwrap();
    l.outputs();
    rec.run(&mut l);
    let agenda = vec![AgendaWindow { days: vec![1, 2, 3], start_minute: 540, end_minute: 1020, time_zone: "Europe/Paris".into(), media: vec![] }];
    l.client.update_profile(ProfilePatch { agenda: Some(agenda), ..Default::default() });
    l.client.get_history(Default::default());
    rec.run(&mut l);
    l.broker.center_set_order_status(l.now, &"o1".into(), OrderStatus::Shipped).ok();
    l.outputs();
    rec.run(&mut l);
    l.broker.agent_end(l.now, &"ann".into(), &ix).unwrap();
    l.outputs();
    rec.run(&mut l);
    let inv = l.broker.agent_invite(l.now, &"ann".into(), &"alice".into(), Medium::Chat, "one more thing").unwrap();
    l.outputs();
    rec.run(&mut l);
    l.client.respond_invitation(inv.id, false);
    rec.run(&mut l);
    assert!(l.client.view().chats[&ix].iter().any(|m| matches!(m.from, Author::Agent(_))));
    check("chat_lifecycle", &l, rec);
}

#[test]
fn a_restored_client_picks_up_its_live_chat() {
    let (mut l, mut rec) = new_link();
    let inv = l.broker.agent_invite(l.now, &"ann".into(), &"alice".into(), Medium::Chat, "hi").unwrap();
    l.outputs();
    rec.run(&mut l);
    l.client.respond_invitation(inv.id.clone(), true);
    rec.run(&mut l);
    let ix = l.client.view().invitations[&inv.id].interaction.clone().unwrap();
    l.client.send_chat(ix.clone(), "before the reload");
    rec.run(&mut l);
    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, "still there?").unwrap();
    l.outputs();
    rec.run(&mut l);
    // The page reloads: a new client from the saved state, with an empty view, resumes the session.
    let saved = serde_json::to_string(&l.client.save()).unwrap();
    let mut c = frontdesk_core::client::Client::restore(
        frontdesk_core::client::ClientConfig::new(frontdesk_tests::token("alice"), 0),
        serde_json::from_str(&saved).unwrap(),
    );
    c.start(l.now);
    l.cut();
    l.client = c;
    l.outputs();
    let mut rec = Recorder::default();
    rec.run(&mut l);
    assert!(l.client.view().chats[&ix].len() >= 2, "the transcript is back: {:?}", l.client.view().chats);
    l.broker.agent_send_chat(l.now, &"ann".into(), &ix, "after the reload").unwrap();
    l.outputs();
    rec.run(&mut l);
    check("restored_live_chat", &l, rec);
}
