use super::*;
use crate::monitor::presence::{BasicStatus, Tuple};
use crate::protocol::BrokerFrame;
use crate::status::{AgentState, AgentSummary};

const T: Timestamp = Timestamp(1_795_597_200_000);

fn center(version: u64, busy: usize) -> PresenceDocument {
    let mut d = PresenceDocument::closed(Presentity::Center, T);
    d.version = version;
    d.tuples = vec![Tuple { id: "center-chat".into(), status: BasicStatus::Open, medium: Some(Medium::Chat), contact: None, note: None }];
    let agents = (0..10)
        .map(|i| AgentSummary {
            id: format!("agent-{i}").as_str().into(),
            name: format!("Agent {i}"),
            state: if i == busy { AgentState::Busy } else { AgentState::Available },
            skills: vec![],
            media: vec![Medium::Chat],
            since: T,
        })
        .collect();
    d.center = Some(CenterStatus { at: Timestamp(T.0 + version), queues: vec![], media_offered: vec![Medium::Chat], agents });
    d
}

/// A client with a session up, the center watched and its first document held.
fn connected() -> Client {
    let mut c = Client::new(ClientConfig::new("tok", 1));
    c.start(T);
    assert!(c.poll_connect());
    c.handle_connected(T);
    c.handle_input(T, br#"{"t":"welcome","v":1,"client":"alice","resumed":false}"#).unwrap();
    let watch = watches_sent(&mut c);
    assert_eq!(watch.len(), 1, "the center is watched at the start");
    answer_watch(&mut c, watch[0], center(1, 99));
    while c.poll_event().is_some() {}
    c
}

/// Ids of the watch requests the client sent since the last call.
fn watches_sent(c: &mut Client) -> Vec<u64> {
    let mut ids = vec![];
    while let Some(f) = c.poll_transmit() {
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        if v["t"] == "request" && v["req"]["op"] == "watch" {
            ids.push(v["id"].as_u64().unwrap());
        }
    }
    ids
}

fn answer_watch(c: &mut Client, id: u64, doc: PresenceDocument) {
    let f = BrokerFrame::Response { id, outcome: Outcome::Ok(Response::Presence(doc)) };
    c.handle_input(T, &f.encode()).unwrap();
}

fn send_delta(c: &mut Client, delta: PresenceDelta) {
    c.handle_input(T, &BrokerFrame::Delta { delta }.encode()).unwrap();
}

fn presence_events(c: &mut Client) -> Vec<PresenceDocument> {
    std::iter::from_fn(|| c.poll_event()).filter_map(|e| if let ClientEvent::Presence(d) = e { Some(d) } else { None }).collect()
}

#[test]
fn a_delta_reaches_the_app_as_the_whole_document() {
    let mut c = connected();
    let next = center(2, 3);
    send_delta(&mut c, PresenceDelta::between(&center(1, 99), &next).expect("a delta"));
    assert_eq!(presence_events(&mut c), vec![next.clone()]);
    assert_eq!(c.view().presence.get(&Presentity::Center), Some(&next));
    assert_eq!(c.view().center, next.center, "the center figures follow, as with a document");
    assert!(watches_sent(&mut c).is_empty());
    assert_eq!(c.presence_gaps(), 0);
}

#[test]
fn a_missed_delta_is_repaired_by_one_rewatch() {
    let mut c = connected();
    // The delta 1 -> 2 was lost; 2 -> 3 and 3 -> 4 do not fit version 1.
    send_delta(&mut c, PresenceDelta::between(&center(2, 3), &center(3, 4)).unwrap());
    send_delta(&mut c, PresenceDelta::between(&center(3, 4), &center(4, 5)).unwrap());
    assert_eq!(c.presence_gaps(), 2);
    assert!(presence_events(&mut c).is_empty(), "nothing half-applied reaches the app");
    assert_eq!(c.view().presence[&Presentity::Center], center(1, 99), "the view keeps the last good document");
    let sent = watches_sent(&mut c);
    assert_eq!(sent.len(), 1, "one re-watch while it is in flight");
    assert!(c.pending_requests().next().is_none(), "the re-watch is the client's own, not the app's");

    answer_watch(&mut c, sent[0], center(4, 5));
    assert_eq!(presence_events(&mut c), vec![center(4, 5)], "the repaired document is announced");
    assert_eq!(c.view().presence[&Presentity::Center], center(4, 5));
    send_delta(&mut c, PresenceDelta::between(&center(3, 4), &center(4, 5)).unwrap());
    assert_eq!(c.presence_gaps(), 2, "a delta older than the document held is no gap");
    send_delta(&mut c, PresenceDelta::between(&center(4, 5), &center(5, 6)).unwrap());
    assert_eq!(presence_events(&mut c), vec![center(5, 6)], "deltas apply again after the repair");
    assert!(watches_sent(&mut c).is_empty());
}

#[test]
fn a_delta_of_a_presentity_not_watched_is_ignored() {
    let mut c = connected();
    let mut a = center(1, 99);
    a.entity = Presentity::Agent("agent-1".into());
    let mut b = center(2, 1);
    b.entity = a.entity.clone();
    send_delta(&mut c, PresenceDelta::between(&a, &b).unwrap());
    assert!(std::iter::from_fn(|| c.poll_event()).next().is_none());
    assert!(watches_sent(&mut c).is_empty());
    assert_eq!(c.presence_gaps(), 0);
    assert!(!c.view().presence.contains_key(&b.entity));
}
