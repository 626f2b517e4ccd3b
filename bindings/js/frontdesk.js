export { default } from './frontdesk-client.js';
export * from './frontdesk-client.js';
export { Call } from './frontdesk-call.js';
