/* tslint:disable */
/* eslint-disable */

/**
 * A reliable session with a frontdesk server; reports to one listener `(kind, a, b)`.
 */
export class Session {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Throws what `send` would throw for this body (`too_large` as JSON text), without queuing it:
     * for a layer that holds requests itself before handing them over.
     */
    checkRequest(body: string): void;
    /**
     * Stops: closes the connection, no more reconnects; queued requests stay for `save()`.
     */
    close(): void;
    /**
     * A session with the server at `url` (the full `/client` URL) for `token`. `instance` names this
     * installation; `saved` is a string from `save()` of an earlier page (its queue is resent).
     * `listener(kind, a, b)` gets: `connected` (client id, resumed), `disconnected` (retry at, ms),
     * `rejected` (error JSON), `answered` (request id, outcome JSON), `event` (event JSON, in order,
     * once), `status` (presence JSON), `watch_ended` (presentity JSON), `typing` (a typing notice's
     * JSON, not sequenced), `error` (error JSON).
     */
    constructor(url: string, token: string, instance: number, saved: string | null | undefined, listener: Function);
    /**
     * Requests not yet answered, as JSON `[[id, request], …]`, oldest first.
     */
    pending(): string;
    /**
     * What to keep across a page reload so nothing queued is lost: pass it back to the constructor.
     */
    save(): string;
    /**
     * Sends a soft-state frame (a typing notice, JSON text) if connected, else drops it: it is never
     * queued, so it cannot arrive late. Returns whether it went out.
     */
    sendSoft(frame: string): boolean;
    /**
     * Queues a request (`{"op":…}` as JSON text); returns its id. It goes out now if connected, or
     * once connected; its answer comes as `answered`, after any number of reconnects. A request
     * over the frame limit is never queued: this throws the error (`{"code":"too_large",…}` as
     * JSON text).
     */
    send(body: string): number;
    /**
     * Replaces the credential (after a `rejected` report); call `start()` again.
     */
    setToken(token: string): void;
    /**
     * Starts connecting (and reconnecting until `close()`).
     */
    start(): void;
    /**
     * Whether the session with the server is up.
     */
    readonly connected: boolean;
}

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_session_free: (a: number, b: number) => void;
    readonly session_checkRequest: (a: number, b: number, c: number) => [number, number];
    readonly session_close: (a: number) => void;
    readonly session_connected: (a: number) => number;
    readonly session_new: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: any) => number;
    readonly session_pending: (a: number) => [number, number];
    readonly session_save: (a: number) => [number, number];
    readonly session_send: (a: number, b: number, c: number) => [number, number, number];
    readonly session_sendSoft: (a: number, b: number, c: number) => number;
    readonly session_setToken: (a: number, b: number, c: number) => void;
    readonly session_start: (a: number) => void;
    readonly wasm_bindgen__convert__closures_____invoke__haeb83309a912c3db: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__hb59ac24df50932a1: (a: number, b: number) => void;
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
