import type { JoinGrant } from '../auth/authorizeJoin.js';
import type {
  ClientMessage,
  LeaveReason,
  ParticipantCard,
  ParticipantRole,
  PcTarget,
  ServerMessage,
  SharedFile,
  TrackInfo,
  TrackSource,
} from '../protocol/messages.js';
import type { RecordingMeta } from '../recording/store.js';
import type { LayerInfo, PublishedTrack, RtpListener, RtpSource } from '../sfu/index.js';

/**
 * The door into rooms: the only way the edges (WebSocket signaling, WHIP, WHEP, SIP, the admin API) reach
 * a room. Everything that crosses it is plain data (strings, numbers, the protocol's messages), so the
 * same calls can be served by rooms on this thread (`LocalRoomHost`), on a worker thread or on another
 * machine. The two exceptions are named where they occur: the sink a member's messages go to, and a
 * phone call's audio, which runs where its room runs.
 */
export interface RoomHost {
  /**
   * Joins a room, made by this first join if it does not exist yet. A browser's join checks the room
   * password (unless its token or rejoin token vouches for it); the other kinds come in with what their
   * door already checked. Refusals throw a `CodedError` from the catalog.
   */
  join(request: JoinRequest, sink: MemberSink): Promise<Member>;
  /** Takes back a browser whose connection dropped, by its resume token (spent by this call). */
  resume(request: ResumeRequest, sink: MemberSink): Member;
  /** Plays a room, or one person in it, to a WHEP player: joins it as a viewer and answers its offer. */
  play(request: PlayRequest, sink: MemberSink): Promise<{ member: Member; answer: string }>;
  /** The size of a room, undefined when there is none (a phone's early "room full" or "no such room"). */
  roomSize(room: string): number | undefined;
  /** Whether a caller without a token must enter a PIN (the room password) to come into `room`. */
  needsPin(room: string): boolean;
  /** True for the right PIN, false for a wrong one (with the room's slowdown of guesses). */
  checkPin(room: string, pin: string, address: string): Promise<boolean>;
  /** Rooms as the admin API shows them. */
  rooms(): RoomSummary[];
  /** One room with its people, undefined when there is none. */
  room(name: string): RoomDetail | undefined;
  /** The rooms their hosts listed, as the home page shows them (names no person). */
  directory(): DirectoryEntry[];
  /** A host control by the administrator: remove or mute someone (throws ROOM_NOT_FOUND and the like). */
  administer(room: string, action: AdminAction): Promise<void>;
  /** Ends a room: everyone in it hears `bye` with `reason` and leaves. */
  closeRoom(room: string, reason: string): Promise<void>;
  /**
   * Starts recording a room for the administrator (ROOM_NOT_FOUND, ALREADY_RECORDING, RECORDING_DISABLED).
   * The recorder enters the room behind this door where the room runs, hidden and not counted.
   */
  startRecording(room: string): Promise<RecordingMeta>;
  /** Stops a room's recording (ROOM_NOT_FOUND, NOT_RECORDING); the files are finished in the background. */
  stopRecording(room: string): Promise<RecordingMeta>;
  /**
   * A PNG of a participant's video as it is now (their camera, or `trackId`): a fresh keyframe asked of
   * the publisher and decoded (PARTICIPANT_NOT_FOUND, TRACK_NOT_FOUND, SNAPSHOT_FAILED).
   */
  snapshot(room: string, participantId: string, trackId?: string): Promise<Buffer>;
  /**
   * The room's files, for their HTTP door (`src/http/filesApi.ts`, which moves the bytes): a sender's file
   * token and the limits are checked, and the file's size reserved, before a byte is sent
   * (NOT_A_MEMBER, FILE_TOO_LARGE, ROOM_FILES_FULL, PARTICIPANT_NOT_FOUND, FILES_DISABLED).
   */
  reserveFile(upload: FileUpload): Promise<SharedFile>;
  /** The bytes of a reserved file are on disk, of `type`: whoever may fetch it hears `file`. */
  completeFile(room: string, id: string, type: string): Promise<SharedFile>;
  /** A reserved file's upload failed: its share of the room's limit is given back. */
  releaseFile(room: string, id: string): Promise<void>;
  /** A file the holder of `token` may fetch (NOT_A_MEMBER, FILE_NOT_FOUND). */
  fileFor(room: string, token: string, id: string): Promise<SharedFile>;
  /**
   * The id of the recording in progress of the room whose member holds `token` (a whiteboard export goes
   * into it): NOT_A_MEMBER, NOT_RECORDING.
   */
  recordingFor(room: string, token: string): Promise<string>;
  /** How many rooms, participants and viewers there are (health, metrics). */
  readonly load: { rooms: number; participants: number; viewers: number };
}

/** A room in the server's directory. */
export interface DirectoryEntry {
  name: string;
  topic?: string;
  people: number;
  locked: boolean;
  passwordProtected: boolean;
}

/**
 * What happened in a room, as plain data, for the webhooks (`src/webhooks`): the host reports each in
 * the order it happened in its room. A room "starts" with its first participant and "finishes" when it
 * closes (`reason` `ended`, or `restart` when the server stops to restart and its people will rejoin).
 */
export type RoomActivity =
  | { type: 'room_started'; room: string }
  | { type: 'room_finished'; room: string; reason: 'ended' | 'restart' }
  | { type: 'participant_joined'; room: string; participant: ActivityParticipant }
  | { type: 'participant_left'; room: string; participant: ActivityParticipant; reason: LeaveReason }
  | { type: 'track_published'; room: string; participant: ActivityParticipant; track: TrackInfo }
  | { type: 'track_unpublished'; room: string; participant: ActivityParticipant; trackId: string }
  | { type: 'recording_started'; room: string; recording: RecordingActivity }
  | { type: 'recording_stopped'; room: string; recording: RecordingActivity }
  /** The recording's files are finished and its movie made (`movie` says whether it was). */
  | { type: 'recording_ready'; room: string; recording: RecordingActivity };

/** A recording as its webhook events carry it. */
export interface RecordingActivity {
  id: string;
  startedBy: string;
  stopReason?: string;
  error?: string;
  bytes?: number;
  movie?: string;
}

export interface ActivityParticipant {
  id: string;
  name: string;
  /** The access token's identity, null without a token. */
  identity: string | null;
}

/** How a participant came in; it decides what the room does for it (deadlines, media, leave on failure). */
export type MemberKind = 'browser' | 'whip' | 'sip';

export interface JoinRequest {
  kind: MemberKind;
  room: string;
  /** The display name asked for (a token's name wins). */
  name: string;
  /** What `authorizeJoin` granted. */
  grant: JoinGrant;
  /** The client's address key (`addressKey`), for the per-address password slowdown. */
  address: string;
  /**
   * In a cluster: the node the client is connected to, when not this one. A viewer's media runs there, so
   * that node gets one copy of each track for all its viewers.
   */
  via?: string;
  /** The password a browser typed (checked unless the grant or rejoin token vouches). */
  password?: string;
  /** The rejoin token of an earlier `joined`: the same person comes back as before. */
  rejoin?: string;
  /** The calling card a browser sent with its join. */
  card?: ParticipantCard;
  /** Join the audience (receive only), not the call. */
  viewer?: boolean;
  /** The request id of the browser's `join`, echoed in its `joined`. */
  rid?: string | number;
  /** The door already checked the room password (a phone's PIN). */
  passwordChecked?: boolean;
  /** A phone call's audio (kind `sip`): what the room says to it and hears from it. */
  phone?: PhoneAudio;
}

export interface FileUpload {
  room: string;
  /** The sender's file token (`joined.fileToken`). */
  token: string;
  name: string;
  size: number;
  /** One recipient's participant id; absent: everyone in the room. */
  to?: string;
}

export interface ResumeRequest {
  room: string;
  token: string;
  rid?: string | number;
}

export interface PlayRequest {
  room: string;
  /** A participant's id or display name: play only them; undefined plays the room. */
  follow: string | undefined;
  name: string;
  grant: JoinGrant;
  /** The player's recvonly offer. */
  offer: string;
}

/**
 * A participant as its edge holds it. A member's messages (`joined`, offers, events) go to the sink it
 * joined with; what its edge learns from the client comes in through these calls.
 */
export interface Member {
  readonly id: string;
  readonly room: string;
  readonly closed: boolean;
  /** Applies a publisher offer (a browser's or a WHIP client's); the answer says which track is which mid. */
  publish(sdp: string, tracks: PublishTrack[]): Promise<AnswerMessage>;
  /** The answer to an offer the server made for the member's subscriber connection. */
  applyAnswer(sdp: string): Promise<void>;
  /** A trickled remote ICE candidate for one of the member's connections (null: no more of them). */
  addCandidate(role: PeerRole, candidate: RemoteCandidate | null): Promise<void>;
  /** What a browser asks of its room: mute, chat and the host controls (`NOT_HOST` for a guest). */
  act(action: MemberAction): Promise<void>;
  /** Leaves the room (closing its media). */
  leave(reason: LeaveReason): Promise<void>;
  /** The sink's connection went away without a leave: the member waits for a resume. */
  detach(sink: MemberSink): void;
  /** Whether `sink` is still the one the member's messages go to (not replaced by a resume). */
  isAttachedTo(sink: MemberSink): boolean;
  /** Called once when the member leaves, whoever made it leave. Returns the function that unsubscribes. */
  onClosed(listener: (reason: LeaveReason) => void): () => void;
}

/**
 * Where a member's messages go: its signaling connection, or for a member without one (WHIP, WHEP,
 * SIP) nowhere, with `close` ending its session.
 */
export interface MemberSink {
  /** `json`, when given, is `message` serialized (a broadcast serializes once for everyone). */
  send(message: ServerMessage, json?: string): void;
  /** Ends the connection: the room removed the member, or a resume moved it to a newer connection. */
  close(code: number, reason: string): void;
}

export type PeerRole = PcTarget;

export interface RemoteCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface PublishTrack {
  mid: string;
  source: TrackSource;
  muted: boolean;
}

export type AnswerMessage = Extract<ServerMessage, { type: 'answer' }>;

export type MemberAction = Extract<
  ClientMessage,
  {
    type:
      | 'mute'
      | 'videoSize'
      | 'chat'
      | 'muteParticipant'
      | 'removeParticipant'
      | 'lockRoom'
      | 'listRoom'
      | 'setPassword'
      | 'endRoom'
      | 'setCard'
      | 'raiseHand'
      | 'react'
      | 'lowerHand'
      | 'spotlight'
      | 'stage'
      | 'startRecording'
      | 'stopRecording'
      | 'board'
      | 'lockBoard'
      | 'clearBoard'
      | 'allowAnnotation'
      | 'clearAnnotation';
  }
>;

export type AdminAction =
  | { type: 'remove'; participantId: string }
  | { type: 'mute'; participantId: string; trackId?: string | undefined };

export interface RoomSummary {
  name: string;
  participants: number;
  /** Its audience: receive-only viewers and WHEP players, not counted as participants. */
  viewers: number;
  stalledTracks: number;
  locked: boolean;
  passwordProtected: boolean;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601: since when the room is being recorded (absent: it is not). */
  recordingSince?: string;
}

export interface RoomDetail extends RoomSummary {
  people: ParticipantSummary[];
}

export interface ParticipantSummary {
  id: string;
  name: string;
  identity: string | null;
  role: ParticipantRole;
  canPublish: boolean;
  state: 'connected' | 'reconnecting';
  /** ISO 8601. */
  joinedAt: string;
  tracks: (TrackInfo & {
    paused: boolean;
    stalled: boolean;
    /** A simulcast track's layers, as the publisher lists them: rid, size of the last keyframe, bitrate. */
    layers?: LayerInfo[];
  })[];
}

/**
 * A phone call's audio, which runs where its room runs (its RTP socket, mixer and codec): the room
 * hands it the audio tracks the caller hears and publishes its voice. Not plain data: a phone call's
 * signalling is routed to its room's host (`src/workers/SipRouter.ts`) and opens its audio there.
 */
export interface PhoneAudio {
  /** The caller's voice as an Opus source, once the codec is known. */
  readonly voice: RtpSource | undefined;
  /** A room's audio track, for the caller to hear. */
  hear(track: PublishedTrack): void;
  /** A room track the caller no longer hears. */
  forget(trackId: string): void;
}

export type { LeaveReason, RecordingMeta };
/** The media plane's types a phone call's audio works with (it runs beside the room, `PhoneAudio`). */
export type { PublishedTrack as RoomTrack, RtpListener, RtpSource };
