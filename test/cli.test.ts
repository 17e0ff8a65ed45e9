import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { runCli } from './helpers/cli.js';
import { eventually, freePort, LOOPBACK, startTestServer, withDeadline } from './helpers/server.js';

const isRoot = process.getuid?.() === 0;

function listenOn(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port, host }, () => resolve(s));
  });
}

async function wellKnown(port: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/.well-known/port545`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('server') ?? '', /^port545\//);
  return (await res.json()) as Record<string, unknown>;
}

/** Media stays on loopback in these runs too. */
const loopbackMedia = ['--rtc-host', '127.0.0.1'];

describe('port545 serve', () => {
  it('starts on an explicit port, prints the URL, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const run = runCli(['serve', '--host', '127.0.0.1', '--port', String(port), ...loopbackMedia]);
    await run.waitFor(new RegExp(`http://127\\.0\\.0\\.1:${port}/`));
    const info = await wellKnown(port);
    assert.equal(info.service, 'port545');
    run.child.kill('SIGTERM');
    const { code } = await withDeadline(run.exited, 30_000, 'the server to exit after SIGTERM');
    assert.equal(code, 0, run.output());
  });

  it('exits 1 with a clear error when an explicit --port is busy', async () => {
    const busy = await listenOn(0, '127.0.0.1');
    const port = (busy.address() as { port: number }).port;
    try {
      const run = runCli(['serve', '--host', '127.0.0.1', '--port', String(port)]);
      const { code } = await run.exited;
      assert.equal(code, 1);
      assert.match(run.output(), new RegExp(`cannot bind TCP port ${port}: it is already in use`));
    } finally {
      busy.close();
    }
  });

  it('names the bad setting when the configuration is invalid', async () => {
    const run = runCli(['serve', '--rtc-min-port', '50000', '--rtc-max-port', '40000']);
    assert.equal((await run.exited).code, 1);
    assert.match(run.output(), /rtc(\.minPort)?: rtc\.minPort must be below rtc\.maxPort/);
    const env = runCli(['serve'], { env: { PORT545_PORT: 'eighty' } });
    assert.equal((await env.exited).code, 1);
    assert.match(env.output(), /PORT545_PORT: "eighty" is not a number/);
  });

  it(
    'falls back to 5450 with one line saying why when 545 is taken',
    { skip: !isRoot && 'needs root to hold port 545' },
    async () => {
      const holder = await listenOn(545, '::');
      try {
        const run = runCli(['serve', ...loopbackMedia]);
        await run.waitFor(/http:\/\/localhost:5450\//);
        const lines = run
          .output()
          .split('\n')
          .filter((l) => l.includes('cannot bind TCP port 545'));
        assert.equal(lines.length, 1, run.output());
        assert.match(lines[0]!, /already in use.*using 5450 instead.*--port/);
        await wellKnown(5450);
        run.child.kill('SIGTERM');
        assert.equal((await run.exited).code, 0);
      } finally {
        holder.close();
      }
    },
  );

  it('falls back to 5450 and tells how to get 545 when it lacks the privilege', async (t) => {
    // As root, drop CAP_NET_BIND_SERVICE for the child (setpriv, util-linux); otherwise we are unprivileged.
    const wrapper = isRoot ? ['setpriv', '--bounding-set', '-net_bind_service'] : [];
    if (isRoot && !existsSync('/usr/bin/setpriv')) return t.skip('setpriv is not installed');
    const run = runCli(['serve', ...loopbackMedia], { wrapper });
    await run.waitFor(/http:\/\/localhost:5450\//);
    assert.match(
      run.output(),
      /cannot bind (TCP|UDP) port 545 \(permission denied.*cap_net_bind_service.*\); using 5450 instead/,
    );
    await wellKnown(5450);
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);
  });
});

describe('port545 bot', () => {
  it('joins a room, publishes the clip and reports what it receives', async () => {
    const t = await startTestServer();
    const other = await Bot.start({ url: t.url, room: 'lobby', name: 'Grace', hostAddresses: LOOPBACK });
    const run = runCli([
      'bot',
      '--url',
      t.url,
      '--room',
      'lobby',
      '--name',
      'Ada',
      '--rtc-host',
      '127.0.0.1',
      '--report-every',
      '1',
    ]);
    try {
      await run.waitFor(/bot joined room "lobby"/);
      await run.waitFor(/from Grace: video ([1-9]\d*) frames/, 10_000);
      await eventually(
        'Grace receives the CLI bot',
        () => other.received.size === 2 && [...other.received.values()].every((r) => r.packets > 0),
        10_000,
      );
      run.child.kill('SIGINT');
      assert.equal((await run.exited).code, 0);
      await eventually('the bot left the room', () => other.room.participants.size === 0, 5000);
    } finally {
      run.child.kill('SIGKILL');
      await other.stop();
      await t.close();
    }
  });
});
