//! Firebase Cloud Messaging, HTTP v1: an OAuth2 access token from the app's service account (an
//! RS256 JWT assertion exchanged at its `token_uri`), kept until shortly before it expires, and one
//! `messages:send` per push — data only, collapsed per interaction on Android.

use super::http::{Client, Url};
use super::{Outcome, Push};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// The OAuth scope FCM's send API needs.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// How long before its expiry an access token is replaced.
const EARLY: Duration = Duration::from_secs(300);

/// The fields of a Google service account key file that sending needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    /// The Firebase project.
    pub project_id: String,
    /// The key's id (the JWT's `kid`).
    #[serde(default)]
    pub private_key_id: String,
    /// PEM (PKCS#8) RSA key.
    pub private_key: String,
    /// The account, the assertion's issuer.
    pub client_email: String,
    /// Where assertions are exchanged for access tokens.
    pub token_uri: String,
}

/// Sends through FCM for one project.
pub struct Fcm {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    token_uri: Url,
    send: Url,
    /// The access token and when to stop using it.
    token: Mutex<Option<(String, SystemTime)>>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "an_hour")]
    expires_in: u64,
}

fn an_hour() -> u64 {
    3600
}

impl Fcm {
    /// From a service account file's JSON; `endpoint` replaces `https://fcm.googleapis.com`.
    pub fn new(json: &str, endpoint: Option<&str>) -> Result<Fcm, String> {
        let account: ServiceAccount = serde_json::from_str(json).map_err(|e| format!("--push-fcm-service-account: {e}"))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|e| format!("--push-fcm-service-account: private_key: {e}"))?;
        let token_uri = Url::parse(&account.token_uri)?;
        let base = Url::parse(endpoint.unwrap_or("https://fcm.googleapis.com"))?;
        let send = base.with_path(&format!("/v1/projects/{}/messages:send", account.project_id));
        Ok(Fcm { account, key, token_uri, send, token: Mutex::new(None) })
    }

    /// An access token, fetched again when the kept one is about to expire.
    async fn access_token(&self, http: &Client) -> Result<String, String> {
        let mut kept = self.token.lock().await;
        if let Some((t, until)) = kept.as_ref() {
            if SystemTime::now() < *until {
                return Ok(t.clone());
            }
        }
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
        let claims = Assertion { iss: &self.account.client_email, scope: SCOPE, aud: &self.account.token_uri, iat, exp: iat + 3600 };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.account.private_key_id.clone()).filter(|k| !k.is_empty());
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("signing the OAuth assertion: {e}"))?;
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}");
        let a = http.post(&self.token_uri, &[("content-type", "application/x-www-form-urlencoded")], form.into_bytes()).await?;
        if a.status != 200 {
            return Err(format!("OAuth token endpoint answered {}: {}", a.status, String::from_utf8_lossy(&a.body)));
        }
        let t: TokenAnswer = serde_json::from_slice(&a.body).map_err(|e| format!("OAuth token answer: {e}"))?;
        let until = SystemTime::now() + Duration::from_secs(t.expires_in).saturating_sub(EARLY);
        *kept = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// The `messages:send` body for one push.
    pub fn message(p: &Push, include_text: bool) -> serde_json::Value {
        let mut data = serde_json::json!({ "kind": p.kind.as_str(), "collapse": p.collapse });
        if let Some(i) = &p.interaction {
            data["interaction"] = i.as_str().into();
        }
        if include_text {
            data["title"] = p.title.as_str().into();
            data["body"] = p.body.as_str().into();
        }
        serde_json::json!({
            "message": {
                "token": p.token,
                "data": data,
                "android": { "collapse_key": p.collapse, "priority": "high" },
                "apns": { "headers": { "apns-collapse-id": p.collapse } },
            }
        })
    }

    /// Sends one push.
    pub async fn send(&self, http: &Client, p: &Push, include_text: bool) -> Outcome {
        let token = match self.access_token(http).await {
            Ok(t) => t,
            Err(e) => return Outcome::Retry(e),
        };
        let body = serde_json::to_vec(&Self::message(p, include_text)).expect("JSON");
        let auth = format!("Bearer {token}");
        let a = match http.post(&self.send, &[("authorization", &auth), ("content-type", "application/json")], body).await {
            Ok(a) => a,
            Err(e) => return Outcome::Retry(e),
        };
        let text = String::from_utf8_lossy(&a.body);
        match a.status {
            200 => Outcome::Sent,
            // The token was revoked early: fetch another on the next attempt.
            401 => {
                *self.token.lock().await = None;
                Outcome::Retry(format!("FCM answered 401: {text}"))
            }
            404 => Outcome::Gone(format!("FCM: {text}")),
            400 | 403 if text.contains("UNREGISTERED") => Outcome::Gone(format!("FCM: {text}")),
            429 | 500..=599 => Outcome::Retry(format!("FCM answered {}: {text}", a.status)),
            s => Outcome::Failed(format!("FCM answered {s}: {text}")),
        }
    }
}
