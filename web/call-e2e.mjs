// Voice and video calls end to end: the real frontdesk-server, the customer's demo page and the agent
// console in two Chromium processes with fake media devices, all inside a network namespace with only
// `lo` up (so WebRTC can use no other address of the machine), or, where `ip netns` is unavailable,
// on loopback with Chromium's loopback flag, other addresses' candidates dropped, and a check that the
// selected candidate pair is loopback.
// Asserts from getStats(): audio flows both ways for 3 s, mute stops outbound audio, an ICE restart
// reconnects, a customer hang-up ends the interaction on both sides with its record, video frames flow
// both ways (and stop with the camera off), the microphone switched from the keyboard mid-call, an
// agent hang-up, the same video call through coturn as the only path (relay candidates on both sides,
// credentials minted by the server), the customer's network dropping mid-call (the session resumes,
// the media comes back by an ICE restart; gone for longer than the bound, the call ends as failed
// with its record), a peer that stops answering (the call ends as failed), and
// a refused microphone; reports the set-up times (first offer to ICE connected).
// The customer's page reaches the server through a relay in this process, so its connection (and only
// its) can be cut; media is cut with iptables inside the namespace (that step needs both).
//   node web/call-e2e.mjs <frontdesk-server binary> <out dir for screenshots and call-results.json>
import { chromium } from 'playwright-core';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [bin, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const step = (s) => console.log(`call-e2e: ${s}`);

// 1. Into a fresh network namespace (re-running this file there), unless already inside one.
let isolation = process.env.FRONTDESK_CALL_NETNS ? `network namespace ${process.env.FRONTDESK_CALL_NETNS} (lo only)` : null;
if (!isolation && !process.env.FRONTDESK_CALL_NO_NETNS) {
  const ns = `fdcall${process.pid}`;
  const ip = (...a) => spawnSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (ip('netns', 'add', ns).status === 0) {
    // The namespace goes away however this ends, a `timeout` from the caller included.
    const done = (code) => { ip('netns', 'del', ns); process.exit(code); };
    if (ip('-n', ns, 'link', 'set', 'lo', 'up').status !== 0) { console.error('call-e2e: lo would not come up in the namespace'); done(1); }
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), bin, out], { stdio: 'inherit', env: { ...process.env, FRONTDESK_CALL_NETNS: ns } });
    for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { child.kill('SIGTERM'); setTimeout(() => done(1), 3000); });
    child.on('exit', (code) => done(code ?? 1));
    await new Promise(() => {});
  }
  step('ip netns is not available here: loopback only (--allow-loopback-in-peer-connection; candidates on other addresses dropped, so media is addressed to loopback, though a socket may be bound to the machine\'s own address)');
}
isolation ??= 'loopback only, no network namespace: non-loopback candidates dropped';
if (process.env.FRONTDESK_CALL_NETNS) {
  const up = Object.keys(networkInterfaces());
  if (up.some((n) => n !== 'lo')) throw new Error(`the namespace has interfaces besides lo: ${up}`);
}
step(`isolation: ${isolation}`);

const deadline = setTimeout(() => { console.error('call-e2e: timed out after 230 s'); cleanup(); process.exit(1); }, 230_000);
// Stopped from outside: the server must not outlive the test (in the namespace it would keep running).
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { cleanup(); process.exit(1); });
const dir = mkdtempSync(join(tmpdir(), 'frontdesk-call-'));
const port = await new Promise((ok) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
const extra = execFileSync(bin, ['--help']).toString().includes('--xmpp-addr') ? ['--xmpp-addr', 'off'] : [];
let server, turn;
const browsers = [];
// coturn on loopback with the shared-secret scheme: the server mints each party's credential per call.
const TURN_SECRET = 'call-e2e-turn-secret';
const turnPort = await new Promise((ok) => { const x = createServer().listen(0, '127.0.0.1', () => { const p = x.address().port; x.close(() => ok(p)); }); });

async function startTurn() {
  turn = spawn('turnserver', ['--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${turnPort}`, '--use-auth-secret',
    `--static-auth-secret=${TURN_SECRET}`, '--realm=frontdesk.test', '--no-tls', '--no-dtls', '--no-cli', '--no-tcp-relay',
    '--allow-loopback-peers', '--min-port=49152', '--max-port=49400', `--db=${join(dir, 'turndb')}`, `--pidfile=${join(dir, 'turn.pid')}`],
  { stdio: 'ignore' });
  const gone = new Promise((_, fail) => {
    turn.on('error', (e) => fail(new Error(`coturn would not start (apt-get install coturn): ${e.message}`)));
    turn.on('exit', (c) => fail(new Error(`coturn exited ${c}`)));
  });
  // Ready once it answers a STUN binding request (coturn logs nothing useful on stdout).
  const sock = createSocket('udp4');
  const answered = new Promise((ok) => sock.once('message', ok));
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(0x2112a442, 4);
  const poke = setInterval(() => sock.send(req, turnPort, '127.0.0.1'), 200);
  try {
    await Promise.race([answered, gone, sleep(10_000).then(() => { throw new Error('coturn did not answer STUN in 10 s'); })]);
  } finally { clearInterval(poke); sock.close(); }
}

// The customer's way to the server: a TCP relay that can drop like a network does (every socket
// reset at once, new ones refused until it is back).
const relay = { down: false, pairs: new Set() };
const proxy = createServer((c) => {
  if (relay.down) return c.resetAndDestroy();
  const u = connect(port, '127.0.0.1');
  const pair = [c, u];
  relay.pairs.add(pair);
  const end = () => { relay.pairs.delete(pair); c.destroy(); u.destroy(); };
  for (const x of pair) x.on('error', end).on('close', end);
  c.pipe(u);
  u.pipe(c);
});
relay.cut = () => { for (const [c, u] of relay.pairs) { c.resetAndDestroy(); u.destroy(); } relay.pairs.clear(); };
const proxyPort = await new Promise((ok) => proxy.listen(0, '127.0.0.1', () => ok(proxy.address().port)));
// Media (UDP) in this namespace stops and comes back; never outside a namespace of our own.
const iptables = (op) => {
  for (const cmd of ['iptables', 'ip6tables']) {
    const r = spawnSync(cmd, [op, 'INPUT', '-p', 'udp', '-j', 'DROP'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${op}: ${r.stderr}`);
  }
};
const canDropMedia = !!process.env.FRONTDESK_CALL_NETNS && spawnSync('iptables', ['-L', 'INPUT', '-n'], { stdio: 'ignore' }).status === 0;

function start() {
  return new Promise((ok, fail) => {
    server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--db', join(dir, 'fd.db'), '--no-sim', ...extra,
      '--turn', `turn:127.0.0.1:${turnPort}?transport=udp`, '--turn-secret', TURN_SECRET], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const demo = text.match(/demo page.*?(http:\/\/\S+)/);
      const agent = text.match(/agent console.*?(http:\/\/\S+)/);
      if (demo && agent) ok({ demo: demo[1].replace(`:${port}/`, `:${proxyPort}/`), agent: agent[1] });
    });
    server.on('exit', (c) => fail(new Error(`server exited ${c}: ${text}`)));
  });
}
function cleanup() {
  try { server?.kill('SIGKILL'); } catch {}
  try { turn?.kill('SIGKILL'); } catch {}
  proxy.close();
  relay.cut();
  for (const b of browsers) b.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const must = (ok, what) => { if (!ok) throw new Error(what); };

// The page's current call: the widget's, or the console's newest.
const CALL = {
  client: "document.querySelector('frontdesk-widget').call",
  agent: '[...globalThis.frontdeskCalls.values()].at(-1)?.call',
};

// What getStats() says of a side's call: RTP byte and frame counters and the selected candidate pair.
function probe(page, side) {
  return page.evaluate(async (expr) => {
    const k = (0, eval)(expr);
    const r = { state: k?.state, ice: k?.pc?.iceConnectionState, setupMs: k?.setupMs, inAudio: 0, outAudio: 0, inFrames: 0, outFrames: 0, pair: null };
    if (!k?.pc || k.pc.signalingState === 'closed') return r;
    const s = await k.pc.getStats();
    s.forEach((x) => {
      if (x.type === 'inbound-rtp' && x.kind === 'audio') r.inAudio += x.bytesReceived;
      if (x.type === 'outbound-rtp' && x.kind === 'audio') r.outAudio += x.bytesSent;
      if (x.type === 'inbound-rtp' && x.kind === 'video') r.inFrames += x.framesDecoded ?? 0;
      if (x.type === 'outbound-rtp' && x.kind === 'video') r.outFrames += x.framesEncoded ?? 0;
      if (x.type === 'transport' && x.selectedCandidatePairId) {
        const p = s.get(x.selectedCandidatePairId);
        const l = s.get(p.localCandidateId);
        const m = s.get(p.remoteCandidateId);
        r.pair = `${l.address}:${l.port} ${l.candidateType} ${l.protocol} -> ${m.address}:${m.port} ${m.candidateType}`;
        r.addrs = [l.address, m.address];
        r.types = [l.candidateType, m.candidateType];
      }
    });
    return r;
  }, CALL[side]);
}

// Samples both sides every second for `secs` seconds.
async function series(pages, secs) {
  const out = { client: [], agent: [] };
  for (let i = 0; i <= secs; i++) {
    if (i) await sleep(1000);
    for (const s of ['client', 'agent']) out[s].push(await probe(pages[s], s));
  }
  return out;
}
const grows = (xs, f) => xs.every((x, i) => i === 0 || f(x) > f(xs[i - 1]));
// In the namespace the local socket is on loopback (and so reaches only loopback; the remote of a
// peer-reflexive pair has no address in the stats). Without one, Chromium may bind the machine's own
// address, so at least every packet must be addressed to loopback.
const LO = /^(127\.\d+\.\d+\.\d+|::1)$/;
const loopback = ([local, remote] = []) => LO.test(local) || (!process.env.FRONTDESK_CALL_NETNS && LO.test(remote));

try {
  await startTurn();
  const urls = await start();
  step(`server on 127.0.0.1:${port} (the customer's page through a relay on ${proxyPort}), coturn on 127.0.0.1:${turnPort}`);
  const args = ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'];
  const pages = {};
  // One Chromium process per party, each with its own profile, as two people's browsers are; the
  // agent's profile is named so that its processes can be found (and frozen) below.
  const agentProfile = join(dir, 'agent-profile');
  for (const side of ['client', 'agent']) {
    const ctx = await chromium.launchPersistentContext(side === 'agent' ? agentProfile : join(dir, 'client-profile'),
      { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: false, args, viewport: { width: 1100, height: 1000 } });
    browsers.push(ctx);
    // Outside a namespace, candidates on the machine's other addresses are dropped before ICE can
    // send anything to them, so only loopback pairs are ever checked.
    if (!process.env.FRONTDESK_CALL_NETNS) {
      await ctx.addInitScript(() => {
        const add = RTCPeerConnection.prototype.addIceCandidate;
        RTCPeerConnection.prototype.addIceCandidate = function (c, ...rest) {
          const a = c?.candidate?.split(' ')[4];
          return a && !/^(127\.|::1$)/.test(a) ? Promise.resolve() : add.call(this, c, ...rest);
        };
      });
    }
    const p = (pages[side] = ctx.pages()[0] ?? await ctx.newPage());
    p.on('pageerror', (e) => console.error(`call-e2e: ${side} page error: ${e.message}`));
    // Resource errors are reported with their address below; the rest of the console is worth seeing.
    // Failed WebSockets through the relay are the drops this test makes itself.
    p.on('console', (m) => { if ((m.type() === 'error' || m.type() === 'warning') && !m.text().startsWith('Failed to load resource') && !m.text().includes(`ws://127.0.0.1:${proxyPort}/client' failed`)) console.error(`call-e2e: ${side} console: ${m.text()}`); });
    p.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) console.error(`call-e2e: ${side}: ${r.status()} for ${r.url()}`); });
  }
  globalThis.pages = pages;
  const { client, agent } = pages;
  const shot = (p, n) => p.screenshot({ path: join(out, `call-${n}.png`), fullPage: true });
  const w = client.locator('frontdesk-widget');
  const card = agent.locator('[data-testid=call]').first();
  const until = (p, expr, arg, ms = 15_000) => p.waitForFunction(expr, arg, { timeout: ms, polling: 100 });
  const liveState = (p, side) => p.evaluate((side) => {
    const v = side === 'client' ? document.querySelector('frontdesk-widget').client.view() : globalThis.frontdeskAgent.view();
    return Object.fromEntries(v.interactions.map((x) => [x.id, x.state]));
  }, side);

  await agent.goto(urls.agent);
  await agent.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: 15_000 });
  await client.goto(urls.demo);
  await until(client, () => document.querySelector('frontdesk-widget')?.firstStatusMs != null);

  // Starts a call from the widget and accepts it in the console; resolves when ICE is connected on both sides.
  async function call(medium, how = '') {
    await w.locator('#start').waitFor({ state: 'visible', timeout: 15_000 });
    await w.locator(`#pick input[value=${medium}]:enabled`).check({ timeout: 15_000 });
    await w.locator('#s-go').click();
    await agent.locator('[data-testid=offer] [data-accept]').first().click({ timeout: 15_000 });
    const id = await until(client, () => document.querySelector('frontdesk-widget').call?.id).then((h) => h.jsonValue());
    for (const [p, side] of [[client, 'client'], [agent, 'agent']]) await until(p, (e) => (0, eval)(e)?.state === 'connected', CALL[side]);
    const [c, a] = [await probe(client, 'client'), await probe(agent, 'agent')];
    for (const r of [c, a]) must(loopback(r.addrs), `the selected candidate pair is not loopback: ${r.pair}`);
    step(`${medium} call${how} ${id} connected: set-up ${c.setupMs} ms on the customer's side (offer sent to ICE connected), ${a.setupMs} ms on the agent's (offer received to ICE connected); pair ${c.pair}`);
    return { id, setupMs: c.setupMs, agentSetupMs: a.setupMs, pair: c.pair, types: [c.types, a.types], agentPair: a.pair };
  }
  // The record of an ended call, as the customer's history shows it.
  const record = (id, ms) => until(client, (id) => document.querySelector('frontdesk-widget').client.view().history.find((r) => r.id === id)?.summary, id, ms).then((h) => h.jsonValue());

  // 2. A voice call: audio flows both ways for at least 3 s.
  const voice = await call('voice');
  await w.locator('#call-t', { hasText: /\d:\d\d/ }).waitFor({ timeout: 5_000 });
  let s = await series(pages, 4);
  must(grows(s.client, (x) => x.inAudio), `customer's inbound audio bytes did not grow: ${s.client.map((x) => x.inAudio)}`);
  must(grows(s.agent, (x) => x.inAudio), `agent's inbound audio bytes did not grow: ${s.agent.map((x) => x.inAudio)}`);
  step(`audio both ways for 4 s: customer received ${s.client.at(-1).inAudio - s.client[0].inAudio} B, agent ${s.agent.at(-1).inAudio - s.agent[0].inAudio} B`);
  await shot(client, '1-client-voice');
  await shot(agent, '1-agent-voice');

  // 3. Mute: the customer's sender carries no track, so its outbound audio bytes stop (and the agent's
  // inbound with them), while the agent's audio still arrives; unmute and it flows again.
  await w.locator('#c-mute').click();
  await card.locator('.peer', { hasText: 'muted' }).waitFor({ timeout: 5_000 });
  await sleep(600);
  s = await series(pages, 3);
  const flat = (xs, f) => f(xs.at(-1)) === f(xs[0]);
  must(flat(s.client, (x) => x.outAudio), `muted, the customer still sent audio: ${s.client.map((x) => x.outAudio)}`);
  must(flat(s.agent, (x) => x.inAudio), `muted, the agent still received audio: ${s.agent.map((x) => x.inAudio)}`);
  must(grows(s.client, (x) => x.inAudio), 'the agent\'s audio stopped while the customer was muted');
  await shot(client, '2-client-muted');
  await w.locator('#c-mute').click();
  await sleep(600);
  s = await series(pages, 2);
  must(grows(s.client, (x) => x.outAudio) && grows(s.agent, (x) => x.inAudio), 'audio did not flow again after unmute');
  step('mute: the customer\'s outbound audio bytes stood still for 3 s (agent\'s inbound too), the agent\'s audio kept coming; unmuted, it flows again');

  // 4. An ICE restart (as after a network change): new ICE credentials, connected again, audio flows.
  const ufrag = (p, side) => p.evaluate((e) => (0, eval)(e).pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1], CALL[side]);
  const before = await ufrag(agent, 'agent');
  await w.evaluate((e) => e.call.restart());
  await until(agent, ([e, u]) => (0, eval)(e).pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1] !== u, [CALL.agent, before]);
  for (const [p, side] of [[client, 'client'], [agent, 'agent']]) await until(p, (e) => (0, eval)(e)?.state === 'connected' && (0, eval)(e).pc.iceConnectionState !== 'checking', CALL[side]);
  s = await series(pages, 2);
  must(grows(s.client, (x) => x.inAudio) && grows(s.agent, (x) => x.inAudio), 'audio did not flow after the ICE restart');
  step('ICE restart: the agent answered new ICE credentials, the call stayed up, audio flows both ways');

  // 5. The customer hangs up: the interaction ends on both sides, the record says who.
  await w.locator('#c-hang').click();
  await w.locator('#call-st', { hasText: 'Call ended' }).waitFor({ timeout: 5_000 });
  await card.locator('.st', { hasText: 'The customer hung up' }).waitFor({ timeout: 10_000 });
  await until(agent, (id) => globalThis.frontdeskAgent.view().interactions.find((x) => x.id === id)?.state === 'ended', voice.id);
  must((await liveState(client, 'client'))[voice.id] === 'ended', 'the interaction did not end on the customer\'s side');
  must((await probe(agent, 'agent')).state === 'ended', 'the agent\'s call did not end');
  await w.locator('#start').waitFor({ state: 'visible', timeout: 5_000 });
  const voiceRecord = await record(voice.id);
  must(/^voice call, \d+ min \d+ s, hung up by the customer$/.test(voiceRecord), `record: ${voiceRecord}`);
  step(`customer hung up: ended on both sides; record "${voiceRecord}"`);
  await shot(agent, '3-agent-voice-ended');
  await card.locator('.done').click();

  // 6. A video call: decoded frames grow both ways (and audio too).
  const video = await call('video');
  s = await series(pages, 4);
  must(grows(s.client, (x) => x.inFrames), `customer's decoded video frames did not grow: ${s.client.map((x) => x.inFrames)}`);
  must(grows(s.agent, (x) => x.inFrames), `agent's decoded video frames did not grow: ${s.agent.map((x) => x.inFrames)}`);
  must(grows(s.client, (x) => x.inAudio) && grows(s.agent, (x) => x.inAudio), 'audio did not flow both ways on the video call');
  const playing = await agent.evaluate(() => { const v = document.querySelector('[data-testid=call] video.rv'); return !v.paused && v.videoWidth > 0; });
  must(playing, 'the console\'s remote video is not playing');
  step(`video both ways for 4 s: the customer decoded ${s.client.at(-1).inFrames - s.client[0].inFrames} frames, the agent ${s.agent.at(-1).inFrames - s.agent[0].inFrames}`);
  await shot(client, '4-client-video');
  await shot(agent, '4-agent-video');

  // 6b. The customer picks another microphone from the keyboard: the new device's track replaces the
  // old one on the sender (no renegotiation), and the agent still hears the customer.
  const mic = w.locator('#c-mic');
  await mic.waitFor({ state: 'visible', timeout: 5_000 });
  const mics = await mic.locator('option').evaluateAll((os) => os.map((o) => o.value));
  must(mics.length >= 2, `the widget offers ${mics.length} microphone(s): ${mics}`);
  const micBefore = await w.evaluate((e) => e.call.local.getAudioTracks()[0].getSettings().deviceId);
  await mic.focus();
  await client.keyboard.press(mics.indexOf(micBefore) === mics.length - 1 ? 'ArrowUp' : 'ArrowDown');
  await until(client, (d) => document.querySelector('frontdesk-widget').call.pc.getSenders().find((x) => x.track?.kind === 'audio')?.track.getSettings().deviceId !== d, micBefore, 5_000);
  const micAfter = await w.evaluate((e) => ({ sent: e.call.pc.getSenders().find((x) => x.track?.kind === 'audio').track.getSettings().deviceId, picked: e.shadowRoot.querySelector('#c-mic').value, live: e.call.local.getAudioTracks().length }));
  must(micAfter.sent === micAfter.picked && micAfter.live === 1, `the sender does not carry the picked microphone: ${JSON.stringify(micAfter)}`);
  await sleep(500);
  s = await series(pages, 2);
  must(grows(s.agent, (x) => x.inAudio), 'the agent stopped hearing the customer after the microphone change');
  step(`device choice: ${mics.length} microphones offered; switched by keyboard, the sender carries the new one (replaceTrack), audio still arrives`);

  // 7. The customer turns the camera off: no frames reach the agent, who sees it said; on again, they flow.
  await w.locator('#c-cam').click();
  await card.locator('.off:not([hidden])').waitFor({ timeout: 5_000 });
  await sleep(600);
  s = await series(pages, 2);
  must(flat(s.agent, (x) => x.inFrames), `camera off, the agent still decoded frames: ${s.agent.map((x) => x.inFrames)}`);
  must(await w.evaluate((e) => e.call.local.getVideoTracks().length === 0), 'the camera was not released');
  await w.locator('#c-cam').click();
  await until(client, () => document.querySelector('frontdesk-widget').call.camera);
  await sleep(1000);
  s = await series(pages, 2);
  must(grows(s.agent, (x) => x.inFrames), 'frames did not flow again with the camera back on');
  step('camera off: the camera released, no frames reached the agent; on again, they flow');

  // 8. The agent hangs up this time.
  await card.locator('.hang').click();
  await w.locator('#call-st', { hasText: 'Call ended by' }).waitFor({ timeout: 10_000 });
  await until(agent, (id) => globalThis.frontdeskAgent.view().interactions.find((x) => x.id === id)?.state === 'ended', video.id);
  const videoRecord = await record(video.id);
  must(/^video call, \d+ min \d+ s, hung up by /.test(videoRecord) && !videoRecord.includes('customer'), `record: ${videoRecord}`);
  step(`agent hung up: ended on both sides; record "${videoRecord}"`);
  await card.locator('.done').click();

  // 8b. TURN as the only path: the widget's ice-policy="relay" and the console's #ice=relay, so both
  // sides gather and use only relay candidates, with the credentials the server minted for the call
  // (coturn checks their HMAC); audio and video flow both ways through coturn.
  await w.evaluate((e) => e.setAttribute('ice-policy', 'relay'));
  await agent.evaluate(() => { location.hash += '&ice=relay'; });
  const relayed = await call('video', ' through TURN only');
  for (const [side, t] of [['customer', relayed.types[0]], ['agent', relayed.types[1]]]) must(t?.[0] === 'relay' && t?.[1] === 'relay', `the ${side}'s selected pair is not relay to relay: ${t}`);
  const creds = await Promise.all([[client, 'client'], [agent, 'agent']].map(([p, side]) => p.evaluate((e) => { const k = (0, eval)(e); const c = k.pc.getConfiguration(); return { policy: c.iceTransportPolicy, turn: c.iceServers.filter((x) => [x.urls].flat().some((u) => u.startsWith('turn:'))).map((x) => x.username) }; }, CALL[side])));
  for (const c of creds) {
    const [, expiry] = c.turn[0]?.match(/^(\d+):./) ?? [];
    must(c.policy === 'relay' && expiry && +expiry * 1000 > Date.now(), `not relay-only with a minted, unexpired TURN credential: ${JSON.stringify(c)}`);
  }
  must(creds[0].turn[0] !== creds[1].turn[0], 'both parties got the same TURN user name');
  s = await series(pages, 4);
  for (const side of ['client', 'agent']) {
    must(grows(s[side], (x) => x.inAudio), `${side}: audio did not flow through TURN: ${s[side].map((x) => x.inAudio)}`);
    must(grows(s[side], (x) => x.inFrames), `${side}: video did not flow through TURN: ${s[side].map((x) => x.inFrames)}`);
  }
  step(`TURN only: relay to relay on both sides (${relayed.pair} / ${relayed.agentPair}), user names ${creds.map((c) => c.turn[0]).join(', ')}; for 4 s the customer decoded ${s.client.at(-1).inFrames - s.client[0].inFrames} frames, the agent ${s.agent.at(-1).inFrames - s.agent[0].inFrames}, audio both ways`);
  await shot(client, '5-client-relay');
  await w.locator('#c-hang').click();
  await card.locator('.st', { hasText: 'The customer hung up' }).waitFor({ timeout: 10_000 });
  await card.locator('.done').click();
  await w.evaluate((e) => e.removeAttribute('ice-policy'));
  await agent.evaluate(() => { location.hash = location.hash.replace('&ice=relay', ''); });

  // 8c. The customer's network drops mid-call. First only the session's connection is cut: the
  // session reconnects and resumes, and the media, which never went through it, keeps flowing.
  const dropped = await call('voice');
  const resumed = client.evaluate(() => new Promise((ok) => document.querySelector('frontdesk-widget').addEventListener('frontdesk-connected', (e) => ok(e.detail), { once: true })));
  relay.cut();
  s = await series(pages, 3);
  const again = await Promise.race([resumed, sleep(10_000).then(() => null)]);
  must(again?.resumed === true, `the customer's session did not resume: ${JSON.stringify(again)}`);
  must(grows(s.client, (x) => x.inAudio) && grows(s.agent, (x) => x.inAudio), 'audio stopped while the session reconnected');
  must(s.client.every((x) => x.state === 'connected'), `the call left connected: ${s.client.map((x) => x.state)}`);
  step('session cut mid-call: it resumed, the call stayed connected, audio flowed both ways throughout');
  let dropRecoveryMs = null;
  if (canDropMedia) {
    // Then the whole network: session and media. ICE disconnects; the customer (the polite side)
    // restarts ICE, its offer waits in the session's queue, and once the network is back the session
    // resumes, the agent answers the new credentials, and audio flows again.
    const before2 = await ufrag(agent, 'agent');
    relay.down = true;
    relay.cut();
    iptables('-I');
    let restored;
    try {
      await until(client, () => document.querySelector('frontdesk-widget').call.state === 'reconnecting', null, 15_000);
      await until(agent, (e) => (0, eval)(e).state === 'reconnecting', CALL.agent, 10_000);
      await sleep(1000);
    } finally {
      iptables('-D');
      relay.down = false;
      restored = Date.now();
    }
    await until(agent, ([e, u]) => (0, eval)(e).pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1] !== u, [CALL.agent, before2], 20_000);
    for (const [p, side] of [[client, 'client'], [agent, 'agent']]) await until(p, (e) => (0, eval)(e)?.state === 'connected' && (0, eval)(e).pc.iceConnectionState !== 'checking', CALL[side], 20_000);
    dropRecoveryMs = Date.now() - restored;
    s = await series(pages, 3);
    must(grows(s.client, (x) => x.inAudio) && grows(s.agent, (x) => x.inAudio), 'audio did not come back after the network did');
    step(`network dropped (session and media): both sides said reconnecting; ${dropRecoveryMs} ms after it came back the session had resumed, the agent had answered the customer's ICE restart, and audio flows both ways`);
  } else step('network drop of the media skipped: needs the network namespace and iptables');
  await w.locator('#c-hang').click();
  await card.locator('.st', { hasText: 'The customer hung up' }).waitFor({ timeout: 10_000 });
  const droppedRecord = await record(dropped.id);
  must(/^voice call, \d+ min \d+ s, hung up by the customer$/.test(droppedRecord), `record: ${droppedRecord}`);
  await card.locator('.done').click();
  let goneRecord = null, goneMs = null;
  if (canDropMedia) {
    // 8d. The customer's network stays away longer than the bound: the agent's side ends the call as
    // failed (the record is written then), the customer's side gives up by itself too, and once the
    // network is back the customer's session resumes and shows the call ended, with that record.
    const gone = await call('voice');
    relay.down = true;
    relay.cut();
    iptables('-I');
    const cut = Date.now();
    let back;
    try {
      await card.locator('.st', { hasText: 'the connection failed' }).waitFor({ timeout: 40_000 });
      goneMs = Date.now() - cut;
      await w.locator('#call-st', { hasText: 'the connection failed' }).waitFor({ timeout: 20_000 });
    } finally {
      iptables('-D');
      relay.down = false;
      back = Date.now();
    }
    // The session's reconnect back-off grew during the outage (up to 30 s between attempts).
    goneRecord = await record(gone.id, 40_000);
    must(/^voice call, \d+ min \d+ s, the connection failed \(Ann's side\)$/.test(goneRecord), `record: ${goneRecord}`);
    must((await liveState(client, 'client'))[gone.id] === 'ended', 'the customer\'s resumed session does not show the call ended');
    step(`network gone for good: the agent's side ended the call as failed ${goneMs} ms after the drop, the customer's side gave up too; resumed ${Date.now() - back} ms after the network came back, the customer sees record "${goneRecord}"`);
    await card.locator('.done').click();
  }

  // 9. The agent's browser freezes (SIGSTOP, as a machine that hangs): the customer's ICE disconnects,
  // a restart gets no answer, and the customer's side ends the call as failed, never a silent dead
  // call; once thawed, the console says so too, and the record says how it ended.
  const lost = await call('voice');
  // The agent's Chromium (started by this process, with that profile) and all its descendants.
  const procs = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args=']).toString().trim().split('\n').map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/)).filter(Boolean).map(([, pid, ppid, cmd]) => ({ pid: +pid, ppid: +ppid, cmd }));
  const agentPids = procs.filter((x) => x.ppid === process.pid && x.cmd.includes(agentProfile)).map((x) => x.pid);
  for (let i = 0; i < agentPids.length; i++) for (const x of procs) if (x.ppid === agentPids[i]) agentPids.push(x.pid);
  must(agentPids.length > 1, `the agent's browser processes were not found: ${agentPids}`);
  const signalAll = (sig) => { for (const pid of agentPids) try { process.kill(pid, sig); } catch {} };
  const cut = Date.now();
  signalAll('SIGSTOP');
  try {
    await until(client, () => document.querySelector('frontdesk-widget').call.state === 'reconnecting', null, 20_000);
    await w.locator('#call-st', { hasText: 'the connection failed' }).waitFor({ timeout: 40_000 });
  } finally { signalAll('SIGCONT'); }
  const failedMs = Date.now() - cut;
  await card.locator('.st', { hasText: 'the connection failed' }).waitFor({ timeout: 15_000 });
  const lostRecord = await record(lost.id);
  must(/^voice call, \d+ min \d+ s, the connection failed \(the customer's side\)$/.test(lostRecord), `record: ${lostRecord}`);
  step(`agent's browser frozen (${agentPids.length} processes): the customer's side tried an ICE restart, then ended the call as failed ${failedMs} ms after the freeze; the console said so once thawed; record "${lostRecord}"`);
  await shot(client, '5-client-failed');
  await card.locator('.done').click();

  // 10. The customer's microphone is refused: the widget says so, the call ends as media_refused.
  await client.evaluate(() => { navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); });
  await w.locator('#start').waitFor({ state: 'visible', timeout: 10_000 });
  await w.locator('#pick input[value=voice]:enabled').check({ timeout: 15_000 });
  await w.locator('#s-go').click();
  await agent.locator('[data-testid=offer] [data-accept]').first().click({ timeout: 15_000 });
  await w.locator('#call-err', { hasText: 'permission refused' }).waitFor({ timeout: 15_000 });
  const refusedId = await w.evaluate((e) => e.call.id);
  await card.locator('.st', { hasText: 'refused' }).waitFor({ timeout: 10_000 });
  const refusedRecord = await record(refusedId);
  must(/refused the microphone or camera/.test(refusedRecord), `record: ${refusedRecord}`);
  step(`microphone refused: the widget said so, the call ended on both sides; record "${refusedRecord}"`);
  await shot(client, '6-client-refused');

  const results = { isolation, voiceSetupMs: voice.setupMs, voiceAgentSetupMs: voice.agentSetupMs, videoSetupMs: video.setupMs, videoAgentSetupMs: video.agentSetupMs,
    relaySetupMs: relayed.setupMs, relayAgentSetupMs: relayed.agentSetupMs, relayPair: relayed.pair, dropRecoveryMs, pair: voice.pair, records: [voiceRecord, videoRecord, droppedRecord, goneRecord, lostRecord, refusedRecord], failedMs, goneMs, pass: true };
  writeFileSync(join(out, 'call-results.json'), JSON.stringify(results, null, 2));
  step(`PASS (set-up: voice ${voice.setupMs} ms, video ${video.setupMs} ms, video through TURN only ${relayed.setupMs} ms)`);
  clearTimeout(deadline);
  // Closed and gone before their profiles are removed: a Chromium still exiting writes into them (ENOTEMPTY).
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  cleanup();
} catch (e) {
  console.error(`call-e2e: FAIL: ${e.stack || e}`);
  for (const [n, p] of Object.entries(globalThis.pages || {})) await p.screenshot({ path: join(out, `call-fail-${n}.png`), fullPage: true }).catch(() => {});
  writeFileSync(join(out, 'call-results.json'), JSON.stringify({ isolation, pass: false, error: String(e) }, null, 2));
  clearTimeout(deadline);
  cleanup();
  process.exit(1);
}
