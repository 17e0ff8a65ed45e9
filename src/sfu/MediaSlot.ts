import type { RTCRtpTransceiver } from 'werift';
import { DownTrack } from './DownTrack.js';
import type { PublishedTrack } from './PublishedTrack.js';

/**
 * One sending m-line of a routed session (a WHEP player's audio or video) and the track routed into it.
 * Switching to another track keeps the old one flowing until the new one has sent its first packet (for
 * video, the start of a keyframe, which the new DownTrack requests), so the picture never freezes on a
 * switch; the sender continues its sequence numbers and timestamps across it (werift `replaceRTP`).
 */
export class MediaSlot {
  readonly mid: string;
  readonly kind: 'audio' | 'video';
  readonly transceiver: RTCRtpTransceiver;
  closed = false;
  /** Switches completed (the new track's first packet went out). */
  switches = 0;
  #current: DownTrack | undefined;
  #pending: DownTrack | undefined;

  constructor(transceiver: RTCRtpTransceiver) {
    this.transceiver = transceiver;
    this.mid = transceiver.mid ?? '';
    this.kind = transceiver.kind === 'audio' ? 'audio' : 'video';
  }

  /** The negotiated codec of this m-line, once the answer is applied. */
  get mimeType(): string | undefined {
    return this.transceiver.sender.codec?.mimeType;
  }

  /** The track being switched to, or else the one being sent. */
  get track(): PublishedTrack | undefined {
    return (this.#pending ?? this.#current)?.source;
  }

  /** The track whose packets are going out now. */
  get sending(): PublishedTrack | undefined {
    return this.#current?.source;
  }

  /** Whether `track` can be sent on this m-line: same kind and, forwarding never transcodes, same codec. */
  accepts(track: PublishedTrack): boolean {
    const codec = this.mimeType;
    return track.kind === this.kind && (!codec || codec.toLowerCase() === track.mimeType.toLowerCase());
  }

  /** Sends `track` from now on (undefined: nothing). Returns false when the track cannot go on this slot. */
  route(track: PublishedTrack | undefined): boolean {
    if (this.closed) return false;
    if (track === this.track) return true;
    if (track && (!this.accepts(track) || track.closed)) return false;
    this.#pending?.close();
    this.#pending = undefined;
    if (!track) {
      this.#current?.close();
      this.#current = undefined;
      return true;
    }
    if (track === this.#current?.source) return true;
    const down = new DownTrack(track, this.transceiver);
    this.#pending = down;
    down.on('started', () => {
      if (this.#pending !== down) return;
      this.#pending = undefined;
      this.#current?.close();
      this.#current = down;
      this.switches++;
    });
    down.on('closed', () => {
      if (this.#pending === down) this.#pending = undefined;
      if (this.#current === down) this.#current = undefined;
    });
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending?.close();
    this.#current?.close();
    this.#pending = undefined;
    this.#current = undefined;
  }
}
