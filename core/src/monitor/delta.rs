//! Presence as deltas: what changed between two documents of one presentity, so a watcher of the
//! center is not sent the whole document when one agent's state moved.
//!
//! A delta names the version it applies to (`base`); a watcher that holds another version has
//! missed one and must fetch the whole document again (re-watch), since deltas are not replayed.

use super::presence::{Activity, PresenceDocument, Presentity, Tuple};
use crate::medium::Medium;
use crate::status::{AgentSummary, CenterStatus, ClientStatus, QueueStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// A change to a list whose items have keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListChange<T> {
    /// The whole new list (membership or order changed).
    Whole(Vec<T>),
    /// Only the changed items, each as its key and the fields that changed (`null` for one gone),
    /// merged onto the item with that key; membership and order stay. Fields, not whole items:
    /// one agent going busy changes two counters in each queue it serves.
    Set {
        /// The changes.
        set: Vec<serde_json::Map<String, serde_json::Value>>,
    },
}

/// What changed in the center figures; `at` always comes, the rest only when changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CenterDelta {
    /// When the new figures were computed.
    pub at: Timestamp,
    /// Per queue and medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<ListChange<QueueStatus>>,
    /// Media offered (the whole new list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_offered: Option<Vec<Medium>>,
    /// Agents logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<ListChange<AgentSummary>>,
}

/// The difference between two presence documents of one presentity; absent fields did not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceDelta {
    /// Whose presence.
    pub entity: Presentity,
    /// The version this delta applies to.
    pub base: u64,
    /// The version it makes.
    pub version: u64,
    /// When the new document was computed.
    pub timestamp: Timestamp,
    /// Communication means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuples: Option<ListChange<Tuple>>,
    /// Person-level activities (the whole new list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activities: Option<Vec<Activity>>,
    /// Free text; `Some(None)` (JSON `null`) removed it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub note: Option<Option<String>>,
    /// Center figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center: Option<CenterDelta>,
    /// Agent details; `Some(None)` removed them.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub agent: Option<Option<AgentSummary>>,
    /// Client status; `Some(None)` removed it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub client: Option<Option<ClientStatus>>,
}

/// Why a delta could not be applied: the holder must fetch the whole document again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaGap {
    /// The delta is about another presentity.
    #[error("a delta of {delta} does not apply to the document of {held}")]
    OtherEntity {
        /// The document's presentity.
        held: Presentity,
        /// The delta's presentity.
        delta: Presentity,
    },
    /// The document is not the version the delta was made from (a delta was missed).
    #[error("a delta from version {base} does not apply to version {held}; fetch the whole document")]
    OtherBase {
        /// The document's version.
        held: u64,
        /// The delta's base.
        base: u64,
    },
    /// The delta replaces an item (or the center figures) the document does not have.
    #[error("the delta replaces {0}, which the document does not have")]
    Missing(String),
}

/// A field that is present, even as `null`, is `Some`: so `null` can say "removed".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Items of a list that a `set` can name.
trait Keyed: Serialize + serde::de::DeserializeOwned {
    /// The fields that name an item.
    const KEY: &'static [&'static str];
    /// What an item is called in an error.
    const KIND: &'static str;
    fn describe(&self) -> String;
}

impl Keyed for Tuple {
    const KEY: &'static [&'static str] = &["id"];
    const KIND: &'static str = "tuple";
    fn describe(&self) -> String {
        format!("tuple {}", self.id)
    }
}

impl Keyed for QueueStatus {
    const KEY: &'static [&'static str] = &["queue", "medium"];
    const KIND: &'static str = "queue";
    fn describe(&self) -> String {
        format!("queue {} for {}", self.queue, self.medium)
    }
}

impl Keyed for AgentSummary {
    const KEY: &'static [&'static str] = &["id"];
    const KIND: &'static str = "agent";
    fn describe(&self) -> String {
        format!("agent {}", self.id)
    }
}

type Fields = serde_json::Map<String, serde_json::Value>;

fn fields<T: Serialize>(v: &T) -> Fields {
    match serde_json::to_value(v).expect("presence always serializes") {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("list items of a presence document are objects"),
    }
}

fn same_key<T: Keyed>(a: &Fields, b: &Fields) -> bool {
    T::KEY.iter().all(|k| a.get(*k) == b.get(*k))
}

fn list_change<T: Keyed + Clone + PartialEq>(old: &[T], new: &[T]) -> Option<ListChange<T>> {
    if old == new {
        return None;
    }
    let (of, nf): (Vec<Fields>, Vec<Fields>) = (old.iter().map(fields).collect(), new.iter().map(fields).collect());
    let same_members = old.len() == new.len() && of.iter().zip(&nf).all(|(a, b)| same_key::<T>(a, b));
    // A `set` names items by key, so it is only exact when no key repeats.
    let unique = || of.iter().enumerate().all(|(i, a)| of[..i].iter().all(|b| !same_key::<T>(a, b)));
    if !(same_members && unique()) {
        return Some(ListChange::Whole(new.to_vec()));
    }
    let set = of
        .iter()
        .zip(nf)
        .filter(|(a, b)| a != &b)
        .map(|(a, b)| {
            let mut patch: Fields = b.iter().filter(|(k, v)| T::KEY.contains(&k.as_str()) || a.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(k.clone(), serde_json::Value::Null);
            }
            patch
        })
        .collect();
    Some(ListChange::Set { set })
}

/// Replaces or patches a list as a [`ListChange`] says.
fn change_list<T: Keyed + Clone>(c: &ListChange<T>, list: &mut Vec<T>) -> Result<(), DeltaGap> {
    let set = match c {
        ListChange::Whole(v) => {
            *list = v.clone();
            return Ok(());
        }
        ListChange::Set { set } => set,
    };
    let mut all: Vec<Fields> = list.iter().map(fields).collect();
    for patch in set {
        let missing = || {
            let key: Vec<String> = T::KEY.iter().map(|k| patch.get(*k).and_then(|v| v.as_str()).unwrap_or("?").to_owned()).collect();
            DeltaGap::Missing(format!("{} {}", T::KIND, key.join(" for ")))
        };
        let i = all.iter().position(|x| same_key::<T>(x, patch)).ok_or_else(missing)?;
        for (k, v) in patch {
            all[i].insert(k.clone(), v.clone());
        }
        let describe = list[i].describe();
        list[i] = serde_json::from_value(serde_json::Value::Object(all[i].clone())).map_err(|e| DeltaGap::Missing(format!("{describe}: {e}")))?;
    }
    Ok(())
}

fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<T> {
    (old != new).then(|| new.clone())
}

fn center_delta(old: &CenterStatus, new: &CenterStatus) -> Option<CenterDelta> {
    if old == new {
        return None;
    }
    Some(CenterDelta {
        at: new.at,
        queues: list_change(&old.queues, &new.queues),
        media_offered: changed(&old.media_offered, &new.media_offered),
        agents: list_change(&old.agents, &new.agents),
    })
}

impl PresenceDelta {
    /// What turns `old` into `new`; none when a whole document is simpler or not larger (other
    /// presentity, center figures appearing or going, or a delta that encodes no smaller).
    pub fn between(old: &PresenceDocument, new: &PresenceDocument) -> Option<PresenceDelta> {
        if old.entity != new.entity || old.center.is_some() != new.center.is_some() {
            return None;
        }
        let center = match (&old.center, &new.center) {
            (Some(a), Some(b)) => center_delta(a, b),
            _ => None,
        };
        let d = PresenceDelta {
            entity: new.entity.clone(),
            base: old.version,
            version: new.version,
            timestamp: new.timestamp,
            tuples: list_change(&old.tuples, &new.tuples),
            activities: changed(&old.activities, &new.activities),
            note: changed(&old.note, &new.note),
            center,
            agent: changed(&old.agent, &new.agent),
            client: changed(&old.client, &new.client),
        };
        (encoded_len(&d) < encoded_len(new)).then_some(d)
    }

    /// Turns the document the delta was made from into the new one; on a gap the document is left
    /// as it was.
    pub fn apply(&self, doc: &mut PresenceDocument) -> Result<(), DeltaGap> {
        if doc.entity != self.entity {
            return Err(DeltaGap::OtherEntity { held: doc.entity.clone(), delta: self.entity.clone() });
        }
        if doc.version != self.base {
            return Err(DeltaGap::OtherBase { held: doc.version, base: self.base });
        }
        // On a copy, so a `set` naming an unknown item half-way leaves `doc` untouched.
        let mut next = doc.clone();
        next.version = self.version;
        next.timestamp = self.timestamp;
        if let Some(t) = &self.tuples {
            change_list(t, &mut next.tuples)?;
        }
        if let Some(a) = &self.activities {
            next.activities = a.clone();
        }
        if let Some(n) = &self.note {
            next.note = n.clone();
        }
        if let Some(c) = &self.center {
            let mine = next.center.as_mut().ok_or_else(|| DeltaGap::Missing("the center figures".into()))?;
            mine.at = c.at;
            if let Some(q) = &c.queues {
                change_list(q, &mut mine.queues)?;
            }
            if let Some(m) = &c.media_offered {
                mine.media_offered = m.clone();
            }
            if let Some(a) = &c.agents {
                change_list(a, &mut mine.agents)?;
            }
        }
        if let Some(a) = &self.agent {
            next.agent = a.clone();
        }
        if let Some(c) = &self.client {
            next.client = c.clone();
        }
        *doc = next;
        Ok(())
    }
}

/// Bytes of a value's compact JSON form, counted without building the text.
fn encoded_len<T: Serialize>(v: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    serde_json::to_writer(&mut c, v).expect("presence always serializes");
    c.0
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
