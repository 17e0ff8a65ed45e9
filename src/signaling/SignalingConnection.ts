import type { Logger } from 'pino';
import { auditLog, isAudited } from '../auth/audit.js';
import { authorizeJoin } from '../auth/authorizeJoin.js';
import { CodedError, InvalidStateError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { Member, MemberSink, RoomHost } from '../host/RoomHost.js';
import { checkSdpLimits } from '../media/sdpLimits.js';
import type { ErrorCode } from '../protocol/errors.js';
import {
  type ClientMessage,
  clientMessage,
  clientMessageTypes,
  PROTOCOL_VERSION,
  type ServerMessage,
} from '../protocol/messages.js';

export interface SignalingLimits {
  sdpMaxBytes: number;
  chatMaxChars: number;
  wsMessagesPerSecond: number;
  joinTimeoutMs: number;
  sdpMaxMediaSections: number;
  candidatesPerSession: number;
}

/** Who is on the other end, for the decisions about access. */
export interface SignalingPeer {
  /** The client's address key (`addressKey`): per-address password slowdown. */
  address: string;
  /** In a cluster: the node the client is connected to, which passed the connection on to this one. */
  via?: string;
  auth: Config['auth'];
  /**
   * Called just before the `joined` message goes out (a room worker tells the main thread first, so that
   * a join the client sends after seeing `joined` is never routed to another room).
   */
  onJoined?: () => void;
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
export class SignalingConnection implements MemberSink {
  readonly #ws: SignalSocket;
  readonly #host: RoomHost;
  readonly #limits: SignalingLimits;
  readonly #log: Logger;
  readonly #audit: Logger;
  readonly #peer: SignalingPeer;
  #member: Member | undefined;
  #offMemberClosed: (() => void) | undefined;
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
    host: RoomHost,
    limits: SignalingLimits,
    log: Logger,
    peer: SignalingPeer = { address: 'unknown', auth: OPEN_AUTH },
  ) {
    this.#ws = ws;
    this.#host = host;
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

  /** Who this connection joined as, once it has. */
  get member(): Member | undefined {
    return this.#member;
  }

  /** Resolves once every message received so far has been handled. */
  idle(): Promise<void> {
    return this.#queue;
  }

  send(message: ServerMessage, json?: string): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    if (message.type === 'joined') this.#peer.onJoined?.();
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
      if (issue.path[0] === 'card')
        return this.#sendError('INVALID_CARD', `Invalid calling card: ${field}: ${issue.message}`, rid);
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
          { address: this.#peer.address, code: error.code, message: type, room: this.#member?.room },
          'signaling refused',
        );
      return this.#sendError(error.code, error.message, rid);
    }
    if (error instanceof InvalidStateError)
      return this.#sendError('NOT_JOINED', 'You are no longer in the room', rid);
    this.#log.error({ err: error }, 'signaling message failed');
    this.#sendError('INTERNAL_ERROR', undefined, rid);
  }

  #joined(): Member {
    if (!this.#member || this.#member.closed) throw new CodedError('NOT_JOINED');
    return this.#member;
  }

  async #handle(message: ClientMessage): Promise<void> {
    if (this.#closed) return;
    switch (message.type) {
      case 'join':
        return this.#join(message);
      case 'offer': {
        this.#checkSdp(message.sdp);
        const answer = await this.#joined().publish(message.sdp, message.tracks);
        this.send({ ...answer, ...(message.rid !== undefined ? { rid: message.rid } : {}) });
        return;
      }
      case 'answer': {
        this.#checkSdp(message.sdp);
        await this.#joined().applyAnswer(message.sdp);
        return;
      }
      case 'candidate': {
        const member = this.#joined();
        if (++this.#candidates > this.#limits.candidatesPerSession)
          throw new CodedError(
            'INVALID_CANDIDATE',
            `A connection may add at most ${this.#limits.candidatesPerSession} ICE candidates`,
          );
        await member.addCandidate(message.target, message.candidate);
        return;
      }
      case 'chat':
        if ([...message.text].length > this.#limits.chatMaxChars)
          throw new CodedError(
            'CHAT_TOO_LONG',
            `Chat messages are limited to ${this.#limits.chatMaxChars} characters`,
          );
        return this.#joined().act(message);
      case 'leave': {
        const member = this.#joined();
        this.#release();
        await member.leave('left');
        this.close(CLOSE_NORMAL, 'left');
        return;
      }
      case 'ping':
        this.send({ type: 'pong', ...(message.rid !== undefined ? { rid: message.rid } : {}) });
        return;
      // Mute, and the host controls: the room checks the role (NOT_HOST for a guest) and answers `ok`.
      case 'mute':
      case 'videoSize':
      case 'muteParticipant':
      case 'removeParticipant':
      case 'lockRoom':
      case 'listRoom':
      case 'setPassword':
      case 'endRoom':
      case 'setCard':
      case 'raiseHand':
      case 'react':
      case 'lowerHand':
      case 'spotlight':
      case 'stage':
      case 'startRecording':
      case 'stopRecording':
      case 'board':
      case 'lockBoard':
      case 'clearBoard':
      case 'allowAnnotation':
      case 'clearAnnotation':
        return this.#joined().act(message);
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

  async #join(message: Extract<ClientMessage, { type: 'join' }>): Promise<void> {
    if (this.#member) throw new CodedError('ALREADY_JOINED');
    if (message.v !== PROTOCOL_VERSION)
      throw new CodedError(
        'UNSUPPORTED_PROTOCOL_VERSION',
        `This server speaks protocol version ${PROTOCOL_VERSION}`,
      );
    let member: Member;
    if (message.resume) {
      member = this.#host.resume({ room: message.room, token: message.resume, rid: message.rid }, this);
    } else {
      // Who may join is decided before any room is created for them.
      const grant = await authorizeJoin(
        { auth: this.#peer.auth },
        { room: message.room, token: message.token },
      );
      if (this.#closed) return;
      member = await this.#host.join(
        {
          kind: 'browser',
          room: message.room,
          name: message.name,
          grant,
          address: this.#peer.address,
          ...(this.#peer.via ? { via: this.#peer.via } : {}),
          ...(message.password !== undefined ? { password: message.password } : {}),
          ...(message.rejoin !== undefined ? { rejoin: message.rejoin } : {}),
          ...(message.card !== undefined ? { card: message.card } : {}),
          ...(message.viewer ? { viewer: true } : {}),
          ...(message.rid !== undefined ? { rid: message.rid } : {}),
        },
        this,
      );
      // The connection closed while the password was checked: it took the place, and gives it back.
      if (this.#closed) {
        await member.leave('left');
        return;
      }
    }
    this.#member = member;
    // When the room removes the member (timeout, room closed), end this connection too.
    this.#offMemberClosed = member.onClosed(() => {
      if (!this.#closed) this.close(CLOSE_NORMAL, 'removed from room');
    });
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
  }

  #release(): void {
    this.#offMemberClosed?.();
    this.#offMemberClosed = undefined;
  }

  #onClose(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    const member = this.#member;
    this.#release();
    this.#member = undefined;
    if (!member || member.closed || !member.isAttachedTo(this)) return;
    // A clean close (tab closed, page left) is a leave; anything else may be a network drop, so the
    // participant waits `resumeWindowMs` for the same client to come back.
    if (code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY) void member.leave('left');
    else member.detach(this);
  }
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
