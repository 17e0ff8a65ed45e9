import type { Logger } from 'pino';
import type { PasswordGuardOptions } from '../auth/roomPassword.js';
import { CodedError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { RtcSettings } from '../sfu/index.js';
import type { Participant } from './Participant.js';
import { Room } from './Room.js';

export interface RoomRegistryOptions {
  rtc: RtcSettings;
  maxRooms: number;
  maxParticipants: number;
  tracksPerParticipant: number;
  chatHistory: number;
  emptyTimeoutMs: number;
  resumeWindowMs: number;
  passwordGuard?: PasswordGuardOptions;
  log: Logger;
}

/**
 * The rooms of one server. A room is created by its first join and closed once it has been empty for
 * `emptyTimeoutMs`. Also finds participants by resume token.
 */
export class RoomRegistry extends TypedEmitter<{ roomClosed: [name: string] }> {
  readonly rooms = new Map<string, Room>();
  readonly #options: RoomRegistryOptions;
  readonly #emptyTimers = new Map<string, NodeJS.Timeout>();
  readonly #byResumeToken = new Map<string, Participant>();
  #closed = false;

  constructor(options: RoomRegistryOptions) {
    super();
    this.#options = options;
  }

  getOrCreate(name: string): Room {
    if (this.#closed) throw new CodedError('SERVER_SHUTTING_DOWN');
    const existing = this.rooms.get(name);
    if (existing) {
      clearTimeout(this.#emptyTimers.get(name));
      this.#emptyTimers.delete(name);
      return existing;
    }
    if (this.rooms.size >= this.#options.maxRooms) throw new CodedError('TOO_MANY_ROOMS');
    const o = this.#options;
    const room = new Room({
      name,
      rtc: o.rtc,
      maxParticipants: o.maxParticipants,
      tracksPerParticipant: o.tracksPerParticipant,
      chatHistory: o.chatHistory,
      resumeWindowMs: o.resumeWindowMs,
      ...(o.passwordGuard ? { passwordGuard: o.passwordGuard } : {}),
      log: o.log,
    });
    room.on('participantJoined', (p) => this.#byResumeToken.set(p.resumeToken, p));
    room.on('participantLeft', (p) => this.#byResumeToken.delete(p.resumeToken));
    room.on('empty', () => {
      clearTimeout(this.#emptyTimers.get(name));
      this.#emptyTimers.set(
        name,
        setTimeout(() => void this.closeRoom(name), o.emptyTimeoutMs),
      );
    });
    this.rooms.set(name, room);
    o.log.info({ room: name }, 'room created');
    return room;
  }

  /** The participant a resume token belongs to, if it is still in `room`. */
  findByResumeToken(token: string, roomName: string): Participant | undefined {
    const participant = this.#byResumeToken.get(token);
    if (!participant || participant.closed) return undefined;
    const room = this.rooms.get(roomName);
    return room?.participants.get(participant.id) === participant ? participant : undefined;
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

  /** Ends a room: everyone in it gets `bye` with `reason` and leaves. */
  async closeRoom(name: string, reason?: string): Promise<void> {
    const room = this.rooms.get(name);
    clearTimeout(this.#emptyTimers.get(name));
    this.#emptyTimers.delete(name);
    if (!room) return;
    this.rooms.delete(name);
    this.emit('roomClosed', name);
    await room.close(reason);
    this.#options.log.info({ room: name, reason }, 'room closed');
  }

  get participantCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.participants.size;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.rooms.keys()].map((name) => this.closeRoom(name)));
    this.#byResumeToken.clear();
  }
}
