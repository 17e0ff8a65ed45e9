import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness';
import { readSyncMessage, writeSyncStep1, writeUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import { TypedEmitter } from '../common/TypedEmitter.js';

const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
/**
 * Local changes are sent at most this often, merged (a stroke drawn over a second is 20 messages, not
 * 60): the signaling connection takes 50 messages a second.
 */
const SEND_EVERY_MS = 50;
/** What the server's updates are applied with, so they are not sent back. */
const REMOTE = 'remote';

export interface BoardEvents {
  /** A host cleared the board: `doc` and `awareness` are new objects now. */
  cleared: [by: string];
  /** Someone's presence changed (who draws where). */
  presence: [];
}

/**
 * The room's whiteboard as one client holds it: a Yjs document kept in sync with the room's (y-protocols
 * sync over the signaling connection) and this client's presence (awareness: its name, colour and
 * cursor). Edit `doc` in transactions of your own; what changes is sent, merged, every SEND_EVERY_MS.
 * `undo` is per person: a `Y.UndoManager` that tracks only this client's changes.
 */
export class Board extends TypedEmitter<BoardEvents> {
  doc: Y.Doc;
  awareness: Awareness;
  readonly #send: (data: string) => void;
  #pending: Uint8Array[] = [];
  #awarenessPending = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #offs: (() => void)[] = [];
  #closed = false;

  constructor(send: (data: string) => void) {
    super();
    this.#send = send;
    this.doc = new Y.Doc();
    this.awareness = presence(this.doc);
    this.#watch();
  }

  /**
   * The drawings over `participantId`'s shared screen: items as on the board (strokes, shapes…) in
   * coordinates of their video, 1000 units across. The server empties it when the share ends.
   */
  annotation(participantId: string): Y.Array<Y.Map<unknown>> {
    return this.doc.getArray(`screen:${participantId}`);
  }

  /** Starts (or restarts, after a resume or a clear) the sync: the server sends what this client lacks. */
  sync(): void {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    writeSyncStep1(encoder, this.doc);
    this.#send(toBase64(encoding.toUint8Array(encoder)));
    if (this.awareness.getLocalState() !== null) {
      this.#awarenessPending = true;
      this.#schedule();
    }
  }

  /** A `board` message from the server. */
  receive(data: string): void {
    const decoder = decoding.createDecoder(fromBase64(data));
    const kind = decoding.readVarUint(decoder);
    if (kind === MESSAGE_SYNC) {
      const reply = encoding.createEncoder();
      encoding.writeVarUint(reply, MESSAGE_SYNC);
      readSyncMessage(decoder, reply, this.doc, REMOTE);
      // A sync step 1 from the server: it lacks what this client has (edits made offline).
      if (encoding.length(reply) > 1) this.#send(toBase64(encoding.toUint8Array(reply)));
    } else if (kind === MESSAGE_AWARENESS) {
      applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), REMOTE);
    }
  }

  /** A host cleared the board: a new document, synced afresh; this client's presence carries over. */
  cleared(by: string): void {
    const state = this.awareness.getLocalState();
    this.#unwatch();
    this.awareness.destroy();
    this.doc.destroy();
    this.doc = new Y.Doc();
    this.awareness = presence(this.doc);
    this.awareness.setLocalState(state);
    this.#pending = [];
    this.#watch();
    this.emit('cleared', by);
    this.sync();
  }

  /** Says who this client is and where its pointer is (board coordinates; null: off the board). */
  setPresence(state: {
    name: string;
    color: string;
    cursor: { x: number; y: number } | null;
    /** Which page (or shared screen) the cursor is over; the first page when absent. */
    page?: string;
  }): void {
    this.awareness.setLocalState(state);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#unwatch();
    this.awareness.destroy();
    this.doc.destroy();
    this.removeAllListeners();
  }

  #watch(): void {
    const onUpdate = (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE) return;
      this.#pending.push(update);
      this.#schedule();
    };
    this.doc.on('update', onUpdate);
    const onAwareness = (
      { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
      origin: unknown,
    ) => {
      if (origin !== REMOTE) {
        if ([...added, ...updated, ...removed].includes(this.doc.clientID)) {
          this.#awarenessPending = true;
          this.#schedule();
        }
      }
      this.emit('presence');
    };
    this.awareness.on('update', onAwareness);
    this.#offs = [() => this.doc.off('update', onUpdate), () => this.awareness.off('update', onAwareness)];
  }

  #unwatch(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, SEND_EVERY_MS);
  }

  #flush(): void {
    if (this.#pending.length > 0) {
      const update = Y.mergeUpdates(this.#pending);
      this.#pending = [];
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, MESSAGE_SYNC);
      writeUpdate(encoder, update);
      this.#send(toBase64(encoding.toUint8Array(encoder)));
    }
    if (this.#awarenessPending) {
      this.#awarenessPending = false;
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(this.awareness, [this.doc.clientID]));
      this.#send(toBase64(encoding.toUint8Array(encoder)));
    }
  }
}

/**
 * An awareness (presence) for `doc`. Its renewal timer (y-protocols runs one every 3 s) must not keep a
 * Node process alive: a bot whose join was refused never closes its board.
 */
function presence(doc: Y.Doc): Awareness {
  const awareness = new Awareness(doc);
  const timer = (awareness as unknown as { _checkInterval?: { unref?: () => void } })._checkInterval;
  timer?.unref?.();
  return awareness;
}

/** Base64 in the browser and in Node alike (no Buffer in the browser). */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
