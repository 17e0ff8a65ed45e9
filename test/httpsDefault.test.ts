/**
 * HTTPS without set-up: a server that listens beyond loopback makes its self-signed certificate and
 * speaks TLS and, to this machine only, plain HTTP on the one port. From another machine (a network
 * namespace) plain HTTP is sent to https:// and a plain WebSocket is refused. Certificate files are
 * served anew when they are renewed. Connections that send nothing, or junk, cost the server nothing
 * that lasts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import pino from 'pino';
import { buildServer, type Port545Server } from '../src/buildServer.js';
import { securityLines } from '../src/serve.js';
import { ensureSelfSignedCertificate } from '../src/tls/selfSigned.js';
import { createNetnsLink, type NetnsLink, netnsUnavailable } from './helpers/netns.js';
import { eventually, startTestServer, type TestServer, testConfig, withDeadline } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const run = promisify(execFile);

/** The SHA-256 fingerprint of the certificate a TLS handshake with `host:port` shows. */
function servedFingerprint(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

/** GET `path` over HTTPS, trusting nothing but checking the certificate's fingerprint itself. */
function httpsGet(
  port: number,
  path: string,
): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.on('end', () => {
        const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
        resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4), fingerprint });
      });
    });
    socket.once('error', reject);
  });
}

/** Resolves when the server has closed `socket` (or it errored), with the bytes it sent before. */
function closedBy(socket: ReturnType<typeof connect>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.once('error', () => {});
  });
}

describe('a server on all interfaces, with its defaults', () => {
  let dataDir: string;
  let t: TestServer;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-https-'));
    t = await startTestServer({ host: '::', dataDir, limits: { handshakeTimeoutMs: 500 } });
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves plain HTTP and a WebSocket join to a client on loopback, as before', async () => {
    for (const host of ['127.0.0.1', '[::1]']) {
      const res = await fetch(`http://${host}:${t.port}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { status: string }).status, 'ok');
      assert.equal(res.headers.get('strict-transport-security'), null);
    }
    const client = await RawClient.open(`http://127.0.0.1:${t.port}`);
    try {
      client.send({ type: 'join', v: 1, room: 'plain-loopback', name: 'Ann', rid: 1 });
      await client.next((m) => m.type === 'joined', 20_000);
    } finally {
      client.ws.close();
    }
  });

  it('answers TLS on the same port with the self-signed certificate it printed and keeps', async () => {
    const tls = t.server.tls!;
    assert.ok(tls.selfSigned, 'a self-signed certificate without --tls self-signed');
    assert.equal(tls.certPath, join(dataDir, 'tls', 'self-signed.crt'));
    const stored = new X509Certificate(readFileSync(tls.certPath)).fingerprint256;
    assert.equal(tls.fingerprint256, stored);
    const lines = securityLines(t.server).join('\n');
    assert.ok(lines.includes(`SHA-256 fingerprint ${stored}`), lines);
    assert.match(lines, /Your connection is\s+not private" \(NET::ERR_CERT_AUTHORITY_INVALID\)/);
    assert.ok(lines.includes(tls.certPath), 'the certificate file to import is named');

    const res = await httpsGet(t.port, '/healthz');
    assert.equal(res.fingerprint, stored, 'the certificate served is the one printed and stored');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { status: string }).status, 'ok');
    const wellKnown = await httpsGet(t.port, '/.well-known/port545');
    assert.equal((JSON.parse(wellKnown.body) as { tls: boolean }).tls, true);
  });

  it('closes a connection that sends nothing, and survives junk', async () => {
    // limits.handshakeTimeoutMs is 500 ms here: the silent socket is closed without sending a byte.
    const silent = connect(t.port, '127.0.0.1');
    const sent = await withDeadline(closedBy(silent), 60_000, 'the server to close a silent connection');
    assert.equal(sent.length, 0);

    // Random bytes, some opening like a TLS record, some like nothing at all, and a half handshake.
    const junk: Promise<Buffer>[] = [];
    for (let i = 0; i < 30; i++) {
      const socket = connect(t.port, '127.0.0.1');
      const bytes = randomBytes(1 + Math.floor(Math.random() * 3000));
      if (i % 3 === 0) bytes[0] = 0x16;
      socket.on('connect', () => socket.write(i === 1 ? Buffer.from([0x16, 0x03, 0x01]) : bytes));
      junk.push(closedBy(socket));
    }
    // Each is closed by the server (a 400, a TLS alert, or the handshake deadline).
    await withDeadline(Promise.all(junk), 60_000, 'the server to close every junk connection');
    const res = await fetch(`http://127.0.0.1:${t.port}/healthz`);
    assert.equal(res.status, 200, 'the server still answers');
    assert.equal((await httpsGet(t.port, '/healthz')).status, 200);
  });
});

describe('a server without TLS', () => {
  it('stays plain HTTP on a loopback host, and everywhere with --tls off', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-notls-'));
    try {
      for (const overrides of [{ host: '127.0.0.1' }, { host: '::', tls: { selfSigned: false } }]) {
        const t = await startTestServer({ ...overrides, dataDir });
        try {
          assert.equal(t.server.tls, undefined);
          const res = await fetch(`${t.url}/.well-known/port545`);
          assert.equal(((await res.json()) as { tls: boolean }).tls, false);
        } finally {
          await t.close();
        }
      }
      assert.throws(
        () => readFileSync(join(dataDir, 'tls', 'self-signed.crt')),
        /ENOENT/,
        'no certificate made',
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

const reason = await netnsUnavailable();

describe('from another machine', { skip: reason }, () => {
  let link: NetnsLink;
  let dataDir: string;
  let t: TestServer;
  before(async () => {
    link = await createNetnsLink();
    dataDir = mkdtempSync(join(tmpdir(), 'port545-https-lan-'));
    t = await startTestServer({ host: '::', dataDir });
  });
  after(async () => {
    await t?.close();
    await link?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs `command` inside the namespace: the other machine. */
  const there = (command: string, ...args: string[]) =>
    run('ip', ['netns', 'exec', link.name, command, ...args], { timeout: 30_000 });

  it('sends plain HTTP to https:// on the same host and port', async () => {
    const url = `http://${link.hostIp}:${t.port}/r/standup?watch=1`;
    const { stdout } = await there(
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      url,
    );
    assert.equal(stdout, `308 https://${link.hostIp}:${t.port}/r/standup?watch=1`);
  });

  it('refuses a plain WebSocket, saying why', async () => {
    const { stdout } = await there(
      'curl',
      '-s',
      '-i',
      '-H',
      'Connection: Upgrade',
      '-H',
      'Upgrade: websocket',
      '-H',
      'Sec-WebSocket-Version: 13',
      '-H',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      `http://${link.hostIp}:${t.port}/ws`,
    );
    assert.match(stdout, /^HTTP\/1\.1 403 /);
    assert.match(stdout, /"code":"HTTPS_REQUIRED"/);
  });

  it('serves HTTPS with the certificate it printed', async () => {
    const pem = readFileSync(t.server.tls!.certPath);
    const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
    const pin = createHash('sha256').update(spki).digest('base64');
    // curl checks the key itself (-k: the certificate is self-signed; --pinnedpubkey: but it is this one).
    const { stdout } = await there(
      'curl',
      '-s',
      '-k',
      '--pinnedpubkey',
      `sha256//${pin}`,
      `https://${link.hostIp}:${t.port}/healthz`,
    );
    assert.equal((JSON.parse(stdout) as { status: string }).status, 'ok');
  });
});

describe('certificate files', () => {
  let dir: string;
  let server: Port545Server | undefined;
  const lines: Record<string, unknown>[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'port545-renew-'));
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Replaces `path` at once, as a renewal that writes a new file and renames it over the old one. */
  const replace = (path: string, content: Buffer | string) => {
    writeFileSync(`${path}.new`, content);
    renameSync(`${path}.new`, path);
  };

  it('are served anew when renewed; a broken pair keeps the certificate in use', async () => {
    // Two certificates, as two renewals would bring.
    const first = await ensureSelfSignedCertificate(join(dir, 'first'));
    const second = await ensureSelfSignedCertificate(join(dir, 'second'));
    const fingerprintOf = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    copyFileSync(first.certPath, cert);
    copyFileSync(first.keyPath, key);
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    server = buildServer(testConfig({ tls: { cert, key } }), 0, { log: pino({ level: 'info' }, stream) });
    const port = await server.listen(0);
    assert.equal(await servedFingerprint('127.0.0.1', port), fingerprintOf(first.certPath));
    const logged = (message: string) => lines.filter((l) => l.msg === message).length;

    // A renewal that went wrong: the new certificate is there, its key is not (yet).
    replace(cert, readFileSync(second.certPath));
    await eventually(
      'the mismatched pair to be logged',
      () => logged('TLS certificate files changed but cannot be used; the certificate in use stays') > 0,
    );
    assert.equal(await servedFingerprint('127.0.0.1', port), fingerprintOf(first.certPath));

    // The key comes: the new certificate is served to new connections, without a restart.
    replace(key, readFileSync(second.keyPath));
    await eventually(
      'the renewed certificate to be served',
      async () => (await servedFingerprint('127.0.0.1', port)) === fingerprintOf(second.certPath),
      30_000,
      200,
    );
    assert.equal(logged('TLS certificate reloaded'), 1);
    assert.equal(server.tls!.fingerprint256, fingerprintOf(second.certPath));
    // Plain HTTP for this machine goes on beside it.
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  });
});
