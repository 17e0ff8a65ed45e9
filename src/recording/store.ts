import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../common/atomicWrite.js';

/**
 * Where recordings live: `<dataDir>/recordings/<id>/`, one folder each, holding `recording.json` (what
 * the admin API lists), `timeline.json`, `tracks/` (a file per recorded track) and `movie.mp4` once made.
 * The folder name is the recording's id: 128 random bits, so a recording cannot be found by guessing, and
 * an id is checked against `RECORDING_ID` before it names anything on disk (no path tricks).
 */
export const RECORDING_ID = /^RE_[A-Za-z0-9_-]{22}$/;

export const newRecordingId = () => `RE_${randomBytes(16).toString('base64url')}`;

/** The folder of a recording that holds its whiteboard exports (PNG, SVG, PDF), and their names. */
export const BOARD_EXPORTS = 'board';
export const BOARD_EXPORT_NAME = /^board-[0-9TZ-]+-[0-9]{3}\.(png|svg|pdf)$/;

export const recordingsDir = (dataDir: string) => join(dataDir, 'recordings');

/** The folder of recording `id`; throws for anything that is not an id. */
export function recordingDir(dataDir: string, id: string): string {
  if (!RECORDING_ID.test(id)) throw new Error(`not a recording id: ${id.slice(0, 40)}`);
  return join(recordingsDir(dataDir), id);
}

export const recordingState = z.enum([
  /** Tracks are being written. */
  'recording',
  /** Stopped; the files are being finished and the movie made. */
  'processing',
  /** Everything is written (the movie too, unless `movie.state` says otherwise). */
  'ready',
  /** The server stopped (a crash, kill -9) while it recorded: the per-track files hold what was written. */
  'interrupted',
]);

export const recordingMetaSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(RECORDING_ID),
  room: z.string(),
  state: recordingState,
  /** ISO 8601. */
  startedAt: z.string(),
  stoppedAt: z.string().optional(),
  /** A participant id, or "admin". */
  startedBy: z.string(),
  /** Why it stopped: `stopped` (a host or the admin API), `room ended`, `size limit`, `write failed`. */
  stopReason: z.string().optional(),
  /** What went wrong when it stopped on an error. */
  error: z.string().optional(),
  /** Bytes of the per-track files. */
  bytes: z.number().int(),
  tracks: z.number().int(),
  movie: z
    .object({
      state: z.enum(['pending', 'ready', 'failed', 'off']),
      bytes: z.number().int().optional(),
      error: z.string().optional(),
    })
    .optional(),
});

export type RecordingMeta = z.infer<typeof recordingMetaSchema>;

const META = 'recording.json';

export async function writeMeta(dataDir: string, meta: RecordingMeta): Promise<void> {
  const dir = recordingDir(dataDir, meta.id);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, META), `${JSON.stringify(meta, null, 2)}\n`);
}

/** The recording's metadata; undefined when there is no such recording (or its file is unreadable). */
export async function readMeta(dataDir: string, id: string): Promise<RecordingMeta | undefined> {
  if (!RECORDING_ID.test(id)) return undefined;
  try {
    const text = await readFile(join(recordingDir(dataDir, id), META), 'utf8');
    const parsed = recordingMetaSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.id === id ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Every recording on disk, newest first; `room` keeps one room's. */
export async function listRecordings(dataDir: string, room?: string): Promise<RecordingMeta[]> {
  let names: string[];
  try {
    names = await readdir(recordingsDir(dataDir));
  } catch {
    return [];
  }
  const metas = await Promise.all(names.filter((n) => RECORDING_ID.test(n)).map((n) => readMeta(dataDir, n)));
  return metas
    .filter((m): m is RecordingMeta => m !== undefined && (room === undefined || m.room === room))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

export async function deleteRecording(dataDir: string, id: string): Promise<void> {
  await rm(recordingDir(dataDir, id), { recursive: true, force: true });
}

/** The files of a recording a person may download, by the name the API uses. */
export async function recordingFiles(
  dataDir: string,
  id: string,
): Promise<{ name: string; path: string; bytes: number }[]> {
  const dir = recordingDir(dataDir, id);
  const files: { name: string; path: string; bytes: number }[] = [];
  const add = async (name: string, path: string) => {
    try {
      const s = await stat(path);
      if (s.isFile()) files.push({ name, path, bytes: s.size });
    } catch {
      // Not there (yet): the movie is made after the recording stops.
    }
  };
  await add('movie.mp4', join(dir, 'movie.mp4'));
  await add('timeline.json', join(dir, 'timeline.json'));
  let tracks: string[] = [];
  try {
    tracks = await readdir(join(dir, 'tracks'));
  } catch {
    // No track was recorded.
  }
  for (const t of tracks.sort()) if (/^[a-z0-9-]+\.(webm|mkv)$/.test(t)) await add(t, join(dir, 'tracks', t));
  let exports: string[] = [];
  try {
    exports = await readdir(join(dir, BOARD_EXPORTS));
  } catch {
    // Nobody exported the whiteboard while it was recorded.
  }
  for (const e of exports.sort()) if (BOARD_EXPORT_NAME.test(e)) await add(e, join(dir, BOARD_EXPORTS, e));
  return files;
}

/**
 * Housekeeping at start and every hour: recordings older than the retention are deleted, and at start
 * (`atStart`: nothing is being recorded yet) a recording still marked `recording` or `processing` was cut
 * short by a crash: it is marked `interrupted`, its files kept.
 */
export async function sweepRecordings(
  dataDir: string,
  retentionDays: number,
  atStart: boolean,
): Promise<{ interrupted: number; deleted: number }> {
  let interrupted = 0;
  let deleted = 0;
  const cutoff = retentionDays > 0 ? Date.now() - retentionDays * 86_400_000 : undefined;
  for (const meta of await listRecordings(dataDir)) {
    if (cutoff !== undefined && Date.parse(meta.startedAt) < cutoff) {
      await deleteRecording(dataDir, meta.id);
      deleted++;
      continue;
    }
    if (atStart && (meta.state === 'recording' || meta.state === 'processing')) {
      await writeMeta(dataDir, { ...meta, state: 'interrupted' });
      interrupted++;
    }
  }
  return { interrupted, deleted };
}
