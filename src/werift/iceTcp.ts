import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { Connection, TcpPassiveProtocol } from 'werift';
import type { IceConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * ICE over TCP on the server's own TCP port (RFC 6544 passive candidates, RFC 4571 framing), for networks
 * that let no UDP through.
 *
 * werift gives a connection with `iceUseTcp` a passive candidate by listening on a TCP port of its own.
 * A connection on the UDP mux instead gets one on the HTTP port: its passive protocol listens nowhere, and
 * the HTTP server hands over each connection whose first bytes are an RFC 4571 frame (a length whose high
 * byte is 0, which no HTTP request or TLS handshake starts with) to the mux of the connections. The mux
 * reads the first frame, which must be a STUN binding request whose USERNAME names one of its
 * connections and whose MESSAGE-INTEGRITY verifies with that connection's password (as for a datagram on
 * the UDP mux); only then is the stream given to that connection's passive protocol (werift's
 * `registerSocket`, which reads and writes the frames from then on). Anything else is closed.
 *
 * With worker threads the stream stays on the main thread (a socket cannot move to a worker): the relay
 * carries its bytes to and from a `Duplex` on the worker (src/werift/udpMuxRelay.ts).
 */

/** The longest first frame taken (a binding request is about 100 bytes). */
export const MAX_FIRST_FRAME = 1024;

/** True when a TCP connection's first byte may start an RFC 4571 frame of a STUN message. */
export const startsIceTcp = (first: number | undefined) =>
  first !== undefined && first <= (MAX_FIRST_FRAME >> 8) - 1;

/** werift's `TcpPassiveProtocol`, as far as this module uses it. */
interface PassiveInternals {
  localIp?: string;
  registerSocket(socket: Duplex, remoteAddr?: [string, number]): unknown;
  sockets: Map<string, unknown>;
}

/** Which passive protocol answers for which connection, and on which port. */
const shared = new WeakMap<object, { port: number }>();
const passives = new WeakMap<object, PassiveInternals>();

/** The connection whose candidates werift is gathering now, with the TCP port its passive candidate gets. */
let gathering: { connection: IceConnectionInternals; port: number } | undefined;

/** The TCP port of a connection's passive candidates (set by the mux's ticket; src/werift/udpMux.ts). */
type TcpPortOf = (connection: IceConnectionInternals) => number | undefined;
let tcpPortOf: TcpPortOf = () => undefined;

/** How the mux says which connections take ICE over TCP and on which port (called once, by udpMux.ts). */
export function setIceTcpPorts(lookUp: TcpPortOf): void {
  tcpPortOf = lookUp;
}

/** The passive protocol of a connection on the shared TCP port, if it has one. */
export function passiveOf(connection: IceConnectionInternals): PassiveInternals | undefined {
  return passives.get(connection);
}

/**
 * Reads the first RFC 4571 frame of a TCP connection (the socket paused, its first bytes put back),
 * within `timeoutMs`; undefined if it is not one or does not come. The bytes are put back for the next
 * reader.
 */
export function readFirstFrame(socket: Socket, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (frame: Buffer | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onEnd);
      socket.off('end', onEnd);
      socket.pause();
      if (frame) socket.unshift(buffered);
      resolve(frame);
    };
    const onEnd = () => done(undefined);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (length < 20 || length > MAX_FIRST_FRAME) return done(undefined);
      if (buffered.length >= 2 + length) done(buffered.subarray(2, 2 + length));
    };
    const timer = setTimeout(onEnd, timeoutMs);
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('end', onEnd);
    socket.resume();
  });
}

/**
 * A stream of this thread that stands for a TCP connection held by the main thread: what werift writes
 * goes to `write`, what arrives is `push`ed.
 */
export class RelayedStream extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #send: (data: Buffer | null) => void;

  constructor(remoteAddress: string, remotePort: number, send: (data: Buffer | null) => void) {
    super({ allowHalfOpen: false });
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.#send = send;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#send(null);
    callback(error);
  }
}

/** Gives `stream` (its first frame verified for `connection`) to the connection's passive protocol. */
export function handOver(
  connection: IceConnectionInternals,
  stream: Duplex,
  host: string,
  port: number,
): boolean {
  const passive = passives.get(connection);
  if (!passive) return false;
  // A dual-stack listener reports an IPv4 peer as `::ffff:a.b.c.d`: the peer learns its address from the
  // answers to its checks (XOR-MAPPED-ADDRESS), and should see the IPv4 one it has.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)?.[1];
  passive.registerSocket(stream, [mapped ?? host, port]);
  return true;
}

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if werift's
// shape changed.
type GatherPromises = (...args: unknown[]) => unknown;
replaceMethod(
  Connection.prototype as unknown as { getCandidatePromises: GatherPromises },
  'getCandidatePromises',
  'werift Connection',
  import.meta.url,
  (original) =>
    function (this: IceConnectionInternals, ...args: unknown[]) {
      const port = tcpPortOf(this);
      if (port === undefined) return original.apply(this, args);
      // werift makes the passive protocol and calls its connectionMade within this call.
      const previous = gathering;
      gathering = { connection: this, port };
      try {
        return original.apply(this, args);
      } finally {
        gathering = previous;
      }
    },
);

type ConnectionMade = (localIp: string, portRange?: [number, number]) => Promise<void>;
replaceMethod(
  TcpPassiveProtocol.prototype as unknown as { connectionMade: ConnectionMade },
  'connectionMade',
  'werift TcpPassiveProtocol',
  import.meta.url,
  (original) =>
    async function (this: PassiveInternals, localIp: string, portRange?: [number, number]) {
      const current = gathering;
      if (!current) return original.call(this, localIp, portRange);
      // No listening socket: the HTTP port's connections are handed over (`handOver`).
      this.localIp = localIp;
      shared.set(this, { port: current.port });
      passives.set(current.connection, this);
    },
);

const listeningPort = Object.getOwnPropertyDescriptor(TcpPassiveProtocol.prototype, 'listeningPort');
if (typeof listeningPort?.get !== 'function')
  throw new Error(
    'werift TcpPassiveProtocol has no listeningPort getter: src/werift/iceTcp.ts needs updating',
  );
const originalListeningPort = listeningPort.get;
Object.defineProperty(TcpPassiveProtocol.prototype, 'listeningPort', {
  ...listeningPort,
  get(this: object) {
    return shared.get(this)?.port ?? originalListeningPort.call(this);
  },
});
