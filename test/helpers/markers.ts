import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readIvf } from '../../src/media/ivf.js';
import { readOggOpus } from '../../src/media/ogg.js';
import { opusPacketDurationSamples } from '../../src/media/opus.js';
import { isVp8Keyframe } from '../../src/media/vp8.js';
import { runMediaTool } from './ffmpeg.js';

/**
 * Sync markers: a clip whose picture flashes white and whose sound beeps at the same moments, and a
 * measurement of where those flashes and beeps land in a composed movie. A movie keeps a person's audio
 * and video in sync when every beep comes with its flash.
 */

const CLIP_FPS = 30;
const SAMPLE_RATE = 48_000;
/** The first 100 ms of every second: 3 frames at 30 fps, 4800 samples at 48 kHz. */
const MARK_FRAMES = 3;
const MARK_SAMPLES = 4800;
/** libopus's encoder delay at 48 kHz (its lookahead, the Ogg pre-skip): it adds this to the packets. */
const OPUS_LOOKAHEAD_SAMPLES = 312;
/** Luma of the clip's dark grey background. */
const DARK = 0x40;

export interface MarkerClip {
  videoPath: string;
  audioPath: string;
}

export interface MarkerClipOptions {
  /** The beep's frequency. */
  toneHz: number;
  /** Whole seconds (default 4). */
  seconds?: number;
  /** Picture size (default 320x180). */
  width?: number;
  height?: number;
  /**
   * Frames from one keyframe to the next (default 30). With 1 every frame is a keyframe, so a bot answers
   * a keyframe request as a camera does, at once and without skipping ahead in its clip (`ClipSource`
   * jumps to the clip's next keyframe, moving its picture against its sound).
   */
  keyframeInterval?: number;
}

const ffmpeg = async (args: string[]) =>
  (await runMediaTool('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', ...args])).stdout;

/**
 * Writes `marker-<toneHz>.ivf` and `marker-<toneHz>.opus` into `dir`: a VP8 picture, dark grey but white
 * for the first 100 ms of every second, and an Opus sound, silent but a `toneHz` sine for the first
 * 100 ms of every second. Both come from ffmpeg's lavfi sources and are encoded as
 * scripts/make-fixtures.sh encodes the fixtures, so `ClipSource` can loop them: the video has
 * seconds × 30 frames, all shown, keyframes exactly at every 30th; the audio has exactly seconds × 50
 * packets of 20 ms. For that, the audio source is 312 samples (libopus's lookahead) short of the full
 * length, at its end, where it is silent: decoded with its pre-skip the beeps sit exactly on the flashes;
 * played back to back as RTP packets (no pre-skip) they come 6.5 ms after them.
 */
export async function makeMarkerClip(dir: string, options: MarkerClipOptions): Promise<MarkerClip> {
  const seconds = options.seconds ?? 4;
  const width = options.width ?? 320;
  const height = options.height ?? 180;
  const { toneHz } = options;
  if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError(`seconds must be a whole number ≥ 1`);
  if (!(toneHz > 0 && toneHz < SAMPLE_RATE / 2)) throw new RangeError(`toneHz ${toneHz} is out of range`);
  await mkdir(dir, { recursive: true });
  const videoPath = join(dir, `marker-${toneHz}.ivf`);
  const audioPath = join(dir, `marker-${toneHz}.opus`);
  const grey = DARK.toString(16).padStart(2, '0').repeat(3);
  const frames = seconds * CLIP_FPS;
  const gop = options.keyframeInterval ?? CLIP_FPS;
  await ffmpeg([
    '-y',
    '-f',
    'lavfi',
    '-i',
    // Frame numbers, not times, pick the white frames: 0.1 s is not exact in floating point.
    `color=c=0x${grey}:s=${width}x${height}:r=${CLIP_FPS}:d=${seconds},` +
      `drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(n\\,${CLIP_FPS})\\,${MARK_FRAMES})'`,
    '-frames:v',
    String(frames),
    ...['-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-threads', '1'],
    ...['-deadline', 'realtime', '-cpu-used', '8', '-error-resilient', '1', '-lag-in-frames', '0'],
    ...['-auto-alt-ref', '0', '-b:v', '800k', '-minrate', '800k', '-maxrate', '800k', '-bufsize', '400k'],
    ...['-g', String(gop), '-keyint_min', String(gop), '-force_key_frames', `expr:eq(mod(n,${gop}),0)`],
    ...['-fflags', '+bitexact', '-flags:v', '+bitexact', '-map_metadata', '-1', '-f', 'ivf', videoPath],
  ]);
  const samples = seconds * SAMPLE_RATE - OPUS_LOOKAHEAD_SAMPLES;
  await ffmpeg([
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc='if(lt(mod(n\\,${SAMPLE_RATE})\\,${MARK_SAMPLES})\\,0.5*sin(2*PI*${toneHz}*n/${SAMPLE_RATE})\\,0)'` +
      `:s=${SAMPLE_RATE}:c=mono:d=${seconds + 1},atrim=end_sample=${samples}`,
    ...['-c:a', 'libopus', '-b:a', '48k', '-frame_duration', '20', '-application', 'audio', '-vbr', 'on'],
    ...['-fflags', '+bitexact', '-flags:a', '+bitexact', '-map_metadata', '-1', '-f', 'ogg', audioPath],
  ]);

  const ivf = readIvf(await readFile(videoPath));
  if (ivf.frames.length !== frames)
    throw new Error(`${videoPath}: ${ivf.frames.length} frames, expected ${frames}`);
  ivf.frames.forEach((frame, i) => {
    if (isVp8Keyframe(frame.data) !== (i % gop === 0)) {
      throw new Error(`${videoPath}: frame ${i} is ${isVp8Keyframe(frame.data) ? '' : 'not '}a keyframe`);
    }
  });
  const { packets } = readOggOpus(await readFile(audioPath));
  const total = packets.reduce((sum, packet) => sum + opusPacketDurationSamples(packet), 0);
  if (total !== seconds * SAMPLE_RATE || packets.length !== seconds * 50) {
    throw new Error(
      `${audioPath}: ${packets.length} packets of ${total} samples, expected ${seconds} s in 20 ms`,
    );
  }
  return { videoPath, audioPath };
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface MarkerCell {
  name: string;
  /** Where the person's picture is in the movie (pixels of the movie's frame). */
  rect: Rect;
  /** The person's beep. */
  toneHz: number;
}

export interface MarkerMeasurement {
  name: string;
  /** Seconds on the movie's clock at which the cell turned white. */
  flashes: number[];
  /** Seconds at which the person's tone started. */
  beeps: number[];
  /** beep − flash, seconds, for each flash that has a beep within the pairing window. */
  offsets: number[];
}

export interface MeasureOptions {
  /** The movie is scaled down to this width before its frames are read (default 320). */
  maxWidth?: number;
  /** A beep farther than this from a flash is not its beep (default 0.5 s). */
  pairWindowSeconds?: number;
}

/** Audio analysis window: 10 ms. */
const WINDOW = SAMPLE_RATE / 100;
/** After an onset, another within this is the same mark (its energy dipped and came back). */
const REFRACTORY_SECONDS = 0.3;

const even = (value: number) => Math.max(2, Math.round(value / 2) * 2);

/**
 * Finds the flashes of each cell's picture and the beeps of each cell's tone in a movie, and pairs them.
 * The movie is decoded twice by ffmpeg with its timestamps kept (`-copyts`): to small gray frames, whose
 * times are the video packets' presentation times (ffprobe), and to mono 48 kHz float samples aligned so
 * that sample 0 is at time 0. A flash is a frame whose mean luma in the cell crosses halfway from the
 * cell's usual level to its brightest; a beep is a 10 ms window where the tone's Goertzel amplitude
 * crosses half its loudest and the tone carries at least a third of the window's power (so other
 * people's tones and noise do not count). Video times are frame-accurate (40 ms at 25 fps), audio ones
 * within about 5 ms.
 */
export async function measureMarkers(
  moviePath: string,
  cells: MarkerCell[],
  options: MeasureOptions = {},
): Promise<MarkerMeasurement[]> {
  const maxWidth = options.maxWidth ?? 320;
  const pairWindow = options.pairWindowSeconds ?? 0.5;
  const probe = JSON.parse(
    (
      await runMediaTool('ffprobe', [
        ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:packet=pts_time'],
        ...['-of', 'json', moviePath],
      ])
    ).stdout.toString('utf8'),
  ) as { streams?: { width?: number; height?: number }[]; packets?: { pts_time?: string }[] };
  const width = probe.streams?.[0]?.width;
  const height = probe.streams?.[0]?.height;
  if (!width || !height) throw new Error(`${moviePath} has no video stream`);
  const times = (probe.packets ?? []).map((p) => Number(p.pts_time)).sort((a, b) => a - b);
  const scale = Math.min(1, maxWidth / width);
  const w = even(width * scale);
  const h = even(height * scale);

  const [gray, pcm] = await Promise.all([
    ffmpeg([
      ...['-copyts', '-i', moviePath, '-map', '0:v:0', '-vf', `scale=${w}:${h}:flags=area`],
      ...['-fps_mode', 'passthrough', '-pix_fmt', 'gray', '-f', 'rawvideo', 'pipe:1'],
    ]),
    ffmpeg([
      ...['-copyts', '-i', moviePath, '-map', '0:a:0', '-af', `aresample=${SAMPLE_RATE}:async=1:first_pts=0`],
      ...['-ac', '1', '-f', 'f32le', 'pipe:1'],
    ]),
  ]);
  const frameSize = w * h;
  const frameCount = gray.length / frameSize;
  if (frameCount !== times.length) {
    throw new Error(`${moviePath}: decoded ${frameCount} frames, but it has ${times.length} video packets`);
  }
  const samples = new Float32Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 4));

  return cells.map((cell) => {
    const flashes = findFlashes(gray, frameSize, w, scaleRect(cell.rect, w / width, h / height), times);
    const beeps = findBeeps(samples, cell.toneHz);
    const offsets: number[] = [];
    for (const flash of flashes) {
      let best: number | undefined;
      for (const beep of beeps) {
        if (
          Math.abs(beep - flash) <= pairWindow &&
          (best === undefined || Math.abs(beep - flash) < Math.abs(best - flash))
        )
          best = beep;
      }
      if (best !== undefined) offsets.push(best - flash);
    }
    return { name: cell.name, flashes, beeps, offsets };
  });
}

/** A rectangle in the scaled-down frame, one pixel inside so that scaling's blur at its edges is left out. */
function scaleRect(rect: Rect, sx: number, sy: number): Rect {
  const x = Math.ceil(rect.x * sx) + 1;
  const y = Math.ceil(rect.y * sy) + 1;
  const right = Math.floor((rect.x + rect.width) * sx) - 1;
  const bottom = Math.floor((rect.y + rect.height) * sy) - 1;
  if (right <= x || bottom <= y) throw new RangeError(`cell ${JSON.stringify(rect)} is too small to measure`);
  return { x, y, width: right - x, height: bottom - y };
}

function findFlashes(gray: Buffer, frameSize: number, stride: number, rect: Rect, times: number[]): number[] {
  const means = times.map((_, f) => {
    let sum = 0;
    for (let y = rect.y; y < rect.y + rect.height; y++) {
      const row = f * frameSize + y * stride;
      for (let x = rect.x; x < rect.x + rect.width; x++) sum += gray[row + x]!;
    }
    return sum / (rect.width * rect.height);
  });
  const sorted = [...means].sort((a, b) => a - b);
  const usual = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const brightest = sorted[sorted.length - 1] ?? 0;
  // Less than this is not a flash but noise, or a picture that changed.
  if (brightest - usual < 40) return [];
  const threshold = (usual + brightest) / 2;
  const flashes: number[] = [];
  for (let f = 1; f < means.length; f++) {
    if (means[f]! >= threshold && means[f - 1]! < threshold) flashes.push(times[f]!);
  }
  return flashes;
}

function findBeeps(samples: Float32Array, toneHz: number): number[] {
  const coefficient = 2 * Math.cos((2 * Math.PI * toneHz) / SAMPLE_RATE);
  const windows = Math.floor(samples.length / WINDOW);
  const amplitude = new Float64Array(windows);
  const share = new Float64Array(windows);
  for (let w = 0; w < windows; w++) {
    let s1 = 0;
    let s2 = 0;
    let power = 0;
    for (let i = w * WINDOW; i < (w + 1) * WINDOW; i++) {
      const x = samples[i]!;
      power += x * x;
      const s0 = x + coefficient * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const tonePower = Math.max(0, s1 * s1 + s2 * s2 - coefficient * s1 * s2);
    // A sine of amplitude A over the whole window gives tonePower (A·N/2)² and mean power A²/2.
    amplitude[w] = (2 * Math.sqrt(tonePower)) / WINDOW;
    share[w] = power > 0 ? amplitude[w]! ** 2 / 2 / (power / WINDOW) : 0;
  }
  const loudest = amplitude.reduce((max, a) => Math.max(max, a), 0);
  if (loudest < 0.01) return [];
  const on = (w: number) => amplitude[w]! >= loudest / 2 && share[w]! >= 1 / 3;
  const beeps: number[] = [];
  for (let w = 1; w < windows; w++) {
    const t = (w * WINDOW) / SAMPLE_RATE;
    if (on(w) && !on(w - 1) && !(beeps.length > 0 && t - beeps[beeps.length - 1]! < REFRACTORY_SECONDS)) {
      beeps.push(t);
    }
  }
  return beeps;
}
