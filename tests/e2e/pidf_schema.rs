//! Every kind of PIDF document we emit validates against the PIDF, data-model and RPID schemas
//! (RFC 3863, 4479, 4480) with xmllint, and parses back with our own parser.

use frontdesk_core::center_event::CenterEvent;
use frontdesk_core::monitor::pidf::{parse_pidf, to_pidf, PidfLimits};
use frontdesk_core::monitor::presence::{Activity, BasicStatus, PresenceDocument, Presentity, Tuple};
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::principal::Principal;
use frontdesk_core::status::{AgentState, ClientActivity, ClientStatus};
use frontdesk_core::{Medium, Timestamp};
use frontdesk_tests::Fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `$FRONTDESK_SCHEMAS`, else `<repo>/../shared/schemas` (CI clones the repository with shared/ beside it).
fn schemas() -> PathBuf {
    if let Ok(p) = std::env::var("FRONTDESK_SCHEMAS") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas")
}

fn xmllint(xsd: &Path, doc: &Path) -> std::process::Output {
    Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(xsd)
        .arg(doc)
        .output()
        .expect("xmllint ran a moment ago")
}

/// Agent documents in every state, straight from a monitor.
fn agent_docs() -> Vec<(String, PresenceDocument)> {
    let now = Timestamp(1_795_597_200_000);
    let mut out = vec![];
    for (name, state, media) in [
        ("agent-available", AgentState::Available, vec![Medium::Chat, Medium::Email]),
        ("agent-busy-chat", AgentState::Busy, vec![Medium::Chat]),
        ("agent-after-work", AgentState::AfterWork, vec![Medium::Voice]),
        ("agent-away", AgentState::Away, vec![Medium::Video]),
    ] {
        let mut m = StatusMonitor::default();
        m.handle_center_event(now, CenterEvent::AgentLoggedIn { agent: "cy".into(), name: "Cy".into(), skills: vec![], media }).unwrap();
        m.handle_center_event(now, CenterEvent::AgentStateChanged { agent: "cy".into(), state }).unwrap();
        out.push((name.to_string(), m.document(&Presentity::Agent("cy".into()))));
    }
    out
}

/// A hand-made document with everything that could break XML validity: ids that are not NCNames or
/// collide, control characters and markup in notes, an id a URI cannot carry as is.
fn awkward_doc() -> PresenceDocument {
    let mut doc = PresenceDocument::closed(Presentity::Client("zoë & co/1".into()), Timestamp(0));
    let tuple = |id: &str| Tuple { id: id.into(), status: BasicStatus::Open, medium: Some(Medium::Chat), contact: None, note: Some("\u{1}<b>&amp;\u{FFFF}".into()) };
    doc.tuples = vec![tuple("1st"), tuple("t 0"), tuple("t_0"), tuple("person-client-zo____co_1")];
    doc.activities = vec![Activity::Unknown, Activity::Meeting];
    doc.note = Some("]]> \u{0} \"quoted\"".into());
    doc
}

#[test]
fn emitted_pidf_validates_against_rfc_schemas() {
    let xsd = schemas().join("presence-all.xsd");
    assert!(xsd.exists(), "schemas not found at {}: put shared/ beside the repository or set FRONTDESK_SCHEMAS", xsd.display());
    let has_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    assert!(has_xmllint, "xmllint is missing; install it with: apt-get install -y libxml2-utils");

    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let id = f.hub.client(a).set_status(ClientStatus { activity: ClientActivity::Idle, medium: Some(Medium::Chat), note: Some("<back> & soon".into()) });
    f.answer(a, id).unwrap();
    f.ann_available();
    let b = f.connect("bob", 1);
    f.hub.broker.agent_set_state(f.now, &"ann".into(), AgentState::Busy).unwrap();
    f.hub.client(b).start_interaction(Medium::Voice, Some("router".into()), None, None);
    f.settle();
    let m = f.hub.broker.monitor();
    let bob = Principal::Client("bob".into());
    let mut docs: Vec<(String, PresenceDocument)> = vec![
        ("center".into(), m.document(&Presentity::Center)),
        ("queue".into(), m.document(&Presentity::Queue("support".into()))),
        ("agent-on-the-phone".into(), m.document(&Presentity::Agent("ann".into()))),
        ("agent-offline".into(), m.document(&Presentity::Agent("nobody".into()))),
        ("client-idle".into(), m.document(&Presentity::Client("alice".into()))),
        ("client-politely-blocked".into(), m.fetch(&bob, &Presentity::Client("alice".into())).unwrap()),
        ("awkward".into(), awkward_doc()),
    ];
    docs.extend(agent_docs());

    let dir = std::env::temp_dir().join(format!("frontdesk-pidf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, doc) in &docs {
        let xml = to_pidf(doc, "frontdesk.local");
        let parsed = parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}\n{xml}"));
        assert_eq!(parsed.tuples.len(), doc.tuples.len(), "{name}");
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, &xml).unwrap();
        let out = xmllint(&xsd, &path);
        assert!(out.status.success(), "{name} does not validate:\n{}\n{xml}", String::from_utf8_lossy(&out.stderr));
        eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr).trim());
        match name.as_str() {
            "agent-on-the-phone" => assert!(xml.contains("<rpid:on-the-phone/>"), "{xml}"),
            "queue" => assert!(xml.contains("holding=\"1\""), "{xml}"),
            "client-idle" => assert!(xml.contains("<rpid:unknown/>"), "{xml}"),
            _ => {}
        }
    }

    // The validation is not vacuous: RPID forbids `unknown` beside other activities, and the extension
    // schemas are checked (not just PIDF's lax wildcard).
    let bad = to_pidf(&docs[0].1, "frontdesk.local").replace("</presence>", "<dm:person id=\"p\"><rpid:activities><rpid:unknown/><rpid:away/></rpid:activities></dm:person></presence>");
    let path = dir.join("negative-control.xml");
    std::fs::write(&path, &bad).unwrap();
    assert!(!xmllint(&xsd, &path).status.success(), "xmllint accepted an invalid RPID document:\n{bad}");
    let _ = std::fs::remove_dir_all(&dir);
}
