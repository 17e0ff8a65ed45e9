/**
 * Recording control and its edges: who may start and stop a recording, what everyone in the room is told,
 * what a recording folder holds after a kill -9, and the refusals for bad requests (a room that does not
 * exist, stopping twice, another room's recording, path tricks), each with its own code. Snapshots: a PNG
 * of someone's current video.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { connectNode, ServerError } from '../src/client/node.js';
import { runCli } from './helpers/cli.js';
import { decodeErrors, mediaSpan, pngPixels } from './helpers/ffmpeg.js';
import { eventually, freePort, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { startUpload } from './helpers/upload.js';

/** The id of `room`'s newest recording, from the recordings API. */
async function recordingOf(url: string, room: string): Promise<string | undefined> {
  const reply = await fetch(`${url}/api/v1/recordings?room=${room}`, { headers: AUTH });
  return ((await reply.json()) as { recordings: { id: string }[] }).recordings[0]?.id;
}

const run = promisify(execFile);
const API_KEY = 'recording-test-key-0123456789';
const API_SECRET = 'recording-test-secret-0123456789abcdef0123';
const AUTH = { authorization: `Bearer ${API_KEY}` };

interface Coded {
  status: number;
  code: string;
  message: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Coded> {
  const response = await fetch(url, { ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });
  const body = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  return { status: response.status, code: body.error?.code ?? '', message: body.error?.message ?? '' };
}

describe('recording control', () => {
  let t: TestServer;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-recctl-'));
    t = await startTestServer({
      dataDir,
      auth: { apiKey: API_KEY, apiSecret: API_SECRET },
      recordings: { movie: false },
    });
  });
  after(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lets a host start and stop, refuses a guest, and tells everyone', async () => {
    const host = await connectNode({ url: t.url, room: 'rec', name: 'Hana', hostAddresses: LOOPBACK });
    const guest = await connectNode({ url: t.url, room: 'rec', name: 'Ivo', hostAddresses: LOOPBACK });
    try {
      assert.equal(host.role, 'host');
      await assert.rejects(
        guest.startRecording(),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      const told = new Promise<string>((resolve) =>
        guest.on('recording', (event) => event.state === 'started' && resolve(event.id)),
      );
      await host.startRecording();
      const id = await told;
      assert.match(id, /^RE_[A-Za-z0-9_-]{22}$/);
      await eventually('the guest sees the indicator', () => guest.roomState.recording !== undefined);
      // Someone about to join is told too (the pre-join screen asks); a room nobody is in is not recorded.
      const status = async (room: string) =>
        ((await (await fetch(`${t.url}/rooms/${room}/status`)).json()) as { recording: boolean }).recording;
      assert.equal(await status('rec'), true);
      assert.equal(await status('nobody-there'), false);
      // A newcomer learns it with the room.
      const late = await connectNode({ url: t.url, room: 'rec', name: 'Cy', hostAddresses: LOOPBACK });
      assert.ok(late.roomState.recording && late.roomState.recording.since <= Date.now());
      // The recorder is nobody in the room: three people, not four.
      assert.equal(late.participants.size, 2);
      await assert.rejects(
        host.startRecording(),
        (e: unknown) => e instanceof ServerError && e.code === 'ALREADY_RECORDING',
      );
      await assert.rejects(
        guest.stopRecording(),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      const stopped = new Promise<string | undefined>((resolve) =>
        late.on('recording', (event) => event.state === 'stopped' && resolve(event.reason)),
      );
      await host.stopRecording();
      assert.equal(await stopped, 'stopped');
      await eventually('the indicator is off for all', () => late.roomState.recording === undefined);
      assert.equal(await status('rec'), false);
      await assert.rejects(
        host.stopRecording(),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_RECORDING',
      );
      await late.leave();
    } finally {
      await guest.leave();
      await host.leave();
    }
  });

  it('refuses bad requests, each with its own code', async () => {
    const api = `${t.url}/api/v1`;
    // A room that does not exist.
    let reply = await call(`${api}/rooms/nobody-here/recording`, { method: 'POST' });
    assert.deepEqual([reply.status, reply.code], [404, 'ROOM_NOT_FOUND']);
    const bot = await Bot.start({ url: t.url, room: 'edges', name: 'Bo', hostAddresses: LOOPBACK });
    const other = await Bot.start({ url: t.url, room: 'elsewhere', name: 'El', hostAddresses: LOOPBACK });
    try {
      // No key.
      const bare = await fetch(`${api}/rooms/edges/recording`, { method: 'POST' });
      assert.equal(bare.status, 401);
      const started = await fetch(`${api}/rooms/edges/recording`, { method: 'POST', headers: AUTH });
      assert.equal(started.status, 201);
      const { id } = (await started.json()) as { id: string };
      reply = await call(`${api}/rooms/edges/recording`, { method: 'POST' });
      assert.deepEqual([reply.status, reply.code], [409, 'ALREADY_RECORDING']);
      // Busy recordings are not deleted under the writer.
      reply = await call(`${api}/recordings/${id}`, { method: 'DELETE' });
      assert.deepEqual([reply.status, reply.code], [409, 'RECORDING_BUSY']);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const stop = await fetch(`${api}/rooms/edges/recording`, { method: 'DELETE', headers: AUTH });
      assert.equal(stop.status, 200);
      // Stopping twice.
      reply = await call(`${api}/rooms/edges/recording`, { method: 'DELETE' });
      assert.deepEqual([reply.status, reply.code], [409, 'NOT_RECORDING']);
      const otherStart = await fetch(`${api}/rooms/elsewhere/recording`, { method: 'POST', headers: AUTH });
      const otherId = ((await otherStart.json()) as { id: string }).id;
      await fetch(`${api}/rooms/elsewhere/recording`, { method: 'DELETE', headers: AUTH });

      // A host token for "edges" opens its recordings and no other room's.
      const { token } = await createAccessToken(API_SECRET, {
        room: 'edges',
        identity: 'hana',
        name: 'Hana',
        role: 'host',
        canPublish: true,
        ttlSeconds: 600,
      });
      const asHost = { authorization: `Bearer ${token}` };
      const own = await fetch(`${api}/recordings/${id}`, { headers: asHost });
      assert.equal(own.status, 200);
      const listed = (await (await fetch(`${api}/recordings`, { headers: asHost })).json()) as {
        recordings: { id: string }[];
      };
      assert.deepEqual(
        listed.recordings.map((r) => r.id),
        [id],
        'a room token lists only its room',
      );
      const foreign = await fetch(`${api}/recordings/${otherId}/files/timeline.json`, { headers: asHost });
      assert.equal(foreign.status, 403);
      assert.equal(
        ((await foreign.json()) as { error: { code: string } }).error.code,
        'RECORDING_OF_OTHER_ROOM',
      );
      const { token: guestToken } = await createAccessToken(API_SECRET, {
        room: 'edges',
        identity: 'ivo',
        name: 'Ivo',
        role: 'guest',
        canPublish: true,
        ttlSeconds: 600,
      });
      const asGuest = await fetch(`${api}/recordings/${id}`, {
        headers: { authorization: `Bearer ${guestToken}` },
      });
      assert.equal(asGuest.status, 403);

      // Path tricks in an id or a file name name nothing on disk.
      for (const trick of ['..%2F..%2Fetc%2Fpasswd', '..', `${id}%2F..%2F..`, 'RE_%2E%2E', `${id}x`]) {
        reply = await call(`${api}/recordings/${trick}/files/timeline.json`);
        assert.equal(reply.code, reply.status === 404 ? reply.code : 'INVALID_RECORDING_ID', trick);
        assert.ok(reply.status === 400 || reply.status === 404, `${trick}: ${reply.status}`);
        assert.notEqual(reply.status, 200);
      }
      reply = await call(`${api}/recordings/RE_${'A'.repeat(22)}`);
      assert.deepEqual([reply.status, reply.code], [404, 'RECORDING_NOT_FOUND']);
      for (const name of ['..%2Frecording.json', '%2Fetc%2Fpasswd', 'recording.json', '..']) {
        reply = await call(`${api}/recordings/${id}/files/${name}`);
        assert.equal(reply.status, 404, name);
      }

      // What a room token may download comes as an attachment, never rendered.
      await eventually('the recording is ready', async () => {
        const meta = (await (await fetch(`${api}/recordings/${id}`, { headers: AUTH })).json()) as {
          state: string;
        };
        return meta.state === 'ready';
      });
      const file = await fetch(`${api}/recordings/${id}/files/001-video-camera.webm`, { headers: asHost });
      assert.equal(file.status, 200);
      assert.equal(file.headers.get('content-type'), 'video/webm');
      assert.match(file.headers.get('content-disposition') ?? '', /^attachment; filename="edges-RE_/);
      assert.equal(file.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await file.arrayBuffer()).byteLength > 10_000);

      const removed = await fetch(`${api}/recordings/${id}`, { method: 'DELETE', headers: asHost });
      assert.equal(removed.status, 204);
      reply = await call(`${api}/recordings/${id}`);
      assert.deepEqual([reply.status, reply.code], [404, 'RECORDING_NOT_FOUND']);
    } finally {
      await bot.stop();
      await other.stop();
    }
  });

  it('tells a secured room’s status only to a token for that room', async () => {
    const secured = await startTestServer({
      dataDir,
      auth: { mode: 'secured', apiKey: API_KEY, apiSecret: API_SECRET },
    });
    try {
      const ask = (token?: string) =>
        fetch(`${secured.url}/rooms/quiet/status`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
      const bare = await ask();
      assert.equal(bare.status, 401);
      assert.equal(((await bare.json()) as { error: { code: string } }).error.code, 'TOKEN_REQUIRED');
      const tokenFor = async (room: string) =>
        (
          await createAccessToken(API_SECRET, {
            room,
            identity: 'ann',
            name: 'Ann',
            role: 'guest',
            canPublish: true,
            ttlSeconds: 600,
          })
        ).token;
      const other = await ask(await tokenFor('loud'));
      assert.equal(other.status, 403);
      assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'TOKEN_WRONG_ROOM');
      const own = await ask(await tokenFor('quiet'));
      assert.deepEqual(await own.json(), { recording: false });
    } finally {
      await secured.close();
    }
  });

  it('keeps whiteboard exports made while recording beside the movie, and refuses what is not one', async () => {
    const host = await connectNode({ url: t.url, room: 'drawn', name: 'Hana', hostAddresses: LOOPBACK });
    const guest = await connectNode({ url: t.url, room: 'drawn', name: 'Ivo', hostAddresses: LOOPBACK });
    const exports = `${t.url}/rooms/drawn/board/exports`;
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
      'base64',
    );
    const svg = Buffer.from(
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>',
    );
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');
    try {
      await assert.rejects(
        guest.saveBoardExport(png),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_RECORDING',
      );
      await host.startRecording();
      await eventually('the guest sees the recording', () => guest.roomState.recording !== undefined);
      const saved = [
        await guest.saveBoardExport(png),
        await guest.saveBoardExport(new Blob([svg])),
        await host.saveBoardExport(pdf),
      ];
      assert.deepEqual(
        saved.map((s) => s.name.slice(s.name.lastIndexOf('.'))),
        ['.png', '.svg', '.pdf'],
      );
      // Refused: a page that is not a picture, a non-member, an export too large to take.
      await assert.rejects(
        guest.saveBoardExport(Buffer.from('<html><script>alert(1)</script></html>')),
        (e: unknown) => e instanceof ServerError && e.code === 'INVALID_EXPORT',
      );
      const stranger = await fetch(exports, {
        method: 'POST',
        headers: { authorization: 'Bearer not-a-token' },
        body: png,
      });
      assert.equal(stranger.status, 403);
      assert.equal(((await stranger.json()) as { error: { code: string } }).error.code, 'NOT_A_MEMBER');
      const tooBig = await startUpload(exports, guest.fileToken, 40 * 1024 ** 2, 64 * 1024);
      assert.equal(tooBig.status, 413);
      assert.equal(JSON.parse(tooBig.body).error.code, 'FILE_TOO_LARGE');
      tooBig.destroy();

      // The recording lists them, and hands them out as attachments that no browser renders.
      const id = await recordingOf(t.url, 'drawn');
      assert.ok(id);
      const listed = (await (await fetch(`${t.url}/api/v1/recordings/${id}`, { headers: AUTH })).json()) as {
        files: { name: string; bytes: number }[];
      };
      for (const [i, s] of saved.entries()) {
        const file = listed.files.find((f) => f.name === s.name);
        assert.ok(file, `${s.name} is listed: ${JSON.stringify(listed.files)}`);
        assert.equal(file.bytes, [png, svg, pdf][i]!.length);
      }
      const fetched = await fetch(`${t.url}/api/v1/recordings/${id}/files/${saved[1]!.name}`, {
        headers: AUTH,
      });
      assert.equal(fetched.status, 200);
      assert.match(fetched.headers.get('content-disposition') ?? '', /^attachment/);
      assert.equal(fetched.headers.get('content-type'), 'application/octet-stream');
      assert.equal(fetched.headers.get('x-content-type-options'), 'nosniff');
      assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), svg);
      await host.stopRecording();
    } finally {
      await guest.leave();
      await host.leave();
    }
  });

  it('takes a snapshot of someone’s video as a PNG', async () => {
    const bot = await Bot.start({ url: t.url, room: 'still', name: 'Pic', hostAddresses: LOOPBACK });
    try {
      const api = `${t.url}/api/v1`;
      const reply = await call(`${api}/rooms/still/participants/PA_nobody/snapshot`);
      assert.deepEqual([reply.status, reply.code], [404, 'PARTICIPANT_NOT_FOUND']);
      const png = await fetch(`${api}/rooms/still/participants/${bot.room.participantId}/snapshot`, {
        headers: AUTH,
      });
      assert.equal(png.status, 200);
      assert.equal(png.headers.get('content-type'), 'image/png');
      const bytes = Buffer.from(await png.arrayBuffer());
      // The PNG's header (IHDR) holds its size: the fixture clip's 640x360.
      assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
      assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [640, 360]);
      // A colourful test pattern, not one flat colour (a decoder's grey or black).
      const rgb = await pngPixels(bytes);
      assert.equal(rgb.length, 640 * 360 * 3);
      const distinct = new Set<number>();
      for (let i = 0; i < rgb.length - 3; i += 3 * 997) distinct.add(rgb.readUIntBE(i, 3));
      assert.ok(distinct.size > 20, `the picture has ${distinct.size} sampled colours`);
    } finally {
      await bot.stop();
    }
  });
});

/**
 * Waits for the room's recording to stop by itself and says why; checks that the call went on: a bot
 * still receives the other's video frames afterwards.
 */
async function stopsByItself(url: string, room: string, headers: Record<string, string>) {
  const watcher = await Bot.start({
    url,
    room,
    name: 'Watcher',
    hostAddresses: LOOPBACK,
    video: false,
    audio: false,
  });
  const speaker = await Bot.start({ url, room, name: 'Speaker', hostAddresses: LOOPBACK });
  try {
    const stopped = new Promise<{ reason?: string; error?: string }>((resolve) =>
      watcher.room.on('recording', (event) => event.state === 'stopped' && resolve(event)),
    );
    const started = await fetch(`${url}/api/v1/rooms/${room}/recording`, { method: 'POST', headers });
    assert.equal(started.status, 201, await started.clone().text());
    const event = await stopped;
    await eventually('the indicator is off', () => watcher.room.roomState.recording === undefined);
    const frames = () => [...watcher.received.values()].reduce((n, r) => n + r.frames, 0);
    const before = frames();
    await eventually('video still arrives after the recording stopped', () => frames() > before + 30);
    return event;
  } finally {
    await speaker.stop();
    await watcher.stop();
  }
}

describe('a recording that runs out of room', () => {
  it('stops at its size limit, tells the room, and the call goes on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-reclimit-'));
    const t = await startTestServer({
      dataDir,
      auth: { apiKey: API_KEY, apiSecret: API_SECRET },
      recordings: { movie: false, maxBytes: 1_000_000 },
    });
    try {
      const event = await stopsByItself(t.url, 'limited', AUTH);
      assert.equal(event.reason, 'size limit');
    } finally {
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('stops when the disk is full, says so, and the call goes on', async (context) => {
    if (process.getuid?.() !== 0) return context.skip('mounting a small tmpfs needs root');
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-recfull-'));
    // A 2 MiB file system: full after a few seconds of two tracks.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dataDir]);
    const t = await startTestServer({ dataDir, auth: { apiKey: API_KEY, apiSecret: API_SECRET } });
    try {
      const event = await stopsByItself(t.url, 'full', AUTH);
      assert.equal(event.reason, 'write failed');
      assert.match(event.error ?? '', /ENOSPC/);
    } finally {
      await t.close();
      await run('umount', [dataDir]);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a recording cut short by kill -9', () => {
  it('leaves per-track files that play what was written', async (context) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-reckill-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = runCli(
      ['serve', '--host', '127.0.0.1', '--port', String(port), '--rtc-host', '127.0.0.1'].concat([
        '--data-dir',
        dataDir,
        '--log-level',
        'warn',
      ]),
      { env: { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET } },
    );
    const bots: Bot[] = [];
    try {
      await server.waitFor(new RegExp(`http://127\\.0\\.0\\.1:${port}/`), 30_000);
      bots.push(await Bot.start({ url, room: 'crash', name: 'A', hostAddresses: LOOPBACK }));
      bots.push(await Bot.start({ url, room: 'crash', name: 'B', hostAddresses: LOOPBACK }));
      const started = await fetch(`${url}/api/v1/rooms/crash/recording`, { method: 'POST', headers: AUTH });
      assert.equal(started.status, 201);
      const { id } = (await started.json()) as { id: string };
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      server.child.kill('SIGKILL');
      await server.exited;
      const tracks = join(dataDir, 'recordings', id, 'tracks');
      const files = readdirSync(tracks).sort();
      assert.deepEqual(
        files.map((f) => f.replace(/^\d+-/, '')),
        ['video-camera.webm', 'audio-microphone.webm', 'video-camera.webm', 'audio-microphone.webm'],
      );
      for (const file of files) {
        const { end: seconds } = await mediaSpan(join(tracks, file));
        context.diagnostic(`${file}: ffprobe reads ${seconds.toFixed(2)} s after kill -9 at 10 s`);
        assert.ok(seconds >= 8, `${file}: ffprobe reads ${seconds.toFixed(2)} s of the 10 s recorded`);
        assert.equal(await decodeErrors(join(tracks, file)), '', `${file} decodes without errors`);
      }
    } finally {
      for (const bot of bots) await bot.stop().catch(() => {});
      server.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
