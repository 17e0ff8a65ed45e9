import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CodedError } from '../common/errors.js';

/**
 * Room passwords are kept as scrypt hashes (RFC 7914) with a random salt; the plain text is dropped as
 * soon as it is hashed. N=2^14, r=8, p=1 costs about 16 MiB and a few tens of ms per check, off the
 * event loop (libuv's thread pool).
 */
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const HASH_BYTES = 32;

export interface PasswordHash {
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, HASH_BYTES, SCRYPT, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  return { salt, hash: await derive(password, salt) };
}

/** Compares in constant time: how much of a guess was right never shows in the answer's timing. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const candidate = await derive(password, stored.salt);
  return timingSafeEqual(candidate, stored.hash);
}

export interface PasswordGuardOptions {
  /** Wrong passwords from one address that are answered at once. */
  freeAttempts: number;
  /** Wait before the next try after that, doubling with each wrong password… */
  backoffMs: number;
  /** …up to this. */
  backoffMaxMs: number;
  /**
   * Wrong passwords from all addresses together per minute; past it every try is refused until the
   * minute is over. The per-address slowdown alone lets many addresses (a botnet) guess in parallel.
   */
  roomFailuresPerMinute?: number;
}

/** Tries from one address that may wait in line at once; more are refused outright. */
const MAX_WAITING = 4;
/** Addresses remembered per room; the oldest is forgotten past this. */
const MAX_ENTRIES = 10_000;
/** A address with no wrong password for this long starts afresh. */
const FORGET_AFTER_MS = 15 * 60_000;

interface Entry {
  failures: number;
  /** No try from this address is checked before this time (ms since epoch). */
  nextAt: number;
  lastFailureAt: number;
  waiting: number;
  /** Tries from one address are checked one after another. */
  chain: Promise<unknown>;
}

/**
 * Slows down guessing: per address (see `addressKey`), after `freeAttempts` wrong passwords each further
 * try waits `backoffMs · 2^(wrong − free)`, capped at `backoffMaxMs`, before it is even checked. Tries
 * from one address are checked in turn, so parallel connections do not get around the wait, and at most
 * MAX_WAITING of them may wait. A right password clears the address's record.
 */
export class PasswordGuard {
  readonly #options: PasswordGuardOptions;
  readonly #entries = new Map<string, Entry>();
  /** Wrong passwords from every address in the current minute, and when that minute began. */
  #roomFailures = 0;
  #roomWindowStart = 0;

  constructor(options: PasswordGuardOptions) {
    this.#options = options;
  }

  /** How long the next try from this address would wait, in ms. */
  delayFor(address: string): number {
    const entry = this.#entries.get(address);
    return entry ? Math.max(0, entry.nextAt - Date.now()) : 0;
  }

  #backoff(failures: number): number {
    const { freeAttempts, backoffMs, backoffMaxMs } = this.#options;
    if (failures < freeAttempts) return 0;
    return Math.min(backoffMaxMs, backoffMs * 2 ** Math.min(30, failures - freeAttempts));
  }

  #entry(address: string): Entry {
    let entry = this.#entries.get(address);
    const now = Date.now();
    if (entry && entry.waiting === 0 && now - entry.lastFailureAt > FORGET_AFTER_MS) {
      this.#entries.delete(address);
      entry = undefined;
    }
    if (!entry) {
      if (this.#entries.size >= MAX_ENTRIES) {
        for (const [key, e] of this.#entries) {
          if (e.waiting === 0) {
            this.#entries.delete(key);
            break;
          }
        }
      }
      entry = { failures: 0, nextAt: 0, lastFailureAt: now, waiting: 0, chain: Promise.resolve() };
      this.#entries.set(address, entry);
    }
    return entry;
  }

  /**
   * Runs `check` for a try from `address` once its wait is over. Throws PASSWORD_WRONG when `check`
   * says no, TOO_MANY_ATTEMPTS when too many tries from the address are already waiting.
   */
  async attempt(address: string, check: () => Promise<boolean>): Promise<void> {
    if (this.#roomLimited()) throw new CodedError('TOO_MANY_ATTEMPTS');
    const entry = this.#entry(address);
    if (entry.waiting >= MAX_WAITING) throw new CodedError('TOO_MANY_ATTEMPTS');
    entry.waiting++;
    const run = entry.chain.then(async () => {
      const wait = entry.nextAt - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // Tries that waited in line are counted against the room's budget when their turn comes.
      if (this.#roomLimited()) throw new CodedError('TOO_MANY_ATTEMPTS');
      const ok = await check();
      if (ok) {
        entry.failures = 0;
        entry.nextAt = 0;
        return true;
      }
      entry.failures++;
      this.#roomFailures++;
      entry.lastFailureAt = Date.now();
      entry.nextAt = Date.now() + this.#backoff(entry.failures);
      return false;
    });
    entry.chain = run.catch(() => false);
    try {
      if (!(await run)) throw new CodedError('PASSWORD_WRONG');
    } finally {
      entry.waiting--;
      if (entry.waiting === 0 && entry.failures === 0) this.#entries.delete(address);
    }
  }

  /** True while the room's wrong passwords of this minute have reached `roomFailuresPerMinute`. */
  #roomLimited(): boolean {
    const limit = this.#options.roomFailuresPerMinute;
    if (limit === undefined) return false;
    const now = Date.now();
    if (now - this.#roomWindowStart >= 60_000) {
      this.#roomWindowStart = now;
      this.#roomFailures = 0;
    }
    return this.#roomFailures >= limit;
  }

  clear(): void {
    this.#entries.clear();
  }
}
