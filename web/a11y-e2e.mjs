// Accessibility in headless Chromium: axe-core (WCAG 2.0/2.1 A and AA rules) on the widget — closed as a
// launcher, opened with every panel expanded, in a chat, after it ended, in French — and on the agent
// console, against a real frontdesk-server on 127.0.0.1. Fails on any serious or critical violation;
// lesser ones are listed in a11y-results.json. German and Arabic render their strings (Arabic right to
// left, the launcher on the left), and in Arabic, dark and at phone width no violation at all is allowed.
// Screenshots of the widget (closed, open, phone, dark, RTL) go to
// ${FRONTDESK_ARTIFACTS:-target/artifacts}/screenshots/widget-*.png.
//   node web/a11y-e2e.mjs <frontdesk-server binary> <out dir>
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [bin, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'frontdesk-a11y-'));
const port = await new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
const extra = execFileSync(bin, ['--help']).toString().includes('--xmpp-addr') ? ['--xmpp-addr', 'off'] : [];
let server, browser;
const cleanup = () => { try { server?.kill('SIGKILL'); } catch {} try { browser?.close(); } catch {} rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); };
const deadline = setTimeout(() => { console.error('a11y: timed out'); cleanup(); process.exit(1); }, 110_000);
const shots = join(process.env.FRONTDESK_ARTIFACTS || 'target/artifacts', 'screenshots');
mkdirSync(shots, { recursive: true });
const shot = (p, n) => p.screenshot({ path: join(shots, `widget-${n}.png`) });
const step = (s) => console.log(`a11y: ${s}`);

const urls = await new Promise((ok, fail) => {
  server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--db', join(dir, 'fd.db'), '--no-sim', ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  let text = '';
  server.stdout.on('data', (d) => {
    text += d;
    const demo = text.match(/demo page.*?(http:\/\/\S+)/);
    const agent = text.match(/agent console.*?(http:\/\/\S+)/);
    if (demo && agent) ok({ demo: demo[1], agent: agent[1] });
  });
  server.on('exit', (c) => fail(new Error(`server exited ${c}: ${text}`)));
});

const results = {};
let serious = 0;
async function scan(page, name, include, strict) {
  let b = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']);
  if (include) b = b.include(include);
  const r = await b.analyze();
  const v = r.violations.map((x) => ({ id: x.id, impact: x.impact, help: x.help, nodes: x.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  results[name] = { violations: v, passes: r.passes.length };
  const bad = strict ? v : v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
  serious += bad.length;
  step(`${name}: ${r.passes.length} rules pass, ${v.length} violation(s)${v.length ? `: ${v.map((x) => `${x.id} (${x.impact}) at ${x.nodes.join(', ')}`).join('; ')}` : ''}`);
}

try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  const agent = await (await browser.newContext()).newPage();
  await agent.goto(urls.agent);
  await agent.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await scan(agent, 'agent console');

  const page = await (await browser.newContext({ viewport: { width: 1000, height: 1000 } })).newPage();
  await page.goto(`${urls.demo}&launcher`);
  const w = page.locator('frontdesk-widget');
  await w.locator('#fab').waitFor();
  await scan(page, 'widget closed (launcher)');
  await shot(page, 'closed');
  await w.locator('#fab').click();
  await w.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await shot(page, 'open');
  for (const d of ['#d-prof', '#d-hist', '#d-ord', '#d-al']) await w.locator(`${d} > summary`).click();
  await w.locator('#ag-add').click();
  await scan(page, 'widget open, panels expanded', 'frontdesk-widget');

  // A chat: the agent takes it and both write; then it ends (the note, the rating).
  await w.locator('#pick input[value=chat]').check();
  await w.locator('#s-go').click();
  await agent.locator('[data-testid=offer] button[data-accept]').click();
  await w.locator('#say-in').fill('Hello');
  await w.locator('#say-in').press('Enter');
  const ai = agent.locator('input[data-conv]').first();
  await ai.fill('Hi, how can I help?');
  await ai.press('Enter');
  await w.locator('[data-testid=msg]', { hasText: 'how can I help' }).waitFor({ timeout: 10_000 });
  await scan(page, 'widget in a chat', 'frontdesk-widget');
  await scan(agent, 'agent console in a chat');
  await w.locator('#end').click();
  await w.locator('[data-testid=ended]').waitFor({ timeout: 10_000 });
  await scan(page, 'widget after the chat ended', 'frontdesk-widget');
  await w.evaluate((e) => e.setAttribute('lang', 'fr'));
  await w.locator('#conn', { hasText: 'En ligne' }).waitFor({ timeout: 15_000 });
  await scan(page, 'widget in French', 'frontdesk-widget');
  // German, from its file; the plural follows the count.
  await w.evaluate((e) => e.setAttribute('lang', 'de'));
  await w.locator('#ct-h', { hasText: 'Sprechen Sie mit uns' }).waitFor({ timeout: 15_000 });
  await w.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  const n = Number(await w.locator('#avail').textContent());
  const de = await w.locator('#avail-l').textContent();
  if (de !== (n === 1 ? 'Agent verfügbar' : 'Agenten verfügbar')) throw new Error(`German: "${n} ${de}"`);
  await scan(page, 'widget in German', 'frontdesk-widget');
  step(`German: "${n} ${de}"`);
  // Arabic: its strings, right to left, the launcher on the left; no violation at all.
  await w.evaluate((e) => e.setAttribute('lang', 'ar'));
  await w.locator('#conn', { hasText: 'متصل' }).waitFor({ timeout: 15_000 });
  await w.locator('#ct-h', { hasText: 'تواصل معنا' }).waitFor({ timeout: 5_000 });
  const dir = await w.locator('#panel').evaluate((e) => getComputedStyle(e).direction);
  const fab = await w.locator('#fab').boundingBox();
  const panel = await w.locator('#panel').boundingBox();
  if (dir !== 'rtl' || fab.x + fab.width > 500 || panel.x > 500) throw new Error(`Arabic: direction ${dir}, launcher at x=${fab.x}, panel at x=${panel.x}`);
  await scan(page, 'widget in Arabic (RTL)', 'frontdesk-widget', true);
  await shot(page, 'rtl');
  step(`Arabic: direction ${dir}, launcher at x=${Math.round(fab.x)} of 1000, "${await w.locator('#avail-l').textContent()}"`);
  // Dark (the browser's colour scheme) and phone width, opened: no violation at all.
  for (const [name, opts] of [['dark', { colorScheme: 'dark', viewport: { width: 1000, height: 1000 } }], ['phone', { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true }]]) {
    const ctx = await browser.newContext(opts);
    const p = await ctx.newPage();
    await p.goto(`${urls.demo}&launcher`);
    const x = p.locator('frontdesk-widget');
    await x.locator('#fab').click();
    await x.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
    await scan(p, `widget open, ${name}`, 'frontdesk-widget', true);
    await shot(p, name);
    await ctx.close();
  }

  writeFileSync(join(out, 'a11y-results.json'), JSON.stringify({ serious, results }, null, 2));
  clearTimeout(deadline);
  cleanup();
  if (serious) { console.error(`a11y: FAIL: ${serious} serious or critical violation(s)`); process.exit(1); }
  step('PASS (no serious or critical violations)');
} catch (e) {
  console.error(`a11y: FAIL: ${e.stack || e}`);
  cleanup();
  process.exit(1);
}
