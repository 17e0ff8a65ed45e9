import type { Logger } from 'pino';
import { auditLog, isAudited } from '../auth/audit.js';
import { authorizeJoin } from '../auth/authorizeJoin.js';
import { CodedError, InvalidStateError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { ErrorCode } from '../protocol/errors.js';
import {
  type ClientMessage,
  clientMessage,
  clientMessageTypes,
  PROTOCOL_VERSION,
  type ServerMessage,
} from '../protocol/messages.js';
import type { Participant, SignalSink } from '../room/Participant.js';
import type { Room } from '../room/Room.js';
import type { RoomRegistry } from '../room/RoomRegistry.js';
import { ConnectDeadline, checkSdpLimits, type PeerRole } from '../sfu/index.js';

export interface SignalingLimits {
  sdpMaxBytes: number;
  chatMaxChars: number;
  wsMessagesPerSecond: number;
  joinTimeoutMs: number;
  /** After its offer or answer, a peer connection that has not connected this long ends the participant. */
  connectTimeoutMs: number;
  sdpMaxMediaSections: number;
  candidatesPerSession: number;
}

/** Who is on the other end, for the decisions about access. */
export interface SignalingPeer {
  /** The client's address key (`addressKey`): per-address password slowdown. */
  address: string;
  auth: Config['auth'];
}

/**
 * The WebSocket as a connection uses it: a `ws` socket, or a room worker's stand-in for the socket the
 * main thread holds (`src/workers/PortSocket.ts`).
 */
export interface SignalSocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly CONNECTING: number;
  send(data: string): void;
  close(code: number, reason: string): void;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Messages queued behind a slow one (an offer being applied) before the connection is told to slow down. */
const MAX_QUEUED_MESSAGES = 64;
/** WebSocket close codes (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY_VIOLATION = 1008;

/**
 * One WebSocket at `/ws`. Validates every message at the edge, answers bad ones with a coded `error`,
 * and runs the good ones in arrival order (an offer is applied before the candidates that follow it).
 */
export class SignalingConnection implements SignalSink {
  readonly #ws: SignalSocket;
  readonly #registry: RoomRegistry;
  readonly #limits: SignalingLimits;
  readonly #log: Logger;
  readonly #audit: Logger;
  readonly #peer: SignalingPeer;
  #room: Room | undefined;
  #participant: Participant | undefined;
  #offParticipantClosed: (() => void) | undefined;
  #connectDeadline: ConnectDeadline | undefined;
  /** Remote ICE candidates this connection added, trickled and in SDP. */
  #candidates = 0;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #joinTimer: NodeJS.Timeout | undefined;
  /** Token bucket (RFC-free, classic): `wsMessagesPerSecond` per second, bursts up to twice that. */
  #tokens: number;
  #lastRefill = Date.now();
  #violations = 0;
  #closed = false;

  constructor(
    ws: SignalSocket,
    registry: RoomRegistry,
    limits: SignalingLimits,
    log: Logger,
    peer: SignalingPeer = { address: 'unknown', auth: OPEN_AUTH },
  ) {
    this.#ws = ws;
    this.#registry = registry;
    this.#limits = limits;
    this.#log = log;
    this.#audit = auditLog(log);
    this.#peer = peer;
    this.#tokens = limits.wsMessagesPerSecond * 2;
    this.#joinTimer = setTimeout(() => {
      this.#sendError('JOIN_TIMEOUT');
      this.close(CLOSE_POLICY_VIOLATION, 'join timeout');
    }, limits.joinTimeoutMs);
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', (code) => this.#onClose(code));
    ws.on('error', (error) => this.#log.debug({ err: error }, 'websocket error'));
  }

  get participant(): Participant | undefined {
    return this.#participant;
  }

  /** Resolves once every message received so far has been handled. */
  idle(): Promise<void> {
    return this.#queue;
  }

  send(message: ServerMessage, json?: string): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(json ?? JSON.stringify(message));
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      this.#ws.close(code, reason);
    }
  }

  #sendError(code: ErrorCode, message?: string, rid?: string | number): void {
    const error = new CodedError(code, message);
    this.send({ type: 'error', code, message: error.message, ...(rid !== undefined ? { rid } : {}) });
  }

  #takeToken(): boolean {
    const now = Date.now();
    const rate = this.#limits.wsMessagesPerSecond;
    this.#tokens = Math.min(rate * 2, this.#tokens + ((now - this.#lastRefill) / 1000) * rate);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    if (!this.#takeToken() || this.#queued >= MAX_QUEUED_MESSAGES) {
      this.#violations++;
      if (this.#violations > this.#limits.wsMessagesPerSecond) {
        this.close(CLOSE_POLICY_VIOLATION, 'rate limit exceeded');
      } else if (this.#violations === 1 || this.#violations % 10 === 0) {
        this.#sendError('RATE_LIMITED');
      }
      return;
    }
    if (isBinary) return this.#sendError('INVALID_MESSAGE', 'Binary messages are not part of the protocol');
    let json: unknown;
    try {
      json = JSON.parse(data.toString('utf8'));
    } catch {
      return this.#sendError('INVALID_JSON');
    }
    const rid = ridOf(json);
    const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
    if (typeof type !== 'string')
      return this.#sendError('INVALID_MESSAGE', 'A message needs a string "type"', rid);
    if (!clientMessageTypes.includes(type))
      return this.#sendError('UNKNOWN_MESSAGE_TYPE', `Unknown message type "${type.slice(0, 64)}"`, rid);
    const parsed = clientMessage.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || 'message';
      return this.#sendError('INVALID_MESSAGE', `Invalid "${type}" message: ${field}: ${issue.message}`, rid);
    }
    this.#queued++;
    this.#queue = this.#queue
      .then(() => this.#handle(parsed.data))
      .catch((error: unknown) => this.#fail(error, parsed.data.rid, parsed.data.type))
      .finally(() => {
        this.#queued--;
      });
  }

  #fail(error: unknown, rid: string | number | undefined, type?: string): void {
    if (error instanceof CodedError) {
      if (isAudited(error.code))
        this.#audit.warn(
          { address: this.#peer.address, code: error.code, message: type, room: this.#room?.name },
          'signaling refused',
        );
      return this.#sendError(error.code, error.message, rid);
    }
    if (error instanceof InvalidStateError)
      return this.#sendError('NOT_JOINED', 'You are no longer in the room', rid);
    this.#log.error({ err: error }, 'signaling message failed');
    this.#sendError('INTERNAL_ERROR', undefined, rid);
  }

  #joined(): { room: Room; participant: Participant } {
    if (!this.#room || !this.#participant || this.#participant.closed) throw new CodedError('NOT_JOINED');
    return { room: this.#room, participant: this.#participant };
  }

  async #handle(message: ClientMessage): Promise<void> {
    if (this.#closed) return;
    switch (message.type) {
      case 'join':
        return this.#join(message);
      case 'offer': {
        this.#checkSdp(message.sdp);
        const { room, participant } = this.#joined();
        const answer = await room.publish(participant, message.sdp, message.tracks);
        this.send({ ...answer, ...(message.rid !== undefined ? { rid: message.rid } : {}) });
        this.#connectDeadline?.arm('publisher');
        return;
      }
      case 'answer': {
        this.#checkSdp(message.sdp);
        const { participant } = this.#joined();
        try {
          await participant.session.applySubscriberAnswer(message.sdp);
        } catch (error) {
          throw asCoded(error, 'INVALID_SDP');
        }
        return;
      }
      case 'candidate': {
        const { participant } = this.#joined();
        if (++this.#candidates > this.#limits.candidatesPerSession)
          throw new CodedError(
            'INVALID_CANDIDATE',
            `A connection may add at most ${this.#limits.candidatesPerSession} ICE candidates`,
          );
        try {
          await participant.session.addIceCandidate(message.target, message.candidate);
        } catch (error) {
          throw asCoded(error, 'INVALID_CANDIDATE');
        }
        return;
      }
      case 'mute': {
        const { room, participant } = this.#joined();
        room.setMuted(participant, message.trackId, message.muted);
        return;
      }
      case 'chat': {
        if ([...message.text].length > this.#limits.chatMaxChars)
          throw new CodedError(
            'CHAT_TOO_LONG',
            `Chat messages are limited to ${this.#limits.chatMaxChars} characters`,
          );
        const { room, participant } = this.#joined();
        room.postChat(participant, message.text);
        return;
      }
      case 'leave': {
        const { room, participant } = this.#joined();
        this.#release();
        await room.leave(participant, 'left');
        this.close(CLOSE_NORMAL, 'left');
        return;
      }
      case 'ping':
        this.send({ type: 'pong', ...(message.rid !== undefined ? { rid: message.rid } : {}) });
        return;
      // Host controls: the room checks the role (NOT_HOST for a guest).
      case 'muteParticipant': {
        const { room, participant } = this.#joined();
        room.hostMute(participant, message.participantId, message.trackId);
        return this.#ok(message.rid);
      }
      case 'removeParticipant': {
        const { room, participant } = this.#joined();
        await room.removeParticipant(participant, message.participantId);
        return this.#ok(message.rid);
      }
      case 'lockRoom': {
        const { room, participant } = this.#joined();
        room.setLocked(participant, message.locked);
        return this.#ok(message.rid);
      }
      case 'setPassword': {
        const { room, participant } = this.#joined();
        await room.setPassword(participant, message.password);
        return this.#ok(message.rid);
      }
      case 'endRoom': {
        const { room, participant } = this.#joined();
        room.assertHost(participant);
        this.#ok(message.rid);
        await this.#registry.closeRoom(room.name, 'ended by a host');
        return;
      }
    }
  }

  /** Size, m-lines and candidates of a remote description, before anything parses it for real. */
  #checkSdp(sdp: string): void {
    if (Buffer.byteLength(sdp) > this.#limits.sdpMaxBytes) throw new CodedError('SDP_TOO_LARGE');
    try {
      checkSdpLimits(sdp, {
        maxMediaSections: this.#limits.sdpMaxMediaSections,
        maxCandidates: this.#limits.candidatesPerSession,
      });
    } catch (error) {
      throw asCoded(error, 'INVALID_SDP');
    }
  }

  /** Answers a host control that has no other reply, so a client can await it. */
  #ok(rid: string | number | undefined): void {
    this.send({ type: 'ok', ...(rid !== undefined ? { rid } : {}) });
  }

  async #join(message: Extract<ClientMessage, { type: 'join' }>): Promise<void> {
    if (this.#participant) throw new CodedError('ALREADY_JOINED');
    if (message.v !== PROTOCOL_VERSION)
      throw new CodedError(
        'UNSUPPORTED_PROTOCOL_VERSION',
        `This server speaks protocol version ${PROTOCOL_VERSION}`,
      );
    let participant: Participant;
    let room: Room;
    if (message.resume) {
      // The token works once: the reply carries its successor (a token seen on the wire is spent).
      const found = this.#registry.claimResumeToken(message.resume, message.room);
      if (!found) throw new CodedError('RESUME_FAILED');
      room = this.#registry.rooms.get(message.room)!;
      participant = found;
      this.#bind(room, participant);
      room.resume(participant, this, message.rid);
    } else {
      // Who may join is decided before any room is created for them.
      const grant = await authorizeJoin(
        { auth: this.#peer.auth },
        { room: message.room, token: message.token },
      );
      if (this.#closed) return;
      // A restarted server's room has its password back from the state store as soon as it exists.
      const checked = this.#registry.getOrCreate(message.room);
      let passwordChecked = false;
      if (
        !grant.viaToken &&
        checked.access.passwordProtected &&
        !checked.members.knows(message.rejoin, grant.identity)
      ) {
        await checked.access.checkPassword(message.password, this.#peer.address);
        passwordChecked = true;
        if (this.#closed) return;
      }
      room = this.#registry.getOrCreate(message.room);
      // A room that ended while the password was checked is not the room it was checked for.
      participant = room.join(message.name, this, message.rid, {
        grant,
        passwordChecked: passwordChecked && room === checked,
        ...(message.rejoin !== undefined ? { rejoin: message.rejoin } : {}),
      });
      this.#bind(room, participant);
    }
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
  }

  #bind(room: Room, participant: Participant): void {
    this.#room = room;
    this.#participant = participant;
    // When the room removes the participant (timeout, room closed), end this connection too.
    const offClosed = participant.on('closed', () => {
      if (!this.#closed) this.close(CLOSE_NORMAL, 'removed from room');
    });
    this.#connectDeadline = connectDeadlineOf(participant, room, this.#limits.connectTimeoutMs, this.#log);
    this.#offParticipantClosed = offClosed;
  }

  #release(): void {
    this.#offParticipantClosed?.();
    this.#offParticipantClosed = undefined;
    this.#connectDeadline = undefined;
  }

  #onClose(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    const participant = this.#participant;
    const room = this.#room;
    this.#release();
    this.#participant = undefined;
    this.#room = undefined;
    if (!participant || !room || participant.closed || !participant.isAttachedTo(this)) return;
    // A clean close (tab closed, page left) is a leave; anything else may be a network drop, so the
    // participant waits `resumeWindowMs` for the same client to come back.
    if (code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY) void room.leave(participant, 'left');
    else participant.detach(this);
  }
}

/**
 * One deadline per participant, not per connection: a resumed participant's connections may have
 * connected long ago, and a renegotiation must not start their clock again.
 */
const connectDeadlines = new WeakMap<Participant, ConnectDeadline>();

/**
 * The participant's connect deadline (made on its first join): a peer connection negotiated but never
 * connected would hold its UDP socket and a place in the room. The subscriber's clock starts with the
 * first offer the server makes, the publisher's with the first answer (`arm('publisher')`).
 */
function connectDeadlineOf(participant: Participant, room: Room, ms: number, log: Logger): ConnectDeadline {
  const existing = connectDeadlines.get(participant);
  if (existing) return existing;
  const made = new ConnectDeadline(participant.session, ms, (role: PeerRole) => {
    log.info({ room: room.name, participant: participant.id, role }, 'media never connected');
    const error = new CodedError(
      'CONNECT_TIMEOUT',
      `Your ${role} connection did not connect within ${ms} ms`,
    );
    participant.send({ type: 'error', code: error.code, message: error.message });
    // Leaving closes the participant's signaling connection too (it listens for `closed`).
    void room.leave(participant, 'disconnected');
  });
  connectDeadlines.set(participant, made);
  participant.session.on('subscriberOffer', () => made.arm('subscriber'));
  if (participant.session.pendingSubscriberOffer) made.arm('subscriber');
  return made;
}

const OPEN_AUTH: Config['auth'] = {
  mode: 'open',
  passwordFreeAttempts: 3,
  passwordBackoffMs: 250,
  passwordBackoffMaxMs: 5000,
  passwordRoomAttemptsPerMinute: 30,
};

function ridOf(json: unknown): string | number | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const rid = (json as { rid?: unknown }).rid;
  return (typeof rid === 'string' && rid.length <= 64) || typeof rid === 'number' ? rid : undefined;
}

function asCoded(error: unknown, code: ErrorCode): unknown {
  if (error instanceof CodedError || error instanceof InvalidStateError) return error;
  if (error instanceof Error && error.name === 'SdpError') return new CodedError(code, error.message);
  return error;
}
