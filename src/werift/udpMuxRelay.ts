import type { RemoteInfo, Socket, SocketType } from 'node:dgram';
import type { Socket as TcpSocket } from 'node:net';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { handOver, passiveOf, RelayedStream } from './iceTcp.js';
import type { IceConnectionInternals } from './internals.js';
import { copySocket, openSendSocket, type SocketCopy } from './socketCopy.js';
import {
  bindMuxSocket,
  ICE_TCP_STREAMS_PER_CONNECTION,
  isBindingRequest,
  type MuxBackend,
  type MuxRoute,
  type MuxSocket,
  MuxTable,
  MuxTransport,
  passwordOf,
  type ThreadMux,
  type UdpMuxLimits,
  type UdpMuxStats,
  verifyIceTcp,
} from './udpMux.js';

/**
 * One UDP port for the media of every worker thread (src/werift/udpMux.ts is the mux of one thread).
 *
 * Node 20's dgram cannot bind one port in several threads (`reusePort` came in Node 22.12/23.1, and a
 * socket cannot be handed to a worker thread), so the socket lives on the main thread, in a
 * `UdpMuxRelay`, and each worker thread's peer connections use a `WorkerUdpMux` that reaches it over a
 * MessagePort:
 * - the relay routes each datagram as a thread's mux does (`MuxTable`: RFC 7983 by the first byte, STUN
 *   binding requests by USERNAME and only when MESSAGE-INTEGRITY verifies, which binds the source address;
 *   responses by transaction; DTLS/RTP/RTCP by bound address; the rest dropped on the main thread) and
 *   posts what it keeps to the worker of that connection, tagged with the connection's id;
 * - a worker tells the relay each connection's ufrag and password when werift gathers (and after an ICE
 *   restart) and when it closes.
 * - a worker sends from its own copy of the socket's descriptor (src/werift/socketCopy.ts), which the relay
 *   hands it once the socket is bound: a packet forwarded to every subscriber leaves from the worker, as
 *   with the port range, without crossing threads. Only its connections' STUN binding requests go through
 *   the relay, which must know their transactions to route the responses. Until the copy arrives (or if
 *   it cannot be made) everything a worker sends goes through the relay.
 * Datagrams cross threads in batches: what the socket delivered in one turn of the main thread's event
 * loop goes to a worker in one message; what a worker sends through the relay in one task goes to the main
 * thread in one message. Each batch is one buffer, copied once and transferred, not cloned per datagram.
 */

/** A batch of datagrams in one buffer: datagram i is `buf[ends[i-1] ?? 0, ends[i])`. */
interface Datagrams {
  buf: ArrayBuffer;
  ends: number[];
  /** The connection's id on its worker (0: none named, a send of the fast path). */
  ids: number[];
  hosts: string[];
  ports: number[];
  /** 4 or 6: the socket family. */
  families: number[];
}

/** Worker → main thread. Applied in this order: registrations, sends, drops. */
interface FromWorkerMux {
  /** [id, ufrag, password, family (4, 6, or 0 for a ufrag after a restart)] */
  regs: [number, string, string, number][];
  sends: Datagrams | undefined;
  /** Connections that closed. */
  drops: number[];
  /** ICE-TCP streams: bytes to write to stream `sid`, or null to close it. */
  tcp: [number, Uint8Array | null][];
}

/**
 * Main thread → worker: what came for its connections; a copy of the socket of a family to send with; or
 * an ICE-TCP stream of connection `id` opened, its bytes, or its end.
 */
type ToWorkerMux =
  | Datagrams
  | { socketFd: number; family: number }
  | { tcpOpen: number; id: number; host: string; port: number }
  | { tcpData: number; data: Uint8Array }
  | { tcpClose: number };

/** Bytes an ICE-TCP stream may have waiting to be written to its client before frames are dropped. */
const TCP_WRITE_BACKLOG = 1024 * 1024;

const INITIAL_BATCH_BYTES = 64 * 1024;

/**
 * Collects datagrams into one buffer to transfer. They are copied into a staging buffer that stays (a
 * sender may reuse its buffer once `push` returns), and `take` copies what was collected into a buffer of
 * just that size to transfer: most batches are one datagram, and a 64 KiB buffer transferred with each
 * (hundreds a second) was garbage the worker's collector had to clear, a pause in the room's forwarding.
 */
class Batch {
  #staging: Buffer | undefined;
  #used = 0;
  ends: number[] = [];
  ids: number[] = [];
  hosts: string[] = [];
  ports: number[] = [];
  families: number[] = [];

  get size(): number {
    return this.ends.length;
  }

  push(data: Uint8Array, id: number, host: string, port: number, family: number): void {
    const need = this.#used + data.length;
    if (!this.#staging || need > this.#staging.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(INITIAL_BATCH_BYTES, need * 2));
      this.#staging?.copy(grown, 0, 0, this.#used);
      this.#staging = grown;
    }
    this.#staging.set(data, this.#used);
    this.#used = need;
    this.ends.push(need);
    this.ids.push(id);
    this.hosts.push(host);
    this.ports.push(port);
    this.families.push(family);
  }

  /** The batch to post (its buffer, its own ArrayBuffer of just its bytes, to transfer); this one starts empty again. */
  take(): Datagrams {
    // Its own ArrayBuffer (not Node's pool), so that it can be transferred.
    const buf = Buffer.allocUnsafeSlow(this.#used);
    this.#staging?.copy(buf, 0, 0, this.#used);
    const out: Datagrams = {
      buf: buf.buffer as ArrayBuffer,
      ends: this.ends,
      ids: this.ids,
      hosts: this.hosts,
      ports: this.ports,
      families: this.families,
    };
    // A burst's grown staging buffer is let go.
    if (this.#staging && this.#staging.length > 4 * INITIAL_BATCH_BYTES) this.#staging = undefined;
    this.#used = 0;
    this.ends = [];
    this.ids = [];
    this.hosts = [];
    this.ports = [];
    this.families = [];
    return out;
  }
}

/** Calls `f(data, i)` for each datagram of a batch (views into its buffer). */
function eachDatagram(batch: Datagrams, f: (data: Buffer, i: number) => void): void {
  let start = 0;
  for (let i = 0; i < batch.ends.length; i++) {
    const end = batch.ends[i]!;
    f(Buffer.from(batch.buf, start, end - start), i);
    start = end;
  }
}

const familyOf = (type: SocketType) => (type === 'udp6' ? 6 : 4);
const typeOf = (family: number): SocketType => (family === 6 ? 'udp6' : 'udp4');

/** A connection of a worker, as the relay knows it. */
interface RelayRoute extends MuxRoute {
  worker: WorkerLink;
  id: number;
  passwords: Map<string, string>;
}

/** One worker thread, as the relay knows it. */
interface WorkerLink {
  index: number;
  port: MessagePort;
  routes: Map<number, RelayRoute>;
  out: Batch;
  scheduled: boolean;
  /** Its connections' ICE-TCP streams, by stream id, with the connection each is for. */
  streams: Map<number, { socket: TcpSocket; id: number }>;
}

/** Sends one datagram on a socket (the server passes the media plane's `sendDatagram`). */
export type DatagramSend = (socket: Socket, data: Buffer, port: number, host: string) => unknown;

/** The main thread's end: the one socket (per family) on `port`, shared by the workers' connections. */
export class UdpMuxRelay {
  readonly port: number;
  readonly table: MuxTable<RelayRoute>;
  readonly #sockets = new Map<SocketType, Promise<Socket>>();
  readonly #bound = new Map<SocketType, Socket>();
  readonly #workers = new Map<number, WorkerLink>();
  #closed = false;
  readonly #send: DatagramSend;
  /** Workers waiting for a copy of a family's socket, asked for together. */
  readonly #copiesWanted = new Map<SocketType, Set<WorkerLink>>();
  #nextStream = 0;
  /** Datagrams the relay sent for workers (their binding requests, and all until they have a copy). */
  relayedSends = 0;
  /** Copies of the socket handed to workers. */
  copiesHanded = 0;
  /** Called when a socket cannot be bound (the port is taken). */
  onError: ((error: Error) => void) | undefined;
  /** Called when workers cannot get a copy of the socket (they then send through the relay). */
  onCopyError: ((error: Error) => void) | undefined;

  /**
   * `send` puts one datagram on the socket: `Socket.send` unless the caller has a cheaper one (the
   * server passes the media plane's `sendDatagram`, which skips `Socket.send`'s per-call work).
   */
  constructor(
    port: number,
    limits: Partial<UdpMuxLimits> = {},
    send: DatagramSend = (socket, data, p, host) => socket.send(data, p, host),
  ) {
    this.port = port;
    this.table = new MuxTable(limits);
    this.#send = send;
    // The usual family now: a port that is taken shows at start, not at the first call.
    this.#socket('udp4').catch(() => undefined);
  }

  get stats(): UdpMuxStats {
    return this.table.stats;
  }

  sizes(): { connections: number; ufrags: number; bindings: number; transactions: number } {
    return this.table.sizes();
  }

  get limits(): UdpMuxLimits {
    return this.table.limits;
  }

  boundAddresses(): string[] {
    return this.table.boundAddresses();
  }

  /** Resolves once the IPv4 socket is bound; rejects when the port cannot be bound. */
  async ready(): Promise<void> {
    await this.#socket('udp4');
  }

  #socket(type: SocketType): Promise<Socket> {
    if (this.#closed) return Promise.reject(new Error('the UDP mux is closed'));
    let socket = this.#sockets.get(type);
    if (!socket) {
      socket = bindMuxSocket(this.port, type, (data, rinfo) => this.#receive(data, rinfo, type));
      this.#sockets.set(type, socket);
      socket.then(
        (s) => {
          this.#bound.set(type, s);
          for (const link of this.#workers.values()) this.#wantCopy(link, type);
        },
        (error: Error) => {
          this.#sockets.delete(type);
          this.onError?.(error);
        },
      );
    }
    return socket;
  }

  /**
   * The port the worker thread `index` reaches the relay by (pass it in its workerData, transferred). A
   * worker that had one before (a thread that died and was started again) loses what it had.
   */
  attach(index: number): MessagePort {
    this.detach(index);
    const { port1, port2 } = new MessageChannel();
    const link: WorkerLink = {
      index,
      port: port1,
      routes: new Map(),
      out: new Batch(),
      scheduled: false,
      streams: new Map(),
    };
    this.#workers.set(index, link);
    port1.on('message', (message: FromWorkerMux) => this.#fromWorker(link, message));
    // The relay does not keep the process alive by itself.
    port1.unref();
    for (const type of this.#bound.keys()) this.#wantCopy(link, type);
    return port2;
  }

  #wantCopy(link: WorkerLink, type: SocketType): void {
    let wanted = this.#copiesWanted.get(type);
    if (!wanted) {
      wanted = new Set();
      this.#copiesWanted.set(type, wanted);
      // Workers started together (the server's start) share one copier.
      setImmediate(() => this.#copy(type));
    }
    wanted.add(link);
  }

  async #copy(type: SocketType): Promise<void> {
    const links = [...(this.#copiesWanted.get(type) ?? [])];
    this.#copiesWanted.delete(type);
    const socket = this.#bound.get(type);
    if (!socket || this.#closed) return;
    let copies: SocketCopy[];
    try {
      copies = await copySocket(socket, links.length);
    } catch (error) {
      this.onCopyError?.(error as Error);
      return;
    }
    for (const [i, link] of links.entries()) {
      const copy = copies[i]!;
      // A worker that ended meanwhile (or a closed relay): nobody opened this copy, so it is closed here.
      if (this.#closed || this.#workers.get(link.index) !== link) copy.discard();
      else {
        link.port.postMessage({ socketFd: copy.fd, family: familyOf(type) } satisfies ToWorkerMux);
        this.copiesHanded++;
      }
    }
  }

  /** Forgets worker `index` and its connections. */
  detach(index: number): void {
    const link = this.#workers.get(index);
    if (!link) return;
    this.#workers.delete(index);
    for (const route of link.routes.values()) this.table.forget(route);
    link.routes.clear();
    for (const { socket } of link.streams.values()) socket.destroy();
    link.streams.clear();
    link.port.close();
  }

  #fromWorker(link: WorkerLink, message: FromWorkerMux): void {
    if (this.#workers.get(link.index) !== link) return;
    for (const [id, ufrag, password, family] of message.regs) {
      let route = link.routes.get(id);
      if (!route) {
        const passwords = new Map<string, string>();
        route = {
          worker: link,
          id,
          passwords,
          ufrags: new Set(),
          bindings: new Set(),
          transactions: new Set(),
          password: (u) => passwords.get(u),
        };
        link.routes.set(id, route);
        this.table.added();
      }
      route.passwords.set(ufrag, password);
      this.table.addUfrag(route, ufrag);
      if (family !== 0) this.#socket(typeOf(family)).catch(() => undefined);
    }
    const sends = message.sends;
    if (sends)
      eachDatagram(sends, (data, i) => {
        const socket = this.#bound.get(typeOf(sends.families[i]!));
        if (!socket) return;
        const id = sends.ids[i]!;
        if (id !== 0 && isBindingRequest(data)) {
          const route = link.routes.get(id);
          if (route) this.table.expectResponse(route, data, sends.hosts[i]!, sends.ports[i]!);
        }
        this.relayedSends++;
        this.#send(socket, data, sends.ports[i]!, sends.hosts[i]!);
      });
    for (const id of message.drops) {
      const route = link.routes.get(id);
      if (!route) continue;
      link.routes.delete(id);
      this.table.forget(route);
    }
    for (const [sid, data] of message.tcp) {
      const socket = link.streams.get(sid)?.socket;
      if (!socket) continue;
      if (data === null) socket.destroy();
      // RFC 4571 frames, whole: one that does not fit the backlog is dropped, as a full UDP socket would.
      else if (socket.writableLength < TCP_WRITE_BACKLOG) socket.write(data);
    }
  }

  /** ICE-TCP streams open now (all workers). */
  get tcpStreams(): number {
    let n = 0;
    for (const link of this.#workers.values()) n += link.streams.size;
    return n;
  }

  /**
   * A TCP connection of the server's port that starts with an RFC 4571 frame: ICE over TCP for a worker's
   * connection, whose bytes the relay then carries to and from that worker; or closed.
   */
  async acceptTcp(socket: TcpSocket, timeoutMs: number): Promise<void> {
    const route = await verifyIceTcp(this.table, socket, timeoutMs);
    if (!route) return;
    const link = route.worker;
    if (this.#closed || this.#workers.get(link.index) !== link) return void socket.destroy();
    let open = 0;
    for (const stream of link.streams.values()) if (stream.id === route.id) open++;
    if (open >= ICE_TCP_STREAMS_PER_CONNECTION) return void socket.destroy();
    const sid = ++this.#nextStream;
    link.streams.set(sid, { socket, id: route.id });
    link.port.postMessage({
      tcpOpen: sid,
      id: route.id,
      host: socket.remoteAddress!,
      port: socket.remotePort!,
    } satisfies ToWorkerMux);
    socket.on('data', (data: Buffer) => link.port.postMessage({ tcpData: sid, data } satisfies ToWorkerMux));
    socket.on('error', () => {});
    // The HTTP server's sockets are half-open on the peer's end: a stream ends with its peer.
    socket.once('end', () => socket.destroy());
    socket.once('close', () => {
      if (link.streams.get(sid)?.socket !== socket) return;
      link.streams.delete(sid);
      link.port.postMessage({ tcpClose: sid } satisfies ToWorkerMux);
    });
    socket.resume();
  }

  #receive(data: Buffer, rinfo: RemoteInfo, type: SocketType): void {
    const route = this.table.route(data, rinfo.address, rinfo.port);
    if (!route) return;
    const link = route.worker;
    link.out.push(data, route.id, rinfo.address, rinfo.port, familyOf(type));
    if (!link.scheduled) {
      link.scheduled = true;
      // After this turn's other datagrams (the socket reads several per turn): one message for them all.
      setImmediate(() => this.#flush(link));
    }
  }

  #flush(link: WorkerLink): void {
    link.scheduled = false;
    if (link.out.size === 0 || this.#workers.get(link.index) !== link) return;
    const batch: Datagrams = link.out.take();
    link.port.postMessage(batch, [batch.buf]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const index of [...this.#workers.keys()]) this.detach(index);
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    this.#bound.clear();
    for (const pending of sockets) {
      const socket = await pending.catch(() => undefined);
      if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }
}

/** A connection on a worker's mux. */
interface WorkerEntry {
  id: number;
  connection: IceConnectionInternals;
  transports: MuxTransport<WorkerEntry>[];
  ufrags: Set<string>;
}

/** A worker thread's mux: its connections' datagrams go through the main thread's `UdpMuxRelay`. */
export class WorkerUdpMux implements ThreadMux, MuxBackend<WorkerEntry> {
  readonly port: number;
  readonly #channel: MessagePort;
  readonly #entries = new Map<IceConnectionInternals, WorkerEntry>();
  readonly #byId = new Map<number, WorkerEntry>();
  #nextId = 0;
  #regs: FromWorkerMux['regs'] = [];
  #drops: number[] = [];
  #tcp: FromWorkerMux['tcp'] = [];
  /** ICE-TCP streams of this thread's connections, held by the main thread. */
  readonly #streams = new Map<number, RelayedStream>();
  #sends = new Batch();
  #scheduled = false;
  readonly #sockets: Record<SocketType, MuxSocket>;
  /** This thread's copies of the main thread's sockets (sends only), once the relay has handed them. */
  readonly #direct: Partial<Record<SocketType, Socket>> = {};
  readonly #send: DatagramSend;

  /** `send` as `UdpMuxRelay`'s: how a datagram is put on this thread's copy of the socket. */
  constructor(
    port: number,
    channel: MessagePort,
    send: DatagramSend = (socket, data, p, host) => socket.send(data, p, host),
  ) {
    this.port = port;
    this.#channel = channel;
    this.#send = send;
    channel.on('message', (message: ToWorkerMux) => {
      if ('ends' in message) this.#receive(message);
      else if ('tcpData' in message) this.#streams.get(message.tcpData)?.push(Buffer.from(message.data));
      else if ('tcpOpen' in message)
        this.#openStream(message.tcpOpen, message.id, message.host, message.port);
      else if ('tcpClose' in message) this.#streams.get(message.tcpClose)?.destroy();
      else this.#useCopy(message.socketFd, typeOf(message.family));
    });
    channel.unref();
    // Stand-ins for the socket, for port545's fast send path (it calls `send`, and reads nothing else).
    const standIn = (type: SocketType): MuxSocket => ({
      send: (data, port, address, callback) => {
        this.#queue(0, data, port, address, familyOf(type));
        callback?.(null);
      },
      address: () => ({
        address: type === 'udp6' ? '::' : '0.0.0.0',
        family: type === 'udp6' ? 'IPv6' : 'IPv4',
        port,
      }),
    });
    this.#sockets = { udp4: standIn('udp4'), udp6: standIn('udp6') };
  }

  /** Connections on this worker's mux, for tests. */
  get connections(): number {
    return this.#entries.size;
  }

  /** Whether this thread sends from its own copy of the socket of `type` (for tests). */
  sendsDirectly(type: SocketType = 'udp4'): boolean {
    return this.#direct[type] !== undefined;
  }

  #useCopy(fd: number, type: SocketType): void {
    const socket = openSendSocket(fd, type);
    if (!socket) return;
    this.#direct[type]?.close();
    this.#direct[type] = socket;
  }

  #socketFor = (type: SocketType): MuxSocket => this.#direct[type] ?? this.#sockets[type];

  /** ICE-TCP streams open on this thread (for tests). */
  get tcpStreams(): number {
    return this.#streams.size;
  }

  #openStream(sid: number, id: number, host: string, port: number): void {
    const stream = new RelayedStream(host, port, (data) => {
      if (data === null) {
        if (this.#streams.get(sid) !== stream) return;
        this.#streams.delete(sid);
      }
      this.#tcp.push([sid, data]);
      this.#schedule();
    });
    this.#streams.set(sid, stream);
    stream.on('error', () => {});
    const entry = this.#byId.get(id);
    const passive = entry && passiveOf(entry.connection);
    if (!entry || !passive || !handOver(entry.connection, stream, host, port)) stream.destroy();
  }

  async transportFor(
    connection: IceConnectionInternals,
    type: SocketType,
  ): Promise<MuxTransport<WorkerEntry>> {
    let entry = this.#entries.get(connection);
    if (!entry) {
      entry = { id: ++this.#nextId, connection, transports: [], ufrags: new Set() };
      this.#entries.set(connection, entry);
      this.#byId.set(entry.id, entry);
    }
    this.#register(entry, familyOf(type), true);
    const transport = new MuxTransport(this, entry, type, () => this.#socketFor(type));
    entry.transports.push(transport);
    return transport;
  }

  refresh(connection: IceConnectionInternals): void {
    const entry = this.#entries.get(connection);
    if (entry) this.#register(entry, 0, false);
  }

  /** The socket is the main thread's (`UdpMuxRelay.ready`). */
  async ready(): Promise<void> {}

  #register(entry: WorkerEntry, family: number, always: boolean): void {
    const ufrag = entry.connection.localUsername;
    const password = passwordOf(entry.connection, ufrag);
    if (password === undefined || (!always && entry.ufrags.has(ufrag))) return;
    entry.ufrags.add(ufrag);
    this.#regs.push([entry.id, ufrag, password, family]);
    this.#schedule();
  }

  sendFrom(entry: WorkerEntry, data: Buffer, port: number, host: string, type: SocketType): void {
    const direct = this.#direct[type];
    // A binding request goes through the relay, which routes its response by the transaction.
    if (direct && !isBindingRequest(data)) this.#send(direct, data, port, host);
    else this.#queue(entry.id, data, port, host, familyOf(type));
  }

  #queue(id: number, data: Uint8Array, port: number, host: string, family: number): void {
    this.#sends.push(data, id, host, port, family);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // At the end of this task: a packet forwarded to every subscriber goes in one message.
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const sends = this.#sends.size > 0 ? this.#sends.take() : undefined;
    const message: FromWorkerMux = { regs: this.#regs, sends, drops: this.#drops, tcp: this.#tcp };
    this.#regs = [];
    this.#drops = [];
    this.#tcp = [];
    this.#channel.postMessage(message, sends ? [sends.buf] : []);
  }

  detach(entry: WorkerEntry, transport: MuxTransport<WorkerEntry>): void {
    const i = entry.transports.indexOf(transport);
    if (i >= 0) entry.transports.splice(i, 1);
    if (entry.transports.length > 0 || this.#entries.get(entry.connection) !== entry) return;
    this.#entries.delete(entry.connection);
    this.#byId.delete(entry.id);
    this.#drops.push(entry.id);
    this.#schedule();
  }

  #receive(batch: Datagrams): void {
    eachDatagram(batch, (data, i) => {
      const entry = this.#byId.get(batch.ids[i]!);
      if (!entry) return;
      const type = typeOf(batch.families[i]!);
      for (const transport of entry.transports)
        if (transport.socketType === type) return transport.deliver(data, batch.hosts[i]!, batch.ports[i]!);
    });
  }
}
