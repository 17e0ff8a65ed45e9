import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { type JoinGrant, OPEN_GUEST } from '../auth/authorizeJoin.js';
import type { PasswordGuardOptions } from '../auth/roomPassword.js';
import { type IceServer, type TurnSettings, turnCredentials } from '../auth/turnCredentials.js';
import { CodedError, InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type {
  ChatMessage,
  ParticipantCard,
  Reaction,
  RoomAccessState,
  ServerMessage,
  SharedFile,
  TrackInfo,
  TrackSource,
} from '../protocol/messages.js';
import {
  MediaSession,
  type MediaSessionOptions,
  type ParticipantMedia,
  type PublishedTrack,
  type RtcSettings,
  SdpError,
  type SubscriberOffer,
} from '../sfu/index.js';
import { type LeaveReason, Participant, type SignalSink } from './Participant.js';
import { RoomAccess } from './RoomAccess.js';
import { annotationLayer, RoomBoard } from './RoomBoard.js';
import { RoomFiles, type RoomFilesLimits } from './RoomFiles.js';
import { RoomMembers } from './RoomMembers.js';
import type { StoredRoom } from './RoomStateStore.js';

export interface RoomOptions {
  name: string;
  rtc: RtcSettings;
  maxParticipants: number;
  /** The audience's size at most (`join.viewer`); viewers are not participants. */
  maxViewers: number;
  tracksPerParticipant: number;
  chatHistory: number;
  /** How long a participant whose signaling dropped is kept for a resume. */
  resumeWindowMs: number;
  /** Slowdown of wrong room passwords (config `auth.password*`). */
  passwordGuard?: PasswordGuardOptions;
  /** After a restart, how long a host that has not come back keeps the role from newcomers. */
  hostReturnMs?: number;
  /** The limits of the files people send in the room. */
  files?: RoomFilesLimits;
  /** The whiteboard's size at most, in bytes (default 8 MiB). */
  boardMaxBytes?: number;
  /** A TURN server each participant gets credentials for (`joined.iceServers`). */
  turn?: TurnSettings;
  /** In a cluster, the nodes a client may reconnect to (`joined.nodes`), kept up to date by the server. */
  cluster?: ClusterNodes;
  log: Logger;
}

/** The public URLs of a cluster's live nodes, replaced as they come and go. */
export interface ClusterNodes {
  nodes: readonly string[];
}

/** Who asks for a host control: a participant (whose role is checked) or the admin API. */
export type Actor = Participant | 'admin';

/** How the room names an actor to everyone (`by` of its messages): a participant id, or "admin". */
const actorId = (by: Actor) => (by === 'admin' ? 'admin' : by.id);

export interface RoomEvents {
  participantJoined: [Participant];
  participantLeft: [Participant, LeaveReason];
  /** One of the audience came or went (`join.viewer`). */
  viewerJoined: [Participant];
  viewerLeft: [Participant, LeaveReason];
  /** A participant published a track, or stopped publishing one (not when it leaves: that is `participantLeft`). */
  trackPublished: [Participant, TrackInfo];
  trackUnpublished: [Participant, string];
  /** A track was muted or unmuted (by its publisher or a host). */
  trackMuted: [Participant, string, boolean];
  /** The whiteboard changed (to be saved). */
  boardChanged: [];
  /** The last participant left. */
  empty: [];
  /** What a restart must keep changed: the lock, the password, who was admitted and with which role. */
  stateChanged: [];
  /** The room ended; `restart`: the server is restarting and its people will rejoin. */
  closed: [restart: boolean];
}

/** How a participant joins: the defaults are those of a port545 client. */
export interface JoinOptions {
  /** Media session options: gateways that play into an offer of their own use routed subscriptions. */
  media?: MediaSessionOptions;
  /** What `authorizeJoin` granted; without one the participant joins as an open-mode guest. */
  grant?: JoinGrant;
  /** The door already checked the room password with `room.access.checkPassword`. */
  passwordChecked?: boolean;
  /** The rejoin token of an earlier `joined`: the same person comes back with the same name and role. */
  rejoin?: string;
  /** Their calling card, as the join validated it. */
  card?: ParticipantCard;
  /** Join the audience: receive everything, publish and say nothing, announced to nobody. */
  viewer?: boolean;
  /**
   * A viewer's media, made by the host somewhere other than this thread (another worker); the room owns
   * it once the join is taken (the host closes it if the join is refused). Without it the room makes a
   * `MediaSession`.
   */
  viewerMedia?: ParticipantMedia;
}

/** What a viewer is not sent: the room's working material, for its participants. */
const NOT_FOR_VIEWERS: ReadonlySet<ServerMessage['type']> = new Set(['board', 'file']);
/** The audience's count goes out at most this often, however fast viewers come and go. */
const VIEWER_COUNT_MS = 1000;

export interface PublishRequest {
  mid: string;
  source: TrackSource;
  muted: boolean;
}

const newParticipantId = () => `PA_${randomBytes(6).toString('base64url')}`;

/** A card with nothing on it is no card. */
const hasCard = (card: ParticipantCard) => Object.values(card).some((v) => v !== undefined && v !== '');

/**
 * A named call. Every participant receives every other participant's tracks: when one publishes,
 * the room subscribes everyone else; when one joins, it is subscribed to all that is published.
 */
export class Room extends TypedEmitter<RoomEvents> {
  readonly name: string;
  readonly participants = new Map<string, Participant>();
  /** The audience: receive-only, not participants, not announced (`join.viewer`). */
  readonly viewers = new Map<string, Participant>();
  #viewerCountTimer: NodeJS.Timeout | undefined;
  readonly chat: ChatMessage[] = [];
  readonly createdAt = Date.now();
  readonly access: RoomAccess;
  /** The files people sent in the room (on disk, `src/files/paths.ts`; gone with the room). */
  readonly files: RoomFiles;
  /** The room's whiteboard (a Yjs document and who draws where). */
  readonly board: RoomBoard;
  /** Guests may only look at the whiteboard (a host's choice). */
  #boardLocked = false;
  /** Presenters over whose screen only they may draw (they turned annotation off). */
  readonly #annotationOff = new Set<string>();
  /** Who this room admitted, for rejoins after a restart. */
  readonly members: RoomMembers;
  /** Joins so far: a restored room that nobody came back to keeps its saved state when it closes. */
  joinCount = 0;
  closed = false;
  readonly #options: RoomOptions;
  readonly #log: Logger;
  /** Participant id that owns each published track id. */
  readonly #trackOwner = new Map<string, string>();
  readonly #resumeTimers = new Map<string, NodeJS.Timeout>();
  /** Participants whose media transport is down, with the timer that ends them if it stays down. */
  readonly #mediaTimers = new Map<string, NodeJS.Timeout>();
  /** After a restart: when the host has had its time to come back, someone present may take the role. */
  #hostReturnTimer: NodeJS.Timeout | undefined;
  /** Counts raised hands: each new one gets the next number, which orders the queue. */
  #handSeq = 0;
  /** The participant a host put in the spotlight: shown large to everyone. */
  #spotlight: string | undefined;
  /** While the room is recorded: which recording, since when (the indicator everyone sees). */
  #recording: { id: string; since: number } | undefined;

  constructor(options: RoomOptions) {
    super();
    this.name = options.name;
    this.#options = options;
    this.#log = options.log;
    this.access = new RoomAccess(
      options.passwordGuard ?? { freeAttempts: 3, backoffMs: 250, backoffMaxMs: 5000 },
    );
    this.files = new RoomFiles(
      options.files ?? { maxBytes: 100 * 1024 ** 2, roomMaxBytes: 1024 ** 3, roomMaxFiles: 500 },
    );
    this.board = new RoomBoard(
      { maxBytes: options.boardMaxBytes ?? 8 * 1024 ** 2 },
      {
        send: (message, except) => this.#sendBoard(message, except),
        changed: () => this.emit('boardChanged'),
      },
    );
    this.members = new RoomMembers(Math.max(64, options.maxParticipants * 2), options.hostReturnMs);
  }

  /** The state a restarted server restores (`RoomStateStore`). */
  get persistentState(): Omit<StoredRoom, 'v' | 'savedAt'> {
    const password = this.access.passwordHash;
    return {
      room: this.name,
      locked: this.access.locked,
      ...(this.access.listed ? { listed: true } : {}),
      ...(this.access.listed && this.access.topic !== undefined ? { topic: this.access.topic } : {}),
      ...(password
        ? { password: { salt: password.salt.toString('base64'), hash: password.hash.toString('base64') } }
        : {}),
      members: this.members.all,
    };
  }

  /** Takes back the state saved before a restart; called on the new room before anyone joins. */
  restore(state: StoredRoom): void {
    this.access.locked = state.locked;
    this.access.listed = state.listed ?? false;
    this.access.topic = state.listed ? state.topic : undefined;
    this.access.restorePassword(
      state.password
        ? {
            salt: Buffer.from(state.password.salt, 'base64'),
            hash: Buffer.from(state.password.hash, 'base64'),
          }
        : undefined,
    );
    const waitForHost = this.members.restore(state.members);
    if (waitForHost > 0) this.#hostReturnTimer = setTimeout(() => this.#passOnHost(), waitForHost);
  }

  join(name: string, sink: SignalSink, rid?: string | number, options: JoinOptions = {}): Participant {
    this.#assertOpen();
    const grant = options.grant ?? OPEN_GUEST;
    if (options.viewer || grant.role === 'viewer') return this.#joinViewer(name, sink, rid, grant, options);
    // Someone this room admitted before (a restart, or a session that ended) comes back as they were.
    const member = this.members.claim(options.rejoin, grant.identity);
    try {
      this.access.admit(grant, options.passwordChecked ?? false, member !== undefined);
      if (this.participants.size >= this.#options.maxParticipants) throw new CodedError('ROOM_FULL');
    } catch (error) {
      if (member) this.members.putBack(member);
      throw error;
    }
    const id = newParticipantId();
    // Open mode: whoever joins without a role of their own hosts a room that has no host (and whose
    // host, before a restart, has had time to come back).
    const mayBecomeHost = grant.role === undefined && (member?.mayBecomeHost ?? true);
    const role =
      grant.role ?? member?.role ?? (this.#hasHost() || this.members.hostMayReturn ? 'guest' : 'host');
    const session = new MediaSession(id, this.#options.rtc, options.media);
    const participant = new Participant(id, grant.name ?? member?.name ?? name, session, {
      identity: grant.identity,
      role,
      canPublish: grant.canPublish,
      mayBecomeHost,
    });
    if (options.card && hasCard(options.card)) participant.card = options.card;
    participant.rejoinToken = this.members.add(id, {
      name: participant.name,
      role,
      mayBecomeHost,
      ...(grant.identity !== undefined ? { identity: grant.identity } : {}),
    });
    this.#wire(participant);
    participant.attach(sink);

    const others = [...this.participants.values()];
    this.participants.set(id, participant);
    participant.send(this.#joined(participant, false, rid));
    this.broadcast({ type: 'participantJoined', participant: participant.info }, participant);
    for (const message of this.board.welcome()) this.#sendBoard(message, undefined, participant);
    for (const other of others) for (const { track } of other.tracks.values()) session.subscribe(track);
    this.#log.info(
      {
        room: this.name,
        participant: id,
        name: participant.name,
        identity: grant.identity,
        role,
        ...(member ? { rejoined: true } : {}),
      },
      'participant joined',
    );
    this.joinCount++;
    this.emit('participantJoined', participant);
    this.emit('stateChanged');
    return participant;
  }

  /**
   * One of the audience: the room's lock and password apply, the participant limit does not (the
   * viewer limit does). It gets every track and what the room says, publishes nothing, and nobody is
   * told it came or went but for the count (`viewers`).
   */
  #joinViewer(
    name: string,
    sink: SignalSink,
    rid: string | number | undefined,
    grant: JoinGrant,
    options: JoinOptions,
  ): Participant {
    this.access.admit(grant, options.passwordChecked ?? false, false);
    const max = this.#options.maxViewers;
    if (this.viewers.size >= max)
      throw new CodedError('VIEWERS_FULL', `The room has as many viewers as it takes (${max})`);
    const id = newParticipantId();
    const session = options.viewerMedia ?? new MediaSession(id, this.#options.rtc, options.media);
    const viewer = new Participant(id, grant.name ?? name, session, {
      identity: grant.identity,
      role: 'viewer',
      canPublish: false,
      mayBecomeHost: false,
    });
    this.#wire(viewer);
    viewer.attach(sink);
    this.viewers.set(id, viewer);
    viewer.send(this.#joined(viewer, false, rid));
    for (const p of this.participants.values())
      for (const { track } of p.tracks.values()) session.subscribe(track);
    this.#log.debug({ room: this.name, participant: id, identity: grant.identity }, 'viewer joined');
    this.emit('viewerJoined', viewer);
    this.#viewersChanged();
    return viewer;
  }

  /** Tells everyone the audience's size, at most once a VIEWER_COUNT_MS. */
  #viewersChanged(): void {
    if (this.#viewerCountTimer || this.closed) return;
    this.#viewerCountTimer = setTimeout(() => {
      this.#viewerCountTimer = undefined;
      if (!this.closed) this.broadcast({ type: 'viewers', count: this.viewers.size });
    }, VIEWER_COUNT_MS);
  }

  /** Published tracks that receive nothing although their publisher is connected (the stall watchdog). */
  get stalledTracks(): number {
    let n = 0;
    for (const p of this.participants.values())
      for (const { track } of p.tracks.values()) if (track.stalled) n++;
    return n;
  }

  /** Takes back a participant whose signaling dropped, on a new connection. */
  resume(participant: Participant, sink: SignalSink, rid?: string | number): void {
    this.#assertOpen();
    participant.attach(sink);
    participant.send(this.#joined(participant, true, rid));
    if (participant.role !== 'viewer')
      for (const message of this.board.welcome()) this.#sendBoard(message, undefined, participant);
    const pending = participant.session.pendingSubscriberOffer;
    if (pending) participant.send(this.#offerMessage(pending));
  }

  /**
   * The reply to a join or a resume: who `p` is and who else is in the call. A viewer is not one of the
   * room's members: no rejoin token, no files.
   */
  #joined(p: Participant, resumed: boolean, rid: string | number | undefined): ServerMessage {
    const viewer = p.role === 'viewer';
    return {
      type: 'joined',
      v: 1,
      room: this.name,
      self: { id: p.id, name: p.name, role: p.role, canPublish: p.canPublish },
      roomState: this.roomState,
      resumeToken: p.resumeToken,
      rejoinToken: viewer ? '' : p.rejoinToken,
      fileToken: p.fileToken,
      files: viewer ? [] : this.files.visibleTo(p.id),
      ...this.#iceServers(p),
      ...(this.#options.cluster && this.#options.cluster.nodes.length > 1
        ? { nodes: [...this.#options.cluster.nodes] }
        : {}),
      resumed,
      participants: [...this.participants.values()].filter((other) => other !== p).map((other) => other.info),
      chat: this.chat,
      viewers: this.viewers.size,
      ...(rid !== undefined ? { rid } : {}),
    };
  }

  /** A subscriber offer, each track named with the participant who publishes it. */
  #offerMessage(offer: SubscriberOffer): ServerMessage {
    return {
      type: 'offer',
      sdp: offer.sdp,
      tracks: offer.tracks.map((t) => ({ ...t, participantId: this.#trackOwner.get(t.trackId) ?? '' })),
    };
  }

  /** Ties a new participant's or viewer's media session and signaling to the room. */
  #wire(participant: Participant): void {
    const { session, id } = participant;
    session.on('subscriberOffer', (offer) => participant.send(this.#offerMessage(offer)));
    session.on('connectionState', (role, state) => this.#onPeerState(participant, role, state));
    session.on('trackStalled', (track, stalled) => {
      const info = participant.tracks.get(track.id)?.info;
      const fields = { room: this.name, participant: id, track: track.id, source: info?.source };
      if (stalled) this.#log.warn(fields, 'track stalled: no packets while its publisher is connected');
      else this.#log.info(fields, 'track flowing again');
    });
    participant.on('detached', () => this.#onDetached(participant));
    participant.on('attached', () => this.#onAttached(participant));
    participant.on('closed', (reason) => this.#onClosed(participant, reason));
  }

  /** Applies a publisher offer; returns the answer and which track id each mid now carries. */
  async publish(
    participant: Participant,
    sdp: string,
    requests: PublishRequest[],
  ): Promise<Extract<ServerMessage, { type: 'answer' }>> {
    this.#assertOpen();
    if (requests.length > 0 && !participant.canPublish) throw new CodedError('PUBLISH_NOT_ALLOWED');
    if (requests.length > this.#options.tracksPerParticipant) throw new CodedError('TOO_MANY_TRACKS');
    let result: Awaited<ReturnType<MediaSession['publish']>>;
    try {
      result = await participant.session.publish(
        sdp,
        requests.map((r) => r.mid),
      );
    } catch (error) {
      if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
      throw error;
    }
    if (participant.closed) throw new InvalidStateError(`participant ${participant.id} has left`);
    const byMid = new Map(requests.map((r) => [r.mid, r]));
    for (const track of result.removed) {
      const wasScreen = participant.tracks.get(track.id)?.info.source === 'screen';
      if (this.#trackGone(participant, track.id) && wasScreen) this.#screenEnded(participant);
    }
    for (const track of result.added) {
      const request = result.tracks.find((t) => t.track === track)!;
      const { source, muted } = byMid.get(request.mid)!;
      this.#addTrack(participant, track, source, muted);
    }
    return {
      type: 'answer',
      sdp: result.sdp,
      tracks: result.tracks.map(({ mid, track }) => ({ mid, trackId: track.id })),
    };
  }

  /**
   * Publishes a track whose media the server produces for this participant (a SIP caller's voice, as
   * Opus). Everyone else is subscribed to it as to any other track.
   */
  publishLocal(participant: Participant, track: PublishedTrack, source: TrackSource, muted = false): void {
    this.#assertOpen();
    if (participant.closed) throw new InvalidStateError(`participant ${participant.id} has left`);
    if (!participant.canPublish) throw new CodedError('PUBLISH_NOT_ALLOWED');
    if (participant.tracks.size >= this.#options.tracksPerParticipant)
      throw new CodedError('TOO_MANY_TRACKS');
    this.#addTrack(participant, track, source, muted);
    track.on('closed', () => {
      if (!participant.closed) this.#trackGone(participant, track.id);
    });
  }

  /**
   * A track of `participant` ended: everyone is told, once (false: it was gone already, e.g. taken down
   * when they went back to the audience, before their offer without it arrived).
   */
  #trackGone(participant: Participant, trackId: string): boolean {
    if (!participant.tracks.delete(trackId)) return false;
    this.#trackOwner.delete(trackId);
    this.broadcast({ type: 'trackUnpublished', participantId: participant.id, trackId }, participant);
    this.emit('trackUnpublished', participant, trackId);
    return true;
  }

  #addTrack(participant: Participant, track: PublishedTrack, source: TrackSource, muted: boolean): void {
    const info: TrackInfo = { id: track.id, kind: track.kind, source, muted, codec: track.mimeType };
    participant.tracks.set(track.id, { info, track });
    this.#trackOwner.set(track.id, participant.id);
    this.broadcast({ type: 'trackPublished', participantId: participant.id, track: info }, participant);
    this.emit('trackPublished', participant, info);
    // Simulcast: the publisher stops sending the layers nobody is sent, and sends them again when wanted.
    if (track.simulcast)
      track.on('layersActive', (active) => participant.send({ type: 'layers', trackId: track.id, active }));
    for (const other of this.participants.values()) if (other !== participant) other.session.subscribe(track);
    for (const viewer of this.viewers.values()) viewer.session.subscribe(track);
  }

  setMuted(participant: Participant, trackId: string, muted: boolean): void {
    const entry = participant.tracks.get(trackId);
    if (!entry) throw new CodedError('TRACK_NOT_FOUND', `You have no track ${trackId}`);
    // A participant may always unmute itself, also after a host muted it (docs/SECURITY.md): forwarding
    // resumes, and a video subscriber needs a keyframe to show a picture again.
    if (!muted && entry.track.paused) {
      entry.track.paused = false;
      entry.track.requestKeyframes();
    }
    if (entry.info.muted === muted) return;
    entry.info.muted = muted;
    this.broadcast({ type: 'trackMuted', participantId: participant.id, trackId, muted }, participant);
    this.emit('trackMuted', participant, trackId, muted);
  }

  /**
   * Host control: stops forwarding one track of a participant, or all its audio tracks, and tells
   * everyone, the muted participant included (its client then mutes locally as well).
   */
  hostMute(by: Actor, participantId: string, trackId?: string): void {
    this.#assertHost(by);
    const target = this.#participant(participantId);
    let entries = [...target.tracks.values()].filter((e) => e.track.kind === 'audio');
    if (trackId !== undefined) {
      const entry = target.tracks.get(trackId);
      if (!entry) throw new CodedError('TRACK_NOT_FOUND', `${target.name} has no track ${trackId}`);
      entries = [entry];
    }
    const byId = actorId(by);
    for (const { track, info } of entries) {
      track.paused = true;
      info.muted = true;
      this.broadcast({
        type: 'trackMuted',
        participantId: target.id,
        trackId: track.id,
        muted: true,
        by: byId,
      });
      this.emit('trackMuted', target, track.id, true);
    }
    this.#log.info({ room: this.name, participant: target.id, by: byId }, 'participant muted by host');
  }

  /**
   * Host control: removes a participant. Its token identity, if it had one, may not come back until the
   * room ends; without a token there is nothing to keep out, so lock the room as well.
   */
  async removeParticipant(by: Actor, participantId: string): Promise<void> {
    this.#assertHost(by);
    const target = this.#participant(participantId);
    this.access.remember(target.identity);
    target.send({ type: 'bye', reason: 'removed by a host' });
    this.#log.info({ room: this.name, participant: target.id, by: actorId(by) }, 'removed');
    await target.close('removed');
  }

  /** Host control: shows the room in the server's directory with `topic`, or takes it out. */
  setListed(by: Actor, listed: boolean, topic: string | undefined): void {
    this.#assertHost(by);
    const newTopic = listed ? topic : undefined;
    if (this.access.listed === listed && this.access.topic === newTopic) return;
    this.access.listed = listed;
    this.access.topic = newTopic;
    this.broadcast({ type: 'roomState', ...this.roomState, by: actorId(by) });
    this.emit('stateChanged');
  }

  setLocked(by: Actor, locked: boolean): void {
    this.#assertHost(by);
    if (this.access.locked === locked) return;
    this.access.locked = locked;
    this.broadcast({ type: 'roomState', ...this.roomState, by: actorId(by) });
    this.emit('stateChanged');
  }

  /** Host control: sets (or with null removes) the room password. Token holders never need it. */
  async setPassword(by: Actor, password: string | null): Promise<void> {
    this.#assertHost(by);
    await this.access.setPassword(password);
    this.broadcast({ type: 'roomState', ...this.roomState, by: actorId(by) });
    this.emit('stateChanged');
  }

  /** Throws NOT_HOST unless `by` may use host controls. Ending a room is the registry's, after this check. */
  assertHost(by: Actor): void {
    this.#assertHost(by);
  }

  #assertHost(by: Actor): void {
    this.#assertOpen();
    if (by !== 'admin' && (by.closed || by.role !== 'host' || this.participants.get(by.id) !== by))
      throw new CodedError('NOT_HOST');
  }

  #participant(id: string): Participant {
    const p = this.participants.get(id);
    if (!p) throw new CodedError('PARTICIPANT_NOT_FOUND', `No participant ${id} in this room`);
    return p;
  }

  #hasHost(): boolean {
    for (const p of this.participants.values()) if (p.role === 'host') return true;
    return false;
  }

  /** Open mode: when the last host leaves, the longest-present participant without a role of its own hosts. */
  #passOnHost(): void {
    if (this.closed || this.#hasHost()) return;
    let next: Participant | undefined;
    for (const p of this.participants.values())
      if (p.mayBecomeHost && (!next || p.joinedAt < next.joinedAt)) next = p;
    if (!next) return;
    next.role = 'host';
    this.members.setRole(next.id, 'host');
    this.emit('stateChanged');
    this.broadcast({ type: 'participantRole', participantId: next.id, role: 'host' });
    this.#log.info({ room: this.name, participant: next.id }, 'host role passed on');
  }

  /**
   * Replaces a participant's calling card (null or an empty card removes it) and tells everyone. A card
   * may change `CARD_CHANGES_PER_MINUTE` times a minute: each change goes to the whole room.
   */
  setCard(participant: Participant, card: ParticipantCard | null): void {
    this.#assertOpen();
    if (!participant.takeCardChange()) throw new CodedError('CARD_RATE_LIMITED');
    const next = card && hasCard(card) ? card : undefined;
    participant.card = next;
    this.broadcast({ type: 'participantCard', participantId: participant.id, card: next ?? null });
  }

  /** What everyone in the room is told of it: its access (lock, password, listing) and the spotlight. */
  get roomState(): RoomAccessState {
    return {
      ...this.access.state,
      ...(this.#spotlight ? { spotlight: this.#spotlight } : {}),
      ...(this.#recording ? { recording: { since: this.#recording.since } } : {}),
      ...(this.#boardLocked ? { boardLocked: true } : {}),
      ...(this.#annotationOff.size > 0 ? { annotationOff: [...this.#annotationOff] } : {}),
    };
  }

  /** The recording in progress, if any. */
  get recording(): { id: string; since: number } | undefined {
    return this.#recording;
  }

  /**
   * A recording started (`recording` set) or stopped (undefined, with why): everyone hears `recording`
   * and the `roomState` that carries the indicator. Who may record is the host's door's question.
   */
  setRecording(
    recording: { id: string; since: number } | undefined,
    by: Actor | undefined,
    stopped?: { reason: string; error?: string },
  ): void {
    const previous = this.#recording;
    this.#recording = recording;
    const id = recording?.id ?? previous?.id;
    if (id === undefined || this.closed) return;
    this.broadcast({
      type: 'recording',
      state: recording ? 'started' : 'stopped',
      id,
      ...(by !== undefined ? { by: actorId(by) } : {}),
      ...(stopped ? { reason: stopped.reason } : {}),
      ...(stopped?.error !== undefined ? { error: stopped.error } : {}),
    });
    this.broadcast({
      type: 'roomState',
      ...this.roomState,
      ...(by !== undefined ? { by: actorId(by) } : {}),
    });
  }

  /** Host control: shows `participantId` large to everyone (null ends the spotlight). */
  setSpotlight(by: Actor, participantId: string | null): void {
    this.#assertHost(by);
    if (participantId !== null) this.#participant(participantId);
    const next = participantId ?? undefined;
    if (this.#spotlight === next) return;
    this.#spotlight = next;
    this.broadcast({ type: 'roomState', ...this.roomState, by: actorId(by) });
  }

  /** Raises or lowers `participant`'s own hand; a raised hand joins the end of the queue. */
  raiseHand(participant: Participant, raised: boolean): void {
    this.#assertOpen();
    if (raised === (participant.hand !== undefined)) return;
    participant.hand = raised ? ++this.#handSeq : undefined;
    this.broadcast({
      type: 'hand',
      participantId: participant.id,
      raised,
      ...(participant.hand !== undefined ? { hand: participant.hand } : {}),
      // Nobody knows a viewer by id: their hand comes with their name.
      ...(participant.role === 'viewer' ? { name: participant.name } : {}),
    });
  }

  /**
   * Host control: brings a viewer on stage (a guest who may publish, announced to everyone; their hand
   * goes down) or sends a participant back to the audience (their tracks end, they leave the call
   * and watch on). The person moved is told with `stage`.
   */
  setOnStage(by: Actor, participantId: string, onStage: boolean): void {
    this.#assertHost(by);
    if (onStage) {
      const viewer = this.viewers.get(participantId);
      if (!viewer) {
        if (this.participants.has(participantId)) return;
        throw new CodedError('PARTICIPANT_NOT_FOUND', `No viewer ${participantId} watches this room`);
      }
      if (this.participants.size >= this.#options.maxParticipants) throw new CodedError('ROOM_FULL');
      this.#comeOnStage(viewer);
    } else {
      const participant = this.participants.get(participantId);
      if (!participant) {
        if (this.viewers.has(participantId)) return;
        throw new CodedError('PARTICIPANT_NOT_FOUND', `No participant ${participantId} in this room`);
      }
      if (participant.role === 'host' || participant === by)
        throw new CodedError('BAD_REQUEST', 'A host stays on stage: hand the role on first');
      this.#goToAudience(participant);
    }
  }

  #comeOnStage(viewer: Participant): void {
    this.viewers.delete(viewer.id);
    viewer.role = 'guest';
    viewer.canPublish = true;
    viewer.hand = undefined;
    this.broadcast({ type: 'hand', participantId: viewer.id, raised: false }, viewer);
    viewer.rejoinToken = this.members.add(viewer.id, {
      name: viewer.name,
      role: 'guest',
      mayBecomeHost: false,
      ...(viewer.identity !== undefined ? { identity: viewer.identity } : {}),
    });
    this.participants.set(viewer.id, viewer);
    viewer.send({
      type: 'stage',
      onStage: true,
      role: 'guest',
      canPublish: true,
      rejoinToken: viewer.rejoinToken,
      files: this.files.visibleTo(viewer.id),
    });
    for (const message of this.board.welcome()) this.#sendBoard(message, undefined, viewer);
    this.broadcast({ type: 'participantJoined', participant: viewer.info }, viewer);
    this.#log.info({ room: this.name, participant: viewer.id }, 'viewer came on stage');
    this.emit('viewerLeft', viewer, 'left');
    this.emit('participantJoined', viewer);
    this.#viewersChanged();
    this.emit('stateChanged');
  }

  #goToAudience(participant: Participant): void {
    // What they sent ends for everyone; their connection stays, now to watch.
    for (const [trackId, { track }] of [...participant.tracks]) {
      this.#trackGone(participant, trackId);
      track.close();
    }
    this.participants.delete(participant.id);
    this.board.leave(participant.id);
    this.#screenEnded(participant, true);
    participant.hand = undefined;
    participant.role = 'viewer';
    participant.canPublish = false;
    this.members.leave(participant.id, true);
    participant.rejoinToken = '';
    this.viewers.set(participant.id, participant);
    this.broadcast(
      { type: 'participantLeft', participantId: participant.id, reason: 'audience' },
      participant,
    );
    if (this.#spotlight === participant.id) {
      this.#spotlight = undefined;
      this.broadcast({ type: 'roomState', ...this.roomState });
    }
    participant.send({ type: 'stage', onStage: false, role: 'viewer', canPublish: false });
    this.#log.info({ room: this.name, participant: participant.id }, 'participant went back to the audience');
    this.emit('participantLeft', participant, 'audience');
    this.emit('viewerJoined', participant);
    this.#viewersChanged();
    this.emit('stateChanged');
  }

  /** Host control: lowers someone's hand (they were heard, or it was forgotten up). */
  lowerHand(by: Actor, participantId: string): void {
    this.#assertHost(by);
    const target = this.viewers.get(participantId) ?? this.#participant(participantId);
    if (target.hand === undefined) return;
    target.hand = undefined;
    this.broadcast({
      type: 'hand',
      participantId: target.id,
      raised: false,
      by: actorId(by),
    });
  }

  /** A reaction floats over the sender's tile for everyone; TOO_MANY_REACTIONS past the rate. */
  react(participant: Participant, emoji: Reaction): void {
    this.#assertOpen();
    if (!participant.takeReaction()) throw new CodedError('TOO_MANY_REACTIONS');
    this.broadcast({ type: 'reaction', participantId: participant.id, emoji });
  }

  /** A whiteboard message from `participant` (base64 y-protocols); what answers it goes back to them. */
  boardMessage(participant: Participant, data: string): void {
    this.#assertOpen();
    const mayWrite = !this.#boardLocked || participant.role === 'host';
    const replies = this.board.receive(participant.id, Buffer.from(data, 'base64'), mayWrite);
    for (const reply of replies) this.#sendBoard(reply, undefined, participant);
  }

  /** Host control: guests may only look at the whiteboard (or may draw again). */
  lockBoard(by: Actor, locked: boolean): void {
    this.#assertHost(by);
    if (this.#boardLocked === locked) return;
    this.#boardLocked = locked;
    this.broadcast({ type: 'roomState', ...this.roomState, by: actorId(by) });
  }

  /** Host control: empties the whiteboard for everyone. */
  clearBoard(by: Actor): void {
    this.#assertHost(by);
    this.board.clear();
    this.broadcast({ type: 'boardCleared', by: actorId(by) });
  }

  /**
   * Lets others draw over `participantId`'s shared screen, or not (then only they may): the presenter's
   * own choice, or a host's for anyone. Everyone hears `roomState` with `annotationOff`.
   */
  allowAnnotation(by: Participant, participantId: string | undefined, allowed: boolean): void {
    this.#assertOpen();
    const target = this.#presenter(by, participantId);
    if (allowed === !this.#annotationOff.has(target.id)) return;
    if (allowed) this.#annotationOff.delete(target.id);
    else this.#annotationOff.add(target.id);
    this.board.closeLayer(annotationLayer(target.id), target.id, !allowed);
    this.broadcast({ type: 'roomState', ...this.roomState, by: by.id });
  }

  /** Takes every drawing off `participantId`'s shared screen: the presenter's choice, or a host's. */
  clearAnnotation(by: Participant, participantId: string | undefined): void {
    this.#assertOpen();
    this.board.clearLayer(annotationLayer(this.#presenter(by, participantId).id));
  }

  /** Whose screen a request is about: the sender's own, or (hosts only) someone else's. */
  #presenter(by: Participant, participantId: string | undefined): Participant {
    if (participantId === undefined || participantId === by.id) return by;
    this.#assertHost(by);
    return this.#participant(participantId);
  }

  /** `participant` no longer shares a screen: the drawings over it go, and annotation is allowed again. */
  #screenEnded(participant: Participant, left = false): void {
    if (!left && [...participant.tracks.values()].some((t) => t.info.source === 'screen')) return;
    this.board.clearLayer(annotationLayer(participant.id));
    this.board.closeLayer(annotationLayer(participant.id), participant.id, false);
    if (this.#annotationOff.delete(participant.id) && !this.closed)
      this.broadcast({ type: 'roomState', ...this.roomState });
  }

  /** Credentials for the room's TURN server, if it has one: good for its `ttlSeconds` from now. */
  #iceServers(participant: Participant): { iceServers?: IceServer[] } {
    const turn = this.#options.turn;
    return turn ? { iceServers: [turnCredentials(turn, participant.id)] } : {};
  }

  /** A whiteboard message to `to`, or to everyone but the participant `except`. */
  #sendBoard(message: Uint8Array, except: string | undefined, to?: Participant): void {
    const out: ServerMessage = { type: 'board', data: Buffer.from(message).toString('base64') };
    if (to) return to.send(out);
    this.broadcast(out, except === undefined ? undefined : this.participants.get(except));
  }

  /** The participant whose file token this is (HTTP's door to the room's files); undefined: nobody here. */
  participantByFileToken(token: string): Participant | undefined {
    for (const p of this.participants.values()) if (p.fileToken === token) return p;
    return undefined;
  }

  /** A file is complete: whoever may fetch it hears `file` (everyone, or its sender and its one recipient). */
  announceFile(file: SharedFile): void {
    const message: ServerMessage = { type: 'file', file };
    if (file.to === undefined) return this.broadcast(message);
    for (const id of new Set([file.from, file.to])) this.participants.get(id)?.send(message);
  }

  postChat(participant: Participant, text: string): ChatMessage {
    const message: ChatMessage = {
      id: randomBytes(6).toString('base64url'),
      participantId: participant.id,
      name: participant.name,
      text,
      ts: Date.now(),
    };
    this.chat.push(message);
    if (this.chat.length > this.#options.chatHistory)
      this.chat.splice(0, this.chat.length - this.#options.chatHistory);
    this.broadcast({ type: 'chat', message });
    return message;
  }

  /**
   * Sends a message to every connected participant except `except`, serialized once: when many join a
   * large room at once, each join is announced to everyone already there.
   */
  broadcast(message: ServerMessage, except?: Participant): void {
    const toViewers = this.viewers.size > 0 && !NOT_FOR_VIEWERS.has(message.type);
    if (this.participants.size === 0 && !toViewers) return;
    const json = JSON.stringify(message);
    for (const p of this.participants.values()) if (p !== except) p.send(message, json);
    if (toViewers) for (const v of this.viewers.values()) if (v !== except) v.send(message, json);
  }

  leave(participant: Participant, reason: LeaveReason): Promise<void> {
    return participant.close(reason);
  }

  #onDetached(participant: Participant): void {
    if (participant.role !== 'viewer')
      this.broadcast(
        { type: 'participantState', participantId: participant.id, state: 'reconnecting' },
        participant,
      );
    const timer = setTimeout(() => {
      this.#resumeTimers.delete(participant.id);
      void participant.close('timeout');
    }, this.#options.resumeWindowMs);
    this.#resumeTimers.set(participant.id, timer);
  }

  #onAttached(participant: Participant): void {
    const timer = this.#resumeTimers.get(participant.id);
    if (!timer) return;
    clearTimeout(timer);
    this.#resumeTimers.delete(participant.id);
    if (participant.state !== 'connected' || participant.role === 'viewer') return;
    this.broadcast(
      { type: 'participantState', participantId: participant.id, state: 'connected' },
      participant,
    );
  }

  /**
   * A peer connection whose ICE consent expired (RFC 7675 §5.1: no answer to the checks for 30 s) is
   * dead until ICE restarts: the SFU restarts the subscriber connection, the client the publisher
   * connection. Meanwhile the others see the participant `reconnecting`; if its media is not back within
   * the resume window, the session ends and the client is told it may join again.
   */
  #onPeerState(participant: Participant, role: 'publisher' | 'subscriber', state: string): void {
    this.#log.debug({ participant: participant.id, role, state }, 'peer state');
    if (participant.closed) return;
    const id = participant.id;
    if (state === 'failed' && !this.#mediaTimers.has(id)) {
      this.#log.warn(
        { room: this.name, participant: id, role, resumeWindowMs: this.#options.resumeWindowMs },
        'media connection lost; waiting for an ICE restart',
      );
      const wasConnected = participant.state === 'connected';
      participant.mediaLost = true;
      const timer = setTimeout(() => {
        this.#mediaTimers.delete(id);
        this.#log.warn(
          { room: this.name, participant: id },
          'media connection not back in time; session ended',
        );
        participant.send({ type: 'bye', reason: 'media connection lost', rejoin: true });
        void participant.close('timeout');
      }, this.#options.resumeWindowMs);
      this.#mediaTimers.set(id, timer);
      if (wasConnected && participant.role !== 'viewer')
        this.broadcast({ type: 'participantState', participantId: id, state: 'reconnecting' }, participant);
      return;
    }
    const session = participant.session;
    const up = (r: 'publisher' | 'subscriber') => ['new', 'connected'].includes(session.connectionState(r));
    if (state !== 'connected' || !this.#mediaTimers.has(id) || !up('publisher') || !up('subscriber')) return;
    clearTimeout(this.#mediaTimers.get(id));
    this.#mediaTimers.delete(id);
    participant.mediaLost = false;
    this.#log.info({ room: this.name, participant: id }, 'media connection back');
    if (participant.state === 'connected' && participant.role !== 'viewer')
      this.broadcast({ type: 'participantState', participantId: id, state: 'connected' }, participant);
  }

  #onClosed(participant: Participant, reason: LeaveReason): void {
    clearTimeout(this.#resumeTimers.get(participant.id));
    this.#resumeTimers.delete(participant.id);
    clearTimeout(this.#mediaTimers.get(participant.id));
    this.#mediaTimers.delete(participant.id);
    if (this.viewers.delete(participant.id)) {
      // A hand up in the audience goes down with its viewer (nobody else knows they left).
      if (participant.hand !== undefined)
        this.broadcast({ type: 'hand', participantId: participant.id, raised: false });
      this.emit('viewerLeft', participant, reason);
      this.#viewersChanged();
      if (this.participants.size === 0 && this.viewers.size === 0 && !this.closed) this.emit('empty');
      return;
    }
    this.participants.delete(participant.id);
    this.board.leave(participant.id);
    this.#screenEnded(participant, true);
    for (const trackId of participant.tracks.keys()) this.#trackOwner.delete(trackId);
    // Closing its published tracks closed every DownTrack of them; the subscribers renegotiate.
    this.broadcast({ type: 'participantLeft', participantId: participant.id, reason });
    if (this.#spotlight === participant.id) {
      // The spotlight goes out with the person in it.
      this.#spotlight = undefined;
      this.broadcast({ type: 'roomState', ...this.roomState });
    }
    this.#log.info({ room: this.name, participant: participant.id, reason }, 'participant left');
    this.emit('participantLeft', participant, reason);
    // Who left or was removed is forgotten; who was cut off (or whose room closed) may rejoin.
    this.members.leave(participant.id, reason === 'left' || reason === 'removed');
    this.emit('stateChanged');
    if (participant.role === 'host') this.#passOnHost();
    if (this.participants.size === 0 && this.viewers.size === 0 && !this.closed) this.emit('empty');
  }

  #assertOpen(): void {
    if (this.closed) throw new InvalidStateError(`room ${this.name} is closed`);
  }

  /** Ends the room. `rejoinAfterMs`: the server is restarting; everyone is told to join again after it. */
  async close(reason = 'room closed', rejoinAfterMs?: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.access.close();
    clearTimeout(this.#hostReturnTimer);
    clearTimeout(this.#viewerCountTimer);
    const participants = [...this.participants.values(), ...this.viewers.values()];
    const bye: ServerMessage = {
      type: 'bye',
      reason,
      ...(rejoinAfterMs !== undefined ? { rejoinAfterMs } : {}),
    };
    for (const p of participants) p.send(bye);
    await Promise.all(participants.map((p) => p.close('closed')));
    this.emit('closed', rejoinAfterMs !== undefined);
    this.board.close();
    this.removeAllListeners();
  }
}
