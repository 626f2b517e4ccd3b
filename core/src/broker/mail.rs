//! Email as a medium: an agent's reply on an email interaction becomes mail the host owes the
//! client, and mail the host receives becomes a message in the interaction it answers.
//!
//! The broker stays sans-IO: it keeps the mail owed (durably, with the store) until the host's
//! mailer says the relay took it, and it never sees SMTP, Message-IDs or reply tokens — threading
//! is the host's, which tells the broker which interaction a reply belongs to.

use super::*;
use serde::{Deserialize, Serialize};

/// Longest email text (after the host trimmed quoted replies) taken into an interaction: the same
/// as a chat message, so every message of every medium fits a page.
pub const MAX_MAIL_TEXT_BYTES: usize = MAX_CHAT_BYTES;

/// An email the center owes a client: kept until the host confirms the relay took it, so neither a
/// restart nor a relay that is down loses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMail {
    /// Unique: the interaction and the message number.
    pub id: String,
    /// Interaction it belongs to (the host threads by it).
    pub interaction: InteractionId,
    /// The message in the interaction's transcript.
    pub seq: u64,
    /// Client it goes to.
    pub client: ClientId,
    /// Address (the client's email capability when the interaction started).
    pub to: String,
    /// Subject (the interaction's topic).
    pub subject: String,
    /// Text.
    pub text: String,
    /// Display name of the agent who wrote it.
    pub from_name: String,
    /// When it was written.
    pub written_at: Timestamp,
    /// Attempts so far that failed temporarily.
    #[serde(default)]
    pub attempts: u32,
    /// Not before this (backing off after temporary failures).
    pub due: Timestamp,
}

/// An email that came in, as the host's listener parsed and threaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// The interaction the host matched it to (by reply token or `In-Reply-To`), if any.
    pub interaction: Option<InteractionId>,
    /// Sender address.
    pub from: String,
    /// Subject.
    pub subject: String,
    /// Text for display (quoted replies trimmed).
    pub text: String,
}

/// What a received email became.
#[derive(Debug, Clone, PartialEq)]
pub struct MailReceived {
    /// The interaction it went into (a new one when it matched none that is still open).
    pub interaction: InteractionId,
    /// Its message there.
    pub message: ChatMessage,
    /// Whether a new interaction was started for it.
    pub new_interaction: bool,
}

/// How a delivery attempt went, as the host's mailer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The relay took it.
    Sent,
    /// Worth trying again later (relay down, 4xx).
    Temporary(String),
    /// Will never go (5xx, bad address): the agent is told.
    Permanent(String),
}

impl Broker {
    /// Mail owed and due now, oldest first, handed to the host's mailer on a lease: each is due
    /// again after `mail_lease` unless the mailer reports an outcome first, so a mailer that dies
    /// mid-send loses nothing (the relay may then get it twice, with the same interaction and seq).
    pub fn take_mail_due(&mut self, now: Timestamp) -> Vec<OutboundMail> {
        self.tick(now);
        let mut v: Vec<OutboundMail> = self.mail.values().filter(|m| m.due <= now).cloned().collect();
        v.sort_by(|a, b| a.written_at.cmp(&b.written_at).then_with(|| a.id.cmp(&b.id)));
        let lease = now.add(self.cfg.mail_lease);
        for m in &v {
            self.mail_due_at(&m.id, lease);
        }
        self.pump();
        v
    }

    /// Sets when an owed mail is due, with a timer that wakes the host then (`Timer::Mail`).
    pub(super) fn mail_due_at(&mut self, id: &str, due: Timestamp) {
        if let Some(m) = self.mail.get_mut(id) {
            m.due = due;
            self.dirty_mail.insert(id.to_owned());
            self.timers.insert((due, Timer::Mail(id.to_owned())));
        }
    }

    /// Every mail still owed (due or backing off).
    pub fn mail_owed(&self) -> usize {
        self.mail.len()
    }

    /// The host's mailer reports an attempt; temporary failures back off (`mail_retry` doubling, at
    /// most an hour) and give up after `mail_attempts`, telling the agent, as a permanent one does.
    pub fn center_mail_outcome(&mut self, now: Timestamp, id: &str, outcome: MailOutcome) -> Result<(), BrokerError> {
        self.tick(now);
        let Some(m) = self.mail.get_mut(id) else { return Err(err(ErrorCode::NotFound, format!("no mail {id} owed"))) };
        let failed = match outcome {
            MailOutcome::Sent => None,
            MailOutcome::Temporary(why) => {
                m.attempts += 1;
                if m.attempts < self.cfg.mail_attempts {
                    let backoff = self.cfg.mail_retry.saturating_mul(1 << m.attempts.min(7)).min(Duration::from_secs(3600));
                    self.mail_due_at(id, now.add(backoff));
                    self.pump();
                    return Ok(());
                }
                Some(format!("gave up after {} attempts: {why}", m.attempts))
            }
            MailOutcome::Permanent(why) => Some(why),
        };
        let m = self.mail.remove(id).expect("found above");
        self.dirty_mail.insert(id.to_owned());
        if let Some(reason) = failed {
            // The agent who wrote it is told; the interaction's agent if that one is gone.
            let agent = self.live.get(&m.interaction).and_then(|l| l.li.agent.clone());
            if let Some(agent) = agent {
                self.tell_agent(&agent, AgentEvent::MailFailed { interaction: m.interaction.clone(), seq: m.seq, to: m.to.clone(), reason }, None);
            }
        }
        self.pump();
        Ok(())
    }

    /// Mail came in. It goes into the interaction the host matched if that one is still open, else
    /// into a new email interaction of the same client (matched interaction) or of the client whose
    /// email capability has the sender's address; an unknown sender is refused.
    pub fn center_mail_received(&mut self, now: Timestamp, mail: InboundMail) -> Result<MailReceived, BrokerError> {
        self.tick(now);
        let text = mail.text.trim().to_owned();
        if text.is_empty() {
            return Err(err(ErrorCode::Invalid, "the mail has no text"));
        }
        if text.len() > MAX_MAIL_TEXT_BYTES {
            return Err(err(ErrorCode::TooLarge, format!("the mail's text is {} bytes; at most {MAX_MAIL_TEXT_BYTES} are taken", text.len())));
        }
        if let Some(id) = &mail.interaction {
            if self.live.get(id).is_some_and(|l| l.li.medium == Medium::Email && !matches!(l.li.state, InteractionState::Ended { .. })) {
                let client = self.live[id].li.client.clone();
                let message = self.client_message(&client, id, text, None, None)?;
                self.pump();
                return Ok(MailReceived { interaction: id.clone(), message, new_interaction: false });
            }
        }
        // A reply to a closed thread reopens the matter as a new interaction of the same client.
        let earlier = match &mail.interaction {
            Some(id) => self.store.record(id)?.filter(|r| r.medium == Medium::Email),
            None => None,
        };
        let client = match &earlier {
            Some(r) => r.client.clone(),
            None => self
                .store
                .client_by_address(Medium::Email, &mail.from)?
                .ok_or_else(|| err(ErrorCode::NotFound, format!("no client has the address {}", mail.from)))?,
        };
        let subject = Some(mail.subject.trim()).filter(|s| !s.is_empty()).map(|s| s.chars().take(200).collect::<String>());
        let product = earlier.as_ref().and_then(|r| r.product.clone());
        let li = self.start_interaction(&client, Medium::Email, product, None, subject, Some(text))?;
        // Nobody asked for it in the app, so no answer tells the client: an event does.
        let now_li = self.live.get(&li.id).map_or(li.clone(), |l| l.li.clone());
        self.push_event(&client, &Event::Interaction(now_li), None, None);
        let message = self.store.transcript_page(&li.id, None, 1)?.pop().ok_or_else(|| err(ErrorCode::Internal, "the first message is missing"))?;
        self.pump();
        Ok(MailReceived { interaction: li.id, message, new_interaction: true })
    }

    /// An agent's message on an email interaction: owed to the client as mail.
    pub(super) fn owe_mail(&mut self, agent: &AgentId, msg: &ChatMessage) {
        let Some(l) = self.live.get(&msg.interaction) else { return };
        let Some(to) = l.li.client_address.clone() else { return };
        let m = OutboundMail {
            id: format!("{}/{}", msg.interaction, msg.seq),
            interaction: msg.interaction.clone(),
            seq: msg.seq,
            client: l.li.client.clone(),
            to,
            subject: l.li.topic.clone().unwrap_or_else(|| "Your request".into()),
            text: msg.text.clone(),
            from_name: self.seats.get(agent).map_or_else(|| agent.to_string(), |s| s.name.clone()),
            written_at: msg.at,
            attempts: 0,
            due: msg.at,
        };
        let (id, due) = (m.id.clone(), m.due);
        self.mail.insert(id.clone(), m);
        self.mail_due_at(&id, due);
        self.events.push_back(BrokerEvent::MailOwed);
    }

    /// A message from the client into an own interaction, to the client's sessions (but `skip`, which
    /// has it in its answer) and the agent (whose console's acknowledgement is the client's receipt).
    pub(super) fn client_message(
        &mut self,
        me: &ClientId,
        interaction: &InteractionId,
        text: String,
        file: Option<(crate::attachment::Attachment, &[u8])>,
        skip: Option<&SessionKey>,
    ) -> Result<ChatMessage, BrokerError> {
        let msg = self.append_message(interaction, Author::Client(me.clone()), text, file)?;
        self.push_event(me, &Event::Chat(msg.clone()), skip, None);
        let agent = self.live[interaction].li.agent.clone();
        if let Some(agent) = agent {
            let hook = AckHook::ToClient { client: me.clone(), interaction: interaction.clone(), seq: msg.seq };
            if self.agent_has_consoles(&agent) {
                self.tell_agent(&agent, AgentEvent::Chat(msg.clone()), Some(hook));
            } else if self.seats.contains_key(&agent) {
                self.tell_agent(&agent, AgentEvent::Chat(msg.clone()), None);
                self.run_hooks(vec![hook]);
            }
        }
        Ok(msg)
    }
}
