/**
 * The security commands as an operator runs them: `port545 probe` telling a port545 server (open,
 * secured, with TLS) from nothing and from something else, `port545 token`, and what `serve` says at
 * start-up about its mode and certificate.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyAccessToken } from '../src/auth/accessToken.js';
import { VERSION } from '../src/version.js';
import { runCli } from './helpers/cli.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'cli-key-0123456789abcdef';
const API_SECRET = 'cli-secret-0123456789abcdef0123456789ab';

interface ProbeJson {
  kind: 'port545' | 'nothing' | 'unknown';
  exitCode: number;
  version?: string;
  auth?: string;
  tls?: { fingerprint256: string; selfSigned: boolean; trusted: boolean };
  answer?: string;
  http?: { statusLine: string; server?: string };
  localListeners?: { address: string; processes: { pid: number; command: string }[] }[];
}

async function probe(
  target: string,
  json = true,
): Promise<{ code: number | null; out: string; result?: ProbeJson }> {
  const run = runCli(['probe', target, ...(json ? ['--json'] : []), '--timeout', '1500']);
  const { code } = await run.exited;
  const out = run.output();
  return { code, out, result: json ? (JSON.parse(out) as ProbeJson) : undefined };
}

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

describe('port545 probe', () => {
  let open: TestServer;
  let secured: TestServer;
  let tls: TestServer;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-probe-'));
    [open, secured, tls] = await Promise.all([
      startTestServer(),
      startTestServer({ auth: { mode: 'secured', apiKey: API_KEY, apiSecret: API_SECRET } }),
      startTestServer({ tls: { selfSigned: true }, dataDir }),
    ]);
  });
  after(async () => {
    await Promise.all([open.close(), secured.close(), tls.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('identifies a running port545 server in open mode and names the process that owns the port', async () => {
    const { code, result } = await probe(`127.0.0.1:${open.port}`);
    assert.equal(code, 0);
    assert.equal(result!.kind, 'port545');
    assert.equal(result!.version, VERSION);
    assert.equal(result!.auth, 'open');
    assert.equal(result!.tls, undefined);
    // The server runs inside this test process: /proc says so.
    const owners = result!.localListeners!.flatMap((l) => l.processes.map((p) => p.pid));
    assert.ok(owners.includes(process.pid), `owner pids ${owners.join(', ')}, this process ${process.pid}`);
    const text = await probe(`127.0.0.1:${open.port}`, false);
    assert.match(text.out, /It is a port545 server: version \d+\.\d+\.\d+/);
    assert.match(text.out, /Mode: open/);
    assert.match(text.out, new RegExp(`held by pid ${process.pid} \\(`));
  });

  it('identifies a secured server', async () => {
    const { code, result, out } = await probe(`localhost:${secured.port}`);
    assert.equal(code, 0, out);
    assert.equal(result!.auth, 'secured');
  });

  it('identifies a TLS server and shows the fingerprint the server printed', async () => {
    const { code, result } = await probe(`[::ffff:127.0.0.1]:${tls.port}`);
    assert.equal(code, 0);
    assert.equal(result!.kind, 'port545');
    assert.equal(result!.tls!.fingerprint256, tls.server.tls!.fingerprint256);
    assert.equal(result!.tls!.selfSigned, true);
    assert.equal(result!.tls!.trusted, false);
    const text = await probe(`127.0.0.1:${tls.port}`, false);
    assert.ok(text.out.includes(tls.server.tls!.fingerprint256));
  });

  it('reports nothing on a free port (exit 1)', async () => {
    const free = createServer();
    const port = await listen(free);
    await new Promise((resolve) => free.close(resolve));
    const { code, out } = await probe(`127.0.0.1:${port}`, false);
    assert.equal(code, 1);
    assert.match(out, /nothing listens/);
    assert.match(out, new RegExp(`no process listens on TCP port ${port}`));
  });

  it('reports an unknown service for a TCP listener that is not port545 (exit 2) and says to investigate', async () => {
    const silent = createServer(() => {}); // accepts and says nothing
    const banner = createServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n\x1b[31m'));
    const http = createHttpServer((_req, res) => {
      res.writeHead(404, { Server: 'nginx/1.24.0' });
      res.end('not here');
    });
    const ports = await Promise.all([listen(silent), listen(banner), listen(http)]);
    try {
      const quiet = await probe(`127.0.0.1:${ports[0]}`, false);
      assert.equal(quiet.code, 2);
      assert.match(quiet.out, /It is NOT a port545 server/);
      assert.match(quiet.out, /answered nothing/);
      assert.match(quiet.out, /deserves investigation/);
      assert.match(quiet.out, new RegExp(`held by pid ${process.pid} `));

      const ssh = await probe(`127.0.0.1:${ports[1]}`, false);
      assert.equal(ssh.code, 2);
      assert.match(ssh.out, /It answered: "SSH-2\.0-OpenSSH_9\.6\\r\\n\\x1b\[31m"/, 'shown as inert text');
      assert.ok(!ssh.out.includes('\x1b'), 'no terminal escape from the service reaches the terminal');

      const web = await probe(`127.0.0.1:${ports[2]}`);
      assert.equal(web.code, 2);
      assert.equal(web.result!.kind, 'unknown');
      assert.equal(web.result!.http!.server, 'nginx/1.24.0');
    } finally {
      for (const s of [silent, banner, http]) s.close();
    }
  });

  it('on port 545 itself, an unknown service is called out as the seed warns', async (t) => {
    const squatter = createServer(() => {});
    const bound = await new Promise<boolean>((resolve) => {
      squatter.once('error', () => resolve(false));
      squatter.listen(545, '127.0.0.1', () => resolve(true));
    });
    if (!bound) return t.skip('port 545 is taken or needs privileges here');
    try {
      const { code, out } = await probe('127.0.0.1', false);
      assert.equal(code, 2);
      assert.match(out, /port545 probe 127\.0\.0\.1:545/);
      assert.match(out, /Port 545 belongs to QuickTime Conferencing.*deserves investigation/);
    } finally {
      squatter.close();
    }
  });
});

describe('port545 token', () => {
  it('prints a token the server accepts, with the role and lifetime asked for', async () => {
    const run = runCli(
      ['token', '--room', 'board', '--identity', 'ann', '--name', 'Ann', '--role', 'host', '--ttl', '2h'],
      {
        env: { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET },
      },
    );
    assert.equal((await run.exited).code, 0, run.output());
    const token = run.output().trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token on stdout');
    const claims = await verifyAccessToken(API_SECRET, token, 'board');
    assert.equal(claims.identity, 'ann');
    assert.equal(claims.name, 'Ann');
    assert.equal(claims.role, 'host');
    const ttl = claims.expiresAt - Date.now() / 1000;
    assert.ok(ttl > 7190 && ttl <= 7200, `expires in ${ttl} s`);
  });

  it('explains what is missing: no secret, no room, a wrong role', async () => {
    const noSecret = runCli(['token', '--room', 'r', '--identity', 'i'], {
      env: { PORT545_API_KEY: '', PORT545_API_SECRET: '' },
    });
    assert.equal((await noSecret.exited).code, 2);
    assert.match(noSecret.output(), /PORT545_API_SECRET/);
    const env = { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET };
    const noRoom = runCli(['token', '--identity', 'i'], { env });
    assert.equal((await noRoom.exited).code, 2);
    assert.match(noRoom.output(), /--room and --identity are required/);
    const badRole = runCli(['token', '--room', 'r', '--identity', 'i', '--role', 'admin'], { env });
    assert.equal((await badRole.exited).code, 2);
    assert.match(badRole.output(), /--role must be "host", "guest" or "viewer"/);
  });
});

describe('port545 serve says how it is protected', () => {
  it('secured mode and a self-signed certificate: the mode, the https URL and the fingerprint', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-serve-'));
    const run = runCli(
      [
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--auth',
        '--tls',
        'self-signed',
        '--data-dir',
        dataDir,
      ],
      { env: { PORT545_API_KEY: API_KEY, PORT545_API_SECRET: API_SECRET } },
    );
    try {
      const [, fingerprint] = await run.waitFor(/SHA-256 fingerprint ([0-9A-F:]{95})/);
      const out = run.output();
      assert.match(out, /Access: secured mode/);
      assert.match(out, /https:\/\/127\.0\.0\.1:\d+\//);
      assert.match(out, /Admin API: \/api\/v1/);
      const port = Number(/https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
      const seen = await probe(`127.0.0.1:${port}`);
      assert.equal(seen.result!.auth, 'secured');
      assert.equal(
        seen.result!.tls!.fingerprint256,
        fingerprint,
        'probe and start-up show the same fingerprint',
      );
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('open mode says so and points to secured mode; secured mode without a secret does not start', async () => {
    const openRun = runCli(['serve', '--host', '127.0.0.1', '--port', '0'], {
      env: { PORT545_API_KEY: '', PORT545_API_SECRET: '' },
    });
    try {
      await openRun.waitFor(/Access: open mode/);
      await openRun.waitFor(/use secured mode \(--auth\)/);
    } finally {
      openRun.child.kill('SIGTERM');
      await openRun.exited;
    }
    const refused = runCli(['serve', '--port', '0', '--auth'], {
      env: { PORT545_API_KEY: '', PORT545_API_SECRET: '' },
    });
    assert.equal((await refused.exited).code, 1);
    assert.match(refused.output(), /secured mode needs an API key and secret/);
  });
});
