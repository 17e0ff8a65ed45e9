import type { RtpPacket } from 'werift';
import { InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import { keyframeDetector } from './keyframe.js';
import { countMedia, type KindTotals, observeForwarding, uncountMedia } from './mediaTotals.js';
import type { RtpSink, RtpSource, SenderReportListener } from './RtpSource.js';
import { beginSendBatch, endSendBatch } from './udpSend.js';

/** Keyframe requests to a publisher are sent at most this often (a PLI storm costs the publisher bitrate). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 300;

export interface PublishedTrackEvents {
  closed: [];
}

/**
 * How far behind the newest forwarded packet a late one (a retransmission the publisher sent for a NACK)
 * may be and still be forwarded. Subscribers' SRTP receivers guess a packet's rollover counter from how
 * far it is from the last one they got; werift's guess holds within 100 sequence numbers (its
 * MaxROCDisorder), and the fast path's sender keeps its counter by the same rule, so a packet further
 * behind, near a sequence wrap, would be sealed with an index the receiver does not reproduce (an
 * authentication failure). It is also too late for a jitter buffer by then (0.4 s or more of video).
 */
export const LATE_PACKET_WINDOW = 64;
/** A packet this far behind the newest is a stream that started over (sequence numbers reset), not late. */
const RESTART_DISTANCE = 3000;
/** Sequence numbers forwarded recently, by sequence number modulo this (at least LATE_PACKET_WINDOW). */
const SEEN_RING = 128;

/** One forwarded packet in this many has its fan-out timed for the metrics (two clock reads). */
const FORWARD_SAMPLE_EVERY = 32;

/** Time constant of the smoothed audio level, in ms: long enough to ride over the gaps between words. */
const AUDIO_LEVEL_TAU_MS = 200;

/**
 * One incoming track of a publisher. Every RTP packet it receives is handed to each sink (a DownTrack per
 * subscriber, a mixer); sinks ask it for keyframes, which it turns into throttled PLIs to the publisher.
 * Its source is a WebRTC receiver (`receiverSource`) or anything else that produces RTP (a SIP caller).
 */
export class PublishedTrack extends TypedEmitter<PublishedTrackEvents> {
  readonly id: string;
  readonly kind: 'audio' | 'video';
  readonly mimeType: string;
  /** True when the first packet of a keyframe starts in this RTP payload; undefined for audio. */
  readonly isKeyframeStart: ((payload: Buffer) => boolean) | undefined;
  /** When true nothing is forwarded (a host muted it); subscribers stay attached. */
  paused = false;
  closed = false;
  packetsReceived = 0;
  /** Payload bytes of the packets received. */
  bytesReceived = 0;
  /** Packets not forwarded: copies of one already forwarded, or too late (see LATE_PACKET_WINDOW). */
  packetsDiscarded = 0;
  keyframeRequests = 0;
  /** No packet for a while although its publisher's connection is up (see MediaSession's watchdog). */
  stalled = false;

  readonly #source: RtpSource;
  readonly #sinks = new Set<RtpSink>();
  readonly #unsubscribe: () => void;
  #lastKeyframeRequest = 0;
  #keyframeTimer: NodeJS.Timeout | undefined;
  /** Smoothed linear audio amplitude (0..1) at `#levelAt`; see `audioLevel`. */
  #level = 0;
  #levelAt = 0;
  // The stream being forwarded: its SSRC, newest sequence number, and seq + 1 of the packets forwarded
  // lately at seq % SEEN_RING (0: none).
  #ssrc = -1;
  #newest = 0;
  readonly #seen = new Int32Array(SEEN_RING);

  constructor(id: string, source: RtpSource) {
    super();
    this.id = id;
    this.kind = source.kind;
    this.mimeType = source.mimeType;
    this.isKeyframeStart = keyframeDetector(this.mimeType);
    this.#source = source;
    this.#unsubscribe = source.onRtp((rtp, level) => this.#forward(rtp, level));
    countMedia(this);
  }

  /** Adds what this track counted to `into` (the server's metrics, `mediaTotals.ts`). */
  add(into: KindTotals): void {
    into.packetsIn += this.packetsReceived;
    into.bytesIn += this.bytesReceived;
    into.keyframeRequests += this.keyframeRequests;
    if (this.closed) return;
    into.published++;
    const jitter = this.#source.jitterSeconds?.();
    if (jitter !== undefined) {
      into.jitterSum += jitter;
      into.jitterCount++;
    }
  }

  /**
   * How loud the publisher is now, as a smoothed linear amplitude from 0 (silence) to 1 (full scale), from
   * the RFC 6464 levels its packets carry; 0 when the source reports no levels. Decays while no packet comes.
   */
  get audioLevel(): number {
    if (this.#levelAt === 0) return 0;
    return this.#level * Math.exp(-(performance.now() - this.#levelAt) / AUDIO_LEVEL_TAU_MS);
  }

  get subscriberCount(): number {
    return this.#sinks.size;
  }

  /** The publisher's sender reports (see `RtpSource.onSenderReport`); a no-op when its source has none. */
  onSenderReport(listener: SenderReportListener): () => void {
    return this.#source.onSenderReport?.(listener) ?? (() => {});
  }

  /** The codec's RTP clock rate in Hz (Opus and the video codecs WebRTC carries). */
  get clockRate(): number {
    return this.kind === 'audio' ? 48_000 : 90_000;
  }

  addSink(sink: RtpSink): void {
    if (this.closed) throw new InvalidStateError(`track ${this.id} is closed`);
    this.#sinks.add(sink);
  }

  removeSink(sink: RtpSink): void {
    this.#sinks.delete(sink);
  }

  /**
   * Asks the publisher for a keyframe (RTCP PLI, RFC 4585 §6.3.1), at most once per
   * KEYFRAME_REQUEST_INTERVAL_MS; a request inside the interval is sent when it ends.
   */
  requestKeyframe(): void {
    if (this.closed || this.kind !== 'video' || this.#keyframeTimer) return;
    const wait = this.#lastKeyframeRequest + KEYFRAME_REQUEST_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#keyframeTimer = setTimeout(() => {
        this.#keyframeTimer = undefined;
        this.requestKeyframe();
      }, wait);
      return;
    }
    if (!this.#source.requestKeyframe) return;
    this.#lastKeyframeRequest = Date.now();
    this.keyframeRequests++;
    this.#source.requestKeyframe();
  }

  /**
   * Whether `rtp` is a packet not forwarded yet. A publisher sends a packet again for each NACK (RFC 4585
   * §6.2.1), and werift's receiver repeats a NACK every 5 ms (up to 10 times) until the packet comes: an
   * overloaded server, whose receive queue holds the retransmission for longer than that, asks for it
   * again and again and gets several copies. Each is forwarded to every subscriber at most once.
   */
  #isNew(rtp: RtpPacket): boolean {
    const { ssrc, sequenceNumber: seq } = rtp.header;
    const seen = this.#seen;
    if (ssrc !== this.#ssrc) {
      this.#ssrc = ssrc;
      seen.fill(0);
    } else {
      const ahead = (seq - this.#newest) & 0xffff;
      if (ahead === 0) return false;
      if (ahead >= 0x8000) {
        const behind = 0x10000 - ahead;
        if (behind < LATE_PACKET_WINDOW) {
          if (seen[seq % SEEN_RING] === seq + 1) return false;
          seen[seq % SEEN_RING] = seq + 1;
          return true;
        }
        if (behind <= RESTART_DISTANCE) return false;
        seen.fill(0);
      } else if (ahead >= SEEN_RING) seen.fill(0);
    }
    this.#newest = seq;
    seen[seq % SEEN_RING] = seq + 1;
    return true;
  }

  #forward(rtp: RtpPacket, level: number | undefined): void {
    this.packetsReceived++;
    this.bytesReceived += rtp.payload.length;
    if (!this.#isNew(rtp)) {
      this.packetsDiscarded++;
      return;
    }
    if (level !== undefined) {
      // RFC 6464 §3: the level is -dBov, 0 (loudest) to 127 (silence).
      const amplitude = level >= 127 ? 0 : 10 ** (-level / 20);
      // Exponential moving average over time (packets may come at any interval).
      const now = performance.now();
      const k = 1 - Math.exp(-(now - this.#levelAt) / AUDIO_LEVEL_TAU_MS);
      this.#level += (amplitude - this.#level) * k;
      this.#levelAt = now;
    }
    if (this.paused) return;
    // Every subscriber's copy is encrypted first and the copies then sent back to back (see udpSend.ts).
    const timed = this.packetsReceived % FORWARD_SAMPLE_EVERY === 0 && this.#sinks.size > 0;
    const start = timed ? performance.now() : 0;
    beginSendBatch();
    try {
      for (const sink of this.#sinks) sink.write(rtp);
    } finally {
      endSendBatch();
    }
    if (timed) observeForwarding((performance.now() - start) / 1000);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#unsubscribe();
    clearTimeout(this.#keyframeTimer);
    this.#keyframeTimer = undefined;
    for (const sink of [...this.#sinks]) sink.close();
    this.#sinks.clear();
    uncountMedia(this);
    this.emit('closed');
    this.removeAllListeners();
  }
}
