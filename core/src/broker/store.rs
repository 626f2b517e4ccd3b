//! Where the broker keeps client and center data: a trait, so a vendor can plug its CRM or a database,
//! and an in-memory default.

use crate::ids::{ClientId, InteractionId, OrderId};
use crate::monitor::presence::Presentity;
use serde::{Deserialize, Serialize};
use crate::interaction::ChatMessage;
use crate::profile::ClientProfile;
use crate::records::{HistoryFilter, InteractionRecord, Order, Product};
use std::collections::{BTreeMap, HashMap};

/// A failure of the backing store; the request that hit it fails with `internal` and nothing is half-applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// What must survive a broker restart for a session to resume without loss: its request window and
/// its unacknowledged events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who holds the session (records from before agent sessions name the client as `client`).
    #[serde(alias = "client")]
    pub party: crate::broker::Party,
    /// An agent's role; `None` for clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::principal::AgentRole>,
    /// An agent's seat, so it is taken again after a restart and its console resumes into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatRecord>,
    /// App installation.
    pub instance: u64,
    /// Next request id to apply.
    pub next_request: u64,
    /// Remembered answers: request id and the encoded response frame (none for reads).
    pub answered: Vec<(u64, Option<String>)>,
    /// Next event sequence number.
    pub next_seq: u64,
    /// Unacknowledged events: sequence and encoded event.
    pub outbox: Vec<(u64, String)>,
    /// Watched presentities.
    pub watches: Vec<Presentity>,
    /// Status alerts subscribed in this session.
    #[serde(default)]
    pub alerts: Vec<(crate::ids::AlertId, crate::alert::AlertRule)>,
}

/// What an agent's seat needs to be taken again after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatRecord {
    /// Display name.
    pub name: String,
    /// Products handled.
    pub skills: Vec<crate::ids::ProductId>,
    /// Media handled.
    pub media: Vec<crate::medium::Medium>,
    /// State when last saved.
    #[serde(default)]
    pub state: Option<crate::status::AgentState>,
    /// Phone for callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The data the broker reads and writes. Writes between two [`DataStore::commit`] calls form one
/// unit: a durable store applies all of them or none, so a mutation and the record that it was
/// applied cannot be separated by a crash.
pub trait DataStore: Send {
    /// A client's profile.
    fn profile(&self, client: &ClientId) -> Result<Option<ClientProfile>, StoreError>;
    /// Stores a client's profile.
    fn put_profile(&mut self, client: &ClientId, profile: &ClientProfile) -> Result<(), StoreError>;
    /// A client's history, newest first.
    fn history(&self, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, StoreError>;
    /// One history record.
    fn record(&self, id: &InteractionId) -> Result<Option<InteractionRecord>, StoreError>;
    /// Adds or replaces a history record.
    fn put_record(&mut self, record: &InteractionRecord) -> Result<(), StoreError>;
    /// Product catalogue.
    fn products(&self) -> Result<Vec<Product>, StoreError>;
    /// Adds or replaces a product.
    fn put_product(&mut self, product: &Product) -> Result<(), StoreError>;
    /// A client's orders.
    fn orders(&self, client: &ClientId) -> Result<Vec<Order>, StoreError>;
    /// One order.
    fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// Adds or replaces an order.
    fn put_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// Appends a chat message to an interaction's transcript.
    fn append_chat(&mut self, message: &ChatMessage) -> Result<(), StoreError>;
    /// An interaction's transcript, in order.
    fn transcript(&self, id: &InteractionId) -> Result<Vec<ChatMessage>, StoreError>;
    /// The newest `limit` messages numbered below `before` (all if `None`), in order; stores that can
    /// should answer without reading the whole transcript.
    fn transcript_page(&self, id: &InteractionId, before: Option<u64>, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let mut v = self.transcript(id)?;
        v.retain(|m| before.map_or(true, |b| m.seq < b));
        let skip = v.len().saturating_sub(limit);
        v.drain(..skip);
        Ok(v)
    }
    /// Whether the store keeps sessions at all; a store that forgets them on restart says no, and the
    /// broker then does not build the records it would throw away.
    fn keeps_sessions(&self) -> bool {
        true
    }
    /// Saves a session's durable state (stores that forget on restart may ignore it).
    fn save_session(&mut self, _session: &SessionRecord) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets a session.
    fn delete_session(&mut self, _party: &crate::broker::Party, _instance: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every saved session, for a broker starting up (a logging store fills `outbox` and
    /// `answered` from its logs).
    fn load_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(vec![])
    }
    /// Whether the store keeps a session's unacknowledged events and remembered answers as logs that
    /// grow and shrink by the change ([`append_session_log`](Self::append_session_log),
    /// [`trim_session_log`](Self::trim_session_log)); `save_session` then gets records without them,
    /// so what is written per input is proportional to what changed, not to the session's size.
    fn logs_sessions(&self) -> bool {
        false
    }
    /// Adds new events (sequence, encoded event) and new answers (request id, encoded response frame,
    /// none for reads) to a session's logs; writing one already there again replaces it.
    fn append_session_log(&mut self, _party: &crate::broker::Party, _instance: u64, _events: &[(u64, &str)], _answers: &[(u64, Option<&str>)]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Drops from a session's logs the events up to `acked` and the answers below `answers_from`.
    fn trim_session_log(&mut self, _party: &crate::broker::Party, _instance: u64, _acked: u64, _answers_from: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Saves a live interaction (queued or connected) so it survives a restart.
    fn save_live(&mut self, _interaction: &crate::interaction::LiveInteraction) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets a live interaction (it ended).
    fn delete_live(&mut self, _id: &InteractionId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every saved live interaction, for a broker starting up.
    fn load_live(&self) -> Result<Vec<crate::interaction::LiveInteraction>, StoreError> {
        Ok(vec![])
    }
    /// Saves an invitation (pending or settled) so it survives a restart.
    fn save_invitation(&mut self, _invitation: &crate::invitation::Invitation) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets an invitation (settled long ago).
    fn delete_invitation(&mut self, _id: &crate::ids::InvitationId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every saved invitation, for a broker starting up.
    fn load_invitations(&self) -> Result<Vec<crate::invitation::Invitation>, StoreError> {
        Ok(vec![])
    }
    /// Saves mail owed to a client (the broker keeps it in memory too).
    fn save_mail(&mut self, _mail: &crate::broker::mail::OutboundMail) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets mail that went (or never will).
    fn delete_mail(&mut self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every mail still owed, for a broker starting up.
    fn load_mail(&self) -> Result<Vec<crate::broker::mail::OutboundMail>, StoreError> {
        Ok(vec![])
    }
    /// The client whose capability for `medium` has this address (compared without case), so mail
    /// from a known address reaches its client.
    fn client_by_address(&self, _medium: crate::medium::Medium, _address: &str) -> Result<Option<ClientId>, StoreError> {
        Ok(None)
    }
    /// Saves the devices a client registered for pushes (none: forget them).
    fn save_push_targets(&mut self, _client: &ClientId, _targets: &[crate::push::PushTarget]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every client's registered push devices, for a broker starting up.
    fn load_push_targets(&self) -> Result<Vec<(ClientId, Vec<crate::push::PushTarget>)>, StoreError> {
        Ok(vec![])
    }
    /// Saves the access rules of a presentity (none: forget them), so a block a client set still
    /// holds after a restart or on another cluster leader.
    fn save_access_rules(&mut self, _presentity: &Presentity, _rules: &[crate::monitor::access::AccessRule]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every presentity's access rules, for a broker starting up.
    fn load_access_rules(&self) -> Result<Vec<(Presentity, Vec<crate::monitor::access::AccessRule>)>, StoreError> {
        Ok(vec![])
    }
    /// Stores the bytes of the file carried by message `seq` of an interaction; written in the same
    /// unit as the message, so a message never names a file that is not there.
    fn put_attachment(&mut self, _interaction: &InteractionId, _seq: u64, _data: &[u8]) -> Result<(), StoreError> {
        Err(StoreError("this store keeps no files".into()))
    }
    /// The bytes of the file carried by message `seq` of an interaction.
    fn attachment(&self, _interaction: &InteractionId, _seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// Makes every write since the last commit durable, all together.
    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Keeps everything in memory: the embedded default and the store of the tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    profiles: HashMap<ClientId, ClientProfile>,
    records: BTreeMap<InteractionId, InteractionRecord>,
    products: BTreeMap<String, Product>,
    orders: BTreeMap<OrderId, Order>,
    transcripts: HashMap<InteractionId, Vec<ChatMessage>>,
    files: HashMap<(InteractionId, u64), Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DataStore for MemoryStore {
    fn keeps_sessions(&self) -> bool {
        false
    }

    fn profile(&self, client: &ClientId) -> Result<Option<ClientProfile>, StoreError> {
        Ok(self.profiles.get(client).cloned())
    }

    fn put_profile(&mut self, client: &ClientId, profile: &ClientProfile) -> Result<(), StoreError> {
        self.profiles.insert(client.clone(), profile.clone());
        Ok(())
    }

    fn history(&self, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, StoreError> {
        let mut v: Vec<_> = self.records.values().filter(|r| &r.client == client && filter.matches(r)).cloned().collect();
        v.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    fn record(&self, id: &InteractionId) -> Result<Option<InteractionRecord>, StoreError> {
        Ok(self.records.get(id).cloned())
    }

    fn put_record(&mut self, record: &InteractionRecord) -> Result<(), StoreError> {
        self.records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    fn products(&self) -> Result<Vec<Product>, StoreError> {
        Ok(self.products.values().cloned().collect())
    }

    fn put_product(&mut self, product: &Product) -> Result<(), StoreError> {
        self.products.insert(product.id.0.clone(), product.clone());
        Ok(())
    }

    fn orders(&self, client: &ClientId) -> Result<Vec<Order>, StoreError> {
        Ok(self.orders.values().filter(|o| &o.client == client).cloned().collect())
    }

    fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.orders.get(id).cloned())
    }

    fn put_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.orders.insert(order.id.clone(), order.clone());
        Ok(())
    }

    fn append_chat(&mut self, message: &ChatMessage) -> Result<(), StoreError> {
        self.transcripts.entry(message.interaction.clone()).or_default().push(message.clone());
        Ok(())
    }

    fn transcript(&self, id: &InteractionId) -> Result<Vec<ChatMessage>, StoreError> {
        Ok(self.transcripts.get(id).cloned().unwrap_or_default())
    }

    fn put_attachment(&mut self, interaction: &InteractionId, seq: u64, data: &[u8]) -> Result<(), StoreError> {
        self.files.insert((interaction.clone(), seq), data.to_vec());
        Ok(())
    }

    fn attachment(&self, interaction: &InteractionId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.files.get(&(interaction.clone(), seq)).cloned())
    }

    fn client_by_address(&self, medium: crate::medium::Medium, address: &str) -> Result<Option<ClientId>, StoreError> {
        let mut found: Vec<&ClientId> = self
            .profiles
            .iter()
            .filter(|(_, p)| p.capabilities.iter().any(|c| c.medium == medium && c.address.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(address))))
            .map(|(id, _)| id)
            .collect();
        found.sort();
        Ok(found.first().map(|c| (*c).clone()))
    }

    fn transcript_page(&self, id: &InteractionId, before: Option<u64>, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let Some(all) = self.transcripts.get(id) else { return Ok(vec![]) };
        // Appended in order, so the end of the page is found by binary search.
        let end = before.map_or(all.len(), |b| all.partition_point(|m| m.seq < b));
        Ok(all[end.saturating_sub(limit)..end].to_vec())
    }
}
