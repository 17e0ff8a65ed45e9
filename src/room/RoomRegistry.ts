import type { Logger } from 'pino';
import type { PasswordGuardOptions } from '../auth/roomPassword.js';
import type { TurnSettings } from '../auth/turnCredentials.js';
import { CodedError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { RtcSettings } from '../sfu/index.js';
import { BoardStore } from './BoardStore.js';
import type { Participant } from './Participant.js';
import type { ClusterNodes } from './Room.js';
import { Room } from './Room.js';
import type { RoomFilesLimits } from './RoomFiles.js';
import { RoomStateStore } from './RoomStateStore.js';

export interface RoomRegistryOptions {
  rtc: RtcSettings;
  maxRooms: number;
  maxParticipants: number;
  maxViewers: number;
  tracksPerParticipant: number;
  chatHistory: number;
  emptyTimeoutMs: number;
  resumeWindowMs: number;
  passwordGuard?: PasswordGuardOptions;
  /** The limits of each room's files (people sending each other files). */
  files?: RoomFilesLimits;
  /** Each room's whiteboard at most, in bytes. */
  boardMaxBytes?: number;
  /** A TURN server each participant gets credentials for as it joins. */
  turn?: TurnSettings;
  /** In a cluster, the nodes a client may reconnect to (`joined.nodes`), kept up to date by the server. */
  cluster?: ClusterNodes;
  /**
   * Keeps what a host set, and who was admitted, across a restart, in `<dataDir>/rooms/` for `maxAgeMs`;
   * none: rooms start afresh.
   */
  state?: { dataDir: string; maxAgeMs: number };
  log: Logger;
}

/** A changed whiteboard is saved this long after its first change (a burst of strokes is one write). */
const BOARD_SAVE_MS = 2000;

/** How long clients wait before they join again when the server says it is restarting. */
export const RESTART_REJOIN_AFTER_MS = 1000;

/**
 * The rooms of one server. A room is created by its first join and closed once it has been empty for
 * `emptyTimeoutMs`. Also finds participants by resume token.
 */
export class RoomRegistry extends TypedEmitter<{ roomCreated: [room: Room]; roomClosed: [name: string] }> {
  readonly rooms = new Map<string, Room>();
  readonly #options: RoomRegistryOptions;
  readonly #store: RoomStateStore | undefined;
  /** Each room's whiteboard across a restart, with the room state. */
  readonly #boards: BoardStore | undefined;
  readonly #emptyTimers = new Map<string, NodeJS.Timeout>();
  readonly #byResumeToken = new Map<string, Participant>();
  #closed = false;
  /** Saves every room again now and then, so that a long meeting's state does not look stale. */
  readonly #refresh: NodeJS.Timeout | undefined;

  constructor(options: RoomRegistryOptions) {
    super();
    this.#options = options;
    const store = options.state
      ? new RoomStateStore({ ...options.state, maxRooms: options.maxRooms, log: options.log })
      : undefined;
    this.#store = store;
    this.#boards = options.state ? new BoardStore({ ...options.state, log: options.log }) : undefined;
    if (store) {
      this.#refresh = setInterval(() => {
        for (const room of this.rooms.values()) if (room.joinCount > 0) store.save(room.persistentState);
      }, store.maxAgeMs / 4);
      this.#refresh.unref();
    }
  }

  getOrCreate(name: string): Room {
    if (this.#closed) throw new CodedError('SERVER_SHUTTING_DOWN');
    // An empty room's timer runs on until a join succeeds (a refused join must not keep the room).
    const existing = this.rooms.get(name);
    if (existing) return existing;
    if (this.rooms.size >= this.#options.maxRooms) throw new CodedError('TOO_MANY_ROOMS');
    const o = this.#options;
    const room = new Room({
      name,
      rtc: o.rtc,
      maxParticipants: o.maxParticipants,
      maxViewers: o.maxViewers,
      tracksPerParticipant: o.tracksPerParticipant,
      chatHistory: o.chatHistory,
      resumeWindowMs: o.resumeWindowMs,
      ...(o.passwordGuard ? { passwordGuard: o.passwordGuard } : {}),
      ...(o.files ? { files: o.files } : {}),
      ...(o.boardMaxBytes !== undefined ? { boardMaxBytes: o.boardMaxBytes } : {}),
      ...(o.turn ? { turn: o.turn } : {}),
      ...(o.cluster ? { cluster: o.cluster } : {}),
      log: o.log,
    });
    const store = this.#store;
    const saved = store?.load(name);
    if (saved) {
      room.restore(saved);
      o.log.info(
        { room: name, locked: saved.locked, members: saved.members.length },
        'room state restored from before a restart',
      );
    }
    if (store) room.on('stateChanged', () => store.save(room.persistentState));
    this.#keepBoard(room);
    // Someone in it, participant or viewer, keeps the room; their resume token finds them.
    const arrived = (p: Participant) => {
      clearTimeout(this.#emptyTimers.get(name));
      this.#emptyTimers.delete(name);
      this.#byResumeToken.set(p.resumeToken, p);
    };
    const gone = (p: Participant) => this.#byResumeToken.delete(p.resumeToken);
    room.on('participantJoined', arrived);
    room.on('viewerJoined', arrived);
    room.on('participantLeft', gone);
    room.on('viewerLeft', gone);
    room.on('empty', () => this.#closeWhenEmpty(name));
    this.rooms.set(name, room);
    // A join that made the room may still be refused (a restored room is locked): it must not stay.
    this.#closeWhenEmpty(name);
    o.log.info({ room: name }, 'room created');
    this.emit('roomCreated', room);
    return room;
  }

  #closeWhenEmpty(name: string): void {
    clearTimeout(this.#emptyTimers.get(name));
    this.#emptyTimers.set(
      name,
      setTimeout(() => void this.closeRoom(name), this.#options.emptyTimeoutMs),
    );
  }

  /** The participant a resume token belongs to, if it is still in `room`. */
  findByResumeToken(token: string, roomName: string): Participant | undefined {
    const participant = this.#byResumeToken.get(token);
    if (!participant || participant.closed) return undefined;
    const room = this.rooms.get(roomName);
    const found = room?.participants.get(participant.id) ?? room?.viewers.get(participant.id);
    return found === participant ? participant : undefined;
  }

  /**
   * Like `findByResumeToken`, and spends the token: the participant gets a new one (sent in the
   * `joined` reply of the resume), so a resume token that was seen once on the wire is good for nothing.
   */
  claimResumeToken(token: string, roomName: string): Participant | undefined {
    const participant = this.findByResumeToken(token, roomName);
    if (!participant) return undefined;
    this.#byResumeToken.delete(token);
    participant.rotateResumeToken();
    this.#byResumeToken.set(participant.resumeToken, participant);
    return participant;
  }

  /**
   * Ends a room: everyone in it gets `bye` with `reason` and leaves, and its saved state is deleted.
   * `restartInMs`: the server is restarting; the state is kept and everyone is told to rejoin.
   */
  async closeRoom(name: string, reason?: string, restartInMs?: number): Promise<void> {
    const room = this.rooms.get(name);
    clearTimeout(this.#emptyTimers.get(name));
    this.#emptyTimers.delete(name);
    if (!room) return;
    this.rooms.delete(name);
    this.emit('roomClosed', name);
    await room.close(reason, restartInMs);
    if (restartInMs === undefined && room.joinCount > 0) {
      this.#store?.delete(name);
      this.#boards?.delete(name);
    }
    this.#options.log.info({ room: name, reason }, 'room closed');
  }

  /**
   * Gives a new room its whiteboard from before a restart, and saves the board a moment after it changes
   * (one write for a burst of strokes) and when the server stops to restart.
   */
  #keepBoard(room: Room): void {
    const boards = this.#boards;
    if (!boards) return;
    const saved = boards.load(room.name);
    if (saved) {
      try {
        room.board.load(saved);
      } catch (error) {
        this.#options.log.warn({ room: room.name, err: error }, 'a saved whiteboard did not load; dropped');
        boards.delete(room.name);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const save = () => {
      timer = undefined;
      boards.save(room.name, room.board.encode());
    };
    room.on('boardChanged', () => {
      timer ??= setTimeout(save, BOARD_SAVE_MS);
    });
    room.on('closed', (restart) => {
      clearTimeout(timer);
      if (restart) save();
    });
  }

  get participantCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.participants.size;
    return n;
  }

  /** The rooms' audiences, together. */
  get viewerCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.viewers.size;
    return n;
  }

  /** Shuts down: every room is closed with a `bye` that tells its participants to rejoin the restarted server. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#refresh);
    await Promise.all(
      [...this.rooms.keys()].map((name) =>
        this.closeRoom(name, 'server restarting', RESTART_REJOIN_AFTER_MS),
      ),
    );
    this.#byResumeToken.clear();
  }
}
