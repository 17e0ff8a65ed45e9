import { spawn } from 'node:child_process';
import { access, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Timeline, TimelineTrack } from './timeline.js';

/**
 * One MP4 of a recording, for people to watch anywhere (QuickTime, browsers, phones): H.264 (yuv420p) and
 * AAC composed by ffmpeg from the recording's per-track files as `timeline.json` places them.
 *
 * Timing: a track's file is put on the movie's clock so that its pts 0 is at the track's `startSeconds`,
 * and every later sample at `startSeconds` + its pts. ffmpeg runs with `-copyts` so that it does not
 * move a file's timestamps by the file's own start (it would: by default each input is shifted so that its
 * first timestamp is 0, and an Opus track with a codec delay starts at −7 ms). Within a file, gaps in the
 * timestamps stay gaps: silence in the audio, the last picture (or black, see mutes) in the video. Each
 * movie frame shows the latest picture at or before its time, so a picture comes up to one movie frame
 * (40 ms at 25 fps) after the sound that goes with it, never before.
 *
 * Layout (`movieLayout`): one cell per person with a camera, in a grid over the whole picture; when the
 * recording has any screen track, the screen gets the left three quarters for the whole movie (empty
 * while no screen is live) and the cameras share the right quarter. Pictures keep their aspect ratio,
 * centred in their cell on black; a cell is black while its person's camera is not live, and while the
 * camera is muted (the room's `mute`/`unmute` events for that track).
 *
 * Audio: every audio track (microphones and screen audio) on the same clock, gaps filled with silence,
 * summed without normalisation (a voice is as loud with ten people in the mix as alone; loud overlaps can
 * clip), stereo AAC 128 kb/s. A recording without audio gets a silent track, so players still show one.
 */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A person's place in the movie. */
export interface MovieCell {
  participantName: string;
  /** The sessions shown here: one, or several when the person left and joined again (see `movieLayout`). */
  participantIds: string[];
  /** The camera tracks drawn in the cell. */
  trackIds: string[];
  rect: Rect;
}

export interface MovieLayout {
  width: number;
  height: number;
  /** Where screen shares are drawn: present when the timeline has any screen track. */
  screen: Rect | undefined;
  /** In order of the first camera's start. */
  cells: MovieCell[];
}

export interface MovieOptions {
  /** The recording's folder: track files are `dir/<track.file>`. */
  dir: string;
  timeline: Timeline;
  /** The MP4 to write (replaced if it exists). It is written beside, as a hidden `.partial`, then renamed. */
  output: string;
  /** The ffmpeg to run (default `ffmpeg` on the PATH). */
  ffmpeg?: string;
  /** Picture size, even numbers (default 1280x720). */
  width?: number;
  height?: number;
  /** Frames per second (default 25). */
  fps?: number;
  /** Aborting kills ffmpeg; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface MovieResult {
  output: string;
  durationSeconds: number;
}

/** Screen shares take this part of the width when the movie has any. */
const SCREEN_SHARE = 3 / 4;
/** Cells are shaped for the usual camera picture. */
const CELL_ASPECT = 16 / 9;
const SAMPLE_RATE = 48_000;
/**
 * Audio whose timestamps run more than this ahead of its samples is padded with silence at once (a lost
 * packet, silence not sent); ffmpeg's default (0.1 s) would let the audio run up to 100 ms early.
 */
const AUDIO_GAP_SECONDS = 0.015;
/**
 * An audio file is cut into runs at gaps longer than this, each delayed to its place by `adelay`; shorter
 * gaps are filled by `aresample`, which holds a gap's silence in memory.
 */
const SPLIT_GAP_SECONDS = 1;
const MAX_PACKET_SECONDS = 0.12;
/** Longer filter graphs go to ffmpeg in a file rather than on the command line. */
const MAX_INLINE_GRAPH = 4000;
/** ffmpeg's error output kept, and how much of its end a failure reports (its last lines say most). */
const STDERR_KEPT = 4000;
/** ffmpeg's niceness (0 the server's, 19 the lowest): movies are made while calls go on. */
const MOVIE_NICENESS = 10;
const STDERR_TAIL = 600;

const even = (value: number) => Math.floor(value / 2) * 2;
/** A number for a filter graph: no exponent notation, microseconds at most. */
const num = (value: number) => String(Number(value.toFixed(6)));
const signed = (value: number) => (value < 0 ? `-${num(-value)}` : `+${num(value)}`);

function checkSize(width: number, height: number): void {
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(value) || value < 32 || value > 8192 || value % 2 !== 0) {
      throw new RangeError(`movie ${name} must be an even whole number from 32 to 8192, got ${value}`);
    }
  }
}

/**
 * Where each person's camera and the screen share go in a movie of `width` x `height`.
 *
 * Cells: camera tracks are grouped by `participantId` (one session of one person); sessions with the
 * same `participantName` that do not overlap in time (a person who left and came back, with a new id)
 * share a cell, so people keep their place. Two people of the same name in the room at once get a cell
 * each. Cells are ordered by their first camera's start and laid out in the grid of rows and columns
 * that gives 16:9 pictures the most room, the last row centred. People without a camera get no cell.
 *
 * Screen: when any screen track exists (and anyone has a camera), the screen area is the left three
 * quarters of the picture for the whole movie, and the cells share the right quarter; without cameras it
 * is the whole picture. All screen tracks are drawn there; two live at once overlap (the later on top).
 */
export function movieLayout(timeline: Timeline, width: number, height: number): MovieLayout {
  checkSize(width, height);
  const byStart = (a: TimelineTrack, b: TimelineTrack) => a.startSeconds - b.startSeconds;
  const cameras = timeline.tracks.filter((t) => t.kind === 'video' && t.source === 'camera').sort(byStart);
  const hasScreen = timeline.tracks.some((t) => t.kind === 'video' && t.source === 'screen');

  interface Session {
    id: string;
    name: string;
    start: number;
    end: number;
    trackIds: string[];
  }
  const sessions = new Map<string, Session>();
  for (const track of cameras) {
    const end = track.endSeconds ?? Number.POSITIVE_INFINITY;
    const session = sessions.get(track.participantId);
    if (session) {
      session.end = Math.max(session.end, end);
      session.trackIds.push(track.id);
    } else {
      sessions.set(track.participantId, {
        id: track.participantId,
        name: track.participantName,
        start: track.startSeconds,
        end,
        trackIds: [track.id],
      });
    }
  }
  const groups: Session[][] = [];
  for (const session of sessions.values()) {
    const group = groups.find(
      (g) => g[0]!.name === session.name && g.every((s) => s.end <= session.start || session.end <= s.start),
    );
    if (group) group.push(session);
    else groups.push([session]);
  }

  let screen: Rect | undefined;
  let area: Rect = { x: 0, y: 0, width, height };
  if (hasScreen && groups.length === 0) screen = area;
  else if (hasScreen) {
    const screenWidth = even(width * SCREEN_SHARE);
    screen = { x: 0, y: 0, width: screenWidth, height };
    area = { x: screenWidth, y: 0, width: width - screenWidth, height };
  }
  const rects = grid(area, groups.length);
  return {
    width,
    height,
    screen,
    cells: groups.map((group, i) => ({
      participantName: group[0]!.name,
      participantIds: group.map((s) => s.id),
      trackIds: group.flatMap((s) => s.trackIds),
      rect: rects[i]!,
    })),
  };
}

/** `count` cells over `area`, in the columns × rows that give a 16:9 picture the largest width. */
function grid(area: Rect, count: number): Rect[] {
  if (count === 0) return [];
  let best = { columns: 1, rows: count, width: 0, height: 0, picture: -1 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const width = even(area.width / columns);
    const height = even(area.height / rows);
    const picture = Math.min(width, height * CELL_ASPECT);
    if (picture > best.picture) best = { columns, rows, width, height, picture };
  }
  const { columns, rows, width, height } = best;
  if (width < 2 || height < 2)
    throw new RangeError(`${count} cameras do not fit in ${area.width}x${area.height}`);
  const left = area.x + even((area.width - columns * width) / 2);
  const top = area.y + even((area.height - rows * height) / 2);
  return Array.from({ length: count }, (_, i) => {
    const row = Math.floor(i / columns);
    const inRow = Math.min(columns, count - row * columns);
    const indent = even(((columns - inRow) * width) / 2);
    return { x: left + indent + (i % columns) * width, y: top + row * height, width, height };
  });
}

/** The movie's length: the recording's, else its last track's end. */
function movieDuration(timeline: Timeline): number {
  if (timeline.durationSeconds !== undefined) return timeline.durationSeconds;
  const ends = timeline.tracks.flatMap((t) => (t.endSeconds === undefined ? [] : [t.endSeconds]));
  if (ends.length === 0) {
    throw new Error('the recording has no duration and none of its tracks has an end: it was not finished');
  }
  return Math.max(...ends);
}

/** When a video track was muted, from the room's events: [from, to) on the movie's clock. */
function muteWindows(timeline: Timeline, trackId: string, duration: number): [number, number][] {
  const windows: [number, number][] = [];
  let mutedAt: number | undefined;
  const events = timeline.events.filter((e) => e.trackId === trackId).sort((a, b) => a.at - b.at);
  for (const event of events) {
    if (event.type === 'mute' && mutedAt === undefined) mutedAt = event.at;
    else if (event.type === 'unmute' && mutedAt !== undefined) {
      windows.push([mutedAt, event.at]);
      mutedAt = undefined;
    }
  }
  if (mutedAt !== undefined) windows.push([mutedAt, duration + 1]);
  return windows;
}

/** A stretch of an audio file without a long gap: file seconds from its first sample to its last one's end. */
type Run = [start: number, end: number];

/**
 * The runs of an audio file, from its packets' timestamps (ffmpeg reads them without decoding). Gaps
 * up to `SPLIT_GAP_SECONDS` stay inside a run.
 */
async function audioRuns(ffmpeg: string, path: string, signal: AbortSignal | undefined): Promise<Run[]> {
  const runs: Run[] = [];
  let timeBase = 0;
  const args = [
    '-nostdin',
    '-hide_banner',
    '-v',
    'error',
    '-copyts',
    '-i',
    path,
    '-map',
    '0:a:0',
    '-c',
    'copy',
  ];
  await runFfmpeg(ffmpeg, [...args, '-f', 'framecrc', 'pipe:1'], signal, (line) => {
    // "#tb 0: 1/1000", then per packet "stream, dts, pts, duration, size, checksum".
    const tb = /^#tb 0: (\d+)\/(\d+)/.exec(line);
    if (tb) timeBase = Number(tb[1]) / Number(tb[2]);
    if (line.startsWith('#') || !timeBase) return;
    const fields = line.split(',');
    const pts = Number(fields[2]) * timeBase;
    const duration = Number(fields[3]) * timeBase;
    // A packet of unknown duration may be as long as Opus allows.
    const end = pts + (duration > 0 ? duration : MAX_PACKET_SECONDS);
    if (!Number.isFinite(pts) || !Number.isFinite(end)) return;
    const last = runs[runs.length - 1];
    if (last && pts - last[1] <= SPLIT_GAP_SECONDS && pts >= last[0]) last[1] = Math.max(last[1], end);
    else runs.push([pts, end]);
  });
  return runs;
}

interface Plan {
  inputs: string[];
  graph: string;
}

/**
 * ffmpeg's inputs and filter graph. Shape: a black `color` source at the movie's size, rate and length,
 * with every live video track overlaid on it in turn (`setpts` to its start, `scale` to fit its cell,
 * `overlay` centred, passing the background through before its first frame and after its last). Every
 * run of every audio track (`asplit` when a track has several) is cut out (`atrim`), its short gaps
 * filled with silence (`aresample`), and delayed to its place (`adelay`, which makes its silence as it
 * goes: `aresample` would hold all of a long gap's silence in memory at once, 380 kB a second); all runs
 * and a silence as long as the movie go into `amix` (no normalisation), trimmed to the length.
 */
function plan(
  options: MovieOptions,
  layout: MovieLayout,
  duration: number,
  fps: number,
  video: TimelineTrack[],
  audio: { track: TimelineTrack; runs: Run[] }[],
): Plan {
  const { timeline } = options;
  // The runs of each audio track that fall in the movie (file seconds); `from` leaves out what would come
  // before the movie's start. Tracks with none are left out.
  const sounds = audio
    .map(({ track, runs }) => ({
      track,
      parts: runs
        .filter(([s, e]) => track.startSeconds + e > 0 && track.startSeconds + s < duration)
        .map(([s, e]) => ({ s, e, from: Math.max(s, -track.startSeconds) })),
    }))
    .filter((sound) => sound.parts.length > 0);
  const inputs: string[] = [];
  for (const track of [...video, ...sounds.map((a) => a.track)]) {
    // One decoder thread each: there may be thirty of them. No filter graph rebuild when a picture
    // changes size: that restarts every filter, the background's clock too; `scale` adapts by itself.
    inputs.push('-threads', '1');
    if (track.kind === 'video') inputs.push('-reinit_filter', '0');
    inputs.push('-i', join(options.dir, track.file));
  }

  const cellOf = new Map<string, Rect>();
  for (const cell of layout.cells) for (const id of cell.trackIds) cellOf.set(id, cell.rect);
  const chains = [
    `color=c=black:s=${layout.width}x${layout.height}:r=${fps}:d=${num(duration)},format=yuv420p[b0]`,
  ];
  video.forEach((track, i) => {
    const rect = track.source === 'screen' ? layout.screen! : cellOf.get(track.id)!;
    chains.push(
      `[${i}:v:0]setpts=PTS${signed(track.startSeconds)}/TB,` +
        `scale=w=${rect.width}:h=${rect.height}:force_original_aspect_ratio=decrease:force_divisible_by=2[v${i}]`,
    );
    const mutes = muteWindows(timeline, track.id, duration);
    const enable =
      mutes.length === 0
        ? ''
        : `:enable='not(${mutes.map(([a, b]) => `gte(t,${num(a)})*lt(t,${num(b)})`).join('+')})'`;
    chains.push(
      `[b${i}][v${i}]overlay=x=${rect.x}+(${rect.width}-overlay_w)/2:y=${rect.y}+(${rect.height}-overlay_h)/2:` +
        `eval=frame:eof_action=pass${enable}[b${i + 1}]`,
    );
  });
  chains.push(`[b${video.length}]null[vout]`);

  const mix: string[] = [];
  sounds.forEach(({ track, parts }, j) => {
    const input = `${video.length + j}:a:0`;
    if (parts.length > 1)
      chains.push(`[${input}]asplit=${parts.length}${parts.map((_, k) => `[s${j}_${k}]`).join('')}`);
    parts.forEach(({ s, e, from }, k) => {
      // Every run ends where it ends: past it, the next run's gap would reach `aresample`.
      const trim = `atrim=${from > s ? `start=${num(from)}:` : ''}end=${num(e)}`;
      const delay = Math.round((track.startSeconds + from) * SAMPLE_RATE);
      chains.push(
        `[${parts.length > 1 ? `s${j}_${k}` : input}]${trim},` +
          `asetpts=PTS${signed(-from)}/TB,` +
          `aresample=${SAMPLE_RATE}:async=1:min_hard_comp=${AUDIO_GAP_SECONDS}:first_pts=0,` +
          `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=stereo` +
          `${delay > 0 ? `,adelay=delays=${delay}S:all=1` : ''}[a${j}_${k}]`,
      );
      mix.push(`[a${j}_${k}]`);
    });
  });
  // Silence as long as the movie, mixed in: the mix lasts the whole movie however early its tracks end.
  // (Padding the mix with `apad` instead can end it early: ffmpeg 5.1 may close an output whose graph
  // waits for more while all its input files are at their end.)
  const silence = `anullsrc=r=${SAMPLE_RATE}:cl=stereo,atrim=end=${num(duration)}`;
  if (mix.length === 0) chains.push(`${silence}[aout]`);
  else {
    chains.push(
      `${silence}[silence]`,
      `[silence]${mix.join('')}amix=inputs=${mix.length + 1}:duration=longest:dropout_transition=0:normalize=0,` +
        `atrim=end=${num(duration)}[aout]`,
    );
  }
  return { inputs, graph: chains.join(';\n') };
}

/**
 * Composes the recording in `options.dir` into one MP4 at `options.output` (see the top of this file for
 * layout and timing). ffmpeg runs once per audio track to list its packets (no decoding; about 2 s for an
 * hour), then once to compose: one decoder thread per track, two for the filters and two for the encoder.
 * Rejects when a track's file is missing, when ffmpeg is not installed ("ffmpeg not found …") or fails
 * (with the end of what it printed), and with the signal's reason when aborted.
 */
export async function makeMovie(options: MovieOptions): Promise<MovieResult> {
  const { output, signal, timeline } = options;
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  const width = options.width ?? 1280;
  const height = options.height ?? 720;
  const fps = options.fps ?? 25;
  if (!(fps > 0 && fps <= 120)) throw new RangeError(`fps must be from 0 to 120, got ${fps}`);
  signal?.throwIfAborted();
  const duration = movieDuration(timeline);
  if (!(duration > 0)) throw new Error(`the recording lasts ${duration} s: there is nothing to show`);
  const layout = movieLayout(timeline, width, height);
  const shown = new Set(layout.cells.flatMap((c) => c.trackIds));
  const live = (t: TimelineTrack) => t.startSeconds < duration && (t.endSeconds ?? duration) > 0;
  const video = timeline.tracks
    .filter((t) => t.kind === 'video' && live(t) && (shown.has(t.id) || t.source === 'screen'))
    .sort((a, b) => a.startSeconds - b.startSeconds);
  const audioTracks = timeline.tracks.filter((t) => t.kind === 'audio' && live(t));
  await Promise.all(
    [...video, ...audioTracks].map(async (track) => {
      try {
        await access(join(options.dir, track.file));
      } catch {
        throw new Error(`the file of track ${track.id} (${track.file}) is missing from ${options.dir}`);
      }
    }),
  );
  const audio: { track: TimelineTrack; runs: Run[] }[] = [];
  for (const track of audioTracks) {
    audio.push({ track, runs: await audioRuns(ffmpeg, join(options.dir, track.file), signal) });
  }
  const { inputs, graph } = plan(options, layout, duration, fps, video, audio);

  const partial = join(dirname(output), `.${basename(output)}.partial`);
  let work: string | undefined;
  try {
    let graphArgs = ['-filter_complex', graph];
    if (graph.length > MAX_INLINE_GRAPH) {
      work = await mkdtemp(join(tmpdir(), 'port545-movie-'));
      await writeFile(join(work, 'graph.txt'), graph);
      graphArgs = ['-filter_complex_script', join(work, 'graph.txt')];
    }
    await runFfmpeg(
      ffmpeg,
      [
        ...['-nostdin', '-hide_banner', '-v', 'error', '-copyts', ...inputs, ...graphArgs],
        ...['-filter_complex_threads', '2', '-map', '[vout]', '-map', '[aout]'],
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p'],
        ...['-c:a', 'aac', '-b:a', '128k', '-threads', '2', '-max_muxing_queue_size', '4096'],
        ...['-movflags', '+faststart', '-map_metadata', '-1', '-f', 'mp4', '-y', partial],
      ],
      signal,
    );
    await rename(partial, output);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
  return { output, durationSeconds: duration };
}

/** The last whole lines of `text` that fit in `STDERR_TAIL` characters (or its last characters). */
function tail(text: string): string {
  const lines = text.trim().split('\n');
  let out = lines.pop() ?? '';
  while (lines.length > 0 && out.length + lines[lines.length - 1]!.length < STDERR_TAIL)
    out = `${lines.pop()}\n${out}`;
  return out.length > STDERR_TAIL ? `…${out.slice(-STDERR_TAIL)}` : out;
}

/** Runs ffmpeg to its end; `onLine` gets what it prints on stdout, line by line. */
function runFfmpeg(
  ffmpeg: string,
  args: string[],
  signal: AbortSignal | undefined,
  onLine?: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(ffmpeg, args, { stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'] });
    // Below the calls going on (the media threads) in the scheduler's eyes: a movie can wait, a call cannot.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, MOVIE_NICENESS);
      } catch {
        // Not allowed (a container without it): the movie runs at the server's priority.
      }
    }
    if (onLine && child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        error.code === 'ENOENT'
          ? new Error(`ffmpeg not found (looked for "${ffmpeg}"): install ffmpeg or configure its path`)
          : new Error(`cannot run ffmpeg: ${error.message}`),
      );
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve();
      else {
        const how = killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`;
        const file = args[args.indexOf('-i') + 1];
        const what = onLine ? `reading ${file}` : 'making the movie';
        reject(new Error(`ffmpeg ${how} ${what}: ${tail(stderr) || '(no output)'}`));
      }
    });
  });
}
