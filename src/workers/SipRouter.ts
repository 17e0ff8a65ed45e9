import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CodedError } from '../common/errors.js';
import { badRequest, tooManyCalls } from '../gateways/sip/SipGateway.js';
import { header, parseNameAddr, parseSipUri, type SipMessage } from '../gateways/sip/SipMessage.js';
import { type SipPeer, SipTransport } from '../gateways/sip/SipTransport.js';
import { makeResponse } from '../gateways/sip/sipBuild.js';
import { roomName } from '../protocol/messages.js';
import type { Route } from './protocol.js';
import type { RoomPlacement, RoomWorker, RoomWorkers, SipFromWorker } from './RoomWorkers.js';

/**
 * How long a call's Call-ID still goes to its worker after the call ended: 64·T1, the longest a SIP
 * transaction waits (RFC 3261 Timers H and J), so an ACK or a retransmitted BYE still finds it.
 */
const LINGER_MS = 32_000;
const SWEEP_MS = 5000;

export interface SipRouterOptions {
  host: string;
  port: number;
  /** Calls at once over all workers; more get 503. */
  maxCalls: number;
}

/** In a cluster: where a call to `room` goes, this node (undefined) or another node's SIP address. */
export type SipRedirect = (room: string) => Promise<{ host: string; port: number } | undefined>;

interface CallRoute {
  worker: RoomWorker;
  /** When the worker said the call ended (or its INVITE started none). */
  endedAt?: number;
}

/**
 * SIP for a server whose rooms run on worker threads. This thread holds the SIP sockets (UDP and TCP on
 * one port) and reads each message once; a call's messages go to the worker of its room, placed by its
 * INVITE's Request-URI like a WebSocket's `join`, and stay with it by Call-ID. That worker's gateway runs
 * the call (transactions, RTP socket, the participant in the room) and sends through these sockets.
 * Anything that belongs to no call (OPTIONS, a BYE for an unknown call) is answered by any worker, as
 * a lone gateway would answer it.
 */
export class SipRouter {
  readonly transport: SipTransport;
  /** Messages answered with 400 or dropped here because they could not be parsed. */
  malformed = 0;
  readonly #placement: RoomPlacement;
  readonly #options: SipRouterOptions;
  readonly #log: Logger;
  readonly #calls = new Map<string, CallRoute>();
  #sweep: NodeJS.Timeout | undefined;
  /**
   * In a cluster: a call to a room on another node is answered 302 with that node's SIP address, which
   * phones and PBXs follow (RFC 3261 §8.1.3.4); the call's audio then runs where the room runs.
   */
  redirect: SipRedirect | undefined;

  constructor(workers: RoomWorkers, options: SipRouterOptions, log: Logger) {
    this.#placement = workers;
    this.#options = options;
    this.#log = log.child({ gateway: 'sip' });
    this.transport = new SipTransport(this.#log);
    this.transport.on('message', (message, peer, data) => this.#route(message, peer, data));
    this.transport.on('malformed', (error, peer) => {
      this.malformed++;
      const answer = badRequest(error);
      if (answer) this.transport.respond(answer, peer);
    });
    workers.onSip = (worker, message) => this.#fromWorker(worker, message);
  }

  get port(): number {
    return this.transport.port;
  }

  /** Call-IDs routed to a worker, ended ones still lingering included. */
  get routeCount(): number {
    return this.#calls.size;
  }

  /** Calls routed whose worker has not said they ended. */
  get activeCalls(): number {
    let n = 0;
    for (const route of this.#calls.values()) if (route.endedAt === undefined && !route.worker.gone) n++;
    return n;
  }

  async listen(): Promise<number> {
    const port = await this.transport.listen(this.#options.host, this.#options.port);
    this.#log.info(
      { host: this.#options.host, port },
      'SIP gateway listening on UDP and TCP (calls on room workers)',
    );
    return port;
  }

  #route(message: SipMessage, peer: SipPeer, data: Buffer): void {
    const callId = header(message, 'call-id') ?? '';
    const known = this.#calls.get(callId);
    if (known && !known.worker.gone) return this.#post(known.worker, data, peer);
    if (known) this.#calls.delete(callId);
    if (message.kind === 'response') return; // to no request of a call we know
    const initial =
      message.method === 'INVITE' &&
      parseNameAddr(header(message, 'to') ?? '')?.params.get('tag') === undefined;
    const room = initial ? parseSipUri(message.uri)?.user : undefined;
    // A call to a room: placed as a join would be. Anything else goes to any worker, which answers it.
    if (room === undefined || !roomName.safeParse(room).success)
      return this.#post(this.#placement.lobby(), data, peer);
    if (this.activeCalls >= this.#options.maxCalls || this.#full())
      return this.transport.respond(tooManyCalls(message, this.#options.maxCalls), peer);
    if (this.redirect && !this.#placement.ownerOf(room)) {
      this.redirect(room).then(
        (elsewhere) => {
          if (!elsewhere) return this.#placeHere(message, room, callId, peer, data);
          const contact = `<sip:${room}@${elsewhere.host.includes(':') ? `[${elsewhere.host}]` : elsewhere.host}:${elsewhere.port}>`;
          this.#log.info({ room, contact }, 'call redirected to the node of its room');
          this.transport.respond(
            makeResponse(message, 302, {
              toTag: randomBytes(6).toString('hex'),
              headers: [['Contact', contact]],
            }),
            peer,
          );
        },
        (error: unknown) => {
          const warning = error instanceof CodedError ? error.message : 'The room cannot be found now';
          this.transport.respond(
            makeResponse(message, 503, { headers: [['Retry-After', '30']], warning }),
            peer,
          );
        },
      );
      return;
    }
    this.#placeHere(message, room, callId, peer, data);
  }

  /** Places the call's room on a worker of this node (a retransmitted INVITE goes where the first went). */
  #placeHere(message: SipMessage, room: string, callId: string, peer: SipPeer, data: Buffer): void {
    const known = this.#calls.get(callId);
    if (known && !known.worker.gone) return this.#post(known.worker, data, peer);
    const placed = this.#placement.place(room);
    if (!placed) {
      const error = new CodedError('TOO_MANY_ROOMS');
      return this.transport.respond(
        makeResponse(message, 503, { headers: [['Retry-After', '30']], warning: error.message }),
        peer,
      );
    }
    this.#calls.set(callId, { worker: placed.worker });
    this.#post(placed.worker, data, peer, placed.route);
  }

  /** Routes are capped: ended ones linger at most LINGER_MS, and there are never more than 4 per call. */
  #full(): boolean {
    if (this.#calls.size < this.#options.maxCalls * 4) return false;
    this.#forget();
    return this.#calls.size >= this.#options.maxCalls * 4;
  }

  #post(worker: RoomWorker, data: Buffer, peer: SipPeer, route?: Route): void {
    worker.post({
      t: 'sip',
      // A copy of this message's bytes only (a TCP frame may be a view into a larger buffer).
      data: new Uint8Array(data),
      peer,
      stream: peer.transport === 'TCP',
      port: this.transport.port,
      ...(route ? { route } : {}),
    });
  }

  #fromWorker(worker: RoomWorker, message: SipFromWorker): void {
    if (message.t === 'sip') {
      const { data } = message;
      this.transport.sendBytes(Buffer.from(data.buffer, data.byteOffset, data.byteLength), message.peer);
      return;
    }
    const route = this.#calls.get(message.callId);
    if (!route || route.worker !== worker || route.endedAt !== undefined) return;
    route.endedAt = Date.now();
    this.#sweep ??= setInterval(() => this.#forget(), SWEEP_MS);
  }

  /** Forgets the routes of calls that ended LINGER_MS ago, and of workers that died. */
  #forget(): void {
    const now = Date.now();
    let lingering = 0;
    for (const [callId, route] of this.#calls) {
      if (route.worker.gone || (route.endedAt !== undefined && now - route.endedAt >= LINGER_MS))
        this.#calls.delete(callId);
      else if (route.endedAt !== undefined) lingering++;
    }
    if (lingering === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#calls.clear();
    await this.transport.close();
  }
}
