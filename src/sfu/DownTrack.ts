import type { RTCRtpSender, RTCRtpTransceiver, RtpPacket } from 'werift';
import { TypedEmitter } from '../common/TypedEmitter.js';
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
  #needKeyframe: boolean;
  #startPending = true;
  #unsubscribe: () => void;

  constructor(source: PublishedTrack, transceiver: RTCRtpTransceiver) {
    super();
    this.source = source;
    this.transceiver = transceiver;
    this.#sender = transceiver.sender;
    this.#fast = new RtpFastSender(transceiver.sender);
    this.#needKeyframe = source.isKeyframeStart !== undefined;
    // RFC 4585 §6.3.1 / RFC 5104 §4.3.1: the subscriber lost the picture, so ask the publisher.
    const pli = this.#sender.onPictureLossIndication.subscribe(() => {
      this.pliReceived++;
      source.requestKeyframe();
    });
    this.#unsubscribe = pli.unSubscribe;
    source.addSink(this);
    countMedia(this);
    // Ask for the first keyframe only once this subscriber can receive it (otherwise the first packet
    // that finds the transport up asks): a keyframe sent before DTLS is up is dropped, and the request
    // would hold the publisher's keyframe throttle for KEYFRAME_REQUEST_INTERVAL_MS, delaying the join.
    if (this.#needKeyframe && this.#sender.dtlsTransport?.state === 'connected' && this.#sender.codec)
      source.requestKeyframe();
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

  write(rtp: RtpPacket): void {
    const sender = this.#sender;
    // Until DTLS is up and a codec is negotiated, werift would drop the packet; drop it here and keep
    // waiting for a keyframe so that the subscriber's first picture is a whole one.
    if (sender.dtlsTransport?.state !== 'connected' || !sender.codec) {
      if (this.source.isKeyframeStart) this.#needKeyframe = true;
      return;
    }
    if (this.#needKeyframe) {
      if (!this.source.isKeyframeStart!(rtp.payload)) {
        this.source.requestKeyframe();
        return;
      }
      this.#needKeyframe = false;
    }
    if (this.#startPending) {
      // Continue the sender's sequence and timestamp space if this transceiver carried another stream.
      sender.replaceRTP(rtp.header, true);
      this.#startPending = false;
      this.emit('started');
    }
    this.packetsSent++;
    this.bytesSent += rtp.payload.length;
    if (this.#fast.send(rtp)) return;
    sender.sendRtp(rtp).catch(() => {
      // A send fails only when the transport is closing; the subscription is about to close as well.
    });
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
