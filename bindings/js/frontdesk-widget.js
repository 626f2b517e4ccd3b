// <frontdesk-widget>: a live contact-center widget for any page. One script tag:
//   <script type="module" src="https://center.example/frontdesk-widget.js"></script>
//   <frontdesk-widget token="…"></frontdesk-widget>
// The client (frontdesk.js, its wasm engine frontdesk_wasm.js + frontdesk_wasm_bg.wasm) is loaded from beside this file. Theme it with the
// --fd-* CSS custom properties (see docs/web.md); they pierce the shadow root.
import init, { Client, Call } from './frontdesk.js';

const base = new URL('.', import.meta.url);
const load = () => init();

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const time = (ms) => (ms ? new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '');
const secs = (s) => (s == null ? '—' : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const mins = (s) => { const [h, m] = String(s).split(':').map(Number); return (h || 0) * 60 + (m || 0); };
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const localZone = () => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; } };
let zones;
const zoneList = () => (zones ??= [...new Set([localZone(), 'UTC', ...(Intl.supportedValuesOf?.('timeZone') ?? [])])].sort());
const list = (s) => String(s).split(',').map((x) => x.trim()).filter(Boolean);
const MEDIA = ['chat', 'voice', 'video', 'callback', 'email'];
const isCall = (li) => li?.medium === 'voice' || li?.medium === 'video';
const clock = (ms) => { const s = Math.max(0, Math.floor(ms / 1000)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`; };
const at = (ms) => new Date(ms).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });

// Half hours of the coming week that lie in an agenda window taking calls, read in the window's zone
// as the broker does; at most 24, from an hour from now.
function agendaSlots(agenda, now) {
  const ws = agenda.filter((w) => !w.media?.length || w.media.some((m) => m === 'callback' || m === 'voice'));
  const out = [];
  const fmt = {};
  const step = 1800e3;
  for (let t = Math.ceil((now + 3600e3) / step) * step; t < now + 7 * 86400e3 && out.length < 24; t += step) {
    const ok = ws.some((w) => {
      try {
        const f = (fmt[w.time_zone] ??= new Intl.DateTimeFormat('en-GB', { timeZone: w.time_zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
        const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
        const m = (+p.hour % 24) * 60 + +p.minute;
        return w.days.includes(DAYS.indexOf(p.weekday) + 1) && m >= w.start_minute && m < w.end_minute;
      } catch { return false; }
    });
    if (ok) out.push(t);
  }
  return out;
}

const WHY = { busy: 'The line was busy', no_answer: 'Nobody answered', unreachable: 'We could not get through', interrupted: 'We were interrupted' };
// Where a callback is, in the customer's words, with a way to cancel it.
function callbackState(li) {
  const cb = li.callback || {};
  const n = esc(cb.number || li.client_address || '');
  const text = cb.phase === 'retry_at' ? `${WHY[cb.reason] || 'The call did not go through'}; we will try again at ${at(cb.retry_at)} on ${n}.`
    : cb.phase === 'dialing_agent' ? `An agent is taking your call; we will ring ${n} in a moment.`
    : cb.phase === 'dialing_customer' ? `Calling you now on ${n}…`
    : cb.phase === 'connected' ? `On the phone with ${esc(li.agent || 'an agent')}.`
    : cb.at && cb.at > Date.now() && !li.position ? `We will call you on ${n} at ${at(cb.at)}.`
    : li.state === 'queued' ? `You are number ${li.position} in line; we will call you on ${n} (about ${secs(li.estimated_hold_secs)}).`
    : `Connected with ${esc(li.agent || 'an agent')}; we will call you on ${n}.`;
  return `<p role="status" data-testid="callback-state" data-phase="${esc(cb.phase || '')}">${text}</p>${cb.phase === 'connected' ? '' : '<div class="row"><button type="button" class="ghost" id="cb-cancel">Cancel the callback</button></div>'}`;
}

const CSS = `
:host{--fd-bg:#fff;--fd-fg:#1b1f24;--fd-muted:#57606a;--fd-accent:#0b5cad;--fd-accent-fg:#fff;--fd-border:#d0d7de;
--fd-ok:#1a7f37;--fd-warn:#9a6700;--fd-bad:#cf222e;--fd-radius:10px;--fd-font:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
display:block;max-width:420px;font:14px/1.45 var(--fd-font);color:var(--fd-fg)}
*{box-sizing:border-box}
[hidden]{display:none!important}
.w{background:var(--fd-bg);border:1px solid var(--fd-border);border-radius:var(--fd-radius);overflow:hidden}
header{display:flex;align-items:center;gap:8px;padding:10px 14px;background:var(--fd-accent);color:var(--fd-accent-fg)}
header h2{font-size:16px;margin:0;flex:1}
header small{color:inherit}
.dot{width:10px;height:10px;border-radius:50%;background:var(--fd-warn);border:1px solid #fff}
.on .dot{background:#2da44e}
section,details{border-top:1px solid var(--fd-border)}
details>summary{padding:10px 14px;cursor:pointer;font-weight:600}
details>div,section{padding:10px 14px}
summary:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid var(--fd-accent);outline-offset:2px}
.stats{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;text-align:center}
.stats b{display:block;font-size:20px}
.stats span,.muted,small{color:var(--fd-muted)}
ul{list-style:none;margin:0;padding:0}
li{padding:6px 0;border-bottom:1px solid var(--fd-border)}
li:last-child{border-bottom:0}
.chips{display:flex;flex-wrap:wrap;gap:4px;margin-top:8px}
.chip{border:1px solid var(--fd-border);border-radius:99px;padding:1px 8px;font-size:12px}
.chip.on{border-color:var(--fd-ok);color:var(--fd-ok)}
label{display:block;margin:6px 0 2px;font-size:13px;color:var(--fd-muted)}
input,select,textarea{font:inherit;color:inherit;background:var(--fd-bg);border:1px solid var(--fd-border);border-radius:6px;padding:6px 8px;width:100%}
input[type=radio],input[type=checkbox]{width:auto}
button{font:inherit;border:1px solid var(--fd-accent);background:var(--fd-accent);color:var(--fd-accent-fg);border-radius:6px;padding:6px 12px;cursor:pointer}
button.ghost{background:transparent;color:var(--fd-accent)}
button:disabled{opacity:.55;cursor:not-allowed}
.row{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-top:8px}
.row>*{flex:1}
.row>button{flex:0 0 auto}
fieldset{border:0;padding:0;margin:0}
.media label{display:inline-flex;gap:4px;align-items:center;margin-right:10px;color:var(--fd-fg)}
.log{max-height:220px;overflow:auto;display:flex;flex-direction:column;gap:6px;padding:4px 0}
.msg{max-width:85%;padding:6px 10px;border-radius:12px;background:#eef1f4;color:#1b1f24;align-self:flex-start}
.msg.me{align-self:flex-end;background:var(--fd-accent);color:var(--fd-accent-fg)}
.status-placed,.status-processing{color:var(--fd-warn)}.status-shipped,.status-delivered{color:var(--fd-ok)}.status-cancelled{color:var(--fd-bad)}
.err{color:var(--fd-bad);font-size:13px;margin:4px 0 0}
.err:empty{display:none}
.ag{border:1px solid var(--fd-border);border-radius:6px;padding:6px 8px;margin:6px 0}
.ag .days label{display:inline-flex;gap:3px;align-items:center;margin:0 8px 0 0;color:var(--fd-fg)}
.ag .row label{margin:0}
.call .v{position:relative;background:#000;border-radius:6px;overflow:hidden;margin-top:6px}
.call video{display:block;width:100%;aspect-ratio:4/3}
.call #lv{position:absolute;right:6px;bottom:6px;width:30%;border:1px solid #fff;border-radius:4px}
.call .off{position:absolute;inset:0;display:grid;place-items:center;color:#fff}
button.bad{background:var(--fd-bad);border-color:var(--fd-bad)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:480px){:host{max-width:none}.stats b{font-size:17px}}
`;

/** The widget element; `client` is its frontdesk Client once connected. */
class FrontdeskWidget extends HTMLElement {
  static observedAttributes = ['token', 'server', 'site-key'];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.client = null;
    this.firstStatusMs = null;
    this.filter = {};
    this.profileRev = '';
  }

  connectedCallback() { this.boot(); }
  disconnectedCallback() { this.stop(); }
  attributeChangedCallback(_n, old, now) { if (old !== now && this.isConnected) { this.stop(); this.boot(); } }

  /** The WebSocket base URL: the `server` attribute, else the origin this script came from. */
  get server() {
    return this.getAttribute('server') || base.origin.replace(/^http/, 'ws');
  }

  get key() { return `frontdesk:${this.server}`; }

  /** A visitor token from the site's public key (`site-key`): the same visitor again when the page
   *  keeps its id, so a site needs no backend to embed the widget. */
  async visitorToken() {
    const k = `frontdesk:visitor:${this.server}`;
    let visitor = null;
    try { visitor = localStorage.getItem(k); } catch { /* storage blocked: a new visitor each time */ }
    const r = await fetch(`${this.server.replace(/^ws/, 'http')}/visitor`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ site: this.getAttribute('site-key'), visitor }) });
    const a = await r.json();
    if (!r.ok) throw new Error(a.error || `visitor token: HTTP ${r.status}`);
    try { if (a.visitor) localStorage.setItem(k, a.visitor); } catch { /* best effort */ }
    return a.token;
  }

  async boot() {
    // An upgrade calls attributeChangedCallback and connectedCallback back to back: only the newest
    // boot goes on, and they share one visitor request, so one visitor is minted and kept.
    const gen = (this.gen = (this.gen || 0) + 1);
    let token = this.getAttribute('token');
    this.render();
    if (!token && this.getAttribute('site-key')) {
      this.visitorP ||= this.visitorToken().finally(() => { this.visitorP = null; });
      try { token = await this.visitorP; } catch (e) { if (gen === this.gen) this.$('#conn').textContent = e.message; return; }
    }
    if (gen !== this.gen) return;
    if (!token) { this.$('#conn').textContent = 'No token'; return; }
    await load();
    if (this.client || !this.isConnected || gen !== this.gen) return;
    let saved = null;
    try { saved = localStorage.getItem(this.key); } catch { /* storage blocked: start fresh */ }
    const c = (this.client = new Client(this.server, token, { saved }));
    c.on('status', (s) => this.status(s));
    c.on('change', () => this.update());
    c.on('connected', (e) => this.emit('connected', e));
    c.on('disconnected', (e) => this.emit('disconnected', e));
    c.on('rejected', (e) => {
      // A visitor's token expired: get a fresh one for the same visitor and go on.
      if (!this.getAttribute('token') && this.getAttribute('site-key') && !this.renewing) {
        this.renewing = true;
        this.visitorToken().then((t) => { c.setToken(t); c.start(); }, () => {}).finally(() => { this.renewing = false; });
        return;
      }
      this.$('#conn').textContent = `Rejected: ${e.message}`;
      this.emit('rejected', e);
    });
    c.on('synced', () => { this.synced = true; this.refreshHistory(); });
    this.restored = !!saved;
    this.synced = false;
    c.on('chat', (m) => this.emit('chat', m));
    c.on('invitation', (i) => this.emit('invitation', i));
    c.on('alert', (a) => this.emit('alert', a));
    // Leaving the page ends its call: the hang-up is queued first, so a reload still sends it.
    this.save = () => { this.call?.hangUp(); try { localStorage.setItem(this.key, c.save()); } catch { /* best effort */ } };
    addEventListener('pagehide', this.save);
    c.start();
  }

  stop() {
    if (!this.client) return;
    this.call?.hangUp();
    this.call = null;
    this.save();
    removeEventListener('pagehide', this.save);
    this.client.close();
    this.client.free();
    this.client = null;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(`frontdesk-${type}`, { detail, bubbles: true, composed: true })); }
  $(s) { return this.root.querySelector(s); }

  render() {
    this.root.innerHTML = `<style>${CSS}</style>
<div class="w" part="panel">
 <header><span class="dot" aria-hidden="true"></span><h2>${esc(this.getAttribute('title') || 'Customer service')}</h2><small id="conn" role="status">Connecting…</small></header>
 <section aria-labelledby="st-h" data-testid="status"><h3 id="st-h" class="sr">Center status</h3>
  <div class="stats" aria-live="polite">
   <div><b id="avail">—</b><span>agents available</span></div>
   <div><b id="holding">—</b><span>waiting</span></div>
   <div><b id="hold">—</b><span>est. hold</span></div>
  </div>
  <div class="chips" id="media" aria-label="Media offered"></div>
 </section>
 <section aria-labelledby="inv-h" id="invs" hidden><h3 id="inv-h" style="margin:0 0 6px;font-size:14px">Invitations</h3><ul id="inv-list"></ul><p class="err" id="inv-msg" role="alert"></p></section>
 <section aria-labelledby="ct-h" data-testid="contact"><h3 id="ct-h" style="margin:0;font-size:14px">Talk to us</h3>
  <div id="live"></div>
  <div id="call" class="call" data-testid="call" hidden><div class="v" id="vids"><video id="rv" autoplay playsinline></video><span class="off" id="roff" hidden>Camera off</span><video id="lv" autoplay playsinline muted></video></div>
   <p><b id="call-st" role="status"></b> <span id="call-t" aria-label="Call duration"></span> <small id="call-peer"></small></p>
   <div class="row" id="call-ctl"><button type="button" class="ghost" id="c-mute">Mute</button><button type="button" class="ghost" id="c-cam">Camera off</button><button type="button" class="bad" id="c-hang">Hang up</button></div>
   <div class="row" id="call-dev" hidden><select id="c-mic" aria-label="Microphone"></select><select id="c-vdev" aria-label="Camera"></select></div>
   <p class="err" id="call-err" role="alert"></p></div>
  <form id="start">
   <fieldset class="media"><legend class="sr">Medium</legend><div id="pick"></div></fieldset>
   <p id="s-note" role="status" data-testid="offline-note" hidden></p>
   <div class="row"><select id="s-product" aria-label="Product"><option value="">Any product</option></select>
   <input id="s-topic" aria-label="Topic" placeholder="What is it about?"><button id="s-go">Start</button></div>
   <div id="cb" class="row" hidden><input id="cb-num" type="tel" aria-label="Your phone number" placeholder="+44 20 7946 0000" autocomplete="tel">
   <select id="cb-when" aria-label="When to call you"></select></div>
   <div id="mail" hidden><input id="m-addr" type="email" aria-label="Your email address" placeholder="Your email address" autocomplete="email">
   <textarea id="m-text" aria-label="Your message" rows="3" placeholder="Your message"></textarea></div>
   <p class="err" id="s-msg" role="alert"></p>
  </form>
  <div id="chat" hidden>
   <div class="log" id="log" role="log" aria-live="polite" aria-label="Chat transcript"></div>
   <form class="row" id="say"><input id="say-in" aria-label="Message" placeholder="Type a message" autocomplete="off"><button>Send</button><button type="button" class="ghost" id="end">End</button></form>
   <p class="err" id="c-msg" role="alert"></p>
  </div>
 </section>
 <details id="d-prof"><summary>Your profile</summary><div><form id="prof">
  <label for="p-name">Name</label><input id="p-name">
  <div class="row"><div><label for="p-country">Country</label><input id="p-country"></div><div><label for="p-lang">Languages</label><input id="p-lang" placeholder="en, fr"></div></div>
  <fieldset><legend style="font-size:13px;color:var(--fd-muted);margin-top:8px">Interested in</legend><div id="p-products"></div></fieldset>
  <label for="p-topics">Topics</label><input id="p-topics" placeholder="billing, wifi">
  <fieldset id="p-agenda"><legend style="font-size:13px;color:var(--fd-muted);margin-top:8px">When we may contact you</legend><div id="ag-rows"></div>
  <button type="button" class="ghost" id="ag-add">Add a time window</button></fieldset>
  <div class="row"><small id="p-msg" role="status"></small><button>Save profile</button></div></form></div></details>
 <details id="d-hist"><summary>History</summary><div>
  <div class="row"><select id="h-product" aria-label="Filter by product"><option value="">All products</option></select>
  <select id="h-agent" aria-label="Filter by agent"><option value="">All agents</option></select></div>
  <ul id="h-list" data-testid="history"></ul><p class="err" id="h-msg" role="alert"></p></div></details>
 <details id="d-ord"><summary>Orders</summary><div><ul id="o-list"></ul></div></details>
 <details id="d-al"><summary>Alerts</summary><div>
  <button type="button" class="ghost" id="al-sub">Tell me when an agent is free</button><p class="err" id="al-msg" role="alert"></p><ul id="al-list"></ul></div></details>
</div>`;
    this.$('#start').onsubmit = (e) => { e.preventDefault(); this.startLive(); };
    this.$('#say').onsubmit = (e) => { e.preventDefault(); this.say(); };
    this.$('#log').onclick = (e) => { const b = e.target.dataset.before; if (b && this.current) this.client.getTranscript(this.current.id, { before: +b }).catch(this.shown('#c-msg')); };
    this.$('#end').onclick = () => this.current && this.client.endInteraction(this.current.id).catch(this.shown('#c-msg'));
    this.$('#live').onclick = (e) => e.target.closest('#cb-cancel') && this.current && this.client.endInteraction(this.current.id).catch(this.shown('#s-msg'));
    this.$('#c-hang').onclick = () => (this.call && !this.call.ended ? this.call.hangUp() : this.current && this.client.endInteraction(this.current.id).catch(this.shown('#call-err')));
    this.$('#c-mute').onclick = () => this.call?.setMuted(!this.call.muted);
    this.$('#c-cam').onclick = () => this.call?.setCamera(!this.call.camera).catch((x) => { this.$('#call-err').textContent = `The camera could not start: ${x.message}`; });
    this.$('#prof').onsubmit = (e) => { e.preventDefault(); this.saveProfile(); };
    this.$('#h-product').onchange = this.$('#h-agent').onchange = () => this.refreshHistory();
    this.$('#al-sub').onclick = () => this.client?.subscribeAlert({ when: 'agent_available' })
      .then(() => { this.$('#al-sub').textContent = 'We will tell you'; this.$('#al-sub').disabled = true; this.$('#al-msg').textContent = ''; }, this.shown('#al-msg'));
    this.$('#inv-list').onclick = (e) => {
      const b = e.target.closest('button[data-inv]');
      if (b) this.client.respondInvitation(b.dataset.inv, b.dataset.accept === '1').then(() => { this.$('#inv-msg').textContent = ''; }, this.shown('#inv-msg'));
    };
    this.$('#ag-add').onclick = () => this.$('#ag-rows').insertAdjacentHTML('beforeend', this.window());
    this.$('#ag-rows').onclick = (e) => e.target.closest('.ag-del')?.closest('.ag').remove();
  }

  // An error shown next to the form whose request caused it; the widget goes on working.
  shown(sel) { return (err) => { const m = this.$(sel); if (m) m.textContent = err?.message || String(err); }; }

  // One agenda window of the editor: weekdays, from/to (a "to" of 00:00 is midnight at the end), time zone.
  window(w = { days: [1, 2, 3, 4, 5], start_minute: 540, end_minute: 1020, time_zone: localZone() }) {
    const tz = [...new Set([w.time_zone, ...zoneList()])];
    return `<div class="ag" data-testid="agenda-window"><fieldset class="days"><legend class="sr">Days</legend>${DAYS.map((d, i) => `<label><input type="checkbox" value="${i + 1}"${w.days.includes(i + 1) ? ' checked' : ''}>${d}</label>`).join('')}</fieldset>
<div class="row"><label>From <input type="time" class="ag-from" value="${hhmm(w.start_minute)}"></label><label>To <input type="time" class="ag-to" value="${hhmm(w.end_minute % 1440)}"></label></div>
<div class="row"><select class="ag-tz" aria-label="Time zone">${tz.map((z) => `<option${z === w.time_zone ? ' selected' : ''}>${esc(z)}</option>`).join('')}</select><button type="button" class="ghost ag-del">Remove</button></div></div>`;
  }

  status(s) {
    const offered = s.queues.filter((q) => q.offered);
    const holds = offered.map((q) => q.estimated_hold_secs).filter((x) => x != null);
    this.$('#avail').textContent = s.agents.filter((a) => a.state === 'available').length;
    this.$('#holding').textContent = offered.reduce((n, q) => n + q.holding, 0);
    this.$('#hold').textContent = holds.length ? secs(Math.min(...holds)) : '—';
    const mk = s.media_offered.join();
    if (mk !== this.mediaKey) {
    // Re-rendered only when the offer changes, so keyboard focus on the picker survives status updates.
    this.mediaKey = mk;
    this.$('#media').innerHTML = MEDIA.map((m) => `<span class="chip${s.media_offered.includes(m) ? ' on' : ''}">${m}${s.media_offered.includes(m) ? '' : ' (off)'}</span>`).join('');
    this.$('#pick').innerHTML = MEDIA.map((m, i) => `<label><input type="radio" name="m" value="${m}"${s.media_offered.includes(m) ? '' : ' disabled'}${(this.medium || 'chat') === m ? ' checked' : ''}>${m}</label>`).join('');
    this.$('#pick').onchange = (e) => { this.medium = e.target.value; this.mailForm(); };
    }
    // Nobody live (or closed): say so and offer email rather than a dead button.
    const live = offered.filter((q) => q.medium !== 'email');
    const closed = s.queues.filter((q) => !q.open);
    const note = this.$('#s-note');
    note.hidden = live.length > 0;
    note.textContent = closed.length && !live.length
      ? `We are closed now${closed[0].until ? ` and open again ${time(closed[0].until)}` : ''}. Write to us by email and we will answer.`
      : 'Nobody is available right now. Write to us by email and we will answer.';
    if (!live.length && s.media_offered.includes('email') && (this.medium || 'chat') !== 'email') {
      this.medium = 'email';
      this.mediaKey = null;
      this.status(s);
      return;
    }
    this.mailForm();
    if (this.firstStatusMs == null) {
      // Since navigation start: what a visitor waits from page load to a live status.
      this.firstStatusMs = Math.round(performance.now());
      this.dataset.firstStatusMs = this.firstStatusMs;
    }
    this.emit('status', s);
  }

  update() {
    const c = this.client;
    if (!c) return;
    const v = c.view();
    const w = this.$('.w');
    w.classList.toggle('on', v.connected);
    this.$('#conn').textContent = v.connected ? 'Online' : 'Reconnecting…';
    // Invitations
    const inv = v.invitations.filter((i) => i.state === 'pending' && i.direction === 'agent_to_client');
    this.$('#invs').hidden = !inv.length;
    this.$('#inv-list').innerHTML = inv.map((i) => `<li data-testid="invitation"><b>${esc(i.agent_name)}</b> invites you to a ${esc(i.medium)}: “${esc(i.message)}”
      <div class="row"><button data-inv="${esc(i.id)}" data-accept="1">Accept</button><button class="ghost" data-inv="${esc(i.id)}" data-accept="0">Decline</button></div></li>`).join('');
    // Live interaction and chat
    const live = v.interactions.filter((x) => x.state !== 'ended').sort((a, b) => b.created_at - a.created_at)[0];
    this.current = live;
    // A restored page waits for its live interactions (get_live) before it offers to start one.
    this.$('#start').hidden = !!live || (this.restored && !this.synced && v.connected);
    this.$('#live').innerHTML = !live ? '' : live.medium === 'callback' ? callbackState(live) : live.medium === 'email'
      ? `<p role="status">Your email “${esc(live.topic || '')}” is with us${live.agent ? ` — ${esc(live.agent)} is on it` : ''}. We answer here and by mail to ${esc(live.client_address || '')}.</p>`
      : live.state === 'queued'
      ? `<p role="status">You are number ${live.position} in line for ${esc(live.medium)} (about ${secs(live.estimated_hold_secs)}).</p>`
      : isCall(live) ? '' : `<p role="status">Connected with ${esc(live.agent)} by ${esc(live.medium)}.</p>`;
    // Calls keep their chat beside them; only a callback has none.
    this.$('#chat').hidden = !live || live.medium === 'callback';
    this.callPanel(live);
    if (live) {
      const delivered = new Set(v.delivered.map(([i, s]) => `${i}/${s}`));
      const sending = v.pending.filter((p) => p.req.op === 'send_chat' && p.req.interaction === live.id);
      const log = this.$('#log');
      const msgs = v.chats[live.id] || [];
      // A resumed chat holds its newest messages; older ones come a page at a time.
      log.innerHTML = (msgs[0]?.seq > 1 ? `<button class="ghost" data-before="${msgs[0].seq}" data-testid="earlier">Earlier messages</button>` : '') + msgs.map((m) => `<div class="msg${m.from.kind === 'client' ? ' me' : ''}" data-testid="msg">${esc(m.text)}${m.from.kind === 'client' && delivered.has(`${live.id}/${m.seq}`) ? ' <small aria-label="delivered">✓</small>' : ''}</div>`).join('')
        + sending.map((p) => `<div class="msg me" data-testid="msg-pending">${esc(p.req.text)} <small>sending…</small></div>`).join('');
      log.scrollTop = log.scrollHeight;
    }
    // Products (pickers), orders, alerts, history options
    const prods = v.products;
    const opt = (sel, items, keep) => { const s = this.$(sel); const cur = s.value; s.innerHTML = keep + items.map(([id, n]) => `<option value="${esc(id)}">${esc(n)}</option>`).join(''); s.value = cur; };
    opt('#s-product', prods.map((p) => [p.id, p.name]), '<option value="">Any product</option>');
    opt('#h-product', prods.map((p) => [p.id, p.name]), '<option value="">All products</option>');
    const agents = [...new Set(v.history.map((r) => r.agent).filter(Boolean))];
    if (!this.filter.agent) opt('#h-agent', agents.map((a) => [a, a]), '<option value="">All agents</option>');
    this.$('#o-list').innerHTML = v.orders.map((o) => `<li><b>${esc(o.id)}</b> ${esc(prods.find((p) => p.id === o.product)?.name || o.product)} — <span class="status-${esc(o.status)}">${esc(o.status)}</span><br><small>${esc(o.delivery.address)}${o.delivery.window ? ` · ${esc(o.delivery.window)}` : ''}</small></li>`).join('') || '<li class="muted">No orders</li>';
    this.$('#al-list').innerHTML = v.alerts.slice().reverse().map((a) => `<li role="alert">${esc(a.message)} <small>${time(a.at)}</small></li>`).join('');
    this.history(v.history);
    // Refilled when the stored profile or the catalogue changes, never under the user's cursor.
    const pk = JSON.stringify(v.profile) + prods.length;
    if (pk !== this.profileRev && !this.$('#prof').contains(this.root.activeElement)) { this.profileRev = pk; this.fillProfile(v.profile, prods); }
  }

  // The call follows the live voice or video interaction; its panel is never re-rendered, so the
  // media elements keep playing, and it stays after the call with the message saying how it ended.
  callPanel(live) {
    let k = this.call;
    if (k && (live ? live.id !== k.id : !k.ended)) { k.close(); if (live) k = this.call = null; }
    if (!k && isCall(live) && live.state === 'connected') {
      // `ice-policy="relay"`: media only through the center's TURN server, so the agent never learns
      // the visitor's address (and a network that blocks direct media still gets through).
      const iceTransportPolicy = this.getAttribute('ice-policy') === 'relay' ? 'relay' : 'all';
      k = this.call = new Call(this.client, live.id, { video: live.medium === 'video', polite: true, iceTransportPolicy, devices: this.devices, onchange: () => this.callView() });
      this.$('#call-err').textContent = '';
      this.devKey = null;
      k.start();
    }
    this.$('#call').hidden = !k && !isCall(live);
    this.callView();
  }

  // Shows where the call is; while connected it ticks every second for the timer.
  callView() {
    const k = this.call;
    const li = this.current;
    const $ = (s) => this.$(s);
    clearTimeout(this.tick);
    if (!k) {
      $('#call-st').textContent = li?.state === 'queued' ? 'Ringing… waiting for an agent' : '';
      $('#vids').hidden = $('#c-mute').hidden = $('#c-cam').hidden = true;
      $('#call-ctl').hidden = false;
      $('#call-t').textContent = $('#call-peer').textContent = '';
      return;
    }
    const e = k.ended;
    const who = li?.agent || 'the agent';
    $('#call-st').textContent = e ? (e.reason === 'media_refused' ? (e.by === 'local' ? '' : `The call ended: ${who}'s microphone or camera did not start.`)
      : e.reason === 'failed' ? 'The call was lost: the connection failed.' : `Call ended${e.by === 'local' ? '' : ` by ${who}`}.`)
      : { new: 'Starting the call…', media: `Allow the microphone${k.video ? ' and camera' : ''} to talk to ${who}…`, connecting: `Connecting to ${who}…`, connected: `On a call with ${who}`, reconnecting: 'Connection lost, reconnecting…' }[k.state];
    if (e?.reason === 'media_refused' && e.by === 'local') {
      $('#call-err').textContent = `Your ${k.video ? 'microphone or camera' : 'microphone'} could not be used (${k.error?.name === 'NotAllowedError' ? 'permission refused' : k.error?.message || 'no device'}). Allow it in the browser and call again.`;
    }
    $('#vids').hidden = !k.video || !!e;
    $('#call-ctl').hidden = !!e;
    $('#c-cam').hidden = !k.video;
    $('#c-mute').hidden = false;
    $('#c-mute').textContent = k.muted ? 'Unmute' : 'Mute';
    $('#c-cam').textContent = k.camera ? 'Camera off' : 'Camera on';
    $('#c-mute').disabled = $('#c-cam').disabled = !k.local;
    $('#roff').hidden = k.peer.camera;
    $('#call-peer').textContent = k.peer.muted ? `${who} muted` : '';
    if ($('#rv').srcObject !== k.remote) $('#rv').srcObject = k.remote;
    if (k.local && $('#lv').srcObject !== k.local) $('#lv').srcObject = k.local;
    $('#call-dev').hidden = !k.local || !!e;
    if (k.local && !e) this.devicePickers(k);
    $('#call-t').textContent = k.connectedAt && !e ? clock(Date.now() - k.connectedAt) : '';
    if (k.connectedAt && !e) this.tick = setTimeout(() => this.callView(), 1000);
  }

  // The microphone and camera pickers, filled once the devices are granted (labels need that) and
  // again when a device comes or goes; a choice applies at once and to the next call.
  async devicePickers(k) {
    const key = `${k.id}/${k.camera}/${k.devices.audio}/${k.devices.video}`;
    if (this.devKey === key) return;
    this.devKey = key;
    // A listener, not ondevicechange: the page around the widget may have its own.
    if (!this.devWatch) navigator.mediaDevices.addEventListener('devicechange', this.devWatch = () => { this.devKey = null; if (this.call) this.callView(); });
    const d = await Call.deviceList().catch(() => ({ audio: [], video: [] }));
    const cur = { audio: k.local?.getAudioTracks()[0]?.getSettings().deviceId, video: k.local?.getVideoTracks()[0]?.getSettings().deviceId };
    for (const [kind, sel, name] of [['audio', '#c-mic', 'Microphone'], ['video', '#c-vdev', 'Camera']]) {
      const s = this.$(sel);
      s.hidden = kind === 'video' && !k.video;
      s.innerHTML = d[kind].map((x, i) => `<option value="${esc(x.deviceId)}"${(k.devices[kind] || cur[kind]) === x.deviceId ? ' selected' : ''}>${esc(x.label || `${name} ${i + 1}`)}</option>`).join('');
      s.onchange = () => {
        this.devices = { ...this.devices, [kind]: s.value };
        this.$('#call-err').textContent = '';
        k.setDevice(kind, s.value).catch((x) => { this.devKey = null; this.$('#call-err').textContent = `That ${name.toLowerCase()} could not be used (${x.name === 'NotAllowedError' ? 'permission refused' : x.message || x.name}).`; this.callView(); });
      };
    }
  }

  history(records) {
    const f = this.filter;
    const rows = records.filter((r) => (!f.product || r.product === f.product) && (!f.agent || r.agent === f.agent));
    this.$('#h-list').innerHTML = rows.map((r) => `<li><b>${esc(r.summary)}</b><br><small>${time(r.started_at)} · ${esc(r.medium)} · ${esc(r.product || '')} · ${esc(r.agent || '')} · ${esc(r.outcome)}</small></li>`).join('') || '<li class="muted">Nothing yet</li>';
  }

  refreshHistory() {
    const product = this.$('#h-product').value || undefined;
    const agent = this.$('#h-agent').value || undefined;
    this.filter = { product, agent };
    this.client?.getHistory(this.filter).then((rows) => { this.history(rows); this.$('#h-msg').textContent = ''; }, this.shown('#h-msg'));
  }

  fillProfile(p, prods) {
    const d = p.demographics;
    this.$('#p-name').value = d.name || '';
    this.$('#p-country').value = d.country || '';
    this.$('#p-lang').value = d.languages.join(', ');
    this.$('#p-topics').value = p.interests.topics.join(', ');
    this.$('#p-products').innerHTML = prods.map((x) => `<label style="display:inline-flex;gap:4px;margin-right:10px;color:var(--fd-fg)"><input type="checkbox" value="${esc(x.id)}"${p.interests.products.includes(x.id) ? ' checked' : ''}>${esc(x.name)}</label>`).join('');
    this.$('#ag-rows').innerHTML = p.agenda.map((w) => this.window(w)).join('');
  }

  saveProfile() {
    const v = this.client.view();
    const m = this.$('#p-msg');
    const agenda = [...this.root.querySelectorAll('#ag-rows .ag')].map((r) => ({
      days: [...r.querySelectorAll('.days input:checked')].map((i) => Number(i.value)),
      start_minute: mins(r.querySelector('.ag-from').value),
      // 00:00 as the end is midnight at the end of the day.
      end_minute: mins(r.querySelector('.ag-to').value) || 1440,
      time_zone: r.querySelector('.ag-tz').value || localZone(),
      media: [],
    }));
    if (agenda.some((w) => !w.days.length)) { m.textContent = 'Pick at least one day for each time window'; return; }
    const patch = {
      demographics: { ...v.profile.demographics, name: this.$('#p-name').value || null, country: this.$('#p-country').value || null, languages: list(this.$('#p-lang').value) },
      interests: { products: [...this.root.querySelectorAll('#p-products input:checked')].map((i) => i.value), topics: list(this.$('#p-topics').value) },
      agenda,
    };
    m.textContent = 'Saving…';
    this.client.updateProfile(patch).then(() => { m.textContent = 'Saved'; }, (x) => { m.textContent = x.message; });
  }

  // The email fields show with the email medium; the address comes from (and goes to) the profile.
  mailForm() {
    const mail = (this.medium || 'chat') === 'email';
    const cb = (this.medium || 'chat') === 'callback';
    this.$('#mail').hidden = !mail;
    this.$('#cb').hidden = !cb;
    if (cb) this.callbackForm();
    this.$('#s-go').textContent = mail ? 'Send email' : cb ? 'Call me' : 'Start';
    this.$('#s-topic').placeholder = mail ? 'Subject' : 'What is it about?';
    const cap = this.client?.view().profile.capabilities.find((c) => c.medium === 'email');
    const a = this.$('#m-addr');
    if (mail && !a.value && cap?.address) a.value = cap.address;
  }

  // The number from the profile, and "as soon as possible" or a half hour inside the agenda in the
  // coming week (the broker refuses a slot outside it, so only those are offered).
  callbackForm() {
    const p = this.client?.view().profile;
    const cap = p?.capabilities.find((c) => c.medium === 'callback' || c.medium === 'voice');
    const n = this.$('#cb-num');
    if (!n.value && cap?.address) n.value = cap.address;
    const sel = this.$('#cb-when');
    const keep = sel.value;
    sel.innerHTML = '<option value="">As soon as possible</option>' + agendaSlots(p?.agenda || [], Date.now())
      .map((t) => `<option value="${t}">${esc(new Date(t).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' }))}</option>`).join('');
    sel.value = keep;
  }

  startLive() {
    const medium = this.root.querySelector('#pick input:checked')?.value || 'chat';
    const product = this.$('#s-product').value || undefined;
    const topic = this.$('#s-topic').value || undefined;
    this.$('#s-msg').textContent = '';
    if (medium === 'callback') {
      const number = this.$('#cb-num').value.trim();
      if (!number) { this.$('#s-msg').textContent = 'Enter your phone number, with its country code (+44…)'; this.$('#cb-num').focus(); return; }
      const at = +this.$('#cb-when').value || undefined;
      this.client.requestCallback({ number, at, product, topic }).catch(this.shown('#s-msg'));
      return;
    }
    if (medium !== 'email') {
      // A call in the browser needs no address, but the center starts video only for a client whose
      // profile says it can do video: this browser is said to be that device first.
      const caps = this.client.view().profile.capabilities;
      const ready = medium !== 'video' || caps.some((c) => c.medium === 'video') ? Promise.resolve()
        : this.client.updateProfile({ capabilities: [...caps, { medium: 'video', address: null, devices: ['browser'] }] });
      ready.then(() => this.client.startInteraction(medium, product, topic)).catch(this.shown('#s-msg'));
      return;
    }
    const addr = this.$('#m-addr').value.trim();
    const text = this.$('#m-text').value.trim();
    if (!/^[^@\s]+@[^@\s]+$/.test(addr)) { this.$('#s-msg').textContent = 'Enter your email address'; return; }
    if (!text) { this.$('#s-msg').textContent = 'Write your message'; return; }
    const caps = this.client.view().profile.capabilities;
    const cap = caps.find((c) => c.medium === 'email');
    // A new address is saved first, so the answer goes where the client says.
    const saved = cap?.address === addr ? Promise.resolve()
      : this.client.updateProfile({ capabilities: [...caps.filter((c) => c.medium !== 'email'), { medium: 'email', address: addr, devices: [] }] });
    saved.then(() => this.client.sendEmail(topic || 'Message from the website', text, product))
      .then(() => { this.$('#m-text').value = ''; this.$('#s-topic').value = ''; }, this.shown('#s-msg'));
  }

  say() {
    const i = this.$('#say-in');
    if (!i.value.trim() || !this.current) return;
    this.$('#c-msg').textContent = '';
    this.client.sendChat(this.current.id, i.value).catch(this.shown('#c-msg'));
    i.value = '';
  }
}

if (!customElements.get('frontdesk-widget')) customElements.define('frontdesk-widget', FrontdeskWidget);
export { FrontdeskWidget, Client, Call };
