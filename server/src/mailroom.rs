//! The server's mailroom: it carries the broker's owed mail to the centre's relay and the clients'
//! replies back into their interactions, and keeps the threading the broker leaves to its host.
//!
//! Everything here runs in the broker task (the threading store, the broker calls) except the SMTP
//! conversations: sends run in tasks of their own and report back through the broker task's input
//! channel, and the listener's hook waits for the broker task's answer. One owner means no locks,
//! and duplicates of one inbound message, even concurrent ones, are checked and applied in turn.
//!
//! Threading is durable in the broker's SQLite file, through a connection of its own: one reply
//! token per interaction (created with its first mail out) and every Message-ID sent or received
//! with its interaction. An outgoing mail's Message-ID is written before the relay sees it, so a
//! reply to it threads even if the server died before hearing the relay's 250; a retry reuses it,
//! so a relay that got a mail twice hands the client two copies its mail program folds into one.

use crate::mail::{
    new_message_id, new_reply_token, reply_token, Deliver, DeliveryError, InboundConfig, InboundMail, Mailer, MailerConfig, OutgoingMail,
};
use crate::server::Input;
use frontdesk_core::broker::mail::{InboundMail as CoreMail, MailOutcome, OutboundMail};
use frontdesk_core::broker::Broker;
use frontdesk_core::protocol::ErrorCode;
use frontdesk_core::{InteractionId, Timestamp};
use crate::pg_store::{params as pg_params, PgStore};
use frontdesk_core::broker::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

/// Earlier ids named in an outgoing `References`: enough for any mail program to thread, short
/// enough that a long conversation does not grow every header.
const MAX_REFERENCES: usize = 10;

/// Sends in progress at once: a relay gets a few connections, not one per owed mail.
const PARALLEL_SENDS: usize = 4;

/// Email transport settings of a server.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The centre's relay for agents' replies; `None` leaves owed mail owed (kept, sent once a relay is configured).
    pub outbound: Option<MailerConfig>,
    /// The listener the centre's mail server relays clients' replies to; `None` takes no mail in.
    pub inbound: Option<InboundSettings>,
    /// First wait after a temporary send failure, doubling per attempt (the broker's `mail_retry`).
    pub retry: Duration,
}

/// Where and how the inbound SMTP listener runs.
#[derive(Debug, Clone)]
pub struct InboundSettings {
    /// Address to listen on (loopback or a private network: the listener offers no TLS).
    pub addr: SocketAddr,
    /// Names and limits.
    pub config: InboundConfig,
}

/// What the mailroom's helpers (send tasks, the listener's hook) ask of the broker task.
pub(crate) enum MailInput {
    /// A message the relay passed in; answered once it is committed or refused.
    Received(Box<InboundMail>, oneshot::Sender<Result<(), DeliveryError>>),
    /// Whether a reply token belongs to an interaction (asked at `RCPT`).
    TokenKnown(String, oneshot::Sender<Result<bool, String>>),
    /// How an attempt to send an owed mail went.
    Outcome(String, MailOutcome),
}

/// What a recorded Message-ID points at.
struct Known {
    interaction: InteractionId,
    /// Ours: random, so naming it proves the sender saw our mail.
    outbound: bool,
    /// The sender of a received one.
    sender: Option<String>,
}

/// Where the threading tables live.
pub(crate) enum ThreadsAt<'a> {
    /// Beside the broker's SQLite file (or in memory without one): one node.
    Sqlite(Option<&'a Path>),
    /// In the cluster's PostgreSQL (libpq URL): whichever node leads when a reply comes finds the
    /// thread the one that sent the mail recorded.
    Postgres(&'a str),
}

/// A threading table could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("mail threads: {0}")]
pub(crate) struct ThreadsError(String);

impl From<rusqlite::Error> for ThreadsError {
    fn from(e: rusqlite::Error) -> Self {
        ThreadsError(e.to_string())
    }
}

impl From<StoreError> for ThreadsError {
    fn from(e: StoreError) -> Self {
        ThreadsError(e.0)
    }
}

type ThreadsResult<T> = Result<T, ThreadsError>;

/// The durable threading tables, the same two in SQLite and in PostgreSQL.
enum Threads {
    Sqlite(Connection),
    Postgres(PgStore),
}

impl Threads {
    fn open(at: ThreadsAt<'_>) -> ThreadsResult<Threads> {
        let db = match at {
            // Its own connection, so a statement here never joins the broker's open unit.
            ThreadsAt::Postgres(url) => return Ok(Threads::Postgres(PgStore::connect(url)?)),
            ThreadsAt::Sqlite(db) => db,
        };
        let conn = match db {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        // Both connections live in the broker task and take turns, so a wait is a stuck
        // transaction, not contention: fail soon instead of stalling the task.
        conn.busy_timeout(Duration::from_secs(2))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS mail_threads (interaction TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS mail_ids (n INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, interaction TEXT NOT NULL, outbound TEXT UNIQUE, sender TEXT);
             CREATE INDEX IF NOT EXISTS mail_ids_interaction ON mail_ids(interaction, n);",
        )?;
        Ok(Threads::Sqlite(conn))
    }

    fn token_for(&self, ix: &InteractionId) -> ThreadsResult<String> {
        match self {
            Threads::Sqlite(c) => {
                c.execute("INSERT OR IGNORE INTO mail_threads (interaction, token) VALUES (?1, ?2)", params![ix.as_str(), new_reply_token()])?;
                Ok(c.query_row("SELECT token FROM mail_threads WHERE interaction = ?1", params![ix.as_str()], |r| r.get(0))?)
            }
            // One statement: a row another leader inserted first wins, and its token is the answer.
            Threads::Postgres(p) => first(p.statement(
                "WITH ins AS (INSERT INTO mail_threads (interaction, token) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING token)
                 SELECT token FROM ins UNION ALL SELECT token FROM mail_threads WHERE interaction = $1 LIMIT 1",
                pg_params![ix.as_str().to_owned(), new_reply_token()],
            )?)
            .map(|r| r.get(0))
            .ok_or_else(|| ThreadsError("no token row".into())),
        }
    }

    fn by_token(&self, token: &str) -> ThreadsResult<Option<InteractionId>> {
        let token = token.to_ascii_lowercase();
        Ok(match self {
            Threads::Sqlite(c) => c.query_row("SELECT interaction FROM mail_threads WHERE token = ?1", params![token], |r| r.get::<_, String>(0)).optional()?,
            Threads::Postgres(p) => first(p.statement("SELECT interaction FROM mail_threads WHERE token = $1", pg_params![token])?).map(|r| r.get(0)),
        }
        .map(InteractionId))
    }

    /// The Message-ID already given to an owed mail (a retry), with its place in the thread.
    fn outbound(&self, mail: &str) -> ThreadsResult<Option<(i64, String)>> {
        Ok(match self {
            Threads::Sqlite(c) => c.query_row("SELECT n, message_id FROM mail_ids WHERE outbound = ?1", params![mail], |r| Ok((r.get(0)?, r.get(1)?))).optional()?,
            Threads::Postgres(p) => first(p.statement("SELECT n, message_id FROM mail_ids WHERE outbound = $1", pg_params![mail.to_owned()])?).map(|r| (r.get(0), r.get(1))),
        })
    }

    fn record(&self, message_id: &str, ix: &InteractionId, outbound: Option<&str>, sender: Option<&str>) -> ThreadsResult<i64> {
        match self {
            Threads::Sqlite(c) => {
                c.execute(
                    "INSERT OR IGNORE INTO mail_ids (message_id, interaction, outbound, sender) VALUES (?1, ?2, ?3, ?4)",
                    params![message_id, ix.as_str(), outbound, sender],
                )?;
                Ok(c.query_row("SELECT n FROM mail_ids WHERE message_id = ?1", params![message_id], |r| r.get(0))?)
            }
            Threads::Postgres(p) => first(p.statement(
                "WITH ins AS (INSERT INTO mail_ids (message_id, interaction, outbound, sender) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING n)
                 SELECT n FROM ins UNION ALL SELECT n FROM mail_ids WHERE message_id = $1 LIMIT 1",
                pg_params![message_id.to_owned(), ix.as_str().to_owned(), outbound.map(str::to_owned), sender.map(str::to_owned)],
            )?)
            .map(|r| r.get(0))
            .ok_or_else(|| ThreadsError("no message id row".into())),
        }
    }

    fn lookup(&self, message_id: &str) -> ThreadsResult<Option<Known>> {
        Ok(match self {
            Threads::Sqlite(c) => c
                .query_row("SELECT interaction, outbound IS NOT NULL, sender FROM mail_ids WHERE message_id = ?1", params![message_id], |r| {
                    Ok(Known { interaction: InteractionId(r.get(0)?), outbound: r.get(1)?, sender: r.get(2)? })
                })
                .optional()?,
            Threads::Postgres(p) => first(p.statement("SELECT interaction, outbound IS NOT NULL, sender FROM mail_ids WHERE message_id = $1", pg_params![message_id.to_owned()])?)
                .map(|r| Known { interaction: InteractionId(r.get(0)), outbound: r.get(1), sender: r.get(2) }),
        })
    }

    /// The thread's ids before `n`, oldest first, at most `limit` (the newest ones).
    fn before(&self, ix: &InteractionId, n: i64, limit: usize) -> ThreadsResult<Vec<String>> {
        let mut v = match self {
            Threads::Sqlite(c) => {
                let mut st = c.prepare_cached("SELECT message_id FROM mail_ids WHERE interaction = ?1 AND n < ?2 ORDER BY n DESC LIMIT ?3")?;
                let ids = st.query_map(params![ix.as_str(), n, limit as i64], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                ids
            }
            Threads::Postgres(p) => p
                .statement("SELECT message_id FROM mail_ids WHERE interaction = $1 AND n < $2 ORDER BY n DESC LIMIT $3", pg_params![ix.as_str().to_owned(), n, limit as i64])?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        v.reverse();
        Ok(v)
    }
}

/// The first row of a query's answer.
fn first(rows: Vec<tokio_postgres::Row>) -> Option<tokio_postgres::Row> {
    rows.into_iter().next()
}

/// The subject of an answer: the thread's, marked as a reply once.
fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
        s.to_string()
    } else {
        format!("Re: {s}")
    }
}

/// The broker task's mail state.
pub(crate) struct Mailroom {
    threads: Threads,
    mailer: Option<Mailer>,
    /// The right-hand side of our Message-IDs.
    domain: String,
    to_broker: mpsc::UnboundedSender<Input>,
    /// Owed mail a send task holds: a lease that ran out while the relay is slow is not sent twice.
    in_flight: HashSet<String>,
    /// Mail fell due (`MailOwed`, start-up): take it at the next flush.
    wanted: bool,
    /// The "no relay configured" warning was given.
    warned: bool,
    sends: Arc<Semaphore>,
}

impl Mailroom {
    /// Opens the threading store and the mailer (inside the runtime, which the mailer's pool needs).
    pub(crate) fn open(
        at: ThreadsAt<'_>,
        settings: Option<&MailSettings>,
        to_broker: mpsc::UnboundedSender<Input>,
    ) -> Result<Mailroom, String> {
        let place = match &at {
            ThreadsAt::Sqlite(db) => db.map_or("memory".into(), |p| p.display().to_string()),
            ThreadsAt::Postgres(_) => "PostgreSQL".into(),
        };
        let threads = Threads::open(at).map_err(|e| format!("{e} in {place}"))?;
        let outbound = settings.and_then(|s| s.outbound.clone());
        let domain = outbound.as_ref().map_or_else(|| "localhost".to_string(), |o| o.reply_domain.to_ascii_lowercase());
        let mailer = outbound.map(Mailer::new).transpose().map_err(|e| e.to_string())?;
        Ok(Mailroom {
            threads,
            mailer,
            domain,
            to_broker,
            in_flight: HashSet::new(),
            wanted: true,
            warned: false,
            sends: Arc::new(Semaphore::new(PARALLEL_SENDS)),
        })
    }

    /// Mail fell due: it is taken at the next [`Mailroom::pump`].
    pub(crate) fn wake(&mut self) {
        self.wanted = true;
    }

    /// Takes the mail due and hands it to send tasks; says whether it called the broker.
    pub(crate) fn pump(&mut self, broker: &mut Broker, now: Timestamp) -> bool {
        if !std::mem::take(&mut self.wanted) {
            return false;
        }
        // Taken even without a relay: the lease is what makes it due again later, where mail left
        // due would keep the broker's timer in the past and the task spinning.
        let due = broker.take_mail_due(now);
        self.dispatch(due);
        true
    }

    fn dispatch(&mut self, due: Vec<OutboundMail>) {
        let Some(mailer) = self.mailer.clone() else {
            if !due.is_empty() && !std::mem::replace(&mut self.warned, true) {
                warn!(owed = due.len(), "mail is owed to clients but no relay is configured (--smtp-relay): it stays owed until one is");
            }
            return;
        };
        for m in due {
            if self.in_flight.contains(&m.id) {
                continue;
            }
            let out = match self.prepare(&m) {
                Ok(o) => o,
                Err(e) => {
                    // Never sent unrecorded: its reply could not be threaded. Due again after the lease.
                    warn!(mail = %m.id, "cannot record the mail's thread, not sending it yet: {e}");
                    continue;
                }
            };
            self.in_flight.insert(m.id.clone());
            let (tx, sends, mailer, id) = (self.to_broker.clone(), self.sends.clone(), mailer.clone(), m.id.clone());
            tokio::spawn(async move {
                let _permit = sends.acquire_owned().await;
                // A task of its own, so a panic in the transport is a temporary failure rather than
                // a mail held in flight for ever.
                let outcome = match tokio::spawn(async move { mailer.send(&out).await }).await {
                    Ok(Ok(())) => MailOutcome::Sent,
                    Ok(Err(e)) if e.is_permanent() => MailOutcome::Permanent(e.to_string()),
                    Ok(Err(e)) => MailOutcome::Temporary(e.to_string()),
                    Err(e) => MailOutcome::Temporary(format!("the mailer failed: {e}")),
                };
                let _ = tx.send(Input::Mail(MailInput::Outcome(id, outcome)));
            });
        }
    }

    /// The message for an owed mail, its Message-ID recorded first.
    fn prepare(&self, m: &OutboundMail) -> ThreadsResult<OutgoingMail> {
        let reply_token = self.threads.token_for(&m.interaction)?;
        let (n, message_id) = match self.threads.outbound(&m.id)? {
            Some(known) => known,
            None => {
                let id = new_message_id(&self.domain);
                (self.threads.record(&id, &m.interaction, Some(&m.id), None)?, id)
            }
        };
        let references = self.threads.before(&m.interaction, n, MAX_REFERENCES)?;
        Ok(OutgoingMail {
            to: m.to.clone(),
            subject: reply_subject(&m.subject),
            text: m.text.clone(),
            message_id,
            in_reply_to: references.last().cloned(),
            references,
            reply_token,
        })
    }

    /// Handles what a helper asked of the broker task.
    pub(crate) fn handle(&mut self, broker: &mut Broker, now: Timestamp, input: MailInput) {
        match input {
            MailInput::Outcome(id, outcome) => {
                self.in_flight.remove(&id);
                match &outcome {
                    MailOutcome::Sent => info!(mail = %id, "mail handed to the relay"),
                    MailOutcome::Temporary(why) => warn!(mail = %id, "mail not sent, trying again later: {why}"),
                    MailOutcome::Permanent(why) => warn!(mail = %id, "mail cannot be sent, the agent is told: {why}"),
                }
                if let Err(e) = broker.center_mail_outcome(now, &id, outcome) {
                    debug!(mail = %id, "outcome of mail no longer owed: {}", e.message);
                }
            }
            MailInput::TokenKnown(token, reply) => {
                let _ = reply.send(self.threads.by_token(&token).map(|ix| ix.is_some()).map_err(|e| e.to_string()));
            }
            MailInput::Received(mail, reply) => {
                let r = self.receive(broker, now, *mail);
                if let Err(e) = &r {
                    info!("mail not taken: {e}");
                }
                let _ = reply.send(r);
            }
        }
    }

    fn receive(&mut self, broker: &mut Broker, now: Timestamp, mail: InboundMail) -> Result<(), DeliveryError> {
        let store = |e: ThreadsError| DeliveryError::Temporary(e.to_string());
        if let Some(id) = &mail.message_id {
            if self.threads.lookup(id).map_err(store)?.is_some() {
                // The relay lost our 250 and sent it again, or our own mail looped back.
                info!(message_id = %id, "mail already taken; acknowledged again");
                return Ok(());
            }
        }
        let sender = mail.from.to_ascii_lowercase();
        let interaction = match &mail.token {
            Some(t) => Some(
                self.threads
                    .by_token(t)
                    .map_err(store)?
                    .ok_or_else(|| DeliveryError::UnknownRecipient("no conversation has this reply address".into()))?,
            ),
            None => self.by_thread(&mail, &sender).map_err(store)?,
        };
        if let Some(e) = broker.take_store_error() {
            warn!("store error: {e}");
        }
        let got = broker
            .center_mail_received(
                now,
                CoreMail { interaction, from: mail.from.clone(), subject: mail.subject.clone(), text: mail.text.clone() },
            )
            .map_err(|e| match e.code {
                ErrorCode::NotFound | ErrorCode::TooLarge | ErrorCode::Invalid => DeliveryError::Permanent(e.message),
                _ => DeliveryError::Temporary(e.message),
            })?;
        if let Some(e) = broker.take_store_error() {
            // Not known to be durable: the relay keeps it and tries again (a copy beats a loss).
            warn!("store error: {e}");
            return Err(DeliveryError::Temporary("the message could not be stored".into()));
        }
        info!(interaction = %got.interaction, new = got.new_interaction, "mail received");
        if let Some(id) = &mail.message_id {
            // After the commit: failing here costs a copy if the relay resends, never the message.
            if let Err(e) = self.threads.record(id, &got.interaction, None, Some(&sender)) {
                warn!(message_id = %id, "cannot record a received mail's id: {e}");
            }
        }
        Ok(())
    }

    /// The interaction a mail without a token answers, by `In-Reply-To`, then `References` newest first.
    fn by_thread(&self, mail: &InboundMail, sender: &str) -> ThreadsResult<Option<InteractionId>> {
        for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
            if let Some(k) = self.threads.lookup(id)? {
                // Our ids are random; a client's own may be guessable, so it threads only its sender's mail.
                if k.outbound || k.sender.as_deref() == Some(sender) {
                    return Ok(Some(k.interaction));
                }
            }
        }
        Ok(None)
    }
}

/// The listener's hook: drops automatic mail and passes the rest to the broker task.
struct Inbox {
    to_broker: mpsc::UnboundedSender<Input>,
    reply_domain: String,
}

impl Inbox {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> MailInput) -> Result<T, DeliveryError> {
        let (tx, rx) = oneshot::channel();
        let stopping = || DeliveryError::Temporary("server stopping, try again later".into());
        self.to_broker.send(Input::Mail(make(tx))).map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())
    }
}

#[async_trait::async_trait]
impl Deliver for Inbox {
    async fn check_recipient(&self, address: &str) -> Result<(), DeliveryError> {
        let Some((local, domain)) = address.rsplit_once('@') else { return Ok(()) };
        if !domain.eq_ignore_ascii_case(&self.reply_domain) || !local.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("reply+")) {
            // Other local addresses take new mail, matched by its sender.
            return Ok(());
        }
        let unknown = || DeliveryError::UnknownRecipient(format!("<{address}>: no conversation has this reply address"));
        let Some(token) = reply_token(address, &self.reply_domain) else { return Err(unknown()) };
        match self.ask(|tx| MailInput::TokenKnown(token, tx)).await? {
            Ok(true) => Ok(()),
            Ok(false) => Err(unknown()),
            Err(e) => Err(DeliveryError::Temporary(e)),
        }
    }

    async fn deliver(&self, mail: InboundMail) -> Result<(), DeliveryError> {
        if mail.auto_submitted {
            // RFC 3834: never the client's words, and never answered (no loops with responders).
            info!(from = %mail.from, subject = %mail.subject, "automatic mail dropped");
            return Ok(());
        }
        self.ask(|tx| MailInput::Received(Box::new(mail), tx)).await?
    }
}

/// Starts the inbound listener, whose hook feeds the broker task.
pub(crate) async fn listen(
    settings: &InboundSettings,
    to_broker: mpsc::UnboundedSender<Input>,
) -> Result<crate::mail::SmtpListener, String> {
    let inbox = Arc::new(Inbox { to_broker, reply_domain: settings.config.reply_domain.clone() });
    crate::mail::SmtpListener::bind(settings.addr, settings.config.clone(), inbox)
        .await
        .map_err(|e| format!("cannot listen for SMTP on {}: {e}", settings.addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_subject_is_marked_once() {
        assert_eq!(reply_subject("Router reboots"), "Re: Router reboots");
        assert_eq!(reply_subject("RE: Router reboots"), "RE: Router reboots");
        assert_eq!(reply_subject(" re:x "), "re:x");
    }

    #[test]
    fn threads_keep_one_token_per_interaction_and_ids_in_order() {
        let t = Threads::open(ThreadsAt::Sqlite(None)).unwrap();
        let (a, b) = (InteractionId("ix1".into()), InteractionId("ix2".into()));
        let tok = t.token_for(&a).unwrap();
        assert_eq!(t.token_for(&a).unwrap(), tok);
        assert_ne!(t.token_for(&b).unwrap(), tok);
        assert_eq!(t.by_token(&tok.to_ascii_uppercase()).unwrap(), Some(a.clone()));
        let n1 = t.record("m1@x", &a, Some("ix1/1"), None).unwrap();
        t.record("c1@y", &a, None, Some("alice@y")).unwrap();
        t.record("other@x", &b, Some("ix2/1"), None).unwrap();
        let n3 = t.record("m2@x", &a, Some("ix1/3"), None).unwrap();
        assert_eq!(t.record("m1@x", &a, Some("ix1/1"), None).unwrap(), n1, "recorded once");
        assert_eq!(t.before(&a, n3, 10).unwrap(), vec!["m1@x", "c1@y"]);
        assert_eq!(t.before(&a, n3, 1).unwrap(), vec!["c1@y"]);
        assert_eq!(t.outbound("ix1/3").unwrap(), Some((n3, "m2@x".into())));
        let k = t.lookup("c1@y").unwrap().unwrap();
        assert!(!k.outbound && k.sender.as_deref() == Some("alice@y") && k.interaction == a);
    }
}
