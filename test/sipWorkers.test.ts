import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { writeOggOpus } from '../src/media/ogg.js';
import { type CliRun, runCli } from './helpers/cli.js';
import { opusRms } from './helpers/ffmpeg.js';
import {
  eventually,
  freePort,
  LOOPBACK,
  MIN_WAIT_MS,
  startClusterTestServer,
  type TestServer,
  withDeadline,
} from './helpers/server.js';
import { alawRms, RtpListener, runSipp, SIPP_PCAP_DIR } from './helpers/sipp.js';

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

/** A phone made of one UDP socket: sends requests as text, collects the responses by Call-ID. */
class RawPhone {
  readonly socket: Socket = createSocket('udp4');
  readonly responses: string[] = [];
  port = 0;

  async open(): Promise<void> {
    this.socket.on('message', (data) => this.responses.push(data.toString('latin1')));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    this.port = this.socket.address().port;
  }

  send(text: string, to: number): void {
    this.socket.send(text.replaceAll('PHONEPORT', String(this.port)), to, '127.0.0.1');
  }

  /** The first response for `callId` whose status line matches `status` (and whose text matches `and`). */
  async response(callId: string, status: RegExp, and = /./): Promise<string> {
    let found: string | undefined;
    await eventually(`a ${status} for ${callId}`, () => {
      found = this.responses.find(
        (r) => status.test(r.split('\r\n')[0]!) && r.includes(`Call-ID: ${callId}`) && and.test(r),
      );
      return found !== undefined;
    });
    return found!;
  }

  close(): void {
    this.socket.close();
  }
}

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n';

function request(method: string, uri: string, callId: string, extra: string[] = [], body = ''): string {
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:PHONEPORT;branch=z9hG4bK-${callId}-${method};rport`,
    'Max-Forwards: 70',
    `From: <sip:phone@127.0.0.1:PHONEPORT>;tag=${callId}-tag`,
    ...extra,
    `Call-ID: ${callId}`,
    `CSeq: ${method === 'BYE' ? 2 : 1} ${method}`,
    'Contact: <sip:phone@127.0.0.1:PHONEPORT>',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/**
 * What the main thread answers itself, and what it hands to a worker, when calls run on room workers:
 * every message gets the answer a single-thread gateway gives.
 */
describe('SIP with rooms on workers: what the main thread answers and routes', () => {
  let t: TestServer;
  let phone: RawPhone;

  before(async () => {
    t = await startClusterTestServer(2, {
      host: '::',
      sip: { enabled: true, port: 0, maxCalls: 1 },
      rooms: { emptyTimeoutMs: 500 },
    });
    phone = new RawPhone();
    await phone.open();
  });

  after(async () => {
    phone?.close();
    await t?.close();
  });

  it('answers OPTIONS, garbage and requests for no call; refuses a call past maxCalls; a BYE ends the call on its worker', async () => {
    const sip = t.server.sip!;
    const to = sip.port;
    phone.send(request('OPTIONS', 'sip:127.0.0.1', 'opt-1', ['To: <sip:127.0.0.1>']), to);
    assert.match(await phone.response('opt-1', /^SIP\/2\.0 200 /), /Allow: .*INVITE/);

    phone.send(
      'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:PHONEPORT;branch=z9hG4bK-bad;rport\r\nCall-ID: bad-1\r\n\r\n',
      to,
    );
    await phone.response('bad-1', /^SIP\/2\.0 400 /);
    assert.equal(sip.malformed, 1, 'the main thread read it and answered 400');

    phone.send(request('BYE', 'sip:solo@127.0.0.1', 'nobody-1', ['To: <sip:solo@127.0.0.1>;tag=x']), to);
    await phone.response('nobody-1', /^SIP\/2\.0 481 /);

    // The first call is answered by the worker of its room.
    phone.send(request('INVITE', 'sip:solo@127.0.0.1', 'call-1', ['To: <sip:solo@127.0.0.1>'], SDP), to);
    const ok = await phone.response('call-1', /^SIP\/2\.0 200 /);
    const toHeader = /^To: (.*)$/m.exec(ok)![1]!.trim();
    assert.match(toHeader, /;tag=/);
    assert.ok(t.server.workers.ownerOf('solo'), 'the call placed its room on a worker');
    phone.send(request('ACK', 'sip:solo@127.0.0.1', 'call-1', [`To: ${toHeader}`]), to);
    assert.equal(sip.activeCalls, 1);

    // sip.maxCalls is 1 over all workers: the main thread refuses the second.
    phone.send(request('INVITE', 'sip:other@127.0.0.1', 'call-2', ['To: <sip:other@127.0.0.1>'], SDP), to);
    assert.match(await phone.response('call-2', /^SIP\/2\.0 503 /), /1 calls at once/);
    assert.equal(t.server.workers.ownerOf('other'), undefined, 'a refused call places no room');

    // The BYE follows the call to its worker, which ends it and says so.
    phone.send(request('BYE', 'sip:solo@127.0.0.1', 'call-1', [`To: ${toHeader}`]), to);
    await phone.response('call-1', /^SIP\/2\.0 200 /, /CSeq: 2 BYE/);
    await eventually('the call has ended on its worker', () => sip.activeCalls === 0);
    await eventually(
      'its room is gone, and with it the placement',
      () => t.server.workers.ownerOf('solo') === undefined,
    );
  });
});
