// End-to-end test in headless Chromium: the demo page (client alice) and the agent console (ann) in two
// browser contexts against a real frontdesk-server on 127.0.0.1. Status updates appear, the agent
// invites, the client accepts, chat goes both ways; a reload of the page and of the console mid-chat
// continues the chat; a server restart (SIGKILL) loses no message; refused requests (an invalid
// agenda, an oversized note) show their error and the next request still works.
//   node web/e2e.mjs <frontdesk-server binary> <out dir for screenshots and results.json>
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const [bin, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const deadline = setTimeout(() => { console.error('e2e: timed out after 150 s'); cleanup(); process.exit(1); }, 150_000);
const dir = mkdtempSync(join(tmpdir(), 'frontdesk-e2e-'));
const db = join(dir, 'fd.db');
const port = await new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
const extra = execFileSync(bin, ['--help']).toString().includes('--xmpp-addr') ? ['--xmpp-addr', 'off'] : [];
let server, browser;

function start() {
  return new Promise((ok, fail) => {
    server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--db', db, '--no-sim', '--site-key', 'demo-site', '--identity-secret', 'e2e-identity', ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const demo = text.match(/demo page.*?(http:\/\/\S+)/);
      const agent = text.match(/agent console.*?(http:\/\/\S+)/);
      if (demo && agent) ok({ demo: demo[1], agent: agent[1] });
    });
    server.on('exit', (c) => fail(new Error(`server exited ${c}: ${text}`)));
  });
}
function cleanup() { try { server?.kill('SIGKILL'); } catch {} try { browser?.close(); } catch {} rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); }
const step = (s) => console.log(`e2e: ${s}`);

try {
  const urls = await start();
  step(`server on ${port}`);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  const clientCtx = await browser.newContext({ viewport: { width: 1100, height: 1100 } });
  const agentCtx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const client = await clientCtx.newPage();
  const agent = await agentCtx.newPage();
  globalThis.pages = { client, agent };
  for (const [n, p] of [['client', client], ['agent', agent]]) p.on('pageerror', (e) => console.error(`e2e: ${n} page error: ${e.message}`));
  const shot = (p, n) => p.screenshot({ path: join(out, `${n}.png`), fullPage: true });

  // 1. The page loads and shows center status (no agent yet).
  await client.goto(urls.demo);
  const w = client.locator('frontdesk-widget');
  await client.waitForFunction(() => document.querySelector('frontdesk-widget')?.firstStatusMs != null, null, { timeout: 15_000 });
  const firstStatusMs = await w.evaluate((e) => e.firstStatusMs);
  step(`first status shown ${firstStatusMs} ms after navigation`);
  const before = Number(await w.locator('#avail').textContent());
  await shot(client, '1-client-status');

  // 1a. Nobody is live: the widget says so and offers email instead of a dead button; alice writes one.
  await w.locator('[data-testid=offline-note]', { hasText: 'email' }).waitFor({ timeout: 10_000 });
  await w.locator('#m-addr').waitFor({ state: 'visible', timeout: 5_000 });
  await w.locator('#m-addr').fill('alice@example.org');
  await w.locator('#s-topic').fill('Router keeps rebooting');
  await w.locator('#m-text').fill('It reboots every hour since Monday.');
  await w.getByRole('button', { name: 'Send email' }).click();
  await w.locator('#live', { hasText: 'Router keeps rebooting' }).waitFor({ timeout: 10_000 });
  await w.locator('[data-testid=msg]', { hasText: 'It reboots every hour since Monday.' }).waitFor({ timeout: 10_000 });
  const caps = await w.evaluate((e) => e.client.view().profile.capabilities.filter((c) => c.medium === 'email').map((c) => c.address));
  if (JSON.stringify(caps) !== '["alice@example.org"]') throw new Error(`email address saved as ${JSON.stringify(caps)}`);
  step('nobody live: offered email; the email was sent and shows as an interaction, the address saved to the profile');
  await shot(client, '1a-client-email');

  // 2. The agent logs in and becomes available: the client's status updates live.
  await agent.goto(urls.agent);
  await agent.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 10_000 });
  await client.waitForFunction((b) => Number(document.querySelector('frontdesk-widget').shadowRoot.querySelector('#avail').textContent) > b, before, { timeout: 10_000 });
  step('status update appeared (agent available)');

  // 3. The agent invites alice; she accepts.
  await agent.locator('#i-send').click();
  await w.locator('[data-testid=invitation]').waitFor({ timeout: 10_000 });
  await shot(client, '2-client-invitation');
  await w.getByRole('button', { name: 'Accept' }).click();
  await w.locator('#say-in').waitFor({ state: 'visible', timeout: 10_000 });
  step('invitation accepted, chat open');

  // 4. Chat both ways.
  await w.locator('#say-in').fill('Hello from alice');
  await w.locator('#say-in').press('Enter');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Hello from alice' }).waitFor({ timeout: 10_000 });
  const agentInput = agent.locator('input[data-conv]').first();
  await agentInput.fill('Hi alice, Ann here');
  await agentInput.press('Enter');
  await w.locator('[data-testid=msg]', { hasText: 'Hi alice, Ann here' }).waitFor({ timeout: 10_000 });
  step('chat went both ways');
  await shot(client, '3-client-chat');
  await shot(agent, '3-agent-chat');

  // 4b. Typing both ways (soft notices, shown in polite live regions) and read receipts both ways: each
  // side has the other's messages on a visible page, so each shows "Read" under its own last one.
  await w.locator('#say-in').pressSequentially('is it');
  await agent.locator('[data-testid=agent-typing]', { hasText: 'alice is typing' }).waitFor({ timeout: 10_000 });
  await agentInput.pressSequentially('x');
  await w.locator('[data-testid=typing]', { hasText: 'is typing…' }).waitFor({ timeout: 10_000 });
  if ((await w.locator('#typing').getAttribute('aria-live')) !== 'polite') throw new Error('the typing line is not a polite live region');
  await agentInput.fill('');
  await w.locator('#say-in').fill('');
  await w.locator('[data-testid=typing]', { hasText: 'is typing' }).waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
  if (await w.locator('#typing').textContent()) throw new Error('"is typing" stayed after the agent stopped');
  await w.locator('[data-testid=msg]', { hasText: 'Hello from alice' }).locator('[data-testid=read]').waitFor({ timeout: 10_000 });
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Hi alice, Ann here' }).locator('[data-testid=agent-read]').waitFor({ timeout: 10_000 });
  step('typing shown both ways and cleared on stop; "Read" shown on both sides');
  const once = async (p, sel, t) => {
    const n = await p.locator(sel, { hasText: t }).count();
    if (n !== 1) throw new Error(`"${t}" shown ${n} times`);
  };

  // 4a. The customer reloads the page mid-chat: the transcript is shown again (not the Start form), and
  // the chat goes on both ways.
  await client.reload();
  await w.locator('[data-testid=msg]', { hasText: 'Hi alice, Ann here' }).waitFor({ timeout: 15_000 });
  await w.locator('[data-testid=msg]', { hasText: 'Hello from alice' }).waitFor({ timeout: 5_000 });
  if (!(await w.locator('#start').isHidden())) throw new Error('the Start form is shown after a reload mid-chat');
  await agentInput.fill('Still with you after your reload');
  await agentInput.press('Enter');
  await w.locator('[data-testid=msg]', { hasText: 'Still with you after your reload' }).waitFor({ timeout: 10_000 });
  await w.locator('#say-in').fill('Reloaded and still here');
  await w.locator('#say-in').press('Enter');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Reloaded and still here' }).waitFor({ timeout: 10_000 });
  await once(w, '[data-testid=msg]', 'Hello from alice');
  step('page reload mid-chat: transcript shown, chat went on both ways');
  await shot(client, '3a-client-after-reload');

  // 4b. The console goes away (a reload) mid-chat; the customer writes meanwhile; the console comes back
  // on the same session and shows the chat, with that message, and goes on.
  await agent.goto('about:blank');
  await w.locator('#say-in').fill('Sent while the console reloaded');
  await w.locator('#say-in').press('Enter');
  await w.locator('[data-testid=msg]', { hasText: 'Sent while the console reloaded' }).waitFor({ timeout: 10_000 });
  await agent.goto(urls.agent);
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Sent while the console reloaded' }).waitFor({ timeout: 15_000 });
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Hello from alice' }).waitFor({ timeout: 5_000 });
  await agent.locator('[data-testid=customer]', { hasText: 'Name' }).first().waitFor({ timeout: 5_000 });
  await once(agent, '[data-testid=agent-msg]', 'Sent while the console reloaded');
  await agentInput.fill('Console back');
  await agentInput.press('Enter');
  await w.locator('[data-testid=msg]', { hasText: 'Console back' }).waitFor({ timeout: 10_000 });
  await w.locator('#say-in').fill('Customer to the reloaded console');
  await w.locator('#say-in').press('Enter');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Customer to the reloaded console' }).waitFor({ timeout: 10_000 });
  step('console reload mid-chat: chat shown again, message sent meanwhile received, chat went on');
  await shot(agent, '3b-agent-after-reload');

  // 5. The server dies; both sides type while it is down; it comes back on the same database.
  server.removeAllListeners('exit');
  server.kill('SIGKILL');
  await new Promise((r) => server.once('exit', r));
  await w.locator('#conn', { hasText: 'Reconnecting' }).waitFor({ timeout: 10_000 });
  await w.locator('#say-in').fill('Sent while the server was down');
  await w.locator('#say-in').press('Enter');
  await agent.locator('#conn', { hasText: 'Reconnecting' }).waitFor({ timeout: 10_000 });
  await agentInput.fill('Agent typed during the outage');
  await agentInput.press('Enter');
  await shot(client, '4-client-offline');
  const down = Date.now();
  await start();
  await agent.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 20_000 });
  await w.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 40_000 });
  // Stored by the server exactly once (no longer "sending…"), and replayed to the console.
  await w.locator('[data-testid=msg]', { hasText: 'Sent while the server was down' }).waitFor({ timeout: 20_000 });
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Sent while the server was down' }).waitFor({ timeout: 20_000 });
  await w.locator('[data-testid=msg]', { hasText: 'Agent typed during the outage' }).waitFor({ timeout: 20_000 });
  const recoverMs = Date.now() - down;
  step(`survived the restart; both queued messages arrived (${recoverMs} ms after restart began)`);
  await w.locator('#say-in').fill('Still here after the restart');
  await w.locator('#say-in').press('Enter');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Still here after the restart' }).waitFor({ timeout: 10_000 });
  // Nothing doubled: each message shows once on each side.
  for (const [p, sel, t] of [[agent, '[data-testid=agent-msg]', 'Hello from alice'], [agent, '[data-testid=agent-msg]', 'Sent while the server was down'], [agent, '[data-testid=agent-msg]', 'Agent typed during the outage'], [w, '[data-testid=msg]', 'Sent while the server was down'], [w, '[data-testid=msg]', 'Hi alice, Ann here'], [w, '[data-testid=msg]', 'Agent typed during the outage']]) await once(p, sel, t);
  await shot(client, '5-client-after-restart');
  await shot(agent, '5-agent-after-restart');

  // 5c. Refused requests show their error near their form and wedge nothing. An agenda window that ends
  // before it starts is refused by the server (as that request); the corrected one is saved.
  await w.locator('#d-prof > summary').click();
  await w.locator('#ag-add').click();
  const win = w.locator('[data-testid=agenda-window]').last();
  for (const d of ['Sat', 'Sun']) await win.getByRole('checkbox', { name: d }).uncheck();
  const zone = await win.locator('.ag-tz').inputValue();
  await win.getByLabel('From', { exact: true }).fill('17:00');
  await win.getByLabel('To', { exact: true }).fill('09:00');
  await w.getByRole('button', { name: 'Save profile' }).click();
  await w.locator('#p-msg', { hasText: /agenda/ }).waitFor({ timeout: 10_000 });
  const refused = await w.locator('#p-msg').textContent();
  await win.getByLabel('To', { exact: true }).fill('18:30');
  await w.getByRole('button', { name: 'Save profile' }).click();
  await w.locator('#p-msg', { hasText: 'Saved' }).waitFor({ timeout: 10_000 });
  const agenda = await w.evaluate((e) => e.client.view().profile.agenda.at(-1));
  if (JSON.stringify(agenda) !== JSON.stringify({ days: [1, 2, 3, 4, 5], start_minute: 1020, end_minute: 1110, time_zone: zone, media: [] })) throw new Error(`agenda saved as ${JSON.stringify(agenda)}`);
  step(`invalid agenda refused ("${refused}"), the corrected one saved: ${JSON.stringify(agenda)}`);
  // Birth year and how to be reached, in the profile form; an order's delivery, in the orders list.
  await w.getByLabel('Year of birth').fill('1990');
  await w.locator('#p-caps [data-cap=callback]').check();
  await w.locator('#p-caps [data-capaddr=callback]').fill('+442079460000');
  await w.getByRole('button', { name: 'Save profile' }).click();
  await w.locator('#p-msg', { hasText: 'Saved' }).waitFor({ timeout: 10_000 });
  const prof = await w.evaluate((e) => e.client.view().profile);
  if (prof.demographics.birth_year !== 1990 || !prof.capabilities.some((c) => c.medium === 'callback' && c.address === '+442079460000')) throw new Error(`profile saved as ${JSON.stringify(prof)}`);
  await w.locator('#d-ord > summary').click();
  const ord = w.locator('[data-testid=order]').first();
  await ord.waitFor({ timeout: 10_000 });
  // One order still open to changes, and one that has left (shipped or delivered), if the sample has it.
  const [oid, gone] = await w.evaluate((e) => { const o = e.client.view().orders; return [o.find((x) => ['placed', 'processing'].includes(x.status))?.id, o.find((x) => !['placed', 'processing', 'cancelled'].includes(x.status))?.id]; });
  if (!oid) throw new Error('no editable order in the sample data');
  await w.locator(`[data-ord="${oid}"]`).click();
  await w.getByLabel('Delivery address').fill('1 Rue de la Paix, Paris');
  await w.getByLabel('Delivery window').fill('Mon 9-12');
  await w.getByRole('button', { name: 'Save delivery' }).click();
  await w.locator('#o-msg', { hasText: 'Saved' }).waitFor({ timeout: 10_000 });
  await w.locator('[data-testid=order]', { hasText: '1 Rue de la Paix, Paris' }).waitFor({ timeout: 10_000 });
  let oMsg = 'no shipped order in the sample';
  if (gone) {
    await w.locator(`[data-ord="${gone}"]`).click();
    await w.getByLabel('Delivery address').fill('elsewhere');
    await w.getByRole('button', { name: 'Save delivery' }).click();
    await w.locator('#o-msg', { hasText: 'no longer change' }).waitFor({ timeout: 10_000 });
    oMsg = await w.locator('#o-msg').textContent();
  }
  step(`profile: birth year and a callback number saved; order ${oid}'s delivery changed; a shipped one: "${oMsg}"`);
  // An oversized note is refused at the call; the next requests still work, the chat too.
  const note = await w.evaluate((e) => e.client.addNote('nope', 'x'.repeat(300 * 1024)).then(() => 'accepted', (x) => x.code));
  if (note !== 'too_large') throw new Error(`oversized note: ${note}`);
  const bad = await w.evaluate((e) => e.client.request({ op: 'update_profile', patch: { agenda: [{ days: [null] }] } }).then(() => 'accepted', (x) => x.code));
  if (bad !== 'invalid') throw new Error(`malformed agenda: ${bad}`);
  await w.evaluate((e) => e.client.getOrders());
  await w.locator('#say-in').fill('After the refused requests');
  await w.locator('#say-in').press('Enter');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'After the refused requests' }).waitFor({ timeout: 10_000 });
  step('oversized note refused (too_large), malformed agenda refused (invalid); later requests and chat still work');
  await shot(client, '5c-client-profile-errors');

  // 5d. A website's visitor: no token on the page, only the public site key; the widget gets a visitor
  // token, connects, shows live status, and after a reload is the same visitor.
  const visitorCtx = await browser.newContext({ viewport: { width: 800, height: 900 } });
  const vp = await visitorCtx.newPage();
  globalThis.pages.visitor = vp;
  const demoBase = urls.demo.split('#')[0];
  await vp.goto(`${demoBase}#site-key=demo-site`);
  const vw = vp.locator('frontdesk-widget');
  await vw.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  const who = await vw.evaluate((e) => e.client.view().client);
  if (!/^v-[0-9a-f]{32}$/.test(who || '')) throw new Error(`visitor client id ${who}`);
  await vp.reload();
  await vw.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  const again = await vw.evaluate((e) => e.client.view().client);
  if (again !== who) throw new Error(`after a reload the visitor is ${again}, was ${who}`);
  // The visitor writes its name, then signs in on the site: the site's backend signs its user id
  // (HMAC-SHA256 with the identity secret) and the page sets user and user-hash; the widget is that
  // client now, and the visitor's profile came with it.
  await vw.evaluate((e) => e.client.updateProfile({ demographics: { name: 'Vera Visitor', languages: [] } }));
  const { createHmac } = await import('node:crypto');
  const hash = createHmac('sha256', 'e2e-identity').update('vera-1').digest('hex');
  await vw.evaluate((e, h) => { e.setAttribute('user', 'vera-1'); e.setAttribute('user-hash', h); }, hash);
  await vp.waitForFunction(() => document.querySelector('frontdesk-widget').client?.view().client === 'u-vera-1', null, { timeout: 15_000 });
  await vp.waitForFunction(() => document.querySelector('frontdesk-widget').client.view().profile.demographics.name === 'Vera Visitor', null, { timeout: 10_000 });
  // A fragment change alone is no navigation: load the page again with the foreign key.
  await vp.goto(`${demoBase}#site-key=not-ours`);
  await vp.reload();
  await vw.locator('#conn', { hasText: 'unknown site key' }).waitFor({ timeout: 10_000 });
  step(`visitor from a site key: ${who}, the same after a reload, identified as u-vera-1 with its profile; an unknown key is refused with its reason`);
  await shot(vp, '5d-visitor');
  await visitorCtx.close();

  // 5e. Callbacks: the customer ends the chat, asks to be called back now at a typed number, keeps a
  // place in line, the console takes it (no SIP trunk here: the agent calls by hand) and hangs up;
  // then a slot is booked from the agenda and cancelled.
  await w.locator('#end').click();
  // The email of step 1a is still open in the backlog: it is ended too.
  await w.locator('#live', { hasText: 'Router keeps rebooting' }).waitFor({ timeout: 10_000 });
  await w.locator('#end').click();
  await w.locator('#start').waitFor({ state: 'visible', timeout: 10_000 });
  await w.evaluate((e) => e.client.updateProfile({ agenda: [{ days: [1, 2, 3, 4, 5, 6, 7], start_minute: 0, end_minute: 1440, time_zone: 'UTC', media: [] }] }));
  await w.locator('#pick input[value=callback]').check();
  await w.locator('#cb-num').waitFor({ state: 'visible', timeout: 5_000 });
  await w.locator('#cb-num').fill('030 1234567');
  await w.getByRole('button', { name: 'Call me' }).click();
  await w.locator('#s-msg', { hasText: 'number:' }).waitFor({ timeout: 10_000 });
  await w.locator('#cb-num').fill('+44 20 7946 0000');
  await w.locator('#s-topic').fill('Call me about the router');
  await w.getByRole('button', { name: 'Call me' }).click();
  await agent.locator('[data-testid=offer]', { hasText: 'callback' }).waitFor({ timeout: 10_000 });
  await agent.locator('[data-testid=offer] button[data-accept]').click();
  await agent.locator('[data-testid=callback]', { hasText: '+442079460000' }).waitFor({ timeout: 10_000 });
  await w.locator('[data-testid=callback-state][data-phase=connected]').waitFor({ timeout: 10_000 });
  await shot(agent, '5e-agent-callback');
  await agent.locator('[data-testid=conv][data-state=connected] button[data-end]').click();
  await w.locator('#start').waitFor({ state: 'visible', timeout: 10_000 });
  // A booked slot from the agenda: offered in the picker, shown with its time, cancelled by the customer.
  await w.locator('#pick input[value=callback]').check();
  const slot = await w.locator('#cb-when option').nth(1).getAttribute('value');
  await w.locator('#cb-when').selectOption(slot);
  await w.getByRole('button', { name: 'Call me' }).click();
  await w.locator('[data-testid=callback-state]', { hasText: 'We will call you on +442079460000 at' }).waitFor({ timeout: 10_000 });
  await shot(client, '5e-client-booked-callback');
  await w.locator('#cb-cancel').click();
  await w.locator('#start').waitFor({ state: 'visible', timeout: 10_000 });
  const cbRecords = await w.evaluate((e) => e.client.view().history.filter((r) => r.medium === 'callback').map((r) => r.outcome));
  if (JSON.stringify(cbRecords.sort()) !== '["abandoned","completed"]') throw new Error(`callback records: ${JSON.stringify(cbRecords)}`);
  step('callback: a bad number refused, "call me now" taken by the console and hung up, a booked slot shown and cancelled; both in history');

  // 6. A narrow (phone) viewport and the other panels, for the record.
  await client.setViewportSize({ width: 390, height: 1400 });
  for (const d of ['#d-hist', '#d-ord', '#d-al']) await w.locator(`${d} > summary`).click();
  await w.locator('#h-list li').first().waitFor({ timeout: 5_000 });
  await shot(client, '6-client-phone-panels');

  // 7. The launcher, as a website embeds it: closed for a first-time visitor, only the widget's script loads;
  // opened by keyboard, the engine and the panel load and the panel works. A chat started there takes focus
  // to the message box; minimized and reloaded, the launcher keeps the live session (within the closed
  // budget, its status shown in time) and an agent message shows a badge, beeps and (opted in) notifies; ended, it leaves a note with the
  // transcript to download and a rating stored on the record; focus returns to Start. French by `lang`.
  // A refused token says so instead of "Reconnecting…".
  const lctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  await lctx.grantPermissions(['notifications'], { origin: new URL(urls.demo).origin });
  await lctx.addInitScript(() => {
    window.__beeps = 0; window.__notes = [];
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...a) { window.__beeps++; return start.apply(this, a); };
    const N = window.Notification;
    window.Notification = class extends N { constructor(t, o) { super(t, o); window.__notes.push(`${t}: ${o?.body}`); } };
  });
  const lp = await lctx.newPage();
  globalThis.pages.launcher = lp;
  lp.on('pageerror', (e) => console.error(`e2e: launcher page error: ${e.message}`));
  const loaded = [];
  lp.on('request', (r) => loaded.push(new URL(r.url()).pathname));
  await lp.goto(`${urls.demo}&launcher`);
  const lw = lp.locator('frontdesk-widget');
  await lw.locator('#fab').waitFor({ timeout: 10_000 });
  await lp.waitForTimeout(500);
  const closedLoads = [...new Set(loaded)];
  if (closedLoads.some((u) => /frontdesk(-client|-call|-widget-panel)?\.js|wasm/.test(u)) || !closedLoads.includes('/frontdesk-widget.js')) throw new Error(`closed launcher loaded ${closedLoads}`);
  if (!(await lw.locator('#panel').isHidden()) || (await lw.locator('#fab').getAttribute('aria-expanded')) !== 'false') throw new Error('the launcher starts open');
  await lp.keyboard.press('Tab');
  const focusId = () => lp.evaluate(() => document.querySelector('frontdesk-widget').shadowRoot.activeElement?.id ?? null);
  if ((await focusId()) !== 'fab') throw new Error(`Tab focused ${await focusId()}, not the launcher`);
  await lp.keyboard.press('Enter');
  await lw.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  // Opened, the client, its engine and the panel load; the call code waits for a call.
  if (!loaded.includes('/frontdesk-client.js') || !loaded.includes('/frontdesk_wasm_bg.wasm') || !loaded.includes('/frontdesk-widget-panel.js') || loaded.includes('/frontdesk-call.js')) throw new Error(`opening loaded ${[...new Set(loaded)]}`);
  if ((await focusId()) === null) throw new Error('opening the launcher left focus outside the panel');
  const availLabel = await lw.locator('#avail-l').textContent();
  const availN = Number(await lw.locator('#avail').textContent());
  if (availLabel !== (availN === 1 ? 'agent available' : 'agents available')) throw new Error(`"${availN} ${availLabel}"`);
  step(`launcher: closed it loaded only ${closedLoads.join(', ')}; opened by keyboard, the engine loaded and the panel went online ("${availN} ${availLabel}")`);
  await shot(lp, '7a-launcher-open');
  // A chat from the launcher, with a product: started from the keyboard, focus lands in the message box.
  await lw.locator('#pick input[value=chat]').check();
  const prod = await lw.locator('#s-product option').nth(1).evaluate((o) => ({ id: o.value, name: o.textContent }));
  await lw.locator('#s-product').selectOption(prod.id);
  await lw.locator('#s-topic').fill('Launcher chat');
  await lw.locator('#s-go').focus();
  await lp.keyboard.press('Enter');
  await lw.locator('#say-in').waitFor({ state: 'visible', timeout: 10_000 });
  await lp.waitForFunction(() => document.querySelector('frontdesk-widget').shadowRoot.activeElement?.id === 'say-in', null, { timeout: 5_000 });
  await agent.locator('[data-testid=offer]', { hasText: 'chat' }).waitFor({ timeout: 10_000 });
  await agent.locator('[data-testid=offer] button[data-accept]').click();
  await lw.locator('#live', { hasText: 'Connected with' }).waitFor({ timeout: 10_000 });
  await lw.locator('#say-in').fill('Hello from the launcher');
  await lw.locator('#say-in').press('Enter');
  const lin = agent.locator('[data-testid=conv][data-state=connected] input[data-conv]');
  await agent.locator('[data-testid=agent-msg]', { hasText: 'Hello from the launcher' }).waitFor({ timeout: 10_000 });
  // Opt in to notifications, minimize with Escape (focus back on the launcher), get a message.
  await lw.locator('#notify').click();
  await lw.locator('#notify').waitFor({ state: 'hidden', timeout: 5_000 });
  await lw.locator('#say-in').press('Escape');
  await lw.locator('#panel').waitFor({ state: 'hidden', timeout: 5_000 });
  if ((await focusId()) !== 'fab') throw new Error(`after Escape focus is on ${await focusId()}`);
  // The visitor's next page (a reload): the launcher stays closed and keeps the live session, loading the
  // launcher, the client and its engine but not the panel. The closed budget (issue 20) is checked on what
  // Chromium loaded before the panel was opened: each response, gzip -9 as a server would send it (the
  // page itself is the site's, not the widget's). The status beside the launcher shows within 150 ms of
  // navigation on this local server: the median of three reloads, so that one stall of a shared machine
  // does not decide it (93-139 ms measured on the 2-core dev box; a reload there under a load average of 3.6,
  // other builds running, took 185-219 ms, most of it before the widget's own script had arrived). The 150 ms
  // are the dev box's: a CI machine that runs a fixed JavaScript loop slower than that box did when quiet
  // (PROBE_REF_MS, the fastest of five) gets the budget scaled by as much — a CI run on a machine twice as
  // slow failed here at ~180 ms with nothing changed — while a slower path (the panel loaded first, a
  // timer waited on, a second round trip) still fails on any machine.
  const PROBE_REF_MS = 106;
  const probes = [];
  for (let i = 0; i < 5; i++) probes.push(await lp.evaluate(() => { const t = performance.now(); let x = 0; for (let i = 0; i < 2e7; i++) x = (x * 31 + i) | 0; return x === 0.5 ? 0 : performance.now() - t; }));
  const slowness = Math.max(1, Math.min(...probes) / PROBE_REF_MS);
  const statusBudget = Math.round(150 * slowness);
  const closedBudget = Number(process.env.FRONTDESK_WEB_CLOSED_BUDGET_BYTES || 61440);
  const statusMs = [];
  let closedBytes, arrived;
  for (let i = 0; i < 3; i++) {
    const bodies = [];
    const onResponse = (r) => { if (r.request().resourceType() !== 'document') bodies.push(r.body().then((b) => [new URL(r.url()).pathname, gzipSync(b, { level: 9 }).length], () => [r.url(), 0])); };
    lp.on('response', onResponse);
    loaded.length = 0;
    await lp.reload();
    await lw.locator('[data-testid=launcher-status]').waitFor({ state: 'visible', timeout: 15_000 });
    await lp.waitForTimeout(500);
    lp.off('response', onResponse);
    const closedFiles = await Promise.all(bodies);
    closedBytes = closedFiles.reduce((n, [, b]) => n + b, 0);
    statusMs.push(await lw.evaluate((e) => e.firstStatusMs));
    // When each file had arrived (ms after navigation), to tell a slow machine from a slow path.
    arrived = (await lp.evaluate(() => performance.getEntriesByType('resource').map((e) => `${new URL(e.name).pathname} ${Math.round(e.responseEnd)}`))).join(', ');
    if (!(await lw.locator('#panel').isHidden())) throw new Error('the reloaded launcher opened');
    if (!loaded.includes('/frontdesk_wasm_bg.wasm') || loaded.includes('/frontdesk-widget-panel.js')) throw new Error(`the reloaded closed launcher loaded ${[...new Set(loaded)]}`);
    if (closedBytes > closedBudget) throw new Error(`closed launcher with its session loaded ${closedBytes} B gzipped > ${closedBudget} B: ${JSON.stringify(closedFiles)}`);
    if (i === 0) step(`closed with a live session after a reload: ${closedBytes} B gzipped (budget ${closedBudget} B: ${closedFiles.map(([f, b]) => `${f} ${b}`).join(', ')})`);
  }
  const launcherStatusMs = [...statusMs].sort((a, b) => a - b)[1];
  const speed = `this machine ${slowness.toFixed(2)}× as slow as the dev box (probe ${Math.min(...probes).toFixed(0)} ms, there ${PROBE_REF_MS} ms)`;
  if (!(launcherStatusMs <= statusBudget)) throw new Error(`the launcher's first status showed ${statusMs.join(', ')} ms after navigation (median ${launcherStatusMs}; promised: 150 ms on the dev box, ${statusBudget} ms on ${speed}; files of the last arrived at: ${arrived})`);
  step(`status beside the closed launcher ${statusMs.join(', ')} ms after navigation (median ${launcherStatusMs} ms, budget ${statusBudget} ms: ${speed}; files of the last arrived at: ${arrived} ms)`);
  await lw.locator('#fab').focus();
  await lin.fill('A reply while you were away');
  await lin.press('Enter');
  await lw.locator('#badge', { hasText: '1' }).waitFor({ timeout: 10_000 });
  const fabName = await lw.locator('#fab').getAttribute('aria-label');
  // Closed with a live session, the launcher shows the agents available (and hold time) beside it.
  const pill = await lw.locator('[data-testid=launcher-status]').textContent({ timeout: 5_000 });
  if (!(await lw.locator('[data-testid=launcher-status]').isVisible()) || !/^\d+ agents? available/.test(pill) || !fabName.includes(pill)) throw new Error(`launcher status "${pill}", name "${fabName}"`);
  const beeps = await lp.evaluate(() => window.__beeps);
  const notes = await lp.evaluate(() => window.__notes);
  if (beeps < 1 || notes.length !== 1 || !notes[0].includes('A reply while you were away')) throw new Error(`beeps ${beeps}, notifications ${JSON.stringify(notes)}`);
  await shot(lp, '7b-launcher-badge');
  await lp.keyboard.press('Enter');
  await lw.locator('[data-testid=msg]', { hasText: 'A reply while you were away' }).waitFor({ timeout: 5_000 });
  if (!(await lw.locator('#badge').isHidden())) throw new Error('the badge stays after opening');
  if (!(await lw.locator('[data-testid=launcher-status]').isHidden())) throw new Error('the launcher status stays beside an open panel');
  step(`minimized: a new agent message showed the badge and the status ("${fabName}"), beeped ${beeps}×, notified "${notes[0]}"; opening cleared it`);
  // End: a note with the transcript, focus on Start, a download and a rating on the record.
  await lw.locator('#end').focus();
  await lp.keyboard.press('Enter');
  await lw.locator('[data-testid=ended]').waitFor({ timeout: 10_000 });
  await lp.waitForFunction(() => document.querySelector('frontdesk-widget').shadowRoot.activeElement?.id === 's-go', null, { timeout: 5_000 });
  await lw.locator('[data-testid=msg]', { hasText: 'Hello from the launcher' }).waitFor({ timeout: 5_000 });
  const [dl] = await Promise.all([lp.waitForEvent('download'), lw.locator('#dl').click()]);
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(await dl.path(), 'utf8');
  if (!/You: Hello from the launcher/.test(text) || !text.includes('A reply while you were away')) throw new Error(`transcript file: ${text}`);
  await lw.locator('label[for=r4]').click();
  await lw.locator('#r-note').fill('quick and kind');
  await lw.locator('#r-go').click();
  await lw.locator('#r-msg', { hasText: 'Thank you' }).waitFor({ timeout: 10_000 });
  const chatId = await lw.evaluate((e) => e.client.view().history.find((r) => r.summary?.includes?.('Launcher') || r.notes.some((n) => n.text.startsWith('Rating')))?.id);
  await lp.waitForFunction((id) => document.querySelector('frontdesk-widget').client.view().history.find((r) => r.id === id)?.notes.some((n) => n.text === 'Rating: 4/5 — quick and kind'), chatId, { timeout: 10_000 });
  await lw.locator('#d-hist > summary').click();
  const hist = await lw.locator('#h-list').textContent();
  if (!hist.includes(prod.name)) throw new Error(`history shows no product name "${prod.name}": ${hist}`);
  // The ended conversation's transcript, read back from the history.
  await lw.locator(`#h-list [data-tr="${chatId}"]`).click();
  await lw.locator('[data-testid=past-transcript]', { hasText: 'Hello from the launcher' }).waitFor({ timeout: 10_000 });
  await shot(lp, '7c-launcher-ended');
  step(`ended: note shown, focus on Start, transcript downloaded (${text.split('\n').length} lines), rating stored as a note; history names "${prod.name}" and shows the transcript`);
  // French, by the lang attribute.
  await lw.evaluate((e) => e.setAttribute('lang', 'fr'));
  await lw.locator('#conn', { hasText: 'En ligne' }).waitFor({ timeout: 15_000 });
  await lw.locator('#s-go', { hasText: 'Commencer' }).waitFor({ timeout: 5_000 });
  await shot(lp, '7d-launcher-fr');
  // A refused token: the reason, not "Reconnecting…".
  const bp = await lctx.newPage();
  await bp.goto(`${demoBase}#token=not-a-valid-token`);
  const bw = bp.locator('frontdesk-widget');
  await bw.locator('#conn', { hasText: 'Not connected' }).waitFor({ timeout: 10_000 });
  await bp.waitForTimeout(2000);
  const rej = await bw.locator('#conn').textContent();
  if (!rej.startsWith('Not connected')) throw new Error(`a refused token shows "${rej}"`);
  step(`French by lang="fr"; a refused token shows "${rej}"`);
  await lctx.close();

  writeFileSync(join(out, 'results.json'), JSON.stringify({ firstStatusMs, launcherStatusMs, launcherBudgetMs: statusBudget, slowness, closedBytes, recoverMs, pass: true }, null, 2));
  step('PASS');
  clearTimeout(deadline);
  cleanup();
} catch (e) {
  console.error(`e2e: FAIL: ${e.stack || e}`);
  for (const [n, p] of Object.entries(globalThis.pages || {})) await p.screenshot({ path: join(out, `fail-${n}.png`), fullPage: true }).catch(() => {});
  writeFileSync(join(out, 'results.json'), JSON.stringify({ pass: false, error: String(e) }, null, 2));
  cleanup();
  process.exit(1);
}
