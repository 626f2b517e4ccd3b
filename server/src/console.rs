//! An agent console's side of the connection, for Rust programs (the terminal console, the scripted
//! agent bot): a [`Session`] driven over WebSocket on tokio. The session does the reliability —
//! resume with the same instance, requests once each in order, events once each in order and
//! acknowledged — and this module types the bodies as [`AgentRequest`], [`AgentEvent`] and
//! [`Response`]. It takes the seat (`log_in`) whenever the broker opens a new session, so a console
//! that comes back after its seat ended sits down again by itself.

use frontdesk_core::client::ClientConfig;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, ErrorBody, Outcome, Response};
use frontdesk_core::session::{Session, SessionEvent};
use frontdesk_core::transport::{Connector, FrameReceiver, FrameSender, Transport};
use frontdesk_net::ws::WsConnector;
use frontdesk_net::wall_clock;
use futures::FutureExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the console hears.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEvent {
    /// The session is up; `agent` is who the broker says this is.
    Connected {
        /// Agent id.
        agent: String,
        /// Whether the previous session (seat, events, request ids) continued.
        resumed: bool,
    },
    /// The connection dropped; the console reconnects by itself.
    Disconnected,
    /// The broker refused the token; the console stopped.
    Rejected(ErrorBody),
    /// The automatic `log_in` was answered (the seat as it is, or why not).
    LoggedIn(Result<Response, ErrorBody>),
    /// A request made with [`AgentConsole::request`] was answered.
    Answered {
        /// The id `request` returned.
        id: u64,
        /// Outcome.
        result: Result<Response, ErrorBody>,
    },
    /// The next event, once each, in order (already acknowledged to the broker).
    Event(AgentEvent),
    /// The broker reported a problem with a frame, or sent something this console cannot read.
    ProtocolError(ErrorBody),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    LogIn,
    User,
}

struct Shared {
    session: Session<Tag>,
    login: String,
    closed: bool,
}

/// A running console; [`shutdown`](Self::shutdown), or dropping every clone, stops it.
#[derive(Clone)]
pub struct AgentConsole {
    inner: Arc<Mutex<Shared>>,
    wake: mpsc::UnboundedSender<()>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentConsole {
    /// Starts a console against `url` (the `/agent` endpoint, e.g. `ws://127.0.0.1:8080/agent`) with
    /// `login` (an [`AgentRequest::LogIn`]) sent first, and again whenever the broker opens a new
    /// session (the old one outlived its grace period). Spawns on the current tokio runtime.
    pub fn start(url: impl Into<String>, cfg: ClientConfig, login: AgentRequest) -> (AgentConsole, mpsc::UnboundedReceiver<ConsoleEvent>) {
        Self::start_with(WsConnector::new(url), cfg, login)
    }

    /// Same as [`start`](Self::start) over any connector.
    pub fn start_with<C: Connector + 'static>(connector: C, cfg: ClientConfig, login: AgentRequest) -> (AgentConsole, mpsc::UnboundedReceiver<ConsoleEvent>) {
        let login = serde_json::to_string(&login).expect("requests serialize");
        let mut session = Session::new(cfg);
        // First in the queue, so requests made before the session is up find the seat taken.
        session.enqueue(login.clone(), Tag::LogIn).expect("a log_in request fits in a frame");
        let inner = Arc::new(Mutex::new(Shared { session, login, closed: false }));
        let (wake, wake_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(inner.clone(), connector, wake_rx, ev_tx));
        (AgentConsole { inner, wake }, ev_rx)
    }

    /// Queues a request; it goes out now, or once connected, exactly once. Returns its id, which
    /// [`ConsoleEvent::Answered`] carries back.
    pub fn request(&self, req: &AgentRequest) -> Result<u64, ErrorBody> {
        let body = serde_json::to_string(req).expect("requests serialize");
        let r = lock(&self.inner).session.enqueue(body, Tag::User);
        let _ = self.wake.send(());
        r
    }

    /// Whether the session is up.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner).session.is_connected()
    }

    /// Stops the console and closes its connection (the seat stays for the grace period; send
    /// `log_out` first to leave it now).
    pub fn shutdown(&self) {
        let mut s = lock(&self.inner);
        s.session.close(wall_clock());
        s.closed = true;
        drop(s);
        let _ = self.wake.send(());
    }
}

fn outcome(text: &str) -> Result<Response, ErrorBody> {
    match serde_json::from_str::<Outcome>(text) {
        Ok(o) => o.into(),
        Err(e) => Err(ErrorBody::new(frontdesk_core::protocol::ErrorCode::Malformed, format!("unreadable answer: {e}"))),
    }
}

/// Moves what the session produced to the console's events.
fn pump(s: &mut Shared, ev: &mpsc::UnboundedSender<ConsoleEvent>) {
    while let Some(e) = s.session.poll_event() {
        let out = match e {
            SessionEvent::Connected { client, resumed } => {
                // A new session has no seat: sit down again (unless the log_in is still on its way).
                if !resumed && !s.session.pending().any(|(_, _, t)| *t == Tag::LogIn) {
                    let login = s.login.clone();
                    if let Err(e) = s.session.enqueue(login, Tag::LogIn) {
                        let _ = ev.send(ConsoleEvent::LoggedIn(Err(e)));
                    }
                }
                ConsoleEvent::Connected { agent: client.to_string(), resumed }
            }
            SessionEvent::Disconnected { .. } => ConsoleEvent::Disconnected,
            SessionEvent::Rejected(e) => ConsoleEvent::Rejected(e),
            SessionEvent::Answered { tag: Tag::LogIn, outcome: o, .. } => ConsoleEvent::LoggedIn(outcome(&o)),
            SessionEvent::Answered { id, tag: Tag::User, outcome: o } => ConsoleEvent::Answered { id, result: outcome(&o) },
            SessionEvent::Event(text) => match serde_json::from_str::<AgentEvent>(&text) {
                Ok(e) => ConsoleEvent::Event(e),
                Err(e) => ConsoleEvent::ProtocolError(ErrorBody::new(frontdesk_core::protocol::ErrorCode::Malformed, format!("unreadable event {text}: {e}"))),
            },
            SessionEvent::ProtocolError(e) => ConsoleEvent::ProtocolError(e),
            SessionEvent::Status(_) | SessionEvent::Delta(_) | SessionEvent::WatchEnded(_) | SessionEvent::Typing(_) => continue,
        };
        let _ = ev.send(out);
    }
}

async fn drive<C: Connector>(inner: Arc<Mutex<Shared>>, mut connector: C, mut wake: mpsc::UnboundedReceiver<()>, ev: mpsc::UnboundedSender<ConsoleEvent>) {
    lock(&inner).session.start(wall_clock());
    let mut sender: Option<Box<dyn FrameSender>> = None;
    let mut receiver: Option<Box<dyn FrameReceiver>> = None;
    loop {
        let now = wall_clock();
        let (connect, frames, deadline) = {
            let mut s = lock(&inner);
            if s.closed {
                break;
            }
            if s.session.poll_timeout().is_some_and(|t| t <= now) {
                s.session.handle_timeout(now);
            }
            pump(&mut s, &ev);
            let connect = s.session.poll_connect();
            let frames: Vec<Vec<u8>> = std::iter::from_fn(|| s.session.poll_transmit()).collect();
            (connect, frames, s.session.poll_timeout())
        };
        if connect {
            if let Some(mut s) = sender.take() {
                s.close().await;
            }
            receiver = None;
            let r = connector.connect().await;
            let now = wall_clock();
            let mut s = lock(&inner);
            match r {
                Ok(Transport { sender: tx, receiver: rx }) => {
                    sender = Some(tx);
                    receiver = Some(rx);
                    s.session.handle_connected(now);
                }
                Err(_) => {
                    s.session.handle_connected(now);
                    s.session.handle_disconnected(now);
                }
            }
            continue;
        }
        if let Some(tx) = sender.as_mut() {
            let mut failed = false;
            for f in frames {
                if tx.send(f).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed {
                sender = None;
                receiver = None;
                lock(&inner).session.handle_disconnected(wall_clock());
                continue;
            }
        }
        let sleep = match deadline {
            Some(t) => tokio::time::sleep(Duration::from_millis(t.0.saturating_sub(wall_clock().0))).boxed(),
            None => futures::future::pending().boxed(),
        };
        let recv = match receiver.as_mut() {
            Some(r) => r.recv().boxed(),
            None => futures::future::pending().boxed(),
        };
        tokio::select! {
            biased;
            w = wake.recv() => if w.is_none() { break },
            r = recv => {
                let now = wall_clock();
                match r {
                    Ok(data) => {
                        let _ = lock(&inner).session.handle_input(now, &data);
                    }
                    Err(_) => {
                        sender = None;
                        receiver = None;
                        lock(&inner).session.handle_disconnected(now);
                    }
                }
            }
            _ = sleep => {}
        }
    }
    if let Some(mut s) = sender {
        s.close().await;
    }
}
