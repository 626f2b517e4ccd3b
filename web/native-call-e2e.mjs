// A native peer end to end: bindings/python/examples/video_call.py (the uniffi Python bindings for the
// signalling, aiortc for the media) places a video call to the agent console in Chromium, all inside a
// network namespace with only `lo` up. Asserts that frames flow both ways (aiortc counts what it
// receives; the console's getStats() counts decoded frames), that the Python side hangs up and the
// console says so, and reports the set-up time (offer sent to ICE connected, on the Python side).
// Without `ip netns` it is skipped: aiortc would otherwise pick the machine's other addresses.
//   node web/native-call-e2e.mjs <frontdesk-server> <libfrontdesk_uniffi.so> <python with aiortc> <out dir>
import { chromium } from 'playwright-core';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, mkdtempSync, copyFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir, networkInterfaces } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const [bin, lib, python, out] = argv;
mkdirSync(out, { recursive: true });
const step = (s) => console.log(`native-call: ${s}`);
const results = join(out, 'native-call-results.json');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// 1. Into a fresh namespace with only lo; 127.0.0.2 is added to it because aiortc never offers
// 127.0.0.1 as a host candidate (still loopback, still inside the namespace).
if (!process.env.FRONTDESK_CALL_NETNS) {
  const ns = `fdnative${process.pid}`;
  const ip = (...a) => spawnSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (ip('netns', 'add', ns).status !== 0) {
    step('SKIPPED: ip netns is not available here, and aiortc would use the machine\'s other addresses');
    writeFileSync(results, JSON.stringify({ skipped: true }));
    process.exit(0);
  }
  const done = (code) => { ip('netns', 'del', ns); process.exit(code); };
  if (ip('-n', ns, 'link', 'set', 'lo', 'up').status !== 0 || ip('-n', ns, 'addr', 'add', '127.0.0.2/32', 'dev', 'lo').status !== 0) {
    console.error('native-call: lo would not come up in the namespace');
    done(1);
  }
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit', env: { ...process.env, FRONTDESK_CALL_NETNS: ns } });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { child.kill('SIGTERM'); setTimeout(() => done(1), 3000); });
  child.on('exit', (code) => done(code ?? 1));
  await new Promise(() => {});
}
const up = Object.keys(networkInterfaces());
if (up.some((n) => n !== 'lo')) throw new Error(`the namespace has interfaces besides lo: ${up}`);
step(`isolation: network namespace ${process.env.FRONTDESK_CALL_NETNS} (lo only, 127.0.0.1 and 127.0.0.2)`);

const deadline = setTimeout(() => { console.error('native-call: timed out after 100 s'); cleanup(); process.exit(1); }, 100_000);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { cleanup(); process.exit(1); });
const dir = mkdtempSync(join(tmpdir(), 'frontdesk-native-'));
const port = await new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
let server, peer, browser;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const must = (ok, what) => { if (!ok) throw new Error(what); };
function cleanup() {
  for (const p of [server, peer]) try { p?.kill('SIGKILL'); } catch {}
  browser?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

// The frontdesk Python package as the wheel lays it out (build-wheel.sh), from the committed
// generated module and this build's library, so no maturin or uniffi-bindgen build is needed here.
function pythonPackage() {
  const pkg = join(dir, 'py', 'frontdesk');
  mkdirSync(join(pkg, 'frontdesk'), { recursive: true });
  for (const f of readdirSync(join(root, 'bindings/python/src/frontdesk'))) if (/\.(py|typed)$/.test(f)) copyFileSync(join(root, 'bindings/python/src/frontdesk', f), join(pkg, f));
  copyFileSync(join(root, 'bindings/python/generated/frontdesk.py'), join(pkg, 'frontdesk', 'frontdesk.py'));
  writeFileSync(join(pkg, 'frontdesk', '__init__.py'), 'from .frontdesk import *  # noqa: F401,F403\n');
  copyFileSync(lib, join(pkg, 'frontdesk', 'libfrontdesk_uniffi.so'));
  return join(dir, 'py');
}

function start() {
  return new Promise((ok, fail) => {
    server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--memory', '--no-sim', '--xmpp-addr', 'off'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const agent = text.match(/agent console.*?(http:\/\/\S+)/);
      const alice = text.match(/client token alice:\s*(\S+)/);
      if (agent && alice) ok({ agent: agent[1], alice: alice[1] });
    });
    server.on('exit', (c) => fail(new Error(`server exited ${c}: ${text}`)));
  });
}

// What the console's getStats() says of its newest call.
const probe = (page) => page.evaluate(async () => {
  const k = [...globalThis.frontdeskCalls.values()].at(-1)?.call;
  const r = { state: k?.state, inFrames: 0, inAudio: 0, outFrames: 0, pair: null };
  if (!k?.pc || k.pc.signalingState === 'closed') return r;
  (await k.pc.getStats()).forEach((x) => {
    if (x.type === 'inbound-rtp' && x.kind === 'video') r.inFrames += x.framesDecoded ?? 0;
    if (x.type === 'inbound-rtp' && x.kind === 'audio') r.inAudio += x.bytesReceived;
    if (x.type === 'outbound-rtp' && x.kind === 'video') r.outFrames += x.framesEncoded ?? 0;
    if (x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded') r.pair = x.id;
  });
  return r;
});

try {
  const urls = await start();
  step(`server on 127.0.0.1:${port}`);
  const pypath = pythonPackage();
  browser = await chromium.launchPersistentContext(join(dir, 'agent-profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: false, viewport: { width: 1100, height: 900 },
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'],
  });
  const agent = browser.pages()[0] ?? await browser.newPage();
  agent.on('pageerror', (e) => console.error(`native-call: console page error: ${e.message}`));
  await agent.goto(urls.agent);
  await agent.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  step('agent console online in Chromium');

  // 2. The Python peer calls; the console accepts.
  peer = spawn(python, [join(root, 'bindings/python/examples/video_call.py'), `ws://127.0.0.1:${port}/client`, urls.alice, '--seconds', '5'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PYTHONPATH: pypath, PYTHONUNBUFFERED: '1' } });
  const lines = [];
  const seen = (pred) => new Promise((ok) => { const f = () => { const l = lines.find(pred); if (l) ok(l); else setTimeout(f, 50); }; f(); });
  createInterface({ input: peer.stdout }).on('line', (l) => {
    try { lines.push(JSON.parse(l)); } catch { console.error(`native-call: python: ${l}`); }
  });
  const exited = new Promise((ok) => peer.on('exit', (code) => ok(code)));
  await agent.locator('[data-testid=offer] [data-accept]').first().click({ timeout: 20_000 });
  const card = agent.locator('[data-testid=call]').first();
  await agent.waitForFunction(() => [...globalThis.frontdeskCalls.values()].at(-1)?.call.state === 'connected', null, { timeout: 30_000, polling: 100 });
  const connected = await Promise.race([seen((l) => l.event === 'connected'), sleep(15_000).then(() => null)]);
  must(connected, 'the Python peer never said its ICE connected');
  step(`video call from Python connected: set-up ${connected.setup_ms} ms (aiortc's offer sent to ICE connected), ${await agent.evaluate(() => [...globalThis.frontdeskCalls.values()].at(-1).call.setupMs)} ms on the console (offer received to ICE connected)`);

  // 3. Frames both ways while the call lasts.
  const series = [];
  for (let i = 0; i < 4; i++) { if (i) await sleep(1000); series.push(await probe(agent)); }
  const grows = (f) => series.every((x, i) => i === 0 || f(x) > f(series[i - 1]));
  must(grows((x) => x.inFrames), `the console's decoded frames did not grow: ${series.map((x) => x.inFrames)}`);
  must(grows((x) => x.inAudio), `the console received no audio from Python: ${series.map((x) => x.inAudio)}`);
  await agent.screenshot({ path: join(out, 'native-call-agent.png'), fullPage: true });
  const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout')]);
  const done = lines.find((l) => l.event === 'done');
  must(code === 0 && done && done.hung_up_by_agent === null, `the Python peer exited ${code}: ${JSON.stringify(lines.at(-1))}`);
  must(done.frames_received >= 30, `Python received only ${done.frames_received} video frames`);
  step(`frames both ways: the console decoded ${series.at(-1).inFrames - series[0].inFrames} frames in 3 s (and audio), Python received ${done.frames_received} frames and sent ${done.frames_sent} in ${lines.filter((l) => l.event === 'frames').length} s`);

  // 4. Python hung up: the console says so.
  await card.locator('.st', { hasText: 'The customer hung up' }).waitFor({ timeout: 10_000 });
  step('Python hung up: the console\'s call ended ("The customer hung up")');
  writeFileSync(results, JSON.stringify({ pass: true, setupMs: connected.setup_ms, consoleFrames: series.at(-1).inFrames, pythonFramesReceived: done.frames_received, pythonFramesSent: done.frames_sent }, null, 2));
  step(`PASS (set-up ${connected.setup_ms} ms)`);
  clearTimeout(deadline);
  cleanup();
} catch (e) {
  console.error(`native-call: FAIL: ${e.stack || e}`);
  if (browser) await browser.pages()[0]?.screenshot({ path: join(out, 'native-call-fail.png'), fullPage: true }).catch(() => {});
  writeFileSync(results, JSON.stringify({ pass: false, error: String(e) }, null, 2));
  clearTimeout(deadline);
  cleanup();
  process.exit(1);
}
