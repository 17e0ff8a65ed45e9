import type { JoinGrant } from '../auth/authorizeJoin.js';
import {
  hashPassword,
  PasswordGuard,
  type PasswordGuardOptions,
  type PasswordHash,
  verifyPassword,
} from '../auth/roomPassword.js';
import { CodedError } from '../common/errors.js';
import type { RoomAccessState } from '../protocol/messages.js';

/**
 * Who may come into one room: its lock, its password (kept as an scrypt hash) and the identities a host
 * removed. Owned by the Room; gone with it.
 */
export class RoomAccess {
  locked = false;
  /** Shown in the server's directory, with `topic`. */
  listed = false;
  topic: string | undefined;
  #password: PasswordHash | undefined;
  readonly #guard: PasswordGuard;
  /** Token identities removed by a host: they stay out until the room ends. */
  readonly #removed = new Set<string>();

  constructor(guard: PasswordGuardOptions) {
    this.#guard = new PasswordGuard(guard);
  }

  get state(): RoomAccessState {
    return {
      locked: this.locked,
      passwordProtected: this.#password !== undefined,
      listed: this.listed,
      ...(this.topic !== undefined ? { topic: this.topic } : {}),
    };
  }

  get passwordProtected(): boolean {
    return this.#password !== undefined;
  }

  /** The password's scrypt salt and hash, for the state that survives a restart. */
  get passwordHash(): PasswordHash | undefined {
    return this.#password;
  }

  /** Puts back a password hash saved before a restart. */
  restorePassword(stored: PasswordHash | undefined): void {
    this.#password = stored;
  }

  async setPassword(password: string | null): Promise<void> {
    this.#password = password === null ? undefined : await hashPassword(password);
    this.#guard.clear();
  }

  /**
   * Checks a password for a join from `address` (see `addressKey`), with the guard's slowdown.
   * Resolves when the room has no password or the password is right.
   */
  async checkPassword(password: string | undefined, address: string): Promise<void> {
    const stored = this.#password;
    if (!stored) return;
    if (password === undefined || password === '') throw new CodedError('PASSWORD_REQUIRED');
    await this.#guard.attempt(address, () => verifyPassword(password, stored));
  }

  /**
   * Throws when this grant may not come in now. `passwordChecked`: the door already ran checkPassword.
   * `returning`: the room admitted this person before (a rejoin token), so neither lock nor password
   * keeps them out; a removal does.
   */
  admit(grant: JoinGrant, passwordChecked: boolean, returning = false): void {
    if (grant.identity !== undefined && this.#removed.has(grant.identity))
      throw new CodedError('REMOVED_FROM_ROOM');
    if (returning) return;
    // A host's token opens a locked room: the people who run the meeting are never locked out of it.
    if (this.locked && grant.role !== 'host') throw new CodedError('ROOM_LOCKED');
    // An access token is the operator's word and outranks the room password.
    if (this.#password && !grant.viaToken && !passwordChecked) throw new CodedError('PASSWORD_REQUIRED');
  }

  remember(identity: string | undefined): void {
    if (identity !== undefined) this.#removed.add(identity);
  }

  close(): void {
    this.#guard.clear();
    this.#removed.clear();
  }
}
