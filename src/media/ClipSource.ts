import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { RtpHeader, RtpPacket } from 'werift';
import { readIvf } from './ivf.js';
import { readOggOpus } from './ogg.js';
import { opusPacketDurationSamples } from './opus.js';
import { isVp8Keyframe, packetizeVp8 } from './vp8.js';

// src/media/ and dist/media/ are both two levels below the repository root.
export const DEFAULT_VIDEO_CLIP_PATH = fileURLToPath(new URL('../../fixtures/clip.ivf', import.meta.url));
export const DEFAULT_AUDIO_CLIP_PATH = fileURLToPath(new URL('../../fixtures/clip.opus', import.meta.url));

export const CLIP_VIDEO_PAYLOAD_TYPE = 96;
export const CLIP_AUDIO_PAYLOAD_TYPE = 111;
const VIDEO_CLOCK_RATE = 90_000;
const AUDIO_CLOCK_RATE = 48_000;
// When the event loop stalls longer than this, the schedule is shifted instead of bursting all late media.
const MAX_LAG_MS = 500;

export interface ClipSourceOptions {
  /** Send video (default true). */
  video?: boolean;
  /** Send audio (default true). */
  audio?: boolean;
  videoPath?: string;
  audioPath?: string;
  /** Largest RTP payload for video packets, descriptor included (default 1200). */
  maxPayloadSize?: number;
  /**
   * The first video RTP sequence number (default random, as RFC 3550 §5.1 asks). Tests set it just below
   * 65535 so that the numbers wrap while they watch.
   */
  firstVideoSequenceNumber?: number;
}

export type RtpListener = (packet: RtpPacket) => void;

/** A looped media clip: units (frames or packets) with their offsets from the loop start. */
interface Clip {
  units: Buffer[];
  /** RTP clock ticks from the loop start. */
  ticks: number[];
  /** Milliseconds from the loop start. */
  ms: number[];
  loopTicks: number;
  loopMs: number;
  /** Indexes of the keyframes (video). */
  keyframes: number[];
}

interface Track {
  clip: Clip;
  /** Index of the next unit to send, counted across loops. */
  next: number;
  /** Wall-clock time (performance.now) at which unit 0 of loop 0 is due. */
  originMs: number;
  timestampBase: number;
  timer: NodeJS.Timeout | undefined;
  send: (unit: Buffer, timestamp: number) => void;
}

const videoClips = new Map<string, Clip>();
const audioClips = new Map<string, Clip>();

function loadVideoClip(path: string): Clip {
  const key = resolve(path);
  const cached = videoClips.get(key);
  if (cached) return cached;
  let ivf: ReturnType<typeof readIvf>;
  try {
    ivf = readIvf(readFileSync(key));
  } catch (error) {
    throw new Error(`cannot load video clip ${key}: ${(error as Error).message}`, { cause: error });
  }
  const { frames, timebaseNum, timebaseDen } = ivf;
  if (ivf.fourcc !== 'VP80') throw new Error(`video clip ${key} is ${ivf.fourcc}, expected VP80`);
  if (frames.length === 0) throw new Error(`video clip ${key} has no frames`);
  if (!isVp8Keyframe(frames[0]!.data)) throw new Error(`video clip ${key} does not start with a keyframe`);
  const firstPts = frames[0]!.pts;
  const lastPts = frames[frames.length - 1]!.pts;
  const frameDuration = frames.length > 1 ? (lastPts - firstPts) / (frames.length - 1) : 1;
  const secondsPerPts = timebaseNum / timebaseDen;
  const clip: Clip = {
    units: frames.map((f) => f.data),
    ticks: frames.map((f) => Math.round((f.pts - firstPts) * secondsPerPts * VIDEO_CLOCK_RATE)),
    ms: frames.map((f) => (f.pts - firstPts) * secondsPerPts * 1000),
    loopTicks: Math.round((lastPts - firstPts + frameDuration) * secondsPerPts * VIDEO_CLOCK_RATE),
    loopMs: (lastPts - firstPts + frameDuration) * secondsPerPts * 1000,
    keyframes: frames.flatMap((f, i) => (isVp8Keyframe(f.data) ? [i] : [])),
  };
  videoClips.set(key, clip);
  return clip;
}

function loadAudioClip(path: string): Clip {
  const key = resolve(path);
  const cached = audioClips.get(key);
  if (cached) return cached;
  let packets: Buffer[];
  try {
    packets = readOggOpus(readFileSync(key)).packets;
  } catch (error) {
    throw new Error(`cannot load audio clip ${key}: ${(error as Error).message}`, { cause: error });
  }
  if (packets.length === 0) throw new Error(`audio clip ${key} has no audio packets`);
  const ticks: number[] = [];
  const ms: number[] = [];
  let offset = 0;
  for (const packet of packets) {
    ticks.push(offset);
    ms.push((offset * 1000) / AUDIO_CLOCK_RATE);
    offset += opusPacketDurationSamples(packet);
  }
  const clip: Clip = {
    units: packets,
    ticks,
    ms,
    loopTicks: offset,
    loopMs: (offset * 1000) / AUDIO_CLOCK_RATE,
    keyframes: [],
  };
  audioClips.set(key, clip);
  return clip;
}

/**
 * Plays the VP8 and Opus fixtures in a loop in real time as RTP packets: video PT 96 (90 kHz), audio PT 111
 * (48 kHz). Sequence numbers and timestamps start at random values and keep increasing across loops and
 * restarts. Parsed clips are cached per path and shared between instances; audio payloads are shared
 * buffers and must not be modified.
 */
export class ClipSource {
  readonly videoSsrc = randomInt(1, 2 ** 32);
  readonly audioSsrc = randomInt(1, 2 ** 32);
  videoFramesSent = 0;
  videoPacketsSent = 0;
  audioPacketsSent = 0;
  /** Called when a listener throws; defaults to printing the error to stderr. */
  onListenerError: (error: unknown) => void = (error) => {
    console.error('ClipSource listener threw:', error);
  };

  #video: Track | undefined;
  #audio: Track | undefined;
  #videoListeners: RtpListener[] = [];
  #audioListeners: RtpListener[] = [];
  #maxPayloadSize: number;
  #videoSeq = randomInt(0, 0x10000);
  #audioSeq = randomInt(0, 0x10000);
  #pictureId = randomInt(0, 0x8000);
  #audioMarker = true;
  #running = false;
  // Bumped by start() and stop() so a timer callback from an earlier run never reschedules itself.
  #generation = 0;

  constructor(options: ClipSourceOptions = {}) {
    this.#maxPayloadSize = options.maxPayloadSize ?? 1200;
    if (options.firstVideoSequenceNumber !== undefined)
      this.#videoSeq = options.firstVideoSequenceNumber & 0xffff;
    if (options.video ?? true) {
      this.#video = this.#track(loadVideoClip(options.videoPath ?? DEFAULT_VIDEO_CLIP_PATH), (unit, ts) =>
        this.#sendVideo(unit, ts),
      );
    }
    if (options.audio ?? true) {
      this.#audio = this.#track(loadAudioClip(options.audioPath ?? DEFAULT_AUDIO_CLIP_PATH), (unit, ts) =>
        this.#sendAudio(unit, ts),
      );
    }
  }

  get running(): boolean {
    return this.#running;
  }

  /** Subscribes to video RTP packets; returns a function that unsubscribes. */
  onVideoRtp(listener: RtpListener): () => void {
    this.#videoListeners = [...this.#videoListeners, listener];
    return () => {
      this.#videoListeners = this.#videoListeners.filter((l) => l !== listener);
    };
  }

  /** Subscribes to audio RTP packets; returns a function that unsubscribes. */
  onAudioRtp(listener: RtpListener): () => void {
    this.#audioListeners = [...this.#audioListeners, listener];
    return () => {
      this.#audioListeners = this.#audioListeners.filter((l) => l !== listener);
    };
  }

  /** Starts (or resumes) playback; the first frame and packet are sent synchronously. No-op when running. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#audioMarker = true;
    const generation = ++this.#generation;
    const now = performance.now();
    for (const track of [this.#video, this.#audio]) {
      if (!track) continue;
      // Resume where the last run stopped: the next unit is due now.
      track.originMs = now - this.#offsetMs(track, track.next);
      this.#tick(track, generation);
    }
  }

  /**
   * Answers a keyframe request (PLI/FIR) the way an encoder would: playback skips ahead to the clip's next
   * keyframe, which is sent at once. Timestamps jump forward by the skipped time and never go back.
   */
  requestKeyframe(): void {
    const track = this.#video;
    if (!track || !this.#running) return;
    const { clip } = track;
    const n = clip.units.length;
    const i = track.next % n;
    if (clip.keyframes.includes(i)) return;
    const nextKey = clip.keyframes.find((k) => k > i);
    const target = track.next - i + (nextKey ?? n);
    // Shift the schedule so that the keyframe is due now rather than at its place in the clip.
    track.originMs -= this.#offsetMs(track, target) - this.#offsetMs(track, track.next);
    track.next = target;
    if (track.timer) clearTimeout(track.timer);
    this.#tick(track, this.#generation);
  }

  /** Stops playback and clears the timers. Idempotent. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#generation++;
    for (const track of [this.#video, this.#audio]) {
      if (track?.timer) {
        clearTimeout(track.timer);
        track.timer = undefined;
      }
    }
  }

  #track(clip: Clip, send: Track['send']): Track {
    return { clip, next: 0, originMs: 0, timestampBase: randomInt(0, 2 ** 32), timer: undefined, send };
  }

  #offsetMs(track: Track, index: number): number {
    const { clip } = track;
    const n = clip.units.length;
    return Math.floor(index / n) * clip.loopMs + clip.ms[index % n]!;
  }

  #tick(track: Track, generation: number): void {
    track.timer = undefined;
    const { clip } = track;
    const n = clip.units.length;
    const now = performance.now();
    let due = track.originMs + this.#offsetMs(track, track.next);
    if (now - due > MAX_LAG_MS) {
      // Audio and video shift together, as a paused player's would: shifted apart, the picture and the
      // sound of the clip would stay apart for the rest of the run (the recording test's markers see it).
      const lag = now - due;
      for (const t of [this.#video, this.#audio]) if (t) t.originMs += lag;
      due = now;
    }
    // Send everything that is due, so a busy event loop delays frames but does not lose them.
    while (due <= now && generation === this.#generation) {
      const loop = Math.floor(track.next / n);
      const i = track.next % n;
      track.next++;
      track.send(clip.units[i]!, (track.timestampBase + loop * clip.loopTicks + clip.ticks[i]!) % 2 ** 32);
      due = track.originMs + this.#offsetMs(track, track.next);
    }
    if (generation !== this.#generation) return;
    track.timer = setTimeout(
      () => this.#tick(track, generation),
      Math.max(0, Math.ceil(due - performance.now())),
    );
  }

  #sendVideo(frame: Buffer, timestamp: number): void {
    const payloads = packetizeVp8(frame, this.#pictureId, this.#maxPayloadSize);
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    this.videoFramesSent++;
    const last = payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const header = new RtpHeader({
        payloadType: CLIP_VIDEO_PAYLOAD_TYPE,
        sequenceNumber: this.#videoSeq,
        timestamp,
        ssrc: this.videoSsrc,
        marker: i === last,
      });
      this.#videoSeq = (this.#videoSeq + 1) & 0xffff;
      this.videoPacketsSent++;
      this.#emit(this.#videoListeners, new RtpPacket(header, payloads[i]!));
    }
  }

  #sendAudio(packet: Buffer, timestamp: number): void {
    const header = new RtpHeader({
      payloadType: CLIP_AUDIO_PAYLOAD_TYPE,
      sequenceNumber: this.#audioSeq,
      timestamp,
      ssrc: this.audioSsrc,
      // RFC 3551 §4.1: the marker bit flags the first packet of a talkspurt.
      marker: this.#audioMarker,
    });
    this.#audioMarker = false;
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    this.audioPacketsSent++;
    this.#emit(this.#audioListeners, new RtpPacket(header, packet));
  }

  #emit(listeners: RtpListener[], packet: RtpPacket): void {
    for (const listener of listeners) {
      try {
        listener(packet);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
