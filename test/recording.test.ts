/**
 * A 30 s recording of three publishers, judged by ffprobe and ffmpeg: each bot plays a clip with a white
 * flash and a beep (a tone of its own) at the start of every second. During the recording one bot leaves
 * and comes back, another shares a "screen" and stops. Every track gets its own file of the codec it was
 * sent in, as long as the track was live and decodable throughout; the movie (H.264 + AAC) is as long as
 * the recording, and in it each person's flash and beep line up within 80 ms.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { movieLayout } from '../src/recording/movie.js';
import type { Timeline } from '../src/recording/timeline.js';
import { decodeErrors, mediaSpan, runMediaTool } from './helpers/ffmpeg.js';
import { makeMarkerClip, measureMarkers } from './helpers/markers.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'recording-test-key-0123456789';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const TONES: Record<string, number> = { Ada: 500, Ben: 900, Cyd: 1500 };
/** How far a file's length may be from the time its track was live (the figure). */
const LENGTH_TOLERANCE_S = 0.5;
/** How far apart a person's flash and beep may be in the movie (the figure). */
const SYNC_TOLERANCE_S = 0.08;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recording a meeting', () => {
  let t: TestServer;
  let dataDir: string;
  let clipDir: string;
  const bots: Bot[] = [];
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-rec-'));
    clipDir = mkdtempSync(join(tmpdir(), 'port545-marks-'));
    t = await startTestServer({ dataDir, auth: { apiKey: API_KEY, apiSecret: 's'.repeat(40) } });
  });
  after(async () => {
    for (const bot of bots) await bot.stop().catch(() => {});
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(clipDir, { recursive: true, force: true });
  });

  it('writes a file per track and a movie whose markers line up', async (context) => {
    const clips = Object.fromEntries(
      await Promise.all(
        Object.entries(TONES).map(async ([name, toneHz]) => [
          name,
          await makeMarkerClip(join(clipDir, name), { toneHz, keyframeInterval: 1 }),
        ]),
      ),
    ) as Record<string, { videoPath: string; audioPath: string }>;
    // The "screen": every frame a keyframe too, so that a keyframe request does not skip its clip ahead.
    const screen = await makeMarkerClip(join(clipDir, 'screen'), {
      toneHz: 3000,
      keyframeInterval: 1,
      width: 640,
      height: 360,
    });
    const start = (name: string) =>
      Bot.start({ url: t.url, room: 'movie', name, hostAddresses: LOOPBACK, ...clips[name] });
    const ada = await start('Ada');
    const ben = await start('Ben');
    let cyd = await start('Cyd');
    bots.push(ada, ben, cyd);
    await sleep(1000);

    const api = `${t.url}/api/v1`;
    const started = await fetch(`${api}/rooms/movie/recording`, { method: 'POST', headers: AUTH });
    assert.equal(started.status, 201);
    const startedAt = Date.now();
    const { id } = (await started.json()) as { id: string };
    // Live times by the test's clock: [from, to] in ms.
    const live = new Map<string, [number, number]>();

    await sleep(6000);
    await cyd.stop();
    const cydLeft = Date.now();
    await sleep(3000);
    cyd = await start('Cyd');
    bots.push(cyd);
    const cydBack = Date.now();
    await sleep(3000);
    await ben.shareScreen(screen.videoPath);
    const shared = Date.now();
    await sleep(8000);
    await ben.stopScreen();
    const unshared = Date.now();
    await sleep(30_000 - (Date.now() - startedAt));
    // The recording ends when it is asked to; the reply comes once every file is closed.
    const stoppedAt = Date.now();
    const stopped = await fetch(`${api}/rooms/movie/recording`, { method: 'DELETE', headers: AUTH });
    assert.equal(stopped.status, 200);

    let meta: { state: string; movie?: { state: string; error?: string } } = { state: '' };
    await eventually(
      'the recording is ready (files finished, movie made)',
      async () => {
        meta = (await (await fetch(`${api}/recordings/${id}`, { headers: AUTH })).json()) as typeof meta;
        return meta.state === 'ready';
      },
      240_000,
      500,
    );
    assert.equal(meta.movie?.state, 'ready', `movie: ${meta.movie?.error ?? meta.movie?.state}`);
    const timeline = (await (
      await fetch(`${api}/recordings/${id}/files/timeline.json`, { headers: AUTH })
    ).json()) as Timeline;
    const dir = join(dataDir, 'recordings', id);

    // One file per track: Ada and Ben's camera and microphone, Ben's screen, Cyd's twice (two sessions).
    const kinds = timeline.tracks.map((tr) => `${tr.participantName} ${tr.source}`).sort();
    assert.deepEqual(kinds, [
      'Ada camera',
      'Ada microphone',
      'Ben camera',
      'Ben microphone',
      'Ben screen',
      'Cyd camera',
      'Cyd camera',
      'Cyd microphone',
      'Cyd microphone',
    ]);
    const cydSessions = [
      ...new Set(timeline.tracks.filter((tr) => tr.participantName === 'Cyd').map((tr) => tr.participantId)),
    ];
    for (const tr of timeline.tracks) {
      let span: [number, number] = [startedAt, stoppedAt];
      if (tr.source === 'screen') span = [shared, unshared];
      else if (tr.participantId === cydSessions[0]) span = [startedAt, cydLeft];
      else if (tr.participantId === cydSessions[1]) span = [cydBack, stoppedAt];
      live.set(tr.id, span);
      const file = join(dir, tr.file);
      const { codec, seconds } = await mediaSpan(file);
      assert.equal(codec, tr.kind === 'video' ? 'vp8' : 'opus', tr.file);
      const expected = (span[1] - span[0]) / 1000;
      context.diagnostic(
        `${tr.file} (${tr.participantName} ${tr.source}): ${seconds.toFixed(2)} s, live ${expected.toFixed(2)} s`,
      );
      assert.ok(
        Math.abs(seconds - expected) <= LENGTH_TOLERANCE_S,
        `${tr.file} holds ${seconds.toFixed(2)} s; the track was live ${expected.toFixed(2)} s`,
      );
      assert.equal(await decodeErrors(file), '', `${tr.file} decodes without errors`);
    }

    // The movie: H.264 and AAC, as long as the recording.
    const movie = join(dir, 'movie.mp4');
    const streams = (
      await runMediaTool('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'stream=codec_name:format=duration',
        '-of',
        'csv=p=0',
        movie,
      ])
    ).stdout
      .toString()
      .trim()
      .split('\n');
    assert.ok(streams.includes('h264') && streams.includes('aac'), `movie streams: ${streams.join(' ')}`);
    const duration = Number(streams.at(-1));
    const recorded = (stoppedAt - startedAt) / 1000;
    context.diagnostic(`movie: ${duration.toFixed(2)} s for ${recorded.toFixed(2)} s recorded`);
    assert.ok(Math.abs(duration - recorded) <= 1, `the movie is ${duration} s, the recording ${recorded} s`);

    // Each person's flash and beep line up throughout the movie.
    const layout = movieLayout(timeline, 1280, 720);
    const cells = layout.cells.map((cell) => ({
      name: cell.participantName,
      rect: cell.rect,
      toneHz: TONES[cell.participantName]!,
    }));
    assert.deepEqual(cells.map((c) => c.name).sort(), ['Ada', 'Ben', 'Cyd']);
    const measured = await measureMarkers(movie, cells);
    for (const person of measured)
      context.diagnostic(
        `${person.name}: beep − flash ${person.offsets.map((o) => Math.round(o * 1000)).join(' ')} ms at ${person.flashes.map((f) => f.toFixed(1)).join(' ')}`,
      );
    for (const person of measured) {
      const worst = Math.max(...person.offsets.map(Math.abs));
      const mean = person.offsets.reduce((a, b) => a + b, 0) / person.offsets.length;
      context.diagnostic(
        `${person.name}: ${person.offsets.length} flash/beep pairs, mean ${(mean * 1000).toFixed(0)} ms, worst ${(worst * 1000).toFixed(0)} ms`,
      );
      // Cyd was away 3 s of the 30: at least 20 marks each.
      assert.ok(
        person.offsets.length >= 20,
        `${person.name}: ${person.offsets.length} pairs of ${person.flashes.length} flashes`,
      );
      assert.ok(
        worst <= SYNC_TOLERANCE_S,
        `${person.name}: flash and beep ${(worst * 1000).toFixed(0)} ms apart`,
      );
    }
  });
});
