//! Plain HTTP on the server's port, beside the WebSocket endpoints: serves the web widget, its demo
//! page and the agent console. Only `GET` of known files; everything else is 404/405.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

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

/// Files the server serves over plain HTTP (filled by the web widget build).
pub static ASSETS: &[Asset] = &[("/health", "text/plain; charset=utf-8", b"ok\n")];

/// Answers one plain HTTP request and closes.
pub async fn serve(mut stream: TcpStream, head: &[u8]) -> std::io::Result<()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let (status, ctype, body): (&str, &str, &[u8]) = match req.parse(head) {
        Ok(_) if req.method != Some("GET") && req.method != Some("HEAD") => ("405 Method Not Allowed", "text/plain", b"method not allowed\n"),
        Ok(_) => {
            let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
            match ASSETS.iter().find(|(p, _, _)| *p == path) {
                Some((_, t, b)) => ("200 OK", t, b),
                None => ("404 Not Found", "text/plain", b"not found\n"),
            }
        }
        Err(_) => ("400 Bad Request", "text/plain", b"bad request\n"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if req.method != Some("HEAD") {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}
