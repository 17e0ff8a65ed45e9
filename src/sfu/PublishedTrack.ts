import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from 'werift';
import { InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { DownTrack } from './DownTrack.js';
import { keyframeDetector } from './keyframe.js';

/** Keyframe requests to a publisher are sent at most this often (a PLI storm costs the publisher bitrate). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 300;

export interface PublishedTrackEvents {
  closed: [];
}

/**
 * One incoming track of a publisher. Every RTP packet it receives is handed to each subscribed
 * DownTrack; DownTracks ask it for keyframes, which it turns into throttled PLIs to the publisher.
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
  keyframeRequests = 0;

  readonly #track: MediaStreamTrack;
  readonly #receiver: RTCRtpReceiver;
  readonly #sinks = new Set<DownTrack>();
  readonly #unsubscribe: () => void;
  #lastKeyframeRequest = 0;
  #keyframeTimer: NodeJS.Timeout | undefined;

  constructor(id: string, track: MediaStreamTrack, receiver: RTCRtpReceiver) {
    super();
    this.id = id;
    this.kind = track.kind === 'audio' ? 'audio' : 'video';
    this.mimeType = track.codec?.mimeType ?? (this.kind === 'audio' ? 'audio/opus' : 'video/VP8');
    this.isKeyframeStart = keyframeDetector(this.mimeType);
    this.#track = track;
    this.#receiver = receiver;
    const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => this.#forward(rtp));
    this.#unsubscribe = unSubscribe;
  }

  get subscriberCount(): number {
    return this.#sinks.size;
  }

  addSink(sink: DownTrack): void {
    if (this.closed) throw new InvalidStateError(`track ${this.id} is closed`);
    this.#sinks.add(sink);
  }

  removeSink(sink: DownTrack): void {
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
    const ssrc = this.#track.ssrc;
    if (ssrc === undefined) return;
    this.#lastKeyframeRequest = Date.now();
    this.keyframeRequests++;
    this.#receiver.sendRtcpPLI(ssrc).catch(() => {
      // The transport closed under us; the track is about to close too.
    });
  }

  #forward(rtp: RtpPacket): void {
    this.packetsReceived++;
    if (this.paused) return;
    for (const sink of this.#sinks) sink.write(rtp);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#unsubscribe();
    clearTimeout(this.#keyframeTimer);
    this.#keyframeTimer = undefined;
    for (const sink of [...this.#sinks]) sink.close();
    this.#sinks.clear();
    this.emit('closed');
    this.removeAllListeners();
  }
}
