import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { ParticipantRole } from '../protocol/messages.js';
import { verifyAccessToken } from './accessToken.js';

/**
 * What a door (the WebSocket, WHIP, WHEP, SIP) learned about someone who wants to join a room.
 * Hand it to `Room.join` as `options.grant`; the room applies lock, password and role from it.
 */
export interface JoinGrant {
  /** True when an access token vouched for this join; such a join skips the room password. */
  viaToken: boolean;
  /** The token's `sub`. Undefined without a token. */
  identity: string | undefined;
  /** The token's display name, which overrides the name the client asked for. */
  name: string | undefined;
  /** The token's role; undefined lets the room decide (in open mode its first participant hosts). */
  role: ParticipantRole | undefined;
  canPublish: boolean;
}

export interface JoinRequest {
  room: string;
  /** The access token as the client presented it (JWT compact form), if any. */
  token?: string | undefined;
}

/** The grant of a participant the server itself admits without anyone's say (never a host). */
export const OPEN_GUEST: JoinGrant = {
  viaToken: false,
  identity: undefined,
  name: undefined,
  role: undefined,
  canPublish: true,
};

/**
 * Decides whether a join may go ahead, before any room is created. In secured mode a join needs a valid
 * token for the room; in open mode a token is optional, but one that is presented must be valid (a
 * broken token is refused, never silently ignored). Throws a CodedError whose `status` is the HTTP
 * status to answer with (401 or 403) and whose `code` is one of TOKEN_*; resolves with the grant.
 *
 * Gateways: `const grant = await authorizeJoin(config, { room, token: bearerFrom(request) })`, then
 * `room.join(name, sink, undefined, { grant })`.
 */
export async function authorizeJoin(config: Pick<Config, 'auth'>, request: JoinRequest): Promise<JoinGrant> {
  const { auth } = config;
  if (request.token === undefined || request.token === '') {
    if (auth.mode === 'secured') throw new CodedError('TOKEN_REQUIRED');
    return OPEN_GUEST;
  }
  // Open mode without a secret cannot check a token, so it cannot honour one either.
  if (!auth.apiSecret)
    throw new CodedError(
      'TOKEN_BAD_SIGNATURE',
      'This server has no API secret, so it accepts no access token',
    );
  const claims = await verifyAccessToken(auth.apiSecret, request.token, request.room);
  return {
    viaToken: true,
    identity: claims.identity,
    name: claims.name,
    role: claims.role,
    canPublish: claims.canPublish,
  };
}

/** Reads a bearer token from an `Authorization` header value (RFC 6750 §2.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
