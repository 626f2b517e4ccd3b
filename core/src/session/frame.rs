//! A broker frame as far as the session reads it: the kind, the few numbers it acts on, and the bodies
//! as JSON text. Native hosts decode it with serde ([`Frame::decode`]); the browser binding builds it
//! from the browser's own `JSON.parse`, so the web module links no JSON deserializer.

use crate::ids::ClientId;
use crate::protocol::{DecodeError, ErrorBody, ErrorCode};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Which broker frame it is (its `t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// The session is up (`welcome`).
    Welcome,
    /// A request's answer.
    Response,
    /// A sequenced event.
    Event,
    /// A presence document.
    Status,
    /// A presence delta.
    Delta,
    /// A watch ended.
    WatchEnded,
    /// A typing notice.
    Typing,
    /// A problem with the session or a frame.
    Error,
    /// The answer to a ping.
    Pong,
}

impl FrameKind {
    /// The kind a frame's `t` names, if the session knows it.
    pub fn from_wire(t: &str) -> Option<FrameKind> {
        Some(match t {
            "welcome" => FrameKind::Welcome,
            "response" => FrameKind::Response,
            "event" => FrameKind::Event,
            "status" => FrameKind::Status,
            "delta" => FrameKind::Delta,
            "watch_ended" => FrameKind::WatchEnded,
            "typing" => FrameKind::Typing,
            "error" => FrameKind::Error,
            "pong" => FrameKind::Pong,
            _ => return None,
        })
    }
}

/// Every error code, for reading one by its wire name without a deserializer.
const CODES: [ErrorCode; 12] = [
    ErrorCode::Malformed,
    ErrorCode::TooLarge,
    ErrorCode::UnsupportedVersion,
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
    ErrorCode::Invalid,
    ErrorCode::Expired,
    ErrorCode::Conflict,
    ErrorCode::Unavailable,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
];

impl ErrorCode {
    /// The code's name on the wire (as serde writes it).
    pub fn as_wire(self) -> &'static str {
        // A new code goes into CODES as well (the test below checks every listed one against serde).
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Expired => "expired",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code a wire name stands for, if any.
    pub fn from_wire(s: &str) -> Option<ErrorCode> {
        CODES.into_iter().find(|c| c.as_wire() == s)
    }
}

/// A broker frame read only as far as the session needs; bodies stay JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Which frame.
    pub t: FrameKind,
    /// A response's request id.
    pub id: Option<u64>,
    /// An event's sequence number.
    pub seq: Option<u64>,
    /// Who a welcome says the client is.
    pub client: Option<ClientId>,
    /// Whether a welcome resumed the previous session.
    pub resumed: Option<bool>,
    /// The request id a welcome expects next.
    pub next_request: Option<u64>,
    /// The last event a welcome says this installation acknowledged.
    pub acked: Option<u64>,
    /// Whether an error closes the transport.
    pub fatal: bool,
    /// An error frame's error.
    pub error: Option<ErrorBody>,
    /// A response's outcome.
    pub outcome: Option<String>,
    /// An event's body.
    pub event: Option<String>,
    /// A status frame's `doc`, a delta frame's `delta` or a typing frame's `typing`.
    pub doc: Option<String>,
    /// A watch-ended frame's presentity.
    pub presentity: Option<String>,
}

impl Frame {
    /// A frame of kind `t` with nothing else in it.
    pub fn new(t: FrameKind) -> Frame {
        Frame { t, id: None, seq: None, client: None, resumed: None, next_request: None, acked: None, fatal: false, error: None, outcome: None, event: None, doc: None, presentity: None }
    }

    /// Reads a frame's JSON text.
    pub fn decode(text: &str) -> Result<Frame, DecodeError> {
        let e: Envelope = serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let text = |r: Option<&RawValue>| r.map(|r| r.get().to_owned());
        Ok(Frame {
            t: e.t,
            id: e.id,
            seq: e.seq,
            client: e.client,
            resumed: e.resumed,
            next_request: e.next_request,
            acked: e.acked,
            fatal: e.fatal,
            error: e.error,
            outcome: text(e.outcome),
            event: text(e.event),
            doc: text(e.doc),
            presentity: text(e.presentity),
        })
    }
}

/// The serde shape of a [`Frame`]: bodies borrowed as raw JSON.
#[derive(Deserialize)]
struct Envelope<'a> {
    t: FrameKind,
    id: Option<u64>,
    seq: Option<u64>,
    client: Option<ClientId>,
    resumed: Option<bool>,
    next_request: Option<u64>,
    acked: Option<u64>,
    #[serde(default)]
    fatal: bool,
    error: Option<ErrorBody>,
    #[serde(borrow)]
    outcome: Option<&'a RawValue>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow, alias = "delta", alias = "typing")]
    doc: Option<&'a RawValue>,
    #[serde(borrow)]
    presentity: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_of_codes_and_kinds_are_serdes() {
        for c in CODES {
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_wire()));
            assert_eq!(ErrorCode::from_wire(c.as_wire()), Some(c));
        }
        assert_eq!(ErrorCode::from_wire("nope"), None);
        for t in ["welcome", "response", "event", "status", "delta", "watch_ended", "typing", "error", "pong"] {
            assert_eq!(FrameKind::from_wire(t), Some(serde_json::from_str(&format!("\"{t}\"")).unwrap()));
        }
        assert_eq!(FrameKind::from_wire("hello"), None);
    }

    #[test]
    fn decode_keeps_bodies_as_their_text() {
        let f = Frame::decode(r#"{"t":"typing","typing":{"a": 1},"x":[1.5]}"#).unwrap();
        assert_eq!(f, Frame { doc: Some(r#"{"a": 1}"#.into()), ..Frame::new(FrameKind::Typing) });
    }
}
