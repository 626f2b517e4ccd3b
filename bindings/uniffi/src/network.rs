//! The network engine: one client talking to a broker server over WebSocket.
//!
//! The runtime thread owns the client as for the embedded engine. Socket work happens on an I/O thread
//! running a single-threaded tokio runtime: it dials when the client asks for a connection, writes the
//! frames the engine hands it, and posts what it reads into an inbox, waking the runtime thread. Each
//! connection has a generation number so frames of a connection already given up on are ignored.

use crate::error::FrontdeskError;
use crate::runtime::{ClientKey, Engine, EngineEvent, Waker};
use frontdesk_core::broker::BrokerEvent;
use frontdesk_core::client::Client;
use frontdesk_core::transport::{Connector, FrameSender, Transport};
use frontdesk_core::Timestamp;
use frontdesk_net::ws::WsConnector;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// The only key of a network engine.
pub(crate) const NET_KEY: ClientKey = 0;

/// A dial that gets no answer is given up after this long (then the client backs off and retries):
/// without it a black-holed address would hold the one I/O thread forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connector for `url`: `wss://` trusts the platform's roots, and those of `extra_roots_pem` (a PEM
/// bundle) too; a bundle without a usable certificate throws `Invalid` at once.
pub(crate) fn connector(url: &str, extra_roots_pem: Option<String>) -> Result<WsConnector, FrontdeskError> {
    let c = WsConnector::new(url);
    match extra_roots_pem {
        None => Ok(c),
        Some(pem) => c.with_extra_roots_pem(pem.as_bytes()).map_err(|e| FrontdeskError::Invalid {
            message: format!("extra_roots_pem: {}", e.to_string().trim_start_matches("transport failed: ")),
        }),
    }
}

/// The broker URL, checked by the core's rules (the C ABI's too), as a typed error.
pub(crate) fn endpoint_url(url: &str, path: &str) -> Result<String, FrontdeskError> {
    frontdesk_core::transport::broker_endpoint(url, path).map_err(|message| FrontdeskError::Invalid { message })
}

enum Inbound {
    Up(u64),
    Frame(u64, Vec<u8>),
    /// The connection of that generation is gone, and why.
    Down(u64, String),
}

enum IoCmd {
    Connect(u64),
    Send(u64, Vec<u8>),
    Close(u64),
}

type Inbox = Arc<Mutex<VecDeque<Inbound>>>;

fn post(inbox: &Inbox, waker: &Waker, x: Inbound) {
    inbox.lock().unwrap_or_else(|e| e.into_inner()).push_back(x);
    waker.wake();
}

/// A client and its socket.
pub(crate) struct NetEngine {
    client: Option<Client>,
    url: String,
    gen: u64,
    inbox: Inbox,
    io: UnboundedSender<IoCmd>,
    events: VecDeque<EngineEvent>,
}

impl NetEngine {
    /// Starts the I/O thread for `url` (checked by [`endpoint_url`]); the client connects on the first run.
    pub fn new(url: String, connector: WsConnector, client: Client, waker: Waker) -> std::io::Result<Self> {
        let inbox: Inbox = Arc::default();
        let io = spawn_io(connector, inbox.clone(), waker)?;
        Ok(NetEngine { client: Some(client), url, gen: 0, inbox, io, events: VecDeque::new() })
    }
}

impl Engine for NetEngine {
    fn run(&mut self, now: Timestamp) {
        let Some(c) = self.client.as_mut() else { return };
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        loop {
            let mut moved = false;
            let inbound: Vec<Inbound> = self.inbox.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
            for x in inbound {
                moved = true;
                match x {
                    Inbound::Up(g) if g == self.gen => c.handle_connected(now),
                    // A malformed frame is reported by the client itself and dropped.
                    Inbound::Frame(g, data) if g == self.gen => drop(c.handle_input(now, &data)),
                    Inbound::Down(g, why) if g == self.gen => {
                        // Flush the client's earlier events first, so the cause comes right before its Disconnected.
                        while let Some(e) = c.poll_event() {
                            self.events.push_back(EngineEvent::Core(e));
                        }
                        self.events.push_back(EngineEvent::Transport { url: self.url.clone(), message: why });
                        c.handle_disconnected(now);
                    }
                    _ => {}
                }
            }
            if c.poll_connect() {
                moved = true;
                let _ = self.io.send(IoCmd::Close(self.gen));
                self.gen += 1;
                let _ = self.io.send(IoCmd::Connect(self.gen));
            }
            while let Some(frame) = c.poll_transmit() {
                moved = true;
                let _ = self.io.send(IoCmd::Send(self.gen, frame));
            }
            while let Some(e) = c.poll_event() {
                self.events.push_back(EngineEvent::Core(e));
            }
            if !moved {
                break;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.client.as_ref()?.poll_timeout()
    }

    fn client(&mut self, key: ClientKey) -> Option<&mut Client> {
        self.client.as_mut().filter(|_| key == NET_KEY)
    }

    fn poll_client_event(&mut self) -> Option<(ClientKey, EngineEvent)> {
        self.events.pop_front().map(|e| (NET_KEY, e))
    }

    fn poll_broker_event(&mut self) -> Option<BrokerEvent> {
        None
    }

    fn remove_client(&mut self, _now: Timestamp, _key: ClientKey) {
        self.close_transport(NET_KEY);
        self.client = None;
    }

    fn close_transport(&mut self, _key: ClientKey) {
        let _ = self.io.send(IoCmd::Close(self.gen));
        // Anything still in flight on that connection is stale from here on.
        self.gen += 1;
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The I/O thread; it ends when the engine (and so the command sender) is dropped.
fn spawn_io(mut connector: WsConnector, inbox: Inbox, waker: Waker) -> std::io::Result<UnboundedSender<IoCmd>> {
    let (tx, mut rx) = unbounded_channel::<IoCmd>();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("frontdesk-io".into()).spawn(move || {
        rt.block_on(async move {
            let mut current: Option<(u64, Box<dyn FrameSender>)> = None;
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    IoCmd::Connect(g) => match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect()).await {
                        Ok(Ok(Transport { sender, mut receiver })) => {
                            current = Some((g, sender));
                            post(&inbox, &waker, Inbound::Up(g));
                            let (inbox, waker) = (inbox.clone(), waker.clone());
                            tokio::spawn(async move {
                                let why = loop {
                                    match receiver.recv().await {
                                        Ok(frame) => post(&inbox, &waker, Inbound::Frame(g, frame)),
                                        Err(e) => break format!("connection lost: {e}"),
                                    }
                                };
                                post(&inbox, &waker, Inbound::Down(g, why));
                            });
                        }
                        Ok(Err(e)) => post(&inbox, &waker, Inbound::Down(g, format!("cannot connect: {e}"))),
                        Err(_) => post(&inbox, &waker, Inbound::Down(g, format!("cannot connect: no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
                    },
                    IoCmd::Send(g, frame) => {
                        if let Some((cg, s)) = current.as_mut().filter(|(cg, _)| *cg == g) {
                            if let Err(e) = s.send(frame).await {
                                post(&inbox, &waker, Inbound::Down(*cg, format!("cannot send: {e}")));
                                current = None;
                            }
                        }
                    }
                    IoCmd::Close(g) => {
                        if let Some((_, mut s)) = current.take_if(|(cg, _)| *cg == g) {
                            s.close().await;
                        }
                    }
                }
            }
        });
    })?;
    Ok(tx)
}

/// `frontdesk.FrontdeskTls.init(context)` on Android (bindings/android): hands rustls-platform-verifier
/// the JVM and the app's Context, which Android's verifier needs before the first `wss://` dial.
/// Returns whether it worked (a failure's cause goes to logcat from the verifier's Kotlin side).
///
/// # Safety
/// Called by the JVM with its own valid `JNIEnv*` and references.
#[cfg(target_os = "android")]
#[no_mangle]
pub unsafe extern "system" fn Java_frontdesk_FrontdeskTls_nativeInit(env: *mut std::ffi::c_void, _class: *mut std::ffi::c_void, context: *mut std::ffi::c_void) -> u8 {
    match std::panic::catch_unwind(|| frontdesk_net::tls::android_init(env, context)) {
        Ok(Ok(())) => 1,
        Ok(Err(e)) => {
            eprintln!("frontdesk: FrontdeskTls.init failed: {e}");
            0
        }
        Err(_) => 0,
    }
}
