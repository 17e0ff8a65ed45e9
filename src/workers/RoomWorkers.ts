import { EventEmitter } from 'node:events';
import type { Socket as TcpSocket } from 'node:net';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RoomActivity } from '../host/RoomHost.js';
import { sendDatagram } from '../sfu/udpSend.js';
import { closeUdpMux, UdpMux, udpMux } from '../werift/udpMux.js';
import { UdpMuxRelay } from '../werift/udpMuxRelay.js';
import type { FromWorker, HttpReply, HttpRequest, Route, ToWorker, WorkerData } from './protocol.js';
import { RoomService } from './RoomService.js';

/** The worker's entry, next to this file: `.ts` when run from source (tsx), `.js` when built. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./roomWorker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/** Starts the worker thread; from source, tsx's loader is registered in it first (it is not inherited). */
function startWorker(data: WorkerData, name: string): Worker {
  const transferList = data.udpMux ? [data.udpMux] : [];
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData: data, name, transferList });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData: data, name, transferList });
}

/** A worker thread, or the same dispatch on this thread: what `RoomWorker` needs of either. */
export interface WorkerLike {
  /** -1 once stopped (as `Worker.threadId`); this thread's id for an in-thread worker. */
  readonly threadId: number;
  postMessage(message: ToWorker, transfer?: MessagePort[]): void;
  on(event: 'message', listener: (message: FromWorker) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  once(event: 'exit', listener: (code: number) => void): this;
  off(event: 'message', listener: (message: FromWorker) => void): this;
  terminate(): Promise<number>;
}

/**
 * `--workers 0`: the room service on the main thread, behind the same messages as a worker thread. Each
 * message is delivered on a later turn of the event loop, in order, as a thread's port would deliver it;
 * objects are handed over as they are (neither side keeps using what it posted).
 */
export class InThreadWorker extends EventEmitter implements WorkerLike {
  readonly service: RoomService;
  #threadId = 0;

  constructor(data: WorkerData, log: Logger) {
    super();
    this.service = new RoomService(data.index, data.config, log.child({ worker: data.index }), (message) =>
      setImmediate(() => this.emit('message', message)),
    );
    setImmediate(() => this.emit('message', { t: 'ready' } satisfies FromWorker));
  }

  get threadId(): number {
    return this.#threadId;
  }

  postMessage(message: ToWorker): void {
    if (this.#threadId === -1) return;
    setImmediate(() => {
      if (this.#threadId !== -1) this.service.receive(message);
    });
  }

  /** Closes the rooms, as a thread that stops would lose them, and says `exit`. */
  async terminate(): Promise<number> {
    if (this.#threadId === -1) return 0;
    this.#threadId = -1;
    await this.service.close();
    this.emit('exit', 0);
    return 0;
  }
}

/** What the main thread holds for a WebSocket handed to a worker. */
export interface WorkerClient {
  /** The worker sent this to the client. */
  send(data: string): void;
  /** The worker closed the connection. */
  end(code: number, reason: string): void;
  /** The worker took the connection's join: it stays there. */
  joined(): void;
}

type Pending = { resolve: (message: FromWorker) => void; reject: (error: Error) => void };

/** What a worker's SIP gateway posts: a message to send, or a call that ended. */
export type SipFromWorker = Extract<FromWorker, { t: 'sip' | 'sipEnded' }>;

/** One room worker as the main thread sees it. */
export class RoomWorker {
  readonly index: number;
  readonly clients = new Map<number, WorkerClient>();
  /** Rooms placed here. */
  readonly rooms = new Set<string>();
  readonly #worker: WorkerLike;
  readonly #pending = new Map<number, Pending>();
  #rid = 0;
  readonly ready: Promise<void>;
  #exited = false;

  constructor(
    index: number,
    worker: WorkerLike,
    onMessage: (worker: RoomWorker, message: FromWorker) => void,
  ) {
    this.index = index;
    this.#worker = worker;
    this.ready = new Promise((resolve, reject) => {
      const onReady = (message: FromWorker) => {
        if (message.t !== 'ready') return;
        this.#worker.off('message', onReady);
        resolve();
      };
      this.#worker.on('message', onReady);
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) =>
        reject(new Error(`room worker ${index} exited (${code}) while starting`)),
      );
    });
    this.ready.catch(() => undefined);
    this.#worker.on('message', (message: FromWorker) => {
      if ('rid' in message) {
        const pending = this.#pending.get(message.rid);
        this.#pending.delete(message.rid);
        pending?.resolve(message);
        return;
      }
      onMessage(this, message);
    });
  }

  get worker(): WorkerLike {
    return this.#worker;
  }

  /** The worker thread, unless the rooms run on this thread. */
  get thread(): Worker | undefined {
    return this.#worker instanceof Worker ? this.#worker : undefined;
  }

  /** The room service itself when it runs on this thread (`--workers 0`), for a look inside its rooms. */
  get inThread(): RoomService | undefined {
    return this.#worker instanceof InThreadWorker ? this.#worker.service : undefined;
  }

  /** The worker stopped (or is stopping): nothing more goes to it. */
  get gone(): boolean {
    return this.#exited;
  }

  post(message: ToWorker, transfer?: MessagePort[]): void {
    if (!this.#exited) this.#worker.postMessage(message, transfer);
  }

  /** Sends a message that the worker answers (same `rid`). */
  request<T extends FromWorker['t']>(
    message: ToWorker & { rid: number },
  ): Promise<Extract<FromWorker, { t: T }>> {
    return new Promise((resolve, reject) => {
      if (this.#exited) return reject(new Error(`room worker ${this.index} is gone`));
      this.#pending.set(message.rid, {
        resolve: resolve as (message: FromWorker) => void,
        reject,
      });
      this.#worker.postMessage(message);
    });
  }

  nextRid(): number {
    return ++this.#rid;
  }

  http(request: HttpRequest, route?: Route): Promise<HttpReply> {
    return this.request<'httpReply'>({
      t: 'http',
      rid: this.nextRid(),
      request,
      ...(route ? { route } : {}),
    }).then((m) => m.reply);
  }

  /** The worker stopped: what was waiting for it fails. */
  exited(): void {
    this.#exited = true;
    for (const pending of this.#pending.values())
      pending.reject(new Error(`room worker ${this.index} is gone`));
    this.#pending.clear();
  }

  terminate(): Promise<number> {
    this.#exited = true;
    return this.#worker.terminate();
  }
}

export interface Placement {
  worker: RoomWorker;
  route: Route;
}

/**
 * Which worker holds a room: what the routing of joins, requests and SIP calls asks. `RoomWorkers`
 * answers it for the threads of one process; a placement shared by several machines would answer it
 * from a store they share.
 */
export interface RoomPlacement {
  /** The worker of `room`, placing the room when it has none; undefined when rooms are at the limit. */
  place(room: string): Placement | undefined;
  /** The worker `room` is on, if any. */
  ownerOf(room: string): RoomWorker | undefined;
  /** A worker for a connection or request that names no room yet. */
  lobby(): RoomWorker;
}

/**
 * The room workers of one server and where each room is. A new room goes to the worker with the fewest
 * rooms, and stays there until that worker reports it gone (`released` with the last route it saw, so a
 * join routed meanwhile keeps the placement).
 */
export class RoomWorkers implements RoomPlacement {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #workers: RoomWorker[] = [];
  readonly #placed = new Map<string, { worker: RoomWorker; seq: number }>();
  #seq = 0;
  #nextLobby = 0;
  #closing = false;
  readonly #size: number;
  /** `--workers 0`: one room service on this thread instead of worker threads. */
  readonly #inThread: boolean;
  /** With `rtc.udpPort` and worker threads: the one UDP socket of every worker's media. */
  #udpMux: UdpMuxRelay | undefined;
  /** Told what happens in every worker's rooms (the webhooks), each room's activity in order. */
  onActivity: ((activity: RoomActivity) => void) | undefined;
  /** In a cluster: a worker opened a link to another node for its viewers there (src/cluster/nodeLinks.ts). */
  onNodeLink: ((node: string, port: MessagePort) => void) | undefined;
  /** Told when a room is no longer on any worker (a cluster forgets its placement). */
  onReleased: ((room: string) => void) | undefined;
  /** The SIP router's handler for what the workers' gateways post (src/workers/SipRouter.ts). */
  onSip: ((worker: RoomWorker, message: SipFromWorker) => void) | undefined;

  /** `count` worker threads; 0: the rooms run on this thread, behind the same messages. */
  constructor(config: Config, count: number, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#inThread = count === 0;
    this.#size = Math.max(1, count);
    for (let i = 0; i < this.#size; i++) this.#workers.push(this.#spawn(i));
  }

  get all(): readonly RoomWorker[] {
    return this.#workers;
  }

  get roomCount(): number {
    return this.#placed.size;
  }

  /** The rooms placed on the workers now. */
  roomNames(): IterableIterator<string> {
    return this.#placed.keys();
  }

  async ready(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.ready));
    // A UDP media port that cannot be bound stops the start, as the HTTP port does.
    const { udpPort } = this.#config.rtc;
    if (this.#udpMux) await this.#udpMux.ready();
    else if (typeof udpPort === 'number') await udpMux(udpPort).ready();
  }

  /** The main thread's UDP mux of the workers' media (`rtc.udpPort`), for tests and diagnostics. */
  get udpMux(): UdpMuxRelay | undefined {
    return this.#udpMux;
  }

  /**
   * A connection of the HTTP port that starts with an RFC 4571 frame: ICE over TCP for a connection on
   * the mux (src/werift/iceTcp.ts), or closed.
   */
  acceptIceTcp(socket: TcpSocket): void {
    const timeout = this.#config.limits.handshakeTimeoutMs;
    const { udpPort } = this.#config.rtc;
    if (this.#udpMux) void this.#udpMux.acceptTcp(socket, timeout);
    else if (this.#inThread && typeof udpPort === 'number') {
      const mux = udpMux(udpPort);
      if (mux instanceof UdpMux) void mux.acceptTcp(socket, timeout);
      else socket.destroy();
    } else socket.destroy();
  }

  /** The worker of `room`, placing the room when it has none; undefined when rooms are at the limit. */
  place(room: string): Placement | undefined {
    let entry = this.#placed.get(room);
    if (!entry) {
      if (this.#placed.size >= this.#config.rooms.maxRooms) return undefined;
      let best = this.#workers[0]!;
      for (const w of this.#workers) if (w.rooms.size < best.rooms.size) best = w;
      entry = { worker: best, seq: 0 };
      this.#placed.set(room, entry);
      best.rooms.add(room);
    }
    entry.seq = ++this.#seq;
    return { worker: entry.worker, route: { room, seq: entry.seq } };
  }

  /** The worker `room` is on, if any. */
  ownerOf(room: string): RoomWorker | undefined {
    return this.#placed.get(room)?.worker;
  }

  /** A worker for a connection or request that names no room yet (turn by turn). */
  lobby(): RoomWorker {
    const worker = this.#workers[this.#nextLobby % this.#workers.length]!;
    this.#nextLobby++;
    return worker;
  }

  #spawn(index: number): RoomWorker {
    const { rtc } = this.#config;
    // Each worker binds media sockets in its own slice of the port range.
    const span = Math.floor((rtc.maxPort - rtc.minPort + 1) / this.#size);
    const minPort = rtc.minPort + index * span;
    const data: WorkerData = {
      index,
      config: {
        ...this.#config,
        workers: 0,
        rtc: { ...rtc, minPort, maxPort: minPort + span - 1 },
      },
    };
    // The UDP mux: one socket on this thread for every worker's connections (src/werift/udpMuxRelay.ts).
    if (typeof rtc.udpPort === 'number' && !this.#inThread) {
      if (!this.#udpMux) {
        this.#udpMux = new UdpMuxRelay(rtc.udpPort, {}, sendDatagram);
        this.#udpMux.onError = (error) => this.#log.error({ err: error }, 'cannot bind the UDP media port');
        this.#udpMux.onCopyError = (error) =>
          this.#log.warn({ err: error }, 'room workers send their media through the main thread');
      }
      data.udpMux = this.#udpMux.attach(index);
    }
    const thread = this.#inThread
      ? new InThreadWorker(data, this.#log)
      : startWorker(data, `port545-room-worker-${index}`);
    const worker = new RoomWorker(index, thread, (w, message) => this.#onMessage(w, message));
    worker.worker.on('error', (error) =>
      this.#log.error({ err: error, worker: index }, 'room worker failed'),
    );
    worker.worker.once('exit', (code) => this.#onExit(worker, code));
    // A channel to each other worker, over which a room's viewers are spread (src/workers/WorkerLink.ts).
    if (!this.#inThread)
      for (const other of this.#workers) {
        if (!other || other.index === index || other.gone) continue;
        const { port1, port2 } = new MessageChannel();
        worker.post({ t: 'link', peer: other.index, port: port1 }, [port1]);
        other.post({ t: 'link', peer: index, port: port2 }, [port2]);
      }
    return worker;
  }

  #onMessage(worker: RoomWorker, message: FromWorker): void {
    switch (message.t) {
      case 'send':
        worker.clients.get(message.id)?.send(message.data);
        return;
      case 'sends': {
        let next = 0;
        for (let i = 0; i < message.data.length; i++) {
          const data = message.data[i]!;
          for (const end = next + message.counts[i]!; next < end; next++)
            worker.clients.get(message.ids[next]!)?.send(data);
        }
        return;
      }
      case 'end':
        worker.clients.get(message.id)?.end(message.code, message.reason);
        return;
      case 'joined':
        worker.clients.get(message.id)?.joined();
        return;
      case 'released': {
        const entry = this.#placed.get(message.room);
        if (entry && entry.worker === worker && entry.seq === message.seq) {
          this.#placed.delete(message.room);
          worker.rooms.delete(message.room);
          this.onReleased?.(message.room);
        }
        return;
      }
      case 'sip':
      case 'sipEnded':
        this.onSip?.(worker, message);
        return;
      case 'activity':
        this.onActivity?.(message.activity);
        return;
      case 'nodeLink':
        if (this.onNodeLink) this.onNodeLink(message.node, message.port);
        else message.port.close();
        return;
      default:
        return;
    }
  }

  /** A worker that dies takes its rooms with it; its clients are told, and a new worker takes its place. */
  #onExit(worker: RoomWorker, code: number): void {
    worker.exited();
    if (this.#closing) return;
    this.#log.error({ worker: worker.index, code }, 'room worker exited; its rooms are gone');
    for (const room of worker.rooms) {
      this.#placed.delete(room);
      this.onReleased?.(room);
    }
    for (const client of worker.clients.values()) client.end(1011, 'room worker failed');
    worker.clients.clear();
    this.#workers[worker.index] = this.#spawn(worker.index);
  }

  /** Closes every room (participants get `bye`), then stops the workers. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#workers.map((w) =>
        w.request<'shutdown'>({ t: 'shutdown', rid: w.nextRid() }).catch(() => undefined),
      ),
    );
    await Promise.all(this.#workers.map((w) => w.terminate()));
    await this.#udpMux?.close();
    // --workers 0: the mux of this thread's rooms.
    const { udpPort } = this.#config.rtc;
    if (this.#inThread && typeof udpPort === 'number') await closeUdpMux(udpPort);
  }
}
