import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { RTCPeerConnection } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import { type MuxRoute, MuxTable, UdpMux, udpMuxes } from '../src/werift/udpMux.js';
import { UdpMuxRelay } from '../src/werift/udpMuxRelay.js';
import {
  eventually,
  freePort,
  LOOPBACK,
  startClusterTestServer,
  startInThreadServer,
  startTestServer,
  type TestServer,
} from './helpers/server.js';
import { bindingRequest, serverCredentials } from './helpers/stun.js';

/**
 * All media on one UDP port (src/werift/udpMux.ts, `rtc.udpPort`): calls work through it, the server binds
 * no other UDP port, junk at the port changes nothing, and the mux forgets every connection that closed.
 * Every datagram goes to loopback; the ports are ephemeral (freePort), never 545 or 5450.
 */

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** Video frames and audio packets a bot has received from another. */
const framesFrom = (to: Bot, from: Bot) =>
  to.receivedFrom(from.room.participantId).reduce((n, r) => n + r.frames, 0);
const packetsFrom = (to: Bot, from: Bot) =>
  to.receivedFrom(from.room.participantId).reduce((n, r) => n + r.packets, 0);

/** Every bot receives video frames from every other, `more` than it had at `since`. */
function allFlowing(bots: Bot[], more: number, since = new Map<string, number>()): boolean {
  for (const to of bots)
    for (const from of bots) {
      if (to === from) continue;
      const key = `${to.room.participantId}<${from.room.participantId}`;
      if (framesFrom(to, from) < (since.get(key) ?? 0) + more) return false;
    }
  return true;
}

function snapshot(bots: Bot[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const to of bots)
    for (const from of bots)
      if (to !== from) m.set(`${to.room.participantId}<${from.room.participantId}`, framesFrom(to, from));
  return m;
}

/** The UDP ports process `pid` has bound, from `ss -uanp` (with `tcp`: its listening TCP ports, `ss -tlnp`). */
function udpPortsOf(pid: number, tcp = false): number[] {
  const out = execFileSync('ss', [tcp ? '-tlnp' : '-uanp'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[3];
    const port = Number(local?.slice(local.lastIndexOf(':') + 1));
    if (Number.isInteger(port)) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** A DTLS 1.2 record header and junk (content type `type`), as from an unknown peer. */
function dtlsRecord(type: number): Buffer {
  const b = randomBytes(13 + 60);
  b[0] = type;
  b.writeUInt16BE(0xfefd, 1);
  b.writeUInt16BE(60, 11);
  return b;
}

/** An RTP packet (version 2) with a random SSRC and payload. */
function rtpPacket(payloadType: number): Buffer {
  const b = randomBytes(12 + 200);
  b[0] = 0x80;
  b[1] = payloadType & 0x7f;
  return b;
}

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  return s;
}

/**
 * Sends `datagrams` to 127.0.0.1:`port` from `sockets` in turn, `burst` at a time, each burst once the mux
 * has read the one before (`received` counts what it read): the kernel's receive buffer of the one socket
 * (net.core.rmem_max, ~200 KiB) would otherwise overflow, and a datagram the kernel drops tests nothing.
 */
async function spray(
  sockets: Socket[],
  port: number,
  datagrams: Buffer[],
  received: () => number,
  burst = 50,
): Promise<void> {
  const start = received();
  for (let i = 0; i < datagrams.length; i += burst) {
    const batch = datagrams.slice(i, i + burst);
    await Promise.all(
      batch.map(
        (d, j) =>
          new Promise<void>((resolve) =>
            sockets[(i + j) % sockets.length]!.send(d, port, '127.0.0.1', () => resolve()),
          ),
      ),
    );
    const target = start + i + batch.length;
    for (let waited = 0; received() < target && waited < 500; waited += 1) await sleep(1);
  }
}

/** What the tests read of a mux: a thread's own (UdpMux) or the main thread's for worker threads (UdpMuxRelay). */
type AnyMux = Pick<UdpMux, 'stats' | 'limits' | 'sizes' | 'boundAddresses'>;

for (const mode of ['rooms on the main thread', 'rooms on two worker threads'] as const)
  describe(`UDP mux: a server with rtc.udpPort, ${mode}`, () => {
    let t: TestServer;
    let udpPort: number;
    let minPort: number;
    let mux: AnyMux;
    const bots: Bot[] = [];
    /** Each bot's peer connections, by bot index. */
    const pcs: RTCPeerConnection[][] = [];
    const changes: string[] = [];

    before(async () => {
      udpPort = await freePort();
      // A range far from the ephemeral ports (32768–60999) the bots' own sockets come from: nothing may be bound there.
      minPort = 20_000 + Math.floor(Math.random() * 500) * 20;
      const rtc = { udpPort, minPort, maxPort: minPort + 19 };
      t =
        mode === 'rooms on the main thread'
          ? await startInThreadServer({ rtc })
          : await startClusterTestServer(2, { rtc });
      for (const name of ['ada', 'bob', 'cyd']) {
        const mine: RTCPeerConnection[] = [];
        pcs.push(mine);
        const bot = await Bot.start({
          url: t.url,
          room: 'mux',
          name,
          hostAddresses: LOOPBACK,
          onPeerConnection: (pc) => mine.push(pc),
        });
        bots.push(bot);
      }
      const found = mode === 'rooms on the main thread' ? udpMuxes().get(udpPort) : t.server.workers.udpMux;
      assert.ok(
        found instanceof UdpMux || found instanceof UdpMuxRelay,
        'the server made a mux for its udpPort',
      );
      mux = found;
    });

    after(async () => {
      for (const bot of bots) await bot.stop().catch(() => {});
      await t?.close();
    });

    it('carries media both ways between three participants, on the one port only', async (t) => {
      await eventually('video frames from everyone to everyone', () => allFlowing(bots, 10));
      // And still advancing.
      const since = snapshot(bots);
      await eventually('frames keep arriving', () => allFlowing(bots, 10, since));
      for (const to of bots)
        for (const from of bots)
          if (to !== from) assert.ok(packetsFrom(to, from) > 50, 'audio and video packets arrive');
      // Three participants, a publishing and a subscribing connection each: six ICE connections on the mux.
      const sizes = mux.sizes();
      t.diagnostic(
        `mux holds ${JSON.stringify(sizes)}; server UDP ports: ${udpPortsOf(process.pid).filter((p) => p === udpPort || (p >= minPort && p <= minPort + 19))}`,
      );
      assert.equal(sizes.connections, 6, JSON.stringify(sizes));
      assert.ok(
        sizes.bindings >= 6 && sizes.bindings <= 12,
        `each connection bound its peer: ${JSON.stringify(sizes)}`,
      );
      assert.ok(mux.stats.delivered > 200, JSON.stringify(mux.stats));
      // Every candidate the server gave the bots is the mux port.
      for (const list of pcs)
        for (const pc of list) {
          const ports = [
            ...(pc.remoteDescription?.sdp ?? '').matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ/gm),
          ].map((m) => Number(m[1]));
          assert.ok(ports.length > 0);
          assert.deepEqual(new Set(ports), new Set([udpPort]));
        }
      // The server's side binds the mux port and nothing in its range (the bots' sockets are elsewhere).
      const bound = udpPortsOf(process.pid);
      assert.ok(bound.includes(udpPort), `${udpPort} bound: ${bound}`);
      assert.deepEqual(
        bound.filter((p) => p >= minPort && p <= minPort + 19),
        [],
      );
      if (mux instanceof UdpMuxRelay) {
        // Each worker sends its media from its own copy of the socket, not through the main thread: the
        // relay sends only the workers' ICE checks.
        let received = 0;
        for (const to of bots) for (const from of bots) if (to !== from) received += packetsFrom(to, from);
        t.diagnostic(`relay sent ${mux.relayedSends} datagrams for workers; the bots received ${received}`);
        assert.equal(mux.copiesHanded, 2, 'each worker got a copy of the socket');
        assert.ok(mux.relayedSends < received / 10, `${mux.relayedSends} relayed of ${received}`);
      }
    });

    if (mode === 'rooms on two worker threads')
      it('loses only its copy of the socket when a worker thread ends: the port and the other rooms stay', async () => {
        const relay = mux as UdpMuxRelay;
        const owner = t.server.workers.ownerOf('mux')!;
        const other = t.server.workers.all.find((w) => w !== owner)!;
        const since = snapshot(bots);
        await other.worker.terminate();
        const replacement = t.server.workers.all[other.index]!;
        await replacement.ready;
        await eventually('the new worker got its copy of the socket', () => relay.copiesHanded === 3);
        // A new room goes to the worker with the fewest rooms: the new one.
        const pair: Bot[] = [];
        for (const name of ['dee', 'eve'])
          pair.push(await Bot.start({ url: t.url, room: 'mux-after', name, hostAddresses: LOOPBACK }));
        try {
          assert.equal(t.server.workers.ownerOf('mux-after'), replacement);
          await eventually('frames both ways in the new worker’s room', () => allFlowing(pair, 10));
          await eventually('frames keep arriving in the first room', () => allFlowing(bots, 10, since));
        } finally {
          for (const bot of pair) await bot.stop();
        }
      });

    it('drops 20,000 junk datagrams: forged STUN, DTLS and RTP from unknown addresses; the call goes on', async (t) => {
      const started = performance.now();
      for (const bot of bots) {
        bot.room.on('connectionState', (state) => changes.push(`${bot.room.participantId}: ${state}`));
        bot.room.on('participantState', (p) =>
          changes.push(`${bot.room.participantId} sees ${p.name}: ${p.state}`),
        );
        bot.room.on('participantLeft', (p) => changes.push(`${bot.room.participantId} sees ${p.name} leave`));
      }
      const participants = () => bots.map((b) => [...b.room.participants.keys()].sort());
      const participantsBefore = participants();
      const sizesBefore = mux.sizes();
      const statsBefore = { ...mux.stats };
      const boundBefore = mux.boundAddresses().sort();
      // The attacker knows real ufrags (they are in the SDP), not the passwords.
      const targets = pcs.flat().map(serverCredentials);
      const stun: Buffer[] = [];
      for (let i = 0; i < 8000; i++) {
        const c = targets[i % targets.length]!;
        stun.push(
          bindingRequest(`${c.ufrag}:${c.clientUfrag}`, i % 2 ? 'wrong-password-xxxxxxxxx' : c.pwd.slice(1)),
        );
      }
      const dtls = Array.from({ length: 6000 }, (_, i) => dtlsRecord([20, 22, 23, 25, 63][i % 5]!));
      const rtp = Array.from({ length: 6000 }, (_, i) => rtpPacket(i % 2 ? 96 : 111));
      // Interleaved: STUN, DTLS and RTP in turn.
      const junk: Buffer[] = [];
      for (let i = 0; i < 8000; i++) for (const list of [stun, dtls, rtp]) if (list[i]) junk.push(list[i]!);
      assert.equal(junk.length, 20_000);
      const sockets = await Promise.all(Array.from({ length: 20 }, udpSocket));
      const answers: Buffer[] = [];
      for (const s of sockets) s.on('message', (m) => answers.push(m));
      const since = snapshot(bots);
      // What the mux dropped (the call's own datagrams are never dropped; the junk always is).
      const dropped = () =>
        mux.stats.droppedKind +
        mux.stats.droppedStunAuth +
        mux.stats.droppedStunOther +
        mux.stats.droppedUnbound;
      const droppedBefore = dropped();
      await spray(sockets, udpPort, junk, dropped);
      await eventually('the mux dropped all the junk', () => dropped() - droppedBefore >= 20_000);
      const stats = mux.stats;
      assert.equal(stats.droppedStunAuth - statsBefore.droppedStunAuth, 8000, JSON.stringify(stats));
      assert.equal(stats.droppedUnbound - statsBefore.droppedUnbound, 12_000, JSON.stringify(stats));
      // Nothing learnt: no new binding, ufrag, connection or transaction.
      assert.deepEqual(mux.boundAddresses().sort(), boundBefore);
      const sizesAfter = mux.sizes();
      assert.equal(sizesAfter.connections, sizesBefore.connections);
      assert.equal(sizesAfter.ufrags, sizesBefore.ufrags);
      assert.equal(sizesAfter.bindings, sizesBefore.bindings);
      assert.ok(sizesAfter.transactions <= 6 * mux.limits.transactionsPerConnection);
      // Nothing answered the junk.
      await sleep(500);
      assert.equal(answers.length, 0);
      // The call goes on, with no participant or connection changing state.
      await eventually('frames keep arriving after the junk', () => allFlowing(bots, 10, since));
      assert.deepEqual(changes, []);
      t.diagnostic(
        `junk sent and dropped in ${Math.round(performance.now() - started)} ms; mux holds ${JSON.stringify(mux.sizes())} (before: ${JSON.stringify(sizesBefore)}); stats ${JSON.stringify(mux.stats)}`,
      );
      assert.deepEqual(participants(), participantsBefore);
      for (const s of sockets) s.close();
    });

    it('answers and binds a check only when its MESSAGE-INTEGRITY is right (the control)', async () => {
      const [pc] = pcs[0]!;
      const c = serverCredentials(pc!);
      const s = await udpSocket();
      const answers: Buffer[] = [];
      s.on('message', (m) => answers.push(m));
      const before = mux.sizes().bindings;
      s.send(bindingRequest(`${c.ufrag}:${c.clientUfrag}`, `${c.pwd}x`), udpPort, '127.0.0.1');
      await sleep(300);
      assert.equal(answers.length, 0);
      assert.equal(mux.sizes().bindings, before);
      s.send(bindingRequest(`${c.ufrag}:${c.clientUfrag}`, c.pwd), udpPort, '127.0.0.1');
      await eventually('a binding response', () => answers.length > 0);
      assert.equal(answers[0]!.readUInt16BE(0), 0x0101, 'binding success response');
      assert.equal(mux.sizes().bindings, before + 1);
      s.close();
    });

    it('holds nothing once everyone has left', async (t) => {
      for (const bot of bots) await bot.stop();
      await eventually('the mux forgot every connection', () => {
        const s = mux.sizes();
        return s.connections === 0 && s.ufrags === 0 && s.bindings === 0 && s.transactions === 0;
      });
      assert.deepEqual(mux.boundAddresses(), []);
      t.diagnostic(`after everyone left: ${JSON.stringify(mux.sizes())}`);
    });
  });

describe('by default: the media on the number of the HTTP port', () => {
  let t: TestServer | undefined;
  const bots: Bot[] = [];
  after(async () => {
    for (const bot of bots) await bot.stop().catch(() => {});
    await t?.close();
  });

  it('puts every connection on one UDP port, the number of its TCP port', async () => {
    t = await startTestServer();
    for (const name of ['ada', 'bob'])
      bots.push(await Bot.start({ url: t.url, room: 'default-port', name, hostAddresses: LOOPBACK }));
    await eventually('frames both ways', () => allFlowing(bots, 10));
    const relay = t.server.workers.udpMux;
    assert.ok(relay, 'a UDP mux without rtc.udpPort');
    assert.equal(relay.port, t.port);
    assert.ok(udpPortsOf(process.pid).includes(t.port));
  });
});

describe("with rtc.udpPort 'range'", () => {
  let t: TestServer | undefined;
  const bots: Bot[] = [];
  after(async () => {
    for (const bot of bots) await bot.stop().catch(() => {});
    await t?.close();
  });

  it('binds a socket per connection from the port range', async () => {
    const minPort = 21_000 + Math.floor(Math.random() * 400) * 20;
    const muxesBefore = udpMuxes().size;
    t = await startInThreadServer({ rtc: { minPort, maxPort: minPort + 19, udpPort: 'range' } });
    for (const name of ['ada', 'bob'])
      bots.push(await Bot.start({ url: t.url, room: 'range', name, hostAddresses: LOOPBACK }));
    await eventually('frames both ways', () => allFlowing(bots, 10));
    // Two participants, two connections each: four sockets from the range; no mux.
    const inRange = udpPortsOf(process.pid).filter((p) => p >= minPort && p <= minPort + 19);
    assert.equal(inRange.length, 4, `${inRange}`);
    assert.equal(udpMuxes().size, muxesBefore);
  });
});

describe('UDP mux: what it remembers is capped', () => {
  /** A route as a connection has one: ufrag "u<i>", password "p<i>". */
  const route = (i: number): MuxRoute => ({
    ufrags: new Set(),
    bindings: new Set(),
    transactions: new Set(),
    password: (ufrag) => (ufrag === `u${i}` ? `p${i}` : undefined),
  });

  it("keeps a connection's most recently validated addresses, and no more than the mux's cap", () => {
    const table = new MuxTable<MuxRoute>({ bindingsPerConnection: 4, bindings: 10 });
    const routes = [0, 1, 2, 3].map(route);
    routes.forEach((r, i) => {
      table.added();
      table.addUfrag(r, `u${i}`);
    });
    const check = (i: number) => bindingRequest(`u${i}:peer`, `p${i}`);
    // Connection 0's peer checks from 6 ports, then again from the first (its address in use).
    for (let port = 1; port <= 6; port++) assert.equal(table.route(check(0), '127.0.0.2', port), routes[0]);
    assert.equal(table.sizes().bindings, 4);
    assert.deepEqual(
      [...routes[0]!.bindings],
      [3, 4, 5, 6].map((p) => `127.0.0.2|${p}`),
    );
    assert.equal(table.route(rtpPacket(96), '127.0.0.2', 1), undefined, 'the oldest address was let go');
    assert.equal(table.route(rtpPacket(96), '127.0.0.2', 6), routes[0]);
    table.route(check(0), '127.0.0.2', 3);
    table.route(check(0), '127.0.0.2', 7);
    assert.ok(routes[0]!.bindings.has('127.0.0.2|3'), 'a renewed address stays');
    assert.ok(!routes[0]!.bindings.has('127.0.0.2|4'));
    // The mux's cap over all connections: 10.
    for (let i = 1; i <= 3; i++)
      for (let port = 1; port <= 4; port++) table.route(check(i), `127.0.1.${i}`, port);
    assert.equal(table.sizes().bindings, 10);
    assert.equal(table.stats.bindingsRefused, 6);
    // Wrong passwords and unknown ufrags bind nothing, and a connection that closes takes its bindings along.
    assert.equal(table.route(bindingRequest('u1:peer', 'p2'), '127.0.0.9', 1), undefined);
    assert.equal(table.route(bindingRequest('nobody:peer', 'p1'), '127.0.0.9', 1), undefined);
    for (const r of routes) table.forget(r);
    assert.deepEqual(table.sizes(), { connections: 0, ufrags: 0, bindings: 0, transactions: 0 });
  });

  it("forgets the oldest of a connection's unanswered transactions past its cap", () => {
    const table = new MuxTable<MuxRoute>({ transactionsPerConnection: 3 });
    const r = route(0);
    table.added();
    table.addUfrag(r, 'u0');
    const requests = Array.from({ length: 5 }, () => bindingRequest('peer:u0', 'x'));
    for (const q of requests) table.expectResponse(r, q);
    assert.equal(table.sizes().transactions, 3);
    const response = (q: Buffer) => {
      const b = Buffer.from(q.subarray(0, 20));
      b.writeUInt16BE(0x0101, 0);
      b.writeUInt16BE(0, 2);
      return b;
    };
    assert.equal(table.route(response(requests[0]!), '127.0.0.3', 9), undefined);
    assert.equal(table.route(response(requests[4]!), '127.0.0.3', 9), r);
    assert.equal(table.sizes().transactions, 2);
    table.forget(r);
    assert.deepEqual(table.sizes(), { connections: 0, ufrags: 0, bindings: 0, transactions: 0 });
  });

  it('binds the address a check went to once its response comes from there, and no other', () => {
    const table = new MuxTable<MuxRoute>();
    const r = route(0);
    table.added();
    table.addUfrag(r, 'u0');
    const [toPeer, toOther] = [bindingRequest('peer:u0', 'x'), bindingRequest('peer:u0', 'x')];
    table.expectResponse(r, toPeer, '127.0.0.4', 4000);
    table.expectResponse(r, toOther, '127.0.0.4', 4001);
    const response = (q: Buffer) => {
      const b = Buffer.from(q.subarray(0, 20));
      b.writeUInt16BE(0x0101, 0);
      b.writeUInt16BE(0, 2);
      return b;
    };
    assert.equal(table.route(rtpPacket(96), '127.0.0.4', 4000), undefined, 'nothing bound before');
    assert.equal(table.route(response(toPeer), '127.0.0.4', 4000), r);
    assert.equal(table.route(rtpPacket(96), '127.0.0.4', 4000), r, 'DTLS and media from there now');
    // A response to the other check, but from an address it did not go to: routed, not bound.
    assert.equal(table.route(response(toOther), '127.0.0.5', 4001), r);
    assert.equal(table.route(rtpPacket(96), '127.0.0.5', 4001), undefined);
    table.forget(r);
    assert.deepEqual(table.sizes(), { connections: 0, ufrags: 0, bindings: 0, transactions: 0 });
  });
});

describe('UDP mux: a port that is taken', () => {
  for (const workers of [0, 1])
    it(`stops the start with ${workers} worker thread(s), as a taken HTTP port does`, async () => {
      const udpPort = await freePort();
      const holder = createSocket('udp4');
      await new Promise<void>((resolve) => holder.bind(udpPort, '0.0.0.0', () => resolve()));
      try {
        await assert.rejects(
          workers === 0
            ? startInThreadServer({ rtc: { udpPort } })
            : startClusterTestServer(workers, { rtc: { udpPort } }),
          /EADDRINUSE/,
        );
      } finally {
        holder.close();
      }
    });
});

/** Waits for `child`'s output to match `pattern`. */
function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  output: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${output()}`)), timeoutMs);
    const check = () => {
      if (pattern.test(output())) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${output()}`)));
    check();
  });
}

describe('UDP mux: `port545 serve` as its own process, with its default media port', () => {
  let child: ChildProcess;
  let dataDir: string;
  const bots: Bot[] = [];

  after(async () => {
    for (const bot of bots) await bot.stop().catch(() => {});
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('binds exactly its TCP port and the same UDP port while two rooms, one per worker thread, talk through it', async () => {
    const port = await freePort();
    const udpPort = port;
    dataDir = await mkdtemp(join(tmpdir(), 'port545-udpmux-'));
    let output = '';
    // src/cli.ts through tsx: the sources under test, not a build.
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--rtc-host',
        '127.0.0.1',
        '--workers',
        '2',
        '--data-dir',
        dataDir,
        '--log-level',
        'warn',
      ],
      { cwd: REPO, env: { ...process.env, PORT545_MDNS: 'off' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const collect = (d: Buffer) => {
      output += d;
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await waitForOutput(child, /Rooms run on/, () => output);
    assert.ok(output.includes(`WebRTC media uses UDP port ${udpPort} (one port`), output);
    assert.match(output, /Rooms run on 2 worker threads/);
    const url = `http://127.0.0.1:${port}`;
    // Two rooms: a new room goes to the worker with the fewest, so each worker thread has one.
    const rooms: Bot[][] = [[], []];
    for (const [r, room] of ['one-port-a', 'one-port-b'].entries())
      for (const name of ['ada', 'bob']) {
        const bot = await Bot.start({ url, room, name, hostAddresses: LOOPBACK });
        bots.push(bot);
        rooms[r]!.push(bot);
      }
    for (const room of rooms) {
      await eventually('frames both ways', () => allFlowing(room, 10));
      const since = snapshot(room);
      await eventually('frames keep arriving', () => allFlowing(room, 10, since));
    }
    // What a firewall must let through: TCP and UDP of the one number, nothing else (no SIP by default).
    assert.deepEqual(udpPortsOf(child.pid!), [udpPort]);
    assert.deepEqual(udpPortsOf(child.pid!, true), [port]);
  });
});
