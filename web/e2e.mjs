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
    server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--db', db, '--no-sim', '--site-key', 'demo-site', ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
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
function cleanup() { try { server?.kill('SIGKILL'); } catch {} try { browser?.close(); } catch {} rmSync(dir, { recursive: true, force: true }); }
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
  // A fragment change alone is no navigation: load the page again with the foreign key.
  await vp.goto(`${demoBase}#site-key=not-ours`);
  await vp.reload();
  await vw.locator('#conn', { hasText: 'unknown site key' }).waitFor({ timeout: 10_000 });
  step(`visitor from a site key: ${who}, the same after a reload; an unknown key is refused with its reason`);
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

  writeFileSync(join(out, 'results.json'), JSON.stringify({ firstStatusMs, recoverMs, pass: true }, null, 2));
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
