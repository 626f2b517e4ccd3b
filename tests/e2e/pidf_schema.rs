//! Every kind of PIDF document we emit validates against the PIDF, data-model and RPID schemas
//! (RFC 3863, 4479, 4480) with xmllint.

use frontdesk_core::monitor::pidf::{parse_pidf, to_pidf, PidfLimits};
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::principal::Principal;
use frontdesk_core::status::{AgentState, ClientActivity, ClientStatus};
use frontdesk_core::Medium;
use frontdesk_tests::Fixture;
use std::path::PathBuf;
use std::process::Command;

fn schemas() -> PathBuf {
    if let Ok(p) = std::env::var("FRONTDESK_SCHEMAS") {
        return p.into();
    }
    // CI clones the repository with shared/ beside it.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas")
}

#[test]
fn emitted_pidf_validates_against_rfc_schemas() {
    let xsd = schemas().join("presence-all.xsd");
    assert!(xsd.exists(), "schemas not found at {} (set FRONTDESK_SCHEMAS)", xsd.display());
    let has_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    assert!(has_xmllint, "xmllint is missing: apt-get install -y libxml2-utils");

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
    let docs = vec![
        ("center", m.document(&Presentity::Center)),
        ("queue", m.document(&Presentity::Queue("support".into()))),
        ("agent-busy", m.document(&Presentity::Agent("ann".into()))),
        ("agent-offline", m.document(&Presentity::Agent("nobody".into()))),
        ("client", m.document(&Presentity::Client("alice".into()))),
        ("client-politely-blocked", m.fetch(&bob, &Presentity::Client("alice".into())).unwrap()),
    ];
    let dir = std::env::temp_dir().join(format!("frontdesk-pidf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, doc) in docs {
        let xml = to_pidf(&doc, "frontdesk.local");
        parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, &xml).unwrap();
        let out = Command::new("xmllint").args(["--noout", "--nonet", "--schema"]).arg(&xsd).arg(&path).output().unwrap();
        assert!(out.status.success(), "{name} does not validate:\n{}\n{xml}", String::from_utf8_lossy(&out.stderr));
        if name == "agent-busy" {
            assert!(xml.contains("<rpid:on-the-phone/>"), "{xml}");
        }
        if name == "queue" {
            assert!(xml.contains("holding=\"1\""), "{xml}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
