//! `FdClient`: the client state machine. Made by `fd_client_new`, the host opens transports when asked
//! and moves their bytes; made by `fd_client_connect`, a library thread does that over WebSocket.

use crate::error::{guard, Error, FdStatus, Res};
use crate::events::{client_event, FdEventCallback};
use crate::handle::{self, Entry, EventSource, FdSubscription, Kind, Object};
use crate::net::{self, NetLink};
use crate::read;
use crate::strings::{arg_bytes, arg_opt_str, arg_str, into_c_string, out_ptr, FdBytes};
use crate::types::{self, FD_NO_TIMEOUT};
use frontdesk_core::client::{Client, ClientConfig, ClientView, RequestId, SavedState};
use frontdesk_core::protocol::Request;
use frontdesk_core::records::HistoryFilter;
use frontdesk_core::status::ClientStatus;
use frontdesk_core::{AgentId, InteractionId, InvitationId, ProductId, Timestamp};
use serde::Serialize;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A client handle; create with `fd_client_new` or `fd_client_restore`, free with `fd_client_free`.
pub struct FdClient {
    _private: (),
}

/// The object behind an `FdClient`, with the transport state the C API checks calls against.
pub(crate) struct ClientCore {
    client: Client,
    connect_asked: bool,
    transport_up: bool,
    /// Set for a network client: the library's thread runs its transport.
    pub(crate) net: Option<NetLink>,
}

impl ClientCore {
    /// A client whose transport a library thread runs.
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    pub(crate) fn network(client: Client, link: NetLink) -> Self {
        ClientCore { client, connect_asked: false, transport_up: false, net: Some(link) }
    }


    /// `FD_ERR_WRONG_STATE` for transport calls on a client whose transport the library runs.
    fn host_transport(&self) -> Res<()> {
        match self.net {
            Some(_) => Err(wrong_state("the library runs this client's transport (fd_client_connect): no host transport calls")),
            None => Ok(()),
        }
    }
}

impl net::NetCore for ClientCore {
    type M = Client;
    fn parts(&mut self) -> (&mut Client, Option<&mut NetLink>) {
        (&mut self.client, self.net.as_mut())
    }
}

impl EventSource for ClientCore {
    fn next_event(&mut self) -> Option<String> {
        if let Some(n) = self.net.as_mut().and_then(NetLink::next_note) {
            return Some(n);
        }
        self.client.poll_event().map(|e| client_event(&e))
    }
}

impl Kind for ClientCore {
    const NAME: &'static str = "client";
    fn wrap(o: Arc<Object<Self>>) -> Entry {
        Entry::Client(o)
    }
    fn unwrap(e: &Entry) -> Option<&Arc<Object<Self>>> {
        match e {
            Entry::Client(o) => Some(o),
            _ => None,
        }
    }
    fn on_free(o: &Object<Self>) {
        net::stop(o);
    }
}

fn h(c: *const FdClient) -> usize {
    c as usize
}

/// Changes a client; a network client's thread is woken to send what the change produced.
fn with<R>(c: *mut FdClient, f: impl FnOnce(&mut ClientCore) -> Res<R>) -> Res<R> {
    handle::with_mut::<ClientCore, _>(h(c), |core| {
        let r = f(core);
        if let Some(n) = &core.net {
            n.wake();
        }
        r
    })
}

/// Like [`with`], for the calls that move a host-run transport.
fn with_host<R>(c: *mut FdClient, f: impl FnOnce(&mut ClientCore) -> Res<R>) -> Res<R> {
    with(c, |core| {
        core.host_transport()?;
        f(core)
    })
}

/// The clock a call uses: the host's `now_ms`, or the wall clock for a network client (whose thread
/// reads the wall clock for everything else).
fn time(core: &ClientCore, now_ms: u64) -> Timestamp {
    match core.net {
        Some(_) => Timestamp(crate::fd_now_ms()),
        None => Timestamp(now_ms),
    }
}

fn wrong_state(msg: &str) -> Error {
    Error::new(FdStatus::FD_ERR_WRONG_STATE, msg)
}

fn core(client: Client) -> ClientCore {
    ClientCore { client, connect_asked: false, transport_up: false, net: None }
}

/// Creates a client for a credential and a stable installation id (keep it across app restarts so
/// the session resumes). Call `fd_client_start`, then follow `fd_client_poll_connect`.
///
/// Ownership: the caller owns `*out` and frees it with `fd_client_free`.
///
/// # Safety
/// `token` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_new(token: *const c_char, instance: u64, out: *mut *mut FdClient) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let token = arg_str(token, "token")?;
        *out = handle::register(core(Client::new(ClientConfig::new(token, instance)))) as *mut FdClient;
        Ok(())
    })
}

/// Creates a client that continues a state saved by `fd_client_save_json` (queued requests kept).
///
/// Ownership: the caller owns `*out` and frees it with `fd_client_free`.
///
/// JSON Schema of `saved_json`: `ffi/schemas/client-saved-state.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_restore(token: *const c_char, saved_json: *const c_char, out: *mut *mut FdClient) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let token = arg_str(token, "token")?;
        let saved: SavedState = serde_json::from_str(arg_str(saved_json, "saved_json")?)?;
        *out = handle::register(core(Client::restore(ClientConfig::new(token, 0), saved))) as *mut FdClient;
        Ok(())
    })
}

/// Creates a client that connects by itself to a broker server over WebSocket and starts at once.
///
/// `url` is `ws://HOST:PORT` or `wss://HOST:PORT` (the broker's `/client` endpoint is added when the URL
/// has no path) or a full endpoint URL; `token` is the client's credential (e.g. from
/// `frontdesk-server token --client ID`); `instance` names the installation (keep it across restarts
/// so the session resumes). A library thread dials, reconnects with backoff and moves frames; every
/// request, event and view function then works as on an in-process client, while the transport calls
/// (`fd_client_poll_connect` and the like) return `FD_ERR_WRONG_STATE`. Calls taking `now_ms` ignore
/// it: the thread reads the clock.
///
/// Returns at once; the connection is reported by events: `connected` then `synced`, or
/// `transport_error {url, message}` then `disconnected {retry_at}` when the server cannot be reached
/// (retried with backoff), or `rejected` for a bad token. `FD_ERR_INVALID_ARGUMENT` for a malformed
/// URL, `FD_ERR_UNAVAILABLE` if the library was built without its `network` feature.
///
/// Threads: callbacks of this client run on the library's thread (`frontdesk-net`); calls from the
/// host's threads are serialized with it by the client's lock. `fd_client_free` stops the thread and
/// waits for it (from inside a callback it cannot wait: the thread ends when the callback returns).
///
/// Ownership: the caller owns `*out` and frees it with `fd_client_free`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_connect(url: *const c_char, token: *const c_char, instance: u64, out: *mut *mut FdClient) -> FdStatus {
    guard(|| connect_client(url, token, instance, None, out))
}

/// Like `fd_client_connect`, and a `wss://` server's certificate may also chain to one of the PEM
/// certificates in `roots_pem` (`roots_len` bytes, not NUL-terminated; a bundle of
/// `-----BEGIN CERTIFICATE-----` blocks): on top of the platform's trust store, or, with `only`,
/// instead of it (a private CA deployment). The library copies the bundle.
///
/// `FD_ERR_NULL_POINTER` for a NULL `roots_pem` (use `fd_client_connect` for the platform's roots
/// alone); `FD_ERR_INVALID_ARGUMENT` for an empty bundle, one without a certificate or with one that
/// cannot be a root, the message naming it. A server whose certificate is refused anyway is reported
/// like an unreachable one, `transport_error {url, message}`, the message naming the cause:
/// "cannot connect: server certificate refused: unknown issuer: …", "… name mismatch: …", "… expired: …".
///
/// Ownership: the caller owns `*out` and frees it with `fd_client_free`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `roots_pem` NULL or `roots_len` readable bytes; `out`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_connect_tls(
    url: *const c_char,
    token: *const c_char,
    instance: u64,
    roots_pem: *const u8,
    roots_len: usize,
    only: bool,
    out: *mut *mut FdClient,
) -> FdStatus {
    guard(|| {
        if !out.is_null() {
            *out = std::ptr::null_mut();
        }
        let trust = tls_trust(roots_pem, roots_len, only)?;
        connect_client(url, token, instance, Some(trust), out)
    })
}

/// The roots of a `*_connect_tls` call, copied.
pub(crate) unsafe fn tls_trust(roots_pem: *const u8, roots_len: usize, only: bool) -> Res<net::Trust> {
    if roots_pem.is_null() {
        return Err(Error::null("roots_pem"));
    }
    if roots_len == 0 {
        return Err(Error::invalid("roots_pem: the bundle is empty (roots_len is 0)"));
    }
    Ok(net::Trust { pem: arg_bytes(roots_pem, roots_len, "roots_pem")?.to_vec(), only })
}

unsafe fn connect_client(url: *const c_char, token: *const c_char, instance: u64, trust: Option<net::Trust>, out: *mut *mut FdClient) -> Res<()> {
    let out = out_ptr(out, "out")?;
    *out = std::ptr::null_mut();
    let url = net::client_url(arg_str(url, "url")?)?;
    let token = arg_str(token, "token")?;
    let mut client = Client::new(ClientConfig::new(token, instance));
    client.start(Timestamp(crate::fd_now_ms()));
    *out = net::start(url, trust, |link| ClientCore::network(client, link))? as *mut FdClient;
    Ok(())
}

/// Android only: hands the TLS verifier (rustls-platform-verifier, which asks Android's own trust
/// manager) the JVM and the app's `Context`; call it once, before the first `wss://` connect, from
/// JNI code with its `JNIEnv*` and a `jobject` Context (the app also needs the verifier's Kotlin
/// component, see docs/bindings.md). Until then a `wss://` dial fails with a `transport_error` saying so.
///
/// `FD_ERR_NULL_POINTER` for a NULL argument, `FD_ERR_INTERNAL` if the JVM calls failed;
/// `FD_ERR_UNAVAILABLE` on every other platform, which needs no such call.
///
/// # Safety
/// `jni_env` must be the calling thread's `JNIEnv*` and `context` a valid reference.
#[no_mangle]
pub unsafe extern "C" fn fd_tls_android_init(jni_env: *mut c_void, context: *mut c_void) -> FdStatus {
    guard(|| {
        if jni_env.is_null() {
            return Err(Error::null("jni_env"));
        }
        if context.is_null() {
            return Err(Error::null("context"));
        }
        android_init(jni_env, context)
    })
}

#[cfg(all(feature = "network", target_os = "android"))]
unsafe fn android_init(env: *mut c_void, context: *mut c_void) -> Res<()> {
    frontdesk_net::tls::android_init(env, context).map_err(|e| Error::new(FdStatus::FD_ERR_INTERNAL, e))
}

#[cfg(not(all(feature = "network", target_os = "android")))]
unsafe fn android_init(_env: *mut c_void, _context: *mut c_void) -> Res<()> {
    Err(Error::new(FdStatus::FD_ERR_UNAVAILABLE, "only Android needs fd_tls_android_init (its TLS verifier calls into the JVM)"))
}

/// Takes the next client event (JSON) into `*out`, waiting up to `timeout_ms` for one; writes NULL if
/// none came. For a network client, whose events arrive on the library's thread; on an in-process
/// client only another thread's call can produce one while this waits. Do not wait inside a callback
/// of the same client: its events are delivered by that callback's thread, so this would only time out.
///
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/client-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_wait_event(client: *mut FdClient, timeout_ms: u32, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::wait_event::<ClientCore>(h(client), std::time::Duration::from_millis(timeout_ms.into()))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Frees a client; NULL is a no-op, a second free returns `FD_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn fd_client_free(client: *mut FdClient) -> FdStatus {
    guard(|| handle::free::<ClientCore>(h(client)))
}

/// Writes what to keep across an app restart as JSON to `*out`; free it with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/client-saved-state.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_save_json(client: *const FdClient, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let s = handle::with_ref::<ClientCore, _>(h(client), |c| Ok(serde_json::to_string(&c.client.save())?))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

/// Replaces the credential (after a rejection, or before a token expires).
///
/// # Safety
/// `token` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fd_client_set_token(client: *mut FdClient, token: *const c_char) -> FdStatus {
    guard(|| {
        let token = arg_str(token, "token")?.to_owned();
        with(client, |c| {
            c.client.set_token(token);
            Ok(())
        })
    })
}

/// Starts connecting (again, after a rejection or `fd_client_close`). A network client ignores
/// `now_ms` and reads the clock.
#[no_mangle]
pub extern "C" fn fd_client_start(client: *mut FdClient, now_ms: u64) -> FdStatus {
    guard(|| {
        with(client, |c| {
            let now = time(c, now_ms);
            c.client.start(now);
            Ok(())
        })
    })
}

/// Stops: no more reconnects; the host closes its transport (a network client's thread closes its
/// connection, and `now_ms` is ignored). Queued requests stay; `fd_client_start` connects again.
#[no_mangle]
pub extern "C" fn fd_client_close(client: *mut FdClient, now_ms: u64) -> FdStatus {
    guard(|| {
        with(client, |c| {
            let now = time(c, now_ms);
            c.client.close(now);
            if let Some(n) = c.net.as_mut() {
                n.close_transport();
            }
            c.connect_asked = false;
            c.transport_up = false;
            Ok(())
        })
    })
}

/// Writes true once when the host should open a fresh transport (closing any old one), then call
/// `fd_client_handle_connected` (or `fd_client_handle_disconnected` if opening failed).
///
/// This and the other transport calls (`_handle_connected`, `_handle_disconnected`, `_handle_input`,
/// `_poll_transmit`, `_poll_timeout`, `_handle_timeout`) return `FD_ERR_WRONG_STATE` on a client made
/// by `fd_client_connect`, whose transport the library runs.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_poll_connect(client: *mut FdClient, out: *mut bool) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = with_host(client, |c| {
            let want = c.client.poll_connect();
            if want {
                c.connect_asked = true;
                c.transport_up = false;
            }
            Ok(want)
        })?;
        Ok(())
    })
}

/// The transport the host opened is up; `FD_ERR_WRONG_STATE` unless `fd_client_poll_connect` asked for it.
#[no_mangle]
pub extern "C" fn fd_client_handle_connected(client: *mut FdClient, now_ms: u64) -> FdStatus {
    guard(|| {
        with_host(client, |c| {
            if !c.connect_asked {
                return Err(wrong_state("no transport was asked for: wait for fd_client_poll_connect to say true"));
            }
            c.connect_asked = false;
            c.transport_up = true;
            c.client.handle_connected(Timestamp(now_ms));
            Ok(())
        })
    })
}

/// The transport closed or could not be opened; the client retries with backoff.
/// `FD_ERR_WRONG_STATE` if no transport was up or being opened.
#[no_mangle]
pub extern "C" fn fd_client_handle_disconnected(client: *mut FdClient, now_ms: u64) -> FdStatus {
    guard(|| {
        with_host(client, |c| {
            if !c.connect_asked && !c.transport_up {
                return Err(wrong_state("no transport is up or being opened"));
            }
            c.connect_asked = false;
            c.transport_up = false;
            c.client.handle_disconnected(Timestamp(now_ms));
            Ok(())
        })
    })
}

/// One frame arrived on the transport. `FD_ERR_WRONG_STATE` if no transport is up; `FD_ERR_PROTOCOL`
/// if it is not a valid frame (it is dropped and the session goes on).
///
/// # Safety
/// `data` must be NULL (with `len` 0) or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn fd_client_handle_input(client: *mut FdClient, now_ms: u64, data: *const u8, len: usize) -> FdStatus {
    guard(|| {
        let data = arg_bytes(data, len, "data")?;
        with_host(client, |c| {
            if !c.transport_up {
                return Err(wrong_state("no transport is up: call fd_client_handle_connected first"));
            }
            Ok(c.client.handle_input(Timestamp(now_ms), data)?)
        })
    })
}

/// Takes the next frame to send into `*out`; `out->data` is NULL when there is none.
///
/// Ownership: free `*out` with `fd_bytes_free(out)`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_poll_transmit(client: *mut FdClient, out: *mut FdBytes) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = FdBytes::EMPTY;
        if let Some(v) = with_host(client, |c| Ok(c.client.poll_transmit()))? {
            *out = FdBytes::from_vec(v);
        }
        Ok(())
    })
}

/// Writes when `fd_client_handle_timeout` should next run (ms since the epoch), or `FD_NO_TIMEOUT`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_poll_timeout(client: *const FdClient, out: *mut u64) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::with_ref::<ClientCore, _>(h(client), |c| {
            c.host_transport()?;
            Ok(c.client.poll_timeout().map_or(FD_NO_TIMEOUT, |t| t.0))
        })?;
        Ok(())
    })
}

/// Time passed: reconnects, keeps alive, or gives up on a silent connection. Early calls are harmless.
#[no_mangle]
pub extern "C" fn fd_client_handle_timeout(client: *mut FdClient, now_ms: u64) -> FdStatus {
    guard(|| {
        with_host(client, |c| {
            c.client.handle_timeout(Timestamp(now_ms));
            Ok(())
        })
    })
}

/// Writes whether a session with the broker is up.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_is_connected(client: *const FdClient, out: *mut bool) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::with_ref::<ClientCore, _>(h(client), |c| Ok(c.client.is_connected()))?;
        Ok(())
    })
}

/// Takes the next client event (JSON) into `*out`, or NULL when there is none.
///
/// Events: connected {resumed}, disconnected {retry_at}, rejected {error}, synced, completed {id,
/// result: {"ok":{"kind":..,"value":..}} or {"err":{"code":..,"message":..}}}, pushed {event},
/// presence {document}, watch_ended {presentity}, protocol_error {error}; a network client also
/// reports transport_error {url, message} before each disconnected caused by the network.
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/client-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_poll_event(client: *mut FdClient, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        if let Some(e) = handle::poll_event::<ClientCore>(h(client))? {
            *out = into_c_string(e)?;
        }
        Ok(())
    })
}

/// Registers a callback for client events (see `fd_monitor_subscribe` for delivery rules).
///
/// Ownership: free `*out` with `fd_subscription_free`.
///
/// JSON Schema of each event the callback gets: `ffi/schemas/client-event.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable; `callback` must stay callable until the subscription is freed.
#[no_mangle]
pub unsafe extern "C" fn fd_client_subscribe(
    client: *mut FdClient,
    callback: FdEventCallback,
    user_data: *mut c_void,
    out: *mut *mut FdSubscription,
) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = handle::subscribe::<ClientCore>(h(client), callback, user_data)? as *mut FdSubscription;
        Ok(())
    })
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub(crate) struct ViewJson<'a> {
    client: &'a Option<frontdesk_core::ClientId>,
    profile: &'a frontdesk_core::profile::ClientProfile,
    orders: Vec<&'a frontdesk_core::records::Order>,
    products: &'a [frontdesk_core::records::Product],
    history: &'a [frontdesk_core::records::InteractionRecord],
    center: &'a Option<frontdesk_core::status::CenterStatus>,
    presence: Vec<&'a frontdesk_core::monitor::presence::PresenceDocument>,
    invitations: Vec<&'a frontdesk_core::invitation::Invitation>,
    interactions: Vec<&'a frontdesk_core::interaction::LiveInteraction>,
    chats: Vec<&'a frontdesk_core::interaction::ChatMessage>,
    alerts: &'a [frontdesk_core::alert::AlertFired],
}

fn view_json(v: &ClientView) -> Res<String> {
    Ok(serde_json::to_string(&ViewJson {
        client: &v.client,
        profile: &v.profile,
        orders: v.orders.values().collect(),
        products: &v.products,
        history: &v.history,
        center: &v.center,
        presence: v.presence.values().collect(),
        invitations: v.invitations.values().collect(),
        interactions: v.interactions.values().collect(),
        chats: v.chats.values().flatten().collect(),
        alerts: &v.alerts,
    })?)
}

/// Writes the client's local view as JSON to `*out`: client, profile, orders, products, history
/// (newest first), center, presence, invitations, interactions, chats, alerts.
///
/// Ownership: free `*out` with `fd_string_free`.
///
/// JSON Schema of `*out`: `ffi/schemas/client-view.schema.json`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_view_json(client: *const FdClient, out: *mut *mut c_char) -> FdStatus {
    guard(|| {
        let out = out_ptr(out, "out")?;
        *out = std::ptr::null_mut();
        let s = handle::with_ref::<ClientCore, _>(h(client), |c| view_json(c.client.view()))?;
        *out = into_c_string(s)?;
        Ok(())
    })
}

// ------------------------------------------------------------------ requests

/// Queues a request (sent now or once connected); writes its id to `*id` if `id` is not NULL. The
/// answer arrives as a `completed` event with that id.
unsafe fn request(client: *mut FdClient, id: *mut u64, f: impl FnOnce(&mut Client) -> RequestId) -> Res<()> {
    let rid = with(client, |c| Ok(f(&mut c.client)))?;
    if !id.is_null() {
        *id = rid;
    }
    Ok(())
}

/// Sends any request given as protocol JSON (`{"op":"get_orders"}`); `*id` (if not NULL) gets its id.
///
/// JSON Schema of `json`: `ffi/schemas/client-request.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_request_json(client: *mut FdClient, json: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let req: Request = serde_json::from_str(arg_str(json, "json")?)?;
        request(client, id, |c| c.request(req))
    })
}

/// Reads the own interaction history (answer: `completed` with `{"kind":"history",..}`; the view's
/// `history` is updated too).
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_history(client: *mut FdClient, id: *mut u64) -> FdStatus {
    guard(|| request(client, id, |c| c.get_history(HistoryFilter::default())))
}

/// Reads center status once.
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_center_status(client: *mut FdClient, id: *mut u64) -> FdStatus {
    guard(|| request(client, id, |c| c.get_center_status()))
}

/// Watches a presentity ("center", "queue:ID", "agent:ID", "client:ID"); kept across reconnects.
///
/// # Safety
/// `presentity` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_watch(client: *mut FdClient, presentity: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let p = read::presentity(arg_str(presentity, "presentity")?)?;
        request(client, id, |c| c.watch(p))
    })
}

/// Publishes the own status, as JSON (`{"activity":"online","medium":"chat","note":null}`).
///
/// JSON Schema of `json`: `ffi/schemas/client-status.schema.json`.
///
/// # Safety
/// `json` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_set_status_json(client: *mut FdClient, json: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let status: ClientStatus = serde_json::from_str(arg_str(json, "json")?)?;
        request(client, id, |c| c.set_status(status))
    })
}

/// Accepts (true) or declines an invitation; accepting starts the interaction with the agent.
///
/// # Safety
/// `invitation` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_respond_invitation(client: *mut FdClient, invitation: *const c_char, accept: bool, id: *mut u64) -> FdStatus {
    guard(|| {
        let inv = InvitationId::new(arg_str(invitation, "invitation")?);
        request(client, id, |c| c.respond_invitation(inv, accept))
    })
}

/// Invites an agent to an interaction in a medium (an `FdMedium`).
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_invite_agent(client: *mut FdClient, agent: *const c_char, medium: u32, message: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let agent = AgentId::new(arg_str(agent, "agent")?);
        let medium = types::medium(medium)?;
        let message = arg_str(message, "message")?.to_owned();
        request(client, id, |c| c.invite_agent(agent, medium, message))
    })
}

/// Starts a live interaction in a medium (an `FdMedium`); product, queue and topic may be NULL.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_start_interaction(
    client: *mut FdClient,
    medium: u32,
    product: *const c_char,
    queue: *const c_char,
    topic: *const c_char,
    id: *mut u64,
) -> FdStatus {
    guard(|| {
        let medium = types::medium(medium)?;
        let product = arg_opt_str(product, "product")?.map(Into::into);
        let queue = arg_opt_str(queue, "queue")?.map(Into::into);
        let topic = arg_opt_str(topic, "topic")?.map(str::to_owned);
        request(client, id, |c| c.start_interaction(medium, product, queue, topic))
    })
}

/// Sends a chat message in an own interaction.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_send_chat(client: *mut FdClient, interaction: *const c_char, text: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let text = arg_str(text, "text")?.to_owned();
        request(client, id, |c| c.send_chat(interaction, text))
    })
}

/// Marks the agent's messages in an own interaction read up to `seq` (call it while the chat is on
/// screen); the agent gets `chat_read`. A mark at or below one already made changes nothing.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_mark_read(client: *mut FdClient, interaction: *const c_char, seq: u64, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(client, id, |c| c.mark_read(interaction, seq))
    })
}

/// Tells the agent the customer is typing (`on`) or stopped, in an own connected interaction; call
/// it on every keystroke, a notice goes out at most every couple of seconds. Soft state: dropped
/// while offline, never queued. `*sent` (if not NULL) says whether a notice went out;
/// `FD_ERR_NOT_FOUND` for an interaction that is not connected and the client's. `now_ms` is the
/// host's clock (a network client uses the wall clock). The agent's come as `typing` events.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `sent` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_send_typing(client: *mut FdClient, now_ms: u64, interaction: *const c_char, on: bool, sent: *mut bool) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let went = with(client, |c| {
            let now = time(c, now_ms);
            Ok(c.client.send_typing(now, &interaction, on)?)
        })?;
        if !sent.is_null() {
            *sent = went;
        }
        Ok(())
    })
}

/// Registers this device for pushes while the app has no attached session (backgrounded):
/// `platform` is `"fcm"`, `"apns"`, `"webpush"` or `"webhook"`, `token` the device token the
/// platform gave the app. Registering the same token again replaces it (answer: `{"kind":"done"}`).
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_register_push(client: *mut FdClient, platform: *const c_char, token: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let p = arg_str(platform, "platform")?;
        let platform = frontdesk_core::push::PushPlatform::parse(p)
            .ok_or_else(|| Error::invalid(format!("platform: {p:?} is not fcm, apns, webpush or webhook")))?;
        let token = arg_str(token, "token")?.to_owned();
        request(client, id, |c| c.register_push(platform, token))
    })
}

/// Forgets a device registered with `fd_client_register_push` (answer: `{"kind":"done"}`).
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_unregister_push(client: *mut FdClient, token: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let token = arg_str(token, "token")?.to_owned();
        request(client, id, |c| c.unregister_push(token))
    })
}

/// Reads the own profile (answer: `{"kind":"profile",..}`).
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_profile(client: *mut FdClient, id: *mut u64) -> FdStatus {
    guard(|| request(client, id, |c| c.get_profile()))
}

/// Reads the own orders (answer: `{"kind":"orders",..}`).
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_orders(client: *mut FdClient, id: *mut u64) -> FdStatus {
    guard(|| request(client, id, |c| c.get_orders()))
}

/// Reads the product catalogue (answer: `{"kind":"products",..}`).
///
/// # Safety
/// `id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_products(client: *mut FdClient, id: *mut u64) -> FdStatus {
    guard(|| request(client, id, |c| c.get_products()))
}

/// Writes to the center by email: an email interaction with a subject and a text, answered by mail to
/// the client's email capability and in the app. `product` may be NULL.
///
/// # Safety
/// Strings must be NULL (product only) or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_send_email(client: *mut FdClient, subject: *const c_char, text: *const c_char, product: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let subject = arg_str(subject, "subject")?.to_owned();
        let text = arg_str(text, "text")?.to_owned();
        let product = arg_opt_str(product, "product")?.map(ProductId::new);
        request(client, id, |c| c.send_email(product, subject, text))
    })
}

/// Asks to be called back at `number` (NULL: the profile's phone number), at `at_ms` inside the
/// own agenda (0: as soon as possible, "call me now"); `product` and `topic` may be NULL. The
/// interaction's `callback` field follows the call.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_request_callback(
    client: *mut FdClient,
    number: *const c_char,
    at_ms: u64,
    product: *const c_char,
    topic: *const c_char,
    id: *mut u64,
) -> FdStatus {
    guard(|| {
        let number = arg_opt_str(number, "number")?.map(str::to_owned);
        let product = arg_opt_str(product, "product")?.map(ProductId::new);
        let topic = arg_opt_str(topic, "topic")?.map(str::to_owned);
        request(client, id, |c| c.request_callback(number, (at_ms > 0).then_some(Timestamp(at_ms)), product, topic))
    })
}

/// Reads a page of an interaction's transcript: the newest `limit` messages (0: the broker's page
/// size) numbered below `before` (0: the newest); the view merges pages.
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_get_transcript(client: *mut FdClient, interaction: *const c_char, before: u64, limit: u32, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(client, id, |c| c.get_transcript_page(interaction, (before > 0).then_some(before), (limit > 0).then_some(limit)))
    })
}

/// Sends a call signalling message as JSON (`{"kind":"offer","sdp":..}`, `answer`, `candidate`,
/// `end_of_candidates`, `media`, `hang_up`) to the agent of a connected voice or video interaction;
/// the agent's come as `pushed` events with `"ev":"signal"`.
///
/// JSON Schema of `json`: `ffi/schemas/call-signal.schema.json`.
///
/// # Safety
/// Strings must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_signal_json(client: *mut FdClient, interaction: *const c_char, json: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        let signal: frontdesk_core::call::CallSignal = serde_json::from_str(arg_str(json, "json")?)?;
        request(client, id, |c| c.signal(interaction, signal))
    })
}

/// Reads STUN/TURN servers for a connected call (answer: `{"kind":"ice_servers","value":[..]}`).
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_ice_servers(client: *mut FdClient, interaction: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(client, id, |c| c.ice_servers(interaction))
    })
}

/// Leaves an own interaction (abandons the queue or hangs up).
///
/// # Safety
/// `interaction` must be NULL or NUL-terminated; `id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fd_client_end_interaction(client: *mut FdClient, interaction: *const c_char, id: *mut u64) -> FdStatus {
    guard(|| {
        let interaction = InteractionId::new(arg_str(interaction, "interaction")?);
        request(client, id, |c| c.end_interaction(interaction))
    })
}
