//! Push delivery: the broker's [`BrokerEvent::Push`] events go to FCM (HTTP v1) or APNs (HTTP/2,
//! token auth) directly when the app's credentials are configured, and otherwise — and for Web Push
//! and webhook tokens — are POSTed as JSON to the app vendor's relay (`--push-webhook`, `http://`
//! or `https://`).
//!
//! A push only wakes the app: unless `--push-include-text` is given it carries a generic text and
//! ids, never the message; the app then resumes its session, which delivers the events, once.
//! Each push is tried up to [`ATTEMPTS`] times (back-off 1 s, 4 s, 16 s…) on a connection error, a
//! 429 or a 5xx; one that still fails is logged and dropped (the events wait in the session anyway).
//! A token the service calls gone (FCM `UNREGISTERED`, APNs 410 or `BadDeviceToken`) is dropped
//! from the client's registrations.

pub mod apns;
pub mod fcm;
pub mod http;

use frontdesk_core::broker::BrokerEvent;
use frontdesk_core::push::{collapse_key, PushKind, PushPlatform};
use frontdesk_core::ClientId;
use serde::Serialize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Tries per push before it is dropped.
pub const ATTEMPTS: u32 = 4;

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The body POSTed to the relay for one push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PushBody {
    /// The client to wake.
    pub client: String,
    /// `fcm`, `apns`, `webpush` or `webhook`.
    pub platform: String,
    /// The device token the app registered.
    pub token: String,
    /// Notification title (generic unless text is allowed).
    pub title: String,
    /// Notification text (a preview of at most 120 characters when text is allowed, else generic).
    pub body: String,
    /// The interaction to open, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction: Option<String>,
    /// What happened: `message`, `invitation`, `connected` or `alert`.
    #[serde(default)]
    pub kind: String,
    /// Pushes with the same key replace each other on the device.
    #[serde(default)]
    pub collapse: String,
}

/// One push, addressed.
#[derive(Debug, Clone)]
pub struct Push {
    /// The client.
    pub client: ClientId,
    /// Its device's platform.
    pub platform: PushPlatform,
    /// The device token.
    pub token: String,
    /// Title (the broker's, with text).
    pub title: String,
    /// Body (the broker's, with text).
    pub body: String,
    /// The interaction concerned.
    pub interaction: Option<frontdesk_core::InteractionId>,
    /// What happened.
    pub kind: PushKind,
    /// Collapse key: the interaction, or the kind.
    pub collapse: String,
}

/// The text shown when the message itself may not travel through the push service.
pub fn generic(kind: PushKind) -> (String, String) {
    let body = match kind {
        PushKind::Message => "You have a new message",
        PushKind::Invitation => "You have an invitation",
        PushKind::Connected => "An agent is with you",
        PushKind::Alert => "An alert fired",
    };
    ("New activity".into(), body.into())
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the service.
    Sent,
    /// Worth another attempt.
    Retry(String),
    /// Refused for good (bad configuration or payload).
    Failed(String),
    /// The device token is no longer valid: forget it.
    Gone(String),
}

/// How pushes are sent, from the flags.
#[derive(Default)]
pub struct Senders {
    /// The vendor's relay.
    pub webhook: Option<http::Url>,
    /// FCM, when a service account is given.
    pub fcm: Option<fcm::Fcm>,
    /// APNs, when a key is given.
    pub apns: Option<apns::Apns>,
    /// Whether pushes may carry titles and message text.
    pub include_text: bool,
    /// The HTTP client (system roots plus `--push-ca`).
    pub http: Option<http::Client>,
}

static QUEUE: OnceLock<mpsc::UnboundedSender<Push>> = OnceLock::new();

/// Tokens a push service called gone, for the broker's loop to forget.
type Gone = (ClientId, String);
static GONE: OnceLock<(mpsc::UnboundedSender<Gone>, Mutex<Option<mpsc::UnboundedReceiver<Gone>>>)> = OnceLock::new();

fn gone_channel() -> &'static (mpsc::UnboundedSender<Gone>, Mutex<Option<mpsc::UnboundedReceiver<Gone>>>) {
    GONE.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Mutex::new(Some(rx)))
    })
}

/// The receiving end of gone tokens (client, token): the broker's loop takes it once and calls
/// `drop_push_target` for each; later calls get a receiver that never yields.
pub fn gone_tokens() -> mpsc::UnboundedReceiver<(ClientId, String)> {
    gone_channel().1.lock().expect("not poisoned").take().unwrap_or_else(|| mpsc::unbounded_channel().1)
}

/// Starts the delivery task (inside the tokio runtime); later calls are ignored.
pub fn start(senders: Senders) -> Result<(), String> {
    let mut senders = senders;
    if senders.http.is_none() {
        senders.http = Some(http::Client::new(None)?);
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Push>();
    if QUEUE.set(tx).is_err() {
        return Ok(());
    }
    if let Some(u) = &senders.webhook {
        info!("pushes go to the relay at {}://{}:{}{}", if u.tls { "https" } else { "http" }, u.host, u.port, u.path);
    }
    info!("pushes: FCM {}, APNs {}, text {}", on(senders.fcm.is_some()), on(senders.apns.is_some()), on(senders.include_text));
    let senders = Arc::new(senders);
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let s = senders.clone();
            // One task per push, so a slow service delays no other push.
            tokio::spawn(async move { deliver_with_retries(&s, &p).await });
        }
    });
    Ok(())
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// Hands a broker event to the delivery task if it is a push and delivery was started.
pub fn deliver(e: &BrokerEvent) {
    let BrokerEvent::Push { client, target, title, body, interaction, kind } = e else { return };
    let Some(tx) = QUEUE.get() else { return };
    let _ = tx.send(Push {
        client: client.clone(),
        platform: target.platform,
        token: target.token.clone(),
        title: title.clone(),
        body: body.clone(),
        interaction: interaction.clone(),
        kind: *kind,
        collapse: collapse_key(*kind, interaction.as_ref()),
    });
}

/// The relay's JSON for one push.
pub fn relay_body(p: &Push, include_text: bool) -> PushBody {
    let (title, body) = if include_text { (p.title.clone(), p.body.clone()) } else { generic(p.kind) };
    PushBody {
        client: p.client.to_string(),
        platform: p.platform.as_str().to_owned(),
        token: p.token.clone(),
        title,
        body,
        interaction: p.interaction.as_ref().map(|i| i.to_string()),
        kind: p.kind.as_str().to_owned(),
        collapse: p.collapse.clone(),
    }
}

/// One attempt through whichever sender serves the push's platform.
async fn attempt(s: &Senders, p: &Push) -> Outcome {
    let http = s.http.as_ref().expect("set by start");
    match (p.platform, &s.fcm, &s.apns, &s.webhook) {
        (PushPlatform::Fcm, Some(f), _, _) => f.send(http, p, s.include_text).await,
        (PushPlatform::Apns, _, Some(a), _) => a.send(http, p, s.include_text).await,
        (_, _, _, Some(url)) => {
            let json = serde_json::to_vec(&relay_body(p, s.include_text)).expect("push bodies serialize");
            match http.post(url, &[("content-type", "application/json")], json).await {
                Ok(a) if (200..300).contains(&a.status) => Outcome::Sent,
                Ok(a) if a.status == 410 => Outcome::Gone("the relay answered 410".into()),
                Ok(a) => Outcome::Retry(format!("relay answered {}", a.status)),
                Err(e) => Outcome::Retry(e),
            }
        }
        _ => Outcome::Failed(format!("no sender for {} is configured", p.platform.as_str())),
    }
}

async fn deliver_with_retries(s: &Senders, p: &Push) {
    let mut wait = Duration::from_secs(1);
    for n in 1..=ATTEMPTS {
        let outcome = tokio::time::timeout(TIMEOUT, attempt(s, p)).await.unwrap_or_else(|_| Outcome::Retry("timed out".into()));
        match outcome {
            Outcome::Sent => return,
            Outcome::Gone(why) => {
                info!("push to {} for {}: token gone ({why}); forgetting it", p.platform.as_str(), p.client);
                let _ = gone_channel().0.send((p.client.clone(), p.token.clone()));
                return;
            }
            Outcome::Failed(why) => {
                warn!("push to {} for {} refused: {why}", p.platform.as_str(), p.client);
                return;
            }
            Outcome::Retry(why) => warn!("push to {} for {}: {why} (attempt {n}/{ATTEMPTS})", p.platform.as_str(), p.client),
        }
        if n < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 4;
        }
    }
    warn!("push for {} dropped after {ATTEMPTS} attempts", p.client);
}
