//! A WebSocket session's bytes on a plain TCP socket, with no task per direction and no buffer while
//! idle: the broker task formats each frame's header and writes everything due to a socket in one
//! vectored write at the end of its flush, straight from the shared frame bytes (a status change is
//! encoded once, never copied per socket); only what the kernel did not take waits here, for the
//! connection's own task to write when the socket drains. Reads go through the caller's stack buffer,
//! so a connection holds a heap buffer only while a frame is half-received.
//!
//! TLS connections and `/xmpp` keep tungstenite's stream (`server.rs`); the frames and the handshake
//! are RFC 6455's either way, with tungstenite's header codec and accept-key derivation.

use std::collections::VecDeque;
use std::io::{Cursor, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// Frames a connection passes to the broker before the broker has taken them: the high-water mark
/// counts answers only once the broker made them, so without this bound a burst of requests read
/// together (a client that stopped reading, its requests piled up in the kernel) would all be
/// answered at once, past the mark by as many answers.
pub(crate) const IN_FLIGHT: usize = 16;

/// Frames written with one `writev` at most (two slices each, well under the kernel's 1,024).
const WRITE_BATCH: usize = 128;
/// Bytes read per readiness before the task yields to others.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// A frame waiting for the socket: its header (server frames are unmasked: at most 10 bytes), its
/// payload, and how much of both the socket already took.
struct Pending {
    head: [u8; 10],
    head_len: u8,
    payload: bytes::Bytes,
    sent: usize,
    /// Counted in the connection's queue (the broker's frames; not pongs or the close frame).
    counted: bool,
}

impl Pending {
    fn new(opcode: OpCode, payload: bytes::Bytes, counted: bool) -> Pending {
        let mut head = [0u8; 10];
        let mut cur = Cursor::new(&mut head[..]);
        let h = FrameHeader { opcode, ..FrameHeader::default() };
        // Ten bytes hold any unmasked header.
        let _ = h.format(payload.len() as u64, &mut cur);
        let head_len = cur.position() as u8;
        Pending { head, head_len, payload, sent: 0, counted }
    }

    fn total(&self) -> usize {
        self.head_len as usize + self.payload.len()
    }

    /// The unsent rest as at most two slices.
    fn slices<'a>(&'a self, out: &mut Vec<IoSlice<'a>>) {
        let h = self.head_len as usize;
        if self.sent < h {
            out.push(IoSlice::new(&self.head[self.sent..h]));
            if !self.payload.is_empty() {
                out.push(IoSlice::new(&self.payload));
            }
        } else if self.sent - h < self.payload.len() {
            out.push(IoSlice::new(&self.payload[self.sent - h..]));
        }
    }
}

#[derive(Default)]
struct Outbox {
    frames: VecDeque<Pending>,
    /// The last write hit a full socket: the connection's task waits for it to drain.
    blocked: bool,
    /// The socket failed (reset, broken pipe): nothing more is written.
    failed: bool,
    /// The broker asked to close once the frames before are written.
    closing: bool,
    /// The close frame is written: nothing more goes out.
    closed: bool,
}

/// How a write attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wrote {
    /// Everything queued is on the socket; `drained` tells that the queue went below its low-water
    /// mark from above it (the broker may send this connection's events again).
    All { drained: bool },
    /// The socket is full; the connection's task finishes when it drains.
    Blocked { drained: bool },
    /// The socket failed.
    Failed,
}

impl Wrote {
    /// Whether this write drained a paused connection below its low-water mark.
    pub(crate) fn drained(&self) -> bool {
        matches!(self, Wrote::All { drained: true } | Wrote::Blocked { drained: true })
    }
}

/// One WebSocket connection's socket and what waits to be written to it, shared by its task and
/// whoever sends (the broker task, or a cluster gateway).
pub(crate) struct Wire {
    sock: TcpStream,
    out: Mutex<Outbox>,
    /// Wakes the connection's task: a write blocked, the broker closed, or it hung up.
    wake: Notify,
    /// The broker (or gateway) dropped its end: nothing more will be sent.
    hung_up: AtomicBool,
    /// See [`Wire::tell_drained`].
    drained: AtomicBool,
    /// Frames passed to the broker that it has not taken yet (see [`IN_FLIGHT`]).
    in_flight: AtomicUsize,
    /// Bytes of the broker's frames queued (counted when sent, subtracted once written), and
    /// whether the broker holds this connection's events because that went over the high-water mark.
    pub(crate) q: Arc<crate::server::OutQueue>,
}

impl Wire {
    /// Wraps a socket whose WebSocket handshake is done.
    pub(crate) fn new(sock: TcpStream, q: Arc<crate::server::OutQueue>) -> Arc<Wire> {
        Arc::new(Wire { sock, out: Mutex::new(Outbox::default()), wake: Notify::new(), hung_up: AtomicBool::new(false), drained: AtomicBool::new(false), in_flight: AtomicUsize::new(0), q })
    }

    fn out(&self) -> MutexGuard<'_, Outbox> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether another frame may go to the broker now (see [`IN_FLIGHT`]).
    pub(crate) fn may_forward(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) < IN_FLIGHT
    }

    /// A frame went to the broker.
    pub(crate) fn forwarded(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// The broker took a frame; wakes the connection's task if it waited for that.
    pub(crate) fn consumed(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == IN_FLIGHT {
            self.wake.notify_one();
        }
    }

    /// The socket, for readiness and reads.
    pub(crate) fn sock(&self) -> &TcpStream {
        &self.sock
    }

    /// Queues a broker frame (text: the broker's frames are JSON it encoded, so valid UTF-8) without
    /// writing it: the caller writes once everything due is queued. Returns the bytes now queued and
    /// whether this is the first frame since the last write, or `None` when the connection no longer
    /// writes (the frame is dropped; its session keeps its events for resume).
    pub(crate) fn queue(&self, frame: bytes::Bytes) -> Option<(usize, bool)> {
        let len = frame.len();
        let mut ob = self.out();
        if ob.failed || ob.closing || ob.closed {
            return None;
        }
        let first = ob.frames.is_empty();
        ob.frames.push_back(Pending::new(OpCode::Data(Data::Text), frame, true));
        Some((self.q.bytes.fetch_add(len, Ordering::SeqCst) + len, first))
    }

    /// A write by someone who cannot resume the broker's events drained the connection: its task
    /// tells the broker.
    pub(crate) fn tell_drained(&self) {
        self.drained.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether a drain is owed to the broker (and clears it).
    pub(crate) fn take_drained(&self) -> bool {
        self.drained.swap(false, Ordering::SeqCst)
    }

    /// Queues a pong (answering a ping) ahead of nothing: after what is already queued.
    pub(crate) fn queue_pong(&self, payload: Vec<u8>) {
        let mut ob = self.out();
        if !(ob.failed || ob.closed) {
            ob.frames.push_back(Pending::new(OpCode::Control(Control::Pong), payload.into(), false));
        }
    }

    /// Closes after what is queued (the broker's close: an error the peer should read first).
    pub(crate) fn close(&self) {
        self.out().closing = true;
        self.wake.notify_one();
    }

    /// The broker (or gateway) will send nothing more.
    pub(crate) fn hang_up(&self) {
        self.hung_up.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Writes what is queued, as far as the socket takes it without waiting.
    pub(crate) fn write(&self) -> Wrote {
        let mut ob = self.out();
        let mut done = 0usize;
        let r = loop {
            if ob.failed {
                break Wrote::Failed;
            }
            if ob.frames.is_empty() {
                // An idle connection keeps no queue buffer.
                ob.frames = VecDeque::new();
                ob.blocked = false;
                break Wrote::All { drained: false };
            }
            let mut slices = Vec::with_capacity(2 * WRITE_BATCH.min(ob.frames.len()));
            for p in ob.frames.iter().take(WRITE_BATCH) {
                p.slices(&mut slices);
            }
            match self.sock.try_write_vectored(&slices) {
                Ok(0) => {
                    ob.failed = true;
                    break Wrote::Failed;
                }
                Ok(mut n) => {
                    drop(slices);
                    while n > 0 {
                        let Some(p) = ob.frames.front_mut() else { break };
                        let left = p.total() - p.sent;
                        if n < left {
                            p.sent += n;
                            break;
                        }
                        n -= left;
                        if p.counted {
                            done += p.payload.len();
                        }
                        ob.frames.pop_front();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ob.blocked = true;
                    break Wrote::Blocked { drained: false };
                }
                Err(_) => {
                    ob.failed = true;
                    break Wrote::Failed;
                }
            }
        };
        if matches!(r, Wrote::Failed) {
            // What was queued will never be written: the session keeps its events for resume.
            for p in ob.frames.drain(..) {
                if p.counted {
                    done += p.payload.len();
                }
            }
        }
        let blocked = matches!(r, Wrote::Blocked { .. });
        drop(ob);
        if blocked {
            self.wake.notify_one();
        }
        let drained = done > 0 && {
            let left = self.q.bytes.fetch_sub(done, Ordering::SeqCst).saturating_sub(done);
            left <= self.q.low && self.q.paused.swap(false, Ordering::SeqCst)
        };
        match r {
            Wrote::All { .. } => Wrote::All { drained },
            Wrote::Blocked { .. } => Wrote::Blocked { drained },
            Wrote::Failed => Wrote::Failed,
        }
    }

    /// What the connection's task should do about its writes.
    pub(crate) fn state(&self) -> WireState {
        let ob = self.out();
        WireState {
            blocked: ob.blocked && !ob.frames.is_empty() && !ob.failed,
            failed: ob.failed,
            closing: ob.closing,
            empty: ob.frames.is_empty(),
            hung_up: self.hung_up.load(Ordering::SeqCst),
        }
    }

    /// Waits until something changes for the writes (see [`Wire::state`]).
    pub(crate) async fn changed(&self) {
        self.wake.notified().await
    }

    /// Queues the close frame (after everything else) and stops taking frames.
    pub(crate) fn queue_close_frame(&self, code: Option<u16>) {
        let mut ob = self.out();
        if ob.closed || ob.failed {
            return;
        }
        ob.closed = true;
        let payload = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
        ob.frames.push_back(Pending::new(OpCode::Control(Control::Close), payload.into(), false));
    }
}

/// A snapshot of a [`Wire`]'s writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireState {
    /// Frames wait for the socket to drain.
    pub(crate) blocked: bool,
    /// The socket failed.
    pub(crate) failed: bool,
    /// The broker closed the connection.
    pub(crate) closing: bool,
    /// Nothing waits to be written.
    pub(crate) empty: bool,
    /// The broker dropped its end.
    pub(crate) hung_up: bool,
}

/// What a peer's bytes amounted to.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text or binary message.
    Message(Vec<u8>),
    /// A ping to answer with this payload.
    Ping(Vec<u8>),
    /// A pong (keeps the connection alive, nothing else).
    Pong,
    /// The peer closes.
    Close,
}

/// Why a peer's bytes are refused: the close code to send (RFC 6455 §7.4.1) and what for.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub u16, pub &'static str);

/// Reassembles a peer's frames into messages (RFC 6455 §5): client frames must be masked, control
/// frames short and whole, reserved bits and opcodes unused, a message at most `max` bytes.
pub struct FrameReader {
    /// Bytes of a frame not yet complete; empty (no allocation) between frames.
    partial: Vec<u8>,
    /// A fragmented message in progress.
    message: Vec<u8>,
    in_message: bool,
    max: usize,
}

impl FrameReader {
    /// A reader for messages of at most `max` bytes.
    pub fn new(max: usize) -> FrameReader {
        FrameReader { partial: Vec::new(), message: Vec::new(), in_message: false, max }
    }

    /// Bytes held of a frame not yet complete (at most one frame's header and payload).
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Takes bytes as they come off the socket, handing each complete message or control frame to
    /// `on`; stops at the first protocol error (the connection is then closed with its code).
    pub fn feed(&mut self, bytes: &[u8], on: &mut impl FnMut(Incoming)) -> Result<(), Refused> {
        if self.partial.is_empty() {
            let used = self.parse(bytes, on)?;
            if used < bytes.len() {
                self.partial.extend_from_slice(&bytes[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(bytes);
            let used = self.parse(&buf, on)?;
            buf.drain(..used);
            if !buf.is_empty() {
                self.partial = buf;
            }
        }
        Ok(())
    }

    /// Parses whole frames from `data`; returns the bytes they took.
    fn parse(&mut self, data: &[u8], on: &mut impl FnMut(Incoming)) -> Result<usize, Refused> {
        let mut at = 0;
        loop {
            let mut cur = Cursor::new(&data[at..]);
            let (h, len) = match FrameHeader::parse(&mut cur) {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(at),
                Err(_) => return Err(Refused(1002, "reserved opcode")),
            };
            if h.rsv1 || h.rsv2 || h.rsv3 {
                return Err(Refused(1002, "reserved bits set (no extension was negotiated)"));
            }
            let Some(mask) = h.mask else { return Err(Refused(1002, "client frames must be masked")) };
            let control = matches!(h.opcode, OpCode::Control(_));
            if control && (len > 125 || !h.is_final) {
                return Err(Refused(1002, "control frames are whole and at most 125 bytes"));
            }
            let already = if self.in_message { self.message.len() as u64 } else { 0 };
            if !control && len.saturating_add(already) > self.max as u64 {
                return Err(Refused(1009, "message too large"));
            }
            let start = at + cur.position() as usize;
            let len = len as usize;
            if data.len() - start < len {
                return Ok(at);
            }
            let mut payload = data[start..start + len].to_vec();
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i & 3];
            }
            at = start + len;
            match h.opcode {
                OpCode::Control(Control::Ping) => on(Incoming::Ping(payload)),
                OpCode::Control(Control::Pong) => on(Incoming::Pong),
                OpCode::Control(Control::Close) => {
                    on(Incoming::Close);
                    return Ok(data.len());
                }
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => return Err(Refused(1002, "reserved opcode")),
                OpCode::Data(Data::Continue) => {
                    if !self.in_message {
                        return Err(Refused(1002, "continuation without a message"));
                    }
                    self.message.extend_from_slice(&payload);
                    if h.is_final {
                        self.in_message = false;
                        on(Incoming::Message(std::mem::take(&mut self.message)));
                    }
                }
                OpCode::Data(Data::Text | Data::Binary) => {
                    if self.in_message {
                        return Err(Refused(1002, "a new message inside a fragmented one"));
                    }
                    if h.is_final {
                        on(Incoming::Message(payload));
                    } else {
                        self.in_message = true;
                        self.message = payload;
                    }
                }
            }
        }
    }
}

/// The answer to a valid WebSocket upgrade request (RFC 6455 §4.2.2), or why it is not one: the
/// status line and body to answer with.
pub(crate) fn accept(req: &httparse::Request<'_, '_>) -> Result<String, (&'static str, &'static str)> {
    let header = |name: &str| req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    let has_token = |name: &str, token: &str| {
        req.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).any(|h| String::from_utf8_lossy(h.value).split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if req.method != Some("GET") {
        return Err(("405 Method Not Allowed", "a WebSocket upgrade is a GET\n"));
    }
    if !has_token("connection", "upgrade") || !has_token("upgrade", "websocket") {
        return Err(("400 Bad Request", "not a WebSocket upgrade\n"));
    }
    if header("sec-websocket-version") != Some(b"13") {
        return Err(("426 Upgrade Required", "WebSocket version 13 only\n"));
    }
    let Some(key) = header("sec-websocket-key").filter(|k| !k.is_empty()) else {
        return Err(("400 Bad Request", "no Sec-WebSocket-Key\n"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    Ok(format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"))
}

/// A refusal of an upgrade request, as plain HTTP.
pub(crate) fn refusal(status: &str, body: &str) -> String {
    let extra = if status.starts_with("426") { "Sec-WebSocket-Version: 13\r\n" } else { "" };
    format!("HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// A frame as a client sends it, masked with `mask` (RFC 6455 §5.3): what the load generator and
/// the tests write to the server, never what the server sends.
pub fn client_frame(opcode: u8, fin: bool, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(opcode | if fin { 0x80 } else { 0 });
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        client_frame(opcode, fin, [1, 2, 3, 4], payload)
    }

    fn run(r: &mut FrameReader, bytes: &[u8]) -> Result<Vec<Incoming>, Refused> {
        let mut got = vec![];
        r.feed(bytes, &mut |i| got.push(i))?;
        Ok(got)
    }

    #[test]
    fn a_message_split_anywhere_comes_out_whole_once() {
        let big = vec![b'x'; 70_000];
        let mut stream = masked(1, true, b"{\"hello\":1}");
        stream.extend(masked(9, true, b"p"));
        stream.extend(masked(2, true, &big));
        stream.extend(masked(1, false, b"ab"));
        stream.extend(masked(0, true, b"cd"));
        for cut in [1, 2, 7, 13, 100, 4096, 70_010] {
            let mut r = FrameReader::new(1 << 20);
            let mut got = vec![];
            for chunk in stream.chunks(cut) {
                got.extend(run(&mut r, chunk).unwrap());
            }
            assert_eq!(got, vec![Incoming::Message(b"{\"hello\":1}".to_vec()), Incoming::Ping(b"p".to_vec()), Incoming::Message(big.clone()), Incoming::Message(b"abcd".to_vec())], "chunks of {cut}");
            assert_eq!(r.partial.capacity(), 0, "nothing held between frames");
        }
    }

    #[test]
    fn protocol_errors_are_refused_with_their_codes() {
        let mut unmasked = masked(1, true, b"hi");
        unmasked[1] &= 0x7f;
        unmasked.truncate(2);
        unmasked.extend_from_slice(b"hi");
        assert_eq!(run(&mut FrameReader::new(100), &unmasked).unwrap_err().0, 1002);
        assert_eq!(run(&mut FrameReader::new(100), &masked(1, true, &[b'a'; 101])).unwrap_err().0, 1009);
        let mut two = masked(1, false, &[b'a'; 60]);
        two.extend(masked(0, true, &[b'a'; 60]));
        assert_eq!(run(&mut FrameReader::new(100), &two).unwrap_err().0, 1009, "a fragmented message is limited as a whole");
        assert_eq!(run(&mut FrameReader::new(100), &masked(0, true, b"x")).unwrap_err().0, 1002);
        assert_eq!(run(&mut FrameReader::new(100), &masked(3, true, b"x")).unwrap_err().0, 1002);
        assert_eq!(run(&mut FrameReader::new(1000), &masked(9, true, &[0; 126])).unwrap_err().0, 1002);
        let mut rsv = masked(1, true, b"x");
        rsv[0] |= 0x40;
        assert_eq!(run(&mut FrameReader::new(100), &rsv).unwrap_err().0, 1002);
    }

    #[test]
    fn the_upgrade_answer_carries_rfc_6455s_accept_key() {
        let head = b"GET /client HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut h);
        req.parse(head).unwrap();
        let a = accept(&req).unwrap();
        assert!(a.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{a}");
        let old = String::from_utf8_lossy(head).replace("Version: 13", "Version: 8");
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut h);
        req.parse(old.as_bytes()).unwrap();
        assert_eq!(accept(&req).unwrap_err().0, "426 Upgrade Required");
    }
}
