//! Shared fixtures for the end-to-end tests: a small center with two clients, products, orders and history.

use frontdesk_core::broker::auth::StaticTokens;
use frontdesk_core::broker::{AgentEvent, Broker, BrokerEvent};
use frontdesk_core::client::{ClientConfig, ClientEvent, RequestId};
use frontdesk_core::embedded::{Embedded, Slot};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{ErrorBody, Response};
use frontdesk_core::records::{DeliveryDetails, Direction, InteractionRecord, Order, OrderStatus, Outcome, Product, StatusChange};
use frontdesk_core::{AgentId, ClientId, Medium, Timestamp};

/// Start of every test's clock: 2026-11-25T09:00:00Z.
pub const T0: Timestamp = Timestamp(1_795_597_200_000);

/// A center with clients alice and bob, agents ann (agent) and sam (supervisor, logged out).
pub struct Fixture {
    /// The hub.
    pub hub: Embedded,
    /// Current time.
    pub now: Timestamp,
}

/// Token of a client.
pub fn token(c: &str) -> String {
    format!("tok-{c}")
}

impl Fixture {
    /// Builds the center with seeded data; no client attached yet.
    pub fn new() -> Self {
        Self::with_config(frontdesk_core::broker::BrokerConfig::default())
    }

    /// The same center with other broker settings.
    pub fn with_config(cfg: frontdesk_core::broker::BrokerConfig) -> Self {
        let tokens = StaticTokens::new()
            .with(token("alice"), Principal::Client("alice".into()))
            .with(token("bob"), Principal::Client("bob".into()))
            .with_expiry(token("old"), Principal::Client("carol".into()), T0)
            .with("tok-agent", Principal::Agent("ann".into(), AgentRole::Agent))
            .with("tok-service", Principal::Service("crm".into()));
        let mut b = Broker::with_parts(
            cfg,
            Box::new(tokens),
            Box::new(frontdesk_core::broker::store::MemoryStore::new()),
            Box::new(frontdesk_core::broker::center::BuiltinRouting),
            frontdesk_core::monitor::StatusMonitor::default(),
        );
        b.configure_queue(T0, "support".into(), "Support", vec!["router".into(), "phone".into()], vec![Medium::Chat, Medium::Voice, Medium::Callback, Medium::Email]);
        b.configure_queue(T0, "sales".into(), "Sales", vec!["tv".into()], vec![Medium::Chat, Medium::Video]);
        for (id, name) in [("router", "FastNet Router"), ("phone", "Pocket Phone"), ("tv", "Big TV")] {
            b.center_put_product(Product { id: id.into(), name: name.into(), description: format!("The {name}") }).unwrap();
        }
        for (i, (client, product, agent)) in
            [("alice", "router", "ann"), ("alice", "phone", "bo"), ("alice", "router", "bo"), ("bob", "tv", "ann")].iter().enumerate()
        {
            b.center_put_record(InteractionRecord {
                id: format!("h{i}").as_str().into(),
                client: (*client).into(),
                started_at: Timestamp(T0.0 - 86_400_000 * (i as u64 + 1)),
                ended_at: Some(Timestamp(T0.0 - 86_400_000 * (i as u64 + 1) + 600_000)),
                product: Some((*product).into()),
                agent: Some((*agent).into()),
                medium: Medium::Voice,
                direction: Direction::Inbound,
                outcome: Outcome::Completed,
                summary: format!("{client} asked about {product}"),
                notes: vec![],
            })
            .unwrap();
        }
        for (id, client, status) in [("o1", "alice", OrderStatus::Processing), ("o2", "alice", OrderStatus::Shipped), ("o3", "bob", OrderStatus::Placed)] {
            b.center_put_order(Order {
                id: id.into(),
                client: client.into(),
                product: "router".into(),
                status,
                history: vec![StatusChange { at: T0, status }],
                delivery: DeliveryDetails { address: "1 Main St".into(), window: None, instructions: None },
                revision: 1,
            })
            .unwrap();
        }
        b.agent_login(T0, "ann".into(), "Ann", AgentRole::Agent, vec!["router".into(), "phone".into()], vec![Medium::Chat, Medium::Voice, Medium::Callback]);
        Fixture { hub: Embedded::new(b), now: T0 }
    }

    /// Attaches a client with a given installation id and runs until it is synced.
    pub fn connect(&mut self, client: &str, instance: u64) -> Slot {
        let slot = self.hub.add_client(self.now, ClientConfig::new(token(client), instance));
        self.settle();
        slot
    }

    /// Moves time forward by `ms` and runs.
    pub fn advance(&mut self, ms: u64) {
        let until = Timestamp(self.now.0 + ms);
        while let Some(t) = self.hub.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.hub.run(self.now);
        }
        self.now = until;
        self.hub.run(self.now);
    }

    /// Runs at the current time.
    pub fn settle(&mut self) {
        self.hub.run(self.now);
    }

    /// Drains a client's events.
    pub fn events(&mut self, slot: Slot) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.hub.poll_client_event(slot)).collect()
    }

    /// Drains broker events.
    pub fn broker_events(&mut self) -> Vec<BrokerEvent> {
        std::iter::from_fn(|| self.hub.poll_broker_event()).collect()
    }

    /// Agent events of one agent, drained with the rest.
    pub fn agent_events(&mut self, agent: &str) -> Vec<AgentEvent> {
        self.broker_events()
            .into_iter()
            .filter_map(|e| match e {
                BrokerEvent::Agent { agent: a, event } if a.as_str() == agent => Some(event),
                _ => None,
            })
            .collect()
    }

    /// Runs and returns the answer to request `id` (panics if none came).
    pub fn answer(&mut self, slot: Slot, id: RequestId) -> Result<Response, ErrorBody> {
        self.settle();
        self.events(slot)
            .into_iter()
            .find_map(|e| match e {
                ClientEvent::Completed { id: i, result } if i == id => Some(result),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no answer to request {id}"))
    }

    /// Makes agent ann available.
    pub fn ann_available(&mut self) {
        self.hub.broker.agent_set_state(self.now, &AgentId::from("ann"), frontdesk_core::status::AgentState::Available).unwrap();
        self.settle();
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// Shorthand for a client id.
pub fn cid(s: &str) -> ClientId {
    s.into()
}

/// One client and a broker joined by a link the test controls frame by frame: frames can be
/// delivered, duplicated, reordered, or lost with the connection.
pub mod link {
    use super::*;
    use frontdesk_core::broker::ConnId;
    use frontdesk_core::client::Client;
    use std::collections::VecDeque;

    /// The harness.
    pub struct Link {
        /// Broker side.
        pub broker: Broker,
        /// Client side.
        pub client: Client,
        conn: Option<ConnId>,
        /// Frames in flight to the broker.
        pub to_broker: VecDeque<Vec<u8>>,
        /// Frames in flight to the client.
        pub to_client: VecDeque<Vec<u8>>,
        /// Now.
        pub now: Timestamp,
        /// Everything the client told the app.
        pub events: Vec<ClientEvent>,
        /// Everything the broker told the host.
        pub broker_events: Vec<BrokerEvent>,
        /// Frames the broker sent on other connections (an agent console's), with their close flag.
        pub others: VecDeque<(ConnId, Vec<u8>, bool)>,
    }

    impl Link {
        /// A link around a fixture's broker and a new client for `who`.
        pub fn new(f: Fixture, who: &str, instance: u64) -> Self {
            let mut client = Client::new(ClientConfig::new(token(who), instance));
            client.start(f.now);
            let mut l = Link {
                broker: f.hub.broker,
                client,
                conn: None,
                to_broker: VecDeque::new(),
                to_client: VecDeque::new(),
                now: f.now,
                events: vec![],
                broker_events: vec![],
                others: VecDeque::new(),
            };
            l.outputs();
            l
        }

        /// Collects what both sides want to send and say.
        pub fn outputs(&mut self) {
            for _ in 0..4 {
                if self.client.poll_connect() {
                    self.cut();
                    let c = self.broker.open_connection(self.now);
                    self.conn = Some(c);
                    self.client.handle_connected(self.now);
                }
                while let Some(d) = self.client.poll_transmit() {
                    self.to_broker.push_back(d);
                }
                while let Some(t) = self.broker.poll_transmit() {
                    if Some(t.conn) == self.conn {
                        self.to_client.push_back(t.data.into());
                        if t.close {
                            self.to_client.push_back(b"<close>".to_vec());
                        }
                    } else {
                        self.others.push_back((t.conn, t.data.into(), t.close));
                    }
                }
                while let Some(e) = self.client.poll_event() {
                    self.events.push(e);
                }
                while let Some(e) = self.broker.poll_event() {
                    self.broker_events.push(e);
                }
            }
        }

        /// Drops the connection: frames in flight are lost.
        pub fn cut(&mut self) {
            self.to_broker.clear();
            self.to_client.clear();
            if let Some(c) = self.conn.take() {
                self.broker.handle_disconnect(self.now, c);
                self.client.handle_disconnected(self.now);
            }
        }

        /// Delivers the next frame to the broker.
        pub fn to_broker_one(&mut self) {
            if let (Some(d), Some(c)) = (self.to_broker.pop_front(), self.conn) {
                self.broker.handle_input(self.now, c, &d);
            }
            self.outputs();
        }

        /// Delivers the next frame to the client.
        pub fn to_client_one(&mut self) {
            if let Some(d) = self.to_client.pop_front() {
                if d == b"<close>" {
                    self.cut();
                } else {
                    let _ = self.client.handle_input(self.now, &d);
                }
            }
            self.outputs();
        }

        /// Moves time on and runs due timers of both sides.
        pub fn advance(&mut self, ms: u64) {
            self.now = Timestamp(self.now.0 + ms);
            self.client.handle_timeout(self.now);
            self.broker.handle_timeout(self.now);
            self.outputs();
        }

        /// Delivers everything, reconnecting as needed, until both sides are quiet and connected.
        pub fn heal(&mut self) {
            for _ in 0..10_000 {
                if !self.to_broker.is_empty() {
                    self.to_broker_one();
                } else if !self.to_client.is_empty() {
                    self.to_client_one();
                } else if !self.client.is_connected() || self.client.pending_requests().next().is_some() {
                    // Waiting for a reconnect timer, or requests stuck behind a dropped frame.
                    if self.client.is_connected() {
                        self.cut();
                    }
                    let t = self.client.poll_timeout().unwrap_or(self.now);
                    self.advance(t.0.saturating_sub(self.now.0) + 1);
                } else {
                    return;
                }
            }
            panic!("link did not heal");
        }

        /// Answers the app got, by request id.
        pub fn completed(&self, id: RequestId) -> Option<&Result<Response, ErrorBody>> {
            self.events.iter().find_map(|e| match e {
                ClientEvent::Completed { id: i, result } if *i == id => Some(result),
                _ => None,
            })
        }
    }
}
