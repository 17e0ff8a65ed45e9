import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readMeta } from '../src/recording/store.js';
import type { Timeline } from '../src/recording/timeline.js';
import { decodeErrors, runMediaTool } from './helpers/ffmpeg.js';
import { eventually, type InThreadTestServer, LOOPBACK, startInThreadServer } from './helpers/server.js';

/**
 * GStreamer's webrtcbin (Debian's python3-gst-1.0, gir1.2-gst-plugins-bad-1.0, gstreamer1.0-nice) as a
 * WHIP publisher and a WHEP player: the scripts of examples/, run as docs/interop.md tells users to.
 * Both offer with the max-bundle policy, so their second m-line is bundle-only.
 * libnice gathers on 127.0.0.1 only (--ice-address) and the server offers only loopback candidates.
 */
const PYTHON = process.env.GST_PYTHON ?? '/usr/bin/python3';
const ICE = LOOPBACK.flatMap((address) => ['--ice-address', address]);

interface Counts {
  audioBuffers: number;
  videoFrames: number;
  final?: boolean;
}

/** A running example script: its stdout lines, its stderr, and how it ended. */
class Script {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exit: number | null | undefined;
  readonly #ended: Promise<void>;

  constructor(name: string, args: string[]) {
    this.child = spawn(PYTHON, [`examples/${name}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop()!;
      this.lines.push(...lines.filter((l) => l.trim() !== ''));
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.#ended = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.stderr += `\ncannot run ${PYTHON}: ${error.message}`;
        this.exit = -1;
        resolve();
      });
      this.child.on('close', (code) => {
        this.exit = code;
        resolve();
      });
    });
  }

  /** The last progress line printed by gst-whep.py. */
  get counts(): Counts | undefined {
    const last = this.lines.findLast((l) => l.startsWith('{"audioBuffers"'));
    return last ? (JSON.parse(last) as Counts) : undefined;
  }

  /** Stops the script (SIGTERM: it DELETEs its session and prints its last line) and waits for it. */
  async stop(): Promise<void> {
    if (this.exit === undefined) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.#ended;
    clearTimeout(timer);
  }

  ended(): Promise<void> {
    return this.#ended;
  }
}

describe('GStreamer webrtcbin by WHIP and WHEP (examples/gst-whip.py, examples/gst-whep.py)', () => {
  let t: InThreadTestServer;
  let publisher: Script | undefined;

  before(async () => {
    t = await startInThreadServer();
  });
  after(async () => {
    await publisher?.stop();
    await t.close();
  });

  it('a max-bundle webrtcbin publishes audio and video by WHIP; another plays both by WHEP', async (context) => {
    publisher = new Script('gst-whip.py', [`${t.url}/whip/gst?name=GStreamer`, ...ICE]);
    const tracks = () => {
      const room = t.rooms.host.registry.rooms.get('gst');
      const p = room && [...room.participants.values()].find((x) => x.name === 'GStreamer');
      return p ? [...p.tracks.values()].map((e) => e.track.kind).sort() : [];
    };
    await eventually(
      'the GStreamer publisher is in the room with an audio and a video track',
      () => tracks().length === 2 || publisher!.exit !== undefined,
      30_000,
      100,
    );
    assert.deepEqual(tracks(), ['audio', 'video'], `gst-whip.py: ${publisher.stderr}`);

    // One player follows the publisher (its audio and video forwarded untouched), the other plays the
    // room (the server's Opus mix and the speaker's video); both offer a bundle-only audio line.
    const players = [
      {
        what: 'the player of GStreamer',
        script: new Script('gst-whep.py', [`${t.url}/whep/gst/GStreamer`, ...ICE]),
      },
      { what: 'the player of the room', script: new Script('gst-whep.py', [`${t.url}/whep/gst`, ...ICE]) },
    ];
    try {
      const both = (c: Counts | undefined) => c !== undefined && c.audioBuffers > 0 && c.videoFrames > 0;
      const firsts: Counts[] = [];
      for (const { what, script } of players) {
        await eventually(
          `${what} decodes audio and video`,
          () => both(script.counts) || script.exit !== undefined,
          30_000,
          100,
        );
        assert.ok(both(script.counts), `${what} decoded ${JSON.stringify(script.counts)}: ${script.stderr}`);
        firsts.push(script.counts!);
      }
      const advanced = (first: Counts, now: Counts) =>
        now.audioBuffers >= first.audioBuffers + 50 && now.videoFrames >= first.videoFrames + 15;
      for (const [i, { what, script }] of players.entries()) {
        await eventually(
          `what ${what} decodes advances`,
          () => advanced(firsts[i]!, script.counts!) || script.exit !== undefined,
          30_000,
          100,
        );
        await script.stop();
        const last = script.counts!;
        assert.equal(last.final, true, `${what} printed its final counts: ${script.stderr}`);
        assert.ok(
          advanced(firsts[i]!, last),
          `${what}: from ${JSON.stringify(firsts[i])} to ${JSON.stringify(last)}`,
        );
        context.diagnostic(
          `${what} decoded ${last.audioBuffers} audio buffers and ${last.videoFrames} video frames`,
        );
      }
      await eventually(
        'the players left the room on their DELETE',
        () => t.rooms.gateways.whep.size === 0,
        15_000,
      );
    } finally {
      for (const { script } of players) await script.stop();
    }
  });

  it("an H.264-only player of a VP8 room is refused, told the room's codec", async () => {
    assert.ok(publisher && publisher.exit === undefined, 'the VP8 publisher of the previous test runs');
    const player = new Script('gst-whep.py', [
      `${t.url}/whep/gst`,
      '--video-codec',
      'H264',
      '--no-audio',
      '--seconds',
      '20',
      ...ICE,
    ]);
    await player.ended();
    assert.equal(player.exit, 1, `gst-whep.py exits with an error: ${player.stderr}`);
    const refusal = JSON.parse(player.lines.find((l) => l.startsWith('{"status"'))!) as {
      status: number;
      body: string;
    };
    assert.equal(refusal.status, 400);
    const { code, message } = JSON.parse(refusal.body).error;
    assert.equal(code, 'NO_COMMON_CODEC');
    assert.match(message, /room's video is VP8/);
    assert.equal(t.rooms.gateways.whep.size, 0);
  });
});

describe('GStreamer H.264 by WHIP, recorded', () => {
  it('records an H.264 publisher to a Matroska file that decodes, and into the movie', async (context) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-gst-rec-'));
    const t = await startInThreadServer({ dataDir });
    const publisher = new Script('gst-whip.py', [
      `${t.url}/whip/gst-h264?name=GStreamer`,
      '--video-codec',
      'H264',
      '--size',
      '320x240',
      ...ICE,
    ]);
    try {
      const codec = () => {
        const room = t.rooms.host.registry.rooms.get('gst-h264');
        const p = room && [...room.participants.values()].find((x) => x.name === 'GStreamer');
        return p && [...p.tracks.values()].find((e) => e.track.kind === 'video')?.track.mimeType;
      };
      await eventually(
        'the GStreamer publisher sends H.264',
        () => codec() !== undefined || publisher.exit !== undefined,
        30_000,
        100,
      );
      assert.equal(codec(), 'video/H264', `gst-whip.py: ${publisher.stderr}`);
      const { id } = await t.rooms.host.startRecording('gst-h264');
      await new Promise((resolve) => setTimeout(resolve, 6000));
      await t.rooms.host.stopRecording('gst-h264').catch(async (e) => {
        throw new Error(`${e.message}: ${JSON.stringify(await readMeta(dataDir, id))}`);
      });
      const meta = () => readMeta(dataDir, id);
      await eventually('the recording is ready', async () => (await meta())?.state === 'ready', 120_000, 250);
      const timeline = JSON.parse(
        readFileSync(join(dataDir, 'recordings', id, 'timeline.json'), 'utf8'),
      ) as Timeline;
      const video = timeline.tracks.find((tr) => tr.kind === 'video')!;
      assert.equal(video.codec, 'h264');
      assert.match(video.file, /\.mkv$/);
      const file = join(dataDir, 'recordings', id, video.file);
      const probe = (
        await runMediaTool('ffprobe', [
          ...['-v', 'error', '-show_entries', 'stream=codec_name,width,height:format=duration'],
          ...['-of', 'csv=p=0', file],
        ])
      ).stdout
        .toString()
        .trim();
      context.diagnostic(`${video.file}: ${probe.replace(/\n/g, ' | ')}`);
      assert.match(probe, /^h264,320,240/);
      const seconds = Number(probe.split('\n').at(-1));
      assert.ok(seconds >= 4.5, `the file holds ${seconds} s of the 6 s recorded`);
      assert.equal(await decodeErrors(file), '', 'every frame decodes');
      assert.equal((await meta())?.movie?.state, 'ready');
    } finally {
      await publisher.stop();
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
