import { createHash } from 'node:crypto';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';

export interface SessionCapsOptions {
  perIp: number;
  perToken: number;
}

/**
 * How many WHIP and WHEP sessions may be open at once from one address and under one bearer token.
 * Each POST holds a participant and its UDP socket until the session ends, so without a cap one client
 * could fill a room (ROOM_FULL for everyone else) or the media port range. The count is this server's
 * (a room worker's, with worker threads); the request rate is limited at the edge as well.
 */
export class SessionCaps {
  readonly #options: SessionCapsOptions;
  readonly #open = new Map<string, number>();

  constructor(options: SessionCapsOptions) {
    this.#options = options;
  }

  /** Counts a new session; throws TOO_MANY_SESSIONS past a cap. The returned function ends it (once). */
  take(address: string | undefined, token: string | undefined): () => void {
    const keys: [string, number][] = [[`ip ${addressKey(address)}`, this.#options.perIp]];
    if (token)
      keys.push([`token ${createHash('sha256').update(token).digest('base64url')}`, this.#options.perToken]);
    for (const [key, cap] of keys)
      if ((this.#open.get(key) ?? 0) >= cap)
        throw new CodedError(
          'TOO_MANY_SESSIONS',
          `${key.startsWith('ip') ? 'Your address has' : 'Your token has'} ${cap} open WHIP/WHEP sessions; end one first`,
        );
    for (const [key] of keys) this.#open.set(key, (this.#open.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const [key] of keys) {
        const left = (this.#open.get(key) ?? 1) - 1;
        if (left > 0) this.#open.set(key, left);
        else this.#open.delete(key);
      }
    };
  }

  /** Open sessions counted, for tests. */
  get size(): number {
    let n = 0;
    for (const [key, count] of this.#open) if (key.startsWith('ip')) n += count;
    return n;
  }
}
