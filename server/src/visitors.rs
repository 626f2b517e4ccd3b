//! Tokens for a website's visitors, so a site can embed the widget with a public site key instead of
//! running a backend that holds the signing secret.
//!
//! `POST /visitor` with `{"site": KEY}` answers a token for a new anonymous client (`v-<128 random
//! bits>`); `{"site", "visitor"}` renews the token of a visitor the page already has (the id is
//! unguessable, so holding it is what proves it); `{"site", "user", "hash"}` with `hash` =
//! hex(HMAC-SHA256(identity secret, user)) — computed by the site's own backend — answers a token
//! for the verified client `u-<user>`. The body may be sent as `text/plain`, so a browser needs no
//! CORS preflight; the answer carries `Access-Control-Allow-Origin` for allowed origins.

use crate::tokens;
use frontdesk_core::principal::Principal;
use frontdesk_core::{ClientId, Timestamp};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request body taken.
const MAX_BODY: usize = 4096;

/// Site keys and how visitors are let in.
#[derive(Clone)]
pub struct VisitorConfig {
    /// Public keys of the sites that may mint visitor tokens (empty: the endpoint is off).
    pub site_keys: Vec<String>,
    /// Secret the sites' backends sign user ids with (none: only anonymous visitors).
    pub identity_secret: Option<Vec<u8>>,
    /// How long a minted token lasts.
    pub ttl: Duration,
    /// Tokens one address may mint per minute (new and renewed together).
    pub per_addr_per_min: u32,
}

impl std::fmt::Debug for VisitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity secret stays out of logs.
        f.debug_struct("VisitorConfig").field("site_keys", &self.site_keys).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// Counts per address and minute, so one address cannot mint clients without end.
#[derive(Default)]
pub struct VisitorLimits {
    minute: Mutex<(u64, HashMap<IpAddr, u32>)>,
}

impl VisitorLimits {
    fn allow(&self, peer: IpAddr, now: Timestamp, limit: u32) -> bool {
        let mut m = self.minute.lock().unwrap_or_else(|p| p.into_inner());
        let this = now.as_millis() / 60_000;
        if m.0 != this {
            *m = (this, HashMap::new());
        }
        let n = m.1.entry(peer).or_insert(0);
        *n += 1;
        *n <= limit
    }
}

#[derive(Deserialize)]
struct Ask {
    site: String,
    #[serde(default)]
    visitor: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    hash: Option<String>,
}

/// Whether a request head is for this endpoint (any method, so a wrong one is answered here).
pub fn is_visitor_request(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let _method = parts.next();
    parts.next().is_some_and(|p| p == b"/visitor" || p.starts_with(b"/visitor?"))
}

/// Answers one `/visitor` request on `stream`, whose head (and maybe part of the body) is `head`.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: Vec<u8>,
    peer: IpAddr,
    cfg: &VisitorConfig,
    limits: &VisitorLimits,
    secret: &[u8],
    allowed_origins: &[String],
    now: Timestamp,
    broker: &tokio::sync::mpsc::UnboundedSender<crate::server::Input>,
) -> std::io::Result<()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(end)) = req.parse(&head) else {
        return reply(&mut stream, 400, None, r#"{"error":"malformed request"}"#).await;
    };
    let origin = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("origin")).and_then(|h| std::str::from_utf8(h.value).ok()).map(str::to_owned);
    let cors = origin.filter(|o| allowed_origins.is_empty() || allowed_origins.iter().any(|a| a == o));
    if req.method != Some("POST") {
        return reply(&mut stream, 405, cors.as_deref(), r#"{"error":"POST a JSON body"}"#).await;
    }
    if cfg.site_keys.is_empty() {
        return reply(&mut stream, 404, cors.as_deref(), r#"{"error":"visitor tokens are not enabled on this server"}"#).await;
    }
    let len = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok());
    let Some(len) = len.filter(|l| *l <= MAX_BODY) else {
        return reply(&mut stream, 413, cors.as_deref(), r#"{"error":"a body of at most 4096 bytes, with Content-Length"}"#).await;
    };
    let mut body = head[end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let (status, answer) = match decide(&body, peer, cfg, limits, secret, now) {
        Ok((a, None)) => (200, a.to_string()),
        Ok((mut a, Some((visitor, client)))) => {
            // The visitor's history follows it to the identified client before the page uses the token.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let asked = broker.send(crate::server::Input::Adopt(Box::new((ClientId(visitor), ClientId(client), tx)))).is_ok();
            let moved = if asked { rx.await.ok() } else { None };
            a["adopted"] = match moved {
                Some(Ok(n)) => serde_json::json!(n),
                Some(Err(e)) => serde_json::json!({ "error": e.message }),
                None => serde_json::json!({ "error": "the server is stopping" }),
            };
            (200, a.to_string())
        }
        Err((status, why)) => (status, serde_json::json!({ "error": why }).to_string()),
    };
    reply(&mut stream, status, cors.as_deref(), &answer).await
}

/// The answer, and the visitor to adopt into a verified client when the page named both.
type Decided = (serde_json::Value, Option<(String, String)>);

fn decide(body: &[u8], peer: IpAddr, cfg: &VisitorConfig, limits: &VisitorLimits, secret: &[u8], now: Timestamp) -> Result<Decided, (u16, String)> {
    let ask: Ask = serde_json::from_slice(body).map_err(|e| (400, format!("body: {e}")))?;
    if !cfg.site_keys.iter().any(|k| k == &ask.site) {
        return Err((403, "unknown site key".into()));
    }
    if !limits.allow(peer, now, cfg.per_addr_per_min) {
        return Err((429, format!("at most {} visitor tokens per minute from one address", cfg.per_addr_per_min)));
    }
    let (client, visitor) = match (&ask.user, &ask.hash) {
        (Some(user), Some(hash)) => {
            let Some(key) = &cfg.identity_secret else { return Err((403, "this server verifies no user ids".into())) };
            if user.is_empty() || user.len() > 128 || !user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b)) {
                return Err((400, "user: 1 to 128 of A-Z a-z 0-9 . _ @ -".into()));
            }
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(user.as_bytes());
            let given = unhex(hash).ok_or((403, "hash: hex of HMAC-SHA256(identity secret, user)".to_string()))?;
            // Constant time, so the hash cannot be found a byte at a time.
            mac.verify_slice(&given).map_err(|_| (403, "the user id's hash does not match".to_string()))?;
            let client = format!("u-{user}");
            let adopt = match &ask.visitor {
                Some(v) if is_visitor_id(v) => Some((v.clone(), client.clone())),
                Some(_) => return Err((400, "visitor: an id this server gave out (v- and 32 hex digits)".into())),
                None => None,
            };
            return Ok((answer(secret, &client, None, cfg, now), adopt));
        }
        (None, None) => {
            let v = match &ask.visitor {
                Some(v) if is_visitor_id(v) => v.clone(),
                Some(_) => return Err((400, "visitor: an id this server gave out (v- and 32 hex digits)".into())),
                None => format!("v-{}", crate::mail::new_reply_token()),
            };
            (v.clone(), Some(v))
        }
        _ => return Err((400, "user and hash go together".into())),
    };
    Ok((answer(secret, &client, visitor, cfg, now), None))
}

fn answer(secret: &[u8], client: &str, visitor: Option<String>, cfg: &VisitorConfig, now: Timestamp) -> serde_json::Value {
    let ttl = cfg.ttl.as_secs().max(60);
    let token = tokens::issue(secret, &Principal::Client(ClientId(client.to_owned())), now, ttl);
    let expires_at = now.as_millis() / 1000 + ttl;
    serde_json::json!({ "token": token, "client": client, "visitor": visitor, "expires_at": expires_at })
}

fn is_visitor_id(v: &str) -> bool {
    v.len() == 34 && v.starts_with("v-") && v[2..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 128 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, status: u16, origin: Option<&str>, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Too Many Requests",
    };
    let cors = origin.map_or(String::new(), |o| format!("Access-Control-Allow-Origin: {o}\r\nVary: Origin\r\n"));
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{cors}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_ids_are_only_ours() {
        assert!(is_visitor_id(&format!("v-{}", crate::mail::new_reply_token())));
        for bad in ["v-", "u-alice", "v-0123456789ABCDEF0123456789abcdef", "v-0123456789abcdef0123456789abcde", "alice"] {
            assert!(!is_visitor_id(bad), "{bad}");
        }
        assert!(is_visitor_request(b"POST /visitor HTTP/1.1\r\n"));
        assert!(!is_visitor_request(b"GET /widget.js HTTP/1.1\r\n"));
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("0g"), None);
    }
}
