import { CodedError } from '../common/errors.js';
import { newFileId } from '../files/paths.js';
import type { SharedFile } from '../protocol/messages.js';

export interface RoomFilesLimits {
  maxBytes: number;
  roomMaxBytes: number;
  roomMaxFiles: number;
}

/**
 * The files people sent in one room: what each is, who may fetch it, and the room's share of the disk.
 * An upload first reserves its declared size (refused before a byte is sent when it would not fit), then
 * is announced when complete, or given back when it fails. The bytes are on disk (`src/files/paths.ts`);
 * this holds what the room knows of them, and goes with the room.
 */
export class RoomFiles {
  readonly #limits: RoomFilesLimits;
  readonly #files = new Map<string, { file: SharedFile; complete: boolean }>();
  #bytes = 0;

  constructor(limits: RoomFilesLimits) {
    this.#limits = limits;
  }

  /** Reserves room for a file of `size` bytes; the file is nobody's to fetch until `complete`. */
  reserve(file: Omit<SharedFile, 'id' | 'type' | 'ts'>): SharedFile {
    if (file.size > this.#limits.maxBytes)
      throw new CodedError(
        'FILE_TOO_LARGE',
        `The file is ${file.size} bytes; this server takes files of at most ${this.#limits.maxBytes}`,
      );
    if (this.#bytes + file.size > this.#limits.roomMaxBytes || this.#files.size >= this.#limits.roomMaxFiles)
      throw new CodedError('ROOM_FILES_FULL');
    const entry: SharedFile = { ...file, id: newFileId(), type: 'application/octet-stream', ts: Date.now() };
    this.#files.set(entry.id, { file: entry, complete: false });
    this.#bytes += file.size;
    return entry;
  }

  /** The upload of `id` is on disk, found to be of `type`: it can be announced and fetched. */
  complete(id: string, type: string): SharedFile {
    const entry = this.#files.get(id);
    if (!entry || entry.complete) throw new CodedError('FILE_NOT_FOUND');
    entry.complete = true;
    entry.file = { ...entry.file, type, ts: Date.now() };
    return entry.file;
  }

  /** The upload of `id` failed: its reservation is given back. */
  release(id: string): void {
    const entry = this.#files.get(id);
    if (!entry || entry.complete) return;
    this.#files.delete(id);
    this.#bytes -= entry.file.size;
  }

  /** A complete file `participantId` may fetch: sent to everyone, by them, or to them. */
  forParticipant(id: string, participantId: string): SharedFile | undefined {
    const entry = this.#files.get(id);
    if (!entry?.complete) return undefined;
    return mayFetch(entry.file, participantId) ? entry.file : undefined;
  }

  /** The complete files `participantId` may fetch, oldest first. */
  visibleTo(participantId: string): SharedFile[] {
    const files: SharedFile[] = [];
    for (const { file, complete } of this.#files.values())
      if (complete && mayFetch(file, participantId)) files.push(file);
    return files;
  }

  get bytes(): number {
    return this.#bytes;
  }
}

const mayFetch = (file: SharedFile, participantId: string) =>
  file.to === undefined || file.to === participantId || file.from === participantId;
