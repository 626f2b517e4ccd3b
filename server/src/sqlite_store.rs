//! The durable store: SQLite (WAL) through rusqlite. Writes between two commits are one transaction,
//! so a mutation and the session record saying it was applied land together or not at all.

use frontdesk_core::broker::store::{DataStore, SessionRecord, StoreError};
use frontdesk_core::broker::mail::OutboundMail;
use frontdesk_core::broker::Party;

/// Which table family a session belongs to, in the shared log tables.
fn party_kind(p: &Party) -> &'static str {
    match p {
        Party::Client(_) => "client",
        Party::Agent { .. } => "agent",
    }
}

/// The key column of a session's row: clients and agents live in separate tables, so ids cannot clash.
fn party_id(p: &Party) -> &str {
    match p {
        Party::Client(c) => c.as_str(),
        Party::Agent { agent } => agent.as_str(),
    }
}
use frontdesk_core::interaction::{ChatMessage, LiveInteraction};
use frontdesk_core::profile::ClientProfile;
use frontdesk_core::records::{HistoryFilter, InteractionRecord, Order, Product};
use frontdesk_core::invitation::Invitation;
use frontdesk_core::monitor::access::AccessRule;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::push::PushTarget;
use frontdesk_core::{ClientId, InteractionId, InvitationId, Medium, OrderId};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// SQLite-backed [`DataStore`].
pub struct SqliteStore {
    conn: Connection,
    in_tx: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn e(x: impl std::fmt::Display) -> StoreError {
    StoreError(x.to_string())
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(e)
}

impl SqliteStore {
    /// Opens (creating if needed) a database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path).map_err(e)?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(e)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // WAL with synchronous=NORMAL survives a killed process (not a power cut) at a fraction of
        // the cost of FULL; the broker commits after every input.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS profiles (client TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, client TEXT NOT NULL, json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS records_client ON records(client);
             CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, client TEXT NOT NULL, json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS orders_client ON orders(client);
             CREATE TABLE IF NOT EXISTS chat (interaction TEXT NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (interaction, seq));
             CREATE TABLE IF NOT EXISTS live (id TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS invitations (id TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS sessions (client TEXT NOT NULL, instance INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (client, instance));
             CREATE TABLE IF NOT EXISTS agent_sessions (agent TEXT NOT NULL, instance INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (agent, instance));
             CREATE TABLE IF NOT EXISTS session_events (kind TEXT NOT NULL, party TEXT NOT NULL, instance INTEGER NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, party, instance, seq));
             CREATE TABLE IF NOT EXISTS session_answers (kind TEXT NOT NULL, party TEXT NOT NULL, instance INTEGER NOT NULL, id INTEGER NOT NULL, frame TEXT, PRIMARY KEY (kind, party, instance, id));
             CREATE TABLE IF NOT EXISTS mail_owed (id TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS addresses (medium TEXT NOT NULL, address TEXT NOT NULL, client TEXT NOT NULL, PRIMARY KEY (medium, address, client));
             CREATE INDEX IF NOT EXISTS addresses_client ON addresses(client);
             CREATE TABLE IF NOT EXISTS push_targets (client TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS access_rules (presentity TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS attachments (interaction TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (interaction, seq));",
        )
        .map_err(e)?;
        let mut store = SqliteStore { conn, in_tx: false };
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
        if version < 1 {
            // Version 1 indexes capability addresses; profiles written before it are indexed once.
            let all: Vec<(String, String)> = {
                let mut st = store.conn.prepare("SELECT client, json FROM profiles").map_err(e)?;
                let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(e)?;
                rows.collect::<Result<_, _>>().map_err(e)?
            };
            for (client, json) in all {
                let p: ClientProfile = from_json(&json)?;
                store.index_addresses(&ClientId(client), &p)?;
            }
            store.write()?.execute_batch("PRAGMA user_version = 1").map_err(e)?;
            store.commit()?;
        }
        Ok(store)
    }

    fn index_addresses(&mut self, client: &ClientId, profile: &ClientProfile) -> Result<(), StoreError> {
        let c = self.write()?;
        c.execute("DELETE FROM addresses WHERE client = ?1", params![client.as_str()]).map_err(e)?;
        for cap in &profile.capabilities {
            if let Some(a) = &cap.address {
                c.execute("INSERT OR IGNORE INTO addresses (medium, address, client) VALUES (?1, ?2, ?3)", params![cap.medium.as_str(), a.to_lowercase(), client.as_str()])
                    .map_err(e)?;
            }
        }
        Ok(())
    }

    fn write(&mut self) -> Result<&Connection, StoreError> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            self.in_tx = true;
        }
        Ok(&self.conn)
    }

    fn query_all<T: serde::de::DeserializeOwned>(&self, sql: &str, arg: &str) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare_cached(sql).map_err(e)?;
        let rows = st.query_map(params![arg], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect()
    }

    fn query_one<T: serde::de::DeserializeOwned>(&self, sql: &str, arg: &str) -> Result<Option<T>, StoreError> {
        let s: Option<String> = self.conn.query_row(sql, params![arg], |r| r.get(0)).optional().map_err(e)?;
        s.map(|s| from_json(&s)).transpose()
    }

    /// Whether the catalogue is empty (a fresh database to seed).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0)).map_err(e)?;
        Ok(n == 0)
    }
}

impl DataStore for SqliteStore {
    fn profile(&self, client: &ClientId) -> Result<Option<ClientProfile>, StoreError> {
        self.query_one("SELECT json FROM profiles WHERE client = ?1", client.as_str())
    }

    fn put_profile(&mut self, client: &ClientId, profile: &ClientProfile) -> Result<(), StoreError> {
        let j = to_json(profile);
        self.write()?.execute("INSERT OR REPLACE INTO profiles (client, json) VALUES (?1, ?2)", params![client.as_str(), j]).map_err(e)?;
        self.index_addresses(client, profile)
    }

    fn client_by_address(&self, medium: Medium, address: &str) -> Result<Option<ClientId>, StoreError> {
        let c: Option<String> = self
            .conn
            .query_row("SELECT client FROM addresses WHERE medium = ?1 AND address = ?2 ORDER BY client LIMIT 1", params![medium.as_str(), address.to_lowercase()], |r| r.get(0))
            .optional()
            .map_err(e)?;
        Ok(c.map(ClientId))
    }

    fn save_mail(&mut self, m: &OutboundMail) -> Result<(), StoreError> {
        let j = to_json(m);
        self.write()?.execute("INSERT OR REPLACE INTO mail_owed (id, json) VALUES (?1, ?2)", params![m.id, j]).map_err(e)?;
        Ok(())
    }

    fn delete_mail(&mut self, id: &str) -> Result<(), StoreError> {
        self.write()?.execute("DELETE FROM mail_owed WHERE id = ?1", params![id]).map_err(e)?;
        Ok(())
    }

    fn save_push_targets(&mut self, client: &ClientId, targets: &[PushTarget]) -> Result<(), StoreError> {
        let c = self.write()?;
        if targets.is_empty() {
            c.execute("DELETE FROM push_targets WHERE client = ?1", params![client.as_str()]).map_err(e)?;
        } else {
            c.execute("INSERT OR REPLACE INTO push_targets (client, json) VALUES (?1, ?2)", params![client.as_str(), to_json(&targets)]).map_err(e)?;
        }
        Ok(())
    }

    fn save_access_rules(&mut self, p: &Presentity, rules: &[AccessRule]) -> Result<(), StoreError> {
        let c = self.write()?;
        if rules.is_empty() {
            c.execute("DELETE FROM access_rules WHERE presentity = ?1", params![p.to_string()]).map_err(e)?;
        } else {
            c.execute("INSERT OR REPLACE INTO access_rules (presentity, json) VALUES (?1, ?2)", params![p.to_string(), to_json(&(p, rules))]).map_err(e)?;
        }
        Ok(())
    }

    fn load_access_rules(&self) -> Result<Vec<(Presentity, Vec<AccessRule>)>, StoreError> {
        let mut st = self.conn.prepare("SELECT json FROM access_rules ORDER BY presentity").map_err(e)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|j| from_json(&j))).collect()
    }

    fn load_push_targets(&self) -> Result<Vec<(ClientId, Vec<PushTarget>)>, StoreError> {
        let mut st = self.conn.prepare("SELECT client, json FROM push_targets ORDER BY client").map_err(e)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|(c, j)| Ok((ClientId(c), from_json(&j)?)))).collect()
    }

    fn load_mail(&self) -> Result<Vec<OutboundMail>, StoreError> {
        let mut st = self.conn.prepare("SELECT json FROM mail_owed").map_err(e)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect()
    }

    fn history(&self, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, StoreError> {
        let mut v: Vec<InteractionRecord> = self.query_all("SELECT json FROM records WHERE client = ?1", client.as_str())?;
        v.retain(|r| filter.matches(r));
        v.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    fn record(&self, id: &InteractionId) -> Result<Option<InteractionRecord>, StoreError> {
        self.query_one("SELECT json FROM records WHERE id = ?1", id.as_str())
    }

    fn put_record(&mut self, r: &InteractionRecord) -> Result<(), StoreError> {
        let j = to_json(r);
        self.write()?
            .execute("INSERT OR REPLACE INTO records (id, client, json) VALUES (?1, ?2, ?3)", params![r.id.as_str(), r.client.as_str(), j])
            .map_err(e)?;
        Ok(())
    }

    fn products(&self) -> Result<Vec<Product>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT json FROM products ORDER BY id").map_err(e)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect()
    }

    fn put_product(&mut self, p: &Product) -> Result<(), StoreError> {
        let j = to_json(p);
        self.write()?.execute("INSERT OR REPLACE INTO products (id, json) VALUES (?1, ?2)", params![p.id.as_str(), j]).map_err(e)?;
        Ok(())
    }

    fn orders(&self, client: &ClientId) -> Result<Vec<Order>, StoreError> {
        self.query_all("SELECT json FROM orders WHERE client = ?1 ORDER BY id", client.as_str())
    }

    fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.query_one("SELECT json FROM orders WHERE id = ?1", id.as_str())
    }

    fn put_order(&mut self, o: &Order) -> Result<(), StoreError> {
        let j = to_json(o);
        self.write()?
            .execute("INSERT OR REPLACE INTO orders (id, client, json) VALUES (?1, ?2, ?3)", params![o.id.as_str(), o.client.as_str(), j])
            .map_err(e)?;
        Ok(())
    }

    fn append_chat(&mut self, m: &ChatMessage) -> Result<(), StoreError> {
        let j = to_json(m);
        self.write()?
            .execute("INSERT OR REPLACE INTO chat (interaction, seq, json) VALUES (?1, ?2, ?3)", params![m.interaction.as_str(), m.seq as i64, j])
            .map_err(e)?;
        Ok(())
    }

    fn transcript(&self, id: &InteractionId) -> Result<Vec<ChatMessage>, StoreError> {
        self.query_all("SELECT json FROM chat WHERE interaction = ?1 ORDER BY seq", id.as_str())
    }

    fn put_attachment(&mut self, interaction: &InteractionId, seq: u64, data: &[u8]) -> Result<(), StoreError> {
        self.write()?
            .execute("INSERT OR REPLACE INTO attachments (interaction, seq, data) VALUES (?1, ?2, ?3)", params![interaction.as_str(), seq as i64, data])
            .map_err(e)?;
        Ok(())
    }

    fn attachment(&self, interaction: &InteractionId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT data FROM attachments WHERE interaction = ?1 AND seq = ?2", params![interaction.as_str(), seq as i64], |r| r.get(0))
            .optional()
            .map_err(e)
    }

    fn transcript_page(&self, id: &InteractionId, before: Option<u64>, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        // The primary key (interaction, seq) answers this from the index, however long the chat.
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self.conn.prepare_cached("SELECT json FROM chat WHERE interaction = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3").map_err(e)?;
        let rows = st.query_map(params![id.as_str(), before, limit], |r| r.get::<_, String>(0)).map_err(e)?;
        let mut v: Vec<ChatMessage> = rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect::<Result<_, _>>()?;
        v.reverse();
        Ok(v)
    }

    fn save_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        let j = to_json(s);
        let sql = match &s.party {
            Party::Client(_) => "INSERT OR REPLACE INTO sessions (client, instance, json) VALUES (?1, ?2, ?3)",
            Party::Agent { .. } => "INSERT OR REPLACE INTO agent_sessions (agent, instance, json) VALUES (?1, ?2, ?3)",
        };
        self.write()?.execute(sql, params![party_id(&s.party), s.instance as i64, j]).map_err(e)?;
        Ok(())
    }

    fn delete_session(&mut self, party: &Party, instance: u64) -> Result<(), StoreError> {
        let sql = match party {
            Party::Client(_) => "DELETE FROM sessions WHERE client = ?1 AND instance = ?2",
            Party::Agent { .. } => "DELETE FROM agent_sessions WHERE agent = ?1 AND instance = ?2",
        };
        let w = self.write()?;
        w.execute(sql, params![party_id(party), instance as i64]).map_err(e)?;
        let p = params![party_kind(party), party_id(party), instance as i64];
        w.execute("DELETE FROM session_events WHERE kind = ?1 AND party = ?2 AND instance = ?3", p).map_err(e)?;
        w.execute("DELETE FROM session_answers WHERE kind = ?1 AND party = ?2 AND instance = ?3", p).map_err(e)?;
        Ok(())
    }

    fn logs_sessions(&self) -> bool {
        true
    }

    fn append_session_log(&mut self, party: &Party, instance: u64, events: &[(u64, &str)], answers: &[(u64, Option<&str>)]) -> Result<(), StoreError> {
        let w = self.write()?;
        let (kind, id, inst) = (party_kind(party), party_id(party), instance as i64);
        let mut st = w.prepare_cached("INSERT OR REPLACE INTO session_events (kind, party, instance, seq, json) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(e)?;
        for (seq, json) in events {
            st.execute(params![kind, id, inst, *seq as i64, json]).map_err(e)?;
        }
        let mut st = w.prepare_cached("INSERT OR REPLACE INTO session_answers (kind, party, instance, id, frame) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(e)?;
        for (rid, frame) in answers {
            st.execute(params![kind, id, inst, *rid as i64, frame]).map_err(e)?;
        }
        Ok(())
    }

    fn trim_session_log(&mut self, party: &Party, instance: u64, acked: u64, answers_from: u64) -> Result<(), StoreError> {
        let w = self.write()?;
        let (kind, id, inst) = (party_kind(party), party_id(party), instance as i64);
        // Ids and sequences are u64 on the wire; SQLite integers are i64, so both are stored as the
        // same bit pattern and compared within the positive range the broker uses.
        w.prepare_cached("DELETE FROM session_events WHERE kind = ?1 AND party = ?2 AND instance = ?3 AND seq <= ?4")
            .map_err(e)?
            .execute(params![kind, id, inst, acked.min(i64::MAX as u64) as i64])
            .map_err(e)?;
        w.prepare_cached("DELETE FROM session_answers WHERE kind = ?1 AND party = ?2 AND instance = ?3 AND id < ?4")
            .map_err(e)?
            .execute(params![kind, id, inst, answers_from.min(i64::MAX as u64) as i64])
            .map_err(e)?;
        Ok(())
    }

    fn load_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = vec![];
        for table in ["sessions", "agent_sessions"] {
            let mut st = self.conn.prepare(&format!("SELECT json FROM {table}")).map_err(e)?;
            let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
            for r in rows {
                out.push(r.map_err(e).and_then(|s| from_json::<SessionRecord>(&s))?);
            }
        }
        // Records written since the logs exist carry no events or answers of their own: fill them in.
        let mut ev = self.conn.prepare("SELECT seq, json FROM session_events WHERE kind = ?1 AND party = ?2 AND instance = ?3 ORDER BY seq").map_err(e)?;
        let mut an = self.conn.prepare("SELECT id, frame FROM session_answers WHERE kind = ?1 AND party = ?2 AND instance = ?3 ORDER BY id").map_err(e)?;
        for r in out.iter_mut() {
            let p = params![party_kind(&r.party), party_id(&r.party), r.instance as i64];
            let logged: Vec<(u64, String)> =
                ev.query_map(p, |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, String>(1)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
            if !logged.is_empty() {
                let mut all: std::collections::BTreeMap<u64, String> = r.outbox.drain(..).collect();
                all.extend(logged);
                r.outbox = all.into_iter().collect();
            }
            let answers: Vec<(u64, Option<String>)> =
                an.query_map(p, |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Option<String>>(1)?))).map_err(e)?.collect::<Result<_, _>>().map_err(e)?;
            if !answers.is_empty() {
                let mut all: std::collections::BTreeMap<u64, Option<String>> = r.answered.drain(..).collect();
                all.extend(answers);
                r.answered = all.into_iter().collect();
            }
        }
        Ok(out)
    }

    fn save_live(&mut self, li: &LiveInteraction) -> Result<(), StoreError> {
        let j = to_json(li);
        self.write()?.execute("INSERT OR REPLACE INTO live (id, json) VALUES (?1, ?2)", params![li.id.as_str(), j]).map_err(e)?;
        Ok(())
    }

    fn delete_live(&mut self, id: &InteractionId) -> Result<(), StoreError> {
        self.write()?.execute("DELETE FROM live WHERE id = ?1", params![id.as_str()]).map_err(e)?;
        Ok(())
    }

    fn load_live(&self) -> Result<Vec<LiveInteraction>, StoreError> {
        let mut st = self.conn.prepare("SELECT json FROM live").map_err(e)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect()
    }

    fn save_invitation(&mut self, i: &Invitation) -> Result<(), StoreError> {
        let j = to_json(i);
        self.write()?.execute("INSERT OR REPLACE INTO invitations (id, json) VALUES (?1, ?2)", params![i.id.as_str(), j]).map_err(e)?;
        Ok(())
    }

    fn delete_invitation(&mut self, id: &InvitationId) -> Result<(), StoreError> {
        self.write()?.execute("DELETE FROM invitations WHERE id = ?1", params![id.as_str()]).map_err(e)?;
        Ok(())
    }

    fn load_invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        let mut st = self.conn.prepare("SELECT json FROM invitations").map_err(e)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
        rows.map(|r| r.map_err(e).and_then(|s| from_json(&s))).collect()
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.in_tx {
            self.in_tx = false;
            self.conn.execute_batch("COMMIT").map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_core::records::{DeliveryDetails, OrderStatus};

    #[test]
    fn a_clients_block_survives_a_broker_restart_and_clearing_it_is_kept_too() {
        use frontdesk_core::broker::center::BuiltinRouting;
        use frontdesk_core::broker::{Broker, BrokerConfig};
        use frontdesk_core::monitor::access::{Decision, WatcherMatch};
        use frontdesk_core::monitor::StatusMonitor;
        use frontdesk_core::principal::Principal;
        let path = std::env::temp_dir().join(format!("fd-rules-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let broker = || {
            let verifier = Box::new(frontdesk_core::broker::auth::StaticTokens::new());
            let mut b = Broker::with_parts(BrokerConfig::default(), verifier, Box::new(SqliteStore::open(&path).unwrap()), Box::new(BuiltinRouting), StatusMonitor::default());
            b.restore_sessions(frontdesk_core::Timestamp(1)).unwrap();
            b
        };
        let (bob, me) = (Presentity::Client("bob".into()), Principal::Client("bob".into()));
        let block = vec![AccessRule { watcher: WatcherMatch::Client("alice".into()), decision: Decision::Block }];
        let mut b = broker();
        b.set_access_rules(&me, &bob, block.clone()).unwrap();
        drop(b);
        let mut b = broker();
        assert_eq!(b.monitor().access_rules(&bob), &block[..], "the block came back with the broker");
        let alice = Principal::Client("alice".into());
        assert!(b.monitor().fetch(&alice, &bob).is_err(), "and still refuses alice");
        b.set_access_rules(&me, &bob, vec![]).unwrap();
        drop(b);
        assert!(broker().monitor().access_rules(&bob).is_empty(), "cleared rules stay cleared");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn writes_survive_reopening_only_once_committed() {
        let dir = std::env::temp_dir().join(format!("fd-store-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let o = Order {
            id: "o1".into(),
            client: "alice".into(),
            product: "router".into(),
            status: OrderStatus::Placed,
            history: vec![],
            delivery: DeliveryDetails::default(),
            revision: 1,
        };
        {
            let mut s = SqliteStore::open(&dir).unwrap();
            s.put_order(&o).unwrap();
            s.commit().unwrap();
            let mut o2 = o.clone();
            o2.id = "o2".into();
            s.put_order(&o2).unwrap();
            // Dropped without commit: o2 must not survive.
        }
        let s = SqliteStore::open(&dir).unwrap();
        assert_eq!(s.orders(&"alice".into()).unwrap(), vec![o]);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn a_transcript_page_is_the_same_as_the_memory_store_gives() {
        use frontdesk_core::broker::store::MemoryStore;
        use frontdesk_core::interaction::Author;
        use frontdesk_core::Timestamp;
        let (mut sql, mut mem) = (SqliteStore::in_memory().unwrap(), MemoryStore::new());
        for (ix, n) in [("i1", 30u64), ("i2", 5)] {
            for seq in 1..=n {
                let m = ChatMessage { interaction: ix.into(), seq, from: Author::Client("alice".into()), text: format!("{ix}-{seq}"), at: Timestamp(seq), attachment: None };
                sql.append_chat(&m).unwrap();
                mem.append_chat(&m).unwrap();
            }
        }
        for (before, limit) in [(None, 10), (Some(11), 4), (Some(3), 10), (Some(1), 5), (None, 0), (Some(u64::MAX), 100)] {
            let page = sql.transcript_page(&"i1".into(), before, limit).unwrap();
            assert_eq!(page, mem.transcript_page(&"i1".into(), before, limit).unwrap(), "{before:?} {limit}");
        }
        let seqs: Vec<u64> = sql.transcript_page(&"i1".into(), Some(11), 4).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9, 10]);
        assert!(sql.transcript_page(&"none".into(), None, 5).unwrap().is_empty());
    }

    #[test]
    fn addresses_are_found_without_case_and_follow_profile_edits() {
        use frontdesk_core::profile::Capability;
        let mut s = SqliteStore::in_memory().unwrap();
        let mut p = ClientProfile::default();
        p.capabilities = vec![Capability { medium: Medium::Email, address: Some("Alice@Example.org".into()), devices: vec![] }];
        s.put_profile(&"alice".into(), &p).unwrap();
        s.commit().unwrap();
        assert_eq!(s.client_by_address(Medium::Email, "alice@example.ORG").unwrap(), Some("alice".into()));
        assert_eq!(s.client_by_address(Medium::Voice, "alice@example.org").unwrap(), None, "by medium");
        p.capabilities.clear();
        s.put_profile(&"alice".into(), &p).unwrap();
        s.commit().unwrap();
        assert_eq!(s.client_by_address(Medium::Email, "alice@example.org").unwrap(), None, "an address removed is not found");
    }
}
