import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_VIDEO_CLIP_PATH } from '../src/media/ClipSource.js';
import { readIvf, writeIvf } from '../src/media/ivf.js';
import { makeMovie, movieLayout, type Rect } from '../src/recording/movie.js';
import { type Timeline, type TimelineTrack, timelineSchema } from '../src/recording/timeline.js';
import { runMediaTool } from './helpers/ffmpeg.js';
import { makeMarkerClip, measureMarkers } from './helpers/markers.js';

/**
 * The movie of a recording, from a synthetic recording folder: marker clips (a white flash and a beep at
 * the start of every second) made into per-track WebM files the way a recording writes them, placed by a
 * hand-written timeline.json. No server.
 */

const ffmpeg = (...args: string[]) =>
  runMediaTool('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', ...args]);

interface Probe {
  streams: { codec_type: string; codec_name: string; pix_fmt?: string; width?: number; height?: number }[];
  format: { duration: string };
}

async function probe(path: string): Promise<Probe> {
  const { stdout } = await runMediaTool('ffprobe', [
    ...['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,pix_fmt,width,height:format=duration'],
    ...['-of', 'json', path],
  ]);
  return JSON.parse(stdout.toString('utf8')) as Probe;
}

function track(
  fields: Pick<TimelineTrack, 'id' | 'file' | 'kind' | 'source' | 'participantId' | 'participantName'> &
    Partial<TimelineTrack>,
): TimelineTrack {
  return {
    codec: fields.kind === 'audio' ? 'opus' : 'vp8',
    startSeconds: 0,
    clock: 'senderReport',
    ...fields,
  };
}

function timeline(tracks: TimelineTrack[], extra: Partial<Timeline> = {}): Timeline {
  return timelineSchema.parse({
    version: 1,
    id: 'rec-1',
    room: 'lobby',
    startedAt: '2025-01-01T10:00:00.000Z',
    tracks,
    events: [],
    ...extra,
  });
}

const overlaps = (a: Rect, b: Rect) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('movieLayout', () => {
  const cam = (id: string, name: string, start: number, end?: number) =>
    track({
      id: `${id}-cam`,
      file: `${id}.webm`,
      kind: 'video',
      source: 'camera',
      participantId: id,
      participantName: name,
      startSeconds: start,
      ...(end === undefined ? {} : { endSeconds: end }),
    });

  test('cameras share a grid of 16:9 cells over the whole picture, the last row centred', () => {
    const layout = movieLayout(
      timeline([cam('p1', 'Ann', 0), cam('p2', 'Bo', 1), cam('p3', 'Cy', 2)]),
      1280,
      720,
    );
    assert.equal(layout.screen, undefined);
    assert.deepEqual(
      layout.cells.map((c) => [c.participantName, c.rect]),
      [
        ['Ann', { x: 0, y: 0, width: 640, height: 360 }],
        ['Bo', { x: 640, y: 0, width: 640, height: 360 }],
        ['Cy', { x: 320, y: 360, width: 640, height: 360 }],
      ],
    );
  });

  test('a screen share takes the left three quarters, cameras the right quarter', () => {
    const screen = track({
      id: 's',
      file: 's.webm',
      kind: 'video',
      source: 'screen',
      participantId: 'p1',
      participantName: 'Ann',
      startSeconds: 5,
    });
    const layout = movieLayout(timeline([cam('p1', 'Ann', 0), cam('p2', 'Bo', 0), screen]), 1280, 720);
    assert.deepEqual(layout.screen, { x: 0, y: 0, width: 960, height: 720 });
    for (const cell of layout.cells) {
      assert.ok(cell.rect.x >= 960 && cell.rect.x + cell.rect.width <= 1280, JSON.stringify(cell.rect));
      assert.ok(!overlaps(cell.rect, layout.screen));
    }
    assert.deepEqual(movieLayout(timeline([screen]), 1280, 720).screen, {
      x: 0,
      y: 0,
      width: 1280,
      height: 720,
    });
  });

  test('a person who rejoins keeps their cell; two people of one name at once get two', () => {
    const layout = movieLayout(
      timeline([
        cam('p1', 'Ann', 0, 10),
        cam('p2', 'Ann', 12, 20),
        cam('p3', 'Ann', 15, 30),
        cam('p4', 'Bo', 1),
      ]),
      1280,
      720,
    );
    assert.deepEqual(
      layout.cells.map((c) => [c.participantName, c.participantIds]),
      [
        ['Ann', ['p1', 'p2']],
        ['Bo', ['p4']],
        ['Ann', ['p3']],
      ],
    );
    const many = movieLayout(
      timeline(Array.from({ length: 30 }, (_, i) => cam(`p${i}`, `P${i}`, i))),
      1280,
      720,
    );
    assert.equal(many.cells.length, 30);
    many.cells.forEach((a, i) => {
      assert.ok(
        a.rect.x >= 0 && a.rect.y >= 0 && a.rect.x + a.rect.width <= 1280 && a.rect.y + a.rect.height <= 720,
      );
      for (const b of many.cells.slice(i + 1)) assert.ok(!overlaps(a.rect, b.rect));
    });
  });
});

describe('makeMovie', { timeout: 300_000 }, () => {
  let work: string;
  let rec: string;
  let recording: Timeline;
  /** Where each file sits: A at 0, B's video at 2.3 and audio at 2.5, the screen from 3 s to 6 s. */
  const placement: Record<string, Partial<TimelineTrack>> = {
    a1: { startSeconds: 0, endSeconds: 5, width: 320, height: 180 },
    a2: { startSeconds: 0, endSeconds: 5 },
    b1: { startSeconds: 2.3, endSeconds: 7.3, width: 320, height: 180 },
    b2: { startSeconds: 2.5, endSeconds: 7.3 },
    s1: { startSeconds: 3, endSeconds: 6, width: 640, height: 360 },
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'port545-movie-test-'));
    rec = join(work, 'rec');
    await mkdir(join(rec, 'tracks'), { recursive: true });
    const clips = join(work, 'clips');
    const [a, aSmall, b] = await Promise.all([
      makeMarkerClip(clips, { toneHz: 500, seconds: 5 }),
      makeMarkerClip(join(clips, 'small'), { toneHz: 500, seconds: 5, width: 160, height: 120 }),
      makeMarkerClip(clips, { toneHz: 1300, seconds: 5 }),
    ]);
    const at = (file: string) => join(rec, 'tracks', file);

    // A's camera changes size (16:9 to 4:3) at its keyframe at 2 s, as a publisher's encoder does.
    const big = readIvf(await readFile(a.videoPath));
    const small = readIvf(await readFile(aSmall.videoPath));
    const spliced = join(work, 'a-spliced.ivf');
    await writeFile(
      spliced,
      writeIvf([...big.frames.slice(0, 60), ...small.frames.slice(60)], { ...big, fps: 30 }),
    );
    /** A bitstream filter that leaves out packets `from` to `to` − 1: media that never came. */
    const lose = (from: number, to: number) => `noise=drop=gte(n\\,${from})*lt(n\\,${to})`;
    await Promise.all([
      ffmpeg('-i', spliced, '-c', 'copy', at('a-cam.webm')),
      // A's microphone sent nothing from 1.32 s to 1.8 s (silence, not sent): packets 66 to 89 are gone.
      ffmpeg('-i', a.audioPath, '-c', 'copy', '-bsf:a', lose(66, 90), at('a-mic.webm')),
      // B's connection dropped: camera frames 60 to 89 (2 s to 3 s of its file) never came, nor did audio
      // packets 50 to 134 (1 s to 2.7 s), a gap long enough that the movie cuts B's audio there.
      ffmpeg('-i', b.videoPath, '-c', 'copy', '-bsf:v', lose(60, 90), at('b-cam.webm')),
      // B's audio file starts 0.2 s into B's clip (0.2 s after the video file): its pts 0 is clip time 0.2.
      ffmpeg(
        ...['-i', b.audioPath, '-af', 'atrim=start=0.2,asetpts=PTS-STARTPTS'],
        ...['-c:a', 'libopus', '-b:a', '48k', '-frame_duration', '20'],
        ...['-bsf:a', lose(50, 135), at('b-mic.webm')],
      ),
      ffmpeg('-i', DEFAULT_VIDEO_CLIP_PATH, '-c', 'copy', '-frames:v', '90', at('screen.webm')),
    ]);

    const ann = { participantId: 'pa', participantName: 'Ann' };
    const bo = { participantId: 'pb', participantName: 'Bo' };
    const recorded = (id: string, file: string, source: TimelineTrack['source'], who: typeof ann) =>
      track({
        id,
        file: `tracks/${file}`,
        kind: source === 'microphone' ? 'audio' : 'video',
        source,
        ...who,
      });
    recording = timeline(
      [
        recorded('a1', 'a-cam.webm', 'camera', ann),
        recorded('a2', 'a-mic.webm', 'microphone', ann),
        recorded('b1', 'b-cam.webm', 'camera', bo),
        recorded('b2', 'b-mic.webm', 'microphone', bo),
        recorded('s1', 'screen.webm', 'screen', ann),
      ].map((t) => ({ ...t, ...placement[t.id]! })),
      {
        stoppedAt: '2025-01-01T10:00:07.500Z',
        durationSeconds: 7.5,
        events: [
          { at: 0, type: 'join', participantId: 'pa', participantName: 'Ann' },
          { at: 2.3, type: 'join', participantId: 'pb', participantName: 'Bo' },
          { at: 3, type: 'screenStart', participantId: 'pa', trackId: 's1' },
          // Ann's camera is muted (its frames still come, as a browser's black frames do) over her 4 s flash.
          { at: 3.5, type: 'mute', participantId: 'pa', trackId: 'a1' },
          { at: 4.5, type: 'unmute', participantId: 'pa', trackId: 'a1' },
          { at: 6, type: 'screenStop', participantId: 'pa', trackId: 's1' },
        ],
      },
    );
    await writeFile(join(rec, 'timeline.json'), JSON.stringify(recording, null, 2));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('composes an H.264 + AAC movie where every beep comes with its flash', async () => {
    const output = join(work, 'movie.mp4');
    const json = JSON.parse(await readFile(join(rec, 'timeline.json'), 'utf8')) as unknown;
    const result = await makeMovie({
      dir: rec,
      timeline: timelineSchema.parse(json),
      output,
      width: 640,
      height: 360,
    });
    assert.deepEqual(result, { output, durationSeconds: 7.5 });

    const info = await probe(output);
    const video = info.streams.find((s) => s.codec_type === 'video');
    const audio = info.streams.find((s) => s.codec_type === 'audio');
    assert.deepEqual(
      [video?.codec_name, video?.pix_fmt, video?.width, video?.height, audio?.codec_name],
      ['h264', 'yuv420p', 640, 360, 'aac'],
    );
    assert.ok(Math.abs(Number(info.format.duration) - 7.5) < 1, `duration ${info.format.duration}`);
    const { stderr } = await ffmpeg('-i', output, '-f', 'null', '-');
    assert.equal(stderr, '');

    const layout = movieLayout(recording, 640, 360);
    const cell = (name: string) => layout.cells.find((c) => c.participantName === name)!.rect;
    const [ann, bo] = await measureMarkers(output, [
      { name: 'Ann', rect: cell('Ann'), toneHz: 500 },
      { name: 'Bo', rect: cell('Bo'), toneHz: 1300 },
    ]);
    const report = JSON.stringify([ann, bo]);
    for (const person of [ann!, bo!]) {
      assert.ok(person.offsets.length >= 3, `${person.name}: ${report}`);
      for (const offset of person.offsets) assert.ok(Math.abs(offset) <= 0.08, `${person.name}: ${report}`);
    }
    // Where they are, not only together: a flash shows on the first frame at or after its time (40 ms),
    // beeps after a gap in the audio are still on time, and Ann's muted flash (4 s) is black.
    const near = (times: number[], expected: number[], tolerance: number) =>
      times.length === expected.length && times.every((t, i) => Math.abs(t - expected[i]!) <= tolerance);
    assert.ok(near(ann!.flashes, [1, 2, 3], 0.05), report);
    assert.ok(near(ann!.beeps, [1, 2, 3, 4], 0.02), report);
    assert.ok(near(bo!.flashes, [2.3, 3.3, 5.3, 6.3], 0.05), report);
    assert.ok(near(bo!.beeps, [3.3, 5.3, 6.3], 0.02), report);
  });

  test('a recording with no tracks is a black, silent movie', async () => {
    const output = join(work, 'empty.mp4');
    await makeMovie({
      dir: rec,
      timeline: timeline([], { durationSeconds: 2 }),
      output,
      width: 160,
      height: 90,
    });
    const info = await probe(output);
    assert.deepEqual(info.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
    assert.ok(Math.abs(Number(info.format.duration) - 2) < 1, `duration ${info.format.duration}`);
  });

  test('thirty tracks: every one an input, the graph goes to ffmpeg in a file', async () => {
    const output = join(work, 'many.mp4');
    const tracks = Array.from({ length: 15 }, (_, i) => [
      track({ ...recording.tracks[0]!, id: `v${i}`, participantId: `p${i}`, participantName: `P${i}` }),
      track({ ...recording.tracks[1]!, id: `a${i}`, participantId: `p${i}`, participantName: `P${i}` }),
    ]).flat();
    await makeMovie({
      dir: rec,
      timeline: timeline(tracks, { durationSeconds: 2 }),
      output,
      width: 320,
      height: 180,
    });
    const info = await probe(output);
    assert.deepEqual(info.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
  });

  test('aborting kills ffmpeg and leaves no file', async () => {
    const output = join(work, 'aborted.mp4');
    const controller = new AbortController();
    const making = makeMovie({ dir: rec, timeline: recording, output, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(making, { name: 'AbortError' });
    await assert.rejects(access(output));
    await assert.rejects(access(join(work, '.aborted.mp4.partial')));
  });

  test('says what is wrong: ffmpeg missing, a track file missing', async () => {
    const output = join(work, 'never.mp4');
    await assert.rejects(
      makeMovie({ dir: rec, timeline: recording, output, ffmpeg: join(work, 'no-ffmpeg') }),
      {
        message: /^ffmpeg not found/,
      },
    );
    const gone = timeline([{ ...recording.tracks[0]!, file: 'tracks/gone.webm' }], { durationSeconds: 1 });
    await assert.rejects(makeMovie({ dir: rec, timeline: gone, output }), { message: /gone\.webm.*missing/ });
  });
});
