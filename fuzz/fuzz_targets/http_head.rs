//! The server's plain-HTTP side (`frontdesk_server::http`): the request head it reads before choosing
//! between a file and a WebSocket upgrade, and the answer it gives.
//!
//! The first byte sets the chunk size (1..=256) the head arrives in; the rest is what the peer sends.
//! Properties: never panics; `read_head` stops at the blank line or soon after 8 KiB, never losing
//! bytes (what it returns is a prefix of the input, and the input's first 8 KiB are in it unless the
//! head ended sooner); `is_websocket_upgrade` never panics; `serve` answers every head that is not an
//! upgrade with a well-formed HTTP/1.1 response whose `Content-Length` is the length of the body sent
//! (no body for HEAD) and whose status is one of 200, 400, 404, 405.
#![no_main]

use frontdesk_server::http::{is_websocket_upgrade, read_head, serve};
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A peer that sends `input` in chunks of `chunk` bytes, then closes; what is written to it is kept.
struct Peer<'a> {
    input: &'a [u8],
    chunk: usize,
    out: Vec<u8>,
}

impl AsyncRead for Peer<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(self.input.len()).min(buf.remaining());
        let (now, rest) = self.input.split_at(n);
        buf.put_slice(now);
        self.input = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer<'_> {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, input)) = data.split_first() else { return };
    let chunk = c as usize + 1;
    runtime().block_on(async {
        let mut peer = Peer { input, chunk, out: vec![] };
        let head = read_head(&mut peer).await.expect("reading from memory cannot fail");
        assert!(input.starts_with(&head), "read_head changed the bytes");
        let ended = head.windows(4).any(|w| w == b"\r\n\r\n");
        assert!(ended || head.len() >= 8 * 1024 || head.len() == input.len(), "read_head stopped early at {} of {}", head.len(), input.len());
        assert!(head.len() < 8 * 1024 + chunk, "read_head read {} bytes", head.len());
        if is_websocket_upgrade(&head) {
            return;
        }
        let mut answer = Peer { input: &[], chunk, out: vec![] };
        serve(&mut answer, &head, None).await.expect("writing to memory cannot fail");
        let out = answer.out;
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("answer is not an HTTP response ({other:?}): {}", String::from_utf8_lossy(&out)),
        };
        assert!(matches!(resp.code, Some(200 | 400 | 404 | 405)), "status {:?}", resp.code);
        let len: usize = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .expect("no Content-Length");
        let mut hh = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut hh);
        let is_head = matches!(req.parse(&head), Ok(_)) && req.method == Some("HEAD");
        let body = out.len() - n;
        if is_head {
            assert_eq!(body, 0, "a body for HEAD");
        } else {
            assert_eq!(body, len, "Content-Length {len} but {body} bytes sent");
        }
    });
});
