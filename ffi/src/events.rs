//! Event callbacks and the JSON shape of every event the three handles report.
//!
//! Every event is one JSON object with a `"type"` field; the rest of each shape reuses the core's
//! serde encoding of the data it carries.

use frontdesk_core::broker::{AgentEvent, BrokerEvent};
use frontdesk_core::client::ClientEvent;
use frontdesk_core::interaction::{ChatMessage, LiveInteraction};
use frontdesk_core::invitation::Invitation;
use frontdesk_core::monitor::presence::{PresenceDocument, Presentity};
use frontdesk_core::monitor::{MonitorEvent, Recipients, StatusMonitor, WatcherId};
use frontdesk_core::protocol::{ErrorBody, Event, Outcome};
use frontdesk_core::{AgentId, ClientId, InteractionId, Timestamp};
use serde::Serialize;
use std::ffi::{c_char, c_void};

/// Receives one event as NUL-terminated JSON, borrowed for the duration of the call only.
///
/// Called on the thread whose `fd_` call produced the event, with no library lock held: it may call
/// any `fd_` function, including on the same handle. It must not unwind (C++ exceptions, longjmp).
pub type FdEventCallback = Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

/// A callback known to be non-NULL.
pub(crate) type RawCallback = unsafe extern "C" fn(*mut c_void, *const c_char);

fn encode<T: Serialize>(v: &T) -> String {
    // Every type here is plain data with string keys; encoding cannot fail.
    serde_json::to_string(v).unwrap_or_else(|e| format!(r#"{{"type":"encoding_error","message":{:?}}}"#, e.to_string()))
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum MonitorJson<'a> {
    Notify { presentity: &'a Presentity, watchers: Vec<WatcherId>, document: &'a PresenceDocument },
    Terminated { watcher: WatcherId, presentity: &'a Presentity },
}

/// A monitor event as JSON; "all allowed watchers" is resolved to their ids.
pub(crate) fn monitor_event(m: &StatusMonitor, e: &MonitorEvent) -> String {
    match e {
        MonitorEvent::Notify(n) => {
            let mut watchers: Vec<WatcherId> = match &n.recipients {
                Recipients::AllowedWatchers => m.watchers(&n.presentity).collect(),
                Recipients::Only(v) => v.clone(),
            };
            watchers.sort_unstable();
            encode(&MonitorJson::Notify { presentity: &n.presentity, watchers, document: &n.doc })
        }
        MonitorEvent::Terminated { watcher, presentity } => encode(&MonitorJson::Terminated { watcher: *watcher, presentity }),
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub(crate) enum AgentJson<'a> {
    Offered(&'a LiveInteraction),
    OfferWithdrawn(&'a InteractionId),
    Connected(&'a LiveInteraction),
    Ended(&'a LiveInteraction),
    InvitationReceived(&'a Invitation),
    InvitationUpdated(&'a Invitation),
    Chat(&'a ChatMessage),
    ChatDelivered { interaction: &'a InteractionId, seq: u64 },
    ChatRead { interaction: &'a InteractionId, seq: u64 },
    MailFailed { interaction: &'a InteractionId, seq: u64, to: &'a str, reason: &'a str },
    Signal { interaction: &'a InteractionId, signal: &'a frontdesk_core::call::CallSignal },
    DialFailed { interaction: &'a InteractionId, side: frontdesk_core::callback::CallSide, reason: frontdesk_core::callback::DialFailure },
    Transferred { interaction: &'a InteractionId, from: &'a AgentId, to: &'a frontdesk_core::protocol::TransferTarget, note: Option<&'a str> },
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BrokerJson<'a> {
    Agent {
        agent: &'a AgentId,
        #[serde(flatten)]
        event: AgentJson<'a>,
    },
    MailOwed,
    DialOwed,
    DialCancelled { interaction: &'a InteractionId },
    ClientOnline { client: &'a ClientId },
    ClientOffline { client: &'a ClientId },
    Presence { watcher: WatcherId, document: &'a PresenceDocument },
    WatchEnded { watcher: WatcherId, presentity: &'a Presentity },
    Push {
        client: &'a ClientId,
        target: &'a frontdesk_core::push::PushTarget,
        title: &'a str,
        body: &'a str,
        interaction: Option<&'a InteractionId>,
    },
}

/// A broker event as JSON: `{"type":"agent","agent":..,"event":"offered","data":{..}}` or client presence.
pub(crate) fn broker_event(e: &BrokerEvent) -> String {
    match e {
        BrokerEvent::Agent { agent, event } => {
            let event = match event {
                AgentEvent::Offered(li) => AgentJson::Offered(li),
                AgentEvent::OfferWithdrawn(id) => AgentJson::OfferWithdrawn(id),
                AgentEvent::Connected(li) => AgentJson::Connected(li),
                AgentEvent::Ended(li) => AgentJson::Ended(li),
                AgentEvent::InvitationReceived(i) => AgentJson::InvitationReceived(i),
                AgentEvent::InvitationUpdated(i) => AgentJson::InvitationUpdated(i),
                AgentEvent::Chat(m) => AgentJson::Chat(m),
                AgentEvent::ChatDelivered { interaction, seq } => AgentJson::ChatDelivered { interaction, seq: *seq },
                AgentEvent::ChatRead { interaction, seq } => AgentJson::ChatRead { interaction, seq: *seq },
                AgentEvent::MailFailed { interaction, seq, to, reason } => AgentJson::MailFailed { interaction, seq: *seq, to, reason },
                AgentEvent::Signal { interaction, signal } => AgentJson::Signal { interaction, signal },
                AgentEvent::DialFailed { interaction, side, reason } => AgentJson::DialFailed { interaction, side: *side, reason: *reason },
                AgentEvent::Transferred { interaction, from, to, note } => AgentJson::Transferred { interaction, from, to, note: note.as_deref() },
            };
            encode(&BrokerJson::Agent { agent, event })
        }
        BrokerEvent::MailOwed => encode(&BrokerJson::MailOwed),
        BrokerEvent::DialOwed => encode(&BrokerJson::DialOwed),
        BrokerEvent::DialCancelled { interaction } => encode(&BrokerJson::DialCancelled { interaction }),
        BrokerEvent::ClientOnline(c) => encode(&BrokerJson::ClientOnline { client: c }),
        BrokerEvent::ClientOffline(c) => encode(&BrokerJson::ClientOffline { client: c }),
        BrokerEvent::Presence { watcher, doc } => encode(&BrokerJson::Presence { watcher: *watcher, document: doc }),
        BrokerEvent::WatchEnded { watcher, presentity } => encode(&BrokerJson::WatchEnded { watcher: *watcher, presentity }),
        BrokerEvent::Push { client, target, title, body, interaction, .. } => {
            encode(&BrokerJson::Push { client, target, title, body, interaction: interaction.as_ref() })
        }
    }
}

// Built on the stack and serialized at once; boxing the big variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientJson<'a> {
    Connected { resumed: bool },
    Disconnected { retry_at: Timestamp },
    Rejected { error: &'a ErrorBody },
    Synced,
    Completed { id: u64, result: Outcome },
    Pushed { event: &'a Event },
    Presence { document: &'a PresenceDocument },
    WatchEnded { presentity: &'a Presentity },
    ProtocolError { error: &'a ErrorBody },
    Typing { interaction: &'a InteractionId, on: bool },
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// One variant rather than a tagged struct: schemars leaves a struct's serde tag out of its schema.
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TransportErrorJson<'a> {
    TransportError { url: &'a str, message: &'a str },
}

/// A network client's connection attempt failed or its connection dropped (the client retries).
#[cfg_attr(not(feature = "network"), allow(dead_code))]
pub(crate) fn transport_error(url: &str, message: &str) -> String {
    encode(&TransportErrorJson::TransportError { url, message })
}

/// A client event as JSON; a request's answer is `{"type":"completed","id":N,"result":{"ok":..}|{"err":..}}`.
pub(crate) fn client_event(e: &ClientEvent) -> String {
    encode(&match e {
        ClientEvent::Connected { resumed } => ClientJson::Connected { resumed: *resumed },
        ClientEvent::Disconnected { retry_at } => ClientJson::Disconnected { retry_at: *retry_at },
        ClientEvent::Rejected(b) => ClientJson::Rejected { error: b },
        // Only the core's Rust driver reports these; the C engine reports its own with the URL.
        ClientEvent::TransportError(e) => return transport_error("", &e.to_string()),
        ClientEvent::Synced => ClientJson::Synced,
        ClientEvent::Completed { id, result } => ClientJson::Completed { id: *id, result: result.clone().into() },
        ClientEvent::Pushed(ev) => ClientJson::Pushed { event: ev },
        ClientEvent::Presence(d) => ClientJson::Presence { document: d },
        ClientEvent::WatchEnded(p) => ClientJson::WatchEnded { presentity: p },
        ClientEvent::ProtocolError(b) => ClientJson::ProtocolError { error: b },
        ClientEvent::Typing { interaction, on } => ClientJson::Typing { interaction, on: *on },
    })
}

/// An agent console event as JSON: `{"type":"connected","resumed":false}`, `{"type":"seated","seat":{..}}`,
/// `{"type":"completed","id":N,"result":{"ok":..}|{"err":..}}`, `{"type":"pushed","event":{"ev":"chat","data":{..}}}`, ...
pub(crate) fn agent_client_event(e: &frontdesk_core::agent::AgentClientEvent) -> String {
    encode(e)
}
