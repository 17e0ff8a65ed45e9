import { createHash, randomBytes } from 'node:crypto';
import type { ParticipantRole } from '../protocol/messages.js';
import type { StoredMember } from './RoomStateStore.js';

/** After a restart, newcomers do not take the host role for this long while a host may still come back. */
export const HOST_RETURN_MS = 60_000;

const keyOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * The people a room admitted, each by the SHA-256 of a rejoin secret the server gave them in `joined`.
 * A client that presents its secret after a restart (or after its session ended) comes back with its
 * name and role, through a lock and a password: it was let in before. A stranger cannot claim a role by
 * a name: the secret is 144 random bits and only its hash is kept (in memory and in the state file).
 * Someone who left of their own accord or was removed is forgotten; the others are kept (they may be
 * cut off), up to `cap`, the oldest going first.
 */
export class RoomMembers {
  readonly #members = new Map<string, StoredMember>();
  /** Keys of the members present now, by participant id. */
  readonly #present = new Map<string, string>();
  readonly #cap: number;
  readonly #hostReturnMs: number;
  #hostReturnUntil = 0;

  constructor(cap: number, hostReturnMs = HOST_RETURN_MS) {
    this.#cap = cap;
    this.#hostReturnMs = hostReturnMs;
  }

  /**
   * Takes in the members of a saved state (a restart): they may come back, and a host among them too.
   * Returns how long newcomers wait for that host (0: there was none).
   */
  restore(members: StoredMember[]): number {
    for (const m of members) this.#members.set(m.key, m);
    if (!members.some((m) => m.role === 'host')) return 0;
    this.#hostReturnUntil = Date.now() + this.#hostReturnMs;
    return this.#hostReturnMs;
  }

  /** Gives back a claimed member whose join was refused after all (the room was full). */
  putBack(member: StoredMember): void {
    this.#members.set(member.key, member);
  }

  /**
   * The member a rejoin secret belongs to, if it is not in the room now and, when it joined with an
   * access token, comes back with a token of the same identity. The secret is spent: the rejoined
   * participant gets a new one.
   */
  claim(secret: string | undefined, identity: string | undefined): StoredMember | undefined {
    const member = this.#find(secret, identity);
    if (member) this.#members.delete(member.key);
    return member;
  }

  /** Whether `claim` would let this secret in (the door skips the password check for it). */
  knows(secret: string | undefined, identity: string | undefined): boolean {
    return this.#find(secret, identity) !== undefined;
  }

  #find(secret: string | undefined, identity: string | undefined): StoredMember | undefined {
    if (secret === undefined) return undefined;
    const key = keyOf(secret);
    const member = this.#members.get(key);
    if (!member || [...this.#present.values()].includes(key)) return undefined;
    if (member.identity !== undefined && member.identity !== identity) return undefined;
    return member;
  }

  /** Admits a participant; returns the rejoin secret to give it. */
  add(participantId: string, member: Omit<StoredMember, 'key'>): string {
    const secret = randomBytes(18).toString('base64url');
    const key = keyOf(secret);
    this.#members.set(key, { key, ...member });
    this.#present.set(participantId, key);
    while (this.#members.size > this.#cap) {
      const oldest = [...this.#members.keys()].find((k) => ![...this.#present.values()].includes(k));
      if (oldest === undefined) break;
      this.#members.delete(oldest);
    }
    return secret;
  }

  setRole(participantId: string, role: ParticipantRole): void {
    const key = this.#present.get(participantId);
    const member = key === undefined ? undefined : this.#members.get(key);
    if (member) member.role = role;
  }

  /** A participant is gone; `forget` when it left on purpose or was removed (it does not come back). */
  leave(participantId: string, forget: boolean): void {
    const key = this.#present.get(participantId);
    this.#present.delete(participantId);
    if (forget && key !== undefined) this.#members.delete(key);
  }

  /** A host of the room before a restart may still come back: a newcomer does not take the role. */
  get hostMayReturn(): boolean {
    if (Date.now() >= this.#hostReturnUntil) return false;
    const present = new Set(this.#present.values());
    for (const m of this.#members.values()) if (m.role === 'host' && !present.has(m.key)) return true;
    return false;
  }

  get all(): StoredMember[] {
    return [...this.#members.values()];
  }

  clear(): void {
    this.#members.clear();
    this.#present.clear();
  }
}
