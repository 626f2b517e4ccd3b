// Compiled (not run) by test-web.sh with `tsc --noEmit --strict`: the package's TypeScript types are
// valid and describe the documented usage of the Client and the widget.
import init, { Agent, Call, Client, MEDIA, type CallOptions, type AgentView, type CenterStatus, type ChatMessage, type ClientView, type FrontdeskError } from './frontdesk.js';
import type { FrontdeskWidget } from './frontdesk-widget.js';

export async function example(token: string, saved: string | null): Promise<number> {
  await init();
  const c = new Client('wss://center.example', token, { saved: saved ?? undefined, watchCenter: true });
  c.on('status', (s: CenterStatus) => s.queues.map((q) => q.estimated_hold_secs ?? 0));
  c.on('chat', (m: ChatMessage) => m.text.length);
  c.start();
  const li = await c.startInteraction(MEDIA[0], 'router', 'Wi-Fi drops');
  const sent: ChatMessage = await c.sendChat(li.id, 'hello');
  const v: ClientView = c.view();
  await c.updateProfile({ interests: { products: ['router'], topics: [] } }).catch((e: FrontdeskError) => e.code);
  const history = await c.getHistory({ product: 'router' });
  const widget = document.querySelector('frontdesk-widget') as FrontdeskWidget | null;
  const a = new Agent('wss://center.example', token, { name: 'Ann', media: ['chat'], saved: saved ?? undefined });
  a.start();
  const seat = await a.logIn();
  const av: AgentView = a.view();
  const live = await c.getLive();
  return seat.live.length + av.offers.length + live.length + sent.seq + v.pending.length + history.length + (widget?.firstStatusMs ?? 0) + c.save().length;
}

// A relay-only call on a chosen microphone, switched to another mid-call.
export async function relayCall(c: Client, interaction: string): Promise<string> {
  const { audio } = await Call.deviceList();
  const options: CallOptions = { video: true, polite: true, iceTransportPolicy: 'relay', devices: { audio: audio[0]?.deviceId } };
  const k = new Call(c, interaction, options);
  await k.start();
  await k.setDevice('audio', audio.at(-1)?.deviceId ?? '');
  return `${k.iceTransportPolicy} ${k.devices.audio ?? 'default'} ${k.state}`;
}
