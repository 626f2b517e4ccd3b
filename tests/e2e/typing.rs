//! Typing notices and read receipts between a client's app and an agent's console: typing is soft
//! (unsequenced, expiring, rate-limited) and only between the two parties; read marks are durable,
//! monotonic and refused to anyone else.

use frontdesk_core::agent::{AgentClient, AgentClientEvent, AgentConfig};
use frontdesk_core::broker::{Broker, ConnId};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::protocol::{AgentEvent, ErrorCode, Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::typing::Typing;
use frontdesk_core::{InteractionId, Medium, Timestamp};
use frontdesk_tests::{token, Fixture};

enum App {
    Client(Client),
    Console(AgentClient),
}

/// One app on the broker, with what reached it.
struct Party {
    app: App,
    conn: Option<ConnId>,
    online: bool,
    client_events: Vec<ClientEvent>,
    console_events: Vec<AgentClientEvent>,
    /// Every frame the broker sent this party, as text.
    frames: Vec<String>,
}

/// A broker and its parties, every frame delivered at once.
struct Net {
    b: Broker,
    now: Timestamp,
    p: Vec<Party>,
}

const ALICE: usize = 0;
const BOB: usize = 1;
const ANN: usize = 2;

impl Net {
    fn new() -> Self {
        let f = Fixture::new();
        let now = f.now;
        let mut b = f.hub.broker;
        b.agent_logout(now, &"ann".into()).unwrap();
        let mut n = Net { b, now, p: vec![] };
        for who in ["alice", "bob"] {
            n.add(App::Client(Client::new(ClientConfig::new(token(who), 1))));
        }
        n.add(App::Console(AgentClient::new(AgentConfig::new("tok-agent", 9, "Ann", vec![Medium::Chat]).with_skills(vec!["router".into()]))));
        n.run();
        n
    }

    fn add(&mut self, mut app: App) {
        match &mut app {
            App::Client(c) => c.start(self.now),
            App::Console(c) => c.start(self.now),
        }
        self.p.push(Party { app, conn: None, online: true, client_events: vec![], console_events: vec![], frames: vec![] });
    }

    fn client(&mut self, i: usize) -> &mut Client {
        match &mut self.p[i].app {
            App::Client(c) => c,
            App::Console(_) => panic!("not a client"),
        }
    }

    fn console(&mut self) -> &mut AgentClient {
        match &mut self.p[ANN].app {
            App::Console(c) => c,
            App::Client(_) => panic!("not a console"),
        }
    }

    /// Delivers everything until all is quiet.
    fn run(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            for i in 0..self.p.len() {
                let now = self.now;
                let p = &mut self.p[i];
                let connect = match &mut p.app {
                    App::Client(c) => c.poll_connect(),
                    App::Console(c) => c.poll_connect(),
                };
                if connect && p.online {
                    if let Some(old) = p.conn.take() {
                        self.b.handle_disconnect(now, old);
                    }
                    p.conn = Some(self.b.open_connection(now));
                    match &mut p.app {
                        App::Client(c) => c.handle_connected(now),
                        App::Console(c) => c.handle_connected(now),
                    }
                }
                loop {
                    let out = match &mut p.app {
                        App::Client(c) => c.poll_transmit(),
                        App::Console(c) => c.poll_transmit(),
                    };
                    let Some(d) = out else { break };
                    moved = true;
                    if let Some(conn) = p.conn {
                        self.b.handle_input(now, conn, &d);
                    }
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                let now = self.now;
                let Some(p) = self.p.iter_mut().find(|p| p.conn == Some(t.conn)) else { continue };
                p.frames.push(String::from_utf8_lossy(&t.data).into_owned());
                match &mut p.app {
                    App::Client(c) => drop(c.handle_input(now, &t.data)),
                    App::Console(c) => drop(c.handle_input(now, &t.data)),
                }
            }
            while self.b.poll_event().is_some() {}
            for p in &mut self.p {
                match &mut p.app {
                    App::Client(c) => p.client_events.extend(std::iter::from_fn(|| c.poll_event())),
                    App::Console(c) => p.console_events.extend(std::iter::from_fn(|| c.poll_event())),
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Moves time on, runs every timer due.
    fn advance(&mut self, ms: u64) {
        self.now = Timestamp(self.now.0 + ms);
        let now = self.now;
        self.b.handle_timeout(now);
        for p in &mut self.p {
            match &mut p.app {
                App::Client(c) => c.handle_timeout(now),
                App::Console(c) => c.handle_timeout(now),
            }
        }
        self.run();
    }

    /// Cuts a party's connection; it stays away until `reconnect`.
    fn disconnect(&mut self, i: usize) {
        let now = self.now;
        let p = &mut self.p[i];
        p.online = false;
        if let Some(c) = p.conn.take() {
            self.b.handle_disconnect(now, c);
        }
        match &mut p.app {
            App::Client(c) => c.handle_disconnected(now),
            App::Console(c) => c.handle_disconnected(now),
        }
        self.run();
    }

    fn reconnect(&mut self, i: usize) {
        self.p[i].online = true;
        self.advance(60_000);
    }

    /// A frame typed by hand on a party's connection (what a modified app could send).
    fn raw(&mut self, i: usize, frame: &str) {
        let conn = self.p[i].conn.expect("connected");
        self.b.handle_input(self.now, conn, frame.as_bytes());
        self.run();
    }

    fn typing_frames(&self, i: usize) -> usize {
        self.p[i].frames.iter().filter(|f| f.starts_with(r#"{"t":"typing""#)).count()
    }

    /// Alice starts a chat and Ann's console takes it.
    fn chat(&mut self) -> InteractionId {
        self.console().set_state(AgentState::Available);
        self.run();
        self.client(ALICE).start_interaction(Medium::Chat, Some("router".into()), None, Some("wifi".into()));
        self.run();
        let offered = self.p[ANN]
            .console_events
            .iter()
            .find_map(|e| match e {
                AgentClientEvent::Pushed { event: AgentEvent::Offered(li) } => Some(li.id.clone()),
                _ => None,
            })
            .expect("offered to ann");
        self.console().accept(offered.clone());
        self.run();
        assert_eq!(self.client(ALICE).view().interactions[&offered].state, InteractionState::Connected);
        offered
    }
}

fn console_typing(n: &Net) -> Vec<bool> {
    n.p[ANN].console_events.iter().filter_map(|e| if let AgentClientEvent::Typing { on, .. } = e { Some(*on) } else { None }).collect()
}

fn client_typing(n: &Net, i: usize) -> Vec<bool> {
    n.p[i].client_events.iter().filter_map(|e| if let ClientEvent::Typing { on, .. } = e { Some(*on) } else { None }).collect()
}

#[test]
fn typing_reaches_the_other_party_unsequenced_and_expires() {
    let mut n = Net::new();
    let ix = n.chat();
    let (alice_seq, ann_seq) = (n.client(ALICE).last_event_seq(), n.console().last_event_seq());
    let now = n.now;
    assert_eq!(n.client(ALICE).send_typing(now, &ix, true), Ok(true));
    n.run();
    assert_eq!(console_typing(&n), vec![true]);
    assert!(n.console().view().typing.is_typing(&ix));
    // Keystrokes within the refresh period send nothing more.
    assert_eq!(n.client(ALICE).send_typing(now, &ix, true), Ok(false));
    // No refresh: the console forgets it by itself.
    n.advance(5_000);
    assert!(n.console().view().typing.is_typing(&ix));
    n.advance(1_500);
    assert!(!n.console().view().typing.is_typing(&ix));
    assert_eq!(console_typing(&n), vec![true, false]);
    // The agent's side, and an explicit stop.
    let now = n.now;
    assert_eq!(n.console().send_typing(now, &ix, true), Ok(true));
    n.run();
    assert!(n.client(ALICE).view().typing.is_typing(&ix));
    assert_eq!(n.console().send_typing(now, &ix, false), Ok(true));
    n.run();
    assert_eq!(client_typing(&n, ALICE), vec![true, false]);
    // Soft state: nothing was sequenced on either side, and bob heard nothing.
    assert_eq!((n.client(ALICE).last_event_seq(), n.console().last_event_seq()), (alice_seq, ann_seq));
    assert_eq!(n.typing_frames(BOB), 0);
    // Offline, a notice is dropped rather than queued for later.
    n.disconnect(ALICE);
    let now = n.now;
    assert_eq!(n.client(ALICE).send_typing(now, &ix, true), Ok(false));
    n.reconnect(ALICE);
    assert_eq!(console_typing(&n), vec![true, false]);
}

#[test]
fn typing_is_rate_limited_per_interaction() {
    let mut n = Net::new();
    let ix = n.chat();
    let frame = Typing::frame(&ix, true);
    for _ in 0..20 {
        n.raw(ALICE, &frame);
    }
    assert_eq!(n.typing_frames(ANN), 4, "at most 4 a second pass; the rest are dropped silently");
    assert!(!n.p[ALICE].frames.iter().any(|f| f.contains(r#""t":"error""#)), "{:?}", n.p[ALICE].frames);
    n.advance(1_000);
    n.raw(ALICE, &frame);
    assert_eq!(n.typing_frames(ANN), 5, "the next second passes again");
}

#[test]
fn typing_for_another_clients_interaction_is_refused() {
    let mut n = Net::new();
    let ix = n.chat();
    let now = n.now;
    let e = n.client(BOB).send_typing(now, &ix, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    // Written by hand, it is refused by the broker with a typed error and goes nowhere.
    n.raw(BOB, &Typing::frame(&ix, true));
    let refused = n.p[BOB].client_events.iter().find_map(|e| if let ClientEvent::ProtocolError(e) = e { Some(e.clone()) } else { None });
    assert_eq!(refused.map(|e| e.code), Some(ErrorCode::NotFound));
    assert_eq!(n.typing_frames(ANN), 0);
    assert!(n.client(BOB).is_connected(), "a refusal is not fatal");
}

fn answer(n: &Net, i: usize, id: u64) -> Result<Response, frontdesk_core::protocol::ErrorBody> {
    n.p[i]
        .client_events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Completed { id: x, result } if *x == id => Some(result.clone()),
            _ => None,
        })
        .expect("answered")
}

fn reads_at_console(n: &Net) -> Vec<u64> {
    n.p[ANN]
        .console_events
        .iter()
        .filter_map(|e| match e {
            AgentClientEvent::Pushed { event: AgentEvent::ChatRead { seq, .. } } => Some(*seq),
            _ => None,
        })
        .collect()
}

#[test]
fn read_marks_are_monotonic_and_told_to_the_agent() {
    let mut n = Net::new();
    let ix = n.chat();
    for t in ["hello", "how can I help?", "anything else?"] {
        n.console().send_chat(ix.clone(), t);
    }
    n.run();
    let id = n.client(ALICE).mark_read(ix.clone(), 2);
    n.run();
    assert_eq!(answer(&n, ALICE, id), Ok(Response::Done));
    assert_eq!(reads_at_console(&n), vec![2]);
    assert!(n.console().view().is_read(&ix, 2) && !n.console().view().is_read(&ix, 3));
    // A lower or equal mark changes nothing and tells no one.
    let id = n.client(ALICE).mark_read(ix.clone(), 1);
    n.run();
    assert_eq!(answer(&n, ALICE, id), Ok(Response::Done));
    n.client(ALICE).mark_read(ix.clone(), 2);
    n.run();
    assert_eq!(reads_at_console(&n), vec![2]);
    // Past the last message is refused.
    let id = n.client(ALICE).mark_read(ix.clone(), 99);
    n.run();
    assert_eq!(answer(&n, ALICE, id).unwrap_err().code, ErrorCode::Invalid);
    n.client(ALICE).mark_read(ix.clone(), 3);
    n.run();
    assert_eq!(reads_at_console(&n), vec![2, 3]);
}

#[test]
fn read_marks_survive_a_reconnect_and_a_fresh_start() {
    let mut n = Net::new();
    let ix = n.chat();
    n.client(ALICE).send_chat(ix.clone(), "my wifi drops");
    n.client(ALICE).send_chat(ix.clone(), "every hour");
    n.run();
    n.disconnect(ALICE);
    n.console().mark_read(ix.clone(), 2);
    n.run();
    assert!(!n.p[ALICE].client_events.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::ChatRead { .. }))));
    n.reconnect(ALICE);
    assert!(n.p[ALICE].client_events.iter().any(|e| matches!(e, ClientEvent::Pushed(Event::ChatRead { seq: 2, .. }))), "replayed after the reconnect");
    assert_eq!(n.client(ALICE).view().read.get(&ix), Some(&2));
    // A new installation (a fresh session) reads it from the live interaction.
    n.add(App::Client(Client::new(ClientConfig::new(token("alice"), 77))));
    n.run();
    let fresh = n.p.len() - 1;
    n.client(fresh).request(frontdesk_core::protocol::Request::GetLive);
    n.run();
    assert_eq!(n.client(fresh).view().read.get(&ix), Some(&2));
}

#[test]
fn read_marks_are_refused_to_a_stranger() {
    let mut n = Net::new();
    let ix = n.chat();
    n.console().send_chat(ix.clone(), "hello");
    n.run();
    let id = n.client(BOB).mark_read(ix.clone(), 1);
    n.run();
    assert_eq!(answer(&n, BOB, id).unwrap_err().code, ErrorCode::NotFound);
    assert!(reads_at_console(&n).is_empty());
    // An agent that does not handle it is refused too.
    let other = n.b.agent_mark_read(n.now, &"bo".into(), &ix, 1).unwrap_err();
    assert_eq!(other.code, ErrorCode::Forbidden);
    assert_eq!(n.client(ALICE).view().read.get(&ix), None);
}
