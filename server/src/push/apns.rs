//! Apple Push Notification service over HTTP/2 with token-based auth: an ES256 provider token
//! (header `kid`, claims `iss` = team and `iat`) reused for [`REFRESH`] — APNs refuses tokens older
//! than an hour and refreshing more often than every 20 minutes.

use super::http::{Client, Url};
use super::{Outcome, Push};
use serde::Serialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// How long one provider token is used.
pub const REFRESH: Duration = Duration::from_secs(50 * 60);

/// Sends through APNs for one app (topic).
pub struct Apns {
    key: jsonwebtoken::EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    base: Url,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

impl Apns {
    /// From a `.p8` key (PEM, PKCS#8 P-256); `endpoint` replaces `https://api.push.apple.com`.
    pub fn new(p8: &[u8], key_id: &str, team_id: &str, topic: &str, endpoint: Option<&str>) -> Result<Apns, String> {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(p8).map_err(|e| format!("--push-apns-key: {e}"))?;
        if key_id.is_empty() || team_id.is_empty() || topic.is_empty() {
            return Err("APNs needs --push-apns-key-id, --push-apns-team-id and --push-apns-topic".into());
        }
        let base = Url::parse(endpoint.unwrap_or("https://api.push.apple.com"))?;
        Ok(Apns { key, key_id: key_id.into(), team_id: team_id.into(), topic: topic.into(), base, token: Mutex::new(None) })
    }

    /// The provider token, made again when the kept one is [`REFRESH`] old (or was refused).
    async fn provider_token(&self) -> Result<String, String> {
        let mut kept = self.token.lock().await;
        if let Some((t, made)) = kept.as_ref() {
            if made.elapsed() < REFRESH {
                return Ok(t.clone());
            }
        }
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let jwt = jsonwebtoken::encode(&header, &Claims { iss: &self.team_id, iat }, &self.key).map_err(|e| format!("signing the APNs token: {e}"))?;
        *kept = Some((jwt.clone(), Instant::now()));
        Ok(jwt)
    }

    /// The notification body: a generic alert unless text is allowed, and the ids to open.
    pub fn payload(p: &Push, include_text: bool) -> serde_json::Value {
        let (title, body) = if include_text { (p.title.clone(), p.body.clone()) } else { super::generic(p.kind) };
        let mut v = serde_json::json!({
            "aps": { "alert": { "title": title, "body": body }, "sound": "default", "thread-id": p.collapse },
            "kind": p.kind.as_str(),
        });
        if let Some(i) = &p.interaction {
            v["interaction"] = i.as_str().into();
        }
        v
    }

    /// Sends one push.
    pub async fn send(&self, http: &Client, p: &Push, include_text: bool) -> Outcome {
        let jwt = match self.provider_token().await {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(e),
        };
        let url = self.base.with_path(&format!("/3/device/{}", p.token));
        let auth = format!("bearer {jwt}");
        // apns-collapse-id is at most 64 bytes; interaction ids are far shorter.
        let collapse: String = p.collapse.chars().take(64).collect();
        let headers = [
            ("authorization", auth.as_str()),
            ("apns-topic", self.topic.as_str()),
            ("apns-push-type", "alert"),
            ("apns-priority", "10"),
            ("apns-collapse-id", collapse.as_str()),
            ("content-type", "application/json"),
        ];
        let body = serde_json::to_vec(&Self::payload(p, include_text)).expect("JSON");
        let a = match http.post(&url, &headers, body).await {
            Ok(a) => a,
            Err(e) => return Outcome::Retry(e),
        };
        let reason = String::from_utf8_lossy(&a.body);
        match a.status {
            200 => Outcome::Sent,
            410 => Outcome::Gone(format!("APNs: {reason}")),
            400 if reason.contains("BadDeviceToken") || reason.contains("DeviceTokenNotForTopic") => Outcome::Gone(format!("APNs: {reason}")),
            403 if reason.contains("ExpiredProviderToken") => {
                *self.token.lock().await = None;
                Outcome::Retry(format!("APNs answered 403: {reason}"))
            }
            429 | 500..=599 => Outcome::Retry(format!("APNs answered {}: {reason}", a.status)),
            s => Outcome::Failed(format!("APNs answered {s}: {reason}")),
        }
    }
}
