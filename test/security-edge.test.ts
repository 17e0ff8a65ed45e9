/**
 * The edge's limits and lifetimes: sessions that never connect are torn down with their sockets, offers
 * past the m-line and candidate limits get INVALID_SDP / INVALID_CANDIDATE, `/ws` checks the page's
 * Origin, request rates are limited per address and per token (429 with Retry-After, also through the
 * worker threads' main thread), refusals and admin actions are audit lines, tokens live at most 30 days,
 * resume tokens work once, and HTTPS offers no CBC suite and sends HSTS with real certificates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { SignJWT } from 'jose';
import pino from 'pino';
import { RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
import { createAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { buildServer } from '../src/buildServer.js';
import { nodePeerConfig } from '../src/client/node.js';
import type { ConfigInput } from '../src/config/config.js';
import { ensureSelfSignedCertificate } from '../src/tls/selfSigned.js';
import { eventually, LOOPBACK, testConfig } from './helpers/server.js';
import { SDP, whipPublish } from './helpers/whip.js';
import { RawClient } from './helpers/ws.js';

const API_KEY = 'edge-test-api-key-0123456789';
const API_SECRET = 'edge-test-api-secret-0123456789abcdef';
const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
const packetsOf = (bot: Bot) => [...bot.received.values()].reduce((n, r) => n + r.packets, 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger whose lines the test reads: the audit channel is `{"channel":"audit",…}`. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info', base: undefined }, stream), lines };
}
const auditLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.channel === 'audit');

async function start(overrides: ConfigInput, options: { workers?: number } = {}) {
  const { log, lines } = capturedLog();
  const config = testConfig(overrides);
  const server = buildServer(config, options.workers ?? 0, { log });
  const port = await server.listen(0);
  // With no worker threads, the rooms' side runs on this thread: a test may look inside it.
  const rooms = () => server.workers.all[0]!.inThread!.server;
  return { server, rooms, port, url: `http://127.0.0.1:${port}`, lines, close: () => server.close() };
}

/**
 * A recvonly (WHEP) or sendonly (WHIP) offer from a werift peer that is closed at once: it never
 * connects. Video only: every WHEP player of a room's audio gets its own Opus encoder of the mix.
 */
async function deadOffer(direction: 'recvonly' | 'sendonly', kinds: ('video' | 'audio')[] = ['video']) {
  const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
  for (const kind of kinds) pc.addTransceiver(kind, { direction });
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}

/** An offer with `n` audio m-lines, each with a mid. */
function manySections(n: number, direction: string): string {
  let sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
  const fingerprint = Array(32).fill('AB').join(':');
  for (let i = 0; i < n; i++)
    sdp +=
      'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n' +
      `a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 ${fingerprint}\r\na=setup:actpass\r\n` +
      `a=mid:${i}\r\na=${direction}\r\na=rtpmap:111 opus/48000/2\r\n`;
  return sdp;
}

/** An HTTP request from a chosen loopback address (fetch cannot pick its source address). */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens `/ws` with `headers`; resolves with the HTTP status of a refused upgrade, or 101. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers });
    ws.once('open', () => {
      ws.close(1000);
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('sessions that never connect', () => {
  let t: Awaited<ReturnType<typeof start>>;
  before(async () => {
    t = await start({
      rooms: { maxParticipants: 250 },
      limits: {
        connectTimeoutMs: 2000,
        gatewaySessionsPerIp: 300,
        gatewayRequestsPerMinute: 1000,
      },
    });
  });
  after(() => t.close());

  it('200 WHEP offers that never connect are torn down at the deadline with their sockets; real sessions stay', async (t2) => {
    const bot = await Bot.start({ url: t.url, room: 'stage', name: 'host', hostAddresses: LOOPBACK });
    const registry = t.rooms().host.registry;
    const server = t.rooms();
    try {
      // A signaling client that never answers the subscriber offer of the host's tracks.
      const silent = await RawClient.open(t.url);
      silent.send({ type: 'join', v: 1, room: 'stage', name: 'silent' });
      await silent.next((m) => m.type === 'joined');
      await silent.waitClose(30_000);
      assert.ok(
        silent.messages.some((m) => m.type === 'error' && m.code === 'CONNECT_TIMEOUT'),
        'the client that never answered its subscriber offer is told CONNECT_TIMEOUT',
      );
      await eventually('the silent client has left', () => registry.participantCount === 1, 10_000);
      await sleep(500);
      const baseline = udpSockets();
      const participantsBefore = registry.participantCount;

      const offer = await deadOffer('recvonly');
      let created = 0;
      const failures = new Set<string>();
      // Sessions expire while later ones are still being made (2 s against a loop of several seconds):
      // the peak shows they were held, the end that none is left.
      let peakSockets = baseline;
      let peakParticipants = participantsBefore;
      for (let i = 0; i < 200; i += 10) {
        const replies = await Promise.all(
          Array.from({ length: 10 }, () =>
            fetch(`${t.url}/whep/stage`, { method: 'POST', headers: SDP, body: offer }),
          ),
        );
        for (const r of replies) {
          if (r.status === 201) created++;
          else failures.add(`${r.status} ${await r.text()}`);
          await r.arrayBuffer().catch(() => undefined);
        }
        peakSockets = Math.max(peakSockets, udpSockets());
        peakParticipants = Math.max(peakParticipants, registry.participantCount);
      }
      t2.diagnostic(
        `${created} WHEP sessions made; at the peak UDP sockets ${baseline} → ${peakSockets}, participants ${participantsBefore} → ${peakParticipants}`,
      );
      assert.equal(created, 200, [...failures].join('\n'));
      assert.ok(peakSockets >= baseline + 10, 'sessions held their sockets while they waited');

      await eventually(
        'the never-connected WHEP sessions are gone',
        () => registry.participantCount === participantsBefore,
        60_000,
        100,
      );
      await eventually('their UDP sockets are closed', () => udpSockets() <= baseline, 30_000, 100);
      t2.diagnostic(
        `after the deadline: UDP sockets ${udpSockets()}, participants ${registry.participantCount}`,
      );
      assert.equal(server.gateways.whep.size, 0);

      // A WHIP publisher that connects outlives the deadline.
      const whip = await whipPublish(t.url, 'stage', 'camera');
      try {
        await sleep(3000);
        const names = [...registry.rooms.get('stage')!.participants.values()].map((p) => p.name).sort();
        assert.deepEqual(names, ['camera', 'host']);

        // A real join still works and gets media.
        const viewer = await Bot.start({
          url: t.url,
          room: 'stage',
          name: 'viewer',
          hostAddresses: LOOPBACK,
        });
        try {
          await eventually('the new participant receives media', () => packetsOf(viewer) > 50, 30_000);
        } finally {
          await viewer.stop();
        }
      } finally {
        await whip.stop();
      }
    } finally {
      await bot.stop();
    }
  });

  it('a participant that connected, resumed and renegotiates is not caught by the deadline', async () => {
    const registry = t.rooms().host.registry;
    const first = await Bot.start({ url: t.url, room: 'again', name: 'first', hostAddresses: LOOPBACK });
    try {
      const states: string[] = [];
      first.room.on('connectionState', (state) => states.push(state));
      first.room.dropConnection();
      await eventually('the resume is done', () => states.at(-1) === 'connected', 20_000);
      // A new publisher: the resumed participant gets a new subscriber offer on a connected connection.
      const second = await Bot.start({ url: t.url, room: 'again', name: 'second', hostAddresses: LOOPBACK });
      try {
        const before = packetsOf(first);
        await sleep(3000);
        assert.equal(registry.rooms.get('again')?.participants.size, 2);
        await eventually(
          'media from the new publisher arrives',
          () => packetsOf(first) > before + 50,
          30_000,
        );
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });

  it('a WHIP POST into a new room that never connects: the session and then the room are gone', async () => {
    const registry = t.rooms().host.registry;
    const r = await fetch(`${t.url}/whip/lonely`, {
      method: 'POST',
      headers: SDP,
      body: await deadOffer('sendonly'),
    });
    assert.equal(r.status, 201, await r.text());
    assert.ok(registry.rooms.has('lonely'));
    await eventually(
      'the room that only the dead session was in is closed',
      () => !registry.rooms.has('lonely'),
      30_000,
    );
    const sessions = [...t.rooms().gateways.whip.values()];
    assert.ok(!sessions.some((s) => (s as { room: string }).room === 'lonely'), 'its WHIP session is gone');
  });
});

describe('limits on offers, origins, rates and tokens', () => {
  let t: Awaited<ReturnType<typeof start>>;
  before(async () => {
    t = await start({
      auth: {
        apiKey: API_KEY,
        apiSecret: API_SECRET,
        passwordFreeAttempts: 100,
        passwordBackoffMs: 0,
        passwordRoomAttemptsPerMinute: 5,
      },
      http: { allowedOrigins: ['https://app.example'] },
      limits: {
        adminRequestsPerMinute: 20,
        gatewayRequestsPerMinute: 8,
        gatewaySessionsPerIp: 2,
        gatewaySessionsPerToken: 2,
        candidatesPerSession: 5,
        sdpMaxBytes: 512 * 1024,
        wsConnectsPerMinute: 40,
      },
    });
  });
  after(() => t.close());

  it('500 m-lines: INVALID_SDP that names the limit, over WebSocket and WHEP', async () => {
    const c = await RawClient.open(t.url);
    c.send({ type: 'join', v: 1, room: 'sdp', name: 'x' });
    await c.next((m) => m.type === 'joined');
    c.send({ type: 'offer', sdp: manySections(500, 'sendonly'), tracks: [], rid: 1 });
    const error = await c.next((m) => m.rid === 1, 20_000);
    assert.equal(error.code, 'INVALID_SDP');
    assert.match(String(error.message), /500 media sections.*at most 64/);

    const r = await fetch(`${t.url}/whep/sdp`, {
      method: 'POST',
      headers: SDP,
      body: manySections(500, 'recvonly'),
    });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INVALID_SDP');
    assert.match(body.error.message, /500 media sections/);

    // Candidates: the sixth on one connection is refused by the limit, whatever the first five did.
    const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0' };
    for (let i = 1; i <= 6; i++) c.send({ type: 'candidate', target: 'publisher', candidate, rid: `c${i}` });
    const sixth = await c.next((m) => m.rid === 'c6');
    assert.equal(sixth.code, 'INVALID_CANDIDATE');
    assert.match(String(sixth.message), /at most 5 ICE candidates/);
    c.ws.close(1000);
  });

  it('/ws: another site is refused with 403 and an audit line; same origin, listed origins and no Origin are let in', async () => {
    assert.equal(await upgradeStatus(t.url, { origin: 'https://evil.example' }), 403);
    assert.equal(await upgradeStatus(t.url, { origin: `http://127.0.0.1:${t.port}` }), 101);
    assert.equal(await upgradeStatus(t.url, { origin: 'https://app.example' }), 101);
    assert.equal(await upgradeStatus(t.url), 101);
    const line = auditLines(t.lines).find((l) => l.code === 'ORIGIN_NOT_ALLOWED');
    assert.ok(line, 'an audit line for the refused origin');
    assert.equal(line.origin, 'https://evil.example');
  });

  it('admin API: wrong keys are audit lines and the 21st request in a minute gets 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 25; i++) {
      const r = await send(`${t.url}/api/v1/rooms`, { headers: { authorization: `Bearer wrong-key-${i}` } });
      statuses.push(r.status);
      if (r.status === 429) limited ??= r;
    }
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
    assert.deepEqual(statuses.slice(20), Array(5).fill(429));
    assert.ok(Number(limited!.headers['retry-after']) > 0, 'Retry-After in seconds');
    // Another spelling of the same route is the same route.
    const encoded = await send(`${t.url}/ap%69/v1/rooms`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(encoded.status, 429);
    assert.equal((JSON.parse(limited!.body) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    const audit = auditLines(t.lines);
    assert.equal(audit.filter((l) => l.code === 'API_KEY_INVALID').length, 20);
    assert.equal(audit.filter((l) => l.code === 'RATE_LIMITED' && l.path === '/api/v1/rooms').length, 5);
    assert.equal(audit.filter((l) => l.code === 'RATE_LIMITED').length, 6);

    // Another address is not held back by this one, and what the admin does is an audit line too.
    const made = await send(`${t.url}/api/v1/tokens`, {
      method: 'POST',
      localAddress: '127.0.0.2',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'audited', identity: 'ada', ttl: 60 }),
    });
    assert.equal(made.status, 201);
    const action = auditLines(t.lines).find((l) => l.msg === 'admin action');
    assert.ok(action, 'an audit line for the token');
    assert.equal(action.address, '127.0.0.2');
    assert.deepEqual(action.token, { room: 'audited', identity: 'ada', role: 'guest', ttl: 60 });
    assert.ok(!JSON.stringify(action).includes('eyJ'), 'the token itself is not logged');
  });

  it('WHEP: per address and per token, 429 with Retry-After; open sessions per address and per token are capped; trickled candidates are counted', async () => {
    // Per token: one token from two addresses, each under the address limit, is limited as one.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await send(`${t.url}/whep/none`, {
        method: 'POST',
        localAddress: i % 2 ? '127.0.0.3' : '127.0.0.4',
        headers: { ...SDP, authorization: 'Bearer shared-token' },
        body: 'v=0\r\n',
      });
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers['retry-after']) > 0);
    }
    assert.deepEqual(statuses.slice(8), [429, 429], `statuses: ${statuses.join(' ')}`);
    assert.ok(statuses.slice(0, 8).every((s) => s !== 429));

    // Open sessions: the third from one address while two are open gets TOO_MANY_SESSIONS.
    const room = await RawClient.open(t.url);
    room.send({ type: 'join', v: 1, room: 'capped', name: 'anchor' });
    await room.next((m) => m.type === 'joined');
    const offer = await deadOffer('recvonly');
    const post = async (localAddress: string, authorization?: string) => {
      const r = await send(`${t.url}/whep/capped`, {
        method: 'POST',
        localAddress,
        headers: authorization ? { ...SDP, authorization } : SDP,
        body: offer,
      });
      return {
        location: String(r.headers.location),
        outcome: r.status === 201 ? 201 : (JSON.parse(r.body) as { error: { code: string } }).error.code,
      };
    };
    const byAddress = [await post('127.0.0.5'), await post('127.0.0.5'), await post('127.0.0.5')];
    assert.deepEqual(
      byAddress.map((r) => r.outcome),
      [201, 201, 'TOO_MANY_SESSIONS'],
    );
    // …and the third under one token while two are open, whatever the address.
    const { token } = await createAccessToken(API_SECRET, {
      room: 'capped',
      identity: 'viewer',
      ttlSeconds: 60,
    });
    const bearer = `Bearer ${token}`;
    const byToken = [
      await post('127.0.0.6', bearer),
      await post('127.0.0.7', bearer),
      await post('127.0.0.8', bearer),
    ];
    assert.deepEqual(
      byToken.map((r) => r.outcome),
      [201, 201, 'TOO_MANY_SESSIONS'],
    );

    // Trickled candidates count towards candidatesPerSession (5 here) like those in the offer.
    const candidates = Array.from(
      { length: 6 },
      (_, i) => `a=candidate:${i} 1 udp 2122260223 127.0.0.1 ${50000 + i} typ host`,
    );
    const patch = await send(`${t.url}${byAddress[0]!.location}`, {
      method: 'PATCH',
      localAddress: '127.0.0.9',
      headers: { 'content-type': 'application/trickle-ice-sdpfrag' },
      body: `a=mid:0\r\n${candidates.join('\r\n')}\r\n`,
    });
    assert.equal(patch.status, 400, patch.body);
    assert.match(patch.body, /INVALID_CANDIDATE.*at most 5 ICE candidates/);
    room.ws.close(1000);
  });

  it('room passwords: many addresses together get no more than the room budget of wrong guesses', async () => {
    const host = await RawClient.open(t.url);
    host.send({ type: 'join', v: 1, room: 'vault', name: 'host' });
    await host.next((m) => m.type === 'joined');
    host.send({ type: 'setPassword', password: 'right-password', rid: 'pw' });
    await host.next((m) => m.rid === 'pw');
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      // A different address for every guess, as from a botnet.
      const c = await RawClient.open(t.url, { localAddress: `127.0.1.${i + 1}` });
      c.send({ type: 'join', v: 1, room: 'vault', name: 'guess', password: `guess-${i}` });
      codes.push(String((await c.next((m) => m.type === 'error')).code));
      c.ws.close(1000);
    }
    assert.deepEqual(codes, [...Array(5).fill('PASSWORD_WRONG'), ...Array(3).fill('TOO_MANY_ATTEMPTS')]);
    assert.equal(auditLines(t.lines).filter((l) => l.code === 'TOO_MANY_ATTEMPTS').length, 3);
    host.ws.close(1000);
  });

  it('a token good for more than 30 days is refused with TOKEN_LIFETIME_TOO_LONG, by exp − now and by exp − iat', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number, exp: number) =>
      new SignJWT({ room: 'long', role: 'guest', canPublish: true })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject('ada')
        .setIssuer('port545')
        .setAudience('port545')
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode(API_SECRET));
    const day = 86_400;
    for (const [iat, exp, code] of [
      [now, now + 40 * day, 'TOKEN_LIFETIME_TOO_LONG'],
      [now - 20 * day, now + 11 * day, 'TOKEN_LIFETIME_TOO_LONG'],
      [now - 20 * day, now + 9 * day, 'joined'],
    ] as const) {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: 1, room: 'long', name: 'ada', token: await sign(iat, exp) });
      const reply = await c.next((m) => m.type === 'error' || m.type === 'joined');
      assert.equal(
        reply.type === 'joined' ? 'joined' : reply.code,
        code,
        `iat ${iat - now}, exp ${exp - now}`,
      );
      c.ws.close(1000);
    }
  });

  it('a resume token works once: the resume reply carries a new one, and the old one is refused', async () => {
    const first = await RawClient.open(t.url);
    first.send({ type: 'join', v: 1, room: 'resumable', name: 'ada' });
    const joined = await first.next((m) => m.type === 'joined');
    const t1 = String(joined.resumeToken);
    first.ws.close(4000); // not a clean close: the participant waits for a resume

    const second = await RawClient.open(t.url);
    second.send({ type: 'join', v: 1, room: 'resumable', name: 'ada', resume: t1 });
    const resumed = await second.next((m) => m.type === 'joined');
    assert.equal(resumed.resumed, true);
    const t2 = String(resumed.resumeToken);
    assert.notEqual(t2, t1);
    second.ws.close(4000);

    const replay = await RawClient.open(t.url);
    replay.send({ type: 'join', v: 1, room: 'resumable', name: 'ada', resume: t1 });
    assert.equal((await replay.next((m) => m.type === 'error')).code, 'RESUME_FAILED');
    replay.ws.close(1000);

    const third = await RawClient.open(t.url);
    third.send({ type: 'join', v: 1, room: 'resumable', name: 'ada', resume: t2 });
    assert.equal((await third.next((m) => m.type === 'joined')).resumed, true);
    third.send({ type: 'leave' });
    await third.waitClose();
  });

  it('the SDK resumes twice in a row with the token each resume gave it', async () => {
    const bot = await Bot.start({ url: t.url, room: 'sdk-resume', name: 'ada', hostAddresses: LOOPBACK });
    try {
      const id = bot.room.participantId;
      const errors: Error[] = [];
      const states: string[] = [];
      bot.room.on('error', (e) => errors.push(e));
      bot.room.on('connectionState', (state) => states.push(state));
      for (let i = 0; i < 2; i++) {
        states.length = 0;
        bot.room.dropConnection();
        await eventually(
          `resume ${i + 1} ends`,
          () => states.at(-1) === 'connected' || states.at(-1) === 'disconnected',
          20_000,
        );
        assert.deepEqual(
          states,
          ['reconnecting', 'connected'],
          `resume ${i + 1}: ${errors.map((e) => e.message).join('; ')}`,
        );
        assert.equal(bot.room.participantId, id, `resume ${i + 1} kept the participant`);
      }
    } finally {
      await bot.stop();
    }
  });
});

describe('the edge of the worker threads', () => {
  let t: Awaited<ReturnType<typeof start>>;
  before(async () => {
    t = await start(
      { http: {}, limits: { gatewayRequestsPerMinute: 3, wsConnectsPerMinute: 3 } },
      { workers: 1 },
    );
  });
  after(() => t.close());

  it('WHIP is rate-limited on the main thread (429, Retry-After, audit line) and /ws checks Origin there', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(`${t.url}/whip/clustered`, { method: 'POST', headers: SDP, body: 'v=0\r\n' });
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers['retry-after']) > 0);
    }
    assert.deepEqual(statuses.slice(3), [429, 429], `statuses: ${statuses.join(' ')}`);
    assert.ok(statuses.slice(0, 3).every((s) => s !== 429));
    assert.equal(auditLines(t.lines).filter((l) => l.code === 'RATE_LIMITED').length, 2);

    assert.equal(await upgradeStatus(t.url, { origin: 'https://evil.example' }), 403);
    const upgrades: number[] = [];
    for (let i = 0; i < 4; i++) upgrades.push(await upgradeStatus(t.url));
    assert.deepEqual(upgrades, [101, 101, 101, 429]);
  });
});

describe('TLS suites and HSTS', () => {
  let dir: string;
  let files: { certPath: string; keyPath: string };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'port545-edge-tls-'));
    files = await ensureSelfSignedCertificate(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const handshake = (port: number, options: { ciphers?: string; maxVersion?: 'TLSv1.2' }) =>
    new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
        resolve(`${socket.getProtocol()} ${socket.getCipher().name}`);
        socket.end();
      });
      socket.on('error', reject);
    });
  const hstsOf = (port: number) =>
    new Promise<string | undefined>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/.well-known/port545', rejectUnauthorized: false },
        (res) => {
          res.resume();
          resolve(res.headers['strict-transport-security'] as string | undefined);
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('TLS 1.2 with a CBC/SHA-1 suite is refused; AEAD on 1.2 and TLS 1.3 work; HSTS with certificate files', async () => {
    const t = await start({ tls: { cert: files.certPath, key: files.keyPath } });
    try {
      await assert.rejects(handshake(t.port, { ciphers: 'ECDHE-ECDSA-AES128-SHA', maxVersion: 'TLSv1.2' }));
      await assert.rejects(
        handshake(t.port, { ciphers: 'ECDHE-ECDSA-AES256-SHA384', maxVersion: 'TLSv1.2' }),
      );
      assert.equal(
        await handshake(t.port, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }),
        'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256',
      );
      assert.match(await handshake(t.port, {}), /^TLSv1\.3 /);
      assert.equal(await hstsOf(t.port), 'max-age=31536000');
    } finally {
      await t.close();
    }
  });

  it('no HSTS with a self-signed certificate, or when turned off', async () => {
    for (const overrides of [
      { tls: { selfSigned: true }, dataDir: dir },
      { tls: { cert: files.certPath, key: files.keyPath }, http: { hsts: false } },
    ] satisfies ConfigInput[]) {
      const t = await start(overrides);
      try {
        assert.equal(await hstsOf(t.port), undefined, JSON.stringify(overrides));
      } finally {
        await t.close();
      }
    }
  });
});
