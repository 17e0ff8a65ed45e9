import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RtpPacket } from 'werift';
import { decodeG711 } from '../src/audio/g711.js';
import { pcmRms } from '../src/audio/pcm.js';
import { Bot } from '../src/bot/Bot.js';
import { writeOggOpus } from '../src/media/ogg.js';
import { type CliRun, runCli } from './helpers/cli.js';
import { opusRms } from './helpers/ffmpeg.js';
import { LOOPBACK, MIN_WAIT_MS, withDeadline } from './helpers/server.js';
import { freePort, RtpListener, runSipp, SIPP_PCAP_DIR } from './helpers/sipp.js';

const API_KEY = 'k'.repeat(24);
const admin = { authorization: `Bearer ${API_KEY}` };

interface RoomView {
  name: string;
  worker?: number;
  participants: {
    id: string;
    name: string;
    tracks: { kind: string }[];
    sip?: { codec: string; packetsSent: number };
  }[];
}

/** Polls an asynchronous `check` until it holds, for at least MIN_WAIT_MS; then fails with `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + Math.max(timeoutMs, MIN_WAIT_MS);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** RMS (0..1) of the A-law RTP packets a phone got, and how many there were. */
function alawRms(packets: Buffer[]): { rms: number; count: number } {
  const samples = packets
    .map((p) => RtpPacket.deSerialize(p))
    .filter((rtp) => rtp.header.payloadType === 8)
    .map((rtp) => decodeG711(rtp.payload, 'alaw'));
  const all = new Int16Array(samples.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of samples) {
    all.set(s, o);
    o += s.length;
  }
  return { rms: pcmRms(all), count: samples.length };
}

/**
 * Issue #17: `port545 serve --sip` used to force every room onto the main thread. Now the main thread
 * holds the SIP sockets and routes each call to the worker of its room. Run as users run it: the built
 * CLI, default bindings (HTTP, SIP and RTP on `::`), two workers; two rooms, each with a speaking bot
 * and a sipp caller, land on different workers and each caller hears its own room and is heard in it.
 */
describe('port545 serve --sip --workers 2: each call runs on the worker of its room', () => {
  let run: CliRun;
  let base: string;
  let sipPort: number;
  let dataDir: string;
  const bots = new Map<string, Bot>();
  const rooms = ['phone-north', 'phone-south'];

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}/api/v1${path}`, { headers: admin });
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'port545-sipworkers-'));
    const port = await freePort();
    run = runCli(
      [
        'serve',
        '--port',
        String(port),
        '--workers',
        '2',
        '--sip',
        '--sip-port',
        '0',
        '--rtc-host',
        '127.0.0.1',
        '--data-dir',
        dataDir,
      ],
      { env: { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: 's'.repeat(40) } },
    );
    await run.waitFor(/Rooms run on 2 worker threads/);
    sipPort = Number((await run.waitFor(/sip:<room>@<this host>:(\d+)/))[1]);
    base = `http://127.0.0.1:${port}`;
    for (const room of rooms)
      bots.set(
        room,
        await Bot.start({
          url: base,
          room,
          name: 'Ada',
          video: false,
          keepMedia: true,
          hostAddresses: LOOPBACK,
        }),
      );
  });

  after(async () => {
    for (const bot of bots.values()) await bot.stop();
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGTERM');
      await withDeadline(run.exited, 30_000, 'the server to exit after SIGTERM').catch(() => undefined);
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps both workers, puts the two rooms on different ones, and each caller hears its room', async (ctx) => {
    // The bots publish before the phones call: else the phones' first seconds are silence.
    for (const room of rooms)
      await until(`Ada publishes audio in ${room}`, async () =>
        (await api<RoomView>(`/rooms/${room}`)).participants.some(
          (p) => p.name === 'Ada' && p.tracks.some((t) => t.kind === 'audio'),
        ),
      );
    const phones = new Map<string, RtpListener>();
    for (const room of rooms) {
      const phone = new RtpListener(4);
      await phone.open();
      phones.set(room, phone);
    }
    try {
      const calls = rooms.map((room) =>
        runSipp({
          scenario: 'call.xml',
          port: sipPort,
          service: room,
          keys: { rtp_port: phones.get(room)!.port, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
          pauseMs: 8000,
        }),
      );

      // While the calls are up: each caller is a participant of its room, on that room's worker.
      const callerOf = new Map<string, string>();
      await until('both callers are in their rooms, with their calls’ RTP counters', async () => {
        for (const room of rooms) {
          const view = await api<RoomView>(`/rooms/${room}`);
          const caller = view.participants.find((p) => p.name === 'Sipp Caller');
          if (!caller?.sip || caller.sip.packetsSent < 10) return false;
          callerOf.set(room, caller.id);
        }
        return true;
      });
      const listed = (await api<{ rooms: RoomView[] }>('/rooms')).rooms;
      const workerOf = (room: string) => listed.find((r) => r.name === room)?.worker;
      ctx.diagnostic(`rooms on workers: ${rooms.map((r) => `${r} → ${workerOf(r)}`).join(', ')}`);
      assert.ok(
        workerOf(rooms[0]!) !== undefined && workerOf(rooms[1]!) !== undefined,
        JSON.stringify(listed),
      );
      assert.notEqual(workerOf(rooms[0]!), workerOf(rooms[1]!), 'the two rooms are on different workers');

      const results = await Promise.all(calls);
      for (const [i, result] of results.entries())
        assert.equal(
          result.code,
          0,
          `sipp calling ${rooms[i]}:\n${result.stdout}\n${result.errors}\n${result.messages}`,
        );

      for (const room of rooms) {
        const heard = alawRms(phones.get(room)!.packets);
        ctx.diagnostic(`${room}: the phone got ${heard.count} PCMA packets, RMS ${heard.rms.toFixed(3)}`);
        assert.ok(heard.count > 100, `${room}: the phone received ${heard.count} RTP packets of the room`);
        assert.ok(heard.rms > 0.02, `${room}: the room's audio at the phone has RMS ${heard.rms.toFixed(3)}`);
        const fromCaller = bots
          .get(room)!
          .receivedFrom(callerOf.get(room)!)
          .find((r) => r.kind === 'audio');
        assert.ok(fromCaller && fromCaller.packets > 100, `${room}: the bot received the caller's audio`);
        const rms = await opusRms(writeOggOpus(fromCaller.media, { channels: 1 }));
        ctx.diagnostic(
          `${room}: the bot got ${fromCaller.packets} Opus packets from the caller, RMS ${rms.toFixed(3)}`,
        );
        assert.ok(rms > 0.01, `${room}: the caller's voice in the room has RMS ${rms.toFixed(3)}`);
      }

      // The BYEs went through the main thread to the workers: the callers have left their rooms.
      await until('both callers have left', async () => {
        for (const room of rooms) {
          const view = await api<RoomView>(`/rooms/${room}`);
          if (view.participants.some((p) => p.name === 'Sipp Caller')) return false;
        }
        return true;
      });
    } finally {
      for (const phone of phones.values()) phone.close();
    }
    run.child.kill('SIGTERM');
    const { code } = await withDeadline(run.exited, 30_000, 'the server to exit after SIGTERM');
    assert.equal(code, 0, run.output());
  });
});
