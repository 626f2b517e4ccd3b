/* tslint:disable */
/* eslint-disable */
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
export interface QueueStatus { queue: string; name: string; medium: Medium; products: string[]; agents_available: number; agents_staffed: number; holding: number; estimated_hold_secs: number | null; offered: boolean; }
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
export interface HistoryFilter { product?: string; agent?: string; from?: number; until?: number; }
/** A product. */
export interface Product { id: string; name: string; description: string; }
/** Delivery details of an order. */
export interface DeliveryDetails { address: string; window: string | null; instructions: string | null; }
/** An order. */
export interface Order { id: string; client: string; product: string; status: "placed" | "processing" | "shipped" | "delivered" | "cancelled"; history: { at: number; status: string }[]; delivery: DeliveryDetails; revision: number; }

/** An invitation between an agent and the client. */
export interface Invitation { id: string; direction: "agent_to_client" | "client_to_agent"; client: string; agent: string; agent_name: string; medium: Medium; message: string; created_at: number; expires_at: number; state: "pending" | "accepted" | "declined" | "expired" | "cancelled"; interaction: string | null; }
/** A live interaction; `state` says whether it is queued, connected or ended. */
export interface LiveInteraction { id: string; client: string; medium: Medium; queue: string | null; product: string | null; topic: string | null; agent: string | null; direction: "inbound" | "outbound"; state: "queued" | "connected" | "ended"; position?: number; estimated_hold_secs?: number | null; outcome?: string; created_at: number; connected_at: number | null; ended_at: number | null; client_address: string | null; }
/** A chat message. */
export interface ChatMessage { interaction: string; seq: number; from: { kind: "client" | "agent"; id: string }; text: string; at: number; }
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
    /** Transcripts by interaction id. */
    chats: Record<string, ChatMessage[]>;
    /** Own chat messages the agent has received, as [interaction, seq]. */
    delivered: [string, number][];
    alerts: AlertFired[];
    /** App requests not yet answered ("sending"). */
    pending: { id: number; req: Request }[];
}



/**
 * A contact-center client: connects to a frontdesk server, keeps a live view, queues requests offline.
 */
export class Client {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Adds a note to one of the own past interactions.
     */
    addNote(interaction: string, text: string): Promise<InteractionRecord>;
    /**
     * Stops: closes the connection, no more reconnects; queued requests stay for `save()`.
     */
    close(): void;
    /**
     * Leaves an interaction (abandons the queue or hangs up).
     */
    endInteraction(interaction: string): Promise<LiveInteraction>;
    /**
     * Reads center status once (it is also pushed live as `status` events).
     */
    getCenterStatus(): Promise<CenterStatus>;
    /**
     * Reads the own interaction history, optionally filtered by product and agent.
     */
    getHistory(filter: HistoryFilter | undefined): Promise<InteractionRecord[]>;
    /**
     * Reads the own orders.
     */
    getOrders(): Promise<Order[]>;
    /**
     * Reads the product catalogue.
     */
    getProducts(): Promise<Product[]>;
    /**
     * Reads the own profile.
     */
    getProfile(): Promise<ClientProfile>;
    /**
     * Reads an interaction's transcript.
     */
    getTranscript(interaction: string): Promise<ChatMessage[]>;
    /**
     * Invites an agent to an interaction in a medium.
     */
    inviteAgent(agent: string, medium_name: Medium, message: string): Promise<Invitation>;
    /**
     * A client of the server at `server` (`wss://host[:port]`; `/client` is appended); call `start()`.
     */
    constructor(server: string, token: string, options: ClientOptions);
    /**
     * Removes a listener added with `on`.
     */
    off(kind: string, listener: Function): void;
    /**
     * Adds a listener for an event type (`connected`, `disconnected`, `rejected`, `synced`, `status`,
     * `presence`, `event`, `chat`, `invitation`, `interaction`, `alert`, `profile_changed`,
     * `order_changed`, `history_changed`, `chat_delivered`, `completed`, `error`, `change`).
     */
    on(kind: string, listener: (data: any) => void): void;
    /**
     * Sends any protocol request (`{op: "get_profile"}` …); resolves with the answer's value.
     */
    request(req: Request): Promise<any>;
    /**
     * Accepts or declines an invitation; an accepted one resolves with its interaction set.
     */
    respondInvitation(invitation: string, accept: boolean): Promise<Invitation>;
    /**
     * What to keep across a page reload so queued requests survive: pass it back as `options.saved`.
     */
    save(): string;
    /**
     * Sends a chat message in an own interaction; resolves with the message as stored.
     */
    sendChat(interaction: string, text: string): Promise<ChatMessage>;
    /**
     * Publishes the own status (`{activity, medium?, note?}`) to the center.
     */
    setStatus(status: ClientStatus): Promise<null>;
    /**
     * Replaces the credential (after a `rejected` event); call `start()` again.
     */
    setToken(token: string): void;
    /**
     * Starts a live interaction in the chosen medium; resolves with it (queued or connected).
     */
    startInteraction(medium_name: Medium, product?: string | null, topic?: string | null): Promise<LiveInteraction>;
    /**
     * Starts connecting (and reconnecting until `close()`); events go to the listeners added with `on`.
     */
    start(): void;
    /**
     * Subscribes to a status alert; resolves with its id.
     */
    subscribeAlert(rule: AlertRule): Promise<string>;
    /**
     * Cancels a status alert.
     */
    unsubscribeAlert(alert: string): Promise<null>;
    /**
     * Stops watching a presentity.
     */
    unwatch(presentity: string): Promise<null>;
    /**
     * Changes delivery details of an own order that has not shipped.
     */
    updateDelivery(order: string, delivery: DeliveryDetails): Promise<Order>;
    /**
     * Edits the own profile (the view shows the edit at once); resolves with the stored profile.
     */
    updateProfile(patch: ProfilePatch): Promise<ClientProfile>;
    /**
     * The local view: profile, orders, products, history, center status, invitations, interactions,
     * chats, alerts, and requests still waiting for an answer.
     */
    view(): ClientView;
    /**
     * Watches a presentity (`center`, `queue:<id>`, `agent:<id>`); kept across reconnects.
     */
    watch(presentity: string): Promise<PresenceDocument>;
    /**
     * Whether a session with the server is up.
     */
    readonly connected: boolean;
}

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_client_free: (a: number, b: number) => void;
    readonly client_addNote: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly client_close: (a: number) => void;
    readonly client_connected: (a: number) => number;
    readonly client_endInteraction: (a: number, b: number, c: number) => any;
    readonly client_getCenterStatus: (a: number) => any;
    readonly client_getHistory: (a: number, b: any) => [number, number, number];
    readonly client_getOrders: (a: number) => any;
    readonly client_getProducts: (a: number) => any;
    readonly client_getProfile: (a: number) => any;
    readonly client_getTranscript: (a: number, b: number, c: number) => any;
    readonly client_inviteAgent: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number];
    readonly client_new: (a: number, b: number, c: number, d: number, e: any) => number;
    readonly client_off: (a: number, b: number, c: number, d: any) => void;
    readonly client_on: (a: number, b: number, c: number, d: any) => void;
    readonly client_request: (a: number, b: any) => [number, number, number];
    readonly client_respondInvitation: (a: number, b: number, c: number, d: number) => any;
    readonly client_save: (a: number) => [number, number];
    readonly client_sendChat: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly client_setStatus: (a: number, b: any) => [number, number, number];
    readonly client_setToken: (a: number, b: number, c: number) => void;
    readonly client_start: (a: number) => void;
    readonly client_startInteraction: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number];
    readonly client_subscribeAlert: (a: number, b: any) => [number, number, number];
    readonly client_unsubscribeAlert: (a: number, b: number, c: number) => any;
    readonly client_unwatch: (a: number, b: number, c: number) => [number, number, number];
    readonly client_updateDelivery: (a: number, b: number, c: number, d: any) => [number, number, number];
    readonly client_updateProfile: (a: number, b: any) => [number, number, number];
    readonly client_view: (a: number) => any;
    readonly client_watch: (a: number, b: number, c: number) => [number, number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h34355d76c64beb93: (a: number, b: number, c: any, d: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h96776e7fee96c1b3: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h1c174b259334dc0c: (a: number, b: number) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_destroy_closure: (a: number, b: number) => void;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
