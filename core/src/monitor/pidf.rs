//! PIDF (RFC 3863) with the data model (RFC 4479) and RPID activities (RFC 4480): presence documents
//! for every presentity the monitor knows, and a hardened parser for PIDF a vendor's system publishes.

use super::presence::{Activity, BasicStatus, PresenceDocument, Presentity};
use crate::medium::Medium;
use crate::status::AgentState;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// PIDF namespace.
pub const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// Presence data model namespace.
pub const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// RPID namespace.
pub const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// Our extension namespace (medium of a tuple, queue figures); unknown to others, so lax-validated.
pub const NS_FD: &str = "urn:frontdesk:params:xml:ns:pidf-cc";

/// The presence URI of a presentity (`pres:agent-ann@example.com`), the same local parts as its JID.
pub fn entity_uri(p: &Presentity, domain: &str) -> String {
    format!("pres:{}@{domain}", p.local_part())
}

fn activity_name(a: Activity) -> &'static str {
    match a {
        Activity::OnThePhone => "on-the-phone",
        Activity::Busy => "busy",
        Activity::Away => "away",
        Activity::Meeting => "meeting",
        Activity::Working => "working",
        Activity::Unknown => "unknown",
    }
}

/// Renders a presence document as PIDF. Tuples carry status, medium, contact, note and timestamp;
/// activities go in an RPID `<dm:person>`; queue figures in our namespace.
pub fn to_pidf(doc: &PresenceDocument, domain: &str) -> String {
    let ts = doc.timestamp.to_string();
    let mut s = String::with_capacity(1024);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<presence xmlns=\"{NS_PIDF}\" xmlns:dm=\"{NS_DM}\" xmlns:rpid=\"{NS_RPID}\" xmlns:fd=\"{NS_FD}\" entity=\"{}\">\n",
        escape(&entity_uri(&doc.entity, domain))
    ));
    for t in &doc.tuples {
        s.push_str(&format!(" <tuple id=\"{}\">\n", escape(&t.id)));
        let basic = match t.status {
            BasicStatus::Open => "open",
            BasicStatus::Closed => "closed",
        };
        s.push_str(&format!("  <status><basic>{basic}</basic></status>\n"));
        if let Some(m) = t.medium {
            s.push_str(&format!("  <fd:medium>{m}</fd:medium>\n"));
            if let Some(q) = doc.center.as_ref().filter(|_| matches!(doc.entity, Presentity::Queue(_))).and_then(|c| c.queues.iter().find(|q| q.medium == m)) {
                s.push_str(&format!(
                    "  <fd:queue holding=\"{}\" agents-available=\"{}\" agents-staffed=\"{}\"{}/>\n",
                    q.holding,
                    q.agents_available,
                    q.agents_staffed,
                    q.estimated_hold_secs.map(|e| format!(" estimated-hold-secs=\"{e:.0}\"")).unwrap_or_default()
                ));
            }
        }
        if let Some(c) = &t.contact {
            s.push_str(&format!("  <contact>{}</contact>\n", escape(c)));
        }
        if let Some(n) = &t.note {
            s.push_str(&format!("  <note>{}</note>\n", escape(n)));
        }
        s.push_str(&format!("  <timestamp>{ts}</timestamp>\n </tuple>\n"));
    }
    if let Some(n) = &doc.note {
        s.push_str(&format!(" <note>{}</note>\n", escape(n)));
    }
    if !doc.activities.is_empty() {
        let pid = entity_uri(&doc.entity, domain).replace([':', '@', '.'], "-");
        s.push_str(&format!(" <dm:person id=\"{}\">\n  <rpid:activities>", escape(&pid)));
        // RFC 4480: `unknown` stands alone; the others may combine.
        let known: Vec<&Activity> = doc.activities.iter().filter(|a| **a != Activity::Unknown).collect();
        if known.is_empty() {
            s.push_str("<rpid:unknown/>");
        } else {
            for a in known {
                s.push_str(&format!("<rpid:{}/>", activity_name(*a)));
            }
        }
        s.push_str(&format!("</rpid:activities>\n  <dm:timestamp>{ts}</dm:timestamp>\n </dm:person>\n"));
    }
    s.push_str("</presence>\n");
    s
}

/// One tuple read from PIDF.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PidfTuple {
    /// Tuple id.
    pub id: String,
    /// Basic status, if given.
    pub basic: Option<BasicStatus>,
    /// Contact URI.
    pub contact: Option<String>,
    /// Notes.
    pub notes: Vec<String>,
    /// Timestamp as written.
    pub timestamp: Option<String>,
    /// Medium, from our extension element.
    pub medium: Option<Medium>,
}

/// A PIDF document as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedPresence {
    /// The `entity` attribute.
    pub entity: String,
    /// Tuples.
    pub tuples: Vec<PidfTuple>,
    /// Document-level notes.
    pub notes: Vec<String>,
    /// RPID activities of the person, by element name (`on-the-phone`, `away`, …).
    pub activities: Vec<String>,
}

/// Limits applied to incoming PIDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidfLimits {
    /// Largest document, bytes.
    pub max_bytes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
    /// Longest attribute value or text node, bytes.
    pub max_text: usize,
    /// Most tuples.
    pub max_tuples: usize,
}

impl Default for PidfLimits {
    fn default() -> Self {
        PidfLimits { max_bytes: 64 * 1024, max_depth: 32, max_text: 4096, max_tuples: 64 }
    }
}

/// Why incoming PIDF was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed XML: {0}")]
    NotXml(String),
    /// A DOCTYPE was present: refused outright (no entity expansion, no external entities).
    #[error("DTDs are not allowed in presence documents")]
    Dtd,
    /// Over a size, depth, text or tuple limit.
    #[error("document exceeds limits: {0}")]
    TooLarge(&'static str),
    /// Root is not a PIDF `<presence>` element in the PIDF namespace.
    #[error("not a PIDF presence document")]
    NotPidf,
    /// A required part is missing or invalid.
    #[error("invalid PIDF: {0}")]
    Invalid(String),
}

#[derive(PartialEq)]
enum Ns {
    Pidf,
    Rpid,
    Fd,
    Other,
}

fn ns_of(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Bound(n) if n.as_ref() == NS_PIDF.as_bytes() => Ns::Pidf,
        ResolveResult::Bound(n) if n.as_ref() == NS_RPID.as_bytes() => Ns::Rpid,
        ResolveResult::Bound(n) if n.as_ref() == NS_FD.as_bytes() => Ns::Fd,
        _ => Ns::Other,
    }
}

/// Parses PIDF, refusing DTDs, oversized or over-deep input and anything that is not PIDF.
pub fn parse_pidf(xml: &[u8], limits: &PidfLimits) -> Result<ParsedPresence, PidfError> {
    if xml.len() > limits.max_bytes {
        return Err(PidfError::TooLarge("size"));
    }
    let text = std::str::from_utf8(xml).map_err(|_| PidfError::NotXml("not UTF-8".into()))?;
    let mut r = NsReader::from_str(text);
    let mut out = ParsedPresence::default();
    // Path of (namespace, local name) from the root.
    let mut path: Vec<(Ns, String)> = vec![];
    let mut cur: Option<PidfTuple> = None;
    let mut seen_root = false;
    let mut text = String::new();
    loop {
        let (ns, ev) = r.read_resolved_event().map_err(|e| PidfError::NotXml(e.to_string()))?;
        let ns = ns_of(&ns);
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::DocType(_) => return Err(PidfError::Dtd),
            Event::Start(e) | Event::Empty(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut attrs = vec![];
                for a in e.attributes() {
                    let a = a.map_err(|x| PidfError::NotXml(x.to_string()))?;
                    if a.value.len() > limits.max_text {
                        return Err(PidfError::TooLarge("attribute"));
                    }
                    let v = a.unescape_value().map_err(|x| PidfError::NotXml(x.to_string()))?.into_owned();
                    attrs.push((String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(), v));
                }
                let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                if path.is_empty() {
                    if seen_root || ns != Ns::Pidf || local != "presence" {
                        return Err(PidfError::NotPidf);
                    }
                    seen_root = true;
                    out.entity = attr("entity").filter(|e| !e.is_empty()).ok_or_else(|| PidfError::Invalid("presence needs an entity".into()))?;
                } else if path.len() == 1 && ns == Ns::Pidf && local == "tuple" {
                    if out.tuples.len() >= limits.max_tuples {
                        return Err(PidfError::TooLarge("tuples"));
                    }
                    let id = attr("id").filter(|i| !i.is_empty()).ok_or_else(|| PidfError::Invalid("tuple needs an id".into()))?;
                    cur = Some(PidfTuple { id, ..Default::default() });
                } else if ns == Ns::Rpid && path.last().is_some_and(|(n, l)| *n == Ns::Rpid && l == "activities") {
                    out.activities.push(local.clone());
                }
                text.clear();
                if !empty {
                    if path.len() >= limits.max_depth {
                        return Err(PidfError::TooLarge("depth"));
                    }
                    path.push((ns, local));
                } else if path.len() == 1 && local == "tuple" {
                    out.tuples.extend(cur.take());
                }
            }
            Event::Text(t) => {
                let piece = t.xml_content().map_err(|e| PidfError::NotXml(e.to_string()))?;
                text.push_str(&piece);
                if text.len() > limits.max_text {
                    return Err(PidfError::TooLarge("text"));
                }
            }
            Event::GeneralRef(g) => {
                // Only the five predefined entities and character references; anything else needs a DTD.
                let c = match g.as_ref() {
                    b"amp" => '&',
                    b"lt" => '<',
                    b"gt" => '>',
                    b"quot" => '"',
                    b"apos" => '\'',
                    _ => match g.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        _ => return Err(PidfError::NotXml("undefined entity".into())),
                    },
                };
                text.push(c);
            }
            Event::End(_) => {
                let s = std::mem::take(&mut text);
                let s = s.trim();
                let names: Vec<&str> = path.iter().map(|(_, l)| l.as_str()).collect();
                let last_ns = path.last().map(|(n, _)| n);
                match (names.as_slice(), last_ns) {
                    (["presence", "tuple", "status", "basic"], Some(Ns::Pidf)) => {
                        let b = match s {
                            "open" => BasicStatus::Open,
                            "closed" => BasicStatus::Closed,
                            other => return Err(PidfError::Invalid(format!("basic must be open or closed, not {other:?}"))),
                        };
                        if let Some(t) = cur.as_mut() {
                            t.basic = Some(b);
                        }
                    }
                    (["presence", "tuple", "contact"], Some(Ns::Pidf)) => cur.iter_mut().for_each(|t| t.contact = Some(s.to_string())),
                    (["presence", "tuple", "note"], Some(Ns::Pidf)) => cur.iter_mut().for_each(|t| t.notes.push(s.to_string())),
                    (["presence", "tuple", "timestamp"], Some(Ns::Pidf)) => cur.iter_mut().for_each(|t| t.timestamp = Some(s.to_string())),
                    (["presence", "tuple", "medium"], Some(Ns::Fd)) => cur.iter_mut().for_each(|t| t.medium = Medium::parse(s)),
                    (["presence", "note"], Some(Ns::Pidf)) => out.notes.push(s.to_string()),
                    _ => {}
                }
                let (_, local) = path.pop().ok_or_else(|| PidfError::NotXml("unbalanced end tag".into()))?;
                if path.len() == 1 && local == "tuple" {
                    out.tuples.extend(cur.take());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(PidfError::NotPidf);
    }
    if !path.is_empty() {
        return Err(PidfError::NotXml("truncated document".into()));
    }
    if out.tuples.iter().any(|t| t.basic.is_none()) {
        return Err(PidfError::Invalid("every tuple needs a basic status".into()));
    }
    Ok(out)
}

/// The agent state a vendor's PIDF publication implies: any open tuple means logged in; RPID
/// activities refine it (on-the-phone/busy → busy, away/meeting/… → away, working → after work);
/// no open tuple at all → away (still logged in; a logout is a separate event).
pub fn agent_state_from_pidf(p: &ParsedPresence) -> AgentState {
    let has = |a: &str| p.activities.iter().any(|x| x == a);
    let open = p.tuples.iter().any(|t| t.basic == Some(BasicStatus::Open));
    if has("on-the-phone") || has("busy") {
        AgentState::Busy
    } else if has("away") || has("meeting") || has("appointment") || has("meal") || has("vacation") || has("holiday") {
        AgentState::Away
    } else if has("working") {
        AgentState::AfterWork
    } else if open {
        AgentState::Available
    } else {
        AgentState::Away
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::center_event::CenterEvent;
    use crate::monitor::StatusMonitor;
    use crate::principal::Principal;
    use crate::status::{ClientActivity, ClientStatus};
    use crate::Timestamp;

    /// A monitor with a queue, an agent on the phone, one waiting interaction and a client.
    pub(crate) fn monitor() -> StatusMonitor {
        let mut m = StatusMonitor::default();
        let now = Timestamp(1_795_597_200_000);
        let ev = [
            CenterEvent::QueueConfigured { queue: "support".into(), name: "Support & Co <1>".into(), products: vec![], media: vec![Medium::Chat, Medium::Voice] },
            CenterEvent::AgentLoggedIn { agent: "ann".into(), name: "Ann".into(), skills: vec![], media: vec![Medium::Voice, Medium::Chat] },
            CenterEvent::AgentStateChanged { agent: "ann".into(), state: AgentState::Busy },
            CenterEvent::InteractionQueued { interaction: "i1".into(), queue: "support".into(), medium: Medium::Voice, client: None },
        ];
        for e in ev {
            m.handle_center_event(now, e).unwrap();
        }
        m.publish_client_status(now, "alice".into(), ClientStatus { activity: ClientActivity::Idle, medium: Some(Medium::Chat), note: Some("on the bus & late".into()) });
        m
    }

    pub(crate) fn all_kinds() -> Vec<Presentity> {
        vec![Presentity::Center, Presentity::Queue("support".into()), Presentity::Agent("ann".into()), Presentity::Client("alice".into())]
    }

    #[test]
    fn every_presentity_round_trips() {
        let m = monitor();
        for p in all_kinds() {
            let doc = m.document(&p);
            let xml = to_pidf(&doc, "example.com");
            let back = parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap_or_else(|e| panic!("{p}: {e}\n{xml}"));
            assert_eq!(back.entity, entity_uri(&p, "example.com"));
            assert_eq!(back.tuples.len(), doc.tuples.len(), "{xml}");
            for (a, b) in doc.tuples.iter().zip(&back.tuples) {
                assert_eq!(a.id, b.id);
                assert_eq!(Some(a.status), b.basic);
                assert_eq!(a.contact, b.contact);
                assert_eq!(a.medium, b.medium);
                assert_eq!(a.note.iter().cloned().collect::<Vec<_>>(), b.notes);
                assert_eq!(b.timestamp.as_deref(), Some(doc.timestamp.to_string().as_str()));
            }
            let acts: Vec<String> = doc.activities.iter().map(|a| activity_name(*a).to_string()).collect();
            assert_eq!(back.activities, acts);
        }
    }

    #[test]
    fn agent_on_the_phone_maps_back_to_busy() {
        let m = monitor();
        let xml = to_pidf(&m.document(&Presentity::Agent("ann".into())), "example.com");
        assert!(xml.contains("<rpid:on-the-phone/>"), "{xml}");
        let p = parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap();
        assert_eq!(agent_state_from_pidf(&p), AgentState::Busy);
        let fetched = m.fetch(&Principal::Client("bob".into()), &Presentity::Client("alice".into())).unwrap();
        let closed = parse_pidf(to_pidf(&fetched, "example.com").as_bytes(), &PidfLimits::default()).unwrap();
        assert_eq!(closed.tuples[0].basic, Some(BasicStatus::Closed), "politely blocked watchers see closed");
    }

    #[test]
    fn monitor_takes_agent_state_from_published_pidf() {
        let mut m = monitor();
        let xml = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:ann@acd"><tuple id="t"><status><basic>open</basic></status></tuple></presence>"#;
        assert_eq!(m.handle_agent_pidf(Timestamp(1_795_597_300_000), "ann".into(), xml.as_bytes()), Ok(AgentState::Available));
        assert_eq!(m.agent(&"ann".into()).unwrap().state, AgentState::Available);
        assert!(m.handle_agent_pidf(Timestamp(1_795_597_300_000), "ann".into(), b"<nope/>").is_err());
        assert_eq!(m.agent(&"ann".into()).unwrap().state, AgentState::Available, "a refused document changes nothing");
    }

    #[test]
    fn vendor_pidf_with_other_prefixes_is_understood() {
        let xml = r#"<?xml version="1.0"?>
<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:ietf:params:xml:ns:pidf:data-model"
  xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bo@acd.example">
  <p:tuple id="a1"><p:status><p:basic>open</p:basic></p:status><p:contact>sip:bo@acd.example</p:contact></p:tuple>
  <x:person id="p1"><r:activities><r:away/></r:activities></x:person>
</p:presence>"#;
        let p = parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap();
        assert_eq!(p.entity, "sip:bo@acd.example");
        assert_eq!(p.activities, vec!["away"]);
        assert_eq!(agent_state_from_pidf(&p), AgentState::Away);
        let open = xml.replace("<x:person id=\"p1\"><r:activities><r:away/></r:activities></x:person>", "");
        assert_eq!(agent_state_from_pidf(&parse_pidf(open.as_bytes(), &PidfLimits::default()).unwrap()), AgentState::Available);
    }

    #[test]
    fn hostile_and_malformed_input_is_refused() {
        let l = PidfLimits::default();
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><note>&lol2;</note></presence>"#;
        assert_eq!(parse_pidf(laughs.as_bytes(), &l), Err(PidfError::Dtd));
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><note>&x;</note></presence>"#;
        assert_eq!(parse_pidf(xxe.as_bytes(), &l), Err(PidfError::Dtd));
        let undefined = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><note>&x;</note></presence>"#;
        assert!(matches!(parse_pidf(undefined.as_bytes(), &l), Err(PidfError::NotXml(_))));
        let deep = format!(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b">{}{}</presence>"#, "<x>".repeat(10_000), "</x>".repeat(10_000));
        assert!(matches!(parse_pidf(deep.as_bytes(), &PidfLimits { max_bytes: 1 << 20, ..l }), Err(PidfError::TooLarge("depth"))));
        let huge_attr = format!(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:{}@b"/>"#, "a".repeat(1 << 20));
        assert_eq!(parse_pidf(huge_attr.as_bytes(), &l), Err(PidfError::TooLarge("size")));
        assert_eq!(parse_pidf(huge_attr.as_bytes(), &PidfLimits { max_bytes: 2 << 20, ..l }), Err(PidfError::TooLarge("attribute")));
        let truncated = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status><basic>open"#;
        assert!(matches!(parse_pidf(truncated.as_bytes(), &l), Err(PidfError::NotXml(_))));
        let wrong_ns = r#"<presence xmlns="urn:example:not-pidf" entity="pres:a@b"/>"#;
        assert_eq!(parse_pidf(wrong_ns.as_bytes(), &l), Err(PidfError::NotPidf));
        assert!(matches!(parse_pidf(&[0xff, 0xfe, b'<'], &l), Err(PidfError::NotXml(_))));
        let no_entity = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"#;
        assert!(matches!(parse_pidf(no_entity.as_bytes(), &l), Err(PidfError::Invalid(_))));
        let bad_basic = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status><basic>maybe</basic></status></tuple></presence>"#;
        assert!(matches!(parse_pidf(bad_basic.as_bytes(), &l), Err(PidfError::Invalid(_))));
        let many = format!(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b">{}</presence>"#, (0..100).map(|i| format!(r#"<tuple id="t{i}"><status><basic>open</basic></status></tuple>"#)).collect::<String>());
        assert_eq!(parse_pidf(many.as_bytes(), &l), Err(PidfError::TooLarge("tuples")));
    }
}
