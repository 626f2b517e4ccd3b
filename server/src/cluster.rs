//! Several nodes, one broker. Every node accepts sockets and passes their frames over NATS (it is a
//! *gateway*); the node that holds a PostgreSQL advisory lock runs the broker on the shared
//! database (the *leader*) and answers through NATS. When the leader dies its lock goes with its
//! database connection, another node takes it within a second or two and restores every session
//! from PostgreSQL, and the gateways close their sockets so that clients and consoles resume on
//! the new leader — through any node. NATS delivers at most once; nothing depends on it delivering
//! more: a socket whose frames may have been lost is closed, and the session layer's resume
//! (requests resent, unacknowledged events replayed from the store) fills the gap.
//!
//! Subjects: `fd.in` (gateways to the leader, one message per socket frame, named in headers),
//! `fd.out.<node>` (the leader to one gateway: everything one flush owes that gateway's sockets in
//! one numbered message, each distinct frame once with the list of sockets it goes to — a status
//! change shared by 16,000 watchers on a node crosses NATS once), `fd.leader` (the leader's
//! heartbeat), `fd.ask` (files, visitors' identification and mail: [`asks`]), `fd.xmpp` and
//! `fd.xmpp.<node>` (XMPP sessions' requests and presence pushes: [`xmpp`]). A gap in a gateway's
//! numbers means NATS dropped something: the gateway asks the
//! leader to resend from its window of recent messages (`resend`), and only if they cannot be had
//! drops its sockets, which resume from the broker.

pub(crate) mod asks;
mod resend;
pub(crate) mod xmpp;

use crate::pg_store::LeaderEpoch;
use resend::{Reorder, Window, Windows};
use crate::server::{ConnOut, Input, OutQueue};
use frontdesk_core::broker::{Broker, ConnId, Transmit};
use async_nats::HeaderMap;
use bytes::Bytes;
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

fn headers(node: &str, inc: u64, sock: u64, kind: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("n", node);
    h.insert("r", inc.to_string().as_str());
    h.insert("s", sock.to_string().as_str());
    h.insert("k", kind);
    h
}

/// A fresh name for this gateway's stream of sockets: what the leader sent for an older one is
/// ignored, so a gateway that started over never mistakes stale frames for its new sockets'.
fn incarnation() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 40)
}

/// The headers every `fd.out` message to a gateway incarnation carries (the leader's epoch, the
/// incarnation), with `(key, number)` naming what it is: `q` a numbered message, `t` the last number,
/// `g` the first one gone.
fn out_headers(epoch: u64, inc: u64, key: &'static str, n: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("e", epoch.to_string().as_str());
    h.insert("r", inc.to_string().as_str());
    h.insert(key, n.to_string().as_str());
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
                    // Messages were dropped on this side: the sequence numbers on fd.out catch
                    // it for frames; say so for everything else.
                    async_nats::Event::SlowConsumer(sid) => warn!(sid, "NATS dropped messages: this client's subscription is a slow consumer"),
                    async_nats::Event::ServerError(e) => warn!("NATS server error: {e}"),
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
pub(crate) struct Leader {
    node: String,
    pub(crate) epoch: u64,
}

impl Leader {
    /// A heartbeat's payload, `<node> <epoch>` (see [`heartbeat`]).
    pub(crate) fn from_beat(payload: &[u8]) -> Option<Leader> {
        let (n, e) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
        Some(Leader { node: n.to_owned(), epoch: e.parse().unwrap_or(0) })
    }
}

/// The gateway: the node's sockets, passed to whichever node leads.
/// Heartbeats travel on `control`, a NATS connection of their own, so they never queue behind a
/// burst of frames.
/// A socket whose queue passes `high` bytes is reported `paused` so the leader holds its session's
/// events; the connection's writer reports it drained (`writable`) below the low-water mark.
pub(crate) async fn gateway(mut rx: mpsc::UnboundedReceiver<Input>, nats: async_nats::Client, control: async_nats::Client, mut nats_events: mpsc::UnboundedReceiver<bool>, node: String, high: usize) {
    let mut socks: HashMap<u64, ConnOut> = HashMap::new();
    let mut next: u64 = 0;
    let (mut outs, mut beats) = match (nats.subscribe(format!("fd.out.{node}")).await, control.subscribe("fd.leader").await) {
        (Ok(o), Ok(b)) => (o, b),
        _ => {
            warn!("gateway cannot subscribe on NATS; no sockets are served");
            return;
        }
    };
    // Every message to the leader names this incarnation; the leader numbers its answers to it.
    let mut inc = incarnation();
    let mut seq = Reorder::default();
    // A leader still holding sockets of this node from before (this node restarted) drops them.
    let _ = nats.publish_with_headers("fd.in", headers(&node, inc, 0, "reset"), Vec::new().into()).await;
    let mut leader: Option<Leader> = None;
    let mut last_leader: Option<Leader> = None;
    let mut last_beat = Instant::now();
    // Whether the data connection is up. The heartbeat comes on the control connection, which may
    // reconnect first: a socket opened then would be announced under the old incarnation, which the
    // reset sent on reconnection makes the leader drop, and the socket would wait forever.
    let mut data_up = true;
    // Sockets that came while nobody led: admitted when a leader is heard, refused after a while.
    let mut waiting: Vec<(Instant, ConnOut, oneshot::Sender<ConnId>)> = vec![];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (mut received, mut delivered, mut gaps, mut resent, mut repaired) = (0u64, 0u64, 0u64, 0u64, 0u64);
    // Back-pressure: sockets to report paused, how often that happened, and the most bytes one
    // socket's queue ever held here.
    let (mut to_pause, mut pauses, mut peak_queued): (Vec<u64>, u64, usize) = (vec![], 0, 0);
    // A batch that did not parse, to be handled like a lost message.
    let mut bad: Option<String> = None;
    let mut logged = Instant::now();
    let drop_all = |socks: &mut HashMap<u64, ConnOut>| {
        // Clients and consoles come back and resume on the leader there is now.
        for (_, out) in socks.drain() {
            out.close();
        }
    };
    loop {
        // A gap seen: ask the leader for what is missing; if it cannot be had, start over.
        let now = Instant::now();
        if let Some((from, to)) = seq.poll_ask(now) {
            let _ = nats.publish_with_headers("fd.in", headers(&node, inc, 0, "resend"), format!("{from} {to}").into()).await;
        }
        if let Some(why) = bad.take().or_else(|| seq.poll_lost(now)) {
            // What was lost cannot be had again, so every socket of this node starts over and
            // resumes from the broker, which holds every event a session has not acknowledged.
            gaps += 1;
            warn!(sockets = socks.len(), gaps, "fd.out.{node}: {why}: dropping this node's sockets so they resume");
            drop_all(&mut socks);
            inc = incarnation();
            seq.reset();
            let _ = nats.publish_with_headers("fd.in", headers(&node, inc, 0, "reset"), Vec::new().into()).await;
        }
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
                    Input::Frame(s, data) => {
                        // Taken: the leader bounds what it answers by its own queue for the socket.
                        if let Some(o) = socks.get(&s) {
                            o.consumed();
                        }
                        (s, "frame", data)
                    }
                    Input::Writable(s) => (s, "writable", vec![]),
                    Input::Shed(s, frame) => {
                        if let Some(out) = socks.remove(&s) {
                            out.send(frame);
                            out.close();
                        }
                        (s, "closed", vec![])
                    }
                    Input::Closed(s) => {
                        socks.remove(&s);
                        (s, "closed", vec![])
                    }
                    // Asked of the leader's mailroom: the node's SMTP listener waits for its commit.
                    Input::Mail(m) => {
                        tokio::spawn(asks::mail(nats.clone(), m));
                        continue;
                    }
                    // The dialer lives with the broker, never on a gateway.
                    Input::Dial(_) => continue,
                    // Asked of the leader's broker in tasks of their own: a file must not hold up frames.
                    Input::Attach(a) => {
                        tokio::spawn(asks::attach(nats.clone(), *a));
                        continue;
                    }
                    Input::Adopt(a) => {
                        let (visitor, client, reply) = *a;
                        tokio::spawn(asks::adopt(nats.clone(), visitor, client, reply));
                        continue;
                    }
                    // The leader's own inputs, never a gateway's.
                    Input::RemoteOpen(..)
                    | Input::RemoteFrame(..)
                    | Input::RemoteWritable(..)
                    | Input::RemotePaused(..)
                    | Input::RemoteClosed(..)
                    | Input::RemoteReset(..) => continue,
                };
                if nats.publish_with_headers("fd.in", headers(&node, inc, sock, kind), data.into()).await.is_err() {
                    warn!("publishing on fd.in failed: this node's sockets resume");
                    drop_all(&mut socks);
                }
            }
            m = outs.next() => {
                let Some(m) = m else { break };
                let h = m.headers.as_ref();
                let num = |k| header(h, k).and_then(|v| v.parse::<u64>().ok());
                let (Some(e), Some(r)) = (num("e"), num("r")) else { continue };
                // For sockets of an incarnation this node has left behind.
                if r != inc {
                    continue;
                }
                if let Some(first) = num("g") {
                    // The leader's answer to a resend: it no longer has `first`.
                    seq.gone(e, first);
                } else if let Some(last) = num("t") {
                    // The leader fell idle after message `last`.
                    let was_waiting = seq.waiting();
                    seq.tail(e, last, Instant::now());
                    if !was_waiting && seq.waiting() {
                        info!(last, "fd.out.{node}: the leader's last number shows messages missing at the end");
                    }
                } else if let Some(q) = num("q") {
                    received += 1;
                    resent += u64::from(header(h, "x").is_some());
                    let was_waiting = seq.waiting();
                    for payload in seq.receive(e, q, m.payload.clone(), Instant::now()) {
                        match decode_out(&payload) {
                            Ok(entries) => {
                                for en in entries {
                                    for s in en.socks {
                                        let Some(out) = socks.get(&s) else { continue };
                                        if !en.frame.is_empty() {
                                            delivered += 1;
                                            let queued = out.send(en.frame.clone());
                                            peak_queued = peak_queued.max(queued);
                                            // Above the mark the leader holds this session's events
                                            // until the writer drains it (it then says `writable`).
                                            // The writer may have drained it meanwhile without seeing the pause.
                                            if queued > high
                                                && !out.q.paused.swap(true, Ordering::SeqCst)
                                                && !(out.q.bytes.load(Ordering::SeqCst) <= out.q.low && out.q.paused.swap(false, Ordering::SeqCst))
                                            {
                                                to_pause.push(s);
                                            }
                                        }
                                        if en.close {
                                            out.close();
                                            socks.remove(&s);
                                        }
                                    }
                                }
                            }
                            Err(e) => {
                                // What the rest of it owed is unknown: like a lost message.
                                bad = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    for s in to_pause.drain(..) {
                        pauses += 1;
                        tracing::debug!(sock = s, "fd.out.{node}: socket above the high-water mark: the leader holds its events");
                        let _ = nats.publish_with_headers("fd.in", headers(&node, inc, s, "paused"), Vec::new().into()).await;
                    }
                    if was_waiting && !seq.waiting() && bad.is_none() {
                        repaired += 1;
                        info!(repaired, "fd.out.{node}: a gap was repaired from the leader's resend window, no socket dropped");
                    }
                }
            }
            b = beats.next() => {
                let Some(b) = b else { break };
                let Some(now) = Leader::from_beat(&b.payload) else { continue };
                if !data_up {
                    continue;
                }
                // A deposed leader may beat until it notices: while the current one is heard, an
                // older epoch is no reason to drop anything.
                if leader.as_ref().is_some_and(|l| now.epoch < l.epoch) {
                    continue;
                }
                if leader.as_ref() != Some(&now) {
                    // Against the last leader heard, even one whose beats stopped: this node's
                    // sockets were opened there, and the new one knows nothing of them.
                    if last_leader.as_ref().is_some_and(|l| *l != now) {
                        info!(node = %now.node, epoch = now.epoch, "a new leader: this node's sockets resume there");
                        drop_all(&mut socks);
                        if last_leader.as_ref().is_some_and(|l| now.epoch < l.epoch) {
                            // Epochs started over (a new database): number its messages afresh.
                            seq.reset();
                        }
                    }
                    last_leader = Some(now.clone());
                    leader = Some(now);
                    for (_, out, reply) in waiting.drain(..) {
                        next += 1;
                        socks.insert(next, out);
                        if reply.send(next).is_ok() && nats.publish_with_headers("fd.in", headers(&node, inc, next, "open"), Vec::new().into()).await.is_err() {
                            drop_all(&mut socks);
                        }
                    }
                }
                last_beat = Instant::now();
            }
            Some(up) = nats_events.recv() => {
                data_up = up;
                if up {
                    // Back as a new incarnation: the leader drops what it still holds of the old one.
                    inc = incarnation();
                    seq.reset();
                    let _ = nats.publish_with_headers("fd.in", headers(&node, inc, 0, "reset"), Vec::new().into()).await;
                } else {
                    // Frames may have been lost either way: start over with the sessions' resume.
                    warn!(sockets = socks.len(), "NATS connection lost: this node's sockets resume");
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
                if received > 0 && logged.elapsed() >= Duration::from_secs(5) {
                    logged = Instant::now();
                    info!(messages = received, deliveries = delivered, resent, repaired, gaps, pauses, peak_queued, sockets = socks.len(), "fd.out.{node} received");
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
pub(crate) async fn inbound(nats: async_nats::Client, tx: mpsc::UnboundedSender<Input>, windows: Windows, epoch: u64) {
    let Ok(mut sub) = nats.subscribe("fd.in").await else {
        warn!("the leader cannot subscribe on NATS");
        return;
    };
    while let Some(m) = sub.next().await {
        let h = m.headers.as_ref();
        let num = |k| header(h, k).and_then(|v| v.parse::<u64>().ok());
        let (Some(node), Some(inc), Some(sock), Some(kind)) = (header(h, "n"), num("r"), num("s"), header(h, "k")) else {
            continue;
        };
        let node = node.to_owned();
        let input = match kind {
            "open" => Input::RemoteOpen(node, inc, sock),
            "frame" => Input::RemoteFrame(node, sock, m.payload.to_vec()),
            "paused" => Input::RemotePaused(node, sock, true),
            "writable" => Input::RemotePaused(node, sock, false),
            "closed" => Input::RemoteClosed(node, sock),
            "reset" => Input::RemoteReset(node, inc),
            "resend" => {
                // Answered here, from the writers' windows: the broker is not involved.
                resend(&nats, &windows, epoch, &node, inc, &m.payload).await;
                continue;
            }
            _ => continue,
        };
        if tx.send(input).is_err() {
            break;
        }
    }
}

/// Answers a gateway's request (payload `from to`) for messages it missed: each one still in the
/// window again, marked `x`, then `g` (gone) with the first it no longer has, if any.
async fn resend(nats: &async_nats::Client, windows: &Windows, epoch: u64, node: &str, inc: u64, payload: &[u8]) {
    let range = std::str::from_utf8(payload).ok().and_then(|p| p.split_once(' ')).and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let Some((from, to)) = range.filter(|(a, b)| a <= b) else { return };
    let window = windows.lock().expect("windows").get(node).cloned();
    let (msgs, missing) = match window {
        Some(w) => {
            let w = w.lock().expect("window");
            if w.inc == inc {
                w.get(from, to)
            } else {
                (vec![], Some(from))
            }
        }
        None => (vec![], Some(from)),
    };
    let subject = format!("fd.out.{node}");
    let n = msgs.len();
    for (q, p) in msgs {
        let mut h = out_headers(epoch, inc, "q", q);
        h.insert("x", "1");
        let _ = nats.publish_with_headers(subject.clone(), h, p).await;
    }
    if let Some(first) = missing {
        let _ = nats.publish_with_headers(subject.clone(), out_headers(epoch, inc, "g", first), Bytes::new()).await;
    }
    info!(%node, from, to, resent = n, missing = ?missing, "fd.out resend asked");
}

/// The leader's heartbeat, until the task is aborted. A beat goes out on `control` only after a
/// round trip on `data`, the connection that subscribes `fd.in`: after NATS restarts, gateways take
/// the beat as "send your sockets' frames", and frames published before the leader's subscription is
/// back on the server are dropped (a socket opened then waited forever for its welcome).
pub(crate) async fn heartbeat(control: async_nats::Client, data: async_nats::Client, node: String, epoch: u64) {
    let mut t = tokio::time::interval(HEARTBEAT);
    loop {
        t.tick().await;
        if data.flush().await.is_err() {
            continue;
        }
        let _ = control.publish("fd.leader", format!("{node} {epoch}").into()).await;
        let _ = control.flush().await;
    }
}

/// One distinct frame of an `fd.out` batch and the sockets it goes to, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutEntry {
    /// The gateway's socket ids.
    pub socks: Vec<u64>,
    /// The frame (empty for a bare close); shared with the batch's payload when decoded.
    pub frame: Bytes,
    /// Close these sockets after the frame.
    pub close: bool,
}

/// An `fd.out` payload that does not parse: the gateway treats it like a lost message.
#[derive(Debug, thiserror::Error)]
#[error("malformed fd.out batch at byte {0}")]
pub struct BadBatch(pub usize);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Appends one entry: varint (sockets << 1 | close), varint frame length, the socket ids as
/// varints (small integers, so mostly two or three bytes), then the frame.
fn encode_entry(out: &mut Vec<u8>, socks: &[u64], frame: &[u8], close: bool) {
    put_varint(out, (socks.len() as u64) << 1 | u64::from(close));
    put_varint(out, frame.len() as u64);
    for s in socks {
        put_varint(out, *s);
    }
    out.extend_from_slice(frame);
}

/// Encodes a batch as `fd.out` carries it (see `decode_out`).
pub fn encode_out(entries: &[OutEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        encode_entry(&mut out, &e.socks, &e.frame, e.close);
    }
    out
}

/// Reads an `fd.out` payload; frames are slices of it, not copies, so one frame written to many
/// local sockets stays one allocation.
pub fn decode_out(payload: &Bytes) -> Result<Vec<OutEntry>, BadBatch> {
    let b = &payload[..];
    let mut at = 0;
    let mut entries = vec![];
    while at < b.len() {
        let head = get_varint(b, &mut at).ok_or(BadBatch(at))?;
        let len = get_varint(b, &mut at).ok_or(BadBatch(at))? as usize;
        let n = (head >> 1) as usize;
        if n > b.len() {
            return Err(BadBatch(at));
        }
        let mut socks = Vec::with_capacity(n);
        for _ in 0..n {
            socks.push(get_varint(b, &mut at).ok_or(BadBatch(at))?);
        }
        let end = at.checked_add(len).filter(|e| *e <= b.len()).ok_or(BadBatch(at))?;
        entries.push(OutEntry { socks, frame: payload.slice(at..end), close: head & 1 == 1 });
        at = end;
    }
    Ok(entries)
}

/// Most payload bytes in one `fd.out` message (NATS refuses more than its `max_payload`, 1 MiB by
/// default; a flush that owes more goes as several numbered messages).
const MAX_OUT_MESSAGE: usize = 512 << 10;

/// A remote socket as the leader's broker task knows it.
struct RemoteSock {
    node: String,
    sock: u64,
    q: Arc<OutQueue>,
    /// Its gateway's queue is above the high-water mark: its events wait until it drains.
    held: bool,
}

/// What one flush owes one socket so far: the last entry it is in (a later frame may only join
/// entries after it, so its frames stay in order) and the bytes to count off once published.
struct Owed {
    last: Option<usize>,
    bytes: usize,
    q: Arc<OutQueue>,
}

/// What one flush owes one gateway.
#[derive(Default)]
struct Pending {
    entries: Vec<OutEntry>,
    /// Entries of shared frames by (pointer, length): a frame the broker encoded once for many
    /// watchers joins one entry.
    by_frame: HashMap<(usize, usize), usize>,
    owed: HashMap<u64, Owed>,
}

impl Pending {
    /// Adds one frame for a socket. It joins the entry that already carries the same frame unless
    /// this socket had a later entry since (then it would overtake that one): a run of one change to
    /// many watchers is one entry however the broker interleaves it with answers to others.
    fn add(&mut self, sock: u64, q: &Arc<OutQueue>, data: Bytes, close: bool) {
        let len = data.len();
        let owed = self.owed.entry(sock).or_insert_with(|| Owed { last: None, bytes: 0, q: q.clone() });
        owed.bytes += len;
        let key = (data.as_ptr() as usize, len);
        match self.by_frame.get(&key) {
            Some(&i) if !close && len > 0 && owed.last.is_none_or(|l| l < i) => {
                self.entries[i].socks.push(sock);
                owed.last = Some(i);
            }
            _ => {
                let i = self.entries.len();
                self.entries.push(OutEntry { socks: vec![sock], frame: data, close });
                if !close && len > 0 {
                    self.by_frame.insert(key, i);
                }
                owed.last = Some(i);
            }
        }
    }
}

/// The leader's line to one gateway incarnation.
struct Link {
    inc: u64,
    tx: mpsc::UnboundedSender<Batch>,
    pending: Pending,
}

/// One flush's frames for one gateway, in order, with the bytes each socket's queue gets back
/// once they are on NATS.
struct Batch {
    entries: Vec<OutEntry>,
    owed: Vec<(u64, usize, Arc<OutQueue>)>,
}

/// The broker task's end of every remote socket: frames of one flush for one gateway leave as one
/// batch, each distinct frame once.
pub(crate) struct Outbox {
    nats: Option<async_nats::Client>,
    inputs: Option<mpsc::UnboundedSender<Input>>,
    epoch: u64,
    /// The leader's fencing token: once deposed, nothing more leaves.
    fence: Option<LeaderEpoch>,
    low_water: usize,
    socks: HashMap<ConnId, RemoteSock>,
    by_sock: HashMap<(String, u64), ConnId>,
    links: HashMap<String, Link>,
    /// What each gateway's writer published lately, for resends.
    windows: Windows,
    /// Times a gateway asked to hold a session's events (its queue above the high-water mark), and
    /// the count at the last log line.
    held_total: u64,
    held_logged: (u64, Option<Instant>),
}

impl Outbox {
    /// No remote sockets (one node on its own).
    pub(crate) fn none() -> Outbox {
        Outbox { nats: None, inputs: None, epoch: 0, fence: None, low_water: 0, socks: HashMap::new(), by_sock: HashMap::new(), links: HashMap::new(), windows: Windows::default(), held_total: 0, held_logged: (0, None) }
    }

    /// The leader's outbox: batches go out on `nats`, numbered under `fence`'s epoch; a drained
    /// queue is reported on `inputs`.
    pub(crate) fn new(nats: async_nats::Client, inputs: mpsc::UnboundedSender<Input>, fence: LeaderEpoch, low_water: usize) -> Outbox {
        Outbox { nats: Some(nats), inputs: Some(inputs), epoch: fence.epoch, fence: Some(fence), low_water, ..Outbox::none() }
    }

    /// The gateways' resend windows, for the `fd.in` reader to answer from.
    pub(crate) fn windows(&self) -> Windows {
        self.windows.clone()
    }

    /// The broker connection of a gateway's socket.
    pub(crate) fn conn(&self, node: &str, sock: u64) -> Option<ConnId> {
        self.by_sock.get(&(node.to_owned(), sock)).copied()
    }

    /// A gateway's socket opened as broker connection `id`. A new incarnation of that gateway first
    /// ends every connection of its old one: they are returned for the broker to disconnect.
    pub(crate) fn open(&mut self, node: String, inc: u64, sock: u64, id: ConnId) -> Vec<ConnId> {
        let gone = self.link(&node, inc);
        let q = Arc::new(OutQueue { bytes: AtomicUsize::new(0), paused: AtomicBool::new(false), low: self.low_water });
        self.by_sock.insert((node.clone(), sock), id);
        self.socks.insert(id, RemoteSock { node, sock, q, held: false });
        gone
    }

    /// The line to a gateway incarnation, created if new; returns the connections of an older one.
    fn link(&mut self, node: &str, inc: u64) -> Vec<ConnId> {
        if self.links.get(node).is_some_and(|l| l.inc == inc) {
            return vec![];
        }
        let gone = self.reset(node, inc);
        let (tx, rx) = mpsc::unbounded_channel();
        let window = Arc::new(std::sync::Mutex::new(Window::new(inc, resend::WINDOW_MESSAGES, resend::WINDOW_BYTES)));
        self.windows.lock().expect("windows").insert(node.to_owned(), window.clone());
        if let (Some(nats), Some(inputs)) = (&self.nats, &self.inputs) {
            tokio::spawn(node_writer(rx, nats.clone(), inputs.clone(), node.to_owned(), inc, self.epoch, window));
        }
        self.links.insert(node.to_owned(), Link { inc, tx, pending: Pending::default() });
        gone
    }

    /// The leader's own queue for a gateway's socket drained: its connection, to make writable
    /// unless its gateway still holds it.
    pub(crate) fn drained(&self, node: &str, sock: u64) -> Option<ConnId> {
        let id = self.conn(node, sock)?;
        (!self.socks.get(&id)?.held).then_some(id)
    }

    /// A gateway's queue for its socket went above its high-water mark (`paused`) or drained: the
    /// connection and whether the broker may now send it events (a drained gateway queue with the
    /// leader's own still above its mark waits for that one).
    pub(crate) fn gateway_paused(&mut self, node: &str, sock: u64, paused: bool) -> Option<(ConnId, bool)> {
        let id = self.conn(node, sock)?;
        let r = self.socks.get_mut(&id)?;
        r.held = paused;
        if paused {
            self.held_total += 1;
            return Some((id, false));
        }
        (!r.q.paused.load(Ordering::SeqCst)).then_some((id, true))
    }

    /// A gateway's socket closed: its broker connection, if it had one.
    pub(crate) fn close(&mut self, node: &str, sock: u64) -> Option<ConnId> {
        let id = self.by_sock.remove(&(node.to_owned(), sock))?;
        self.socks.remove(&id);
        Some(id)
    }

    /// A gateway started over as incarnation `inc`: every connection of an older one, for the broker
    /// to disconnect.
    pub(crate) fn reset(&mut self, node: &str, inc: u64) -> Vec<ConnId> {
        if self.links.get(node).is_some_and(|l| l.inc == inc) {
            return vec![];
        }
        // Its writer ends once it has published what it holds (which the gateway ignores).
        self.links.remove(node);
        self.windows.lock().expect("windows").remove(node);
        let gone: Vec<ConnId> = self.socks.iter().filter(|(_, r)| r.node == node).map(|(id, _)| *id).collect();
        for id in &gone {
            if let Some(r) = self.socks.remove(id) {
                self.by_sock.remove(&(r.node, r.sock));
            }
        }
        gone
    }

    /// Queues a broker transmit for a remote socket, pausing the connection's events above `high`
    /// bytes as a local socket's are; hands back a transmit that is not for a remote socket.
    pub(crate) fn push(&mut self, broker: &mut Broker, t: Transmit, high: usize) -> Option<Transmit> {
        let Some(r) = self.socks.get(&t.conn) else { return Some(t) };
        let Transmit { conn, data, close } = t;
        // A socket always has its node's line; without one the frame has nowhere to go.
        let link = self.links.get_mut(&r.node)?;
        let len = data.len();
        let queued = r.q.bytes.fetch_add(len, Ordering::SeqCst) + len;
        link.pending.add(r.sock, &r.q, data, close);
        if close {
            let (node, sock) = (r.node.clone(), r.sock);
            self.socks.remove(&conn);
            self.by_sock.remove(&(node, sock));
            return None;
        }
        // Above the high-water mark the broker holds this connection's events until the writer has
        // handed its bytes to NATS.
        if queued > high && !r.q.paused.swap(true, Ordering::SeqCst) {
            broker.set_writable(conn, false);
            if r.q.bytes.load(Ordering::SeqCst) <= r.q.low && r.q.paused.swap(false, Ordering::SeqCst) && !r.held {
                broker.set_writable(conn, true);
            }
        }
        None
    }

    /// Hands each gateway's share of this flush to its writer.
    pub(crate) fn send(&mut self) {
        if self.held_total != self.held_logged.0 && self.held_logged.1.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            let held = self.socks.values().filter(|r| r.held).count();
            info!(held, held_total = self.held_total, "sessions held for their gateways' back-pressure");
            self.held_logged = (self.held_total, Some(Instant::now()));
        }
        if self.fence.as_ref().is_some_and(LeaderEpoch::is_deposed) {
            // These frames answer a commit the fence refused: none of it happened, so none may
            // be told. The clients resend on the new leader.
            for link in self.links.values_mut() {
                link.pending = Pending::default();
            }
            return;
        }
        for link in self.links.values_mut() {
            if link.pending.entries.is_empty() {
                continue;
            }
            let p = &mut link.pending;
            p.by_frame.clear();
            let owed = p.owed.drain().map(|(s, o)| (s, o.bytes, o.q)).collect();
            let _ = link.tx.send(Batch { entries: std::mem::take(&mut p.entries), owed });
        }
    }

    /// Closes every remote socket (the broker stops).
    pub(crate) fn close_all(&mut self) {
        let ids: Vec<ConnId> = self.socks.keys().copied().collect();
        for id in ids {
            let Some(r) = self.socks.remove(&id) else { continue };
            if let Some(link) = self.links.get_mut(&r.node) {
                link.pending.entries.push(OutEntry { socks: vec![r.sock], frame: Bytes::new(), close: true });
            }
        }
        self.by_sock.clear();
        self.send();
    }
}

/// How much a leader has put on `fd.out` for one gateway, for the log (`fd.out` totals).
#[derive(Default)]
struct OutStats {
    messages: u64,
    bytes: u64,
    frames: u64,
    deliveries: u64,
}

/// The leader's writer for one gateway incarnation: batches in order, numbered, as few messages as
/// fit; then each socket's queue is counted down and a paused one reported drained.
async fn node_writer(
    mut rx: mpsc::UnboundedReceiver<Batch>,
    nats: async_nats::Client,
    inputs: mpsc::UnboundedSender<Input>,
    node: String,
    inc: u64,
    epoch: u64,
    window: Arc<std::sync::Mutex<Window>>,
) {
    // For the tests of the resend window only (`<node>:<number>[,<number>…]`): those messages to
    // each incarnation of that gateway are kept in the window but never published, as if NATS had
    // dropped them.
    let skip: Vec<u64> = std::env::var("FRONTDESK_TEST_DROP_FD_OUT")
        .ok()
        .and_then(|v| v.split_once(':').filter(|(n, _)| *n == node).map(|(_, q)| q.split(',').filter_map(|q| q.parse().ok()).collect()))
        .unwrap_or_default();
    let subject = format!("fd.out.{node}");
    let limit = (nats.server_info().max_payload.saturating_sub(4096)).clamp(16 << 10, MAX_OUT_MESSAGE);
    let mut seq = 0u64;
    let mut stats = OutStats::default();
    let mut logged = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let publish = |buf: &mut Vec<u8>, seq: &mut u64, stats: &mut OutStats| {
        *seq += 1;
        let h = out_headers(epoch, inc, "q", *seq);
        stats.messages += 1;
        stats.bytes += buf.len() as u64;
        let payload = Bytes::from(std::mem::take(buf));
        window.lock().expect("window").push(*seq, payload.clone());
        (*seq, h, payload)
    };
    let mut idle = resend::TAIL_AFTER;
    loop {
        let first = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(_) => {
                // Idle: the last number, so a gateway that lost the last messages asks for them.
                if seq > 0 {
                    let _ = nats.publish_with_headers(subject.clone(), out_headers(epoch, inc, "t", seq), Bytes::new()).await;
                }
                idle = resend::TAIL_AGAIN;
                continue;
            }
        };
        idle = resend::TAIL_AFTER;
        // Everything already waiting goes in the same messages, still in order.
        let mut batches = vec![first];
        while let Ok(b) = rx.try_recv() {
            batches.push(b);
        }
        let mut out = vec![];
        for b in &batches {
            for e in &b.entries {
                stats.frames += 1;
                stats.deliveries += e.socks.len() as u64;
                // A socket list too long for one message is split (each part still in order).
                let per = ((limit.saturating_sub(e.frame.len())) / 10).max(1);
                for part in e.socks.chunks(per) {
                    if !buf.is_empty() && buf.len() + e.frame.len() + part.len() * 10 + 20 > limit {
                        out.push(publish(&mut buf, &mut seq, &mut stats));
                    }
                    encode_entry(&mut buf, part, &e.frame, e.close);
                }
            }
        }
        if !buf.is_empty() {
            out.push(publish(&mut buf, &mut seq, &mut stats));
        }
        for (q, h, payload) in out {
            if skip.contains(&q) {
                warn!(%node, "test hook FRONTDESK_TEST_DROP_FD_OUT: fd.out message {q} not published");
                continue;
            }
            if let Err(e) = nats.publish_with_headers(subject.clone(), h, payload).await {
                // The gateway sees the gap and asks for a resend.
                warn!(%node, "fd.out publish failed: {e}");
            }
        }
        for b in batches {
            for (sock, len, q) in b.owed {
                let left = q.bytes.fetch_sub(len, Ordering::SeqCst).saturating_sub(len);
                if left <= q.low && q.paused.swap(false, Ordering::SeqCst) {
                    let _ = inputs.send(Input::RemoteWritable(node.clone(), sock));
                }
            }
        }
        if logged.elapsed() >= Duration::from_secs(5) {
            logged = Instant::now();
            info!(%node, messages = stats.messages, bytes = stats.bytes, frames = stats.frames, deliveries = stats.deliveries, "fd.out totals");
        }
    }
    info!(%node, messages = stats.messages, bytes = stats.bytes, frames = stats.frames, deliveries = stats.deliveries, "fd.out totals (the gateway started over)");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Arc<OutQueue> {
        Arc::new(OutQueue { bytes: AtomicUsize::new(0), paused: AtomicBool::new(false), low: 0 })
    }

    /// Each socket's frames, in the order the gateway writes them.
    fn per_socket(entries: &[OutEntry]) -> HashMap<u64, Vec<(Bytes, bool)>> {
        let mut m: HashMap<u64, Vec<(Bytes, bool)>> = HashMap::new();
        for e in entries {
            for s in &e.socks {
                m.entry(*s).or_default().push((e.frame.clone(), e.close));
            }
        }
        m
    }

    #[test]
    fn a_batch_round_trips_and_garbage_is_refused() {
        let entries = vec![
            OutEntry { socks: vec![1, 300, 1 << 40], frame: Bytes::from_static(b"{\"t\":\"delta\"}"), close: false },
            OutEntry { socks: vec![7], frame: Bytes::new(), close: true },
        ];
        let wire = Bytes::from(encode_out(&entries));
        assert_eq!(decode_out(&wire).unwrap(), entries);
        assert!(decode_out(&wire.slice(..wire.len() - 1)).is_err());
        assert!(decode_out(&Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    #[test]
    fn shared_frames_are_grouped_and_every_socket_keeps_its_order() {
        let frames: Vec<Bytes> = (0..4).map(|i| Bytes::from(format!("shared frame {i}"))).collect();
        let q = queue();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut p = Pending::default();
            let mut want: HashMap<u64, Vec<(Bytes, bool)>> = HashMap::new();
            let mut closed = std::collections::HashSet::new();
            for _ in 0..60 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let sock = seed % 6;
                if closed.contains(&sock) {
                    continue;
                }
                // Shared frames (one allocation for many sockets), own answers, now and then a close.
                let (data, close) = match (seed >> 8) % 10 {
                    0..=5 => (frames[((seed >> 16) % 4) as usize].clone(), false),
                    6..=8 => (Bytes::from(format!("answer {seed}")), false),
                    _ => (Bytes::from_static(b"bye"), true),
                };
                if close {
                    closed.insert(sock);
                }
                want.entry(sock).or_default().push((data.clone(), close));
                p.add(sock, &q, data, close);
            }
            assert_eq!(per_socket(&p.entries), want);
        }
        // One change to many watchers between answers to some of them is one entry.
        let mut p = Pending::default();
        for s in 0..100 {
            p.add(s, &q, frames[0].clone(), false);
            if s % 10 == 0 {
                p.add(s, &q, Bytes::from(format!("answer {s}")), false);
            }
        }
        assert_eq!(p.entries.iter().filter(|e| e.frame == frames[0]).count(), 1);
        assert_eq!(p.entries[0].socks.len(), 100);
    }
}
