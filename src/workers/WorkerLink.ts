import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { CodedError, InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import {
  type FeedInfo,
  MediaSession,
  type MediaSessionEvents,
  type MediaSlot,
  type ParticipantMedia,
  type PeerRole,
  type PublishedTrack,
  type PublishResult,
  type RemoteCandidate,
  type RtcSettings,
  type RtpSource,
  SdpError,
  type SubscriberOffer,
  TrackExport,
  TrackImport,
} from '../sfu/index.js';

/**
 * Two room workers' own channel (a `MessageChannel` the main thread made for them): how a room spreads
 * its audience over every worker. The room, its participants and their signaling stay on the worker that
 * owns the room; a viewer's media session (its peer connection, the encryption and sending of every
 * packet it gets) runs on another worker, which gets **one** copy of each track it needs, whatever the
 * number of viewers there (`TrackExport` / `TrackImport`, src/sfu/TrackRelay.ts).
 *
 * Each side of a link plays both parts: it may own rooms whose viewers' media the other side hosts, and
 * host media for the other side's rooms. A viewer brought on stage publishes from where its media is; its
 * tracks come back over the same link.
 */

/**
 * A viewer on the room's own worker counts this much when viewers are shared out: that worker also
 * receives and decrypts the publishers, relays each packet and runs the room.
 */
const OWNER_WEIGHT = 1.5;
/** A link to another node that has carried no session this long is closed (a new viewer there opens one). */
const NODE_LINK_IDLE_MS = 30_000;
/** Simulcast layers wanted over a link, and their state there, are said this often. */
const CHECK_MS = 1000;

type ErrorData = { name: string; message: string; code?: string };

type SessionCall =
  | { op: 'subscribe'; feed: number }
  | { op: 'unsubscribe'; track: string }
  | { op: 'viewSize'; track: string; width: number; height: number }
  | { op: 'answer'; sdp: string }
  | { op: 'candidate'; role: PeerRole; candidate: RemoteCandidate | null }
  | { op: 'publish'; sdp: string; mids: string[] }
  | { op: 'close' };

type SessionEvent =
  | { e: 'offer'; offer: SubscriberOffer }
  | { e: 'state'; role: PeerRole; state: string }
  | { e: 'closed' };

/** What crosses a link, as structured-clone data. */
export type LinkMessage =
  | { t: 'feed'; info: FeedInfo }
  /**
   * One RTP packet of a feed, in a buffer of its own handed over (not copied again): it starts at offset
   * 0, so its payload is 4-byte aligned (an RTP header is whole 32-bit words) and the SRTP seal XORs it a
   * word at a time (byte by byte, unaligned: three times the cost, measured).
   */
  | { t: 'rtp'; feed: number; layer: number; data: Uint8Array }
  | { t: 'sr'; feed: number; wallMs: number; rtpTimestamp: number }
  | { t: 'ended'; feed: number }
  | { t: 'keyframe'; feed: number; layer: number }
  | { t: 'want'; feed: number; active: boolean[] }
  | { t: 'open'; session: string }
  /** `id` 0: no reply is wanted. */
  | { t: 'call'; id: number; session: string; call: SessionCall }
  | { t: 'reply'; id: number; result?: unknown; error?: ErrorData }
  | { t: 'event'; session: string; event: SessionEvent };

/** What a link has moved, for the metrics and the tests. */
export interface LinkTotals {
  /** RTP packets handed to other workers (each once per worker, whatever its number of viewers). */
  packetsOut: number;
  packetsIn: number;
  /** Viewers' media sessions this worker runs for rooms on other workers. */
  hosted: number;
  /** Viewers of this worker's rooms whose media runs on other workers. */
  remote: number;
  /** RTP packets handed to other nodes of a cluster (each once per node and room worker there). */
  nodePacketsOut: number;
  nodePacketsIn: number;
}

function errorData(error: unknown): ErrorData {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    name: e instanceof SdpError ? 'SdpError' : e instanceof CodedError ? 'CodedError' : e.name,
    message: e.message,
    ...(e instanceof CodedError ? { code: e.code } : {}),
  };
}

function errorOf(data: ErrorData): Error {
  if (data.name === 'SdpError') return new SdpError(data.message);
  if (data.name === 'CodedError' && data.code) return new CodedError(data.code as never, data.message);
  if (data.name === 'InvalidStateError') return new InvalidStateError(data.message);
  return new Error(data.message);
}

type PublishReply = { sdp: string; tracks: { mid: string; feed: number }[] };

/**
 * This worker's end of its channel to one other worker: of this process (its index), or in a cluster a
 * worker of another node (`node:<id>`), the channel then carried between the two nodes' main threads
 * (src/cluster/nodeLinks.ts).
 */
export class WorkerLink {
  /** The other worker's index, or `node:<id>` for a worker of another node. */
  readonly peer: number | string;
  readonly #port: MessagePort;
  readonly #rtc: RtcSettings;
  readonly #log: Logger;
  // Sending: this worker's tracks fed to the other, by track id, and who on the other side uses each.
  readonly #exports = new Map<string, { exp: TrackExport; users: Set<string>; pinned: boolean }>();
  readonly #exportsByFeed = new Map<number, TrackExport>();
  #nextFeed = 1;
  // Receiving: the other worker's tracks mirrored here, by feed.
  readonly #imports = new Map<number, TrackImport>();
  // Sessions run here for the other worker's rooms, and proxies here of sessions run there.
  readonly #hosted = new Map<string, { session: MediaSession; offs: (() => void)[] }>();
  readonly #proxies = new Map<string, RemoteMediaSession>();
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  #nextCall = 1;
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  /** Called once when the link closes (its counts are kept by `WorkerLinks`). */
  onClosed: (() => void) | undefined;
  /**
   * Close the link once it has carried nothing this long (a link to another node, closed by the side that
   * opened it: the WebSocket between the nodes ends with it). Undefined: kept while both sides live.
   */
  idleCloseMs: number | undefined;
  #idleSince: number | undefined;
  packetsOut = 0;
  packetsIn = 0;

  constructor(peer: number | string, port: MessagePort, rtc: RtcSettings, log: Logger) {
    this.peer = peer;
    this.#port = port;
    this.#rtc = rtc;
    this.#log = log.child({ link: peer });
    port.on('message', (message: LinkMessage) => {
      try {
        this.#receive(message);
      } catch (error) {
        this.#log.error({ err: error, t: message?.t }, 'link message failed');
      }
    });
    // The other worker stopped (it failed, or the server is stopping): what crossed this link ends.
    port.on('close', () => void this.close());
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
    this.#timer.unref();
  }

  get hostedCount(): number {
    return this.#hosted.size;
  }

  get remoteCount(): number {
    return this.#proxies.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A viewer's media session on the other worker, behind a proxy that the room uses as its own. */
  openSession(id: string): RemoteMediaSession {
    if (this.#closed) throw new InvalidStateError(`the link to worker ${this.peer} is closed`);
    const proxy = new RemoteMediaSession(id, this);
    this.#proxies.set(id, proxy);
    proxy.on('closed', () => this.#proxies.delete(id));
    this.#post({ t: 'open', session: id });
    return proxy;
  }

  // ---- used by the proxies ----

  /**
   * Feeds `track` to the other worker for session `user` (once per track, whatever its users); -1 when the
   * link is closed (its sessions are ending).
   */
  use(track: PublishedTrack, user: string): number {
    if (this.#closed) return -1;
    let entry = this.#exports.get(track.id);
    if (!entry) {
      const exp = new TrackExport(this.#nextFeed++, track, this.#relayOut);
      entry = { exp, users: new Set(), pinned: false };
      const made = entry;
      this.#exports.set(track.id, made);
      this.#exportsByFeed.set(exp.feed, exp);
      exp.onClosed = () => {
        if (this.#exports.get(track.id) === made) this.#exports.delete(track.id);
        this.#exportsByFeed.delete(exp.feed);
      };
      this.#post({ t: 'feed', info: exp.info });
    }
    entry.users.add(user);
    return entry.exp.feed;
  }

  /** Session `user` no longer needs `trackId`: the feed stops when nobody on the other side does. */
  release(trackId: string, user: string): void {
    const entry = this.#exports.get(trackId);
    if (!entry || !entry.users.delete(user) || entry.users.size > 0 || entry.pinned) return;
    entry.exp.close();
  }

  /** A track mirrored here, by its feed (a track the other side published for a proxy's session). */
  imported(feed: number): TrackImport | undefined {
    return this.#imports.get(feed);
  }

  call<T>(session: string, call: SessionCall): Promise<T> {
    if (this.#closed)
      return Promise.reject(new InvalidStateError(`the link to worker ${this.peer} is closed`));
    const id = this.#nextCall++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#post({ t: 'call', id, session, call });
    });
  }

  tell(session: string, call: SessionCall): void {
    if (!this.#closed) this.#post({ t: 'call', id: 0, session, call });
  }

  // ---- the wire ----

  readonly #relayOut = {
    rtp: (feed: number, layer: number, packet: Buffer) => {
      if (this.#closed) return;
      // A copy of its own (the serialized packet may sit in Node's shared pool), handed over. At once,
      // not at the end of the turn: the other worker's viewers would wait for this worker's own fan-out
      // of everything read in this turn (a keyframe's burst), which doubled their latency.
      const data = new Uint8Array(packet.length);
      data.set(packet);
      this.packetsOut++;
      this.#port.postMessage({ t: 'rtp', feed, layer, data } satisfies LinkMessage, [data.buffer]);
    },
    senderReport: (feed: number, wallMs: number, rtpTimestamp: number) =>
      this.#post({ t: 'sr', feed, wallMs, rtpTimestamp }),
    ended: (feed: number) => this.#post({ t: 'ended', feed }),
  };

  readonly #relayBack = {
    keyframe: (feed: number, layer: number) => this.#post({ t: 'keyframe', feed, layer }),
    want: (feed: number, active: boolean[]) => this.#post({ t: 'want', feed, active }),
  };

  #post(message: LinkMessage): void {
    if (!this.#closed) this.#port.postMessage(message);
  }

  #receive(message: LinkMessage): void {
    if (this.#closed) return;
    switch (message.t) {
      case 'rtp': {
        const { data } = message;
        this.packetsIn++;
        this.#imports
          .get(message.feed)
          ?.deliver(Buffer.from(data.buffer, data.byteOffset, data.byteLength), message.layer);
        return;
      }
      case 'feed': {
        this.#imports.get(message.info.feed)?.close();
        this.#imports.set(message.info.feed, new TrackImport(message.info, this.#relayBack));
        return;
      }
      case 'sr':
        this.#imports.get(message.feed)?.senderReport(message.wallMs, message.rtpTimestamp);
        return;
      case 'ended': {
        const imp = this.#imports.get(message.feed);
        this.#imports.delete(message.feed);
        imp?.close();
        return;
      }
      case 'keyframe':
        this.#exportsByFeed.get(message.feed)?.keyframe(message.layer);
        return;
      case 'want':
        this.#exportsByFeed.get(message.feed)?.want(message.active);
        return;
      case 'open':
        return this.#host(message.session);
      case 'call':
        return void this.#run(message.id, message.session, message.call);
      case 'reply': {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (!pending) return;
        if (message.error) pending.reject(errorOf(message.error));
        else pending.resolve(message.result);
        return;
      }
      case 'event':
        this.#proxies.get(message.session)?.receive(message.event);
        return;
    }
  }

  /** A session for the other worker's room, here: its events go back over the link. */
  #host(id: string): void {
    if (this.#hosted.has(id)) return;
    const session = new MediaSession(id, this.#rtc);
    const event = (e: SessionEvent) => this.#post({ t: 'event', session: id, event: e });
    const offs = [
      session.on('subscriberOffer', (offer) => event({ e: 'offer', offer })),
      session.on('connectionState', (role, state) => event({ e: 'state', role, state })),
      session.on('closed', () => {
        this.#hosted.delete(id);
        event({ e: 'closed' });
      }),
    ];
    this.#hosted.set(id, { session, offs });
  }

  async #run(id: number, sessionId: string, call: SessionCall): Promise<void> {
    const reply = (result?: unknown, error?: unknown) => {
      if (id === 0) {
        if (error) this.#log.debug({ err: error, op: call.op }, 'session call failed');
        return;
      }
      this.#post(
        error === undefined
          ? { t: 'reply', id, ...(result !== undefined ? { result } : {}) }
          : { t: 'reply', id, error: errorData(error) },
      );
    };
    const hosted = this.#hosted.get(sessionId);
    if (!hosted) return reply(undefined, new InvalidStateError(`session ${sessionId} has ended`));
    const { session } = hosted;
    try {
      switch (call.op) {
        case 'subscribe': {
          const imp = this.#imports.get(call.feed);
          if (imp && !imp.track.closed) session.subscribe(imp.track);
          return reply();
        }
        case 'unsubscribe':
          session.unsubscribe(call.track);
          return reply();
        case 'viewSize':
          session.setViewSize(call.track, call.width, call.height);
          return reply();
        case 'answer':
          await session.applySubscriberAnswer(call.sdp);
          return reply();
        case 'candidate':
          await session.addIceCandidate(call.role, call.candidate);
          return reply();
        case 'publish': {
          const result = await session.publish(call.sdp, call.mids);
          // Its tracks go to the room's worker, for as long as they are published.
          const tracks = result.tracks.map(({ mid, track }) => {
            const feed = this.use(track, sessionId);
            this.#exports.get(track.id)!.pinned = true;
            return { mid, feed };
          });
          return reply({ sdp: result.sdp, tracks } satisfies PublishReply);
        }
        case 'close':
          for (const off of hosted.offs.splice(0, 2)) off();
          await session.close();
          return reply();
      }
    } catch (error) {
      reply(undefined, error);
    }
  }

  /** Every second: the mirrors' layers, and which of them are wanted here. */
  #check(): void {
    for (const imp of this.#imports.values()) imp.check(this.#relayBack);
    if (this.idleCloseMs === undefined) return;
    const idle =
      this.#proxies.size === 0 &&
      this.#hosted.size === 0 &&
      this.#exports.size === 0 &&
      this.#pending.size === 0;
    if (!idle) this.#idleSince = undefined;
    else if (this.#idleSince === undefined) this.#idleSince = Date.now();
    else if (Date.now() - this.#idleSince >= this.idleCloseMs) void this.close();
  }

  /** The other worker is gone (or this one stops): mirrors, hosted sessions and proxies end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const pending of this.#pending.values())
      pending.reject(new InvalidStateError(`the link to worker ${this.peer} closed`));
    this.#pending.clear();
    for (const imp of this.#imports.values()) imp.close();
    this.#imports.clear();
    for (const { exp } of [...this.#exports.values()]) exp.close();
    this.#exports.clear();
    const sessions = [...this.#hosted.values()].map(({ session }) => session.close());
    this.#hosted.clear();
    for (const proxy of [...this.#proxies.values()]) proxy.lost();
    this.#proxies.clear();
    this.#port.close();
    this.onClosed?.();
    await Promise.allSettled(sessions);
  }
}

/**
 * A viewer's media session that runs on another worker, as its room sees it: what the room asks of it
 * crosses the link; what it says (offers, connection states) comes back as events.
 */
export class RemoteMediaSession extends TypedEmitter<MediaSessionEvents> implements ParticipantMedia {
  readonly id: string;
  readonly subscriptions = 'negotiated' as const;
  closed = false;
  readonly #link: WorkerLink;
  readonly #states: Record<PeerRole, string> = { publisher: 'new', subscriber: 'new' };
  #offer: SubscriberOffer | undefined;
  /** Tracks of others sent to this session, with the function that stops watching each end. */
  readonly #subscribed = new Map<string, () => void>();
  /** Its own tracks (on stage), mirrored here from where its publisher connection is, by mid. */
  readonly #published = new Map<string, PublishedTrack>();

  constructor(id: string, link: WorkerLink) {
    super();
    this.id = id;
    this.#link = link;
  }

  /** The worker its media runs on (`node:<id>` on another node). */
  get worker(): number | string {
    return this.#link.peer;
  }

  get publishedTracks(): PublishedTrack[] {
    return [...this.#published.values()];
  }

  get subscriptionCount(): number {
    return this.#subscribed.size;
  }

  get availableTracks(): PublishedTrack[] {
    return [];
  }

  get slots(): MediaSlot[] {
    return [];
  }

  get pendingSubscriberOffer(): SubscriberOffer | undefined {
    return this.#offer;
  }

  connectionState(role: PeerRole): string {
    return this.#states[role];
  }

  receive(event: SessionEvent): void {
    if (this.closed) return;
    switch (event.e) {
      case 'offer':
        this.#offer = event.offer;
        this.emit('subscriberOffer', event.offer);
        return;
      case 'state':
        this.#states[event.role] = event.state;
        this.emit('connectionState', event.role, event.state);
        return;
      case 'closed':
        this.lost();
        return;
    }
  }

  subscribe(track: PublishedTrack): void {
    this.#assertOpen();
    if (this.#subscribed.has(track.id) || track.closed) return;
    const feed = this.#link.use(track, this.id);
    if (feed < 0) return;
    // The track's end ends the mirror there, and its subscribers with it.
    const off = track.on('closed', () => this.#subscribed.delete(track.id));
    this.#subscribed.set(track.id, off);
    this.#link.tell(this.id, { op: 'subscribe', feed });
  }

  unsubscribe(trackId: string): void {
    const off = this.#subscribed.get(trackId);
    if (!off) return;
    off();
    this.#subscribed.delete(trackId);
    this.#link.tell(this.id, { op: 'unsubscribe', track: trackId });
    this.#link.release(trackId, this.id);
  }

  setViewSize(trackId: string, width: number, height: number): void {
    if (this.#subscribed.has(trackId))
      this.#link.tell(this.id, { op: 'viewSize', track: trackId, width, height });
  }

  async applySubscriberAnswer(sdp: string): Promise<void> {
    this.#assertOpen();
    const offer = this.#offer;
    await this.#link.call(this.id, { op: 'answer', sdp });
    if (this.#offer === offer) this.#offer = undefined;
  }

  addIceCandidate(role: PeerRole, candidate: RemoteCandidate | null): Promise<void> {
    this.#assertOpen();
    return this.#link.call(this.id, { op: 'candidate', role, candidate });
  }

  async publish(offerSdp: string, mids: string[]): Promise<PublishResult> {
    this.#assertOpen();
    const reply = await this.#link.call<PublishReply>(this.id, { op: 'publish', sdp: offerSdp, mids });
    const tracks: { mid: string; track: PublishedTrack }[] = [];
    const added: PublishedTrack[] = [];
    const now = new Map<string, PublishedTrack>();
    for (const { mid, feed } of reply.tracks) {
      const known = this.#published.get(mid);
      const track = known && !known.closed ? known : this.#link.imported(feed)?.track;
      if (!track)
        throw new InvalidStateError(`track of mid ${mid} did not arrive from worker ${this.worker}`);
      if (track !== known) added.push(track);
      now.set(mid, track);
      tracks.push({ mid, track });
    }
    const removed = [...this.#published].filter(([mid, t]) => now.get(mid) !== t).map(([, t]) => t);
    for (const track of removed) track.close();
    this.#published.clear();
    for (const [mid, track] of now) this.#published.set(mid, track);
    return { sdp: reply.sdp, tracks, added, removed };
  }

  publishLocal(_source: RtpSource): PublishedTrack {
    throw new InvalidStateError('a viewer’s session on another worker publishes no server-side track');
  }

  answerSubscriberOffer(_offerSdp: string): Promise<string> {
    return Promise.reject(new InvalidStateError('a viewer’s session on another worker answers no offer'));
  }

  #assertOpen(): void {
    if (this.closed) throw new InvalidStateError(`media session ${this.id} is closed`);
  }

  #end(): void {
    this.closed = true;
    for (const [trackId, off] of this.#subscribed) {
      off();
      this.#link.release(trackId, this.id);
    }
    this.#subscribed.clear();
    for (const track of this.#published.values()) track.close();
    this.#published.clear();
    this.emit('closed');
    this.removeAllListeners();
  }

  /** Its session there ended without being asked (that worker stopped): the room hears `closed`. */
  lost(): void {
    if (this.closed) return;
    this.#states.subscriber = 'closed';
    this.#states.publisher = 'closed';
    this.#end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.#link.tell(this.id, { op: 'close' });
    this.#end();
  }
}

/**
 * A worker's links to the others, and where a room's next viewer's media goes: the worker with the
 * fewest of that room's viewers (this one's counted OWNER_WEIGHT each), another worker on a tie.
 */
export class WorkerLinks {
  readonly #self: number;
  readonly #rtc: RtcSettings;
  readonly #log: Logger;
  readonly #links = new Map<number | string, WorkerLink>();
  /** Links to other nodes made here, for the viewers of this worker's rooms connected there. */
  readonly #nodeLinks = new Map<string, WorkerLink>();
  readonly #openNodeLink: ((node: string, port: MessagePort) => void) | undefined;
  /** Per room: how many of its viewers have their media on each other worker, by that worker's index. */
  readonly #spread = new Map<string, Map<number | string, number>>();

  /** `openNodeLink` hands the other end of a new link to another node to whoever carries it there. */
  constructor(
    self: number,
    rtc: RtcSettings,
    log: Logger,
    openNodeLink?: (node: string, port: MessagePort) => void,
  ) {
    this.#self = self;
    this.#rtc = rtc;
    this.#log = log;
    this.#openNodeLink = openNodeLink;
  }

  /** Packets that crossed links since replaced (a counter never goes back). */
  #retired = { packetsOut: 0, packetsIn: 0 };
  #retiredNodes = { packetsOut: 0, packetsIn: 0 };

  /**
   * The main thread made a channel to worker `peer` (a new one replaces one whose worker died), or, from
   * another node, to a worker there (`node:<id>`) whose rooms have viewers connected to this node.
   */
  connect(peer: number | string, port: MessagePort): void {
    const old = this.#links.get(peer);
    if (old) void old.close();
    const link = new WorkerLink(peer, port, this.#rtc, this.#log);
    this.#links.set(peer, link);
    this.#keepCounts(link, () => this.#links.get(peer) === link && this.#links.delete(peer));
  }

  /** A link's packets stay counted after it ends; the link is forgotten (`forget`). */
  #keepCounts(link: WorkerLink, forget: () => void): void {
    link.onClosed = () => {
      const retired = typeof link.peer === 'string' ? this.#retiredNodes : this.#retired;
      retired.packetsOut += link.packetsOut;
      retired.packetsIn += link.packetsIn;
      forget();
    };
  }

  /**
   * In a cluster: viewer `id`'s media on `node`, which the viewer is connected to. Every viewer of this
   * worker's rooms there shares one link, over which each track crosses once.
   */
  nodeViewerMedia(node: string, id: string): ParticipantMedia | undefined {
    if (!this.#openNodeLink) return undefined;
    let link = this.#nodeLinks.get(node);
    if (!link || link.closed) {
      const { port1, port2 } = new MessageChannel();
      const made = new WorkerLink(`node:${node}`, port1, this.#rtc, this.#log);
      made.idleCloseMs = NODE_LINK_IDLE_MS;
      link = made;
      this.#nodeLinks.set(node, made);
      this.#keepCounts(made, () => this.#nodeLinks.get(node) === made && this.#nodeLinks.delete(node));
      this.#openNodeLink(node, port2);
    }
    return link.openSession(id);
  }

  get totals(): LinkTotals {
    const t: LinkTotals = { ...this.#retired, hosted: 0, remote: 0, nodePacketsOut: 0, nodePacketsIn: 0 };
    t.nodePacketsOut = this.#retiredNodes.packetsOut;
    t.nodePacketsIn = this.#retiredNodes.packetsIn;
    for (const link of [...this.#links.values(), ...this.#nodeLinks.values()]) {
      if (typeof link.peer === 'string') {
        t.nodePacketsOut += link.packetsOut;
        t.nodePacketsIn += link.packetsIn;
      } else {
        t.packetsOut += link.packetsOut;
        t.packetsIn += link.packetsIn;
      }
      t.hosted += link.hostedCount;
      t.remote += link.remoteCount;
    }
    return t;
  }

  /**
   * Where viewer `id` of `room` has its media: a session on another worker, or undefined for this one
   * (`local` viewers of the room are here already).
   */
  viewerMedia(room: string, id: string, local: number): ParticipantMedia | undefined {
    // Only this process's workers: another node's worker hosts the viewers connected to that node.
    const open = [...this.#links.values()].filter((l) => !l.closed && typeof l.peer === 'number');
    if (open.length === 0) return undefined;
    let counts = this.#spread.get(room);
    if (!counts) {
      counts = new Map();
      this.#spread.set(room, counts);
    }
    let best: WorkerLink | undefined;
    let fewest = local * OWNER_WEIGHT;
    for (const link of open) {
      const n = counts.get(link.peer) ?? 0;
      if (n <= fewest) {
        best = link;
        fewest = n;
      }
    }
    if (!best) return undefined;
    const session = best.openSession(id);
    const peer = best.peer;
    const spread = counts;
    spread.set(peer, (spread.get(peer) ?? 0) + 1);
    session.on('closed', () => {
      const n = (spread.get(peer) ?? 1) - 1;
      if (n > 0) spread.set(peer, n);
      else spread.delete(peer);
      if (spread.size === 0 && this.#spread.get(room) === spread) this.#spread.delete(room);
    });
    return session;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#links.values(), ...this.#nodeLinks.values()].map((l) => l.close()));
    this.#links.clear();
    this.#nodeLinks.clear();
  }

  get self(): number {
    return this.#self;
  }
}
