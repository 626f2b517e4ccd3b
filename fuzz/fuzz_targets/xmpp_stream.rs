//! The XMPP server's XML reader (`frontdesk_server::xmpp::element`) on hostile input.
//!
//! The first byte picks the mode:
//! - even: the rest is a client-to-server stream: `read_header`, then `read_stanza` until it stops;
//! - odd: the rest is one WebSocket message for `parse_one` (XMPP over WebSocket, RFC 7395).
//!
//! Properties: never panics; reading always ends (each stanza consumes input); every element read
//! respects the limits (`MAX_DEPTH` nesting; a stanza read from the stream is at most
//! `MAX_STANZA_BYTES` of input); JIDs in `to`/`from` attributes go through `presentity_of` without
//! panicking, and a presentity it finds gives a JID that names it again.
#![no_main]

use frontdesk_server::xmpp::element::{parse_one, read_header, read_stanza, Element, XmlError, MAX_DEPTH, MAX_STANZA_BYTES};
use frontdesk_server::xmpp::{jid_of, presentity_of};
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use quick_xml::Reader;

fn depth(e: &Element) -> usize {
    1 + e.children.iter().map(depth).max().unwrap_or(0)
}

fn check(e: &Element) {
    assert!(depth(e) <= MAX_DEPTH + 1, "element nested {} deep", depth(e));
    for k in ["to", "from"] {
        if let Some(jid) = e.attr(k) {
            if let Some(p) = presentity_of(jid) {
                assert_eq!(presentity_of(&jid_of(&p, "example.com")).as_ref(), Some(&p), "{jid}");
            }
        }
    }
    let _ = (e.local(), e.ns(), e.child("body"));
}

fn stream(bytes: &[u8]) {
    let mut r = Reader::from_reader(bytes);
    let mut buf = vec![];
    match block_on(read_header(&mut r, &mut buf)) {
        Ok(h) => check(&h),
        Err(_) => return,
    }
    for _ in 0..=bytes.len() {
        let before = r.buffer_position();
        match block_on(read_stanza(&mut r, &mut buf)) {
            Ok(e) => {
                check(&e);
                let used = r.buffer_position() - before;
                assert!(used > 0, "a stanza consumed nothing");
                assert!(used <= MAX_STANZA_BYTES + 64 * 1024, "a stanza of {used} bytes was accepted");
            }
            Err(XmlError::Closed) | Err(_) => return,
        }
    }
    panic!("read_stanza did not stop");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        stream(rest);
    } else if let Ok(e) = block_on(parse_one(rest)) {
        check(&e);
    }
});
