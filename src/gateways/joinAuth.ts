import { authorizeJoin, bearerToken, type JoinGrant } from '../auth/authorizeJoin.js';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { RoomRegistry } from '../room/RoomRegistry.js';

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

/**
 * The room-password side of joining, for doors whose users cannot type a password into a form: a SIP
 * caller enters the password as a PIN on the keypad.
 */
export interface RoomGate {
  /** Whether a caller without a token must enter a PIN to come into `room`. */
  needsPin(room: string): boolean;
  /** Resolves true for the right PIN, false for a wrong one (with the room's slowdown of guesses). */
  checkPin(room: string, pin: string, address: string): Promise<boolean>;
}

/** Room passwords as PINs: the room's own password check (scrypt, per-address slowdown). */
export function roomPasswordGate(registry: RoomRegistry): RoomGate {
  return {
    needsPin: (room) => registry.rooms.get(room)?.access.passwordProtected ?? false,
    async checkPin(room, pin, address) {
      const target = registry.rooms.get(room);
      if (!target) return false;
      try {
        await target.access.checkPassword(pin, addressKey(address));
        return true;
      } catch (error) {
        if (error instanceof CodedError) return false;
        throw error;
      }
    },
  };
}
