import { header, parseVia, type SipRequest, type SipResponse } from './SipMessage.js';
import type { SipPeer, SipWire } from './SipTransport.js';

/** RFC 3261 §17.1.1.1 timer values, in ms. */
export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;

/**
 * The transaction a request belongs to (§17.2.3): its top Via's branch and sent-by, and its method, with
 * ACK and CANCEL of an INVITE matched to the INVITE.
 */
export function transactionKey(request: SipRequest, method = request.method): string {
  const via = parseVia(header(request, 'via') ?? '');
  const branch = via?.params.get('branch') ?? '';
  const sentBy = via ? `${via.host}:${via.port ?? ''}` : '';
  return `${branch}|${sentBy}|${method === 'ACK' ? 'INVITE' : method}`;
}

/**
 * A server transaction (§17.2). INVITE: provisional responses, then a final one; a non-2xx final is
 * retransmitted over UDP (Timer G, doubling to T2) until the ACK, for at most 64·T1 (Timer H), and the
 * ACK is absorbed for T4 (Timer I). A 2xx ends the transaction at once: the call retransmits it
 * (§13.3.1.4). Non-INVITE: the final response is kept for 64·T1 (Timer J) to answer retransmissions.
 */
export class ServerTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly peer: SipPeer;
  state: 'proceeding' | 'completed' | 'confirmed' | 'terminated' = 'proceeding';
  lastResponse: SipResponse | undefined;
  readonly #transport: SipWire;
  readonly #onTerminated: () => void;
  #timers: NodeJS.Timeout[] = [];

  constructor(request: SipRequest, peer: SipPeer, transport: SipWire, onTerminated: () => void) {
    this.key = transactionKey(request);
    this.request = request;
    this.peer = peer;
    this.#transport = transport;
    this.#onTerminated = onTerminated;
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  get finalSent(): boolean {
    return this.state !== 'proceeding';
  }

  respond(response: SipResponse): void {
    if (this.state !== 'proceeding') return;
    this.lastResponse = response;
    this.#transport.respond(response, this.peer);
    if (response.status < 200) return;
    const udp = this.peer.transport === 'UDP';
    if (this.isInvite && response.status < 300) return this.terminate();
    this.state = 'completed';
    if (this.isInvite) {
      if (udp) this.#retransmit(T1);
      this.#after(64 * T1, () => this.terminate()); // Timer H: no ACK came
    } else {
      this.#after(udp ? 64 * T1 : 0, () => this.terminate()); // Timer J
    }
  }

  #retransmit(interval: number): void {
    this.#after(interval, () => {
      if (this.state !== 'completed' || !this.lastResponse) return;
      this.#transport.respond(this.lastResponse, this.peer);
      this.#retransmit(Math.min(interval * 2, T2)); // Timer G
    });
  }

  #after(ms: number, run: () => void): void {
    this.#timers.push(setTimeout(run, ms));
  }

  /** The same request came again: answer it again with the last response (§17.2.1, §17.2.2). */
  onRetransmission(): void {
    if (this.lastResponse && this.state !== 'confirmed')
      this.#transport.respond(this.lastResponse, this.peer);
  }

  /** The ACK of a non-2xx final response. */
  onAck(): void {
    if (this.state !== 'completed' || !this.isInvite) return;
    this.state = 'confirmed';
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#after(this.peer.transport === 'UDP' ? T4 : 0, () => this.terminate()); // Timer I
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#onTerminated();
  }
}

/**
 * A non-INVITE client transaction (§17.1.2), for the BYEs the gateway sends: retransmitted over UDP
 * (Timer E, doubling to T2) until a final response, given up after 64·T1 (Timer F).
 */
export class ClientTransaction {
  readonly branch: string;
  readonly #request: SipRequest;
  readonly #peer: SipPeer;
  readonly #transport: SipWire;
  readonly #done: (response: SipResponse | undefined) => void;
  #timers: NodeJS.Timeout[] = [];
  #finished = false;

  constructor(
    request: SipRequest,
    branch: string,
    peer: SipPeer,
    transport: SipWire,
    done: (response: SipResponse | undefined) => void,
  ) {
    this.branch = branch;
    this.#request = request;
    this.#peer = peer;
    this.#transport = transport;
    this.#done = done;
  }

  start(): void {
    this.#transport.send(this.#request, this.#peer);
    if (this.#peer.transport === 'UDP') this.#retransmit(T1);
    this.#timers.push(setTimeout(() => this.#finish(undefined), 64 * T1));
  }

  #retransmit(interval: number): void {
    this.#timers.push(
      setTimeout(() => {
        if (this.#finished) return;
        this.#transport.send(this.#request, this.#peer);
        this.#retransmit(Math.min(interval * 2, T2));
      }, interval),
    );
  }

  onResponse(response: SipResponse): void {
    if (response.status >= 200) this.#finish(response);
  }

  /** Gives up without an answer (the gateway is closing). */
  cancel(): void {
    this.#finish(undefined);
  }

  #finish(response: SipResponse | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#done(response);
  }
}
