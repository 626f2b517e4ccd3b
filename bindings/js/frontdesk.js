// frontdesk.js — the browser client: a Promise-based Client with a live local view.
// The reliable part (session, resume, the request queue that survives disconnects and reloads, events
// once and in order, acks, resends, keep-alive, backoff) is the core's Rust session compiled to wasm
// (frontdesk_wasm.js). Bodies reach this file as JSON text, read by the browser's own JSON.parse, so the
// module carries no per-type decoding code; this file keeps the view as the native client's ClientView
// does (core/src/client.rs — keep the two in step).
import initWasm, { Session } from './frontdesk_wasm.js';

let ready;
/** Loads the wasm engine once (by default from beside this file); await it before `new Client`. */
export default function init(wasm) {
  return (ready ??= initWasm({ module_or_path: wasm ?? new URL('frontdesk_wasm_bg.wasm', import.meta.url) }));
}

/** The media a client may choose. */
export const MEDIA = ['chat', 'voice', 'video', 'callback', 'email'];
const fail = (code, message) => Object.assign(new Error(message), { code });
const failure = (e) => fail(e.code, e.message);
const progress = (li) => ({ queued: 0, connected: 1, ended: 2 })[li.state] ?? 0;
const defaultFilter = (f) => !f || Object.values(f).every((x) => x == null);
const PRESENTITY = /^(center|(queue|agent|client):.+)$/;

function emptyView() {
  return {
    client: null,
    profile: { demographics: { name: null, languages: [], country: null, birth_year: null }, capabilities: [], agenda: [], interests: { products: [], topics: [] }, revision: 0 },
    orders: {}, products: [], history: [], center: null, presence: {}, invitations: {}, interactions: {}, chats: {}, delivered: [], alerts: [],
  };
}

function patchProfile(p, patch) {
  for (const k of ['demographics', 'capabilities', 'agenda', 'interests']) if (patch?.[k] != null) p[k] = structuredClone(patch[k]);
}

function upsertRecord(v, r) {
  v.history = v.history.filter((x) => x.id !== r.id);
  const at = v.history.findIndex((x) => x.started_at <= r.started_at);
  v.history.splice(at < 0 ? v.history.length : at, 0, r);
}

function upsertOrder(v, o) {
  const old = v.orders[o.id];
  if (!old || old.revision <= o.revision) v.orders[o.id] = o;
}

function addChat(v, m) {
  const list = (v.chats[m.interaction] ??= []);
  if (list.some((x) => x.seq === m.seq)) return;
  const at = list.findIndex((x) => x.seq > m.seq);
  list.splice(at < 0 ? list.length : at, 0, m);
}

function applyPresence(v, d, force) {
  const old = v.presence[d.entity];
  if (!force && old && old.version > d.version) return false;
  if (d.entity === 'center' && d.center) v.center = d.center;
  v.presence[d.entity] = d;
  return true;
}

function applyEvent(v, { ev, data }) {
  switch (ev) {
    case 'profile_changed': if (data.revision >= v.profile.revision) v.profile = data; break;
    case 'order_changed': upsertOrder(v, data); break;
    case 'history_changed': upsertRecord(v, data); break;
    case 'alert': v.alerts.push(data); break;
    case 'invitation': v.invitations[data.id] = data; break;
    case 'interaction': v.interactions[data.id] = data; break;
    case 'chat': addChat(v, data); break;
    case 'chat_delivered':
      if (!v.delivered.some(([i, s]) => i === data.interaction && s === data.seq)) v.delivered.push([data.interaction, data.seq]);
      break;
  }
}

function applyResponse(v, req, { kind, value }) {
  switch (kind) {
    // Answers can overtake each other on a reordering transport; the newer revision wins.
    case 'profile': if (value.revision >= v.profile.revision) v.profile = value; break;
    case 'history':
      if (req.op === 'get_history' && defaultFilter(req.filter)) v.history = value;
      else value.forEach((r) => upsertRecord(v, r));
      break;
    case 'record': upsertRecord(v, value); break;
    case 'products': v.products = value; break;
    case 'orders': v.orders = Object.fromEntries(value.map((o) => [o.id, o])); break;
    case 'order': upsertOrder(v, value); break;
    case 'center_status': v.center = value; break;
    case 'presence': applyPresence(v, value, true); break;
    case 'invitation': v.invitations[value.id] = value; break;
    case 'interaction': {
      // A queued-position answer may arrive after a newer pushed state; keep the further one.
      const old = v.interactions[value.id];
      if (!old || progress(old) <= progress(value)) v.interactions[value.id] = value;
      break;
    }
    case 'chat': addChat(v, value); break;
    case 'transcript': if (req.op === 'get_transcript') v.chats[req.interaction] = value; break;
  }
}

/** A contact-center client: connects to a frontdesk server, keeps a live view, queues requests offline. */
export class Client {
  /** A client of the server at `server` (`wss://host[:port]`; `/client` is appended); call `start()`. */
  constructor(server, token, options = {}) {
    const saved = options.saved ? JSON.parse(options.saved) : null;
    this._listeners = new Map();
    this._promises = new Map();
    this._meta = new Map();
    this._watches = new Set(saved?.watches ?? (options.watchCenter === false ? [] : ['center']));
    this._synced = false;
    this._lastCenter = null;
    this._view = emptyView();
    // Math.random is enough: the instance only has to differ between installations of one client.
    const instance = options.instance ?? Math.floor(Math.random() * 9e15);
    this._s = new Session(`${String(server).replace(/\/+$/, '')}/client`, String(token), instance, saved ? JSON.stringify(saved.session) : undefined, (k, a, b) => this._on(k, a, b));
    const purposes = new Map(saved?.purposes ?? []);
    for (const [id, req] of JSON.parse(this._s.pending())) {
      this._meta.set(id, { req, purpose: purposes.get(id) ?? 'app' });
      if (req.op === 'update_profile') patchProfile(this._view.profile, req.patch);
    }
  }

  /** Starts connecting (and reconnecting until `close()`); events go to the listeners added with `on`. */
  start() { this._s.start(); }
  /** Stops: closes the connection, no more reconnects; queued requests stay for `save()`. */
  close() { this._s.close(); }
  /** Releases the wasm session (after `close()`); the object is unusable afterwards. */
  free() { this._s.free(); }
  /** Replaces the credential (after a `rejected` event); call `start()` again. */
  setToken(token) { this._s.setToken(String(token)); }
  /** Whether a session with the server is up. */
  get connected() { return this._s.connected; }

  /** Adds a listener for an event type (`connected`, `disconnected`, `rejected`, `synced`, `status`,
   *  `presence`, `event`, `chat`, `invitation`, `interaction`, `alert`, `profile_changed`,
   *  `order_changed`, `history_changed`, `chat_delivered`, `watch_ended`, `completed`, `error`, `change`). */
  on(kind, listener) {
    if (!this._listeners.has(kind)) this._listeners.set(kind, []);
    this._listeners.get(kind).push(listener);
  }

  /** Removes a listener added with `on`. */
  off(kind, listener) {
    const l = this._listeners.get(kind);
    const i = l ? l.indexOf(listener) : -1;
    if (i >= 0) l.splice(i, 1);
  }

  /** The local view: profile, orders, products, history, center status, presence, invitations,
   *  interactions, chats, alerts, and requests still waiting for an answer. A copy: change it freely. */
  view() {
    const v = this._view;
    const pending = [...this._meta].filter(([, m]) => m.purpose === 'app').map(([id, m]) => ({ id, req: m.req }));
    return structuredClone({
      ...v, connected: this.connected, orders: Object.values(v.orders), invitations: Object.values(v.invitations),
      interactions: Object.values(v.interactions), pending,
    });
  }

  /** What to keep across a page reload so queued requests survive: pass it back as `options.saved`. */
  save() {
    const purposes = [...this._meta].filter(([, m]) => m.purpose !== 'app').map(([id, m]) => [id, m.purpose]);
    return JSON.stringify({ session: JSON.parse(this._s.save()), watches: [...this._watches], purposes });
  }

  /** Sends any protocol request (`{op: "get_profile"}` …); resolves with the answer's value. */
  request(req) {
    if (typeof req?.op !== 'string') throw fail('invalid', 'a request is an object with an `op`');
    return this._call(req);
  }

  /** Reads the own profile. */
  getProfile() { return this._call({ op: 'get_profile' }); }
  /** Edits the own profile (the view shows the edit at once); resolves with the stored profile. */
  updateProfile(patch) { return this._call({ op: 'update_profile', patch }); }
  /** Reads the own interaction history, optionally filtered by product and agent. */
  getHistory(filter = {}) { return this._call({ op: 'get_history', filter }); }
  /** Adds a note to one of the own past interactions. */
  addNote(interaction, text) { return this._call({ op: 'add_note', interaction, text }); }
  /** Reads the product catalogue. */
  getProducts() { return this._call({ op: 'get_products' }); }
  /** Reads the own orders. */
  getOrders() { return this._call({ op: 'get_orders' }); }
  /** Changes delivery details of an own order that has not shipped. */
  updateDelivery(order, delivery) { return this._call({ op: 'update_delivery', order, delivery }); }
  /** Reads center status once (it is also pushed live as `status` events). */
  getCenterStatus() { return this._call({ op: 'get_center_status' }); }
  /** Watches a presentity (`center`, `queue:<id>`, `agent:<id>`); kept across reconnects. */
  watch(presentity) { return this._call({ op: 'watch', presentity: this._presentity(presentity) }); }
  /** Stops watching a presentity. */
  unwatch(presentity) { return this._call({ op: 'unwatch', presentity: this._presentity(presentity) }); }
  /** Publishes the own status (`{activity, medium?, note?}`) to the center. */
  setStatus(status) { return this._call({ op: 'set_status', status }); }
  /** Subscribes to a status alert; resolves with its id. */
  subscribeAlert(rule) { return this._call({ op: 'subscribe_alert', rule }); }
  /** Cancels a status alert. */
  unsubscribeAlert(alert) { return this._call({ op: 'unsubscribe_alert', alert }); }
  /** Accepts or declines an invitation; an accepted one resolves with its interaction set. */
  respondInvitation(invitation, accept) { return this._call({ op: 'respond_invitation', invitation, accept: !!accept }); }
  /** Invites an agent to an interaction in a medium. */
  inviteAgent(agent, medium, message = '') { return this._call({ op: 'invite_agent', agent, medium: this._medium(medium), message }); }
  /** Starts a live interaction in the chosen medium; resolves with it (queued or connected). */
  startInteraction(medium, product, topic) {
    return this._call({ op: 'start_interaction', medium: this._medium(medium), product: product ?? null, topic: topic ?? null });
  }
  /** Sends a chat message in an own interaction; resolves with the message as stored. */
  sendChat(interaction, text) { return this._call({ op: 'send_chat', interaction, text }); }
  /** Reads an interaction's transcript. */
  getTranscript(interaction) { return this._call({ op: 'get_transcript', interaction }); }
  /** Leaves an interaction (abandons the queue or hangs up). */
  endInteraction(interaction) { return this._call({ op: 'end_interaction', interaction }); }

  _medium(m) {
    if (!MEDIA.includes(m)) throw fail('invalid', `unknown medium ${JSON.stringify(m)}`);
    return m;
  }

  _presentity(p) {
    if (!PRESENTITY.test(p)) throw fail('invalid', `not a presentity: ${JSON.stringify(p)}`);
    return p;
  }

  _send(req, purpose) {
    const id = this._s.send(JSON.stringify(req));
    this._meta.set(id, { req, purpose });
    return id;
  }

  // Queues an app request and returns a Promise settled when its answer arrives (after any reconnects).
  _call(req) {
    if (req.op === 'update_profile') patchProfile(this._view.profile, req.patch);
    if (req.op === 'watch') this._watches.add(req.presentity);
    if (req.op === 'unwatch') { this._watches.delete(req.presentity); delete this._view.presence[req.presentity]; }
    const id = this._send(req, 'app');
    const p = new Promise((resolve, reject) => this._promises.set(id, [resolve, reject]));
    this._emit('change');
    return p;
  }

  _emit(kind, data) {
    // Copy first: a listener may add or remove listeners.
    for (const l of [...(this._listeners.get(kind) ?? [])]) {
      try { l(data); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  // The broker applies requests in id order: only later edits are still ahead of it.
  _reapply(after) {
    for (const [id, m] of [...this._meta].sort((a, b) => a[0] - b[0])) {
      if (id > after && m.req.op === 'update_profile') patchProfile(this._view.profile, m.req.patch);
    }
  }

  _on(kind, a, b) {
    const v = this._view;
    const out = [];
    switch (kind) {
      case 'connected':
        v.client = a;
        if (!b) {
          // A new session: its presence versions are its own, and its watches must be made again.
          for (const d of Object.values(v.presence)) d.version = 0;
          for (const p of this._watches) {
            if (![...this._meta.values()].some((m) => m.req.op === 'watch' && m.req.presentity === p)) this._send({ op: 'watch', presentity: p }, 'rewatch');
          }
        }
        // Also on a resumed session: a client restored from a saved state has an empty view.
        if (!this._synced && ![...this._meta.values()].some((m) => m.purpose === 'sync')) {
          for (const op of ['get_profile', 'get_orders', 'get_products']) this._send({ op }, 'sync');
        }
        out.push(['connected', { resumed: b }]);
        break;
      case 'disconnected': out.push(['disconnected', { retryAt: a }]); break;
      case 'rejected': out.push(['rejected', failure(JSON.parse(a))]); break;
      case 'answered': this._answered(a, JSON.parse(b), out); break;
      case 'event': {
        const e = JSON.parse(a);
        applyEvent(v, e);
        if (e.ev === 'profile_changed') this._reapply(0);
        // Under its own name (`chat`, `invitation`, `profile_changed`…) for listeners of one kind, and as `event`.
        out.push([e.ev, e.data], ['event', e]);
        break;
      }
      case 'status': {
        const d = JSON.parse(a);
        if (applyPresence(v, d, false)) out.push(['presence', d]);
        break;
      }
      case 'watch_ended': {
        const p = JSON.parse(a);
        this._watches.delete(p);
        delete v.presence[p];
        out.push(['watch_ended', p]);
        break;
      }
      case 'error': out.push(['error', failure(JSON.parse(a))]); break;
    }
    // Center status reaches the view by pushes and by (re)watch answers: compare, so `status` fires for the first too.
    const center = v.center && JSON.stringify(v.center);
    if (center && center !== this._lastCenter) {
      this._lastCenter = center;
      out.push(['status', structuredClone(v.center)]);
    }
    out.push(['change']);
    for (const [k, d] of out) this._emit(k, d);
  }

  _answered(id, outcome, out) {
    const m = this._meta.get(id) ?? { req: {}, purpose: 'app' };
    this._meta.delete(id);
    const ok = outcome.ok;
    if (ok) {
      applyResponse(this._view, m.req, ok);
      if (ok.kind === 'profile') this._reapply(id);
    } else if (m.req.op === 'watch') {
      this._watches.delete(m.req.presentity);
    }
    if (m.purpose === 'app') {
      const p = this._promises.get(id);
      this._promises.delete(id);
      // The answer's value without its `kind` tag: the method already says what it returns.
      if (p) ok ? p[0](ok.value ?? null) : p[1](failure(outcome.err));
      // A request restored from a saved state: its Promise died with the old page.
      else out.push(['completed', ok ? { id, ok: true, value: ok } : { id, ok: false, error: outcome.err }]);
      return;
    }
    if (!ok) out.push(['error', failure(outcome.err)]);
    if (!this._synced && ![...this._meta.values()].some((x) => x.purpose === 'sync')) {
      this._synced = true;
      out.push(['synced']);
    }
  }
}
