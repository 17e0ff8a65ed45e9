/**
 * The signaling protocol's version, sent in every `join`. It lives apart from the zod schemas in
 * messages.ts so that the browser client, which imports only types from there, ships without zod.
 */
export const PROTOCOL_VERSION = 1;
