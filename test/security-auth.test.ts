/**
 * Who may join and who may act: secured mode's token checks, host controls and their role check, the
 * host-muted microphone going silent for the others, room passwords and their slowdown.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createAccessToken, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { ServerError } from '../src/client/Signal.js';
import type { ParticipantRole } from '../src/protocol/messages.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const API_KEY = 'test-api-key-0123456789';
const API_SECRET = 'test-api-secret-0123456789abcdef0123456789';
const SECURED = { auth: { mode: 'secured' as const, apiKey: API_KEY, apiSecret: API_SECRET } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function token(
  room: string,
  identity: string,
  options: { role?: ParticipantRole; name?: string; canPublish?: boolean; secret?: string } = {},
): Promise<string> {
  const { secret = API_SECRET, ...rest } = options;
  return (await createAccessToken(secret, { room, identity, ttlSeconds: 600, ...rest })).token;
}

/** Packets a bot has received of one kind from one participant. */
function packetsFrom(bot: Bot, participantId: string, kind: 'audio' | 'video'): number {
  return bot.receivedFrom(participantId).reduce((n, r) => n + (r.kind === kind ? r.packets : 0), 0);
}

/** How many packets of `kind` from `participantId` arrive at `bot` during `ms`. */
async function arrivingDuring(bot: Bot, participantId: string, kind: 'audio' | 'video', ms: number) {
  const before = packetsFrom(bot, participantId, kind);
  await sleep(ms);
  return packetsFrom(bot, participantId, kind) - before;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof ServerError, `expected a refusal from the server, got ${String(error)}`);
  return error.code;
}

describe('secured mode: every join needs a valid token', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(SECURED);
  });
  after(() => t.close());

  it('refuses no token, a bad signature, an expired token, another room and alg=none, each with its own code', async () => {
    const c = await RawClient.open(t.url);
    const join = (extra: Record<string, unknown>) =>
      c.expectError({ type: 'join', v: 1, room: 'board', name: 'Eve', ...extra });
    const now = Math.floor(Date.now() / 1000);
    const claims = { room: 'board', role: 'host', canPublish: true };
    const key = new TextEncoder().encode(API_SECRET);

    assert.equal((await join({})).code, 'TOKEN_REQUIRED');
    assert.equal(
      (await join({ token: await token('board', 'eve', { secret: 'x'.repeat(40) }) })).code,
      'TOKEN_BAD_SIGNATURE',
    );
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('eve')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key);
    const expiredError = await join({ token: expired });
    assert.equal(expiredError.code, 'TOKEN_EXPIRED');
    assert.match(expiredError.message, /expired/);
    const wrongRoom = await join({ token: await token('other-room', 'eve') });
    assert.equal(wrongRoom.code, 'TOKEN_WRONG_ROOM');
    assert.match(wrongRoom.message, /other-room/, 'the error names the room the token is for');
    const none = new UnsecuredJWT(claims)
      .setSubject('eve')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setExpirationTime(now + 3600)
      .encode();
    assert.equal((await join({ token: none })).code, 'TOKEN_ALG_NOT_ALLOWED');
    // The right secret under another algorithm is refused too: only HS256 is accepted.
    const hs512 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('eve')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setExpirationTime(now + 3600)
      .sign(key);
    assert.equal((await join({ token: hs512 })).code, 'TOKEN_ALG_NOT_ALLOWED');
    // A guest who edits its token into a host's: the signature no longer matches.
    const [head, payload, signature] = (await token('board', 'eve')).split('.');
    const edited = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    edited.role = 'host';
    const forged = `${head}.${Buffer.from(JSON.stringify(edited)).toString('base64url')}.${signature}`;
    assert.equal((await join({ token: forged })).code, 'TOKEN_BAD_SIGNATURE');
    assert.equal((await join({ token: 'not.a.jwt' })).code, 'TOKEN_MALFORMED');
    // A JWT signed with the secret for some other purpose (no port545 audience) is no access token.
    const foreign = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('eve')
      .setExpirationTime(now + 60)
      .sign(key);
    assert.equal((await join({ token: foreign })).code, 'TOKEN_MALFORMED');
    const health = await t.server.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.json().rooms, 0, 'no refused join created a room');

    c.send({
      type: 'join',
      v: 1,
      room: 'board',
      name: 'Ann',
      token: await token('*', 'ann', { name: 'Ann Lee' }),
    });
    const joined = await c.next((m) => m.type === 'joined');
    const self = joined.self as { name: string; role: string };
    assert.equal(self.name, 'Ann Lee', "the token's name wins over the one the client asked for");
    assert.equal(self.role, 'guest');
    c.close();
  });

  it('a guest cannot mute, remove, lock or end; a host can, and the muted microphone goes silent for the others', async (t2) => {
    const room = 'standup';
    const speaker = await Bot.start({
      url: t.url,
      room,
      name: 'speaker',
      hostAddresses: LOOPBACK,
      token: await token(room, 'speaker'),
    });
    const listener = await Bot.start({
      url: t.url,
      room,
      name: 'listener',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
      token: await token(room, 'listener'),
    });
    const host = await Bot.start({
      url: t.url,
      room,
      name: 'host',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
      token: await token(room, 'host', { role: 'host' }),
    });
    try {
      const sid = speaker.room.participantId;
      assert.equal(host.room.role, 'host');
      await eventually(
        'others see who hosts',
        () => listener.room.participants.get(host.room.participantId)?.role === 'host',
      );
      await eventually(
        'the listener hears and sees the speaker',
        () => packetsFrom(listener, sid, 'audio') > 20 && packetsFrom(listener, sid, 'video') > 20,
        10_000,
      );

      // A guest tries every host control: each refused, and the speaker is still heard.
      const guest = listener.room;
      assert.equal(await refusal(guest.muteParticipant(sid)), 'NOT_HOST');
      assert.equal(await refusal(guest.removeParticipant(sid)), 'NOT_HOST');
      assert.equal(await refusal(guest.lockRoom(true)), 'NOT_HOST');
      assert.equal(await refusal(guest.setRoomPassword('letmein')), 'NOT_HOST');
      assert.equal(await refusal(guest.endRoom()), 'NOT_HOST');
      assert.ok((await arrivingDuring(listener, sid, 'audio', 500)) > 10, 'the speaker is still heard');
      assert.equal((await t.server.room(room))?.locked, false);

      // The host mutes the speaker's microphone.
      const toldSpeaker = new Promise<string>((resolve) =>
        speaker.room.on('localTrackMuted', (_l, by) => resolve(by)),
      );
      const toldListener = new Promise<boolean>((resolve) =>
        listener.room.on('trackMuted', (track, p) => {
          if (p.id === sid && track.kind === 'audio') resolve(track.muted);
        }),
      );
      await host.room.muteParticipant(sid);
      assert.equal(await toldSpeaker, host.room.participantId, 'the muted participant is told who muted it');
      assert.equal(await toldListener, true, 'everyone else sees the muted mark');
      await sleep(200); // packets already on the wire
      const audioWhileMuted = await arrivingDuring(listener, sid, 'audio', 1000);
      const videoWhileMuted = await arrivingDuring(listener, sid, 'video', 1000);
      t2.diagnostic(
        `while host-muted, 1 s brought ${audioWhileMuted} audio and ${videoWhileMuted} video packets`,
      );
      assert.ok(audioWhileMuted <= 1, `audio kept arriving: ${audioWhileMuted} packets in 1 s`);
      assert.ok(videoWhileMuted > 10, 'the video of the muted participant keeps flowing');

      // The speaker unmutes itself: the others hear it again.
      const mic = speaker.room.localTracks.find((l) => l.kind === 'audio')!;
      speaker.room.setMuted(mic, false);
      assert.ok(
        (await arrivingDuring(listener, sid, 'audio', 1000)) > 20,
        'audio flows again after the unmute',
      );

      // Locked: a new guest is refused, a host token still gets in.
      await host.room.lockRoom(true);
      const late = await RawClient.open(t.url);
      const lockedOut = await late.expectError({
        type: 'join',
        v: 1,
        room,
        name: 'late',
        token: await token(room, 'late'),
      });
      assert.equal(lockedOut.code, 'ROOM_LOCKED');
      late.send({
        type: 'join',
        v: 1,
        room,
        name: 'co-host',
        token: await token(room, 'cohost', { role: 'host' }),
      });
      await late.next((m) => m.type === 'joined');
      late.close();
      await host.room.lockRoom(false);

      // Removed: the listener is told and leaves; its identity stays out.
      const ended = new Promise<string>((resolve) => listener.room.on('ended', resolve));
      const left = new Promise<string>((resolve) =>
        speaker.room.on('participantLeft', (p) => {
          if (p.id === listener.room.participantId) resolve(p.id);
        }),
      );
      await host.room.removeParticipant(listener.room.participantId);
      assert.equal(await ended, 'removed by a host');
      await left;
      await eventually('the listener is disconnected', () => listener.room.state === 'disconnected', 3000);
      const again = await RawClient.open(t.url);
      const barred = await again.expectError({
        type: 'join',
        v: 1,
        room,
        name: 'listener',
        token: await token(room, 'listener'),
      });
      assert.equal(barred.code, 'REMOVED_FROM_ROOM');
      again.close();

      // Ended: everyone is told, the room is gone.
      const speakerEnded = new Promise<string>((resolve) => speaker.room.on('ended', resolve));
      await host.room.endRoom();
      assert.equal(await speakerEnded, 'ended by a host');
      await eventually('the room is gone', async () => (await t.server.room(room)) === undefined, 3000);
      await eventually('the speaker is disconnected', () => speaker.room.state === 'disconnected', 3000);
    } finally {
      for (const b of [speaker, listener, host]) await b.stop();
    }
  });

  it('a token without may-publish watches but cannot publish', async () => {
    const room = 'webinar';
    const presenter = await Bot.start({
      url: t.url,
      room,
      name: 'presenter',
      hostAddresses: LOOPBACK,
      token: await token(room, 'p'),
    });
    const viewerToken = await token(room, 'viewer', { canPublish: false });
    try {
      assert.equal(
        await refusal(
          Bot.start({ url: t.url, room, name: 'viewer', hostAddresses: LOOPBACK, token: viewerToken }),
        ),
        'PUBLISH_NOT_ALLOWED',
      );
      const viewer = await Bot.start({
        url: t.url,
        room,
        name: 'viewer',
        video: false,
        audio: false,
        hostAddresses: LOOPBACK,
        token: viewerToken,
      });
      assert.equal(viewer.room.canPublish, false);
      await eventually(
        'the viewer receives the presenter',
        () => packetsFrom(viewer, presenter.room.participantId, 'video') > 20,
        10_000,
      );
      await viewer.stop();
    } finally {
      await presenter.stop();
    }
  });
});

describe('open mode: hosts and room passwords', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      auth: { passwordFreeAttempts: 3, passwordBackoffMs: 50, passwordBackoffMaxMs: 400 },
      limits: { joinTimeoutMs: 60_000 },
    });
  });
  after(() => t.close());

  const join = (c: RawClient, room: string, name: string, extra: Record<string, unknown> = {}) =>
    c.send({ type: 'join', v: 1, room, name, rid: 'j', ...extra });

  it('the first participant hosts; when the host leaves, the longest-present participant becomes host', async () => {
    const [a, b, c] = await Promise.all([
      RawClient.open(t.url),
      RawClient.open(t.url),
      RawClient.open(t.url),
    ]);
    join(a, 'lobby', 'Ann');
    assert.equal(((await a.next((m) => m.type === 'joined')).self as { role: string }).role, 'host');
    join(b, 'lobby', 'Bob');
    assert.equal(((await b.next((m) => m.type === 'joined')).self as { role: string }).role, 'guest');
    join(c, 'lobby', 'Cid');
    await c.next((m) => m.type === 'joined');
    assert.equal((await b.expectError({ type: 'lockRoom', locked: true })).code, 'NOT_HOST');
    a.send({ type: 'leave' });
    const promoted = await c.next((m) => m.type === 'participantRole');
    assert.equal(promoted.role, 'host');
    const bobId = (b.messages.find((m) => m.type === 'joined')!.self as { id: string }).id;
    assert.equal(promoted.participantId, bobId, 'Bob, who came before Cid, hosts now');
    b.send({ type: 'lockRoom', locked: true, rid: 'lock' });
    assert.equal((await b.next((m) => m.rid === 'lock')).type, 'ok');
    const state = await c.next((m) => m.type === 'roomState');
    assert.equal(state.locked, true);
    const d = await RawClient.open(t.url);
    assert.equal(
      (await d.expectError({ type: 'join', v: 1, room: 'lobby', name: 'Dee' })).code,
      'ROOM_LOCKED',
    );
    for (const x of [b, c, d]) x.close();
  });

  it('a wrong password is refused, the right one admitted; 20 wrong tries in a row are slowed', async (t2) => {
    const host = await RawClient.open(t.url);
    join(host, 'vault', 'Host');
    await host.next((m) => m.type === 'joined');
    host.send({ type: 'setPassword', password: 'correct horse', rid: 'pw' });
    assert.equal((await host.next((m) => m.rid === 'pw')).type, 'ok');
    assert.ok((await t.server.room('vault'))?.passwordProtected);

    const guest = await RawClient.open(t.url);
    const attempt = async (c: RawClient, password?: string) => {
      const started = performance.now();
      c.send({
        type: 'join',
        v: 1,
        room: 'vault',
        name: 'Guest',
        ...(password !== undefined ? { password } : {}),
      });
      const reply = await c.next((m) => m.type === 'error' || m.type === 'joined', 15_000);
      return {
        reply: reply.type === 'error' ? String(reply.code) : 'joined',
        ms: performance.now() - started,
      };
    };
    assert.equal((await attempt(guest)).reply, 'PASSWORD_REQUIRED');
    assert.equal((await attempt(guest, 'wrong')).reply, 'PASSWORD_WRONG');
    assert.equal((await attempt(guest, 'correct horse')).reply, 'joined');
    guest.close();

    // 20 wrong in a row from 127.0.0.1.
    const guesser = await RawClient.open(t.url);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { reply, ms } = await attempt(guesser, `guess-${i}`);
      assert.equal(reply, 'PASSWORD_WRONG');
      times.push(ms);
    }
    const total = times.reduce((a, b) => a + b, 0);
    t2.diagnostic(
      `20 wrong passwords: ${times.map((ms) => ms.toFixed(0)).join(', ')} ms; total ${total.toFixed(0)} ms`,
    );
    // Each answer includes one scrypt check (tens of ms, more on a busy machine); from the 9th try on the
    // wait has reached the 400 ms cap.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const ms of times.slice(8)) assert.ok(ms >= 350, `later tries wait (${ms.toFixed(0)} ms)`);
    assert.ok(
      mean(times.slice(8)) >= mean(times.slice(0, 3)) + 300,
      `the first tries are not held up (${mean(times.slice(0, 3)).toFixed(0)} ms on average), later ones are (${mean(times.slice(8)).toFixed(0)} ms)`,
    );

    // Parallel guesses from the same address do not get around it: a few wait in line, the rest are refused.
    const burst = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(t.url)));
    const replies = await Promise.all(burst.map((c) => attempt(c, 'parallel')));
    const codes = replies.map((r) => r.reply);
    t2.diagnostic(`8 parallel guesses: ${codes.join(', ')}`);
    assert.ok(codes.includes('TOO_MANY_ATTEMPTS'), 'a burst of parallel guesses is cut off');
    assert.ok(!codes.includes('joined'));
    for (const c of burst) c.close();

    // Someone at another address is not held up by the guesser, whose next try waits at the same time…
    const neighbour = await RawClient.open(t.url, { localAddress: '127.0.0.2' });
    const [fromGuesser, fromNeighbour] = await Promise.all([
      attempt(guesser, 'one more'),
      attempt(neighbour, 'correct horse'),
    ]);
    t2.diagnostic(
      `side by side: the guesser (127.0.0.1) was answered after ${fromGuesser.ms.toFixed(0)} ms, the right password from 127.0.0.2 after ${fromNeighbour.ms.toFixed(0)} ms`,
    );
    assert.equal(fromGuesser.reply, 'PASSWORD_WRONG');
    assert.equal(fromNeighbour.reply, 'joined');
    assert.ok(fromNeighbour.ms + 200 < fromGuesser.ms, 'another address is not slowed by the guesser');
    // …and the right password from the guesser's address still works once its wait is over.
    assert.equal((await attempt(guesser, 'correct horse')).reply, 'joined');
    for (const c of [host, guesser, neighbour]) c.close();
  });

  it('an access token skips the room password; a broken token is refused even in open mode', async () => {
    const u = await startTestServer({ auth: { apiKey: API_KEY, apiSecret: API_SECRET } });
    try {
      const host = await RawClient.open(u.url);
      join(host, 'club', 'Host');
      await host.next((m) => m.type === 'joined');
      host.send({ type: 'setPassword', password: 'pw', rid: 'pw' });
      await host.next((m) => m.rid === 'pw');
      const member = await RawClient.open(u.url);
      assert.equal(
        (await member.expectError({ type: 'join', v: 1, room: 'club', name: 'M', token: 'x.y.z' })).code,
        'TOKEN_MALFORMED',
      );
      join(member, 'club', 'M', { token: await token('club', 'member') });
      await member.next((m) => m.type === 'joined');
      for (const c of [host, member]) c.close();
    } finally {
      await u.close();
    }
  });
});
