import { type RTCRtpSender, type RTCRtpTransceiver, RtpPacket } from 'werift';
import { TypedEmitter } from '../common/TypedEmitter.js';
import { withVp8Indices } from '../media/vp8.js';
import type { SenderInternals } from '../werift/internals.js';
import { countMedia, type KindTotals, type MediaKind, uncountMedia } from './mediaTotals.js';
import type { PublishedTrack } from './PublishedTrack.js';
import { RtpFastSender } from './RtpFastSender.js';
import type { RtpSink } from './RtpSource.js';

export interface DownTrackEvents {
  /** The first packet went out (for video: the first packet of a keyframe). */
  started: [];
  closed: [];
}

/**
 * One published track as sent to one subscriber. Video starts at a keyframe: until the first keyframe
 * packet passes, packets are dropped and a keyframe is requested from the publisher. The werift sender
 * rewrites SSRC, payload type and sequence numbers, keeps the packet cache that answers the
 * subscriber's NACKs (RFC 4585 §6.2.1) and sends sender reports.
 *
 * Of a simulcast track it sends one layer at a time: the one `PublishedTrack.chooseLayer` picks for the
 * size the subscriber shows it at (`setViewSize`) and the bandwidth it has (`setMaxBitrate`). A switch
 * waits for a keyframe of the new layer (requested), and the stream goes on without a seam: sequence
 * numbers and timestamps continue (werift's `replaceRTP`, the timestamp stepped by the time that passed)
 * and so do VP8's PictureID and TL0PICIDX. A video shown nowhere (size 0) is not sent at all.
 */
export class DownTrack extends TypedEmitter<DownTrackEvents> implements RtpSink {
  readonly source: PublishedTrack;
  readonly transceiver: RTCRtpTransceiver;
  closed = false;
  packetsSent = 0;
  /** Payload bytes of the packets sent. */
  bytesSent = 0;
  /** Picture loss indications the subscriber sent. */
  pliReceived = 0;
  #sender: RTCRtpSender;
  /** Sends as the werift sender would, with less work per packet (see RtpFastSender). */
  #fast: RtpFastSender;
  #startPending = true;
  #unsubscribe: () => void;
  /** The layer being sent (-1: none yet, or stopped: the next one starts at a keyframe) and the one wanted. */
  #layer = -1;
  #target = 0;
  // What the subscriber shows the video at (device pixels) and the bandwidth it has (bits per second).
  #viewWidth = Number.POSITIVE_INFINITY;
  #viewHeight = Number.POSITIVE_INFINITY;
  #maxBitrate = Number.POSITIVE_INFINITY;
  /** The publisher's sequence number of the last packet sent (-1: none since the last start). */
  #lastSeq = -1;
  /** The last packet sent before padding was (publisher's sequence number; -1: no padding lately). */
  #paddedAfter = -1;
  /** When the last packet sent was forwarded (performance.now()), to step timestamps across a switch. */
  #lastSentAt = 0;
  // VP8 PictureID and TL0PICIDX continuity across layers: the last ones sent and what is added to each.
  readonly #rewriteVp8: boolean;
  #pictureId = -1;
  #tl0 = -1;
  #pictureIdOffset = 0;
  #tl0Offset = 0;

  constructor(source: PublishedTrack, transceiver: RTCRtpTransceiver) {
    super();
    this.source = source;
    this.transceiver = transceiver;
    this.#sender = transceiver.sender;
    this.#fast = new RtpFastSender(transceiver.sender);
    this.#rewriteVp8 = source.simulcast && source.mimeType.toLowerCase() === 'video/vp8';
    this.#target = source.chooseLayer(this.#viewWidth, this.#viewHeight, this.#maxBitrate);
    // RFC 4585 §6.3.1 / RFC 5104 §4.3.1: the subscriber lost the picture, so ask the publisher.
    const pli = this.#sender.onPictureLossIndication.subscribe(() => {
      this.pliReceived++;
      source.requestKeyframe(this.#layer >= 0 ? this.#layer : Math.max(this.#target, 0));
    });
    this.#unsubscribe = pli.unSubscribe;
    source.addSink(this);
    countMedia(this);
    // Ask for the first keyframe only once this subscriber can receive it (otherwise the first packet
    // that finds the transport up asks): a keyframe sent before DTLS is up is dropped, and the request
    // would hold the publisher's keyframe throttle for KEYFRAME_REQUEST_INTERVAL_MS, delaying the join.
    if (this.#target >= 0) source.want(this.#target);
    if (source.isKeyframeStart && this.#sender.dtlsTransport?.state === 'connected' && this.#sender.codec)
      source.requestKeyframe(this.#target);
  }

  /** The simulcast layer this subscriber should get now, -1 when none (its video is shown nowhere). */
  get wantedLayer(): number {
    return this.#target;
  }

  /**
   * The size (device pixels) the subscriber shows this video at; 0×0 when it shows it nowhere (a tile off
   * screen, a minimised window), which stops the video until it is shown again.
   */
  setViewSize(width: number, height: number): void {
    this.#viewWidth = width;
    this.#viewHeight = height;
    this.#choose();
  }

  /** The bandwidth this subscription may use, in bits per second (Infinity: no limit). */
  setMaxBitrate(bitsPerSecond: number): void {
    this.#maxBitrate = bitsPerSecond;
    this.#choose();
  }

  /** The bitrate (bits per second) of the layer that fits its view, ignoring bandwidth; 0 when none. */
  get wantedBitrate(): number {
    if (!this.source.simulcast) return 0;
    const layer = this.source.chooseLayer(this.#viewWidth, this.#viewHeight);
    return layer < 0 ? 0 : this.source.layers[layer]!.bitrate;
  }

  /**
   * How many more bits per second the next layer up would take, when the bandwidth limit holds this
   * subscription below the layer that fits its view; undefined when it does not.
   */
  get stepUp(): number | undefined {
    const fits = this.source.chooseLayer(this.#viewWidth, this.#viewHeight);
    if (fits < 0 || fits === this.#target || this.#target < 0) return undefined;
    const layers = this.source.layers;
    const current = layers[this.#target]!;
    let next: number | undefined;
    for (const layer of layers)
      if (
        (layer.flowing || layer.paused) &&
        layer.bitrate > current.bitrate &&
        (next === undefined || layer.bitrate < next)
      )
        next = layer.bitrate;
    return next === undefined ? undefined : next - current.bitrate;
  }

  /** The published track's flowing layers changed: perhaps another one fits better now. */
  layersChanged(): void {
    this.#choose();
  }

  #choose(): void {
    if (this.closed || this.kind !== 'video') return;
    const target = this.source.chooseLayer(this.#viewWidth, this.#viewHeight, this.#maxBitrate);
    if (target === this.#target) return;
    this.#target = target;
    // Nothing more of the old layer once the new one is none; else the old one goes on until the switch.
    if (target < 0) this.#layer = -1;
    else if (target !== this.#layer) {
      this.source.want(target);
      this.source.requestKeyframe(target);
    }
  }

  get kind(): MediaKind {
    return this.source.kind;
  }

  /** Adds what this subscription counted to `into` (the server's metrics, `mediaTotals.ts`). */
  add(into: KindTotals): void {
    into.packetsOut += this.packetsSent;
    into.bytesOut += this.bytesSent;
    into.pliReceived += this.pliReceived;
    const stats = this.#sender as unknown as Pick<
      SenderInternals,
      'nackCount' | 'retransmittedPacketsSent' | 'rtt' | 'remoteFractionLost'
    >;
    into.nacksReceived += stats.nackCount ?? 0;
    into.retransmitted += stats.retransmittedPacketsSent ?? 0;
    if (this.closed) return;
    into.subscribed++;
    if (typeof stats.rtt === 'number') {
      into.rttSum += stats.rtt;
      into.rttCount++;
    }
    if (typeof stats.remoteFractionLost === 'number') {
      into.lossSum += stats.remoteFractionLost;
      into.lossCount++;
    }
  }

  /**
   * Sends `bytes` of padding (a bandwidth probe) in packets of up to 255 bytes; false when this
   * subscription cannot (nothing sent on it yet, or it is audio). Packets forwarded after it go on with
   * their sequence numbers one further per padding packet, so a late packet from before it (a
   * retransmission from the publisher) is dropped rather than given a number already used.
   */
  sendPadding(bytes: number): boolean {
    if (this.source.kind !== 'video' || this.#layer < 0 || this.#lastSeq < 0) return false;
    let sent = false;
    for (let left = bytes; left > 0; left -= 255) {
      if (!this.#fast.sendPadding(Math.min(255, left))) break;
      sent = true;
    }
    if (sent) this.#paddedAfter = this.#lastSeq;
    return sent;
  }

  write(rtp: RtpPacket, layer: number): void {
    const sender = this.#sender;
    const seq = rtp.header.sequenceNumber;
    if (this.#paddedAfter >= 0 && layer === this.#layer) {
      const ahead = (seq - this.#paddedAfter) & 0xffff;
      if (ahead === 0 || ahead >= 0x8000) return;
      // Far enough past the padding that no late packet from before it is forwarded any more.
      if (ahead > 128) this.#paddedAfter = -1;
    }
    // Until DTLS is up and a codec is negotiated, werift would drop the packet; drop it here and keep
    // waiting for a keyframe so that the subscriber's first picture is a whole one.
    if (sender.dtlsTransport?.state !== 'connected' || !sender.codec) {
      this.#layer = -1;
      return;
    }
    if (layer !== this.#layer) {
      // Nothing sent yet and the layer wanted is paused (asked back, on its way): start on another.
      const early = this.#layer < 0 && this.source.layers[this.#target]?.paused === true;
      if (layer !== this.#target && !(early && layer < this.#target)) return;
      const isKeyframeStart = this.source.isKeyframeStart;
      if (isKeyframeStart && !isKeyframeStart(rtp.payload)) {
        this.source.requestKeyframe(layer);
        return;
      }
      this.#start(rtp, layer);
    }
    if (this.#rewriteVp8) rtp = this.#continueVp8(rtp);
    if (this.#lastSeq < 0 || ((seq - this.#lastSeq) & 0xffff) < 0x8000) this.#lastSeq = seq;
    this.#lastSentAt = this.source.forwardedAt;
    this.packetsSent++;
    this.bytesSent += rtp.payload.length;
    if (this.#fast.send(rtp)) return;
    sender.sendRtp(rtp).catch(() => {
      // A send fails only when the transport is closing; the subscription is about to close as well.
    });
  }

  /** Starts sending `layer` with `rtp`, the first packet of a keyframe (or of audio). */
  #start(rtp: RtpPacket, layer: number): void {
    const sender = this.#sender;
    if (this.#startPending) {
      // Continue the sender's sequence and timestamp space if this transceiver carried another stream.
      sender.replaceRTP(rtp.header, true);
      this.#startPending = false;
      this.emit('started');
    } else {
      // Sequence numbers go on by one; the timestamp by the time since the last packet sent.
      const elapsed = (performance.now() - this.#lastSentAt) / 1000;
      sender.replaceRTP(rtp.header, true, Math.max(1, Math.round(elapsed * this.source.clockRate)));
    }
    this.#layer = layer;
    // Another stream's numbers from here on (the sender's offsets start over).
    this.#paddedAfter = -1;
    this.#lastSeq = -1;
    if (!this.#rewriteVp8) return;
    const indices = this.source.vp8Indices;
    if (!indices || this.#pictureId < 0) return;
    const mask = indices.pictureIdBits === 15 ? 0x7fff : 0x7f;
    this.#pictureIdOffset = (this.#pictureId + 1 - indices.pictureId) & mask;
    this.#tl0Offset = (this.#tl0 + 1 - indices.tl0) & 0xff;
  }

  /** The packet with VP8's PictureID and TL0PICIDX continuing those sent before a switch of layers. */
  #continueVp8(rtp: RtpPacket): RtpPacket {
    const indices = this.source.vp8Indices;
    if (!indices || indices.pictureIdBits === 0) return rtp;
    const mask = indices.pictureIdBits === 15 ? 0x7fff : 0x7f;
    const pictureId = (indices.pictureId + this.#pictureIdOffset) & mask;
    const tl0 = (indices.tl0 + this.#tl0Offset) & 0xff;
    this.#pictureId = pictureId;
    if (indices.tl0At >= 0) this.#tl0 = tl0;
    if (this.#pictureIdOffset === 0 && this.#tl0Offset === 0) return rtp;
    return new RtpPacket(rtp.header, withVp8Indices(rtp.payload, indices, pictureId, tl0));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#unsubscribe();
    this.#fast.close();
    this.source.removeSink(this);
    uncountMedia(this);
    this.emit('closed');
    this.removeAllListeners();
  }
}
