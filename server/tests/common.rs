//! Helpers for the network tests: an agent console over WebSocket and a client on the async driver.

#![allow(dead_code)]

use frontdesk_core::broker::AgentEvent;
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::driver::{client_driver, Handle};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::Medium;
use frontdesk_net::ws::WsConnector;
use frontdesk_net::{wall_clock, TokioRuntime};
use frontdesk_server::agent_wire::{AgentIn, AgentOut, AgentRequest, AgentResult};
use frontdesk_server::tokens;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The secret the tests sign with.
pub const SECRET: &[u8] = b"test-secret";

/// A token for a principal.
pub fn token(p: Principal) -> String {
    tokens::issue(SECRET, &p, wall_clock(), 3600)
}

/// A client token.
pub fn client_token(c: &str) -> String {
    token(Principal::Client(c.into()))
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An agent console speaking the agent protocol.
pub struct Agent {
    ws: Ws,
    next: u64,
    /// Events received and not yet taken.
    pub events: Vec<AgentEvent>,
}

impl Agent {
    /// Connects and logs in.
    pub async fn connect(base: &str, id: &str, media: Vec<Medium>) -> Agent {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{base}/agent")).await.expect("agent connects");
        let mut a = Agent { ws, next: 1, events: vec![] };
        let hello = AgentIn::Hello { token: token(Principal::Agent(id.into(), AgentRole::Agent)), name: id.to_uppercase(), skills: vec!["router".into(), "phone".into()], media };
        a.send(&hello).await;
        match a.recv().await {
            AgentOut::Welcome { .. } => a,
            other => panic!("no welcome: {other:?}"),
        }
    }

    async fn send(&mut self, f: &AgentIn) {
        self.ws.send(Message::text(serde_json::to_string(f).unwrap())).await.unwrap();
    }

    async fn recv(&mut self) -> AgentOut {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("agent frame in time").expect("open").unwrap();
            if let Message::Text(t) = m {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// Sends a request and waits for its answer, keeping events that arrive meanwhile.
    pub async fn request(&mut self, req: AgentRequest) -> AgentResult {
        let id = self.next;
        self.next += 1;
        self.send(&AgentIn::Request { id, req }).await;
        loop {
            match self.recv().await {
                AgentOut::Response { id: i, result } if i == id => return result,
                AgentOut::Event { event } => self.events.push(event),
                _ => {}
            }
        }
    }

    /// Waits for an event matching `f`.
    pub async fn event(&mut self, f: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
        if let Some(i) = self.events.iter().position(&f) {
            return self.events.remove(i);
        }
        loop {
            if let AgentOut::Event { event } = self.recv().await {
                if f(&event) {
                    return event;
                }
                self.events.push(event);
            }
        }
    }
}

/// A client running on the async driver over WebSocket.
pub struct App {
    /// Handle to the client state machine.
    pub h: Handle<Client>,
    /// Its events.
    pub rx: UnboundedReceiver<ClientEvent>,
    /// Events seen so far.
    pub seen: Vec<ClientEvent>,
}

impl App {
    /// Starts a client.
    pub fn start(base: &str, cfg: ClientConfig) -> App {
        let (h, rx, fut) = client_driver(Client::new(cfg), WsConnector::new(format!("{base}/client")), TokioRuntime);
        tokio::spawn(fut);
        App { h, rx, seen: vec![] }
    }

    /// A client with fast reconnects for tests.
    pub fn config(c: &str, instance: u64) -> ClientConfig {
        let mut cfg = ClientConfig::new(client_token(c), instance);
        cfg.backoff_initial = Duration::from_millis(50);
        cfg.backoff_max = Duration::from_millis(500);
        cfg
    }

    /// Waits (up to `secs`) for an event matching `f`.
    pub async fn wait(&mut self, secs: u64, f: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        if let Some(e) = self.seen.iter().find(|e| f(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let e = tokio::time::timeout_at(deadline, self.rx.next()).await.unwrap_or_else(|_| panic!("timed out; seen {:#?}", self.seen.iter().rev().take(5).collect::<Vec<_>>())).expect("driver running");
            self.seen.push(e.clone());
            if f(&e) {
                return e;
            }
        }
    }

    /// Waits for the answer to request `id`.
    pub async fn answer(&mut self, id: u64) -> Result<frontdesk_core::protocol::Response, frontdesk_core::protocol::ErrorBody> {
        match self.wait(10, |e| matches!(e, ClientEvent::Completed { id: i, .. } if *i == id)).await {
            ClientEvent::Completed { result, .. } => result,
            _ => unreachable!(),
        }
    }
}
