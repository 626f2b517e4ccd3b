//! Network mode of `FdClient` (`fd_client_connect`): a library thread dials the broker over WebSocket
//! and drives the client, so C code calls the same request, event and view functions as in-process.
//!
//! The design follows the uniffi network engine, folded into one thread: the thread runs a
//! single-threaded tokio runtime whose main loop takes the client's lock for one "turn" (due timers,
//! frames read, connect requests, frames to write), releases it, delivers events to callbacks, and
//! sleeps until the client's next timer, a frame, or a wake-up from a host call. Each connection is a
//! task with a generation number, so frames of a connection already given up on are ignored.

use crate::error::{Error, Res};
use crate::handle::Kind;
use frontdesk_core::agent::AgentClient;
use frontdesk_core::client::Client;
use frontdesk_core::Timestamp;
use std::collections::VecDeque;

/// A sans-IO state machine the library's thread can drive: a client or an agent console.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) trait Driven: Send + 'static {
    fn poll_timeout(&self) -> Option<Timestamp>;
    fn handle_timeout(&mut self, now: Timestamp);
    fn handle_connected(&mut self, now: Timestamp);
    /// A malformed frame is reported by the machine itself (protocol_error) and dropped.
    fn handle_input(&mut self, now: Timestamp, data: &[u8]);
    fn handle_disconnected(&mut self, now: Timestamp);
    fn poll_connect(&mut self) -> bool;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    /// The next event, as the JSON the C API reports.
    fn next_event_json(&mut self) -> Option<String>;
}

macro_rules! driven {
    ($t:ty, $enc:path) => {
        impl Driven for $t {
            fn poll_timeout(&self) -> Option<Timestamp> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Timestamp) {
                <$t>::handle_timeout(self, now)
            }
            fn handle_connected(&mut self, now: Timestamp) {
                <$t>::handle_connected(self, now)
            }
            fn handle_input(&mut self, now: Timestamp, data: &[u8]) {
                let _ = <$t>::handle_input(self, now, data);
            }
            fn handle_disconnected(&mut self, now: Timestamp) {
                <$t>::handle_disconnected(self, now)
            }
            fn poll_connect(&mut self) -> bool {
                <$t>::poll_connect(self)
            }
            fn poll_transmit(&mut self) -> Option<Vec<u8>> {
                <$t>::poll_transmit(self)
            }
            fn next_event_json(&mut self) -> Option<String> {
                self.poll_event().map(|e| $enc(&e))
            }
        }
    };
}
driven!(Client, crate::events::client_event);
driven!(AgentClient, crate::events::agent_client_event);

/// A handle kind whose transport the library's thread may run.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) trait NetCore: Kind {
    /// The machine it wraps.
    type M: Driven;
    /// The machine and its network link (none for a host-run transport), borrowed together.
    fn parts(&mut self) -> (&mut Self::M, Option<&mut NetLink>);
}

/// The link between a network client and its thread, kept inside the client's lock.
pub(crate) struct NetLink {
    /// Events from the network layer (`transport_error`), with the client's events from before each,
    /// so everything is reported in the order it happened; reported before the client's newer ones.
    notes: VecDeque<String>,
    /// Set by `fd_client_close`: the thread drops the connection on its next turn.
    close_transport: bool,
    #[cfg(feature = "network")]
    ctl: imp::Ctl,
}

impl NetLink {
    /// Asks the thread for a turn (after a host call queued a request or changed the client).
    pub(crate) fn wake(&self) {
        #[cfg(feature = "network")]
        self.ctl.wake();
    }

    /// The oldest undelivered network-layer event.
    pub(crate) fn next_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    /// The connection is to be dropped (the client was closed).
    pub(crate) fn close_transport(&mut self) {
        self.close_transport = true;
    }

    /// Queues a network-layer event after the client's pending ones.
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    fn note(&mut self, machine: &mut impl Driven, e: String) {
        while let Some(earlier) = machine.next_event_json() {
            self.notes.push_back(earlier);
        }
        self.notes.push_back(e);
    }
}

/// Checks a `ws://` or `wss://` URL; a URL without a path gets the broker's client endpoint `/client`.
pub(crate) fn client_url(url: &str) -> Res<String> {
    endpoint_url(url, "/client")
}

/// Checks a `ws://` or `wss://` URL; a URL without a path gets the broker's agent endpoint `/agent`.
pub(crate) fn agent_url(url: &str) -> Res<String> {
    endpoint_url(url, "/agent")
}

fn endpoint_url(url: &str, path: &str) -> Res<String> {
    frontdesk_core::transport::broker_endpoint(url, path).map_err(Error::invalid)
}

/// Roots a `*_connect_tls` call passes for `wss://`: a PEM bundle, on top of the platform's or alone.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) struct Trust {
    pub pem: Vec<u8>,
    pub only: bool,
}

#[cfg(feature = "network")]
pub(crate) use imp::{start, stop};

/// Without the `network` feature there is no thread: `fd_client_connect` returns `FD_ERR_UNAVAILABLE`.
#[cfg(not(feature = "network"))]
pub(crate) fn start<T: NetCore>(_url: String, _trust: Option<Trust>, _make: impl FnOnce(NetLink) -> T) -> Res<usize> {
    Err(Error::new(crate::error::FdStatus::FD_ERR_UNAVAILABLE, "this libfrontdesk was built without the network feature"))
}

/// Nothing to stop without the `network` feature.
#[cfg(not(feature = "network"))]
pub(crate) fn stop<T: NetCore>(_o: &crate::handle::Object<T>) {}

#[cfg(feature = "network")]
mod imp {
    use super::{Driven, NetCore, NetLink, Trust, VecDeque};
    use crate::error::{Error, FdStatus, Res};
    use crate::events::transport_error;
    use crate::handle::{self, Object};
    use frontdesk_core::transport::{Connector, Transport};
    use frontdesk_core::Timestamp;
    use frontdesk_net::wall_clock;
    use frontdesk_net::tls::TrustedRoots;
    use frontdesk_net::ws::WsConnector;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Arc, Weak};
    use std::thread::JoinHandle;
    use std::time::Duration;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
    use tokio::task::JoinHandle as Task;

    /// A dial that gets no answer is given up after this long (then the client backs off and retries).
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a closing connection may take to say goodbye when the client is freed.
    const CLOSE_GRACE: Duration = Duration::from_secs(1);

    enum Msg {
        Wake,
        Stop,
    }

    /// The host's side of the thread.
    pub(crate) struct Ctl {
        tx: UnboundedSender<Msg>,
        thread: Option<JoinHandle<()>>,
        /// Tells the thread apart from others (see `NET_THREAD`).
        number: u64,
    }

    impl Ctl {
        pub(super) fn wake(&self) {
            let _ = self.tx.send(Msg::Wake);
        }
    }

    enum Inbound {
        Up(u64),
        Frame(u64, Vec<u8>),
        Down(u64, String),
    }

    struct Conn {
        out: UnboundedSender<Vec<u8>>,
        task: Task<()>,
    }

    /// The thread's socket state.
    struct Io {
        connector: WsConnector,
        url: String,
        gen: u64,
        conn: Option<Conn>,
        inbox: UnboundedSender<Inbound>,
    }

    thread_local! {
        // The number of the library thread running here (0 elsewhere), so a free from one of its
        // callbacks does not wait for itself.
        static NET_THREAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    static NEXT_THREAD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    /// Creates a network handle (`make` wraps a started machine with the link) and its thread.
    pub(crate) fn start<T: NetCore>(url: String, trust: Option<Trust>, make: impl FnOnce(NetLink) -> T) -> Res<usize> {
        // Roots are checked here, so a bad bundle fails the call instead of every dial.
        let connector = match trust {
            None => WsConnector::new(url.clone()),
            Some(t) => {
                let roots = frontdesk_net::tls::pem_certificates(&t.pem).map_err(|e| Error::invalid(tls_text(e)))?;
                let roots = if t.only { TrustedRoots::Only(roots) } else { TrustedRoots::PlatformAnd(roots) };
                WsConnector::new(url.clone()).with_trusted_roots(roots).map_err(|e| Error::invalid(tls_text(e)))?
            }
        };
        let (tx, rx) = unbounded_channel();
        let number = NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let link = NetLink { notes: VecDeque::new(), close_transport: false, ctl: Ctl { tx, thread: None, number } };
        let id = handle::register(make(link));
        let obj = handle::lookup::<T>(id)?;
        let weak = Arc::downgrade(&obj);
        // A mutex and condvar rather than a std channel: a blocking channel receive makes std allocate a
        // handle for the calling thread that is never freed on the main thread (valgrind: possibly lost).
        let ready = Arc::new((std::sync::Mutex::new(None::<Result<(), String>>), std::sync::Condvar::new()));
        let ready_tx = ready.clone();
        let say = move |r: Result<(), String>| {
            *ready_tx.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            ready_tx.1.notify_all();
        };
        // The runtime is built on its own thread: whatever it sets up per thread goes with that thread.
        let spawned = std::thread::Builder::new().name("frontdesk-net".into()).spawn(move || {
            NET_THREAD.with(|n| n.set(number));
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => {
                    say(Ok(()));
                    rt.block_on(run(weak, connector, url, rx));
                    // Dropping the runtime here cancels what is left (connections being abandoned).
                }
                Err(e) => say(Err(e.to_string())),
            }
        });
        let started = match spawned {
            Ok(t) => {
                if let Some(l) = obj.lock_anyway().core().parts().1 {
                    l.ctl.thread = Some(t);
                }
                let mut r = ready.0.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    match r.take() {
                        Some(x) => break x,
                        None => r = ready.1.wait(r).unwrap_or_else(|p| p.into_inner()),
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        };
        drop(obj);
        match started {
            Ok(()) => Ok(id),
            Err(e) => {
                let _ = handle::free::<T>(id);
                Err(Error::new(FdStatus::FD_ERR_INTERNAL, format!("cannot start the network thread: {e}")))
            }
        }
    }

    /// Stops the thread of a freed client and waits for it, unless called on that thread (from a
    /// callback): then it ends as soon as the callback returns.
    pub(crate) fn stop<T: NetCore>(o: &Object<T>) {
        let (thread, number) = {
            let mut g = o.lock_anyway();
            let Some(l) = g.core().parts().1 else { return };
            let _ = l.ctl.tx.send(Msg::Stop);
            (l.ctl.thread.take(), l.ctl.number)
        };
        if let Some(t) = thread {
            if NET_THREAD.with(|n| n.get()) != number {
                let _ = t.join();
            }
        }
    }

    /// A setup error's text without the transport's generic prefix.
    fn tls_text(e: frontdesk_core::transport::TransportError) -> String {
        e.to_string().trim_start_matches("transport failed: ").to_owned()
    }

    async fn run<T: NetCore>(client: Weak<Object<T>>, connector: WsConnector, url: String, mut rx: UnboundedReceiver<Msg>) {
        let (inbox, mut inbound_rx) = unbounded_channel();
        let mut io = Io { connector, url, gen: 0, conn: None, inbox };
        let mut inbound = Vec::new();
        loop {
            while let Ok(x) = inbound_rx.try_recv() {
                inbound.push(x);
            }
            // Gone (freed) or poisoned (a panic while changing it): nothing left to drive.
            let Some(obj) = client.upgrade() else { break };
            let turn = catch_unwind(AssertUnwindSafe(|| handle::drive(&obj, false, |c| io.turn(c, &mut inbound))));
            drop(obj);
            let Ok(Ok(deadline)) = turn else { break };
            let wait = deadline.map_or(Duration::from_secs(3600), |t| Duration::from_millis(t.0.saturating_sub(wall_clock().0).max(1)));
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Msg::Wake) => {}
                    Some(Msg::Stop) | None => break,
                },
                Some(x) = inbound_rx.recv() => inbound.push(x),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(c) = io.conn.take() {
            drop(c.out);
            let _ = tokio::time::timeout(CLOSE_GRACE, c.task).await;
        }
    }

    impl Io {
        /// Runs the client at `now` until it has nothing more to do; returns its next deadline.
        fn turn<T: NetCore>(&mut self, core: &mut T, inbound: &mut Vec<Inbound>) -> Option<Timestamp> {
            let now = wall_clock();
            let (client, link) = core.parts();
            let link = link?;
            if std::mem::take(&mut link.close_transport) {
                self.hang_up();
            }
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
            loop {
                let mut moved = false;
                for x in inbound.drain(..) {
                    moved = true;
                    match x {
                        Inbound::Up(g) if g == self.gen => client.handle_connected(now),
                        // A malformed frame is reported by the client itself (protocol_error) and dropped.
                        Inbound::Frame(g, data) if g == self.gen => client.handle_input(now, &data),
                        Inbound::Down(g, why) if g == self.gen => {
                            self.conn = None;
                            link.note(client, transport_error(&self.url, &why));
                            client.handle_disconnected(now);
                        }
                        _ => {}
                    }
                }
                if client.poll_connect() {
                    moved = true;
                    self.dial();
                }
                while let Some(frame) = client.poll_transmit() {
                    moved = true;
                    if let Some(c) = &self.conn {
                        let _ = c.out.send(frame);
                    }
                }
                if !moved {
                    return client.poll_timeout();
                }
            }
        }

        /// Drops the current connection; what is still in flight on it is ignored from here on.
        fn hang_up(&mut self) {
            self.conn = None;
            self.gen += 1;
        }

        /// Opens a fresh connection (closing the old one).
        fn dial(&mut self) {
            self.hang_up();
            let (out, out_rx) = unbounded_channel();
            let task = tokio::spawn(connection(self.gen, self.connector.clone(), out_rx, self.inbox.clone()));
            self.conn = Some(Conn { out, task });
        }
    }

    /// One connection: dials, then moves frames both ways until either side ends it. Dropping the
    /// sender of `out` closes it.
    async fn connection(g: u64, mut connector: WsConnector, mut out: UnboundedReceiver<Vec<u8>>, inbox: UnboundedSender<Inbound>) {
        let Transport { mut sender, mut receiver } = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect()).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                let _ = inbox.send(Inbound::Down(g, format!("cannot connect: {e}")));
                return;
            }
            Err(_) => {
                let _ = inbox.send(Inbound::Down(g, format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())));
                return;
            }
        };
        let _ = inbox.send(Inbound::Up(g));
        loop {
            tokio::select! {
                f = out.recv() => match f {
                    Some(f) => {
                        if let Err(e) = sender.send(f).await {
                            let _ = inbox.send(Inbound::Down(g, format!("sending failed: {e}")));
                            return;
                        }
                    }
                    None => {
                        let _ = tokio::time::timeout(CLOSE_GRACE, sender.close()).await;
                        return;
                    }
                },
                r = receiver.recv() => match r {
                    Ok(data) => {
                        let _ = inbox.send(Inbound::Frame(g, data));
                    }
                    Err(e) => {
                        let _ = inbox.send(Inbound::Down(g, format!("connection lost: {e}")));
                        return;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_url;

    #[test]
    fn urls_are_checked_and_get_the_client_path() {
        assert_eq!(client_url("ws://127.0.0.1:8080").unwrap(), "ws://127.0.0.1:8080/client");
        assert_eq!(super::agent_url("ws://127.0.0.1:8080").unwrap(), "ws://127.0.0.1:8080/agent");
        assert_eq!(client_url("wss://fd.example/client").unwrap(), "wss://fd.example/client");
        assert_eq!(client_url("ws://[::1]:9/x").unwrap(), "ws://[::1]:9/x");
        for bad in ["http://x", "ws://", "ws://:80", "ws://h:0", "ws://h:99999", "ws://h:x", "ws://h /a", "ws://[::1"] {
            assert!(client_url(bad).is_err(), "{bad}");
        }
    }
}
