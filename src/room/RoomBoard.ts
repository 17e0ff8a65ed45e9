import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates,
} from 'y-protocols/awareness';
import {
  messageYjsSyncStep1,
  messageYjsSyncStep2,
  messageYjsUpdate,
  writeSyncStep1,
  writeSyncStep2,
  writeUpdate,
} from 'y-protocols/sync';
import * as Y from 'yjs';
import { CodedError } from '../common/errors.js';
import { SlidingWindow } from '../common/SlidingWindow.js';

/** The two kinds of message on the board's channel, as y-websocket frames them. */
export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;

/** Cursor and presence updates one person may send a second; more are dropped (a flood changes nothing). */
const AWARENESS_PER_SECOND = 30;
/** One person's presence state (name, colour, cursor) at most, as JSON. */
const MAX_AWARENESS_STATE_BYTES = 1024;

/**
 * The layer of drawings over `participantId`'s shared screen: a Y.Array of the board's items in the same
 * document, named after the presenter, in coordinates of their video (1000 units across).
 */
export const annotationLayer = (participantId: string): string => `screen:${participantId}`;

export interface RoomBoardLimits {
  /** The document's encoded size at most, in bytes (what a newcomer downloads). */
  maxBytes: number;
}

export interface RoomBoardEvents {
  /** Send `message` to everyone in the room but `except` (undefined: everyone). */
  send(message: Uint8Array, except: string | undefined): void;
  /** The document changed (to be saved). */
  changed(): void;
}

/**
 * A room's shared whiteboard: a Yjs document (a CRDT: edits merge without a lock, in any order) and the
 * presence of who draws where (y-protocols awareness), carried as y-protocols messages over the room's
 * own signaling connection. The server is one more replica: it answers a newcomer's sync with what it
 * has, applies and passes on each update, keeps the document within its size limit, and refuses what is
 * not a Yjs update. Who may write is the room's question (a host can make the board view-only).
 */
export class RoomBoard {
  readonly #limits: RoomBoardLimits;
  readonly #events: RoomBoardEvents;
  #doc = new Y.Doc({ gc: true });
  readonly #awareness: Awareness;
  /** Each participant's awareness client ids, to take their cursors away when they leave. */
  readonly #clients = new Map<string, Set<number>>();
  readonly #rates = new Map<string, SlidingWindow>();
  /** The encoded size of the document, kept up to date on each update. */
  #bytes = 0;
  /** Layers only their owner may add to (a presenter turned drawing over their screen off): name → owner. */
  readonly #closedLayers = new Map<string, string>();

  constructor(limits: RoomBoardLimits, events: RoomBoardEvents) {
    this.#limits = limits;
    this.#events = events;
    this.#awareness = new Awareness(new Y.Doc());
    // Its renewal timer must not hold a process that is done (the room closes it too).
    (this.#awareness as unknown as { _checkInterval?: NodeJS.Timeout })._checkInterval?.unref();
    this.#awareness.setLocalState(null);
    this.#awareness.on('update', ({ added, updated, removed }: AwarenessChange, origin: unknown) => {
      const changed = [...added, ...updated, ...removed];
      if (changed.length === 0) return;
      const message = this.#awarenessMessage(encodeAwarenessUpdate(this.#awareness, changed));
      this.#events.send(message, typeof origin === 'string' && origin !== 'left' ? origin : undefined);
    });
    this.#watch();
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The whole document as one update (what is saved, and what an export starts from). */
  encode(): Uint8Array {
    return Y.encodeStateAsUpdate(this.#doc);
  }

  /** Takes back a saved document (a restart); throws when it is not one. */
  load(update: Uint8Array): void {
    Y.applyUpdate(this.#doc, update, 'load');
    this.#bytes = update.length;
  }

  /** What a newcomer is sent: the server's sync step 1 (its state vector) and everyone's presence. */
  welcome(): Uint8Array[] {
    const sync = encoding.createEncoder();
    encoding.writeVarUint(sync, MESSAGE_SYNC);
    writeSyncStep1(sync, this.#doc);
    const messages: Uint8Array[] = [encoding.toUint8Array(sync)];
    const clients = [...this.#awareness.getStates().keys()];
    if (clients.length > 0)
      messages.push(this.#awarenessMessage(encodeAwarenessUpdate(this.#awareness, clients)));
    return messages;
  }

  /**
   * A message from `participantId`; `mayWrite` false refuses updates (a view-only board for them).
   * Returns the replies for the sender. Throws INVALID_BOARD_UPDATE, BOARD_FULL or BOARD_READ_ONLY.
   */
  receive(participantId: string, message: Uint8Array, mayWrite: boolean): Uint8Array[] {
    const decoder = decoding.createDecoder(message as Uint8Array<ArrayBuffer>);
    let kind: number;
    try {
      kind = decoding.readVarUint(decoder);
    } catch {
      throw new CodedError('INVALID_BOARD_UPDATE', 'An empty board message');
    }
    if (kind === MESSAGE_AWARENESS) {
      this.#presence(participantId, decoder);
      return [];
    }
    if (kind !== MESSAGE_SYNC)
      throw new CodedError('INVALID_BOARD_UPDATE', `Unknown board message kind ${kind}`);
    let step: number;
    let payload: Uint8Array;
    try {
      step = decoding.readVarUint(decoder);
      payload = decoding.readVarUint8Array(decoder);
    } catch {
      throw new CodedError('INVALID_BOARD_UPDATE', 'A board message cut short');
    }
    if (step === messageYjsSyncStep1) {
      // Their state vector: they get what they lack.
      const reply = encoding.createEncoder();
      encoding.writeVarUint(reply, MESSAGE_SYNC);
      try {
        writeSyncStep2(reply, this.#doc, payload);
      } catch {
        throw new CodedError('INVALID_BOARD_UPDATE', 'Not a Yjs state vector');
      }
      return [encoding.toUint8Array(reply)];
    }
    if (step !== messageYjsSyncStep2 && step !== messageYjsUpdate)
      throw new CodedError('INVALID_BOARD_UPDATE', `Unknown sync step ${step}`);
    if (!mayWrite) throw new CodedError('BOARD_READ_ONLY');
    this.#apply(participantId, payload);
    return [];
  }

  /** Applies an update of `participantId`'s, within the size limit; everyone else gets it. */
  #apply(participantId: string, update: Uint8Array): void {
    if (this.#bytes + update.length > this.#limits.maxBytes)
      throw new CodedError(
        'BOARD_FULL',
        `The board holds ${this.#bytes} of its ${this.#limits.maxBytes} bytes; this change needs ${update.length}`,
      );
    // Decoded first (as much work as the update is long): what is not a Yjs update never reaches the doc.
    try {
      Y.decodeUpdate(update);
    } catch {
      throw new CodedError('INVALID_BOARD_UPDATE', 'Not a Yjs update');
    }
    // What a closed layer held before: anything someone else adds to it is taken back at once.
    const guarded: [Y.Array<unknown>, Set<unknown>][] = [];
    for (const [name, owner] of this.#closedLayers) {
      const layer = owner === participantId ? undefined : this.#layer(name);
      if (layer) guarded.push([layer, new Set(layer.toArray())]);
    }
    try {
      Y.applyUpdate(this.#doc, update, participantId);
    } catch {
      throw new CodedError('INVALID_BOARD_UPDATE', 'The update does not apply to this board');
    }
    for (const [layer, before] of guarded) {
      const added = layer
        .toArray()
        .map((item, index) => (before.has(item) ? -1 : index))
        .filter((index) => index >= 0);
      if (added.length === 0) continue;
      this.#doc.transact(() => {
        for (const index of added.reverse()) layer.delete(index, 1);
      }, null);
    }
  }

  /** The top-level array `name`, if the document has one (undefined when it is absent or not an array). */
  #layer(name: string): Y.Array<unknown> | undefined {
    if (!this.#doc.share.has(name)) return undefined;
    try {
      return this.#doc.getArray(name);
    } catch {
      return undefined;
    }
  }

  /** Only `owner` may add to the layer `name` (closed), or everyone may again. */
  closeLayer(name: string, owner: string, closed: boolean): void {
    if (closed) this.#closedLayers.set(name, owner);
    else this.#closedLayers.delete(name);
  }

  /** Empties the layer `name` for everyone (its owner's screen share ended, or they cleared it). */
  clearLayer(name: string): void {
    const layer = this.#layer(name);
    if (!layer || layer.length === 0) return;
    this.#doc.transact(() => layer.delete(0, layer.length), null);
  }

  /** Presence (cursor, name, colour): validated, rate-limited, and passed on. */
  #presence(participantId: string, decoder: decoding.Decoder): void {
    let rate = this.#rates.get(participantId);
    if (!rate) {
      rate = new SlidingWindow(AWARENESS_PER_SECOND, 1000);
      this.#rates.set(participantId, rate);
    }
    // Past the rate the update is dropped: a cursor a moment late is no harm, a flood is.
    if (!rate.take()) return;
    let update: Uint8Array;
    const ids: number[] = [];
    try {
      update = decoding.readVarUint8Array(decoder);
      const inner = decoding.createDecoder(update);
      const count = decoding.readVarUint(inner);
      if (count > 4) throw new Error('too many clients');
      for (let i = 0; i < count; i++) {
        ids.push(decoding.readVarUint(inner));
        decoding.readVarUint(inner);
        const state = decoding.readVarString(inner);
        if (state.length > MAX_AWARENESS_STATE_BYTES) throw new Error('state too large');
        JSON.parse(state);
      }
    } catch {
      throw new CodedError('INVALID_BOARD_UPDATE', 'Not a presence update');
    }
    // Nobody speaks for someone else's cursor.
    const mine = this.#clients.get(participantId) ?? new Set<number>();
    for (const id of ids) {
      const owner = [...this.#clients].find(([, set]) => set.has(id))?.[0];
      if (owner !== undefined && owner !== participantId)
        throw new CodedError('INVALID_BOARD_UPDATE', 'That presence is someone else’s');
      mine.add(id);
    }
    this.#clients.set(participantId, mine);
    applyAwarenessUpdate(this.#awareness, update, participantId);
  }

  /** `participantId` left: their cursors go, for everyone. */
  leave(participantId: string): void {
    const ids = this.#clients.get(participantId);
    this.#clients.delete(participantId);
    this.#rates.delete(participantId);
    if (ids && ids.size > 0) removeAwarenessStates(this.#awareness, [...ids], 'left');
  }

  /** A host cleared the board: an empty document for everyone (they start over from it). */
  clear(): void {
    this.#doc.destroy();
    this.#doc = new Y.Doc({ gc: true });
    this.#bytes = 0;
    this.#watch();
    this.#events.changed();
  }

  close(): void {
    this.#doc.destroy();
    this.#awareness.destroy();
  }

  /** Every update of the document goes to everyone but its sender, and marks it changed. */
  #watch(): void {
    this.#doc.on('update', (update: Uint8Array, origin: unknown) => {
      this.#bytes += update.length;
      const message = encoding.createEncoder();
      encoding.writeVarUint(message, MESSAGE_SYNC);
      writeUpdate(message, update);
      this.#events.send(encoding.toUint8Array(message), typeof origin === 'string' ? origin : undefined);
      this.#events.changed();
    });
  }

  #awarenessMessage(update: Uint8Array): Uint8Array {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(encoder, update);
    return encoding.toUint8Array(encoder);
  }
}

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}
