//! `POST /attachments/{interaction}` and `GET /attachments/{interaction}/{seq}`: files sent in a
//! conversation, over plain HTTP beside the WebSocket, with the same bearer token.
//!
//! The broker decides who may send and read (the parties of the interaction, a supervisor) and what
//! is taken (frontdesk_core::attachment::AttachmentPolicy); this module only moves bytes, checks the
//! size before reading a body, and runs the deployment's scanner, if any, before the broker sees the
//! file. Served files are `attachment` downloads with `nosniff` and a sandbox policy, so a file can
//! never run as a page of this origin.

use crate::server::{AttachReply, Input};
use frontdesk_core::broker::auth::Verifier;
use frontdesk_core::protocol::{ErrorBody, ErrorCode};
use frontdesk_core::{InteractionId, Timestamp};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// What the endpoint needs besides the stream.
pub(crate) struct Endpoint<'a> {
    /// Verifies bearer tokens.
    pub verifier: &'a crate::tokens::JwtVerifier,
    /// The broker task.
    pub broker: &'a mpsc::UnboundedSender<Input>,
    /// Largest body read (the policy's limit; larger uploads are refused before their body).
    pub max_bytes: usize,
    /// Origins that may call from a page; empty allows all.
    pub allowed_origins: &'a [String],
    /// A command that gets each uploaded file on stdin and exits 0 to let it through.
    pub scan: Option<&'a str>,
    /// Time to read a body.
    pub body_timeout: Duration,
    /// Per-principal limits: each request counts as one message of the principal's.
    pub rates: &'a crate::limits::RateLimits,
}

/// Whether a request head is for this endpoint.
pub fn is_attachment_request(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    line.split(|b| *b == b' ').nth(1).is_some_and(|p| p.starts_with(b"/attachments/"))
}

/// Answers one request on `stream`, whose head (and maybe the start of the body) is `head`.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, head: Vec<u8>, ep: Endpoint<'_>, now: Timestamp) -> std::io::Result<()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(end)) = req.parse(&head) else {
        return reply(&mut stream, 400, None, &Answer::error("malformed request")).await;
    };
    let header = |name: &str| req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok());
    let origin = header("origin").map(str::to_owned);
    let cors = origin.filter(|o| ep.allowed_origins.is_empty() || ep.allowed_origins.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o)));
    let cors = cors.as_deref();
    let method = req.method.unwrap_or_default();
    if method == "OPTIONS" {
        return reply(&mut stream, 204, cors, &Answer::Empty).await;
    }
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches("/attachments/").split('/').collect();
    let Some(who) = header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(|t| ep.verifier.verify(t.trim(), now)) else {
        return reply(&mut stream, 401, cors, &Answer::error("send the session's token as Authorization: Bearer …")).await;
    };
    let Ok(who) = who else {
        return reply(&mut stream, 401, cors, &Answer::error("invalid credential")).await;
    };
    if !ep.rates.take(&crate::limits::principal_key(&who), 0) {
        return reply(&mut stream, 429, cors, &Answer::error("too many requests; slow down")).await;
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned());
    match (method, parts.as_slice()) {
        ("POST", [interaction]) => {
            let Some(interaction) = decode(interaction).filter(|i| !i.is_empty()) else {
                return reply(&mut stream, 400, cors, &Answer::error("the interaction id is not UTF-8")).await;
            };
            let name = query.split('&').find_map(|kv| kv.strip_prefix("name=")).and_then(decode).unwrap_or_default();
            let ctype = header("content-type").unwrap_or_default().to_owned();
            let len = header("content-length").and_then(|l| l.trim().parse::<usize>().ok());
            let Some(len) = len else {
                return reply(&mut stream, 411, cors, &Answer::error("send Content-Length")).await;
            };
            if len > ep.max_bytes {
                // Refused before the body is read: a large upload costs the server nothing.
                return reply(&mut stream, 413, cors, &Answer::error(&format!("the file is {len} bytes; at most {} are taken", ep.max_bytes))).await;
            }
            let mut body = head[end..].to_vec();
            body.truncate(len);
            let mut chunk = vec![0u8; 64 * 1024];
            while body.len() < len {
                let n = match tokio::time::timeout(ep.body_timeout, stream.read(&mut chunk)).await {
                    Ok(r) => r?,
                    Err(_) => return reply(&mut stream, 408, cors, &Answer::error("the body did not arrive in time")).await,
                };
                if n == 0 {
                    return Ok(());
                }
                body.extend_from_slice(&chunk[..n.min(len - body.len())]);
            }
            if let Some(cmd) = ep.scan {
                if let Err(why) = scan(cmd, &name, &ctype, &body).await {
                    return reply(&mut stream, 422, cors, &Answer::error(&why)).await;
                }
            }
            let (tx, rx) = oneshot::channel();
            let ask = Input::Attach(Box::new(AttachReply::Post { who, interaction: InteractionId(interaction), name, content_type: ctype, data: body, reply: tx }));
            let answer = ask_broker(ep.broker, ask, rx).await;
            match answer {
                Ok(AttachAnswer::Posted(msg)) => reply(&mut stream, 201, cors, &Answer::Json(serde_json::to_string(&msg).unwrap_or_default())).await,
                Ok(AttachAnswer::File(..)) => reply(&mut stream, 500, cors, &Answer::error("unexpected answer")).await,
                Err(e) => reply(&mut stream, status_of(e.code), cors, &Answer::error(&e.message)).await,
            }
        }
        ("GET" | "HEAD", [interaction, seq]) => {
            let (Some(interaction), Ok(seq)) = (decode(interaction), seq.parse::<u64>()) else {
                return reply(&mut stream, 400, cors, &Answer::error("GET /attachments/{interaction}/{seq}")).await;
            };
            let (tx, rx) = oneshot::channel();
            let ask = Input::Attach(Box::new(AttachReply::Get { who, interaction: InteractionId(interaction), seq, reply: tx }));
            match ask_broker(ep.broker, ask, rx).await {
                Ok(AttachAnswer::File(meta, data)) => {
                    let body = if method == "HEAD" { vec![] } else { data };
                    reply(&mut stream, 200, cors, &Answer::File { content_type: meta.content_type, name: meta.name, size: meta.size, body }).await
                }
                Ok(AttachAnswer::Posted(_)) => reply(&mut stream, 500, cors, &Answer::error("unexpected answer")).await,
                Err(e) => reply(&mut stream, status_of(e.code), cors, &Answer::error(&e.message)).await,
            }
        }
        _ => reply(&mut stream, 405, cors, &Answer::error("POST /attachments/{interaction}?name=… or GET /attachments/{interaction}/{seq}")).await,
    }
}

/// What the broker task answers an attachment request with.
pub enum AttachAnswer {
    /// The message that carries the posted file.
    Posted(frontdesk_core::interaction::ChatMessage),
    /// A file and what its message says about it.
    File(frontdesk_core::attachment::Attachment, Vec<u8>),
}

async fn ask_broker(broker: &mpsc::UnboundedSender<Input>, ask: Input, rx: oneshot::Receiver<Result<AttachAnswer, ErrorBody>>) -> Result<AttachAnswer, ErrorBody> {
    if broker.send(ask).is_err() {
        return Err(ErrorBody::new(ErrorCode::Unavailable, "the server is stopping"));
    }
    rx.await.unwrap_or_else(|_| Err(ErrorBody::new(ErrorCode::Unavailable, "the server is stopping")))
}

/// Runs the deployment's scanner (`sh -c CMD`) with the file on stdin; its exit status decides.
async fn scan(cmd: &str, name: &str, ctype: &str, data: &[u8]) -> Result<(), String> {
    use std::process::Stdio;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("FRONTDESK_ATTACHMENT_NAME", name)
        .env("FRONTDESK_ATTACHMENT_TYPE", ctype)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("the scanner could not start: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    // A scanner may exit before reading everything (it found what it looks for): not an error.
    let _ = stdin.write_all(data).await;
    drop(stdin);
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(_)) => Err("the file was refused by the scanner".into()),
        Ok(Err(e)) => Err(format!("the scanner failed: {e}")),
        Err(_) => Err("the scanner took over 60 s".into()),
    }
}

fn status_of(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::Forbidden => 403,
        ErrorCode::NotFound => 404,
        ErrorCode::TooLarge => 413,
        ErrorCode::Conflict => 409,
        ErrorCode::Unavailable => 503,
        ErrorCode::Unauthenticated | ErrorCode::Expired => 401,
        _ => 400,
    }
}

enum Answer {
    Empty,
    Json(String),
    File { content_type: String, name: String, size: u64, body: Vec<u8> },
}

impl Answer {
    fn error(why: &str) -> Answer {
        Answer::Json(serde_json::json!({ "error": why }).to_string())
    }
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, status: u16, origin: Option<&str>, answer: &Answer) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let cors = origin.map_or(String::new(), |o| {
        format!("Access-Control-Allow-Origin: {o}\r\nAccess-Control-Allow-Methods: GET, HEAD, POST\r\nAccess-Control-Allow-Headers: authorization, content-type\r\nAccess-Control-Expose-Headers: content-disposition\r\nAccess-Control-Max-Age: 600\r\nVary: Origin\r\n")
    });
    let (ctype, extra, len, body): (&str, String, usize, &[u8]) = match answer {
        Answer::Empty => ("text/plain", String::new(), 0, b""),
        Answer::Json(j) => ("application/json", String::new(), j.len(), j.as_bytes()),
        Answer::File { content_type, name, size, body } => (
            content_type,
            // The file is the other party's: downloaded, never sniffed or run as part of this origin.
            format!(
                "Content-Disposition: attachment; filename*=UTF-8''{}\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: sandbox; default-src 'none'\r\nCross-Origin-Resource-Policy: cross-origin\r\n",
                utf8_percent_encode(name, NON_ALPHANUMERIC)
            ),
            *size as usize,
            body,
        ),
    };
    let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nCache-Control: private, no-store\r\n{extra}{cors}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    stream.shutdown().await?;
    // Drain what the client still sends, so closing does not reset the connection mid-answer.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} }).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attachment_paths_come_here() {
        assert!(is_attachment_request(b"POST /attachments/ix-1?name=a.png HTTP/1.1\r\n"));
        assert!(is_attachment_request(b"GET /attachments/ix-1/3 HTTP/1.1\r\n"));
        assert!(!is_attachment_request(b"GET /attachments HTTP/1.1\r\n"));
        assert!(!is_attachment_request(b"GET /frontdesk-widget.js HTTP/1.1\r\n"));
    }
}
