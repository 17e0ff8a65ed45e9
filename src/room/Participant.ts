import { randomBytes } from 'node:crypto';
import { InvalidStateError } from '../common/errors.js';
import { SlidingWindow } from '../common/SlidingWindow.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { MemberSink } from '../host/RoomHost.js';
import {
  type LeaveReason,
  type ParticipantCard,
  type ParticipantInfo,
  type ParticipantRole,
  REACTION_WINDOW_MS,
  REACTIONS_PER_WINDOW,
  type ServerMessage,
  type TrackInfo,
} from '../protocol/messages.js';
import type { ParticipantMedia, PublishedTrack } from '../sfu/index.js';

/** Where a participant's messages go: its signaling connection (the door's `MemberSink`). */
export type SignalSink = MemberSink;
export type { LeaveReason };

/** Who a participant is and what it may do; from its access token, or given by the room in open mode. */
export interface ParticipantAccess {
  /** The access token's subject; undefined for a join without a token. */
  identity: string | undefined;
  role: ParticipantRole;
  canPublish: boolean;
  /** Joined without a role of its own (open mode): may be made host when the room has none. */
  mayBecomeHost: boolean;
}

const newResumeToken = () => randomBytes(18).toString('base64url');

/** Calling-card changes one participant may make a minute (each is sent to the whole room). */
export const CARD_CHANGES_PER_MINUTE = 6;

const DEFAULT_ACCESS: ParticipantAccess = {
  identity: undefined,
  role: 'guest',
  canPublish: true,
  mayBecomeHost: false,
};

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
  readonly session: ParticipantMedia;
  /** A bearer secret for one resume; a resume replaces it (`RoomRegistry.claimResumeToken`). */
  resumeToken = newResumeToken();
  /** A bearer secret that lets this person back in after a restart (`RoomMembers`). */
  rejoinToken = '';
  /** A bearer secret for the room's files over HTTP, good while this participant is in the room. */
  readonly fileToken = newResumeToken();
  readonly tracks = new Map<string, PublishedTrackEntry>();
  readonly identity: string | undefined;
  role: ParticipantRole;
  /** May publish; a host changes it when bringing a viewer on stage or back (`Room.setOnStage`). */
  canPublish: boolean;
  readonly mayBecomeHost: boolean;
  readonly joinedAt = Date.now();
  closed = false;
  /** Its media transport is down (ICE consent expired) and has not come back yet. */
  mediaLost = false;
  /** What they tell the room about themselves besides their name. */
  card: ParticipantCard | undefined;
  /** Their place in the queue of raised hands while their hand is up. */
  hand: number | undefined;
  /** Their reactions: REACTIONS_PER_WINDOW in REACTION_WINDOW_MS. */
  readonly #reactions = new SlidingWindow(REACTIONS_PER_WINDOW, REACTION_WINDOW_MS);
  /** Their calling-card changes: CARD_CHANGES_PER_MINUTE a minute. */
  readonly #cardChanges = new SlidingWindow(CARD_CHANGES_PER_MINUTE, 60_000);
  #sink: SignalSink | undefined;

  constructor(
    id: string,
    name: string,
    session: ParticipantMedia,
    access: ParticipantAccess = DEFAULT_ACCESS,
  ) {
    super();
    this.id = id;
    this.name = name;
    this.session = session;
    this.identity = access.identity;
    this.role = access.role;
    this.canPublish = access.canPublish;
    this.mayBecomeHost = access.mayBecomeHost;
  }

  get state(): ParticipantInfo['state'] {
    return this.#sink && !this.mediaLost ? 'connected' : 'reconnecting';
  }

  get info(): ParticipantInfo {
    return {
      id: this.id,
      name: this.name,
      role: this.role,
      state: this.state,
      tracks: [...this.tracks.values()].map((t) => t.info),
      ...(this.card ? { card: this.card } : {}),
      ...(this.hand !== undefined ? { hand: this.hand } : {}),
    };
  }

  /** Counts a reaction; false when this window's reactions are used up. */
  takeReaction(now = Date.now()): boolean {
    return this.#reactions.take(now);
  }

  /** Counts a calling-card change; false when this minute's changes are used up. */
  takeCardChange(now = Date.now()): boolean {
    return this.#cardChanges.take(now);
  }

  rotateResumeToken(): void {
    this.resumeToken = newResumeToken();
  }

  send(message: ServerMessage, json?: string): void {
    this.#sink?.send(message, json);
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
