/**
 * A cluster: a real `redis-server` and three `port545 serve --redis` processes, as an operator runs them
 * (default workers and bindings; media on loopback, as every test's). Rooms created through one node are
 * placed over the nodes; a client that reaches a node without its room is in the call; a node killed with
 * SIGKILL takes its rooms with it and their people come back on the others by themselves; Redis gone for
 * ten seconds stops new rooms with a coded error but no call, and the cluster recovers when it is back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { Bot } from '../src/bot/Bot.js';
import { ServerError } from '../src/client/Signal.js';
import { type CliRun, runCli } from './helpers/cli.js';
import { type TestRedis, testRedis } from './helpers/redis.js';
import { eventually, freePort, LOOPBACK, MIN_WAIT_MS } from './helpers/server.js';
import { RtpListener, runSipp, SIPP_PCAP_DIR } from './helpers/sipp.js';

const API_KEY = 'cluster-test-api-key-0123';
const API_SECRET = 'cluster-test-api-secret-0123456789abcdef';

interface TestNode {
  id: string;
  port: number;
  sipPort: number;
  url: string;
  run: CliRun;
}

interface RoomRow {
  name: string;
  participants: number;
  viewers: number;
  node: string;
}

/**
 * Waits for a condition read from the admin API, asking once a second: the API allows 120 requests a
 * minute from one address (`limits.adminRequestsPerMinute`), and this test is one address.
 */
function untilApi(what: string, check: () => Promise<boolean>, timeoutMs = MIN_WAIT_MS): Promise<void> {
  return eventually(what, check, timeoutMs, 1000);
}

/** Frames and audio packets `bot` has received from the participants named `name`, all ids together. */
function fromName(bot: Bot, name: string): { frames: number; audio: number } {
  const ids = new Set([...bot.room.participants.values()].filter((p) => p.name === name).map((p) => p.id));
  let frames = 0;
  let audio = 0;
  for (const r of bot.received.values()) {
    if (!ids.has(r.participantId)) continue;
    if (r.kind === 'video') frames += r.frames;
    else audio += r.packets;
  }
  return { frames, audio };
}

describe('a cluster of three nodes on Redis', () => {
  let redis: TestRedis;
  const nodes: TestNode[] = [];
  const bots: Bot[] = [];
  let dir: string;

  const startNode = async (id: string): Promise<TestNode> => {
    const port = await freePort();
    const sipPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const run = runCli(
      [
        'serve',
        '--port',
        String(port),
        '--redis',
        redis.url,
        '--cluster-url',
        url,
        '--node-id',
        id,
        '--rtc-host',
        LOOPBACK[0]!,
        '--data-dir',
        join(dir, id),
        '--log-level',
        'warn',
        '--sip',
        '--sip-port',
        String(sipPort),
      ],
      { env: { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET } },
    );
    await run.waitFor(/is listening/);
    const node = { id, port, url, run, sipPort };
    nodes.push(node);
    return node;
  };
  const api = async <T>(node: TestNode, path: string): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(`${node.url}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
      // Over the minute's allowance: wait as told, as an operator's script would.
      if (response.status === 429 && attempt < 3) {
        await new Promise((r) => setTimeout(r, 1000 * Number(response.headers.get('retry-after') ?? 5)));
        continue;
      }
      assert.equal(response.status, 200, `${path} on ${node.id}: ${response.status}`);
      return (await response.json()) as T;
    }
  };
  const rooms = async (node: TestNode) => (await api<{ rooms: RoomRow[] }>(node, '/api/v1/rooms')).rooms;
  const liveNodes = async (node: TestNode) =>
    (await api<{ nodes: { id: string }[] }>(node, '/api/v1/nodes')).nodes.map((n) => n.id).sort();
  const bot = async (url: string, room: string, name: string, publish: boolean) => {
    const b = await Bot.start({
      url,
      room,
      name,
      video: publish,
      audio: publish,
      hostAddresses: LOOPBACK,
      jitterBufferMs: 400,
    });
    bots.push(b);
    return b;
  };
  const byId = (id: string) => nodes.find((n) => n.id === id)!;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'port545-cluster-'));
    redis = testRedis(await freePort());
    await redis.start();
    for (const id of ['n1', 'n2', 'n3']) await startNode(id);
    await untilApi('every node sees the other two', async () => {
      for (const node of nodes) if ((await liveNodes(node)).length !== 3) return false;
      return true;
    });
  });

  after(async () => {
    await Promise.allSettled(bots.map((b) => b.stop()));
    for (const node of nodes) if (node.run.child.exitCode === null) node.run.child.kill('SIGTERM');
    await Promise.allSettled(nodes.map((n) => n.run.exited));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('places rooms created through one node on several, and lets a client in through any node', async () => {
    const [n1] = nodes;
    for (let i = 0; i < 6; i++) await bot(n1!.url, `c${i}`, `pub${i}`, true);
    let listed: RoomRow[] = [];
    await untilApi('the six rooms are listed, from another node', async () => {
      listed = (await rooms(nodes[1]!)).filter((r) => r.name.startsWith('c'));
      return listed.length === 6 && listed.every((r) => r.participants === 1);
    });
    // A host lists a room on its node: every node's home page shows it.
    await bots[0]!.room.listRoom(true, 'Planning');
    for (const node of nodes)
      await eventually(`${node.id}'s directory shows the listed room`, async () => {
        const { rooms } = (await (await fetch(`${node.url}/directory`)).json()) as {
          rooms: { name: string; topic?: string }[];
        };
        return rooms.some((r) => r.name === 'c0' && r.topic === 'Planning');
      });
    const owners = new Set(listed.map((r) => r.node));
    assert.ok(owners.size >= 2, `the rooms are on ${[...owners].join(', ')}`);
    assert.ok(
      [...owners].every((id) => ['n1', 'n2', 'n3'].includes(id)),
      'each room names its node',
    );

    // A viewer that reaches a node without the room sees and hears its publisher.
    const c0 = listed.find((r) => r.name === 'c0')!;
    const other = nodes.find((n) => n.id !== c0.node)!;
    const viewer = await bot(other.url, 'c0', 'watcher', false);
    await eventually('the viewer on another node decodes video and hears audio', () => {
      const got = fromName(viewer, 'pub0');
      return got.frames >= 30 && got.audio >= 100;
    });
    assert.equal(viewer.room.participants.size, 1, 'the viewer sees the publisher');
    const room = (await rooms(byId(c0.node))).find((r) => r.name === 'c0');
    assert.equal(room?.participants, 2, 'both are in the one room, on its node');
    // The room and its people, asked of a node without it.
    const detail = await api<{ participants: { name: string }[] }>(other, '/api/v1/rooms/c0');
    assert.deepEqual(detail.participants.map((p) => p.name).sort(), ['pub0', 'watcher']);

    // A file sent through that node is kept on the room's node, and comes back the same.
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    const sent = await viewer.room.sendFile(bytes, 'notes.bin');
    const back = await viewer.room.downloadFile(sent);
    assert.equal(Buffer.compare(Buffer.from(back), Buffer.from(bytes)), 0, 'the file came back whole');
  });

  it("sends a broadcast's viewers on other nodes one copy of each stream per node, which fans it out", async () => {
    const publisher = await bot(nodes[0]!.url, 'stage', 'caster', true);
    let owner = '';
    await untilApi('the room is placed', async () => {
      owner = (await rooms(nodes[0]!)).find((r) => r.name === 'stage')?.node ?? '';
      return owner !== '';
    });
    const others = nodes.filter((n) => n.id !== owner);
    assert.equal(others.length, 2);
    const watchers = new Map<string, Bot[]>();
    for (const node of others) {
      const list: Bot[] = [];
      for (let i = 0; i < 3; i++) {
        const b = await Bot.start({
          url: node.url,
          room: 'stage',
          name: `audience-${node.id}-${i}`,
          viewer: true,
          video: false,
          audio: false,
          hostAddresses: LOOPBACK,
          jitterBufferMs: 400,
        });
        bots.push(b);
        list.push(b);
      }
      watchers.set(node.id, list);
    }
    await eventually('every viewer, on both other nodes, decodes video and hears audio', () =>
      [...watchers.values()].flat().every((w) => {
        const got = fromName(w, 'caster');
        return got.frames >= 30 && got.audio >= 50;
      }),
    );
    const room = (await rooms(byId(owner))).find((r) => r.name === 'stage');
    assert.equal(room?.participants, 1, 'the viewers are an audience, not participants');
    assert.equal(room?.viewers, 6);

    // Counted: the room's node sends each packet once to each other node, which sends it to its three.
    const relay = async (node: TestNode, direction: 'in' | 'out') => {
      const text = await (
        await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })
      ).text();
      let sum = 0;
      for (const line of text.split('\n'))
        if (
          line.startsWith('port545_cluster_relay_packets_total{') &&
          line.includes(`direction="${direction}"`)
        )
          sum += Number(line.split(' ').pop());
      return sum;
    };
    const received = (node: TestNode) =>
      Math.max(
        ...watchers.get(node.id)!.map((w) => [...w.received.values()].reduce((n, r) => n + r.packets, 0)),
      );
    const [b, c] = others as [TestNode, TestNode];
    // Counted once the stream has stopped and what was on its way has arrived.
    await publisher.stop();
    let counts = '';
    let out = 0;
    let inB = 0;
    let inC = 0;
    await eventually(
      'the relay counters settle',
      async () => {
        out = await relay(byId(owner), 'out');
        inB = await relay(b, 'in');
        inC = await relay(c, 'in');
        const now = `${out} ${inB} ${inC}`;
        const settled = now === counts;
        counts = now;
        return settled;
      },
      MIN_WAIT_MS,
      1000,
    );
    const perViewerB = received(b);
    const perViewerC = received(c);
    console.log(
      `cluster broadcast: ${owner} sent ${out} packets to the other nodes; ${b.id} got ${inB} (its viewers ${perViewerB} each), ${c.id} got ${inC} (${perViewerC} each)`,
    );
    assert.ok(inB > 0 && inC > 0, 'both nodes got the streams over their links');
    assert.equal(inB + inC, out, 'every packet sent to the other nodes arrived, once');
    // One copy per node: what a node got is about what one of its viewers got, not three times that.
    assert.ok(inB < perViewerB * 1.5 + 100, `${b.id} got ${inB} for viewers that got ${perViewerB} each`);
    assert.ok(inC < perViewerC * 1.5 + 100, `${c.id} got ${inC} for viewers that got ${perViewerC} each`);
    for (const w of [...watchers.values()].flat()) await w.stop();
    // The viewers left: no session of theirs is left on the nodes that ran their media.
    const hosted = async (node: TestNode) => {
      const text = await (
        await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })
      ).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('port545_worker_spread_viewers{') && l.includes('side="hosted"'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    };
    await untilApi(
      'no viewer media is left on the other nodes',
      async () => (await hosted(b)) + (await hosted(c)) === 0,
    );
  });

  it("sends a phone that calls a node without its room to the room's node, where the call is taken", async () => {
    const listed = await rooms(nodes[0]!);
    const c1 = listed.find((r) => r.name === 'c1')!;
    const owner = byId(c1.node);
    const other = nodes.find((n) => n.id !== owner.id)!;
    const redirected = await runSipp({ scenario: 'redirect.xml', port: other.sipPort, service: 'c1' });
    assert.equal(redirected.code, 0, `sipp: ${redirected.errors || redirected.stderr}`);
    assert.match(
      redirected.messages,
      new RegExp(`Contact: <sip:c1@127\\.0\\.0\\.1:${owner.sipPort}>`),
      "the 302 names the room node's SIP address",
    );
    // Following it, the phone is in the call on the room's node.
    const phone = new RtpListener(4);
    await phone.open();
    try {
      const call = runSipp({
        scenario: 'call.xml',
        port: owner.sipPort,
        service: 'c1',
        keys: { rtp_port: phone.port, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
        pauseMs: 6000,
      });
      await untilApi('the caller is a participant of the room on its node', async () =>
        (await rooms(owner)).some((r) => r.name === 'c1' && r.participants === c1.participants + 1),
      );
      const result = await call;
      assert.equal(result.code, 0, `sipp: ${result.errors || result.stderr}`);
      assert.ok(phone.packets.length > 50, `the phone got the room's audio: ${phone.packets.length} packets`);
    } finally {
      await phone.close();
    }
  });

  it('refuses a forged vouch as any other client: the Origin check still holds', async () => {
    const ws = new WebSocket(`${nodes[0]!.url.replace('http', 'ws')}/ws`, {
      headers: {
        origin: 'https://evil.example',
        'x-port545-node': 'n2',
        'x-port545-forwarded-for': '203.0.113.9',
        'x-port545-auth': `${Date.now()}.${'00'.repeat(32)}`,
      },
    });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    assert.equal(status, 403, 'a page of another origin is refused even with a made-up signature');
  });

  it("brings a killed node's rooms back on the others, their people rejoining by themselves", async () => {
    // The node with the most of the rooms (each has two or more of the six, or one has three).
    const listed = (await rooms(nodes[0]!)).filter((r) => /^c\d$/.test(r.name));
    const count = new Map<string, number>();
    for (const r of listed) count.set(r.node, (count.get(r.node) ?? 0) + 1);
    const victim = byId(
      [...count.entries()].filter(([id]) => id !== 'n1').sort((a, b) => b[1] - a[1])[0]![0],
    );
    const victimRooms = listed.filter((r) => r.node === victim.id).map((r) => r.name);
    assert.ok(victimRooms.length >= 2, `${victim.id} has ${victimRooms.length} rooms`);
    // In each of its rooms, a viewer connected to the victim itself.
    const watchers = new Map<string, Bot>();
    for (const room of victimRooms) {
      const publisher = `pub${room.slice(1)}`;
      const w = await bot(victim.url, room, `direct-${room}`, false);
      await eventually(
        `the viewer of ${room} on ${victim.id} decodes video`,
        () => fromName(w, publisher).frames >= 10,
      );
      watchers.set(room, w);
    }

    const before = new Map(
      [...watchers].map(([room, w]) => [room, fromName(w, `pub${room.slice(1)}`).frames]),
    );
    const killedAt = Date.now();
    victim.run.child.kill('SIGKILL');
    await victim.run.exited;
    nodes.splice(nodes.indexOf(victim), 1);

    const recovered = new Map<string, number>();
    await eventually(
      'media flows again in every room of the killed node',
      () => {
        for (const [room, w] of watchers) {
          if (recovered.has(room)) continue;
          if (fromName(w, `pub${room.slice(1)}`).frames >= before.get(room)! + 30)
            recovered.set(room, Date.now() - killedAt);
        }
        return recovered.size === watchers.size;
      },
      MIN_WAIT_MS * 2,
    );
    console.log(
      `cluster failover: media again after ${[...recovered.entries()].map(([r, ms]) => `${r} ${(ms / 1000).toFixed(1)} s`).join(', ')}`,
    );

    const now = await rooms(nodes[0]!);
    for (const room of victimRooms) {
      const row = now.find((r) => r.name === room);
      assert.ok(row, `${room} is open again`);
      assert.notEqual(row.node, victim.id, `${room} is on a live node`);
      assert.equal(row.participants, 2, `${room} has its publisher and its viewer back, once each`);
    }
    await untilApi('the admin API no longer lists the killed node', async () => {
      const ids = await liveNodes(nodes[0]!);
      return !ids.includes(victim.id) && ids.length === 2;
    });
  });

  it('keeps calls going while Redis is away, refuses new rooms with a coded error, and recovers', async () => {
    const listed = (await rooms(nodes[0]!)).filter((r) => /^c\d$/.test(r.name));
    const c = listed[0]!;
    const viewer = await bot(nodes[0]!.url, c.name, 'through-the-outage', false);
    const publisher = `pub${c.name.slice(1)}`;
    await eventually('the viewer decodes video', () => fromName(viewer, publisher).frames >= 10);

    await redis.stop();
    const stoppedAt = Date.now();
    const atStop = fromName(viewer, publisher).frames;
    await assert.rejects(
      bot(nodes[1]!.url, 'new-during-outage', 'newcomer', true),
      (error: unknown) => error instanceof ServerError && error.code === 'CLUSTER_UNAVAILABLE',
      'a new room is refused, saying why',
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
    const during = fromName(viewer, publisher).frames - atStop;
    assert.ok(during >= 50, `the call went on while Redis was away: ${during} frames in 10 s`);

    await redis.start();
    await eventually(
      'a new room opens again, no node restarted',
      async () => {
        try {
          await bot(nodes[1]!.url, 'after-outage', 'newcomer', true);
          return true;
        } catch (error) {
          if (error instanceof ServerError && error.code === 'CLUSTER_UNAVAILABLE') return false;
          throw error;
        }
      },
      MIN_WAIT_MS,
      500,
    );
    await untilApi('the room is listed with its node', async () =>
      (await rooms(nodes[0]!)).some((r) => r.name === 'after-outage' && r.participants === 1),
    );
    await untilApi('both nodes are registered again', async () => (await liveNodes(nodes[0]!)).length === 2);
    // Redis came back empty: the nodes wrote the secret back, so a node started now signs as they do.
    const secret = execFileSync('redis-cli', ['-p', String(redis.port), 'EXISTS', 'port545:secret'], {
      encoding: 'utf8',
    });
    assert.equal(secret.trim(), '1', 'the shared secret is in Redis again');
  });
  it('moves the rooms of a node stopped with SIGTERM to the others, everyone following', async () => {
    const [staying, leaving] = nodes as [TestNode, TestNode];
    const theirs = (await rooms(staying)).filter((r) => r.node === leaving.id);
    assert.ok(theirs.length >= 1, `${leaving.id} has rooms to move`);
    const followed = theirs[0]!;
    const watcher = await bot(leaving.url, followed.name, 'follows-the-room', false);
    // The one who sends video (the room's earlier viewers send none, and after a rejoin may come first).
    const publisher = [...watcher.room.participants.values()].find((p) =>
      [...p.tracks.values()].some((t) => t.kind === 'video'),
    )?.name;
    assert.ok(publisher, `someone publishes in ${followed.name}`);
    await eventually('the watcher decodes video', () => fromName(watcher, publisher).frames >= 10);

    leaving.run.child.kill('SIGTERM');
    assert.equal((await leaving.run.exited).code, 0, 'the node stopped cleanly');
    nodes.splice(nodes.indexOf(leaving), 1);
    const atStop = fromName(watcher, publisher).frames;
    let now: RoomRow[] = [];
    await untilApi(
      `every room of ${leaving.id} is open on ${staying.id} with its people`,
      async () => {
        now = await rooms(staying);
        return theirs.every((t) =>
          now.some(
            (r) =>
              r.name === t.name &&
              r.node === staying.id &&
              r.participants === t.participants + (t === followed ? 1 : 0),
          ),
        );
      },
      MIN_WAIT_MS * 2,
    ).catch((error: Error) => {
      const show = (list: RoomRow[]) => JSON.stringify(list.map((r) => [r.name, r.node, r.participants]));
      throw new Error(`${error.message}: they were ${show(theirs)}, now ${show(now)}`);
    });
    await eventually(
      'the watcher, which was on the stopped node, sees video again',
      () => fromName(watcher, publisher).frames >= atStop + 30,
    );
    assert.deepEqual(await liveNodes(staying), [staying.id], 'the stopped node left the cluster');
  });
});

describe('a node on a Redis with a password, over TLS', () => {
  const password = 'redis-pass-for-port545-tests';
  let redis: TestRedis;
  let dir: string;
  const runs: CliRun[] = [];
  const bots: Bot[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'port545-redis-tls-'));
    const cert = join(dir, 'redis.pem');
    const key = join(dir, 'redis.key');
    // A self-signed certificate for 127.0.0.1, which the node trusts with --redis-ca.
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    redis = testRedis(await freePort(), { password, tls: { cert, key } });
    await redis.start();
  });

  after(async () => {
    await Promise.allSettled(bots.map((b) => b.stop()));
    for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGTERM');
    await Promise.allSettled(runs.map((r) => r.exited));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const node = async (id: string, redisUrl: string) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const run = runCli(
      [
        ...['serve', '--port', String(port), '--cluster-url', url, '--node-id', id],
        ...['--rtc-host', LOOPBACK[0]!, '--data-dir', join(dir, id), '--log-level', 'warn'],
        ...['--redis-ca', join(dir, 'redis.pem')],
      ],
      // The URL with its password comes from the environment, never the command line (ps shows that).
      { env: { PORT545_REDIS: redisUrl, PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET } },
    );
    runs.push(run);
    await run.waitFor(/is listening/);
    return url;
  };
  const health = async (url: string) =>
    (await (await fetch(`${url}/healthz`)).json()) as { node?: string; cluster?: string };

  it('joins the cluster with the right password and opens rooms', async () => {
    const url = await node('tls1', redis.url);
    await eventually('the node reaches Redis', async () => (await health(url)).cluster === 'ok');
    const b = await Bot.start({ url, room: 'over-tls', name: 'Tess', hostAddresses: LOOPBACK });
    bots.push(b);
    const response = await fetch(`${url}/api/v1/rooms`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const { rooms } = (await response.json()) as { rooms: RoomRow[] };
    assert.deepEqual(
      rooms.map((r) => [r.name, r.node]),
      [['over-tls', 'tls1']],
    );
  });

  it('says a wrong password leaves the cluster unavailable, and refuses new rooms with a coded error', async () => {
    const wrong = redis.url.replace(encodeURIComponent(password), 'not-the-password');
    const url = await node('tls2', wrong);
    assert.equal((await health(url)).cluster, 'unavailable');
    await assert.rejects(
      Bot.start({ url, room: 'refused', name: 'Ned', hostAddresses: LOOPBACK }).then((b) => bots.push(b)),
      (error: unknown) => error instanceof ServerError && error.code === 'CLUSTER_UNAVAILABLE',
    );
  });
});
