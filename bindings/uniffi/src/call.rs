//! Call signalling for a native app's own WebRTC stack: the library carries offers, answers,
//! candidates, media state and hang-ups over the reliable session; the app's stack makes the media.

use frontdesk_core::call as fc;

/// One signalling message between the customer's and the agent's WebRTC stacks.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CallSignal {
    /// A session description offer (`restart` when it restarts ICE after a network change).
    Offer {
        /// The SDP.
        sdp: String,
        /// Whether it restarts ICE.
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
        sdp_mid: Option<String>,
        /// Media line index it belongs to.
        sdp_mline_index: Option<u16>,
    },
    /// No more candidates for this negotiation.
    EndOfCandidates,
    /// The sender's microphone and camera state.
    Media {
        /// Microphone muted.
        muted: bool,
        /// Camera on.
        camera: bool,
    },
    /// The sender hangs up; the interaction ends and its record says how.
    HangUp {
        /// Why.
        reason: HangUpReason,
    },
}

/// How a call ended, as the side that ended it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HangUpReason {
    /// An ordinary hang-up.
    Normal,
    /// The media connection failed and could not be restored.
    Failed,
    /// The microphone or camera was refused on this side.
    MediaRefused,
}

/// A STUN or TURN server for the app's WebRTC stack.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IceServer {
    /// `stun:` or `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN password.
    pub credential: Option<String>,
}

impl From<fc::IceServer> for IceServer {
    fn from(s: fc::IceServer) -> Self {
        IceServer { urls: s.urls, username: s.username, credential: s.credential }
    }
}

impl From<fc::HangUpReason> for HangUpReason {
    fn from(r: fc::HangUpReason) -> Self {
        match r {
            fc::HangUpReason::Normal => HangUpReason::Normal,
            fc::HangUpReason::Failed => HangUpReason::Failed,
            fc::HangUpReason::MediaRefused => HangUpReason::MediaRefused,
        }
    }
}

impl From<HangUpReason> for fc::HangUpReason {
    fn from(r: HangUpReason) -> Self {
        match r {
            HangUpReason::Normal => fc::HangUpReason::Normal,
            HangUpReason::Failed => fc::HangUpReason::Failed,
            HangUpReason::MediaRefused => fc::HangUpReason::MediaRefused,
        }
    }
}

impl From<fc::CallSignal> for CallSignal {
    fn from(s: fc::CallSignal) -> Self {
        match s {
            fc::CallSignal::Offer { sdp, restart } => CallSignal::Offer { sdp, restart },
            fc::CallSignal::Answer { sdp } => CallSignal::Answer { sdp },
            fc::CallSignal::Candidate { candidate, sdp_mid, sdp_mline_index } => CallSignal::Candidate { candidate, sdp_mid, sdp_mline_index },
            fc::CallSignal::EndOfCandidates => CallSignal::EndOfCandidates,
            fc::CallSignal::Media { muted, camera } => CallSignal::Media { muted, camera },
            fc::CallSignal::HangUp { reason } => CallSignal::HangUp { reason: reason.into() },
        }
    }
}

impl From<CallSignal> for fc::CallSignal {
    fn from(s: CallSignal) -> Self {
        match s {
            CallSignal::Offer { sdp, restart } => fc::CallSignal::Offer { sdp, restart },
            CallSignal::Answer { sdp } => fc::CallSignal::Answer { sdp },
            CallSignal::Candidate { candidate, sdp_mid, sdp_mline_index } => fc::CallSignal::Candidate { candidate, sdp_mid, sdp_mline_index },
            CallSignal::EndOfCandidates => fc::CallSignal::EndOfCandidates,
            CallSignal::Media { muted, camera } => fc::CallSignal::Media { muted, camera },
            CallSignal::HangUp { reason } => fc::CallSignal::HangUp { reason: reason.into() },
        }
    }
}
