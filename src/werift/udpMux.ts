import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import type { Socket as TcpSocket } from 'node:net';
import { isIP } from 'node:net';
import { Connection, type PeerConfig, UdpTransport } from 'werift';
import { handOver, passiveOf, readFirstFrame, setIceTcpPorts } from './iceTcp.js';
import type { IceConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * A UDP mux: every werift peer connection of a thread that asks for it (src/sfu/peerConfig.ts, `rtc.udpPort`)
 * sends and receives its media on ONE UDP socket bound to one configured port, instead of a socket per
 * connection from a port range. A firewall then needs that one port open.
 *
 * How werift is hooked (0.25.2): an ICE `Connection` makes one `StunProtocol` per local address when it
 * gathers, and each protocol gets its socket from the static `UdpTransport.init(type, { portRange,
 * interfaceAddresses })`. The peer configuration's `iceInterfaceAddresses` reaches that call untouched
 * (werift passes it by reference), so a mux connection's configuration carries a marker there, under a
 * symbol (werift reads only the `udp4`/`udp6` keys, which it does not have: it gathers on every address
 * and binds the wildcard address, as with no marker). Two methods are replaced:
 * - `Connection.prototype.gatherCandidates` swaps the marker for one that names the connection (and, on
 *   an ICE restart, registers the connection's new ufrag);
 * - `UdpTransport.init` returns, for a marked call, a `MuxTransport`: werift's transport interface (send,
 *   onData, close, address, and `socket` for port545's fast send path, which then sends on the shared
 *   socket) over the shared socket. Every other call is werift's own.
 *
 * Receiving (RFC 7983 §7, by the first byte): 0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP, anything else
 * dropped.
 * - A STUN binding request goes to the connection whose local ufrag starts its USERNAME
 *   ("<our ufrag>:<their ufrag>", RFC 8445 §7.2.2), and only when its MESSAGE-INTEGRITY verifies with that
 *   connection's local password (RFC 5389 §10.1.2); then its source address is bound to that connection.
 * - A STUN response goes to the connection that sent the request with its transaction ID (werift then
 *   checks its integrity with the peer's password); a STUN indication, to the connection its source is
 *   bound to.
 * - DTLS and RTP/RTCP go to the connection their source address is bound to.
 * Everything else is dropped and leaves nothing behind. A connection's bindings, ufrags and transaction
 * IDs go when its transports close (werift closes them when the connection closes), and are capped.
 *
 * This file is the mux of one thread (`UdpMux`, used as is with `--workers 0`) and the routing shared
 * with the worker-thread variant in udpMuxRelay.ts, where the socket and the routing are on the main
 * thread and each worker's connections reach them over a MessagePort.
 */

const MUX = Symbol('port545.udpMux');
/** The TCP port of the passive ICE-TCP candidates of a mux connection (src/werift/iceTcp.ts). */
const TCP = Symbol('port545.iceTcpPort');

const STUN_MAGIC_COOKIE = 0x2112a442;
const STUN_BINDING_REQUEST = 0x0001;
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;

/** Caps on what the mux remembers. */
export interface UdpMuxLimits {
  /** Remote addresses bound to one connection (its peer's candidates, a NAT rebinding or two). */
  bindingsPerConnection: number;
  /** Remote addresses bound over all connections of the mux. */
  bindings: number;
  /** STUN requests of one connection waiting for their response (the oldest is forgotten first). */
  transactionsPerConnection: number;
}

export const DEFAULT_UDP_MUX_LIMITS: UdpMuxLimits = {
  bindingsPerConnection: 16,
  bindings: 65_536,
  transactionsPerConnection: 128,
};

/** What the mux did with incoming datagrams, for tests and diagnostics. */
export interface UdpMuxStats {
  received: number;
  delivered: number;
  /** Dropped: not STUN, DTLS or RTP/RTCP by its first byte, or too short. */
  droppedKind: number;
  /** Dropped: STUN binding request with no known ufrag, or a MESSAGE-INTEGRITY that does not verify. */
  droppedStunAuth: number;
  /** Dropped: a STUN response or indication nobody waits for. */
  droppedStunOther: number;
  /** Dropped: DTLS or RTP/RTCP from an address bound to no connection. */
  droppedUnbound: number;
  /** Validated binding requests that could not bind their address (the mux's cap was reached). */
  bindingsRefused: number;
}

/** The marker a mux connection's `iceInterfaceAddresses` carries (before and after gathering starts). */
type Marker = ThreadMux | Ticket;
interface Ticket {
  ticket: true;
  mux: ThreadMux;
  connection: IceConnectionInternals;
  tcpPort: number | undefined;
}
type Marked = { [MUX]?: Marker; [TCP]?: number };

/** ICE-TCP streams one connection may have open on the shared TCP port (a peer's candidates, a retry). */
export const ICE_TCP_STREAMS_PER_CONNECTION = 8;

/** A STUN binding request (an ICE check), by its type and magic cookie; `data` is at least 20 bytes. */
const isCheck = (data: Buffer) => isBindingRequest(data) && data.readUInt32BE(4) === STUN_MAGIC_COOKIE;

/**
 * Takes a TCP connection whose first bytes are an RFC 4571 frame (src/werift/iceTcp.ts): its first frame
 * must be a binding request that `table` verifies for a connection. Resolves to that connection's route,
 * the socket paused with the frame put back; or undefined, the socket destroyed.
 */
export async function verifyIceTcp<R extends MuxRoute>(
  table: MuxTable<R>,
  socket: TcpSocket,
  timeoutMs: number,
): Promise<R | undefined> {
  const frame = await readFirstFrame(socket, timeoutMs);
  const route = frame && table.owner(frame);
  if (!route || !socket.remoteAddress || !socket.remotePort) {
    // A binding request whose integrity failed, or a first frame that is no check at all.
    if (frame) table.stats[isCheck(frame) ? 'droppedStunAuth' : 'droppedKind']++;
    socket.destroy();
    return undefined;
  }
  return route;
}

/** What the mux keeps of one connection for routing: its ufrags, bound addresses and transactions. */
export interface MuxRoute {
  ufrags: Set<string>;
  bindings: Set<string>;
  transactions: Set<string>;
  /** The local ICE password of `ufrag`, when it is one of the connection's. */
  password(ufrag: string): string | undefined;
}

export const addressKey = (address: string, port: number) => `${address}|${port}`;

/** The route a binding request names, when its MESSAGE-INTEGRITY verifies; undefined when not. */
function verifiedOwner<R extends MuxRoute>(data: Buffer, byUfrag: Map<string, R>): R | undefined {
  const length = 20 + data.readUInt16BE(2);
  if (length > data.length) return undefined;
  let offset = 20;
  let route: R | undefined;
  let ufrag: string | undefined;
  while (offset + 4 <= length) {
    const type = data.readUInt16BE(offset);
    const size = data.readUInt16BE(offset + 2);
    const value = offset + 4;
    if (value + size > length) return undefined;
    if (type === ATTR_USERNAME) {
      const username = data.toString('utf8', value, value + size);
      const colon = username.indexOf(':');
      ufrag = colon < 0 ? username : username.slice(0, colon);
      route = byUfrag.get(ufrag);
      if (!route) return undefined;
    } else if (type === ATTR_MESSAGE_INTEGRITY) {
      if (size !== 20 || !route || ufrag === undefined) return undefined;
      const password = route.password(ufrag);
      if (password === undefined) return undefined;
      // RFC 5389 §15.4: HMAC-SHA1 over the message up to the attribute, its length counting the attribute.
      const covered = Buffer.from(data.subarray(0, offset));
      covered.writeUInt16BE(offset + 24 - 20, 2);
      const expected = createHmac('sha1', password).update(covered).digest();
      return timingSafeEqual(expected, data.subarray(value, value + 20)) ? route : undefined;
    }
    offset = value + size + ((4 - (size % 4)) % 4);
  }
  return undefined;
}

/** True for a STUN binding request (which the mux remembers the transaction of when it is sent). */
export const isBindingRequest = (data: Uint8Array) =>
  data.length >= 20 && data[0]! <= 3 && ((data[0]! << 8) | data[1]!) === STUN_BINDING_REQUEST;

/** The routing of a mux: which connection each datagram is for (RFC 7983), and what it learnt. */
export class MuxTable<R extends MuxRoute> {
  readonly limits: UdpMuxLimits;
  readonly stats: UdpMuxStats = {
    received: 0,
    delivered: 0,
    droppedKind: 0,
    droppedStunAuth: 0,
    droppedStunOther: 0,
    droppedUnbound: 0,
    bindingsRefused: 0,
  };
  readonly #byUfrag = new Map<string, R>();
  readonly #byAddress = new Map<string, R>();
  readonly #byTransaction = new Map<string, R>();
  /** Where each remembered request went ("ip|port"). */
  readonly #sentTo = new Map<string, string>();
  #routes = 0;

  constructor(limits: Partial<UdpMuxLimits> = {}) {
    this.limits = { ...DEFAULT_UDP_MUX_LIMITS, ...limits };
  }

  sizes(): { connections: number; ufrags: number; bindings: number; transactions: number } {
    return {
      connections: this.#routes,
      ufrags: this.#byUfrag.size,
      bindings: this.#byAddress.size,
      transactions: this.#byTransaction.size,
    };
  }

  boundAddresses(): string[] {
    return [...this.#byAddress.keys()];
  }

  /** A connection joins the mux (counted until `forget`). */
  added(): void {
    this.#routes++;
  }

  addUfrag(route: R, ufrag: string): boolean {
    if (ufrag === '' || route.ufrags.has(ufrag)) return false;
    // A ufrag is random (RFC 8445 §5.3: 24 bits at least); should two connections ever share one, the
    // newer is reachable by it and the older keeps its bound addresses.
    this.#byUfrag.get(ufrag)?.ufrags.delete(ufrag);
    route.ufrags.add(ufrag);
    this.#byUfrag.set(ufrag, route);
    return true;
  }

  /** Everything of `route` goes: its ufrags, bound addresses and transactions. */
  forget(route: R): void {
    this.#routes--;
    for (const ufrag of route.ufrags) if (this.#byUfrag.get(ufrag) === route) this.#byUfrag.delete(ufrag);
    for (const key of route.bindings) if (this.#byAddress.get(key) === route) this.#byAddress.delete(key);
    for (const id of route.transactions)
      if (this.#byTransaction.get(id) === route) {
        this.#byTransaction.delete(id);
        this.#sentTo.delete(id);
      }
    route.ufrags.clear();
    route.bindings.clear();
    route.transactions.clear();
  }

  /** `route` sent a binding request: its response, from wherever, is for it. */
  expectResponse(route: R, data: Uint8Array, host?: string, port?: number): void {
    const id = Buffer.from(data.buffer, data.byteOffset + 8, 12).toString('hex');
    if (route.transactions.has(id)) return;
    if (route.transactions.size >= this.limits.transactionsPerConnection) {
      const oldest = route.transactions.values().next().value as string;
      route.transactions.delete(oldest);
      if (this.#byTransaction.get(oldest) === route) {
        this.#byTransaction.delete(oldest);
        this.#sentTo.delete(oldest);
      }
    }
    route.transactions.add(id);
    this.#byTransaction.set(id, route);
    if (host !== undefined && port !== undefined) this.#sentTo.set(id, addressKey(host, port));
  }

  /**
   * Binds `key` to `route` after a validated request. A connection's bindings are kept in the order of
   * their last validated request (the peer's consent checks, RFC 7675, renew the address in use every
   * few seconds); past the cap the least recently validated goes (an address the peer's NAT left).
   */
  #bind(route: R, key: string): boolean {
    const current = this.#byAddress.get(key);
    if (current === route) {
      route.bindings.delete(key);
      route.bindings.add(key);
      return true;
    }
    if (!current && this.#byAddress.size >= this.limits.bindings) return false;
    if (route.bindings.size >= this.limits.bindingsPerConnection) {
      const oldest = route.bindings.values().next().value as string;
      route.bindings.delete(oldest);
      this.#byAddress.delete(oldest);
    }
    // A validated request from an address bound to another connection: the address is this one's now.
    current?.bindings.delete(key);
    route.bindings.add(key);
    this.#byAddress.set(key, route);
    return true;
  }

  /** The connection a STUN binding request is for, when its MESSAGE-INTEGRITY verifies (binds nothing). */
  owner(data: Buffer): R | undefined {
    if (!isCheck(data)) return undefined;
    return verifiedOwner(data, this.#byUfrag);
  }

  /** The connection a datagram from `address`:`port` is for, or undefined to drop it (counted). */
  route(data: Buffer, address: string, port: number): R | undefined {
    this.stats.received++;
    const first = data[0];
    let route: R | undefined;
    if (first === undefined) {
      this.stats.droppedKind++;
    } else if (first <= 3) {
      // RFC 7983 §7: STUN.
      if (data.length < 20 || data.readUInt32BE(4) !== STUN_MAGIC_COOKIE) {
        this.stats.droppedKind++;
        return undefined;
      }
      const messageType = data.readUInt16BE(0);
      if (messageType === STUN_BINDING_REQUEST) {
        route = verifiedOwner(data, this.#byUfrag);
        if (!route) {
          this.stats.droppedStunAuth++;
          return undefined;
        }
        if (!this.#bind(route, addressKey(address, port))) this.stats.bindingsRefused++;
      } else if (messageType & 0x0100) {
        // A response (success or error): for the connection that sent the request.
        const id = data.toString('hex', 8, 20);
        route = this.#byTransaction.get(id);
        if (route) {
          // A response from the address the check went to proves that address is the peer's (its
          // transaction ID is 96 random bits only the request carried): it is bound, as a validated
          // request's source is. Otherwise a peer whose own checks were all lost (a busy server, the
          // first ones before its connection was known) could not send its DTLS until its next check.
          const key = addressKey(address, port);
          if (this.#sentTo.get(id) === key && !this.#bind(route, key)) this.stats.bindingsRefused++;
          this.#byTransaction.delete(id);
          this.#sentTo.delete(id);
          route.transactions.delete(id);
        } else this.stats.droppedStunOther++;
      } else {
        // An indication (a keepalive): from the peer's bound address.
        route = this.#byAddress.get(addressKey(address, port));
        if (!route) this.stats.droppedStunOther++;
      }
    } else if ((first >= 20 && first <= 63) || (first >= 128 && first <= 191)) {
      // 20–63 DTLS, 128–191 RTP/RTCP: from the peer's bound address only.
      route = this.#byAddress.get(addressKey(address, port));
      if (!route) this.stats.droppedUnbound++;
    } else this.stats.droppedKind++;
    if (route) this.stats.delivered++;
    return route;
  }
}

/** Binds a mux socket: `port` on every address of the family. */
export function bindMuxSocket(
  port: number,
  type: SocketType,
  onMessage: (data: Buffer, rinfo: RemoteInfo) => void,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type, ipv6Only: type === 'udp6' });
    const failed = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once('error', failed);
    socket.bind({ port, address: type === 'udp6' ? '::' : '0.0.0.0' }, () => {
      socket.off('error', failed);
      // Errors of an unconnected UDP socket are of one send; werift ignores them too.
      socket.on('error', () => {});
      socket.on('message', onMessage);
      // Every connection's media in one queue: larger kernel buffers (up to net.core.rmem_max/wmem_max).
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
        socket.setSendBufferSize(4 * 1024 * 1024);
      } catch {
        // The default buffers then.
      }
      // A mux lives as long as its thread or server; it does not keep the process alive by itself.
      socket.unref();
      resolve(socket);
    });
  });
}

/** What a `MuxTransport` needs of its mux (a mux with the socket here, or a worker's, UdpMuxRelay.ts). */
export interface MuxBackend<E> {
  /** Sends from `entry`'s connection (a binding request's transaction is remembered). */
  sendFrom(entry: E, data: Buffer, port: number, host: string, type: SocketType): void;
  detach(entry: E, transport: MuxTransport<E>): void;
}

/** The socket-like object a `MuxTransport` exposes as `socket`: port545's fast path sends with it. */
export interface MuxSocket {
  send(data: Buffer, port: number, address: string, callback?: (error: Error | null) => void): void;
  address(): { address: string; family: string; port: number };
}

/** werift's transport interface (lib/common/src/transport.d.ts `Transport`) on a mux. */
export class MuxTransport<E = unknown> {
  readonly type = 'udp';
  closed = false;
  onData: (data: Buffer, addr: [string, number]) => void = () => {};
  rinfo: { address: string; port: number } | undefined;
  readonly #mux: MuxBackend<E>;
  readonly #entry: E;
  readonly socketType: SocketType;
  readonly #socket: MuxSocket | (() => MuxSocket);

  constructor(mux: MuxBackend<E>, entry: E, socketType: SocketType, socket: MuxSocket | (() => MuxSocket)) {
    this.#mux = mux;
    this.#entry = entry;
    this.socketType = socketType;
    this.#socket = socket;
  }

  /**
   * The shared socket (or, on a worker's mux, its copy of it, or until the copy arrives a stand-in with its
   * `send`): port545's fast send path (src/sfu/RtpFastSender.ts) sends RTP with it directly.
   */
  get socket(): MuxSocket {
    const socket = this.#socket;
    return typeof socket === 'function' ? socket() : socket;
  }

  send = async (data: Buffer, addr?: readonly [string, number]): Promise<void> => {
    if (this.closed) return;
    const to = addr ?? (this.rinfo ? [this.rinfo.address, this.rinfo.port] : undefined);
    if (!to) return;
    if (isIP(to[0])) {
      this.#mux.sendFrom(this.#entry, data, to[1], to[0], this.socketType);
      return;
    }
    // A name (werift resolves with the send): only on a real socket, as werift's UdpTransport does.
    await new Promise<void>((resolve, reject) =>
      this.socket.send(data, to[1], to[0], (error) => (error ? reject(error) : resolve())),
    );
  };

  close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    this.#mux.detach(this.#entry, this);
  };

  /** Hands a datagram to werift (StunProtocol.datagramReceived), as werift's UdpTransport does. */
  deliver(data: Buffer, address: string, port: number): void {
    this.rinfo = { address, port };
    try {
      this.onData(data, [address, port]);
    } catch {
      // As werift's UdpTransport: a failing handler does not stop the socket.
    }
  }

  get address(): { address: string; family: string; port: number } {
    return this.socket.address();
  }
  get addressFamily(): 4 | 6 {
    return this.socketType === 'udp6' ? 6 : 4;
  }
  get host(): string {
    return this.address.address;
  }
  get port(): number {
    return this.address.port;
  }
}

/** What a mux of this thread offers the hooks below: a transport for a connection. */
export interface ThreadMux {
  readonly port: number;
  transportFor(connection: IceConnectionInternals, type: SocketType): Promise<MuxTransport<unknown>>;
  /** After an ICE restart: the connection's new ufrag is routed to it too (the old one until it closes). */
  refresh(connection: IceConnectionInternals): void;
  /** Resolves once the port is bound (the IPv4 socket); rejects when it cannot be. */
  ready(): Promise<void>;
}

/** One ICE connection on a mux whose socket is on this thread. */
interface Entry extends MuxRoute {
  connection: IceConnectionInternals;
  transports: MuxTransport<Entry>[];
}

/** The password of `ufrag` if it is (or was, before an ICE restart) one of `connection`'s. */
export const passwordOf = (connection: IceConnectionInternals, ufrag: string): string | undefined =>
  connection.userHistory?.[ufrag] ??
  (ufrag === connection.localUsername ? connection.localPassword : undefined);

/** One UDP port shared by every mux connection of this thread (a socket per address family). */
export class UdpMux implements ThreadMux, MuxBackend<Entry> {
  readonly port: number;
  readonly table: MuxTable<Entry>;
  readonly #sockets = new Map<SocketType, Promise<Socket>>();
  readonly #entries = new Map<IceConnectionInternals, Entry>();
  #closed = false;

  constructor(port: number, limits: Partial<UdpMuxLimits> = {}) {
    this.port = port;
    this.table = new MuxTable(limits);
  }

  get stats(): UdpMuxStats {
    return this.table.stats;
  }
  get limits(): UdpMuxLimits {
    return this.table.limits;
  }

  /** How much the mux remembers: all zero when no connection is on it. */
  sizes(): { connections: number; ufrags: number; bindings: number; transactions: number } {
    return this.table.sizes();
  }

  /** The bound remote addresses ("ip|port"), for tests. */
  boundAddresses(): string[] {
    return this.table.boundAddresses();
  }

  /** The socket of a family, bound on first use; later calls share it. */
  socket(type: SocketType): Promise<Socket> {
    if (this.#closed) return Promise.reject(new Error('the UDP mux is closed'));
    let socket = this.#sockets.get(type);
    if (!socket) {
      socket = bindMuxSocket(this.port, type, (data, rinfo) => this.receive(data, rinfo, type));
      this.#sockets.set(type, socket);
      // A failed bind (the port is taken) is tried again by the next connection.
      socket.catch(() => this.#sockets.delete(type));
    }
    return socket;
  }

  async ready(): Promise<void> {
    await this.socket('udp4');
  }

  async transportFor(connection: IceConnectionInternals, type: SocketType): Promise<MuxTransport<Entry>> {
    const socket = await this.socket(type);
    let entry = this.#entries.get(connection);
    if (!entry) {
      entry = {
        connection,
        transports: [],
        ufrags: new Set(),
        bindings: new Set(),
        transactions: new Set(),
        password: (ufrag) => passwordOf(connection, ufrag),
      };
      this.#entries.set(connection, entry);
      this.table.added();
    }
    this.table.addUfrag(entry, connection.localUsername);
    const transport = new MuxTransport(this, entry, type, socket);
    entry.transports.push(transport);
    return transport;
  }

  refresh(connection: IceConnectionInternals): void {
    const entry = this.#entries.get(connection);
    if (entry) this.table.addUfrag(entry, connection.localUsername);
  }

  sendFrom(entry: Entry, data: Buffer, port: number, host: string, type: SocketType): void {
    if (isBindingRequest(data)) this.table.expectResponse(entry, data, host, port);
    for (const transport of entry.transports)
      if (transport.socketType === type) return transport.socket.send(data, port, host);
  }

  /** A transport closed; a connection whose transports all closed is forgotten. */
  detach(entry: Entry, transport: MuxTransport<Entry>): void {
    const i = entry.transports.indexOf(transport);
    if (i >= 0) entry.transports.splice(i, 1);
    if (entry.transports.length > 0 || this.#entries.get(entry.connection) !== entry) return;
    this.#entries.delete(entry.connection);
    this.table.forget(entry);
  }

  /** A datagram that reached the shared socket of `type`. */
  receive(data: Buffer, rinfo: RemoteInfo, type: SocketType): void {
    const entry = this.table.route(data, rinfo.address, rinfo.port);
    if (!entry) return;
    for (const transport of entry.transports)
      if (transport.socketType === type) return transport.deliver(data, rinfo.address, rinfo.port);
  }

  /**
   * A TCP connection of the server's port that starts with an RFC 4571 frame: ICE over TCP for one of
   * this mux's connections, or closed.
   */
  async acceptTcp(socket: TcpSocket, timeoutMs: number): Promise<void> {
    const entry = await verifyIceTcp(this.table, socket, timeoutMs);
    if (!entry) return;
    const passive = passiveOf(entry.connection);
    if (!passive || passive.sockets.size >= ICE_TCP_STREAMS_PER_CONNECTION) return void socket.destroy();
    // The HTTP server's sockets are half-open on the peer's end: a stream ends with its peer.
    socket.once('end', () => socket.destroy());
    handOver(entry.connection, socket, socket.remoteAddress!, socket.remotePort!);
    socket.resume();
  }

  /** Closes the sockets (tests; a thread's mux otherwise lives as long as the thread). */
  async close(): Promise<void> {
    this.#closed = true;
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    for (const pending of sockets) {
      const socket = await pending.catch(() => undefined);
      if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }
}

/** This thread's muxes, by port. */
const muxes = new Map<number, ThreadMux>();

/**
 * The mux of `port` on this thread: one made on first use (its sockets bound by the first connection),
 * unless `useThreadMux` put another there (a worker thread's, whose socket is on the main thread).
 */
export function udpMux(port: number): ThreadMux {
  let mux = muxes.get(port);
  if (!mux) {
    mux = new UdpMux(port);
    muxes.set(port, mux);
  }
  return mux;
}

/** Makes `mux` this thread's mux of its port (src/werift/udpMuxRelay.ts, in a worker thread). */
export function useThreadMux(mux: ThreadMux): void {
  muxes.set(mux.port, mux);
}

/** This thread's muxes, for tests and diagnostics. */
export function udpMuxes(): ReadonlyMap<number, ThreadMux> {
  return muxes;
}

/** Closes this thread's mux of `port`, if it has one of its own (a server that stops). */
export async function closeUdpMux(port: number): Promise<void> {
  const mux = muxes.get(port);
  if (!(mux instanceof UdpMux)) return;
  muxes.delete(port);
  await mux.close();
}

/** Closes this thread's muxes (tests). */
export async function closeUdpMuxes(): Promise<void> {
  const all = [...muxes.values()];
  muxes.clear();
  await Promise.all(all.map((mux) => (mux instanceof UdpMux ? mux.close() : undefined)));
}

/**
 * The `iceInterfaceAddresses` of a peer configuration whose connections use the mux of `port`: no
 * address of its own (werift gathers and binds as without it), and the marker the hooks below look for.
 */
export function udpMuxInterfaceAddresses(
  port: number,
  tcpPort?: number,
): PeerConfig['iceInterfaceAddresses'] {
  const marked: Marked = {};
  Object.defineProperty(marked, MUX, { value: udpMux(port), enumerable: false });
  if (tcpPort !== undefined) Object.defineProperty(marked, TCP, { value: tcpPort, enumerable: false });
  return marked as PeerConfig['iceInterfaceAddresses'];
}

const isTicket = (marker: Marker): marker is Ticket => 'ticket' in marker;

const markerOf = (addresses: unknown): Marker | undefined =>
  addresses && typeof addresses === 'object' ? (addresses as Marked)[MUX] : undefined;

type IceConnectionWithOptions = IceConnectionInternals & { options?: { interfaceAddresses?: unknown } };

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed.
replaceMethod(
  Connection.prototype as unknown as { gatherCandidates(): Promise<void> },
  'gatherCandidates',
  'werift Connection',
  import.meta.url,
  (original) =>
    async function (this: IceConnectionWithOptions) {
      const marker = markerOf(this.options?.interfaceAddresses);
      if (marker && !isTicket(marker)) {
        // This connection's own marker, so that its transports know whose they are.
        const tcpPort = (this.options!.interfaceAddresses as Marked)[TCP];
        const ticket: Marked = {};
        Object.defineProperty(ticket, MUX, {
          value: { ticket: true, mux: marker, connection: this, tcpPort } satisfies Ticket,
          enumerable: false,
        });
        this.options!.interfaceAddresses = ticket;
      } else if (marker) marker.mux.refresh(this);
      return original.call(this);
    },
);

// A mux connection given a TCP port takes ICE over TCP there (src/werift/iceTcp.ts).
setIceTcpPorts((connection) => {
  const marker = markerOf((connection as IceConnectionWithOptions).options?.interfaceAddresses);
  return marker && isTicket(marker) ? marker.tcpPort : undefined;
});

type TransportInit = (type: SocketType, options?: { interfaceAddresses?: unknown }) => Promise<unknown>;
replaceMethod(
  UdpTransport as unknown as { init: TransportInit },
  'init',
  'werift UdpTransport',
  import.meta.url,
  (original) =>
    async function (this: unknown, type: SocketType, options?: { interfaceAddresses?: unknown }) {
      const marker = markerOf(options?.interfaceAddresses);
      if (marker && isTicket(marker)) return marker.mux.transportFor(marker.connection, type);
      return original.call(this, type, options);
    },
);
