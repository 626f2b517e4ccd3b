//! `FdBroker`: the broker state machine; the host moves bytes for it, plays agents and seeds center data.

use crate::error::{guard, Error, FdStatus, Res};
use crate::events::{broker_event, FdEventCallback};
use crate::handle::{self, Entry, EventSource, FdSubscription, Kind, Object};
use crate::read;
use crate::strings::{arg_bytes, arg_opt_str, arg_str, arg_str_array, into_c_string, out_ptr, FdBytes};
use crate::types::{self, FdAgentState, FdQueueStatus, FD_NO_TIMEOUT};
use frontdesk_core::broker::auth::StaticTokens;
use frontdesk_core::broker::{Broker, ConnId};
use frontdesk_core::center_event::CenterEvent;
use frontdesk_core::principal::Principal;
use frontdesk_core::profile::ClientProfile;
use frontdesk_core::records::{InteractionRecord, Order, OrderStatus, Product};
use frontdesk_core::{AgentId, ClientId, InteractionId, InvitationId, OrderId, ProductId, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A broker handle; create with `fd_broker_new`, free with `fd_broker_free`.
pub struct FdBroker {
    _private: (),
}

/// One frame for the host to send, from `fd_broker_poll_transmit`.
#[repr(C)]
#[derive(Debug)]
pub struct FdTransmit {
    /// Connection to send it on.
    pub conn: u64,
    /// The frame; `data.data` is NULL when there was nothing to send. Free with `fd_bytes_free`.
    pub data: FdBytes,
    /// Close the connection after sending (then call `fd_broker_handle_disconnect`).
    pub close: bool,
}

/// The object behind an `FdBroker`.
pub(crate) struct BrokerCore {
    broker: Broker,
    // The core ignores unknown connections; the C API reports them so host bugs surface early.
    open: HashSet<ConnId>,
}

impl EventSource for BrokerCore {
    fn next_event(&mut self) -> Option<String> {
        self.broker.poll_event().map(|e| broker_event(&e))
    }
}

impl Kind for BrokerCore {
    const NAME: &'static str = "broker";
    fn wrap(o: Arc<Object<Self>>) -> Entry {
        Entry::Broker(o)
    }
    fn unwrap(e: &Entry) -> Option<&Arc<Object<Self>>> {
        match e {
            Entry::Broker(o) => Some(o),
            _ => None,
        }
    }
}

fn h(b: *const FdBroker) -> usize {
    b as usize
}

fn with<R>(b: *mut FdBroker, f: impl FnOnce(&mut BrokerCore) -> Res<R>) -> Res<R> {
    handle::with_mut::<BrokerCore, _>(h(b), f)
}

/// Writes `v` as JSON to an optional out-parameter.
unsafe fn opt_json<T: Serialize>(out: *mut *mut c_char, v: &T) -> Res<()> {
    if !out.is_null() {
        *out = into_c_string(serde_json::to_string(v)?)?;
    }
    Ok(())
}

unsafe fn clear(out: *mut *mut c_char) {
    if !out.is_null() {
        *out = std::ptr::null_mut();
    }
}

/// Creates a broker (in-memory store, built-in routing) that accepts the tokens in `tokens_json`:
/// `{"tok-alice":{"kind":"client","id":"alice"},"tok-ann":{"kind":"agent","id":["ann","agent"]}}`.
///
/// Ownership: the caller owns `*out` and frees it with `fd_broker_free`.
///
/// JSON Schema of `tokens_json`: `ffi/schemas/broker-tokens.schema.json`.
///
/// # Safety
/// `tokens_json` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_new(tokens_json: *const c_char, out: *mut *mut FdBroker) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let table: BTreeMap<String, Principal> = serde_json::from_str(arg_str(tokens_json, "tokens_json")?)?;
        let tokens = table.into_iter().fold(StaticTokens::new(), |t, (k, p)| t.with(k, p));
        let id = handle::register(BrokerCore { broker: Broker::new(tokens), open: HashSet::new() });
        *out = id as *mut FdBroker;
        Ok(())
    })
}

/// Frees a broker; NULL is a no-op, a second free returns `FD_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn fd_broker_free(broker: *mut FdBroker) -> FdStatus {
    guard(|| handle::free::<BrokerCore>(h(broker)))
}

// ------------------------------------------------------------------ connections

/// A transport connection opened; `*conn` receives its id for the other connection calls.
///
/// # Safety
/// `conn` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_open_connection(broker: *mut FdBroker, now_ms: u64, conn: *mut u64) -> FdStatus {
    guard(|| {
        let conn = out_ptr(conn, "conn")?;
        *conn = with(broker, |b| {
            let c = b.broker.open_connection(Timestamp(now_ms));
            b.open.insert(c);
            Ok(c)
        })?;
        Ok(())
    })
}

/// Bytes (one frame) arrived on a connection; `FD_ERR_WRONG_STATE` if it is not open. Bad frames are
/// answered on the wire, not reported here.
///
/// # Safety
/// `data` must be NULL (with `len` 0) or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_handle_input(broker: *mut FdBroker, now_ms: u64, conn: u64, data: *const u8, len: usize) -> FdStatus {
    guard(|| {
        let data = arg_bytes(data, len, "data")?;
        with(broker, |b| {
            if !b.open.contains(&conn) {
                return Err(Error::new(FdStatus::FD_ERR_WRONG_STATE, format!("connection {conn} is not open")));
            }
            b.broker.handle_input(Timestamp(now_ms), conn, data);
            Ok(())
        })
    })
}

/// The connection is gone (closed by either side); its session waits for the client to return.
#[no_mangle]
pub extern "C" fn fd_broker_handle_disconnect(broker: *mut FdBroker, now_ms: u64, conn: u64) -> FdStatus {
    guard(|| {
        with(broker, |b| {
            if !b.open.remove(&conn) {
                return Err(Error::new(FdStatus::FD_ERR_WRONG_STATE, format!("connection {conn} is not open")));
            }
            b.broker.handle_disconnect(Timestamp(now_ms), conn);
            Ok(())
        })
    })
}

/// Tells whether a connection can take more bytes; while it cannot, presence updates coalesce.
#[no_mangle]
pub extern "C" fn fd_broker_set_writable(broker: *mut FdBroker, conn: u64, writable: bool) -> FdStatus {
    guard(|| {
        with(broker, |b| {
            if !b.open.contains(&conn) {
                return Err(Error::new(FdStatus::FD_ERR_WRONG_STATE, format!("connection {conn} is not open")));
            }
            b.broker.set_writable(conn, writable);
            Ok(())
        })
    })
}

/// Takes the next frame to send into `*out`; `out->data.data` is NULL when there is none.
///
/// Ownership: free `out->data` with `fd_bytes_free(&out->data)`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_poll_transmit(broker: *mut FdBroker, out: *mut FdTransmit) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = FdTransmit { conn: 0, data: FdBytes::EMPTY, close: false };
        if let Some(t) = with(broker, |b| Ok(b.broker.poll_transmit()))? {
            *out = FdTransmit { conn: t.conn, data: FdBytes::from_vec(t.data.into()), close: t.close };
        }
        Ok(())
    })
}

/// Writes when `fd_broker_handle_timeout` should next run (ms since the epoch), or `FD_NO_TIMEOUT`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_poll_timeout(broker: *const FdBroker, out: *mut u64) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::with_ref::<BrokerCore, _>(h(broker), |b| Ok(b.broker.poll_timeout().map_or(FD_NO_TIMEOUT, |t| t.0)))?;
        Ok(())
    })
}

/// Time passed: expires invitations, offers and sessions, refreshes figures. Early calls are harmless.
#[no_mangle]
pub extern "C" fn fd_broker_handle_timeout(broker: *mut FdBroker, now_ms: u64) -> FdStatus {
    guard(|| {
        with(broker, |b| {
            b.broker.handle_timeout(Timestamp(now_ms));
            Ok(())
        })
    })
}

/// Takes the next broker event (JSON) into `*out`, or NULL when there is none.
///
/// Events: `{"type":"agent","agent":"ann","event":"offered","data":{..}}` (event is one of offered,
/// offer_withdrawn, connected, ended, invitation_received, invitation_updated, chat, chat_delivered),
/// `{"type":"client_online","client":..}`, `{"type":"client_offline","client":..}`.
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/broker-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_poll_event(broker: *mut FdBroker, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::poll_event::<BrokerCore>(h(broker))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Registers a callback for broker events (see `fd_monitor_subscribe` for delivery rules).
///
/// Ownership: free `*out` with `fd_subscription_free`.
///
/// JSON Schema of each event the callback gets: `ffi/schemas/broker-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable; `callback` must stay callable until the subscription is freed.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_subscribe(
    broker: *mut FdBroker,
    callback: FdEventCallback,
    user_data: *mut c_void,
    out: *mut *mut FdSubscription,
) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::subscribe::<BrokerCore>(h(broker), callback, user_data)? as *mut FdSubscription;
        Ok(())
    })
}

// ------------------------------------------------------------------ agents

/// An agent logs in (away until it sets a state); `role` is an `FdAgentRole`, media a mask.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `skills` must hold `n_skills` of them.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_login(
    broker: *mut FdBroker,
    now_ms: u64,
    agent: *const c_char,
    name: *const c_char,
    role: u32,
    skills: *const *const c_char,
    n_skills: usize,
    media_mask: u32,
) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let name = arg_str(name, "name")?;
        let role = types::agent_role(role)?;
        let skills = arg_str_array(skills, n_skills, "skills")?.into_iter().map(ProductId).collect();
        let media = types::media(media_mask)?;
        with(broker, |b| {
            b.broker.agent_login(Timestamp(now_ms), agent, name, role, skills, media);
            Ok(())
        })
    })
}

/// An agent logs out; its offers go to others. `FD_ERR_NOT_FOUND` if it was not logged in.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_logout(broker: *mut FdBroker, now_ms: u64, agent: *const c_char) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        with(broker, |b| Ok(b.broker.agent_logout(Timestamp(now_ms), &agent)?))
    })
}

/// An agent changes state (an `FdAgentState`); `FD_ERR_NOT_FOUND` if it is not logged in.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_set_state(broker: *mut FdBroker, now_ms: u64, agent: *const c_char, state: u32) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let state = types::agent_state(state)?;
        with(broker, |b| Ok(b.broker.agent_set_state(Timestamp(now_ms), &agent, state)?))
    })
}

/// An agent accepts the interaction offered to it; `FD_ERR_WRONG_STATE` if none is. `out` may be
/// NULL; else it receives the live interaction as JSON, to free with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/live-interaction.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_accept(
    broker: *mut FdBroker,
    now_ms: u64,
    agent: *const c_char,
    interaction: *const c_char,
    out: *mut *mut c_char,
) -> FdStatus {
    guard(|| {
        clear(out);
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        let li = with(broker, |b| Ok(b.broker.agent_accept(Timestamp(now_ms), &agent, &id)?))?;
        opt_json(out, &li)
    })
}

/// An agent declines the interaction offered to it; it goes to another agent.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_decline(broker: *mut FdBroker, now_ms: u64, agent: *const c_char, interaction: *const c_char) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        with(broker, |b| Ok(b.broker.agent_decline(Timestamp(now_ms), &agent, &id)?))
    })
}

/// An agent invites a client to an interaction in a medium (an `FdMedium`). `out` may be NULL; else
/// it receives the invitation as JSON (its `id` is what the client answers), to free with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/invitation.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_invite(
    broker: *mut FdBroker,
    now_ms: u64,
    agent: *const c_char,
    client: *const c_char,
    medium: u32,
    message: *const c_char,
    out: *mut *mut c_char,
) -> FdStatus {
    guard(|| {
        clear(out);
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let client = ClientId::new(arg_str(client, "client")?);
        let medium = types::medium(medium)?;
        let message = arg_str(message, "message")?;
        let inv = with(broker, |b| Ok(b.broker.agent_invite(Timestamp(now_ms), &agent, &client, medium, message)?))?;
        opt_json(out, &inv)
    })
}

/// An agent answers an invitation a client sent it. `out` may be NULL; else it receives the
/// invitation as JSON, to free with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/invitation.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_respond_invitation(
    broker: *mut FdBroker,
    now_ms: u64,
    agent: *const c_char,
    invitation: *const c_char,
    accept: bool,
    out: *mut *mut c_char,
) -> FdStatus {
    guard(|| {
        clear(out);
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InvitationId::new(arg_str(invitation, "invitation")?);
        let inv = with(broker, |b| Ok(b.broker.agent_respond_invitation(Timestamp(now_ms), &agent, &id, accept)?))?;
        opt_json(out, &inv)
    })
}

/// An agent sends a chat message in an interaction it handles. `out` may be NULL; else it receives
/// the stored message as JSON, to free with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/chat-message.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_send_chat(
    broker: *mut FdBroker,
    now_ms: u64,
    agent: *const c_char,
    interaction: *const c_char,
    text: *const c_char,
    out: *mut *mut c_char,
) -> FdStatus {
    guard(|| {
        clear(out);
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        let text = arg_str(text, "text")?;
        let msg = with(broker, |b| Ok(b.broker.agent_send_chat(Timestamp(now_ms), &agent, &id, text)?))?;
        opt_json(out, &msg)
    })
}

/// An agent sends a call signalling message, as JSON (`{"kind":"offer","sdp":..}`, `answer`,
/// `candidate`, `end_of_candidates`, `media`, `hang_up` with a `reason`), to the client of a
/// connected voice or video interaction it handles; the client's come as `signal` agent events.
///
/// JSON Schema of `json`: `ffi/schemas/call-signal.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_signal(broker: *mut FdBroker, now_ms: u64, agent: *const c_char, interaction: *const c_char, json: *const c_char) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        let signal: frontdesk_core::call::CallSignal = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.agent_signal(Timestamp(now_ms), &agent, &id, signal)?))
    })
}

/// An agent ends an interaction it handles.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_end(broker: *mut FdBroker, now_ms: u64, agent: *const c_char, interaction: *const c_char) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        with(broker, |b| b.broker.agent_end(Timestamp(now_ms), &agent, &id).map(drop).map_err(Into::into))
    })
}

/// Sets an agent's phone (a SIP URI; NULL for none), which the host's dialer rings for the
/// callbacks the agent takes.
///
/// # Safety
/// Strings must be NULL (phone only) or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_set_phone(broker: *mut FdBroker, now_ms: u64, agent: *const c_char, phone: *const c_char) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let phone = arg_opt_str(phone, "phone")?.map(str::to_owned);
        with(broker, |b| Ok(b.broker.agent_set_phone(Timestamp(now_ms), &agent, phone)?))
    })
}

// ------------------------------------------------------------------ callbacks (the host's dialer)

/// Says whether the host places callbacks itself: when on, an agent taking a callback produces a
/// `dial_owed` event and a dial in `fd_broker_take_dials`, and only agents with a phone get them.
#[no_mangle]
pub extern "C" fn fd_broker_set_dialer(broker: *mut FdBroker, on: bool) -> FdStatus {
    guard(|| with(broker, |b| {
        b.broker.set_dialer(on);
        Ok(())
    }))
}

/// Writes the dials owed as a JSON array to `*out` (`[{"interaction":..,"dial":1,"agent_phone":
/// "sip:..","number":"+49.."}]`), each handed out once; free it with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/dials.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_take_dials(broker: *mut FdBroker, now_ms: u64, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let dials = with(broker, |b| Ok(b.broker.take_dials(Timestamp(now_ms))))?;
        *out = into_c_string(serde_json::to_string(&dials)?)?;
        Ok(())
    })
}

/// Reports what the dialer saw on dial number `dial` of a callback, as JSON: `{"progress":
/// "agent_ringing"}`, `customer_ringing`, `connected`, `{"progress":"ended","by":"customer"}` or
/// `{"progress":"failed","side":"customer","reason":"busy"}` (`no_answer`, `rejected`,
/// `unreachable`, `cancelled`). A report on a dial that is over fails with `FD_ERR_WRONG_STATE`.
///
/// JSON Schema of `json`: `ffi/schemas/dial-progress.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_dial_progress(broker: *mut FdBroker, now_ms: u64, interaction: *const c_char, dial: u32, json: *const c_char) -> FdStatus {
    guard(|| {
        let id = InteractionId::new(arg_str(interaction, "interaction")?);
        let progress: frontdesk_core::callback::DialProgress = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_dial_progress(Timestamp(now_ms), &id, dial, progress)?))
    })
}

// ------------------------------------------------------------------ center data

/// Configures a queue: products served (none means any) and a mask of `FD_MEDIA_*` bits.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `products` must hold `n_products` of them.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_configure_queue(
    broker: *mut FdBroker,
    now_ms: u64,
    queue: *const c_char,
    name: *const c_char,
    products: *const *const c_char,
    n_products: usize,
    media_mask: u32,
) -> FdStatus {
    guard(|| {
        let queue = arg_str(queue, "queue")?.into();
        let name = arg_str(name, "name")?;
        let products = arg_str_array(products, n_products, "products")?.into_iter().map(ProductId).collect();
        let media = types::media(media_mask)?;
        with(broker, |b| {
            b.broker.configure_queue(Timestamp(now_ms), queue, name, products, media);
            Ok(())
        })
    })
}

/// Sets a queue's business hours, written as `Mon-Fri 09:00-17:00, Sat 10:00-14:00 +01:00`
/// (NULL: always open); outside them its live media are not offered and email still is.
/// `FD_ERR_INVALID_ARGUMENT` with the reason for hours that cannot be.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_set_queue_hours(broker: *mut FdBroker, now_ms: u64, queue: *const c_char, hours: *const c_char) -> FdStatus {
    guard(|| {
        let queue = arg_str(queue, "queue")?.into();
        let hours = match arg_opt_str(hours, "hours")? {
            Some(h) => Some(frontdesk_core::monitor::hours::BusinessHours::parse(h).map_err(|why| Error::invalid(format!("hours: {why}")))?),
            None => None,
        };
        with(broker, |b| b.broker.set_queue_hours(Timestamp(now_ms), queue, hours).map_err(Into::into))
    })
}

/// Feeds a center event from an external ACD, as JSON (same shapes as `fd_monitor_push_json`).
///
/// JSON Schema of `json`: `ffi/schemas/center-event.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_center_event_json(broker: *mut FdBroker, now_ms: u64, json: *const c_char) -> FdStatus {
    guard(|| {
        let event: CenterEvent = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_event(Timestamp(now_ms), event)?))
    })
}

/// Adds or replaces a product, as JSON (`{"id":"router","name":"..","description":".."}`).
///
/// JSON Schema of `json`: `ffi/schemas/product.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_put_product_json(broker: *mut FdBroker, json: *const c_char) -> FdStatus {
    guard(|| {
        let p: Product = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_put_product(p)?))
    })
}

/// Adds or replaces a history record from the center's CRM, as JSON; the client is told.
///
/// JSON Schema of `json`: `ffi/schemas/interaction-record.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_put_record_json(broker: *mut FdBroker, json: *const c_char) -> FdStatus {
    guard(|| {
        let r: InteractionRecord = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_put_record(r)?))
    })
}

/// Adds or replaces an order, as JSON; the client is told.
///
/// JSON Schema of `json`: `ffi/schemas/order.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_put_order_json(broker: *mut FdBroker, json: *const c_char) -> FdStatus {
    guard(|| {
        let o: Order = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_put_order(o)?))
    })
}

/// Seeds a client's profile from the center's CRM, as JSON.
///
/// JSON Schema of `json`: `ffi/schemas/client-profile.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_put_profile_json(broker: *mut FdBroker, client: *const c_char, json: *const c_char) -> FdStatus {
    guard(|| {
        let client = ClientId::new(arg_str(client, "client")?);
        let p: ClientProfile = serde_json::from_str(arg_str(json, "json")?)?;
        with(broker, |b| Ok(b.broker.center_put_profile(&client, p)?))
    })
}

/// Moves an order to a status ("placed", "processing", "shipped", "delivered", "cancelled").
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_set_order_status(broker: *mut FdBroker, now_ms: u64, order: *const c_char, status: *const c_char) -> FdStatus {
    guard(|| {
        let order = OrderId::new(arg_str(order, "order")?);
        let status: OrderStatus = serde_json::from_value(serde_json::Value::String(arg_str(status, "status")?.to_owned()))?;
        with(broker, |b| b.broker.center_set_order_status(Timestamp(now_ms), &order, status).map(drop).map_err(Into::into))
    })
}

// ------------------------------------------------------------------ status reads

/// Reads an agent's state as the broker's monitor sees it (an `FdAgentState`).
///
/// # Safety
/// `agent` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_agent_state(broker: *const FdBroker, agent: *const c_char, out: *mut FdAgentState) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let agent = arg_str(agent, "agent")?;
        *out = handle::with_ref::<BrokerCore, _>(h(broker), |b| Ok(read::agent_state(b.broker.monitor(), agent)))?;
        Ok(())
    })
}

/// Reads the figures of a queue for a medium (an `FdMedium`); `FD_ERR_NOT_FOUND` for an unknown queue.
///
/// # Safety
/// `queue` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_queue_status(broker: *const FdBroker, queue: *const c_char, medium: u32, out: *mut FdQueueStatus) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let queue = arg_str(queue, "queue")?;
        let medium = types::medium(medium)?;
        *out = handle::with_ref::<BrokerCore, _>(h(broker), |b| read::queue_status(b.broker.monitor(), queue, medium))?;
        Ok(())
    })
}

/// Writes the center status as JSON to `*out`; free it with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/center-status.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_center_status_json(broker: *const FdBroker, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let s = handle::with_ref::<BrokerCore, _>(h(broker), |b| read::center_status_json(b.broker.monitor()))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// Writes a presentity's presence document as JSON to `*out`; free it with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/presence.schema.json`.
///
/// # Safety
/// `presentity` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_broker_presence_json(broker: *const FdBroker, presentity: *const c_char, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let p = arg_str(presentity, "presentity")?;
        let s = handle::with_ref::<BrokerCore, _>(h(broker), |b| read::presence_json(b.broker.monitor(), p))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}
