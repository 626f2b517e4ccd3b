//! Inbound mail as the SMTP listener hands it to the parser (`frontdesk_server::mail`): any bytes
//! after DATA, with an envelope, become either nothing or an `InboundMail`.
//!
//! The first byte picks how many of the two recipients are given. Properties: never panics;
//! the token comes only from a `reply+<token>@reply.test` recipient; the display text is never
//! longer than the full text; quote trimming never grows a text.
#![no_main]

use frontdesk_server::mail::{parse_message, reply_token, trim_quoted};
use libfuzzer_sys::fuzz_target;

const DOMAIN: &str = "reply.test";

fuzz_target!(|data: &[u8]| {
    let Some((&c, raw)) = data.split_first() else { return };
    let rcpt: Vec<String> = ["reply+0123456789abcdef0123456789abcdef@reply.test", "support@centre.test"].iter().take(c as usize % 3).map(|s| s.to_string()).collect();
    if let Some(m) = parse_message(raw, Some("sender@example.org"), &rcpt, DOMAIN) {
        if let Some(t) = &m.token {
            assert!(rcpt.iter().any(|r| reply_token(r, DOMAIN).as_ref() == Some(t)), "token {t} from no recipient");
        }
        assert!(m.text.len() <= m.full_text.len() + 1, "display text longer than the full text");
    }
    let text = String::from_utf8_lossy(raw);
    assert!(trim_quoted(&text).len() <= text.len(), "trimming grew the text");
    let _ = reply_token(&text, DOMAIN);
});
