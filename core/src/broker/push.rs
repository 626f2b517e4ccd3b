//! Pushes: waking a client's devices when something waits for it and none of its sessions is
//! attached (a backgrounded app whose socket the OS closed).

use super::*;
use crate::callback::CallbackPhase;
use crate::push::{preview, PushNotice, PushPlatform, PushTarget, MAX_PUSH_TOKEN_BYTES};

/// Registered devices and the last push of each client.
#[derive(Debug, Default)]
pub(super) struct Pushes {
    targets: HashMap<ClientId, Vec<PushTarget>>,
    last: HashMap<ClientId, Timestamp>,
}

impl Pushes {
    /// Forgets one device of a client.
    pub(super) fn unregister(&mut self, client: &ClientId, token: &str) {
        if let Some(v) = self.targets.get_mut(client) {
            v.retain(|t| t.token != token);
            if v.is_empty() {
                self.targets.remove(client);
                self.last.remove(client);
            }
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
        Ok(())
    }

    /// The devices a client registered, oldest first.
    pub fn push_targets(&self, client: &ClientId) -> &[PushTarget] {
        self.pushes.targets.get(client).map_or(&[], |v| v)
    }

    /// Emits [`BrokerEvent::Push`] for every device of a client that is away, when the event is one a
    /// person should see and the client was not pushed within `push_interval`.
    pub(super) fn wake_if_away(&mut self, client: &ClientId, event: &Event) {
        if !self.pushes.targets.contains_key(client) || self.client_attached(client) {
            return;
        }
        let Some(n) = self.push_notice(event) else { return };
        let now = self.now;
        if self.pushes.last.get(client).is_some_and(|at| now.since(*at) < self.cfg.push_interval) {
            return;
        }
        self.pushes.last.insert(client.clone(), now);
        for target in self.pushes.targets[client].clone() {
            self.events.push_back(BrokerEvent::Push {
                client: client.clone(),
                target,
                title: n.title.clone(),
                body: n.body.clone(),
                interaction: n.interaction.clone(),
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
                Author::Agent(a) => {
                    Some(PushNotice { title: self.agent_name(a), body: preview(&m.text), interaction: Some(m.interaction.clone()) })
                }
                Author::Client(_) => None,
            },
            Event::Invitation(inv) if inv.direction == InvitationDirection::AgentToClient && inv.state == InvitationState::Pending => {
                Some(PushNotice {
                    title: format!("{} invites you to a {}", inv.agent_name, inv.medium),
                    body: preview(&inv.message),
                    interaction: inv.interaction.clone(),
                })
            }
            Event::Interaction(li) => {
                let who = li.agent.as_ref().map_or_else(|| "An agent".to_owned(), |a| self.agent_name(a));
                if li.callback.as_ref().is_some_and(|c| c.phase == CallbackPhase::DialingCustomer) {
                    return Some(PushNotice {
                        title: "We are calling you back".into(),
                        body: format!("{who} is calling you now"),
                        interaction: Some(li.id.clone()),
                    });
                }
                let just_connected = li.state == InteractionState::Connected && li.connected_at == Some(self.now);
                (just_connected && li.callback.is_none()).then(|| PushNotice {
                    title: format!("{who} is with you"),
                    body: format!("Your {} is connected", li.medium),
                    interaction: Some(li.id.clone()),
                })
            }
            _ => None,
        }
    }
}
