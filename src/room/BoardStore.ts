import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomicSync } from '../common/atomicWrite.js';

/**
 * Each room's whiteboard across a restart: `<dataDir>/boards/<SHA-256 of the room name>.yjs`, the Yjs
 * document as one update, written atomically (a temporary file renamed over the old one) a moment after
 * it changes, dropped when the room ends and when older than `maxAgeMs`.
 */
export class BoardStore {
  readonly dir: string;
  readonly #maxAgeMs: number;
  readonly #log: Logger;
  #dirMade = false;

  constructor(options: { dataDir: string; maxAgeMs: number; log: Logger }) {
    this.dir = join(options.dataDir, 'boards');
    this.#maxAgeMs = options.maxAgeMs;
    this.#log = options.log;
  }

  #path(room: string): string {
    return join(this.dir, `${createHash('sha256').update(room).digest('hex')}.yjs`);
  }

  /** The saved board of `room`, unless there is none or it is too old. */
  load(room: string): Uint8Array | undefined {
    const path = this.#path(room);
    try {
      if (Date.now() - statSync(path).mtimeMs > this.#maxAgeMs) {
        this.delete(room);
        return undefined;
      }
      return readFileSync(path);
    } catch {
      return undefined;
    }
  }

  save(room: string, board: Uint8Array): void {
    const path = this.#path(room);
    try {
      if (!this.#dirMade) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.#dirMade = true;
      }
      writeFileAtomicSync(path, board);
    } catch (error) {
      this.#log.warn({ err: error, room }, 'could not save the whiteboard; it will not survive a restart');
    }
  }

  delete(room: string): void {
    rmSync(this.#path(room), { force: true });
  }
}
