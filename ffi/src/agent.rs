//! `FdAgent`: an agent console (`frontdesk_core::agent::AgentClient`) that talks to a broker server
//! over WebSocket on a library thread, like a network `FdClient`. It logs in by itself on every fresh
//! session, resyncs its seat after every reconnect, and keeps a view of the seat.

use crate::error::{guard, Error, FdStatus, Res};
use crate::events::agent_client_event;
use crate::handle::{self, Entry, EventSource, Kind, Object};
use crate::net::{self, NetLink};
use crate::strings::{arg_str, into_c_string, out_ptr};
use crate::types;
use frontdesk_core::agent::{AgentClient, AgentConfig, AgentRequestId};
use frontdesk_core::protocol::AgentRequest;
use frontdesk_core::{InteractionId, Medium, ProductId, Timestamp};
use serde::Deserialize;
use std::ffi::c_char;
use std::sync::Arc;

/// An agent console handle; create with `fd_agent_connect`, free with `fd_agent_free`.
pub struct FdAgent {
    _private: (),
}

/// The object behind an `FdAgent`.
pub(crate) struct AgentCore {
    agent: AgentClient,
    net: Option<NetLink>,
}

impl net::NetCore for AgentCore {
    type M = AgentClient;
    fn parts(&mut self) -> (&mut AgentClient, Option<&mut NetLink>) {
        (&mut self.agent, self.net.as_mut())
    }
}

impl EventSource for AgentCore {
    fn next_event(&mut self) -> Option<String> {
        if let Some(n) = self.net.as_mut().and_then(NetLink::next_note) {
            return Some(n);
        }
        self.agent.poll_event().map(|e| agent_client_event(&e))
    }
}

impl Kind for AgentCore {
    const NAME: &'static str = "agent";
    fn wrap(o: Arc<Object<Self>>) -> Entry {
        Entry::Agent(o)
    }
    fn unwrap(e: &Entry) -> Option<&Arc<Object<Self>>> {
        match e {
            Entry::Agent(o) => Some(o),
            _ => None,
        }
    }
    fn on_free(o: &Object<Self>) {
        net::stop(o);
    }
}

fn h(a: *const FdAgent) -> usize {
    a as usize
}

/// What `media_json` may be: a list of media, or an object with media and skills.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub(crate) enum Seat {
    // fd_agent_connect refuses an empty list, so the schema does too.
    Media(#[cfg_attr(feature = "schema", schemars(length(min = 1)))] Vec<Medium>),
    Full {
        #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
        media: Vec<Medium>,
        #[serde(default)]
        skills: Vec<ProductId>,
    },
}

/// Creates an agent console that connects by itself to a broker server over WebSocket and starts at once.
///
/// `url` is `ws://HOST:PORT` or `wss://HOST:PORT` (the broker's `/agent` endpoint is added when the URL
/// has no path) or a full endpoint URL; `token` is the agent's credential (e.g. from
/// `frontdesk-server token --agent ID`); `instance` names the console installation (keep it across
/// restarts so the session resumes); `name` is the display name; `media_json` the media handled, as
/// JSON: `["chat","voice"]`, or `{"media":["chat"],"skills":["router"]}` to name products too.
///
/// The console logs in with these after every connect the broker did not resume, and re-reads its
/// seat after every connect; requests made before the session is up wait and go out after that
/// log-in, once. Events (`fd_agent_wait_event`, `fd_agent_poll_event`) are JSON objects with a
/// `"type"`: `connected {resumed}`, `seated {seat}`, `completed {id, result: {"ok":..}|{"err":..}}`,
/// `pushed {event: {"ev":"offered"|"connected"|"chat"|"chat_delivered"|"chat_read"|..,"data":..}}`,
/// `disconnected {retry_at}` (after a `transport_error {url, message}`), `rejected {error}`,
/// `protocol_error {error}`, `typing {interaction, on}` (the client's typing notices, not sequenced).
///
/// `FD_ERR_INVALID_ARGUMENT` for a malformed URL, an empty name or bad media JSON;
/// `FD_ERR_UNAVAILABLE` if the library was built without its `network` feature.
///
/// Threads: as for `fd_client_connect` (one library thread per console; `fd_agent_free` joins it).
///
/// Ownership: the caller owns `*out` and frees it with `fd_agent_free`.
///
/// JSON Schema of `media_json`: `ffi/schemas/agent-media.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_connect(
    url: *const c_char,
    token: *const c_char,
    instance: u64,
    name: *const c_char,
    media_json: *const c_char,
    out: *mut *mut FdAgent,
) -> FdStatus {
    guard(|| connect_agent(url, token, instance, name, media_json, None, out))
}

/// Like `fd_agent_connect`, with roots for `wss://` as `fd_client_connect_tls` takes them (a PEM
/// bundle on top of the platform's trust store, or with `only` instead of it), with the same errors.
///
/// Ownership: the caller owns `*out` and frees it with `fd_agent_free`.
///
/// # Safety
/// As for `fd_agent_connect`; `roots_pem` NULL or `roots_len` readable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fd_agent_connect_tls(
    url: *const c_char,
    token: *const c_char,
    instance: u64,
    name: *const c_char,
    media_json: *const c_char,
    roots_pem: *const u8,
    roots_len: usize,
    only: bool,
    out: *mut *mut FdAgent,
) -> FdStatus {
    guard(|| {
        if !out.is_null() {
            *out = std::ptr::null_mut();
        }
        let trust = crate::client::tls_trust(roots_pem, roots_len, only)?;
        connect_agent(url, token, instance, name, media_json, Some(trust), out)
    })
}

unsafe fn connect_agent(
    url: *const c_char,
    token: *const c_char,
    instance: u64,
    name: *const c_char,
    media_json: *const c_char,
    trust: Option<net::Trust>,
    out: *mut *mut FdAgent,
) -> crate::error::Res<()> {
    {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let url = net::agent_url(arg_str(url, "url")?)?;
        let token = arg_str(token, "token")?;
        let name = arg_str(name, "name")?;
        if name.trim().is_empty() {
            return Err(Error::invalid("name: an agent needs a display name"));
        }
        let (media, skills) = match serde_json::from_str::<Seat>(arg_str(media_json, "media_json")?) {
            Ok(Seat::Media(m)) => (m, vec![]),
            Ok(Seat::Full { media, skills }) => (media, skills),
            Err(e) => return Err(Error::invalid(format!("media_json: want [\"chat\",..] or {{\"media\":[..],\"skills\":[..]}} ({e})"))),
        };
        if media.is_empty() {
            return Err(Error::invalid("media_json: name at least one medium"));
        }
        let mut agent = AgentClient::new(AgentConfig::new(token, instance, name, media).with_skills(skills));
        agent.start(Timestamp(crate::fd_now_ms()));
        *out = net::start(url, trust, |link| AgentCore { agent, net: Some(link) })? as *mut FdAgent;
        Ok(())
    }
}

/// Frees an agent console (closes its connection, stops and joins its thread); NULL is a no-op, a
/// second free returns `FD_ERR_INVALID_HANDLE`. The seat stays on the broker for its grace period.
#[no_mangle]
pub extern "C" fn fd_agent_free(agent: *mut FdAgent) -> FdStatus {
    guard(|| handle::free::<AgentCore>(h(agent)))
}

/// Takes the next event (JSON) into `*out`, waiting up to `timeout_ms`; writes NULL if none came.
///
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/agent-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_wait_event(agent: *mut FdAgent, timeout_ms: u32, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::wait_event::<AgentCore>(h(agent), std::time::Duration::from_millis(timeout_ms.into()))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Takes the next event (JSON) into `*out` without waiting; writes NULL when none is pending.
///
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/agent-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_poll_event(agent: *mut FdAgent, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::poll_event::<AgentCore>(h(agent))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Writes the console's view as JSON to `*out`: `agent`, `name`, `role`, `media`, `state`, `offer`
/// (or null), `interactions` and `chats` (by interaction id; each transcript in sequence order, each
/// message once), `invitations` (by id), `delivered` (`[[interaction, seq], ..]`: our messages the
/// client's app received), `read` (by interaction id: the client read our messages up to this seq),
/// `center`.
///
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/agent-view.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_view_json(agent: *const FdAgent, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let s = handle::with_ref::<AgentCore, _>(h(agent), |c| Ok(serde_json::to_string(c.agent.view())?))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// Queues a request and wakes the console's thread; writes its id to `*id` if `id` is not NULL.
unsafe fn request(agent: *mut FdAgent, id: *mut u64, f: impl FnOnce(&mut AgentClient) -> AgentRequestId) -> Res<()> {
    let rid = handle::with_mut::<AgentCore, _>(h(agent), |c| {
        let r = f(&mut c.agent);
        if let Some(n) = &c.net {
            n.wake();
        }
        Ok(r)
    })?;
    if !id.is_null() {
        *id = rid;
    }
    Ok(())
}

/// Sends any agent request given as protocol JSON (`{"op":"invite","client":"alice","medium":"chat",
/// "message":"Hi"}`; ops: `log_in`, `log_out`, `get_seat`, `set_state`, `invite`, `respond_invitation`,
/// `accept`, `decline`, `send_chat`, `end`, `client_profile`, `client_history`, `add_note`,
/// `center_status`, `transcript`); `*id` (if not NULL) gets its id, answered by a `completed` event.
/// `FD_ERR_INVALID_ARGUMENT` if the JSON is not such a request.
///
/// JSON Schema of `json`: `ffi/schemas/agent-request.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_request_json(agent: *mut FdAgent, json: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let req: AgentRequest =
            serde_json::from_str(arg_str(json, "json")?).map_err(|e| Error::invalid(format!("not an agent request: {e}")))?;
        request(agent, id, |a| a.request(req))
    })
}

/// Changes the agent's state (`FdAgentState` value; `FD_AGENT_AVAILABLE` to take offers).
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_set_state(agent: *mut FdAgent, state: u32, id: *mut u64) -> FdStatus {
    guard(|| {
        let state = types::agent_state(state)?;
        request(agent, id, |a| a.set_state(state))
    })
}

/// Accepts the offered interaction (the id from the `offered` event or the view's `offer`).
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_accept(agent: *mut FdAgent, interaction: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(agent, id, |a| a.accept(interaction))
    })
}

/// Sends a chat message in an interaction the agent handles; stored once however often the
/// connection drops. The answer (`completed`, `{"kind":"chat",..}`) carries the message's `seq`; a
/// `chat_delivered` event follows when the client's app has it.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_send_chat(agent: *mut FdAgent, interaction: *const c_char, text: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let text = arg_str(text, "text")?.to_owned();
        request(agent, id, |a| a.send_chat(interaction, text))
    })
}

/// Marks the client's messages read up to `seq` in an interaction the agent handles; the client
/// gets `chat_read`. A mark at or below one already made changes nothing.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_mark_read(agent: *mut FdAgent, interaction: *const c_char, seq: u64, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(agent, id, |a| a.mark_read(interaction, seq))
    })
}

/// Tells the client the agent is typing (`on`) or stopped; call it on every keystroke, a notice goes
/// out at most every couple of seconds. Soft state: dropped while offline, never queued. `*sent` (if
/// not NULL) says whether a notice went out; `FD_ERR_NOT_FOUND` for an interaction the console does
/// not hold connected. The client's come as `{"type":"typing","interaction":..,"on":..}` events.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `sent` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_send_typing(agent: *mut FdAgent, interaction: *const c_char, on: bool, sent: *mut bool) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let went = handle::with_mut::<AgentCore, _>(h(agent), |c| {
            let r = c.agent.send_typing(Timestamp(crate::fd_now_ms()), &interaction, on)?;
            if let Some(n) = &c.net {
                n.wake();
            }
            Ok(r)
        })?;
        if !sent.is_null() {
            *sent = went;
        }
        Ok(())
    })
}

/// Ends an interaction the agent handles.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_end(agent: *mut FdAgent, interaction: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(agent, id, |a| a.end(interaction))
    })
}

/// Transfers a connected interaction the agent holds to another agent (`to_agent`) or a queue
/// (`to_queue`): exactly one of them non-NULL. `note` (NULL for none) goes to the next agent.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_transfer(
    agent: *mut FdAgent,
    interaction: *const c_char,
    to_agent: *const c_char,
    to_queue: *const c_char,
    note: *const c_char,
    id: *mut u64,
) -> FdStatus {
    use frontdesk_core::protocol::TransferTarget;
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let to = match (crate::strings::arg_opt_str(to_agent, "to_agent")?, crate::strings::arg_opt_str(to_queue, "to_queue")?) {
            (Some(a), None) => TransferTarget::Agent(a.into()),
            (None, Some(q)) => TransferTarget::Queue(q.into()),
            _ => return Err(Error::invalid("to_agent, to_queue: name exactly one")),
        };
        let note = crate::strings::arg_opt_str(note, "note")?.map(str::to_owned);
        request(agent, id, |a| a.transfer(interaction, to, note))
    })
}

/// Records the outcome of an interaction the agent ended (once); `note` may be NULL.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_agent_wrap_up(agent: *mut FdAgent, interaction: *const c_char, outcome: *const c_char, note: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let outcome = arg_str(outcome, "outcome")?.to_owned();
        let note = crate::strings::arg_opt_str(note, "note")?.map(str::to_owned);
        request(agent, id, |a| a.wrap_up(interaction, outcome, note))
    })
}
