import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const packetsOf = (bot: Bot) => [...bot.received.values()].reduce((n, r) => n + r.packets, 0);

describe('bad input on /ws', () => {
  let t: TestServer;
  const bots: Bot[] = [];

  before(async () => {
    // Long enough for a busy machine to get through the malformed messages on one connection before
    // the server gives up on its join; short enough for the test of that to wait for it.
    t = await startTestServer({ limits: { joinTimeoutMs: 5000 } });
    bots.push(await Bot.start({ url: t.url, room: 'steady', name: 'one', hostAddresses: LOOPBACK }));
    bots.push(await Bot.start({ url: t.url, room: 'steady', name: 'two', hostAddresses: LOOPBACK }));
    await eventually('the two bots receive each other', () => bots.every((b) => packetsOf(b) > 50), 10_000);
  });

  after(async () => {
    for (const b of bots) await b.stop();
    await t.close();
  });

  /** Asserts that media between the two bots keeps flowing while `abuse` runs. */
  async function whileMediaFlows(abuse: () => Promise<void>): Promise<void> {
    const before = bots.map(packetsOf);
    await abuse();
    await eventually('media between the others kept flowing', () =>
      bots.every((b, i) => packetsOf(b) > before[i]! + 10),
    );
  }

  it('answers each kind of malformed message with its own code', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      assert.equal((await c.expectError('this is not json')).code, 'INVALID_JSON');
      assert.equal((await c.expectError({ type: 'fly' })).code, 'UNKNOWN_MESSAGE_TYPE');
      assert.equal((await c.expectError({ hello: 1 })).code, 'INVALID_MESSAGE');
      const missing = await c.expectError({ type: 'join', v: 1, name: 'x' });
      assert.equal(missing.code, 'INVALID_MESSAGE');
      assert.match(missing.message, /room/, 'the error names the missing field');
      assert.equal(
        (await c.expectError({ type: 'join', v: 1, room: '../etc', name: 'x' })).code,
        'INVALID_MESSAGE',
      );
      assert.equal(
        (await c.expectError({ type: 'join', v: 99, room: 'steady', name: 'x' })).code,
        'UNSUPPORTED_PROTOCOL_VERSION',
      );
      assert.equal(
        (await c.expectError({ type: 'chat', text: 'hi' })).code,
        'NOT_JOINED',
        'a message before join',
      );
      assert.equal((await c.expectError({ type: 'offer', sdp: 'v=0', tracks: [] })).code, 'NOT_JOINED');
      assert.equal((await c.expectError([1, 2, 3])).code, 'INVALID_MESSAGE');
      assert.equal((await c.expectError('null')).code, 'INVALID_MESSAGE');
      // A view size out of range, or not a whole number of pixels, is refused before anything reads it.
      for (const size of [
        { width: -1, height: 10 },
        { width: 1e9, height: 10 },
        { width: 10.5, height: 10 },
        { width: '10', height: 10 },
      ]) {
        const refused = await c.expectError({ type: 'videoSize', trackId: 'TR_abcdefgh', ...size });
        assert.equal(refused.code, 'INVALID_MESSAGE', JSON.stringify(size));
      }
      c.close();
    });
  });

  it('refuses an invalid SDP with INVALID_SDP and keeps the participant', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: 1, room: 'steady', name: 'sdp-fuzzer' });
      await c.next((m) => m.type === 'joined');
      const garbage = await c.expectError({
        type: 'offer',
        sdp: 'v=0\r\nthis is no sdp\r\n',
        tracks: [{ mid: '0', source: 'camera' }],
      });
      assert.equal(garbage.code, 'INVALID_SDP');
      const noAnswerExpected = await c.expectError({ type: 'answer', sdp: 'v=0\r\n' });
      assert.equal(noAnswerExpected.code, 'INVALID_SDP');
      const huge = await c.expectError({
        type: 'offer',
        sdp: `v=0\r\n${'a=x\r\n'.repeat(20_000)}`,
        tracks: [],
      });
      assert.equal(huge.code, 'SDP_TOO_LARGE');
      const badCandidate = await c.expectError({
        type: 'candidate',
        target: 'publisher',
        candidate: { candidate: 'candidate:garbage' },
      });
      assert.equal(badCandidate.code, 'INVALID_CANDIDATE');
      // Still in the room: a ping is answered and a chat goes out.
      c.send({ type: 'ping', rid: 7 });
      assert.equal((await c.next((m) => m.type === 'pong')).rid, 7);
      c.close();
    });
  });

  it('closes a connection that sends a 1 MiB message with 1009', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send(JSON.stringify({ type: 'chat', text: 'x'.repeat(1024 * 1024) }));
      assert.equal(await c.waitClose(), 1009);
    });
  });

  it('rate-limits a flood and closes the connection with 1008 when it goes on', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      for (let i = 0; i < 400; i++) c.send({ type: 'ping' });
      await c.next((m) => m.type === 'error' && m.code === 'RATE_LIMITED');
      assert.equal(await c.waitClose(), 1008);
    });
  });

  it('closes a connection that never joins', async () => {
    const c = await RawClient.open(t.url);
    const error = await c.next((m) => m.type === 'error', 20_000);
    assert.equal(error.code, 'JOIN_TIMEOUT');
    assert.equal(await c.waitClose(), 1008);
  });

  it('refuses a second join on one connection and a chat that is too long', async () => {
    const c = await RawClient.open(t.url);
    c.send({ type: 'join', v: 1, room: 'steady', name: 'talker' });
    await c.next((m) => m.type === 'joined');
    assert.equal(
      (await c.expectError({ type: 'join', v: 1, room: 'other', name: 'x' })).code,
      'ALREADY_JOINED',
    );
    assert.equal((await c.expectError({ type: 'chat', text: 'y'.repeat(2001) })).code, 'CHAT_TOO_LONG');
    assert.equal(
      (await c.expectError({ type: 'mute', trackId: 'TR_nope', muted: true })).code,
      'TRACK_NOT_FOUND',
    );
    c.close();
  });
});

describe('resume after a dropped connection', () => {
  it('a participant whose WebSocket is cut comes back without the others seeing a leave', async (ctx) => {
    const t = await startTestServer({ resumeWindowMs: 15_000 });
    const watcher = await Bot.start({ url: t.url, room: 'flaky', name: 'watcher', hostAddresses: LOOPBACK });
    const flaky = await Bot.start({ url: t.url, room: 'flaky', name: 'flaky', hostAddresses: LOOPBACK });
    try {
      const id = flaky.room.participantId;
      const seen: string[] = [];
      watcher.room.on('participantLeft', (p) => seen.push(`left:${p.id}`));
      watcher.room.on('participantState', (p) => seen.push(`${p.state}:${p.id}`));
      await eventually('media both ways', () => packetsOf(watcher) > 50 && packetsOf(flaky) > 50, 10_000);

      const states: string[] = [];
      flaky.room.on('connectionState', (s) => states.push(s));
      const cutAt = Date.now();
      flaky.room.dropConnection();
      await eventually('the flaky one is back', () => states.includes('connected'), 15_000);
      const back = Date.now() - cutAt;
      ctx.diagnostic(`WebSocket cut → resumed in ${back} ms`);
      assert.equal(flaky.room.participantId, id, 'same participant after the resume');
      await eventually('the watcher saw it come back', () => seen.includes(`connected:${id}`), 3000);
      assert.ok(seen.includes(`reconnecting:${id}`), `watcher saw: ${seen.join(', ')}`);
      assert.ok(!seen.includes(`left:${id}`), 'no leave was announced');
      const before = packetsOf(watcher);
      await eventually('the resumed participant media still arrives', () => packetsOf(watcher) > before + 20);
      // Still working after the resume: a chat goes through.
      const chat = new Promise<string>((resolve) => watcher.room.on('chat', (m) => resolve(m.text)));
      flaky.room.sendChat('back again');
      assert.equal(await chat, 'back again');
    } finally {
      await flaky.stop();
      await watcher.stop();
      await t.close();
    }
  });

  it('a participant that does not come back within the window leaves', async () => {
    const t = await startTestServer({ resumeWindowMs: 300 });
    const watcher = await Bot.start({
      url: t.url,
      room: 'gone',
      name: 'watcher',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    const c = await RawClient.open(t.url);
    try {
      c.send({ type: 'join', v: 1, room: 'gone', name: 'ghost' });
      const joined = await c.next((m) => m.type === 'joined');
      const id = (joined.self as { id: string }).id;
      const left = new Promise<void>((resolve) =>
        watcher.room.on('participantLeft', (p) => {
          if (p.id === id) resolve();
        }),
      );
      c.ws.terminate();
      await left;
      const resumeAttempt = await RawClient.open(t.url);
      const refused = await resumeAttempt.expectError({
        type: 'join',
        v: 1,
        room: 'gone',
        name: 'ghost',
        resume: joined.resumeToken,
      });
      assert.equal(refused.code, 'RESUME_FAILED');
      resumeAttempt.close();
    } finally {
      await watcher.stop();
      await t.close();
    }
  });
});
