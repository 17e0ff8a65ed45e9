import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { TypedEmitter } from '../../common/TypedEmitter.js';
import {
  frameStream,
  header,
  MAX_MESSAGE_BYTES,
  parseSipMessage,
  parseVia,
  type SipMessage,
  SipParseError,
  SipPartialError,
  type SipResponse,
  serializeSipMessage,
} from './SipMessage.js';
import { sendAddress } from './udpAddress.js';

/**
 * Where a message came from, and how to answer it. Plain data (it crosses to a room worker as it is): a
 * TCP connection is named by the number the transport that read it gave it.
 */
export interface SipPeer {
  transport: 'UDP' | 'TCP';
  address: string;
  port: number;
  /** The TCP connection it came on. */
  connection?: number;
  /** Our address on that TCP connection. */
  localAddress?: string;
}

/**
 * What a SIP user agent needs of its transport: the port it is reached on, and sending. `SipTransport`
 * binds the sockets itself; a room worker's gateway sends through the main thread's (src/workers).
 */
export interface SipWire {
  readonly port: number;
  send(message: SipMessage, peer: SipPeer): void;
  respond(response: SipResponse, peer: SipPeer): void;
}

export interface SipTransportEvents {
  /** A message, and the bytes it was read from. */
  message: [SipMessage, SipPeer, Buffer];
  /** A message that could not be parsed; `partial` is set when enough was read to answer 400. */
  malformed: [SipParseError, SipPeer];
}

/** Reads one message (a datagram, or one framed from a TCP stream): the message, or why it cannot be read. */
export function readSipMessage(data: Buffer, stream: boolean): SipMessage | SipParseError {
  try {
    return parseSipMessage(data, { stream });
  } catch (error) {
    return error instanceof SipParseError ? error : new SipParseError(String(error));
  }
}

/**
 * Where a response goes (§18.2.2): back over the request's TCP connection, or for UDP to the source
 * address and port when the request asked for it (RFC 3581 rport), named a host we would have to resolve,
 * or an address other than the source (NAT, "received"); else to the top Via's address and port.
 */
export function responsePeer(response: SipResponse, peer: SipPeer): SipPeer {
  if (peer.transport === 'TCP') return peer;
  const via = parseVia(header(response, 'via') ?? '');
  if (!via || via.params.has('rport') || isIP(via.host) === 0 || via.host !== peer.address) return peer;
  return { transport: 'UDP', address: via.host, port: via.port ?? 5060 };
}

/** Open TCP connections are capped so that a peer cannot exhaust file descriptors. */
const MAX_TCP_CONNECTIONS = 512;
/** A TCP connection with no traffic for this long is closed (calls on it send re-INVITEs or BYEs sooner). */
const TCP_IDLE_MS = 10 * 60_000;

/**
 * SIP over UDP and TCP on one port (RFC 3261 §18). Datagrams are whole messages; TCP streams are cut
 * into messages by Content-Length. Responses go where §18.2.2 and RFC 3581 say: back over the same TCP
 * connection, or for UDP to the source address and port (rport, or a Via that cannot be reached).
 */
export class SipTransport extends TypedEmitter<SipTransportEvents> implements SipWire {
  port = 0;
  host = '';
  #udp: UdpSocket | undefined;
  #udpIpv6 = false;
  #tcp: Server | undefined;
  /** Open TCP connections by the number their peers carry. */
  readonly #connections = new Map<number, Socket>();
  #nextConnection = 0;
  readonly #log: Logger;

  constructor(log: Logger) {
    super();
    this.#log = log;
  }

  /** Binds UDP and TCP on `host:port` (port 0: one free port for both). Resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const udp = createSocket({
        type: isIP(host) === 6 || host === '::' ? 'udp6' : 'udp4',
        reuseAddr: false,
      });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const bound = udp.address().port;
      const tcp = createServer((socket) => this.#onConnection(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(bound, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        udp.close();
        // An ephemeral UDP port whose TCP twin is taken: try another.
        if (port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw error;
      }
      udp.on('message', (data, rinfo) => this.#onDatagram(data, rinfo));
      udp.on('error', (error) => this.#log.warn({ err: error }, 'SIP UDP socket error'));
      tcp.on('error', (error) => this.#log.warn({ err: error }, 'SIP TCP server error'));
      this.#udp = udp;
      this.#udpIpv6 = udp.address().family === 'IPv6';
      this.#tcp = tcp;
      this.host = host;
      this.port = bound;
      return bound;
    }
    throw new Error('could not find a port free for both SIP over UDP and TCP');
  }

  #onDatagram(data: Buffer, rinfo: RemoteInfo): void {
    const peer: SipPeer = { transport: 'UDP', address: rinfo.address, port: rinfo.port };
    // RFC 5626 §4.4.1 keep-alive: a lone CRLF (or CRLFCRLF, answered with CRLF).
    if (data.length <= 4 && data.toString('latin1').trim() === '') {
      if (data.length === 4) this.#udp?.send('\r\n', rinfo.port, rinfo.address);
      return;
    }
    this.#parse(data, peer, false);
  }

  #parse(data: Buffer, peer: SipPeer, stream: boolean): void {
    const read = readSipMessage(data, stream);
    if (read instanceof SipParseError) this.emit('malformed', read, peer);
    else this.emit('message', read, peer, data);
  }

  #onConnection(socket: Socket): void {
    if (this.#connections.size >= MAX_TCP_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const id = ++this.#nextConnection;
    this.#connections.set(id, socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    const peer: SipPeer = {
      transport: 'TCP',
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      connection: id,
      ...(socket.localAddress ? { localAddress: socket.localAddress } : {}),
    };
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      let framed: ReturnType<typeof frameStream>;
      try {
        framed = frameStream(buffer);
      } catch (error) {
        // The stream cannot be framed any more: say why if possible, then hang up (§18.3).
        this.#parse(buffer.subarray(0, MAX_MESSAGE_BYTES), peer, true);
        this.#log.debug({ err: error, peer: peer.address }, 'SIP TCP stream unframeable');
        socket.end();
        buffer = Buffer.alloc(0);
        return;
      }
      buffer = Buffer.from(framed.rest);
      for (const frame of framed.frames) this.#parse(frame, peer, true);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#connections.delete(id));
  }

  /** Sends a request or response to a peer (over its TCP connection when it has one). */
  send(message: SipMessage, peer: SipPeer): void {
    this.sendBytes(serializeSipMessage(message), peer);
  }

  /** Sends a serialized message (a room worker's) to a peer, over its TCP connection when it has one. */
  sendBytes(data: Buffer, peer: SipPeer): void {
    if (peer.transport === 'TCP') {
      const c = peer.connection === undefined ? undefined : this.#connections.get(peer.connection);
      if (c && !c.destroyed && c.writable) c.write(data);
      return;
    }
    this.#udp?.send(data, peer.port, sendAddress(this.#udpIpv6, peer.address), (error) => {
      if (error) this.#log.warn({ err: error, peer: peer.address }, 'SIP UDP send failed');
    });
  }

  /** Sends a response to the peer a request came from, following the request's top Via (§18.2.2). */
  respond(response: SipResponse, peer: SipPeer): void {
    this.send(response, responsePeer(response, peer));
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    for (const c of this.#connections.values()) c.destroy();
    this.#connections.clear();
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    this.removeAllListeners();
  }
}

export { SipPartialError };
