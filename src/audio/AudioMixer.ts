import { performance } from 'node:perf_hooks';
import type { RtpPacket } from 'werift';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { PublishedTrack, RtpSink } from '../sfu/index.js';
import { OpusDecoder, type OpusRate } from './opusCodec.js';

/** Mixed frames are 20 ms, the usual packet time of both G.711 (RFC 3551 §4.5) and Opus. */
export const FRAME_MS = 20;
/** An input starts playing once this much is buffered, which absorbs the jitter of its packets. */
const START_FRAMES = 2;
/** Buffered audio beyond this is dropped (oldest first), so a burst never becomes lasting delay. */
const MAX_BUFFER_FRAMES = 10;
/** A timer callback later than this is caught up by skipping, not by a burst of frames. */
const MAX_CATCH_UP_FRAMES = 5;

export interface AudioMixerEvents {
  /** One mixed frame of FRAME_MS mono 16-bit samples at the mixer's rate. */
  frame: [Int16Array];
}

/** One Opus track being mixed: decodes its packets into a small sample queue. */
class MixerInput implements RtpSink {
  readonly track: PublishedTrack;
  #decoder: OpusDecoder;
  #chunks: Int16Array[] = [];
  #buffered = 0;
  #playing = false;
  readonly #frameSamples: number;
  readonly #onClose: () => void;

  constructor(track: PublishedTrack, rate: OpusRate, frameSamples: number, onClose: () => void) {
    this.track = track;
    this.#decoder = new OpusDecoder(rate);
    this.#frameSamples = frameSamples;
    this.#onClose = onClose;
    track.addSink(this);
  }

  write(rtp: RtpPacket): void {
    const pcm = this.#decoder.decode(rtp.payload);
    if (!pcm) return;
    this.#chunks.push(pcm);
    this.#buffered += pcm.length;
    const max = this.#frameSamples * MAX_BUFFER_FRAMES;
    while (this.#buffered - this.#chunks[0]!.length >= max) this.#buffered -= this.#chunks.shift()!.length;
  }

  /** Adds the next frame of this input into `mix` (32-bit sums); nothing while it is (re)buffering. */
  addTo(mix: Int32Array): void {
    if (!this.#playing) {
      if (this.#buffered < this.#frameSamples * START_FRAMES) return;
      this.#playing = true;
    }
    let i = 0;
    while (i < mix.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length, mix.length - i);
      for (let k = 0; k < n; k++) mix[i + k]! += chunk[k];
      i += n;
      this.#buffered -= n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    // Ran dry: the packets stopped or came late; buffer again before playing on.
    if (i < mix.length) this.#playing = false;
  }

  /** The track ended (PublishedTrack closes its sinks). */
  close(): void {
    this.dispose();
    this.#onClose();
  }

  dispose(): void {
    this.track.removeSink(this);
    this.#decoder.close();
    this.#chunks = [];
    this.#buffered = 0;
  }
}

/**
 * Mixes Opus tracks of a room into one mono stream of FRAME_MS frames at `sampleRate`, on its own clock:
 * frames come out every 20 ms while it runs, silent when nobody talks, so a phone gets a steady stream.
 * Each input is decoded straight to the mixer's rate (libopus resamples). Used for a SIP caller (the room
 * minus the caller) and a WHEP player (the whole room).
 */
export class AudioMixer extends TypedEmitter<AudioMixerEvents> {
  readonly sampleRate: OpusRate;
  readonly frameSamples: number;
  closed = false;
  framesMixed = 0;
  readonly #inputs = new Map<string, MixerInput>();
  #timer: NodeJS.Timeout | undefined;
  #nextAt = 0;

  constructor(sampleRate: OpusRate) {
    super();
    this.sampleRate = sampleRate;
    this.frameSamples = (sampleRate * FRAME_MS) / 1000;
  }

  /** Mixes `track` in from now on; ignores tracks that are not Opus audio. */
  add(track: PublishedTrack): void {
    if (this.closed || this.#inputs.has(track.id) || track.closed) return;
    if (track.kind !== 'audio' || track.mimeType.toLowerCase() !== 'audio/opus') return;
    this.#inputs.set(
      track.id,
      new MixerInput(track, this.sampleRate, this.frameSamples, () => this.#inputs.delete(track.id)),
    );
  }

  remove(trackId: string): void {
    this.#inputs.get(trackId)?.dispose();
    this.#inputs.delete(trackId);
  }

  start(): void {
    if (this.closed || this.#timer) return;
    this.#nextAt = performance.now();
    this.#tick();
  }

  #tick(): void {
    const now = performance.now();
    if (now - this.#nextAt > MAX_CATCH_UP_FRAMES * FRAME_MS) this.#nextAt = now;
    while (this.#nextAt <= now && !this.closed) {
      this.#nextAt += FRAME_MS;
      this.emit('frame', this.#mixFrame());
    }
    if (this.closed) return;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, this.#nextAt - performance.now()));
  }

  #mixFrame(): Int16Array {
    const sum = new Int32Array(this.frameSamples);
    for (const input of this.#inputs.values()) input.addTo(sum);
    const out = new Int16Array(this.frameSamples);
    for (let i = 0; i < sum.length; i++) {
      const s = sum[i]!;
      out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
    }
    this.framesMixed++;
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const input of this.#inputs.values()) input.dispose();
    this.#inputs.clear();
    this.removeAllListeners();
  }
}
