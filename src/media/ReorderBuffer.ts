/** The part of an RTP packet the buffer orders by. */
export interface Sequenced {
  header: { sequenceNumber: number };
}

/** Signed distance from sequence number b to a, modulo 2^16. */
const seqDiff = (a: number, b: number) => ((a - b + 0x8000) & 0xffff) - 0x8000;

/**
 * A receiver's jitter buffer, reduced to ordering: packets come out in sequence order. A missing packet is
 * waited for up to `latencyMs` (long enough for a NACK's retransmission, RFC 4585 §6.2.1, to arrive),
 * then skipped; a packet older than what already came out is dropped. A bot that reassembles frames
 * behind it sees what a browser's decoder sees on a lossy, jittery path.
 */
export class ReorderBuffer<T extends Sequenced> {
  readonly #latencyMs: number;
  readonly #deliver: (packet: T) => void;
  readonly #held = new Map<number, { packet: T; at: number }>();
  /** The next sequence number to deliver; undefined before the first packet. */
  #next: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  skipped = 0;

  constructor(latencyMs: number, deliver: (packet: T) => void) {
    this.#latencyMs = latencyMs;
    this.#deliver = deliver;
  }

  push(packet: T): void {
    const seq = packet.header.sequenceNumber;
    if (this.#next === undefined) this.#next = seq;
    const ahead = seqDiff(seq, this.#next);
    // Far behind (or far ahead): the stream started over; follow it.
    if (Math.abs(ahead) > 3000) {
      this.#held.clear();
      this.#next = seq;
    } else if (ahead < 0) return;
    if (!this.#held.has(seq)) this.#held.set(seq, { packet, at: Date.now() });
    this.#drain();
  }

  #drain(): void {
    for (;;) {
      while (this.#next !== undefined && this.#held.has(this.#next)) {
        const { packet } = this.#held.get(this.#next)!;
        this.#held.delete(this.#next);
        this.#next = (this.#next + 1) & 0xffff;
        this.#deliver(packet);
      }
      if (this.#held.size === 0 || this.#next === undefined) break;
      // A gap: skip it once the oldest packet held behind it has waited long enough.
      let oldest = Number.POSITIVE_INFINITY;
      let first: number | undefined;
      for (const [seq, { at }] of this.#held) {
        oldest = Math.min(oldest, at);
        if (first === undefined || seqDiff(seq, first) < 0) first = seq;
      }
      const wait = oldest + this.#latencyMs - Date.now();
      if (wait > 0) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.#drain();
        }, wait);
        break;
      }
      this.skipped += (seqDiff(first!, this.#next) + 0x10000) % 0x10000;
      this.#next = first;
    }
  }

  /** Forgets what is held: the next packet pushed starts the order over (another stream follows). */
  restart(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
    this.#next = undefined;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }
}
