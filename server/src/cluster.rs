//! Several nodes, one broker. Every node accepts sockets and passes their frames over NATS (it is a
//! *gateway*); the node that holds a PostgreSQL advisory lock runs the broker on the shared
//! database (the *leader*) and answers through NATS. When the leader dies its lock goes with its
//! database connection, another node takes it within a second or two and restores every session
//! from PostgreSQL, and the gateways close their sockets so that clients and consoles resume on
//! the new leader — through any node. NATS delivers at most once; nothing depends on it delivering
//! more: a socket whose frames may have been lost is closed, and the session layer's resume
//! (requests resent, unacknowledged events replayed from the store) fills the gap.
//!
//! Subjects: `fd.in` (gateways to the leader), `fd.out.<node>` (the leader to one gateway),
//! `fd.leader` (the leader's heartbeat). Each message names its socket in headers; the payload
//! is the frame itself.

use crate::server::{ConnOut, Input, Out, OutQueue};
use frontdesk_core::broker::ConnId;
use async_nats::HeaderMap;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Where the shared services are and who this node is.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// PostgreSQL, libpq form (`postgres://user@127.0.0.1:5432/frontdesk` or `host=/run/pg port=5432 …`).
    pub postgres: String,
    /// NATS, e.g. `nats://127.0.0.1:4222`.
    pub nats: String,
    /// This node's name, unique in the cluster (its gateway's subject).
    pub node: String,
}

/// The advisory lock whose holder leads ("fdesk" in ASCII).
const LEADER_LOCK: i64 = 0x66_6465_736b;
/// How often the leader says it is alive, and how long gateways wait before they stop believing it.
const HEARTBEAT: Duration = Duration::from_millis(300);
const LEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a follower tries the lock.
const TRY_LOCK: Duration = Duration::from_millis(300);

fn headers(node: &str, sock: u64, kind: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("n", node);
    h.insert("s", sock.to_string().as_str());
    h.insert("k", kind);
    h
}

fn header<'a>(h: Option<&'a HeaderMap>, k: &str) -> Option<&'a str> {
    h.and_then(|h| h.get(k)).map(|v| v.as_str())
}

/// Connects to NATS, reporting its disconnects so sockets whose frames it may have dropped are
/// closed.
pub(crate) async fn connect_nats(url: &str) -> Result<(async_nats::Client, mpsc::UnboundedReceiver<bool>), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        // A burst of frames (every client of a node reconnecting at once) must wait in memory, not
        // be dropped as a slow consumer's.
        .subscription_capacity(1 << 20)
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                match e {
                    async_nats::Event::Disconnected => {
                        let _ = tx.send(false);
                    }
                    async_nats::Event::Connected => {
                        let _ = tx.send(true);
                    }
                    _ => {}
                }
            }
        })
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
    Ok((client, rx))
}

/// Who leads, as the heartbeats say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leader {
    node: String,
    epoch: u64,
}

/// The gateway: the node's sockets, passed to whichever node leads.
/// Heartbeats travel on `control`, a NATS connection of their own, so they never queue behind a
/// burst of frames.
pub(crate) async fn gateway(mut rx: mpsc::UnboundedReceiver<Input>, nats: async_nats::Client, control: async_nats::Client, mut nats_events: mpsc::UnboundedReceiver<bool>, node: String) {
    let mut socks: HashMap<u64, ConnOut> = HashMap::new();
    let mut next: u64 = 0;
    let (mut outs, mut beats) = match (nats.subscribe(format!("fd.out.{node}")).await, control.subscribe("fd.leader").await) {
        (Ok(o), Ok(b)) => (o, b),
        _ => {
            warn!("gateway cannot subscribe on NATS; no sockets are served");
            return;
        }
    };
    // A leader still holding sockets of this node from before (this node restarted) drops them.
    let _ = nats.publish_with_headers("fd.in", headers(&node, 0, "reset"), Vec::new().into()).await;
    let mut leader: Option<Leader> = None;
    let mut last_beat = Instant::now();
    // Sockets that came while nobody led: admitted when a leader is heard, refused after a while.
    let mut waiting: Vec<(Instant, ConnOut, oneshot::Sender<ConnId>)> = vec![];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let drop_all = |socks: &mut HashMap<u64, ConnOut>| {
        // Clients and consoles come back and resume on the leader there is now.
        for (_, out) in socks.drain() {
            let _ = out.tx.send(Out::Close);
        }
    };
    loop {
        tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { break };
                let (sock, kind, data) = match input {
                    Input::Open(out, reply) => {
                        if leader.is_none() {
                            waiting.push((Instant::now(), out, reply));
                            continue;
                        }
                        next += 1;
                        socks.insert(next, out);
                        let _ = reply.send(next);
                        (next, "open", vec![])
                    }
                    Input::Frame(s, data) => (s, "frame", data),
                    Input::Writable(s) => (s, "writable", vec![]),
                    Input::Shed(s, frame) => {
                        if let Some(out) = socks.remove(&s) {
                            out.send(frame);
                            let _ = out.tx.send(Out::Close);
                        }
                        (s, "closed", vec![])
                    }
                    Input::Closed(s) => {
                        socks.remove(&s);
                        (s, "closed", vec![])
                    }
                    // The mailroom and the dialer live with the broker, never on a gateway.
                    Input::Mail(_) | Input::Dial(_) => continue,
                    // The leader's own inputs, never a gateway's.
                    Input::RemoteOpen(..) | Input::RemoteFrame(..) | Input::RemoteWritable(..) | Input::RemoteClosed(..) | Input::RemoteReset(_) => continue,
                };
                if nats.publish_with_headers("fd.in", headers(&node, sock, kind), data.into()).await.is_err() {
                    drop_all(&mut socks);
                }
            }
            m = outs.next() => {
                let Some(m) = m else { break };
                let Some(sock) = header(m.headers.as_ref(), "s").and_then(|s| s.parse::<u64>().ok()) else { continue };
                let close = header(m.headers.as_ref(), "c").is_some();
                if let Some(out) = socks.get(&sock) {
                    if !m.payload.is_empty() {
                        out.send(m.payload.clone());
                    }
                    if close {
                        let _ = out.tx.send(Out::Close);
                        socks.remove(&sock);
                    }
                }
            }
            b = beats.next() => {
                let Some(b) = b else { break };
                let Ok(s) = std::str::from_utf8(&b.payload) else { continue };
                let Some((n, e)) = s.split_once(' ') else { continue };
                let now = Leader { node: n.to_owned(), epoch: e.parse().unwrap_or(0) };
                if leader.as_ref() != Some(&now) {
                    if leader.is_some() {
                        info!(node = %now.node, epoch = now.epoch, "a new leader: this node's sockets resume there");
                        drop_all(&mut socks);
                    }
                    leader = Some(now);
                    for (_, out, reply) in waiting.drain(..) {
                        next += 1;
                        socks.insert(next, out);
                        if reply.send(next).is_ok() && nats.publish_with_headers("fd.in", headers(&node, next, "open"), Vec::new().into()).await.is_err() {
                            drop_all(&mut socks);
                        }
                    }
                }
                last_beat = Instant::now();
            }
            Some(up) = nats_events.recv() => {
                if up {
                    // Back: the leader drops what it still holds of this node's old sockets.
                    let _ = nats.publish_with_headers("fd.in", headers(&node, 0, "reset"), Vec::new().into()).await;
                } else {
                    // Frames may have been lost either way: start over with the sessions' resume.
                    leader = None;
                    drop_all(&mut socks);
                }
            }
            _ = tick.tick() => {
                // Refused (the reply dropped) after a wait: the client retries, maybe elsewhere.
                waiting.retain(|(since, _, _)| since.elapsed() < LEADER_TIMEOUT * 3);
                // A late heartbeat is no reason to drop every socket (under load that starts a
                // reconnect storm): the sockets go when another leader is heard or NATS drops.
                // Meanwhile new sockets wait for a heartbeat.
                if leader.is_some() && last_beat.elapsed() > LEADER_TIMEOUT {
                    warn!("no heartbeat from the leader for {:?}: new sockets wait", last_beat.elapsed());
                    leader = None;
                }
            }
        }
    }
    drop_all(&mut socks);
}

/// Waits for the leader lock; returns the connection that holds it (the lock lives as long as
/// it does) and a receiver that fires when that connection ends.
pub(crate) async fn acquire(url: &str, node: &str) -> (tokio_postgres::Client, oneshot::Receiver<()>) {
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                let (dead_tx, dead_rx) = oneshot::channel();
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        warn!("leader lock connection: {e}");
                    }
                    let _ = dead_tx.send(());
                });
                let mut dead_rx = dead_rx;
                loop {
                    match client.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK]).await {
                        Ok(row) if row.get::<_, bool>(0) => {
                            info!(%node, "this node leads");
                            return (client, dead_rx);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            warn!("trying the leader lock: {e}");
                            break;
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(TRY_LOCK) => {}
                        _ = &mut dead_rx => break,
                    }
                }
            }
            Err(e) => warn!("PostgreSQL at {url}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The leader's side of the bus: sockets of every gateway become broker connections. It never
/// waits for the broker (whose task keeps the socket-to-connection map), so a burst of opens
/// cannot back up the subscription until NATS drops messages.
pub(crate) async fn inbound(nats: async_nats::Client, tx: mpsc::UnboundedSender<Input>, low_water: usize) {
    let Ok(mut sub) = nats.subscribe("fd.in").await else {
        warn!("the leader cannot subscribe on NATS");
        return;
    };
    while let Some(m) = sub.next().await {
        let h = m.headers.as_ref();
        let (Some(node), Some(sock), Some(kind)) = (header(h, "n"), header(h, "s").and_then(|s| s.parse::<u64>().ok()), header(h, "k")) else {
            continue;
        };
        let node = node.to_owned();
        let input = match kind {
            "open" => {
                let (otx, orx) = mpsc::unbounded_channel();
                let q = Arc::new(OutQueue { bytes: AtomicUsize::new(0), paused: AtomicBool::new(false), low: low_water });
                tokio::spawn(remote_writer(orx, nats.clone(), node.clone(), sock, q.clone()));
                Input::RemoteOpen(node, sock, ConnOut { tx: otx, q })
            }
            "frame" => Input::RemoteFrame(node, sock, m.payload.to_vec()),
            "writable" => Input::RemoteWritable(node, sock),
            "closed" => Input::RemoteClosed(node, sock),
            "reset" => Input::RemoteReset(node),
            _ => continue,
        };
        if tx.send(input).is_err() {
            break;
        }
    }
}

/// One remote connection's writer on the leader: frames go to the gateway that holds the socket,
/// in order.
async fn remote_writer(mut rx: mpsc::UnboundedReceiver<Out>, nats: async_nats::Client, node: String, sock: u64, q: Arc<OutQueue>) {
    let subject = format!("fd.out.{node}");
    while let Some(o) = rx.recv().await {
        match o {
            Out::Frame(f) => {
                let len = f.len();
                let _ = nats.publish_with_headers(subject.clone(), headers(&node, sock, "frame"), f.into()).await;
                q.bytes.fetch_sub(len, Ordering::SeqCst);
            }
            Out::Close => {
                let mut h = headers(&node, sock, "frame");
                h.insert("c", "1");
                let _ = nats.publish_with_headers(subject.clone(), h, Vec::new().into()).await;
                break;
            }
        }
    }
}

/// The leader's heartbeat, until the task is aborted.
pub(crate) async fn heartbeat(nats: async_nats::Client, node: String, epoch: u64) {
    let mut t = tokio::time::interval(HEARTBEAT);
    loop {
        t.tick().await;
        let _ = nats.publish("fd.leader", format!("{node} {epoch}").into()).await;
        let _ = nats.flush().await;
    }
}
