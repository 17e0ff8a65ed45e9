import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { RoomHost } from '../../host/RoomHost.js';
import { type CallContext, SipCall, type SipCallSettings } from './SipCall.js';
import {
  header,
  headers,
  parseNameAddr,
  parseSipUri,
  parseVia,
  type SipMessage,
  SipParseError,
  SipPartialError,
  type SipRequest,
  type SipResponse,
} from './SipMessage.js';
import { readSipMessage, type SipPeer, SipTransport, type SipWire } from './SipTransport.js';
import { ALLOW, MAGIC_COOKIE, makeResponse } from './sipBuild.js';
import { ClientTransaction, ServerTransaction, transactionKey } from './transactions.js';

export interface SipGatewayOptions extends SipCallSettings {
  host: string;
  port: number;
  /** Calls at once; more get 503. */
  maxCalls: number;
  /** The door to the rooms calls join. */
  rooms: RoomHost;
  log: Logger;
  /**
   * Send through this instead of binding UDP and TCP; messages then come in by `deliver`. A room worker's
   * gateway sends through the main thread's sockets (src/workers/SipRouter.ts).
   */
  wire?: SipWire;
  /** A call ended (answered or not): the main thread keeps routing its Call-ID a while longer, then forgets it. */
  onCallEnded?: (callId: string) => void;
}

export interface SipCallStats {
  transport: 'UDP' | 'TCP';
  codec: string | null;
  /** RTP packets sent to the phone, received from it, and refused by the socket (the phone hears nothing). */
  packetsSent: number;
  packetsReceived: number;
  sendErrors: number;
}

/**
 * The 400 for a message that could not be parsed (§21.4.1): only a request we can address is answered;
 * responses, ACKs and unaddressable garbage are dropped.
 */
export function badRequest(error: SipParseError): SipResponse | undefined {
  if (!(error instanceof SipPartialError) || error.partial.kind !== 'request') return undefined;
  const request = error.partial;
  if (request.method === 'ACK' || !parseVia(header(request, 'via') ?? '')) return undefined;
  return makeResponse(request, 400, { reason: 'Bad Request', warning: error.message });
}

/** The 503 for an INVITE past the server's calls at once. */
export function tooManyCalls(request: SipRequest, maxCalls: number): SipResponse {
  return makeResponse(request, 503, {
    headers: [['Retry-After', '30']],
    warning: `the server takes ${maxCalls} calls at once: try again later`,
  });
}

/** Methods of RFC 3261 and its common extensions: known but not served here gets 405, unknown 501. */
const KNOWN_METHODS = new Set([
  'REGISTER',
  'SUBSCRIBE',
  'NOTIFY',
  'MESSAGE',
  'REFER',
  'UPDATE',
  'PRACK',
  'PUBLISH',
]);

/**
 * The SIP gateway: a user agent server (RFC 3261) on UDP and TCP. `INVITE sip:<room>@<host>` joins that
 * room; the rest of the dialog (ACK, BYE both ways, CANCEL, re-INVITE, INFO) follows the call. OPTIONS
 * is answered in and out of dialogs. No registrar: phones and PBXs call it directly or via a trunk.
 */
export class SipGateway {
  readonly transport: SipWire;
  /** The sockets, when this gateway binds its own. */
  readonly #own: SipTransport | undefined;
  readonly calls = new Map<string, SipCall>();
  /** Messages answered with 400 or dropped because they could not be parsed. */
  malformed = 0;
  readonly #options: SipGatewayOptions;
  readonly #log: Logger;
  readonly #transactions = new Map<string, ServerTransaction>();
  readonly #clients = new Map<string, ClientTransaction>();
  /** Calls by their INVITE transaction key, for CANCEL and INVITE retransmissions. */
  readonly #byInvite = new Map<string, SipCall>();
  readonly #context: CallContext;
  #closed = false;

  constructor(options: SipGatewayOptions) {
    this.#options = options;
    this.#log = options.log.child({ gateway: 'sip' });
    if (options.wire) {
      this.transport = options.wire;
    } else {
      const own = new SipTransport(this.#log);
      own.on('message', (message, peer) => this.#onMessage(message, peer));
      own.on('malformed', (error, peer) => this.#onMalformed(error, peer));
      this.#own = own;
      this.transport = own;
    }
    this.#context = {
      transport: this.transport,
      rooms: options.rooms,
      settings: options,
      log: this.#log,
      localAddress: (peer) => this.#localAddress(peer),
      request: (request, branch, peer) => this.#request(request, branch, peer),
      ended: (call) => {
        if (this.calls.get(call.key) === call) this.calls.delete(call.key);
        if (this.#byInvite.get(call.inviteTransaction.key) === call)
          this.#byInvite.delete(call.inviteTransaction.key);
        options.onCallEnded?.(call.callId);
      },
    };
  }

  get port(): number {
    return this.transport.port;
  }

  /** The phone call that brought a participant in, for the admin API: its codec and RTP counters. */
  callStats(participantId: string): SipCallStats | undefined {
    for (const call of this.calls.values()) {
      if (call.participant?.id !== participantId) continue;
      const media = call.media;
      return {
        transport: call.peer.transport,
        codec: media?.codec?.name ?? null,
        packetsSent: media?.packetsSent ?? 0,
        packetsReceived: media?.packetsReceived ?? 0,
        sendErrors: media?.sendErrors ?? 0,
      };
    }
    return undefined;
  }

  get transactionCount(): number {
    return this.#transactions.size + this.#clients.size;
  }

  async listen(): Promise<number> {
    if (!this.#own) throw new Error('this SIP gateway sends through another thread: it does not listen');
    const port = await this.#own.listen(this.#options.host, this.#options.port);
    this.#log.info({ host: this.#options.host, port }, 'SIP gateway listening on UDP and TCP');
    return port;
  }

  /**
   * A message another thread's transport read (a room worker's gateway). Resolves once what it started
   * has settled: the call a new INVITE started has joined its room or ended.
   */
  deliver(data: Buffer, peer: SipPeer, stream: boolean): Promise<void> {
    const read = readSipMessage(data, stream);
    if (read instanceof SipParseError) {
      this.#onMalformed(read, peer);
      return Promise.resolve();
    }
    this.#onMessage(read, peer);
    if (read.kind !== 'request' || read.method !== 'INVITE') return Promise.resolve();
    const call = this.#byInvite.get(transactionKey(read));
    if (call) return call.settled;
    // An INVITE that started no call (refused at once): the main thread need not keep its route long.
    const callId = header(read, 'call-id') ?? '';
    if (![...this.calls.values()].some((c) => c.callId === callId)) this.#options.onCallEnded?.(callId);
    return Promise.resolve();
  }

  #onMalformed(error: SipParseError, peer: SipPeer): void {
    this.malformed++;
    this.#log.debug({ peer: peer.address, why: error.message }, 'malformed SIP message');
    const answer = badRequest(error);
    if (answer) this.transport.respond(answer, peer);
  }

  #onMessage(message: SipMessage, peer: SipPeer): void {
    if (this.#closed) return;
    if (message.kind === 'response') return this.#onResponse(message);
    const request = message;
    if (request.method === 'ACK') return this.#onAck(request);
    const key = transactionKey(request);
    const existing = this.#transactions.get(key);
    if (existing) {
      // §17.2.1/§17.2.2: a retransmission is answered from the transaction.
      if (existing.isInvite && !existing.lastResponse) return;
      const call = this.#byInvite.get(key);
      if (call && existing.state === 'terminated') return call.onInviteRetransmission();
      return existing.onRetransmission();
    }
    if (request.method === 'INVITE') {
      // An INVITE whose transaction ended with a 2xx: the call retransmits the 2xx.
      const call = this.#byInvite.get(key);
      if (call) return call.onInviteRetransmission();
    }
    const tx = new ServerTransaction(request, peer, this.transport, () => this.#transactions.delete(key));
    this.#transactions.set(key, tx);
    try {
      this.#dispatch(tx);
    } catch (error) {
      this.#log.error({ err: error }, 'SIP request failed');
      tx.respond(makeResponse(request, 500, { warning: 'internal error' }));
    }
  }

  #dispatch(tx: ServerTransaction): void {
    const request = tx.request;
    const uri = parseSipUri(request.uri);
    if (!uri) return tx.respond(makeResponse(request, 416, { warning: 'sip: URIs only' }));
    const maxForwards = header(request, 'max-forwards');
    if (maxForwards !== undefined && !/^\d{1,3}$/.test(maxForwards))
      return tx.respond(
        makeResponse(request, 400, { reason: 'Bad Max-Forwards', warning: 'Max-Forwards is not a number' }),
      );
    if (maxForwards === '0' && request.method !== 'OPTIONS')
      return tx.respond(makeResponse(request, 483, { warning: 'Max-Forwards reached 0' }));
    // §8.2.2.3: every option tag in Require (one header or several, comma lists) is unsupported here.
    const required = headers(request, 'require')
      .flatMap((value) => value.split(','))
      .map((tag) => tag.trim())
      .filter(Boolean);
    if (required.length && request.method !== 'CANCEL')
      return tx.respond(
        makeResponse(request, 420, {
          headers: [['Unsupported', required.join(', ')]],
          warning: `unsupported SIP extensions: ${required.join(', ')}`,
        }),
      );
    const toTag = parseNameAddr(header(request, 'to') ?? '')?.params.get('tag');
    const call = this.#callOf(request);
    const noCall = () =>
      tx.respond(makeResponse(request, 481, { warning: 'no call with this Call-ID and tags' }));
    switch (request.method) {
      case 'INVITE': {
        if (toTag !== undefined) return call ? call.onReInvite(tx) : noCall();
        if (this.calls.size >= this.#options.maxCalls)
          return tx.respond(tooManyCalls(request, this.#options.maxCalls));
        // §8.2.6.1: a 100 Trying at once stops the caller's INVITE retransmissions.
        tx.respond(makeResponse(request, 100));
        const created = new SipCall(this.#context, tx, uri.user ?? '');
        if (this.calls.has(created.key))
          return tx.respond(
            makeResponse(request, 482, { toTag: created.localTag, warning: 'this call already exists' }),
          );
        this.calls.set(created.key, created);
        this.#byInvite.set(tx.key, created);
        void created.start();
        return;
      }
      case 'BYE':
        return call ? call.onBye(tx) : noCall();
      case 'CANCEL':
        return this.#onCancel(tx);
      case 'OPTIONS':
        return tx.respond(
          makeResponse(request, 200, {
            toTag: toTag === undefined ? 'options' : undefined,
            headers: [
              ['Allow', ALLOW],
              ['Accept', 'application/sdp'],
            ],
          }),
        );
      case 'INFO':
        return call ? call.onInfo(tx) : noCall();
      default:
        return tx.respond(
          makeResponse(request, KNOWN_METHODS.has(request.method) ? 405 : 501, {
            headers: [['Allow', ALLOW]],
            warning: `${request.method.slice(0, 32)} is not served here: ${ALLOW}`,
          }),
        );
    }
  }

  /** The call a request within a dialog belongs to: Call-ID, the caller's tag, and our tag if given. */
  #callOf(request: SipRequest): SipCall | undefined {
    const from = parseNameAddr(header(request, 'from') ?? '');
    const call = this.calls.get(`${header(request, 'call-id')}|${from?.params.get('tag') ?? ''}`);
    const toTag = parseNameAddr(header(request, 'to') ?? '')?.params.get('tag');
    if (!call || (toTag !== undefined && toTag !== call.localTag)) return undefined;
    return call;
  }

  #onAck(ack: SipRequest): void {
    const tx = this.#transactions.get(transactionKey(ack));
    if (tx && tx.state === 'completed') return tx.onAck();
    this.#callOf(ack)?.onAck(ack);
  }

  /** §9.2: CANCEL matches the INVITE transaction with the same branch. */
  #onCancel(tx: ServerTransaction): void {
    const key = transactionKey(tx.request, 'INVITE');
    const invite = this.#transactions.get(key);
    const call = this.#byInvite.get(key);
    if (!invite && !call)
      return tx.respond(makeResponse(tx.request, 481, { warning: 'no INVITE to cancel with this branch' }));
    tx.respond(makeResponse(tx.request, 200, { toTag: call?.localTag }));
    call?.onCancel();
  }

  #onResponse(response: SipResponse): void {
    const via = parseVia(header(response, 'via') ?? '');
    const branch = via?.params.get('branch');
    if (branch?.startsWith(MAGIC_COOKIE)) this.#clients.get(branch)?.onResponse(response);
  }

  #request(request: SipRequest, branch: string, peer: SipPeer): Promise<SipResponse | undefined> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve(undefined);
      const tx = new ClientTransaction(request, branch, peer, this.transport, (response) => {
        this.#clients.delete(branch);
        resolve(response);
      });
      this.#clients.set(branch, tx);
      tx.start();
    });
  }

  /** The local address a peer reaches us at, for SDP and Contact. */
  async #localAddress(peer: SipPeer): Promise<string> {
    const plain = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);
    if (peer.localAddress) return plain(peer.localAddress);
    const host = this.#options.host;
    if (host !== '::' && host !== '0.0.0.0') return host;
    // Bound to every interface: ask the routing table which address reaches the peer.
    const target = plain(peer.address);
    const socket = createSocket(isIP(target) === 6 ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(peer.port || 9, target, () => resolve());
      });
      return plain(socket.address().address);
    } catch {
      return isIP(target) === 6 ? '::1' : '127.0.0.1';
    } finally {
      socket.close();
    }
  }

  /** Hangs up every call (BYE), then closes the sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const byes = [...this.calls.values()].map((call) => call.hangUp('server'));
    // Give the BYEs a moment to be answered; retransmissions stop when the transport closes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(byes),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 500);
      }),
    ]);
    clearTimeout(timer);
    this.#closed = true;
    for (const tx of this.#clients.values()) tx.cancel();
    for (const tx of this.#transactions.values()) tx.terminate();
    this.#transactions.clear();
    this.#byInvite.clear();
    await this.#own?.close();
  }
}
