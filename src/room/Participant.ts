import { randomBytes } from 'node:crypto';
import { InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { ParticipantInfo, ServerMessage, TrackInfo } from '../protocol/messages.js';
import type { MediaSession, PublishedTrack } from '../sfu/index.js';

/** Where a participant's messages go: its signaling connection. */
export interface SignalSink {
  send(message: ServerMessage): void;
  /** Ends the connection; used when a resume moves the participant to a newer connection. */
  close(code: number, reason: string): void;
}
export type LeaveReason = 'left' | 'disconnected' | 'timeout' | 'closed';

export interface PublishedTrackEntry {
  info: TrackInfo;
  track: PublishedTrack;
}

export interface ParticipantEvents {
  /** The signaling connection dropped; the participant waits for a resume. */
  detached: [];
  attached: [];
  closed: [LeaveReason];
}

/**
 * Anyone in a room: a browser, a bot, later a WHIP publisher or a SIP caller. It owns its media session
 * and its published tracks; the room owns it. Messages for it go through `send`, which the signaling
 * connection attaches; while detached (connection lost, waiting for a resume) they are dropped, and the
 * resume sends a fresh snapshot instead.
 */
export class Participant extends TypedEmitter<ParticipantEvents> {
  readonly id: string;
  readonly name: string;
  readonly session: MediaSession;
  readonly resumeToken = randomBytes(18).toString('base64url');
  readonly tracks = new Map<string, PublishedTrackEntry>();
  closed = false;
  #sink: SignalSink | undefined;

  constructor(id: string, name: string, session: MediaSession) {
    super();
    this.id = id;
    this.name = name;
    this.session = session;
  }

  get state(): ParticipantInfo['state'] {
    return this.#sink ? 'connected' : 'reconnecting';
  }

  get info(): ParticipantInfo {
    return {
      id: this.id,
      name: this.name,
      state: this.state,
      tracks: [...this.tracks.values()].map((t) => t.info),
    };
  }

  send(message: ServerMessage): void {
    this.#sink?.send(message);
  }

  isAttachedTo(sink: SignalSink): boolean {
    return this.#sink === sink;
  }

  attach(sink: SignalSink): void {
    if (this.closed) throw new InvalidStateError(`participant ${this.id} has left`);
    const previous = this.#sink;
    this.#sink = sink;
    previous?.close(4001, 'resumed on another connection');
    this.emit('attached');
  }

  /** Called by a connection that went away; ignored unless that connection is still the current one. */
  detach(sink: SignalSink): void {
    if (this.closed || this.#sink !== sink) return;
    this.#sink = undefined;
    this.emit('detached');
  }

  /** Ends the participant and its media; the room removes it (it listens for `closed`). */
  async close(reason: LeaveReason): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#sink = undefined;
    // The room hears of it first, while the participant's tracks are still listed, so it can forget them.
    this.emit('closed', reason);
    for (const { track } of this.tracks.values()) track.close();
    this.tracks.clear();
    this.removeAllListeners();
    await this.session.close();
  }
}
