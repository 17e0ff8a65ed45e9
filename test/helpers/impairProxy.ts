import type { RTCPeerConnection } from 'werift';

/**
 * A bad network between a werift peer and whoever it talks to, made in front of the peer's own ICE
 * sockets: every datagram it sends and every one it receives (STUN, DTLS, SRTP, SRTCP alike) goes through
 * an impairment stage for its direction, which drops, delays, reorders, duplicates and rate-limits it.
 *
 * This kernel has no netem, and a UDP proxy between a WebRTC peer and the server would need the ICE
 * candidates of one side rewritten to point at it, port by port. Sitting at the peer's sockets needs
 * neither: the candidates, the addresses and the server are the real ones, and the server cannot tell the
 * difference from a lossy path.
 */
export interface ImpairOptions {
  /** Fraction of datagrams dropped, 0–1. */
  loss?: number;
  /** Fixed one-way delay, ms. */
  delayMs?: number;
  /**
   * Extra delay drawn uniformly from 0–jitterMs per datagram. Order is kept, as in a queue: a datagram
   * never overtakes the one before it (only `reorder` reorders), so the delay varies by up to jitterMs.
   */
  jitterMs?: number;
  /** Fraction of datagrams held back a further `reorderMs` (default 30 ms), so later ones pass them. */
  reorder?: number;
  reorderMs?: number;
  /** Fraction of datagrams delivered twice. */
  duplicate?: number;
  /** Link rate, kbit/s: datagrams wait their turn in a queue of at most `queueMs` and are dropped beyond. */
  rateKbit?: number;
  queueMs?: number;
}

export interface ImpairStats {
  passed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

/** One direction of an impaired link. */
export class ImpairStage {
  readonly stats: ImpairStats = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };
  options: ImpairOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** When the link is free again (rate limiting), in ms of Date.now(). */
  #busyUntil = 0;
  /** When the last datagram kept in order is delivered. */
  #lastDelivery = 0;
  #closed = false;

  constructor(options: ImpairOptions) {
    this.options = options;
  }

  /** Hands `data` to `deliver` as the impaired link would, or not at all. */
  push(data: Buffer, deliver: (data: Buffer) => void): void {
    if (this.#closed) return;
    const o = this.options;
    if (o.loss && Math.random() < o.loss) {
      this.stats.dropped++;
      return;
    }
    let delay = (o.delayMs ?? 0) + (o.jitterMs ? Math.random() * o.jitterMs : 0);
    if (o.rateKbit) {
      const now = Date.now();
      const start = Math.max(now, this.#busyUntil);
      if (start - now > (o.queueMs ?? 200)) {
        this.stats.dropped++;
        return;
      }
      this.#busyUntil = start + (data.length * 8) / o.rateKbit;
      delay += this.#busyUntil - now;
    }
    if (o.reorder && Math.random() < o.reorder) {
      this.stats.reordered++;
      delay += o.reorderMs ?? 30;
    } else {
      const now = Date.now();
      delay = Math.max(delay, this.#lastDelivery - now);
      this.#lastDelivery = now + delay;
    }
    const copies = o.duplicate && Math.random() < o.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) this.#later(delay + i, () => deliver(data));
  }

  #later(delay: number, fn: () => void): void {
    this.stats.passed++;
    if (delay <= 0) return fn();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) fn();
    }, delay);
    this.#timers.add(timer);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

interface ProtocolInternals {
  datagramReceived(data: Buffer, addr: [string, number]): void;
  transport?: { send(data: Buffer, addr: [string, number]): Promise<void> };
}

/** Both directions of a peer connection's impaired link; `close` lets go of every pending datagram. */
export interface ImpairedPeer {
  send: ImpairStage;
  receive: ImpairStage;
  close(): void;
}

/**
 * Puts `pc`'s ICE sockets behind an impaired link (its sockets exist once gathering completes; call this
 * right after creating it). Changing `options` of either stage later changes the link.
 */
export function impairPeerConnection(pc: RTCPeerConnection, options: ImpairOptions): ImpairedPeer {
  const peer: ImpairedPeer = {
    send: new ImpairStage({ ...options }),
    receive: new ImpairStage({ ...options }),
    close() {
      peer.send.close();
      peer.receive.close();
    },
  };
  const wrapped = new WeakSet<object>();
  const wrap = () => {
    for (const transport of pc.iceTransports) {
      const protocols = (transport as unknown as { connection: { protocols: ProtocolInternals[] } })
        .connection.protocols;
      for (const protocol of protocols) {
        const udp = protocol.transport;
        if (!udp || wrapped.has(protocol)) continue;
        wrapped.add(protocol);
        const receive = protocol.datagramReceived.bind(protocol);
        protocol.datagramReceived = (data, addr) => peer.receive.push(data, (d) => receive(d, addr));
        const send = udp.send.bind(udp);
        udp.send = async (data, addr) => {
          // werift may reuse the buffer it handed over once send resolves: keep a copy for the delay.
          const copy = Buffer.from(data);
          peer.send.push(copy, (d) => void send(d, addr).catch(() => {}));
        };
      }
    }
  };
  pc.iceGatheringStateChange.subscribe((state) => {
    if (state === 'complete') wrap();
  });
  pc.connectionStateChange.subscribe((state) => {
    if (state === 'closed') peer.close();
  });
  return peer;
}
