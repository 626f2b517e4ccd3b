//! WebSocket transport: one binary or text message per frame.

use async_trait::async_trait;
use std::sync::{Arc, OnceLock};
use crate::tls::{self, TrustedRoots};
use frontdesk_core::transport::{Connector, FrameReceiver, FrameSender, Transport, TransportError};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Largest WebSocket message (and frame) accepted: the protocol's frame limit and a little slack, so a
/// frame slightly over the limit still reaches the broker (which answers it with a typed `too_large`)
/// while a frame header declaring more is refused before its payload is buffered.
pub const MAX_MESSAGE_BYTES: usize = frontdesk_core::protocol::MAX_FRAME_BYTES + 16 * 1024;

/// Most bytes a WebSocket holds for writing (one message in flight and a little more); a peer that
/// stops reading makes sends wait instead of growing this buffer.
pub const MAX_WRITE_BUFFER_BYTES: usize = 2 * MAX_MESSAGE_BYTES;

/// Settings for both ends. Small buffers: the defaults (128 KiB each way) would cost a broker
/// holding 100k sessions gigabytes for nothing, since frames are usually under 1 KiB. Measured at
/// 9,000 sessions, a 1 KiB read buffer uses 3 KiB less per session than 4 KiB and is no slower
/// (larger messages are read in several steps). Writes gather up to 4 KiB, so a writer that feeds
/// several queued frames before one flush sends them together; the buffer keeps its largest size, so
/// it stays small.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .read_buffer_size(1024)
        .write_buffer_size(4096)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
}

struct WsSender<S>(SplitSink<WebSocketStream<S>, Message>);
struct WsReceiver<S>(SplitStream<WebSocketStream<S>>);

#[async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameSender for WsSender<S> {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError> {
        // Frames are JSON: text messages keep them readable in browser dev tools.
        let msg = match String::from_utf8(frame) {
            Ok(s) => Message::text(s),
            Err(e) => Message::binary(e.into_bytes()),
        };
        self.0.send(msg).await.map_err(|e| TransportError::Failed(e.to_string()))
    }

    async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}

#[async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameReceiver for WsReceiver<S> {
    async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        loop {
            match self.0.next().await {
                None => return Err(TransportError::Closed),
                Some(Err(e)) => return Err(TransportError::Failed(e.to_string())),
                Some(Ok(Message::Text(t))) => return Ok(t.as_bytes().to_vec()),
                Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
                Some(Ok(Message::Close(_))) => return Err(TransportError::Closed),
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// Wraps an established WebSocket as a transport.
pub fn transport<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(ws: WebSocketStream<S>) -> Transport {
    let (tx, rx) = ws.split();
    Transport { sender: Box::new(WsSender(tx)), receiver: Box::new(WsReceiver(rx)) }
}

/// Installs the ring crypto provider for rustls once; `wss://` needs a provider chosen.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Dials a broker at a `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct WsConnector {
    /// The nodes to try, in turn.
    urls: Vec<String>,
    /// The one tried next: kept after a success, moved on after a failure.
    at: usize,
    roots: TrustedRoots,
    /// Built from `roots` on the first `wss://` dial (on Linux that reads the system's store) and shared
    /// by clones, so redialing does not rebuild it.
    tls: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

impl WsConnector {
    /// For a URL such as `ws://127.0.0.1:8080/client`, or several separated by commas (the nodes
    /// of a cluster: a failed connect moves on to the next, so the driver's next attempt after its
    /// back-off tries another node); `wss://` is verified by the platform (see [`crate::tls`]).
    pub fn new(url: impl Into<String>) -> Self {
        ensure_crypto_provider();
        let url = url.into();
        let mut urls: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
        if urls.is_empty() {
            urls.push(url);
        }
        WsConnector { urls, at: 0, roots: TrustedRoots::Platform, tls: Arc::default() }
    }

    /// The URL the next connect tries.
    pub fn current(&self) -> &str {
        &self.urls[self.at]
    }

    /// Which roots `wss://` trusts. The configuration is built here, so a bad certificate or a
    /// platform without a usable store fails now, with the reason, rather than at every dial.
    pub fn with_trusted_roots(mut self, roots: TrustedRoots) -> Result<Self, TransportError> {
        let cfg = tls::client_config(&roots)?;
        self.roots = roots;
        self.tls = Arc::new(OnceLock::from(cfg));
        Ok(self)
    }

    /// Trusts these certificates as well as the platform's (a private CA next to the public ones).
    pub fn with_extra_roots(self, roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> Result<Self, TransportError> {
        self.with_trusted_roots(TrustedRoots::PlatformAnd(roots))
    }

    /// [`Self::with_extra_roots`] from a PEM bundle.
    pub fn with_extra_roots_pem(self, pem: &[u8]) -> Result<Self, TransportError> {
        let roots = tls::pem_certificates(pem)?;
        self.with_extra_roots(roots)
    }

    /// Trusts exactly these certificates for `wss://` instead of the platform's (a private CA, or a
    /// server's own self-signed certificate). Errors name a certificate that cannot be a root.
    pub fn with_root_certificates(self, roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> Result<Self, TransportError> {
        self.with_trusted_roots(TrustedRoots::Only(roots))
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, TransportError> {
        if let Some(c) = self.tls.get() {
            return Ok(c.clone());
        }
        let c = tls::client_config(&self.roots)?;
        Ok(self.tls.get_or_init(|| c).clone())
    }
}

/// A dial's failure, typed: a refused certificate becomes [`TransportError::Certificate`] naming why.
fn dial_error(e: tokio_tungstenite::tungstenite::Error) -> TransportError {
    use tokio_tungstenite::tungstenite::Error as E;
    if let E::Io(io) = &e {
        if let Some(why) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()).and_then(tls::certificate_failure) {
            return TransportError::Certificate(why);
        }
    }
    TransportError::Failed(e.to_string())
}

#[async_trait]
impl Connector for WsConnector {
    async fn connect(&mut self) -> Result<Transport, TransportError> {
        let url = self.urls[self.at].clone();
        let tls = if url.starts_with("wss://") { self.tls_config().map(Some) } else { Ok(None) };
        let r = match tls {
            Ok(tls) => tokio_tungstenite::connect_async_tls_with_config(url.as_str(), Some(ws_config()), true, tls.map(tokio_tungstenite::Connector::Rustls))
                .await
                .map_err(dial_error),
            Err(e) => Err(e),
        };
        match r {
            Ok((ws, _)) => Ok(transport(ws)),
            Err(e) => {
                self.at = (self.at + 1) % self.urls.len();
                if self.urls.len() == 1 {
                    return Err(e);
                }
                Err(match e {
                    TransportError::Certificate(why) => TransportError::Certificate(format!("{url}: {why}")),
                    other => TransportError::Failed(format!("{url}: {}", other.to_string().trim_start_matches("transport failed: "))),
                })
            }
        }
    }
}
