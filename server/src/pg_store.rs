//! The PostgreSQL store: the same promise as SQLite — writes between two commits are one
//! transaction — for centers that keep their data in a shared, replicated database.
//!
//! The broker calls its store synchronously from inside its tokio task, so neither a client that
//! blocks on its own runtime (the `postgres` crate panics there) nor `block_in_place` (only on a
//! multi-thread runtime, and it stalls the broker's worker anyway) fits. The store therefore owns
//! one thread with its own single-threaded runtime and one `tokio_postgres` connection, and talks
//! to it over channels:
//!
//! - writes are buffered here, in order, and sent when a read or a commit needs them: a commit ships
//!   `BEGIN`, every buffered write and `COMMIT` in one pipelined batch, so a typical input costs one
//!   round trip plus the database's fsync;
//! - a read first flushes the buffered writes into the open transaction on the same connection, so
//!   the broker reads back what it wrote before committing, and nobody else sees it until the commit;
//! - a failure anywhere in a unit rolls all of it back and poisons the rest of the unit until
//!   `commit`, which reports it: nothing is half-applied.
//!
//! One connection and no pool: the broker is the single writer and serializes its inputs, so a pool
//! would only add connections that wait for each other.

use frontdesk_core::broker::mail::OutboundMail;
use frontdesk_core::broker::store::{DataStore, SessionRecord, StoreError};
use frontdesk_core::broker::Party;
use frontdesk_core::interaction::{ChatMessage, LiveInteraction};
use frontdesk_core::invitation::Invitation;
use frontdesk_core::monitor::access::AccessRule;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::push::PushTarget;
use frontdesk_core::profile::ClientProfile;
use frontdesk_core::records::{HistoryFilter, InteractionRecord, Order, Product};
use frontdesk_core::{ClientId, InteractionId, InvitationId, Medium, OrderId};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// Numbered migrations; migration `n` (from 1) takes a database from version `n - 1` to `n`. Never
/// edit one that shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: the SQLite tables, with JSON documents as `json` (not `jsonb`: it keeps the text as written
    // and accepts `\u0000`, which a chat message may carry and `jsonb` refuses) and session frames as
    // `bytea`, stored byte for byte.
    "CREATE TABLE profiles (client TEXT PRIMARY KEY, doc JSON NOT NULL);
     CREATE TABLE records (id TEXT PRIMARY KEY, client TEXT NOT NULL, doc JSON NOT NULL);
     CREATE INDEX records_client ON records (client);
     CREATE TABLE products (id TEXT PRIMARY KEY, doc JSON NOT NULL);
     CREATE TABLE orders (id TEXT PRIMARY KEY, client TEXT NOT NULL, doc JSON NOT NULL);
     CREATE INDEX orders_client ON orders (client);
     CREATE TABLE chat (interaction TEXT NOT NULL, seq BIGINT NOT NULL, doc JSON NOT NULL, PRIMARY KEY (interaction, seq));
     CREATE TABLE live (id TEXT PRIMARY KEY, doc JSON NOT NULL);
     CREATE TABLE invitations (id TEXT PRIMARY KEY, doc JSON NOT NULL);
     CREATE TABLE sessions (kind TEXT NOT NULL, party TEXT NOT NULL, instance BIGINT NOT NULL, doc JSON NOT NULL, PRIMARY KEY (kind, party, instance));
     CREATE TABLE session_events (kind TEXT NOT NULL, party TEXT NOT NULL, instance BIGINT NOT NULL, seq BIGINT NOT NULL, frame BYTEA NOT NULL, PRIMARY KEY (kind, party, instance, seq));
     CREATE TABLE session_answers (kind TEXT NOT NULL, party TEXT NOT NULL, instance BIGINT NOT NULL, id BIGINT NOT NULL, frame BYTEA, PRIMARY KEY (kind, party, instance, id));
     CREATE TABLE mail_owed (id TEXT PRIMARY KEY, doc JSON NOT NULL);
     CREATE TABLE addresses (medium TEXT NOT NULL, address TEXT NOT NULL, client TEXT NOT NULL, PRIMARY KEY (medium, address, client));
     CREATE INDEX addresses_client ON addresses (client);",
    // 2: the devices clients registered for pushes.
    "CREATE TABLE push_targets (client TEXT PRIMARY KEY, doc JSON NOT NULL);",
    // 3: the files sent in conversations, beside the messages that carry them.
    "CREATE TABLE attachments (interaction TEXT NOT NULL, seq BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (interaction, seq));",
    // 4: the cluster's fencing token. Each node that takes the leader lock increments the epoch
    // (`connect_leader`); every commit of a leader's store calls `frontdesk_fence` with its own
    // epoch inside the transaction, which raises FD001 once another node has taken a newer one.
    // The check holds the fence's advisory lock shared until the commit ends and the increment
    // takes it exclusively, so a newer leader waits for a commit already past its check (and its
    // restore sees it). An advisory lock lives in memory: a row lock (`FOR SHARE`) would write the
    // row, and WAL, on every commit.
    "CREATE TABLE leader_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL);
     INSERT INTO leader_epoch (id, epoch) VALUES (1, 0);
     CREATE FUNCTION frontdesk_fence(mine BIGINT) RETURNS void LANGUAGE plpgsql AS $$
     DECLARE current BIGINT;
     BEGIN
         PERFORM pg_advisory_xact_lock_shared(7378424937698452587);
         SELECT epoch INTO current FROM leader_epoch WHERE id = 1;
         IF current IS DISTINCT FROM mine THEN
             RAISE EXCEPTION 'fenced: leader epoch % is over, epoch % leads now', mine, current USING ERRCODE = 'FD001';
         END IF;
     END $$;",
    // 5: email threading (the mailroom's, `mailroom.rs`): on a cluster the leader that sent a mail
    // may be gone when its reply comes, so the reply tokens and Message-IDs live here, not in memory.
    "CREATE TABLE mail_threads (interaction TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE);
     CREATE TABLE mail_ids (n BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, interaction TEXT NOT NULL, outbound TEXT UNIQUE, sender TEXT);
     CREATE INDEX mail_ids_interaction ON mail_ids (interaction, n);",
    // 6: the access rules of presentities (a client's blocks), by presentity (`agent:ann`).
    "CREATE TABLE access_rules (presentity TEXT PRIMARY KEY, doc JSON NOT NULL);",
];

/// The advisory lock that orders fence checks against a new leader's increment ("fencefdk").
const FENCE_LOCK: i64 = 7_378_424_937_698_452_587;

/// The SQLSTATE `frontdesk_fence` raises when a newer leader holds the epoch.
const FENCED: &str = "(FD001)";

/// The schema version this code writes; a database at a higher version is refused.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Any number will do as long as it is the same in every frontdesk: it serializes the migrations of
/// brokers that start on one database at once.
const MIGRATION_LOCK: i64 = 0x6672_6f6e_7464_6573; // "frontdes"

/// A parameter, owned so it can travel to the connection's thread.
pub(crate) type Param = Box<dyn ToSql + Send + Sync>;

/// The parameters of a statement, each boxed as a [`Param`].
macro_rules! params {
    ($($p:expr),* $(,)?) => { vec![$(Box::new($p) as $crate::pg_store::Param),*] };
}
pub(crate) use params;

/// One statement and its parameters.
struct Op {
    sql: &'static str,
    params: Vec<Param>,
}

/// What a batch of buffered writes is sent with.
enum End {
    /// A query whose rows are the answer.
    Read(Op),
    /// The end of the unit.
    Commit,
}

/// A batch for the connection's thread.
struct Job {
    writes: Vec<Op>,
    end: End,
    reply: std::sync::mpsc::SyncSender<Result<Vec<Row>, StoreError>>,
}

/// PostgreSQL-backed [`DataStore`]: one connection on a thread of its own; see the module docs.
pub struct PgStore {
    jobs: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Writes not yet sent (reads take `&self`, and flush them).
    pending: RefCell<Vec<Op>>,
    /// Whether writes of this unit went to the database already, so a commit has something to end.
    flushed: Cell<bool>,
    /// The leader epoch every commit must still hold (a cluster leader's store only).
    fence: Option<(i64, tokio::sync::watch::Sender<bool>)>,
}

/// A cluster leader's claim on the database: the epoch its store took, and whether a newer leader
/// has since taken another (then every commit of the store fails and the node must stop leading).
#[derive(Debug, Clone)]
pub struct LeaderEpoch {
    /// The epoch, counting up from 1 over the database's life: the cluster's fencing token.
    pub epoch: u64,
    deposed: tokio::sync::watch::Receiver<bool>,
}

impl LeaderEpoch {
    /// Whether a commit found a newer leader's epoch.
    pub fn is_deposed(&self) -> bool {
        *self.deposed.borrow()
    }

    /// Waits until a commit finds a newer leader's epoch (forever, if none does).
    pub async fn deposed(&mut self) {
        if self.deposed.wait_for(|d| *d).await.is_err() {
            // The store is gone without being deposed: nothing more to wait for.
            futures::future::pending::<()>().await;
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError(format!("postgres: {} ({})", db.message(), db.code().code())),
        None => match std::error::Error::source(&e) {
            Some(cause) => StoreError(format!("postgres: {e}: {cause}")),
            None => StoreError(format!("postgres: {e}")),
        },
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|x| StoreError(x.to_string()))
}

fn stopped() -> StoreError {
    StoreError("postgres: the store's connection thread stopped".into())
}

/// The kind column of a session's rows: clients and agents share the tables, so ids cannot clash.
fn party_kind(p: &Party) -> &'static str {
    match p {
        Party::Client(_) => "client",
        Party::Agent { .. } => "agent",
    }
}

fn party_id(p: &Party) -> String {
    match p {
        Party::Client(c) => c.as_str().to_owned(),
        Party::Agent { agent } => agent.as_str().to_owned(),
    }
}

/// Ids and sequences are u64 on the wire and BIGINT here: stored as the same bit pattern, and
/// compared within the positive range the broker uses.
fn int(v: u64) -> i64 {
    v as i64
}

fn bound(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl PgStore {
    /// Connects (a libpq URL or key=value string), migrates the schema to [`SCHEMA_VERSION`], and
    /// fails if the database's schema is newer than this code.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(pg)?;
        let (jobs, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("frontdesk-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(x) => {
                        let _ = ready_tx.send(Err(StoreError(format!("postgres: no runtime: {x}"))));
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut w = match Worker::open(config).await {
                        Ok(w) => w,
                        Err(x) => {
                            let _ = ready_tx.send(Err(x));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    w.serve(rx).await;
                })
            })
            .map_err(|x| StoreError(format!("postgres: cannot start the connection thread: {x}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgStore { jobs: Some(jobs), thread: Some(thread), pending: RefCell::new(vec![]), flushed: Cell::new(false), fence: None }),
            Ok(Err(x)) => {
                let _ = thread.join();
                Err(x)
            }
            Err(_) => {
                let _ = thread.join();
                Err(stopped())
            }
        }
    }

    /// Connects as the cluster's leader (call it holding the leader lock): takes the next leader
    /// epoch, and from then on every commit checks, in its own transaction, that no node has taken
    /// a newer one — a deposed leader's commit fails with nothing applied. The check is one call
    /// reading one row by primary key, pipelined with the commit: no extra round trip.
    pub fn connect_leader(url: &str) -> Result<(PgStore, LeaderEpoch), StoreError> {
        let mut s = PgStore::connect(url)?;
        // One unit: the exclusive lock waits for every commit already past its check.
        s.write("SELECT pg_advisory_xact_lock($1)", params![FENCE_LOCK]);
        let rows = s.read("UPDATE leader_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch", params![])?;
        s.commit()?;
        let epoch: i64 = rows.first().map(|r| r.get(0)).ok_or_else(|| StoreError("postgres: no leader_epoch row".into()))?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        s.fence = Some((epoch, tx));
        Ok((s, LeaderEpoch { epoch: epoch as u64, deposed: rx }))
    }

    /// Whether the catalogue is empty (a fresh database to seed).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let rows = self.read("SELECT COUNT(*) FROM products", params![])?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) == 0)
    }

    /// Runs one statement on its own, committed when it returns (a store with no unit open: the
    /// mailroom's threading tables, whose writes stand alone).
    pub(crate) fn statement(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        debug_assert!(self.pending.borrow().is_empty(), "a unit is open on this store");
        self.read(sql, params)
    }

    fn write(&mut self, sql: &'static str, params: Vec<Param>) {
        self.pending.get_mut().push(Op { sql, params });
    }

    fn send(&self, end: End) -> Result<Vec<Row>, StoreError> {
        let writes = std::mem::take(&mut *self.pending.borrow_mut());
        let commit = matches!(end, End::Commit);
        if !writes.is_empty() {
            self.flushed.set(true);
        }
        if commit {
            self.flushed.set(false);
        }
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(Job { writes, end, reply }).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    fn read(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        self.send(End::Read(Op { sql, params }))
    }

    fn docs<T: serde::de::DeserializeOwned>(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<T>, StoreError> {
        self.read(sql, params)?.iter().map(|r| from_json(r.get::<_, &str>(0))).collect()
    }

    fn doc<T: serde::de::DeserializeOwned>(&self, sql: &'static str, params: Vec<Param>) -> Result<Option<T>, StoreError> {
        self.read(sql, params)?.first().map(|r| from_json(r.get::<_, &str>(0))).transpose()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the channel ends the thread, whose connection closes and so rolls back an
        // uncommitted unit; joining makes that happen before whoever dropped us opens a new store.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The connection's side: runs on the store's thread.
struct Worker {
    config: tokio_postgres::Config,
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// A transaction is open (writes of the unit were applied).
    open: bool,
    /// The unit failed: its rest is dropped and its commit reports this.
    failed: Option<StoreError>,
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
    tokio::spawn(async move {
        // Its end shows as a closed client, handled at the next job.
        let _ = connection.await;
    });
    Ok(client)
}

impl Worker {
    async fn open(config: tokio_postgres::Config) -> Result<Worker, StoreError> {
        let mut client = connect(&config).await?;
        migrate(&mut client).await?;
        Ok(Worker { config, client, statements: HashMap::new(), open: false, failed: None })
    }

    async fn serve(&mut self, mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = rx.recv().await {
            let r = self.job(job.writes, job.end).await;
            let _ = job.reply.send(r);
        }
    }

    async fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await.map_err(pg)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    async fn job(&mut self, writes: Vec<Op>, end: End) -> Result<Vec<Row>, StoreError> {
        let commit = matches!(end, End::Commit);
        if self.client.is_closed() {
            if self.open {
                // The server rolled the open unit back when the connection went.
                self.open = false;
                self.failed.get_or_insert(StoreError("postgres: the connection was lost during a transaction".into()));
            }
            self.statements.clear();
            match connect(&self.config).await {
                Ok(c) => self.client = c,
                Err(x) => {
                    if commit {
                        self.failed = None;
                    }
                    return Err(x);
                }
            }
        }
        if let Some(f) = &self.failed {
            let f = f.clone();
            if commit {
                self.failed = None;
            }
            return Err(f);
        }
        let in_unit = self.open || !writes.is_empty();
        match self.apply(writes, end).await {
            Ok(rows) => Ok(rows),
            Err(x) => {
                if in_unit {
                    if self.open {
                        let _ = self.client.batch_execute("ROLLBACK").await;
                        self.open = false;
                    }
                    if !commit {
                        self.failed = Some(x.clone());
                    }
                }
                Err(x)
            }
        }
    }

    /// Sends `BEGIN` (if the unit is not open yet), the writes, and `COMMIT` or the read, pipelined.
    async fn apply(&mut self, writes: Vec<Op>, end: End) -> Result<Vec<Row>, StoreError> {
        let begin = !writes.is_empty() && !self.open;
        let (commit, read) = match end {
            End::Commit => (self.open || begin, None),
            End::Read(op) => (false, Some(op)),
        };
        let mut statements = Vec::with_capacity(writes.len() + 3);
        if begin {
            statements.push(self.statement("BEGIN").await?);
        }
        for op in &writes {
            statements.push(self.statement(op.sql).await?);
        }
        if commit {
            statements.push(self.statement("COMMIT").await?);
        }
        let read_statement = match &read {
            Some(op) => Some(self.statement(op.sql).await?),
            None => None,
        };
        if begin {
            // From here the server holds the unit: an error below rolls it back.
            self.open = true;
        }
        type Pending<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + 'a>>;
        let client = &self.client;
        let none: Vec<Param> = vec![];
        let mut futures: Vec<futures::future::MaybeDone<Pending<'_>>> = vec![];
        let ops = begin.then_some(&none).into_iter().chain(writes.iter().map(|o| &o.params)).chain(commit.then_some(&none));
        for (st, params) in statements.iter().zip(ops) {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            let f: Pending<'_> = Box::pin(async move { client.execute(st, &refs).await.map(|_| vec![]) });
            futures.push(futures::future::maybe_done(f));
        }
        if let (Some(st), Some(op)) = (&read_statement, &read) {
            let refs: Vec<&(dyn ToSql + Sync)> = op.params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            let f: Pending<'_> = Box::pin(async move { client.query(st, &refs).await });
            futures.push(futures::future::maybe_done(f));
        }
        // The first poll of each sends its request; polling them in order before awaiting any puts
        // the whole batch on the wire at once, in order, for one round trip.
        for f in futures.iter_mut() {
            let _ = futures::poll!(Pin::new(f));
        }
        let mut first_error = None;
        let mut rows = vec![];
        for mut f in futures {
            (&mut f).await;
            match Pin::new(&mut f).take_output().expect("awaited") {
                Ok(r) => rows = r,
                Err(x) => {
                    first_error.get_or_insert(x);
                }
            }
        }
        if let Some(x) = first_error {
            return Err(pg(x));
        }
        if commit {
            self.open = false;
        }
        Ok(if read.is_some() { rows } else { vec![] })
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction, or refuses a newer one.
async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").await.map_err(pg)?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[]).await.map_err(pg)?.get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "postgres: the database's schema is version {current}, newer than this frontdesk knows (version {SCHEMA_VERSION}); run a newer frontdesk or use another database"
        )));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(|x| StoreError(format!("migration {}: {}", n + 1, pg(x).0)))?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(n as i32 + 1)]).await.map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

impl DataStore for PgStore {
    fn profile(&self, client: &ClientId) -> Result<Option<ClientProfile>, StoreError> {
        self.doc("SELECT doc::text FROM profiles WHERE client = $1", params![client.as_str().to_owned()])
    }

    fn put_profile(&mut self, client: &ClientId, profile: &ClientProfile) -> Result<(), StoreError> {
        let c = client.as_str().to_owned();
        self.write(
            "INSERT INTO profiles (client, doc) VALUES ($1, $2::text::json) ON CONFLICT (client) DO UPDATE SET doc = EXCLUDED.doc",
            params![c.clone(), to_json(profile)],
        );
        self.write("DELETE FROM addresses WHERE client = $1", params![c.clone()]);
        for cap in &profile.capabilities {
            if let Some(a) = &cap.address {
                self.write(
                    "INSERT INTO addresses (medium, address, client) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    params![cap.medium.as_str().to_owned(), a.to_lowercase(), c.clone()],
                );
            }
        }
        Ok(())
    }

    fn client_by_address(&self, medium: Medium, address: &str) -> Result<Option<ClientId>, StoreError> {
        let rows = self.read(
            "SELECT client FROM addresses WHERE medium = $1 AND address = $2 ORDER BY client LIMIT 1",
            params![medium.as_str().to_owned(), address.to_lowercase()],
        )?;
        Ok(rows.first().map(|r| ClientId(r.get(0))))
    }

    fn save_mail(&mut self, m: &OutboundMail) -> Result<(), StoreError> {
        self.write("INSERT INTO mail_owed (id, doc) VALUES ($1, $2::text::json) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", params![m.id.clone(), to_json(m)]);
        Ok(())
    }

    fn delete_mail(&mut self, id: &str) -> Result<(), StoreError> {
        self.write("DELETE FROM mail_owed WHERE id = $1", params![id.to_owned()]);
        Ok(())
    }

    fn save_push_targets(&mut self, client: &ClientId, targets: &[PushTarget]) -> Result<(), StoreError> {
        if targets.is_empty() {
            self.write("DELETE FROM push_targets WHERE client = $1", params![client.as_str().to_owned()]);
        } else {
            self.write(
                "INSERT INTO push_targets (client, doc) VALUES ($1, $2::text::json) ON CONFLICT (client) DO UPDATE SET doc = EXCLUDED.doc",
                params![client.as_str().to_owned(), to_json(&targets)],
            );
        }
        Ok(())
    }

    fn save_access_rules(&mut self, p: &Presentity, rules: &[AccessRule]) -> Result<(), StoreError> {
        if rules.is_empty() {
            self.write("DELETE FROM access_rules WHERE presentity = $1", params![p.to_string()]);
        } else {
            self.write(
                "INSERT INTO access_rules (presentity, doc) VALUES ($1, $2::text::json) ON CONFLICT (presentity) DO UPDATE SET doc = EXCLUDED.doc",
                params![p.to_string(), to_json(&(p, rules))],
            );
        }
        Ok(())
    }

    fn load_access_rules(&self) -> Result<Vec<(Presentity, Vec<AccessRule>)>, StoreError> {
        self.docs("SELECT doc::text FROM access_rules ORDER BY presentity", params![])
    }

    fn load_push_targets(&self) -> Result<Vec<(ClientId, Vec<PushTarget>)>, StoreError> {
        let rows = self.read("SELECT client, doc::text FROM push_targets ORDER BY client", params![])?;
        rows.iter().map(|r| Ok((ClientId(r.get(0)), from_json(&r.get::<_, String>(1))?))).collect()
    }

    fn load_mail(&self) -> Result<Vec<OutboundMail>, StoreError> {
        self.docs("SELECT doc::text FROM mail_owed ORDER BY id", params![])
    }

    fn history(&self, client: &ClientId, filter: &HistoryFilter) -> Result<Vec<InteractionRecord>, StoreError> {
        let mut v: Vec<InteractionRecord> = self.docs("SELECT doc::text FROM records WHERE client = $1", params![client.as_str().to_owned()])?;
        v.retain(|r| filter.matches(r));
        v.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    fn record(&self, id: &InteractionId) -> Result<Option<InteractionRecord>, StoreError> {
        self.doc("SELECT doc::text FROM records WHERE id = $1", params![id.as_str().to_owned()])
    }

    fn put_record(&mut self, r: &InteractionRecord) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO records (id, client, doc) VALUES ($1, $2, $3::text::json) ON CONFLICT (id) DO UPDATE SET client = EXCLUDED.client, doc = EXCLUDED.doc",
            params![r.id.as_str().to_owned(), r.client.as_str().to_owned(), to_json(r)],
        );
        Ok(())
    }

    fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.docs("SELECT doc::text FROM products ORDER BY id", params![])
    }

    fn put_product(&mut self, p: &Product) -> Result<(), StoreError> {
        self.write("INSERT INTO products (id, doc) VALUES ($1, $2::text::json) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", params![p.id.as_str().to_owned(), to_json(p)]);
        Ok(())
    }

    fn orders(&self, client: &ClientId) -> Result<Vec<Order>, StoreError> {
        self.docs("SELECT doc::text FROM orders WHERE client = $1 ORDER BY id", params![client.as_str().to_owned()])
    }

    fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.doc("SELECT doc::text FROM orders WHERE id = $1", params![id.as_str().to_owned()])
    }

    fn put_order(&mut self, o: &Order) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO orders (id, client, doc) VALUES ($1, $2, $3::text::json) ON CONFLICT (id) DO UPDATE SET client = EXCLUDED.client, doc = EXCLUDED.doc",
            params![o.id.as_str().to_owned(), o.client.as_str().to_owned(), to_json(o)],
        );
        Ok(())
    }

    fn append_chat(&mut self, m: &ChatMessage) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO chat (interaction, seq, doc) VALUES ($1, $2, $3::text::json) ON CONFLICT (interaction, seq) DO UPDATE SET doc = EXCLUDED.doc",
            params![m.interaction.as_str().to_owned(), int(m.seq), to_json(m)],
        );
        Ok(())
    }

    fn transcript(&self, id: &InteractionId) -> Result<Vec<ChatMessage>, StoreError> {
        self.docs("SELECT doc::text FROM chat WHERE interaction = $1 ORDER BY seq", params![id.as_str().to_owned()])
    }

    fn put_attachment(&mut self, interaction: &InteractionId, seq: u64, data: &[u8]) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO attachments (interaction, seq, data) VALUES ($1, $2, $3) ON CONFLICT (interaction, seq) DO UPDATE SET data = EXCLUDED.data",
            params![interaction.as_str().to_owned(), int(seq), data.to_vec()],
        );
        Ok(())
    }

    fn attachment(&self, interaction: &InteractionId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.read("SELECT data FROM attachments WHERE interaction = $1 AND seq = $2", params![interaction.as_str().to_owned(), int(seq)])?;
        Ok(rows.first().map(|r| r.get::<_, Vec<u8>>(0)))
    }

    fn transcript_page(&self, id: &InteractionId, before: Option<u64>, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        // The primary key (interaction, seq) answers this from the index, however long the chat.
        let before = before.map_or(i64::MAX, bound);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut v: Vec<ChatMessage> = self.docs(
            "SELECT doc::text FROM chat WHERE interaction = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            params![id.as_str().to_owned(), before, limit],
        )?;
        v.reverse();
        Ok(v)
    }

    fn save_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO sessions (kind, party, instance, doc) VALUES ($1, $2, $3, $4::text::json) ON CONFLICT (kind, party, instance) DO UPDATE SET doc = EXCLUDED.doc",
            params![party_kind(&s.party), party_id(&s.party), int(s.instance), to_json(s)],
        );
        Ok(())
    }

    fn delete_session(&mut self, party: &Party, instance: u64) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM sessions WHERE kind = $1 AND party = $2 AND instance = $3",
            "DELETE FROM session_events WHERE kind = $1 AND party = $2 AND instance = $3",
            "DELETE FROM session_answers WHERE kind = $1 AND party = $2 AND instance = $3",
        ] {
            self.write(sql, params![party_kind(party), party_id(party), int(instance)]);
        }
        Ok(())
    }

    fn logs_sessions(&self) -> bool {
        true
    }

    fn append_session_log(&mut self, party: &Party, instance: u64, events: &[(u64, &str)], answers: &[(u64, Option<&str>)]) -> Result<(), StoreError> {
        let (kind, id, inst) = (party_kind(party), party_id(party), int(instance));
        for (seq, frame) in events {
            self.write(
                "INSERT INTO session_events (kind, party, instance, seq, frame) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, party, instance, seq) DO UPDATE SET frame = EXCLUDED.frame",
                params![kind, id.clone(), inst, int(*seq), frame.as_bytes().to_vec()],
            );
        }
        for (rid, frame) in answers {
            self.write(
                "INSERT INTO session_answers (kind, party, instance, id, frame) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, party, instance, id) DO UPDATE SET frame = EXCLUDED.frame",
                params![kind, id.clone(), inst, int(*rid), frame.map(|f| f.as_bytes().to_vec())],
            );
        }
        Ok(())
    }

    fn trim_session_log(&mut self, party: &Party, instance: u64, acked: u64, answers_from: u64) -> Result<(), StoreError> {
        let (kind, id, inst) = (party_kind(party), party_id(party), int(instance));
        self.write("DELETE FROM session_events WHERE kind = $1 AND party = $2 AND instance = $3 AND seq <= $4", params![kind, id.clone(), inst, bound(acked)]);
        self.write("DELETE FROM session_answers WHERE kind = $1 AND party = $2 AND instance = $3 AND id < $4", params![kind, id, inst, bound(answers_from)]);
        Ok(())
    }

    fn load_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out: Vec<SessionRecord> = self.docs("SELECT doc::text FROM sessions ORDER BY kind, party, instance", params![])?;
        // Every session's logs in two queries rather than two per session: a restart with many
        // sessions waits on round trips otherwise.
        type Key = (String, String, i64);
        let mut events: HashMap<Key, Vec<(u64, String)>> = HashMap::new();
        for r in self.read("SELECT kind, party, instance, seq, frame FROM session_events ORDER BY kind, party, instance, seq", params![])? {
            let frame = String::from_utf8(r.get::<_, Vec<u8>>(4)).map_err(|x| StoreError(format!("postgres: a logged event is not UTF-8: {x}")))?;
            events.entry((r.get(0), r.get(1), r.get(2))).or_default().push((r.get::<_, i64>(3) as u64, frame));
        }
        let mut answers: HashMap<Key, Vec<(u64, Option<String>)>> = HashMap::new();
        for r in self.read("SELECT kind, party, instance, id, frame FROM session_answers ORDER BY kind, party, instance, id", params![])? {
            let frame = r
                .get::<_, Option<Vec<u8>>>(4)
                .map(String::from_utf8)
                .transpose()
                .map_err(|x| StoreError(format!("postgres: a logged answer is not UTF-8: {x}")))?;
            answers.entry((r.get(0), r.get(1), r.get(2))).or_default().push((r.get::<_, i64>(3) as u64, frame));
        }
        for r in out.iter_mut() {
            let key = (party_kind(&r.party).to_owned(), party_id(&r.party), int(r.instance));
            if let Some(logged) = events.remove(&key) {
                let mut all: BTreeMap<u64, String> = r.outbox.drain(..).collect();
                all.extend(logged);
                r.outbox = all.into_iter().collect();
            }
            if let Some(logged) = answers.remove(&key) {
                let mut all: BTreeMap<u64, Option<String>> = r.answered.drain(..).collect();
                all.extend(logged);
                r.answered = all.into_iter().collect();
            }
        }
        Ok(out)
    }

    fn save_live(&mut self, li: &LiveInteraction) -> Result<(), StoreError> {
        self.write("INSERT INTO live (id, doc) VALUES ($1, $2::text::json) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", params![li.id.as_str().to_owned(), to_json(li)]);
        Ok(())
    }

    fn delete_live(&mut self, id: &InteractionId) -> Result<(), StoreError> {
        self.write("DELETE FROM live WHERE id = $1", params![id.as_str().to_owned()]);
        Ok(())
    }

    fn load_live(&self) -> Result<Vec<LiveInteraction>, StoreError> {
        self.docs("SELECT doc::text FROM live ORDER BY id", params![])
    }

    fn save_invitation(&mut self, i: &Invitation) -> Result<(), StoreError> {
        self.write("INSERT INTO invitations (id, doc) VALUES ($1, $2::text::json) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", params![i.id.as_str().to_owned(), to_json(i)]);
        Ok(())
    }

    fn delete_invitation(&mut self, id: &InvitationId) -> Result<(), StoreError> {
        self.write("DELETE FROM invitations WHERE id = $1", params![id.as_str().to_owned()]);
        Ok(())
    }

    fn load_invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        self.docs("SELECT doc::text FROM invitations ORDER BY id", params![])
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.get_mut().is_empty() && !self.flushed.get() {
            // Nothing written since the last commit (the broker commits after every input, reads too).
            return Ok(());
        }
        if let Some((epoch, _)) = &self.fence {
            // Last before COMMIT, in the same pipeline: the row lock it takes is held only from here
            // to the commit. Once deposed it fails every time, so nothing of a later unit lands.
            let epoch = *epoch;
            self.write("SELECT frontdesk_fence($1)", params![epoch]);
        }
        let r = self.send(End::Commit).map(|_| ());
        if let (Err(e), Some((_, deposed))) = (&r, &self.fence) {
            if e.0.contains(FENCED) {
                deposed.send_replace(true);
            }
        }
        r
    }
}
