/**
 * LAN discovery (QuickTime Conferencing's Browser): two machines on one LAN, made as two network
 * namespaces joined by a veth pair. `port545 serve` with its default settings on one (HTTPS with its
 * self-signed certificate) is found by `port545 browse` on the other, which reads the rooms its hosts
 * listed through the fingerprint it advertises; `--no-mdns` makes it disappear; `--tls off` is read
 * over plain HTTP. The multicast never leaves the two namespaces, and junk sent to the multicast DNS
 * port changes nothing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { FoundServer } from '../src/discovery/browse.js';
import { type CliRun, REPO, runCli } from './helpers/cli.js';
import { createNetnsPair, type NetnsPair, netnsUnavailable } from './helpers/netns.js';

const run = promisify(execFile);
const reason = await netnsUnavailable();

interface Browsed {
  servers: FoundServer[];
}

describe('LAN discovery between two machines', { skip: reason }, () => {
  let lan: NetnsPair;
  let dataDir: string;
  let server: CliRun | undefined;

  /** `port545 browse --json` on machine B; resolves with its exit code, servers and wall time. */
  async function browse(): Promise<{ code: number; found: Browsed['servers']; ms: number }> {
    const started = Date.now();
    const result = await run(
      'ip',
      ['netns', 'exec', lan.b.name, process.execPath, join(REPO, 'dist', 'cli.js'), 'browse', '--json'],
      { timeout: 30_000 },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '' }),
    );
    const parsed = JSON.parse(result.stdout || '{"servers":[]}') as Browsed;
    return { code: result.code, found: parsed.servers, ms: Date.now() - started };
  }

  /** `port545 serve` on machine A with `args` and otherwise its defaults (port 545, all interfaces). */
  async function serve(args: string[]): Promise<CliRun> {
    const started = runCli(['serve', '--data-dir', dataDir, ...args], {
      wrapper: lan.exec(lan.a),
      // The default: LAN discovery on (runCli turns it off for the tests that run on this machine's network).
      env: { PORT545_MDNS: '' },
    });
    await started.waitFor(/LAN discovery: .*\n/);
    return started;
  }

  async function stop(run: CliRun | undefined): Promise<void> {
    if (!run || run.child.exitCode !== null) return;
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    assert.equal(code, 0, run.output());
  }

  before(async () => {
    lan = await createNetnsPair();
    dataDir = mkdtempSync(join(tmpdir(), 'p545-lan-'));
  });
  after(async () => {
    await stop(server).catch(() => {});
    await lan?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds a server with its defaults, and its listed room, from the other machine within 3 s', async () => {
    server = await serve([]);
    assert.match(server.output(), /LAN discovery: advertised as "port545 on [^"]+"/);
    assert.match(server.output(), new RegExp(`https://${lan.a.ip.replaceAll('.', '\\.')}:545/`));
    const printed = server.output().match(/SHA-256 fingerprint ([0-9A-F:]+)/)?.[1];
    assert.ok(printed, server.output());

    // A host on machine B lists a room on the server of machine A.
    const host: ChildProcess = lan.spawn(lan.b, process.execPath, [
      '--import',
      'tsx',
      join(REPO, 'test', 'helpers', 'listRoom.ts'),
      `https://${lan.a.ip}:545`,
      'lan-standup',
      'Monday plans',
      // The host trusts the server's certificate, as a person does who compared its fingerprint.
      join(dataDir, 'tls', 'self-signed.crt'),
    ]);
    let hostOut = '';
    host.stdout!.on('data', (c: Buffer) => {
      hostOut += c.toString();
    });
    host.stderr!.on('data', (c: Buffer) => {
      hostOut += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the host did not list the room: ${hostOut}`)), 60_000);
      host.stdout!.on('data', () => {
        if (hostOut.includes('listed')) {
          clearTimeout(timer);
          resolve();
        }
      });
      host.once('exit', () => reject(new Error(`the host left: ${hostOut}`)));
    });

    // One browse (it listens 3 s) finds the server and reads its directory.
    const first = await browse();
    assert.equal(first.code, 0, 'browse exits 0 when a server answered');
    assert.equal(first.found.length, 1, JSON.stringify(first.found));
    const found = first.found[0]!;
    assert.match(found.name, /^port545 on /);
    assert.equal(found.address, lan.a.ip);
    assert.equal(found.port, 545);
    assert.equal(found.url, `https://${lan.a.ip}:545/`);
    assert.equal(found.mode, 'open');
    assert.equal(found.tls, true);
    assert.equal(found.fingerprint, printed.replaceAll(':', '').toLowerCase());
    assert.match(found.version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(found.directoryError, undefined, 'the directory was read over the pinned certificate');
    assert.deepEqual(
      found.rooms?.map((r) => ({ name: r.name, topic: r.topic, people: r.people })),
      [{ name: 'lan-standup', topic: 'Monday plans', people: 1 }],
    );
    console.log(`# browse found the server in one ${first.ms} ms run (it listens for 3 s)`);

    // Junk at the multicast DNS port changes nothing: the server still answers, with its room.
    const junk = await run(
      'ip',
      [
        'netns',
        'exec',
        lan.b.name,
        process.execPath,
        '--import',
        'tsx',
        join(REPO, 'test', 'helpers', 'mdnsJunk.ts'),
        lan.a.ip,
        '2000',
      ],
      { timeout: 60_000 },
    );
    assert.match(junk.stdout, /sent 2000/);
    assert.equal(server.child.exitCode, null, 'the server is still running');

    // The TXT record follows the directory: the count is announced again within seconds.
    const deadline = Date.now() + 60_000;
    let again = await browse();
    while (again.found[0]?.listedRooms !== 1 && Date.now() < deadline) again = await browse();
    assert.equal(again.found[0]?.listedRooms, 1, 'the advertised listed-room count is 1');
    assert.equal(again.found[0]?.rooms?.[0]?.name, 'lan-standup', 'found again after the junk');

    host.kill('SIGTERM');
    await new Promise((resolve) => host.once('exit', resolve));
  });

  it('is not found with --no-mdns, though it answers', async () => {
    await stop(server);
    server = await serve(['--no-mdns']);
    assert.match(server.output(), /LAN discovery: off \(--no-mdns\)/);
    const none = await browse();
    assert.equal(none.code, 1, 'browse exits 1 when no server answered');
    assert.deepEqual(none.found, []);
    // The server is there all the same: probe from machine B names it.
    const probe = await run(
      'ip',
      [
        'netns',
        'exec',
        lan.b.name,
        process.execPath,
        join(REPO, 'dist', 'cli.js'),
        'probe',
        `${lan.a.ip}:545`,
      ],
      { timeout: 30_000 },
    );
    assert.match(probe.stdout, /port545/);
  });

  it('reads a server with --tls off over plain HTTP', async () => {
    await stop(server);
    server = await serve(['--tls', 'off']);
    assert.match(server.output(), new RegExp(`http://${lan.a.ip.replaceAll('.', '\\.')}:545/`));
    const { code, found } = await browse();
    assert.equal(code, 0);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]!.tls, false);
    assert.equal(found[0]!.url, `http://${lan.a.ip}:545/`);
    assert.equal(found[0]!.fingerprint, undefined);
    assert.equal(found[0]!.directoryError, undefined);
    assert.deepEqual(found[0]!.rooms, []);
  });
});
