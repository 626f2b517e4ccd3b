//! `FdMonitor`: a standalone status monitor that a vendor's ACD bridge feeds with center events.

use crate::error::{guard, FdStatus, Res};
use crate::events::{monitor_event, FdEventCallback};
use crate::handle::{self, Entry, EventSource, FdSubscription, Kind, Object};
use crate::read;
use crate::strings::{arg_opt_str, arg_str, arg_str_array, into_c_string, out_ptr};
use crate::types::{self, FdAgentState, FdQueueStatus, FD_NO_TIMEOUT};
use frontdesk_core::center_event::CenterEvent;
use frontdesk_core::monitor::{MonitorConfig, StatusMonitor};
use frontdesk_core::principal::Principal;
use frontdesk_core::status::ClientStatus;
use frontdesk_core::{ClientId, ProductId, Timestamp};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A status monitor handle; create with `fd_monitor_new`, free with `fd_monitor_free`.
pub struct FdMonitor {
    _private: (),
}

/// The object behind an `FdMonitor`.
pub(crate) struct MonitorCore {
    monitor: StatusMonitor,
}

impl EventSource for MonitorCore {
    fn next_event(&mut self) -> Option<String> {
        let e = self.monitor.poll_event()?;
        Some(monitor_event(&self.monitor, &e))
    }
}

impl Kind for MonitorCore {
    const NAME: &'static str = "monitor";
    fn wrap(o: Arc<Object<Self>>) -> Entry {
        Entry::Monitor(o)
    }
    fn unwrap(e: &Entry) -> Option<&Arc<Object<Self>>> {
        match e {
            Entry::Monitor(o) => Some(o),
            _ => None,
        }
    }
}

fn h(m: *const FdMonitor) -> usize {
    m as usize
}

fn push(m: *mut FdMonitor, now_ms: u64, event: CenterEvent) -> Res<()> {
    handle::with_mut::<MonitorCore, _>(h(m), |c| Ok(c.monitor.handle_center_event(Timestamp(now_ms), event)?))
}

/// Creates a status monitor with the default hold-time estimator; `*out` receives the handle.
///
/// Ownership: the caller owns the handle and frees it with `fd_monitor_free`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_new(out: *mut *mut FdMonitor) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let id = handle::register(MonitorCore { monitor: StatusMonitor::new(MonitorConfig::default()) });
        *out = id as *mut FdMonitor;
        Ok(())
    })
}

/// Frees a monitor; NULL is a no-op, a second free returns `FD_ERR_INVALID_HANDLE`.
///
/// Its subscriptions stop; their handles must still be freed with `fd_subscription_free`.
#[no_mangle]
pub extern "C" fn fd_monitor_free(monitor: *mut FdMonitor) -> FdStatus {
    guard(|| handle::free::<MonitorCore>(h(monitor)))
}

/// Feeds one center event given as JSON (`{"type":"agent_state_changed","agent":"ann","state":"busy"}`).
///
/// Types: queue_configured, agent_logged_in, agent_logged_out, agent_state_changed,
/// interaction_queued, interaction_answered, interaction_abandoned, interaction_ended.
///
/// JSON Schema of `json`: `ffi/schemas/center-event.schema.json`.
///
/// # Safety
/// `json` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_push_json(monitor: *mut FdMonitor, now_ms: u64, json: *const c_char) -> FdStatus {
    guard(|| {
        let event: CenterEvent = serde_json::from_str(arg_str(json, "json")?)?;
        push(monitor, now_ms, event)
    })
}

/// A queue exists (or changed): name, products served (`n_products` strings; none means any) and a
/// mask of `FD_MEDIA_*` bits.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `products` must hold `n_products` of them.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_queue_configured(
    monitor: *mut FdMonitor,
    now_ms: u64,
    queue: *const c_char,
    name: *const c_char,
    products: *const *const c_char,
    n_products: usize,
    media_mask: u32,
) -> FdStatus {
    guard(|| {
        let event = CenterEvent::QueueConfigured {
            queue: arg_str(queue, "queue")?.into(),
            name: arg_str(name, "name")?.into(),
            products: arg_str_array(products, n_products, "products")?.into_iter().map(ProductId).collect(),
            media: types::media(media_mask)?,
        };
        push(monitor, now_ms, event)
    })
}

/// An agent logged in (state away until a state change): skills are product ids, media a mask.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `skills` must hold `n_skills` of them.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_agent_logged_in(
    monitor: *mut FdMonitor,
    now_ms: u64,
    agent: *const c_char,
    name: *const c_char,
    skills: *const *const c_char,
    n_skills: usize,
    media_mask: u32,
) -> FdStatus {
    guard(|| {
        let event = CenterEvent::AgentLoggedIn {
            agent: arg_str(agent, "agent")?.into(),
            name: arg_str(name, "name")?.into(),
            skills: arg_str_array(skills, n_skills, "skills")?.into_iter().map(ProductId).collect(),
            media: types::media(media_mask)?,
        };
        push(monitor, now_ms, event)
    })
}

/// An agent logged out; `FD_ERR_NOT_FOUND` if it was not logged in.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_agent_logged_out(monitor: *mut FdMonitor, now_ms: u64, agent: *const c_char) -> FdStatus {
    guard(|| {
        let agent = arg_str(agent, "agent")?.into();
        push(monitor, now_ms, CenterEvent::AgentLoggedOut { agent })
    })
}

/// An agent changed state (`state` is an `FdAgentState`); `FD_ERR_NOT_FOUND` if it is not logged in.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_agent_state_changed(monitor: *mut FdMonitor, now_ms: u64, agent: *const c_char, state: u32) -> FdStatus {
    guard(|| {
        let agent = arg_str(agent, "agent")?.into();
        let state = types::agent_state(state)?;
        push(monitor, now_ms, CenterEvent::AgentStateChanged { agent, state })
    })
}

/// An interaction started waiting in a queue on a medium (an `FdMedium`); `client` may be NULL.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_interaction_queued(
    monitor: *mut FdMonitor,
    now_ms: u64,
    interaction: *const c_char,
    queue: *const c_char,
    medium: u32,
    client: *const c_char,
) -> FdStatus {
    guard(|| {
        let event = CenterEvent::InteractionQueued {
            interaction: arg_str(interaction, "interaction")?.into(),
            queue: arg_str(queue, "queue")?.into(),
            medium: types::medium(medium)?,
            client: arg_opt_str(client, "client")?.map(Into::into),
        };
        push(monitor, now_ms, event)
    })
}

/// An agent answered a waiting interaction; `FD_ERR_NOT_FOUND` if it was never queued.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_interaction_answered(
    monitor: *mut FdMonitor,
    now_ms: u64,
    interaction: *const c_char,
    agent: *const c_char,
) -> FdStatus {
    guard(|| {
        let event = CenterEvent::InteractionAnswered { interaction: arg_str(interaction, "interaction")?.into(), agent: arg_str(agent, "agent")?.into() };
        push(monitor, now_ms, event)
    })
}

/// The client left the queue before an answer; `FD_ERR_NOT_FOUND` if it was never queued.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_interaction_abandoned(monitor: *mut FdMonitor, now_ms: u64, interaction: *const c_char) -> FdStatus {
    guard(|| {
        let interaction = arg_str(interaction, "interaction")?.into();
        push(monitor, now_ms, CenterEvent::InteractionAbandoned { interaction })
    })
}

/// An interaction ended; `FD_ERR_NOT_FOUND` if it was never queued.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_interaction_ended(monitor: *mut FdMonitor, now_ms: u64, interaction: *const c_char) -> FdStatus {
    guard(|| {
        let interaction = arg_str(interaction, "interaction")?.into();
        push(monitor, now_ms, CenterEvent::InteractionEnded { interaction })
    })
}

/// Publishes a client's own status, as JSON (`{"activity":"online","medium":"chat","note":null}`).
///
/// JSON Schema of `json`: `ffi/schemas/client-status.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_client_status_json(monitor: *mut FdMonitor, now_ms: u64, client: *const c_char, json: *const c_char) -> FdStatus {
    guard(|| {
        let client = ClientId::new(arg_str(client, "client")?);
        let status: ClientStatus = serde_json::from_str(arg_str(json, "json")?)?;
        handle::with_mut::<MonitorCore, _>(h(monitor), |c| {
            c.monitor.publish_client_status(Timestamp(now_ms), client, status);
            Ok(())
        })
    })
}

/// Reads an agent's state into `*out` (an `FdAgentState`); unknown agents read as logged out.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_agent_state(monitor: *const FdMonitor, agent: *const c_char, out: *mut FdAgentState) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let agent = arg_str(agent, "agent")?;
        *out = handle::with_ref::<MonitorCore, _>(h(monitor), |c| Ok(read::agent_state(&c.monitor, agent)))?;
        Ok(())
    })
}

/// Reads the figures of a queue for a medium (an `FdMedium`); `FD_ERR_NOT_FOUND` for an unknown queue.
///
/// # Safety
/// `queue` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_queue_status(monitor: *const FdMonitor, queue: *const c_char, medium: u32, out: *mut FdQueueStatus) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let queue = arg_str(queue, "queue")?;
        let medium = types::medium(medium)?;
        *out = handle::with_ref::<MonitorCore, _>(h(monitor), |c| read::queue_status(&c.monitor, queue, medium))?;
        Ok(())
    })
}

/// Reads the mask of media offered anywhere in the center right now (`FD_MEDIA_*` bits).
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_media_offered(monitor: *const FdMonitor, out: *mut u32) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::with_ref::<MonitorCore, _>(h(monitor), |c| Ok(types::media_mask(&c.monitor.media_offered())))?;
        Ok(())
    })
}

/// Writes the center status (queues, media offered, agents) as JSON to `*out`.
///
/// Ownership: `*out` is the caller's; free it with `fd_string_free`. Left NULL on error.
///
/// JSON Schema of `*out`: `ffi/schemas/center-status.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_center_status_json(monitor: *const FdMonitor, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let s = handle::with_ref::<MonitorCore, _>(h(monitor), |c| read::center_status_json(&c.monitor))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// Writes the presence document of a presentity ("center", "queue:ID", "agent:ID", "client:ID") as
/// JSON to `*out`: the RFC 2778 tuples plus agent, queue or client details.
///
/// Ownership: `*out` is the caller's; free it with `fd_string_free`. Left NULL on error.
///
/// JSON Schema of `*out`: `ffi/schemas/presence.schema.json`.
///
/// # Safety
/// `presentity` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_presence_json(monitor: *const FdMonitor, presentity: *const c_char, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let p = arg_str(presentity, "presentity")?;
        let s = handle::with_ref::<MonitorCore, _>(h(monitor), |c| read::presence_json(&c.monitor, p))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// The presence document of a presentity as PIDF XML (RFC 3863, with RPID activities), for presence
/// servers and SIP systems; `domain` names the presence URIs (`pres:agent-ann@<domain>`). Free `*out`
/// with `fd_string_free`.
///
/// # Safety
/// `presentity` and `domain` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_presence_pidf(monitor: *const FdMonitor, presentity: *const c_char, domain: *const c_char, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let p = arg_str(presentity, "presentity")?;
        let d = arg_str(domain, "domain")?;
        let s = handle::with_ref::<MonitorCore, _>(h(monitor), |c| read::presence_pidf(&c.monitor, p, d))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// Applies a PIDF document an ACD or presence server published for an agent: the agent's state follows
/// its tuples and RPID activities (open → available, on-the-phone/busy → busy, away/meeting → away).
/// DTDs, oversized or malformed documents are refused with `FD_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `agent` must be NULL or NUL-terminated; `xml` NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_agent_pidf(monitor: *mut FdMonitor, now_ms: u64, agent: *const c_char, xml: *const u8, len: usize) -> FdStatus {
    guard(|| {
        let a = arg_str(agent, "agent")?;
        if xml.is_null() {
            return Err(crate::error::Error::new(FdStatus::FD_ERR_NULL_POINTER, "xml is NULL"));
        }
        let bytes = std::slice::from_raw_parts(xml, len);
        handle::with_mut::<MonitorCore, _>(h(monitor), |c| {
            c.monitor
                .handle_agent_pidf(Timestamp(now_ms), a.into(), bytes)
                .map(|_| ())
                .map_err(|e| crate::error::Error::new(FdStatus::FD_ERR_INVALID_ARGUMENT, e.to_string()))
        })
    })
}

/// Subscribes watcher `watcher` (an id the host chooses) to a presentity; later changes arrive as
/// `notify` events listing the watcher. `principal_json` says who watches (NULL: a trusted service,
/// e.g. `{"kind":"client","id":"alice"}` for a client). `doc_out` may be NULL; else it receives the
/// document the watcher sees now, to free with `fd_string_free`.
///
/// JSON Schema of `principal_json`: `ffi/schemas/principal.schema.json`; of `*doc_out`: `ffi/schemas/presence.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `doc_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_watch(
    monitor: *mut FdMonitor,
    watcher: u64,
    principal_json: *const c_char,
    presentity: *const c_char,
    doc_out: *mut *mut c_char,
) -> FdStatus {
    guard(|| {
        if !doc_out.is_null() {
            *doc_out = std::ptr::null_mut();
        }
        let who: Principal = match arg_opt_str(principal_json, "principal_json")? {
            Some(j) => serde_json::from_str(j)?,
            None => Principal::Service("host".into()),
        };
        let p = read::presentity(arg_str(presentity, "presentity")?)?;
        let doc = handle::with_mut::<MonitorCore, _>(h(monitor), |c| Ok(c.monitor.subscribe(watcher, &who, &p)?))?;
        if !doc_out.is_null() {
            *doc_out = into_c_string(serde_json::to_string(&doc)?)?;
        }
        Ok(())
    })
}

/// Ends watcher `watcher`'s subscription to a presentity; unknown subscriptions are a no-op.
///
/// # Safety
/// `presentity` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_unwatch(monitor: *mut FdMonitor, watcher: u64, presentity: *const c_char) -> FdStatus {
    guard(|| {
        let p = read::presentity(arg_str(presentity, "presentity")?)?;
        handle::with_mut::<MonitorCore, _>(h(monitor), |c| {
            c.monitor.unsubscribe(watcher, &p);
            Ok(())
        })
    })
}

/// Writes when `fd_monitor_handle_timeout` should next run (ms since the epoch), or `FD_NO_TIMEOUT`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_poll_timeout(monitor: *const FdMonitor, out: *mut u64) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::with_ref::<MonitorCore, _>(h(monitor), |c| Ok(c.monitor.poll_timeout().map_or(FD_NO_TIMEOUT, |t| t.0)))?;
        Ok(())
    })
}

/// Time passed: re-estimates waiting queues. Early or spurious calls are harmless.
#[no_mangle]
pub extern "C" fn fd_monitor_handle_timeout(monitor: *mut FdMonitor, now_ms: u64) -> FdStatus {
    guard(|| {
        handle::with_mut::<MonitorCore, _>(h(monitor), |c| {
            c.monitor.handle_timeout(Timestamp(now_ms));
            Ok(())
        })
    })
}

/// Takes the next event (JSON) into `*out`, or sets `*out` to NULL when there is none.
///
/// Events: `{"type":"notify","presentity":..,"watchers":[..],"document":{..}}` (changes of one
/// presentity between two polls are coalesced) and `{"type":"terminated","watcher":..,"presentity":..}`.
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/monitor-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_poll_event(monitor: *mut FdMonitor, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::poll_event::<MonitorCore>(h(monitor))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Registers a callback for the events `fd_monitor_poll_event` would return; `*out` receives the
/// subscription. While any callback is registered, events go to the callbacks at the end of each call
/// that changes the monitor, instead of waiting for a poll.
///
/// Ownership: free `*out` with `fd_subscription_free`. `user_data` is passed back untouched.
///
/// JSON Schema of each event the callback gets: `ffi/schemas/monitor-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable; `callback` must stay callable until the subscription is freed.
#[no_mangle]
pub unsafe extern "C" fn fd_monitor_subscribe(
    monitor: *mut FdMonitor,
    callback: FdEventCallback,
    user_data: *mut c_void,
    out: *mut *mut FdSubscription,
) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::subscribe::<MonitorCore>(h(monitor), callback, user_data)? as *mut FdSubscription;
        Ok(())
    })
}
