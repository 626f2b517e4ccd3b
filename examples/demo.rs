//! The main demo: an in-process contact center (the embedded default) with simulated agents and
//! traffic, and a client app that uses it the way a customer would. Runs for about 15 seconds.

use frontdesk_core::alert::AlertRule;
use frontdesk_core::broker::auth::StaticTokens;
use frontdesk_core::broker::{AgentEvent, Broker, BrokerEvent};
use frontdesk_core::client::{ClientConfig, ClientEvent, RequestId};
use frontdesk_core::embedded::{Embedded, Slot};
use frontdesk_core::interaction::{Author, InteractionState};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::profile::{AgendaWindow, Capability, Demographics, Interests, ProfilePatch};
use frontdesk_core::protocol::{Event, Response};
use frontdesk_core::records::{DeliveryDetails, Direction, HistoryFilter, InteractionRecord, Order, OrderStatus, Outcome, Product, StatusChange};
use frontdesk_core::status::{AgentState, CenterStatus};
use frontdesk_core::{AgentId, ClientId, InteractionId, Medium, Timestamp};
use std::time::Duration;

/// 2026-11-25 09:00:00 UTC: the demo's simulated clock starts here.
const START: u64 = 1_795_597_200_000;

struct Demo {
    hub: Embedded,
    now: Timestamp,
    alice: Slot,
    /// Simulated agents' plans: when to accept an offer, when to end a call.
    accept_at: Vec<(Timestamp, AgentId, InteractionId)>,
    end_at: Vec<(Timestamp, AgentId, InteractionId)>,
    last_status: String,
    pace: Duration,
}

fn clock(t: Timestamp) -> String {
    let s = t.to_string();
    s[11..19].to_string()
}

fn hold(secs: Option<f64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 1.0 => "none".into(),
        Some(s) if s < 60.0 => format!("{s:.0}s"),
        Some(s) => format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64),
    }
}

fn status_line(c: &CenterStatus) -> String {
    let mut parts = vec![];
    for q in c.queues.iter().filter(|q| q.medium == Medium::Chat || q.medium == Medium::Voice) {
        parts.push(format!("{}/{}: {} free, {} holding, hold {}", q.name, q.medium, q.agents_available, q.holding, hold(q.estimated_hold_secs)));
    }
    let media: Vec<&str> = c.media_offered.iter().map(|m| m.as_str()).collect();
    format!("{} | offered: {}", parts.join(" · "), if media.is_empty() { "none".into() } else { media.join(" ") })
}

impl Demo {
    fn say(&self, who: &str, text: impl AsRef<str>) {
        println!("[{}] {who:<7} {}", clock(self.now), text.as_ref());
    }

    fn section(&self, title: &str) {
        println!("\n── {title} {}", "─".repeat(70usize.saturating_sub(title.len())));
        std::thread::sleep(self.pace);
    }

    /// Advances simulated time second by second, playing the agents and printing what alice sees.
    fn run_for(&mut self, secs: u64) {
        for _ in 0..secs {
            self.now = Timestamp(self.now.0 + 1000);
            self.hub.run(self.now);
            self.play_agents();
            self.show_alice();
            std::thread::sleep(self.pace / 8);
        }
    }

    fn play_agents(&mut self) {
        let now = self.now;
        while let Some(e) = self.hub.poll_broker_event() {
            if let BrokerEvent::Agent { agent, event } = e {
                match event {
                    AgentEvent::Offered(li) => {
                        let think = 2_000 + (li.id.as_str().len() as u64 * 397) % 4_000;
                        self.accept_at.push((Timestamp(now.0 + think), agent, li.id));
                    }
                    AgentEvent::Connected(li) if li.client.as_str() != "alice" => {
                        let talk = 20_000 + (li.id.as_str().len() as u64 * 7_919) % 40_000;
                        self.end_at.push((Timestamp(now.0 + talk), agent, li.id));
                    }
                    AgentEvent::Chat(m) => self.say(agent.as_str(), format!("reads: “{}”", m.text)),
                    AgentEvent::InvitationUpdated(i) => self.say(agent.as_str(), format!("sees the invitation is {:?}", i.state)),
                    _ => {}
                }
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = self.accept_at.drain(..).partition(|(t, ..)| *t <= now);
        self.accept_at = later;
        for (_, agent, ix) in due {
            let _ = self.hub.broker.agent_accept(now, &agent, &ix);
        }
        let (due, later): (Vec<_>, Vec<_>) = self.end_at.drain(..).partition(|(t, ..)| *t <= now);
        self.end_at = later;
        for (_, agent, ix) in due {
            let _ = self.hub.broker.agent_end(now, &agent, &ix);
        }
        self.hub.run(now);
    }

    fn show_alice(&mut self) {
        while let Some(e) = self.hub.poll_client_event(self.alice) {
            self.print_one(e);
        }
    }

    /// Runs until request `id` is answered, playing the center meanwhile.
    fn wait(&mut self, id: RequestId) -> Response {
        for _ in 0..120 {
            self.hub.run(self.now);
            let mut other = vec![];
            let mut found = None;
            while let Some(e) = self.hub.poll_client_event(self.alice) {
                match e {
                    ClientEvent::Completed { id: i, result } if i == id => found = Some(result),
                    e => other.push(e),
                }
            }
            for e in other {
                self.print_one(e);
            }
            if let Some(r) = found {
                return r.unwrap_or_else(|e| panic!("request {id} failed: {e}"));
            }
            self.run_for(1);
        }
        panic!("request {id} was never answered")
    }

    fn print_one(&mut self, e: ClientEvent) {
        match e {
            ClientEvent::Presence(d) => {
                if let Some(c) = &d.center {
                    let line = status_line(c);
                    if line != self.last_status {
                        self.say("status", &line);
                        self.last_status = line;
                    }
                }
            }
            ClientEvent::Pushed(Event::Alert(a)) => self.say("alert", format!("🔔 {}", a.message)),
            ClientEvent::Pushed(Event::Invitation(i)) => {
                self.say("alice", format!("✉ invitation from {} to {}: “{}” — {:?}", i.agent_name, i.medium, i.message, i.state))
            }
            ClientEvent::Pushed(Event::Interaction(li)) => match li.state {
                InteractionState::Queued { position, estimated_hold_secs } => {
                    self.say("alice", format!("{} waiting: position {position}, estimated hold {}", li.medium, hold(estimated_hold_secs)))
                }
                InteractionState::Connected => self.say("alice", format!("{} connected with {}", li.medium, li.agent.as_ref().map_or("?", |a| a.as_str()))),
                InteractionState::Ended { outcome } => self.say("alice", format!("{} ended ({outcome:?})", li.medium)),
            },
            ClientEvent::Pushed(Event::Chat(m)) => {
                if let Author::Agent(a) = &m.from {
                    self.say("alice", format!("💬 {a}: {}", m.text));
                }
            }
            ClientEvent::Pushed(Event::ChatDelivered { seq, .. }) => self.say("alice", format!("✓ message {seq} delivered to the agent")),
            ClientEvent::Connected { resumed } => self.say("alice", format!("connected ({})", if resumed { "session resumed" } else { "new session" })),
            ClientEvent::Disconnected { retry_at } => self.say("alice", format!("connection lost; retrying at {}", clock(retry_at))),
            _ => {}
        }
    }
}

fn seeded_broker(now: Timestamp) -> Broker {
    let mut tokens = StaticTokens::new().with("alice-token", Principal::Client("alice".into()));
    for i in 0..40 {
        tokens = tokens.with(format!("c{i}-token"), Principal::Client(format!("caller{i}").as_str().into()));
    }
    let mut b = Broker::new(tokens);
    b.configure_queue(now, "support".into(), "Support", vec!["router".into(), "phone".into()], vec![Medium::Chat, Medium::Voice, Medium::Callback, Medium::Email]);
    b.configure_queue(now, "sales".into(), "Sales", vec!["tv".into()], vec![Medium::Chat, Medium::Video]);
    for (id, name, d) in [("router", "FastNet Router", "Wi-Fi 7 home router"), ("phone", "Pocket Phone", "5G phone"), ("tv", "Big TV", "65\" OLED")] {
        b.center_put_product(Product { id: id.into(), name: name.into(), description: d.into() }).unwrap();
    }
    let day = 86_400_000;
    let past = [
        ("router", "ann", Medium::Voice, "Router keeps rebooting", 30),
        ("phone", "bo", Medium::Chat, "Screen replacement quote", 21),
        ("router", "bo", Medium::Email, "Firmware update question", 9),
        ("tv", "chloe", Medium::Video, "Wall mount advice", 3),
    ];
    for (i, (p, a, m, s, days)) in past.into_iter().enumerate() {
        b.center_put_record(InteractionRecord {
            id: format!("past{}", i + 1).as_str().into(),
            client: "alice".into(),
            started_at: Timestamp(now.0 - days * day),
            ended_at: Some(Timestamp(now.0 - days * day + 540_000)),
            product: Some(p.into()),
            agent: Some(a.into()),
            medium: m,
            direction: Direction::Inbound,
            outcome: Outcome::Completed,
            summary: s.into(),
            notes: vec![],
        })
        .unwrap();
    }
    for (id, p, st) in [("A-1001", "router", OrderStatus::Processing), ("A-0977", "tv", OrderStatus::Delivered)] {
        b.center_put_order(Order {
            id: id.into(),
            client: "alice".into(),
            product: p.into(),
            status: st,
            history: vec![StatusChange { at: Timestamp(now.0 - 2 * day), status: OrderStatus::Placed }, StatusChange { at: Timestamp(now.0 - day), status: st }],
            delivery: DeliveryDetails { address: "12 Rue des Lilas, Lyon".into(), window: None, instructions: None },
            revision: 1,
        })
        .unwrap();
    }
    b
}

fn main() {
    let pace = Duration::from_millis(std::env::var("FRONTDESK_DEMO_PACE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(400));
    let now = Timestamp(START);
    let hub = Embedded::new(seeded_broker(now));
    let mut d = Demo { hub, now, alice: 0, accept_at: vec![], end_at: vec![], last_status: String::new(), pace };
    println!("frontdesk demo — a contact center embedded in this process; simulated time runs fast.");
    d.section("The center opens");
    for (id, name, skills, media) in [
        ("ann", "Ann", vec!["router", "phone"], vec![Medium::Chat, Medium::Voice, Medium::Callback]),
        ("bo", "Bo", vec!["router", "phone"], vec![Medium::Chat, Medium::Voice, Medium::Email]),
        ("chloe", "Chloe", vec!["tv"], vec![Medium::Chat, Medium::Video]),
    ] {
        d.hub.broker.agent_login(now, id.into(), name, AgentRole::Agent, skills.into_iter().map(Into::into).collect(), media);
        d.say("center", format!("{name} logged in"));
    }
    d.alice = d.hub.add_client(d.now, ClientConfig::new("alice-token", 42));
    d.run_for(1);
    let v = d.hub.client_ref(d.alice).view();
    d.say("alice", format!("synced: {} orders, {} products, {} queues", v.orders.len(), v.products.len(), v.center.as_ref().map_or(0, |c| c.queues.len() / 2)));
    let alert = d.hub.client(d.alice).subscribe_alert(AlertRule::AgentAvailable { agent: None, product: Some("router".into()), medium: Some(Medium::Chat) });
    d.wait(alert);
    d.say("alice", "asked to be alerted when a router agent is free on chat");
    for a in ["ann", "bo", "chloe"] {
        d.hub.broker.agent_set_state(d.now, &a.into(), AgentState::Available).unwrap();
        d.run_for(1);
    }

    d.section("1. Alice posts her data");
    let id = d.hub.client(d.alice).update_profile(ProfilePatch {
        demographics: Some(Demographics { name: Some("Alice Martin".into()), languages: vec!["fr".into(), "en".into()], country: Some("FR".into()), birth_year: None }),
        capabilities: Some(vec![
            Capability { medium: Medium::Chat, address: None, devices: vec!["mobile".into()] },
            Capability { medium: Medium::Callback, address: Some("+33 4 72 00 00 00".into()), devices: vec!["mobile".into()] },
            Capability { medium: Medium::Email, address: Some("alice@example.org".into()), devices: vec![] },
        ]),
        agenda: Some(vec![AgendaWindow { days: vec![1, 2, 3, 4, 5], start_minute: 18 * 60, end_minute: 21 * 60, time_zone: "Europe/Paris".into(), media: vec![Medium::Callback] }]),
        interests: Some(Interests { products: vec!["router".into(), "tv".into()], topics: vec!["wifi".into()] }),
    });
    let Response::Profile(p) = d.wait(id) else { unreachable!() };
    d.say("alice", format!("profile saved (revision {}): {}, speaks {}, reachable by {}", p.revision, p.demographics.name.unwrap_or_default(), p.demographics.languages.join("/"),
        p.capabilities.iter().map(|c| c.medium.as_str()).collect::<Vec<_>>().join(", ")));
    d.say("alice", "agenda: weekdays 18:00–21:00 Europe/Paris for callbacks; interests: router, tv, wifi");

    d.section("2. Alice reads her history");
    for (label, filter) in [
        ("about the router", HistoryFilter { product: Some("router".into()), ..Default::default() }),
        ("with agent Bo", HistoryFilter { agent: Some("bo".into()), ..Default::default() }),
    ] {
        let id = d.hub.client(d.alice).get_history(filter);
        let Response::History(v) = d.wait(id) else { unreachable!() };
        d.say("alice", format!("{} record(s) {label}:", v.len()));
        for r in v {
            println!("            {}  {:<6} {:<7} {:<5} {}", &r.started_at.to_string()[..10], r.medium, r.product.map(|p| p.0).unwrap_or_default(), r.agent.map(|a| a.0).unwrap_or_default(), r.summary);
        }
    }

    d.section("3. Alice changes the delivery of order A-1001");
    let id = d.hub.client(d.alice).update_delivery("A-1001".into(), DeliveryDetails { address: "4 Quai Rambaud, Lyon".into(), window: Some("weekdays after 18:00".into()), instructions: Some("leave with the concierge".into()) });
    let Response::Order(o) = d.wait(id) else { unreachable!() };
    d.say("alice", format!("order {} ({:?}) now ships to {} — {}", o.id, o.status, o.delivery.address, o.delivery.window.unwrap_or_default()));
    let id = d.hub.client(d.alice).update_delivery("A-0977".into(), DeliveryDetails { address: "elsewhere".into(), ..Default::default() });
    d.hub.run(d.now);
    let refused = loop {
        match d.hub.poll_client_event(d.alice) {
            Some(ClientEvent::Completed { id: i, result: Err(e) }) if i == id => break e,
            Some(_) => continue,
            None => d.run_for(1),
        }
    };
    d.say("alice", format!("order A-0977 refused as expected: {}", refused.message));

    d.section("4. Center status, live, while callers arrive");
    for i in 0..9 {
        let s = d.hub.add_client(d.now, ClientConfig::new(format!("c{i}-token"), 1000 + i));
        let m = if i % 3 == 0 { Medium::Voice } else { Medium::Chat };
        d.hub.client(s).start_interaction(m, Some(if i % 4 == 3 { "tv" } else { "router" }.into()), None, None);
        d.run_for(3);
    }
    d.run_for(20);

    d.section("5. An agent invites Alice");
    let ann: AgentId = "ann".into();
    // Ann may be busy; invitations do not need her free.
    let inv = d.hub.broker.agent_invite(d.now, &ann, &ClientId::from("alice"), Medium::Chat, "Hi Alice, I can help set up the new router — chat now?").unwrap();
    d.run_for(2);
    let id = d.hub.client(d.alice).respond_invitation(inv.id.clone(), true);
    let Response::Invitation(i) = d.wait(id) else { unreachable!() };
    d.say("alice", "accepts");
    let ix = i.interaction.unwrap();
    d.hub.broker.agent_send_chat(d.now, &ann, &ix, "Great! Is the router's light blue or orange?").unwrap();
    d.run_for(2);
    let id = d.hub.client(d.alice).send_chat(ix.clone(), "Orange, blinking.");
    d.wait(id);
    d.run_for(1);
    d.hub.broker.agent_send_chat(d.now, &ann, &ix, "Hold the reset button 10 s; I'll stay with you.").unwrap();
    d.run_for(2);
    d.hub.broker.agent_end(d.now, &ann, &ix).unwrap();
    d.run_for(1);

    d.section("6. Alice picks a medium and starts a chat");
    let c = d.hub.client_ref(d.alice).view().center.clone().unwrap();
    let mut choices: Vec<_> = c.queues.iter().filter(|q| q.queue.as_str() == "support" && q.offered).collect();
    choices.sort_by(|a, b| a.estimated_hold_secs.unwrap_or(f64::MAX).total_cmp(&b.estimated_hold_secs.unwrap_or(f64::MAX)));
    for q in &choices {
        d.say("alice", format!("  {:<8} estimated hold {:<7} ({} holding, {} free)", q.medium.as_str(), hold(q.estimated_hold_secs), q.holding, q.agents_available));
    }
    d.say("alice", "chooses chat");
    let id = d.hub.client(d.alice).start_interaction(Medium::Chat, Some("router".into()), None, Some("Router still blinks orange".into()));
    let Response::Interaction(li) = d.wait(id) else { unreachable!() };
    for _ in 0..90 {
        if d.hub.client_ref(d.alice).view().interactions.get(&li.id).is_some_and(|x| x.state == InteractionState::Connected) {
            break;
        }
        d.run_for(1);
    }
    let agent = d.hub.broker.interaction(&li.id).and_then(|x| x.agent.clone()).expect("an agent answers within 90 s");
    let id = d.hub.client(d.alice).send_chat(li.id.clone(), "Hello, my router still blinks orange after a reset.");
    d.wait(id);
    d.hub.broker.agent_send_chat(d.now, &agent, &li.id, "Thanks Alice — I see a line fault; a technician comes tomorrow 9–11.").unwrap();
    d.run_for(2);
    let id = d.hub.client(d.alice).end_interaction(li.id.clone());
    d.wait(id);
    d.run_for(1);
    let v = d.hub.client_ref(d.alice).view();
    println!("\nDone: {} history records, {} alerts, {} chat messages in this session; simulated {} s.", v.history.len(), v.alerts.len(), v.chats.values().map(Vec::len).sum::<usize>(), (d.now.0 - START) / 1000);
}
