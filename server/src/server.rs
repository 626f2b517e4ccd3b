//! The server: one task owns the broker (and the simulator); per-connection tasks move WebSocket
//! messages to and from it over channels. Clients (`/client`) and agent consoles (`/agent`) speak the
//! same protocol on the same connection code: the token decides whether the broker opens a client's
//! session or an agent's.

use crate::mailroom::{self, MailInput, MailSettings, Mailroom};
use crate::simulator::{seed, Simulator};
use crate::sqlite_store::SqliteStore;
use crate::tokens::JwtVerifier;
use crate::xmpp::{self, XmppContext, XmppPush, XmppRequest};
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::monitor::WatcherId;
use frontdesk_core::status::{ClientActivity, ClientStatus};
use frontdesk_core::broker::auth::Verifier;
use frontdesk_core::broker::center::BuiltinRouting;
use frontdesk_core::broker::store::{DataStore, MemoryStore};
use frontdesk_core::broker::{Broker, BrokerConfig, BrokerEvent, ConnId};
use frontdesk_core::monitor::hours::BusinessHours;
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::principal::Principal;
use frontdesk_core::protocol::{BrokerFrame, ClientFrame, ErrorBody, ErrorCode, MAX_FRAME_BYTES};
use frontdesk_core::{QueueId, Timestamp};
use frontdesk_net::wall_clock;
use frontdesk_net::ws::ws_config;
use futures::{SinkExt, StreamExt};
use crate::limits::{accept_loop, principal_key, Bucket, AddrCap, RateLimits, SessionCap, SessionSlot, UnauthConn, UnauthRegistry};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tracing::{info, warn};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// SQLite database file; `None` keeps everything in memory.
    pub db: Option<PathBuf>,
    /// Secret that signs tokens.
    pub secret: Vec<u8>,
    /// Run bot agents.
    pub simulate: bool,
    /// Seed sample products, orders and history into an empty database.
    pub sample_data: bool,
    /// Messages per second one principal may send, over all its connections and reconnections.
    pub max_msgs_per_sec: u32,
    /// Messages one principal may send at once: room for an honest client flushing its offline queue.
    pub rate_burst: u32,
    /// Bytes per second one principal may send (frames waiting for the broker are bounded by this).
    pub max_bytes_per_sec: u32,
    /// Bytes one principal may send at once.
    pub bytes_burst: u32,
    /// Connections one principal may hold at once (WebSocket and XMPP together).
    pub max_sessions_per_token: usize,
    /// Connections one address may hold before they authenticate; more are closed at once.
    pub max_unauth_per_addr: usize,
    /// Time for the TLS handshake, the request head and the WebSocket handshake, each.
    pub handshake_timeout: Duration,
    /// Time from the WebSocket handshake to `hello`; then the connection is closed with a typed error.
    pub hello_timeout: Duration,
    /// Time for XMPP from the first byte to the end of authentication (TLS, stream headers, SASL).
    pub xmpp_auth_timeout: Duration,
    /// Silence after `hello` (no frame at all, not even a ping: clients ping every 20 s) after which
    /// the connection is closed; its session waits for the party to come back.
    pub idle_timeout: Duration,
    /// Origins (`https://shop.example`) allowed to open `/client`, `/agent` and `/xmpp`; empty allows
    /// all. A request without `Origin` (not a browser) is allowed.
    pub allowed_origins: Vec<String>,
    /// Bytes queued for one connection above which the broker holds its events (`set_writable`) and
    /// its frames are no longer read.
    pub out_high_water: usize,
    /// Bytes queued below which a paused connection is resumed.
    pub out_low_water: usize,
    /// How long a connection may stay paused or a write may wait on a peer that does not read; then
    /// it is closed (its session keeps its events for resume).
    pub stall_timeout: Duration,
    /// Where the XMPP endpoint listens (TCP, STARTTLS); `None` turns it off.
    pub xmpp_addr: Option<SocketAddr>,
    /// The XMPP service domain.
    pub xmpp_domain: String,
    /// TLS for the main port (`wss://` and `https://`); `None` serves plain `ws://` and `http://`.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long an agent's seat outlives its last console connection (a reload or a dropped network
    /// within it ends nothing); then its interactions go back to their queues.
    pub agent_grace: Duration,
    /// Email transport (relay out, listener in); `None` sends and takes no mail, and owed mail stays owed.
    pub mail: Option<MailSettings>,
    /// Business hours of queues, set at start-up (outside them live media are not offered; email is).
    pub queue_hours: Vec<(QueueId, BusinessHours)>,
    /// STUN servers handed to both sides of a call.
    pub stun: Vec<String>,
    /// TURN for calls, credentials minted per party (coturn's `use-auth-secret`).
    pub turn: Option<frontdesk_core::call::TurnConfig>,
    /// Tokens for websites' visitors by public site key (`POST /visitor`); no keys turns it off.
    pub visitors: crate::visitors::VisitorConfig,
    /// SIP for callbacks (the dialer and its trunk); `None` leaves callbacks to agents, who see the number.
    pub sip: Option<crate::sip::SipConfig>,
    /// Several nodes on PostgreSQL and NATS (`docs/cluster.md`); `None` is one node on `db`.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// Attempts on a client's line before a callback is given up.
    pub callback_attempts: u32,
    /// Wait between callback attempts (the client keeps its place).
    pub callback_retry: Duration,
    /// Files parties may send in a conversation (`POST /attachments/…`).
    pub attachments: frontdesk_core::attachment::AttachmentPolicy,
    /// A command (`sh -c`) that gets each uploaded file on stdin and exits 0 to let it through: the
    /// hook for a virus scanner (`clamdscan -`); `None` takes files unscanned.
    pub attachment_scan: Option<String>,
    /// The agent desktop's canned answers (a JSON array of strings); `None` serves the built-in ones.
    pub canned: Option<Vec<u8>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:8080".parse().expect("valid"),
            db: Some(PathBuf::from("frontdesk.db")),
            secret: b"frontdesk-dev-secret-change-me".to_vec(),
            simulate: true,
            sample_data: true,
            max_msgs_per_sec: 50,
            rate_burst: 400,
            max_bytes_per_sec: 1 << 20,
            bytes_burst: 8 << 20,
            max_sessions_per_token: 8,
            max_unauth_per_addr: 64,
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            xmpp_auth_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(90),
            allowed_origins: vec![],
            out_high_water: 1 << 20,
            out_low_water: 256 << 10,
            stall_timeout: Duration::from_secs(30),
            xmpp_addr: None,
            xmpp_domain: "frontdesk.local".into(),
            tls: None,
            agent_grace: BrokerConfig::default().agent_grace,
            mail: None,
            queue_hours: vec![],
            stun: vec![],
            turn: None,
            visitors: crate::visitors::VisitorConfig { site_keys: vec![], identity_secret: None, ttl: Duration::from_secs(86_400), per_addr_per_min: 20 },
            sip: None,
            cluster: None,
            callback_attempts: BrokerConfig::default().callback_attempts,
            callback_retry: BrokerConfig::default().callback_retry,
            attachments: Default::default(),
            attachment_scan: None,
            canned: None,
        }
    }
}

/// Sockets owed a write in one flush from which the writes are split over two workers.
const SPLIT_WRITES: usize = 256;

/// Frames one socket's writer takes from its queue for a single write.
const WRITE_BATCH: usize = 64;

/// What the broker task sends a connection's writer.
pub(crate) enum Out {
    Frame(bytes::Bytes),
    Close,
}

/// Bytes queued for one connection's writer, shared by the broker task (which adds) and the writer
/// (which subtracts once a frame is written). Above the high-water mark the broker holds the
/// connection's events (`set_writable(false)`) and the connection's reader stops reading, so the
/// queue holds at most the high-water mark and one frame.
pub(crate) struct OutQueue {
    pub(crate) bytes: AtomicUsize,
    pub(crate) paused: AtomicBool,
    pub(crate) low: usize,
}

impl OutQueue {
    /// Whether the connection's reader must read no more requests: its queue is over the high-water
    /// mark, or the broker paused it until it drains below the low-water mark (between the two marks
    /// the broker holds the session's answers and events itself, so reading on would pile them up
    /// there).
    pub(crate) fn held(&self, high: usize) -> bool {
        self.bytes.load(Ordering::SeqCst) > high || self.paused.load(Ordering::SeqCst)
    }
}

/// The broker task's end of a connection: a tungstenite stream's writer task (TLS, `/xmpp`), or a
/// plain socket the sender writes itself (`wire.rs`).
pub(crate) struct ConnOut {
    path: OutPath,
    pub(crate) q: Arc<OutQueue>,
}

enum OutPath {
    Stream(mpsc::UnboundedSender<Out>),
    Wire(Arc<crate::wire::Wire>),
}

impl ConnOut {
    /// A connection with a writer task fed by `tx`.
    pub(crate) fn stream(tx: mpsc::UnboundedSender<Out>, q: Arc<OutQueue>) -> ConnOut {
        ConnOut { path: OutPath::Stream(tx), q }
    }

    /// A connection written by its sender.
    pub(crate) fn wire(w: Arc<crate::wire::Wire>) -> ConnOut {
        ConnOut { q: w.q.clone(), path: OutPath::Wire(w) }
    }

    /// Sends a frame now; returns the bytes now queued (the writer subtracts what it wrote).
    pub(crate) fn send(&self, frame: impl Into<bytes::Bytes>) -> usize {
        let (queued, _) = self.queue(frame);
        if let OutPath::Wire(w) = &self.path {
            if w.write().drained() {
                // Whoever paused it hears from the connection's task.
                w.tell_drained();
            }
        }
        queued
    }

    /// Queues a frame to be written by [`ConnOut::write`] with the others due; returns the bytes now
    /// queued and whether a write is owed (the first frame since the last write).
    pub(crate) fn queue(&self, frame: impl Into<bytes::Bytes>) -> (usize, bool) {
        let frame = frame.into();
        match &self.path {
            OutPath::Wire(w) => w.queue(frame).unwrap_or((self.q.bytes.load(Ordering::SeqCst), false)),
            OutPath::Stream(tx) => {
                let len = frame.len();
                // Counted before the writer can see it.
                let queued = self.q.bytes.fetch_add(len, Ordering::SeqCst) + len;
                if tx.send(Out::Frame(frame)).is_err() {
                    self.q.bytes.fetch_sub(len, Ordering::SeqCst);
                }
                (queued, false)
            }
        }
    }

    /// Writes what [`ConnOut::queue`] queued, as far as the socket takes it now (the connection's task
    /// writes the rest); true when that drained a paused connection below its low-water mark.
    pub(crate) fn write(&self) -> bool {
        match &self.path {
            OutPath::Wire(w) => w.write().drained(),
            OutPath::Stream(_) => false,
        }
    }

    /// The broker (or the gateway) took one of this connection's frames.
    pub(crate) fn consumed(&self) {
        if let OutPath::Wire(w) = &self.path {
            w.consumed();
        }
    }

    /// The socket of a connection written by its sender.
    pub(crate) fn wire_handle(&self) -> Option<Arc<crate::wire::Wire>> {
        match &self.path {
            OutPath::Wire(w) => Some(w.clone()),
            OutPath::Stream(_) => None,
        }
    }

    /// Closes the connection after the frames already queued.
    pub(crate) fn close(&self) {
        match &self.path {
            OutPath::Stream(tx) => drop(tx.send(Out::Close)),
            OutPath::Wire(w) => w.close(),
        }
    }
}

impl Drop for ConnOut {
    fn drop(&mut self) {
        if let OutPath::Wire(w) = &self.path {
            w.hang_up();
        }
    }
}

/// What the broker task is fed: connections' traffic and the mailroom's helpers.
pub(crate) enum Input {
    Open(ConnOut, oneshot::Sender<ConnId>),
    Frame(ConnId, Vec<u8>),
    /// The connection's queue drained below the low-water mark.
    Writable(ConnId),
    /// Close after the answers already due: send them, then this error frame, then close.
    Shed(ConnId, Vec<u8>),
    Closed(ConnId),
    /// A send's outcome or an inbound message from the mailroom's tasks.
    Mail(MailInput),
    /// What the SIP dialer saw on a callback.
    Dial(crate::switchboard::DialReport),
    /// A socket of a cluster node (node, the node's incarnation, socket) opened; in order with its
    /// frames, so the bus's reader never waits for the broker.
    RemoteOpen(String, u64, u64),
    /// A frame from a cluster node's socket.
    RemoteFrame(String, u64, Vec<u8>),
    /// The leader's own queue for a cluster node's socket drained (its frames are on NATS).
    RemoteWritable(String, u64),
    /// A cluster node's queue for its socket went above the high-water mark (true) or drained
    /// below the low-water mark (false).
    RemotePaused(String, u64, bool),
    /// A cluster node's socket closed.
    RemoteClosed(String, u64),
    /// A cluster node (re)joined the bus as a new incarnation: whatever the broker holds of its
    /// older sockets is gone.
    RemoteReset(String, u64),
    /// A file posted or asked for over HTTP (boxed: it is rare and large).
    Attach(Box<AttachReply>),
    /// A website's visitor identified as a client: (visitor, client, where the count of moved
    /// records and orders goes).
    Adopt(Box<(frontdesk_core::ClientId, frontdesk_core::ClientId, oneshot::Sender<Result<usize, frontdesk_core::protocol::ErrorBody>>)>),
}

/// An attachment request for the broker, with where its answer goes.
pub(crate) enum AttachReply {
    /// A party sends a file.
    Post {
        who: frontdesk_core::principal::Principal,
        interaction: frontdesk_core::InteractionId,
        name: String,
        content_type: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<crate::attachments::AttachAnswer, frontdesk_core::protocol::ErrorBody>>,
    },
    /// A party reads one.
    Get {
        who: frontdesk_core::principal::Principal,
        interaction: frontdesk_core::InteractionId,
        seq: u64,
        reply: oneshot::Sender<Result<crate::attachments::AttachAnswer, frontdesk_core::protocol::ErrorBody>>,
    },
}

impl AttachReply {
    /// Answers on the broker's side. A posted file is answered only after it is committed.
    fn run(self, broker: &mut Broker, now: Timestamp) {
        use crate::attachments::AttachAnswer;
        match self {
            AttachReply::Post { who, interaction, name, content_type, data, reply } => {
                let mut r = broker.attach(now, &who, &interaction, &name, &content_type, &data).map(AttachAnswer::Posted);
                if let Some(e) = broker.take_store_error() {
                    warn!("store error: {e}");
                    r = Err(frontdesk_core::protocol::ErrorBody::new(frontdesk_core::protocol::ErrorCode::Internal, "the file could not be stored"));
                }
                let _ = reply.send(r);
            }
            AttachReply::Get { who, interaction, seq, reply } => {
                let _ = reply.send(broker.attachment(&who, &interaction, seq).map(|(m, d)| AttachAnswer::File(m, d)));
            }
        }
    }
}

/// A running server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The XMPP endpoint's bound address, if on.
    pub xmpp_addr: Option<SocketAddr>,
    /// The inbound SMTP listener's bound address, if on.
    pub smtp_addr: Option<SocketAddr>,
    /// The SIP dialer's bound address, if on.
    pub sip_addr: Option<SocketAddr>,
    smtp: Option<crate::mail::SmtpListener>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pending: Arc<UnauthRegistry>,
}

impl Running {
    /// Unauthenticated connections shed so far because the descriptor table was full.
    pub fn shed_total(&self) -> u64 {
        self.pending.shed_total()
    }

    /// Stops accepting, closes connections and waits for the broker to commit.
    pub async fn shutdown(mut self) {
        // The listener first: messages in progress still need the broker to commit them.
        if let Some(l) = self.smtp.take() {
            l.shutdown().await;
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

fn build_broker(cfg: &ServerConfig, now: Timestamp) -> Result<Broker, String> {
    let (store, fresh): (Box<dyn DataStore>, bool) = match (&cfg.cluster, &cfg.db) {
        (Some(c), _) => {
            let s = crate::pg_store::PgStore::connect(&c.postgres).map_err(|e| format!("PostgreSQL: {e}"))?;
            let fresh = s.is_empty().map_err(|e| e.to_string())?;
            (Box::new(s), fresh)
        }
        (None, Some(p)) => {
            let s = SqliteStore::open(p).map_err(|e| e.to_string())?;
            let fresh = s.is_empty().map_err(|e| e.to_string())?;
            (Box::new(s), fresh)
        }
        (None, None) => (Box::new(MemoryStore::new()), true),
    };
    broker_on(cfg, now, store, fresh)
}

/// The broker on an open store, restored from it (and seeded if `fresh`).
fn broker_on(cfg: &ServerConfig, now: Timestamp, store: Box<dyn DataStore>, fresh: bool) -> Result<Broker, String> {
    let verifier: Box<dyn Verifier> = Box::new(JwtVerifier::new(&cfg.secret));
    let mail_retry = cfg.mail.as_ref().map_or(BrokerConfig::default().mail_retry, |m| m.retry);
    let ice_servers = if cfg.stun.is_empty() { vec![] } else { vec![frontdesk_core::call::IceServer { urls: cfg.stun.clone(), username: None, credential: None }] };
    let bcfg = BrokerConfig {
        agent_grace: cfg.agent_grace,
        mail_retry,
        ice_servers,
        turn: cfg.turn.clone(),
        // Before the restore, which retries callbacks a killed process was dialing.
        dialer: cfg.sip.is_some(),
        callback_attempts: cfg.callback_attempts.max(1),
        callback_retry: cfg.callback_retry,
        attachments: cfg.attachments.clone(),
        ..BrokerConfig::default()
    };
    let mut b = Broker::with_parts(bcfg, verifier, store, Box::new(BuiltinRouting), StatusMonitor::default());
    let restored = b.restore_sessions(now).map_err(|e| e.to_string())?;
    info!(restored, "sessions restored from the store");
    seed(&mut b, now, cfg.sample_data && fresh);
    // After the seed, which configures the queues the hours are for.
    for (q, h) in &cfg.queue_hours {
        b.set_queue_hours(now, q.clone(), Some(h.clone())).map_err(|e| format!("business hours of queue {q}: {}", e.message))?;
    }
    Ok(b)
}

/// What every connection task shares.
struct Shared {
    cfg: Arc<ServerConfig>,
    rates: Arc<RateLimits>,
    sessions: Arc<SessionCap>,
    verifier: JwtVerifier,
    visitors: crate::visitors::VisitorLimits,
}

/// Starts the server; it runs until [`Running::shutdown`].
pub async fn start(cfg: ServerConfig) -> Result<Running, String> {
    let listener = TcpListener::bind(cfg.addr).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let now = wall_clock();
    let (tx, rx) = mpsc::unbounded_channel();
    // In a cluster the broker runs on whichever node leads, later; here only on this node, now.
    let (local, sip_addr) = match &cfg.cluster {
        Some(_) => (None, None),
        None => {
            let mut broker = build_broker(&cfg, now)?;
            let sim = cfg.simulate.then(|| Simulator::start(&mut broker, now));
            let mailroom = Mailroom::open(mailroom::ThreadsAt::Sqlite(cfg.db.as_deref()), cfg.mail.as_ref(), tx.clone())?;
            let switchboard = crate::switchboard::Switchboard::start(cfg.sip.as_ref(), tx.clone()).await?;
            let sip_addr = switchboard.local_addr();
            (Some((broker, sim, mailroom, switchboard)), sip_addr)
        }
    };
    // On a cluster node its hook's questions go to the gateway, which asks the leader's mailroom.
    let smtp = match cfg.mail.as_ref().and_then(|m| m.inbound.as_ref()) {
        Some(inbound) => Some(mailroom::listen(inbound, tx.clone()).await?),
        None => None,
    };
    let smtp_addr = smtp.as_ref().map(|l| l.local_addr());
    if let Some(a) = smtp_addr {
        info!(addr = %a, "SMTP listener for replies");
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let (xtx, xrx) = mpsc::unbounded_channel();
    let sessions = SessionCap::new(cfg.max_sessions_per_token);
    let unauth = AddrCap::new(cfg.max_unauth_per_addr);
    let pending = UnauthRegistry::new();
    let rates = Arc::new(RateLimits::new(cfg.max_msgs_per_sec, cfg.rate_burst, cfg.max_bytes_per_sec, cfg.bytes_burst));
    let xctx = Arc::new(XmppContext {
        domain: cfg.xmpp_domain.clone(),
        tls: xmpp::self_signed_tls(&cfg.xmpp_domain)?,
        verifier: JwtVerifier::new(&cfg.secret),
        to_broker: xtx,
        auth_timeout: cfg.xmpp_auth_timeout,
        sessions: sessions.clone(),
        rates: rates.clone(),
        stall_timeout: cfg.stall_timeout,
    });
    let mut xmpp_addr = None;
    let mut accepts = vec![];
    // On a cluster node its sessions' requests go to the node's XMPP bridge, which asks the leader.
    if let Some(xa) = cfg.xmpp_addr {
        let xl = TcpListener::bind(xa).await.map_err(|e| format!("cannot listen on {xa}: {e}"))?;
        xmpp_addr = Some(xl.local_addr().map_err(|e| e.to_string())?);
        let ctx = xctx.clone();
        let mut n = 0u64;
        accepts.push(tokio::spawn(accept_loop(xl, "xmpp", unauth.clone(), pending.clone(), move |stream, peer, slot| {
            n += 1;
            let ctx = ctx.clone();
            let id = n;
            tokio::spawn(async move {
                // Until SASL succeeds the connection holds nothing but its socket, so a shed one is
                // simply dropped; `serve_tcp` authenticates through the slot, after which this never fires.
                let shed = slot.signal();
                if let Err(e) = shed.guard(xmpp::serve_tcp(stream, ctx, id, slot)).await.unwrap_or_else(|e| Err(e.to_string())) {
                    tracing::debug!(%peer, "xmpp session ended: {e}");
                }
            });
        })));
        info!(addr = %xmpp_addr.unwrap(), "XMPP endpoint listening");
    }
    let cfg = Arc::new(cfg);
    let shared = Arc::new(Shared { cfg: cfg.clone(), rates, sessions, verifier: JwtVerifier::new(&cfg.secret), visitors: Default::default() });
    // Sessions this node closed for silence, logged every 5 s when there were any: a stall that
    // closes sockets by the thousand (a load tool that never pings) shows at once.
    let idle_closed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let idle_closed = idle_closed.clone();
        let timeout = cfg.idle_timeout;
        accepts.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(5));
            loop {
                t.tick().await;
                let closed = idle_closed.swap(0, Ordering::SeqCst);
                if closed > 0 {
                    info!(closed, idle_timeout = ?timeout, "idle sockets closed in the last 5 s (nothing received within the idle timeout)");
                }
            }
        }));
    }
    {
        let tx = tx.clone();
        let xctx = xctx.clone();
        let mut next_conn = 0u64;
        accepts.push(tokio::spawn(accept_loop(listener, "main", unauth, pending.clone(), move |stream, peer, slot| {
            next_conn += 1;
            let (tx, shared, xctx, n) = (tx.clone(), shared.clone(), xctx.clone(), next_conn);
            let end = Ending { peer, idle_closed: idle_closed.clone() };
            tokio::spawn(async move {
                let cfg = shared.cfg.clone();
                // Each branch boxed: one future sized for the TLS case would make every plain
                // connection's task as large (the TLS accept and connection::<TlsStream> together).
                // The TLS accept too: its rustls state inline would size every task for it.
                let r = match cfg.tls.clone() {
                    Some(tls) => {
                        let end = end.clone();
                        Box::pin(async move {
                            match slot.or_shed(tokio::time::timeout(cfg.handshake_timeout, tokio_rustls::TlsAcceptor::from(tls).accept(stream))).await {
                                Ok(Ok(Ok(stream))) => Box::pin(connection(stream, tx, shared, n, xctx, slot, end)).await,
                                Ok(Ok(Err(e))) => Err(format!("TLS handshake failed: {e}").into()),
                                Ok(Err(_)) => Err("no TLS handshake in time".into()),
                                Err(e) => Err(Cut::from(e)),
                            }
                        })
                        .await
                    }
                    // Small (it routes in a boxed future, then awaits the boxed session): inline.
                    None => connection(stream, tx, shared, n, xctx, slot, end.clone()).await,
                };
                end.report(r);
            });
        })));
    }
    let task = tokio::spawn(async move {
        match local {
            Some((broker, sim, mailroom, switchboard)) => run(broker, sim, mailroom, switchboard, rx, stop_rx, cfg, xrx, crate::cluster::Outbox::none()).await,
            None => cluster_node(cfg, rx, xrx, stop_rx).await,
        }
        for a in &accepts {
            a.abort();
        }
        // An aborted task drops its listener only when it next runs: waiting for that frees the
        // ports before `shutdown` returns, so a restart can bind them again at once.
        for a in accepts {
            let _ = a.await;
        }
    });
    info!(%addr, "frontdesk server listening");
    Ok(Running { addr, xmpp_addr, smtp_addr, sip_addr, smtp, stop: Some(stop_tx), task, pending })
}

/// A cluster node: the gateway for this node's sockets, and the broker while this node leads.
async fn cluster_node(cfg: Arc<ServerConfig>, rx: mpsc::UnboundedReceiver<Input>, xrx: mpsc::UnboundedReceiver<XmppRequest>, stop: oneshot::Receiver<()>) {
    use crate::cluster;
    let cl = cfg.cluster.clone().expect("a cluster node");
    let (nats, down) = match cluster::connect_nats(&cl.nats).await {
        Ok(x) => x,
        Err(e) => {
            warn!("{e}");
            return;
        }
    };
    let control = match cluster::connect_nats(&cl.nats).await {
        Ok((c, _)) => c,
        Err(e) => {
            warn!("{e}");
            return;
        }
    };
    let gateway = tokio::spawn(cluster::gateway(rx, nats.clone(), control.clone(), down, cl.node.clone(), cfg.out_high_water));
    let xmpp = tokio::spawn(cluster::xmpp::bridge(xrx, nats.clone(), control.clone(), cl.node.clone()));
    let cancel = tokio_util::sync::CancellationToken::new();
    let leader = {
        let (cfg, cancel, nats, control) = (cfg.clone(), cancel.clone(), nats.clone(), control.clone());
        tokio::spawn(async move {
            // Lead while the lock holds; after losing it (PostgreSQL restarted, the connection cut)
            // stop the broker at once and queue for the lock again with the others.
            loop {
                let (lock, dead) = tokio::select! {
                    l = cluster::acquire(&cl.postgres, &cl.node) => l,
                    _ = cancel.cancelled() => return,
                };
                match lead(&cfg, &nats, &control, &cl.node, dead, &cancel).await {
                    Ok(()) => return,
                    Err(e) => warn!("stopped leading: {e}"),
                }
                drop(lock);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let _ = stop.await;
    cancel.cancel();
    let _ = leader.await;
    gateway.abort();
    xmpp.abort();
}

/// Runs the broker while this node holds the leader lock: `Ok` when the node stops, `Err` when the
/// lock (or the broker) is lost.
async fn lead(cfg: &Arc<ServerConfig>, nats: &async_nats::Client, control: &async_nats::Client, node: &str, dead: oneshot::Receiver<()>, cancel: &tokio_util::sync::CancellationToken) -> Result<(), String> {
    use crate::cluster;
    let now = wall_clock();
    // Blocking while the store restores: this node serves no broker traffic until then anyway.
    // The store takes the next leader epoch first: from then on a commit of an older leader fails.
    let postgres = &cfg.cluster.as_ref().ok_or("not a cluster node")?.postgres;
    let (store, mut fence) = crate::pg_store::PgStore::connect_leader(postgres).map_err(|e| format!("PostgreSQL: {e}"))?;
    let fresh = store.is_empty().map_err(|e| e.to_string())?;
    let epoch = fence.epoch;
    info!(epoch, "leader epoch taken");
    let mut broker = broker_on(cfg, now, Box::new(store), fresh)?;
    let sim = cfg.simulate.then(|| Simulator::start(&mut broker, now));
    let (ltx, lrx) = mpsc::unbounded_channel();
    let mailroom = Mailroom::open(mailroom::ThreadsAt::Postgres(postgres), cfg.mail.as_ref(), ltx.clone())?;
    let switchboard = crate::switchboard::Switchboard::start(cfg.sip.as_ref(), ltx.clone()).await?;
    let outbox = cluster::Outbox::new(nats.clone(), ltx.clone(), fence.clone(), cfg.out_low_water);
    let inbound = tokio::spawn(cluster::inbound(nats.clone(), ltx.clone(), outbox.windows(), epoch));
    let beat = tokio::spawn(cluster::heartbeat(control.clone(), nats.clone(), node.to_owned(), epoch));
    let asks = tokio::spawn(cluster::asks::answer(nats.clone(), ltx.clone()));
    let (lstop_tx, lstop_rx) = oneshot::channel();
    // The nodes' XMPP sessions reach this broker as a single node's own would.
    let (xtx, xrx) = mpsc::unbounded_channel();
    let xmpp = tokio::spawn(cluster::xmpp::serve(nats.clone(), xtx, epoch));
    let mut broker_task = tokio::spawn(run(broker, sim, mailroom, switchboard, lrx, lstop_rx, cfg.clone(), xrx, outbox));
    let r = tokio::select! {
        _ = dead => {
            // Another node may lead by now: two brokers on one database must never run.
            broker_task.abort();
            let _ = (&mut broker_task).await;
            Err("the leader lock's PostgreSQL connection is gone".to_owned())
        }
        _ = fence.deposed() => {
            // A newer leader holds the epoch: this broker's last commit failed and nothing of it
            // left (the outbox drops a deposed leader's frames); stop before anything else does.
            broker_task.abort();
            let _ = (&mut broker_task).await;
            Err(format!("fenced: another node took a newer leader epoch than {epoch}"))
        }
        _ = &mut broker_task => Err("the broker stopped".to_owned()),
        _ = cancel.cancelled() => {
            let _ = lstop_tx.send(());
            let _ = broker_task.await;
            Ok(())
        }
    };
    inbound.abort();
    beat.abort();
    asks.abort();
    xmpp.abort();
    r
}

/// Most inputs committed together.
const MAX_BATCH: usize = 256;

async fn run(
    mut broker: Broker,
    mut sim: Option<Simulator>,
    mut mailroom: Mailroom,
    mut switchboard: crate::switchboard::Switchboard,
    mut rx: mpsc::UnboundedReceiver<Input>,
    mut stop: oneshot::Receiver<()>,
    cfg: Arc<ServerConfig>,
    mut xmpp_rx: mpsc::UnboundedReceiver<XmppRequest>,
    // Sockets of cluster nodes, when this node leads.
    mut remote: crate::cluster::Outbox,
) {
    let mut xmpp_outs: HashMap<WatcherId, mpsc::UnboundedSender<XmppPush>> = HashMap::new();
    let mut conns: HashMap<ConnId, ConnOut> = HashMap::new();
    let high = cfg.out_high_water;
    let mut gone_tokens = crate::push::gone_tokens();
    loop {
        let deadline = [broker.poll_timeout(), sim.as_ref().and_then(|s| s.poll_timeout())].into_iter().flatten().min();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep(Duration::from_millis(t.0.saturating_sub(wall_clock().0))).await,
                None => futures::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            input = rx.recv() => {
                let now = wall_clock();
                let Some(input) = input else { break };
                // Frames already waiting join this one in a group commit: one transaction for many
                // requests (the database's fsync is the bound), answers sent only after it.
                let mut batch = vec![input];
                while batch.len() < MAX_BATCH && matches!(batch.last(), Some(Input::Frame(..) | Input::RemoteFrame(..))) {
                    match rx.try_recv() {
                        Ok(i) => batch.push(i),
                        Err(_) => break,
                    }
                }
                broker.begin_batch();
                for input in batch {
                    match input {
                        Input::Open(out, reply) => {
                            let id = broker.open_connection(now);
                            conns.insert(id, out);
                            let _ = reply.send(id);
                        }
                        Input::Frame(conn, data) => {
                            broker.handle_input(now, conn, &data);
                            if let Some(o) = conns.get(&conn) {
                                o.consumed();
                            }
                        }
                        Input::Writable(conn) => broker.set_writable(conn, true),
                        Input::Shed(conn, frame) => {
                            // Every frame read before this one was handled: commit, send the answers
                            // due (even past the high-water mark, they are bounded by what was
                            // admitted), then the error, then close.
                            broker.end_batch();
                            broker.set_writable(conn, true);
                            flush(&mut broker, &mut sim, &mut mailroom, &mut switchboard, &mut conns, &mut remote, &xmpp_outs, now, usize::MAX);
                            if let Some(out) = conns.remove(&conn) {
                                out.send(frame);
                                out.close();
                            }
                            broker.begin_batch();
                        }
                        Input::Closed(conn) => {
                            conns.remove(&conn);
                            broker.handle_disconnect(now, conn);
                        }
                        Input::Mail(m) => {
                            // Outside the group: a received mail is answered 250 only once it is
                            // committed, and the mailroom's own tables share the database file.
                            broker.end_batch();
                            mailroom.handle(&mut broker, now, m);
                            broker.begin_batch();
                        }
                        Input::Dial(r) => switchboard.handle(&mut broker, now, r),
                        Input::Attach(a) => {
                            // Outside the group, like mail: the answer waits for its own commit.
                            broker.end_batch();
                            a.run(&mut broker, now);
                            broker.begin_batch();
                        }
                        Input::Adopt(a) => {
                            let (visitor, client, reply) = *a;
                            broker.end_batch();
                            let r = broker.adopt_visitor(now, &visitor, &client);
                            broker.begin_batch();
                            let _ = reply.send(r);
                        }
                        Input::RemoteOpen(node, inc, sock) => {
                            let id = broker.open_connection(now);
                            for old in remote.open(node, inc, sock, id) {
                                broker.handle_disconnect(now, old);
                            }
                        }
                        Input::RemoteFrame(node, sock, data) => {
                            if let Some(id) = remote.conn(&node, sock) {
                                broker.handle_input(now, id, &data);
                            }
                        }
                        Input::RemoteWritable(node, sock) => {
                            if let Some(id) = remote.drained(&node, sock) {
                                broker.set_writable(id, true);
                            }
                        }
                        Input::RemotePaused(node, sock, paused) => {
                            if let Some((id, writable)) = remote.gateway_paused(&node, sock, paused) {
                                broker.set_writable(id, writable);
                            }
                        }
                        Input::RemoteClosed(node, sock) => {
                            if let Some(id) = remote.close(&node, sock) {
                                broker.handle_disconnect(now, id);
                            }
                        }
                        Input::RemoteReset(node, inc) => {
                            for old in remote.reset(&node, inc) {
                                broker.handle_disconnect(now, old);
                            }
                        }
                    }
                }
                broker.end_batch();
            }
            Some(req) = xmpp_rx.recv() => xmpp_request(&mut broker, &mut xmpp_outs, req),
            Some((client, token)) = gone_tokens.recv() => {
                broker.drop_push_target(wall_clock(), &client, &token);
            }
            _ = sleep => {}
        }
        let now = wall_clock();
        if broker.poll_timeout().is_some_and(|t| t <= now) {
            broker.handle_timeout(now);
        }
        if let Some(s) = sim.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now, &mut broker);
            }
        }
        flush(&mut broker, &mut sim, &mut mailroom, &mut switchboard, &mut conns, &mut remote, &xmpp_outs, now, high);
        if let Some(e) = broker.take_store_error() {
            warn!("store error: {e}");
        }
    }
    info!("shutting down: closing connections");
    for (_, out) in conns.drain() {
        out.close();
    }
    remote.close_all();
    // Every input was committed as it was handled; dropping the broker closes the database.
    drop(broker);
}

fn flush(
    broker: &mut Broker,
    sim: &mut Option<Simulator>,
    mailroom: &mut Mailroom,
    switchboard: &mut crate::switchboard::Switchboard,
    conns: &mut HashMap<ConnId, ConnOut>,
    remote: &mut crate::cluster::Outbox,
    xmpp_outs: &HashMap<WatcherId, mpsc::UnboundedSender<XmppPush>>,
    now: Timestamp,
    high: usize,
) {
    // Connections owed a write: each is written once, with everything due to it.
    let mut touched: Vec<ConnId> = vec![];
    for _ in 0..8 {
        let mut any = false;
        while let Some(t) = broker.poll_transmit() {
            any = true;
            // A cluster node's socket: this flush's frames go to its node in one batch.
            let Some(t) = remote.push(broker, t, high) else { continue };
            if let Some(out) = conns.get(&t.conn) {
                let (queued, owed) = out.queue(t.data);
                if t.close {
                    out.write();
                    out.close();
                    conns.remove(&t.conn);
                    continue;
                }
                if owed {
                    touched.push(t.conn);
                }
                // Over the high-water mark: the broker holds this connection's events (and
                // coalesces its presence) until the writer drains it below the low-water mark.
                if queued > high && !out.q.paused.swap(true, Ordering::SeqCst) {
                    broker.set_writable(t.conn, false);
                    // The writer may have drained it meanwhile without seeing the pause.
                    if out.q.bytes.load(Ordering::SeqCst) <= out.q.low && out.q.paused.swap(false, Ordering::SeqCst) {
                        broker.set_writable(t.conn, true);
                    }
                }
            }
        }
        if touched.len() >= SPLIT_WRITES {
            // A fan-out: the second half of the sockets is written on another worker meanwhile (each
            // write costs the receiver's TCP processing too, on loopback), the first half here.
            let rest: Vec<Arc<crate::wire::Wire>> = touched.drain(touched.len() / 2..).filter_map(|id| conns.get(&id).and_then(ConnOut::wire_handle)).collect();
            tokio::spawn(async move {
                for w in rest {
                    if w.write().drained() {
                        w.tell_drained();
                    }
                }
            });
        }
        for id in touched.drain(..) {
            if conns.get(&id).is_some_and(ConnOut::write) {
                // Drained below the low-water mark by this very write: its held events may go.
                broker.set_writable(id, true);
                any = true;
            }
        }
        while let Some(e) = broker.poll_event() {
            any = true;
            match &e {
                BrokerEvent::Presence { watcher, doc } => {
                    if let Some(o) = xmpp_outs.get(watcher) {
                        let _ = o.send(XmppPush::Presence(doc.clone()));
                    }
                }
                BrokerEvent::WatchEnded { watcher, presentity } => {
                    if let Some(o) = xmpp_outs.get(watcher) {
                        let _ = o.send(XmppPush::Ended(presentity.clone()));
                    }
                }
                BrokerEvent::MailOwed => mailroom.wake(),
                BrokerEvent::DialOwed => switchboard.wake(),
                BrokerEvent::DialCancelled { interaction } => switchboard.cancel(interaction),
                BrokerEvent::Push { .. } => crate::push::deliver(&e),
                _ => {}
            }
            if let Some(s) = sim.as_mut() {
                s.on_event(now, &e);
            }
        }
        if let Some(s) = sim.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now, broker);
                any = true;
            }
        }
        if mailroom.pump(broker, now) {
            any = true;
        }
        if switchboard.pump(broker, now) {
            any = true;
        }
        if !any {
            break;
        }
    }
    remote.send();
}

fn xmpp_request(b: &mut Broker, outs: &mut HashMap<WatcherId, mpsc::UnboundedSender<XmppPush>>, req: XmppRequest) {
    let now = wall_clock();
    match req {
        XmppRequest::Open { principal, out, reply } => {
            let w = b.external_watcher();
            outs.insert(w, out);
            let status = b.monitor().center_status();
            let mut roster = vec![Presentity::Center];
            for q in &status.queues {
                let p = Presentity::Queue(q.queue.clone());
                if !roster.contains(&p) {
                    roster.push(p);
                }
            }
            roster.extend(status.agents.iter().map(|a| Presentity::Agent(a.id.clone())));
            if let Principal::Client(c) = &principal {
                b.publish_client_status(now, c.clone(), ClientStatus { activity: ClientActivity::Online, medium: None, note: None });
            }
            let _ = reply.send((w, roster));
        }
        XmppRequest::Subscribe { watcher, principal, presentity, reply } => {
            let _ = reply.send(b.external_subscribe(watcher, &principal, &presentity));
        }
        XmppRequest::Unsubscribe { watcher, presentity } => b.external_unsubscribe(watcher, &presentity),
        XmppRequest::Fetch { principal, presentity, reply } => {
            let _ = reply.send(b.monitor().fetch(&principal, &presentity).map_err(Into::into));
        }
        XmppRequest::Status { client, status } => b.publish_client_status(now, client, status),
        XmppRequest::Close { watcher, presentities } => {
            b.external_drop(watcher, &presentities);
            outs.remove(&watcher);
        }
    }
}

/// Frames a connection may send at once before `hello` names its principal.
const PRE_HELLO_BURST: u32 = 16;
/// Largest frame read before `hello` (a hello with a token is well under 4 KiB).
const PRE_HELLO_MAX_FRAME: usize = 16 * 1024;

fn error_frame(code: ErrorCode, msg: &str) -> Vec<u8> {
    BrokerFrame::Error { error: ErrorBody::new(code, msg), fatal: true }.encode()
}

/// Whether a WebSocket upgrade may come from this page: no list allows all; a request without
/// `Origin` comes from no browser page (apps, the CLI) and is allowed.
fn origin_allowed(allowed: &[String], origin: Option<&[u8]>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match origin {
        None => true,
        Some(o) => std::str::from_utf8(o).is_ok_and(|o| allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o.trim_end_matches('/')))),
    }
}

/// A socket the server accepts on: plain TCP sessions are served by `wire.rs`, TLS ones by
/// tungstenite's stream.
pub(crate) trait Socket: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    /// The plain TCP socket, if this is one.
    fn into_tcp(self) -> Result<tokio::net::TcpStream, Self>;
}

impl Socket for tokio::net::TcpStream {
    fn into_tcp(self) -> Result<tokio::net::TcpStream, Self> {
        Ok(self)
    }
}

impl Socket for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn into_tcp(self) -> Result<tokio::net::TcpStream, Self> {
        Err(self)
    }
}

/// Serves a connection: its request head is read and routed first, in a future of its own that is
/// gone before a session starts, so a session's task holds only the session's own state.
async fn connection<S: Socket>(stream: S, tx: mpsc::UnboundedSender<Input>, shared: Arc<Shared>, n: u64, xctx: Arc<XmppContext>, unauth: UnauthConn, end: Ending) -> Result<(), Cut> {
    match Box::pin(route(stream, &tx, &shared, unauth, end.peer.ip())).await? {
        Route::Served => Ok(()),
        // A task of its own, sized for the session alone: awaited here, the session would also keep
        // this task's routing state (768 bytes) for its whole life (issue 19).
        Route::Wire(tcp, head, unauth) => {
            tokio::spawn(async move { end.report(wire_session(tcp, head, tx, shared, unauth).await) });
            Ok(())
        }
        Route::Stream(stream, head, unauth) => Box::pin(stream_session(stream, head, tx, shared, n, xctx, unauth)).await,
    }
}

/// How a connection's end is told: its peer, and the count of idle closes.
#[derive(Clone)]
struct Ending {
    peer: std::net::SocketAddr,
    idle_closed: Arc<std::sync::atomic::AtomicU64>,
}

impl Ending {
    fn report(&self, r: Result<(), Cut>) {
        if let Err(e) = r {
            if matches!(e, Cut::Idle) {
                self.idle_closed.fetch_add(1, Ordering::SeqCst);
            }
            tracing::debug!(peer = %self.peer, "connection ended: {e}");
        }
    }
}

/// Where a connection goes once its request head is read.
enum Route<S> {
    /// A plain HTTP request, answered.
    Served,
    /// A `/client` or `/agent` session on a plain socket (`wire.rs`).
    Wire(tokio::net::TcpStream, Vec<u8>, UnauthConn),
    /// A WebSocket over TLS, or `/xmpp`, or an unknown path: tungstenite's stream.
    Stream(S, Vec<u8>, UnauthConn),
}

/// Reads the request head and answers plain HTTP (files, visitors, attachments) itself.
async fn route<S: Socket>(mut stream: S, tx: &mpsc::UnboundedSender<Input>, shared: &Arc<Shared>, unauth: UnauthConn, peer: std::net::IpAddr) -> Result<Route<S>, Cut> {
    let cfg = shared.cfg.clone();
    // Until the broker knows of the connection it holds nothing but its socket: a shed one is dropped
    // at whatever step it waits in.
    let shed_err = Cut::from;
    // One port for everything: WebSocket upgrades go to the broker, plain GETs to the static files.
    let head = Box::pin(unauth.or_shed(tokio::time::timeout(cfg.handshake_timeout, crate::http::read_head(&mut stream))))
        .await
        .map_err(shed_err)?
        .map_err(|_| "no request in time")?
        .map_err(|e| e.to_string())?;
    if crate::visitors::is_visitor_request(&head) {
        let v = Box::pin(crate::visitors::serve(stream, head, peer, &cfg.visitors, &shared.visitors, &cfg.secret, &cfg.allowed_origins, wall_clock(), tx));
        return unauth.or_shed(v).await.map_err(shed_err)?.map(|()| Route::Served).map_err(|e| Cut::from(e.to_string()));
    }
    if crate::attachments::is_attachment_request(&head) {
        let ep = crate::attachments::Endpoint {
            verifier: &shared.verifier,
            broker: tx,
            max_bytes: cfg.attachments.max_bytes,
            allowed_origins: &cfg.allowed_origins,
            scan: cfg.attachment_scan.as_deref(),
            body_timeout: Duration::from_secs(60),
            rates: &shared.rates,
        };
        let a = Box::pin(crate::attachments::serve(stream, head, ep, wall_clock()));
        return unauth.or_shed(a).await.map_err(shed_err)?.map(|()| Route::Served).map_err(|e| Cut::from(e.to_string()));
    }
    if !crate::http::is_websocket_upgrade(&head) {
        return unauth.or_shed(Box::pin(crate::http::serve(stream, &head, cfg.canned.as_deref()))).await.map_err(shed_err)?.map(|()| Route::Served).map_err(|e| Cut::from(e.to_string()));
    }
    let session_path = {
        let mut h = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut h);
        matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) && matches!(req.path.map(|p| p.split('?').next().unwrap_or(p)), Some("/client" | "/agent" | "/"))
    };
    if !session_path {
        return Ok(Route::Stream(stream, head, unauth));
    }
    Ok(match stream.into_tcp() {
        Ok(tcp) => Route::Wire(tcp, head, unauth),
        Err(s) => Route::Stream(s, head, unauth),
    })
}

/// What a connection's frame must pass before it reaches the broker: before `hello`, a small allowance
/// and size limit of its own; from `hello` on, its principal's rate limits and connection count.
struct Gate {
    shared: Arc<Shared>,
    bucket: Bucket,
    principal: Option<(crate::limits::RateHandle, SessionSlot)>,
    /// Listed for shedding until its `hello` authenticates it.
    unauth: Option<UnauthConn>,
}

/// What to do with a connection's frame.
enum Verdict {
    /// Pass it to the broker.
    Forward,
    /// Answer it here (the broker never sees it) and go on.
    Reply(Vec<u8>),
    /// Refuse it after everything before it is answered (the broker sends this error and closes).
    Shed(Vec<u8>, &'static str),
    /// Send this error now and close.
    Refuse(Vec<u8>, Cut),
}

impl Gate {
    fn new(shared: Arc<Shared>, unauth: UnauthConn) -> Gate {
        // Before `hello` an honest peer sends one frame: a small allowance of its own.
        let bucket = Bucket::new(shared.cfg.max_msgs_per_sec, PRE_HELLO_BURST);
        Gate { shared, bucket, principal: None, unauth: Some(unauth) }
    }

    fn authenticated(&self) -> bool {
        self.principal.is_some()
    }

    fn admit(&mut self, data: &[u8]) -> Verdict {
        let limited = || error_frame(ErrorCode::RateLimited, "too many messages; slow down and reconnect");
        if let Some((rate, _)) = &self.principal {
            // Not forwarded; everything before it is answered before the error and the close.
            return if rate.take(data.len()) { Verdict::Forward } else { Verdict::Shed(limited(), "rate limited") };
        }
        // The hello names the principal: from now on its limits are counted under it.
        let who = match ClientFrame::decode(data, MAX_FRAME_BYTES) {
            Ok(ClientFrame::Hello { token, .. }) => self.shared.verifier.verify(&token, wall_clock()).ok(),
            _ => None,
        };
        if let Some(who) = who {
            let key = principal_key(&who);
            let rate = self.shared.rates.handle(&key);
            if !rate.take(data.len()) {
                return Verdict::Shed(limited(), "rate limited");
            }
            let Some(slot) = self.shared.sessions.acquire(key.clone()) else {
                return Verdict::Shed(error_frame(ErrorCode::RateLimited, "too many connections for this principal"), "sessions per principal exceeded");
            };
            // Shed while its hello was read: it closes like the others shed with it.
            if let Some(Err(e)) = self.unauth.take().map(UnauthConn::authenticate) {
                return Verdict::Refuse(shed_frame(), Cut::from(e));
            }
            self.principal = Some((rate, slot));
            Verdict::Forward
        } else if !self.bucket.take() {
            Verdict::Shed(limited(), "rate limited")
        } else if data.len() > PRE_HELLO_MAX_FRAME {
            // Nothing that large is due before `hello`: refused here, never queued for the broker.
            Verdict::Reply(BrokerFrame::Error { error: ErrorBody::new(ErrorCode::TooLarge, format!("{} bytes before hello; at most {PRE_HELLO_MAX_FRAME}", data.len())), fatal: false }.encode())
        } else {
            Verdict::Forward
        }
    }
}

/// Told why, an honest client reconnects at once (a fatal error other than a refusal).
fn shed_frame() -> Vec<u8> {
    error_frame(ErrorCode::Unavailable, "server busy: unauthenticated connection shed; reconnect")
}

fn no_hello_frame(cfg: &ServerConfig) -> Vec<u8> {
    error_frame(ErrorCode::Unauthenticated, &format!("no hello within {} s", cfg.hello_timeout.as_secs_f64()))
}

/// Announces a connection to the broker (or the gateway) and waits for its id.
async fn open(tx: &mpsc::UnboundedSender<Input>, out: ConnOut) -> Result<ConnId, String> {
    let (rtx, rrx) = oneshot::channel();
    tx.send(Input::Open(out, rtx)).map_err(|_| "server stopping")?;
    Ok(rrx.await.map_err(|_| "server stopping")?)
}

fn out_queue(cfg: &ServerConfig) -> Arc<OutQueue> {
    Arc::new(OutQueue { bytes: AtomicUsize::new(0), paused: AtomicBool::new(false), low: cfg.out_low_water })
}

/// A `/client` or `/agent` session on a plain socket: one task reads, the broker writes (`wire.rs`).
async fn wire_session(sock: tokio::net::TcpStream, head: Vec<u8>, tx: mpsc::UnboundedSender<Input>, shared: Arc<Shared>, unauth: UnauthConn) -> Result<(), Cut> {
    use crate::wire::{Incoming, Wrote};
    use tokio::io::{AsyncWriteExt, Interest};
    use tokio::time::Instant;
    let cfg = shared.cfg.clone();
    let (answer, used) = {
        let mut h = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut h);
        let used = match req.parse(&head) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => head.len(),
        };
        let origin = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("origin")).map(|h| h.value);
        let answer = if origin_allowed(&cfg.allowed_origins, origin) { crate::wire::accept(&req) } else { Err(("403 Forbidden", "origin not allowed\n")) };
        (answer, used)
    };
    let mut sock = sock;
    let answer = match answer {
        Ok(a) => a,
        Err((status, body)) => {
            let r = crate::wire::refusal(status, body);
            let _ = Box::pin(unauth.or_shed(tokio::time::timeout(cfg.handshake_timeout, sock.write_all(r.as_bytes())))).await;
            return Err(format!("WebSocket upgrade refused: {status}").into());
        }
    };
    // Every wait but the session loop's boxed: this future lives as long as the session.
    Box::pin(unauth.or_shed(tokio::time::timeout(cfg.handshake_timeout, sock.write_all(answer.as_bytes()))))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "no WebSocket handshake in time")?
        .map_err(|e| e.to_string())?;
    // Held by this future for the session's life otherwise.
    drop(answer);
    let wire = crate::wire::Wire::new(sock, out_queue(&cfg));
    let conn = open(&tx, ConnOut::wire(wire.clone())).await?;
    // From here the broker has a connection to close, so shedding is a branch of the loop below, not
    // a dropped future.
    let mut shed_signal = Some(unauth.signal());
    let mut gate = Gate::new(shared.clone(), unauth);
    let mut reader = crate::wire::FrameReader::new(frontdesk_net::ws::MAX_MESSAGE_BYTES);
    let hello_by = Instant::now() + cfg.hello_timeout;
    let mut last_rx = Instant::now();
    let mut stalled_since: Option<Instant> = None;
    // What the peer sent with its upgrade request comes first.
    let mut got: std::collections::VecDeque<Incoming> = Default::default();
    let mut eof = false;
    if let Err(crate::wire::Refused(code, why)) = reader.feed(&head[used..], &mut |i| got.push_back(i)) {
        wire.queue_close_frame(Some(code));
        eof = true;
        tracing::debug!("protocol error: {why}");
    }
    drop(head);
    let written = |w: Wrote| {
        if w == Wrote::Failed {
            return Err(Cut::Stalled);
        }
        if w.drained() {
            let _ = tx.send(Input::Writable(conn));
        }
        Ok(())
    };
    let r: Result<(), Cut> = 'conn: loop {
        // Backpressure per message, as on a stream: requests read together wait here while this
        // connection is held (`OutQueue::held`).
        while !wire.q.held(cfg.out_high_water) && wire.may_forward() {
            let Some(i) = got.pop_front() else { break };
            last_rx = Instant::now();
            match i {
                Incoming::Message(data) => match gate.admit(&data) {
                    Verdict::Forward => {
                        wire.forwarded();
                        if tx.send(Input::Frame(conn, data)).is_err() {
                            break 'conn Ok(());
                        }
                    }
                    Verdict::Reply(f) => {
                        wire.queue(f.into());
                        if let Err(e) = written(wire.write()) {
                            break 'conn Err(e);
                        }
                    }
                    Verdict::Shed(f, why) => {
                        let _ = tx.send(Input::Shed(conn, f));
                        break 'conn Err(why.into());
                    }
                    Verdict::Refuse(f, why) => {
                        wire.queue(f.into());
                        break 'conn Err(why);
                    }
                },
                Incoming::Ping(p) => {
                    wire.queue_pong(p);
                    if let Err(e) = written(wire.write()) {
                        break 'conn Err(e);
                    }
                }
                Incoming::Pong => {}
                Incoming::Close => break 'conn Ok(()),
            }
        }
        if eof && got.is_empty() {
            break Ok(());
        }
        let st = wire.state();
        if st.failed {
            break Err(Cut::Stalled);
        }
        if st.closing && !st.empty && !st.blocked {
            // Closed with frames its sender had no turn to write.
            if let Err(e) = written(wire.write()) {
                break Err(e);
            }
            continue;
        }
        if st.closing && st.empty {
            // The broker closed it: a refusal the peer should read.
            break Err("closed by the broker".into());
        }
        if st.hung_up {
            break Ok(());
        }
        if wire.take_drained() {
            let _ = tx.send(Input::Writable(conn));
        }
        // Backpressure: while this connection's answers wait for its peer, read no more of its
        // requests (TCP then slows the peer down); a peer that stays stalled is dropped.
        let over = wire.q.held(cfg.out_high_water);
        if st.blocked || over {
            let since = *stalled_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= cfg.stall_timeout {
                break Err(Cut::Stalled);
            }
        } else {
            stalled_since = None;
        }
        if got.is_empty() && got.capacity() > 0 {
            // Released while idle: an idle session holds no buffer (issue 19).
            got = Default::default();
        }
        // Nothing more is read while messages already read wait.
        let over = over || !got.is_empty() || eof;
        let interest = match (over, st.blocked) {
            (false, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, true) => Some(Interest::WRITABLE),
            // Over the mark with nothing blocked: the sender writes what it queued at once.
            (true, false) => None,
        };
        if gate.unauth.is_none() {
            shed_signal = None;
        }
        let mut deadline = if gate.authenticated() { last_rx + cfg.idle_timeout } else { hello_by };
        if let Some(t) = stalled_since {
            deadline = deadline.min(t + cfg.stall_timeout);
        }
        if interest.is_none() {
            deadline = deadline.min(Instant::now() + Duration::from_millis(20));
        }
        let ready = tokio::select! {
            biased;
            () = crate::limits::ShedSignal::shed_of(&shed_signal), if gate.unauth.is_some() => {
                wire.queue(shed_frame().into());
                let _ = wire.write();
                break Err(Cut::Shed);
            }
            () = wire.changed() => continue,
            r = async { match interest { Some(i) => wire.sock().ready(i).await, None => futures::future::pending().await } } => match r {
                Ok(r) => r,
                Err(e) => break Err(e.to_string().into()),
            },
            () = tokio::time::sleep_until(deadline) => {
                if stalled_since.is_some_and(|t| t.elapsed() >= cfg.stall_timeout) {
                    break Err(Cut::Stalled);
                }
                if interest.is_none() {
                    continue;
                }
                if gate.authenticated() {
                    // A silent peer after hello: a dead network the peer has not noticed; its session stays.
                    break Err(Cut::Idle);
                }
                let _ = tx.send(Input::Shed(conn, no_hello_frame(&cfg)));
                break Err("no hello in time".into());
            }
        };
        if ready.is_writable() {
            if let Err(e) = written(wire.write()) {
                break Err(e);
            }
        }
        if ready.is_readable() || ready.is_read_closed() {
            match read_some(&wire, &mut reader, &mut got) {
                Ok(open) => eof = !open,
                Err(crate::wire::Refused(code, why)) => {
                    tracing::debug!("protocol error: {why}");
                    wire.queue_close_frame(Some(code));
                    eof = true;
                }
            }
        }
    };
    drop(gate);
    let _ = tx.send(Input::Closed(conn));
    Box::pin(async {
        // Write what is still due (the broker's last answers, an error frame) for a moment, then close.
        let until = Instant::now() + cfg.stall_timeout.min(Duration::from_secs(2));
        loop {
            let w = wire.write();
            let st = wire.state();
            if matches!(w, Wrote::Failed) || (st.empty && (st.closing || st.hung_up)) || Instant::now() >= until {
                break;
            }
            tokio::select! {
                () = wire.changed() => {}
                _ = wire.sock().writable(), if st.blocked => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
        wire.queue_close_frame(None);
        let _ = wire.write();
        if result_is_refusal(&r) {
            // Lingering close: read what the peer still sends for a moment, so the kernel does not answer
            // it with a reset that would destroy the error frame before the peer reads it.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                let mut sink = [0u8; 1024];
                loop {
                    if wire.sock().readable().await.is_err() {
                        break;
                    }
                    match wire.sock().try_read(&mut sink) {
                        Ok(0) => break,
                        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => break,
                        _ => {}
                    }
                }
            })
            .await;
        }
    })
    .await;
    r
}

/// Reads what the socket has (at most a few chunks, then others get their turn) into `got`; false
/// when the peer closed its side.
fn read_some(wire: &crate::wire::Wire, reader: &mut crate::wire::FrameReader, got: &mut std::collections::VecDeque<crate::wire::Incoming>) -> Result<bool, crate::wire::Refused> {
    let mut buf = [0u8; crate::wire::READ_CHUNK];
    for _ in 0..4 {
        match wire.sock().try_read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => reader.feed(&buf[..n], &mut |i| got.push_back(i))?,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

// The handshake callback's error type is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
/// A session over tungstenite's stream (TLS, and `/xmpp` on the main port): a reader here and a
/// writer task fed by the broker over a channel.
async fn stream_session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    head: Vec<u8>,
    tx: mpsc::UnboundedSender<Input>,
    shared: Arc<Shared>,
    n: u64,
    xctx: Arc<XmppContext>,
    unauth: UnauthConn,
) -> Result<(), Cut> {
    let cfg = shared.cfg.clone();
    let shed_err = Cut::from;
    let mut path = String::new();
    let allowed = &cfg.allowed_origins;
    let ws = unauth.or_shed(tokio::time::timeout(
        cfg.handshake_timeout,
        tokio_tungstenite::accept_hdr_async_with_config(
            crate::http::Rewind::new(head, stream),
            |req: &Request, mut resp: Response| {
                path = req.uri().path().to_string();
                if !origin_allowed(allowed, req.headers().get("origin").map(|v| v.as_bytes())) {
                    let mut refusal = ErrorResponse::new(Some("origin not allowed\n".into()));
                    *refusal.status_mut() = StatusCode::FORBIDDEN;
                    return Err(refusal);
                }
                // RFC 7395: XMPP over WebSocket negotiates the `xmpp` subprotocol.
                let wants_xmpp = req.headers().get_all("sec-websocket-protocol").iter().any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|p| p.trim() == "xmpp")));
                if path == "/xmpp" && wants_xmpp {
                    resp.headers_mut().insert("sec-websocket-protocol", "xmpp".parse().expect("valid header"));
                }
                Ok(resp)
            },
            Some(ws_config()),
        ),
    ))
    .await
    .map_err(shed_err)?
    .map_err(|_| "no WebSocket handshake in time")?
    .map_err(|e| e.to_string())?;
    if path == "/xmpp" {
        // As on the XMPP port: nothing but the socket until SASL succeeds through the slot.
        let sig = unauth.signal();
        return sig.guard(xmpp::serve_ws(ws, xctx, n, unauth)).await.map_err(shed_err)?.map_err(Cut::from);
    }
    let (mut sink, mut stream) = ws.split();
    if !matches!(path.as_str(), "/client" | "/agent" | "/") {
        let _ = sink.send(Message::text(String::from_utf8_lossy(&error_frame(ErrorCode::NotFound, &format!("no endpoint {path}; use /client or /agent"))).into_owned())).await;
        let _ = sink.close().await;
        return Ok(());
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let q = out_queue(&cfg);
    let direct = ConnOut::stream(out_tx.clone(), q.clone());
    let conn = open(&tx, ConnOut::stream(out_tx, q.clone())).await?;
    let mut writer = {
        let (q, tx, stall) = (q.clone(), tx.clone(), cfg.stall_timeout);
        tokio::spawn(async move {
            // Everything already queued goes in one write: a fan-out tick that owes a socket several
            // frames costs one send, not one per frame.
            let mut batch: Vec<Out> = Vec::with_capacity(1);
            while let Some(o) = out_rx.recv().await {
                batch.push(o);
                while batch.len() < WRITE_BATCH {
                    match out_rx.try_recv() {
                        Ok(o) => batch.push(o),
                        Err(_) => break,
                    }
                }
                let (mut len, mut close) = (0, false);
                // A peer that takes no bytes for this long is dropped.
                let sent = tokio::time::timeout(stall, async {
                    for o in batch.drain(..) {
                        let Out::Frame(f) = o else {
                            close = true;
                            break;
                        };
                        len += f.len();
                        // The broker's frames are JSON; shared, so a status change is not copied per socket.
                        let m = match tokio_tungstenite::tungstenite::Utf8Bytes::try_from(f.clone()) {
                            Ok(s) => Message::Text(s),
                            Err(_) => Message::Binary(f),
                        };
                        sink.feed(m).await?;
                    }
                    sink.flush().await
                })
                .await;
                batch.clear();
                if batch.capacity() > WRITE_BATCH {
                    batch = Vec::with_capacity(1);
                }
                let left = q.bytes.fetch_sub(len, Ordering::SeqCst).saturating_sub(len);
                if left <= q.low && q.paused.swap(false, Ordering::SeqCst) {
                    let _ = tx.send(Input::Writable(conn));
                }
                if !matches!(sent, Ok(Ok(()))) {
                    return false;
                }
                if close {
                    break;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
            true
        })
    };
    let mut writer_done = false;
    // From here the broker has a connection to close, so shedding is a branch of the loop below, not
    // a dropped future.
    let mut shed_signal = Some(unauth.signal());
    let mut gate = Gate::new(shared.clone(), unauth);
    let hello_by = tokio::time::Instant::now() + cfg.hello_timeout;
    let r = loop {
        // Backpressure: while this connection's answers wait for its peer, read no more of its
        // requests (TCP then slows the peer down); a peer that stays stalled is dropped.
        if q.held(cfg.out_high_water) {
            let since = tokio::time::Instant::now();
            while q.bytes.load(Ordering::SeqCst) > cfg.out_low_water && since.elapsed() < cfg.stall_timeout && !writer.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if q.bytes.load(Ordering::SeqCst) > cfg.out_low_water {
                break Err(Cut::Stalled);
            }
        }
        let next = async {
            if gate.authenticated() {
                tokio::time::timeout(cfg.idle_timeout, stream.next()).await.map_err(|_| true)
            } else {
                tokio::time::timeout_at(hello_by, stream.next()).await.map_err(|_| false)
            }
        };
        if gate.unauth.is_none() {
            shed_signal = None;
        }
        let msg = tokio::select! {
            m = next => m,
            () = crate::limits::ShedSignal::shed_of(&shed_signal), if gate.unauth.is_some() => {
                direct.send(shed_frame());
                break Err(Cut::Shed);
            }
            w = &mut writer => {
                writer_done = true;
                // The broker closed it (a refusal the peer should read), or the peer stopped taking bytes.
                break Err(if w.unwrap_or(false) { "closed by the broker".into() } else { Cut::Stalled });
            }
        };
        let msg = match msg {
            // A silent peer after hello: a dead network the peer has not noticed; its session stays.
            Err(true) => break Err(Cut::Idle),
            Err(false) => {
                let _ = tx.send(Input::Shed(conn, no_hello_frame(&cfg)));
                break Err("no hello in time".into());
            }
            Ok(None | Some(Err(_))) => break Ok(()),
            Ok(Some(Ok(m))) => m,
        };
        let data = match msg {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            Message::Close(_) => break Ok(()),
            _ => continue,
        };
        match gate.admit(&data) {
            Verdict::Forward => {
                if tx.send(Input::Frame(conn, data)).is_err() {
                    break Ok(());
                }
            }
            Verdict::Reply(f) => {
                direct.send(f);
            }
            Verdict::Shed(f, why) => {
                let _ = tx.send(Input::Shed(conn, f));
                break Err(why.into());
            }
            Verdict::Refuse(f, why) => {
                direct.send(f);
                break Err(why);
            }
        }
    };
    drop(gate);
    drop(direct);
    let _ = tx.send(Input::Closed(conn));
    if !writer_done {
        let _ = writer.await;
    }
    if result_is_refusal(&r) {
        // Lingering close: read what the peer still sends for a moment, so the kernel does not answer
        // it with a reset that would destroy the error frame before the peer reads it.
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
    }
    r
}

/// Whether the connection ended with an error frame the peer should get to read. A shed connection
/// does not linger: it was shed to free its descriptor now.
fn result_is_refusal(r: &Result<(), Cut>) -> bool {
    matches!(r, Err(e) if !matches!(e, Cut::Stalled | Cut::Shed))
}

/// Why a connection ended before its peer closed it: the ends the server treats apart, then the rest
/// in words (for the debug log).
#[derive(Debug)]
enum Cut {
    /// Nothing received within the idle timeout: counted and logged per node.
    Idle,
    /// The peer stopped reading what it was sent: dropped without lingering.
    Stalled,
    /// Shed to free its descriptor now: no lingering either.
    Shed,
    /// Anything else.
    Other(String),
}

impl From<String> for Cut {
    fn from(s: String) -> Self {
        Cut::Other(s)
    }
}

impl From<&str> for Cut {
    fn from(s: &str) -> Self {
        Cut::Other(s.to_owned())
    }
}

impl From<crate::limits::Shed> for Cut {
    fn from(_: crate::limits::Shed) -> Self {
        Cut::Shed
    }
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::Idle => f.write_str("idle: nothing received within the idle timeout"),
            Cut::Stalled => f.write_str("peer stalled: not reading"),
            Cut::Shed => write!(f, "{}", crate::limits::Shed),
            Cut::Other(s) => f.write_str(s),
        }
    }
}
