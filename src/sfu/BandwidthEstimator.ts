/**
 * How many bits per second a subscriber's path carries, from transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): every packet sent on the subscriber connection
 * carries a transport-wide sequence number, and the subscriber reports which arrived and when. Three
 * signals come of it:
 * - the delivered rate: the bytes that arrived over the time they took to arrive (about half a second);
 * - loss: the share of packets reported missing;
 * - queueing: how much longer packets take now than the least they took lately (the one-way delay less
 *   its minimum over LOW_DELAY_WINDOW_MS: the sender's and receiver's clocks never need to agree).
 * Overuse (loss over 10 %, or a queue of more than QUEUE_OVERUSE_MS) brings the estimate down to 85 % of
 * what was delivered. Nothing wrong lets it grow, at most by half of what was delivered a second (as
 * GCC's rate control does). A path whose sender has nothing more to send cannot show what more it would
 * carry, so the estimate may be raised to the next rate the sender could use (`probe`): what follows
 * confirms it or brings it down, and after a failed probe the next one waits twice as long. A probe is
 * padding, not a layer: while it runs, layers are chosen by the estimate before it (`allocatable`), and
 * the sender fills the difference with RTP padding (`paddingRate`), so a path that cannot carry the next
 * layer loses padding and a little queueing, never a picture (a layer switched up and down again costs
 * two keyframes and freezes the picture between them).
 */

/** Delay above the path's least delay that means a queue is building (a link carrying more than it can). */
export const QUEUE_OVERUSE_MS = 120;
/** Below this queueing delay and loss the path is taken as underused. */
const QUEUE_NORMAL_MS = 40;
const LOSS_OVERUSE = 0.1;
const LOSS_NORMAL = 0.02;
/** The least one-way delay is the minimum over this long. */
const LOW_DELAY_WINDOW_MS = 10_000;
/** The delivered rate is measured over about this long. */
const RATE_WINDOW_MS = 600;
/** The estimate at the first feedback: room for a 720p layer, which a path that cannot carry it soon shows. */
export const START_BITRATE = 2_500_000;
const MIN_BITRATE = 50_000;
/** A probe waits this long after a decrease, doubling after each failed one up to PROBE_MAX_WAIT_MS. */
const PROBE_MIN_WAIT_MS = 3000;
const PROBE_MAX_WAIT_MS = 6000;
/** A probe that sees no overuse for this long, with at least PROBE_FILLED of it delivered, succeeded. */
const PROBE_CONFIRM_MS = 1500;
const PROBE_FILLED = 0.75;
/** A probe not filled by then is taken back (what the sender sends did not rise to it). */
const PROBE_GIVE_UP_MS = 5000;
/** Sent packets remembered (by transport-wide sequence number, modulo this). */
const SENT_RING = 4096;

/**
 * The packets a transport-wide CC feedback message reports, in order, with their arrival times: from
 * werift's parse of the message's fields (its chunks and deltas), not its `packetResults`, which skips
 * status vector chunks, starts every run at the base sequence number and rounds each delta to the ms.
 */
export function transportCcPackets(feedback: TransportCcFields): FeedbackPacket[] {
  const count = feedback.packetStatusCount;
  const statuses: number[] = [];
  for (const chunk of feedback.packetChunks) {
    if ('runLength' in chunk) for (let i = 0; i < chunk.runLength; i++) statuses.push(chunk.packetStatus);
    else statuses.push(...chunk.symbolList);
    if (statuses.length >= count) break;
  }
  statuses.length = Math.min(statuses.length, count);
  const out: FeedbackPacket[] = [];
  // The reference time counts 64 ms; each delta (µs, a multiple of 250) is from the packet before.
  let at = feedback.referenceTime * 64;
  let delta = 0;
  let seq = feedback.baseSequenceNumber;
  for (const status of statuses) {
    // 1: received, small delta; 2: received, large (signed) delta; 0: not received.
    const received = status === 1 || status === 2;
    if (received) {
      at += (feedback.recvDeltas[delta++]?.delta ?? 0) / 1000;
      out.push({ sequenceNumber: seq, received, receivedAtMs: at });
    } else out.push({ sequenceNumber: seq, received, receivedAtMs: 0 });
    seq = (seq + 1) & 0xffff;
  }
  return out;
}

/** The fields of werift's `TransportWideCC` that `transportCcPackets` reads. */
export interface TransportCcFields {
  baseSequenceNumber: number;
  packetStatusCount: number;
  referenceTime: number;
  packetChunks: readonly ({ runLength: number; packetStatus: number } | { symbolList: number[] })[];
  recvDeltas: readonly { delta: number }[];
}

export interface FeedbackPacket {
  /** Transport-wide sequence number. */
  sequenceNumber: number;
  received: boolean;
  /** Arrival time on the receiver's clock, in ms (only when received). */
  receivedAtMs: number;
}

export class BandwidthEstimator {
  /** The estimate, bits per second. */
  estimate = START_BITRATE;
  /** The rate delivered lately, bits per second (0 until measured). */
  delivered = 0;
  /** Share of packets lost in the last feedback. */
  loss = 0;
  /** Queueing delay in the last feedback, ms. */
  queueMs = 0;
  /** Called when the estimate changes. */
  onEstimate: ((bitsPerSecond: number) => void) | undefined;

  readonly #sentAt = new Float64Array(SENT_RING);
  readonly #sentSize = new Uint32Array(SENT_RING);
  readonly #sentSeq = new Int32Array(SENT_RING).fill(-1);
  readonly #sentPadding = new Uint8Array(SENT_RING);
  /** Minimum one-way delay (arrival minus send, mixed clocks) per second of the window. */
  readonly #lowDelays: { at: number; delay: number }[] = [];
  /** Received packets of the rate window: arrival time (receiver's clock) and bytes. */
  #arrivals: { at: number; bytes: number }[] = [];
  #lastChange = 0;
  #lastDecrease = Number.NEGATIVE_INFINITY;
  #probeWait = PROBE_MIN_WAIT_MS;
  /** When the running probe began (0: none), and the estimate before it. */
  #probeAt = 0;
  #beforeProbe = 0;
  #probeTarget = 0;

  #lastSent = -1;

  /**
   * A packet of `bytes` (whole datagram) went out with transport-wide sequence number `seq`; `padding`: a
   * probe's padding, not media.
   */
  sent(seq: number, bytes: number, now = performance.now(), padding = false): void {
    const i = seq % SENT_RING;
    this.#sentSeq[i] = seq;
    this.#sentAt[i] = now;
    this.#sentSize[i] = bytes;
    this.#sentPadding[i] = padding ? 1 : 0;
    this.#lastSent = seq;
  }

  /** Whether a probe runs (the sender should pad up to `paddingRate`). */
  get probing(): boolean {
    return this.#probeAt !== 0;
  }

  /** What layers are chosen by: the estimate, or while a probe runs, the estimate before it. */
  get allocatable(): number {
    return this.#probeAt !== 0 ? this.#beforeProbe : this.estimate;
  }

  /** Bits per second of media (not padding) sent over the last RATE_WINDOW_MS, from what `sent` was told. */
  mediaRate(now = performance.now()): number {
    let bytes = 0;
    let seq = this.#lastSent;
    for (let n = 0; n < SENT_RING && seq >= 0; n++) {
      const i = seq % SENT_RING;
      if (this.#sentSeq[i] !== seq || now - this.#sentAt[i]! > RATE_WINDOW_MS) break;
      if (this.#sentPadding[i] === 0) bytes += this.#sentSize[i]!;
      seq = (seq - 1) & 0xffff;
    }
    return (bytes * 8 * 1000) / RATE_WINDOW_MS;
  }

  /** While a probe runs: the padding (bits per second) that brings what is sent up to its target. */
  paddingRate(now = performance.now()): number {
    if (this.#probeAt === 0) return 0;
    return Math.max(0, this.#probeTarget - this.mediaRate(now));
  }

  /** A feedback report arrived: what happened to the packets it lists. */
  feedback(packets: readonly FeedbackPacket[], now = performance.now()): void {
    let lost = 0;
    let known = 0;
    let queue = 0;
    let delays = 0;
    for (const p of packets) {
      const i = p.sequenceNumber % SENT_RING;
      if (this.#sentSeq[i] !== p.sequenceNumber) continue;
      known++;
      if (!p.received) {
        lost++;
        continue;
      }
      this.#arrivals.push({ at: p.receivedAtMs, bytes: this.#sentSize[i]! });
      const delay = p.receivedAtMs - this.#sentAt[i]!;
      const low = this.#lowDelay(delay, now);
      queue += delay - low;
      delays++;
    }
    if (known === 0) return;
    this.loss = lost / known;
    if (delays > 0) this.queueMs = queue / delays;
    this.#measureRate();
    this.#control(now);
  }

  /**
   * Lets the estimate rise to `bitsPerSecond` to find out whether the path carries it (the next rate the
   * sender could use, above what it sends now); no-op while a probe runs, after a recent decrease, or when
   * the estimate is already that high.
   */
  probe(bitsPerSecond: number, now = performance.now()): boolean {
    if (this.#probeAt !== 0 || bitsPerSecond <= this.estimate) return false;
    if (now - this.#lastDecrease < this.#probeWait || this.delivered === 0) return false;
    this.#probeAt = now;
    this.#beforeProbe = this.estimate;
    this.#probeTarget = bitsPerSecond;
    this.#set(bitsPerSecond, now);
    return true;
  }

  /** The least delay of the window, counting `delay` in. */
  #lowDelay(delay: number, now: number): number {
    const lows = this.#lowDelays;
    const last = lows[lows.length - 1];
    if (last && now - last.at < 1000) last.delay = Math.min(last.delay, delay);
    else lows.push({ at: now, delay });
    while (lows.length > 1 && now - lows[0]!.at > LOW_DELAY_WINDOW_MS) lows.shift();
    let low = Number.POSITIVE_INFINITY;
    for (const l of lows) low = Math.min(low, l.delay);
    return low;
  }

  #measureRate(): void {
    const arrivals = this.#arrivals;
    if (arrivals.length < 2) return;
    arrivals.sort((a, b) => a.at - b.at);
    const newest = arrivals[arrivals.length - 1]!.at;
    let first = 0;
    while (first < arrivals.length - 1 && newest - arrivals[first]!.at > RATE_WINDOW_MS) first++;
    if (first > 0) this.#arrivals = arrivals.slice(first);
    const window = this.#arrivals;
    const span = window[window.length - 1]!.at - window[0]!.at;
    if (span < RATE_WINDOW_MS / 3) return;
    let bytes = 0;
    for (let k = 1; k < window.length; k++) bytes += window[k]!.bytes;
    this.delivered = (bytes * 8 * 1000) / span;
  }

  #control(now: number): void {
    const overuse = this.loss > LOSS_OVERUSE || this.queueMs > QUEUE_OVERUSE_MS;
    if (overuse) {
      // One decrease per round of feedback that saw it: the queue takes a moment to drain.
      if (now - this.#lastDecrease < 300) return;
      const failedProbe = this.#probeAt !== 0;
      this.#probeAt = 0;
      this.#probeWait = failedProbe ? Math.min(this.#probeWait * 2, PROBE_MAX_WAIT_MS) : this.#probeWait;
      this.#lastDecrease = now;
      const base = this.delivered > 0 ? this.delivered : this.estimate;
      const target = failedProbe ? Math.min(this.#beforeProbe, base * 0.85) : base * 0.85;
      this.#set(Math.max(MIN_BITRATE, Math.min(this.estimate, target)), now);
      return;
    }
    if (this.#probeAt !== 0 && now - this.#probeAt > PROBE_CONFIRM_MS) {
      if (this.delivered >= this.#probeTarget * PROBE_FILLED) {
        // It held: the next step up may be tried at once.
        this.#probeAt = 0;
        this.#probeWait = PROBE_MIN_WAIT_MS;
        this.#lastDecrease = Number.NEGATIVE_INFINITY;
      } else if (now - this.#probeAt > PROBE_GIVE_UP_MS) {
        // Nothing came to fill it (a layer asked back from its publisher never came): it proved nothing.
        this.#probeAt = 0;
        this.#lastDecrease = now;
        this.#set(this.#beforeProbe, now);
        return;
      } else return;
    }
    if (this.loss < LOSS_NORMAL && this.queueMs < QUEUE_NORMAL_MS && this.delivered > 0) {
      const seconds = Math.min((now - this.#lastChange) / 1000, 1);
      const ceiling = Math.max(this.estimate, this.delivered * 1.5);
      this.#set(Math.min(ceiling, this.estimate + this.delivered * 0.5 * seconds), now);
    }
  }

  #set(bitsPerSecond: number, now: number): void {
    this.#lastChange = now;
    if (Math.abs(bitsPerSecond - this.estimate) < 1) return;
    this.estimate = bitsPerSecond;
    this.onEstimate?.(bitsPerSecond);
  }
}

/** The estimator of each subscriber transport (werift's DTLS transport), for the fast send path to feed. */
const estimators = new WeakMap<object, BandwidthEstimator>();

export function estimatorOf(transport: object): BandwidthEstimator | undefined {
  return estimators.get(transport);
}

export function setEstimatorOf(transport: object, estimator: BandwidthEstimator): void {
  estimators.set(transport, estimator);
}
