//! A WebSocket client cut to what a load generator needs, for the many sessions of a run: the
//! upgrade written by hand, frames parsed in place without a UTF-8 check or a message per frame.
//!
//! The load generator shares the machine's two cores with the server it measures, so every
//! microsecond it spends reading a notification is one the server cannot use: with tungstenite's
//! split stream it spent about as much CPU per notification as the server did. Both servers under
//! comparison are read by this same reader. The agent console and the XMPP-over-WebSocket mode,
//! one connection each or needing every frame's text, keep tungstenite.

use crate::measure::{within, Counters, Run, STEP};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::tungstenite::Message;

/// The receiving half: the socket and what has been read of it but not yet parsed.
pub struct RawRx {
    rx: OwnedReadHalf,
    buf: Vec<u8>,
    /// The unparsed bytes are `buf[at..len]`.
    at: usize,
    len: usize,
}

/// The sending half: frames are encoded into `out` and written out on flush.
pub struct RawTx {
    tx: OwnedWriteHalf,
    out: Vec<u8>,
}

/// Opens `url` (`ws://host:port/path`): the upgrade request, its `101` answer, and the two halves,
/// with whatever the server sent right after its answer kept for the reader.
pub async fn connect(what: &str, url: &str) -> Run<(RawTx, RawRx)> {
    let fail = |e: &dyn std::fmt::Display| format!("{what}: {e}");
    let rest = url.strip_prefix("ws://").ok_or_else(|| fail(&format!("{url} is not a ws:// URL")))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    within(what, STEP, async {
        let s = tokio::net::TcpStream::connect(host).await.map_err(|e| fail(&e))?;
        // What browsers do: a frame goes out when it is written, not when the previous one is acknowledged.
        s.set_nodelay(true).map_err(|e| fail(&e))?;
        let (mut rx, mut tx) = s.into_split();
        // The key is fixed: the answer's accept header is not checked, as a load generator knows its server.
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        tx.write_all(req.as_bytes()).await.map_err(|e| fail(&e))?;
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        let end = loop {
            if let Some(i) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if len == buf.len() {
                return Err(fail(&"an upgrade answer over 4 KiB"));
            }
            match rx.read(&mut buf[len..]).await.map_err(|e| fail(&e))? {
                0 => return Err(fail(&"the server closed the connection during the upgrade")),
                n => len += n,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(fail(&format!("upgrade refused: {}", head.lines().next().unwrap_or(""))));
        }
        Ok((RawTx { tx, out: Vec::new() }, RawRx { rx, buf, at: end, len }))
    })
    .await?
}

impl RawRx {
    /// The next complete frame as (opcode, payload), reading as needed; `None` once the socket is
    /// closed. A frame from the server is never masked (RFC 6455 §5.1), so the payload is used in place.
    pub async fn frame(&mut self) -> std::io::Result<Option<(u8, &[u8])>> {
        loop {
            if let Some((op, start, end)) = parse(&self.buf[self.at..self.len]) {
                let (start, end) = (self.at + start, self.at + end);
                self.at = end;
                return Ok(Some((op, &self.buf[start..end])));
            }
            // The unparsed tail moves to the front; the buffer grows only for a frame larger than it.
            self.buf.copy_within(self.at..self.len, 0);
            self.len -= self.at;
            self.at = 0;
            if self.len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match self.rx.read(&mut self.buf[self.len..]).await? {
                0 => return Ok(None),
                n => self.len += n,
            }
        }
    }

    /// The next text frame that satisfies `done`, bounded by [`STEP`].
    pub async fn expect_text(&mut self, what: &str, done: impl Fn(&str) -> bool) -> Run<String> {
        within(what, STEP, async {
            loop {
                match self.frame().await {
                    Ok(Some((1, p))) => {
                        let t = std::str::from_utf8(p).map_err(|e| format!("{what}: {e}"))?;
                        if done(t) {
                            return Ok(t.to_owned());
                        }
                    }
                    Ok(Some((8, _))) | Ok(None) => return Err(format!("{what}: the server closed the connection")),
                    Ok(Some(_)) => {}
                    Err(e) => return Err(format!("{what}: {e}")),
                }
            }
        })
        .await?
    }
}

/// Where the first frame in `b` lies: (opcode, payload start, payload end), if it is all there.
fn parse(b: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (len, head) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    (b.len() >= head + len).then_some((b0 & 0x0f, head, head + len))
}

/// Counts the status frames (any starting with one of `status`) and answers (starting with
/// `answer`) one connection receives, so the run knows when every watcher has had a change.
pub fn spawn_reader(mut rx: RawRx, c: &Counters, status: &'static [&'static str], answer: &'static str) {
    let c = c.clone();
    tokio::spawn(async move {
        while let Ok(Some((op, p))) = rx.frame().await {
            match op {
                1 if status.iter().any(|s| p.starts_with(s.as_bytes())) => {
                    c.bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
                    c.frames.fetch_add(1, Ordering::Relaxed);
                }
                1 if p.starts_with(answer.as_bytes()) => {
                    c.answers.fetch_add(1, Ordering::Relaxed);
                }
                8 => break,
                _ => {}
            }
        }
        c.closed.fetch_add(1, Ordering::Relaxed);
    });
}

/// Appends one masked client frame of `op` carrying `payload` to `out`.
fn encode(out: &mut Vec<u8>, op: u8, payload: &[u8]) {
    out.extend_from_slice(&frontdesk_server::wire::client_frame(op, true, [0x37, 0xfa, 0x21, 0x3d], payload));
}

/// A sink of messages so that `measure::send`, the round trips and the keepalive drive raw
/// sessions as they drive tungstenite's: text and ping frames are sent, others are dropped.
impl futures::Sink<Message> for RawTx {
    type Error = std::io::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, m: Message) -> std::io::Result<()> {
        let me = self.get_mut();
        match &m {
            Message::Text(t) => encode(&mut me.out, 1, t.as_bytes()),
            Message::Ping(p) => encode(&mut me.out, 9, p),
            _ => {}
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        while !me.out.is_empty() {
            let n = ready!(Pin::new(&mut me.tx).poll_write(cx, &me.out))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            me.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().tx).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_found_only_once_all_of_it_is_there_whatever_its_length_field() {
        let mut f = vec![0x81, 3];
        f.extend_from_slice(b"abc");
        assert_eq!(parse(&f), Some((1, 2, 5)));
        assert_eq!(parse(&f[..4]), None);
        let mut f = vec![0x81, 126, 1, 0];
        f.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(parse(&f), Some((1, 4, 260)));
        assert_eq!(parse(&f[..259]), None);
        assert_eq!(parse(&[0x88, 0]), Some((8, 2, 2)));
        assert_eq!(parse(&[0x81]), None);
    }

    #[test]
    fn a_client_frame_is_masked_and_unmasks_to_its_payload() {
        for len in [0, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = vec![];
            encode(&mut out, 1, &payload);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0x80, "masked");
            let (head, n) = match out[1] & 0x7f {
                126 => (4, u16::from_be_bytes([out[2], out[3]]) as usize),
                127 => (10, u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize),
                n => (2, n as usize),
            };
            assert_eq!(n, len);
            let mask = &out[head..head + 4];
            let back: Vec<u8> = out[head + 4..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(back, payload);
        }
    }
}
