// <frontdesk-widget token="…">, a contact-center widget for any page; closed, a launcher button that keeps the
// visitor's live session (the client, frontdesk-client.js and its wasm engine, loaded from beside this file) once
// the visitor has one, for the unread badge, the notifications and the status beside it. The panel
// (frontdesk-widget-panel.js) loads on open, the calls (frontdesk-call.js) when one starts and a language's
// strings (frontdesk-widget-LANG.js) when shown in it. Attributes, strings, events: docs/web.md.
const base = new URL('.', import.meta.url);
let engine, calls;
// The client, its glue and the engine are fetched side by side, not one after the other (the first status
// waits for all three).
const load = () => (engine ??= (() => {
  const wasm = fetch(new URL('frontdesk_wasm_bg.wasm', import.meta.url));
  import('./frontdesk_wasm.js').catch(() => {});
  return import('./frontdesk-client.js').then(async (m) => { await m.default(wasm); return m; });
})());
// The panel's code, which a closed launcher does not need; it adds its methods to the element's class.
let panel;
const loadPanel = () => (panel ??= import('./frontdesk-widget-panel.js').then((m) => m.install(FrontdeskWidget, { esc, secs, store })));
// Languages with a file beside this one; Arabic is laid out right to left.
const FILES = ['fr', 'de', 'es', 'ar'], RTL = ['ar'];
const got = {};
const strings = (l) => FILES.includes(l) && (got[l] ??= import(`./frontdesk-widget-${l}.js`).then((m) => { T[l] = { ...m.default, ...T[l] }; }, () => {}));

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// A wait in the widget's language ("3 min", "3 Min.", "٣ دقائق"), by the browser's own unit names.
const secs = (s, lang) => {
  if (s == null) return '—';
  const [n, unit] = s < 90 ? [Math.round(s), 'second'] : [Math.round(s / 60), 'minute'];
  try { return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'short' }).format(n); } catch { return `${n} ${unit === 'second' ? 's' : 'min'}`; }
};
const store = (s, k, v) => { try { return v === undefined ? s.getItem(k) : v === null ? s.removeItem(k) : s.setItem(k, v); } catch { return null; } };


// Every string the widget shows, by language ({x} filled in; by plural [one, other] or Intl.PluralRules'
// categories {zero, one, two, few, many, other}); French, German, Spanish and Arabic load from their files
// when used, and a page adds or overrides languages in window.frontdeskStrings before this script.
const T = {
  en: {
    title: 'Customer service', open: 'Chat with us', unread: ['{n} new message', '{n} new messages'], min: 'Minimize',
    connecting: 'Connecting…', online: 'Online', reconnecting: 'Reconnecting…', notoken: 'No token', rejected: 'Not connected: {m}',
    status: 'Center status', avail: ['agent available', 'agents available'], waiting: 'waiting', hold: 'est. hold', offered: 'Media offered', off: '(off)',
    m_chat: 'chat', m_voice: 'voice', m_video: 'video', m_callback: 'callback', m_email: 'email',
    a_chat: 'a chat', a_voice: 'a voice call', a_video: 'a video call', a_callback: 'a callback', a_email: 'an email',
    invs: 'Invitations', invites: '{a} invites you to {m}: “{t}”', accept: 'Accept', decline: 'Decline', invitation: 'Invitation from {a}',
    talk: 'Talk to us', medium: 'Medium', product: 'Product', anyprod: 'Any product', topic: 'Topic', about: 'What is it about?', subject: 'Subject',
    start: 'Start', callme: 'Call me', sendmail: 'Send email', phone: 'Your phone number', when: 'When to call you', asap: 'As soon as possible',
    email: 'Your email address', yourmsg: 'Your message', deflt: 'Message from the website',
    closed: 'We are closed now.', closeduntil: 'We are closed now and open again {u}.', nobody: 'Nobody is available right now.', writeus: 'Write to us by email and we will answer.',
    needphone: 'Enter your phone number, with its country code (+44…)', needmail: 'Enter your email address', needtext: 'Write your message',
    queued: 'You are number {p} in line for {m} (about {w}).', conn: 'Connected with {a} by {m}.', anagent: 'an agent', theagent: 'the agent',
    mailwith: 'Your email “{t}” is with us. We answer here and by mail to {to}.', mailon: 'Your email “{t}” is with us — {a} is on it. We answer here and by mail to {to}.',
    transcript: 'Chat transcript', message: 'Message', type: 'Type a message', send: 'Send', end: 'End', earlier: 'Earlier messages', delivered: 'delivered', sending: 'sending…', typing: '{a} is typing…', read: 'Read',
    notify: 'Notify me of new messages', newfrom: 'New message from {a}',
    ended: 'Your {m} with {a} has ended.', download: 'Download transcript', close: 'Close', you: 'You',
    rate: 'How did we do?', stars: ['{n} star', '{n} stars'], comment: 'Anything to add? (optional)', sendrate: 'Send rating', thanks: 'Thank you for your rating.',
    busy: 'The line was busy', no_answer: 'Nobody answered', unreachable: 'We could not get through', interrupted: 'We were interrupted', notthrough: 'The call did not go through',
    cb_retry: '{r}; we will try again at {at} on {n}.', cb_agent: 'An agent is taking your call; we will ring {n} in a moment.', cb_calling: 'Calling you now on {n}…',
    cb_on: 'On the phone with {a}.', cb_at: 'We will call you on {n} at {at}.', cb_queued: 'You are number {p} in line; we will call you on {n} (about {w}).',
    cb_conn: 'Connected with {a}; we will call you on {n}.', cb_cancel: 'Cancel the callback',
    camoff: 'Camera off', camon: 'Camera on', mute: 'Mute', unmute: 'Unmute', hang: 'Hang up', mic: 'Microphone', cam: 'Camera', duration: 'Call duration',
    ringing: 'Ringing… waiting for an agent', k_new: 'Starting the call…', k_media: 'Allow the microphone to talk to {a}…', k_mediav: 'Allow the microphone and camera to talk to {a}…',
    k_connecting: 'Connecting to {a}…', k_connected: 'On a call with {a}', k_reconnecting: 'Connection lost, reconnecting…', k_muted: '{a} muted',
    k_refused: 'The call ended: {a}’s microphone or camera did not start.', k_failed: 'The call was lost: the connection failed.', k_ended: 'Call ended.', k_endedby: 'Call ended by {a}.',
    k_dev: 'Your microphone or camera could not be used ({w}). Allow it in the browser and try again.', denied: 'permission refused',
    profile: 'Your profile', name: 'Name', country: 'Country', langs: 'Languages', interested: 'Interested in', topics: 'Topics', agenda: 'When we may contact you',
    addwin: 'Add a time window', saveprof: 'Save profile', days: 'Days', from: 'From', to: 'To', tz: 'Time zone', remove: 'Remove', needday: 'Pick at least one day for each time window',
    saving: 'Saving…', saved: 'Saved', history: 'History', byprod: 'Filter by product', allprod: 'All products', byagent: 'Filter by agent', allagents: 'All agents', nothing: 'Nothing yet',
    orders: 'Orders', noorders: 'No orders', chdel: 'Change delivery', address: 'Delivery address', dwindow: 'Delivery window', instr: 'Instructions for the courier', savedel: 'Save delivery', cancel: 'Cancel',
    birth: 'Year of birth', pasttr: 'Transcript', reach: 'How we may reach you', file: 'Send a file',
    xfer: 'You are being passed to a colleague, who will see this conversation. You are number {p} in line (about {w}).',
    alerts: 'Alerts', tellme: 'Tell me when an agent is free', willtell: 'We will tell you',
  },
  ...globalThis.frontdeskStrings,
};

// The launcher's styles and the panel's frame; the panel brings the rest (frontdesk-widget-panel.js).
const CSS = `
:host{--fd-bg:#fff;--fd-fg:#1b1f24;--fd-muted:#57606a;--fd-accent:#0b5cad;--fd-accent-fg:#fff;--fd-border:#d0d7de;
--fd-ok:#1a7f37;--fd-warn:#9a6700;--fd-bad:#cf222e;--fd-msg:#eef1f4;--fd-radius:10px;--fd-font:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
display:block;max-width:420px;font:14px/1.45 var(--fd-font);color:var(--fd-fg)}
@media (prefers-color-scheme:dark){:host(:not([theme=light])){--fd-bg:#0d1117;--fd-fg:#e6edf3;--fd-muted:#9198a1;--fd-accent:#4493f8;--fd-accent-fg:#0d1117;--fd-border:#3d444d;
--fd-ok:#3fb950;--fd-warn:#d29922;--fd-bad:#f85149;--fd-msg:#262c36}}
:host(:not([mode=inline])){position:fixed;inset-inline-end:16px;bottom:16px;z-index:2147483000}
:host(:not([mode=inline])) .w{position:absolute;inset-inline-end:0;bottom:68px;width:min(400px,calc(100vw - 32px));max-height:calc(100vh - 100px);overflow:auto;box-shadow:0 8px 28px #0004}
*{box-sizing:border-box}
[hidden]{display:none!important}
#fab{width:56px;height:56px;border-radius:50%;padding:0;display:grid;place-items:center;position:relative;box-shadow:0 4px 14px #0005}
#fab svg{width:28px;height:28px;fill:currentColor}
.pill{position:absolute;inset-inline-end:64px;bottom:14px;white-space:nowrap;background:var(--fd-bg);border:1px solid var(--fd-border);border-radius:99px;padding:2px 10px;font-size:13px;box-shadow:0 2px 8px #0003}
.badge{position:absolute;top:-4px;inset-inline-end:-4px;min-width:22px;height:22px;border-radius:11px;background:#cf222e;color:#fff;font:700 12px/18px var(--fd-font);padding:0 5px;border:2px solid #fff}
.w{background:var(--fd-bg);border:1px solid var(--fd-border);border-radius:var(--fd-radius);overflow:hidden}
#fab:focus-visible{outline:3px solid var(--fd-accent);outline-offset:2px}
button{font:inherit;border:1px solid var(--fd-accent);background:var(--fd-accent);color:var(--fd-accent-fg);border-radius:6px;padding:6px 12px;cursor:pointer}
@media (max-width:480px){:host{max-width:none}
:host(:not([mode=inline])) .w{position:fixed;inset:0;width:auto;max-height:none;border-radius:0;z-index:1}}
`;

/** The widget element; `client` is its frontdesk Client once opened. */
class FrontdeskWidget extends HTMLElement {
  static observedAttributes = ['token', 'server', 'site-key', 'user', 'user-hash', 'lang', 'title', 'mode', 'open'];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.client = null;
    this.firstStatusMs = null;
    this.filter = {};
    this.profileRev = '';
    this.unread = 0;
  }

  connectedCallback() {
    this.ready(() => {
      this.render();
      const was = this.inline ? null : store(sessionStorage, this.uiKey);
      if (was === 'open') this.setAttribute('open', '');
      // A visitor with a session (one opened in this tab, or a client known here from an earlier visit)
      // keeps it live while closed, for the badge, the notifications and the status beside the launcher.
      if (this.isOpen || was || store(localStorage, this.key)) this.boot();
    });
  }
  // Runs `go` once the language's strings are there: at once for English or a page's own table.
  ready(go) {
    const p = strings(this.language);
    p ? p.then(() => this.isConnected && go()) : go();
  }
  disconnectedCallback() { this.stop(); }
  attributeChangedCallback(n, old, now) {
    if (old === now || !this.isConnected || !this.root.firstChild) return;
    if (n === 'open') { this.layout(); if (this.isOpen) this.boot(), this.openPanel(); this.update(); return; }
    const on = !!this.client || this.isOpen;
    this.stop();
    this.ready(() => { this.render(); if (on) this.boot(); });
  }

  /** Whether the panel sits in the page (`mode="inline"`) rather than behind the launcher. */
  get inline() { return this.getAttribute('mode') === 'inline'; }
  get isOpen() { return this.inline || this.hasAttribute('open'); }

  get server() {
    return this.getAttribute('server') || base.origin.replace(/^http/, 'ws');
  }

  // An identified user's session is kept apart from the anonymous visitor's on the same device.
  get key() { const u = this.getAttribute('user'); return `frontdesk:${this.server}${u ? `:u:${u}` : ''}`; }
  get uiKey() { return `frontdesk:ui:${this.server}`; }

  /** The strings' language: `lang`, else the page's (`<html lang>`), else the browser's first one we have, else English. */
  get language() {
    const a = this.getAttribute('lang') || this.parentElement?.closest('[lang]')?.lang;
    return [a, ...(a ? [] : navigator.languages || [navigator.language])].map((l) => String(l || '').slice(0, 2).toLowerCase()).find((l) => T[l] || FILES.includes(l)) || 'en';
  }

  t(k, a = {}) {
    let s = T[this.lng]?.[k] ?? T.en[k] ?? k;
    if (typeof s === 'object') { const c = new Intl.PluralRules(this.lng).select(a.n); s = Array.isArray(s) ? s[c === 'one' ? 0 : 1] : s[c] ?? s.other; }
    return s.replace(/\{(\w+)\}/g, (_, x) => a[x] ?? '');
  }
  h(k, a) { return esc(this.t(k, a)); }
  // A user id the site's backend signed (`user` and `user-hash` together): the visitor becomes that
  // known client, and its history follows.
  identity() {
    const user = this.getAttribute('user'), hash = this.getAttribute('user-hash');
    return user && hash ? { user, hash } : {};
  }

  async visitorToken() {
    const k = `frontdesk:visitor:${this.server}`;
    const visitor = store(localStorage, k);
    const r = await fetch(`${this.server.replace(/^ws/, 'http')}/visitor`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ site: this.getAttribute('site-key'), visitor, ...this.identity() }) });
    const a = await r.json();
    if (!r.ok) throw new Error(a.error || `visitor token: HTTP ${r.status}`);
    if (a.visitor) store(localStorage, k, a.visitor);
    return a.token;
  }

  async boot() {
    // An upgrade calls attributeChangedCallback and connectedCallback back to back: only the newest
    // boot goes on, and they share one visitor request, so one visitor is minted and kept.
    if (this.client) return;
    const gen = (this.gen = (this.gen || 0) + 1);
    this.why = null;
    let token = this.getAttribute('token');
    if (!token && this.getAttribute('site-key')) {
      // Shared only while the identity asked for is the same: setting user then user-hash reboots twice.
      const idk = JSON.stringify(this.identity());
      if (this.visitorK !== idk) { this.visitorP = null; this.visitorK = idk; }
      const p = (this.visitorP ||= this.visitorToken().finally(() => { if (this.visitorP === p) this.visitorP = null; }));
      try { token = await p; } catch (e) { if (gen === this.gen) this.note(e.message); return; }
    }
    if (gen !== this.gen) return;
    if (!token) { this.note(this.t('notoken')); return; }
    const { Client } = await load();
    if (this.client || !this.isConnected || gen !== this.gen) return;
    const saved = store(localStorage, this.key);
    const c = (this.client = new Client(this.server, token, { saved }));
    this.problem = null;
    c.on('status', (s) => this.status(s));
    c.on('change', () => this.update());
    document.addEventListener('visibilitychange', (this.vis ??= () => this.update()));
    c.on('connected', (e) => { this.problem = null; this.emit('connected', e); });
    c.on('disconnected', (e) => this.emit('disconnected', e));
    c.on('rejected', (e) => {
      if (!this.getAttribute('token') && this.getAttribute('site-key') && !this.renewing) {
        this.renewing = true;
        this.visitorToken().then((t) => { c.setToken(t); c.start(); }, () => {}).finally(() => { this.renewing = false; });
        return;
      }
      // Refused: the reason stays until a connection works, instead of "Reconnecting…".
      this.problem = this.t('rejected', { m: e.message });
      this.update();
      this.emit('rejected', e);
    });
    c.on('synced', () => { this.synced = true; this.refreshHistory(); });
    this.restored = !!saved;
    this.synced = false;
    c.on('chat', (m) => {
      this.emit('chat', m);
      // The agent's name from the view: closed, the panel (and its `current`) may not be there.
      const li = this.current || c.view().interactions.find((x) => x.id === m.interaction);
      if (m.from.kind !== 'client') this.alert(this.t('newfrom', { a: li?.agent || m.from.id }), m.text);
    });
    c.on('invitation', (i) => {
      this.emit('invitation', i);
      if (i.state === 'pending' && i.direction === 'agent_to_client') this.alert(this.t('invitation', { a: i.agent_name }), i.message);
    });
    c.on('alert', (a) => this.emit('alert', a));
    // Leaving the page ends its call: the hang-up is queued first, so a reload still sends it.
    this.save = () => { this.call?.hangUp(); store(localStorage, this.key, c.save()); };
    addEventListener('pagehide', this.save);
    c.start();
    this.layout();
  }

  stop() {
    this.gen = (this.gen || 0) + 1;
    if (!this.client) return;
    this.call?.hangUp();
    this.call = null;
    this.save();
    removeEventListener('pagehide', this.save);
    this.client.close();
    this.client.free();
    this.client = null;
    this.live = this.lastStatus = null;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(`frontdesk-${type}`, { detail, bubbles: true, composed: true })); }
  $(s) { return this.root.querySelector(s); }

  toggle(open) {
    if (this.inline) return;
    if (open && !this.ac && !this.hasAttribute('muted')) try { this.ac = new AudioContext(); } catch { /* no sound */ }
    this.toggleAttribute('open', open);
    // Opened for the first time, the panel is not there yet: it takes focus when it is (openPanel).
    const f = open ? this.focusIn() : this.$('#fab');
    this.focusWanted = open && !f;
    f?.focus();
  }

  // Why the session did not start, in the panel's status line (kept for a panel not filled yet).
  note(m) {
    this.why = m;
    const e = this.$('#conn');
    if (e) e.textContent = m;
  }

  focusIn() { return [this.$('#say-in'), this.$('#s-go'), this.$('#hd')].find((e) => e && !e.closest('[hidden]')); }

  layout() {
    const open = this.isOpen;
    if (open && !document.hidden) this.unread = 0;
    this.$('.w').hidden = !open;
    const fab = this.$('#fab');
    fab.hidden = this.inline;
    fab.setAttribute('aria-expanded', open);
    const b = this.$('#badge');
    b.hidden = !this.unread;
    b.textContent = this.unread;
    // Closed with a live session: agents available and the hold time beside the button, and in its name.
    const st = this.$('#fab-st'), l = this.live;
    st.hidden = open || !l;
    st.textContent = l ? `${l.n} ${this.t('avail', { n: l.n })}${l.hold ? ` · ${secs(l.hold, this.lng)}` : ''}` : '';
    fab.setAttribute('aria-label', this.t('open') + (this.unread ? ` (${this.t('unread', { n: this.unread })})` : '') + (l ? `, ${st.textContent}` : ''));
    if (!this.inline && this.client) store(sessionStorage, this.uiKey, open ? 'open' : 'min');
  }

  // Unseen agent messages and invitations: a badge, a beep (unless `muted`), a notification if opted in.
  alert(title, body) {
    if (this.isOpen && !document.hidden) return;
    this.unread++;
    this.layout();
    if (!this.hasAttribute('muted')) this.beep();
    if (store(localStorage, 'frontdesk:notify') && globalThis.Notification?.permission === 'granted') {
      try {
        const n = new Notification(title, { body, tag: 'frontdesk' });
        n.onclick = () => { focus(); this.toggle(true); n.close(); };
      } catch { /* some browsers allow notifications only from a service worker */ }
    }
  }

  beep() {
    try {
      const a = (this.ac ??= new AudioContext());
      const o = a.createOscillator();
      const g = a.createGain();
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.15, a.currentTime);
      g.gain.exponentialRampToValueAtTime(0.001, a.currentTime + 0.25);
      o.connect(g).connect(a.destination);
      o.start();
      o.stop(a.currentTime + 0.25);
    } catch { /* no sound */ }
  }

  render() {
    this.lng = this.language;
    this.loc = this.getAttribute('lang') || this.lng;
    // The host's own direction places the launcher (inline-end: left in Arabic); a site's `dir` wins.
    if (!this.hasAttribute('dir') || this.ownDir) this.dir = RTL.includes(this.lng) ? 'rtl' : 'ltr', this.ownDir = true;
    this.root.innerHTML = `<style>${CSS}</style>
<div class="w" part="panel" id="panel" role="region" aria-labelledby="hd" lang="${this.lng}" hidden></div>
<button type="button" id="fab" part="launcher" aria-controls="panel" lang="${this.lng}"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg><span class="badge" id="badge" aria-hidden="true" hidden></span></button><span class="pill" id="fab-st" aria-hidden="true" data-testid="launcher-status" hidden></span>`;
    this.painted = false;
    const $ = (s) => this.$(s);
    $('#fab').onclick = () => this.toggle(!this.isOpen);
    $('.w').onkeydown = (e) => { if (e.key === 'Escape' && !this.inline) { e.stopPropagation(); this.toggle(false); } };
    this.layout();
    if (this.isOpen) this.openPanel();
  }

  // Loads the panel's code (once per page) and fills the panel with the view as it is.
  openPanel() {
    loadPanel().then(() => {
      if (this.painted || !this.isConnected || !this.isOpen) return;
      this.painted = true;
      this.fill();
      if (this.lastStatus) this.panelStatus(this.lastStatus);
      this.update();
      if (this.synced) this.refreshHistory();
      if (this.focusWanted) this.focusIn()?.focus();
      this.focusWanted = false;
    }, (x) => { this.$('#panel').textContent = x.message; });
  }

  // The panel shows changes once it is filled; until then only the launcher does (layout()).
  update() { if (this.painted) this.paint(); }
  refreshHistory() { if (this.painted) this.loadHistory(); }

  status(s) {
    const offered = s.queues.filter((q) => q.offered);
    const holds = offered.map((q) => q.estimated_hold_secs).filter((x) => x != null);
    const n = s.agents.filter((a) => a.state === 'available').length;
    this.live = { n, hold: holds.length ? Math.min(...holds) : null };
    this.lastStatus = s;
    this.layout();
    if (this.painted) this.panelStatus(s);
    else if (!this.isOpen) this.statusShown();
    this.emit('status', s);
  }

  // The first status the visitor sees, beside the launcher or in the panel: when, after navigation.
  statusShown() {
    if (this.firstStatusMs == null) {
      this.firstStatusMs = Math.round(performance.now());
      this.dataset.firstStatusMs = this.firstStatusMs;
    }
  }
}

FrontdeskWidget.strings = T;
if (!customElements.get('frontdesk-widget')) customElements.define('frontdesk-widget', FrontdeskWidget);
export { FrontdeskWidget, load };
