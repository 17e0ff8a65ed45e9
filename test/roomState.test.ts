/**
 * What a host set in a room survives a restart: the state store on its own (written, read back, a
 * corrupt file ignored with a log line, stale state dropped), and a server restarted on the same data
 * directory letting the same people back in, through the lock, with the same roles, and nobody new.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { buildServer } from '../src/buildServer.js';
import { connectNode, ServerError } from '../src/client/node.js';
import { resolveWorkers } from '../src/config/config.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { Room } from '../src/room/Room.js';
import { RoomStateStore, type StoredRoom } from '../src/room/RoomStateStore.js';
import {
  eventually,
  LOOPBACK,
  MIN_WAIT_MS,
  startInThreadServer,
  testConfig,
  withDeadline,
} from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'port545-state-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A logger whose lines the test can read. */
function capturedLog(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines: () => lines };
}

const HOUR = 3_600_000;
const member = (n: number, role: 'host' | 'guest' = 'guest') => ({
  key: n.toString(16).padStart(64, '0'),
  name: `P${n}`,
  role,
  mayBecomeHost: true,
});

describe('room state store', () => {
  it('writes a room atomically and reads it back', () => {
    const dataDir = tempDir();
    const store = new RoomStateStore({
      dataDir,
      maxAgeMs: HOUR,
      maxRooms: 10,
      log: pino({ level: 'silent' }),
    });
    store.save({
      room: 'weekly',
      locked: true,
      password: { salt: 'c2FsdA==', hash: 'aGFzaA==' },
      members: [member(1, 'host'), member(2)],
    });
    const files = readdirSync(join(dataDir, 'rooms'));
    assert.equal(files.length, 1, 'one file, no temporary file left behind');
    assert.match(files[0]!, /^[0-9a-f]{64}\.json$/, 'named by the hash of the room name');
    const back = store.load('weekly');
    assert.ok(back);
    assert.equal(back.room, 'weekly');
    assert.equal(back.locked, true);
    assert.deepEqual(back.password, { salt: 'c2FsdA==', hash: 'aGFzaA==' });
    assert.deepEqual(
      back.members.map((m) => [m.name, m.role]),
      [
        ['P1', 'host'],
        ['P2', 'guest'],
      ],
    );
    assert.equal(store.load('other'), undefined, 'a room never saved has no state');
    store.delete('weekly');
    assert.equal(store.load('weekly'), undefined, 'a deleted room has no state');
  });

  it('ignores a corrupt file with a log line, and never throws', () => {
    const dataDir = tempDir();
    const { log, lines } = capturedLog();
    const store = new RoomStateStore({ dataDir, maxAgeMs: HOUR, maxRooms: 10, log });
    store.save({ room: 'broken', locked: true, members: [] });
    const [file] = readdirSync(join(dataDir, 'rooms'));
    const path = join(dataDir, 'rooms', file!);
    for (const junk of ['{"v":1,"room":"broken","lock', '{"v":1,"room":"broken","savedAt":"x"}', '\u0000']) {
      writeFileSync(path, junk);
      assert.equal(store.load('broken'), undefined, `a file holding ${JSON.stringify(junk)} is ignored`);
    }
    const warnings = lines().filter((l) => String(l.msg).includes('not valid'));
    assert.equal(warnings.length, 3, 'each corrupt read is logged');
    assert.equal(warnings[0]!.level, 40, 'as a warning');
    // The store keeps working after it.
    store.save({ room: 'broken', locked: false, members: [] });
    assert.equal(store.load('broken')?.locked, false);
  });

  it('drops state older than its maximum age, and the oldest rooms past its cap', () => {
    const dataDir = tempDir();
    const store = new RoomStateStore({
      dataDir,
      maxAgeMs: HOUR,
      maxRooms: 2,
      log: pino({ level: 'silent' }),
    });
    for (const room of ['a', 'b', 'c', 'stale']) store.save({ room, locked: true, members: [member(1)] });
    const dir = join(dataDir, 'rooms');
    // Backdate: 'stale' was saved two hours ago, 'a' before 'b' before 'c'.
    const ages: Record<string, number> = { stale: 2 * HOUR, a: 30_000, b: 20_000, c: 10_000 };
    for (const file of readdirSync(dir)) {
      const state = JSON.parse(readFileSync(join(dir, file), 'utf8')) as StoredRoom;
      writeFileSync(join(dir, file), JSON.stringify({ ...state, savedAt: Date.now() - ages[state.room]! }));
    }
    assert.equal(store.load('stale'), undefined, 'stale state is not restored');
    assert.equal(readdirSync(dir).length, 3, 'and its file is gone');
    writeFileSync(join(dir, 'left-over.json.123.tmp'), '{');
    assert.equal(store.prune(), 2, 'two rooms kept (the cap)');
    assert.equal(store.load('a'), undefined, 'the least recently saved room went');
    assert.ok(store.load('b') && store.load('c'));
  });
});

describe('a restarted server', () => {
  it('lets the people of a locked room back in with their roles, and refuses a newcomer', async () => {
    const dataDir = tempDir();
    const config = testConfig({ dataDir, rooms: { stateMaxAgeMs: HOUR } });
    const first = buildServer(config, resolveWorkers(config));
    const port = await first.listen(0);
    const url = `http://127.0.0.1:${port}`;
    const join = (name: string, password?: string) =>
      connectNode({ url, room: 'board', name, hostAddresses: LOOPBACK, ...(password ? { password } : {}) });
    const ann = await join('Ann');
    const bob = await join('Bob');
    let second: ReturnType<typeof buildServer> | undefined;
    try {
      assert.equal(ann.role, 'host', 'the first in an open room hosts it');
      assert.equal(bob.role, 'guest');
      await ann.setRoomPassword('sesame');
      await ann.lockRoom(true);
      await ann.listRoom(true, 'Board meeting');

      // SIGTERM: the server says it is restarting; the clients wait, then keep trying.
      const reconnecting = Promise.all(
        [ann, bob].map(
          (r) =>
            new Promise<void>((resolve) => r.on('connectionState', (s) => s === 'reconnecting' && resolve())),
        ),
      );
      let ended = false;
      for (const r of [ann, bob])
        r.on('ended', () => {
          ended = true;
        });
      await first.close();
      await withDeadline(reconnecting, MIN_WAIT_MS, 'both clients are told to reconnect');

      second = buildServer(config, resolveWorkers(config));
      await second.listen(port);
      const restarted = second;
      await eventually(
        'Ann and Bob are back in the room',
        async () => (await restarted.room('board'))?.participants === 2,
      );
      await eventually(
        'both clients are connected again',
        () => ann.state === 'connected' && bob.state === 'connected',
      );
      assert.equal(ended, false, 'nobody was told the call ended');
      assert.equal(ann.role, 'host', 'Ann is still host');
      assert.equal(bob.role, 'guest', 'Bob is still a guest');
      assert.equal(ann.displayName, 'Ann');
      assert.deepEqual(
        ann.roomState,
        { locked: true, passwordProtected: true, listed: true, topic: 'Board meeting' },
        'lock, password and listing survived',
      );

      // A newcomer is refused while locked, even with the right password.
      await assert.rejects(
        join('Cid', 'sesame'),
        (e: unknown) => e instanceof ServerError && e.code === 'ROOM_LOCKED',
      );
      await ann.lockRoom(false);
      await assert.rejects(
        join('Cid', 'wrong'),
        (e: unknown) => e instanceof ServerError && e.code === 'PASSWORD_WRONG',
      );
      const cid = await join('Cid', 'sesame');
      assert.equal(cid.role, 'guest', 'a newcomer does not take the host role');
      await cid.leave();
    } finally {
      await ann.leave();
      await bob.leave();
      await first.close();
      await second?.close();
    }
  });

  it('keeps no session ids on disk, and deletes the state of a room that ended', async () => {
    const dataDir = tempDir();
    const config = testConfig({ dataDir, rooms: { stateMaxAgeMs: HOUR } });
    const server = buildServer(config, resolveWorkers(config));
    const port = await server.listen(0);
    const url = `http://127.0.0.1:${port}`;
    try {
      const ann = await connectNode({ url, room: 'crew', name: 'Ann', hostAddresses: LOOPBACK });
      const bob = await connectNode({ url, room: 'crew', name: 'Bob', hostAddresses: LOOPBACK });
      const saved = readdirSync(join(dataDir, 'rooms'));
      assert.equal(saved.length, 1, 'the room is saved while it runs');
      const state = readFileSync(join(dataDir, 'rooms', saved[0]!), 'utf8');
      for (const secret of [ann.participantId, bob.participantId, 'Ann'])
        assert.ok(secret === 'Ann' ? state.includes(secret) : !state.includes(secret), secret);
      await ann.leave();
      await bob.leave();
      // Everyone left, and the room closed when it had been empty a while: nothing of it stays.
      await eventually(
        'the state of a room that ended is deleted',
        () => readdirSync(join(dataDir, 'rooms')).length === 0,
      );
    } finally {
      await server.close();
    }
  });

  it('lets in only the holder of a rejoin token, once; a made-up token or a known name is a newcomer', async () => {
    const t = await startInThreadServer({ resumeWindowMs: 200 });
    const clients: RawClient[] = [];
    const join = async (name: string, rejoin?: string) => {
      const c = await RawClient.open(t.url);
      clients.push(c);
      c.send({
        type: 'join',
        v: PROTOCOL_VERSION,
        room: 'vault',
        name,
        rid: 'j',
        ...(rejoin ? { rejoin } : {}),
      });
      return { c, reply: await c.next((m) => m.rid === 'j') };
    };
    const refused = async (name: string, rejoin?: string) => {
      const { reply } = await join(name, rejoin);
      return reply.type === 'error' ? reply.code : `joined as ${(reply.self as { role: string }).role}`;
    };
    try {
      const ann = await join('Ann');
      const bob = await join('Bob');
      const bobToken = bob.reply.rejoinToken as string;
      assert.equal((ann.reply.self as { role: string }).role, 'host');
      assert.ok(bobToken.length >= 24, 'a rejoin token comes with joined');
      ann.c.send({ type: 'lockRoom', locked: true, rid: 'l' });
      assert.equal((await ann.c.next((m) => m.rid === 'l')).type, 'ok');

      // Bob is cut off and his session ends (resume window): he may come back, nobody else may.
      bob.c.close(4000);
      const room = t.rooms.host.registry.rooms.get('vault')!;
      await eventually("Bob's session ended", () => room.participants.size === 1);
      assert.equal(await refused('Bob'), 'ROOM_LOCKED', 'his name alone does not open the lock');
      assert.equal(await refused('Eve', 'not-a-token-the-server-gave'), 'ROOM_LOCKED');
      const back = await join('Bob', bobToken);
      assert.equal(back.reply.type, 'joined', 'the holder of the token is let back in');
      assert.equal((back.reply.self as { role: string }).role, 'guest', 'with the role he had');
      assert.notEqual(back.reply.rejoinToken, bobToken, 'and a new token');
      assert.equal(await refused('Bob', bobToken), 'ROOM_LOCKED', 'a spent token is worth nothing');

      // Ann leaves of her own accord: her token is forgotten, and the host role passes to Bob.
      const annToken = ann.reply.rejoinToken as string;
      ann.c.close(1000);
      await back.c.next((m) => m.type === 'participantRole' && m.role === 'host');
      assert.equal(await refused('Ann', annToken), 'ROOM_LOCKED');
    } finally {
      for (const c of clients) c.close(1000);
      await t.close();
    }
  });

  it('keeps the host role for a host who may come back, then gives it to someone present', async () => {
    const room = new Room({
      name: 'late',
      rtc: testConfig().rtc,
      maxParticipants: 10,
      maxViewers: 10,
      tracksPerParticipant: 4,
      chatHistory: 10,
      resumeWindowMs: 1000,
      hostReturnMs: 500,
      log: pino({ level: 'silent' }),
    });
    const sink = { send: () => {}, close: () => {} };
    room.restore({ v: 1, room: 'late', savedAt: Date.now(), locked: false, members: [member(1, 'host')] });
    try {
      const bob = room.join('Bob', sink);
      assert.equal(bob.role, 'guest', 'a newcomer does not take the role while the host may come back');
      await eventually('the role passes to Bob when the host did not come back', () => bob.role === 'host');
    } finally {
      await room.close();
    }
  });
});
