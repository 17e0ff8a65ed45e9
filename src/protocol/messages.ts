import { z } from 'zod';
import { REACTIONS, type Reaction } from './reactions.js';

/**
 * The signaling protocol spoken over the WebSocket at `/ws`. Every message is one JSON object with a
 * `type`. Client messages are validated here, at the edge; the server inside trusts these types.
 * Documented message by message in docs/protocol.md.
 */
export { REACTION_WINDOW_MS, REACTIONS, REACTIONS_PER_WINDOW, type Reaction } from './reactions.js';
export { PROTOCOL_VERSION } from './version.js';

/** Room names travel in URLs (`/r/<room>`, `sip:<room>@host`), so they stay URL- and SIP-safe. */
export const roomName = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit',
  );
export const displayName = z
  .string()
  .transform((s) => s.trim())
  .pipe(z.string().min(1).max(64));
const id = z.string().min(1).max(64);
const sdp = z.string().min(1);
export const trackSource = z.enum(['camera', 'microphone', 'screen', 'screenAudio']);
export type TrackSource = z.infer<typeof trackSource>;
export const pcTarget = z.enum(['publisher', 'subscriber']);
export type PcTarget = z.infer<typeof pcTarget>;
/** A host may mute, remove, lock and end (docs/SECURITY.md); a guest may not. */
/** `viewer`: receive-only, one of a room's audience (`join.viewer`), not one of its participants. */
export const participantRole = z.enum(['host', 'guest', 'viewer']);
export type ParticipantRole = z.infer<typeof participantRole>;
/** Access tokens are JWTs (src/auth/accessToken.ts); a few kB at most. */
export const MAX_TOKEN_CHARS = 4096;
export const MAX_PASSWORD_CHARS = 256;
/** The longest topic a listed room shows in the directory. */
export const MAX_TOPIC_CHARS = 120;

/** A calling card's avatar: a small picture, at most this many bytes once decoded (the web client makes 96×96). */
export const MAX_CARD_AVATAR_BYTES = 12 * 1024;
const AVATAR_PREFIX = /^data:image\/(png|jpeg|webp);base64,/;
/** The first bytes each avatar type starts with; an avatar whose bytes are not its declared type is refused. */
const IMAGE_MAGIC: Record<string, (b: number[]) => boolean> = {
  png: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((x, i) => b[i] === x),
  jpeg: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  webp: (b) =>
    String.fromCharCode(...b.slice(0, 4)) === 'RIFF' && String.fromCharCode(...b.slice(8, 12)) === 'WEBP',
};
const TOO_LARGE = `is larger than ${MAX_CARD_AVATAR_BYTES / 1024} KiB`;
function avatarProblem(url: string): string | undefined {
  const type = AVATAR_PREFIX.exec(url)?.[1];
  if (!type) return 'must be a data:image/png, image/jpeg or image/webp;base64 URL';
  const data = url.slice(url.indexOf(',') + 1);
  if ((data.length / 4) * 3 > MAX_CARD_AVATAR_BYTES + 2) return TOO_LARGE;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) return 'is not valid base64';
  // atob: in browsers and in Node alike (this module is shared with the client).
  const head = [...atob(data.slice(0, 16))].map((c) => c.charCodeAt(0));
  return IMAGE_MAGIC[type]!(head) ? undefined : `does not hold a ${type.toUpperCase()} picture`;
}
/**
 * A whiteboard message at most, as base64: 150 KiB of update, so a pasted picture fits and the message
 * stays under the WebSocket's limit (`limits.wsMaxMessageBytes`, 256 KiB).
 */
export const MAX_BOARD_MESSAGE_CHARS = 200 * 1024;
/** C0 and C1 control characters and the ones that reorder text: a card shows none of them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what is refused
export const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const cardText = (max: number) =>
  z
    .string()
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .max(max)
        .refine((s) => !UNSAFE_TEXT.test(s), 'must not hold control characters'),
    );
/**
 * A calling card: what a person tells about themselves besides their name, set once in the client and
 * shown to the others in the room. Every field is optional and short; the link is a web, mail or phone
 * link only (never `javascript:`), and the avatar a small picture whose bytes match its type.
 */
export const participantCard = z
  .object({
    pronouns: cardText(40).optional(),
    organisation: cardText(80).optional(),
    link: z
      .string()
      .trim()
      .max(300)
      .refine((s) => {
        try {
          return ['http:', 'https:', 'mailto:', 'tel:'].includes(new URL(s).protocol);
        } catch {
          return false;
        }
      }, 'must be an http, https, mailto or tel link')
      .optional(),
    avatar: z
      .string()
      // Not read at all past four times the limit.
      .max(MAX_CARD_AVATAR_BYTES * 4, TOO_LARGE)
      .superRefine((url, ctx) => {
        const problem = avatarProblem(url);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      })
      .optional(),
  })
  .strict();
export type ParticipantCard = z.infer<typeof participantCard>;

export const reaction = z.enum(REACTIONS);

export const iceCandidate = z.object({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(32).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
  usernameFragment: z.string().max(256).nullish(),
});
export type IceCandidate = z.infer<typeof iceCandidate>;

const requestId = { rid: z.union([z.string().max(64), z.number()]).optional() };

export const clientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('join'),
    v: z.number().int(),
    room: roomName,
    name: displayName,
    /** Resume token from an earlier `joined`, to take back a participant whose connection dropped. */
    resume: z.string().max(256).optional(),
    /**
     * Rejoin token from an earlier `joined`: after a restart, or once the session ended, the same person
     * comes back with the name and role they had, also into a locked or password-protected room.
     */
    rejoin: z.string().max(256).optional(),
    /** Access token (JWT): required in secured mode; sets identity, name, role and may-publish. */
    token: z.string().min(1).max(MAX_TOKEN_CHARS).optional(),
    /** The room password, for a room whose host set one. */
    password: z.string().max(MAX_PASSWORD_CHARS).optional(),
    /** The person's calling card, shown to the others (`setCard` changes it). */
    card: participantCard.optional(),
    /**
     * Join the audience, not the call: receive every track, publish nothing, send nothing to the room;
     * not counted as a participant nor announced to anyone (`viewers` gives the count). A token with role
     * `viewer` joins so whatever this says.
     */
    viewer: z.boolean().optional(),
    ...requestId,
  }),
  z.object({
    type: z.literal('offer'),
    sdp,
    /** What each sending m-line of the publisher connection carries; a mid missing here is unpublished. */
    tracks: z
      .array(
        z.object({ mid: z.string().min(1).max(32), source: trackSource, muted: z.boolean().default(false) }),
      )
      .max(64),
    ...requestId,
  }),
  z.object({ type: z.literal('answer'), sdp, ...requestId }),
  z.object({
    type: z.literal('candidate'),
    target: pcTarget,
    candidate: iceCandidate.nullable(),
    ...requestId,
  }),
  z.object({ type: z.literal('mute'), trackId: id, muted: z.boolean(), ...requestId }),
  /**
   * The size, in device pixels, at which this client shows another participant's video (0×0: nowhere,
   * such as a tile scrolled off screen): the server sends the simulcast layer that fits, or no video at
   * all. A hint: a track the client no longer receives is ignored. Answered only when refused.
   */
  z.object({
    type: z.literal('videoSize'),
    trackId: id,
    width: z.number().int().min(0).max(16384),
    height: z.number().int().min(0).max(16384),
    ...requestId,
  }),
  z.object({ type: z.literal('chat'), text: z.string().min(1), ...requestId }),
  /**
   * The whiteboard: a y-protocols message (sync or awareness, framed as y-websocket frames them: a varint
   * kind 0 or 1, then the message), base64. Answered only when refused (an `error` with the rid).
   */
  z.object({
    type: z.literal('board'),
    data: z
      .string()
      .min(1)
      .max(MAX_BOARD_MESSAGE_CHARS)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
    ...requestId,
  }),
  /** Raises or lowers one's own hand; everyone hears `hand`. */
  z.object({ type: z.literal('raiseHand'), raised: z.boolean(), ...requestId }),
  /** A floating emoji over one's tile, for everyone; a few per ten seconds. */
  z.object({ type: z.literal('react'), emoji: reaction, ...requestId }),
  /** Replaces one's calling card (null: no card); everyone in the room hears `participantCard`. */
  z.object({ type: z.literal('setCard'), card: participantCard.nullable(), ...requestId }),
  z.object({ type: z.literal('leave'), ...requestId }),
  // Host controls: the server checks the sender's role and answers a guest with NOT_HOST.
  z.object({
    type: z.literal('muteParticipant'),
    participantId: id,
    /** One track; without it every audio track (microphone, screen audio) of the participant. */
    trackId: id.optional(),
    ...requestId,
  }),
  z.object({ type: z.literal('removeParticipant'), participantId: id, ...requestId }),
  z.object({ type: z.literal('lowerHand'), participantId: id, ...requestId }),
  /** Shows one participant large on everyone's screen; null ends it. */
  z.object({ type: z.literal('spotlight'), participantId: id.nullable(), ...requestId }),
  /** A viewer comes on stage (`onStage`), or a participant goes back to the audience. */
  z.object({ type: z.literal('stage'), participantId: id, onStage: z.boolean(), ...requestId }),
  z.object({ type: z.literal('lockRoom'), locked: z.boolean(), ...requestId }),
  z.object({
    type: z.literal('listRoom'),
    /** True: the room is shown in the server's directory (`GET /directory`), with its topic. */
    listed: z.boolean(),
    topic: z.string().trim().min(1).max(MAX_TOPIC_CHARS).optional(),
    ...requestId,
  }),
  z.object({
    type: z.literal('setPassword'),
    /** null removes the password. */
    password: z.string().min(1).max(MAX_PASSWORD_CHARS).nullable(),
    ...requestId,
  }),
  /** Starts recording the room (everyone sees `roomState.recording`); ALREADY_RECORDING when it is. */
  z.object({ type: z.literal('startRecording'), ...requestId }),
  /** Stops the room's recording; NOT_RECORDING when there is none. */
  z.object({ type: z.literal('stopRecording'), ...requestId }),
  /** Stops or allows guests drawing on the whiteboard (hosts always may); everyone hears `roomState`. */
  z.object({ type: z.literal('lockBoard'), locked: z.boolean(), ...requestId }),
  /** Empties the whiteboard for everyone (`boardCleared`). */
  z.object({ type: z.literal('clearBoard'), ...requestId }),
  /**
   * Lets others draw over a shared screen, or not: the presenter's own (no `participantId`), or a host's
   * for anyone. Everyone hears `roomState` with `annotationOff`.
   */
  z.object({
    type: z.literal('allowAnnotation'),
    allowed: z.boolean(),
    participantId: id.optional(),
    ...requestId,
  }),
  /** Takes every drawing off a shared screen: the presenter's own, or (hosts) anyone's. */
  z.object({
    type: z.literal('clearAnnotation'),
    participantId: id.optional(),
    ...requestId,
  }),
  z.object({ type: z.literal('endRoom'), ...requestId }),
  z.object({ type: z.literal('ping'), ...requestId }),
]);
export type ClientMessage = z.infer<typeof clientMessage>;
export type ClientMessageType = ClientMessage['type'];
export const clientMessageTypes: readonly string[] = clientMessage.options.map((o) => o.shape.type.value);

export interface TrackInfo {
  id: string;
  kind: 'audio' | 'video';
  source: TrackSource;
  muted: boolean;
  codec: string;
}

export interface ParticipantInfo {
  id: string;
  name: string;
  role: ParticipantRole;
  state: 'connected' | 'reconnecting';
  tracks: TrackInfo[];
  /** Their calling card, when they set one. */
  card?: ParticipantCard;
  /** Set while their hand is raised: the room's count of raised hands when they raised it (queue order). */
  hand?: number;
}

export interface ChatMessage {
  id: string;
  participantId: string;
  name: string;
  text: string;
  /** Milliseconds since the Unix epoch, server clock. */
  ts: number;
}

/**
 * A file someone sent in the room (HTTP, docs/protocol.md "Files"): to everyone, or to one person (`to`).
 * `type` is what the server found in its content, not what the sender said.
 */
export interface SharedFile {
  id: string;
  name: string;
  /** Bytes. */
  size: number;
  type: string;
  /** The sender's participant id and name. */
  from: string;
  fromName: string;
  /** The one person it is for; absent: everyone in the room. */
  to?: string;
  /** Milliseconds since the Unix epoch, server clock. */
  ts: number;
}

/** What every participant knows about the room's access; sent in `joined` and as `roomState`. */
export interface RoomAccessState {
  locked: boolean;
  passwordProtected: boolean;
  /** Shown in the server's directory; `topic` is what it says there. */
  listed: boolean;
  topic?: string;
  /** The participant a host put in the spotlight: everyone's screen shows them large. */
  spotlight?: string;
  /** Set while the room is being recorded: since when (ms since the Unix epoch, server clock). */
  recording?: { since: number };
  /** A host made the whiteboard view-only for guests. */
  boardLocked?: boolean;
  /** Presenters over whose shared screen only they may draw (they turned annotation off). */
  annotationOff?: string[];
}

/**
 * Why a participant left: `removed` means a host or the admin API removed it; `audience` that a host
 * sent them back to the audience (they watch on, as a viewer).
 */
export type LeaveReason = 'left' | 'disconnected' | 'timeout' | 'closed' | 'removed' | 'audience';

export type ServerMessage =
  | {
      type: 'joined';
      v: number;
      room: string;
      self: { id: string; name: string; role: ParticipantRole; canPublish: boolean };
      roomState: RoomAccessState;
      resumeToken: string;
      /** Keep it for a rejoin (`join.rejoin`): it outlives this session and a server restart. */
      rejoinToken: string;
      /** This participant's credential for the room's files (HTTP `Authorization: Bearer`), while in the room. */
      fileToken: string;
      /** The files in the room this participant may download. */
      files: SharedFile[];
      /**
       * A TURN server to use for the peer connections (when the server has one, `--turn-url`): its
       * URLs and time-limited credentials for this participant.
       */
      iceServers?: { urls: string[]; username: string; credential: string }[];
      /**
       * In a cluster: the URLs of its nodes (this one among them). A client that loses its node reconnects
       * to another, which knows where the room went.
       */
      nodes?: string[];
      resumed: boolean;
      participants: ParticipantInfo[];
      chat: ChatMessage[];
      /** How many viewers watch the room (its audience, `join.viewer`). */
      viewers: number;
      rid?: string | number;
    }
  | { type: 'participantJoined'; participant: ParticipantInfo }
  /** The audience's size changed; sent at most once a second, to everyone. */
  | { type: 'viewers'; count: number }
  | { type: 'participantLeft'; participantId: string; reason: LeaveReason }
  | { type: 'participantState'; participantId: string; state: ParticipantInfo['state'] }
  | { type: 'trackPublished'; participantId: string; track: TrackInfo }
  | { type: 'trackUnpublished'; participantId: string; trackId: string }
  | {
      type: 'trackMuted';
      participantId: string;
      trackId: string;
      muted: boolean;
      /** Set when a host muted the track: the host's participant id, or "admin" for the admin API. */
      by?: string;
    }
  | { type: 'participantRole'; participantId: string; role: ParticipantRole }
  /**
   * A hand went up (`hand`: its place in the queue, lower first) or down; `by` is the host who lowered it.
   */
  | { type: 'hand'; participantId: string; raised: boolean; hand?: number; by?: string; name?: string }
  /**
   * A host brought this client on stage from the audience (a guest now, who may publish) or sent it
   * back (a viewer again: its tracks ended). On stage it gets a rejoin token and the room's files.
   */
  | {
      type: 'stage';
      onStage: boolean;
      role: ParticipantRole;
      canPublish: boolean;
      rejoinToken?: string;
      files?: SharedFile[];
    }
  /**
   * Simulcast: which layers of one of this client's tracks to send (in the order its offer lists them):
   * a layer nobody is sent is paused, and asked back when someone needs it.
   */
  | { type: 'layers'; trackId: string; active: boolean[] }
  | { type: 'reaction'; participantId: string; emoji: Reaction }
  /** Someone's calling card changed (null: they removed it); the sender hears it too. */
  | { type: 'participantCard'; participantId: string; card: ParticipantCard | null }
  | ({ type: 'roomState'; by?: string } & RoomAccessState)
  /**
   * A recording started or stopped (`roomState` follows with the indicator). `reason` says why it stopped:
   * `stopped` (a host or the admin API), `room ended`, `size limit`, `write failed` (then `error` says what).
   */
  | {
      type: 'recording';
      state: 'started' | 'stopped';
      id: string;
      by?: string;
      reason?: string;
      error?: string;
    }
  | {
      type: 'offer';
      sdp: string;
      /** The subscriber connection's m-lines: which remote track each mid carries. */
      tracks: { mid: string; trackId: string; participantId: string }[];
    }
  | { type: 'answer'; sdp: string; tracks: { mid: string; trackId: string }[]; rid?: string | number }
  | { type: 'chat'; message: ChatMessage }
  /** The whiteboard: a y-protocols message from the room's replica (base64), as `board` sends them. */
  | { type: 'board'; data: string }
  /** A host emptied the whiteboard: drop the local document and sync again. */
  | { type: 'boardCleared'; by: string }
  /** Someone sent a file to the room or to this participant: download it with the file token. */
  | { type: 'file'; file: SharedFile }
  | { type: 'error'; code: string; message: string; rid?: string | number }
  | { type: 'pong'; rid?: string | number }
  /** The reply to a host control that succeeded (a failure is an `error` with the same rid). */
  | { type: 'ok'; rid?: string | number }
  /**
   * `rejoin`: the session ended because its media connection was lost; the client may join again.
   * `rejoinAfterMs`: the server is restarting; join again (with the rejoin token) after this long.
   */
  | { type: 'bye'; reason: string; rejoin?: boolean; rejoinAfterMs?: number };

export type ServerMessageType = ServerMessage['type'];
