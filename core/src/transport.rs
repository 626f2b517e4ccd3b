//! Pluggable transports. A transport moves whole frames; in-memory channels are the embedded default,
//! real networks (WebSocket first) are adapters implementing the same two traits.

use async_trait::async_trait;
use futures::channel::mpsc;
use futures::StreamExt;

/// Why a transport failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The other side closed.
    #[error("transport closed")]
    Closed,
    /// Could not connect or a network error.
    #[error("transport failed: {0}")]
    Failed(String),
    /// The server's TLS certificate was refused; the text names the cause (unknown issuer, expired,
    /// name mismatch). Retrying cannot help until the server or the trusted roots change.
    #[error("server certificate refused: {0}")]
    Certificate(String),
}

/// Checks a broker URL before anything is started, so a typo fails at once instead of being
/// retried forever; a URL without a path gets the broker's endpoint `path` (`/client`, `/agent`).
/// Shared by every binding that connects, so each refuses the same URLs with the same reasons.
///
/// Several URLs separated by commas name the nodes of a cluster: each is checked, and the
/// connection fails over from one to the next (`ws://a:8080, ws://b:8080`).
pub fn broker_endpoint(url: &str, path: &str) -> Result<String, String> {
    if !url.contains(',') {
        return one_endpoint(url, path);
    }
    let parts: Vec<&str> = url.split(',').map(str::trim).collect();
    if parts.len() > MAX_URLS {
        return Err(format!("at most {MAX_URLS} broker URLs, not {}", parts.len()));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("bad broker URL list {url:?}: an empty entry between commas"));
    }
    Ok(parts.into_iter().map(|p| one_endpoint(p, path)).collect::<Result<Vec<_>, _>>()?.join(","))
}

/// Most URLs a client fails over between.
pub const MAX_URLS: usize = 16;

fn one_endpoint(url: &str, path: &str) -> Result<String, String> {
    let bad = |why: &str| format!("bad broker URL {url:?}: {why} (want ws://HOST:PORT or wss://HOST:PORT/PATH)");
    let Some(rest) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")) else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err(bad("http:// and https:// are the server's web pages; its WebSocket is ws:// or wss://"));
        }
        return Err(bad("the scheme must be ws:// or wss://"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed [ in the host"))?;
            (h, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
    }
    Ok(if rest[end..].is_empty() { format!("{url}{path}") } else { url.to_owned() })
}

/// The sending half of a connection.
#[async_trait]
pub trait FrameSender: Send {
    /// Sends one frame.
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError>;
    /// Closes the connection; further sends fail.
    async fn close(&mut self);
}

/// The receiving half of a connection. `recv` must be cancel-safe: drivers race it against timers.
#[async_trait]
pub trait FrameReceiver: Send {
    /// The next frame, or an error once closed.
    async fn recv(&mut self) -> Result<Vec<u8>, TransportError>;
}

/// A connection as its two halves, so reading and writing can proceed independently.
pub struct Transport {
    /// Sending half.
    pub sender: Box<dyn FrameSender>,
    /// Receiving half.
    pub receiver: Box<dyn FrameReceiver>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

/// Opens connections for a client (to the broker's address).
#[async_trait]
pub trait Connector: Send {
    /// A fresh connection.
    async fn connect(&mut self) -> Result<Transport, TransportError>;
}

/// In-memory transports over futures channels.
pub mod memory {
    use super::*;

    /// Sending half over a channel.
    #[derive(Debug)]
    pub struct MemorySender(Option<mpsc::UnboundedSender<Vec<u8>>>);

    /// Receiving half over a channel.
    #[derive(Debug)]
    pub struct MemoryReceiver(mpsc::UnboundedReceiver<Vec<u8>>);

    #[async_trait]
    impl FrameSender for MemorySender {
        async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError> {
            match &self.0 {
                Some(tx) => tx.unbounded_send(frame).map_err(|_| TransportError::Closed),
                None => Err(TransportError::Closed),
            }
        }

        async fn close(&mut self) {
            self.0 = None;
        }
    }

    #[async_trait]
    impl FrameReceiver for MemoryReceiver {
        async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
            self.0.next().await.ok_or(TransportError::Closed)
        }
    }

    /// Two connected transports.
    pub fn pair() -> (Transport, Transport) {
        let (atx, arx) = mpsc::unbounded();
        let (btx, brx) = mpsc::unbounded();
        (
            Transport { sender: Box::new(MemorySender(Some(atx))), receiver: Box::new(MemoryReceiver(brx)) },
            Transport { sender: Box::new(MemorySender(Some(btx))), receiver: Box::new(MemoryReceiver(arx)) },
        )
    }

    /// The broker's end: a stream of accepted connections.
    pub type MemoryListener = mpsc::UnboundedReceiver<Transport>;

    /// The client's end: each `connect` hands the broker the other half of a new pair. Clones share
    /// the listener; [`MemoryConnector::set_online`] simulates losing the network.
    #[derive(Debug, Clone)]
    pub struct MemoryConnector {
        tx: mpsc::UnboundedSender<Transport>,
        online: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl MemoryConnector {
        /// Whether connects succeed.
        pub fn set_online(&self, online: bool) {
            self.online.store(online, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl Connector for MemoryConnector {
        async fn connect(&mut self) -> Result<Transport, TransportError> {
            if !self.online.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(TransportError::Failed("offline".into()));
            }
            let (mine, theirs) = pair();
            self.tx.unbounded_send(theirs).map_err(|_| TransportError::Failed("broker is gone".into()))?;
            Ok(mine)
        }
    }

    /// A connector and the listener it dials.
    pub fn listener() -> (MemoryConnector, MemoryListener) {
        let (tx, rx) = mpsc::unbounded();
        (MemoryConnector { tx, online: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)) }, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_gets_its_endpoint_and_lists_are_checked_entry_by_entry() {
        assert_eq!(broker_endpoint("ws://a:8080", "/client").unwrap(), "ws://a:8080/client");
        assert_eq!(broker_endpoint("ws://a:8080, wss://b/x", "/client").unwrap(), "ws://a:8080/client,wss://b/x");
        assert!(broker_endpoint("ws://a:8080,,ws://b:1", "/client").unwrap_err().contains("empty entry"));
        assert!(broker_endpoint("ws://a:8080, http://b:1", "/client").unwrap_err().contains("http://"));
        let many = vec!["ws://a:1"; MAX_URLS + 1].join(",");
        assert!(broker_endpoint(&many, "/client").unwrap_err().contains("at most"));
    }
}
