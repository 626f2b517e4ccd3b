//! A small runtime-agnostic driver: runs a state machine against a transport and timers.
//!
//! The host supplies a [`Runtime`] (a clock and a sleep) so this module works on tokio, async-std,
//! a browser or a plain thread pool alike. The state machine sits behind a mutex shared with a handle,
//! so the app can make requests from any thread; the driver is woken after each.

use crate::broker::{Broker, BrokerEvent, ConnId};
use crate::client::{Client, ClientEvent};
use crate::time::Timestamp;
use crate::transport::{Connector, FrameReceiver, FrameSender, Transport, TransportError};
use futures::channel::mpsc;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Time and sleeping, supplied by the host.
pub trait Runtime: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Completes at (or after) `at`.
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()>;
}

/// Shared access to a state machine that a driver runs.
#[derive(Debug)]
pub struct Handle<T> {
    inner: Arc<Mutex<T>>,
    wake: mpsc::UnboundedSender<()>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle { inner: self.inner.clone(), wake: self.wake.clone() }
    }
}

impl<T> Handle<T> {
    /// Runs `f` on the state machine, then wakes the driver to send what it produced.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g)
        };
        let _ = self.wake.unbounded_send(());
        r
    }

    /// Stops the driver.
    pub fn shutdown(&self) {
        self.wake.close_channel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a client over connections from `connector` until the handle shuts it down. Events go to the
/// returned receiver.
pub fn client_driver<C: Connector + 'static, R: Runtime>(
    client: Client,
    mut connector: C,
    rt: R,
) -> (Handle<Client>, mpsc::UnboundedReceiver<ClientEvent>, BoxFuture<'static, ()>) {
    let inner = Arc::new(Mutex::new(client));
    let (wake_tx, mut wake_rx) = mpsc::unbounded::<()>();
    let (ev_tx, ev_rx) = mpsc::unbounded();
    let handle = Handle { inner: inner.clone(), wake: wake_tx };
    let fut = async move {
        lock(&inner).start(rt.now());
        let mut sender: Option<Box<dyn FrameSender>> = None;
        let mut receiver: Option<Box<dyn FrameReceiver>> = None;
        loop {
            let now = rt.now();
            let (connect, frames, deadline) = {
                let mut c = lock(&inner);
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
                while let Some(e) = c.poll_event() {
                    let _ = ev_tx.unbounded_send(e);
                }
                let connect = c.poll_connect();
                let frames: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
                (connect, frames, c.poll_timeout())
            };
            if connect {
                if let Some(mut s) = sender.take() {
                    s.close().await;
                }
                receiver = None;
                let r = connector.connect().await;
                let now = rt.now();
                let mut c = lock(&inner);
                match r {
                    Ok(Transport { sender: s, receiver: r }) => {
                        sender = Some(s);
                        receiver = Some(r);
                        c.handle_connected(now);
                    }
                    Err(e) => {
                        // Before the `Disconnected` it causes, so the app can say why.
                        let _ = ev_tx.unbounded_send(ClientEvent::TransportError(e));
                        c.handle_connected(now);
                        c.handle_disconnected(now);
                    }
                }
                continue;
            }
            let mut failed = None;
            if let Some(s) = sender.as_mut() {
                for f in frames {
                    if let Err(e) = s.send(f).await {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                sender = None;
                receiver = None;
                let _ = ev_tx.unbounded_send(ClientEvent::TransportError(e));
                lock(&inner).handle_disconnected(rt.now());
                continue;
            }
            let sleep = match deadline {
                Some(t) => rt.sleep_until(t),
                None => futures::future::pending().boxed(),
            };
            let recv = match receiver.as_mut() {
                Some(r) => r.recv().boxed(),
                None => futures::future::pending().boxed(),
            };
            futures::select_biased! {
                w = wake_rx.next().fuse() => if w.is_none() { break },
                r = recv.fuse() => {
                    let now = rt.now();
                    match r {
                        Ok(data) => { let _ = lock(&inner).handle_input(now, &data); }
                        Err(e) => {
                            sender = None;
                            receiver = None;
                            let _ = ev_tx.unbounded_send(ClientEvent::TransportError(e));
                            lock(&inner).handle_disconnected(now);
                        }
                    }
                }
                _ = sleep.fuse() => {}
            }
        }
        if let Some(mut s) = sender {
            s.close().await;
        }
    };
    (handle, ev_rx, fut.boxed())
}

type Recv = BoxFuture<'static, (ConnId, Box<dyn FrameReceiver>, Result<Vec<u8>, TransportError>)>;

fn read(conn: ConnId, mut r: Box<dyn FrameReceiver>) -> Recv {
    async move {
        let res = r.recv().await;
        (conn, r, res)
    }
    .boxed()
}

/// Runs a broker, accepting connections from `listener`, until the handle shuts it down. Broker
/// events (agent consoles) go to the returned receiver.
pub fn broker_driver<L, R>(broker: Broker, mut listener: L, rt: R) -> (Handle<Broker>, mpsc::UnboundedReceiver<BrokerEvent>, BoxFuture<'static, ()>)
where
    L: Stream<Item = Transport> + Unpin + Send + 'static,
    R: Runtime,
{
    let inner = Arc::new(Mutex::new(broker));
    let (wake_tx, mut wake_rx) = mpsc::unbounded::<()>();
    let (ev_tx, ev_rx) = mpsc::unbounded();
    let handle = Handle { inner: inner.clone(), wake: wake_tx };
    let fut = async move {
        let mut senders: HashMap<ConnId, Box<dyn FrameSender>> = HashMap::new();
        let mut reads: FuturesUnordered<Recv> = FuturesUnordered::new();
        let mut listening = true;
        loop {
            let now = rt.now();
            let (out, deadline) = {
                let mut b = lock(&inner);
                if b.poll_timeout().is_some_and(|t| t <= now) {
                    b.handle_timeout(now);
                }
                while let Some(e) = b.poll_event() {
                    let _ = ev_tx.unbounded_send(e);
                }
                let out: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
                (out, b.poll_timeout())
            };
            for t in out {
                let mut gone = false;
                if let Some(s) = senders.get_mut(&t.conn) {
                    gone = s.send(t.data.into()).await.is_err();
                    if t.close {
                        s.close().await;
                        gone = true;
                    }
                }
                if gone {
                    senders.remove(&t.conn);
                    lock(&inner).handle_disconnect(rt.now(), t.conn);
                }
            }
            let sleep = match deadline {
                Some(t) => rt.sleep_until(t),
                None => futures::future::pending().boxed(),
            };
            let accept = if listening { listener.next().boxed() } else { futures::future::pending().boxed() };
            let any_read = if reads.is_empty() { futures::future::pending().boxed() } else { reads.next().boxed() };
            futures::select_biased! {
                w = wake_rx.next().fuse() => if w.is_none() { break },
                t = accept.fuse() => match t {
                    Some(Transport { sender, receiver }) => {
                        let conn = lock(&inner).open_connection(rt.now());
                        senders.insert(conn, sender);
                        reads.push(read(conn, receiver));
                    }
                    None => listening = false,
                },
                r = any_read.fuse() => if let Some((conn, receiver, res)) = r {
                    match res {
                        Ok(data) => {
                            lock(&inner).handle_input(rt.now(), conn, &data);
                            if senders.contains_key(&conn) {
                                reads.push(read(conn, receiver));
                            }
                        }
                        Err(_) => {
                            senders.remove(&conn);
                            lock(&inner).handle_disconnect(rt.now(), conn);
                        }
                    }
                },
                _ = sleep.fuse() => {}
            }
        }
        for (_, mut s) in senders {
            s.close().await;
        }
    };
    (handle, ev_rx, fut.boxed())
}
