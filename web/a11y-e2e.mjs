// Accessibility in headless Chromium: axe-core (WCAG 2.0/2.1 A and AA rules) on the widget — closed as a
// launcher, opened with every panel expanded, in a chat, after it ended, in French — and on the agent
// console, against a real frontdesk-server on 127.0.0.1. Fails on any serious or critical violation;
// lesser ones are listed in a11y-results.json.
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
const cleanup = () => { try { server?.kill('SIGKILL'); } catch {} try { browser?.close(); } catch {} rmSync(dir, { recursive: true, force: true }); };
const deadline = setTimeout(() => { console.error('a11y: timed out'); cleanup(); process.exit(1); }, 90_000);
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
async function scan(page, name, include) {
  let b = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']);
  if (include) b = b.include(include);
  const r = await b.analyze();
  const v = r.violations.map((x) => ({ id: x.id, impact: x.impact, help: x.help, nodes: x.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  results[name] = { violations: v, passes: r.passes.length };
  const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
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
  await w.locator('#fab').click();
  await w.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
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
