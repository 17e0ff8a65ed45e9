import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import {
  eventually,
  LOOPBACK,
  MIN_WAIT_MS,
  startClusterTestServer,
  type TestServer,
  withDeadline,
} from './helpers/server.js';
import { whipPublish } from './helpers/whip.js';
import { RawClient } from './helpers/ws.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const API_KEY = 'k'.repeat(24);
const API_SECRET = 's'.repeat(40);
const admin = { authorization: `Bearer ${API_KEY}` };

/** Packets a bot has received from one other participant, audio and video together. */
function packetsFrom(bot: Bot, from: Bot): number {
  return bot.receivedFrom(from.room.participantId).reduce((n, r) => n + r.packets, 0);
}

describe('rooms on worker threads (--workers 2)', () => {
  let t: TestServer;
  const north: Bot[] = [];
  const south: Bot[] = [];

  before(async () => {
    t = await startClusterTestServer(2, {
      resumeWindowMs: 15_000,
      auth: { apiKey: API_KEY, apiSecret: API_SECRET },
    });
    for (const name of ['Ada', 'Grace'])
      north.push(await Bot.start({ url: t.url, room: 'north', name, hostAddresses: LOOPBACK }));
    for (const name of ['Linus', 'Barbara'])
      south.push(await Bot.start({ url: t.url, room: 'south', name, hostAddresses: LOOPBACK }));
  });

  after(async () => {
    for (const bot of [...north, ...south]) await bot.stop();
    await t.close();
  });

  it('puts two rooms on different workers, and each room’s media flows on its own thread', async (ctx) => {
    const a = t.server.workers.ownerOf('north');
    const b = t.server.workers.ownerOf('south');
    assert.ok(a && b, 'both rooms are placed');
    assert.notEqual(a.index, b.index, 'the second room goes to the idle worker');
    const pairs: [Bot, Bot][] = [
      [north[0]!, north[1]!],
      [north[1]!, north[0]!],
      [south[0]!, south[1]!],
      [south[1]!, south[0]!],
    ];
    await eventually(
      'everyone receives audio and video from the other one in their room',
      () =>
        pairs.every(([to, from]) => {
          const r = to.receivedFrom(from.room.participantId);
          return r.length === 2 && r.every((x) => x.packets > 0) && r.some((x) => x.keyframes > 0);
        }),
      15_000,
    );
    // Nobody hears the other room.
    assert.equal(north[0]!.receivedFrom(south[0]!.room.participantId).length, 0);
    assert.equal(south[0]!.receivedFrom(north[0]!.room.participantId).length, 0);

    // Both worker threads are busy forwarding while the media flows.
    const start = t.server.workers.all.map((w) => w.thread!.performance.eventLoopUtilization());
    const before = pairs.map(([to, from]) => packetsFrom(to, from));
    await sleep(1000);
    const busy = t.server.workers.all.map((w, i) => w.thread!.performance.eventLoopUtilization(start[i]!));
    const gained = pairs.map(([to, from], i) => packetsFrom(to, from) - before[i]!);
    ctx.diagnostic(`worker event-loop use over 1 s: ${busy.map((u) => u.utilization.toFixed(3)).join(', ')}`);
    ctx.diagnostic(`packets per second per receiver: ${gained.join(', ')}`);
    for (const g of gained) assert.ok(g > 60, `${g} packets in 1 s (clip: ~146 packets/s)`);
    for (const u of busy) assert.ok(u.active > 5, `a worker was busy ${u.active.toFixed(1)} ms in 1 s`);
  });

  it('health and the admin API see the rooms of every worker; room paths go to the room’s worker', async () => {
    const health = await t.server.app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual(health.json(), { status: 'ok', rooms: 2, participants: 4, workers: 2 });

    const list = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms', headers: admin });
    assert.equal(list.statusCode, 200);
    const names = (list.json() as { rooms: { name: string }[] }).rooms.map((r) => r.name).sort();
    assert.deepEqual(names, ['north', 'south']);

    const denied = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms' });
    assert.equal(denied.statusCode, 401, 'no API key: refused as a single server would');
    assert.equal(denied.json().error.code, 'API_KEY_REQUIRED');

    const room = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms/south', headers: admin });
    assert.equal(room.statusCode, 200);
    const people = (room.json() as { participants: { name: string }[] }).participants
      .map((p) => p.name)
      .sort();
    assert.deepEqual(people, ['Barbara', 'Linus']);

    const missing = await t.server.app.inject({
      method: 'GET',
      url: '/api/v1/rooms/nowhere',
      headers: admin,
    });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'ROOM_NOT_FOUND');
  });

  it('a WHIP publisher reaches the participants of its room through the main thread', async () => {
    const whip = await whipPublish(t.url, 'north', 'OBS');
    try {
      const id = await new Promise<string>((resolve) => {
        const known = [...north[0]!.room.participants.values()].find((p) => p.name === 'OBS');
        if (known) return resolve(known.id);
        north[0]!.room.on('participantJoined', (p) => p.name === 'OBS' && resolve(p.id));
      });
      await eventually(
        'Ada receives the WHIP publisher’s audio and video',
        () => {
          const r = north[0]!.receivedFrom(id);
          return r.length === 2 && r.every((x) => x.packets > 20);
        },
        10_000,
      );
      const del = await fetch(`${t.url}${whip.location}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      await eventually('Ada is told the publisher left', () => !north[0]!.room.participants.has(id));
    } finally {
      await whip.stop();
    }
  });

  it('a participant whose WebSocket is cut resumes on its room’s worker', async () => {
    const flaky = north[1]!;
    const id = flaky.room.participantId;
    const states: string[] = [];
    flaky.room.on('connectionState', (s) => states.push(s));
    flaky.room.dropConnection();
    await eventually('the participant is back', () => states.includes('connected'), 15_000);
    assert.equal(flaky.room.participantId, id, 'same participant after the resume');
    const chat = new Promise<string>((resolve) => north[0]!.room.on('chat', (m) => resolve(m.text)));
    flaky.room.sendChat('still here');
    assert.equal(await chat, 'still here');
  });

  it('answers a connection before its join, and forgets rooms that no join created', async () => {
    const c = await RawClient.open(t.url);
    try {
      c.send('{nope');
      assert.equal((await c.next((m) => m.type === 'error')).code, 'INVALID_JSON');
      c.send({ type: 'offer', sdp: 'v=0', tracks: [] });
      assert.equal((await c.next((m) => m.type === 'error')).code, 'NOT_JOINED');
      // Joins that fail in the worker (here: a wrong protocol version) leave no placement behind.
      for (let i = 0; i < 20; i++) {
        c.send({ type: 'join', v: PROTOCOL_VERSION + 1, room: `ghost-${i}`, name: 'x', rid: i });
        assert.equal((await c.next((m) => m.rid === i)).code, 'UNSUPPORTED_PROTOCOL_VERSION');
      }
      await eventually('only the two real rooms stay placed', () => t.server.workers.roomCount === 2, 3000);
      // The same connection then joins a real room on whichever worker holds it.
      c.send({ type: 'join', v: PROTOCOL_VERSION, room: 'south', name: 'late', rid: 'j' });
      const joined = await c.next((m) => m.type === 'joined');
      assert.equal((joined.participants as unknown[]).length, 2, 'it sees the two people in south');
    } finally {
      c.ws.close(1000);
    }
  });

  it('delivers a burst of room messages to everyone, each in the order sent, with the replies in between', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.open(t.url)));
    try {
      for (const [i, c] of clients.entries()) {
        c.send({ type: 'join', v: PROTOCOL_VERSION, room: 'burst', name: `b${i}`, rid: 'j' });
        await c.next((m) => m.type === 'joined');
      }
      // Two speakers at once, 40 messages each, sent without waiting; a ping after each message.
      for (let n = 0; n < 40; n++)
        for (const speaker of [0, 1]) {
          clients[speaker]!.send({ type: 'chat', text: `${speaker}:${n}` });
          clients[speaker]!.send({ type: 'ping', rid: `p${n}` });
        }
      const said = (m: Record<string, unknown>) =>
        m.type === 'chat' ? (m.message as { text: string }).text : undefined;
      for (const [i, c] of clients.entries()) {
        await eventually(`b${i} has every message`, () => c.messages.filter(said).length === 80, 5000);
        for (const speaker of [0, 1])
          assert.deepEqual(
            c.messages.map(said).filter((x) => x?.startsWith(`${speaker}:`)),
            Array.from({ length: 40 }, (_, n) => `${speaker}:${n}`),
            `b${i}: ${speaker}'s messages in order`,
          );
      }
      // A speaker gets its own message n, then the answer to the ping after it, then its message n + 1.
      for (const speaker of [0, 1]) {
        const own = clients[speaker]!.messages.map((m) =>
          m.type === 'pong' ? `pong ${m.rid}` : said(m),
        ).filter((x) => x === `pong p${x?.slice(6)}` || x?.startsWith(`${speaker}:`));
        assert.deepEqual(own, Array.from({ length: 40 }, (_, n) => [`${speaker}:${n}`, `pong p${n}`]).flat());
      }
    } finally {
      for (const c of clients) c.ws.close(1000);
    }
  });

  it('answers what a connection sent just before a join that moved it to another worker', async () => {
    // Two connections in a row start on different workers (turn by turn), so one of them moves to north's.
    for (const name of ['first', 'second']) {
      const c = await RawClient.open(t.url);
      try {
        c.ws.send(JSON.stringify({ type: 'ping', rid: 'p' }));
        c.ws.send(JSON.stringify({ type: 'join', v: PROTOCOL_VERSION, room: 'north', name, rid: 'j' }));
        const reply = (rid: string) => c.messages.find((m) => m.rid === rid);
        await eventually(`${name}: the ping and the join are answered`, () =>
          Boolean(reply('p') && reply('j')),
        );
        assert.equal(reply('p')!.type, 'pong');
        assert.equal(reply('j')!.type, 'joined');
      } finally {
        c.ws.close(1000);
      }
    }
  });

  it('releases a room’s placement when the room closes, and tells everyone to rejoin on close', async () => {
    for (const bot of south.splice(0)) await bot.stop();
    await eventually(
      'south is closed and forgotten',
      () => t.server.workers.ownerOf('south') === undefined,
      5000,
    );
    // A server that stops may be restarting: its clients are told to come back, not that the call ended.
    let ended = false;
    north[0]!.room.on('ended', () => {
      ended = true;
    });
    const reconnecting = new Promise<void>((resolve) =>
      north[0]!.room.on('connectionState', (state) => state === 'reconnecting' && resolve()),
    );
    await t.close();
    await withDeadline(reconnecting, MIN_WAIT_MS, 'the client is told to reconnect');
    assert.equal(ended, false, 'the call did not end for the client');
    assert.ok(
      t.server.workers.all.every((w) => w.worker.threadId === -1),
      'every worker thread has stopped',
    );
  });
});

describe('a room worker that dies', () => {
  it('closes its connections with 1011, forgets its rooms, and is replaced by a new worker', async () => {
    const t = await startClusterTestServer(2);
    try {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: PROTOCOL_VERSION, room: 'doomed', name: 'x' });
      await c.next((m) => m.type === 'joined');
      const worker = t.server.workers.ownerOf('doomed')!;
      const index = worker.index;
      await worker.worker.terminate();
      await eventually('the client is disconnected', () => c.closeCode !== undefined, 5000);
      assert.equal(c.closeCode, 1011);
      assert.equal(t.server.workers.ownerOf('doomed'), undefined, 'the room is no longer placed');
      const replacement = t.server.workers.all[index]!;
      assert.notEqual(replacement, worker, 'a new worker took the place');
      await replacement.ready;
      const health = await t.server.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.json().workers, 2);
      // People can meet in that room again.
      const again = await RawClient.open(t.url);
      again.send({ type: 'join', v: PROTOCOL_VERSION, room: 'doomed', name: 'y' });
      assert.equal((await again.next((m) => m.type === 'joined')).room, 'doomed');
      again.ws.close(1000);
    } finally {
      await t.close();
    }
  });
});

describe('a connection that has joined', () => {
  it('stays in its room: a second join sent as soon as it sees `joined` is refused, never moved to another worker', async () => {
    // Each pair of rooms is new, so placement spreads them over both workers; the second join names a room
    // on the other worker about half the time. Before the worker told the main thread ahead of `joined`,
    // a few in a hundred such joins were moved and taken.
    const t = await startClusterTestServer(2, { limits: { wsConnectsPerMinute: 1000 } });
    try {
      for (let i = 0; i < 60; i++) {
        const c = await RawClient.open(t.url);
        try {
          c.send({ type: 'join', v: PROTOCOL_VERSION, room: `first-${i}`, name: 'talker' });
          await c.next((m) => m.type === 'joined');
          const before = c.messages.length;
          c.send({ type: 'join', v: PROTOCOL_VERSION, room: `second-${i}`, name: 'x' });
          const reply = await c.next(
            (m) => c.messages.indexOf(m) >= before && (m.type === 'error' || m.type === 'joined'),
          );
          assert.equal(reply.code, 'ALREADY_JOINED', `join ${i} was answered ${JSON.stringify(reply)}`);
        } finally {
          c.ws.close(1000);
        }
      }
    } finally {
      await t.close();
    }
  });
});
