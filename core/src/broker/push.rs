//! Pushes: waking a client's devices when something waits for it and none of its sessions is
//! attached (a backgrounded app whose socket the OS closed). Registrations are kept with the
//! client's data in the store, so they survive a restart.

use super::*;
use crate::callback::CallbackPhase;
use crate::push::{collapse_key, preview, PushKind, PushNotice, PushPlatform, PushTarget, MAX_PUSH_TOKEN_BYTES};

/// Registered devices and the last push of each client and collapse key.
#[derive(Debug, Default)]
pub(super) struct Pushes {
    targets: HashMap<ClientId, Vec<PushTarget>>,
    /// Keyed by client and collapse key: two waiting interactions are two pushes, two messages on
    /// one interaction within `push_interval` are one.
    last: HashMap<(ClientId, String), Timestamp>,
    /// Clients whose registrations changed since the last commit.
    pub(super) dirty: HashSet<ClientId>,
}

impl Pushes {
    /// Forgets one device of a client; whether it was registered.
    pub(super) fn unregister(&mut self, client: &ClientId, token: &str) -> bool {
        let Some(v) = self.targets.get_mut(client) else { return false };
        let before = v.len();
        v.retain(|t| t.token != token);
        let found = v.len() != before;
        if v.is_empty() {
            self.targets.remove(client);
            self.last.retain(|(c, _), _| c != client);
        }
        if found {
            self.dirty.insert(client.clone());
        }
        found
    }

    /// A client's registrations as they should be saved (empty: none left).
    pub(super) fn saved(&self, client: &ClientId) -> &[PushTarget] {
        self.targets.get(client).map_or(&[], |v| v)
    }

    /// Takes back what the store kept, at start-up.
    pub(super) fn restore(&mut self, client: ClientId, targets: Vec<PushTarget>) {
        if !targets.is_empty() {
            self.targets.insert(client, targets);
        }
    }
}

impl Broker {
    /// Registers (or re-registers) a device of a client.
    pub(super) fn register_push(&mut self, me: &ClientId, platform: PushPlatform, token: String) -> Result<(), ErrorBody> {
        let token = token.trim().to_owned();
        if token.is_empty() || token.len() > MAX_PUSH_TOKEN_BYTES {
            return Err(err(ErrorCode::Invalid, format!("a push token has 1 to {MAX_PUSH_TOKEN_BYTES} bytes")));
        }
        let max = self.cfg.max_push_targets;
        let v = self.pushes.targets.entry(me.clone()).or_default();
        v.retain(|t| t.token != token);
        if v.len() >= max {
            return Err(err(ErrorCode::RateLimited, format!("at most {max} push devices per client; unregister one first")));
        }
        v.push(PushTarget { platform, token });
        self.pushes.dirty.insert(me.clone());
        Ok(())
    }

    /// The devices a client registered, oldest first.
    pub fn push_targets(&self, client: &ClientId) -> &[PushTarget] {
        self.pushes.targets.get(client).map_or(&[], |v| v)
    }

    /// Forgets a device the push service says is gone (FCM `UNREGISTERED`, APNs 410), so it is not
    /// pushed again; the change is made durable at once.
    pub fn drop_push_target(&mut self, now: Timestamp, client: &ClientId, token: &str) -> bool {
        self.tick(now);
        let found = self.pushes.unregister(client, token);
        self.pump();
        found
    }

    /// Emits [`BrokerEvent::Push`] for every device of a client that is away, when the event is one a
    /// person should see and the client was not pushed for the same interaction (or kind) within
    /// `push_interval`.
    pub(super) fn wake_if_away(&mut self, client: &ClientId, event: &Event) {
        if !self.pushes.targets.contains_key(client) || self.client_attached(client) {
            return;
        }
        let Some(n) = self.push_notice(event) else { return };
        let now = self.now;
        let key = (client.clone(), collapse_key(n.kind, n.interaction.as_ref()));
        if self.pushes.last.get(&key).is_some_and(|at| now.since(*at) < self.cfg.push_interval) {
            return;
        }
        self.pushes.last.insert(key, now);
        for target in self.pushes.targets[client].clone() {
            self.events.push_back(BrokerEvent::Push {
                client: client.clone(),
                target,
                title: n.title.clone(),
                body: n.body.clone(),
                interaction: n.interaction.clone(),
                kind: n.kind,
            });
        }
    }

    fn agent_name(&self, agent: &AgentId) -> String {
        self.seats.get(agent).map_or_else(|| agent.to_string(), |s| s.name.clone())
    }

    /// What a push says for an event, if the event is worth waking someone for.
    fn push_notice(&self, event: &Event) -> Option<PushNotice> {
        match event {
            Event::Chat(m) => match &m.from {
                Author::Agent(a) => Some(PushNotice {
                    kind: PushKind::Message,
                    title: self.agent_name(a),
                    body: preview(&m.text),
                    interaction: Some(m.interaction.clone()),
                }),
                Author::Client(_) => None,
            },
            Event::Invitation(inv) if inv.direction == InvitationDirection::AgentToClient && inv.state == InvitationState::Pending => {
                Some(PushNotice {
                    kind: PushKind::Invitation,
                    title: format!("{} invites you to a {}", inv.agent_name, inv.medium),
                    body: preview(&inv.message),
                    interaction: inv.interaction.clone(),
                })
            }
            Event::Alert(a) => Some(PushNotice { kind: PushKind::Alert, title: "Alert".into(), body: preview(&a.message), interaction: None }),
            Event::Interaction(li) => {
                let who = li.agent.as_ref().map_or_else(|| "An agent".to_owned(), |a| self.agent_name(a));
                if li.callback.as_ref().is_some_and(|c| c.phase == CallbackPhase::DialingCustomer) {
                    return Some(PushNotice {
                        kind: PushKind::Connected,
                        title: "We are calling you back".into(),
                        body: format!("{who} is calling you now"),
                        interaction: Some(li.id.clone()),
                    });
                }
                let just_connected = li.state == InteractionState::Connected && li.connected_at == Some(self.now);
                (just_connected && li.callback.is_none()).then(|| PushNotice {
                    kind: PushKind::Connected,
                    title: format!("{who} is with you"),
                    body: format!("Your {} is connected", li.medium),
                    interaction: Some(li.id.clone()),
                })
            }
            _ => None,
        }
    }
}
