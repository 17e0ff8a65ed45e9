import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ALL_FORMATS,
  Conversion,
  FilePathSource,
  FilePathTarget,
  Input,
  MkvOutputFormat,
  Output,
  WebMOutputFormat,
} from 'mediabunny';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../common/atomicWrite.js';
import type { TrackInfo } from '../protocol/messages.js';
import type { Participant } from '../room/Participant.js';
import type { Room } from '../room/Room.js';
import { type RecordingMeta, recordingDir, writeMeta } from './store.js';
import { fileExtension, recordedCodec, TrackWriter } from './TrackWriter.js';
import { TIMELINE_VERSION, type Timeline, type TimelineEvent, type TimelineTrack } from './timeline.js';

/** `timeline.json` is rewritten this often while recording, so a crash leaves one that is nearly current. */
const TIMELINE_EVERY_MS = 2000;
/** Files one recording makes at most (people who come and go publish new tracks); later tracks are skipped. */
const MAX_TRACK_FILES = 400;
/** Timeline events kept at most (joins, mutes, …); later ones are dropped. */
const MAX_EVENTS = 10_000;

/** The recording's size limit was reached: the recording stops, its files are kept. */
class SizeLimitReached extends Error {}

export interface RecordingOptions {
  room: Room;
  id: string;
  dataDir: string;
  /** A participant id or "admin". */
  startedBy: string;
  maxBytes: number;
  /** Make the movie after stopping, with this ffmpeg; undefined: no movie. */
  ffmpeg: string | undefined;
  log: Logger;
  /** The recording stopped, for any reason (the files are still being finished). */
  onStopped(meta: RecordingMeta): void;
  /** Everything is written: the files are finished and the movie made (or failed). */
  onReady(meta: RecordingMeta): void;
}

interface Recorded {
  writer: TrackWriter;
  info: TrackInfo;
  participantId: string;
  participantName: string;
  file: string;
}

export type StopReason = 'stopped' | 'room ended' | 'size limit' | 'write failed' | 'server stopping';

/**
 * One recording of a room, run where the room runs: a member nobody sees (it is not in the participant
 * list, not counted against the room's limit) that subscribes to every audio, video and screen track as
 * they come and go, and writes each to its own file (`TrackWriter`), with `timeline.json` saying where
 * each file sits in time and what happened. Stopping finishes the files and makes the movie.
 */
export class Recording {
  readonly id: string;
  readonly room: Room;
  readonly startedAt = Date.now();
  readonly dir: string;
  readonly #options: RecordingOptions;
  readonly #recorded = new Map<string, Recorded>();
  readonly #events: TimelineEvent[] = [];
  readonly #offs: (() => void)[] = [];
  #bytes = 0;
  #fileCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<RecordingMeta> | undefined;
  #meta: RecordingMeta;
  #savingTimeline: Promise<void> = Promise.resolve();

  constructor(options: RecordingOptions) {
    this.#options = options;
    this.id = options.id;
    this.room = options.room;
    this.dir = recordingDir(options.dataDir, options.id);
    this.#meta = {
      v: 1,
      id: this.id,
      room: this.room.name,
      state: 'recording',
      startedAt: new Date(this.startedAt).toISOString(),
      startedBy: options.startedBy,
      bytes: 0,
      tracks: 0,
    };
  }

  get meta(): RecordingMeta {
    return { ...this.#meta, bytes: this.#bytes, tracks: this.#recorded.size };
  }

  get stopped(): boolean {
    return this.#stopping !== undefined;
  }

  /** Makes the folder and starts writing every track the room has and will have. */
  async start(): Promise<void> {
    await mkdir(join(this.dir, 'tracks'), { recursive: true });
    await writeMeta(this.#options.dataDir, this.meta);
    const room = this.room;
    this.#offs.push(
      room.on('participantJoined', (p) => this.#event('join', p)),
      room.on('participantLeft', (p) => {
        for (const trackId of p.tracks.keys()) this.#trackEnded(p, trackId);
        this.#event('leave', p);
      }),
      room.on('trackPublished', (p, info) => this.#record(p, info)),
      room.on('trackUnpublished', (p, trackId) => this.#trackEnded(p, trackId)),
      room.on('trackMuted', (p, trackId, muted) => this.#event(muted ? 'mute' : 'unmute', p, { trackId })),
    );
    for (const p of room.participants.values()) {
      this.#event('join', p);
      for (const { info } of p.tracks.values()) this.#record(p, info);
    }
    this.#timer = setInterval(() => void this.#saveTimeline(), TIMELINE_EVERY_MS);
    this.#timer.unref();
    await this.#saveTimeline();
  }

  /**
   * Stops recording (once; later calls get the same answer): closes every file and writes the final
   * timeline, then in the background finishes each file (cues, duration) and makes the movie.
   */
  stop(reason: StopReason, error?: string): Promise<RecordingMeta> {
    this.#stopping ??= this.#stop(reason, error);
    return this.#stopping;
  }

  async #stop(reason: StopReason, error: string | undefined): Promise<RecordingMeta> {
    clearInterval(this.#timer);
    for (const off of this.#offs) off();
    const stoppedAt = Date.now();
    await Promise.all([...this.#recorded.values()].map((r) => r.writer.finish()));
    this.#meta = {
      ...this.#meta,
      state: 'processing',
      stoppedAt: new Date(stoppedAt).toISOString(),
      stopReason: reason,
      ...(error !== undefined ? { error } : {}),
      ...(this.#options.ffmpeg
        ? { movie: { state: 'pending' as const } }
        : { movie: { state: 'off' as const } }),
    };
    const timeline = this.#timeline(stoppedAt);
    await this.#savingTimeline;
    try {
      await writeFileAtomic(join(this.dir, 'timeline.json'), `${JSON.stringify(timeline, null, 2)}\n`);
      await writeMeta(this.#options.dataDir, this.meta);
    } catch (failure) {
      // A full disk: the room still hears that the recording stopped; the files hold what was written.
      this.#options.log.warn({ recording: this.id, err: failure }, 'could not write the final timeline');
    }
    this.#options.log.info(
      { room: this.room.name, recording: this.id, reason, bytes: this.#bytes, tracks: this.#recorded.size },
      'recording stopped',
    );
    const meta = this.meta;
    this.#options.onStopped(meta);
    void this.#process(timeline);
    return meta;
  }

  /** Finishes the files and makes the movie, then says the recording is ready. */
  async #process(timeline: Timeline): Promise<void> {
    const log = this.#options.log;
    for (const { file, writer } of this.#recorded.values()) {
      try {
        // A track that sent nothing while recorded (it was published as the recording stopped, or its
        // video never got a keyframe) leaves no file: the timeline does not list it either.
        if (writer.framesWritten === 0) await rm(join(this.dir, file), { force: true });
        else await finalizeTrackFile(join(this.dir, file));
      } catch (error) {
        // The append-only file stays: it plays, without an index.
        log.warn({ recording: this.id, file, err: error }, 'could not finish a track file');
      }
    }
    let movie: RecordingMeta['movie'] = { state: 'off' };
    const ffmpeg = this.#options.ffmpeg;
    if (ffmpeg) {
      const output = join(this.dir, 'movie.mp4');
      try {
        // Loaded when a movie is made: a server that never records never loads it.
        const { makeMovie } = await import('./movie.js');
        await queueMovie(() => makeMovie({ dir: this.dir, timeline, output, ffmpeg }));
        movie = { state: 'ready', bytes: (await stat(output)).size };
      } catch (error) {
        await rm(output, { force: true });
        movie = { state: 'failed', error: (error as Error).message.slice(0, 500) };
        log.warn({ recording: this.id, err: error }, 'could not make the movie');
      }
    }
    this.#meta = { ...this.#meta, state: 'ready', movie };
    try {
      await writeMeta(this.#options.dataDir, this.meta);
    } catch (error) {
      log.warn({ recording: this.id, err: error }, 'could not write the recording metadata');
    }
    this.#options.onReady(this.meta);
  }

  #record(participant: Participant, info: TrackInfo): void {
    if (this.stopped || this.#recorded.has(info.id)) return;
    const entry = participant.tracks.get(info.id);
    const codec = recordedCodec(info.codec);
    if (!entry || !codec) return;
    if (this.#fileCount >= MAX_TRACK_FILES) {
      this.#options.log.warn({ recording: this.id, track: info.id }, 'too many tracks: not recorded');
      return;
    }
    const number = String(++this.#fileCount).padStart(3, '0');
    const source = info.source.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const file = `tracks/${number}-${info.kind}-${source}.${fileExtension(codec)}`;
    const writer = new TrackWriter({
      track: entry.track,
      codec,
      path: join(this.dir, file),
      reserve: (bytes) => {
        if (this.#bytes + bytes > this.#options.maxBytes)
          throw new SizeLimitReached(
            `the recording reached its size limit (${this.#options.maxBytes} bytes)`,
          );
        this.#bytes += bytes;
      },
      onFailed: (error) => {
        const reason = error instanceof SizeLimitReached ? 'size limit' : 'write failed';
        this.#options.log.warn({ recording: this.id, file, err: error }, 'recording a track failed');
        void this.stop(reason, reason === 'write failed' ? error.message.slice(0, 300) : undefined);
      },
      onResolution: (width, height) =>
        this.#event('resolution', participant, { trackId: info.id, width, height }),
    });
    this.#recorded.set(info.id, {
      writer,
      info,
      participantId: participant.id,
      participantName: participant.name,
      file,
    });
    this.#event('trackStart', participant, { trackId: info.id });
    if (info.source === 'screen') this.#event('screenStart', participant, { trackId: info.id });
  }

  #trackEnded(participant: Participant, trackId: string): void {
    const recorded = this.#recorded.get(trackId);
    if (!recorded || this.stopped) return;
    recorded.writer.close();
    this.#event('trackEnd', participant, { trackId });
    if (recorded.info.source === 'screen') this.#event('screenStop', participant, { trackId });
  }

  #event(
    type: TimelineEvent['type'],
    participant: Participant,
    extra: Pick<TimelineEvent, 'trackId' | 'width' | 'height'> = {},
  ): void {
    if (this.#events.length >= MAX_EVENTS) return;
    this.#events.push({
      at: (Date.now() - this.startedAt) / 1000,
      type,
      participantId: participant.id,
      participantName: participant.name,
      ...extra,
    });
  }

  /** The timeline as it stands (`stoppedAt`: the final one). */
  #timeline(stoppedAt?: number): Timeline {
    // One person's tracks share their publisher's clock: the least offset of any of them is the best
    // estimate of that clock against the server's (the least transit time seen).
    const offsets = new Map<string, number>();
    for (const r of this.#recorded.values()) {
      const offset = r.writer.senderOffsetMs;
      if (offset < (offsets.get(r.participantId) ?? Number.POSITIVE_INFINITY))
        offsets.set(r.participantId, offset);
    }
    const tracks: TimelineTrack[] = [];
    for (const [id, r] of this.#recorded) {
      const offset = offsets.get(r.participantId);
      const timing =
        offset !== undefined && Number.isFinite(offset) ? r.writer.timingWithOffset(offset) : r.writer.timing;
      if (!timing) continue;
      tracks.push({
        id,
        file: r.file,
        kind: r.info.kind,
        source: r.info.source,
        codec: r.writer.codec,
        participantId: r.participantId,
        participantName: r.participantName,
        startSeconds: round((timing.firstSampleMs - this.startedAt) / 1000),
        ...(r.writer.closed || stoppedAt !== undefined
          ? { endSeconds: round((timing.endMs - this.startedAt) / 1000) }
          : {}),
        clock: timing.clock,
        ...(timing.width !== undefined ? { width: timing.width, height: timing.height } : {}),
      });
    }
    return {
      version: TIMELINE_VERSION,
      id: this.id,
      room: this.room.name,
      startedAt: new Date(this.startedAt).toISOString(),
      ...(stoppedAt !== undefined
        ? {
            stoppedAt: new Date(stoppedAt).toISOString(),
            durationSeconds: round((stoppedAt - this.startedAt) / 1000),
          }
        : {}),
      tracks,
      events: [...this.#events],
    };
  }

  #saveTimeline(): Promise<void> {
    if (this.stopped) return this.#savingTimeline;
    const timeline = this.#timeline();
    this.#savingTimeline = this.#savingTimeline
      .then(async () => {
        await writeFileAtomic(join(this.dir, 'timeline.json'), `${JSON.stringify(timeline, null, 2)}\n`);
        await writeMeta(this.#options.dataDir, this.meta);
      })
      .catch((error) => {
        this.#options.log.warn({ recording: this.id, err: error }, 'could not save the timeline');
        void this.stop('write failed', (error as Error).message.slice(0, 300));
      });
    return this.#savingTimeline;
  }
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;

/**
 * Rewrites an append-only track file as a finished one (cues, duration) by copying its packets with
 * mediabunny, no transcoding; the finished file replaces it only once it is complete.
 */
export async function finalizeTrackFile(path: string): Promise<void> {
  const temporary = `${path}.finishing`;
  const input = new Input({ source: new FilePathSource(path), formats: ALL_FORMATS });
  try {
    const format = path.endsWith('.mkv') ? new MkvOutputFormat() : new WebMOutputFormat();
    const output = new Output({ format, target: new FilePathTarget(temporary) });
    const conversion = await Conversion.init({ input, output });
    if (!conversion.isValid) throw new Error('the file has no track to copy');
    await conversion.execute();
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  } finally {
    input.dispose();
  }
}

/** Movies are made one at a time per thread: ffmpeg uses every core it is given. */
let movieQueue: Promise<unknown> = Promise.resolve();
function queueMovie<T>(make: () => Promise<T>): Promise<T> {
  const run = movieQueue.then(make, make);
  movieQueue = run.catch(() => {});
  return run;
}
