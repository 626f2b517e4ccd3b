// A socket.io server doing what frontdesk-server does in frontdesk-load's measurements, so the two can be
// compared on the same machine with the same load generator (`frontdesk-load --socketio`):
// clients `watch` center status (joining a room, answered with the current document by ack), an agent's
// `agent_state` changes rebuild the center document and broadcast it to every watcher, and
// `get_center_status` is answered by ack. No authentication, no persistence, no sequencing — strictly less
// work per message than frontdesk does. Usage: node server.mjs PORT [PAD] [delta]  (PAD bytes of filler make
// the frames as large as frontdesk's, whose center document carries more fields; with `delta`, a change is
// broadcast as what changed — the agent and the queue counters — as frontdesk sends it, not the document)
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 3000);
const pad = 'x'.repeat(Number(process.argv[3] ?? 0));
const deltas = process.argv[4] === 'delta';
const http = createServer();
// Long ping interval: the load generator, like frontdesk-load's own sessions, does not keep alive.
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, pingInterval: 600_000, pingTimeout: 600_000 });
const MEDIA = ['chat', 'voice', 'video', 'callback', 'email'];
const agents = new Map();
let version = 0;

// The same fields as frontdesk's center presence document, so frames are of comparable size.
function centerDocument() {
  const now = Date.now();
  const list = [...agents.values()];
  const available = list.filter((a) => a.state === 'available').length;
  const offered = available > 0 ? ['chat'] : [];
  return {
    entity: 'center', version, timestamp: now,
    tuples: MEDIA.map((m) => ({ id: `center-${m}`, status: offered.includes(m) ? 'open' : 'closed', medium: m, contact: `pres:center@frontdesk.local;medium=${m}`, note: null, timestamp: now })),
    activities: [],
    center: {
      at: now,
      queues: [{ queue: 'general', name: 'General', medium: 'chat', products: [], agents_available: available, agents_staffed: list.length, holding: 0, estimated_hold_secs: available ? 0 : null, offered: available > 0 }],
      media_offered: offered,
      agents: list,
    },
    pad,
  };
}

let current = centerDocument();
io.on('connection', (socket) => {
  socket.on('watch', (_what, ack) => {
    socket.join('center');
    if (typeof ack === 'function') ack(current);
  });
  socket.on('get_center_status', (ack) => {
    if (typeof ack === 'function') ack(current.center);
  });
  socket.on('agent_state', ({ id, name, state }) => {
    agents.set(id, { id, name, state, skills: [], media: ['chat'], since: Date.now() });
    version += 1;
    const before = current;
    current = centerDocument();
    if (!deltas) return io.to('center').emit('status', current);
    const q = current.center.queues[0];
    io.to('center').emit('status', {
      entity: 'center', base: before.version, version, timestamp: current.timestamp,
      center: { at: current.center.at, media_offered: current.center.media_offered, agents: { set: [agents.get(id)] }, queues: { set: [{ queue: q.queue, medium: q.medium, agents_available: q.agents_available, estimated_hold_secs: q.estimated_hold_secs }] } },
      pad,
    });
  });
});
http.listen(port, '127.0.0.1');
