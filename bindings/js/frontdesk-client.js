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
const refusal = (e) => {
  try { return failure(JSON.parse(e)); } catch { return fail('internal', String(e?.message ?? e)); }
};
const progress = (li) => ({ queued: 0, connected: 1, ended: 2 })[li.state] ?? 0;
const defaultFilter = (f) => !f || Object.values(f).every((x) => x == null);
const PRESENTITY = /^(center|(queue|agent|client):.+)$/;

function emptyView() {
  const profile = { demographics: { name: null, languages: [], country: null, birth_year: null }, capabilities: [], agenda: [], interests: { products: [], topics: [] }, revision: 0 };
  return {
    client: null, profile, stored: profile,
    orders: {}, products: [], history: [], center: null, presence: {}, invitations: {}, interactions: {}, chats: {}, delivered: [], read: {}, typing: {}, alerts: [],
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

const KEY = { tuples: ['id'], queues: ['queue', 'medium'], agents: ['id'] };
function applyDelta(o, d) {
  const { base, center: c, ...r } = d, n = { ...o };
  const put = (t, s) => Object.entries(s).every(([k, v]) => {
    if (v?.set) {
      const l = [...t[k]];
      if (!v.set.every((x) => { const i = l.findIndex((y) => KEY[k].every((f) => y[f] === x[f])); return i >= 0 && (l[i] = { ...l[i], ...x }); })) return;
      v = l;
    }
    v === null || k == 'activities' && !v.length ? delete t[k] : t[k] = v;
    return 1;
  });
  return o?.version === base && put(n, r) && (!c || o.center && put(n.center = { ...o.center }, c)) && n;
}

function applyEvent(v, { ev, data }) {
  switch (ev) {
    case 'profile_changed': if (data.revision >= v.stored.revision) v.stored = data; break;
    case 'order_changed': upsertOrder(v, data); break;
    case 'history_changed': upsertRecord(v, data); break;
    case 'alert': v.alerts.push(data); break;
    case 'invitation': v.invitations[data.id] = data; break;
    case 'interaction': v.interactions[data.id] = data; break;
    case 'chat': addChat(v, data); break;
    case 'chat_delivered':
      if (!v.delivered.some(([i, s]) => i === data.interaction && s === data.seq)) v.delivered.push([data.interaction, data.seq]);
      break;
    case 'chat_read': markRead(v, data.interaction, data.seq); break;
  }
}

const markRead = (v, i, s) => { if (s > (v.read[i] ?? 0)) v.read[i] = s; };
const TYPING_TTL = 6000, TYPING_REFRESH = 2000;

function applyResponse(v, req, { kind, value }) {
  switch (kind) {
    case 'profile': if (value.revision >= v.stored.revision) v.stored = value; break;
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
      const old = v.interactions[value.id];
      if (!old || progress(old) <= progress(value)) v.interactions[value.id] = value;
      break;
    }
    case 'chat': addChat(v, value); break;
    case 'transcript': if (req.op === 'get_transcript' || req.op === 'transcript') value.forEach((m) => addChat(v, m)); break;
    case 'live': value.forEach((l) => mergeLive(v, l)); break;
  }
}

function mergeLive(v, { interaction: li, transcript }) {
  markRead(v, li.id, li[v.agent === undefined ? 'agent_read' : 'client_read']);
  const old = v.interactions[li.id];
  if (!old || progress(old) <= progress(li)) v.interactions[li.id] = li;
  transcript.forEach((m) => addChat(v, m));
}

async function failed(r) {
  if (r.ok) return undefined;
  let why = r.statusText;
  try { why = (await r.json()).error ?? why; } catch { /* not JSON: keep the status text */ }
  throw Object.assign(new Error(why), { status: r.status });
}

const endpoints = (server, path) => String(server).split(',').map((s) => `${s.trim().replace(/\/+$/, '')}${path}`).join(',');

class Party {
  constructor(url, token, options, saved) {
    this._listeners = new Map();
    this._promises = new Map();
    this._meta = new Map();
    this._typed = {};
    this._timers = {};
    const instance = options.instance ?? Math.floor(Math.random() * 9e15);
    this._token = String(token);
    this._http = url.split(',')[0].replace(/^ws/, 'http').replace(/\/(client|agent)$/, '');
    this._s = new Session(url, String(token), instance, saved ? JSON.stringify(saved.session) : undefined, (k, a, b) => this._on(k, a, b));
    const purposes = new Map(saved?.purposes ?? []);
    for (const [id, req] of JSON.parse(this._s.pending())) this._meta.set(id, { req, purpose: purposes.get(id) ?? 'app' });
  }

  /** Starts connecting (and reconnecting until `close()`); events go to the listeners added with `on`. */
  start() { this._s.start(); }
  /** Stops: closes the connection, no more reconnects; queued requests stay for `save()`. */
  close() { this._s.close(); }
  /** Releases the wasm session (after `close()`); the object is unusable afterwards. */
  free() { this._s.free(); }
  /** Replaces the credential (after a `rejected` event); call `start()` again. */
  setToken(token) { this._token = String(token); this._s.setToken(this._token); }

  /**
   * Sends a file (a `File` or `Blob`) in an interaction; resolves to the chat message that carries it
   * (`message.attachment` = `{ name, content_type, size }`). Rejects with an `Error` whose `status`
   * is the HTTP status (413 too big, 403 a type not taken, 422 refused by the scanner).
   */
  async attach(interaction, file, name = file.name) {
    const r = await fetch(`${this._http}/attachments/${encodeURIComponent(interaction)}?name=${encodeURIComponent(name || 'file')}`, {
      method: 'POST', headers: { authorization: `Bearer ${this._token}`, 'content-type': file.type || 'application/octet-stream' }, body: file,
    });
    const m = await failed(r) ?? await r.json();
    return m;
  }

  /** Reads the file carried by message `seq` of an interaction, as a `Blob` of its type. */
  async attachment(interaction, seq) {
    const r = await fetch(`${this._http}/attachments/${encodeURIComponent(interaction)}/${seq}`, { headers: { authorization: `Bearer ${this._token}` } });
    return await failed(r) ?? r.blob();
  }
  /** Whether a session with the server is up. */
  get connected() { return this._s.connected; }

  /** Adds a listener for an event type. */
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

  /** Marks the other side's messages read up to `seq` (while the chat is visible); a lower mark changes nothing. */
  markRead(interaction, seq) { return this._call({ op: 'mark_read', interaction, seq }); }

  /** Says this side is typing (`on`) or stopped; call it on every keystroke: a notice goes out at most
   *  every 2 s, never queued while offline. Returns whether one went out; throws `not_found` for an
   *  interaction that is not connected here. The other side's come as `typing` events. */
  sendTyping(interaction, on = true) {
    if (this._view.interactions[interaction]?.state !== 'connected') throw fail('not_found', `no connected interaction ${interaction}`);
    const t = this._typed[interaction], now = Date.now();
    if (t ? t[0] === on && (!on || now < t[1] + TYPING_REFRESH) : !on) return false;
    this._typed[interaction] = [on, now];
    return this._s.sendSoft(JSON.stringify({ t: 'typing', typing: { interaction, on } }));
  }

  _typing(t, out) {
    const v = this._view, i = t.interaction;
    if (!v.interactions[i]) return;
    clearTimeout(this._timers[i]);
    if (t.on) this._timers[i] = setTimeout(() => this._on('typing', JSON.stringify({ interaction: i, on: false })), TYPING_TTL);
    if (!!v.typing[i] === t.on) return;
    t.on ? v.typing[i] = true : delete v.typing[i];
    out.push(['typing', t]);
  }

  /** Sends any protocol request (`{op: "get_profile"}` …); resolves with the answer's value. */
  request(req) {
    if (typeof req?.op !== 'string') throw fail('invalid', 'a request is an object with an `op`');
    return this._call(req);
  }

  _pending() { return [...this._meta].filter(([, m]) => m.purpose === 'app').map(([id, m]) => ({ id, req: m.req })); }

  _saved(extra) {
    const purposes = [...this._meta].filter(([, m]) => m.purpose !== 'app').map(([id, m]) => [id, m.purpose]);
    return JSON.stringify({ session: JSON.parse(this._s.save()), purposes, ...extra });
  }

  _send(req, purpose) {
    let id;
    try { id = this._s.send(JSON.stringify(req)); } catch (e) { throw refusal(e); }
    this._meta.set(id, { req, purpose });
    return id;
  }

  _has(pred) { return [...this._meta.values()].some(pred); }

  _call(req) {
    let id;
    try { id = this._send(req, 'app'); } catch (e) { return Promise.reject(e); }
    const p = new Promise((resolve, reject) => this._promises.set(id, [resolve, reject]));
    this._queued(req);
    this._emit('change');
    return p;
  }

  _queued() {}

  _emit(kind, data) {
    for (const l of [...(this._listeners.get(kind) ?? [])]) {
      try { l(data); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  _on(kind, a, b) {
    const out = [];
    switch (kind) {
      case 'connected': this._connected(a, b, out); out.push(['connected', { resumed: b }]); break;
      case 'disconnected': out.push(['disconnected', { retryAt: a }]); break;
      case 'rejected': out.push(['rejected', failure(JSON.parse(a))]); break;
      case 'answered': this._answered(a, JSON.parse(b), out); break;
      case 'event': {
        const e = JSON.parse(a);
        this._event(e);
        out.push([e.ev, e.data], ['event', e]);
        break;
      }
      case 'error': out.push(['error', failure(JSON.parse(a))]); break;
      case 'typing': this._typing(JSON.parse(a), out); break;
      default: this._other(kind, a, out);
    }
    this._after(out);
    out.push(['change']);
    for (const [k, d] of out) this._emit(k, d);
  }

  _other() {}
  _after() {}

  _answered(id, outcome, out) {
    const m = this._meta.get(id) ?? { req: {}, purpose: 'app' };
    this._meta.delete(id);
    const ok = outcome.ok;
    this._applied(id, m.req, outcome);
    if (m.purpose === 'app') {
      const p = this._promises.get(id);
      this._promises.delete(id);
      if (p) ok ? p[0](ok.value ?? null) : p[1](failure(outcome.err));
      else out.push(['completed', ok ? { id, ok: true, value: ok } : { id, ok: false, error: outcome.err }]);
      return;
    }
    if (!ok) out.push(['error', failure(outcome.err)]);
    if (m.purpose === 'repair' && ok) out.push(['presence', ok.value]);
    this._settled(m, out);
  }

  _settled() {}
}

/** A contact-center client: connects to a frontdesk server, keeps a live view, queues requests offline. */
export class Client extends Party {
  /** A client of the server at `server` (`wss://host[:port]`; `/client` is appended); call `start()`. */
  constructor(server, token, options = {}) {
    const saved = options.saved ? JSON.parse(options.saved) : null;
    super(endpoints(server, '/client'), token, options, saved);
    this._watches = new Set(saved?.watches ?? (options.watchCenter === false ? [] : ['center']));
    this._synced = false;
    this._lastCenter = null;
    this._view = emptyView();
    this._view.delivered = saved?.delivered ?? [];
    this._profile();
  }

  /** The local view: profile, orders, products, history, center status, presence, invitations,
   *  interactions, chats, alerts, and requests still waiting for an answer. A copy: change it freely. */
  view() {
    const { stored, ...v } = this._view;
    return structuredClone({
      ...v, connected: this.connected, orders: Object.values(v.orders), invitations: Object.values(v.invitations),
      interactions: Object.values(v.interactions), pending: this._pending(),
    });
  }

  /** What to keep across a page reload so queued requests survive: pass it back as `options.saved`. */
  save() { return this._saved({ watches: [...this._watches], delivered: this._view.delivered.slice(-500) }); }

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
  /** Reads the live interactions with their transcripts (the view merges them). */
  getLive() { return this._call({ op: 'get_live' }); }
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
  /** Sends a call signalling message (`{kind:'offer',sdp}`, `answer`, `candidate`, `media`,
   *  `hang_up`…) to the agent of a connected call; the agent's arrive as `signal` events. */
  signal(interaction, signal) { return this._call({ op: 'signal', interaction, signal }); }
  /** STUN/TURN servers for a connected call, as `RTCPeerConnection` takes them. */
  iceServers(interaction) { return this._call({ op: 'ice_servers', interaction }); }
  /** Writes to the center by email (answered by mail and here); waits in the backlog when no
   *  agent is live. Resolves with the interaction. */
  sendEmail(subject, text, product) {
    return this._call({ op: 'start_interaction', medium: 'email', product: product ?? null, topic: subject, message: text });
  }
  /** Asks to be called back at `number` (international form; the profile's phone number if
   *  omitted), at `at` (ms since the epoch, inside the own agenda) or as soon as possible ("call
   *  me now"). Resolves with the interaction; its `callback` follows the call. */
  requestCallback({ number, at, product, topic } = {}) {
    return this._call({ op: 'request_callback', number: number ?? null, at: at ?? null, product: product ?? null, topic: topic ?? null });
  }
  /** Sends a chat message in an own interaction; resolves with the message as stored. */
  sendChat(interaction, text) { return this._call({ op: 'send_chat', interaction, text }); }
  /** Registers this device's push token (`fcm`, `apns`, `webpush`, `webhook`): pushed while no session is attached. */
  registerPush(platform, token) { return this._call({ op: 'register_push', platform, token }); }
  /** Forgets a push token. */
  unregisterPush(token) { return this._call({ op: 'unregister_push', token }); }
  /** Reads a page of an interaction's transcript: the newest `limit` messages numbered below
   *  `before` (omit both for the newest); the view merges pages. */
  getTranscript(interaction, { before, limit } = {}) { return this._call({ op: 'get_transcript', interaction, before, limit }); }
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

  _queued(req) {
    if (req.op === 'update_profile') this._profile();
    if (req.op === 'watch') this._watches.add(req.presentity);
    if (req.op === 'unwatch') { this._watches.delete(req.presentity); delete this._view.presence[req.presentity]; }
  }

  _profile() {
    const v = this._view;
    v.profile = structuredClone(v.stored);
    for (const [, m] of [...this._meta].sort((a, b) => a[0] - b[0])) if (m.req.op === 'update_profile') patchProfile(v.profile, m.req.patch);
  }

  _connected(client, resumed) {
    this._view.client = client;
    if (!resumed) {
      for (const d of Object.values(this._view.presence)) d.version = 0;
      for (const p of this._watches) {
        if (!this._has((m) => m.req.op === 'watch' && m.req.presentity === p)) this._send({ op: 'watch', presentity: p }, 'rewatch');
      }
    }
    if (!this._synced && !this._has((m) => m.purpose === 'sync')) {
      for (const op of ['get_profile', 'get_orders', 'get_products', 'get_live']) this._send({ op }, 'sync');
    }
  }

  _event(e) {
    applyEvent(this._view, e);
    if (e.ev === 'profile_changed') this._profile();
  }

  _other(kind, a, out) {
    const v = this._view;
    if (kind === 'status') {
      const d = JSON.parse(a);
      if (applyPresence(v, d, false)) out.push(['presence', d]);
    } else if (kind === 'delta') {
      const d = JSON.parse(a), p = d.entity, o = v.presence[p], n = applyDelta(o, d);
      if (!this._watches.has(p) || !n && o?.version >= d.version) return;
      if (n) applyPresence(v, n, true), out.push(['presence', n]);
      else if (!this._has((m) => m.req.op === 'watch' && m.req.presentity === p)) this._send({ op: 'watch', presentity: p }, 'repair');
    } else if (kind === 'watch_ended') {
      const p = JSON.parse(a);
      this._watches.delete(p);
      delete v.presence[p];
      out.push(['watch_ended', p]);
    }
  }

  _after(out) {
    const v = this._view;
    const center = v.center && JSON.stringify(v.center);
    if (center && center !== this._lastCenter) {
      this._lastCenter = center;
      out.push(['status', structuredClone(v.center)]);
    }
  }

  _applied(id, req, { ok }) {
    if (ok) applyResponse(this._view, req, ok);
    else if (req.op === 'watch') this._watches.delete(req.presentity);
    if (req.op === 'update_profile' || ok?.kind === 'profile') this._profile();
  }

  _settled(m, out) {
    if (!this._synced && !this._has((x) => x.purpose === 'sync')) {
      this._synced = true;
      out.push(['synced']);
    }
  }
}

function emptySeat() {
  return { agent: null, name: null, state: null, center: null, offers: {}, interactions: {}, chats: {}, delivered: [], read: {}, typing: {}, invitations: {}, profiles: {}, mailFailed: [] };
}

/** An agent's console: the same reliable session as a client (`/agent` is appended to `server`), a
 *  Promise API for the agent requests, and a live view of the seat (offers, interactions with their
 *  transcripts, invitations, the served clients' profiles). It logs in on every connection and reads
 *  the seat, so a reload or a reconnect continues where it stopped. */
export class Agent extends Party {
  /** An agent console for `token`; `options`: `name`, `skills`, `media` (to log in with), `saved`, `instance`. */
  constructor(server, token, options = {}) {
    const saved = options.saved ? JSON.parse(options.saved) : null;
    super(endpoints(server, '/agent'), token, options, saved);
    this._login = saved ? saved.login : { name: options.name || 'Agent', skills: options.skills ?? [], media: options.media ?? MEDIA };
    this._held = (saved?.held ?? []).map((req) => ({ req }));
    this._view = emptySeat();
    this._view.delivered = saved?.delivered ?? [];
  }

  _call(req) {
    if (this.connected) return super._call(req);
    try { this._s.checkRequest(JSON.stringify(req)); } catch (e) { return Promise.reject(refusal(e)); }
    const p = new Promise((resolve, reject) => this._held.push({ req, resolve, reject }));
    this._emit('change');
    return p;
  }

  /** The seat as this console knows it. A copy. */
  view() {
    const v = this._view;
    const pending = [...this._pending(), ...this._held.map(({ req }) => ({ id: null, req }))];
    return structuredClone({ ...v, connected: this.connected, offers: Object.values(v.offers), interactions: Object.values(v.interactions), invitations: Object.values(v.invitations), pending });
  }

  /** What to keep across a page reload: pass it back as `options.saved`. */
  save() { return this._saved({ login: this._login, held: this._held.map((h) => h.req), delivered: this._view.delivered.slice(-500) }); }

  /** Takes the seat (done by itself on every connection while logged in); resolves with the seat. */
  logIn(name, skills, media) {
    this._login = { name: name ?? this._login?.name ?? 'Agent', skills: skills ?? this._login?.skills ?? [], media: media ?? this._login?.media ?? MEDIA };
    return this._call({ op: 'log_in', ...this._login });
  }
  /** Leaves the seat; the console stays connected but no longer logs in by itself. */
  logOut() { this._login = null; return this._call({ op: 'log_out' }); }
  /** Reads the seat: state, offer, live interactions with transcripts, pending invitations. */
  getSeat() { return this._call({ op: 'get_seat' }); }
  /** Changes state (`available`, `busy`, `away`, `after_work`). */
  setState(state) { return this._call({ op: 'set_state', state }); }
  /** Sets the phone (a SIP URI) the center's dialer rings for the callbacks this agent takes; null for none. */
  setPhone(phone) { return this._call({ op: 'set_phone', phone: phone || null }); }
  /** Invites a client in a medium. */
  invite(client, medium, message = '') { return this._call({ op: 'invite', client, medium, message }); }
  /** Answers a client's invitation. */
  respondInvitation(invitation, accept) { return this._call({ op: 'respond_invitation', invitation, accept: !!accept }); }
  /** Accepts an offered interaction. */
  accept(interaction) { return this._call({ op: 'accept', interaction }); }
  /** Declines an offered interaction. */
  decline(interaction) { return this._call({ op: 'decline', interaction }); }
  /** Sends a chat message. */
  sendChat(interaction, text) { return this._call({ op: 'send_chat', interaction, text }); }
  /** Ends an interaction. */
  end(interaction) { return this._call({ op: 'end', interaction }); }
  /** Reads a served client's profile (the view keeps it under `profiles`). */
  clientProfile(client) { return this._call({ op: 'client_profile', client }); }
  /** Reads a served client's history. */
  clientHistory(client, filter = {}) { return this._call({ op: 'client_history', client, filter }); }
  /** A served client's orders, newest first. */
  clientOrders(client) { return this._call({ op: 'client_orders', client }); }
  /** Adds a note to a past interaction the agent handled. */
  addNote(interaction, text) { return this._call({ op: 'add_note', interaction, text }); }
  /** Reads center status. */
  centerStatus() { return this._call({ op: 'center_status' }); }
  /** Sends a call signalling message to the client of a connected call (as `Client.signal`). */
  signal(interaction, signal) { return this._call({ op: 'signal', interaction, signal }); }
  /** STUN/TURN servers for a connected call. */
  iceServers(interaction) { return this._call({ op: 'ice_servers', interaction }); }
  /** Reads a page of an interaction's transcript (as `Client.getTranscript`). */
  transcript(interaction, { before, limit } = {}) { return this._call({ op: 'transcript', interaction, before, limit }); }

  _connected(agent) {
    this._view.agent = agent;
    if (!this._has((m) => m.purpose === 'seat')) {
      if (this._login) this._send({ op: 'log_in', ...this._login }, 'seat');
      this._send({ op: 'get_seat' }, 'seat');
    }
    for (const h of this._held.splice(0)) {
      if (h.resolve) super._call(h.req).then(h.resolve, h.reject);
      else try { this._send(h.req, 'app'); } catch { /* too large: dropped */ }
    }
  }

  _profiles() {
    const v = this._view;
    for (const li of Object.values(v.interactions)) {
      if (li.state !== 'ended' && !(li.client in v.profiles) && !this._has((m) => m.req.op === 'client_profile' && m.req.client === li.client)) {
        v.profiles[li.client] = null;
        try { this._send({ op: 'client_profile', client: li.client }, 'profile'); } catch { /* cannot be too large */ }
      }
    }
  }

  _live(li) {
    const v = this._view;
    const old = v.interactions[li.id];
    if (!old || progress(old) <= progress(li)) v.interactions[li.id] = li;
    delete v.offers[li.id];
    this._profiles();
  }

  _event({ ev, data }) {
    const v = this._view;
    switch (ev) {
      case 'offered': v.offers[data.id] = data; break;
      case 'offer_withdrawn': delete v.offers[data]; break;
      case 'connected': case 'ended': this._live(data); break;
      case 'invitation_received': case 'invitation_updated': v.invitations[data.id] = data; break;
      case 'chat': addChat(v, data); break;
      case 'chat_delivered':
        if (!v.delivered.some(([i, s]) => i === data.interaction && s === data.seq)) v.delivered.push([data.interaction, data.seq]);
        break;
      case 'chat_read': markRead(v, data.interaction, data.seq); break;
      case 'mail_failed':
        if (!v.mailFailed.some((f) => f.interaction === data.interaction && f.seq === data.seq)) v.mailFailed.push(data);
        break;
    }
  }

  _applied(id, req, { ok, err }) {
    const v = this._view;
    if (!ok) {
      if (req.op === 'client_profile') delete v.profiles[req.client];
      return;
    }
    const { kind, value } = ok;
    switch (kind) {
      case 'seat': {
        Object.assign(v, { agent: value.agent, name: value.name, state: value.state });
        v.offers = value.offer ? { [value.offer.id]: value.offer } : {};
        const live = new Set(value.live.map((l) => l.interaction.id));
        for (const li of Object.values(v.interactions)) if (li.state !== 'ended' && !live.has(li.id)) v.interactions[li.id] = { ...li, state: 'ended' };
        value.live.forEach((l) => mergeLive(v, l));
        value.invitations.forEach((i) => { v.invitations[i.id] = i; });
        this._profiles();
        break;
      }
      case 'interaction': this._live(value); break;
      case 'chat': addChat(v, value); break;
      case 'invitation': v.invitations[value.id] = value; break;
      case 'profile': if (req.op === 'client_profile') v.profiles[req.client] = value; break;
      case 'center_status': v.center = value; break;
      case 'transcript': value.forEach((m) => addChat(v, m)); break;
      case 'done': if (req.op === 'set_state') v.state = req.state; break;
    }
  }
}
