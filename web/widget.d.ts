import type { Client, Call, CenterStatus, ChatMessage, Invitation, AlertFired } from './frontdesk.js';

/** Loads the client module (frontdesk-client.js: Client, Agent) and its wasm engine once; the widget calls it when opened, or closed for a visitor with a session. */
export declare function load(): Promise<Omit<typeof import('./frontdesk.js'), 'Call'>>;

/** `<frontdesk-widget token="…" server="wss://…" title="…">`, or `site-key="…"` instead of `token` for
 *  visitors (a token from the server's `POST /visitor`); `ice-policy="relay"` sends call media only
 *  through TURN. Closed it is a launcher button (`open` opens it; `mode="inline"` puts the panel in the
 *  page); `lang` picks the strings, `muted` silences the beep: the live contact-center widget. */
export declare class FrontdeskWidget extends HTMLElement {
  /** Strings by language (`en` built in; fr, de, es, ar loaded from their files when shown; more from
   *  `window.frontdeskStrings` before the script loads). A plural is `[one, other]` or by Intl.PluralRules category. */
  static readonly strings: Record<string, Record<string, string | [string, string] | Partial<Record<Intl.LDMLPluralRule, string>>>>;
  /** Whether the panel is shown (inline, or the launcher opened). */
  readonly isOpen: boolean;
  /** Whether the panel sits in the page (`mode="inline"`). */
  readonly inline: boolean;
  /** Agent messages and invitations that arrived while the panel was closed or the page hidden. */
  readonly unread: number;
  /** The language of the strings in use. */
  readonly language: string;
  /** Opens (true) or closes the launcher's panel, moving focus into it or back to the button. */
  toggle(open: boolean): void;
  /** The client once the widget has a token (null before). */
  readonly client: Client | null;
  /** The call of the live voice or video interaction (and the last one, ended, until another starts). */
  readonly call: Call | null;
  /** Milliseconds from navigation start to the first center status shown (null until then). */
  readonly firstStatusMs: number | null;
  /** The WebSocket base URL in use: the `server` attribute, else the script's origin. */
  readonly server: string;
}

declare global {
  interface HTMLElementTagNameMap { 'frontdesk-widget': FrontdeskWidget; }
  interface HTMLElementEventMap {
    'frontdesk-status': CustomEvent<CenterStatus>;
    'frontdesk-chat': CustomEvent<ChatMessage>;
    'frontdesk-invitation': CustomEvent<Invitation>;
    'frontdesk-alert': CustomEvent<AlertFired>;
    'frontdesk-connected': CustomEvent<{ resumed: boolean }>;
    'frontdesk-disconnected': CustomEvent<{ retryAt: number }>;
    'frontdesk-rejected': CustomEvent<Error & { code: string }>;
  }
}
