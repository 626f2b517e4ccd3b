// Tests of the browser Client (frontdesk.js on the wasm session) in node with a stand-in WebSocket:
// the first sync, live status, optimistic edits, events in order into the view, Promises settled with
// typed errors, a reload that keeps queued requests, get_live, too_large, the Agent console, and the
// golden traces of tests/vectors/ (the Rust ClientView replays the same files). Usage: node --test web/client.test.mjs [PKG_DIR]
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkg = resolve(process.env.FRONTDESK_WEB_PKG ?? join(import.meta.dirname, "../target/web/pkg"));
const { default: init, Client, Agent } = await import(pathToFileURL(join(pkg, 'frontdesk.js')));
await init(readFileSync(join(pkg, 'frontdesk_wasm_bg.wasm')));

const sockets = [];
globalThis.WebSocket = class {
  constructor(url) { this.url = url; this.sent = []; sockets.push(this); }
  send(s) { this.sent.push(JSON.parse(s)); }
  close() {}
};
const ws = () => sockets[sockets.length - 1];
const recv = (f) => ws().onmessage({ data: JSON.stringify(f) });
const requests = () => ws().sent.filter((f) => f.t === 'request');
const answer = (req, value) => recv({ t: 'response', id: req.id, outcome: { ok: value } });
const tick = () => new Promise((r) => setTimeout(r, 0));

const center = { at: 5, queues: [{ queue: 'q', name: 'Q', medium: 'chat', products: [], agents_available: 2, agents_staffed: 3, holding: 1, estimated_hold_secs: 30, offered: true }], media_offered: ['chat'], agents: [] };
const profile = (revision, name = null) => ({ demographics: { name, languages: [], country: null, birth_year: null }, capabilities: [], agenda: [], interests: { products: [], topics: [] }, revision });

function connected(options = {}) {
  const c = new Client('ws://center.test/', 'tok', { instance: 9, ...options });
  const seen = [];
  for (const k of ['connected', 'synced', 'status', 'chat', 'completed', 'error', 'rejected']) c.on(k, (d) => seen.push([k, d]));
  c.start();
  ws().onopen({});
  recv({ t: 'welcome', v: 1, client: 'alice', resumed: false });
  return { c, seen };
}

test('the first connection syncs the view and shows live center status', () => {
  const { c, seen } = connected();
  assert.equal(ws().url, 'ws://center.test/client');
  assert.equal(ws().sent[0].t, 'hello');
  assert.deepEqual(requests().map((r) => r.req.op), ['watch', 'get_profile', 'get_orders', 'get_products', 'get_live']);
  const [watch, prof, orders, products, live] = requests();
  answer(watch, { kind: 'presence', value: { entity: 'center', version: 1, timestamp: 5, tuples: [], center } });
  answer(prof, { kind: 'profile', value: profile(3, 'Alice') });
  answer(orders, { kind: 'orders', value: [{ id: 'o1', revision: 1, status: 'placed' }] });
  assert.ok(!seen.some(([k]) => k === 'synced'), 'not synced before the last sync answer');
  answer(products, { kind: 'products', value: [{ id: 'p', name: 'P', description: '' }] });
  assert.ok(!seen.some(([k]) => k === 'synced'), 'get_live is part of the sync');
  answer(live, { kind: 'live', value: [] });
  assert.deepEqual(seen.map(([k]) => k), ['connected', 'status', 'synced']);
  const v = c.view();
  assert.equal(v.client, 'alice');
  assert.equal(v.connected, true);
  assert.equal(v.profile.demographics.name, 'Alice');
  assert.equal(v.center.queues[0].estimated_hold_secs, 30);
  assert.deepEqual([v.orders.length, v.products.length, v.pending.length], [1, 1, 0], 'sync requests are not app requests');
  // A newer status pushed live replaces it; an older one (overtaken on the wire) does not.
  recv({ t: 'status', doc: { entity: 'center', version: 3, timestamp: 6, tuples: [], center: { ...center, at: 6 } } });
  recv({ t: 'status', doc: { entity: 'center', version: 2, timestamp: 7, tuples: [], center: { ...center, at: 7 } } });
  assert.equal(c.view().center.at, 6);
  assert.equal(seen.filter(([k]) => k === 'status').length, 2);
  c.close();
});

test('presence deltas reach the view and the app as whole documents; a gap re-watches once', () => {
  const { c } = connected();
  const seen = [];
  c.on('presence', (d) => seen.push(structuredClone(d)));
  const [watch] = requests();
  const agents = [0, 1, 2].map((i) => ({ id: `a${i}`, name: `A${i}`, state: 'available', skills: [], media: ['chat'], since: 1 }));
  const doc = { entity: 'center', version: 1, timestamp: 5, tuples: [{ id: 't1', status: 'open' }], note: 'n', center: { ...center, agents } };
  answer(watch, { kind: 'presence', value: doc });
  // Keyed upserts (an agent, a queue by queue and medium), a removed note, new activities.
  const q = { ...center.queues[0], holding: 4 };
  recv({ t: 'delta', delta: { entity: 'center', base: 1, version: 2, timestamp: 6, activities: ['busy'], note: null,
    center: { at: 6, queues: { set: [q] }, agents: { set: [{ ...agents[1], state: 'busy' }] } } } });
  const two = { entity: 'center', version: 2, timestamp: 6, tuples: doc.tuples, activities: ['busy'],
    center: { ...center, at: 6, queues: [q], agents: [agents[0], { ...agents[1], state: 'busy' }, agents[2]] } };
  assert.deepEqual(seen, [two]);
  assert.deepEqual(c.view().presence.center, two);
  assert.deepEqual(c.view().center, two.center, 'the center figures follow, as with a document');
  // Whole lists, and activities gone as a document would have them: no key.
  recv({ t: 'delta', delta: { entity: 'center', base: 2, version: 3, timestamp: 7, tuples: [], activities: [], center: { at: 7, agents: [agents[2]], media_offered: [] } } });
  const three = { entity: 'center', version: 3, timestamp: 7, tuples: [], center: { ...two.center, at: 7, agents: [agents[2]], media_offered: [] } };
  assert.deepEqual(seen.at(-1), three);
  const sent = requests().length;
  // 3 -> 4 was lost: the next two do not fit; one re-watch, and the view keeps version 3.
  recv({ t: 'delta', delta: { entity: 'center', base: 4, version: 5, timestamp: 9, note: 'x' } });
  recv({ t: 'delta', delta: { entity: 'center', base: 5, version: 6, timestamp: 9, note: 'y' } });
  const again = requests().slice(sent);
  assert.deepEqual(again.map((r) => r.req), [{ op: 'watch', presentity: 'center' }]);
  assert.equal(c.view().presence.center.version, 3);
  assert.equal(c.view().pending.length, 0, 'the re-watch is the client\'s own');
  answer(again[0], { kind: 'presence', value: { ...three, version: 6, note: 'y' } });
  assert.deepEqual(seen.at(-1), { ...three, version: 6, note: 'y' }, 'the repaired document is announced');
  recv({ t: 'delta', delta: { entity: 'center', base: 5, version: 6, timestamp: 9, note: 'y' } });
  assert.equal(requests().length, sent + 1, 'a delta older than the document held is no gap');
  // A `set` naming an agent the document lacks is a gap too; a presentity not watched is ignored.
  recv({ t: 'delta', delta: { entity: 'agent:x', base: 0, version: 1, timestamp: 9 } });
  recv({ t: 'delta', delta: { entity: 'center', base: 6, version: 7, timestamp: 9, center: { at: 9, agents: { set: [agents[0]] } } } });
  assert.deepEqual(requests().slice(sent + 1).map((r) => r.req), [{ op: 'watch', presentity: 'center' }]);
  assert.equal(c.view().presence.center.version, 6);
  assert.ok(!('agent:x' in c.view().presence));
  assert.equal(seen.length, 3);
  c.close();
});

test('profile edits show at once and survive answers that overtake them', async () => {
  const { c } = connected();
  const [, prof] = requests();
  const first = c.updateProfile({ demographics: { name: 'Al', languages: ['en'], country: null, birth_year: null } });
  c.updateProfile({ interests: { products: ['router'], topics: [] } });
  assert.equal(c.view().profile.demographics.name, 'Al', 'optimistic');
  assert.deepEqual(c.view().pending.map((p) => p.req.op), ['update_profile', 'update_profile']);
  // The sync answer (older than both edits) arrives: both edits stay on top of it.
  answer(prof, { kind: 'profile', value: profile(1, 'Alice') });
  assert.equal(c.view().profile.demographics.name, 'Al');
  assert.deepEqual(c.view().profile.interests.products, ['router']);
  const [e1] = requests().filter((r) => r.req.op === 'update_profile');
  answer(e1, { kind: 'profile', value: { ...profile(2, 'Al') } });
  assert.equal((await first).revision, 2);
  assert.deepEqual(c.view().profile.interests.products, ['router'], 'the later edit is still ahead of the broker');
  c.close();
});

test('events reach the view once and in order; Promises settle with typed errors', async () => {
  const { c, seen } = connected();
  const msg = (seq, text) => ({ interaction: 'ix', seq, from: { kind: 'agent', id: 'bob' }, text, at: seq });
  recv({ t: 'event', seq: 2, event: { ev: 'chat', data: msg(2, 'second') } });
  recv({ t: 'event', seq: 1, event: { ev: 'interaction', data: { id: 'ix', state: 'connected' } } });
  recv({ t: 'event', seq: 3, event: { ev: 'chat', data: msg(1, 'first') } });
  recv({ t: 'event', seq: 2, event: { ev: 'chat', data: msg(2, 'second') } });
  assert.deepEqual(c.view().chats.ix.map((m) => m.text), ['first', 'second']);
  assert.deepEqual(seen.filter(([k]) => k === 'chat').map(([, d]) => d.text), ['second', 'first'], 'delivered in sequence order, once');
  const start = c.startInteraction('chat', 'router');
  const req = requests().at(-1);
  assert.deepEqual(req.req, { op: 'start_interaction', medium: 'chat', product: 'router', topic: null });
  // The answer says queued, but a newer push already said connected: the view keeps connected.
  answer(req, { kind: 'interaction', value: { id: 'ix', state: 'queued', position: 1 } });
  assert.equal((await start).state, 'queued');
  assert.equal(c.view().interactions[0].state, 'connected');
  const reg = c.registerPush('fcm', 'fcm-token-1');
  assert.deepEqual(requests().at(-1).req, { op: 'register_push', platform: 'fcm', token: 'fcm-token-1' });
  answer(requests().at(-1), { kind: 'done' });
  await reg;
  const unreg = c.unregisterPush('fcm-token-1');
  assert.deepEqual(requests().at(-1).req, { op: 'unregister_push', token: 'fcm-token-1' });
  recv({ t: 'response', id: requests().at(-1).id, outcome: { err: { code: 'invalid', message: 'bad token' } } });
  await assert.rejects(unreg, (e) => e.code === 'invalid');
  const chat = c.sendChat('nope', 'hi');
  recv({ t: 'response', id: requests().at(-1).id, outcome: { err: { code: 'not_found', message: 'no such interaction' } } });
  await assert.rejects(chat, (e) => e.code === 'not_found' && /no such/.test(e.message));
  assert.throws(() => c.startInteraction('pigeon'), (e) => e.code === 'invalid');
  assert.throws(() => c.watch('nobody'), (e) => e.code === 'invalid');
  recv({ t: 'nonsense' });
  await tick();
  assert.equal(seen.at(-1)[0], 'error');
  assert.equal(seen.at(-1)[1].code, 'malformed');
  assert.ok(c.connected, 'a bad frame does not end the session');
  c.close();
});

test('a reload keeps queued requests, edits and watches; their answers come as completed', () => {
  const first = new Client('ws://center.test', 'tok', { instance: 4 });
  first.updateProfile({ demographics: { name: 'Zed', languages: [], country: null, birth_year: null } });
  first.watch('agent:bob');
  first.sendChat('ix', 'typed offline');
  const saved = first.save();
  first.free();
  const { c, seen } = connected({ saved });
  assert.equal(c.view().profile.demographics.name, 'Zed', 'the edit is still shown');
  const ops = requests().map((r) => r.req.op);
  assert.deepEqual(ops.slice(0, 3), ['update_profile', 'watch', 'send_chat'], 'queued requests go first, in order');
  assert.ok(requests().some((r) => r.req.op === 'watch' && r.req.presentity === 'center'), 'the center watch is made again');
  assert.equal(requests().filter((r) => r.req.presentity === 'agent:bob').length, 1, 'a pending watch is not doubled');
  assert.equal(ws().sent[0].instance, 4);
  const chat = requests()[2];
  answer(chat, { kind: 'chat', value: { interaction: 'ix', seq: 1, from: { kind: 'client', id: 'alice' }, text: 'typed offline', at: 1 } });
  const done = seen.find(([k]) => k === 'completed');
  assert.equal(done[1].id, chat.id);
  assert.equal(c.view().chats.ix[0].text, 'typed offline');
  c.close();
});

test('a page restored from a saved state loads its view even when the session resumes', () => {
  const first = new Client('ws://center.test', 'tok', { instance: 6 });
  const saved = first.save();
  first.free();
  const c = new Client('ws://center.test', 'tok', { saved });
  let synced = 0;
  c.on('synced', () => synced++);
  c.start();
  ws().onopen({});
  recv({ t: 'welcome', v: 1, client: 'alice', resumed: true });
  const ops = requests().map((r) => r.req.op);
  assert.deepEqual(ops, ['get_profile', 'get_orders', 'get_products', 'get_live'], 'no rewatch on a resumed session, but a sync');
  for (const r of requests()) answer(r, r.req.op === 'get_profile' ? { kind: 'profile', value: profile(4, 'Alice') } : { kind: r.req.op.slice(4), value: [] });
  assert.equal(synced, 1);
  assert.equal(c.view().profile.demographics.name, 'Alice');
  c.close();
});

const msg = (ix, seq, kind, text) => ({ interaction: ix, seq, from: { kind, id: kind === 'client' ? 'alice' : 'ann' }, text, at: seq });
const li = (id, state, extra = {}) => ({ id, client: 'alice', medium: 'chat', queue: 'q', product: null, topic: null, agent: 'ann', direction: 'inbound', state, created_at: 1, connected_at: 2, ended_at: null, client_address: null, ...extra });

test('a reloaded page shows its live interactions: get_live merges them with their transcripts, once by seq', () => {
  const { c } = connected();
  // An event overtook the sync answer: a newer message, and the interaction already connected.
  recv({ t: 'event', seq: 1, event: { ev: 'interaction', data: li('ix', 'connected') } });
  recv({ t: 'event', seq: 2, event: { ev: 'chat', data: msg('ix', 3, 'agent', 'third') } });
  const live = requests().find((r) => r.req.op === 'get_live');
  answer(live, { kind: 'live', value: [
    { interaction: li('ix', 'queued', { position: 1 }), transcript: [msg('ix', 1, 'client', 'first'), msg('ix', 2, 'agent', 'second'), msg('ix', 3, 'agent', 'third')] },
    { interaction: li('iy', 'connected', { medium: 'voice' }), transcript: [] },
  ] });
  const v = c.view();
  assert.deepEqual(v.chats.ix.map((m) => m.text), ['first', 'second', 'third'], 'in seq order, the pushed one not doubled');
  assert.equal(v.interactions.find((x) => x.id === 'ix').state, 'connected', 'an older answer does not step an interaction back');
  assert.equal(v.interactions.find((x) => x.id === 'iy').medium, 'voice');
  // A later transcript read merges too.
  c.getTranscript('ix');
  answer(requests().at(-1), { kind: 'transcript', value: [msg('ix', 2, 'agent', 'second'), msg('ix', 4, 'client', 'fourth')] });
  assert.deepEqual(c.view().chats.ix.map((m) => m.seq), [1, 2, 3, 4]);
  c.close();
});

test('a long chat is read back in pages: before and limit go on the wire, pages merge before what is held', () => {
  const { c } = connected();
  const live = requests().find((r) => r.req.op === 'get_live');
  answer(live, { kind: 'live', value: [{ interaction: li('ix', 'connected'), transcript: [msg('ix', 51, 'agent', 'newest')] }] });
  c.getTranscript('ix', { before: 51, limit: 2 });
  const page = requests().at(-1);
  assert.deepEqual([page.req.before, page.req.limit], [51, 2]);
  answer(page, { kind: 'transcript', value: [msg('ix', 49, 'client', 'a'), msg('ix', 50, 'agent', 'b')] });
  assert.deepEqual(c.view().chats.ix.map((m) => m.seq), [49, 50, 51]);
  c.getTranscript('ix');
  assert.ok(!('before' in requests().at(-1).req) && !('limit' in requests().at(-1).req), 'unpaged: the newest');
  c.close();
});

test('a request over the frame limit is refused at the call, never queued or saved; errors never wedge', async () => {
  const { c } = connected();
  const before = requests().length;
  const big = c.addNote('ix', 'x'.repeat(300 * 1024));
  await assert.rejects(big, (e) => e.code === 'too_large' && /bytes/.test(e.message));
  assert.equal(requests().length, before, 'nothing went out');
  assert.deepEqual(c.view().pending, []);
  assert.ok(!c.save().includes('xxxx'), 'not saved');
  const edit = c.updateProfile({ demographics: { name: 'Big', languages: [], country: null, birth_year: null }, agenda: [{ days: [1], start_minute: 600, end_minute: 60, time_zone: 'UTC', media: [] }] });
  assert.rejects(c.updateProfile({ interests: { products: ['x'.repeat(300 * 1024)], topics: [] } }), (e) => e.code === 'too_large');
  assert.equal(c.view().profile.demographics.name, 'Big', 'optimistic; the refused edit left no trace');
  assert.deepEqual(c.view().profile.interests.products, []);
  // The broker refuses the edit as that request: its Promise settles, and the edit drops out of the view.
  recv({ t: 'response', id: requests().at(-1).id, outcome: { err: { code: 'invalid', message: 'agenda window must have start < end <= 1440' } } });
  await assert.rejects(edit, (e) => e.code === 'invalid');
  assert.equal(c.view().profile.demographics.name, null);
  // The next request still works.
  const next = c.getOrders();
  answer(requests().at(-1), { kind: 'orders', value: [] });
  assert.deepEqual(await next, []);
  c.close();
});

test('an agent console: the same session at /agent, log_in and get_seat on connect, the seat and its chats in the view, kept across a reload', async () => {
  const a = new Agent('ws://center.test/', 'atok', { instance: 21, name: 'Ann', media: ['chat'] });
  a.start();
  ws().onopen({});
  assert.equal(ws().url, 'ws://center.test/agent');
  assert.equal(ws().sent[0].t, 'hello');
  recv({ t: 'welcome', v: 1, client: 'ann', resumed: false, role: 'agent' });
  const [login, seat] = requests();
  assert.deepEqual(login.req, { op: 'log_in', name: 'Ann', skills: [], media: ['chat'] });
  assert.equal(seat.req.op, 'get_seat');
  const view = { agent: 'ann', name: 'Ann', role: 'agent', media: ['chat'], state: 'available', offer: li('io', 'queued', { position: 1 }), invitations: [],
    live: [{ interaction: li('ix', 'connected'), transcript: [msg('ix', 1, 'client', 'hello'), msg('ix', 2, 'agent', 'hi')] }] };
  answer(login, { kind: 'seat', value: view });
  answer(seat, { kind: 'seat', value: view });
  let v = a.view();
  assert.equal(v.state, 'available');
  assert.deepEqual(v.offers.map((o) => o.id), ['io']);
  assert.deepEqual(v.chats.ix.map((m) => m.text), ['hello', 'hi']);
  const prof = requests().find((r) => r.req.op === 'client_profile');
  assert.equal(prof.req.client, 'alice', 'the served customer is read once');
  assert.equal(requests().filter((r) => r.req.op === 'client_profile').length, 1);
  answer(prof, { kind: 'profile', value: profile(1, 'Alice') });
  assert.equal(a.view().profiles.alice.demographics.name, 'Alice');
  recv({ t: 'event', seq: 1, event: { ev: 'offer_withdrawn', data: 'io' } });
  recv({ t: 'event', seq: 2, event: { ev: 'chat', data: msg('ix', 3, 'client', 'still there?') } });
  recv({ t: 'event', seq: 3, event: { ev: 'chat', data: msg('ix', 3, 'client', 'still there?') } });
  v = a.view();
  assert.deepEqual(v.offers, []);
  assert.deepEqual(v.chats.ix.map((m) => m.seq), [1, 2, 3]);
  recv({ t: 'event', seq: 4, event: { ev: 'chat_delivered', data: { interaction: 'ix', seq: 2 } } });
  recv({ t: 'event', seq: 5, event: { ev: 'mail_failed', data: { interaction: 'ix', seq: 2, to: 'a@b', reason: '550 no such user' } } });
  assert.deepEqual(a.view().mailFailed.map((f) => [f.seq, f.reason]), [[2, '550 no such user']], 'a reply that could not be mailed is in the view');
  const sent = a.sendChat('ix', 'yes');
  answer(requests().at(-1), { kind: 'chat', value: msg('ix', 4, 'agent', 'yes') });
  assert.equal((await sent).seq, 4);
  await assert.rejects(a.sendChat('ix', 'y'.repeat(300 * 1024)), (e) => e.code === 'too_large');
  a.sendChat('ix', 'typed before the reload');
  // Offline: held, and sent after the next connection's log_in.
  ws().onclose({ code: 1006 });
  a.sendChat('ix', 'typed offline');
  await assert.rejects(a.sendChat('ix', 'z'.repeat(300 * 1024)), (e) => e.code === 'too_large');
  assert.deepEqual(a.view().pending.map((p) => p.req.text), ['typed before the reload', 'typed offline']);
  const saved = a.save();
  a.close();
  a.free();
  // The reload: same instance and last_seq, the queued message goes first, then log_in and get_seat again.
  const b = new Agent('ws://center.test', 'atok', { saved });
  b.start();
  ws().onopen({});
  const hello = ws().sent[0];
  assert.equal(hello.instance, 21);
  assert.equal(hello.last_seq, 5);
  assert.deepEqual(b.view().delivered, [['ix', 2]], 'receipts seen before the reload are kept');
  recv({ t: 'welcome', v: 1, client: 'ann', resumed: true, role: 'agent' });
  assert.deepEqual(requests().map((r) => r.req.op), ['send_chat', 'log_in', 'get_seat', 'send_chat']);
  assert.equal(requests()[3].req.text, 'typed offline');
  assert.equal(requests()[1].req.name, 'Ann', 'the login is kept');
  answer(requests()[2], { kind: 'seat', value: { ...view, offer: null, live: [{ interaction: li('ix', 'connected'), transcript: [msg('ix', 1, 'client', 'hello'), msg('ix', 5, 'client', 'sent while you reloaded')] }] } });
  assert.deepEqual(b.view().chats.ix.map((m) => m.text), ['hello', 'sent while you reloaded']);
  b.close();
});

// Golden traces (tests/vectors/, recorded from a real broker by tests/e2e/vectors.rs): the JS view fed
// the same answers, events and presence must end with the view the Rust ClientView ends with.
const vectors = join(import.meta.dirname, '../tests/vectors');
const byId = (xs, k = 'id') => [...xs].sort((a, b) => (a[k] < b[k] ? -1 : a[k] > b[k] ? 1 : 0));
for (const name of ['chat_lifecycle', 'restored_live_chat']) {
  test(`golden trace ${name}: the JS view replays to the Rust view`, () => {
    const trace = JSON.parse(readFileSync(join(vectors, `${name}.json`), 'utf8'));
    const c = new Client('ws://center.test', 'tok', { instance: 3, watchCenter: false });
    c.start();
    ws().onopen({});
    recv({ t: 'welcome', v: 1, client: trace.client, resumed: false });
    let seq = 0;
    for (const s of trace.steps) {
      if (s.answer) {
        c.request(s.answer.req).catch(() => {});
        recv({ t: 'response', id: requests().at(-1).id, outcome: s.answer.outcome });
      } else if (s.event) recv({ t: 'event', seq: ++seq, event: s.event });
      else if (s.status) recv({ t: 'status', doc: s.status });
      else if (s.delta) recv({ t: 'delta', delta: s.delta });
    }
    const v = c.view();
    const got = {
      client: v.client, profile: v.profile, orders: byId(v.orders), products: v.products, history: v.history, center: v.center,
      presence: byId(Object.values(v.presence), 'entity'), invitations: byId(v.invitations), interactions: byId(v.interactions),
      chats: v.chats, delivered: v.delivered, alerts: v.alerts,
    };
    assert.deepEqual(JSON.parse(JSON.stringify(got)), trace.view);
    c.close();
  });
}

test('the nodes of a cluster: a socket that never opens moves the next attempt to the next node', async () => {
  const c = new Client('ws://a.test:1, ws://b.test:2/', 'tok', { instance: 11 });
  c.start();
  assert.equal(ws().url, 'ws://a.test:1/client');
  // Node a is down: its socket closes without opening; after the back-off the session tries b.
  ws().onclose({});
  const n = sockets.length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(sockets.length > n, 'a new attempt after the back-off');
  assert.equal(ws().url, 'ws://b.test:2/client');
  // Once a node answers, a later drop retries that node first.
  ws().onopen({});
  recv({ t: 'welcome', v: 1, client: 'alice', resumed: false });
  ws().onclose({});
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(ws().url, 'ws://b.test:2/client');
  c.close();
});

test('typing notices go out throttled and unqueued, the other side\'s expire; read marks only rise', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { c } = connected();
  const live = requests().find((r) => r.req.op === 'get_live');
  answer(live, { kind: 'live', value: [{ interaction: li('ix', 'connected', { agent_read: 1 }), transcript: [msg('ix', 1, 'client', 'hi'), msg('ix', 2, 'agent', 'hello')] }] });
  assert.equal(c.view().read.ix, 1, 'the read mark of get_live');
  const typing = () => ws().sent.filter((f) => f.t === 'typing');
  assert.equal(c.sendTyping('ix'), true);
  assert.deepEqual(typing(), [{ t: 'typing', typing: { interaction: 'ix', on: true } }]);
  assert.equal(c.sendTyping('ix'), false, 'a keystroke within 2 s sends nothing');
  t.mock.timers.tick(2000);
  assert.equal(c.sendTyping('ix'), true, 'refreshed after 2 s');
  assert.equal(c.sendTyping('ix', false), true);
  assert.equal(typing().length, 3);
  assert.throws(() => c.sendTyping('not-mine'), (e) => e.code === 'not_found');
  assert.ok(!requests().some((r) => r.req.op === 'typing'), 'never a request');
  const seen = [];
  c.on('typing', (d) => seen.push(d.on));
  recv({ t: 'typing', typing: { interaction: 'ix', on: true } });
  recv({ t: 'typing', typing: { interaction: 'other', on: true } });
  assert.deepEqual(c.view().typing, { ix: true });
  t.mock.timers.tick(5000);
  recv({ t: 'typing', typing: { interaction: 'ix', on: true } });
  t.mock.timers.tick(5999);
  assert.deepEqual(c.view().typing, { ix: true }, 'a refresh holds it');
  t.mock.timers.tick(1);
  assert.deepEqual(c.view().typing, {}, 'expired without a refresh');
  assert.deepEqual(seen, [true, false]);
  recv({ t: 'event', seq: 1, event: { ev: 'chat_read', data: { interaction: 'ix', seq: 2 } } });
  recv({ t: 'event', seq: 2, event: { ev: 'chat_read', data: { interaction: 'ix', seq: 1 } } });
  assert.equal(c.view().read.ix, 2, 'a lower mark does not lower it');
  c.markRead('ix', 2);
  assert.deepEqual(requests().at(-1).req, { op: 'mark_read', interaction: 'ix', seq: 2 });
  // Offline: dropped, not queued for later.
  ws().onclose({ code: 1006 });
  t.mock.timers.tick(3000);
  assert.equal(c.sendTyping('ix'), false);
});
