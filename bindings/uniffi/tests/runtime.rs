//! The exported API driven from Rust: the same objects the foreign languages get, minus the FFI.

use frontdesk_uniffi::events::{ClientEvent, ClientListener, ListenerError, Response};
use frontdesk_uniffi::types::{DeliveryDetails, HistoryFilter};
use frontdesk_uniffi::{EmbeddedCenter, FrontdeskError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(ThreadId, ClientEvent)>>,
    cv: Condvar,
}

impl ClientListener for Recorder {
    fn on_event(&self, event: ClientEvent) -> Result<(), ListenerError> {
        self.seen.lock().unwrap().push((std::thread::current().id(), event));
        self.cv.notify_all();
        Ok(())
    }
}

impl Recorder {
    fn wait_for(&self, pred: impl Fn(&ClientEvent) -> bool) -> (ThreadId, ClientEvent) {
        let g = self.seen.lock().unwrap();
        let (g, _) = self.cv.wait_timeout_while(g, Duration::from_secs(5), |v| !v.iter().any(|(_, e)| pred(e))).unwrap();
        g.iter().find(|(_, e)| pred(e)).cloned().expect("event within 5 s")
    }
}

#[test]
fn requests_answer_through_wait_and_listener_on_the_runtime_thread() {
    let center = EmbeddedCenter::demo().unwrap();
    let rec = Arc::new(Recorder::default());
    let client = center.connect("tok-alice".into(), 1, rec.clone()).unwrap();
    client.wait_synced(5000).unwrap();
    let id = client.get_history(HistoryFilter { product_id: Some("router".into()), ..Default::default() }).unwrap();
    match client.wait(id, 5000).unwrap() {
        Response::History { records } => assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["h0", "h2"]),
        other => panic!("unexpected {other:?}"),
    }
    let (thread, _) = rec.wait_for(|e| matches!(e, ClientEvent::Completed { request_id, .. } if *request_id == id));
    assert_ne!(thread, std::thread::current().id());
    let err = client.wait(client.update_delivery("o3".into(), DeliveryDetails { address: "x".into(), window: None, instructions: None }).unwrap(), 5000);
    assert!(matches!(&err, Err(FrontdeskError::NotFound { .. })), "{err:?}");
    assert_eq!(err.unwrap_err().to_string(), "not found: no order o3");
    center.shutdown();
    assert!(matches!(client.get_profile(), Err(FrontdeskError::Closed { .. })));
}

#[test]
fn a_rejected_token_surfaces_as_unauthenticated() {
    let center = EmbeddedCenter::demo().unwrap();
    let client = center.connect("nope".into(), 2, Arc::new(Recorder::default())).unwrap();
    assert!(matches!(client.wait_synced(5000), Err(FrontdeskError::Unauthenticated { .. })));
    client.authenticate("tok-bob".into()).unwrap();
    client.wait_synced(5000).unwrap();
    assert_eq!(client.view().unwrap().client_id.as_deref(), Some("bob"));
}
