// The agent desktop in headless Chromium against a real frontdesk-server on 127.0.0.1: ann handles two
// chats (alice and bob, each in a widget page), transfers bob's to bo with a note (bo sees the note and
// what was said), ends alice's and wraps it up with an outcome; sam, a supervisor, watches the wallboard
// change. axe-core (WCAG 2.x A/AA, 2.2 included) finds nothing on the desktop or the wallboard.
// Screenshots go to <out dir>/screenshots/desk-*.png.
//   node web/desk-e2e.mjs <frontdesk-server binary> <out dir>
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [bin, out] = process.argv.slice(2);
const shots = join(out, 'screenshots');
mkdirSync(shots, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'frontdesk-desk-'));
const port = await new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
const extra = execFileSync(bin, ['--help']).toString().includes('--xmpp-addr') ? ['--xmpp-addr', 'off'] : [];
let server, browser;
const cleanup = () => { try { server?.kill('SIGKILL'); } catch {} try { browser?.close(); } catch {} rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); };
const deadline = setTimeout(() => { console.error('desk: timed out'); cleanup(); process.exit(1); }, 150_000);
const step = (s) => console.log(`desk: ${s}`);
const token = (...args) => execFileSync(bin, ['token', ...args]).toString().trim();

const urls = await new Promise((ok, fail) => {
  server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--db', join(dir, 'fd.db'), '--no-sim', ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  let text = '';
  server.stdout.on('data', (d) => {
    text += d;
    const demo = text.match(/demo page.*?(http:\/\/\S+)/);
    const agent = text.match(/agent console.*?(http:\/\/\S+)/);
    const bob = text.match(/client token bob:\s+(\S+)/);
    if (demo && agent && bob) ok({ demo: demo[1], agent: agent[1], bob: bob[1], base: `http://127.0.0.1:${port}` });
  });
  server.on('exit', (c) => fail(new Error(`server exited ${c}: ${text}`)));
});

async function axe(page, name) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const v = r.violations.map((x) => `${x.id} (${x.impact}) at ${x.nodes.map((n) => n.target.join(' ')).slice(0, 4).join(', ')}`);
  step(`axe ${name}: ${r.passes.length} rules pass, ${v.length} violation(s)${v.length ? `: ${v.join('; ')}` : ''}`);
  if (v.length) throw new Error(`axe: ${name} has WCAG violations`);
}

const wallboard = (page) => page.evaluate(() => globalThis.frontdeskAgent._call({ op: 'wallboard' }));

try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'] });
  const page = async (url, w = 1280, h = 900) => {
    const p = await (await browser.newContext({ viewport: { width: w, height: h } })).newPage();
    p.on('pageerror', (e) => console.error(`desk: page error on ${url.split('#')[0]}: ${e.message}`));
    await p.goto(url);
    return p;
  };
  const shot = (p, n) => p.screenshot({ path: join(shots, `desk-${n}.png`), fullPage: true });

  // The supervisor first, set away so it takes no chats; the wallboard shows before anything happens.
  const sam = await page(`${urls.base}/agent.html#token=${token('--agent', 'sam', '--supervisor')}&name=Sam`, 1280, 1000);
  await sam.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await sam.locator('[data-testid=wallboard]').waitFor({ state: 'visible', timeout: 10_000 });
  await sam.selectOption('#state', 'away');
  await sam.locator('[data-testid=wb-agents] tr[data-agent=sam] [data-testid=wb-state]', { hasText: 'Away' }).waitFor({ timeout: 10_000 });
  const wb0 = await wallboard(sam);
  step(`wallboard before: answered ${wb0.answered}, service level ${wb0.service_level}`);

  // Ann's desk (available) and two customers starting chats.
  const ann = await page(`${urls.agent}&name=Ann`);
  await ann.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await ann.locator('[data-testid=real-state]', { hasText: 'Available' }).waitFor({ timeout: 10_000 });
  const customer = async (url, text) => {
    const p = await page(url, 900, 1000);
    const w = p.locator('frontdesk-widget');
    await w.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
    await w.locator('#pick input[value=chat]').check();
    await w.locator('#s-go').click();
    return { p, w, text };
  };
  const take = async (c) => {
    const offer = ann.locator('[data-testid=offerbar] [data-testid=offer]').first();
    await offer.waitFor({ timeout: 15_000 });
    await offer.locator('button[data-accept]').click();
    await c.w.locator('#say-in').waitFor({ state: 'visible', timeout: 10_000 });
    await c.w.locator('#say-in').fill(c.text);
    await c.w.locator('#say-in').press('Enter');
    await ann.locator('[data-testid=agent-msg]', { hasText: c.text }).waitFor({ timeout: 10_000 });
  };
  const alice = await customer(urls.demo, 'Hello, my router reboots');
  await take(alice);
  // Busy while in a conversation: the real state, not what was picked.
  await ann.locator('[data-testid=real-state]', { hasText: 'Busy' }).waitFor({ timeout: 10_000 });
  step('ann took alice\'s chat and shows Busy');
  await sam.locator('[data-testid=wb-agents] tr[data-agent=ann] [data-testid=wb-state]', { hasText: 'Busy' }).waitFor({ timeout: 10_000 });
  // Ready for a second conversation beside the first.
  await ann.selectOption('#state', 'available');
  const bob = await customer(`${urls.base}/#token=${urls.bob}`, 'Hi, question about my TV');
  await take(bob);
  const convs = ann.locator('[data-testid=conv][data-state=connected]');
  if (await convs.count() !== 2) throw new Error(`ann shows ${await convs.count()} live conversations`);
  // Read in one go in the page: the list re-renders as messages arrive.
  const tops = await ann.evaluate(() => [...document.querySelectorAll('[data-testid=conv][data-state=connected]')].map((e) => e.getBoundingClientRect().top));
  if (tops.length !== 2 || Math.abs(tops[0] - tops[1]) > 4) throw new Error(`the two conversations are not side by side (tops ${tops})`);
  step('two conversations side by side');

  // Timestamps and sender names on messages; a canned answer inserted from the keyboard.
  const bobConv = ann.locator('[data-testid=conv]', { hasText: 'question about my TV' });
  await bobConv.locator('.meta time').first().waitFor();
  await bobConv.locator('select[data-canned]').focus();
  await ann.keyboard.press('ArrowDown');
  await bobConv.locator('button[data-insert]').focus();
  await ann.keyboard.press('Enter');
  const typed = await bobConv.locator('input[data-conv]').inputValue();
  if (!typed.includes('one moment')) throw new Error(`canned answer not inserted: "${typed}"`);
  await ann.keyboard.press('Enter');
  await bob.w.locator('[data-testid=msg]', { hasText: 'one moment' }).waitFor({ timeout: 10_000 });
  step('canned answer inserted by keyboard and sent; messages carry names and times');
  // The customer panel: history with a past record, the profile, the orders.
  await ann.locator('[data-testid=customer] [data-testid=hist]').first().waitFor({ timeout: 10_000 });
  const aliceCard = ann.locator('[data-testid=conv]', { hasText: 'my router reboots' });
  await aliceCard.locator('[data-testid=customer] [data-testid=order]').first().waitFor({ timeout: 10_000 });
  step(`alice's panel lists ${await aliceCard.locator('[data-testid=order]').count()} order(s)`);

  // A file from the desk: bob's widget gets the message that carries it; ann downloads the same bytes.
  const pdf = Buffer.from('%PDF-1.4\n% the wall mount guide\n%%EOF\n');
  await bobConv.locator('input[data-attach]').setInputFiles({ name: 'mount-guide.pdf', mimeType: 'application/pdf', buffer: pdf });
  const chip = bobConv.locator('[data-testid=agent-file]', { hasText: 'mount-guide.pdf' });
  await chip.waitFor({ timeout: 10_000 });
  const [dl] = await Promise.all([ann.waitForEvent('download'), chip.click()]);
  const got = await new Promise((ok, fail) => dl.createReadStream().then((st) => { const b = []; st.on('data', (d) => b.push(d)); st.on('end', () => ok(Buffer.concat(b))); st.on('error', fail); }, fail));
  if (!got.equals(pdf) || dl.suggestedFilename() !== 'mount-guide.pdf') throw new Error(`downloaded ${dl.suggestedFilename()} of ${got.length} bytes`);
  // A page is refused with its reason, shown in the conversation.
  await bobConv.locator('input[data-attach]').setInputFiles({ name: 'x.html', mimeType: 'text/html', buffer: Buffer.from('<script>alert(1)</script>') });
  await bobConv.locator('.err', { hasText: 'not taken' }).waitFor({ timeout: 10_000 });
  step('ann sent a PDF and downloaded it back; an HTML file was refused');
  // Bob's widget shows the file as a download with the same bytes; bob sends a picture back.
  const bobFile = bob.w.locator('[data-testid=file]', { hasText: 'mount-guide.pdf' });
  await bobFile.waitFor({ timeout: 10_000 });
  const [dl2] = await Promise.all([bob.p.waitForEvent('download'), bobFile.click()]);
  const got2 = await new Promise((ok, fail) => dl2.createReadStream().then((st) => { const b = []; st.on('data', (d) => b.push(d)); st.on('end', () => ok(Buffer.concat(b))); st.on('error', fail); }, fail));
  if (!got2.equals(pdf)) throw new Error(`bob downloaded ${got2.length} bytes`);
  const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(3000, 7)]);
  await bob.w.locator('#file-in').setInputFiles({ name: 'wall.png', mimeType: 'image/png', buffer: png });
  await bobConv.locator('[data-testid=agent-file]', { hasText: 'wall.png' }).waitFor({ timeout: 10_000 });
  // Too big, and a type not taken: refused with the reason beside the chat; nothing is posted.
  await bob.w.locator('#file-in').setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: Buffer.concat([png, Buffer.alloc(10 * 1024 * 1024)]) });
  await bob.w.locator('#c-msg', { hasText: 'at most' }).waitFor({ timeout: 20_000 });
  await bob.w.locator('#file-in').setInputFiles({ name: 'run.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ') });
  await bob.w.locator('#c-msg', { hasText: 'not taken' }).waitFor({ timeout: 10_000 });
  // Another client cannot read bob's files, nor learn the interaction exists.
  const bobIx = await bob.w.evaluate((e) => e.client.view().interactions.find((x) => x.state !== 'ended').id);
  const seqOf = await bob.w.evaluate((e, ix) => e.client.view().chats[ix].find((m) => m.attachment?.name === 'wall.png').seq, bobIx);
  const stranger = await alice.w.evaluate((e, [ix, seq]) => e.client.attachment(ix, seq).then(() => 'read', (x) => x.status), [bobIx, seqOf]);
  if (stranger !== 404) throw new Error(`alice reading bob's file: ${stranger}`);
  if (await bob.w.locator('[data-testid=file]').count() !== 2) throw new Error('a refused file left a message');
  await shot(bob.p, 'widget-files');
  step('bob downloaded the PDF and sent a picture; too big and .exe refused with their reasons; alice cannot read bob\'s file (404)');
  await shot(ann, 'two-chats');
  await axe(ann, 'desktop with two chats');

  const wb1 = await wallboard(sam);
  if (wb1.answered < wb0.answered + 2) throw new Error(`wallboard answered ${wb1.answered}, was ${wb0.answered}`);
  if (wb1.agents.find((x) => x.id === 'ann')?.live.length !== 2) throw new Error('wallboard does not show ann with two live chats');

  // Bo comes in; ann transfers bob's chat to bo with a note.
  const bo = await page(`${urls.base}/agent.html#token=${token('--agent', 'bo')}&name=Bo`);
  await bo.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await ann.waitForFunction(() => globalThis.frontdeskDesk.center?.agents.some((x) => x.id === 'bo' && x.state === 'available'), null, { timeout: 10_000 });
  await bobConv.locator('button[data-transfer]').click();
  await ann.locator('#xfer').waitFor({ state: 'visible' });
  await ann.selectOption('#x-kind', 'agent');
  await ann.selectOption('#x-to', 'bo');
  await ann.locator('#x-note').fill('TV model 55X, wants wall mount');
  await shot(ann, 'transfer-dialog');
  await axe(ann, 'transfer dialog');
  await ann.locator('#x-go').click();
  // Bob is told he is being passed on, not just that he waits.
  await bob.w.locator('[data-testid=queued]', { hasText: 'colleague' }).waitFor({ timeout: 10_000 });
  await bo.locator('[data-testid=offerbar] [data-testid=transfer-note]', { hasText: 'wall mount' }).waitFor({ timeout: 10_000 });
  step('bo is offered the chat with ann\'s note');
  await bo.locator('[data-testid=offer] button[data-accept]').click();
  const boConv = bo.locator('[data-testid=conv][data-state=connected]');
  await boConv.locator('[data-testid=agent-msg]', { hasText: 'question about my TV' }).waitFor({ timeout: 10_000 });
  await boConv.locator('[data-testid=agent-msg]', { hasText: 'one moment' }).waitFor({ timeout: 10_000 });
  await bo.locator('[data-testid=customer] [data-testid=hist]').first().waitFor({ timeout: 10_000 });
  await boConv.locator('input[data-conv]').fill('Hi, Bo here, I can help with the mount');
  await boConv.locator('input[data-conv]').press('Enter');
  await bob.w.locator('[data-testid=msg]', { hasText: 'Bo here' }).waitFor({ timeout: 10_000 });
  step('bo has the history and the customer stayed connected');
  await shot(bo, 'transferred');
  if (await ann.locator('[data-testid=conv][data-state=connected]').count() !== 1) throw new Error('the transferred chat is still on ann\'s desk');

  // Ann ends alice's chat and wraps it up.
  const aliceConv = ann.locator('[data-testid=conv]', { hasText: 'my router reboots' });
  await aliceConv.locator('form[data-form] button[data-end]').click();
  const wrap = ann.locator('form[data-wrap]');
  await wrap.waitFor({ timeout: 10_000 });
  await wrap.locator('select[data-outcome]').selectOption('resolved');
  await wrap.locator('[data-wnote]').fill('rebooted, firmware updated');
  await shot(ann, 'wrap-up');
  await wrap.locator('button').click();
  await ann.locator('[data-testid=wrapped]', { hasText: 'resolved' }).waitFor({ timeout: 10_000 });
  await ann.locator('[data-testid=real-state]', { hasText: 'Available' }).waitFor({ timeout: 10_000 });
  await alice.w.locator('#say-in').waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {});
  step('alice\'s chat ended and wrapped up as resolved; ann is available again');

  // The supervisor saw it change: bo busy with one chat, ann free, service level over the answers.
  await sam.locator('[data-testid=wb-agents] tr[data-agent=bo] [data-testid=wb-live]', { hasText: '1' }).waitFor({ timeout: 10_000 });
  await sam.locator('[data-testid=wb-agents] tr[data-agent=ann] [data-testid=wb-state]', { hasText: 'Available' }).waitFor({ timeout: 10_000 });
  const wb2 = await wallboard(sam);
  if (wb2.service_level == null || wb2.answered < 2) throw new Error(`wallboard service level ${wb2.service_level}, answered ${wb2.answered}`);
  await sam.locator('[data-testid=service-level]', { hasText: '%' }).waitFor({ timeout: 10_000 });
  step(`wallboard after: answered ${wb2.answered}, in time ${wb2.answered_in_threshold}, service level ${Math.round(wb2.service_level * 100)}%`);
  await shot(sam, 'wallboard');
  await axe(sam, 'wallboard');
  // An agent asking for the wallboard is refused.
  const refused = await ann.evaluate(() => globalThis.frontdeskAgent._call({ op: 'wallboard' }).then(() => 'allowed', (e) => e.code));
  if (refused !== 'forbidden') throw new Error(`an agent's wallboard request: ${refused}`);
  step('an agent\'s wallboard request is forbidden');
  step('ok');
  clearTimeout(deadline);
  cleanup();
} catch (e) {
  console.error(`desk: FAILED: ${e.stack || e}`);
  clearTimeout(deadline);
  cleanup();
  process.exit(1);
}
