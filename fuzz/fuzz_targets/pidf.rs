//! PIDF (`frontdesk_core::monitor::pidf`).
//!
//! The first byte picks the mode:
//! - even: the rest is a document from a vendor's system, for `parse_pidf` with the default limits.
//!   Properties: never panics; a parsed document respects the limits (tuples, text lengths); the
//!   interpretation helpers (`presentity`, `known_activities`, `agent_state_from_pidf`) never panic;
//!   when the entity names one of our presentities, `entity_uri` of it names the same presentity again.
//! - odd: the rest builds a `PresenceDocument` (see `Bytes`); it is rendered with `to_pidf` and
//!   parsed back. `ParsedPresence` has no encoder, so this is the round trip the API allows:
//!   everything the document puts into PIDF comes back out (as the unit test `assert_round_trip`
//!   checks for the monitor's own documents), up to what XML itself normalises — line ends, the
//!   characters XML 1.0 cannot carry (replaced by U+FFFD), and surrounding whitespace (the parser trims).
#![no_main]

use frontdesk_core::medium::Medium;
use frontdesk_core::monitor::pidf::{
    activity_from_rpid, agent_state_from_pidf, entity_uri, parse_pidf, presentity_from_entity, to_pidf, PidfLimits, QueueFigures,
};
use frontdesk_core::monitor::presence::{Activity, BasicStatus, PresenceDocument, Presentity, Tuple};
use frontdesk_core::status::{CenterStatus, QueueStatus};
use frontdesk_core::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

const DOMAIN: &str = "example.com";
const MEDIA: [Medium; 5] = [Medium::Chat, Medium::Voice, Medium::Video, Medium::Callback, Medium::Email];
const ACTIVITIES: [Activity; 6] = [Activity::OnThePhone, Activity::Busy, Activity::Away, Activity::Meeting, Activity::Working, Activity::Unknown];

/// Reads a document's parts from the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        (self.u32() as u64) << 32 | self.u32() as u64
    }
    /// A string of up to 63 bytes (lossy UTF-8).
    fn string(&mut self) -> String {
        let n = (self.byte() & 63) as usize;
        let n = n.min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }
    fn opt_string(&mut self) -> Option<String> {
        (self.byte() & 1 == 1).then(|| self.string())
    }
    fn medium(&mut self) -> Medium {
        MEDIA[self.byte() as usize % MEDIA.len()]
    }
}

fn build(b: &mut Bytes<'_>) -> PresenceDocument {
    let kind = b.byte();
    let id = b.string();
    let entity = match kind % 4 {
        0 => Presentity::Center,
        1 => Presentity::Queue(id.as_str().into()),
        2 => Presentity::Agent(id.as_str().into()),
        _ => Presentity::Client(id.as_str().into()),
    };
    let timestamp = Timestamp(b.u64() % 253_402_300_800_000); // up to the year 9999
    let mut doc = PresenceDocument::closed(entity, timestamp);
    doc.tuples.clear();
    for _ in 0..(b.byte() % 6) {
        let id = b.string();
        let status = if b.byte() & 1 == 0 { BasicStatus::Open } else { BasicStatus::Closed };
        let medium = (b.byte() & 1 == 1).then(|| b.medium());
        doc.tuples.push(Tuple { id, status, medium, contact: b.opt_string(), note: b.opt_string() });
    }
    for _ in 0..(b.byte() % 4) {
        doc.activities.push(ACTIVITIES[b.byte() as usize % ACTIVITIES.len()]);
    }
    doc.note = b.opt_string();
    if b.byte() & 1 == 1 {
        let mut queues = vec![];
        for _ in 0..(b.byte() % 4) {
            let queue = b.string();
            let medium = b.medium();
            let est = match b.byte() % 4 {
                0 => None,
                1 => Some(f64::from_bits(b.u64())),
                _ => Some(b.u32() as f64 / 8.0),
            };
            queues.push(QueueStatus {
                queue: queue.as_str().into(),
                name: String::new(),
                medium,
                products: vec![],
                agents_available: b.u32(),
                agents_staffed: b.u32(),
                holding: b.u32(),
                estimated_hold_secs: est,
                offered: true,
                open: b.byte() % 2 == 0,
                until: None,
            });
        }
        doc.center = Some(CenterStatus { at: timestamp, queues, media_offered: vec![], agents: vec![] });
    }
    doc
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// What the parser gives back for a text the writer was handed.
fn text_back(s: &str) -> String {
    let s: String = s.chars().map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect();
    s.replace("\r\n", "\n").replace('\r', "\n").trim().to_string()
}

/// What the parser gives back for an attribute value the writer was handed.
fn attr_back(s: &str) -> String {
    let s: String = s.chars().map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect();
    s.trim().to_string()
}

/// The `xs:ID` the writer makes of a wanted id (the same rule as `to_pidf`'s).
fn take_id(ids: &mut HashSet<String>, wanted: &str) -> String {
    let mut base: String = wanted.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' }).collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        base.insert(0, '_');
    }
    let mut id = base.clone();
    let mut n = 1;
    while !ids.insert(id.clone()) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

fn medium_from_contact(contact: &str) -> Option<Medium> {
    let rest = contact.strip_prefix("frontdesk:")?;
    rest.split(';').skip(1).find_map(|p| p.strip_prefix("medium=")).and_then(Medium::parse)
}

fn round_trip(doc: &PresenceDocument) {
    let xml = to_pidf(doc, DOMAIN);
    let back = parse_pidf(xml.as_bytes(), &PidfLimits::default()).unwrap_or_else(|e| panic!("to_pidf wrote PIDF its parser refuses ({e}):\n{xml}"));
    assert_eq!(back.entity, entity_uri(&doc.entity, DOMAIN), "{xml}");
    let has_id = !matches!(&doc.entity, Presentity::Queue(q) if q.as_str().is_empty())
        && !matches!(&doc.entity, Presentity::Agent(a) if a.as_str().is_empty())
        && !matches!(&doc.entity, Presentity::Client(c) if c.as_str().is_empty());
    if has_id {
        assert_eq!(back.presentity().as_ref(), Some(&doc.entity), "{xml}");
    }
    assert_eq!(back.tuples.len(), doc.tuples.len(), "{xml}");
    let mut ids = HashSet::new();
    let with_figures = matches!(doc.entity, Presentity::Queue(_) | Presentity::Center);
    for (a, b) in doc.tuples.iter().zip(&back.tuples) {
        assert_eq!(b.id, take_id(&mut ids, &a.id), "{xml}");
        assert_eq!(b.basic, Some(a.status), "{xml}");
        let contact = a.contact.as_deref().map(text_back);
        assert_eq!(b.contact, contact, "{xml}");
        assert_eq!(b.medium, a.medium.or_else(|| contact.as_deref().and_then(medium_from_contact)), "{xml}");
        assert_eq!(b.notes, a.note.iter().map(|n| text_back(n)).collect::<Vec<_>>(), "{xml}");
        assert_eq!(b.timestamp.as_deref(), Some(doc.timestamp.to_string().as_str()), "{xml}");
        let want: Vec<QueueFigures> = match (a.medium, &doc.center) {
            (Some(m), Some(c)) if with_figures => c
                .queues
                .iter()
                .filter(|q| q.medium == m)
                .map(|q| QueueFigures {
                    queue: attr_back(q.queue.as_str()),
                    holding: Some(q.holding),
                    agents_available: Some(q.agents_available),
                    agents_staffed: Some(q.agents_staffed),
                    estimated_hold_secs: q.estimated_hold_secs.filter(|e| e.is_finite()),
                })
                .collect(),
            _ => vec![],
        };
        assert_eq!(b.queues, want, "{xml}");
    }
    // RFC 4480: `unknown` stands alone, so it is written only when nothing else is.
    let known: Vec<Activity> = doc.activities.iter().copied().filter(|a| *a != Activity::Unknown).collect();
    let want = if doc.activities.is_empty() { vec![] } else if known.is_empty() { vec![Activity::Unknown] } else { known };
    assert_eq!(back.known_activities(), want, "{xml}");
    assert_eq!(back.notes, doc.note.iter().map(|n| text_back(n)).collect::<Vec<_>>(), "{xml}");
}

fn parse_any(xml: &[u8]) {
    let limits = PidfLimits::default();
    let Ok(p) = parse_pidf(xml, &limits) else { return };
    assert!(p.tuples.len() <= limits.max_tuples);
    assert!(!p.entity.is_empty());
    for t in &p.tuples {
        assert!(!t.id.is_empty());
        assert!(t.notes.iter().chain(&t.contact).all(|s| s.len() <= limits.max_text));
    }
    let _ = agent_state_from_pidf(&p);
    for a in p.known_activities() {
        assert!(p.activities.iter().any(|n| activity_from_rpid(n) == Some(a)));
    }
    if let Some(who) = p.presentity() {
        let again = entity_uri(&who, DOMAIN);
        assert_eq!(presentity_from_entity(&again).as_ref(), Some(&who), "{} -> {who:?} -> {again}", p.entity);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        parse_any(rest);
    } else {
        round_trip(&build(&mut Bytes(rest)));
    }
});
