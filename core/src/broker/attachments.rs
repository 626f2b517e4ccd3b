//! Files sent in a conversation: checked against the policy, stored beside the message that
//! carries them, and read back only by those who may read that transcript.
//!
//! The bytes do not travel in the session protocol (a frame is at most 256 KiB, and every answer is
//! kept for replay): the host serves them over HTTP (`POST`/`GET /attachments/…` in
//! frontdesk-server) and calls these two methods with the principal its token names.

use super::{err, Broker, BrokerError};
use crate::attachment::Attachment;
use crate::interaction::ChatMessage;
use crate::principal::Principal;
use crate::protocol::ErrorCode;
use crate::{InteractionId, Timestamp};

impl Broker {
    /// A party sends a file in a conversation it may post in. Answers the message that carries it,
    /// which reaches the other party as any chat message does (reliably, in order).
    pub fn attach(&mut self, now: Timestamp, who: &Principal, interaction: &InteractionId, name: &str, content_type: &str, data: &[u8]) -> Result<ChatMessage, BrokerError> {
        self.tick(now);
        // Who may post is checked before what: a stranger learns nothing from the policy's answer.
        match who {
            Principal::Client(me) => self.client_may_post(me, interaction)?,
            Principal::Agent(agent, _) => self.agent_may_post(agent, interaction)?,
            Principal::Service(_) => return Err(err(ErrorCode::Forbidden, "a service sends no files in conversations")),
        }
        if self.live.get(interaction).is_some_and(|l| l.li.medium == crate::Medium::Email) {
            // The mailer sends text only: a file would reach the customer as its bare name.
            return Err(err(ErrorCode::Invalid, "files go in chat and call interactions, not email (yet)"));
        }
        let meta = self.cfg.attachments.check(name, content_type, data)?;
        let text = meta.name.clone();
        let msg = match who {
            Principal::Client(me) => self.client_message(me, interaction, text, Some((meta, data)), None)?,
            Principal::Agent(agent, _) => self.agent_message(agent, interaction, text, Some((meta, data)))?,
            Principal::Service(_) => unreachable!("refused above"),
        };
        self.pump();
        Ok(msg)
    }

    /// The file carried by message `seq` of an interaction, for a party that may read its transcript.
    pub fn attachment(&self, who: &Principal, interaction: &InteractionId, seq: u64) -> Result<(Attachment, Vec<u8>), BrokerError> {
        match who {
            Principal::Client(me) => self.client_may_read(me, interaction)?,
            Principal::Agent(agent, _) => self.agent_may_read_interaction(agent, interaction)?,
            Principal::Service(_) => {}
        }
        let missing = || err(ErrorCode::NotFound, format!("message {seq} of {interaction} carries no file"));
        let msg = self.store.transcript_page(interaction, Some(seq + 1), 1)?.into_iter().find(|m| m.seq == seq).ok_or_else(missing)?;
        let meta = msg.attachment.ok_or_else(missing)?;
        let data = self.store.attachment(interaction, seq)?.ok_or_else(missing)?;
        Ok((meta, data))
    }
}
