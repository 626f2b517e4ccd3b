//! Push delivery: the broker's [`BrokerEvent::Push`] events are POSTed as JSON to the app vendor's
//! relay (`--push-webhook URL`), which holds the FCM/APNs/Web Push credentials and forwards them.
//! The server never talks to FCM or APNs itself: their credentials belong to the app's vendor.
//!
//! Each push is tried up to [`ATTEMPTS`] times (back-off 1 s, 4 s, 16 s…) on a connection error or a
//! non-2xx answer; a push is a hint (the message waits in the session anyway), so one that still
//! fails is logged and dropped. `http://` only: put the relay on the same host or private network,
//! or in front of a TLS proxy.

use frontdesk_core::broker::BrokerEvent;
use serde::Serialize;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Tries per push before it is dropped.
pub const ATTEMPTS: u32 = 4;

/// How long one POST may take.
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
    /// Notification title.
    pub title: String,
    /// Notification text (a preview of at most 120 characters).
    pub body: String,
    /// The interaction to open, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction: Option<String>,
}

/// Where pushes go: `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    host: String,
    port: u16,
    path: String,
}

impl RelayUrl {
    /// Parses an `http://` URL.
    pub fn parse(url: &str) -> Result<RelayUrl, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("--push-webhook {url}: only http:// URLs (put a TLS proxy in front)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("--push-webhook {url}: bad port"))?),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("--push-webhook {url}: no host"));
        }
        Ok(RelayUrl { host: host.to_owned(), port, path: path.to_owned() })
    }
}

static RELAY: OnceLock<mpsc::UnboundedSender<PushBody>> = OnceLock::new();

/// Starts the delivery task (inside the tokio runtime); later calls are ignored.
pub fn start(url: RelayUrl) {
    let (tx, mut rx) = mpsc::unbounded_channel::<PushBody>();
    if RELAY.set(tx).is_err() {
        return;
    }
    info!("pushes go to http://{}:{}{}", url.host, url.port, url.path);
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let url = url.clone();
            // One task per push, so a slow relay delays no other push.
            tokio::spawn(async move { deliver_with_retries(&url, &p).await });
        }
    });
}

/// Hands a broker event to the delivery task if it is a push and a relay is configured.
pub fn deliver(e: &BrokerEvent) {
    let BrokerEvent::Push { client, target, title, body, interaction, .. } = e else { return };
    let Some(tx) = RELAY.get() else { return };
    let _ = tx.send(PushBody {
        client: client.to_string(),
        platform: target.platform.as_str().to_owned(),
        token: target.token.clone(),
        title: title.clone(),
        body: body.clone(),
        interaction: interaction.as_ref().map(|i| i.to_string()),
    });
}

async fn deliver_with_retries(url: &RelayUrl, p: &PushBody) {
    let json = serde_json::to_vec(p).expect("push bodies serialize");
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        match tokio::time::timeout(TIMEOUT, post(url, &json)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => return,
            Ok(Ok(status)) => warn!("push to {} for {}: relay answered {status} (attempt {attempt}/{ATTEMPTS})", p.platform, p.client),
            Ok(Err(e)) => warn!("push to {} for {}: {e} (attempt {attempt}/{ATTEMPTS})", p.platform, p.client),
            Err(_) => warn!("push to {} for {}: timed out (attempt {attempt}/{ATTEMPTS})", p.platform, p.client),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 4;
        }
    }
    warn!("push for {} dropped after {ATTEMPTS} attempts", p.client);
}

/// One HTTP/1.1 POST; returns the status code.
async fn post(url: &RelayUrl, json: &[u8]) -> std::io::Result<u16> {
    let mut s = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: frontdesk-server\r\n\r\n",
        url.path,
        url.host,
        url.port,
        json.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(json).await?;
    s.flush().await?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    // The status line is all we need.
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not an HTTP answer: {:?}", line.lines().next().unwrap_or(""))))
}

#[cfg(test)]
mod tests {
    use super::RelayUrl;

    #[test]
    fn relay_urls() {
        assert_eq!(RelayUrl::parse("http://127.0.0.1:8080/push").unwrap(), RelayUrl { host: "127.0.0.1".into(), port: 8080, path: "/push".into() });
        assert_eq!(RelayUrl::parse("http://relay").unwrap(), RelayUrl { host: "relay".into(), port: 80, path: "/".into() });
        assert!(RelayUrl::parse("https://relay/x").is_err());
        assert!(RelayUrl::parse("http://:80/").is_err());
    }
}
