//! The server: one task owns the broker (and the simulator); per-connection tasks move WebSocket
//! messages to and from it over channels. Client protocol on `/client`, agent protocol on `/agent`.

use crate::agent_wire::{AgentIn, AgentOut, AgentRequest, AgentResult};
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
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{BrokerFrame, ClientFrame, ErrorBody, ErrorCode, MAX_FRAME_BYTES};
use frontdesk_core::{AgentId, Timestamp};
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
        }
    }
}

enum Out {
    Frame(Vec<u8>),
    Close,
}

enum Input {
    ClientOpen(mpsc::UnboundedSender<Out>, oneshot::Sender<ConnId>),
    ClientFrame(ConnId, Vec<u8>),
    ClientClosed(ConnId),
    AgentOpen { agent: AgentId, role: AgentRole, name: String, skills: Vec<frontdesk_core::ProductId>, media: Vec<frontdesk_core::Medium>, out: mpsc::UnboundedSender<Out>, console: u64 },
    AgentRequest { agent: AgentId, console: u64, id: u64, req: AgentRequest },
    AgentClosed { agent: AgentId, console: u64 },
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
    let mut b = Broker::with_parts(BrokerConfig::default(), verifier, store, Box::new(BuiltinRouting), StatusMonitor::default());
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
    let verifier = JwtVerifier::new(&cfg.secret);
    let mut conns: HashMap<ConnId, mpsc::UnboundedSender<Out>> = HashMap::new();
    let mut consoles: HashMap<AgentId, Vec<(u64, mpsc::UnboundedSender<Out>)>> = HashMap::new();
    let mut next_console = 1u64;
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
                let verifier = verifier.clone();
                let console = next_console;
                next_console += 1;
                let xctx = xctx.clone();
                tokio::spawn(async move {
                    let r = match cfg.tls.clone() {
                        Some(tls) => match tokio::time::timeout(Duration::from_secs(10), tokio_rustls::TlsAcceptor::from(tls).accept(stream)).await {
                            Ok(Ok(stream)) => connection(stream, tx, cfg, per_token, verifier, console, xctx).await,
                            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                            Err(_) => Err("no TLS handshake in time".into()),
                        },
                        None => connection(stream, tx, cfg, per_token, verifier, console, xctx).await,
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
                    Some(Input::ClientOpen(out, reply)) => {
                        let id = broker.open_connection(now);
                        conns.insert(id, out);
                        let _ = reply.send(id);
                    }
                    Some(Input::ClientFrame(conn, data)) => broker.handle_input(now, conn, &data),
                    Some(Input::ClientClosed(conn)) => {
                        conns.remove(&conn);
                        broker.handle_disconnect(now, conn);
                    }
                    Some(Input::AgentOpen { agent, role, name, skills, media, out, console }) => {
                        let first = consoles.get(&agent).map_or(true, |v| v.is_empty());
                        if first && broker.monitor().agent(&agent).is_none() {
                            broker.agent_login(now, agent.clone(), &name, role, skills, media);
                        }
                        let _ = out.send(Out::Frame(json(&AgentOut::Welcome { agent: agent.to_string() })));
                        // A console that reconnects learns again which clients it is connected with.
                        for li in broker.agent_interactions(&agent) {
                            let _ = out.send(Out::Frame(json(&AgentOut::Event { event: frontdesk_core::broker::AgentEvent::Connected(li) })));
                        }
                        consoles.entry(agent.clone()).or_default().push((console, out));
                        info!(%agent, "agent console connected");
                    }
                    Some(Input::AgentRequest { agent, console, id, req }) => {
                        let result = agent_request(&mut broker, now, &agent, req);
                        if let Some(v) = consoles.get(&agent) {
                            if let Some((_, out)) = v.iter().find(|(c, _)| *c == console) {
                                let _ = out.send(Out::Frame(json(&AgentOut::Response { id, result })));
                            }
                        }
                    }
                    Some(Input::AgentClosed { agent, console }) => {
                        if let Some(v) = consoles.get_mut(&agent) {
                            v.retain(|(c, _)| *c != console);
                            if v.is_empty() {
                                consoles.remove(&agent);
                                let _ = broker.agent_logout(now, &agent);
                                info!(%agent, "agent logged out");
                            }
                        }
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
        flush(&mut broker, &mut sim, &mut conns, &consoles, &xmpp_outs, now);
        if let Some(e) = broker.take_store_error() {
            warn!("store error: {e}");
        }
    }
    info!("shutting down: closing connections");
    for (_, out) in conns.drain() {
        let _ = out.send(Out::Close);
    }
    for (_, v) in consoles.drain() {
        for (_, out) in v {
            let _ = out.send(Out::Close);
        }
    }
    // Every input was committed as it was handled; dropping the broker closes the database.
    drop(broker);
}

fn flush(
    broker: &mut Broker,
    sim: &mut Option<Simulator>,
    conns: &mut HashMap<ConnId, mpsc::UnboundedSender<Out>>,
    consoles: &HashMap<AgentId, Vec<(u64, mpsc::UnboundedSender<Out>)>>,
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
            if let BrokerEvent::Agent { agent, event } = &e {
                if let Some(v) = consoles.get(agent) {
                    let frame = json(&AgentOut::Event { event: event.clone() });
                    for (_, out) in v {
                        let _ = out.send(Out::Frame(frame.clone()));
                    }
                }
            }
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

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("wire types serialize")
}

fn agent_request(b: &mut Broker, now: Timestamp, agent: &AgentId, req: AgentRequest) -> AgentResult {
    fn v<T: serde::Serialize>(r: Result<T, ErrorBody>) -> AgentResult {
        match r {
            Ok(x) => AgentResult::Ok(serde_json::to_value(x).expect("serializes")),
            Err(e) => AgentResult::Err(e),
        }
    }
    match req {
        AgentRequest::SetState { state } => v(b.agent_set_state(now, agent, state)),
        AgentRequest::Invite { client, medium, message } => v(b.agent_invite(now, agent, &client, medium, &message)),
        AgentRequest::RespondInvitation { invitation, accept } => v(b.agent_respond_invitation(now, agent, &invitation, accept)),
        AgentRequest::Accept { interaction } => v(b.agent_accept(now, agent, &interaction)),
        AgentRequest::Decline { interaction } => v(b.agent_decline(now, agent, &interaction)),
        AgentRequest::SendChat { interaction, text } => v(b.agent_send_chat(now, agent, &interaction, &text)),
        AgentRequest::End { interaction } => v(b.agent_end(now, agent, &interaction)),
        AgentRequest::ClientProfile { client } => v(b.agent_client_profile(agent, &client)),
        AgentRequest::ClientHistory { client, filter } => v(b.agent_client_history(agent, &client, &filter)),
        AgentRequest::CenterStatus => v(Ok::<_, ErrorBody>(b.monitor().center_status())),
        AgentRequest::Transcript { interaction } => v(b.agent_transcript(agent, &interaction)),
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

async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut stream: S,
    tx: mpsc::UnboundedSender<Input>,
    cfg: Arc<ServerConfig>,
    per_token: Arc<Mutex<HashMap<String, usize>>>,
    verifier: JwtVerifier,
    console: u64,
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
        return xmpp::serve_ws(ws, xctx, console).await;
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
        "/client" | "/" => {
            let (rtx, rrx) = oneshot::channel();
            tx.send(Input::ClientOpen(out_tx.clone(), rtx)).map_err(|_| "server stopping")?;
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
                if tx.send(Input::ClientFrame(conn, data)).is_err() {
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
            let _ = tx.send(Input::ClientClosed(conn));
            r
        }
        "/agent" => agent_connection(&mut stream, &tx, &out_tx, &verifier, console, &mut bucket).await,
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

async fn agent_connection<S>(
    stream: &mut S,
    tx: &mpsc::UnboundedSender<Input>,
    out: &mpsc::UnboundedSender<Out>,
    verifier: &JwtVerifier,
    console: u64,
    bucket: &mut Bucket,
) -> Result<(), String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let send_err = |code: ErrorCode, msg: &str, fatal: bool| {
        let _ = out.send(Out::Frame(json(&AgentOut::Error { error: ErrorBody::new(code, msg), fatal })));
        if fatal {
            let _ = out.send(Out::Close);
        }
    };
    let mut me: Option<AgentId> = None;
    let r = loop {
        let data = match stream.next().await {
            None | Some(Err(_)) => break Ok(()),
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Close(_))) => break Ok(()),
            Some(Ok(_)) => continue,
        };
        if !bucket.take() {
            send_err(ErrorCode::RateLimited, "too many messages", true);
            break Err("rate limited".into());
        }
        if data.len() > MAX_FRAME_BYTES {
            send_err(ErrorCode::TooLarge, "frame too large", false);
            continue;
        }
        let frame: AgentIn = match serde_json::from_slice(&data) {
            Ok(f) => f,
            Err(e) => {
                send_err(ErrorCode::Malformed, &format!("malformed frame: {e}"), false);
                continue;
            }
        };
        match (frame, &me) {
            (AgentIn::Hello { token, name, skills, media }, None) => match verifier.verify(&token, wall_clock()) {
                Ok(Principal::Agent(a, role)) => {
                    me = Some(a.clone());
                    let _ = tx.send(Input::AgentOpen { agent: a, role, name, skills, media, out: out.clone(), console });
                }
                Ok(_) => {
                    send_err(ErrorCode::Forbidden, "not an agent token", true);
                    break Err("not an agent".into());
                }
                Err(e) => {
                    send_err(ErrorCode::Unauthenticated, &e.to_string(), true);
                    break Err("bad token".into());
                }
            },
            (AgentIn::Hello { .. }, Some(_)) => send_err(ErrorCode::Conflict, "already logged in", false),
            (AgentIn::Request { .. }, None) => send_err(ErrorCode::Unauthenticated, "send hello first", false),
            (AgentIn::Request { id, req }, Some(a)) => {
                let _ = tx.send(Input::AgentRequest { agent: a.clone(), console, id, req });
            }
        }
    };
    if let Some(a) = me {
        let _ = tx.send(Input::AgentClosed { agent: a, console });
    }
    r
}
