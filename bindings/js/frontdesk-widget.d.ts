import { Client, Call, CenterStatus, ChatMessage, Invitation, AlertFired } from './frontdesk.js';
export { Client, Call };

/** `<frontdesk-widget token="…" server="wss://…" title="…">`, or `site-key="…"` instead of `token` for
 *  visitors (a token from the server's `POST /visitor`); `ice-policy="relay"` sends call media only
 *  through TURN: the live contact-center widget. */
export declare class FrontdeskWidget extends HTMLElement {
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
