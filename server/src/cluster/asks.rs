//! What a node's endpoints need from the broker besides socket frames — a file posted or read
//! (`/attachments`), a visitor's history moved to the client it identified as (`/visitor`), a
//! client's mail taken by the node's SMTP listener — asked of the leader as one NATS request each on
//! `fd.ask` and answered by the broker there, after its commit, exactly as on a single node (the
//! relay hears `250` only then; no answer is a `451`, and the relay sends the mail again). The caller's principal was checked by the node that took
//! the HTTP request (every node holds the token secret); the bus between nodes is trusted, as it
//! is for frames.
//!
//! A request or answer is `[u32 length of the JSON][JSON][raw bytes]`, so a file crosses NATS as
//! it is rather than as JSON numbers. A file is carried only up to NATS's `max_payload` (1 MiB
//! unless nats-server's config raises it); a larger one is refused as too large.

use crate::attachments::AttachAnswer;
use crate::mail::{DeliveryError, InboundMail};
use crate::mailroom::MailInput;
use crate::server::{AttachReply, Input};
use bytes::Bytes;
use frontdesk_core::attachment::Attachment;
use frontdesk_core::interaction::ChatMessage;
use frontdesk_core::principal::Principal;
use frontdesk_core::protocol::{ErrorBody, ErrorCode};
use frontdesk_core::{ClientId, InteractionId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// The subject the leader answers on.
const SUBJECT: &str = "fd.ask";

/// A request for the leader's broker.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// Move a visitor's history to a client.
    Adopt { visitor: ClientId, client: ClientId },
    /// A party sends a file (the bytes follow the JSON).
    Post { who: Principal, interaction: InteractionId, name: String, content_type: String },
    /// A party reads one.
    Get { who: Principal, interaction: InteractionId, seq: u64 },
    /// Take a client's mail into its interaction.
    Mail(Box<InboundMail>),
    /// Whether a reply token belongs to an interaction.
    MailToken(String),
}

/// The broker's answer to an [`Ask`].
#[derive(Debug, Serialize, Deserialize)]
enum Told {
    /// Records and orders moved.
    Adopted(usize),
    /// The message that carries the posted file.
    Posted(ChatMessage),
    /// A file's description (its bytes follow the JSON).
    File(Attachment),
    /// The mail was committed, or why not (the relay retries or bounces).
    MailTaken(Result<(), DeliveryError>),
    /// Whether the token is known, or why that could not be read.
    TokenKnown(Result<bool, String>),
}

/// `[len][json][bytes]`.
fn framed(meta: &impl Serialize, bytes: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(meta).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + json.len() + bytes.len());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(bytes);
    out
}

/// The JSON and where the bytes after it start, if `b` is framed.
fn unframed(b: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(len)?;
    Some((b.get(4..end)?, end))
}

/// The node could not get the leader's answer (none leads, or it did not answer).
pub(super) fn unavailable(why: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unavailable, why)
}

/// The leader answered something other than what was asked.
pub(super) fn wrong_kind() -> ErrorBody {
    unavailable("an answer of the wrong kind from the leader")
}

fn too_large(max: usize) -> ErrorBody {
    ErrorBody::new(ErrorCode::TooLarge, format!("a cluster carries a file of at most {max} bytes between its nodes (NATS's max_payload; raise it in nats-server's config)"))
}

/// Asks the leader; its answer and the bytes that came with it.
async fn ask(nats: &async_nats::Client, what: &Ask, bytes: &[u8]) -> Result<(Told, Bytes), ErrorBody> {
    let payload = framed(what, bytes);
    let max = nats.server_info().max_payload;
    if payload.len() > max {
        return Err(too_large(max));
    }
    let m = nats.request(SUBJECT, payload.into()).await.map_err(|e| unavailable(format!("no leader answered: {e}")))?;
    let (json, rest) = unframed(&m.payload).ok_or_else(|| unavailable("a malformed answer from the leader"))?;
    let told: Result<Told, ErrorBody> = serde_json::from_slice(json).map_err(|e| unavailable(format!("the leader's answer: {e}")))?;
    Ok((told?, m.payload.slice(rest..)))
}

/// On a gateway: passes a file request to the leader and its answer back to the HTTP handler.
pub(crate) async fn attach(nats: async_nats::Client, a: AttachReply) {
    match a {
        AttachReply::Post { who, interaction, name, content_type, data, reply } => {
            let r = ask(&nats, &Ask::Post { who, interaction, name, content_type }, &data).await.and_then(|(t, _)| match t {
                Told::Posted(m) => Ok(AttachAnswer::Posted(m)),
                _ => Err(wrong_kind()),
            });
            let _ = reply.send(r);
        }
        AttachReply::Get { who, interaction, seq, reply } => {
            let r = ask(&nats, &Ask::Get { who, interaction, seq }, &[]).await.and_then(|(t, bytes)| match t {
                Told::File(meta) => Ok(AttachAnswer::File(meta, bytes.to_vec())),
                _ => Err(wrong_kind()),
            });
            let _ = reply.send(r);
        }
    }
}

/// On a gateway: asks the leader to move a visitor's history to a client.
pub(crate) async fn adopt(nats: async_nats::Client, visitor: ClientId, client: ClientId, reply: oneshot::Sender<Result<usize, ErrorBody>>) {
    let r = ask(&nats, &Ask::Adopt { visitor, client }, &[]).await.and_then(|(t, _)| match t {
        Told::Adopted(n) => Ok(n),
        _ => Err(wrong_kind()),
    });
    let _ = reply.send(r);
}

/// On a gateway: passes what the node's SMTP listener asks to the leader's mailroom, and its
/// answer back to the SMTP conversation.
pub(crate) async fn mail(nats: async_nats::Client, m: MailInput) {
    let odd = || wrong_kind().message;
    match m {
        MailInput::Received(mail, reply) => {
            let r = match ask(&nats, &Ask::Mail(mail), &[]).await {
                Ok((Told::MailTaken(r), _)) => r,
                Ok(_) => Err(DeliveryError::Temporary(odd())),
                Err(e) => Err(DeliveryError::Temporary(e.message)),
            };
            let _ = reply.send(r);
        }
        MailInput::TokenKnown(token, reply) => {
            let r = match ask(&nats, &Ask::MailToken(token), &[]).await {
                Ok((Told::TokenKnown(r), _)) => r,
                Ok(_) => Err(odd()),
                Err(e) => Err(e.message),
            };
            let _ = reply.send(r);
        }
        // Send outcomes come from the leader's own send tasks, never through a gateway.
        MailInput::Outcome(..) => {}
    }
}

/// A file request's answer as it crosses NATS: what the JSON says, and the bytes after it.
fn told(a: AttachAnswer) -> (Told, Vec<u8>) {
    match a {
        AttachAnswer::Posted(msg) => (Told::Posted(msg), vec![]),
        AttachAnswer::File(meta, data) => (Told::File(meta), data),
    }
}

/// On the leader, until aborted: each request on `fd.ask` becomes the broker's input, as the same
/// request on a single node would, and its answer goes back to the asking node.
pub(crate) async fn answer(nats: async_nats::Client, broker: mpsc::UnboundedSender<Input>) {
    type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(Told, Vec<u8>), ErrorBody>> + Send>>;
    let Ok(mut sub) = nats.subscribe(SUBJECT).await else {
        warn!("the leader cannot subscribe on NATS: files, visitors' identification and mail from the nodes' listeners are not served");
        return;
    };
    let stopped = |_| unavailable("the broker stopped");
    while let Some(m) = sub.next().await {
        let Some(to) = m.reply.clone() else { continue };
        let nats = nats.clone();
        let parsed = unframed(&m.payload).and_then(|(json, rest)| Some((serde_json::from_slice::<Ask>(json).ok()?, rest)));
        let Some((what, rest)) = parsed else {
            let _ = nats.publish(to, framed(&Err::<Told, _>(ErrorBody::new(ErrorCode::Malformed, "a malformed request on fd.ask")), &[]).into()).await;
            continue;
        };
        let (input, answer): (Input, Answer) = match what {
            Ask::Adopt { visitor, client } => {
                let (tx, rx) = oneshot::channel();
                (Input::Adopt(Box::new((visitor, client, tx))), Box::pin(async move { Ok((Told::Adopted(rx.await.map_err(stopped)??), vec![])) }))
            }
            Ask::Post { who, interaction, name, content_type } => {
                let (tx, rx) = oneshot::channel();
                let data = m.payload[rest..].to_vec();
                (Input::Attach(Box::new(AttachReply::Post { who, interaction, name, content_type, data, reply: tx })), Box::pin(async move { rx.await.map_err(stopped)?.map(told) }))
            }
            Ask::Get { who, interaction, seq } => {
                let (tx, rx) = oneshot::channel();
                (Input::Attach(Box::new(AttachReply::Get { who, interaction, seq, reply: tx })), Box::pin(async move { rx.await.map_err(stopped)?.map(told) }))
            }
            Ask::Mail(mail) => {
                let (tx, rx) = oneshot::channel();
                (Input::Mail(MailInput::Received(mail, tx)), Box::pin(async move { Ok((Told::MailTaken(rx.await.map_err(stopped)?), vec![])) }))
            }
            Ask::MailToken(token) => {
                let (tx, rx) = oneshot::channel();
                (Input::Mail(MailInput::TokenKnown(token, tx)), Box::pin(async move { Ok((Told::TokenKnown(rx.await.map_err(stopped)?), vec![])) }))
            }
        };
        // Refused, the input is dropped with its reply: the answer then says the broker stopped.
        let sent = broker.send(input).is_ok();
        let max = nats.server_info().max_payload;
        // Each answer waits for its commit in a task of its own, so one slow file holds up no other request.
        tokio::spawn(async move {
            let payload = match answer.await {
                Ok((t, bytes)) => {
                    let p = framed(&Ok::<_, ErrorBody>(t), &bytes);
                    if p.len() > max { framed(&Err::<Told, _>(too_large(max)), &[]) } else { p }
                }
                Err(e) => framed(&Err::<Told, _>(e), &[]),
            };
            let _ = nats.publish(to, payload.into()).await;
        });
        if !sent {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_request_gives_back_its_json_and_its_bytes_and_a_short_one_nothing() {
        let ask = Ask::Get { who: Principal::Client("alice".into()), interaction: InteractionId("i-1".into()), seq: 4 };
        let b = framed(&ask, b"\x00\xffraw");
        let (json, rest) = unframed(&b).unwrap();
        assert!(matches!(serde_json::from_slice::<Ask>(json).unwrap(), Ask::Get { seq: 4, .. }));
        assert_eq!(&b[rest..], b"\x00\xffraw");
        assert_eq!(unframed(&b[..3]), None);
        assert_eq!(unframed(&[0, 0, 1, 0, b'{']), None, "a length past the end");
    }
}
