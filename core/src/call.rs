//! Voice and video calls: the signalling that rides the reliable session (offer, answer, ICE
//! candidates, restarts, mute and camera state, hang-up) and the ICE servers each party is handed.
//!
//! Media never passes through frontdesk: the two peers' WebRTC stacks exchange it directly or
//! through TURN. Because signalling is sequenced and replayed like every other event, a party that
//! reconnects gets what it missed, and a network change is an ICE restart instead of a dead call.

use serde::{Deserialize, Serialize};

/// Longest SDP accepted (real offers are 2–8 KB; this leaves room for many codecs and tracks).
pub const MAX_SDP_BYTES: usize = 32 * 1024;
/// Longest ICE candidate line accepted.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// One signalling message between the customer's and the agent's WebRTC stacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallSignal {
    /// A session description offer (`restart` when it restarts ICE after a network change).
    Offer {
        /// The SDP.
        sdp: String,
        /// Whether it restarts ICE.
        #[serde(default)]
        restart: bool,
    },
    /// The answer to an offer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        /// The `candidate:` line.
        candidate: String,
        /// Media id it belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media line index it belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// No more candidates for this negotiation.
    EndOfCandidates,
    /// The sender's microphone and camera state, for the other side's display.
    Media {
        /// Microphone muted.
        muted: bool,
        /// Camera on.
        camera: bool,
    },
    /// The sender hangs up; the interaction ends and its record says how.
    HangUp {
        /// Why.
        #[serde(default)]
        reason: HangUpReason,
    },
}

impl CallSignal {
    /// Checks sizes, so one party cannot make the broker hold or relay megabytes per message.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            CallSignal::Offer { sdp, .. } | CallSignal::Answer { sdp } => {
                if sdp.is_empty() || sdp.len() > MAX_SDP_BYTES {
                    return Err(format!("sdp: 1 to {MAX_SDP_BYTES} bytes"));
                }
            }
            CallSignal::Candidate { candidate, sdp_mid, .. } => {
                if candidate.len() > MAX_CANDIDATE_BYTES || sdp_mid.as_ref().is_some_and(|m| m.len() > 64) {
                    return Err(format!("candidate: at most {MAX_CANDIDATE_BYTES} bytes"));
                }
            }
            CallSignal::EndOfCandidates | CallSignal::Media { .. } | CallSignal::HangUp { .. } => {}
        }
        Ok(())
    }
}

/// How a call ended, as the side that ended it says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HangUpReason {
    /// An ordinary hang-up.
    #[default]
    Normal,
    /// The media connection failed and could not be restored.
    Failed,
    /// The microphone or camera was refused on this side.
    MediaRefused,
}

/// A STUN or TURN server a party's WebRTC stack may use, as `RTCIceServer` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IceServer {
    /// `stun:` or `turn:`/`turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// TURN with coturn's shared-secret scheme (`use-auth-secret`): credentials are minted per party
/// and expire, so none is ever configured in an app.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// `turn:host:port?transport=udp` and the like.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (`static-auth-secret`).
    pub secret: Vec<u8>,
    /// How long a minted credential lasts.
    pub ttl: std::time::Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("TurnConfig").field("urls", &self.urls).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TurnConfig {
    /// A credential for `who`, valid until `now + ttl`: user name `expiry:who`, password the
    /// base64 of HMAC-SHA1(secret, user name), as coturn checks it.
    pub fn mint(&self, now: crate::time::Timestamp, who: &str) -> IceServer {
        use base64::Engine as _;
        use hmac::{KeyInit, Mac};
        let expiry = now.add(self.ttl).0 / 1000;
        let username = format!("{expiry}:{who}");
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(username.as_bytes());
        let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        IceServer { urls: self.urls.clone(), username: Some(username), credential: Some(credential) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn turn_credentials_follow_coturns_shared_secret_scheme() {
        let t = TurnConfig { urls: vec!["turn:127.0.0.1:3478".into()], secret: b"S".to_vec(), ttl: std::time::Duration::from_secs(600) };
        let s = t.mint(Timestamp(1_000_000), "alice");
        assert_eq!(s.username.as_deref(), Some("1600:alice"));
        // HMAC-SHA1("S", "1600:alice"), base64 — computed independently with Python's hmac module.
        assert_eq!(s.credential.as_deref(), Some(EXPECTED));
    }

    const EXPECTED: &str = "hcwt9DCMXa/BlGQpWEXwvqG35P4=";

    #[test]
    fn signals_are_bounded() {
        assert!(CallSignal::Offer { sdp: "v=0".into(), restart: false }.validate().is_ok());
        assert!(CallSignal::Offer { sdp: String::new(), restart: false }.validate().is_err());
        assert!(CallSignal::Answer { sdp: "x".repeat(MAX_SDP_BYTES + 1) }.validate().is_err());
        assert!(CallSignal::Candidate { candidate: "c".repeat(2000), sdp_mid: None, sdp_mline_index: None }.validate().is_err());
        let j = serde_json::to_string(&CallSignal::HangUp { reason: HangUpReason::MediaRefused }).unwrap();
        assert_eq!(j, r#"{"kind":"hang_up","reason":"media_refused"}"#);
    }
}
