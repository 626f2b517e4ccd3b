//! The little SDP handling third-party call control needs. The phones' SDP passes through
//! unchanged but for two lines: the origin (`o=`), because each phone must see one origin per
//! dialog whose version grows (RFC 3264 §8), and the direction that our own black-hole offer
//! forced into the agent's first answer.

/// The first offer to the agent's phone: no address to send to and `inactive`, so the phone
/// can answer (and hand us its own SDP) before the customer is reached (RFC 3725 §4.2's
/// "black hole"). Codecs are the ones trunks commonly carry; the agent's answer narrows them.
pub fn black_hole_offer(session: u64) -> Vec<u8> {
    format!(
        "v=0\r\no=frontdesk {session} 1 IN IP4 0.0.0.0\r\ns=frontdesk\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         m=audio 9 RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=inactive\r\n"
    )
    .into_bytes()
}

/// Why a phone's SDP cannot be passed on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    /// Empty, not UTF-8, or without `v=`/`m=` lines.
    #[error("not a usable SDP body: {0}")]
    Unusable(&'static str),
}

/// `sdp` (one phone's SDP) as our offer to the other phone: our origin with `version`, and
/// `inactive` turned back into `sendrecv` when `reactivate` (the agent only said inactive because
/// our black-hole offer did).
pub fn relay(sdp: &[u8], session: u64, version: u64, reactivate: bool) -> Result<Vec<u8>, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::Unusable("not UTF-8"))?;
    if !text.lines().any(|l| l.starts_with("v=")) {
        return Err(SdpError::Unusable("no v= line"));
    }
    if !text.lines().any(|l| l.starts_with("m=")) {
        return Err(SdpError::Unusable("no m= line"));
    }
    let mut out = String::with_capacity(text.len() + 32);
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("o=") {
            // Keep the phone's address type and address; only the identity and version are ours.
            let addr: Vec<&str> = rest.split_whitespace().skip(3).collect();
            let addr = if addr.len() == 3 { addr.join(" ") } else { "IN IP4 0.0.0.0".into() };
            out.push_str(&format!("o=frontdesk {session} {version} {addr}\r\n"));
        } else if reactivate && line == "a=inactive" {
            out.push_str("a=sendrecv\r\n");
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    Ok(out.into_bytes())
}

/// The addresses in an SDP's `c=` lines, for logs and for the tests' loopback guard.
pub fn connection_addresses(sdp: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(sdp)
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("c="))
        .filter_map(|c| c.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\no=- 1234 99 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n";

    #[test]
    fn relay_takes_our_origin_and_reactivates() {
        let out = String::from_utf8(relay(ANSWER.as_bytes(), 7, 2, true).unwrap()).unwrap();
        assert!(out.contains("o=frontdesk 7 2 IN IP4 127.0.0.1\r\n"), "{out}");
        assert!(out.contains("a=sendrecv\r\n") && !out.contains("inactive"), "{out}");
        assert!(out.contains("m=audio 4000 RTP/AVP 0\r\n"));
        assert_eq!(connection_addresses(&out.into_bytes()), vec!["127.0.0.1"]);
    }

    #[test]
    fn relay_keeps_direction_without_reactivate() {
        let out = String::from_utf8(relay(ANSWER.as_bytes(), 7, 2, false).unwrap()).unwrap();
        assert!(out.contains("a=inactive"));
    }

    #[test]
    fn relay_refuses_what_is_not_sdp() {
        assert_eq!(relay(b"", 1, 1, true), Err(SdpError::Unusable("no v= line")));
        assert_eq!(relay(&[0xff, 0xfe, b'v'], 1, 1, true), Err(SdpError::Unusable("not UTF-8")));
        assert_eq!(relay(b"v=0\r\n", 1, 1, true), Err(SdpError::Unusable("no m= line")));
    }

    #[test]
    fn black_hole_sends_nowhere() {
        let offer = black_hole_offer(3);
        assert_eq!(connection_addresses(&offer), vec!["0.0.0.0"]);
        assert!(String::from_utf8(offer).unwrap().contains("a=inactive"));
    }
}
