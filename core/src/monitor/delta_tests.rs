use super::*;
use crate::center_event::CenterEvent;
use crate::monitor::presence::BasicStatus;
use crate::monitor::StatusMonitor;
use crate::status::{AgentState, ClientActivity};
use proptest::prelude::*;

const STATES: [AgentState; 5] = [AgentState::LoggedOut, AgentState::Available, AgentState::Busy, AgentState::AfterWork, AgentState::Away];
const ACTIVITIES: [Activity; 6] = [Activity::OnThePhone, Activity::Busy, Activity::Away, Activity::Meeting, Activity::Working, Activity::Unknown];

fn agent(i: u16, state: u16, since: u64) -> AgentSummary {
    AgentSummary {
        id: format!("a{i}").as_str().into(),
        name: format!("Agent {i}"),
        state: STATES[state as usize % 5],
        skills: (0..i % 3).map(|k| format!("p{k}").as_str().into()).collect(),
        media: vec![Medium::ALL[i as usize % 5]],
        since: Timestamp(since),
    }
}

fn queue(i: u16, m: u16, holding: u32) -> QueueStatus {
    QueueStatus {
        queue: format!("q{i}").as_str().into(),
        name: format!("Queue {i}"),
        medium: Medium::ALL[m as usize % 5],
        products: vec![],
        agents_available: holding % 3,
        agents_staffed: 2,
        holding,
        // Tenths, as the monitor rounds them, so they survive JSON unchanged.
        estimated_hold_secs: (holding > 0).then(|| f64::from(holding) * 12.5 / 10.0),
        offered: holding % 2 == 0,
        open: true,
        until: None,
    }
}

fn tuple(i: u16, open: bool) -> Tuple {
    Tuple {
        id: format!("t{i}"),
        status: if open { BasicStatus::Open } else { BasicStatus::Closed },
        medium: Some(Medium::ALL[i as usize % 5]),
        contact: Some(format!("frontdesk:center;t={i}")),
        note: None,
    }
}

fn arb_doc() -> impl Strategy<Value = PresenceDocument> {
    (
        prop::collection::vec((0u16..12, 0u16..5, 0u64..100), 0..8),
        prop::collection::vec((0u16..4, 0u16..5, 0u32..6), 0..6),
        prop::collection::vec((0u16..6, any::<bool>()), 0..5),
        0u64..50,
        any::<bool>(),
        prop::option::of(0u16..3),
        prop::option::of((0u16..12, 0u16..5)),
        prop::option::of(0u16..3),
    )
        .prop_map(|(agents, queues, tuples, version, center, note, one, client)| PresenceDocument {
            entity: Presentity::Center,
            version,
            timestamp: Timestamp(1000 + version),
            tuples: tuples.into_iter().map(|(i, o)| tuple(i, o)).collect(),
            activities: note.map(|n| vec![ACTIVITIES[n as usize]]).unwrap_or_default(),
            note: note.map(|n| format!("note {n}")),
            center: center.then(|| CenterStatus {
                at: Timestamp(version),
                queues: queues.into_iter().map(|(i, m, h)| queue(i, m, h)).collect(),
                media_offered: vec![Medium::Chat],
                agents: agents.into_iter().map(|(i, s, t)| agent(i, s, t)).collect(),
            }),
            agent: one.map(|(i, s)| agent(i, s, 7)),
            client: client.map(|n| ClientStatus { activity: ClientActivity::Online, medium: None, note: Some(format!("c{n}")) }),
        })
}

/// The next document: `tape` says which changes to make (field changes, items added, removed, reordered).
fn mutate(a: &PresenceDocument, tape: &[(u8, u16)]) -> PresenceDocument {
    let mut b = a.clone();
    b.version += 1;
    b.timestamp = Timestamp(b.timestamp.0 + 1);
    for &(op, x) in tape {
        let pick = |len: usize| if len == 0 { None } else { Some(x as usize % len) };
        match op {
            0..=2 => {
                if let Some(c) = &mut b.center {
                    c.at = Timestamp(c.at.0 + 1);
                    let n = c.agents.len();
                    match (op, pick(n)) {
                        (0, Some(i)) => c.agents[i].state = STATES[(x / 7) as usize % 5],
                        (1, Some(i)) => {
                            c.agents.remove(i);
                        }
                        _ => c.agents.insert(pick(n + 1).unwrap_or(0), agent(x % 20, x, u64::from(x))),
                    }
                }
            }
            3 => {
                if let Some(c) = &mut b.center {
                    if c.agents.len() > 1 {
                        let n = c.agents.len();
                        c.agents.swap(x as usize % n, (x as usize / 3) % n);
                    }
                }
            }
            4 | 5 => {
                if let Some(c) = &mut b.center {
                    match (op, pick(c.queues.len())) {
                        (4, Some(i)) => c.queues[i].holding = u32::from(x % 9),
                        (5, Some(i)) => {
                            c.queues.remove(i);
                        }
                        _ => c.queues.push(queue(x % 5, x, 1)),
                    }
                    c.media_offered = if x % 2 == 0 { vec![Medium::Chat] } else { vec![Medium::Chat, Medium::Voice] };
                }
            }
            6 => match pick(b.tuples.len()) {
                Some(i) if x % 3 != 0 => b.tuples[i].status = if x % 2 == 0 { BasicStatus::Open } else { BasicStatus::Closed },
                Some(i) if x % 2 == 0 => {
                    b.tuples.remove(i);
                }
                _ => b.tuples.push(tuple(x % 8, true)),
            },
            7 => b.note = (x % 3 != 0).then(|| format!("note {x}")),
            8 => b.activities = (0..x % 3).map(|k| ACTIVITIES[(x + k) as usize % 6]).collect(),
            9 => b.agent = (x % 3 != 0).then(|| agent(x % 12, x, u64::from(x))),
            10 => b.client = (x % 3 != 0).then_some(ClientStatus { activity: ClientActivity::Idle, medium: Some(Medium::Chat), note: None }),
            _ => {
                b.center = match b.center.take() {
                    Some(_) => None,
                    None => Some(CenterStatus::default()),
                }
            }
        }
    }
    b
}

proptest! {
    #[test]
    fn a_delta_turns_the_old_document_into_the_new_one(a in arb_doc(), tape in prop::collection::vec((0u8..12, any::<u16>()), 0..6)) {
        let b = mutate(&a, &tape);
        if let Some(d) = PresenceDelta::between(&a, &b) {
            prop_assert_eq!(d.base, a.version);
            prop_assert_eq!(d.version, b.version);
            // Also as the watcher gets it: through its JSON form.
            let wire: PresenceDelta = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            prop_assert_eq!(&wire, &d);
            let mut held = a.clone();
            prop_assert_eq!(wire.apply(&mut held), Ok(()));
            prop_assert_eq!(&held, &b);

            let mut stale = a.clone();
            stale.version += 1;
            let before = stale.clone();
            let refused = matches!(d.apply(&mut stale), Err(DeltaGap::OtherBase { .. }));
            prop_assert!(refused, "a wrong base is refused");
            prop_assert_eq!(stale, before);
        }
    }
}

#[test]
fn the_wire_form_is_as_documented() {
    let mut a = PresenceDocument::closed(Presentity::Center, Timestamp(1000));
    a.version = 4;
    a.note = Some("old".into());
    a.center = Some(CenterStatus { at: Timestamp(1000), queues: vec![queue(1, 0, 0), queue(2, 0, 0)], media_offered: vec![], agents: (0..6).map(|i| agent(i, 1, 0)).collect() });
    let mut b = a.clone();
    b.version = 5;
    b.timestamp = Timestamp(1234);
    b.note = None;
    let c = b.center.as_mut().unwrap();
    c.at = Timestamp(1234);
    c.agents[2].state = AgentState::Busy;
    c.agents.push(agent(9, 1, 0));
    c.queues[1].holding = 1;
    let d = PresenceDelta::between(&a, &b).expect("smaller than the document");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["entity"], "center");
    assert_eq!((v["base"].as_u64(), v["version"].as_u64(), v["timestamp"].as_u64()), (Some(4), Some(5), Some(1234)));
    assert!(v.get("tuples").is_none() && v.get("activities").is_none() && v.get("agent").is_none() && v.get("client").is_none(), "{v}");
    assert!(v["note"].is_null() && v.as_object().unwrap().contains_key("note"), "a removed note is null: {v}");
    assert_eq!(v["center"]["at"], 1234);
    assert!(v["center"].get("media_offered").is_none(), "{v}");
    assert_eq!(v["center"]["queues"]["set"].as_array().map(Vec::len), Some(1), "only the changed queue: {v}");
    assert_eq!(v["center"]["agents"].as_array().map(Vec::len), Some(7), "membership changed: the whole list: {v}");
    let back: PresenceDelta = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.note, Some(None));
}

#[test]
fn a_gap_leaves_the_document_as_it_was() {
    let mut a = PresenceDocument::closed(Presentity::Center, Timestamp(1));
    a.center = Some(CenterStatus { at: Timestamp(1), queues: vec![], media_offered: vec![], agents: (0..8).map(|i| agent(i, 1, 0)).collect() });
    let mut b = a.clone();
    b.version = 1;
    b.center.as_mut().unwrap().agents[3].state = AgentState::Away;
    let d = PresenceDelta::between(&a, &b).unwrap();

    let mut other = a.clone();
    other.center.as_mut().unwrap().agents.remove(3);
    let before = other.clone();
    assert_eq!(d.apply(&mut other), Err(DeltaGap::Missing("agent a3".into())));
    assert_eq!(other, before);

    let mut queue_doc = a.clone();
    queue_doc.entity = Presentity::Queue("q1".into());
    assert!(matches!(d.apply(&mut queue_doc), Err(DeltaGap::OtherEntity { .. })));
    assert_eq!(PresenceDelta::between(&queue_doc, &b), None, "another presentity gets no delta");
    let mut no_center = b.clone();
    no_center.center = None;
    assert_eq!(PresenceDelta::between(&a, &no_center), None, "center figures going: a whole document");
}

#[test]
fn one_agent_changing_state_costs_a_fraction_of_the_center_document() {
    let t = Timestamp(1_795_597_200_000);
    let mut m = StatusMonitor::default();
    for (q, media) in [("support", vec![Medium::Chat, Medium::Voice, Medium::Email]), ("sales", vec![Medium::Chat, Medium::Video])] {
        m.handle_center_event(t, CenterEvent::QueueConfigured { queue: q.into(), name: q.to_uppercase(), products: vec![], media }).unwrap();
    }
    for i in 0..20 {
        let agent: crate::ids::AgentId = format!("agent-{i:02}").as_str().into();
        let media = if i % 2 == 0 { vec![Medium::Chat, Medium::Voice] } else { vec![Medium::Chat, Medium::Video, Medium::Email] };
        m.handle_center_event(t, CenterEvent::AgentLoggedIn { agent: agent.clone(), name: format!("Agent {i}"), skills: vec![], media }).unwrap();
        m.handle_center_event(t, CenterEvent::AgentStateChanged { agent, state: AgentState::Available }).unwrap();
    }
    while m.poll_event().is_some() {}
    let mut old = m.document(&Presentity::Center);
    old.version = 7;
    let later = Timestamp(t.0 + 5_000);
    m.handle_center_event(later, CenterEvent::AgentStateChanged { agent: "agent-07".into(), state: AgentState::Busy }).unwrap();
    while m.poll_event().is_some() {}
    let mut new = m.document(&Presentity::Center);
    new.version = 8;
    let d = PresenceDelta::between(&old, &new).expect("a delta");
    let full = serde_json::to_vec(&new).unwrap().len();
    let delta = serde_json::to_vec(&d).unwrap().len();
    println!("center document of 20 agents: {full} B; delta for one agent's state: {delta} B");
    assert!(delta * 4 <= full, "delta {delta} B, document {full} B");
    let mut held = old.clone();
    d.apply(&mut held).unwrap();
    assert_eq!(held, new);
}
