//! An in-process contact center for tests, demos and offline development: a broker seeded with data,
//! simulated agents the caller plays, and clients wired to it in memory.

use crate::client::FrontdeskClient;
use crate::error::FrontdeskError;
use crate::events::{AgentEvent, ClientListener};
use crate::runtime::{wall_clock, EmbeddedEngine, Runtime};
use crate::types::*;
use frontdesk_core as fc;
use frontdesk_core::broker::auth::{AuthError, StaticTokens, Verifier};
use frontdesk_core::broker::Broker;
use frontdesk_core::client::{Client, ClientConfig};
use frontdesk_core::embedded::Embedded;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::Timestamp;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A token table the center can extend after the broker took ownership of its verifier.
#[derive(Clone, Default)]
struct SharedTokens(Arc<Mutex<StaticTokens>>);

impl SharedTokens {
    fn add(&self, token: String, who: Principal, expires: Option<Timestamp>) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let t = std::mem::take(&mut *g);
        *g = match expires {
            Some(at) => t.with_expiry(token, who, at),
            None => t.with(token, who),
        };
    }
}

impl Verifier for SharedTokens {
    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).verify(token, now)
    }
}

/// A whole contact center in this process. Agent methods block briefly (in-memory work only).
#[derive(uniffi::Object)]
pub struct EmbeddedCenter {
    rt: Arc<Runtime>,
    tokens: SharedTokens,
}

const DAY_MS: u64 = 86_400_000;

impl EmbeddedCenter {
    fn hub<R>(&self, f: impl FnOnce(&mut EmbeddedEngine, Timestamp) -> R) -> Result<R, FrontdeskError> {
        self.rt.with(|st, now| {
            let e = st.engine.as_any().downcast_mut::<EmbeddedEngine>().expect("an embedded center runs the embedded engine");
            f(e, now)
        })
    }

    fn broker<R>(&self, f: impl FnOnce(&mut Broker, Timestamp) -> Result<R, fc::protocol::ErrorBody>) -> Result<R, FrontdeskError> {
        self.hub(|e, now| f(&mut e.hub.broker, now))?.map_err(Into::into)
    }

    fn attach(&self, client: Client, listener: Arc<dyn ClientListener>) -> Result<Arc<FrontdeskClient>, FrontdeskError> {
        let key = self.rt.with(|st, now| {
            let e = st.engine.as_any().downcast_mut::<EmbeddedEngine>().expect("embedded engine");
            let key = e.add_client(now, client);
            st.listeners.insert(key, listener);
            key
        })?;
        Ok(Arc::new(FrontdeskClient::new(self.rt.clone(), key)))
    }

    fn seed_demo(&self) -> Result<(), FrontdeskError> {
        let now = wall_clock();
        self.add_client_token("tok-alice".into(), "alice".into());
        self.add_client_token("tok-bob".into(), "bob".into());
        self.tokens.add("tok-old".into(), Principal::Client("carol".into()), Some(now));
        self.configure_queue("support".into(), "Support".into(), vec!["router".into(), "phone".into()], vec![
            Medium::Chat,
            Medium::Voice,
            Medium::Callback,
            Medium::Email,
        ])?;
        self.configure_queue("sales".into(), "Sales".into(), vec!["tv".into()], vec![Medium::Chat, Medium::Video])?;
        for (id, name) in [("router", "FastNet Router"), ("phone", "Pocket Phone"), ("tv", "Big TV")] {
            self.put_product(Product { id: id.into(), name: name.into(), description: format!("The {name}") })?;
        }
        let history = [("alice", "router", "ann"), ("alice", "phone", "bo"), ("alice", "router", "bo"), ("bob", "tv", "ann")];
        for (i, (client, product, agent)) in history.iter().enumerate() {
            let started = now.as_millis() - DAY_MS * (i as u64 + 1);
            self.put_record(InteractionRecord {
                id: format!("h{i}"),
                client_id: (*client).into(),
                started_at_ms: started,
                ended_at_ms: Some(started + 600_000),
                product_id: Some((*product).into()),
                agent_id: Some((*agent).into()),
                medium: Medium::Voice,
                direction: Direction::Inbound,
                outcome: Outcome::Completed,
                summary: format!("{client} asked about {product}"),
                notes: vec![],
            })?;
        }
        for (id, client, status) in [("o1", "alice", OrderStatus::Processing), ("o2", "alice", OrderStatus::Shipped), ("o3", "bob", OrderStatus::Placed)] {
            self.put_order(Order {
                id: id.into(),
                client_id: client.into(),
                product_id: "router".into(),
                status,
                history: vec![StatusChange { at_ms: now.as_millis(), status }],
                delivery: DeliveryDetails { address: "1 Main St".into(), window: None, instructions: None },
                revision: 1,
            })?;
        }
        self.agent_login("ann".into(), "Ann".into(), vec!["router".into(), "phone".into()], vec![Medium::Chat, Medium::Voice, Medium::Callback])?;
        self.agent_login("bo".into(), "Bo".into(), vec!["tv".into()], vec![Medium::Chat, Medium::Video])?;
        Ok(())
    }
}

#[uniffi::export]
impl EmbeddedCenter {
    /// An empty center: no queues, products, agents or tokens yet.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        let tokens = SharedTokens::default();
        let hub = Embedded::new(Broker::new(tokens.clone()));
        Arc::new(EmbeddedCenter { rt: Runtime::start(Box::new(EmbeddedEngine::new(hub))), tokens })
    }

    /// A demo center: tokens `tok-alice`, `tok-bob` (and `tok-old`, already expired); queues `support`
    /// (router, phone: chat, voice, callback, email) and `sales` (tv: chat, video); products `router`,
    /// `phone`, `tv`; alice's orders `o1` (processing), `o2` (shipped), bob's `o3`; four history records
    /// one to four days old; agents `ann` (router, phone) and `bo` (tv), logged in but away.
    #[uniffi::constructor]
    pub fn demo() -> Result<Arc<Self>, FrontdeskError> {
        let c = Self::new();
        c.seed_demo()?;
        Ok(c)
    }

    /// Milliseconds since the epoch on the center's clock (the wall clock).
    pub fn now_ms(&self) -> u64 {
        wall_clock().as_millis()
    }

    /// Lets `token` in as client `client_id`.
    pub fn add_client_token(&self, token: String, client_id: String) {
        self.tokens.add(token, Principal::Client(fc::ClientId(client_id)), None);
    }

    /// Configures a queue: the products it serves, on which media.
    pub fn configure_queue(&self, queue_id: String, name: String, products: Vec<String>, media: Vec<Medium>) -> Result<(), FrontdeskError> {
        self.broker(|b, now| {
            b.configure_queue(now, fc::QueueId(queue_id), &name, products.into_iter().map(fc::ProductId).collect(), media.into_iter().map(Into::into).collect());
            Ok(())
        })
    }

    /// Sets a queue's business hours, written as `Mon-Fri 09:00-17:00, Sat 10:00-14:00 +01:00`
    /// (none: always open); outside them its live media are not offered and email still is.
    #[uniffi::method(default(hours = None))]
    pub fn set_queue_hours(&self, queue_id: String, hours: Option<String>) -> Result<(), FrontdeskError> {
        let hours = hours
            .map(|h| fc::monitor::hours::BusinessHours::parse(&h))
            .transpose()
            .map_err(|why| FrontdeskError::Invalid { message: format!("hours: {why}") })?;
        self.broker(|b, now| b.set_queue_hours(now, fc::QueueId(queue_id), hours).map_err(Into::into))
    }

    /// Adds or replaces a product.
    pub fn put_product(&self, product: Product) -> Result<(), FrontdeskError> {
        self.broker(|b, _| b.center_put_product(product.into()))
    }

    /// Adds or replaces a history record; its client is told.
    pub fn put_record(&self, record: InteractionRecord) -> Result<(), FrontdeskError> {
        self.broker(|b, _| b.center_put_record(record.into()))
    }

    /// Adds or replaces an order; its client is told.
    pub fn put_order(&self, order: Order) -> Result<(), FrontdeskError> {
        self.broker(|b, _| b.center_put_order(order.into()))
    }

    /// Moves an order to a new status (e.g. shipped); its client is told.
    pub fn set_order_status(&self, order_id: String, status: OrderStatus) -> Result<Order, FrontdeskError> {
        self.broker(|b, now| b.center_set_order_status(now, &fc::OrderId(order_id), status.into())).map(Into::into)
    }

    /// Logs a simulated agent in (away until `agent_set_state`).
    pub fn agent_login(&self, agent_id: String, name: String, skills: Vec<String>, media: Vec<Medium>) -> Result<(), FrontdeskError> {
        self.broker(|b, now| {
            b.agent_login(
                now,
                fc::AgentId(agent_id),
                &name,
                AgentRole::Agent,
                skills.into_iter().map(fc::ProductId).collect(),
                media.into_iter().map(Into::into).collect(),
            );
            Ok(())
        })
    }

    /// Changes an agent's state (available, away, …); center status and alerts follow.
    pub fn agent_set_state(&self, agent_id: String, state: AgentState) -> Result<(), FrontdeskError> {
        self.broker(|b, now| b.agent_set_state(now, &fc::AgentId(agent_id), state.into()))
    }

    /// An agent invites a client to an interaction in a medium.
    pub fn agent_invite(&self, agent_id: String, client_id: String, medium: Medium, message: String) -> Result<Invitation, FrontdeskError> {
        self.broker(|b, now| b.agent_invite(now, &fc::AgentId(agent_id), &fc::ClientId(client_id), medium.into(), &message)).map(Into::into)
    }

    /// An agent answers an invitation a client sent it.
    pub fn agent_respond_invitation(&self, agent_id: String, invitation_id: String, accept: bool) -> Result<Invitation, FrontdeskError> {
        self.broker(|b, now| b.agent_respond_invitation(now, &fc::AgentId(agent_id), &fc::InvitationId(invitation_id), accept)).map(Into::into)
    }

    /// An agent accepts the interaction offered to it.
    pub fn agent_accept(&self, agent_id: String, interaction_id: String) -> Result<LiveInteraction, FrontdeskError> {
        self.broker(|b, now| b.agent_accept(now, &fc::AgentId(agent_id), &fc::InteractionId(interaction_id))).map(Into::into)
    }

    /// An agent declines the interaction offered to it.
    pub fn agent_decline(&self, agent_id: String, interaction_id: String) -> Result<(), FrontdeskError> {
        self.broker(|b, now| b.agent_decline(now, &fc::AgentId(agent_id), &fc::InteractionId(interaction_id)))
    }

    /// An agent sends a chat message in an interaction it handles.
    pub fn agent_send_chat(&self, agent_id: String, interaction_id: String, text: String) -> Result<ChatMessage, FrontdeskError> {
        self.broker(|b, now| b.agent_send_chat(now, &fc::AgentId(agent_id), &fc::InteractionId(interaction_id), &text)).map(Into::into)
    }

    /// An agent ends an interaction it handles.
    pub fn agent_end(&self, agent_id: String, interaction_id: String) -> Result<LiveInteraction, FrontdeskError> {
        self.broker(|b, now| b.agent_end(now, &fc::AgentId(agent_id), &fc::InteractionId(interaction_id))).map(Into::into)
    }

    /// Blocks until the agent's next event (oldest first), or throws `Timeout`.
    pub fn next_agent_event(&self, agent_id: String, timeout_ms: u64) -> Result<AgentEvent, FrontdeskError> {
        self.rt.wait_for(Duration::from_millis(timeout_ms), &format!("event for agent {agent_id}"), |st| st.take_agent_event(&agent_id))
    }

    /// Connects a client with `token`; `instance` names the app installation (keep it across restarts).
    /// Its events go to `listener`, on the library's background thread.
    pub fn connect(&self, token: String, instance: u64, listener: Arc<dyn ClientListener>) -> Result<Arc<FrontdeskClient>, FrontdeskError> {
        self.attach(Client::new(ClientConfig::new(token, instance)), listener)
    }

    /// Connects a client that continues what `FrontdeskClient.save_state` returned (its installation
    /// id, unanswered requests and watches), as an app restarted after its process was killed.
    pub fn restore(&self, token: String, state_json: String, listener: Arc<dyn ClientListener>) -> Result<Arc<FrontdeskClient>, FrontdeskError> {
        let saved = crate::client::saved_state(&state_json)?;
        self.attach(Client::restore(ClientConfig::new(token, 0), saved), listener)
    }

    /// Cuts (`false`) or restores a client's network, to see it reconnect and resume.
    pub fn set_client_online(&self, client: Arc<FrontdeskClient>, online: bool) -> Result<(), FrontdeskError> {
        let ok = self.hub(|e, now| e.set_online(now, client.key(), online))?;
        ok.then_some(()).ok_or_else(|| FrontdeskError::Closed { message: "this client was closed".into() })
    }

    /// Stops the center's thread; every client of it then throws `Closed`.
    pub fn shutdown(&self) {
        self.rt.shutdown();
    }
}
