//! The server's WebSocket frame reader (`frontdesk_server::wire::FrameReader`) on hostile bytes.
//!
//! The first two bytes pick the message limit, the third how the rest is cut into reads. Properties:
//! never panics; a message is never over the limit; between reads it holds at most one frame (the
//! limit, or a 125-byte control frame, plus a 14-byte header); and the bytes mean the same however the socket cut them — the
//! messages, pings, close and refusal read whole equal those read in pieces.
#![no_main]

use frontdesk_server::wire::{FrameReader, Incoming, Refused};
use libfuzzer_sys::fuzz_target;

/// Reads `data` in pieces of the sizes `cuts` gives, as the server does: stops at a close or an error.
fn read(max: usize, data: &[u8], cuts: &mut dyn FnMut() -> usize) -> (Vec<Incoming>, Option<Refused>) {
    let mut r = FrameReader::new(max);
    let mut got = vec![];
    let mut at = 0;
    while at < data.len() {
        let n = cuts().clamp(1, data.len() - at);
        let res = r.feed(&data[at..at + n], &mut |i| got.push(i));
        at += n;
        assert!(r.held() <= max.max(125) + 14, "held {} bytes with a limit of {max}", r.held());
        if let Err(e) = res {
            return (got, Some(e));
        }
        if let Some(p) = got.iter().position(|i| *i == Incoming::Close) {
            got.truncate(p + 1);
            break;
        }
    }
    for i in &got {
        if let Incoming::Message(m) = i {
            assert!(m.len() <= max, "a {}-byte message with a limit of {max}", m.len());
        }
    }
    (got, None)
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let max = 1 + u16::from_be_bytes([input[0], input[1]]) as usize;
    let step = input[2] as usize;
    let data = &input[3..];
    let whole = read(max, data, &mut || usize::MAX);
    let mut k = 0usize;
    let mut cuts = || {
        k += 1;
        1 + (step.wrapping_mul(k) ^ k) % 97
    };
    let pieces = read(max, data, &mut cuts);
    assert_eq!(whole, pieces, "the same bytes read whole and in pieces");
});
