// Types of frontdesk.js: the browser client of a frontdesk contact center.

/** A medium of contact. */
export type Medium = "chat" | "voice" | "video" | "callback" | "email";

/** Options of a new Client. */
export interface ClientOptions {
  /** Stable id of this installation (random if absent; kept in `saved`). */
  instance?: number;
  /** A string from `client.save()` of an earlier page: restores queued requests and the session. */
  saved?: string;
  /** Watch center status from the start (default true). */
  watchCenter?: boolean;
}

/** An agent as the center shows it. */
export interface AgentSummary { id: string; name: string; state: "logged_out" | "available" | "busy" | "after_work" | "away"; skills: string[]; media: Medium[]; since: number; }
/** One queue in one medium. */
export interface QueueStatus { queue: string; name: string; medium: Medium; products: string[]; agents_available: number; agents_staffed: number; holding: number; estimated_hold_secs: number | null; offered: boolean; /** Within business hours (always, without hours). */ open: boolean; /** When it next opens or closes (ms since the epoch). */ until?: number; }
/** Center status, pushed live as `status` events. */
export interface CenterStatus { at: number; queues: QueueStatus[]; media_offered: Medium[]; agents: AgentSummary[]; }

/** Who the client is. */
export interface Demographics { name: string | null; languages: string[]; country: string | null; birth_year: number | null; }
/** How the client can be reached. */
export interface Capability { medium: Medium; address: string | null; devices: string[]; }
/** When the client may be contacted: ISO weekdays 1..=7, minutes of the day. */
export interface AgendaWindow { days: number[]; start_minute: number; end_minute: number; time_zone: string; media: Medium[]; }
/** Products and topics the client cares about. */
export interface Interests { products: string[]; topics: string[]; }
/** The client's profile. */
export interface ClientProfile { demographics: Demographics; capabilities: Capability[]; agenda: AgendaWindow[]; interests: Interests; revision: number; }
/** Fields of the profile to replace. */
export interface ProfilePatch { demographics?: Demographics; capabilities?: Capability[]; agenda?: AgendaWindow[]; interests?: Interests; }

/** A note on a past interaction. */
export interface Note { at: number; author: string; text: string; }
/** A past interaction. */
export interface InteractionRecord { id: string; client: string; started_at: number; ended_at: number | null; product: string | null; agent: string | null; medium: Medium; direction: "inbound" | "outbound"; outcome: "completed" | "abandoned" | "failed"; summary: string; notes: Note[]; }
/** Which history to read. */
export interface HistoryFilter { product?: string; agent?: string; from?: number; until?: number; /** Paging: records after this one (the last of a full page). */ after?: string; /** Paging: at most this many. */ limit?: number; }
/** A product. */
export interface Product { id: string; name: string; description: string; }
/** Delivery details of an order. */
export interface DeliveryDetails { address: string; window: string | null; instructions: string | null; }
/** An order. */
export interface Order { id: string; client: string; product: string; status: "placed" | "processing" | "shipped" | "delivered" | "cancelled"; history: { at: number; status: string }[]; delivery: DeliveryDetails; revision: number; }

/** An invitation between an agent and the client. */
export interface Invitation { id: string; direction: "agent_to_client" | "client_to_agent"; client: string; agent: string; agent_name: string; medium: Medium; message: string; created_at: number; expires_at: number; state: "pending" | "accepted" | "declined" | "expired" | "cancelled"; interaction: string | null; }
/** A live interaction; `state` says whether it is queued, connected or ended. */
export interface LiveInteraction { id: string; client: string; medium: Medium; queue: string | null; product: string | null; topic: string | null; agent: string | null; direction: "inbound" | "outbound"; state: "queued" | "connected" | "ended"; position?: number; estimated_hold_secs?: number | null; outcome?: string; created_at: number; connected_at: number | null; ended_at: number | null; client_address: string | null; callback?: Callback; client_read?: number; agent_read?: number; }
/** Why a callback's dial failed. */
export type DialFailure = "busy" | "no_answer" | "rejected" | "unreachable" | "interrupted" | "cancelled";
/** A callback's telephony state. */
export interface Callback {
  number: string; at?: number; attempts: number; dial: number;
  phase: "scheduled" | "dialing_agent" | "dialing_customer" | "connected" | "retry_at" | "failed" | "ended";
  /** With `retry_at`: when the agents get it again. */
  retry_at?: number;
  /** With `retry_at` and `failed`: why the last attempt failed. */
  reason?: DialFailure;
}
/** A chat message. */
export interface ChatMessage { interaction: string; seq: number; from: { kind: "client" | "agent"; id: string }; text: string; at: number; attachment?: Attachment; }
/** What a chat message says about the file it carries (read it with `attachment(interaction, seq)`). */
export interface Attachment { name: string; content_type: string; size: number; }
/** A status alert condition. */
export type AlertRule =
  | { when: "agent_available"; agent?: string; product?: string; medium?: Medium }
  | { when: "hold_time_below"; queue?: string; medium: Medium; seconds: number }
  | { when: "medium_offered"; medium: Medium };
/** A status alert that fired. */
export interface AlertFired { alert: string; rule: AlertRule; at: number; message: string; }
/** The client's own status. */
export interface ClientStatus { activity: "online" | "idle" | "offline"; medium?: Medium | null; note?: string | null; }
/** A presence document of a watched presentity. */
export interface PresenceDocument { entity: string; version: number; timestamp: number; tuples: unknown[]; center?: CenterStatus; agent?: AgentSummary; }
/** A live interaction with its transcript so far. */
export interface LiveWithTranscript { interaction: LiveInteraction; transcript: ChatMessage[]; }
/** Any protocol request, as `{op: "get_profile"}`, `{op: "send_chat", interaction, text}` … */
export type Request = { op: string; [field: string]: unknown };

/** The local view of `client.view()`. */
export interface ClientView {
  connected: boolean;
  client: string | null;
  profile: ClientProfile;
  orders: Order[];
  products: Product[];
  /** Newest first. */
  history: InteractionRecord[];
  center: CenterStatus | null;
  invitations: Invitation[];
  interactions: LiveInteraction[];
  /** Latest presence of every watched presentity, by presentity (`center`, `agent:<id>` …). */
  presence: Record<string, PresenceDocument>;
  /** Transcripts by interaction id. */
  chats: Record<string, ChatMessage[]>;
  /** Own chat messages the agent has received, as [interaction, seq]. */
  delivered: [string, number][];
  /** The agent has read own messages up to this seq, by interaction id. */
  read: Record<string, number>;
  /** Interactions whose agent is typing now (soft state: cleared after 6 s without a refresh). */
  typing: Record<string, true>;
  alerts: AlertFired[];
  /** App requests not yet answered ("sending"). */
  pending: { id: number; req: Request }[];
}

/** An error of a request or of the session: `code` is the protocol's error code (or `invalid`). */
export interface FrontdeskError extends Error { code: string; }

/** Loads the wasm engine once (by default from beside frontdesk.js); await it before `new Client`. */
export default function init(wasm?: string | URL | Response | BufferSource | WebAssembly.Module): Promise<unknown>;

/** The media a client may choose. */
export const MEDIA: Medium[];

/** A contact-center client: connects to a frontdesk server, keeps a live view, queues requests offline. */
export class Client {
  /** A client of the server at `server` (`wss://host[:port]`; `/client` is appended); call `start()`. */
  constructor(server: string, token: string, options?: ClientOptions);
  /** Starts connecting (and reconnecting until `close()`). */
  start(): void;
  /** Stops: closes the connection, no more reconnects; queued requests stay for `save()`. */
  close(): void;
  /** Releases the wasm session (after `close()`). */
  free(): void;
  /** Replaces the credential (after a `rejected` event); call `start()` again. */
  setToken(token: string): void;
  /** Sends a file in an interaction over HTTP; the message that carries it. Rejects with an Error whose `status` is the HTTP status (413 too big, 403 a type not taken, 422 refused by the scanner). */
  attach(interaction: string, file: Blob, name?: string): Promise<ChatMessage>;
  /** The file carried by message `seq` of an interaction. */
  attachment(interaction: string, seq: number): Promise<Blob>;
  /** Whether a session with the server is up. */
  readonly connected: boolean;
  /** Adds a listener for an event type (see the README of the package for the list). */
  on(kind: string, listener: (data: any) => void): void;
  /** Removes a listener added with `on`. */
  off(kind: string, listener: (data: any) => void): void;
  /** A copy of the local view. */
  view(): ClientView;
  /** What to keep across a page reload: pass it back as `options.saved`. */
  save(): string;
  /** Sends any protocol request; resolves with the answer's value. */
  request(req: Request): Promise<any>;
  /** Reads the own profile. */
  getProfile(): Promise<ClientProfile>;
  /** Edits the own profile (the view shows the edit at once); resolves with the stored profile. */
  updateProfile(patch: ProfilePatch): Promise<ClientProfile>;
  /** Reads the own interaction history, optionally filtered. */
  getHistory(filter?: HistoryFilter): Promise<InteractionRecord[]>;
  /** Adds a note to one of the own past interactions. */
  addNote(interaction: string, text: string): Promise<InteractionRecord>;
  /** Reads the product catalogue. */
  getProducts(): Promise<Product[]>;
  /** Reads the own orders. */
  getOrders(): Promise<Order[]>;
  /** Changes delivery details of an own order that has not shipped. */
  updateDelivery(order: string, delivery: DeliveryDetails): Promise<Order>;
  /** Reads center status once (it is also pushed live as `status` events). */
  getCenterStatus(): Promise<CenterStatus>;
  /** Reads the live interactions with their transcripts (the view merges them; part of the first sync). */
  getLive(): Promise<LiveWithTranscript[]>;
  /** Watches a presentity (`center`, `queue:<id>`, `agent:<id>`); kept across reconnects. */
  watch(presentity: string): Promise<PresenceDocument>;
  /** Stops watching a presentity. */
  unwatch(presentity: string): Promise<null>;
  /** Publishes the own status to the center. */
  setStatus(status: ClientStatus): Promise<null>;
  /** Subscribes to a status alert; resolves with its id. */
  subscribeAlert(rule: AlertRule): Promise<string>;
  /** Cancels a status alert. */
  unsubscribeAlert(alert: string): Promise<null>;
  /** Accepts or declines an invitation. */
  respondInvitation(invitation: string, accept: boolean): Promise<Invitation>;
  /** Invites an agent to an interaction in a medium. */
  inviteAgent(agent: string, medium: Medium, message?: string): Promise<Invitation>;
  /** Starts a live interaction in the chosen medium. */
  startInteraction(medium: Medium, product?: string | null, topic?: string | null): Promise<LiveInteraction>;
  /** Asks to be called back (now, or at `at` inside the own agenda); the place in the queue is kept. */
  requestCallback(opts?: { number?: string; at?: number; product?: string; topic?: string }): Promise<LiveInteraction>;
  /** Sends a call signalling message to the agent of a connected call; theirs arrive as `signal` events. */
  signal(interaction: string, signal: CallSignal): Promise<void>;
  /** STUN/TURN servers for a connected call. */
  iceServers(interaction: string): Promise<RTCIceServerLike[]>;
  /** Writes to the center by email; answered by mail and in the view. */
  sendEmail(subject: string, text: string, product?: string | null): Promise<LiveInteraction>;
  /** Marks the other side's messages read up to `seq` (while the chat is visible); the other side gets `chat_read`. */
  markRead(interaction: string, seq: number): Promise<null>;
  /** Says this side is typing (`on`, default true) or stopped; call it on every keystroke: a notice goes
   *  out at most every 2 s and never while offline. Returns whether one went out; throws a
   *  `FrontdeskError` `not_found` for an interaction not connected here. The other side's arrive as
   *  `typing` events (`{interaction, on}`), not sequenced. */
  sendTyping(interaction: string, on?: boolean): boolean;
  /** Sends a chat message in an own interaction. */
  sendChat(interaction: string, text: string): Promise<ChatMessage>;
  /** Registers this device's push token: the server wakes it while no session is attached. */
  registerPush(platform: 'fcm' | 'apns' | 'webpush' | 'webhook', token: string): Promise<null>;
  /** Forgets a push token. */
  unregisterPush(token: string): Promise<null>;
  /** Reads an interaction's transcript. */
  getTranscript(interaction: string, page?: TranscriptPage): Promise<ChatMessage[]>;
  /** Leaves an interaction. */
  endInteraction(interaction: string): Promise<LiveInteraction>;
}

/** An agent's state. */
export type AgentState = "logged_out" | "available" | "busy" | "after_work" | "away";
/** An agent's seat as the broker holds it (answer of `logIn` and `getSeat`). */
export interface SeatView { agent: string; name: string; role: string; media: Medium[]; state: AgentState; offer: LiveInteraction | null; live: LiveWithTranscript[]; invitations: Invitation[]; }

/** Options of a new Agent console. */
export interface AgentOptions {
  /** Display name to log in with (kept in `saved`). */
  name?: string;
  /** Products handled. */
  skills?: string[];
  /** Media handled (default all). */
  media?: Medium[];
  /** Stable id of this console (random if absent; kept in `saved`). */
  instance?: number;
  /** A string from `agent.save()` of an earlier page: resumes the session with its queued requests. */
  saved?: string;
}

/** The local view of `agent.view()`. */
export interface AgentView {
  connected: boolean;
  agent: string | null;
  name: string | null;
  state: AgentState | null;
  center: CenterStatus | null;
  /** Interactions offered now. */
  offers: LiveInteraction[];
  /** Interactions of this seat, live and ended. */
  interactions: LiveInteraction[];
  /** Transcripts by interaction id. */
  chats: Record<string, ChatMessage[]>;
  /** Own chat messages the client has received, as [interaction, seq]. */
  delivered: [string, number][];
  /** The client has read own messages up to this seq, by interaction id. */
  read: Record<string, number>;
  /** Interactions whose client is typing now (soft state: cleared after 6 s without a refresh). */
  typing: Record<string, true>;
  invitations: Invitation[];
  /** Profiles of the clients served, by client id (null while being read). */
  profiles: Record<string, ClientProfile | null>;
  /** Own replies on email interactions that could not be mailed, with why. */
  mailFailed: { interaction: string; seq: number; to: string; reason: string }[];
  /** App requests not yet answered ("sending"). */
  pending: { id: number; req: Request }[];
}

/** An agent's console on the same reliable session as a client (`/agent` is appended to `server`): logs
 *  in and reads its seat on every connection, so a reload or reconnect continues where it stopped. */
export class Agent {
  constructor(server: string, token: string, options?: AgentOptions);
  /** Starts connecting (and reconnecting until `close()`). */
  start(): void;
  /** Stops: closes the connection, no more reconnects; queued requests stay for `save()`. */
  close(): void;
  /** Releases the wasm session (after `close()`). */
  free(): void;
  /** Replaces the credential; call `start()` again. */
  setToken(token: string): void;
  /** Sends a file in an interaction over HTTP; the message that carries it. Rejects with an Error whose `status` is the HTTP status (413 too big, 403 a type not taken, 422 refused by the scanner). */
  attach(interaction: string, file: Blob, name?: string): Promise<ChatMessage>;
  /** The file carried by message `seq` of an interaction. */
  attachment(interaction: string, seq: number): Promise<Blob>;
  /** Whether a session with the server is up. */
  readonly connected: boolean;
  /** Adds a listener: `connected`, `disconnected`, `rejected`, `event`, `offered`, `offer_withdrawn`, `connected`, `ended`, `invitation_received`, `invitation_updated`, `chat`, `chat_delivered`, `chat_read`, `typing`, `completed`, `error`, `change`. */
  on(kind: string, listener: (data: any) => void): void;
  /** Removes a listener added with `on`. */
  off(kind: string, listener: (data: any) => void): void;
  /** A copy of the local view. */
  view(): AgentView;
  /** What to keep across a page reload: pass it back as `options.saved`. */
  save(): string;
  /** Sends any agent request; resolves with the answer's value. */
  request(req: Request): Promise<any>;
  /** Takes the seat (done by itself on every connection while logged in). */
  logIn(name?: string, skills?: string[], media?: Medium[]): Promise<SeatView>;
  /** Leaves the seat. */
  logOut(): Promise<null>;
  /** Reads the seat. */
  getSeat(): Promise<SeatView>;
  /** Changes state. */
  setState(state: AgentState): Promise<null>;
  /** Sets the phone (a SIP URI) the center's dialer rings for the callbacks this agent takes. */
  setPhone(phone: string | null): Promise<null>;
  /** Invites a client. */
  invite(client: string, medium: Medium, message?: string): Promise<Invitation>;
  /** Answers a client's invitation. */
  respondInvitation(invitation: string, accept: boolean): Promise<Invitation>;
  /** Accepts an offered interaction. */
  accept(interaction: string): Promise<LiveInteraction>;
  /** Declines an offered interaction. */
  decline(interaction: string): Promise<null>;
  /** Marks the other side's messages read up to `seq` (while the chat is visible); the other side gets `chat_read`. */
  markRead(interaction: string, seq: number): Promise<null>;
  /** Says this side is typing (`on`, default true) or stopped; call it on every keystroke: a notice goes
   *  out at most every 2 s and never while offline. Returns whether one went out; throws a
   *  `FrontdeskError` `not_found` for an interaction not connected here. The other side's arrive as
   *  `typing` events (`{interaction, on}`), not sequenced. */
  sendTyping(interaction: string, on?: boolean): boolean;
  /** Sends a chat message. */
  sendChat(interaction: string, text: string): Promise<ChatMessage>;
  /** Ends an interaction. */
  end(interaction: string): Promise<LiveInteraction>;
  /** Reads a served client's profile. */
  clientProfile(client: string): Promise<ClientProfile>;
  /** Reads a served client's history. */
  clientHistory(client: string, filter?: HistoryFilter): Promise<InteractionRecord[]>;
  /** Adds a note to a past interaction the agent handled. */
  addNote(interaction: string, text: string): Promise<InteractionRecord>;
  /** Reads center status. */
  centerStatus(): Promise<CenterStatus>;
  /** Reads an interaction's transcript. */
  transcript(interaction: string, page?: TranscriptPage): Promise<ChatMessage[]>;
  /** Sends a call signalling message to the client of a connected call. */
  signal(interaction: string, signal: CallSignal): Promise<void>;
  /** STUN/TURN servers for a connected call. */
  iceServers(interaction: string): Promise<RTCIceServerLike[]>;
}

/** Which page of a transcript to read: the newest `limit` messages numbered below `before`. */
export interface TranscriptPage {
  /** Only messages numbered below this (the first one held, to read further back). */
  before?: number;
  /** At most this many (the broker caps it at its page size). */
  limit?: number;
}

/** A call signalling message between the two WebRTC stacks. */
export type CallSignal =
  | { kind: "offer"; sdp: string; restart?: boolean }
  | { kind: "answer"; sdp: string }
  | { kind: "candidate"; candidate: string; sdp_mid?: string; sdp_mline_index?: number }
  | { kind: "end_of_candidates" }
  | { kind: "media"; muted: boolean; camera: boolean }
  | { kind: "hang_up"; reason?: "normal" | "failed" | "media_refused" };
/** A STUN/TURN server as `RTCPeerConnection` takes it. */
export interface RTCIceServerLike { urls: string[]; username?: string; credential?: string; }

/** Who ended a call and why: `local` is this side. */
export interface CallEnd { by: "local" | "remote"; reason: "normal" | "failed" | "media_refused"; }

/** Options of a new Call. */
export interface CallOptions {
  /** Add the camera (a video call). */
  video?: boolean;
  /** The customer's side: yields on offer collisions, makes the first offer, restarts ICE. */
  polite?: boolean;
  /** `relay`: media only through TURN (neither party learns the other's addresses); default `all`. */
  iceTransportPolicy?: "all" | "relay";
  /** The microphone and camera to use (`deviceId`s from `Call.deviceList()`); default the browser's. */
  devices?: { audio?: string; video?: string };
  /** Called after every change. */
  onchange?: (call: Call) => void;
}

/** A voice or video call of one interaction over a Client's or an Agent's session: WebRTC with perfect
 *  negotiation, trickle ICE, an ICE restart when the connection drops, mute, camera and device choice. */
export class Call {
  /** A call for `interaction` over `party`'s signalling (see `CallOptions`). Call `start()`. */
  constructor(party: Client | Agent, interaction: string, options?: CallOptions);
  /** The microphones and cameras there are (labelled once the call has its devices). */
  static deviceList(): Promise<{ audio: MediaDeviceInfo[]; video: MediaDeviceInfo[] }>;
  /** The chosen microphone and camera (absent: the browser's default). */
  readonly devices: { audio?: string; video?: string };
  /** Which ICE candidates the call may use. */
  readonly iceTransportPolicy: "all" | "relay";
  /** Switches the microphone or camera mid-call (replaceTrack, no renegotiation); rejects and keeps
   *  the old device when the new one cannot be opened. */
  setDevice(kind: "audio" | "video", deviceId: string): Promise<void>;
  /** The interaction. */
  readonly id: string;
  /** Whether the camera is part of the call. */
  readonly video: boolean;
  /** Where the call is. */
  readonly state: "new" | "media" | "connecting" | "connected" | "reconnecting" | "ended";
  /** The microphone is muted (nothing is sent). */
  readonly muted: boolean;
  /** The camera is on. */
  readonly camera: boolean;
  /** The other side's microphone and camera, as it last said. */
  readonly peer: { muted: boolean; camera: boolean };
  /** This side's microphone (and camera) once granted. */
  readonly local: MediaStream | null;
  /** What the other side sends. */
  readonly remote: MediaStream;
  /** The WebRTC connection (for `getStats()`), once the devices are granted. */
  readonly pc: RTCPeerConnection | null;
  /** Milliseconds from the first offer to ICE connected. */
  readonly setupMs: number | null;
  /** When ICE first connected (ms since the epoch). */
  readonly connectedAt: number | null;
  /** How the call ended (null while it goes on). */
  readonly ended: CallEnd | null;
  /** Why the devices could not be used, after a `media_refused` end. */
  readonly error?: Error;
  /** Asks for the microphone (and camera), then connects; a refusal hangs up with `media_refused`. */
  start(): Promise<void>;
  /** Mutes or unmutes the microphone: while muted the sender carries no track, so no audio leaves. */
  setMuted(muted: boolean): void;
  /** Turns the camera off (released) or on again (asks for it anew). */
  setCamera(on: boolean): Promise<void>;
  /** Restarts ICE (done by itself when the connection drops). */
  restart(): void;
  /** Hangs up: the other side is told, the interaction ends and its record says why. */
  hangUp(reason?: "normal" | "failed" | "media_refused"): Promise<void>;
  /** Stops the media without signalling, for an interaction that already ended. */
  close(): void;
}
