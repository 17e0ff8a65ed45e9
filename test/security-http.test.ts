/**
 * The HTTP side of security: the admin API and its key, security headers, `..` in paths (raw requests,
 * encoded every way), and TLS on the one port with a self-signed certificate that survives a restart.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import WebSocket from 'ws';
import { verifyAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { ConfigError, parseConfig } from '../src/config/config.js';
import { loadConfig } from '../src/config/loadConfig.js';
import { registerWebClient } from '../src/http/webClient.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'admin-key-0123456789abcdef';
const API_SECRET = 'signing-secret-0123456789abcdef0123456789';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const JSON_AUTH = { 'content-type': 'application/json', ...AUTH };
const packetsOf = (bot: Bot) => [...bot.received.values()].reduce((n, r) => n + r.packets, 0);

/** Sends `GET <path>` byte for byte (no client normalises the path) and returns status and body. */
function rawGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`),
    );
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text });
    });
  });
}

describe('admin API', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ auth: { mode: 'secured', apiKey: API_KEY, apiSecret: API_SECRET } });
  });
  after(() => t.close());

  it('needs the API key: none, a wrong one and a missing server key are each refused with a code', async () => {
    const none = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error.code, 'API_KEY_REQUIRED');
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const wrong = await t.server.app.inject({
      method: 'GET',
      url: '/api/v1/rooms',
      headers: { authorization: `Bearer ${API_KEY.slice(0, -1)}x` },
    });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error.code, 'API_KEY_INVALID');
    // The API secret signs tokens; it is not the admin credential.
    const secret = await t.server.app.inject({
      method: 'DELETE',
      url: '/api/v1/rooms/any',
      headers: { authorization: `Bearer ${API_SECRET}` },
    });
    assert.equal(secret.json().error.code, 'API_KEY_INVALID');
    const open = await startTestServer();
    try {
      const off = await open.server.app.inject({ method: 'GET', url: '/api/v1/rooms', headers: AUTH });
      assert.equal(off.statusCode, 403);
      assert.equal(off.json().error.code, 'ADMIN_API_DISABLED');
    } finally {
      await open.close();
    }
  });

  it('creates tokens, lists rooms and participants, mutes, removes and ends', async () => {
    const bad = await t.server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: AUTH,
      payload: { room: '../x', identity: 'a' },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'BAD_REQUEST');
    assert.match(bad.json().error.message, /room/);
    const tooLong = await t.server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: AUTH,
      payload: { room: 'a', identity: 'a', ttl: '400d' },
    });
    assert.equal(tooLong.statusCode, 400, 'a token for more than 30 days is refused');

    const issue = async (identity: string, role: 'host' | 'guest') => {
      const res = await fetch(`${t.url}/api/v1/tokens`, {
        method: 'POST',
        headers: JSON_AUTH,
        body: JSON.stringify({ room: 'ops', identity, name: identity.toUpperCase(), role, ttl: '10m' }),
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      return (await res.json()) as { token: string; expiresAt: string };
    };
    const issued = await issue('alice', 'guest');
    const claims = await verifyAccessToken(API_SECRET, issued.token, 'ops');
    assert.equal(claims.identity, 'alice');
    const ttl = Date.parse(issued.expiresAt) - Date.now();
    assert.ok(ttl > 9 * 60_000 && ttl <= 10 * 60_000, `expires in ${ttl} ms`);

    const alice = await Bot.start({
      url: t.url,
      room: 'ops',
      name: 'x',
      hostAddresses: LOOPBACK,
      token: issued.token,
    });
    const bob = await Bot.start({
      url: t.url,
      room: 'ops',
      name: 'x',
      audio: false,
      video: false,
      hostAddresses: LOOPBACK,
      token: (await issue('bob', 'guest')).token,
    });
    try {
      const rooms = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms', headers: AUTH });
      assert.deepEqual(
        rooms.json().rooms.map((r: { name: string; participants: number }) => [r.name, r.participants]),
        [['ops', 2]],
      );
      const room = (
        await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms/ops', headers: AUTH })
      ).json();
      const a = room.participants.find((p: { identity: string }) => p.identity === 'alice');
      assert.equal(a.name, 'ALICE', "the token's name");
      assert.equal(a.role, 'guest');
      assert.equal(a.tracks.length, 2);
      const missing = await t.server.app.inject({ method: 'GET', url: '/api/v1/rooms/nope', headers: AUTH });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'ROOM_NOT_FOUND');

      await eventually('bob hears alice', () => packetsOf(bob) > 20, 10_000);
      const told = new Promise<string>((resolve) =>
        alice.room.on('localTrackMuted', (_l, by) => resolve(by)),
      );
      const mute = await t.server.app.inject({
        method: 'POST',
        url: `/api/v1/rooms/ops/participants/${a.id}/mute`,
        headers: AUTH,
      });
      assert.equal(mute.statusCode, 204);
      assert.equal(await told, 'admin');

      const ended = new Promise<string>((resolve) => bob.room.on('ended', resolve));
      const bobId = bob.room.participantId;
      const removed = await t.server.app.inject({
        method: 'DELETE',
        url: `/api/v1/rooms/ops/participants/${bobId}`,
        headers: AUTH,
      });
      assert.equal(removed.statusCode, 204);
      assert.equal(await ended, 'removed by a host');
      const again = await t.server.app.inject({
        method: 'DELETE',
        url: `/api/v1/rooms/ops/participants/${bobId}`,
        headers: AUTH,
      });
      assert.equal(again.json().error.code, 'PARTICIPANT_NOT_FOUND');

      const aliceEnded = new Promise<string>((resolve) => alice.room.on('ended', resolve));
      const end = await t.server.app.inject({ method: 'DELETE', url: '/api/v1/rooms/ops', headers: AUTH });
      assert.equal(end.statusCode, 204);
      assert.equal(await aliceEnded, 'ended by the administrator');
      assert.equal(await t.server.room('ops'), undefined);
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });
});

describe('paths with ..', () => {
  let dir: string;
  let port: number;
  let close: () => Promise<void>;
  let server: TestServer;
  const SECRET = 'TOP-SECRET-OUTSIDE-THE-WEB-ROOT';

  before(async () => {
    // A web root with a secret beside it, served the way buildServer serves the web client.
    dir = mkdtempSync(join(tmpdir(), 'port545-traversal-'));
    mkdirSync(join(dir, 'www', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'www', 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dir, 'www', 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), SECRET);
    const app = Fastify();
    await registerWebClient(app, `${join(dir, 'www')}/`);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
    close = () => app.close();
    server = await startTestServer();
  });
  after(async () => {
    await close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const attempts = [
    '/../secret.txt',
    '/../../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/.%2e/secret.txt',
    '/..%2fsecret.txt',
    '/..%2Fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/..\\secret.txt',
    '/%252e%252e/secret.txt',
    '/..%252fsecret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/assets/..%00/secret.txt',
    '/r/..%2f..%2fsecret.txt',
    '/./../secret.txt',
    '//../secret.txt',
  ];

  it('the web client files refuse every spelling of .. and never show a file outside their root', async (t2) => {
    const statuses: string[] = [];
    for (const path of attempts) {
      const { status, text } = await rawGet(port, path);
      statuses.push(`${path} → ${status}`);
      assert.ok(!text.includes(SECRET), `${path} showed the file outside the root`);
      assert.ok(status === 400 || status === 403 || status === 404 || status === 200, `${path} → ${status}`);
      if (status === 200) assert.match(text, /<title>app<\/title>/, `${path} served something else`);
    }
    t2.diagnostic(statuses.join('; '));
    // The files inside are still served.
    assert.equal((await rawGet(port, '/assets/app.js')).status, 200);
  });

  it('the server refuses .. towards /etc/passwd on every route, admin API included', async () => {
    const paths = [
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/r/..%2f..%2f..%2fetc%2fpasswd',
      '/api/v1/rooms/..%2f..%2f..%2fetc%2fpasswd',
      '/whip/..%2f..%2fetc%2fpasswd',
      '/.well-known/../../etc/passwd',
    ];
    for (const path of paths) {
      const { status, text } = await rawGet(server.port, path);
      assert.ok(!/root:.*:0:0:/.test(text), `${path} showed /etc/passwd`);
      assert.ok(status >= 200 && status < 500, `${path} → ${status}`);
    }
  });

  it('every page carries headers that keep the token in a room URL on this site and the page unframed', async () => {
    const res = await fetch(`${server.url}/r/some-room?token=abc`);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  });
});

describe('TLS on the one port', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-tls-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const getWellKnown = (port: number, ca: Buffer) =>
    new Promise<{ status: number; server: string | undefined; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/.well-known/port545', ca, servername: 'localhost' },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, server: String(res.headers.server), body }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('self-signed: HTTPS and WSS on the same port, media flows, and a restart reuses the certificate', async () => {
    const first = await startTestServer({ tls: { selfSigned: true }, dataDir });
    let fingerprint: string;
    try {
      const tls = first.server.tls!;
      assert.ok(tls.created && tls.selfSigned);
      assert.match(tls.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      fingerprint = tls.fingerprint256;
      const ca = readFileSync(tls.certPath);
      const keyMode = statSync(join(dataDir, 'tls', 'self-signed.key')).mode & 0o777;
      assert.equal(keyMode, 0o600, 'the private key is readable by its owner only');

      // HTTPS, trusting exactly this certificate, for the name "localhost" it carries.
      const res = await getWellKnown(first.port, ca);
      assert.equal(res.status, 200);
      assert.match(res.server ?? '', /^port545\//);
      assert.equal(JSON.parse(res.body).tls, true);
      // Plain HTTP on the same port answers this machine (the client is on loopback); other machines
      // are sent to https:// (test/httpsDefault.test.ts).
      const plain = await fetch(`http://127.0.0.1:${first.port}/healthz`);
      assert.equal(plain.status, 200);

      // WSS on the same port: two bots join over TLS and media flows between them.
      const url = `https://localhost:${first.port}`;
      const a = await Bot.start({ url, room: 'secure', name: 'a', hostAddresses: LOOPBACK, ca });
      const b = await Bot.start({ url, room: 'secure', name: 'b', hostAddresses: LOOPBACK, ca });
      try {
        await eventually(
          'media over a WSS-signalled call',
          () => packetsOf(a) > 20 && packetsOf(b) > 20,
          10_000,
        );
      } finally {
        await a.stop();
        await b.stop();
      }
      // A client that does not trust the certificate is refused by its own TLS check.
      const untrusted = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`wss://localhost:${first.port}/ws`);
        ws.on('open', () => resolve('open'));
        ws.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
      });
      assert.equal(untrusted, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      await first.close();
    }
    const second = await startTestServer({ tls: { selfSigned: true }, dataDir });
    try {
      assert.equal(second.server.tls!.created, false, 'the certificate was reused');
      assert.equal(second.server.tls!.fingerprint256, fingerprint, 'same fingerprint after a restart');
    } finally {
      await second.close();
    }
    // The same files as --tls-cert/--tls-key.
    const files = await startTestServer({
      tls: { cert: join(dataDir, 'tls', 'self-signed.crt'), key: join(dataDir, 'tls', 'self-signed.key') },
    });
    try {
      assert.equal(files.server.tls!.fingerprint256, fingerprint);
      assert.equal(files.server.tls!.selfSigned, false);
    } finally {
      await files.close();
    }
  });

  it('a key that does not match the certificate, or a missing file, stops start-up with a clear error', async () => {
    const other = mkdtempSync(join(tmpdir(), 'port545-tls-other-'));
    try {
      const made = await startTestServer({ tls: { selfSigned: true }, dataDir: other });
      await made.close();
      await assert.rejects(
        startTestServer({
          tls: { cert: join(dataDir, 'tls', 'self-signed.crt'), key: join(other, 'tls', 'self-signed.key') },
        }),
        (e: Error) => e instanceof ConfigError && /does not belong to the certificate/.test(e.message),
      );
      await assert.rejects(
        startTestServer({ tls: { cert: join(other, 'missing.crt'), key: join(other, 'missing.key') } }),
        (e: Error) => e instanceof ConfigError && /cannot read the TLS certificate/.test(e.message),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('secured mode without a secret, half a key pair or a short secret is refused at start-up', () => {
    const fails = (input: unknown, pattern: RegExp) =>
      assert.throws(
        () => parseConfig(input),
        (e: Error) => e instanceof ConfigError && pattern.test(e.message),
      );
    fails({ auth: { mode: 'secured' } }, /secured mode needs an API key and secret/);
    fails({ auth: { apiKey: API_KEY } }, /set both auth\.apiKey and auth\.apiSecret/);
    fails({ auth: { apiKey: API_KEY, apiSecret: 'short' } }, /apiSecret: must be at least 32 characters/);
    fails({ tls: { cert: 'a.pem' } }, /set both tls\.cert and tls\.key/);
  });

  it('flags and environment: --auth, --tls self-signed, secrets from the environment only', () => {
    const env = { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET };
    const config = loadConfig(['--auth', '--tls', 'self-signed', '--data-dir', '/var/lib/port545'], env);
    assert.equal(config.auth.mode, 'secured');
    assert.equal(config.auth.apiSecret, API_SECRET);
    assert.equal(config.tls.selfSigned, true);
    assert.equal(config.dataDir, '/var/lib/port545');
    assert.equal(loadConfig([], { ...env, PORT545_AUTH: 'secured' }).auth.mode, 'secured');
    assert.equal(loadConfig([], {}).auth.mode, 'open', 'open is the default');
    assert.throws(() => loadConfig(['--tls', 'yes'], {}), /"yes" is not "self-signed" or "off"/);
    // A secret on the command line would be visible to every user in `ps`: there is no such flag.
    assert.throws(() => loadConfig(['--api-secret', API_SECRET], env), /Unknown option '--api-secret'/);
  });

  it('flags and environment: --hsts and --allowed-origins, like every other setting', () => {
    const config = loadConfig(
      ['--hsts', '--allowed-origins', 'https://a.example, https://b.example:8443'],
      {},
    );
    assert.equal(config.http.hsts, true);
    assert.deepEqual(config.http.allowedOrigins, ['https://a.example', 'https://b.example:8443']);
    const fromEnv = loadConfig([], { PORT545_HSTS: 'off', PORT545_ALLOWED_ORIGINS: 'https://c.example' });
    assert.equal(fromEnv.http.hsts, false);
    assert.deepEqual(fromEnv.http.allowedOrigins, ['https://c.example']);
    assert.equal(loadConfig([], {}).http.hsts, undefined, 'unset: decided by the kind of certificate');
    assert.throws(() => loadConfig(['--allowed-origins', 'not a url'], {}), /http\.allowedOrigins\.0/);
  });
});
