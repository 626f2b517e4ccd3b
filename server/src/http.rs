//! Plain HTTP on the server's port, beside the WebSocket endpoints: serves the web widget, its demo
//! page and the agent console. Only `GET` of known files; everything else is 404/405. The files are
//! public (tokens travel in URL fragments, never to this endpoint), so any origin may load the widget.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Largest request head read before deciding between a file and a WebSocket upgrade.
const MAX_HEAD: usize = 8 * 1024;

/// Reads a request head (up to the blank line, or [`MAX_HEAD`] bytes); may read a little beyond it.
/// Works on any stream, TLS included, where a socket-level peek would not.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(head)
}

/// A stream whose first bytes were already read (the request head): they are read again first, so
/// the WebSocket handshake sees the whole request.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// `prefix` comes before what is still unread in `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Rewind { prefix, pos: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let (pos, n) = (self.pos, (self.prefix.len() - self.pos).min(buf.remaining()));
            buf.put_slice(&self.prefix[pos..pos + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether the request head asks for a WebSocket upgrade.
pub fn is_websocket_upgrade(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    if req.parse(head).is_err() {
        // Let the WebSocket handshake report the error.
        return true;
    }
    req.headers.iter().any(|h| h.name.eq_ignore_ascii_case("upgrade") && String::from_utf8_lossy(h.value).eq_ignore_ascii_case("websocket"))
}

/// A static file: path, content type, body.
pub type Asset = (&'static str, &'static str, &'static [u8]);

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Files the server serves over plain HTTP: the demo page, the agent console and the widget straight
/// from `web/`, and the client and the wasm engine as `web/build.sh` built them (its artefacts are the
/// only generated files committed, in bindings/js; `web/test-web.sh` fails when they are stale).
pub static ASSETS: &[Asset] = &[
    ("/", HTML, include_bytes!("../../web/demo.html")),
    ("/index.html", HTML, include_bytes!("../../web/demo.html")),
    ("/agent.html", HTML, include_bytes!("../../web/agent.html")),
    ("/agent.js", JS, include_bytes!("../../web/agent.js")),
    ("/agent-canned.json", "application/json", include_bytes!("../../web/agent-canned.json")),
    // The widget as web/build.sh ships it (minified): the launcher, its panel, its languages.
    ("/frontdesk-widget.js", JS, include_bytes!("../../bindings/js/frontdesk-widget.js")),
    ("/frontdesk-widget-panel.js", JS, include_bytes!("../../bindings/js/frontdesk-widget-panel.js")),
    ("/frontdesk-widget-fr.js", JS, include_bytes!("../../bindings/js/frontdesk-widget-fr.js")),
    ("/frontdesk-widget-de.js", JS, include_bytes!("../../bindings/js/frontdesk-widget-de.js")),
    ("/frontdesk-widget-es.js", JS, include_bytes!("../../bindings/js/frontdesk-widget-es.js")),
    ("/frontdesk-widget-ar.js", JS, include_bytes!("../../bindings/js/frontdesk-widget-ar.js")),
    ("/frontdesk.js", JS, include_bytes!("../../bindings/js/frontdesk.js")),
    ("/frontdesk-client.js", JS, include_bytes!("../../bindings/js/frontdesk-client.js")),
    ("/frontdesk-call.js", JS, include_bytes!("../../bindings/js/frontdesk-call.js")),
    ("/frontdesk_wasm.js", JS, include_bytes!("../../bindings/js/frontdesk_wasm.js")),
    ("/frontdesk_wasm_bg.wasm", "application/wasm", include_bytes!("../../bindings/js/frontdesk_wasm_bg.wasm")),
    ("/health", "text/plain; charset=utf-8", b"ok\n"),
];

/// Answers one plain HTTP request (its head already read from `stream`) and closes.
/// `canned` replaces the built-in canned answers of the agent desktop (`--canned FILE`).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8], canned: Option<&[u8]>) -> std::io::Result<()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let metrics: String;
    let (status, ctype, body): (&str, &str, &[u8]) = match req.parse(request) {
        Ok(_) if req.method != Some("GET") && req.method != Some("HEAD") => ("405 Method Not Allowed", "text/plain", b"method not allowed\n"),
        Ok(_) => {
            let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
            match (ASSETS.iter().find(|(p, _, _)| *p == path), crate::heap::live()) {
                // Only with `--count-heap`: the figure a benchmark reads before and after a load.
                (None, Some(bytes)) if path == "/metrics" => {
                    metrics = format!("# TYPE frontdesk_heap_bytes gauge\nfrontdesk_heap_bytes {bytes}\n");
                    ("200 OK", "text/plain; version=0.0.4", metrics.as_bytes())
                }
                (Some(("/agent-canned.json", t, _)), _) if canned.is_some() => ("200 OK", t, canned.unwrap_or_default()),
                (Some((_, t, b)), _) => ("200 OK", t, b),
                (None, _) => ("404 Not Found", "text/plain", b"not found\n"),
            }
        }
        Err(_) => ("400 Bad Request", "text/plain", b"bad request\n"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if req.method != Some("HEAD") {
        stream.write_all(body).await?;
    }
    stream.shutdown().await?;
    // Wait (briefly) for the client to close, discarding anything else it sent: closing a socket with
    // unread input sends a reset that can cut the response short (browsers then fail to load the wasm).
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} }).await;
    Ok(())
}
