// The panel of <frontdesk-widget> (web/widget.js), loaded when the widget opens: its markup and styles, the status,
// the contact forms, the chat, calls, the profile, history, orders and alerts. Its methods join the element's class.
let esc, secs, store;
let calls;
const loadCall = () => (calls ??= import('./frontdesk-call.js').then((m) => m.Call));
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

const CSS = `
header{display:flex;align-items:center;gap:8px;padding:10px 14px;background:var(--fd-accent);color:var(--fd-accent-fg)}
header h2{font-size:16px;margin:0;flex:1}
header small{color:inherit}
header button{background:none;border-color:transparent;color:inherit;padding:0 8px;font-size:20px;line-height:1.2}
header button:focus-visible{outline-color:var(--fd-accent-fg)!important;outline-offset:0!important}
.dot{width:10px;height:10px;border-radius:50%;background:var(--fd-warn);border:1px solid #fff}
.on .dot{background:#2da44e}
section,details{border-top:1px solid var(--fd-border)}
details>summary{padding:10px 14px;cursor:pointer;font-weight:600}
details>div,section{padding:10px 14px}
summary:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,.stars input:focus-visible+label{outline:3px solid var(--fd-accent);outline-offset:2px}
.stats{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;text-align:center}
.stats b{display:block;font-size:20px}
.stats span,.muted,small{color:var(--fd-muted)}
ul{list-style:none;margin:0;padding:0}
li{padding:6px 0;border-bottom:1px solid var(--fd-border)}
li:last-child{border-bottom:0}
.chips{display:flex;flex-wrap:wrap;gap:4px;margin-top:8px}
.chip{border:1px solid var(--fd-border);border-radius:99px;padding:1px 8px;font-size:12px}
.chip.on{border-color:var(--fd-ok);color:var(--fd-ok)}
label,legend{display:block;margin:6px 0 2px;font-size:13px;color:var(--fd-muted)}
input,select,textarea{font:inherit;color:inherit;background:var(--fd-bg);border:1px solid var(--fd-border);border-radius:6px;padding:6px 8px;width:100%}
input[type=radio],input[type=checkbox]{width:auto}
button.ghost{background:transparent;color:var(--fd-accent)}
button:disabled{opacity:.55;cursor:not-allowed}
.row{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-top:8px}
.row>*{flex:1}
.row>button{flex:0 0 auto}
fieldset{border:0;padding:0;margin:0}
.media label,.il label{display:inline-flex;gap:4px;align-items:center;margin-inline-end:10px;color:var(--fd-fg)}
.log{max-height:220px;overflow:auto;display:flex;flex-direction:column;gap:6px;padding:4px 0}
.msg{max-width:85%;padding:6px 10px;border-radius:12px;background:var(--fd-msg);align-self:flex-start}
.msg.me{align-self:flex-end;background:var(--fd-accent);color:var(--fd-accent-fg)}
.msg.me small{color:inherit}
.status-placed,.status-processing{color:var(--fd-warn)}.status-shipped,.status-delivered{color:var(--fd-ok)}.status-cancelled{color:var(--fd-bad)}
.err{color:var(--fd-bad);font-size:13px;margin:4px 0 0}
.err:empty{display:none}
.ag{border:1px solid var(--fd-border);border-radius:6px;padding:6px 8px;margin:6px 0}
.ag .days label{display:inline-flex;gap:3px;align-items:center;margin:0;margin-inline-end:8px;color:var(--fd-fg)}
.ag .row label{margin:0}
.call .v{position:relative;background:#000;border-radius:6px;overflow:hidden;margin-top:6px}
.call video{display:block;width:100%;aspect-ratio:4/3}
.call #lv{position:absolute;inset-inline-end:6px;bottom:6px;width:30%;border:1px solid #fff;border-radius:4px}
.call .off{position:absolute;inset:0;display:grid;place-items:center;color:#fff}
button.bad{background:var(--fd-bad);border-color:var(--fd-bad)}
.done{background:var(--fd-msg);border-radius:6px;padding:8px 10px;margin-bottom:8px}
.stars label{display:inline;font-size:24px;margin:0 2px;cursor:pointer;color:var(--fd-muted)}
.stars label.on{color:var(--fd-warn)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.stats b{font-size:17px}}
`;

/** What the panel adds to the widget element. */
class Panel {
  // The panel's markup inside the launcher's frame, and its handlers.
  fill() {
    const h = (k, a) => this.h(k, a);
    const dn = (i) => esc(new Date(Date.UTC(2024, 0, i + 1)).toLocaleString(this.loc, { weekday: 'short', timeZone: 'UTC' }));
    this.dayNames = DAYS.map((_, i) => dn(i));
    this.$('#panel').innerHTML = `<style>${CSS}</style>
 <header><span class="dot" aria-hidden="true"></span><h2 id="hd" tabindex="-1">${esc(this.getAttribute('title') || this.t('title'))}</h2><small id="conn" role="status">${h('connecting')}</small>${this.inline ? '' : `<button type="button" id="min" aria-label="${h('min')}">×</button>`}</header>
 <section aria-labelledby="st-h" data-testid="status"><h3 id="st-h" class="sr">${h('status')}</h3>
  <div class="stats" aria-live="polite">
   <div><b id="avail">—</b><span id="avail-l">${h('avail', { n: 2 })}</span></div>
   <div><b id="holding">—</b><span>${h('waiting')}</span></div>
   <div><b id="hold">—</b><span>${h('hold')}</span></div>
  </div>
  <div class="chips" id="media" role="group" aria-label="${h('offered')}"></div>
 </section>
 <section aria-labelledby="inv-h" id="invs" hidden><h3 id="inv-h" style="margin:0 0 6px;font-size:14px">${h('invs')}</h3><ul id="inv-list"></ul><p class="err" id="inv-msg" role="alert"></p></section>
 <section aria-labelledby="ct-h" data-testid="contact"><h3 id="ct-h" style="margin:0;font-size:14px">${h('talk')}</h3>
  <div id="live"></div>
  <div id="done" class="done" data-testid="ended" hidden><p id="done-t" role="status" style="margin:0"></p>
   <form id="rate"><fieldset class="stars"><legend>${h('rate')}</legend>${[1, 2, 3, 4, 5].map((n) => `<input type="radio" class="sr" name="stars" id="r${n}" value="${n}"><label for="r${n}" title="${h('stars', { n })}"><span aria-hidden="true">★</span><span class="sr">${h('stars', { n })}</span></label>`).join('')}</fieldset>
   <div class="row"><input id="r-note" aria-label="${h('comment')}" placeholder="${h('comment')}"><button id="r-go">${h('sendrate')}</button></div></form>
   <p id="r-msg" role="status" class="muted"></p>
   <div class="row"><button type="button" class="ghost" id="dl">${h('download')}</button><button type="button" class="ghost" id="done-x">${h('close')}</button></div></div>
  <div id="call" class="call" data-testid="call" hidden><div class="v" id="vids"><video id="rv" autoplay playsinline></video><span class="off" id="roff" hidden>${h('camoff')}</span><video id="lv" autoplay playsinline muted></video></div>
   <p><b id="call-st" role="status"></b> <span id="call-t" role="timer" aria-label="${h('duration')}"></span> <small id="call-peer"></small></p>
   <div class="row" id="call-ctl"><button type="button" class="ghost" id="c-mute">${h('mute')}</button><button type="button" class="ghost" id="c-cam">${h('camoff')}</button><button type="button" class="bad" id="c-hang">${h('hang')}</button></div>
   <div class="row" id="call-dev" hidden><select id="c-mic" aria-label="${h('mic')}"></select><select id="c-vdev" aria-label="${h('cam')}"></select></div>
   <p class="err" id="call-err" role="alert"></p></div>
  <div id="chat" hidden>
   <div class="log" id="log" role="log" aria-live="polite" aria-label="${h('transcript')}" tabindex="0"></div>
   <p class="muted" id="typing" aria-live="polite" data-testid="typing"></p>
   <form class="row" id="say"><input id="say-in" aria-label="${h('message')}" placeholder="${h('type')}" autocomplete="off"><button>${h('send')}</button><button type="button" class="ghost" id="file" aria-label="${h('file')}" title="${h('file')}"><span aria-hidden="true">📎</span></button><input type="file" id="file-in" hidden accept="image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain"><button type="button" class="ghost" id="end">${h('end')}</button></form>
   <button type="button" class="ghost" id="notify" hidden style="margin-top:6px">${h('notify')}</button>
   <p class="err" id="c-msg" role="alert"></p>
  </div>
  <form id="start">
   <fieldset class="media"><legend class="sr">${h('medium')}</legend><div id="pick"></div></fieldset>
   <p id="s-note" role="status" data-testid="offline-note" hidden></p>
   <div class="row"><select id="s-product" aria-label="${h('product')}"><option value="">${h('anyprod')}</option></select>
   <input id="s-topic" aria-label="${h('topic')}" placeholder="${h('about')}"><button id="s-go">${h('start')}</button></div>
   <div id="cb" class="row" hidden><input id="cb-num" type="tel" aria-label="${h('phone')}" placeholder="+44 20 7946 0000" autocomplete="tel">
   <select id="cb-when" aria-label="${h('when')}"></select></div>
   <div id="mail" hidden><input id="m-addr" type="email" aria-label="${h('email')}" placeholder="${h('email')}" autocomplete="email">
   <textarea id="m-text" aria-label="${h('yourmsg')}" rows="3" placeholder="${h('yourmsg')}"></textarea></div>
   <p class="err" id="s-msg" role="alert"></p>
  </form>
 </section>
 <details id="d-prof"><summary>${h('profile')}</summary><div><form id="prof">
  <label for="p-name">${h('name')}</label><input id="p-name">
  <div class="row"><div><label for="p-country">${h('country')}</label><input id="p-country"></div><div><label for="p-lang">${h('langs')}</label><input id="p-lang" placeholder="en, fr"></div></div>
  <label for="p-birth">${h('birth')}</label><input id="p-birth" type="number" inputmode="numeric" min="1900" max="2100" autocomplete="bday-year">
  <fieldset id="p-caps"><legend>${h('reach')}</legend>${['chat', 'voice', 'video', 'callback', 'email'].map((m) => `<div class="row"><label><input type="checkbox" data-cap="${m}">${h(`m_${m}`)}</label>${m === 'callback' || m === 'email' ? `<input data-capaddr="${m}" type="${m === 'email' ? 'email' : 'tel'}" aria-label="${h(m === 'email' ? 'email' : 'phone')}" autocomplete="${m === 'email' ? 'email' : 'tel'}">` : ''}</div>`).join('')}</fieldset>
  <fieldset class="il"><legend>${h('interested')}</legend><div id="p-products"></div></fieldset>
  <label for="p-topics">${h('topics')}</label><input id="p-topics" placeholder="billing, wifi">
  <fieldset id="p-agenda"><legend>${h('agenda')}</legend><div id="ag-rows"></div>
  <button type="button" class="ghost" id="ag-add">${h('addwin')}</button></fieldset>
  <div class="row"><small id="p-msg" role="status"></small><button>${h('saveprof')}</button></div></form></div></details>
 <details id="d-hist"><summary>${h('history')}</summary><div>
  <div class="row"><select id="h-product" aria-label="${h('byprod')}"><option value="">${h('allprod')}</option></select>
  <select id="h-agent" aria-label="${h('byagent')}"><option value="">${h('allagents')}</option></select></div>
  <ul id="h-list" data-testid="history"></ul><p class="err" id="h-msg" role="alert"></p></div></details>
 <details id="d-ord"><summary>${h('orders')}</summary><div><ul id="o-list"></ul>
  <form id="o-form" hidden><p id="o-which" style="margin:0"></p><label for="o-addr">${h('address')}</label><input id="o-addr" autocomplete="street-address" required>
  <label for="o-win">${h('dwindow')}</label><input id="o-win"><label for="o-ins">${h('instr')}</label><input id="o-ins">
  <div class="row"><small id="o-msg" role="status"></small><button>${h('savedel')}</button><button type="button" class="ghost" id="o-cancel">${h('cancel')}</button></div></form></div></details>
 <details id="d-al"><summary>${h('alerts')}</summary><div>
  <button type="button" class="ghost" id="al-sub">${h('tellme')}</button><p class="err" id="al-msg" role="alert"></p><ul id="al-list"></ul></div></details>`;
    this.mediaKey = null;
    this.profileRev = '';
    this.logHtml = null;
    this.done = null;
    const $ = (s) => this.$(s);
    if (!this.inline) $('#min').onclick = () => this.toggle(false);
    $('#start').onsubmit = (e) => { e.preventDefault(); this.startLive(); };
    $('#say').onsubmit = (e) => { e.preventDefault(); this.say(); };
    $('#say-in').oninput = (e) => this.typed(!!e.target.value);
    $('#log').onclick = (e) => {
      const b = e.target.dataset.before, li = this.current || this.done?.li, f = e.target.closest('[data-file]');
      if (b && li) this.client.getTranscript(li.id, { before: +b }).catch(this.shown('#c-msg'));
      if (f) this.fetchFile(f, '#c-msg');
    };
    $('#h-list').onclick = (e) => {
      const b = e.target.closest('[data-tr]'), f = e.target.closest('[data-file]');
      if (b) this.client.getTranscript(b.dataset.tr).then((m) => { this.trs[b.dataset.tr] = m; this.history(this.hrows); }, this.shown('#h-msg'));
      if (f) this.fetchFile(f, '#h-msg');
    };
    $('#file').onclick = () => $('#file-in').click();
    $('#file-in').onchange = (e) => {
      const f = e.target.files?.[0];
      e.target.value = '';
      if (f && this.current) { $('#c-msg').textContent = ''; this.client.attach(this.current.id, f).catch(this.shown('#c-msg')); }
    };
    $('#o-list').onclick = (e) => { const b = e.target.closest('[data-ord]'); if (b) this.editDelivery(b.dataset.ord); };
    $('#o-cancel').onclick = () => { $('#o-form').hidden = true; };
    $('#o-form').onsubmit = (e) => { e.preventDefault(); this.saveDelivery(); };
    $('#end').onclick = () => this.current && this.client.endInteraction(this.current.id).catch(this.shown('#c-msg'));
    $('#live').onclick = (e) => e.target.closest('#cb-cancel') && this.current && this.client.endInteraction(this.current.id).catch(this.shown('#s-msg'));
    $('#c-hang').onclick = () => (this.call && !this.call.ended ? this.call.hangUp() : this.current && this.client.endInteraction(this.current.id).catch(this.shown('#call-err')));
    $('#c-mute').onclick = () => this.call?.setMuted(!this.call.muted);
    $('#c-cam').onclick = () => this.call?.setCamera(!this.call.camera).catch((x) => { $('#call-err').textContent = this.t('k_dev', { w: x.message }); });
    $('#prof').onsubmit = (e) => { e.preventDefault(); this.saveProfile(); };
    $('#h-product').onchange = $('#h-agent').onchange = () => this.refreshHistory();
    $('#al-sub').onclick = () => this.client?.subscribeAlert({ when: 'agent_available' })
      .then(() => { $('#al-sub').textContent = this.t('willtell'); $('#al-sub').disabled = true; $('#al-msg').textContent = ''; }, this.shown('#al-msg'));
    $('#inv-list').onclick = (e) => {
      const b = e.target.closest('button[data-inv]');
      if (b) this.client.respondInvitation(b.dataset.inv, b.dataset.accept === '1').then(() => { $('#inv-msg').textContent = ''; }, this.shown('#inv-msg'));
    };
    $('#ag-add').onclick = () => $('#ag-rows').insertAdjacentHTML('beforeend', this.window());
    $('#ag-rows').onclick = (e) => e.target.closest('.ag-del')?.closest('.ag').remove();
    $('#notify').onclick = () => Notification.requestPermission().then((p) => { if (p === 'granted') store(localStorage, 'frontdesk:notify', '1'); this.update(); });
    $('#dl').onclick = () => this.download();
    $('#done-x').onclick = () => { this.done = null; this.update(); this.focusIn()?.focus(); };
    $('.stars').onchange = () => { const n = +this.root.querySelector('.stars input:checked')?.value; this.root.querySelectorAll('.stars label').forEach((l, i) => l.classList.toggle('on', i < n)); };
    $('#rate').onsubmit = (e) => { e.preventDefault(); this.rate(); };
    if (this.why) $('#conn').textContent = this.why;
    this.layout();
  }

  time(ms, o = { dateStyle: 'short', timeStyle: 'short' }) { return ms ? new Date(ms).toLocaleString(this.loc, o) : ''; }
  at(ms) { return this.time(ms, { weekday: 'short', hour: '2-digit', minute: '2-digit' }); }
  shown(sel) { return (err) => { const m = this.$(sel); if (m) m.textContent = err?.message || String(err); }; }

  window(w = { days: [1, 2, 3, 4, 5], start_minute: 540, end_minute: 1020, time_zone: localZone() }) {
    const tz = [...new Set([w.time_zone, ...zoneList()])];
    return `<div class="ag" data-testid="agenda-window"><fieldset class="days"><legend class="sr">${this.h('days')}</legend>${this.dayNames.map((d, i) => `<label><input type="checkbox" value="${i + 1}"${w.days.includes(i + 1) ? ' checked' : ''}>${d}</label>`).join('')}</fieldset>
<div class="row"><label>${this.h('from')} <input type="time" class="ag-from" value="${hhmm(w.start_minute)}"></label><label>${this.h('to')} <input type="time" class="ag-to" value="${hhmm(w.end_minute % 1440)}"></label></div>
<div class="row"><select class="ag-tz" aria-label="${this.h('tz')}">${tz.map((z) => `<option${z === w.time_zone ? ' selected' : ''}>${esc(z)}</option>`).join('')}</select><button type="button" class="ghost ag-del">${this.h('remove')}</button></div></div>`;
  }

  // The status in the panel (the launcher keeps its own part: status() in web/widget.js).
  panelStatus(s) {
    const offered = s.queues.filter((q) => q.offered);
    const holds = offered.map((q) => q.estimated_hold_secs).filter((x) => x != null);
    const n = s.agents.filter((a) => a.state === 'available').length;
    this.$('#avail').textContent = n;
    this.$('#avail-l').textContent = this.t('avail', { n });
    this.$('#holding').textContent = offered.reduce((k, q) => k + q.holding, 0);
    this.$('#hold').textContent = holds.length ? secs(Math.min(...holds), this.lng) : '—';
    const mk = s.media_offered.join();
    if (mk !== this.mediaKey) {
    this.mediaKey = mk;
    this.$('#media').innerHTML = MEDIA.map((m) => `<span class="chip${s.media_offered.includes(m) ? ' on' : ''}">${this.h(`m_${m}`)}${s.media_offered.includes(m) ? '' : ` ${this.h('off')}`}</span>`).join('');
    this.$('#pick').innerHTML = MEDIA.map((m) => `<label><input type="radio" name="m" value="${m}"${s.media_offered.includes(m) ? '' : ' disabled'}${(this.medium || 'chat') === m ? ' checked' : ''}>${this.h(`m_${m}`)}</label>`).join('');
    this.$('#pick').onchange = (e) => { this.medium = e.target.value; this.mailForm(); };
    }
    const live = offered.filter((q) => q.medium !== 'email');
    const closed = s.queues.filter((q) => !q.open);
    const note = this.$('#s-note');
    note.hidden = live.length > 0;
    note.textContent = (closed.length && !live.length
      ? (closed[0].until ? this.t('closeduntil', { u: this.time(closed[0].until) }) : this.t('closed'))
      : this.t('nobody')) + ` ${this.t('writeus')}`;
    if (!live.length && s.media_offered.includes('email') && (this.medium || 'chat') !== 'email') {
      this.medium = 'email';
      this.mediaKey = null;
      this.panelStatus(s);
      return;
    }
    this.mailForm();
    this.statusShown();
  }

  callbackState(li) {
    const cb = li.callback || {};
    const n = cb.number || li.client_address || '';
    const a = li.agent || this.t('anagent');
    const text = cb.phase === 'retry_at' ? this.t('cb_retry', { r: this.t(['busy', 'no_answer', 'unreachable', 'interrupted'].includes(cb.reason) ? cb.reason : 'notthrough'), at: this.at(cb.retry_at), n })
      : cb.phase === 'dialing_agent' ? this.t('cb_agent', { n })
      : cb.phase === 'dialing_customer' ? this.t('cb_calling', { n })
      : cb.phase === 'connected' ? this.t('cb_on', { a })
      : cb.at && cb.at > Date.now() && !li.position ? this.t('cb_at', { n, at: this.at(cb.at) })
      : li.state === 'queued' ? this.t('cb_queued', { p: li.position, n, w: secs(li.estimated_hold_secs, this.lng) })
      : this.t('cb_conn', { a, n });
    return `<p role="status" data-testid="callback-state" data-phase="${esc(cb.phase || '')}">${esc(text)}</p>${cb.phase === 'connected' ? '' : `<div class="row"><button type="button" class="ghost" id="cb-cancel">${this.h('cb_cancel')}</button></div>`}`;
  }

  paint() {
    const c = this.client;
    if (!c) return;
    const v = c.view();
    const $ = (s) => this.$(s);
    // Focus on something this update hides or removes moves on to the message box or Start.
    const focused = this.root.activeElement;
    $('.w').classList.toggle('on', v.connected);
    if (v.connected) this.everOnline = true;
    $('#conn').textContent = v.connected ? this.t('online') : this.problem || this.t(this.everOnline ? 'reconnecting' : 'connecting');
    const inv = v.invitations.filter((i) => i.state === 'pending' && i.direction === 'agent_to_client');
    $('#invs').hidden = !inv.length;
    $('#inv-list').innerHTML = inv.map((i) => `<li data-testid="invitation">${this.h('invites', { a: i.agent_name, m: this.t(`a_${i.medium}`), t: i.message })}
      <div class="row"><button data-inv="${esc(i.id)}" data-accept="1">${this.h('accept')}</button><button class="ghost" data-inv="${esc(i.id)}" data-accept="0">${this.h('decline')}</button></div></li>`).join('');
    const live = v.interactions.filter((x) => x.state !== 'ended').sort((a, b) => b.created_at - a.created_at)[0];
    const prev = this.current;
    if (prev && prev.id !== live?.id) {
      const p = v.interactions.find((x) => x.id === prev.id);
      if (p?.state === 'ended' && p.agent && ['chat', 'voice', 'video'].includes(p.medium)) this.done = { li: p };
    }
    if (live) this.done = null;
    this.current = live;
    const done = this.done?.li;
    $('#start').hidden = !!live || (this.restored && !this.synced && v.connected);
    $('#live').innerHTML = !live ? '' : live.medium === 'callback' ? this.callbackState(live) : live.medium === 'email'
      ? `<p role="status">${this.h(live.agent ? 'mailon' : 'mailwith', { t: live.topic || '', a: live.agent, to: live.client_address || '' })}</p>`
      : live.state === 'queued'
      // Back in line after an agent spoke: a transfer; the next agent sees the conversation.
      ? `<p role="status" data-testid="queued">${this.h((v.chats[live.id] || []).some((m) => m.from.kind === 'agent') ? 'xfer' : 'queued', { p: live.position, m: this.t(`m_${live.medium}`), w: secs(live.estimated_hold_secs, this.lng) })}</p>`
      : isCall(live) ? '' : `<p role="status">${this.h('conn', { a: live.agent, m: this.t(`m_${live.medium}`) })}</p>`;
    $('#done').hidden = !done;
    if (done) $('#done-t').textContent = this.t('ended', { m: this.t(`m_${done.medium}`), a: done.agent });
    const shown = live || done;
    $('#chat').hidden = !shown || shown.medium === 'callback';
    $('#say').hidden = !live;
    $('#notify').hidden = !live || !globalThis.Notification || Notification.permission === 'denied' || (Notification.permission === 'granted' && !!store(localStorage, 'frontdesk:notify'));
    this.callPanel(live);
    if (shown) {
      const delivered = new Set(v.delivered.map(([i, s]) => `${i}/${s}`)), rd = v.read[shown.id] || 0;
      const sending = v.pending.filter((p) => p.req.op === 'send_chat' && p.req.interaction === shown.id);
      const log = $('#log');
      const msgs = v.chats[shown.id] || [], mine = msgs.filter((m) => m.from.kind === 'client' && m.seq <= rd).pop();
      const html = (msgs[0]?.seq > 1 ? `<button class="ghost" data-before="${msgs[0].seq}" data-testid="earlier">${this.h('earlier')}</button>` : '') + msgs.map((m) => `<div class="msg${m.from.kind === 'client' ? ' me' : ''}" data-testid="msg">${m.attachment ? this.chip(shown.id, m) : esc(m.text)}${m.from.kind === 'client' && delivered.has(`${shown.id}/${m.seq}`) ? ` <small aria-label="${this.h('delivered')}">✓</small>` : ''}${m === mine ? `<br><small data-testid="read">${this.h('read')}</small>` : ''}</div>`).join('')
        + sending.map((p) => `<div class="msg me" data-testid="msg-pending">${esc(p.req.text)} <small>${this.h('sending')}</small></div>`).join('');
      // Only when it changed: a rewrite under the pointer or the keyboard focus would lose a click on a file.
      if (html !== this.logHtml) { log.innerHTML = this.logHtml = html; log.scrollTop = log.scrollHeight; }
      // The agent's messages count as read only while the panel is open on a visible page.
      const last = msgs.filter((m) => m.from.kind === 'agent').pop()?.seq;
      if (live && last > (this.marked?.[live.id] ?? 0) && this.isOpen && !document.hidden) (this.marked ??= {})[live.id] = last, c.markRead(live.id, last).catch(() => {});
    }
    $('#typing').textContent = live && v.typing[live.id] ? this.t('typing', { a: live.agent }) : '';
    if (focused && (!focused.isConnected || focused.closest('[hidden]'))) this.focusIn()?.focus();
    const prods = v.products;
    const opt = (sel, items, keep) => { const s = $(sel); const cur = s.value; s.innerHTML = keep + items.map(([id, n]) => `<option value="${esc(id)}">${esc(n)}</option>`).join(''); s.value = cur; };
    opt('#s-product', prods.map((p) => [p.id, p.name]), `<option value="">${this.h('anyprod')}</option>`);
    opt('#h-product', prods.map((p) => [p.id, p.name]), `<option value="">${this.h('allprod')}</option>`);
    const agents = [...new Set(v.history.map((r) => r.agent).filter(Boolean))];
    if (!this.filter.agent) opt('#h-agent', agents.map((a) => [a, a]), `<option value="">${this.h('allagents')}</option>`);
    this.prods = prods;
    $('#o-list').innerHTML = v.orders.map((o) => `<li data-testid="order"><b>${esc(o.id)}</b> ${esc(this.product(o.product))} — <span class="status-${esc(o.status)}">${esc(o.status)}</span><br><small>${esc(o.delivery.address)}${o.delivery.window ? ` · ${esc(o.delivery.window)}` : ''}</small>
      <button type="button" class="ghost" data-ord="${esc(o.id)}" aria-label="${this.h('chdel')} ${esc(o.id)}">${this.h('chdel')}</button></li>`).join('') || `<li class="muted">${this.h('noorders')}</li>`;
    $('#al-list').innerHTML = v.alerts.slice().reverse().map((a) => `<li role="alert">${esc(a.message)} <small>${this.time(a.at)}</small></li>`).join('');
    this.history(v.history);
    const pk = JSON.stringify(v.profile) + prods.length;
    if (pk !== this.profileRev && !$('#prof').contains(this.root.activeElement)) { this.profileRev = pk; this.fillProfile(v.profile, prods); }
  }

  product(id) { return (this.prods || []).find((p) => p.id === id)?.name || id || ''; }

  download() {
    const li = this.done?.li;
    if (!li) return;
    const who = (m) => (m.from.kind === 'client' ? this.t('you') : li.agent || m.from.id);
    const text = [`${this.getAttribute('title') || this.t('title')} — ${this.time(li.created_at)}${li.topic ? ` — ${li.topic}` : ''}`, '',
      ...(this.client.view().chats[li.id] || []).map((m) => `[${this.time(m.at)}] ${who(m)}: ${m.text}`)].join('\n');
    this.keep(new Blob([`${text}\n`], { type: 'text/plain;charset=utf-8' }), `transcript-${li.id}.txt`);
  }

  fetchFile(f, err) {
    this.client.attachment(f.dataset.ix, +f.dataset.file).then((blob) => this.keep(blob, f.dataset.name), this.shown(err));
  }

  // A download the visitor keeps (a transcript, a file from the conversation). Not `save`: the
  // launcher's instance has a `save` that stores the session.
  keep(blob, name) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    this.root.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60e3);
  }

  editDelivery(id) {
    const o = this.client.view().orders.find((x) => x.id === id);
    if (!o) return;
    this.editing = id;
    this.$('#o-which').textContent = `${o.id} — ${this.product(o.product)}`;
    this.$('#o-addr').value = o.delivery.address || '';
    this.$('#o-win').value = o.delivery.window || '';
    this.$('#o-ins').value = o.delivery.instructions || '';
    this.$('#o-msg').textContent = '';
    this.$('#o-form').hidden = false;
    this.$('#o-addr').focus();
  }

  saveDelivery() {
    const m = this.$('#o-msg');
    const delivery = { address: this.$('#o-addr').value.trim(), window: this.$('#o-win').value.trim() || null, instructions: this.$('#o-ins').value.trim() || null };
    m.textContent = this.t('saving');
    this.client.updateDelivery(this.editing, delivery).then(() => { m.textContent = this.t('saved'); }, (x) => { m.textContent = x.message; });
  }

  rate() {
    const n = +this.root.querySelector('.stars input:checked')?.value;
    const li = this.done?.li;
    if (!n || !li) return;
    const note = this.$('#r-note').value.trim();
    const m = this.$('#r-msg');
    m.textContent = this.t('saving');
    this.client.addNote(li.id, `Rating: ${n}/5${note ? ` — ${note}` : ''}`).then(() => {
      m.textContent = this.t('thanks');
      this.$('#rate').hidden = true;
    }, this.shown('#r-msg'));
  }

  callPanel(live) {
    let k = this.call;
    if (k && (live ? live.id !== k.id : !k.ended)) { k.close(); if (live) k = this.call = null; }
    // The call code loads while the call is queued (or, at the latest, once it is connected).
    if (isCall(live) && !this.Call) loadCall().then((C) => { this.Call = C; this.update(); }, (x) => { this.$('#call-err').textContent = x.message; });
    if (!k && isCall(live) && live.state === 'connected' && this.Call) {
      const iceTransportPolicy = this.getAttribute('ice-policy') === 'relay' ? 'relay' : 'all';
      k = this.call = new this.Call(this.client, live.id, { video: live.medium === 'video', polite: true, iceTransportPolicy, devices: this.devices, onchange: () => this.callView() });
      this.$('#call-err').textContent = '';
      this.devKey = null;
      k.start();
    }
    this.$('#call').hidden = !k && !isCall(live);
    this.callView();
  }

  callView() {
    const k = this.call;
    const li = this.current;
    const $ = (s) => this.$(s);
    const t = (x, a) => this.t(x, a);
    clearTimeout(this.tick);
    if (!k) {
      $('#call-st').textContent = li?.state === 'queued' ? t('ringing') : '';
      $('#vids').hidden = $('#c-mute').hidden = $('#c-cam').hidden = true;
      $('#call-ctl').hidden = false;
      $('#call-t').textContent = $('#call-peer').textContent = '';
      return;
    }
    const e = k.ended;
    const a = li?.agent || t('theagent');
    $('#call-st').textContent = e ? (e.reason === 'media_refused' ? (e.by === 'local' ? '' : t('k_refused', { a }))
      : e.reason === 'failed' ? t('k_failed') : e.by === 'local' ? t('k_ended') : t('k_endedby', { a }))
      : t(k.state === 'media' && k.video ? 'k_mediav' : `k_${k.state}`, { a });
    const why = (x) => (x?.name === 'NotAllowedError' ? t('denied') : x?.message || x?.name);
    if (e?.reason === 'media_refused' && e.by === 'local') $('#call-err').textContent = t('k_dev', { w: why(k.error) });
    $('#vids').hidden = !k.video || !!e;
    $('#call-ctl').hidden = !!e;
    $('#c-cam').hidden = !k.video;
    $('#c-mute').hidden = false;
    $('#c-mute').textContent = t(k.muted ? 'unmute' : 'mute');
    $('#c-cam').textContent = t(k.camera ? 'camoff' : 'camon');
    $('#c-mute').disabled = $('#c-cam').disabled = !k.local;
    $('#roff').hidden = k.peer.camera;
    $('#call-peer').textContent = k.peer.muted ? t('k_muted', { a }) : '';
    if ($('#rv').srcObject !== k.remote) $('#rv').srcObject = k.remote;
    if (k.local && $('#lv').srcObject !== k.local) $('#lv').srcObject = k.local;
    $('#call-dev').hidden = !k.local || !!e;
    if (k.local && !e) this.devicePickers(k, why);
    $('#call-t').textContent = k.connectedAt && !e ? clock(Date.now() - k.connectedAt) : '';
    if (k.connectedAt && !e) this.tick = setTimeout(() => this.callView(), 1000);
  }

  async devicePickers(k, why) {
    const key = `${k.id}/${k.camera}/${k.devices.audio}/${k.devices.video}`;
    if (this.devKey === key) return;
    this.devKey = key;
    if (!this.devWatch) navigator.mediaDevices.addEventListener('devicechange', this.devWatch = () => { this.devKey = null; if (this.call) this.callView(); });
    const d = await this.Call.deviceList().catch(() => ({ audio: [], video: [] }));
    const cur = { audio: k.local?.getAudioTracks()[0]?.getSettings().deviceId, video: k.local?.getVideoTracks()[0]?.getSettings().deviceId };
    for (const [kind, sel, name] of [['audio', '#c-mic', this.t('mic')], ['video', '#c-vdev', this.t('cam')]]) {
      const s = this.$(sel);
      s.hidden = kind === 'video' && !k.video;
      s.innerHTML = d[kind].map((x, i) => `<option value="${esc(x.deviceId)}"${(k.devices[kind] || cur[kind]) === x.deviceId ? ' selected' : ''}>${esc(x.label || `${name} ${i + 1}`)}</option>`).join('');
      s.onchange = () => {
        this.devices = { ...this.devices, [kind]: s.value };
        this.$('#call-err').textContent = '';
        k.setDevice(kind, s.value).catch((x) => { this.devKey = null; this.$('#call-err').textContent = this.t('k_dev', { w: why(x) }); this.callView(); });
      };
    }
  }

  history(records) {
    const f = this.filter;
    const rows = records.filter((r) => (!f.product || r.product === f.product) && (!f.agent || r.agent === f.agent));
    this.hrows = records;
    const tr = this.trs ??= {};
    // A past conversation's transcript, read on demand (users keep coming back for what was said).
    const past = (r) => (tr[r.id] ? `<div class="tr" data-testid="past-transcript">${tr[r.id].map((m) => `<div><small>${esc(this.time(m.at))}</small> ${esc(m.from.kind === 'client' ? this.t('you') : r.agent || m.from.id)}: ${m.attachment ? this.chip(r.id, m) : esc(m.text)}</div>`).join('') || this.h('nothing')}</div>`
      : `<button type="button" class="ghost" data-tr="${esc(r.id)}" aria-label="${this.h('pasttr')} ${esc(this.time(r.started_at))}">${this.h('pasttr')}</button>`);
    this.$('#h-list').innerHTML = rows.map((r) => `<li><b>${esc(r.summary)}</b><br><small>${[this.time(r.started_at), this.t(`m_${r.medium}`), this.product(r.product), r.agent, r.outcome].filter(Boolean).map(esc).join(' · ')}</small>${r.medium === 'callback' ? '' : `<br>${past(r)}`}</li>`).join('') || `<li class="muted">${this.h('nothing')}</li>`;
  }

  // A file in a conversation: a button that downloads it with the session's token.
  chip(ix, m) {
    return `<button type="button" class="ghost" data-ix="${esc(ix)}" data-file="${m.seq}" data-name="${esc(m.attachment.name)}" data-testid="file"><span aria-hidden="true">📎</span> ${esc(m.attachment.name)} <small>(${Math.max(1, Math.round(m.attachment.size / 1024))} KB)</small></button>`;
  }
  loadHistory() {
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
    this.$('#p-birth').value = d.birth_year ?? '';
    for (const c of this.root.querySelectorAll('#p-caps [data-cap]')) {
      const cap = p.capabilities.find((x) => x.medium === c.dataset.cap);
      c.checked = !!cap;
      const a = this.root.querySelector(`#p-caps [data-capaddr="${c.dataset.cap}"]`);
      if (a) a.value = cap?.address || '';
    }
    this.$('#p-topics').value = p.interests.topics.join(', ');
    this.$('#p-products').innerHTML = prods.map((x) => `<label><input type="checkbox" value="${esc(x.id)}"${p.interests.products.includes(x.id) ? ' checked' : ''}>${esc(x.name)}</label>`).join('');
    this.$('#ag-rows').innerHTML = p.agenda.map((w) => this.window(w)).join('');
  }

  saveProfile() {
    const v = this.client.view();
    const m = this.$('#p-msg');
    const agenda = [...this.root.querySelectorAll('#ag-rows .ag')].map((r) => ({
      days: [...r.querySelectorAll('.days input:checked')].map((i) => Number(i.value)),
      start_minute: mins(r.querySelector('.ag-from').value),
      end_minute: mins(r.querySelector('.ag-to').value) || 1440,
      time_zone: r.querySelector('.ag-tz').value || localZone(),
      media: [],
    }));
    if (agenda.some((w) => !w.days.length)) { m.textContent = this.t('needday'); return; }
    const by = this.$('#p-birth').value.trim();
    // What the visitor can use: checked media, with the address each needs; devices kept as they were.
    const capabilities = [...this.root.querySelectorAll('#p-caps [data-cap]:checked')].map((c) => {
      const medium = c.dataset.cap, old = v.profile.capabilities.find((x) => x.medium === medium);
      const address = this.root.querySelector(`#p-caps [data-capaddr="${medium}"]`)?.value.trim() || old?.address || null;
      return { medium, address, devices: old?.devices ?? (['chat', 'voice', 'video'].includes(medium) ? ['browser'] : []) };
    });
    const patch = {
      demographics: { ...v.profile.demographics, name: this.$('#p-name').value || null, country: this.$('#p-country').value || null, languages: list(this.$('#p-lang').value), birth_year: by ? Number(by) : null },
      capabilities,
      interests: { products: [...this.root.querySelectorAll('#p-products input:checked')].map((i) => i.value), topics: list(this.$('#p-topics').value) },
      agenda,
    };
    m.textContent = this.t('saving');
    this.client.updateProfile(patch).then(() => { m.textContent = this.t('saved'); }, (x) => { m.textContent = x.message; });
  }

  mailForm() {
    const mail = (this.medium || 'chat') === 'email';
    const cb = (this.medium || 'chat') === 'callback';
    this.$('#mail').hidden = !mail;
    this.$('#cb').hidden = !cb;
    if (cb) this.callbackForm();
    this.$('#s-go').textContent = this.t(mail ? 'sendmail' : cb ? 'callme' : 'start');
    this.$('#s-topic').placeholder = this.t(mail ? 'subject' : 'about');
    const cap = this.client?.view().profile.capabilities.find((c) => c.medium === 'email');
    const a = this.$('#m-addr');
    if (mail && !a.value && cap?.address) a.value = cap.address;
  }

  callbackForm() {
    const p = this.client?.view().profile;
    const cap = p?.capabilities.find((c) => c.medium === 'callback' || c.medium === 'voice');
    const n = this.$('#cb-num');
    if (!n.value && cap?.address) n.value = cap.address;
    const sel = this.$('#cb-when');
    const keep = sel.value;
    sel.innerHTML = `<option value="">${this.h('asap')}</option>` + agendaSlots(p?.agenda || [], Date.now())
      .map((t) => `<option value="${t}">${esc(this.at(t))}</option>`).join('');
    sel.value = keep;
  }

  startLive() {
    const medium = this.root.querySelector('#pick input:checked')?.value || 'chat';
    const product = this.$('#s-product').value || undefined;
    const topic = this.$('#s-topic').value || undefined;
    this.$('#s-msg').textContent = '';
    if (medium === 'callback') {
      const number = this.$('#cb-num').value.trim();
      if (!number) { this.$('#s-msg').textContent = this.t('needphone'); this.$('#cb-num').focus(); return; }
      const at = +this.$('#cb-when').value || undefined;
      this.client.requestCallback({ number, at, product, topic }).catch(this.shown('#s-msg'));
      return;
    }
    if (medium !== 'email') {
      const caps = this.client.view().profile.capabilities;
      const ready = medium !== 'video' || caps.some((c) => c.medium === 'video') ? Promise.resolve()
        : this.client.updateProfile({ capabilities: [...caps, { medium: 'video', address: null, devices: ['browser'] }] });
      ready.then(() => this.client.startInteraction(medium, product, topic)).then(() => { this.$('#s-topic').value = ''; }, this.shown('#s-msg'));
      return;
    }
    const addr = this.$('#m-addr').value.trim();
    const text = this.$('#m-text').value.trim();
    if (!/^[^@\s]+@[^@\s]+$/.test(addr)) { this.$('#s-msg').textContent = this.t('needmail'); return; }
    if (!text) { this.$('#s-msg').textContent = this.t('needtext'); return; }
    const caps = this.client.view().profile.capabilities;
    const cap = caps.find((c) => c.medium === 'email');
    const saved = cap?.address === addr ? Promise.resolve()
      : this.client.updateProfile({ capabilities: [...caps.filter((c) => c.medium !== 'email'), { medium: 'email', address: addr, devices: [] }] });
    saved.then(() => this.client.sendEmail(topic || this.t('deflt'), text, product))
      .then(() => { this.$('#m-text').value = ''; this.$('#s-topic').value = ''; }, this.shown('#s-msg'));
  }

  // Throttled by the client; a chat that just ended refuses it, which the customer need not see.
  typed(on) {
    try { this.current && this.client.sendTyping(this.current.id, on); } catch { /* not connected */ }
  }

  say() {
    const i = this.$('#say-in');
    if (!i.value.trim() || !this.current) return;
    this.$('#c-msg').textContent = '';
    this.client.sendChat(this.current.id, i.value).catch(this.shown('#c-msg'));
    i.value = '';
    this.typed(false);
  }
}

/** Adds the panel's methods to the widget's class `W`, with the helpers they share with the launcher. */
export function install(W, shared) {
  ({ esc, secs, store } = shared);
  for (const k of Object.getOwnPropertyNames(Panel.prototype)) if (k !== 'constructor') Object.defineProperty(W.prototype, k, Object.getOwnPropertyDescriptor(Panel.prototype, k));
}
