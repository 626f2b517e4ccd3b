//! The embedded default: a broker and its clients in one process, frames handed over in memory.
//!
//! The host still owns time: it calls [`Embedded::run`] with `now` whenever something happened or
//! [`Embedded::poll_timeout`] is due. Links can be cut and restored to simulate a phone that sleeps or
//! changes network.

use crate::broker::{Broker, BrokerEvent, ConnId};
use crate::client::{Client, ClientConfig, ClientEvent};
use crate::time::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A client slot in the embedded hub.
pub type Slot = usize;

#[derive(Debug)]
struct Attached {
    client: Client,
    conn: Option<ConnId>,
    online: bool,
    events: VecDeque<ClientEvent>,
}

/// A broker and clients wired together in memory.
#[derive(Debug)]
pub struct Embedded {
    /// The broker (agents and the center are driven through it).
    pub broker: Broker,
    clients: BTreeMap<Slot, Attached>,
    by_conn: HashMap<ConnId, Slot>,
    next_slot: Slot,
    broker_events: VecDeque<BrokerEvent>,
}

impl Embedded {
    /// Wraps a broker.
    pub fn new(broker: Broker) -> Self {
        Embedded { broker, clients: BTreeMap::new(), by_conn: HashMap::new(), next_slot: 0, broker_events: VecDeque::new() }
    }

    /// Adds a client and starts it.
    pub fn add_client(&mut self, now: Timestamp, cfg: ClientConfig) -> Slot {
        self.attach(now, Client::new(cfg))
    }

    /// Adds an existing (e.g. restored) client and starts it.
    pub fn attach(&mut self, now: Timestamp, mut client: Client) -> Slot {
        client.start(now);
        let slot = self.next_slot;
        self.next_slot += 1;
        self.clients.insert(slot, Attached { client, conn: None, online: true, events: VecDeque::new() });
        self.run(now);
        slot
    }

    /// Removes a client (the app was killed); returns it so its state can be saved.
    pub fn detach(&mut self, now: Timestamp, slot: Slot) -> Option<Client> {
        let a = self.clients.remove(&slot)?;
        if let Some(c) = a.conn {
            self.by_conn.remove(&c);
            self.broker.handle_disconnect(now, c);
        }
        self.run(now);
        Some(a.client)
    }

    /// The client in a slot.
    pub fn client(&mut self, slot: Slot) -> &mut Client {
        &mut self.clients.get_mut(&slot).expect("no such client slot").client
    }

    /// Read-only access to a client.
    pub fn client_ref(&self, slot: Slot) -> &Client {
        &self.clients.get(&slot).expect("no such client slot").client
    }

    /// Cuts or restores a client's network. Cutting drops the current connection on both sides.
    pub fn set_online(&mut self, now: Timestamp, slot: Slot, online: bool) {
        let a = self.clients.get_mut(&slot).expect("no such client slot");
        a.online = online;
        if !online {
            if let Some(c) = a.conn.take() {
                self.by_conn.remove(&c);
                a.client.handle_disconnected(now);
                self.broker.handle_disconnect(now, c);
            }
        }
        self.run(now);
    }

    /// Next app event of a client.
    pub fn poll_client_event(&mut self, slot: Slot) -> Option<ClientEvent> {
        self.clients.get_mut(&slot)?.events.pop_front()
    }

    /// Next broker event (agent consoles).
    pub fn poll_broker_event(&mut self) -> Option<BrokerEvent> {
        self.broker_events.pop_front()
    }

    /// Earliest time anything wants to run.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let b = self.broker.poll_timeout();
        let c = self.clients.values().filter_map(|a| a.client.poll_timeout()).min();
        [b, c].into_iter().flatten().min()
    }

    /// Runs due timers and moves frames until nothing is left to do at `now`.
    pub fn run(&mut self, now: Timestamp) {
        if self.broker.poll_timeout().is_some_and(|t| t <= now) {
            self.broker.handle_timeout(now);
        }
        let slots: Vec<Slot> = self.clients.keys().copied().collect();
        for s in &slots {
            let a = self.clients.get_mut(s).expect("listed");
            if a.client.poll_timeout().is_some_and(|t| t <= now) {
                a.client.handle_timeout(now);
            }
        }
        loop {
            let mut moved = false;
            for s in &slots {
                let Some(a) = self.clients.get_mut(s) else { continue };
                if a.client.poll_connect() {
                    if let Some(old) = a.conn.take() {
                        self.by_conn.remove(&old);
                        self.broker.handle_disconnect(now, old);
                    }
                    if a.online {
                        let conn = self.broker.open_connection(now);
                        a.conn = Some(conn);
                        self.by_conn.insert(conn, *s);
                        a.client.handle_connected(now);
                    } else {
                        // No network: the attempt fails at once and backs off.
                        a.client.handle_connected(now);
                        a.client.handle_disconnected(now);
                    }
                    moved = true;
                }
                while let Some(data) = a.client.poll_transmit() {
                    moved = true;
                    if let Some(conn) = a.conn {
                        self.broker.handle_input(now, conn, &data);
                    }
                }
            }
            while let Some(t) = self.broker.poll_transmit() {
                moved = true;
                let Some(slot) = self.by_conn.get(&t.conn).copied() else { continue };
                let a = self.clients.get_mut(&slot).expect("indexed");
                // A malformed frame from the broker is a bug there; the client reports and drops it.
                let _ = a.client.handle_input(now, &t.data);
                if t.close {
                    self.by_conn.remove(&t.conn);
                    a.conn = None;
                    a.client.handle_disconnected(now);
                    self.broker.handle_disconnect(now, t.conn);
                }
            }
            for a in self.clients.values_mut() {
                while let Some(e) = a.client.poll_event() {
                    a.events.push_back(e);
                }
            }
            while let Some(e) = self.broker.poll_event() {
                self.broker_events.push_back(e);
            }
            if !moved {
                break;
            }
        }
    }
}
