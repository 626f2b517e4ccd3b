//! The client object apps hold: requests return at once with an id, answers and pushes reach the listener.

use crate::error::{not_found, FrontdeskError};
use crate::events::Response;
use crate::runtime::{ClientKey, Runtime, State};
use crate::types::*;
use frontdesk_core as fc;
use frontdesk_core::client::{Client, RequestId};
use std::sync::Arc;
use std::time::Duration;

/// A connection of one app installation to the center.
///
/// Every method is safe to call from any thread, including the UI thread: requests only queue work
/// for the library's background thread (and go out once, in order, when online); reads copy the local
/// view. Only the `wait*` methods block, and they are meant for scripts and tests.
#[derive(uniffi::Object)]
pub struct FrontdeskClient {
    rt: Arc<Runtime>,
    key: ClientKey,
}

impl FrontdeskClient {
    pub(crate) fn new(rt: Arc<Runtime>, key: ClientKey) -> Self {
        FrontdeskClient { rt, key }
    }

    pub(crate) fn key(&self) -> ClientKey {
        self.key
    }

    /// Runs `f` on this client's state machine.
    fn on_client<R>(&self, f: impl FnOnce(&mut Client, fc::Timestamp) -> R) -> Result<R, FrontdeskError> {
        let key = self.key;
        self.rt
            .with(|st: &mut State, now| st.engine.client(key).map(|c| f(c, now)))?
            .ok_or_else(|| FrontdeskError::Closed { message: "this client was closed".into() })
    }

    /// Reads this client's state machine without waking the runtime thread.
    fn read_client<R>(&self, f: impl FnOnce(&Client) -> R) -> Result<R, FrontdeskError> {
        let key = self.key;
        self.rt
            .read(|st: &mut State| st.engine.client(key).map(|c| f(c)))?
            .ok_or_else(|| FrontdeskError::Closed { message: "this client was closed".into() })
    }

    fn request(&self, f: impl FnOnce(&mut Client) -> RequestId) -> Result<u64, FrontdeskError> {
        self.on_client(|c, _| f(c))
    }
}

impl Drop for FrontdeskClient {
    fn drop(&mut self) {
        let key = self.key;
        let _ = self.rt.with(|st, now| {
            st.listeners.remove(&key);
            st.engine.remove_client(now, key);
        });
    }
}

/// Parses what `save_state` wrote, so a corrupt or foreign file fails at `restore`, not later.
pub(crate) fn saved_state(state_json: &str) -> Result<fc::client::SavedState, FrontdeskError> {
    serde_json::from_str(state_json).map_err(|e| FrontdeskError::Invalid { message: format!("not a saved client state: {e}") })
}

#[cfg(feature = "network")]
impl FrontdeskClient {
    /// Starts `client` on its own runtime and I/O threads, talking to `url`.
    fn start_network(
        url: String,
        extra_roots_pem: Option<String>,
        mut client: Client,
        listener: Arc<dyn crate::events::ClientListener>,
    ) -> Result<Arc<Self>, FrontdeskError> {
        use crate::network::{connector, endpoint_url, NetEngine, NET_KEY};
        let url = endpoint_url(&url, "/client")?;
        let connector = connector(&url, extra_roots_pem)?;
        client.start(crate::runtime::wall_clock());
        let mut failed = None;
        let rt = Runtime::start_with(|waker| match NetEngine::new(url, connector, client, waker) {
            Ok(e) => Box::new(e),
            Err(e) => {
                failed = Some(e);
                Box::new(crate::runtime::NoEngine)
            }
        });
        if let Some(e) = failed {
            return Err(FrontdeskError::Internal { message: format!("cannot start the network thread: {e}") });
        }
        rt.with(|st, _| {
            st.listeners.insert(NET_KEY, listener);
        })?;
        Ok(Arc::new(FrontdeskClient { rt, key: NET_KEY }))
    }
}

// A block of its own: uniffi's export macro does not carry a `cfg` on a single method.
#[cfg(feature = "network")]
#[uniffi::export]
impl FrontdeskClient {
    /// Connects to a broker server at a `ws://` or `wss://` URL (e.g. `ws://10.0.2.2:8080/client`; a
    /// URL without a path gets `/client`); `instance` names the app installation (keep it across
    /// restarts so the session resumes). Returns at once: the connection is made on the library's
    /// threads and its events go to `listener`. A malformed URL throws `Invalid` here, since retrying
    /// it could never succeed.
    ///
    /// `wss://` servers are verified by the platform (Android's, Apple's or Windows' own verifier, the
    /// system's roots on Linux); `extra_roots_pem`, a PEM bundle, adds roots on top (a private CA), and
    /// a bundle without a usable certificate throws `Invalid`. A refused certificate is reported as a
    /// `TransportError` event whose message names the cause ("server certificate refused: unknown
    /// issuer …", "… name mismatch …", "… expired …").
    #[uniffi::constructor(default(extra_roots_pem = None))]
    pub fn connect(
        url: String,
        token: String,
        instance: u64,
        listener: Arc<dyn crate::events::ClientListener>,
        extra_roots_pem: Option<String>,
    ) -> Result<Arc<Self>, FrontdeskError> {
        Self::start_network(url, extra_roots_pem, Client::new(fc::client::ClientConfig::new(token, instance)), listener)
    }

    /// Continues a client whose process ended (the OS killed the app) from what `save_state` returned:
    /// same installation id, its unanswered requests (they go out once, in order, as soon as it is
    /// online) and its watches. The token is not part of the state: pass the current one.
    /// `extra_roots_pem` as for `connect`.
    #[uniffi::constructor(default(extra_roots_pem = None))]
    pub fn restore(
        url: String,
        token: String,
        state_json: String,
        listener: Arc<dyn crate::events::ClientListener>,
        extra_roots_pem: Option<String>,
    ) -> Result<Arc<Self>, FrontdeskError> {
        let saved = saved_state(&state_json)?;
        Self::start_network(url, extra_roots_pem, Client::restore(fc::client::ClientConfig::new(token, 0), saved), listener)
    }
}

#[uniffi::export]
impl FrontdeskClient {
    /// Presents a new token and connects again (after a `Rejected` event, or before a token expires).
    pub fn authenticate(&self, token: String) -> Result<(), FrontdeskError> {
        let key = self.key;
        self.rt.with(|st, _| {
            if let Some(s) = st.standing.get_mut(&key) {
                s.rejected = None;
            }
        })?;
        self.on_client(|c, now| {
            c.set_token(token);
            c.start(now);
        })
    }

    /// Stops the connection; queued requests stay and go out after `authenticate` restarts it.
    /// (Not `close`: Kotlin objects already have a `close()` that frees them.)
    pub fn disconnect(&self) -> Result<(), FrontdeskError> {
        let key = self.key;
        self.on_client(|c, now| c.close(now))?;
        self.rt.with(|st, _| st.engine.close_transport(key))
    }

    /// What to keep so the client survives its process (JSON: installation id, unanswered requests,
    /// watches; no token). Save it after making requests and when the app goes to the background,
    /// and pass it to `restore` in the next process. Requests made after the last save are lost
    /// with the process, and so is the order of ids after them: always restore from the newest save.
    pub fn save_state(&self) -> Result<String, FrontdeskError> {
        self.read_client(|c| serde_json::to_string(&c.save()))?
            .map_err(|e| FrontdeskError::Internal { message: format!("cannot write the client state: {e}") })
    }

    /// Whether a session with the broker is up.
    pub fn is_connected(&self) -> Result<bool, FrontdeskError> {
        self.read_client(|c| c.is_connected())
    }

    /// A snapshot of the local view (profile, orders, products, history seen, center status, …).
    pub fn view(&self) -> Result<ClientView, FrontdeskError> {
        self.read_client(ClientView::of)
    }

    /// The transcript of an interaction as known locally.
    pub fn transcript(&self, interaction_id: String) -> Result<Vec<ChatMessage>, FrontdeskError> {
        self.read_client(|c| {
            c.view().chats.get(&fc::InteractionId(interaction_id)).map(|v| v.iter().cloned().map(Into::into).collect()).unwrap_or_default()
        })
    }

    /// Whether the agent has received the client's chat message `seq` in an interaction.
    pub fn is_delivered(&self, interaction_id: String, seq: u64) -> Result<bool, FrontdeskError> {
        self.read_client(|c| c.view().delivered.contains(&(fc::InteractionId(interaction_id), seq)))
    }

    /// One own order from the local view; `NotFound` if it is not one of the client's.
    pub fn order(&self, order_id: String) -> Result<Order, FrontdeskError> {
        self.read_client(|c| c.view().orders.get(&fc::OrderId(order_id.clone())).cloned())?
            .map(Into::into)
            .ok_or_else(|| not_found(format!("no order {order_id} of this client")))
    }

    /// The latest presence of a watched presentity (`center`, `queue:ID`, `agent:ID`, `client:ID`);
    /// none until its first document arrives after `watch`.
    pub fn presence(&self, presentity: String) -> Result<Option<Presence>, FrontdeskError> {
        let p = crate::types::presentity(&presentity)?;
        self.read_client(|c| c.view().presence.get(&p).cloned().map(Into::into))
    }

    /// Blocks until the answer to `request_id` arrives and returns it, or throws its error. For scripts
    /// and tests: apps should take answers from the listener instead.
    #[uniffi::method(default(timeout_ms = 10000))]
    pub fn wait(&self, request_id: u64, timeout_ms: u64) -> Result<Response, FrontdeskError> {
        let key = self.key;
        self.rt
            .wait_for(Duration::from_millis(timeout_ms), &format!("answer to request {request_id}"), |st| st.take_result(key, request_id))?
            .map_err(Into::into)
    }

    /// Blocks until the client has synced once, or throws why it cannot (e.g. `Unauthenticated`).
    #[uniffi::method(default(timeout_ms = 10000))]
    pub fn wait_synced(&self, timeout_ms: u64) -> Result<(), FrontdeskError> {
        let key = self.key;
        self.rt
            .wait_for(Duration::from_millis(timeout_ms), "sync", |st| {
                let s = st.standing.get(&key)?;
                match &s.rejected {
                    Some(e) => Some(Err(FrontdeskError::from(e.clone()))),
                    None => s.synced.then_some(Ok(())),
                }
            })?
    }

    /// Reads the own profile.
    pub fn get_profile(&self) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_profile())
    }

    /// Edits the own profile; the view shows the edit at once.
    pub fn update_profile(&self, patch: ProfilePatch) -> Result<u64, FrontdeskError> {
        self.request(|c| c.update_profile(patch.into()))
    }

    /// Reads the own history, filtered by product, agent and date range (all of it, a page at a time, by default).
    #[uniffi::method(default(filter))]
    pub fn get_history(&self, filter: HistoryFilter) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_history(filter.into()))
    }

    /// Adds a note to an own past interaction.
    pub fn add_note(&self, interaction_id: String, text: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.add_note(fc::InteractionId(interaction_id), text))
    }

    /// Reads the product catalogue.
    pub fn get_products(&self) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_products())
    }

    /// Reads the own orders.
    pub fn get_orders(&self) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_orders())
    }

    /// Changes delivery details of an own order that has not shipped.
    pub fn update_delivery(&self, order_id: String, delivery: DeliveryDetails) -> Result<u64, FrontdeskError> {
        self.request(|c| c.update_delivery(fc::OrderId(order_id), delivery.into()))
    }

    /// Reads center status once (it is also pushed as `CenterStatusChanged`).
    pub fn get_center_status(&self) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_center_status())
    }

    /// Watches a presentity (`center`, `queue:ID`, `agent:ID`, `client:ID`): its presence arrives as
    /// `PresenceChanged` (`CenterStatusChanged` for the center) and stays in `presence()`. Kept
    /// across reconnects and in `save_state`. A malformed name throws `Invalid` at once.
    pub fn watch(&self, presentity: String) -> Result<u64, FrontdeskError> {
        let p = crate::types::presentity(&presentity)?;
        self.request(|c| c.watch(p))
    }

    /// Stops watching a presentity.
    pub fn unwatch(&self, presentity: String) -> Result<u64, FrontdeskError> {
        let p = crate::types::presentity(&presentity)?;
        self.request(|c| c.unwatch(p))
    }

    /// Decides who may watch the own status (first matching rule wins; without one, the center sees
    /// it and other clients are politely blocked). Replaces the previous rules.
    pub fn set_access_rules(&self, rules: Vec<AccessRule>) -> Result<u64, FrontdeskError> {
        self.request(|c| c.set_access_rules(rules.into_iter().map(Into::into).collect()))
    }

    /// Lists who watches the own status (answered with `Response.Watchers`).
    pub fn list_watchers(&self) -> Result<u64, FrontdeskError> {
        self.request(|c| c.list_watchers())
    }

    /// Publishes the own status to the center.
    pub fn set_status(&self, status: ClientStatus) -> Result<u64, FrontdeskError> {
        self.request(|c| c.set_status(status.into()))
    }

    /// Subscribes to a status alert; it fires as an `Alert` event.
    pub fn subscribe_alert(&self, rule: AlertRule) -> Result<u64, FrontdeskError> {
        self.request(|c| c.subscribe_alert(rule.into()))
    }

    /// Cancels a status alert.
    pub fn unsubscribe_alert(&self, alert_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.unsubscribe_alert(fc::AlertId(alert_id)))
    }

    /// Accepts an invitation from an agent; the interaction it starts arrives as `InteractionChanged`.
    pub fn accept_invitation(&self, invitation_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.respond_invitation(fc::InvitationId(invitation_id), true))
    }

    /// Declines an invitation from an agent.
    pub fn decline_invitation(&self, invitation_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.respond_invitation(fc::InvitationId(invitation_id), false))
    }

    /// Invites an agent to an interaction in a medium.
    pub fn invite_agent(&self, agent_id: String, medium: Medium, message: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.invite_agent(fc::AgentId(agent_id), medium.into(), message))
    }

    /// Starts a live interaction in the chosen medium, about a product or in a queue (each optional).
    #[uniffi::method(default(product_id = None, queue_id = None, topic = None))]
    pub fn start_interaction(
        &self,
        medium: Medium,
        product_id: Option<String>,
        queue_id: Option<String>,
        topic: Option<String>,
    ) -> Result<u64, FrontdeskError> {
        self.request(|c| c.start_interaction(medium.into(), product_id.map(fc::ProductId), queue_id.map(fc::QueueId), topic))
    }

    /// Asks to be called back at `number` (the profile's phone number if none), at `at_ms` inside
    /// the own agenda or as soon as possible ("call me now"); the interaction's `callback` follows
    /// the call.
    #[uniffi::method(default(number = None, at_ms = None, product_id = None, topic = None))]
    pub fn request_callback(&self, number: Option<String>, at_ms: Option<u64>, product_id: Option<String>, topic: Option<String>) -> Result<u64, FrontdeskError> {
        self.request(|c| c.request_callback(number, at_ms.map(fc::Timestamp::from_millis), product_id.map(fc::ProductId), topic))
    }

    /// Sends a call signalling message (SDP offer/answer, ICE candidate, media state, hang-up) to the
    /// agent of a connected voice or video interaction; the agent's arrive as `ClientEvent::Signal`.
    pub fn signal(&self, interaction_id: String, signal: crate::call::CallSignal) -> Result<u64, FrontdeskError> {
        self.request(|c| c.signal(fc::InteractionId(interaction_id), signal.into()))
    }

    /// Reads STUN/TURN servers for a connected call (answered as `Response::IceServers`).
    pub fn ice_servers(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.ice_servers(fc::InteractionId(interaction_id)))
    }

    /// Writes to the center by email (subject and text), answered by mail to the client's email
    /// capability and in the app; it waits in the backlog when no agent is live.
    #[uniffi::method(default(product_id = None))]
    pub fn send_email(&self, subject: String, text: String, product_id: Option<String>) -> Result<u64, FrontdeskError> {
        self.request(|c| c.send_email(product_id.map(fc::ProductId), subject, text))
    }

    /// Registers this device for pushes while the app has no attached session (backgrounded); the
    /// server's relay wakes it through `platform` with `token` (answered as `Response::Done`).
    pub fn register_push(&self, platform: PushPlatform, token: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.register_push(platform.into(), token))
    }

    /// Forgets a device registered with `register_push`.
    pub fn unregister_push(&self, token: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.unregister_push(token))
    }

    /// Sends a chat message in an own interaction.
    pub fn send_chat(&self, interaction_id: String, text: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.send_chat(fc::InteractionId(interaction_id), text))
    }

    /// Marks the agent's messages read up to `seq` (while the chat is on screen); the agent sees it.
    pub fn mark_read(&self, interaction_id: String, seq: u64) -> Result<u64, FrontdeskError> {
        self.request(|c| c.mark_read(fc::InteractionId(interaction_id), seq))
    }

    /// Tells the agent the customer is typing (`on`) or stopped; call it on every keystroke, a
    /// notice goes out at most every couple of seconds. Returns whether one went out (none offline);
    /// `NotFound` for an interaction that is not the client's and connected.
    pub fn send_typing(&self, interaction_id: String, on: bool) -> Result<bool, FrontdeskError> {
        Ok(self.on_client(|c, now| c.send_typing(now, &fc::InteractionId(interaction_id), on))??)
    }

    /// Reads an interaction's newest messages from the broker (the view merges them).
    pub fn get_transcript(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_transcript(fc::InteractionId(interaction_id)))
    }

    /// Reads a page of an interaction's transcript: the newest `limit` messages numbered below
    /// `before` (the first message held, to read further back).
    #[uniffi::method(default(before = None, limit = None))]
    pub fn get_transcript_page(&self, interaction_id: String, before: Option<u64>, limit: Option<u32>) -> Result<u64, FrontdeskError> {
        self.request(|c| c.get_transcript_page(fc::InteractionId(interaction_id), before, limit))
    }

    /// Leaves an interaction (abandons the queue or hangs up).
    pub fn end_interaction(&self, interaction_id: String) -> Result<u64, FrontdeskError> {
        self.request(|c| c.end_interaction(fc::InteractionId(interaction_id)))
    }
}
