import { isVp8FrameStart, isVp8Keyframe, vp8DescriptorLength } from './vp8.js';

export interface Vp8RtpPacket {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface Vp8Frame {
  data: Buffer;
  keyframe: boolean;
  /** RTP timestamp (90 kHz) of the frame. */
  timestamp: number;
}

/**
 * A packet this far behind the last one is not late: the stream started over, or jumped forward by more
 * than half the sequence space after a long outage (PublishedTrack and the bots' ReorderBuffer take it so).
 */
const RESTART_DISTANCE = 3000;

/** Signed distance from sequence number b to a, modulo 2^16. */
function seqDiff(a: number, b: number): number {
  return ((a - b + 0x8000) & 0xffff) - 0x8000;
}

/**
 * Reassembles VP8 frames from RTP packets (RFC 7741). A frame is complete when its marker packet arrives and
 * its packets, from the S=1/PID=0 start, have consecutive sequence numbers that also follow the previous
 * frame. Like a decoder, after any loss it discards frames until the next keyframe. Packets reordered within
 * a frame are accepted; a packet arriving after its frame was closed is ignored. A stream that starts over
 * (far behind the last packet) is followed from its next keyframe.
 */
export class Vp8FrameAssembler {
  /** Frames lost to missing packets (a gap inside a frame, or whole frames missing between two). */
  droppedFrames = 0;
  /** Complete frames discarded while waiting for a keyframe (at the start or after a loss). */
  skippedFrames = 0;
  /** Frames returned by `push`. */
  emittedFrames = 0;

  #onFrame: ((frame: Vp8Frame) => void) | undefined;
  #seqs: number[] = [];
  #payloads: Buffer[] = [];
  #timestamp = 0;
  #lastSeq = -1;
  // False right after a loss was counted, so the same gap is not counted again at the next frame.
  #checkContinuity = false;
  #waitingForKeyframe = true;
  #synced = false;

  constructor(onFrame?: (frame: Vp8Frame) => void) {
    this.#onFrame = onFrame;
  }

  /** Feeds one RTP packet; returns the frame it completes, if any (also passed to the `onFrame` callback). */
  push(packet: Vp8RtpPacket): Vp8Frame | undefined {
    const seq = packet.sequenceNumber & 0xffff;
    if (this.#lastSeq >= 0) {
      const ahead = seqDiff(seq, this.#lastSeq);
      // Taken as late, every packet for up to 2^15 sequence numbers (minutes of video) would be dropped.
      if (ahead < -RESTART_DISTANCE) {
        this.reset();
        this.droppedFrames++;
      } else if (ahead <= 0) return undefined;
    }
    const seqs = this.#seqs;
    if (seqs.length > 0 && packet.timestamp !== this.#timestamp) {
      // A late packet of a frame that was already abandoned.
      if (seqDiff(seq, seqs[0]!) < 0) return undefined;
      // The current frame never got its marker packet.
      this.#abandon(seqs[seqs.length - 1]!);
    }
    if (seqs.length === 0) this.#timestamp = packet.timestamp;
    // Insert in sequence order; packets normally arrive in order, so this walks back zero steps.
    let i = seqs.length;
    while (i > 0 && seqDiff(seqs[i - 1]!, seq) > 0) i--;
    if (i > 0 && seqs[i - 1] === seq) return undefined;
    if (i === seqs.length) {
      seqs.push(seq);
      this.#payloads.push(packet.payload);
    } else {
      seqs.splice(i, 0, seq);
      this.#payloads.splice(i, 0, packet.payload);
    }
    return packet.marker ? this.#complete(seq) : undefined;
  }

  /** Forgets any partial frame and waits for a keyframe again (e.g. after the sender restarts). */
  reset(): void {
    this.#seqs.length = 0;
    this.#payloads.length = 0;
    this.#lastSeq = -1;
    this.#checkContinuity = false;
    this.#waitingForKeyframe = true;
    this.#synced = false;
  }

  #abandon(lastSeq: number): void {
    if (this.#synced || isVp8FrameStart(this.#payloads[0]!)) this.droppedFrames++;
    this.#synced = true;
    this.#waitingForKeyframe = true;
    this.#lastSeq = lastSeq;
    this.#checkContinuity = false;
    this.#seqs.length = 0;
    this.#payloads.length = 0;
  }

  #complete(markerSeq: number): Vp8Frame | undefined {
    const seqs = this.#seqs;
    const payloads = this.#payloads;
    const first = payloads[0]!;
    let complete = isVp8FrameStart(first) && seqDiff(markerSeq, seqs[0]!) === seqs.length - 1;
    let size = 0;
    for (let i = 0; complete && i < payloads.length; i++) {
      const offset = vp8DescriptorLength(payloads[i]!);
      if (offset < 0) complete = false;
      else size += payloads[i]!.length - offset;
    }
    if (!complete) {
      this.#abandon(markerSeq);
      return undefined;
    }
    // Packets missing between the previous frame and this one: at least one whole frame was lost.
    if (this.#checkContinuity && seqDiff(seqs[0]!, this.#lastSeq) !== 1) {
      this.droppedFrames++;
      this.#waitingForKeyframe = true;
    }
    this.#synced = true;
    this.#lastSeq = markerSeq;
    this.#checkContinuity = true;

    let data: Buffer;
    if (payloads.length === 1) data = first.subarray(vp8DescriptorLength(first));
    else {
      data = Buffer.allocUnsafe(size);
      let pos = 0;
      for (const payload of payloads) pos += payload.copy(data, pos, vp8DescriptorLength(payload));
    }
    seqs.length = 0;
    payloads.length = 0;

    const keyframe = isVp8Keyframe(data);
    if (this.#waitingForKeyframe && !keyframe) {
      this.skippedFrames++;
      return undefined;
    }
    this.#waitingForKeyframe = false;
    this.emittedFrames++;
    const frame: Vp8Frame = { data, keyframe, timestamp: this.#timestamp };
    this.#onFrame?.(frame);
    return frame;
  }
}
