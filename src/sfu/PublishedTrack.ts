import type { RtpPacket } from 'werift';
import { InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import { type Vp8Indices, vp8Indices, vp8KeyframeSize } from '../media/vp8.js';
import { keyframeDetector } from './keyframe.js';
import { countMedia, type KindTotals, observeForwarding, uncountMedia } from './mediaTotals.js';
import type { RtpSink, RtpSource, SenderReportListener } from './RtpSource.js';
import { beginSendBatch, endSendBatch } from './udpSend.js';

/** Keyframe requests to a publisher are sent at most this often (a PLI storm costs the publisher bitrate). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 300;

export interface PublishedTrackEvents {
  /** Simulcast: which layers the publisher should send (false: paused, nobody is sent it). */
  layersActive: [boolean[]];
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
 * A simulcast layer that sent no packet for this long is not flowing: its publisher stopped it (a browser
 * drops its largest layers when its uplink or its CPU cannot carry them) or it has not started yet.
 */
export const LAYER_IDLE_MS = 1500;
/** A layer no sink has wanted for this long is paused: its publisher is asked to stop sending it. */
export const LAYER_PAUSE_AFTER_MS = 3000;

/** One simulcast layer of a track as the SFU sees it. */
export interface LayerInfo {
  /** Its `rid` ('' without simulcast). */
  rid: string;
  /** The picture size of its last keyframe (VP8), 0 until one is seen. */
  width: number;
  height: number;
  /** Payload bits per second over the last check (about a second) it sent anything in. */
  bitrate: number;
  flowing: boolean;
  /** The publisher was asked to stop sending it: nobody is sent it. Still a layer to choose. */
  paused: boolean;
}

/** The packets of one stream (one layer) forwarded lately, to forward each at most once (see `isNew`). */
class SeenPackets {
  ssrc = -1;
  newest = 0;
  /** seq + 1 of the packets forwarded lately at seq % SEEN_RING (0: none). */
  readonly seen = new Int32Array(SEEN_RING);
}

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
  /**
   * Of the packet being forwarded: when (performance.now()), and, of a VP8 simulcast track, its
   * descriptor's PictureID and TL0PICIDX. Read once here for all its sinks, which continue them
   * across layer switches (DownTrack).
   */
  forwardedAt = 0;
  vp8Indices: Vp8Indices | undefined;

  /** Its simulcast layers (one, named '', without simulcast), as listed by the publisher. */
  readonly layers: readonly LayerInfo[];

  readonly #source: RtpSource;
  readonly #vp8: boolean;
  readonly #sinks = new Set<RtpSink>();
  readonly #unsubscribe: () => void;
  // Per layer: the last keyframe request, the one waiting for the throttle, the packets seen, when the
  // last packet came (performance.now()) and the payload bytes since the last check.
  readonly #lastKeyframeRequest: number[];
  readonly #keyframeTimers: (NodeJS.Timeout | undefined)[];
  readonly #seen: SeenPackets[];
  readonly #lastPacketAt: Float64Array;
  readonly #layerBytes: Float64Array;
  /** Per layer: when a sink last wanted it (performance.now()). */
  readonly #wantedAt: Float64Array;
  #layersCheckedAt = performance.now();
  /** Smoothed linear audio amplitude (0..1) at `#levelAt`; see `audioLevel`. */
  #level = 0;
  #levelAt = 0;

  readonly #counted: boolean;

  /**
   * `counted: false`: a mirror of a track published elsewhere (`TrackRelay.ts`), whose packets the
   * server's metrics counted where they arrived.
   */
  constructor(id: string, source: RtpSource, options: { counted?: boolean } = {}) {
    super();
    this.#counted = options.counted ?? true;
    this.id = id;
    this.kind = source.kind;
    this.mimeType = source.mimeType;
    this.isKeyframeStart = keyframeDetector(this.mimeType);
    this.#source = source;
    this.#vp8 = this.mimeType.toLowerCase() === 'video/vp8';
    const rids = source.layers?.length ? source.layers : [''];
    this.layers = rids.map((rid) => ({
      rid,
      width: 0,
      height: 0,
      bitrate: 0,
      flowing: false,
      paused: false,
    }));
    const n = this.layers.length;
    this.#lastKeyframeRequest = new Array<number>(n).fill(0);
    this.#keyframeTimers = new Array<NodeJS.Timeout | undefined>(n).fill(undefined);
    this.#seen = Array.from({ length: n }, () => new SeenPackets());
    this.#lastPacketAt = new Float64Array(n);
    this.#layerBytes = new Float64Array(n);
    this.#wantedAt = new Float64Array(n).fill(performance.now());
    this.#unsubscribe = source.onRtp((rtp, level, layer) => this.#forward(rtp, level, layer));
    if (this.#counted) countMedia(this);
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
    if (sink.relay) {
      // A relay to another worker goes first: that worker's subscribers wait for nothing here.
      const rest = [...this.#sinks];
      this.#sinks.clear();
      this.#sinks.add(sink);
      for (const other of rest) this.#sinks.add(other);
    } else this.#sinks.add(sink);
  }

  removeSink(sink: RtpSink): void {
    this.#sinks.delete(sink);
  }

  /** Whether the track has several simulcast layers. */
  get simulcast(): boolean {
    return this.layers.length > 1;
  }

  /**
   * Asks the publisher for a keyframe of `layer` (RTCP PLI, RFC 4585 §6.3.1), at most once per
   * KEYFRAME_REQUEST_INTERVAL_MS a layer; a request inside the interval is sent when it ends.
   */
  requestKeyframe(layer = 0): void {
    if (this.closed || this.kind !== 'video' || this.#keyframeTimers[layer] || layer >= this.layers.length)
      return;
    const wait = this.#lastKeyframeRequest[layer]! + KEYFRAME_REQUEST_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#keyframeTimers[layer] = setTimeout(() => {
        this.#keyframeTimers[layer] = undefined;
        this.requestKeyframe(layer);
      }, wait);
      return;
    }
    if (!this.#source.requestKeyframe) return;
    this.#lastKeyframeRequest[layer] = Date.now();
    this.keyframeRequests++;
    this.#source.requestKeyframe(layer);
  }

  /** Keyframe requests for every layer (a publisher's connection came back). */
  requestKeyframes(): void {
    for (let layer = 0; layer < this.layers.length; layer++) this.requestKeyframe(layer);
  }

  /**
   * The layer to send a subscriber that shows the picture in a view of `width`×`height` device pixels (0
   * for either: not shown, -1 is returned) and can take `maxBitrate` bits per second: the smallest
   * flowing layer that fills the view (both ways, as a tile that crops the picture to fill it needs;
   * 10 % short is close enough), else the largest flowing one, and below it while its bitrate is over
   * `maxBitrate`. Sizes come from the layers' keyframes; a layer whose size is not known yet ranks by
   * its place in the publisher's list (smallest first, as browsers list them). Before any layer flows:
   * the largest.
   */
  chooseLayer(width: number, height: number, maxBitrate = Number.POSITIVE_INFINITY): number {
    if (width <= 0 || height <= 0) return -1;
    const n = this.layers.length;
    if (n === 1) return 0;
    // A layer paused for want of viewers is one to choose: choosing it resumes it (`want`).
    const flowing: number[] = [];
    for (let i = 0; i < n; i++) if (this.layers[i]!.flowing || this.layers[i]!.paused) flowing.push(i);
    if (flowing.length === 0) return n - 1;
    const known = flowing.every((i) => this.layers[i]!.width > 0);
    if (known) flowing.sort((a, b) => this.layers[a]!.width - this.layers[b]!.width);
    let choice = flowing[flowing.length - 1]!;
    if (known)
      for (const i of flowing) {
        const layer = this.layers[i]!;
        if (layer.width >= width * 0.9 && layer.height >= height * 0.9) {
          choice = i;
          break;
        }
      }
    // Within the bandwidth: step down while the layer's bitrate is over it (the smallest stays).
    for (let at = flowing.indexOf(choice); at > 0 && this.layers[choice]!.bitrate > maxBitrate; at--)
      choice = flowing[at - 1]!;
    return choice;
  }

  /**
   * A sink wants `layer` now: a paused layer is resumed at once (the publisher is asked to send it again;
   * the sink switches when its keyframe comes).
   */
  want(layer: number): void {
    const info = this.layers[layer];
    if (!info || this.layers.length < 2) return;
    this.#wantedAt[layer] = performance.now();
    if (!info.paused) return;
    info.paused = false;
    this.emit(
      'layersActive',
      this.layers.map((l) => !l.paused),
    );
  }

  /**
   * Pauses the layers no sink has wanted for LAYER_PAUSE_AFTER_MS (the smallest, listed first, is always
   * sent: a newcomer starts on it at once, and the stall watchdog keeps seeing the track).
   */
  #pauseUnwanted(now: number): void {
    for (const sink of this.#sinks) {
      const layer = sink.wantedLayer;
      if (layer !== undefined && layer >= 0) this.#wantedAt[layer] = now;
    }
    let changed = false;
    for (let i = 1; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      if (layer.paused || now - this.#wantedAt[i]! < LAYER_PAUSE_AFTER_MS) continue;
      layer.paused = true;
      changed = true;
    }
    if (changed)
      this.emit(
        'layersActive',
        this.layers.map((l) => !l.paused),
      );
  }

  /**
   * Called about once a second (the publisher's media session does): which layers flow and at what
   * bitrate; sinks are told when the flowing ones changed; layers nobody wants are paused.
   */
  checkLayers(now = performance.now()): void {
    if (this.closed) return;
    this.#pauseUnwanted(now);
    const seconds = Math.max((now - this.#layersCheckedAt) / 1000, 0.001);
    this.#layersCheckedAt = now;
    let changed = false;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      // A layer that sent nothing (paused, or stopped by its publisher) keeps the bitrate it had: what it
      // would take if asked back.
      if (this.#layerBytes[i]! > 0) layer.bitrate = (this.#layerBytes[i]! * 8) / seconds;
      this.#layerBytes[i] = 0;
      const flowing = this.#lastPacketAt[i]! > 0 && now - this.#lastPacketAt[i]! < LAYER_IDLE_MS;
      if (flowing !== layer.flowing) {
        layer.flowing = flowing;
        changed = true;
      }
    }
    if (changed) for (const sink of this.#sinks) sink.layersChanged?.();
  }

  /**
   * Whether `rtp` is a packet not forwarded yet. A publisher sends a packet again for each NACK (RFC 4585
   * §6.2.1), and werift's receiver repeats a NACK every 5 ms (up to 10 times) until the packet comes: an
   * overloaded server, whose receive queue holds the retransmission for longer than that, asks for it
   * again and again and gets several copies. Each is forwarded to every subscriber at most once.
   */
  #isNew(rtp: RtpPacket, stream: SeenPackets): boolean {
    const { ssrc, sequenceNumber: seq } = rtp.header;
    const seen = stream.seen;
    if (ssrc !== stream.ssrc) {
      stream.ssrc = ssrc;
      seen.fill(0);
    } else {
      const ahead = (seq - stream.newest) & 0xffff;
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
    stream.newest = seq;
    seen[seq % SEEN_RING] = seq + 1;
    return true;
  }

  #forward(rtp: RtpPacket, level: number | undefined, layer: number): void {
    this.packetsReceived++;
    this.bytesReceived += rtp.payload.length;
    const stream = this.#seen[layer];
    if (!stream || !this.#isNew(rtp, stream)) {
      this.packetsDiscarded++;
      return;
    }
    const now = performance.now();
    this.forwardedAt = now;
    if (this.layers.length > 1) {
      if (this.#vp8) this.vp8Indices = vp8Indices(rtp.payload);
      this.#layerBytes[layer] += rtp.payload.length;
      const idle = now - this.#lastPacketAt[layer]! >= LAYER_IDLE_MS;
      this.#lastPacketAt[layer] = now;
      const info = this.layers[layer]!;
      const size = this.#vp8 ? vp8KeyframeSize(rtp.payload) : undefined;
      if (size) {
        info.width = size.width;
        info.height = size.height;
      }
      // A layer that starts (again) is announced at once, not at the next check.
      if (idle && !info.flowing) {
        info.flowing = true;
        for (const sink of this.#sinks) sink.layersChanged?.();
      }
    }
    if (level !== undefined) {
      // RFC 6464 §3: the level is -dBov, 0 (loudest) to 127 (silence).
      const amplitude = level >= 127 ? 0 : 10 ** (-level / 20);
      // Exponential moving average over time (packets may come at any interval).
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
      for (const sink of this.#sinks) sink.write(rtp, layer);
    } finally {
      endSendBatch();
    }
    if (timed) observeForwarding((performance.now() - start) / 1000);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#unsubscribe();
    for (const timer of this.#keyframeTimers) clearTimeout(timer);
    this.#keyframeTimers.fill(undefined);
    for (const sink of [...this.#sinks]) sink.close();
    this.#sinks.clear();
    if (this.#counted) uncountMedia(this);
    this.emit('closed');
    this.removeAllListeners();
  }
}
