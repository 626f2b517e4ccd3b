// The agent desktop. The console runs the same reliable session as the widget (frontdesk.js, its wasm engine): requests
// queue while offline and survive a reload, events come once and in order and are replayed after a
// reconnect. It logs in and reads its seat on every connection, so a reload mid-chat continues the chat.
import init, { Agent, Call } from './frontdesk.js';
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const p = new URLSearchParams(location.hash.slice(1));
const token = p.get('token');
const server = p.get('server') || location.origin.replace(/^http/, 'ws');
// Per tab (sessionStorage) and server, not per token: a re-issued token resumes the same session.
const key = `frontdesk-agent:${server}`;
const errs = {};   // interaction id -> last error of its form
let a;
// Live calls: interaction id -> { call, el }. Their cards are built once and updated in place, so the
// media elements keep playing and the buttons keep focus while the rest of the console re-renders.
const calls = new Map();
globalThis.frontdeskCalls = calls;
// Desk state: requests the Agent class has no method for go through its one request path.
const req = (body) => a._call(body);
const desk = { me: null, role: null, state: null, outcomes: [], canned: [], center: null, gone: new Set(), notes: {}, hist: {}, orders: {}, trs: {}, wrapped: {}, loading: new Set() };
globalThis.frontdeskDesk = desk;
const DEFAULT_CANNED = ['Hello, how can I help you today?', 'Let me check that for you, one moment please.', 'Is there anything else I can help you with?', 'Thank you for contacting us. Have a nice day!'];
fetch('agent-canned.json').then((r) => (r.ok ? r.json() : DEFAULT_CANNED)).catch(() => DEFAULT_CANNED).then((c) => { desk.canned = Array.isArray(c) ? c.map(String) : DEFAULT_CANNED; if (a) render(); });
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const day = (ms) => new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
const STATE = { available: 'Available', busy: 'Busy', away: 'Away', after_work: 'After work', logged_out: 'Logged out' };

// An offer is hard to miss: a short tone, a desktop notification when allowed, and the bar at the top.
function ring(li) {
  try {
    const ctx = new AudioContext(); const o = ctx.createOscillator(); const g = ctx.createGain();
    o.frequency.value = 880; g.gain.value = 0.08; o.connect(g).connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.25);
  } catch { /* no audio */ }
  try { if (globalThis.Notification?.permission === 'granted') new Notification('New conversation offered', { body: `${li.client} · ${li.medium}${li.topic ? ` · ${li.topic}` : ''}` }); } catch { /* not allowed */ }
  desk.rang = (desk.rang || 0) + 1;
}

async function seat() {
  try {
    const s = await a.getSeat();
    desk.me = s.agent; desk.role = s.role; desk.state = s.state; desk.outcomes = s.wrap_up_outcomes || [];
    $('#wallboard').hidden = s.role !== 'supervisor';
    if (s.role === 'supervisor') wallboard();
    render();
  } catch { /* next connection */ }
}

async function wallboard() {
  if (!a?.connected || desk.role !== 'supervisor') return;
  try {
    const w = await req({ op: 'wallboard' });
    const pct = w.service_level == null ? '—' : `${Math.round(w.service_level * 100)}%`;
    const secs = (x) => (x == null ? '—' : `${Math.round(x)} s`);
    $('#wb').innerHTML = `<p><span class="big" data-testid="service-level">${pct}</span> service level (answered within ${w.threshold_secs} s, last ${Math.round(w.window_secs / 60)} min): <span data-testid="answered">${w.answered}</span> answered, ${w.answered_in_threshold} in time, <span data-testid="abandoned">${w.abandoned}</span> abandoned</p>
      <table data-testid="wb-queues"><caption class="muted">Queues</caption><thead><tr><th scope="col">Queue</th><th scope="col">Medium</th><th scope="col">Waiting</th><th scope="col">Longest wait</th><th scope="col">Est. hold</th><th scope="col">Free / staffed</th></tr></thead><tbody>
      ${w.queues.map((q) => `<tr data-queue="${esc(q.queue)}" data-medium="${esc(q.medium)}"><td>${esc(q.name)}</td><td>${esc(q.medium)}</td><td data-testid="holding">${q.holding}</td><td>${secs(q.longest_wait_secs)}</td><td>${secs(q.estimated_hold_secs)}</td><td>${q.agents_available} / ${q.agents_staffed}</td></tr>`).join('')}</tbody></table>
      <table data-testid="wb-agents"><caption class="muted">Agents</caption><thead><tr><th scope="col">Agent</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Live</th><th scope="col">Offer</th></tr></thead><tbody>
      ${w.agents.map((x) => `<tr data-agent="${esc(x.id)}"><td>${esc(x.name)}</td><td>${esc(x.role)}</td><td data-testid="wb-state">${esc(STATE[x.state] || x.state)}</td><td data-testid="wb-live">${x.live.length}</td><td>${x.offer ? 'ringing' : ''}</td></tr>`).join('')}</tbody></table>`;
  } catch (x) { $('#wb').textContent = x.message; }
}
setInterval(wallboard, 1500);

// The customer panel: profile, agenda, history with transcripts and notes, loaded once per client.
function history(client) {
  if (!desk.hist[client] && !desk.loading.has(client)) {
    desk.loading.add(client);
    a.clientHistory(client).then((h) => { desk.hist[client] = h; }, () => { desk.hist[client] = []; }).finally(() => { desk.loading.delete(client); render(); });
  }
  const h = desk.hist[client];
  if (!h) return '<p class="muted">Loading history…</p>';
  if (!h.length) return '<p class="muted">No past interactions.</p>';
  return `<ul>${h.slice(0, 10).map((r) => `<li data-testid="hist">${esc(day(r.started_at))} · ${esc(r.medium)} · ${esc(r.agent || '—')} · ${esc(r.outcome)}<br>${esc(r.summary)}
    ${r.notes.map((n) => `<div class="tr">${esc(n.author)}: ${esc(n.text)}</div>`).join('')}
    ${desk.trs[r.id] ? `<div class="tr" data-testid="past-transcript">${desk.trs[r.id].map((m) => `<div>${esc(m.from.kind === 'agent' ? m.from.id : client)} ${esc(time(m.at))}: ${esc(m.text)}</div>`).join('') || 'No messages.'}</div>` : `<button type="button" class="ghost" data-tr="${esc(r.id)}" aria-label="Transcript of ${esc(day(r.started_at))}">Transcript</button>`}</li>`).join('')}</ul>`;
}

async function boot() {
  await init();
  $('#phone').value = p.get('phone') || sessionStorage.getItem(`${key}:phone`) || '';
  let saved = null;
  try { saved = sessionStorage.getItem(key); } catch { /* storage blocked: start fresh */ }
  a = new Agent(server, token, { saved, name: p.get('name') || 'Ann', skills: ['router', 'phone', 'tv'], media: ['chat', 'voice', 'video', 'callback', 'email'] });
  globalThis.frontdeskAgent = a;
  // Leaving the console ends its calls: the hang-ups are queued first, so a reload still sends them.
  const save = () => { for (const { call } of calls.values()) call.hangUp(); try { sessionStorage.setItem(key, a.save()); } catch { /* best effort */ } };
  addEventListener('pagehide', save);
  a.on('change', render);
  a.on('offered', (li) => ring(li));
  a.on('connected', () => seat());
  // Handed on by this desk: no longer shown; to this desk: the note shows on the offer.
  a.on('transferred', (d) => { if (d.from === (desk.me || a.view().agent)) desk.gone.add(d.interaction); else desk.notes[d.interaction] = d; render(); });
  // Taken over from another agent: what was said before comes with it.
  a.on('event', (e) => { if (e.ev === 'connected') { desk.gone.delete(e.data.id); if (desk.notes[e.data.id]) a.transcript(e.data.id).catch(() => {}); } });
  try { if (globalThis.Notification?.permission === 'default') Notification.requestPermission().catch(() => {}); } catch { /* none */ }
  a.on('connected', () => {
    poll();
    // The seat keeps the phone; setting it again after a reconnect is harmless.
    if ($('#phone').value) a.setPhone($('#phone').value).catch((x) => { $('#conn').textContent = x.message; });
    if (!saved) { saved = '1'; a.setState($('#state').value).catch(() => {}); }
  });
  a.on('rejected', (e) => { $('#conn').textContent = `Rejected: ${e.message}`; });
  a.on('error', (e) => { $('#conn').textContent = `Error: ${e.message}`; });
  a.start();
}

let polling = false;
async function poll() {
  if (!a?.connected || polling) return;
  polling = true;
  try {
    const s = await a.centerStatus();
    desk.center = s;
    const me = s.agents.find((x) => x.id === (desk.me || a.view().agent));
    if (me) { desk.state = me.state; $('#mystate').textContent = STATE[me.state] || me.state; if (document.activeElement !== $('#state')) $('#state').value = me.state; }
    $('#center').innerHTML = s.queues.map((q) => `<li><b>${esc(q.name)}</b> ${esc(q.medium)}: ${q.agents_available} free · ${q.holding} waiting${q.offered ? '' : ' · closed'}</li>`).join('')
      + `<li>Agents: ${s.agents.map((x) => `${esc(x.name)} (${esc(x.state)})`).join(', ')}</li>`;
  } catch { /* shown on the next poll */ } finally { polling = false; }
}
setInterval(poll, 1500);

function who(pr) {
  if (!pr) return '<p class="muted">Loading customer…</p>';
  const d = pr.demographics;
  return `<dl><dt>Name</dt><dd>${esc(d.name || '—')}</dd><dt>Country</dt><dd>${esc(d.country || '—')}</dd><dt>Languages</dt><dd>${esc(d.languages.join(', ') || '—')}</dd>
    <dt>Interested in</dt><dd>${esc([...pr.interests.products, ...pr.interests.topics].join(', ') || '—')}</dd>
    <dt>Agenda</dt><dd data-testid="agenda">${esc(pr.agenda.map((w) => `${w.days.map((d) => ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d % 7]).join(' ')} ${String(Math.floor(w.start_minute / 60)).padStart(2, '0')}:${String(w.start_minute % 60).padStart(2, '0')}–${String(Math.floor(w.end_minute / 60)).padStart(2, '0')}:${String(w.end_minute % 60).padStart(2, '0')} ${w.time_zone}`).join('; ') || '—')}</dd></dl>`;
}
// Orders, loaded once per client like the history: the question is often about one of them.
function orders(client) {
  if (!desk.orders[client] && !desk.loading.has(`o:${client}`)) {
    desk.loading.add(`o:${client}`);
    a.clientOrders(client).then((o) => { desk.orders[client] = o; }, () => { desk.orders[client] = []; }).finally(() => { desk.loading.delete(`o:${client}`); render(); });
  }
  const o = desk.orders[client];
  if (!o) return '<p class="muted">Loading orders…</p>';
  if (!o.length) return '<p class="muted">No orders.</p>';
  return `<ul>${o.slice(0, 10).map((x) => `<li data-testid="order">${esc(x.id)} · ${esc(x.product)} · <b>${esc(String(x.status).replace(/_/g, ' '))}</b>${x.delivery?.address ? `<br>${esc(x.delivery.address)}` : ''}</li>`).join('')}</ul>`;
}

const panel = (client, pr) => `${who(pr)}<details open><summary>Orders</summary>${orders(client)}</details><details open><summary>History</summary>${history(client)}</details>`;

const PHASE = { scheduled: 'waiting', dialing_agent: 'your phone rings — pick up', dialing_customer: 'calling the customer', connected: 'on the phone', retry_at: 'will retry', failed: 'failed', ended: 'ended' };
const clock = (ms) => { const s = Math.max(0, Math.floor(ms / 1000)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`; };

// A card per call: the call (the agent is the impolite peer and answers the customer's offer), its
// controls, and the customer's details beside it.
function syncCalls(v) {
  for (const li of v.interactions) {
    let c = calls.get(li.id);
    if (!c && (li.medium === 'voice' || li.medium === 'video') && li.state === 'connected') {
      const el = document.createElement('article');
      el.className = 'card';
      el.dataset.testid = 'call';
      el.setAttribute('aria-label', `Call with ${li.client}`);
      el.innerHTML = `<h2>${esc(li.client)} · ${esc(li.medium)} call${li.topic ? ` · ${esc(li.topic)}` : ''}</h2><div class="conv"><div>
        <div class="v"${li.medium === 'video' ? '' : ' hidden'}><video class="rv" autoplay playsinline></video><span class="off" hidden>Camera off</span><video class="lv" autoplay playsinline muted></video></div>
        <p><b class="st" role="status"></b> <span class="t" aria-label="Call duration"></span> <small class="peer"></small></p>
        <div class="row ctl"><button type="button" class="ghost mute">Mute</button>${li.medium === 'video' ? '<button type="button" class="ghost cam">Camera off</button>' : ''}<button type="button" class="bad hang">Hang up</button><button type="button" class="ghost done" hidden>Close</button></div>
        <p class="err" role="alert"></p></div><aside class="who" aria-label="Customer" data-testid="customer"></aside></div>`;
      // `#…&ice=relay` in the console's URL: media only through TURN, as the widget's `ice-policy`;
      // read per call, so it applies from the next call on.
      const ice = new URLSearchParams(location.hash.slice(1)).get('ice') === 'relay' ? 'relay' : 'all';
      const call = new Call(a, li.id, { video: li.medium === 'video', iceTransportPolicy: ice, onchange: () => callView(c) });
      c = { call, el, li, who: '' };
      calls.set(li.id, c);
      const q = (s) => el.querySelector(s);
      q('.mute').onclick = () => call.setMuted(!call.muted);
      if (q('.cam')) q('.cam').onclick = () => call.setCamera(!call.camera).catch((x) => { q('.err').textContent = `The camera could not start: ${x.message}`; });
      q('.hang').onclick = () => call.hangUp();
      q('.done').onclick = () => { calls.delete(li.id); el.remove(); render(); };
      $('#calls').prepend(el);
      call.start();
    }
    if (!c) continue;
    c.li = li;
    // Ended elsewhere (the customer left, or the interaction was ended without a hang-up).
    if (li.state === 'ended' && !c.call.ended) c.call.close();
    const w = panel(li.client, v.profiles[li.client]);
    if (w !== c.who) c.el.querySelector('.who').innerHTML = c.who = w;
  }
}

// Shows where a call is; while connected it ticks every second for the timer.
function callView(c) {
  if (!c) return;
  const { call: k, el, li } = c;
  const q = (s) => el.querySelector(s);
  const e = k.ended;
  clearTimeout(c.tick);
  q('.st').textContent = e ? (e.reason === 'media_refused' ? (e.by === 'local' ? 'Your microphone or camera could not be used.' : 'The customer\'s microphone or camera was refused; the call ended.')
    : e.reason === 'failed' ? 'The call was lost: the connection failed.' : e.by === 'local' ? 'You hung up.' : 'The customer hung up.')
    : { new: 'Starting…', media: `Allow the microphone${k.video ? ' and camera' : ''}…`, connecting: 'Connecting…', connected: 'On the call', reconnecting: 'Connection lost, reconnecting…' }[k.state];
  if (e?.reason === 'media_refused' && e.by === 'local') q('.err').textContent = `${k.error?.name === 'NotAllowedError' ? 'Permission refused' : k.error?.message || 'No device'}: allow the devices in the browser.`;
  q('.hang').hidden = !!e;
  q('.done').hidden = !e;
  q('.mute').hidden = !!e;
  q('.mute').disabled = !k.local;
  q('.mute').textContent = k.muted ? 'Unmute' : 'Mute';
  const cam = q('.cam');
  if (cam) { cam.hidden = !!e; cam.disabled = !k.local; cam.textContent = k.camera ? 'Camera off' : 'Camera on'; }
  q('.v .off').hidden = k.peer.camera;
  q('.peer').textContent = k.peer.muted ? 'The customer muted' : '';
  if (q('.rv').srcObject !== k.remote) q('.rv').srcObject = k.remote;
  if (k.local && q('.lv').srcObject !== k.local) q('.lv').srcObject = k.local;
  if (e && li.medium === 'video') q('.v').hidden = true;
  q('.t').textContent = k.connectedAt && !e ? clock(Date.now() - k.connectedAt) : '';
  if (k.connectedAt && !e) c.tick = setTimeout(() => callView(c), 1000);
}

function render() {
  const v = a.view();
  syncCalls(v);
  $('#conn').textContent = v.connected ? `Online as ${v.name || v.agent || ''}` : 'Reconnecting…';
  const st = desk.state || v.state;
  if (st) $('#mystate').textContent = STATE[st] || st;
  if (st && document.activeElement !== $('#state')) $('#state').value = st;
  $('#offers').innerHTML = v.offers.map((o) => `<li data-testid="offer">${esc(o.client)} · ${esc(o.medium)} · ${esc(o.topic || '')}${desk.notes[o.id] ? ` · <b data-testid="transfer-note">transferred by ${esc(desk.notes[o.id].from)}${desk.notes[o.id].note ? `: “${esc(desk.notes[o.id].note)}”` : ''}</b>` : ''}
    <div class="row"><button data-accept="${esc(o.id)}">Accept</button><button class="ghost" data-decline="${esc(o.id)}">Decline</button></div></li>`).join('') || '<li>None</li>';
  $('#invitations').innerHTML = v.invitations.map((i) => `<li data-testid="agent-invitation">${esc(i.client)} · ${esc(i.medium)} · <b>${esc(i.state)}</b>${i.direction === 'client_to_agent' ? ` “${esc(i.message)}”` : ''}
    ${i.direction === 'client_to_agent' && i.state === 'pending' ? `<div class="row"><button data-inv="${esc(i.id)}" data-yes="1">Accept</button><button class="ghost" data-inv="${esc(i.id)}">Decline</button></div>` : ''}</li>`).join('');
  const delivered = new Set(v.delivered.map(([i, s]) => `${i}/${s}`));
  const failed = (ix, seq) => { const f = v.mailFailed.find((x) => x.interaction === ix && x.seq === seq); return f ? ` <b class="err" data-testid="mail-failed">not mailed: ${esc(f.reason)}</b>` : ''; };
  const box = $('#convs');
  const keep = document.activeElement?.dataset?.conv;
  const typed = keep ? document.activeElement.value : '';
  // So do a canned answer picked and a focused picker or Insert button: a message arriving between
  // the pick and the insert must not put the first answer in instead.
  const picks = new Map([...box.querySelectorAll('select[data-canned]')].map((s) => [s.dataset.canned, s.value]));
  const held = document.activeElement?.closest?.('#convs select[data-canned], #convs button[data-insert]');
  const heldSel = held ? (held.dataset.canned !== undefined ? `select[data-canned="${CSS.escape(held.dataset.canned)}"]` : `button[data-insert="${CSS.escape(held.dataset.insert)}"]`) : null;
  // A call's interaction shows as its card while the card is there.
  const ixs = v.interactions.filter((li) => !calls.has(li.id) && !desk.gone.has(li.id)).sort((x, y) => (x.state === 'ended') - (y.state === 'ended') || y.created_at - x.created_at);
  box.innerHTML = ixs.map((li) => {
    const msgs = v.chats[li.id] || [], rd = v.read[li.id] || 0, mine = msgs.filter((m) => m.from.kind === 'agent' && m.seq <= rd).pop();
    const last = msgs.filter((m) => m.from.kind === 'client').pop()?.seq;
    // Read while this console is on screen: the customer sees "Read".
    if (li.state === 'connected' && last > (marked[li.id] ?? 0) && !document.hidden) { marked[li.id] = last; a.markRead(li.id, last).catch(() => {}); }
    const sending = v.pending.filter((r) => r.req.op === 'send_chat' && r.req.interaction === li.id);
    return `<article class="card" aria-label="Conversation ${esc(li.id)}" data-testid="conv" data-state="${esc(li.state)}">
    <h2>${esc(li.client)} · ${esc(li.medium)} · ${esc(li.state)}${li.topic ? ` · ${esc(li.topic)}` : ''}</h2>
    <div class="conv"><div>${li.medium === 'callback' ? `<p data-testid="callback" data-phase="${esc(li.callback?.phase || '')}">Callback to <b>${esc(li.callback?.number || li.client_address || '')}</b> · ${esc(PHASE[li.callback?.phase] || li.callback?.phase || li.state)}${li.callback?.attempts ? ` · ${li.callback.attempts} failed attempt${li.callback.attempts > 1 ? 's' : ''}` : ''}</p>${li.state === 'ended' ? '' : `<div class="row"><button type="button" class="bad" data-end="${esc(li.id)}">Hang up</button></div>`}` : li.medium === 'email' ? `<p class="mail" data-testid="mail-to">Email “${esc(li.topic || '')}” · replies go to ${esc(li.client_address || '')}</p>` : ''}${li.medium === 'voice' || li.medium === 'video' ? `<p class="muted">${esc(li.medium)} call, ${esc(li.outcome || li.state)}</p>` : li.medium === 'callback' ? '' : `<div class="log" role="log" aria-live="polite">${msgs[0]?.seq > 1 ? `<button class="ghost" data-earlier="${esc(li.id)}" data-before="${msgs[0].seq}">Earlier messages</button>` : ''}${msgs.map((m) => `<div class="msg${m.from.kind === 'agent' && m.from.id === v.agent ? ' me' : ''}" data-testid="agent-msg"><span class="meta">${esc(m.from.kind === 'agent' ? (m.from.id === v.agent ? 'You' : m.from.id) : v.profiles[li.client]?.demographics?.name || li.client)} · <time datetime="${esc(new Date(m.at).toISOString())}">${esc(time(m.at))}</time></span>${m.attachment ? fileChip(li.id, m) : esc(m.text)}${m.from.kind === 'agent' && delivered.has(`${li.id}/${m.seq}`) ? ' ✓' : ''}${m === mine ? ' <small data-testid="agent-read">Read</small>' : ''}${failed(li.id, m.seq)}</div>`).join('')}${sending.map((r) => `<div class="msg me" data-testid="agent-msg-pending">${esc(r.req.text)} (sending…)</div>`).join('')}</div>`}
    ${li.state === 'ended' || li.medium === 'voice' || li.medium === 'video' || li.medium === 'callback' ? '' : `<p class="muted" aria-live="polite" data-testid="agent-typing">${v.typing[li.id] ? `${esc(li.client)} is typing…` : ''}</p><form class="row" data-form="${esc(li.id)}"><input data-conv="${esc(li.id)}" aria-label="Message to ${esc(li.client)}" autocomplete="off"><button>Send</button><button type="button" class="ghost" data-pick="${esc(li.id)}" aria-label="Send a file to ${esc(li.client)}">File…</button><input type="file" hidden data-attach="${esc(li.id)}"><button type="button" class="ghost" data-end="${esc(li.id)}">End</button></form>
    <div class="canned"><select data-canned="${esc(li.id)}" aria-label="Canned answer for ${esc(li.client)}">${desk.canned.map((c, n) => `<option value="${n}">${esc(c)}</option>`).join('')}</select><button type="button" class="ghost" data-insert="${esc(li.id)}">Insert</button><button type="button" class="ghost" data-transfer="${esc(li.id)}">Transfer…</button></div>`}
    ${li.state === 'ended' && li.agent === v.agent && li.medium !== 'callback' ? wrapForm(li) : ''}
    <p class="err" role="alert">${esc(errs[li.id] || '')}</p></div>
    <aside class="who" aria-label="Customer ${esc(li.client)}" data-testid="customer">${panel(li.client, v.profiles[li.client])}</aside></div></article>`;
  }).join('') || '<p>No conversation yet.</p>';
  box.querySelectorAll('.log').forEach((l) => { l.scrollTop = l.scrollHeight; });
  if (keep) { const i = box.querySelector(`[data-conv="${CSS.escape(keep)}"]`); if (i) { i.value = typed; i.focus(); } }
  for (const s of box.querySelectorAll('select[data-canned]')) if (picks.has(s.dataset.canned)) s.value = picks.get(s.dataset.canned);
  if (heldSel) box.querySelector(heldSel)?.focus();
}

// A file in a conversation: a button that downloads it (the server serves it only with the token).
const fileChip = (id, m) => `<button type="button" class="ghost" data-file="${esc(id)}" data-seq="${m.seq}" data-name="${esc(m.attachment.name)}" data-testid="agent-file">📎 ${esc(m.attachment.name)} (${Math.max(1, Math.round(m.attachment.size / 1024))} KB)</button>`;

function download(blob, name) {
  const u = URL.createObjectURL(blob);
  const l = Object.assign(document.createElement('a'), { href: u, download: name });
  document.body.append(l);
  l.click();
  l.remove();
  setTimeout(() => URL.revokeObjectURL(u), 60_000);
}

function wrapForm(li) {
  const w = desk.wrapped[li.id];
  if (w) return `<p data-testid="wrapped" role="status">Wrapped up: <b>${esc(w)}</b></p>`;
  const list = desk.outcomes.length ? `<select id="wo-${esc(li.id)}" data-outcome>${desk.outcomes.map((o) => `<option>${esc(o)}</option>`).join('')}</select>` : `<input id="wo-${esc(li.id)}" data-outcome required autocomplete="off">`;
  return `<form class="wrap" data-wrap="${esc(li.id)}" aria-label="Wrap-up of ${esc(li.client)}'s conversation"><label for="wo-${esc(li.id)}">Outcome</label>${list}
    <label for="wn-${esc(li.id)}">Wrap-up note</label><input id="wn-${esc(li.id)}" data-wnote autocomplete="off"><div class="row"><button>Save wrap-up</button></div></form>`;
}

// The transfer dialog: agents (not this one) and queues from the center's figures.
let xferId = null;
function fillTargets() {
  const c = desk.center;
  const kind = $('#x-kind').value;
  const opts = !c ? [] : kind === 'agent'
    ? c.agents.filter((x) => x.id !== (desk.me || a.view().agent)).map((x) => [x.id, `${x.name} (${STATE[x.state] || x.state})`])
    : [...new Map(c.queues.map((q) => [q.queue, q.name])).entries()];
  $('#x-to').innerHTML = opts.map(([id, n]) => `<option value="${esc(id)}">${esc(n)}</option>`).join('') || '<option value="">None</option>';
}
$('#x-kind').onchange = fillTargets;
$('#x-cancel').onclick = () => $('#xfer').close();
$('#xfer-form').onsubmit = (e) => {
  e.preventDefault();
  const id = xferId, to = { kind: $('#x-kind').value, id: $('#x-to').value }, note = $('#x-note').value.trim() || null;
  if (!to.id) { $('#x-err').textContent = 'Pick who takes it.'; return; }
  req({ op: 'transfer', interaction: id, to, note }).then(() => { desk.gone.add(id); $('#xfer').close(); render(); }, (x) => { $('#x-err').textContent = x.message; });
};

const marked = {};
document.addEventListener('visibilitychange', () => a && render());
// Typing notices while the agent writes (the client throttles them); none for a chat that just ended.
document.addEventListener('input', (e) => { const id = e.target.dataset?.conv; if (id && a) try { a.sendTyping(id, !!e.target.value); } catch { /* not connected */ } });
const shown = (sel) => (x) => { $(sel).textContent = x.message; };
const forConv = (id) => (x) => { errs[id] = x.message; render(); };
document.addEventListener('click', (e) => {
  const b = e.target.closest('button');
  if (!b || !a) return;
  if (b.dataset.accept) a.accept(b.dataset.accept).then(() => { $('#o-err').textContent = ''; }, shown('#o-err'));
  if (b.dataset.decline) a.decline(b.dataset.decline).catch(shown('#o-err'));
  if (b.dataset.end) a.end(b.dataset.end).catch(forConv(b.dataset.end));
  if (b.dataset.earlier) a.transcript(b.dataset.earlier, { before: +b.dataset.before }).catch(forConv(b.dataset.earlier));
  if (b.dataset.insert) {
    const i = document.querySelector(`[data-conv="${CSS.escape(b.dataset.insert)}"]`);
    const c = desk.canned[+document.querySelector(`[data-canned="${CSS.escape(b.dataset.insert)}"]`).value];
    if (i && c) { i.value = i.value ? `${i.value} ${c}` : c; i.focus(); }
  }
  if (b.dataset.transfer) { xferId = b.dataset.transfer; $('#x-err').textContent = ''; $('#x-note').value = ''; fillTargets(); $('#xfer').showModal(); }
  if (b.dataset.tr) { const r = b.dataset.tr; a.transcript(r).then((m) => { desk.trs[r] = m || []; render(); }, (x) => { desk.trs[r] = [{ from: { kind: 'agent', id: '' }, at: Date.now(), text: `(${x.message})` }]; render(); }); }
  if (b.dataset.pick) document.querySelector(`[data-attach="${CSS.escape(b.dataset.pick)}"]`)?.click();
  if (b.dataset.file) a.attachment(b.dataset.file, +b.dataset.seq).then((blob) => download(blob, b.dataset.name), forConv(b.dataset.file));
  if (b.dataset.inv) a.respondInvitation(b.dataset.inv, !!b.dataset.yes).then(() => { $('#i-err').textContent = ''; }, shown('#i-err'));
});
document.addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.target;
  if (!a) return;
  if (f.id === 'invite') {
    a.invite($('#i-client').value, $('#i-medium').value, $('#i-msg').value).then(() => { $('#i-err').textContent = ''; }, shown('#i-err'));
  } else if (f.dataset.wrap) {
    const id = f.dataset.wrap, outcome = f.querySelector('[data-outcome]').value, note = f.querySelector('[data-wnote]').value.trim() || null;
    req({ op: 'wrap_up', interaction: id, outcome, note }).then(() => { desk.wrapped[id] = outcome; delete errs[id]; render(); }, forConv(id));
  } else if (f.dataset.form) {
    const i = f.querySelector('input');
    const text = i.value;
    const id = f.dataset.form;
    i.value = '';
    try { a.sendTyping(id, false); } catch { /* ended */ }
    if (text.trim()) { delete errs[id]; a.sendChat(id, text).catch(forConv(id)); }
  }
});
document.addEventListener('change', (e) => {
  const id = e.target.dataset?.attach, f = e.target.files?.[0];
  if (!id || !f || !a) return;
  e.target.value = '';
  delete errs[id];
  a.attach(id, f).catch(forConv(id));
});
$('#phone').onchange = (e) => {
  try { sessionStorage.setItem(`${key}:phone`, e.target.value); } catch { /* best effort */ }
  a?.setPhone(e.target.value.trim()).then(() => { $('#conn').textContent = 'Phone set'; }, (x) => { $('#conn').textContent = x.message; });
};
$('#state').onchange = (e) => a?.setState(e.target.value).catch((x) => { $('#conn').textContent = x.message; });
if (token) boot(); else $('#conn').textContent = 'No token: open the URL the server printed (…/agent.html#token=…)';
