//! Push targets: how a client that is away (its app backgrounded, its socket closed by the OS) is
//! told that something waits for it. The broker only decides *that* a push is due
//! ([`crate::broker::BrokerEvent::Push`]); the host delivers it (the server POSTs it to the app
//! vendor's relay, or itself to FCM and APNs).

use crate::ids::InteractionId;
use serde::{Deserialize, Serialize};

/// Which push service a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
    /// Web Push (a browser's push subscription, as JSON).
    Webpush,
    /// The app vendor's own endpoint, named by the token.
    Webhook,
}

impl PushPlatform {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "fcm",
            PushPlatform::Apns => "apns",
            PushPlatform::Webpush => "webpush",
            PushPlatform::Webhook => "webhook",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<PushPlatform> {
        [PushPlatform::Fcm, PushPlatform::Apns, PushPlatform::Webpush, PushPlatform::Webhook].into_iter().find(|p| p.as_str() == s)
    }
}

/// One device (or browser) of a client that can be woken.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PushTarget {
    /// Push service.
    pub platform: PushPlatform,
    /// The device token (FCM registration token, APNs device token, Web Push subscription JSON…).
    pub token: String,
}

/// Longest push token accepted, in bytes (a Web Push subscription is a few hundred).
pub const MAX_PUSH_TOKEN_BYTES: usize = 4096;

/// Longest text preview a push carries, in characters.
pub const PUSH_PREVIEW_CHARS: usize = 120;

/// What woke the client: lets the host pick a generic text and a collapse key when the event
/// names no interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// An agent wrote.
    Message,
    /// An agent invites the client.
    Invitation,
    /// An interaction connected, or an agent calls the client back.
    Connected,
    /// A status alert the client subscribed to fired.
    Alert,
}

impl PushKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Message => "message",
            PushKind::Invitation => "invitation",
            PushKind::Connected => "connected",
            PushKind::Alert => "alert",
        }
    }
}

/// What a push says, before it is addressed to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushNotice {
    pub kind: PushKind,
    pub title: String,
    pub body: String,
    pub interaction: Option<InteractionId>,
}

/// The key under which later pushes replace earlier ones on the device (FCM `collapse_key`, APNs
/// `apns-collapse-id`): the interaction, or the kind when there is none.
pub fn collapse_key(kind: PushKind, interaction: Option<&InteractionId>) -> String {
    interaction.map_or_else(|| kind.as_str().to_owned(), |i| i.to_string())
}

/// The first [`PUSH_PREVIEW_CHARS`] characters of a text, with an ellipsis when cut.
pub(crate) fn preview(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(PUSH_PREVIEW_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
