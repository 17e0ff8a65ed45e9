import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { writeFileAtomicSync } from '../common/atomicWrite.js';
import { participantRole } from '../protocol/messages.js';

/**
 * Someone a room admitted, as the room remembers them across a restart: the SHA-256 of the rejoin secret
 * the server gave them (the secret itself is never written), and the name and role they had.
 */
const storedMember = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string().min(1).max(200),
  role: participantRole,
  mayBecomeHost: z.boolean(),
  identity: z.string().max(1024).optional(),
});
export type StoredMember = z.infer<typeof storedMember>;

const storedRoom = z.object({
  v: z.literal(1),
  room: z.string().min(1).max(200),
  /** Milliseconds since the Unix epoch: the state is dropped `maxAgeMs` after this. */
  savedAt: z.number().int().nonnegative(),
  locked: z.boolean(),
  /** The room password's scrypt salt and hash, base64. */
  password: z.object({ salt: z.string().max(200), hash: z.string().max(200) }).optional(),
  /** Shown in the directory, with this topic. */
  listed: z.boolean().optional(),
  topic: z.string().min(1).max(200).optional(),
  members: z.array(storedMember).max(10_000),
});
export type StoredRoom = z.infer<typeof storedRoom>;

export interface RoomStateStoreOptions {
  /** The data directory (`config.dataDir`); rooms are kept in its `rooms/` folder. */
  dataDir: string;
  /** State saved longer ago than this is dropped (not restored, and deleted). */
  maxAgeMs: number;
  /** At most this many rooms are kept; past it, the least recently saved go. */
  maxRooms: number;
  log: Logger;
}

/**
 * What a host set in a room (lock, password hash, who is host) and who was admitted, kept in the data
 * directory so that a restarted server lets the same people back in with the same roles. One small JSON
 * file per room, named after the SHA-256 of the room name: a room lives on one worker thread, so no two
 * threads ever write one file. Writes are atomic (a temporary file renamed over the old one), so a kill
 * at any moment leaves the old state or the new one, never half of one.
 */
export class RoomStateStore {
  readonly dir: string;
  readonly #options: RoomStateStoreOptions;
  #dirMade = false;
  /** A failed write is logged once, not on every change of every room. */
  #warned = false;

  constructor(options: RoomStateStoreOptions) {
    this.#options = options;
    this.dir = join(options.dataDir, 'rooms');
  }

  get maxAgeMs(): number {
    return this.#options.maxAgeMs;
  }

  #path(room: string): string {
    return join(this.dir, `${createHash('sha256').update(room).digest('hex')}.json`);
  }

  /** The room's saved state, unless there is none, it is stale, or it does not read back valid. */
  load(room: string): StoredRoom | undefined {
    const path = this.#path(room);
    const state = this.#read(path);
    if (!state) return undefined;
    if (state.room !== room) return undefined;
    if (Date.now() - state.savedAt > this.#options.maxAgeMs) {
      this.#remove(path);
      return undefined;
    }
    return state;
  }

  /** Writes the room's state: to a temporary file first, then renamed over the old one. */
  save(state: Omit<StoredRoom, 'v' | 'savedAt'>): void {
    const path = this.#path(state.room);
    try {
      if (!this.#dirMade) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.#dirMade = true;
      }
      const full: StoredRoom = { v: 1, savedAt: Date.now(), ...state };
      writeFileAtomicSync(path, JSON.stringify(full));
    } catch (error) {
      if (this.#warned) return;
      this.#warned = true;
      this.#options.log.warn(
        { err: error, room: state.room, dir: this.dir },
        'could not save room state; it will not survive a restart',
      );
    }
  }

  delete(room: string): void {
    this.#remove(this.#path(room));
  }

  /**
   * Drops stale, unreadable and left-over temporary files, and the least recently saved rooms past
   * `maxRooms`. Returns how many rooms are kept.
   */
  prune(): number {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    const kept: { path: string; savedAt: number }[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      if (!name.endsWith('.json')) {
        // A temporary file a killed server left behind.
        if (name.endsWith('.tmp') && this.#olderThan(path, 60_000)) this.#remove(path);
        continue;
      }
      const state = this.#read(path);
      if (!state || Date.now() - state.savedAt > this.#options.maxAgeMs) this.#remove(path);
      else kept.push({ path, savedAt: state.savedAt });
    }
    kept.sort((a, b) => b.savedAt - a.savedAt);
    for (const { path } of kept.splice(this.#options.maxRooms)) this.#remove(path);
    return kept.length;
  }

  #read(path: string): StoredRoom | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#options.log.warn({ err: error, path }, 'could not read room state; ignored');
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = storedRoom.safeParse(json);
    if (!parsed.success) {
      this.#options.log.warn({ path }, 'room state file is not valid; ignored and removed');
      this.#remove(path);
      return undefined;
    }
    return parsed.data;
  }

  #olderThan(path: string, ms: number): boolean {
    try {
      return Date.now() - statSync(path).mtimeMs > ms;
    } catch {
      return false;
    }
  }

  #remove(path: string): void {
    try {
      rmSync(path, { force: true });
    } catch {
      // Already gone, or the directory is not writable: nothing more to do about it here.
    }
  }
}
