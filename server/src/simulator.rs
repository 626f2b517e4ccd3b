//! A simulated center for a server with no real one plugged in: seed data, bot agents that take
//! interactions and answer chats, and agents going on and off breaks so status moves.

use frontdesk_core::broker::{AgentEvent, Broker, BrokerEvent};
use frontdesk_core::principal::AgentRole;
use frontdesk_core::records::{DeliveryDetails, Direction, InteractionRecord, Order, OrderStatus, Outcome, Product, StatusChange};
use frontdesk_core::status::AgentState;
use frontdesk_core::{AgentId, InteractionId, Medium, Timestamp};

/// Queues, products and sample data for a fresh database.
pub fn seed(b: &mut Broker, now: Timestamp, with_data: bool) {
    b.configure_queue(now, "support".into(), "Support", vec!["router".into(), "phone".into()], vec![Medium::Chat, Medium::Voice, Medium::Callback, Medium::Email]);
    b.configure_queue(now, "sales".into(), "Sales", vec!["tv".into()], vec![Medium::Chat, Medium::Video]);
    if !with_data {
        return;
    }
    for (id, name, d) in [("router", "FastNet Router", "Wi-Fi 7 home router"), ("phone", "Pocket Phone", "5G phone"), ("tv", "Big TV", "65\" OLED")] {
        let _ = b.center_put_product(Product { id: id.into(), name: name.into(), description: d.into() });
    }
    let day = 86_400_000;
    for (i, (client, p, a, m, s)) in [
        ("alice", "router", "ann", Medium::Voice, "Router keeps rebooting"),
        ("alice", "phone", "bo", Medium::Chat, "Screen replacement quote"),
        ("bob", "tv", "chloe", Medium::Video, "Wall mount advice"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = Timestamp(now.0.saturating_sub((i as u64 + 2) * 7 * day));
        let _ = b.center_put_record(InteractionRecord {
            id: format!("seed{}", i + 1).as_str().into(),
            client: client.into(),
            started_at: at,
            ended_at: Some(Timestamp(at.0 + 600_000)),
            product: Some(p.into()),
            agent: Some(a.into()),
            medium: m,
            direction: Direction::Inbound,
            outcome: Outcome::Completed,
            summary: s.into(),
            notes: vec![],
        });
    }
    for (id, client, p, st) in [("A-1001", "alice", "router", OrderStatus::Processing), ("B-2001", "bob", "tv", OrderStatus::Placed)] {
        let _ = b.center_put_order(Order {
            id: id.into(),
            client: client.into(),
            product: p.into(),
            status: st,
            history: vec![StatusChange { at: Timestamp(now.0.saturating_sub(day)), status: st }],
            delivery: DeliveryDetails { address: "12 Rue des Lilas, Lyon".into(), window: None, instructions: None },
            revision: 1,
        });
    }
}

enum Plan {
    Accept(AgentId, InteractionId),
    Reply(AgentId, InteractionId, String),
    Break(AgentId, bool),
}

/// Bot agents.
pub struct Simulator {
    bots: Vec<AgentId>,
    plans: Vec<(Timestamp, Plan)>,
    turn: u64,
}

impl Simulator {
    /// Logs the bots in and makes them available.
    pub fn start(b: &mut Broker, now: Timestamp) -> Self {
        let bots: Vec<(&str, &str, Vec<&str>, Vec<Medium>)> = vec![
            ("bot-ann", "Ann (bot)", vec!["router", "phone"], vec![Medium::Chat, Medium::Voice, Medium::Callback, Medium::Email]),
            ("bot-chloe", "Chloe (bot)", vec!["tv"], vec![Medium::Chat, Medium::Video]),
        ];
        let mut ids = vec![];
        for (id, name, skills, media) in bots {
            let a: AgentId = id.into();
            b.agent_login(now, a.clone(), name, AgentRole::Agent, skills.into_iter().map(Into::into).collect(), media);
            let _ = b.agent_set_state(now, &a, AgentState::Available);
            ids.push(a);
        }
        let mut s = Simulator { bots: ids, plans: vec![], turn: 0 };
        for (i, a) in s.bots.clone().into_iter().enumerate() {
            s.plans.push((Timestamp(now.0 + 45_000 + 20_000 * i as u64), Plan::Break(a, true)));
        }
        s
    }

    /// When the next bot action is due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.plans.iter().map(|(t, _)| *t).min()
    }

    /// Reacts to what the broker says to a bot.
    pub fn on_event(&mut self, now: Timestamp, e: &BrokerEvent) {
        let BrokerEvent::Agent { agent, event } = e else { return };
        if !self.bots.contains(agent) {
            return;
        }
        self.turn += 1;
        match event {
            AgentEvent::Offered(li) => self.plans.push((Timestamp(now.0 + 1_500 + self.turn % 3 * 1000), Plan::Accept(agent.clone(), li.id.clone()))),
            AgentEvent::Connected(li) if li.medium == Medium::Chat => {
                self.plans.push((Timestamp(now.0 + 800), Plan::Reply(agent.clone(), li.id.clone(), "Hello! I'm a simulated agent — how can I help?".into())))
            }
            AgentEvent::Chat(m) => {
                let text = format!("Thanks — noted: “{}”. Anything else?", m.text.chars().take(80).collect::<String>());
                self.plans.push((Timestamp(now.0 + 1_200), Plan::Reply(agent.clone(), m.interaction.clone(), text)));
            }
            _ => {}
        }
    }

    /// Runs due bot actions.
    pub fn handle_timeout(&mut self, now: Timestamp, b: &mut Broker) {
        let (due, later): (Vec<_>, Vec<_>) = self.plans.drain(..).partition(|(t, _)| *t <= now);
        self.plans = later;
        for (_, p) in due {
            match p {
                Plan::Accept(a, ix) => {
                    let _ = b.agent_accept(now, &a, &ix);
                }
                Plan::Reply(a, ix, text) => {
                    let _ = b.agent_send_chat(now, &a, &ix, &text);
                }
                Plan::Break(a, going) => {
                    let busy = b.monitor().agent(&a).is_some_and(|s| s.state == AgentState::Busy);
                    if !busy {
                        let _ = b.agent_set_state(now, &a, if going { AgentState::Away } else { AgentState::Available });
                    }
                    let next = if going { 20_000 } else { 60_000 };
                    self.plans.push((Timestamp(now.0 + next), Plan::Break(a, !going || busy)));
                }
            }
        }
    }
}
