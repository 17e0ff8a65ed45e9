import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { addressKey } from '../common/address.js';
import { CodedError, InvalidStateError } from '../common/errors.js';
import { SlidingWindow } from '../common/SlidingWindow.js';
import type { Config } from '../config/config.js';
import { roomFilesDir } from '../files/paths.js';
import { mediaLines } from '../media/mediaLines.js';
import type { LeaveReason, SharedFile } from '../protocol/messages.js';
import { Recording } from '../recording/Recording.js';
import { takeSnapshot } from '../recording/snapshot.js';
import { newRecordingId, type RecordingMeta } from '../recording/store.js';
import type { Participant } from '../room/Participant.js';
import type { Actor, ClusterNodes, Room } from '../room/Room.js';
import { RoomRegistry } from '../room/RoomRegistry.js';
import {
  ConnectDeadline,
  MediaSession,
  type ParticipantMedia,
  type PeerRole,
  SdpError,
} from '../sfu/index.js';
import type {
  ActivityParticipant,
  AdminAction,
  AnswerMessage,
  DirectoryEntry,
  FileUpload,
  JoinRequest,
  Member,
  MemberAction,
  MemberKind,
  MemberSink,
  ParticipantSummary,
  PlayRequest,
  PublishTrack,
  RemoteCandidate,
  ResumeRequest,
  RoomActivity,
  RoomDetail,
  RoomHost,
  RoomSummary,
} from './RoomHost.js';
import { RoomMixes } from './whep/RoomMix.js';
import { WhepSession } from './whep/WhepSession.js';
import { preferRoomCodecs, sourceCodecs } from './whep/whepCodecs.js';

/**
 * The room host whose rooms live on this thread: the door's in-process side. A room worker runs one, and
 * so does a server without workers. It owns the rooms (`RoomRegistry`) and what each kind of member needs
 * of them: connect deadlines, a WHEP player's choice of what to play, a phone's audio.
 */
export class LocalRoomHost implements RoomHost {
  readonly registry: RoomRegistry;
  /** In a cluster, the nodes its clients may reconnect to (`joined.nodes`): set by the room service. */
  readonly cluster: ClusterNodes = { nodes: [] };
  /** The rooms' audio mixes for WHEP players (one per room, shared by its players). */
  readonly mixes = new RoomMixes();
  readonly #config: Config;
  readonly #log: Logger;
  /** The recording of each room being recorded, by room name. */
  readonly #recordings = new Map<string, Recording>();
  /** Recordings started lately in each room: each makes a folder, so a room may start only a few a minute. */
  readonly #recordingStarts = new WeakMap<Room, SlidingWindow>();

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.registry = new RoomRegistry({
      rtc: config.rtc,
      maxRooms: config.rooms.maxRooms,
      maxParticipants: config.rooms.maxParticipants,
      maxViewers: config.rooms.maxViewers,
      tracksPerParticipant: config.limits.tracksPerParticipant,
      chatHistory: config.rooms.chatHistory,
      emptyTimeoutMs: config.rooms.emptyTimeoutMs,
      resumeWindowMs: config.resumeWindowMs,
      files: config.files,
      boardMaxBytes: config.rooms.boardMaxBytes,
      ...(config.turn.secret ? { turn: { ...config.turn, secret: config.turn.secret } } : {}),
      cluster: this.cluster,
      passwordGuard: {
        freeAttempts: config.auth.passwordFreeAttempts,
        backoffMs: config.auth.passwordBackoffMs,
        backoffMaxMs: config.auth.passwordBackoffMaxMs,
        roomFailuresPerMinute: config.auth.passwordRoomAttemptsPerMinute,
      },
      ...(config.rooms.stateMaxAgeMs > 0
        ? { state: { dataDir: config.dataDir, maxAgeMs: config.rooms.stateMaxAgeMs } }
        : {}),
      log,
    });
    this.registry.on('roomCreated', (room) => this.#reportActivity(room));
    // A room's files go with it.
    this.registry.on('roomClosed', (name) => {
      rm(roomFilesDir(config.dataDir, name), { recursive: true, force: true }).catch((error) =>
        log.warn({ room: name, err: error }, 'could not delete the room’s files'),
      );
    });
  }

  directory(): DirectoryEntry[] {
    const listed: DirectoryEntry[] = [];
    for (const room of this.registry.rooms.values()) {
      const { listed: shown, topic, locked, passwordProtected } = room.access.state;
      if (!shown || room.closed) continue;
      listed.push({
        name: room.name,
        ...(topic !== undefined ? { topic } : {}),
        people: room.participants.size,
        locked,
        passwordProtected,
      });
    }
    return listed;
  }

  get load(): { rooms: number; participants: number; viewers: number } {
    const { registry } = this;
    return {
      rooms: registry.rooms.size,
      participants: registry.participantCount,
      viewers: registry.viewerCount,
    };
  }

  /** Told what happens in each room, in the order it happens there (the webhooks). */
  onActivity: ((activity: RoomActivity) => void) | undefined;

  /** Reports a recording's start, stop or readiness to `onActivity`. */
  #reportRecording(type: 'recording_started' | 'recording_stopped' | 'recording_ready', meta: RecordingMeta) {
    this.onActivity?.({
      type,
      room: meta.room,
      recording: {
        id: meta.id,
        startedBy: meta.startedBy,
        ...(meta.stopReason !== undefined ? { stopReason: meta.stopReason, bytes: meta.bytes } : {}),
        ...(meta.error !== undefined ? { error: meta.error } : {}),
        ...(meta.movie !== undefined && type === 'recording_ready' ? { movie: meta.movie.state } : {}),
      },
    });
  }

  /** Reports what happens in `room` to `onActivity`. */
  #reportActivity(room: Room): void {
    // Nobody listens (no webhooks): the rooms are not watched at all.
    if (!this.onActivity) return;
    const name = room.name;
    const who = (p: Participant): ActivityParticipant => ({
      id: p.id,
      name: p.name,
      identity: p.identity ?? null,
    });
    const say = (activity: RoomActivity) => this.onActivity?.(activity);
    // A room starts with its first participant: one made for a join that was refused never started.
    let started = false;
    room.on('participantJoined', (p) => {
      if (!started) say({ type: 'room_started', room: name });
      started = true;
      say({ type: 'participant_joined', room: name, participant: who(p) });
    });
    room.on('trackPublished', (p, track) =>
      say({ type: 'track_published', room: name, participant: who(p), track }),
    );
    room.on('trackUnpublished', (p, trackId) =>
      say({ type: 'track_unpublished', room: name, participant: who(p), trackId }),
    );
    room.on('participantLeft', (p, reason) => {
      const participant = who(p);
      for (const trackId of p.tracks.keys())
        say({ type: 'track_unpublished', room: name, participant, trackId });
      say({ type: 'participant_left', room: name, participant, reason });
    });
    room.on('closed', (restart) => {
      if (started) say({ type: 'room_finished', room: name, reason: restart ? 'restart' : 'ended' });
    });
  }

  /**
   * Told, for each participant whose media comes up, how long it took from its join to its first
   * connected peer connection (the server's metrics).
   */
  onMediaUp: ((seconds: number, kind: MemberKind | 'whep') => void) | undefined;

  /** Reports the participant's first connected peer connection to `onMediaUp`. */
  #timeMediaUp(participant: Participant, kind: MemberKind | 'whep'): void {
    const start = performance.now();
    const off = participant.session.on('connectionState', (_role, state) => {
      if (state !== 'connected') return;
      off();
      this.onMediaUp?.((performance.now() - start) / 1000, kind);
    });
    participant.on('closed', off);
  }

  async join(request: JoinRequest, sink: MemberSink): Promise<Member> {
    const { registry } = this;
    const { grant } = request;
    let passwordChecked = request.passwordChecked ?? false;
    // A restarted server's room has its password back from the state store as soon as it exists.
    const checked = registry.getOrCreate(request.room);
    if (
      request.kind === 'browser' &&
      !grant.viaToken &&
      checked.access.passwordProtected &&
      !checked.members.knows(request.rejoin, grant.identity)
    ) {
      await checked.access.checkPassword(request.password, request.address);
      passwordChecked = true;
    }
    const room = registry.getOrCreate(request.room);
    // A viewer's media may run on another worker (the room's audience spread over every core).
    const viewerMedia =
      request.kind === 'browser' && (request.viewer || grant.role === 'viewer')
        ? this.#viewerMedia(room, request.via)
        : undefined;
    // A room that ended while the password was checked is not the room it was checked for.
    let participant: Participant;
    try {
      participant = room.join(request.name, sink, request.rid, {
        ...(viewerMedia ? { viewerMedia } : {}),
        grant,
        passwordChecked: passwordChecked && room === checked,
        ...(request.rejoin !== undefined ? { rejoin: request.rejoin } : {}),
        ...(request.card !== undefined ? { card: request.card } : {}),
        ...(request.viewer ? { viewer: true } : {}),
        ...(request.kind === 'sip' ? { media: { subscriptions: 'routed' as const } } : {}),
      });
    } catch (error) {
      void viewerMedia?.close();
      throw error;
    }
    // Its media ended without it leaving (the worker it ran on stopped): it leaves.
    viewerMedia?.on('closed', () => {
      if (!participant.closed) void room.leave(participant, 'disconnected');
    });
    const member = new LocalMember(request.kind, room, participant, this);
    this.#timeMediaUp(participant, request.kind);
    if (request.kind === 'browser') this.#deadline(participant, room, 'browser');
    if (request.kind === 'whip') this.#endWhenFailed(participant, room, 'publisher');
    if (request.phone) {
      const phone = request.phone;
      const session = participant.session;
      const offs = [
        session.on('trackAvailable', (track) => track.kind === 'audio' && phone.hear(track)),
        session.on('trackUnavailable', (track) => phone.forget(track.id)),
      ];
      participant.on('closed', () => {
        for (const off of offs) off();
      });
      for (const track of session.availableTracks) if (track.kind === 'audio') phone.hear(track);
      if (phone.voice) room.publishLocal(participant, session.publishLocal(phone.voice), 'microphone');
    }
    return member;
  }

  /**
   * Where a room's viewers' media may run besides this thread: set by a room worker that has links to
   * the others (`src/workers/WorkerLink.ts`). Given the room, how many of its viewers have their media
   * here and, in a cluster, the node the viewer is connected to, it returns a session elsewhere (on that
   * node), or undefined for here.
   */
  spreadViewers:
    | ((room: string, localViewers: number, via: string | undefined) => ParticipantMedia | undefined)
    | undefined;

  #viewerMedia(room: Room, via: string | undefined): ParticipantMedia | undefined {
    if (!this.spreadViewers) return undefined;
    let local = 0;
    for (const viewer of room.viewers.values()) if (viewer.session instanceof MediaSession) local++;
    return this.spreadViewers(room.name, local, via);
  }

  resume(request: ResumeRequest, sink: MemberSink): Member {
    // The token works once: the reply carries its successor (a token seen on the wire is spent).
    const participant = this.registry.claimResumeToken(request.token, request.room);
    const room = this.registry.rooms.get(request.room);
    if (!participant || !room) throw new CodedError('RESUME_FAILED');
    this.#deadline(participant, room, 'browser');
    room.resume(participant, sink, request.rid);
    return new LocalMember('browser', room, participant, this);
  }

  async play(request: PlayRequest, sink: MemberSink): Promise<{ member: Member; answer: string }> {
    const room = this.registry.rooms.get(request.room);
    if (!room) throw new CodedError('ROOM_NOT_FOUND', `There is no room "${request.room}" to play`);
    let follow: string | undefined;
    if (request.follow !== undefined) {
      const wanted = request.follow;
      const target =
        room.participants.get(wanted) ?? [...room.participants.values()].find((p) => p.name === wanted);
      if (!target) throw new CodedError('PARTICIPANT_NOT_FOUND', `Nobody called "${wanted}" is in the room`);
      follow = target.id;
    }
    const sources = follow === undefined ? [...room.participants.values()] : [room.participants.get(follow)!];
    const { offer } = request;
    const lines = mediaLines(offer);
    let playable = preferRoomCodecs(offer, lines, 'video', sourceCodecs(sources, 'video'));
    if (follow !== undefined)
      playable = preferRoomCodecs(playable, lines, 'audio', sourceCodecs(sources, 'audio'));
    // A player is one of the room's audience: its limit is the viewers', and nobody is told it came.
    const participant = room.join(request.name, sink, undefined, {
      media: { subscriptions: 'routed' },
      grant: request.grant,
      viewer: true,
    });
    let answer: string;
    try {
      answer = await participant.session.answerSubscriberOffer(playable);
    } catch (error) {
      await participant.close('left');
      if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
      throw error;
    }
    this.#timeMediaUp(participant, 'whep');
    const session = new WhepSession({ room, participant, follow, mixes: this.mixes, log: this.#log });
    participant.on('closed', () => session.close());
    this.#endWhenFailed(participant, room, 'subscriber');
    if (follow !== undefined) {
      // Playing one person: when they leave there is nothing more to play.
      const off = room.participants.get(follow)!.on('closed', () => void participant.close('left'));
      participant.on('closed', off);
    }
    try {
      session.start();
    } catch (error) {
      // Whatever failed (the mix's Opus encoder, say), the player must not stay behind without media.
      await participant.close('left');
      throw error;
    }
    return { member: new LocalMember('whep', room, participant, this), answer };
  }

  roomSize(room: string): number | undefined {
    return this.registry.rooms.get(room)?.participants.size;
  }

  needsPin(room: string): boolean {
    return this.registry.rooms.get(room)?.access.passwordProtected ?? false;
  }

  async checkPin(room: string, pin: string, address: string): Promise<boolean> {
    const target = this.registry.rooms.get(room);
    if (!target) return false;
    try {
      await target.access.checkPassword(pin, addressKey(address));
      return true;
    } catch (error) {
      if (error instanceof CodedError) return false;
      throw error;
    }
  }

  rooms(): RoomSummary[] {
    return [...this.registry.rooms.values()].map(roomSummary);
  }

  room(name: string): RoomDetail | undefined {
    const room = this.registry.rooms.get(name);
    if (!room || room.closed) return undefined;
    return { ...roomSummary(room), people: [...room.participants.values()].map(participantSummary) };
  }

  async administer(name: string, action: AdminAction): Promise<void> {
    const room = this.#open(name);
    if (action.type === 'remove') await room.removeParticipant('admin', action.participantId);
    else room.hostMute('admin', action.participantId, action.trackId);
  }

  async closeRoom(name: string, reason: string): Promise<void> {
    this.#open(name);
    await this.registry.closeRoom(name, reason);
  }

  async startRecording(name: string): Promise<RecordingMeta> {
    return this.record(this.#open(name), 'admin');
  }

  async stopRecording(name: string): Promise<RecordingMeta> {
    return this.stopRecordingOf(this.#open(name), 'admin');
  }

  /** Starts recording `room` for `by` (a host, checked, or the admin API). */
  async record(room: Room, by: Actor): Promise<RecordingMeta> {
    room.assertHost(by);
    const settings = this.#config.recordings;
    if (!settings.enabled) throw new CodedError('RECORDING_DISABLED');
    if (this.#recordings.has(room.name)) throw new CodedError('ALREADY_RECORDING');
    let starts = this.#recordingStarts.get(room);
    if (!starts) {
      starts = new SlidingWindow(RECORDINGS_PER_MINUTE, 60_000);
      this.#recordingStarts.set(room, starts);
    }
    if (!starts.take())
      throw new CodedError('RATE_LIMITED', `At most ${RECORDINGS_PER_MINUTE} recordings a minute in a room`);
    let offClosed = () => {};
    const recording = new Recording({
      room,
      id: newRecordingId(),
      dataDir: this.#config.dataDir,
      startedBy: by === 'admin' ? 'admin' : by.id,
      maxBytes: settings.maxBytes,
      ffmpeg: settings.movie ? settings.ffmpeg : undefined,
      log: this.#log,
      onStopped: (meta) => {
        offClosed();
        if (this.#recordings.get(room.name) === recording) this.#recordings.delete(room.name);
        if (room.recording?.id === recording.id) {
          const why = meta.stopReason ?? 'stopped';
          room.setRecording(undefined, stoppedBy.get(recording), {
            reason: why,
            ...(meta.error !== undefined ? { error: meta.error } : {}),
          });
        }
        this.#reportRecording('recording_stopped', meta);
      },
      onReady: (meta) => this.#reportRecording('recording_ready', meta),
    });
    this.#recordings.set(room.name, recording);
    try {
      await recording.start();
    } catch (error) {
      this.#recordings.delete(room.name);
      await recording.stop('write failed', (error as Error).message);
      throw error;
    }
    // The room ends: so does its recording (what was recorded is kept and finished).
    offClosed = room.on(
      'closed',
      (restart) => void recording.stop(restart ? 'server stopping' : 'room ended'),
    );
    room.setRecording({ id: recording.id, since: recording.startedAt }, by);
    this.#log.info(
      { room: room.name, recording: recording.id, by: by === 'admin' ? 'admin' : by.id },
      'recording',
    );
    this.#reportRecording('recording_started', recording.meta);
    return recording.meta;
  }

  /** Stops the recording of `room` for `by` (a host, checked, or the admin API). */
  async stopRecordingOf(room: Room, by: Actor): Promise<RecordingMeta> {
    room.assertHost(by);
    const recording = this.#recordings.get(room.name);
    if (!recording) throw new CodedError('NOT_RECORDING');
    stoppedBy.set(recording, by);
    return recording.stop('stopped');
  }

  async snapshot(name: string, participantId: string, trackId?: string): Promise<Buffer> {
    const room = this.#open(name);
    const participant = room.participants.get(participantId);
    if (!participant)
      throw new CodedError('PARTICIPANT_NOT_FOUND', `Nobody with id "${participantId.slice(0, 64)}"`);
    const entries = [...participant.tracks.values()].filter((e) => e.track.kind === 'video');
    const entry =
      trackId !== undefined
        ? participant.tracks.get(trackId)
        : (entries.find((e) => e.info.source === 'camera') ?? entries[0]);
    if (!entry || entry.track.kind !== 'video')
      throw new CodedError('TRACK_NOT_FOUND', `${participant.name} has no such video`);
    return takeSnapshot(entry.track, { ffmpeg: this.#config.recordings.ffmpeg, log: this.#log });
  }

  async reserveFile(upload: FileUpload): Promise<SharedFile> {
    if (!this.#config.files.enabled) throw new CodedError('FILES_DISABLED');
    const { room, sender } = this.#fileMember(upload.room, upload.token);
    if (upload.to !== undefined && !room.participants.has(upload.to))
      throw new CodedError('PARTICIPANT_NOT_FOUND', 'The person the file is for is not in the room');
    return room.files.reserve({
      name: upload.name,
      size: upload.size,
      from: sender.id,
      fromName: sender.name,
      ...(upload.to !== undefined ? { to: upload.to } : {}),
    });
  }

  async completeFile(name: string, id: string, type: string): Promise<SharedFile> {
    const room = this.#open(name);
    const file = room.files.complete(id, type);
    room.announceFile(file);
    return file;
  }

  async releaseFile(name: string, id: string): Promise<void> {
    this.registry.rooms.get(name)?.files.release(id);
  }

  async fileFor(name: string, token: string, id: string): Promise<SharedFile> {
    const { room, sender } = this.#fileMember(name, token);
    const file = room.files.forParticipant(id, sender.id);
    if (!file) throw new CodedError('FILE_NOT_FOUND');
    return file;
  }

  async recordingFor(name: string, token: string): Promise<string> {
    const { room } = this.#fileMember(name, token);
    const recording = room.recording;
    if (!recording) throw new CodedError('NOT_RECORDING');
    return recording.id;
  }

  /** The room and the participant a file token is, or NOT_A_MEMBER (the same for a room that is not). */
  #fileMember(name: string, token: string): { room: Room; sender: Participant } {
    const room = this.registry.rooms.get(name);
    const sender = room && !room.closed ? room.participantByFileToken(token) : undefined;
    if (!room || !sender) throw new CodedError('NOT_A_MEMBER');
    return { room, sender };
  }

  /** Shuts down: recordings are stopped (their files finished), every room's people told to rejoin. */
  async close(): Promise<void> {
    await Promise.all([...this.#recordings.values()].map((r) => r.stop('server stopping')));
    return this.registry.close();
  }

  #open(name: string): Room {
    const room = this.registry.rooms.get(name);
    if (!room || room.closed) throw new CodedError('ROOM_NOT_FOUND', `No room "${name.slice(0, 64)}"`);
    return room;
  }

  /** A member without a signaling channel (WHIP, WHEP): its connection failing is the end of its session. */
  #endWhenFailed(participant: Participant, room: Room, role: PeerRole): void {
    participant.session.on('connectionState', (which, state) => {
      if (which === role && (state === 'failed' || state === 'closed'))
        void room.leave(participant, 'disconnected');
    });
    const kind = role === 'publisher' ? 'WHIP' : 'WHEP';
    const deadline = this.#deadline(participant, room, kind);
    if (role === 'subscriber') deadline.arm('subscriber');
  }

  /**
   * The participant's connect deadline, made on its first join (a resume keeps it: connections that
   * connected long ago must not start their clock again on a renegotiation). A peer connection
   * negotiated but never connected would hold its UDP socket and a place in the room. A browser's
   * subscriber clock starts with the first offer the server makes, every publisher's with its answer.
   */
  #deadline(participant: Participant, room: Room, kind: 'browser' | 'WHIP' | 'WHEP'): ConnectDeadline {
    const existing = deadlines.get(participant);
    if (existing) return existing;
    const ms = this.#config.limits.connectTimeoutMs;
    const made = new ConnectDeadline(participant.session, ms, (role: PeerRole) => {
      this.#log.info({ room: room.name, participant: participant.id, role, kind }, 'media never connected');
      const error = new CodedError(
        'CONNECT_TIMEOUT',
        `Your ${role} connection did not connect within ${ms} ms`,
      );
      participant.send({ type: 'error', code: error.code, message: error.message });
      // Leaving closes the participant's signaling connection too (it listens for `closed`).
      void room.leave(participant, 'disconnected');
    });
    deadlines.set(participant, made);
    if (kind === 'browser') {
      participant.session.on('subscriberOffer', () => made.arm('subscriber'));
      if (participant.session.pendingSubscriberOffer) made.arm('subscriber');
    }
    return made;
  }
}

const deadlines = new WeakMap<Participant, ConnectDeadline>();
/** Recordings a room may start in a minute. */
const RECORDINGS_PER_MINUTE = 6;
/** Who stopped a recording, for the `recording` message everyone hears. */
const stoppedBy = new WeakMap<Recording, Actor>();

/** A participant of a room on this thread, as its edge holds it. */
class LocalMember implements Member {
  readonly #kind: MemberKind | 'whep';
  readonly #room: Room;
  readonly #participant: Participant;
  readonly #host: LocalRoomHost;

  constructor(kind: MemberKind | 'whep', room: Room, participant: Participant, host: LocalRoomHost) {
    this.#kind = kind;
    this.#room = room;
    this.#participant = participant;
    this.#host = host;
  }

  get id(): string {
    return this.#participant.id;
  }

  get room(): string {
    return this.#room.name;
  }

  get closed(): boolean {
    return this.#participant.closed;
  }

  async publish(sdp: string, tracks: PublishTrack[]): Promise<AnswerMessage> {
    if (this.#kind === 'whep') throw new CodedError('BAD_REQUEST', 'A player publishes nothing');
    // A viewer's offer may only take down what it sent while on stage.
    if (this.#participant.role === 'viewer' && tracks.length > 0) throw new CodedError('VIEWER_CANNOT');
    const answer = await this.#room.publish(this.#participant, sdp, tracks);
    // Its connection now has `connectTimeoutMs` to connect.
    deadlines.get(this.#participant)?.arm('publisher');
    return answer;
  }

  async applyAnswer(sdp: string): Promise<void> {
    try {
      await this.#participant.session.applySubscriberAnswer(sdp);
    } catch (error) {
      if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
      throw error;
    }
  }

  async addCandidate(role: PeerRole, candidate: RemoteCandidate | null): Promise<void> {
    try {
      await this.#participant.session.addIceCandidate(role, candidate);
    } catch (error) {
      if (error instanceof SdpError) throw new CodedError('INVALID_CANDIDATE', error.message);
      throw error;
    }
  }

  async act(action: MemberAction): Promise<void> {
    const room = this.#room;
    const participant = this.#participant;
    if (participant.closed) throw new InvalidStateError(`participant ${participant.id} has left`);
    // A viewer may only raise a hand, to be brought on stage, and say how it shows what it watches.
    if (participant.role === 'viewer' && action.type !== 'raiseHand' && action.type !== 'videoSize')
      throw new CodedError('VIEWER_CANNOT');
    const ok = () =>
      participant.send({ type: 'ok', ...(action.rid !== undefined ? { rid: action.rid } : {}) });
    switch (action.type) {
      case 'mute':
        return room.setMuted(participant, action.trackId, action.muted);
      case 'videoSize':
        participant.session.setViewSize(action.trackId, action.width, action.height);
        return;
      case 'chat':
        room.postChat(participant, action.text);
        return;
      // Host controls: the room checks the role (NOT_HOST for a guest); each is answered with `ok`.
      case 'muteParticipant':
        room.hostMute(participant, action.participantId, action.trackId);
        return ok();
      case 'removeParticipant':
        await room.removeParticipant(participant, action.participantId);
        return ok();
      case 'lockRoom':
        room.setLocked(participant, action.locked);
        return ok();
      case 'listRoom':
        room.setListed(participant, action.listed, action.topic);
        return ok();
      case 'setCard':
        room.setCard(participant, action.card);
        return ok();
      case 'raiseHand':
        room.raiseHand(participant, action.raised);
        return ok();
      case 'react':
        room.react(participant, action.emoji);
        return ok();
      case 'lowerHand':
        room.lowerHand(participant, action.participantId);
        return ok();
      case 'spotlight':
        room.setSpotlight(participant, action.participantId);
        return ok();
      case 'stage':
        room.setOnStage(participant, action.participantId, action.onStage);
        return ok();
      case 'startRecording':
        await this.#host.record(room, participant);
        return ok();
      // Whiteboard updates are many and small: answered only when refused.
      case 'board':
        return room.boardMessage(participant, action.data);
      case 'lockBoard':
        room.lockBoard(participant, action.locked);
        return ok();
      case 'clearBoard':
        room.clearBoard(participant);
        return ok();
      case 'allowAnnotation':
        room.allowAnnotation(participant, action.participantId, action.allowed);
        return ok();
      case 'clearAnnotation':
        room.clearAnnotation(participant, action.participantId);
        return ok();
      case 'stopRecording':
        await this.#host.stopRecordingOf(room, participant);
        return ok();
      case 'setPassword':
        await room.setPassword(participant, action.password);
        return ok();
      case 'endRoom':
        room.assertHost(participant);
        // Answered before the room ends, while the host is still in it to hear.
        ok();
        await this.#host.registry.closeRoom(room.name, 'ended by a host');
        return;
    }
  }

  leave(reason: LeaveReason): Promise<void> {
    return this.#room.leave(this.#participant, reason);
  }

  detach(sink: MemberSink): void {
    this.#participant.detach(sink);
  }

  isAttachedTo(sink: MemberSink): boolean {
    return this.#participant.isAttachedTo(sink);
  }

  onClosed(listener: (reason: LeaveReason) => void): () => void {
    return this.#participant.on('closed', listener);
  }
}

function roomSummary(room: Room): RoomSummary {
  return {
    name: room.name,
    participants: room.participants.size,
    viewers: room.viewers.size,
    stalledTracks: room.stalledTracks,
    ...room.access.state,
    createdAt: new Date(room.createdAt).toISOString(),
    ...(room.recording ? { recordingSince: new Date(room.recording.since).toISOString() } : {}),
  };
}

function participantSummary(p: Participant): ParticipantSummary {
  return {
    id: p.id,
    name: p.name,
    identity: p.identity ?? null,
    role: p.role,
    canPublish: p.canPublish,
    state: p.state,
    joinedAt: new Date(p.joinedAt).toISOString(),
    tracks: [...p.tracks.values()].map(({ info, track }) => ({
      ...info,
      paused: track.paused,
      stalled: track.stalled,
      ...(track.simulcast ? { layers: track.layers.map((layer) => ({ ...layer })) } : {}),
    })),
  };
}
