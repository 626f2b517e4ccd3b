//! The XMPP endpoint on a cluster node. An XMPP session talks to the broker through a handful of
//! requests (open, subscribe, fetch, status, unsubscribe, close) and gets presence pushes back; on
//! one node they cross a channel, here NATS: a node's *bridge* asks the leader on `fd.xmpp` and the
//! leader's side (`serve`) runs each request on its broker and publishes the pushes for a node's
//! sessions on `fd.xmpp.<node>`, numbered.
//!
//! Presence is state, not a log: what a watcher needs after a lost push or a new leader is the
//! current document, not the ones it missed. So the bridge keeps each session's subscriptions and,
//! when a number is skipped or another leader is heard, opens its sessions again on the leader there
//! is now and subscribes them again; each subscription's current document goes to the session as a
//! push (one the rules now refuse ends the subscription). The XMPP client keeps its stream and sees
//! at most a repeated presence. The leader forgets a node's watchers when that node comes back as a
//! new incarnation (it restarted), so none outlive the sessions that made them.

use super::asks::{unavailable, wrong_kind};
use crate::xmpp::{XmppPush, XmppRequest};
use frontdesk_core::monitor::presence::{PresenceDocument, Presentity};
use frontdesk_core::monitor::WatcherId;
use frontdesk_core::principal::Principal;
use frontdesk_core::protocol::{ErrorBody, ErrorCode};
use frontdesk_core::status::ClientStatus;
use frontdesk_core::ClientId;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// The subject the leader answers the bridges' requests on.
const SUBJECT: &str = "fd.xmpp";

/// How long a bridge waits for the leader's answer before the session is told the server is unavailable.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A bridge's request.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// A session authenticated on `node` (incarnation `inc`).
    Open { node: String, inc: u64, principal: Principal },
    /// Subscribe watcher under the presentity's access rules.
    Subscribe { node: String, watcher: WatcherId, principal: Principal, presentity: Presentity },
    /// End one subscription.
    Unsubscribe { node: String, watcher: WatcherId, presentity: Presentity },
    /// A one-off read.
    Fetch { principal: Principal, presentity: Presentity },
    /// A client's availability, as its XMPP presence says.
    Status { client: ClientId, status: ClientStatus },
    /// The session ended.
    Close { node: String, watcher: WatcherId, presentities: Vec<Presentity> },
}

/// The leader's answer.
#[derive(Debug, Serialize, Deserialize)]
enum Told {
    /// The leader's watcher id for the session, the roster, and the leader's epoch.
    Opened { watcher: WatcherId, roster: Vec<Presentity>, epoch: u64 },
    /// A document, or why not.
    Doc(Result<Box<PresenceDocument>, ErrorBody>),
    /// Done (requests without an answer of their own).
    Done,
}

/// One push on `fd.xmpp.<node>`: for the leader's watcher `watcher`, number `seq` of epoch `epoch`.
#[derive(Debug, Serialize, Deserialize)]
struct Push {
    epoch: u64,
    seq: u64,
    watcher: WatcherId,
    what: Pushed,
}

/// What a push carries.
#[derive(Debug, Serialize, Deserialize)]
enum Pushed {
    Presence(Box<PresenceDocument>),
    Ended(Presentity),
}

/// A document the leader answered, or why not.
fn doc(r: Result<Told, ErrorBody>) -> Result<PresenceDocument, ErrorBody> {
    match r? {
        Told::Doc(d) => d.map(|d| *d),
        _ => Err(wrong_kind()),
    }
}

async fn ask(nats: &async_nats::Client, what: &Ask) -> Result<Told, ErrorBody> {
    let payload = serde_json::to_vec(what).map_err(|e| unavailable(e.to_string()))?;
    let m = tokio::time::timeout(ASK_TIMEOUT, nats.request(SUBJECT, payload.into()))
        .await
        .map_err(|_| unavailable("no leader answered in time"))?
        .map_err(|e| unavailable(format!("no leader answered: {e}")))?;
    serde_json::from_slice(&m.payload).map_err(|e| unavailable(format!("the leader's answer: {e}")))
}

/// One XMPP session of this node, as the bridge keeps it.
struct Session {
    principal: Principal,
    out: mpsc::UnboundedSender<XmppPush>,
    subscribed: BTreeSet<Presentity>,
    /// The leader's watcher id for it (none while no leader has it open).
    remote: Option<WatcherId>,
}

/// The bridge's state: this node's sessions and what the leader calls them.
struct Bridge {
    nats: async_nats::Client,
    node: String,
    inc: u64,
    sessions: HashMap<WatcherId, Session>,
    by_remote: HashMap<WatcherId, WatcherId>,
    next: WatcherId,
    /// The leader's epoch and the next push number expected from it.
    expect: Option<(u64, u64)>,
    /// The leader's sessions are out of step with ours: open them all again.
    stale: bool,
    resyncs: u64,
}

impl Bridge {
    /// Opens `local` on the leader and subscribes it again to what it had; pushes each current document.
    async fn reopen(&mut self, local: WatcherId) -> Result<(), ErrorBody> {
        let Some((principal, subs)) = self.sessions.get(&local).map(|s| (s.principal.clone(), s.subscribed.clone())) else { return Ok(()) };
        let Told::Opened { watcher, epoch, .. } = ask(&self.nats, &Ask::Open { node: self.node.clone(), inc: self.inc, principal: principal.clone() }).await? else {
            return Err(wrong_kind());
        };
        self.heard(epoch);
        if let Some(old) = self.sessions.get_mut(&local).and_then(|s| s.remote.replace(watcher)) {
            self.by_remote.remove(&old);
        }
        self.by_remote.insert(watcher, local);
        for p in subs {
            let r = ask(&self.nats, &Ask::Subscribe { node: self.node.clone(), watcher, principal: principal.clone(), presentity: p.clone() }).await?;
            let Some(s) = self.sessions.get_mut(&local) else { return Ok(()) };
            match doc(Ok(r)) {
                Ok(d) => drop(s.out.send(XmppPush::Presence(Arc::new(d)))),
                Err(_) => {
                    s.subscribed.remove(&p);
                    let _ = s.out.send(XmppPush::Ended(p));
                }
            }
        }
        Ok(())
    }

    /// The leader of `epoch` answered or pushed: a newer one than before means every session again.
    fn heard(&mut self, epoch: u64) {
        match self.expect {
            Some((e, _)) if e >= epoch => {}
            Some(_) => {
                self.expect = Some((epoch, 1));
                self.stale = !self.sessions.is_empty();
            }
            None => self.expect = Some((epoch, 1)),
        }
    }

    /// Every session again on the leader there is now (a new leader, or a push lost).
    async fn resync(&mut self) {
        self.stale = false;
        self.resyncs += 1;
        let locals: Vec<WatcherId> = self.sessions.keys().copied().collect();
        info!(sessions = locals.len(), resyncs = self.resyncs, "fd.xmpp.{}: opening this node's XMPP sessions again on the leader", self.node);
        // A fresh incarnation: the leader forgets the watchers of the old one (lost pushes may
        // have been for them), and ours start over.
        self.inc = super::incarnation();
        self.by_remote.clear();
        for s in self.sessions.values_mut() {
            s.remote = None;
        }
        for l in locals {
            if let Err(e) = self.reopen(l).await {
                // No leader yet: tried again with the next heartbeat.
                warn!("fd.xmpp.{}: cannot open the XMPP sessions again yet: {}", self.node, e.message);
                self.stale = true;
                return;
            }
        }
    }

    async fn request(&mut self, r: XmppRequest) {
        match r {
            XmppRequest::Open { principal, out, reply } => {
                self.next += 1;
                let local = self.next;
                let r = ask(&self.nats, &Ask::Open { node: self.node.clone(), inc: self.inc, principal: principal.clone() }).await;
                match r {
                    Ok(Told::Opened { watcher, roster, epoch }) => {
                        self.heard(epoch);
                        self.sessions.insert(local, Session { principal, out, subscribed: BTreeSet::new(), remote: Some(watcher) });
                        self.by_remote.insert(watcher, local);
                        let _ = reply.send((local, roster));
                    }
                    // Dropping the reply tells the session the server is unavailable.
                    other => warn!("an XMPP session could not be opened on the leader: {other:?}"),
                }
            }
            XmppRequest::Subscribe { watcher, principal, presentity, reply } => {
                let Some(remote) = self.sessions.get(&watcher).and_then(|s| s.remote) else {
                    let _ = reply.send(Err(unavailable("no leader has this session open yet")));
                    return;
                };
                let r = doc(ask(&self.nats, &Ask::Subscribe { node: self.node.clone(), watcher: remote, principal, presentity: presentity.clone() }).await);
                if let (Ok(_), Some(s)) = (&r, self.sessions.get_mut(&watcher)) {
                    s.subscribed.insert(presentity);
                }
                let _ = reply.send(r);
            }
            XmppRequest::Unsubscribe { watcher, presentity } => {
                let Some(s) = self.sessions.get_mut(&watcher) else { return };
                s.subscribed.remove(&presentity);
                if let Some(remote) = s.remote {
                    let _ = ask(&self.nats, &Ask::Unsubscribe { node: self.node.clone(), watcher: remote, presentity }).await;
                }
            }
            XmppRequest::Fetch { principal, presentity, reply } => {
                let r = doc(ask(&self.nats, &Ask::Fetch { principal, presentity }).await);
                let _ = reply.send(r);
            }
            XmppRequest::Status { client, status } => {
                let _ = ask(&self.nats, &Ask::Status { client, status }).await;
            }
            XmppRequest::Close { watcher, .. } => {
                let Some(s) = self.sessions.remove(&watcher) else { return };
                if let Some(remote) = s.remote {
                    self.by_remote.remove(&remote);
                    let _ = ask(&self.nats, &Ask::Close { node: self.node.clone(), watcher: remote, presentities: s.subscribed.into_iter().collect() }).await;
                }
            }
        }
    }

    fn push(&mut self, p: Push) {
        let Some((epoch, next)) = self.expect else { return };
        if p.epoch < epoch {
            return;
        }
        if p.epoch > epoch {
            // A new leader: its watchers are not ours until we open them there.
            self.heard(p.epoch);
            return;
        }
        if p.seq != next {
            if p.seq > next {
                // The current documents replace what was lost; numbering goes on after this one.
                warn!("fd.xmpp.{}: pushes {next} to {} lost", self.node, p.seq - 1);
                self.expect = Some((epoch, p.seq + 1));
                self.stale = true;
            }
            return;
        }
        self.expect = Some((epoch, next + 1));
        let Some(local) = self.by_remote.get(&p.watcher) else { return };
        let Some(s) = self.sessions.get_mut(local) else { return };
        match p.what {
            Pushed::Presence(doc) => drop(s.out.send(XmppPush::Presence(Arc::new(*doc)))),
            Pushed::Ended(pr) => {
                s.subscribed.remove(&pr);
                let _ = s.out.send(XmppPush::Ended(pr));
            }
        }
    }
}

/// On every cluster node: passes its XMPP sessions' requests to the leader and the leader's pushes
/// to them, opening them again on a new leader.
pub(crate) async fn bridge(mut rx: mpsc::UnboundedReceiver<XmppRequest>, nats: async_nats::Client, control: async_nats::Client, node: String) {
    let (Ok(mut pushes), Ok(mut beats)) = (nats.subscribe(format!("{SUBJECT}.{node}")).await, control.subscribe("fd.leader").await) else {
        warn!("the XMPP bridge cannot subscribe on NATS: XMPP sessions are not served");
        return;
    };
    let mut b = Bridge { nats, node, inc: super::incarnation(), sessions: HashMap::new(), by_remote: HashMap::new(), next: 0, expect: None, stale: false, resyncs: 0 };
    loop {
        if b.stale {
            b.resync().await;
        }
        tokio::select! {
            r = rx.recv() => {
                let Some(r) = r else { break };
                b.request(r).await;
            }
            m = pushes.next() => {
                let Some(m) = m else { break };
                match serde_json::from_slice::<Push>(&m.payload) {
                    Ok(p) => b.push(p),
                    // What it carried is unknown: like a lost push.
                    Err(e) => {
                        warn!("fd.xmpp.{}: a malformed push: {e}", b.node);
                        b.stale = true;
                    }
                }
            }
            m = beats.next() => {
                let Some(m) = m else { break };
                if let Some(l) = super::Leader::from_beat(&m.payload) {
                    b.heard(l.epoch);
                }
            }
        }
    }
}

/// The leader's record of a node's watchers, so a node that restarted leaves none behind.
#[derive(Default)]
struct NodeWatchers {
    inc: u64,
    watchers: HashMap<WatcherId, BTreeSet<Presentity>>,
    /// Where this node's pushes go, numbered in order by one task.
    pushes: Option<mpsc::UnboundedSender<(WatcherId, XmppPush)>>,
}

/// On the leader, until aborted: runs the bridges' requests on its broker (through `broker`, the
/// channel a single node's XMPP sessions use) and publishes the pushes for each node's sessions.
pub(crate) async fn serve(nats: async_nats::Client, broker: mpsc::UnboundedSender<XmppRequest>, epoch: u64) {
    let Ok(mut sub) = nats.subscribe(SUBJECT).await else {
        warn!("the leader cannot subscribe on NATS: XMPP sessions on the nodes are not served");
        return;
    };
    let mut nodes: HashMap<String, NodeWatchers> = HashMap::new();
    while let Some(m) = sub.next().await {
        let Some(to) = m.reply.clone() else { continue };
        let answer = |nats: async_nats::Client, t: Told| async move {
            let _ = nats.publish(to, serde_json::to_vec(&t).unwrap_or_default().into()).await;
        };
        let what = match serde_json::from_slice::<Ask>(&m.payload) {
            Ok(w) => w,
            Err(e) => {
                tokio::spawn(answer(nats.clone(), Told::Doc(Err(ErrorBody::new(ErrorCode::Malformed, format!("a malformed request on fd.xmpp: {e}"))))));
                continue;
            }
        };
        match what {
            Ask::Open { node, inc, principal } => {
                let n = nodes.entry(node.clone()).or_default();
                if n.inc != inc {
                    // The node started over: the watchers of its old incarnation have no session.
                    for (w, subs) in n.watchers.drain() {
                        let _ = broker.send(XmppRequest::Close { watcher: w, presentities: subs.into_iter().collect() });
                    }
                    n.inc = inc;
                }
                let pushes = n.pushes.get_or_insert_with(|| publisher(nats.clone(), node.clone(), epoch)).clone();
                let (out, mut rx) = mpsc::unbounded_channel();
                let (tx, reply) = oneshot::channel();
                if broker.send(XmppRequest::Open { principal, out, reply: tx }).is_err() {
                    break;
                }
                let nats = nats.clone();
                let opened = reply.await;
                let Ok((watcher, roster)) = opened else { break };
                n.watchers.insert(watcher, BTreeSet::new());
                // Tags this watcher's pushes for the node's publisher; ends when the broker drops it.
                tokio::spawn(async move {
                    while let Some(p) = rx.recv().await {
                        if pushes.send((watcher, p)).is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(answer(nats, Told::Opened { watcher, roster, epoch }));
            }
            Ask::Subscribe { node, watcher, principal, presentity } => {
                if let Some(subs) = nodes.get_mut(&node).and_then(|n| n.watchers.get_mut(&watcher)) {
                    subs.insert(presentity.clone());
                }
                let (tx, rx) = oneshot::channel();
                let _ = broker.send(XmppRequest::Subscribe { watcher, principal, presentity, reply: tx });
                tokio::spawn(answer(nats.clone(), Told::Doc(rx.await.unwrap_or_else(|_| Err(unavailable("the broker stopped"))).map(Box::new))));
            }
            Ask::Unsubscribe { node, watcher, presentity } => {
                if let Some(subs) = nodes.get_mut(&node).and_then(|n| n.watchers.get_mut(&watcher)) {
                    subs.remove(&presentity);
                }
                let _ = broker.send(XmppRequest::Unsubscribe { watcher, presentity });
                tokio::spawn(answer(nats.clone(), Told::Done));
            }
            Ask::Fetch { principal, presentity } => {
                let (tx, rx) = oneshot::channel();
                let _ = broker.send(XmppRequest::Fetch { principal, presentity, reply: tx });
                tokio::spawn(answer(nats.clone(), Told::Doc(rx.await.unwrap_or_else(|_| Err(unavailable("the broker stopped"))).map(Box::new))));
            }
            Ask::Status { client, status } => {
                let _ = broker.send(XmppRequest::Status { client, status });
                tokio::spawn(answer(nats.clone(), Told::Done));
            }
            Ask::Close { node, watcher, presentities } => {
                if let Some(n) = nodes.get_mut(&node) {
                    n.watchers.remove(&watcher);
                }
                let _ = broker.send(XmppRequest::Close { watcher, presentities });
                tokio::spawn(answer(nats.clone(), Told::Done));
            }
        }
    }
}

/// Publishes one node's pushes in order, numbered from 1 under this leader's epoch.
fn publisher(nats: async_nats::Client, node: String, epoch: u64) -> mpsc::UnboundedSender<(WatcherId, XmppPush)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(WatcherId, XmppPush)>();
    tokio::spawn(async move {
        let subject = format!("{SUBJECT}.{node}");
        let mut seq = 0u64;
        while let Some((watcher, p)) = rx.recv().await {
            seq += 1;
            let what = match p {
                XmppPush::Presence(doc) => Pushed::Presence(Box::new((*doc).clone())),
                XmppPush::Ended(pr) => Pushed::Ended(pr),
            };
            let payload = serde_json::to_vec(&Push { epoch, seq, watcher, what }).unwrap_or_default();
            // A push NATS drops shows as a skipped number: the bridge subscribes its sessions again.
            let _ = nats.publish(subject.clone(), payload.into()).await;
        }
    });
    tx
}
