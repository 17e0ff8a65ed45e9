import { TypedEmitter } from '../common/TypedEmitter.js';
import type {
  ChatMessage,
  ParticipantCard,
  ParticipantRole,
  PcTarget,
  Reaction,
  RoomAccessState,
  ServerMessage,
  SharedFile,
  TrackSource,
} from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { Board } from './Board.js';
import {
  type CandidateLike,
  candidatePorts,
  candidateProtocol,
  candidateToJson,
  type IceProtocol,
  type IceServerConfig,
  keepCandidates,
  type PeerConnectionFactory,
  type PeerConnectionLike,
  type TrackLike,
  type TurnTransport,
  turnServersVia,
  type WebSocketFactory,
} from './rtc.js';
import { ServerError, Signal } from './Signal.js';
import { type SimulcastEncoding, simulcastEncodings } from './simulcast.js';
import { LocalTrack, RemoteParticipant, type RemoteTrack } from './tracks.js';

export interface ConnectOptions {
  /** The server: `http(s)://host:port` or the WebSocket URL `ws(s)://host:port/ws`. */
  url: string;
  room: string;
  name: string;
  createPeerConnection: PeerConnectionFactory;
  createWebSocket: WebSocketFactory;
  /** How long to keep trying to resume after the connection drops (the server keeps us 15 s). */
  resumeWindowMs?: number;
  /** Access token (`port545 token`, or the admin API); required by a server in secured mode. */
  token?: string;
  /** The room password, when its host set one. */
  password?: string;
  /** This person's calling card, shown to the others (`setCard` changes it). */
  card?: ParticipantCard;
  /**
   * Join the audience, not the call: receive every track, publish and say nothing, announced to nobody
   * (`viewers` counts the audience). A token with role `viewer` joins so anyway.
   */
  viewer?: boolean;
  /**
   * Keep the call's media on one transport, directly to the server (no TURN relay): the other protocol's
   * candidates are dropped both ways, in the descriptions and candidates sent and in the server's
   * descriptions. The connection check uses it to tell which path works (`tcp`: ICE over TCP to the
   * server's media port, as through a firewall that blocks UDP). Default: any.
   */
  iceProtocol?: IceProtocol;
  /**
   * Use only the TURN URLs the server hands out that reach it this way (`tls`: `turns:` only), to check
   * each one. Default: all of them.
   */
  turnTransport?: TurnTransport;
}

/**
 * While the publisher connection's transport is down (ICE consent expired, RFC 7675 §5.1), the client, its
 * offerer, restarts ICE this often (RFC 8445 §9); the server restarts the subscriber connection.
 */
const ICE_RESTART_INTERVAL_MS = 8000;
/** How long a client cut off from the server keeps trying to join again before it gives up. */
const REJOIN_WINDOW_MS = 10 * 60_000;
/** The longest wait between two tries to join again. */
const REJOIN_MAX_DELAY_MS = 2000;
/**
 * Refusals that say "not now" rather than "no": the server is still stopping, or busy; or, in a cluster,
 * the room's node just went away (its rooms open elsewhere a moment later) or Redis is away.
 */
const RETRY_CODES = new Set([
  'SERVER_SHUTTING_DOWN',
  'INTERNAL_ERROR',
  'RATE_LIMITED',
  'TOO_MANY_ROOMS',
  'CLUSTER_UNAVAILABLE',
]);

/**
 * `ms` plus up to half of it again, at random: after a restart everyone in every room comes back, and
 * they should not all knock at the same instant.
 */
const jittered = (ms: number) => ms + Math.random() * (ms / 2);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A remote video's size is sent at most this often (a window being resized changes it every frame). */
export const VIDEO_SIZE_INTERVAL_MS = 250;

/** What `addTransceiver` is given for a track sent in `encodings` (simulcast) or as one stream. */
function sendInit(encodings: SimulcastEncoding[] | undefined) {
  return encodings ? { direction: 'sendonly', sendEncodings: encodings } : { direction: 'sendonly' };
}

/** A browser's RTCRtpSender, whose simulcast encodings can be turned on and off. */
interface EncodingSender {
  getParameters(): { encodings?: { rid?: string; active?: boolean }[] };
  setParameters(parameters: unknown): Promise<void>;
}

/** A browser's MediaStreamTrack tells its size; werift's does not. */
interface MaybeSettings {
  getSettings?(): { width?: number; height?: number };
}

export type ConnectionState = 'connected' | 'reconnecting' | 'disconnected';

export interface RoomEvents<T extends TrackLike> {
  participantJoined: [RemoteParticipant<T>];
  participantLeft: [RemoteParticipant<T>];
  participantState: [RemoteParticipant<T>];
  trackPublished: [RemoteTrack<T>, RemoteParticipant<T>];
  trackUnpublished: [RemoteTrack<T>, RemoteParticipant<T>];
  /** The media of a remote track arrived at this client: `track.mediaTrack` is set. */
  trackSubscribed: [RemoteTrack<T>, RemoteParticipant<T>];
  trackUnsubscribed: [RemoteTrack<T>, RemoteParticipant<T>];
  trackMuted: [RemoteTrack<T>, RemoteParticipant<T>];
  /** A host muted one of this client's tracks: the server stopped forwarding it and it is muted here too. */
  localTrackMuted: [LocalTrack<T>, by: string];
  /**
   * Simulcast: which layers of a track this client sends the server wants (`active`, in the order of its
   * encodings). A browser's are switched here; a Node publisher that sends its layers itself listens.
   */
  layersActive: [LocalTrack<T>, active: boolean[]];
  /** A hand went up (`hand`: its place in the queue) or down (`by`: the host who lowered it). */
  hand: [participantId: string, hand: number | undefined, by: string | undefined];
  /** Someone (maybe this client) sent a reaction. */
  reaction: [participantId: string, emoji: Reaction];
  /** Someone's calling card changed (maybe this client's own: compare with `participantId`). */
  participantCard: [participantId: string, card: ParticipantCard | undefined];
  /** A participant (maybe this one: compare with `participantId`) became host. */
  roleChanged: [participantId: string, role: ParticipantRole];
  /** The room was locked or unlocked, or its password set or removed; the recording indicator. */
  roomState: [RoomAccessState];
  /** The room's audience grew or shrank (at most once a second). */
  viewers: [count: number];
  /**
   * A host brought this client on stage (`role` guest, may publish) or sent it back to the audience
   * (a viewer again; what it published has ended).
   */
  stage: [onStage: boolean];
  /** A recording of the room started or stopped (`reason`, `error`: why it stopped). */
  recording: [RecordingEvent];
  /** Someone (maybe this client) sent a file to the room or to this client. */
  file: [SharedFile];
  /** The server ended this client's presence: removed by a host, room ended, server shutting down. */
  ended: [reason: string];
  chat: [ChatMessage];
  connectionState: [ConnectionState];
  /**
   * The server ended the session because its media stayed lost past the resume window, and the client
   * joined again as a new participant (`participantId` changed) and published its tracks again.
   */
  rejoined: [];
  /** Something went wrong that the caller may want to show (an error reply, a failed resume). */
  error: [Error];
}

/** A `recording` message: a recording of the room started or stopped. */
export type RecordingEvent = Omit<Extract<ServerMessage, { type: 'recording' }>, 'type'>;

/** The JSON of a successful HTTP reply; a refusal (`{ error: { code, message } }`) as a `ServerError`. */
async function httpResult(response: Response): Promise<unknown> {
  const body = (await response.json().catch(() => undefined)) as
    | { error?: { code?: string; message?: string } }
    | undefined;
  if (response.ok) return body;
  throw new ServerError(
    body?.error?.code ?? `HTTP_${response.status}`,
    body?.error?.message ?? response.statusText,
  );
}

/** `http://h:p` → `ws://h:p/ws`; a ws(s) URL with a path is used as given. */
export function signalingUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  return u.toString();
}

/**
 * A joined room, as seen by one client: the local participant's published tracks and everyone else's.
 * Works in the browser (native WebRTC) and in Node (werift); see `connect` in index.ts and node.ts.
 */
export class Room<T extends TrackLike = TrackLike> extends TypedEmitter<RoomEvents<T>> {
  readonly name: string;
  readonly participants = new Map<string, RemoteParticipant<T>>();
  readonly localTracks: LocalTrack<T>[] = [];
  readonly chat: ChatMessage[] = [];
  /**
   * The room's whiteboard: a Yjs document kept in sync with everyone's, and who draws where (see
   * `Board`). Draw on `board.doc`; a host can lock it for guests (`roomState.boardLocked`) or clear it.
   */
  readonly board = new Board((data) => {
    // A viewer has no part in the board (the server would refuse it): it catches up once on stage.
    if (this.#signal && !this.#signal.closed && this.role !== 'viewer')
      this.#signal.send({ type: 'board', data });
  });
  /** The files sent in the room that this client may download, oldest first. */
  files: SharedFile[] = [];
  participantId = '';
  #fileToken = '';
  /** The TURN server the server handed out in `joined` (its credentials renewed at each join). */
  #iceServers: IceServerConfig[] = [];
  displayName: string;
  /** This client's role: a host may use the host controls below. */
  role: ParticipantRole = 'guest';
  /** The server lets this client publish (an access token may say no). */
  canPublish = true;
  /** How many viewers watch the room (its audience, `ConnectOptions.viewer`). */
  viewers = 0;
  /** Hands raised in the audience (viewers are not participants): their names and queue places. */
  readonly audienceHands = new Map<string, { name: string; hand: number }>();
  roomState: RoomAccessState = { locked: false, passwordProtected: false, listed: false };
  /** This person's calling card, as the room last heard it. */
  card: ParticipantCard | undefined;
  /** This person's place in the queue of raised hands, while their hand is up. */
  hand: number | undefined;
  state: ConnectionState = 'connected';
  #signal!: Signal;
  readonly #options: ConnectOptions;
  #resumeToken = '';
  /** Lets this client back in as it was (name, role; through a lock or a password) after a restart. */
  #rejoinToken = '';
  /** The server signaling goes to: the URL given, or in a cluster the node last reached. */
  #url: string;
  /** In a cluster, the nodes to try when this one cannot be reached (`joined.nodes`). */
  #nodes: string[] = [];
  #publisher: PeerConnectionLike | undefined;
  #subscriber: PeerConnectionLike | undefined;
  #publishQueue: Promise<unknown> = Promise.resolve();
  /** The publisher negotiation queued behind the current one and not started yet. */
  #publishWaiting: Promise<void> | undefined;
  #subscribeQueue: Promise<unknown> = Promise.resolve();
  /** Local candidates held back until the description they belong to has been sent. */
  readonly #heldCandidates: Record<PcTarget, CandidateLike[] | undefined> = { publisher: [], subscriber: [] };
  #leaving = false;
  /** Between a `bye` that invites a new join and the end of that join. */
  #rejoining = false;
  /** Connections whose transport is down, waiting for an ICE restart. */
  readonly #mediaDown = new Set<PcTarget>();
  #restartTimer: ReturnType<typeof setInterval> | undefined;
  #iceRestart = false;
  /** Per remote video: the size last sent, the one to send, and the timer that spaces them. */
  readonly #videoSizes = new Map<
    string,
    {
      sent: { width: number; height: number } | undefined;
      wanted: { width: number; height: number };
      timer: ReturnType<typeof setTimeout> | undefined;
    }
  >();

  private constructor(options: ConnectOptions) {
    super();
    this.name = options.room;
    this.displayName = options.name;
    this.#options = options;
    this.#url = options.url;
    this.card = options.card;
    // A video no longer received has no size to tell; if it comes back, its new subscription starts over.
    this.on('trackUnsubscribed', (track) => {
      clearTimeout(this.#videoSizes.get(track.id)?.timer);
      this.#videoSizes.delete(track.id);
    });
  }

  static async connect<T extends TrackLike = TrackLike>(options: ConnectOptions): Promise<Room<T>> {
    const room = new Room<T>(options);
    await room.#join();
    return room;
  }

  /**
   * Opens signaling to the server it last reached, or, in a cluster, when that one cannot be reached, to
   * the next of the nodes its `joined` listed (the room's node may be the one that went away).
   */
  async #open(): Promise<Signal> {
    const urls = [this.#url, ...this.#nodes.filter((url) => url !== this.#url)];
    let failure: unknown;
    for (const url of urls) {
      try {
        const signal = await Signal.open(signalingUrl(url), this.#options.createWebSocket);
        this.#url = url;
        return signal;
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }

  async #join(resume?: string): Promise<void> {
    const signal = await this.#open();
    let joined: ServerMessage;
    try {
      joined = await signal.request({
        type: 'join',
        v: PROTOCOL_VERSION,
        room: this.#options.room,
        name: this.#options.name,
        ...(resume ? { resume } : {}),
        ...(!resume && this.#options.token ? { token: this.#options.token } : {}),
        ...(!resume && this.#options.password ? { password: this.#options.password } : {}),
        ...(!resume && this.#rejoinToken ? { rejoin: this.#rejoinToken } : {}),
        ...(!resume && this.card ? { card: this.card } : {}),
        ...(!resume && this.#options.viewer ? { viewer: true } : {}),
      });
    } catch (error) {
      signal.close();
      throw error;
    }
    if (joined.type !== 'joined') throw new Error(`unexpected reply to join: ${joined.type}`);
    this.#signal = signal;
    signal.on('message', (m) => this.#onMessage(m));
    queueMicrotask(() => signal.flushBacklog());
    signal.on('close', (code) => this.#onSignalClose(signal, code));
    this.participantId = joined.self.id;
    this.displayName = joined.self.name;
    this.role = joined.self.role ?? 'guest';
    this.canPublish = joined.self.canPublish ?? true;
    this.viewers = joined.viewers ?? 0;
    if (joined.roomState) this.roomState = joined.roomState;
    this.#resumeToken = joined.resumeToken;
    if (joined.rejoinToken) this.#rejoinToken = joined.rejoinToken;
    this.#fileToken = joined.fileToken;
    this.#iceServers = joined.iceServers ?? [];
    this.#nodes = joined.nodes ?? [];
    this.files = [...(joined.files ?? [])];
    this.#applySnapshot(joined);
    // The server's side of the board follows `joined`; this side says what it has.
    if (this.role !== 'viewer') this.board.sync();
  }

  /** Brings the participant list in line with a `joined` snapshot (first join or resume). */
  #applySnapshot(joined: Extract<ServerMessage, { type: 'joined' }>): void {
    const present = new Set(joined.participants.map((p) => p.id));
    for (const p of [...this.participants.values()]) {
      if (!present.has(p.id)) this.#removeParticipant(p.id);
    }
    for (const info of joined.participants) {
      const existing = this.participants.get(info.id);
      if (!existing) {
        const p = new RemoteParticipant<T>(info);
        this.participants.set(p.id, p);
        this.emit('participantJoined', p);
        for (const t of p.tracks.values()) this.emit('trackPublished', t, p);
        continue;
      }
      const ids = new Set(info.tracks.map((t) => t.id));
      for (const t of [...existing.tracks.values()]) if (!ids.has(t.id)) this.#removeTrack(existing, t.id);
      for (const t of info.tracks) {
        const known = existing.tracks.get(t.id);
        if (!known) this.emit('trackPublished', existing.addTrack(t), existing);
        else if (known.muted !== t.muted) {
          known.muted = t.muted;
          this.emit('trackMuted', known, existing);
        }
      }
      if (existing.state !== info.state) {
        existing.state = info.state;
        this.emit('participantState', existing);
      }
      if (existing.hand !== info.hand) {
        existing.hand = info.hand;
        this.emit('hand', existing.id, existing.hand, undefined);
      }
      if (JSON.stringify(existing.card) !== JSON.stringify(info.card)) {
        existing.card = info.card;
        this.emit('participantCard', existing.id, existing.card);
      }
    }
    const seen = new Set(this.chat.map((m) => m.id));
    for (const m of joined.chat) if (!seen.has(m.id)) this.chat.push(m);
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'participantJoined': {
        if (this.participants.has(message.participant.id)) return;
        const p = new RemoteParticipant<T>(message.participant);
        this.participants.set(p.id, p);
        this.emit('participantJoined', p);
        for (const t of p.tracks.values()) this.emit('trackPublished', t, p);
        return;
      }
      case 'participantLeft':
        return this.#removeParticipant(message.participantId);
      case 'participantState': {
        const p = this.participants.get(message.participantId);
        if (!p) return;
        p.state = message.state;
        this.emit('participantState', p);
        return;
      }
      case 'trackPublished': {
        const p = this.participants.get(message.participantId);
        if (!p || p.tracks.has(message.track.id)) return;
        this.emit('trackPublished', p.addTrack(message.track), p);
        return;
      }
      case 'trackUnpublished': {
        const p = this.participants.get(message.participantId);
        if (p) this.#removeTrack(p, message.trackId);
        return;
      }
      case 'trackMuted': {
        if (message.participantId === this.participantId) {
          // A host muted us: the server no longer forwards the track; stop sending it too.
          const local = this.localTracks.find((l) => l.id === message.trackId);
          if (!local || !message.muted) return;
          local.muted = true;
          local.track.enabled = false;
          this.emit('localTrackMuted', local, message.by ?? '');
          return;
        }
        const p = this.participants.get(message.participantId);
        const t = p?.tracks.get(message.trackId);
        if (!p || !t) return;
        t.muted = message.muted;
        this.emit('trackMuted', t, p);
        return;
      }
      case 'offer':
        this.#subscribeQueue = this.#subscribeQueue
          .then(() => this.#onSubscriberOffer(message))
          .catch((error: unknown) => this.emit('error', error as Error));
        return;
      case 'chat':
        this.chat.push(message.message);
        this.emit('chat', message.message);
        return;
      case 'board':
        this.board.receive(message.data);
        return;
      case 'boardCleared':
        this.board.cleared(message.by);
        return;
      case 'file':
        this.files.push(message.file);
        this.emit('file', message.file);
        return;
      case 'error':
        this.emit('error', new ServerError(message.code, message.message));
        // The server ended this participant because its media never came up (a path that went down while
        // it joined, such as a capped link): join again, as after `bye` with `rejoin`, rather than stay out.
        if (message.code === 'CONNECT_TIMEOUT' && !this.#leaving && !this.#rejoining) {
          this.#rejoining = true;
          void this.#rejoin();
        }
        return;
      case 'bye':
        // The server is restarting (and says when to come back), or ended a session whose media was lost.
        if ((message.rejoin || message.rejoinAfterMs !== undefined) && !this.#leaving) {
          this.#rejoining = true;
          void this.#rejoin(message.rejoinAfterMs);
          return;
        }
        this.#leaving = true;
        this.emit('ended', message.reason);
        return;
      case 'hand': {
        const hand = message.raised ? message.hand : undefined;
        if (message.participantId === this.participantId) this.hand = hand;
        const p = this.participants.get(message.participantId);
        if (p) p.hand = hand;
        if (hand !== undefined && message.name !== undefined && !p)
          this.audienceHands.set(message.participantId, { name: message.name, hand });
        else this.audienceHands.delete(message.participantId);
        this.emit('hand', message.participantId, hand, message.by);
        return;
      }
      case 'reaction':
        this.emit('reaction', message.participantId, message.emoji);
        return;
      case 'layers': {
        const local = this.localTracks.find((l) => l.id === message.trackId);
        if (!local?.encodings) return;
        this.#setLayersActive(local, message.active).catch(() => {
          // The track is being replaced or the connection is closing: the next message sets it again.
        });
        this.emit('layersActive', local, message.active);
        return;
      }
      case 'viewers':
        this.viewers = message.count;
        this.emit('viewers', message.count);
        return;
      case 'stage':
        this.role = message.role;
        this.canPublish = message.canPublish;
        this.hand = undefined;
        if (message.rejoinToken) this.#rejoinToken = message.rejoinToken;
        if (message.files) this.files = [...message.files];
        if (message.onStage) {
          // The board is the room's working material, for its participants: catch up now.
          this.board.sync();
        } else {
          // The server ended what this client sent; its senders stop with one renegotiation.
          this.#rejoinToken = '';
          const sent = this.localTracks.splice(0);
          for (const local of sent) local.transceiver.stop();
          if (sent.length > 0)
            this.#negotiatePublisher().catch((error: unknown) => this.emit('error', error as Error));
        }
        this.emit('stage', message.onStage);
        return;
      case 'participantCard': {
        const card = message.card ?? undefined;
        if (message.participantId === this.participantId) this.card = card;
        const p = this.participants.get(message.participantId);
        if (p) p.card = card;
        this.emit('participantCard', message.participantId, card);
        return;
      }
      case 'participantRole': {
        if (message.participantId === this.participantId) this.role = message.role;
        const p = this.participants.get(message.participantId);
        if (p) p.role = message.role;
        this.emit('roleChanged', message.participantId, message.role);
        return;
      }
      case 'roomState':
        this.roomState = {
          locked: message.locked,
          passwordProtected: message.passwordProtected,
          listed: message.listed,
          ...(message.topic !== undefined ? { topic: message.topic } : {}),
          ...(message.spotlight !== undefined ? { spotlight: message.spotlight } : {}),
          ...(message.recording !== undefined ? { recording: message.recording } : {}),
          ...(message.boardLocked ? { boardLocked: true } : {}),
          ...(message.annotationOff?.length ? { annotationOff: message.annotationOff } : {}),
        };
        this.emit('roomState', this.roomState);
        return;
      case 'recording':
        this.emit('recording', {
          state: message.state,
          id: message.id,
          ...(message.by !== undefined ? { by: message.by } : {}),
          ...(message.reason !== undefined ? { reason: message.reason } : {}),
          ...(message.error !== undefined ? { error: message.error } : {}),
        });
        return;
      default:
        return;
    }
  }

  #removeTrack(p: RemoteParticipant<T>, trackId: string): void {
    const t = p.tracks.get(trackId);
    if (!t) return;
    p.tracks.delete(trackId);
    if (t.mediaTrack) {
      t.mediaTrack = undefined;
      t.transceiver = undefined;
      this.emit('trackUnsubscribed', t, p);
    }
    this.emit('trackUnpublished', t, p);
  }

  #removeParticipant(id: string): void {
    const p = this.participants.get(id);
    if (!p) return;
    for (const trackId of [...p.tracks.keys()]) this.#removeTrack(p, trackId);
    this.participants.delete(id);
    this.emit('participantLeft', p);
  }

  #pc(target: PcTarget): PeerConnectionLike {
    const existing = target === 'publisher' ? this.#publisher : this.#subscriber;
    if (existing) return existing;
    // A call kept on one transport is a direct one: no TURN relay (its candidates are UDP too).
    const only = this.#options.iceProtocol;
    const pc = this.#options.createPeerConnection(
      only ? [] : turnServersVia(this.#iceServers, this.#options.turnTransport),
    );
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (!c?.candidate) return;
      if (only && candidateProtocol(c.candidate) !== only) return;
      const held = this.#heldCandidates[target];
      if (held) held.push(candidateToJson(c));
      else this.#signal.send({ type: 'candidate', target, candidate: candidateToJson(c) });
    };
    pc.onconnectionstatechange = () => this.#onPeerState(target, pc);
    if (target === 'publisher') this.#publisher = pc;
    else this.#subscriber = pc;
    return pc;
  }

  /**
   * A connection whose ICE consent expired is `failed` until ICE restarts. This client restarts the
   * publisher connection (it offers) until it is back; the server restarts the subscriber connection.
   */
  #onPeerState(target: PcTarget, pc: PeerConnectionLike): void {
    if (pc !== (target === 'publisher' ? this.#publisher : this.#subscriber) || this.#leaving) return;
    const state = pc.connectionState;
    if (state === 'failed') {
      this.#mediaDown.add(target);
      this.#setState('reconnecting');
      if (target === 'publisher' && !this.#restartTimer) {
        this.#restartPublisher();
        this.#restartTimer = setInterval(() => this.#restartPublisher(), ICE_RESTART_INTERVAL_MS);
      }
      return;
    }
    if (state !== 'connected' || !this.#mediaDown.delete(target)) return;
    if (target === 'publisher') this.#stopRestarts();
    if (this.#mediaDown.size === 0 && !this.#signal.closed && !this.#rejoining) this.#setState('connected');
  }

  #restartPublisher(): void {
    if (this.#leaving || this.#publisher?.connectionState === 'connected') return this.#stopRestarts();
    this.#iceRestart = true;
    this.#negotiatePublisher().catch(() => {
      // The signaling connection is down too; its resume (or the next restart) tries again.
    });
  }

  #stopRestarts(): void {
    clearInterval(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  /**
   * The server ended the session after its media (or its signaling) stayed lost past the resume window,
   * or it restarted (said so with `bye`, or was killed and no longer knows the session): join again, as a
   * new participant with the rejoin token (same name and role, let through a lock), and publish the same
   * tracks on new connections. `afterMs`: how long the server asked to wait first.
   */
  async #rejoin(afterMs = 0): Promise<void> {
    this.#rejoining = true;
    this.#setState('reconnecting');
    const deadline = Date.now() + REJOIN_WINDOW_MS;
    this.#stopRestarts();
    this.#mediaDown.clear();
    const old = [this.#publisher, this.#subscriber];
    this.#publisher = undefined;
    this.#subscriber = undefined;
    for (const pc of old) pc?.close();
    this.#heldCandidates.publisher = [];
    this.#heldCandidates.subscriber = [];
    for (const p of this.participants.values()) {
      for (const t of p.tracks.values()) {
        if (!t.mediaTrack) continue;
        t.mediaTrack = undefined;
        t.transceiver = undefined;
        this.emit('trackUnsubscribed', t, p);
      }
      // Until the new snapshot, the others are shown as what they are to us: cut off, coming back.
      if (p.state !== 'reconnecting') {
        p.state = 'reconnecting';
        this.emit('participantState', p);
      }
    }
    if (afterMs > 0) await sleep(jittered(afterMs));
    let delay = 250;
    while (!this.#leaving) {
      if (Date.now() > deadline) {
        this.#rejoining = false;
        await this.#teardown();
        return;
      }
      try {
        await this.#join();
        break;
      } catch (error) {
        if (error instanceof ServerError && !RETRY_CODES.has(error.code)) {
          this.emit('error', error);
          this.#rejoining = false;
          await this.#teardown();
          return;
        }
      }
      await sleep(jittered(delay));
      delay = Math.min(delay * 2, REJOIN_MAX_DELAY_MS);
    }
    if (this.#leaving) return;
    if (this.localTracks.length > 0) {
      const pc = this.#pc('publisher');
      for (const local of this.localTracks) {
        local.id = undefined;
        local.transceiver = pc.addTransceiver(local.track, sendInit(local.encodings));
      }
      await this.#negotiatePublisher().catch((error: unknown) => this.emit('error', error as Error));
    }
    this.#rejoining = false;
    this.#setState('connected');
    this.emit('rejoined');
  }

  /** A description with only the candidates `iceProtocol` allows. */
  #keep(sdp: string): string {
    return keepCandidates(sdp, this.#options.iceProtocol);
  }

  #releaseCandidates(target: PcTarget): void {
    const held = this.#heldCandidates[target];
    this.#heldCandidates[target] = undefined;
    for (const candidate of held ?? []) this.#signal.send({ type: 'candidate', target, candidate });
  }

  async #onSubscriberOffer(offer: Extract<ServerMessage, { type: 'offer' }>): Promise<void> {
    const pc = this.#pc('subscriber');
    await pc.setRemoteDescription({ type: 'offer', sdp: this.#keep(offer.sdp) });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.#signal.send({ type: 'answer', sdp: this.#keep(pc.localDescription!.sdp!) });
    this.#releaseCandidates('subscriber');

    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    const carried = new Set<string>();
    for (const { mid, trackId, participantId } of offer.tracks) {
      const p = this.participants.get(participantId);
      const t = p?.tracks.get(trackId);
      const transceiver = byMid.get(mid);
      if (!p || !t || !transceiver) continue;
      carried.add(trackId);
      if (t.mediaTrack) continue;
      t.mediaTrack = transceiver.receiver.track as T;
      t.transceiver = transceiver;
      this.emit('trackSubscribed', t, p);
    }
    for (const p of this.participants.values()) {
      for (const t of p.tracks.values()) {
        if (t.mediaTrack && !carried.has(t.id)) {
          t.mediaTrack = undefined;
          t.transceiver = undefined;
          this.emit('trackUnsubscribed', t, p);
        }
      }
    }
  }

  /**
   * Publishes a camera, microphone or screen track; resolves once the server accepted it. With `simulcast`
   * a browser's video is sent in layers of several sizes (`simulcastEncodings`: by the track's size; none
   * for a small one), of which the server sends each viewer the one that fits; `encodings` names the
   * layers outright (a Node publisher that sends each itself, `Bot`'s `simulcast`).
   */
  publishTrack(
    track: T,
    source: TrackSource,
    options: { muted?: boolean; simulcast?: boolean; encodings?: SimulcastEncoding[] } = {},
  ): Promise<LocalTrack<T>> {
    const pc = this.#pc('publisher');
    const settings = options.simulcast ? (track as MaybeSettings).getSettings?.() : undefined;
    const encodings =
      options.encodings ??
      (settings?.width && settings.height ? simulcastEncodings(settings.width, settings.height) : undefined);
    const transceiver = pc.addTransceiver(track, sendInit(encodings));
    const local = new LocalTrack<T>(track, source, transceiver, options.muted ?? false, encodings);
    this.localTracks.push(local);
    return this.#negotiatePublisher().then(() => local);
  }

  /** Turns a browser's simulcast encodings on and off (`RTCRtpSender.setParameters`) as the server asks. */
  async #setLayersActive(local: LocalTrack<T>, active: boolean[]): Promise<void> {
    const sender = local.transceiver.sender as unknown as Partial<EncodingSender>;
    if (!sender.getParameters || !sender.setParameters) return;
    const parameters = sender.getParameters();
    if (!parameters.encodings?.length) return;
    const rids = local.encodings!.map((e) => e.rid);
    let changed = false;
    for (const encoding of parameters.encodings) {
      const on = active[rids.indexOf(encoding.rid ?? '')];
      if (on === undefined || encoding.active === on) continue;
      encoding.active = on;
      changed = true;
    }
    if (changed) await sender.setParameters(parameters);
  }

  /** Stops publishing a track; media of the other tracks keeps flowing. */
  async unpublishTrack(local: LocalTrack<T>): Promise<void> {
    const i = this.localTracks.indexOf(local);
    if (i < 0) return;
    this.localTracks.splice(i, 1);
    local.transceiver.stop();
    await this.#negotiatePublisher();
  }

  /** Mutes or unmutes a published track: the media is disabled here and everyone is told. */
  setMuted(local: LocalTrack<T>, muted: boolean): void {
    local.muted = muted;
    local.track.enabled = !muted;
    if (local.id) this.#signal.send({ type: 'mute', trackId: local.id, muted });
  }

  /**
   * Sends `track` in place of a published track's media (a different camera or microphone, or the same
   * device reopened after it was stopped), without renegotiating. The mute state carries over.
   */
  async replaceTrack(local: LocalTrack<T>, track: T): Promise<void> {
    track.enabled = !local.muted;
    await local.transceiver.sender.replaceTrack(track);
    local.track = track;
  }

  /** WebRTC statistics of the connection that sends (`publisher`) or receives (`subscriber`) media. */
  async getStats(target: PcTarget): Promise<ReadonlyMap<string, unknown> | undefined> {
    const pc = target === 'publisher' ? this.#publisher : this.#subscriber;
    return pc ? await pc.getStats() : undefined;
  }

  /**
   * Tells the server the size, in device pixels, at which a remote video is shown (0×0: nowhere, such as
   * off screen), so that it sends the simulcast layer that fits, or no video while it is not seen. Sent
   * when it changes, at most every VIDEO_SIZE_INTERVAL_MS a track (the last size wins).
   */
  setVideoSize(trackId: string, width: number, height: number): void {
    const size = { width: Math.max(0, Math.round(width)), height: Math.max(0, Math.round(height)) };
    const entry = this.#videoSizes.get(trackId) ?? { sent: undefined, wanted: size, timer: undefined };
    entry.wanted = size;
    this.#videoSizes.set(trackId, entry);
    if (entry.timer) return;
    const send = () => {
      entry.timer = undefined;
      const { wanted, sent } = entry;
      if (sent && sent.width === wanted.width && sent.height === wanted.height) return;
      if (this.state === 'disconnected') return;
      entry.sent = wanted;
      this.#signal.send({ type: 'videoSize', trackId, ...wanted });
      entry.timer = setTimeout(send, VIDEO_SIZE_INTERVAL_MS);
    };
    send();
  }

  sendChat(text: string): void {
    this.#signal.send({ type: 'chat', text });
  }

  // Host controls. The server checks the role: a guest's call rejects with ServerError NOT_HOST.

  /** Mutes someone's microphone (or one track): the server stops forwarding it and everyone is told. */
  async muteParticipant(participantId: string, trackId?: string): Promise<void> {
    await this.#signal.request({ type: 'muteParticipant', participantId, ...(trackId ? { trackId } : {}) });
  }

  /** Removes someone; a removed token identity cannot come back until the room ends. */
  async removeParticipant(participantId: string): Promise<void> {
    await this.#signal.request({ type: 'removeParticipant', participantId });
  }

  /** A locked room admits nobody new except holders of a host token. */
  async lockRoom(locked: boolean): Promise<void> {
    await this.#signal.request({ type: 'lockRoom', locked });
  }

  /**
   * Replaces this person's calling card (null removes it); everyone in the room sees the new one. The
   * server refuses an invalid card with INVALID_CARD and more than a few changes a minute with
   * CARD_RATE_LIMITED.
   */
  async setCard(card: ParticipantCard | null): Promise<void> {
    // The room's `participantCard` (with the card as the server keeps it) arrives before the reply.
    await this.#signal.request({ type: 'setCard', card });
  }

  /** Host control: brings a viewer on stage (from `audienceHands`), or sends a participant back to the audience. */
  async setOnStage(participantId: string, onStage: boolean): Promise<void> {
    await this.#signal.request({ type: 'stage', participantId, onStage });
  }

  /** Raises or lowers this person's hand; everyone sees the queue of raised hands. */
  async raiseHand(raised: boolean): Promise<void> {
    await this.#signal.request({ type: 'raiseHand', raised });
  }

  /** Sends a reaction (one of REACTIONS) over this person's tile; TOO_MANY_REACTIONS past 5 in 10 s. */
  async react(emoji: Reaction): Promise<void> {
    await this.#signal.request({ type: 'react', emoji });
  }

  /** Shows `participantId` large on everyone's screen, or with null ends the spotlight (hosts only). */
  async spotlight(participantId: string | null): Promise<void> {
    await this.#signal.request({ type: 'spotlight', participantId });
  }

  /** Lowers someone's hand (hosts only). */
  async lowerHand(participantId: string): Promise<void> {
    await this.#signal.request({ type: 'lowerHand', participantId });
  }

  /** Shows the room in the server's directory with `topic` (hosts only), or with false takes it out. */
  async listRoom(listed: boolean, topic?: string): Promise<void> {
    await this.#signal.request({ type: 'listRoom', listed, ...(topic !== undefined ? { topic } : {}) });
  }

  /** Sets the room password (null removes it); people without an access token must then give it. */
  async setRoomPassword(password: string | null): Promise<void> {
    await this.#signal.request({ type: 'setPassword', password });
  }

  /** Starts recording the room (hosts only); everyone sees `roomState.recording`. ALREADY_RECORDING when on. */
  async startRecording(): Promise<void> {
    await this.#signal.request({ type: 'startRecording' });
  }

  /** Stops the room's recording (hosts only); NOT_RECORDING when there is none. */
  async stopRecording(): Promise<void> {
    await this.#signal.request({ type: 'stopRecording' });
  }

  /**
   * Sends a file to the room, or to one person (`to`: their participant id), over HTTP with this client's
   * file token; resolves with the file as everyone it is for hears it (`file`). Refusals reject with a
   * `ServerError`: FILE_TOO_LARGE and ROOM_FILES_FULL before the bytes are sent.
   */
  async sendFile(data: Uint8Array | Blob, name: string, options: { to?: string } = {}): Promise<SharedFile> {
    const query = new URLSearchParams({ name, ...(options.to ? { to: options.to } : {}) });
    const response = await fetch(`${this.#filesUrl()}?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#fileToken}`, 'content-type': 'application/octet-stream' },
      body: data as BodyInit,
    });
    return (await httpResult(response)) as SharedFile;
  }

  /** Downloads a file sent in the room (one of `files`); rejects with a `ServerError` when refused. */
  async downloadFile(file: Pick<SharedFile, 'id'>): Promise<Uint8Array> {
    const response = await fetch(`${this.#filesUrl()}/${encodeURIComponent(file.id)}`, {
      headers: { authorization: `Bearer ${this.#fileToken}` },
    });
    if (!response.ok) await httpResult(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  /**
   * Puts an export of the whiteboard (PNG, SVG or PDF, found from its bytes) into the room's recording,
   * beside the movie: NOT_RECORDING when the room is not being recorded. Resolves to the name it got.
   */
  async saveBoardExport(data: Uint8Array | Blob): Promise<{ name: string; bytes: number }> {
    const response = await fetch(this.#filesUrl().replace(/\/files$/, '/board/exports'), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#fileToken}`, 'content-type': 'application/octet-stream' },
      body: data as BodyInit,
    });
    return (await httpResult(response)) as { name: string; bytes: number };
  }

  /**
   * The server's media ports in the descriptions it sent (its ICE candidates, those this call keeps),
   * by transport: what a firewall must let through.
   */
  serverMediaPorts(): { udp: number[]; tcp: number[] } {
    return candidatePorts([
      this.#publisher?.remoteDescription?.sdp,
      this.#subscriber?.remoteDescription?.sdp,
    ]);
  }

  /** The TURN server the server handed this participant (`joined.iceServers`; none: []). */
  get iceServers(): readonly IceServerConfig[] {
    return this.#iceServers;
  }

  /** This client's credential for the room's files (for a download with progress, as the web client does). */
  get fileToken(): string {
    return this.#fileToken;
  }

  /** `http(s)://host:port/rooms/<room>/files`, from the URL the client was given. */
  #filesUrl(): string {
    const u = new URL(this.#url);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    return `${u.origin}/rooms/${encodeURIComponent(this.name)}/files`;
  }

  /** Lets guests only look at the whiteboard, or draw again (hosts only). */
  async lockBoard(locked: boolean): Promise<void> {
    await this.#signal.request({ type: 'lockBoard', locked });
  }

  /** Empties the whiteboard for everyone (hosts only). */
  async clearBoard(): Promise<void> {
    await this.#signal.request({ type: 'clearBoard' });
  }

  /**
   * Lets others draw over a shared screen (`board.annotation(id)`), or not: your own, or as a host
   * anyone's (`participantId`). Everyone sees `roomState.annotationOff`.
   */
  async allowAnnotation(allowed: boolean, participantId?: string): Promise<void> {
    await this.#signal.request({
      type: 'allowAnnotation',
      allowed,
      ...(participantId !== undefined ? { participantId } : {}),
    });
  }

  /** Takes every drawing off a shared screen: your own, or as a host anyone's. */
  async clearAnnotation(participantId?: string): Promise<void> {
    await this.#signal.request({
      type: 'clearAnnotation',
      ...(participantId !== undefined ? { participantId } : {}),
    });
  }

  /** Ends the room for everyone. */
  async endRoom(): Promise<void> {
    await this.#signal.request({ type: 'endRoom' });
  }

  /**
   * Negotiates the publisher connection after the negotiation in progress, if any. Calls made before that
   * next negotiation has started share it: tracks published together (camera and microphone at join) go
   * in one offer.
   */
  #negotiatePublisher(): Promise<void> {
    if (this.#publishWaiting) return this.#publishWaiting;
    const run = async () => {
      this.#publishWaiting = undefined;
      const pc = this.#pc('publisher');
      const iceRestart = this.#iceRestart;
      this.#iceRestart = false;
      const offer = await pc.createOffer(iceRestart ? { iceRestart } : undefined);
      await pc.setLocalDescription(offer);
      const tracks = this.localTracks
        .filter((l) => l.transceiver.mid !== null)
        .map((l) => ({ mid: l.transceiver.mid!, source: l.source, muted: l.muted }));
      const sdp = this.#keep(pc.localDescription!.sdp!);
      const reply = await this.#signal.request({ type: 'offer', sdp, tracks });
      if (reply.type !== 'answer') throw new Error(`unexpected reply to offer: ${reply.type}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: this.#keep(reply.sdp) });
      this.#releaseCandidates('publisher');
      for (const { mid, trackId } of reply.tracks) {
        const local = this.localTracks.find((l) => l.transceiver.mid === mid);
        if (local) local.id = trackId;
      }
    };
    const next = this.#publishQueue.then(run, run);
    this.#publishWaiting = next;
    this.#publishQueue = next.catch(() => {});
    return next;
  }

  #setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('connectionState', state);
  }

  #onSignalClose(signal: Signal, code: number): void {
    if (signal !== this.#signal || this.state === 'disconnected' || this.#rejoining) return;
    if (this.#leaving || code === 1000 || code === 4001) {
      this.#teardown();
      return;
    }
    void this.#resume();
  }

  /** After a dropped connection: rejoin with the resume token until the server's window runs out. */
  async #resume(): Promise<void> {
    this.#setState('reconnecting');
    const deadline = Date.now() + (this.#options.resumeWindowMs ?? 15_000);
    let delay = 250;
    while (Date.now() < deadline && !this.#leaving) {
      try {
        await this.#join(this.#resumeToken);
        if (this.#mediaDown.size === 0) this.#setState('connected');
        return;
      } catch (error) {
        // The server let the session go (its resume window ran out during a long cut, or it restarted
        // and never knew it): join again.
        if (error instanceof ServerError && error.code === 'RESUME_FAILED') break;
        if (error instanceof ServerError && !RETRY_CODES.has(error.code)) {
          this.emit('error', error);
          this.#teardown();
          return;
        }
      }
      await sleep(jittered(delay));
      delay = Math.min(delay * 2, 2000);
    }
    if (this.#leaving) return;
    this.#rejoining = true;
    await this.#rejoin();
  }

  #teardown(): Promise<unknown> {
    this.#leaving = true;
    this.#stopRestarts();
    for (const { timer } of this.#videoSizes.values()) clearTimeout(timer);
    this.#videoSizes.clear();
    const closing = Promise.allSettled([this.#publisher, this.#subscriber].map((pc) => pc?.close()));
    this.#publisher = undefined;
    this.#subscriber = undefined;
    this.#setState('disconnected');
    return closing;
  }

  /** Leaves the room: the server is told, both peer connections close. */
  async leave(): Promise<void> {
    if (this.state === 'disconnected') return;
    this.#leaving = true;
    const closed = new Promise<void>((resolve) => {
      if (this.#signal.closed) resolve();
      else this.#signal.once('close', () => resolve());
    });
    this.#signal.send({ type: 'leave' });
    this.board.close();
    // The server closes the connection once it has taken the leave; do not wait for it past 2 s, and
    // leave no timer behind (a Node process that left would otherwise stay up for those 2 s). Then close
    // cleanly from here: dropping the socket instead made the next joins of a process fail (a load of
    // 200 Node clients after 400 had left: every subscriber's candidates refused, `npm run bench`).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((resolve) => {
      timer = setTimeout(resolve, 2000);
    });
    await Promise.race([closed, late]);
    clearTimeout(timer);
    this.#signal.close();
    await this.#teardown();
  }

  /** Cuts the signaling connection without a leave, as a network drop would (tests of resume use it). */
  dropConnection(): void {
    this.#signal.terminate();
  }
}
