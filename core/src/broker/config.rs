//! Every limit and timer of the broker in one place, so a deployment can see and tune what one
//! principal may make it hold.

use crate::protocol::MAX_FRAME_BYTES;
use std::time::Duration;

/// Limits and timers of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Largest frame accepted, and largest answer sent (larger answers are refused as `too_large`).
    pub max_frame_bytes: usize,
    /// How long a disconnected client session keeps its events and request window.
    pub session_ttl: Duration,
    /// How long an agent's seat outlives its last console: a reload or a dropped network within it
    /// ends no interaction, and the console gets every message sent meanwhile.
    pub agent_grace: Duration,
    /// Default lifetime of an invitation.
    pub invitation_ttl: Duration,
    /// How long an agent has to accept an offered interaction before it goes to another agent.
    pub offer_ttl: Duration,
    /// Events kept unacknowledged per session before the session is reset (the party then resyncs).
    pub max_outbox: usize,
    /// The same bound in bytes of encoded events.
    pub max_outbox_bytes: usize,
    /// Events sent ahead of the party's acknowledgements.
    pub max_in_flight: usize,
    /// Requests arriving ahead of a missing one that are held rather than refused (dropped with
    /// the connection: the sender resends them).
    pub max_early_requests: usize,
    /// The same bound in bytes of request bodies.
    pub max_early_bytes: usize,
    /// Answers remembered per session for duplicate requests (those the party has confirmed
    /// receiving, by a later hello, are dropped first).
    pub answers_kept: usize,
    /// The same bound in bytes of encoded answers.
    pub max_answer_bytes: usize,
    /// Malformed frames tolerated on a connection before it is closed.
    pub max_bad_frames: u32,
    /// Presentities one session may watch.
    pub max_watches: usize,
    /// Sessions (installations) one principal may hold; a new one replaces the one detached longest.
    pub max_sessions_per_principal: usize,
    /// Notes on one history record.
    pub max_notes_per_record: usize,
    /// Alert subscriptions per session.
    pub max_alerts: usize,
    /// Live interactions one client may have at once.
    pub max_live_per_client: usize,
    /// Access rules on one presentity.
    pub max_access_rules: usize,
    /// Most items in one page of history or transcript, so no answer outgrows a frame however long
    /// the history.
    pub max_page: usize,
    /// Newest chat messages sent with each live interaction (`get_live`, the seat), so a resume
    /// costs the same after message 50 as after message 50,000.
    pub live_transcript: usize,
    /// Attempts to mail an agent's reply before giving up and telling the agent (backing off from
    /// 30 s to an hour in between).
    pub mail_attempts: u32,
    /// First wait after a temporary mail failure (doubling with each attempt, at most an hour).
    pub mail_retry: Duration,
    /// How long the mailer holds a mail it took before it is due again without an outcome.
    pub mail_lease: Duration,
    /// STUN (and static TURN) servers handed to both sides of a call.
    pub ice_servers: Vec<crate::call::IceServer>,
    /// TURN with credentials minted per party and call (coturn's `use-auth-secret`).
    pub turn: Option<crate::call::TurnConfig>,
    /// Signalling messages one call may relay (offers, answers, candidates, restarts), so one
    /// party cannot keep the broker relaying for ever.
    pub max_signals_per_call: u32,
    /// The host places callbacks itself (a SIP dialer): taking one asks it for a call
    /// ([`crate::broker::Broker::take_dials`]) and only agents with a phone are offered them. Without
    /// one, the agent sees the number and calls by hand.
    pub dialer: bool,
    /// Attempts on the client's line (busy, no answer…) before a callback is given up.
    pub callback_attempts: u32,
    /// Wait before the next attempt, with the client's place in the queue kept.
    pub callback_retry: Duration,
    /// At most one push per client in this time: later events in the window wake no one again
    /// (the app, once open, reads them all through its session).
    pub push_interval: Duration,
    /// Devices one client may register for pushes.
    pub max_push_targets: usize,
    /// Typing notices passed on per interaction and side in one second; more are dropped silently
    /// (typing is soft state, and the receiver's indicator holds for seconds anyway).
    pub max_typing_per_sec: u32,
    /// Outcomes an agent's wrap-up may name; empty lets it write any.
    pub wrap_up_outcomes: Vec<String>,
    /// Answered within this wait counts toward the service level.
    pub service_level_threshold: Duration,
    /// The service level covers answers and abandons in this window.
    pub service_level_window: Duration,
    /// Files parties may send in a conversation.
    pub attachments: crate::attachment::AttachmentPolicy,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_frame_bytes: MAX_FRAME_BYTES,
            session_ttl: Duration::from_secs(24 * 3600),
            agent_grace: Duration::from_secs(60),
            invitation_ttl: Duration::from_secs(120),
            offer_ttl: Duration::from_secs(20),
            max_outbox: 10_000,
            max_outbox_bytes: 8 << 20,
            max_in_flight: 256,
            max_early_requests: 256,
            max_early_bytes: 1 << 20,
            answers_kept: 1024,
            max_answer_bytes: 2 << 20,
            max_bad_frames: 16,
            max_watches: 256,
            max_sessions_per_principal: 16,
            max_notes_per_record: 200,
            max_alerts: 64,
            max_live_per_client: 4,
            max_access_rules: 256,
            max_page: 200,
            live_transcript: 50,
            mail_attempts: 8,
            mail_retry: Duration::from_secs(30),
            mail_lease: Duration::from_secs(120),
            ice_servers: vec![],
            turn: None,
            max_signals_per_call: 2000,
            dialer: false,
            callback_attempts: 3,
            callback_retry: Duration::from_secs(120),
            push_interval: Duration::from_secs(30),
            max_push_targets: 8,
            max_typing_per_sec: 4,
            wrap_up_outcomes: ["resolved", "follow-up needed", "escalated", "no action needed"].map(String::from).to_vec(),
            service_level_threshold: Duration::from_secs(20),
            service_level_window: Duration::from_secs(3600),
            attachments: Default::default(),
        }
    }
}
