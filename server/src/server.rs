//! The server: one task owns the broker (and the simulator); per-connection tasks move WebSocket
//! messages to and from it over channels. Clients (`/client`) and agent consoles (`/agent`) speak the
//! same protocol on the same connection code: the token decides whether the broker opens a client's
//! session or an agent's.

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
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::principal::Principal;
use frontdesk_core::protocol::{BrokerFrame, ClientFrame, ErrorBody, ErrorCode, MAX_FRAME_BYTES};
use frontdesk_core::Timestamp;
use frontdesk_net::wall_clock;
use frontdesk_net::ws::ws_config;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
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
    /// Messages per second a connection may send (burst twice that).
    pub max_msgs_per_sec: u32,
    /// Connections one token may hold at once.
    pub max_sessions_per_token: usize,
    /// Where the XMPP endpoint listens (TCP, STARTTLS); `None` turns it off.
    pub xmpp_addr: Option<SocketAddr>,
    /// The XMPP service domain.
    pub xmpp_domain: String,
    /// TLS for the main port (`wss://` and `https://`); `None` serves plain `ws://` and `http://`.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long an agent's seat outlives its last console connection (a reload or a dropped network
    /// within it ends nothing); then its interactions go back to their queues.
    pub agent_grace: Duration,
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
            max_sessions_per_token: 8,
            xmpp_addr: None,
            xmpp_domain: "frontdesk.local".into(),
            tls: None,
            agent_grace: BrokerConfig::default().agent_grace,
        }
    }
}

enum Out {
    Frame(Vec<u8>),
    Close,
}

enum Input {
    Open(mpsc::UnboundedSender<Out>, oneshot::Sender<ConnId>),
    Frame(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// A running server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The XMPP endpoint's bound address, if on.
    pub xmpp_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, closes connections and waits for the broker to commit.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

fn build_broker(cfg: &ServerConfig, now: Timestamp) -> Result<Broker, String> {
    let verifier: Box<dyn Verifier> = Box::new(JwtVerifier::new(&cfg.secret));
    let (store, fresh): (Box<dyn DataStore>, bool) = match &cfg.db {
        Some(p) => {
            let s = SqliteStore::open(p).map_err(|e| e.to_string())?;
            let fresh = s.is_empty().map_err(|e| e.to_string())?;
            (Box::new(s), fresh)
        }
        None => (Box::new(MemoryStore::new()), true),
    };
    let bcfg = BrokerConfig { agent_grace: cfg.agent_grace, ..BrokerConfig::default() };
    let mut b = Broker::with_parts(bcfg, verifier, store, Box::new(BuiltinRouting), StatusMonitor::default());
    let restored = b.restore_sessions(now).map_err(|e| e.to_string())?;
    info!(restored, "sessions restored from the store");
    seed(&mut b, now, cfg.sample_data && fresh);
    Ok(b)
}

/// Starts the server; it runs until [`Running::shutdown`].
pub async fn start(cfg: ServerConfig) -> Result<Running, String> {
    let listener = TcpListener::bind(cfg.addr).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let now = wall_clock();
    let mut broker = build_broker(&cfg, now)?;
    let sim = cfg.simulate.then(|| Simulator::start(&mut broker, now));
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (xtx, xrx) = mpsc::unbounded_channel();
    let xctx = Arc::new(XmppContext { domain: cfg.xmpp_domain.clone(), tls: xmpp::self_signed_tls(&cfg.xmpp_domain)?, verifier: JwtVerifier::new(&cfg.secret), to_broker: xtx });
    let mut xmpp_addr = None;
    if let Some(xa) = cfg.xmpp_addr {
        let xl = TcpListener::bind(xa).await.map_err(|e| format!("cannot listen on {xa}: {e}"))?;
        xmpp_addr = Some(xl.local_addr().map_err(|e| e.to_string())?);
        let ctx = xctx.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((stream, peer)) = xl.accept().await {
                n += 1;
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(e) = xmpp::serve_tcp(stream, ctx, n).await {
                        tracing::debug!(%peer, "xmpp session ended: {e}");
                    }
                });
            }
        });
        info!(addr = %xmpp_addr.unwrap(), "XMPP endpoint listening");
    }
    let cfg = Arc::new(cfg);
    let task = tokio::spawn(run(broker, sim, rx, tx, listener, stop_rx, cfg, xrx, xctx));
    info!(%addr, "frontdesk server listening");
    Ok(Running { addr, xmpp_addr, stop: Some(stop_tx), task })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut broker: Broker,
    mut sim: Option<Simulator>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    tx: mpsc::UnboundedSender<Input>,
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
    cfg: Arc<ServerConfig>,
    mut xmpp_rx: mpsc::UnboundedReceiver<XmppRequest>,
    xctx: Arc<XmppContext>,
) {
    let mut xmpp_outs: HashMap<WatcherId, mpsc::UnboundedSender<XmppPush>> = HashMap::new();
    let per_token: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut conns: HashMap<ConnId, mpsc::UnboundedSender<Out>> = HashMap::new();
    let mut next_conn = 1u64;
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
            acc = listener.accept() => if let Ok((stream, peer)) = acc {
                // Frames are small and often come in bursts (a sync is several): without this, Nagle's
                // algorithm holds the second one until the peer's delayed ACK, about 40 ms later.
                let _ = stream.set_nodelay(true);
                let tx = tx.clone();
                let cfg = cfg.clone();
                let per_token = per_token.clone();
                let n = next_conn;
                next_conn += 1;
                let xctx = xctx.clone();
                tokio::spawn(async move {
                    let r = match cfg.tls.clone() {
                        Some(tls) => match tokio::time::timeout(Duration::from_secs(10), tokio_rustls::TlsAcceptor::from(tls).accept(stream)).await {
                            Ok(Ok(stream)) => connection(stream, tx, cfg, per_token, n, xctx).await,
                            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                            Err(_) => Err("no TLS handshake in time".into()),
                        },
                        None => connection(stream, tx, cfg, per_token, n, xctx).await,
                    };
                    if let Err(e) = r {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            },
            input = rx.recv() => {
                let now = wall_clock();
                match input {
                    None => break,
                    Some(Input::Open(out, reply)) => {
                        let id = broker.open_connection(now);
                        conns.insert(id, out);
                        let _ = reply.send(id);
                    }
                    Some(Input::Frame(conn, data)) => broker.handle_input(now, conn, &data),
                    Some(Input::Closed(conn)) => {
                        conns.remove(&conn);
                        broker.handle_disconnect(now, conn);
                    }
                }
            }
            Some(req) = xmpp_rx.recv() => xmpp_request(&mut broker, &mut xmpp_outs, req),
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
        flush(&mut broker, &mut sim, &mut conns, &xmpp_outs, now);
        if let Some(e) = broker.take_store_error() {
            warn!("store error: {e}");
        }
    }
    info!("shutting down: closing connections");
    for (_, out) in conns.drain() {
        let _ = out.send(Out::Close);
    }
    // Every input was committed as it was handled; dropping the broker closes the database.
    drop(broker);
}

fn flush(
    broker: &mut Broker,
    sim: &mut Option<Simulator>,
    conns: &mut HashMap<ConnId, mpsc::UnboundedSender<Out>>,
    xmpp_outs: &HashMap<WatcherId, mpsc::UnboundedSender<XmppPush>>,
    now: Timestamp,
) {
    for _ in 0..8 {
        let mut any = false;
        while let Some(t) = broker.poll_transmit() {
            any = true;
            if let Some(out) = conns.get(&t.conn) {
                let _ = out.send(Out::Frame(t.data));
                if t.close {
                    let _ = out.send(Out::Close);
                    conns.remove(&t.conn);
                }
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
        if !any {
            break;
        }
    }
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

/// Token bucket: `rate` per second, burst of twice that.
struct Bucket {
    tokens: f64,
    rate: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Bucket { tokens: 2.0 * rate as f64, rate: rate as f64, at: std::time::Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(2.0 * self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn error_frame(code: ErrorCode, msg: &str) -> Vec<u8> {
    BrokerFrame::Error { error: ErrorBody::new(code, msg), fatal: true }.encode()
}

// The handshake callback's error type is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut stream: S,
    tx: mpsc::UnboundedSender<Input>,
    cfg: Arc<ServerConfig>,
    per_token: Arc<Mutex<HashMap<String, usize>>>,
    n: u64,
    xctx: Arc<XmppContext>,
) -> Result<(), String> {
    // One port for everything: WebSocket upgrades go to the broker, plain GETs to the static files.
    let head = tokio::time::timeout(Duration::from_secs(10), crate::http::read_head(&mut stream)).await.map_err(|_| "no request in time")?.map_err(|e| e.to_string())?;
    if !crate::http::is_websocket_upgrade(&head) {
        return crate::http::serve(stream, &head).await.map_err(|e| e.to_string());
    }
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        crate::http::Rewind::new(head, stream),
        |req: &Request, mut resp: Response| {
            path = req.uri().path().to_string();
            // RFC 7395: XMPP over WebSocket negotiates the `xmpp` subprotocol.
            let wants_xmpp = req.headers().get_all("sec-websocket-protocol").iter().any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|p| p.trim() == "xmpp")));
            if path == "/xmpp" && wants_xmpp {
                resp.headers_mut().insert("sec-websocket-protocol", "xmpp".parse().expect("valid header"));
            }
            Ok(resp)
        },
        Some(ws_config()),
    )
    .await
    .map_err(|e| e.to_string())?;
    if path == "/xmpp" {
        return xmpp::serve_ws(ws, xctx, n).await;
    }
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let writer = tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            match o {
                Out::Frame(f) => {
                    let m = match String::from_utf8(f) {
                        Ok(s) => Message::text(s),
                        Err(e) => Message::binary(e.into_bytes()),
                    };
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });
    let mut bucket = Bucket::new(cfg.max_msgs_per_sec);
    let result = match path.as_str() {
        "/client" | "/agent" | "/" => {
            let (rtx, rrx) = oneshot::channel();
            tx.send(Input::Open(out_tx.clone(), rtx)).map_err(|_| "server stopping")?;
            let conn = rrx.await.map_err(|_| "server stopping")?;
            let mut token_held: Option<String> = None;
            let r = loop {
                let msg = match stream.next().await {
                    None | Some(Err(_)) => break Ok(()),
                    Some(Ok(m)) => m,
                };
                let data = match msg {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break Ok(()),
                    _ => continue,
                };
                if !bucket.take() {
                    let _ = out_tx.send(Out::Frame(error_frame(ErrorCode::RateLimited, "too many messages; slow down and reconnect")));
                    let _ = out_tx.send(Out::Close);
                    break Err("rate limited".to_string());
                }
                if token_held.is_none() {
                    if let Ok(ClientFrame::Hello { token, .. }) = ClientFrame::decode(&data, MAX_FRAME_BYTES) {
                        let mut m = per_token.lock().unwrap_or_else(|p| p.into_inner());
                        let n = m.entry(token.clone()).or_insert(0);
                        if *n >= cfg.max_sessions_per_token {
                            let _ = out_tx.send(Out::Frame(error_frame(ErrorCode::RateLimited, "too many connections for this token")));
                            let _ = out_tx.send(Out::Close);
                            break Err("sessions per token exceeded".to_string());
                        }
                        *n += 1;
                        token_held = Some(token);
                    }
                }
                if tx.send(Input::Frame(conn, data)).is_err() {
                    break Ok(());
                }
            };
            if let Some(t) = token_held {
                let mut m = per_token.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(n) = m.get_mut(&t) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        m.remove(&t);
                    }
                }
            }
            let _ = tx.send(Input::Closed(conn));
            r
        }
        other => {
            let _ = out_tx.send(Out::Frame(error_frame(ErrorCode::NotFound, &format!("no endpoint {other}; use /client or /agent"))));
            let _ = out_tx.send(Out::Close);
            Ok(())
        }
    };
    drop(out_tx);
    let _ = writer.await;
    if result.is_err() {
        // Lingering close: read what the peer still sends for a moment, so the kernel does not answer
        // it with a reset that would destroy the error frame before the peer reads it.
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
    }
    result
}
