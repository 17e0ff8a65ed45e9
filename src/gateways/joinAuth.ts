import { authorizeJoin, bearerToken, type JoinGrant } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';

/**
 * How the gateways ask whether a join may happen, from the `Authorization` header of a WHIP/WHEP
 * request (RFC 9725 §4.5: a bearer token; in secured mode an access token for the room). Rejection throws
 * a CodedError (401/403) from the shared catalog.
 */
export type JoinAuthorizer = (authorization: string | undefined, room: string) => Promise<JoinGrant>;

/** The server's own door check (src/auth): the same rules as a WebSocket join. */
export function tokenAuthorizer(config: Pick<Config, 'auth'>): JoinAuthorizer {
  return (authorization, room) => {
    const token = bearerToken(authorization);
    if (authorization && token === undefined)
      return Promise.reject(
        new CodedError('TOKEN_MALFORMED', 'Send the access token as "Authorization: Bearer <token>"'),
      );
    return authorizeJoin(config, { room, token });
  };
}
