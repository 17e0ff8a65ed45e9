import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from './helpers/cli.js';
import { createNetnsLink, type NetnsLink, netnsUnavailable } from './helpers/netns.js';
import { startTestServer, type TestServer, withDeadline } from './helpers/server.js';

const run = promisify(execFile);

interface JsonResult {
  check: string;
  ok: boolean;
  detail: string;
  advice: string | null;
  data?: Record<string, unknown>;
}

/** A doctor run ends on its own: every step is time-boxed (the ICE wait is 15 s). */
const DOCTOR_DEADLINE_MS = 120_000;

describe('port545 doctor', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server?.close();
  });

  it('passes every check against a running server and prints a line per check', async () => {
    // Always an explicit URL with the test server's ephemeral port: never the default 545.
    const doctor = runCli(['doctor', server.url]);
    const { code } = await withDeadline(doctor.exited, DOCTOR_DEADLINE_MS, 'doctor to finish');
    const out = doctor.output();
    assert.equal(code, 0, out);
    for (const name of ['HTTP\\(S\\)', 'WebSocket', 'UDP media', 'TCP media', 'TURN relay', 'Call'])
      assert.match(out, new RegExp(`^PASS  ${name}`, 'm'), out);
    assert.doesNotMatch(out, /^(FAIL|SKIP)/m, out);
    assert.match(out, /media arrived: \d+ packets/);
    assert.match(out, /pair host udp 127\.0\.0\.1:\d+ -> \w+ udp 127\.0\.0\.1:\d+/);
    assert.match(out, /round trip [\d.]+ ms/);
    console.log(out);
  });

  it('prints JSON for scripts: the call check has media, a candidate pair, a round trip and the loss', async () => {
    const doctor = runCli(['doctor', server.url, '--json']);
    const { code } = await withDeadline(doctor.exited, DOCTOR_DEADLINE_MS, 'doctor --json to finish');
    assert.equal(code, 0, doctor.output());
    const results = JSON.parse(doctor.output()) as JsonResult[];
    assert.deepEqual(
      results.map((r) => [r.check, r.ok, r.advice]),
      [
        ['http', true, null],
        ['websocket', true, null],
        ['udp', true, null],
        ['tcp', true, null],
        ['turn', true, null],
        ['media', true, null],
      ],
    );
    const media = results.find((r) => r.check === 'media')!.data as {
      packets: number;
      window: { received: number; expected: number; lost: number; lossPercent: number };
      pair: {
        local: { type: string; protocol: string; address: string };
        remote: { address: string; port: number };
      };
      rtt: { ms: number; source: string };
    };
    assert.ok(media.packets > 0, 'media arrived');
    assert.ok(media.window.received > 0, 'media arrived during the measurement');
    assert.equal(media.window.expected, media.window.received + media.window.lost);
    assert.equal(media.pair.local.protocol, 'udp');
    assert.equal(media.pair.remote.address, '127.0.0.1');
    assert.ok(media.pair.remote.port > 0);
    assert.ok(media.rtt.ms >= 0);
    console.log(JSON.stringify(media));
  });

  it('exits 2 on a bad argument', async () => {
    for (const args of [['--bogus'], ['ftp://127.0.0.1:1/'], [server.url, server.url]]) {
      const doctor = runCli(['doctor', ...args]);
      const { code } = await withDeadline(doctor.exited, 30_000, 'doctor to refuse its arguments');
      assert.equal(code, 2, doctor.output());
      assert.match(doctor.output(), /Usage: port545 doctor/);
    }
  });
});

const reason = await netnsUnavailable();

describe('port545 doctor where UDP is blocked', { skip: reason }, () => {
  let link: NetnsLink | undefined;
  let server: TestServer | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'port545-doctor-'));
  after(async () => {
    await server?.close();
    // Deleting the namespace deletes its rules and its end of the link.
    await link?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('names UDP as the blocked path, and the call goes over TCP, in bounded time', async () => {
    link = await createNetnsLink();
    // The server on this side of the link, media on its address there only.
    // Beyond loopback it serves HTTPS with its self-signed certificate, made now for its addresses.
    server = await startTestServer({ host: link.hostIp, rtc: { hostAddresses: [link.hostIp] }, dataDir });
    // The doctor's namespace drops every UDP packet that comes from the server, as a firewall that
    // blocks UDP does: ICE checks go out, their answers (and the server's own checks) never arrive; TCP
    // (HTTP, the WebSocket) passes. The rule is looked up before the local table, which is moved after it.
    const ipn = (...args: string[]) => run('ip', ['-n', link!.name, ...args]);
    await ipn('rule', 'add', 'pref', '10', 'from', link.hostIp, 'ipproto', 'udp', 'blackhole');
    await ipn('rule', 'add', 'pref', '100', 'lookup', 'local');
    await ipn('rule', 'del', 'pref', '0', 'lookup', 'local');
    const wrapper = ['ip', 'netns', 'exec', link.name];
    // Plain HTTP from another machine is sent to https://, and the doctor says what to use instead.
    const plain = runCli(['doctor', `http://${link.hostIp}:${server.port}/`], { wrapper });
    await withDeadline(plain.exited, DOCTOR_DEADLINE_MS, 'doctor to stop at plain HTTP');
    assert.match(plain.output(), /^FAIL {2}HTTP\(S\) +\S+ speaks HTTPS to other machines/m, plain.output());
    assert.match(
      plain.output(),
      new RegExp(`Use https://${link.hostIp.replaceAll('.', '\\.')}:${server.port}/`),
    );

    const url = `https://${link.hostIp}:${server.port}/`;
    const started = Date.now();
    const doctor = runCli(['doctor', url, '--ca', server.server.tls!.certPath], { wrapper });
    const { code } = await withDeadline(doctor.exited, DOCTOR_DEADLINE_MS, 'doctor to give up on UDP');
    const out = doctor.output();
    console.log(`${out}(took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    assert.equal(code, 1, out);
    assert.match(out, /^PASS {2}HTTP\(S\)/m, out);
    assert.match(out, /^PASS {2}WebSocket/m, out);
    assert.match(out, /^FAIL {2}UDP media +UDP to the server's media port \d+ is blocked from here/m, out);
    assert.match(out, /What to do: Open UDP \d+ to the server, both ways/, out);
    // ICE over TCP to the same port number passes, and the call goes that way.
    assert.match(out, /^PASS {2}TCP media +media went through the server over TCP: host tcp/m, out);
    assert.match(out, /^PASS {2}Call +media arrived: .*pair host tcp \S+ -> host tcp /m, out);
    assert.match(out, /^Result: 1 check failed \(UDP media\); calls still work from here/m, out);
  });
});
