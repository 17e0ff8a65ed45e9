import { closeSync, openSync, writeSync } from 'node:fs';
import {
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  MkvOutputFormat,
  Output,
  StreamTarget,
  type StreamTargetChunk,
  WebMOutputFormat,
} from 'mediabunny';
import { dePacketizeRtpPackets, type RtpPacket } from 'werift';
import { h264PictureSize } from '../media/h264.js';
import { opusPacketDurationSamples } from '../media/opus.js';
import { ReorderBuffer } from '../media/ReorderBuffer.js';
import { vp8FrameSize } from '../media/vp8.js';
import type { PublishedTrack, RtpSink } from '../sfu/index.js';

/** The codecs a recording writes, as `timeline.json` names them. */
export type RecordedCodec = 'vp8' | 'vp9' | 'h264' | 'opus';

/** The recorded codec of a track's `audio/opus`, `video/VP8`…; undefined for one a recording cannot write. */
export function recordedCodec(mimeType: string): RecordedCodec | undefined {
  switch (mimeType.toLowerCase()) {
    case 'audio/opus':
      return 'opus';
    case 'video/vp8':
      return 'vp8';
    case 'video/vp9':
      return 'vp9';
    case 'video/h264':
      return 'h264';
    default:
      return undefined;
  }
}

/** The file name ending for a codec: WebM holds VP8, VP9 and Opus; H.264 needs Matroska. */
export const fileExtension = (codec: RecordedCodec) => (codec === 'h264' ? 'mkv' : 'webm');

/**
 * How long a missing packet is waited for before it is given up: long enough for the publisher's
 * retransmission of it (the server's receiver NACKs every loss, RFC 4585 §6.2.1) to come.
 */
const VIDEO_REORDER_MS = 300;
const AUDIO_REORDER_MS = 120;
/** Frames waiting for the muxer past this mean the disk cannot keep up: the recording fails, not memory. */
const MAX_PENDING_WRITES = 500;
/** Sender reports this long after the first one still refine the publisher's clock offset (see below). */
const OFFSET_WINDOW_MS = 10_000;

const depacketizerCodec = { vp8: 'VP8', vp9: 'VP9', h264: 'MPEG4/ISO/AVC', opus: 'OPUS' } as const;

/** Signed 32-bit distance from RTP timestamp b to a. */
const tsDiff = (a: number, b: number) => ((a - b) | 0) as number;
/** Signed 16-bit distance from sequence number b to a. */
const seqDiff = (a: number, b: number) => ((a - b + 0x8000) & 0xffff) - 0x8000;

export interface TrackWriterOptions {
  track: PublishedTrack;
  codec: RecordedCodec;
  /** The file to write (created; an existing file is replaced). */
  path: string;
  /**
   * Called with the size of each write before it is made; throws to refuse it (the recording's size
   * limit), which fails the writer.
   */
  reserve(bytes: number): void;
  /** The writer stopped on an error (a write failed, the limit was reached); it is closed already. */
  onFailed(error: Error): void;
  /** The picture size changed (the first keyframe's too). */
  onResolution?(width: number, height: number): void;
}

/** Where a written track sits on the server's clock, when it is known. */
export interface TrackTiming {
  /**
   * Server time (ms since 1970) at which the publisher captured the file's first sample: from its sender
   * reports and the smallest transit seen (`senderOffsetMs`), or the first frame's arrival without them.
   */
  firstSampleMs: number;
  /** Server time of the end of the file's last sample. */
  endMs: number;
  clock: 'senderReport' | 'arrival';
  width: number | undefined;
  height: number | undefined;
}

/**
 * Writes one published track to a WebM (or Matroska) file as it arrives, without transcoding: it orders
 * packets (waiting a moment for retransmissions), reassembles frames with werift's depacketizers and
 * muxes them with mediabunny in append-only mode, so every frame reaches the disk as it is written and
 * a crash leaves a playable file (without cues or duration; `finalizeTrackFile` adds them on stop).
 * Video starts at a keyframe, and after a loss waits for the next one (asking the publisher for it), so
 * every frame in the file decodes.
 */
export class TrackWriter implements RtpSink {
  readonly track: PublishedTrack;
  readonly codec: RecordedCodec;
  readonly path: string;
  closed = false;
  framesWritten = 0;
  /** Frames thrown away: incomplete (a packet never came) or waiting for a keyframe. */
  framesDropped = 0;
  bytesWritten = 0;

  readonly #options: TrackWriterOptions;
  readonly #reorder: ReorderBuffer<RtpPacket>;
  readonly #output: Output;
  readonly #video: EncodedVideoPacketSource | undefined;
  readonly #audio: EncodedAudioPacketSource | undefined;
  readonly #fd: number;
  readonly #offSenderReport: () => void;
  #queue: Promise<void>;
  #pending = 0;
  /** The simulcast layer being written (-1 before the first packet; 0 without simulcast). */
  #layer = -1;
  // Frame assembly (video).
  #packets: RtpPacket[] = [];
  #lastSeq = -1;
  #needKeyframe: boolean;
  #fragment: Buffer | undefined;
  // Timestamps: the first written frame's RTP timestamp, extended across wraps.
  #ssrc = -1;
  #firstTs = -1;
  #lastTs = 0;
  #extended = 0;
  /** Seconds of the last written frame in the file, and when (server ms) it arrived. */
  #lastPts = -1;
  #lastArrival = 0;
  #lastDuration = 0;
  #firstArrivalMs = 0;
  #firstRtp = 0;
  #width: number | undefined;
  #height: number | undefined;
  /** The first sender report: the publisher's wall clock (ms) at an RTP timestamp. */
  #report: { wallMs: number; rtpTimestamp: number; at: number } | undefined;
  /** Smallest (arrival − capture) seen, in ms: the publisher's clock offset plus the least transit. */
  #senderOffsetMs = Number.POSITIVE_INFINITY;

  constructor(options: TrackWriterOptions) {
    this.#options = options;
    this.track = options.track;
    this.codec = options.codec;
    this.path = options.path;
    const video = this.track.kind === 'video';
    this.#needKeyframe = video;
    this.#reorder = new ReorderBuffer<RtpPacket>(video ? VIDEO_REORDER_MS : AUDIO_REORDER_MS, (rtp) =>
      this.#ordered(rtp),
    );
    this.#fd = openSync(options.path, 'w');
    const writable = new WritableStream<StreamTargetChunk>({
      write: (chunk) => this.#write(chunk),
    });
    const format =
      options.codec === 'h264'
        ? new MkvOutputFormat({ appendOnly: true })
        : new WebMOutputFormat({ appendOnly: true });
    this.#output = new Output({ format, target: new StreamTarget(writable) });
    if (video) {
      this.#video = new EncodedVideoPacketSource(
        options.codec === 'h264' ? 'avc' : (options.codec as 'vp8' | 'vp9'),
      );
      this.#output.addVideoTrack(this.#video);
    } else {
      this.#audio = new EncodedAudioPacketSource('opus');
      this.#output.addAudioTrack(this.#audio);
    }
    this.#queue = this.#output.start();
    this.#queue.catch((error) => this.#fail(error));
    this.#offSenderReport = this.track.onSenderReport((report) => this.#senderReport(report));
    this.track.addSink(this);
    if (video) this.track.requestKeyframe(this.#wantedLayer());
  }

  get wantedLayer(): number {
    return this.#wantedLayer();
  }

  /** Of a simulcast track, the largest layer flowing is recorded. */
  #wantedLayer(): number {
    return this.track.chooseLayer(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  write(rtp: RtpPacket, layer: number): void {
    if (this.closed) return;
    if (layer !== this.#layer) {
      // Another simulcast layer: taken from its keyframe on, when it is the one wanted (the one being
      // written goes on until then).
      const wanted = this.#wantedLayer();
      if (layer !== wanted) return;
      if (this.#layer >= 0 || this.track.simulcast) {
        if (!this.track.isKeyframeStart?.(rtp.payload)) {
          this.track.requestKeyframe(wanted);
          return;
        }
        this.#reorder.restart();
        this.#packets = [];
        this.#fragment = undefined;
        this.#lastSeq = -1;
      }
      this.#layer = layer;
    }
    this.#reorder.push(rtp);
  }

  layersChanged(): void {
    const wanted = this.#wantedLayer();
    if (wanted === this.#layer) return;
    this.track.want(wanted);
    this.track.requestKeyframe(wanted);
  }

  /** The track ended (its publisher left or stopped it): what arrived is written, the file stays open. */
  close(): void {
    this.#detach();
  }

  /** Where the file sits on the server's clock; undefined when nothing was written. */
  get timing(): TrackTiming | undefined {
    if (this.#lastPts < 0) return undefined;
    const report = this.#report;
    let firstSampleMs = this.#firstArrivalMs;
    let clock: TrackTiming['clock'] = 'arrival';
    if (report && Number.isFinite(this.#senderOffsetMs)) {
      firstSampleMs = this.#captureMs(this.#firstRtp, report) + this.#senderOffsetMs;
      clock = 'senderReport';
    }
    return {
      firstSampleMs,
      endMs: firstSampleMs + (this.#lastPts + this.#lastDuration) * 1000,
      clock,
      width: this.#width,
      height: this.#height,
    };
  }

  /** Smallest (arrival − capture) of this track's frames, ms; the recording takes the least of a person's tracks. */
  get senderOffsetMs(): number {
    return this.#senderOffsetMs;
  }

  /** Uses `offsetMs` (a person's least offset over all their tracks) for this track's capture times. */
  timingWithOffset(offsetMs: number): TrackTiming | undefined {
    const timing = this.timing;
    if (!timing || timing.clock !== 'senderReport' || !this.#report) return timing;
    const firstSampleMs = this.#captureMs(this.#firstRtp, this.#report) + offsetMs;
    return { ...timing, firstSampleMs, endMs: firstSampleMs + (timing.endMs - timing.firstSampleMs) };
  }

  /** Stops writing and closes the file (what was written is kept). */
  async finish(): Promise<void> {
    this.#detach();
    try {
      await this.#queue;
      if (this.#output.state === 'started') await this.#output.finalize();
    } catch {
      // A failed writer already reported why; its file holds what was written before.
    } finally {
      this.#closeFile();
    }
  }

  /**
   * Keeps the sender report that puts the publisher's clock earliest. A sender stamps a report with the
   * time it sent its last packet, so a report made while its sending was held up (a busy event loop, a
   * paced burst) is late by that much; none is early. Reports of the first OFFSET_WINDOW_MS count.
   */
  #senderReport(report: { wallMs: number; rtpTimestamp: number }): void {
    const now = Date.now();
    const kept = this.#report;
    if (!kept) {
      this.#report = { ...report, at: now };
      return;
    }
    if (now - kept.at > OFFSET_WINDOW_MS) return;
    if (this.#captureMs(report.rtpTimestamp, kept) > report.wallMs) this.#report = { ...report, at: kept.at };
  }

  #captureMs(rtpTimestamp: number, report: { wallMs: number; rtpTimestamp: number }): number {
    return report.wallMs + (tsDiff(rtpTimestamp, report.rtpTimestamp) / this.track.clockRate) * 1000;
  }

  #detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.track.removeSink(this);
    this.#offSenderReport();
    this.#reorder.close();
    this.#packets = [];
  }

  #fileOpen = true;
  #closeFile(): void {
    if (!this.#fileOpen) return;
    this.#fileOpen = false;
    closeSync(this.#fd);
  }

  #write(chunk: StreamTargetChunk): void {
    if (chunk.type !== 'write') return;
    this.#options.reserve(chunk.data.byteLength);
    writeSync(this.#fd, chunk.data, 0, chunk.data.byteLength, chunk.position);
    this.bytesWritten += chunk.data.byteLength;
  }

  #fail(error: unknown): void {
    if (!this.#fileOpen) return;
    this.#detach();
    this.#closeFile();
    this.#options.onFailed(error instanceof Error ? error : new Error(String(error)));
  }

  /** Packets in sequence order (gaps are packets that never came). */
  #ordered(rtp: RtpPacket): void {
    if (this.closed) return;
    if (this.#audio) {
      this.#frame(rtp.payload, true, rtp.header.timestamp, rtp.header.ssrc);
      return;
    }
    const seq = rtp.header.sequenceNumber;
    const lost = this.#lastSeq >= 0 && seqDiff(seq, this.#lastSeq) !== 1;
    this.#lastSeq = seq;
    const packets = this.#packets;
    if (lost || (packets.length > 0 && packets[0]!.header.timestamp !== rtp.header.timestamp)) {
      // A frame with a packet missing cannot be decoded, nor can what follows it until a keyframe.
      if (packets.length > 0) this.framesDropped++;
      this.#packets = [];
      if (lost) this.#needKeyframe = true;
    }
    this.#packets.push(rtp);
    if (!rtp.header.marker) return;
    const frame = this.#packets;
    this.#packets = [];
    let data: Buffer;
    let keyframe: boolean;
    try {
      const out = dePacketizeRtpPackets(depacketizerCodec[this.codec], frame, this.#fragment);
      this.#fragment = out.frameFragmentBuffer;
      data = out.data;
      keyframe = out.isKeyframe;
    } catch {
      // A payload the depacketizer cannot read: treated as a lost frame.
      this.framesDropped++;
      this.#needKeyframe = true;
      return;
    }
    if (this.#needKeyframe && !keyframe) {
      this.framesDropped++;
      this.track.requestKeyframe(Math.max(this.#layer, 0));
      return;
    }
    if (data.length === 0) return;
    this.#needKeyframe = false;
    if (keyframe) this.#checkResolution(data);
    this.#frame(data, keyframe, rtp.header.timestamp, rtp.header.ssrc);
  }

  /**
   * Reads a keyframe's picture size: VP8's frame header (RFC 6386 §9.1: start code 9d 01 2a, then 14-bit
   * width and height), H.264's sequence parameter set.
   */
  #checkResolution(data: Buffer): void {
    let size: { width: number; height: number } | undefined;
    if (this.codec === 'h264') size = h264PictureSize(data);
    else if (this.codec === 'vp8') size = vp8FrameSize(data);
    if (!size) return;
    const { width, height } = size;
    if (width === this.#width && height === this.#height) return;
    this.#width = width;
    this.#height = height;
    this.#options.onResolution?.(width, height);
  }

  #frame(data: Buffer, keyframe: boolean, timestamp: number, ssrc: number): void {
    const now = Date.now();
    const clockRate = this.track.clockRate;
    let pts: number;
    if (this.#firstTs < 0) {
      this.#firstTs = timestamp;
      this.#firstRtp = timestamp;
      this.#firstArrivalMs = now;
      this.#ssrc = ssrc;
      this.#lastTs = timestamp;
      pts = 0;
    } else {
      const step = tsDiff(timestamp, this.#lastTs);
      if (ssrc !== this.#ssrc || step < 0 || step > clockRate * 60) {
        // The stream started over (a new SSRC, or its clock jumped): continue from the time that passed.
        this.#ssrc = ssrc;
        const elapsed = Math.max((now - this.#lastArrival) / 1000, this.#lastDuration || 0.001);
        this.#extended += Math.round(elapsed * clockRate);
      } else this.#extended += step;
      this.#lastTs = timestamp;
      pts = this.#extended / clockRate;
    }
    if (pts <= this.#lastPts) {
      if (this.#audio) return;
      pts = this.#lastPts + 0.001;
    }
    const duration = this.#audio ? opusPacketDurationSamples(data) / 48_000 || 0.02 : 1 / 30;
    this.#lastPts = pts;
    this.#lastArrival = now;
    this.#lastDuration = duration;
    const report = this.#report;
    if (report && now - report.at < 2 * OFFSET_WINDOW_MS) {
      const offset = now - this.#captureMs(timestamp, report);
      if (offset < this.#senderOffsetMs) this.#senderOffsetMs = offset;
    }
    if (this.#pending >= MAX_PENDING_WRITES) {
      this.#fail(new Error(`the disk does not keep up with ${this.path}`));
      return;
    }
    const packet = new EncodedPacket(data, keyframe ? 'key' : 'delta', pts, duration);
    const first = this.framesWritten === 0;
    this.framesWritten++;
    this.#pending++;
    this.#queue = this.#queue
      .then(() => {
        if (!this.#fileOpen) return;
        if (this.#audio)
          return this.#audio.add(
            packet,
            first ? { decoderConfig: { codec: 'opus', numberOfChannels: 2, sampleRate: 48_000 } } : undefined,
          );
        const config = first ? this.#videoConfig() : undefined;
        return this.#video!.add(packet, config);
      })
      .then(
        () => {
          this.#pending--;
        },
        (error) => {
          this.#pending--;
          this.#fail(error);
        },
      );
  }

  #videoConfig(): Parameters<EncodedVideoPacketSource['add']>[1] {
    const codec = this.codec === 'vp8' ? 'vp8' : this.codec === 'vp9' ? 'vp09.00.10.08' : 'avc1.42e01f';
    return {
      decoderConfig: {
        codec,
        ...(this.#width !== undefined ? { codedWidth: this.#width, codedHeight: this.#height! } : {}),
      },
    };
  }
}
