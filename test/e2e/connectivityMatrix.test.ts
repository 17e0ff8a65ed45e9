/**
 * Connectivity matrix (issue #22): in each cell a Chromium page and a Node client (bots in a child
 * process) join one room on `port545 serve`, run with its defaults on a machine of its own, and see and
 * hear each other: Chromium decodes the bot's video and hears its audio, the bot receives Chromium's
 * video frames and audio packets. Every machine is a network namespace of a small internet made here
 * (`createNatNetwork`): the server and a TURN server on the public side of a router, the clients either
 * on the server's machine or on a LAN behind the router. The cells:
 *
 * 1. same host: the clients on the server's machine; host candidates over UDP.
 * 2. behind NAT: the router masquerades the LAN (nftables `masquerade`, which keeps a flow's source
 *    port when it can: one mapping whatever the destination). The server sees the router's address
 *    only, from which it learns a peer-reflexive candidate.
 * 3. behind a symmetric NAT: `masquerade fully-random` gives every flow (every destination) its own
 *    random port, an endpoint-dependent mapping, checked with two UDP probes. Calls still connect:
 *    the server has host candidates and learns each client's mapping from its checks.
 * 4. only TCP to port 443: the router drops all UDP and every TCP connection but those to port 443 (the
 *    server listens there), and coturn listens for TURN over TLS on 443 of its own machine with a
 *    self-signed certificate. Media goes through the relay: Chromium's local candidate is `relay`
 *    over TLS; Chromium is told to ignore certificate errors, which its TURN client obeys too. (The
 *    server's media port, UDP and TCP 5450, is blocked here like everything but 443.)
 * 5. UDP blocked: the router drops all UDP from the LAN (TCP passes). Media goes over ICE-TCP to the
 *    server's TCP media port, 5450 (RFC 6544): each client's active TCP candidate to the server's
 *    passive one.
 *
 * Besides, a port forward to the media port (the server announcing the forwarded port) carries media, and
 * two people on two networks call through it: Chromium behind the NAT, the Node client on a
 * public machine of its own. In the same-host, UDP-blocked and TCP-443-only cells the connection checks
 * run too, `/check` in Chromium and `port545 doctor`: they pass on the server's machine and name the
 * blocked paths (UDP 5450; UDP and TCP 5450) where those are blocked.
 *
 * The server on port 545 has its media on UDP 5450, not 545: Chromium sends no ICE check to a UDP
 * candidate on a privileged port, so a browser behind NAT would never connect (`mediaUdpPort`).
 *
 * Each cell logs the candidate pairs both clients use.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { type SelectedPair, selectedPair } from '../../src/client/stats.js';
import { type BotProcess, spawnBots } from '../helpers/botProcess.js';
import {
  ensureWebBuild,
  launchChromium,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
  waitForFrames,
  waitForSound,
} from '../helpers/browser.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { startCoturn } from '../helpers/coturn.js';
import { createNatNetwork, type NatNetwork, type NetHost, netnsUnavailable } from '../helpers/netns.js';
import { eventually, withDeadline } from '../helpers/server.js';

const run = promisify(execFile);
const reason = await netnsUnavailable();
/** Media waits: a call set up from scratch on a busy 2-core machine, through NAT or a relay. */
const MEDIA_MS = 45_000;
/** A whole connection check (/check or doctor): blocked paths each wait out a 15 s time-out, side by side. */
const CHECK_MS = 180_000;
const TURN_SECRET = randomBytes(24).toString('base64url');

/** One side of a candidate pair as Chromium reports it, with how it reaches its TURN server. */
interface ChromiumPair extends SelectedPair {
  /** W3C webrtc-stats `relayProtocol` of a relay candidate: udp, tcp or tls to the TURN server. */
  relayProtocol: string | undefined;
}

/** What Chromium's connections (publisher, subscriber) report: their candidate pairs, what it decoded. */
async function chromiumReport(
  person: Person,
): Promise<{ pairs: ChromiumPair[]; framesDecoded: number; audioEnergy: number }> {
  const reports = await person.page.evaluate(async () => {
    const room = (
      window as unknown as {
        port545: { room: { getStats(t: string): Promise<Map<string, Record<string, unknown>>> } };
      }
    ).port545.room;
    const out: Record<string, unknown>[][] = [];
    for (const target of ['publisher', 'subscriber']) out.push([...(await room.getStats(target)).values()]);
    return out;
  });
  const pairs: ChromiumPair[] = [];
  let framesDecoded = 0;
  let audioEnergy = 0;
  for (const report of reports) {
    for (const s of report) {
      if (s.type !== 'inbound-rtp') continue;
      framesDecoded += Number(s.framesDecoded ?? 0);
      audioEnergy += Number(s.totalAudioEnergy ?? 0);
    }
    const pair = selectedPair(report);
    if (!pair) continue;
    const relay = report.find(
      (s) => s.type === 'local-candidate' && s.candidateType === 'relay' && s.port === pair.local.port,
    );
    pairs.push({ ...pair, relayProtocol: relay ? String(relay.relayProtocol) : undefined });
  }
  return { pairs, framesDecoded, audioEnergy };
}

const describePair = (p: SelectedPair & { relayProtocol?: string }) =>
  `${p.local.type}/${p.local.protocol}${p.relayProtocol ? `(${p.relayProtocol} to TURN)` : ''} ${p.local.address}:${p.local.port}` +
  ` -> ${p.remote.type}/${p.remote.protocol} ${p.remote.address}:${p.remote.port}`;

describe('connectivity matrix: Chromium and a Node client see and hear each other', { skip: reason }, () => {
  let net: NatNetwork;
  let dataDir: string;
  let server: CliRun | undefined;
  let coturn: ChildProcess | undefined;
  let browser: Browser | undefined;
  let bots: ChildProcess | undefined;

  /** `port545 serve` on the server's machine with its defaults and `args`; resolves once it listens. */
  async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
    await stopServer();
    server = runCli(['serve', '--data-dir', dataDir, ...args], {
      wrapper: net.exec(net.server),
      // LAN discovery as by default (runCli turns it off): its multicast goes no further than the router.
      env: { PORT545_MDNS: '', ...env },
    });
    await server.waitFor(/is listening/, 60_000);
  }

  async function stopServer(): Promise<void> {
    if (!server || server.child.exitCode !== null) return;
    server.child.kill('SIGTERM');
    await server.exited;
  }

  /** The server's self-signed certificate (made for its addresses on first start), which the bots trust. */
  const serverCert = () => join(dataDir, 'tls', 'self-signed.crt');

  /**
   * Replaces the router's rules: its NAT for the LAN (`masquerade`, the nftables statement with its
   * flags) and, with `only443`, a firewall that lets nothing out of the LAN but TCP to port 443; `drops`:
   * nftables matches of what else from the LAN it drops (`udp dport 5450`).
   */
  async function routerRules(
    masquerade: string,
    only443 = false,
    noUdp = false,
    drops: string[] = [],
  ): Promise<void> {
    const lan = net.lanDevice;
    await net.nft(
      net.router,
      `table ip p545 {}
delete table ip p545
table ip p545 {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${net.lanSubnet} oifname != "${lan}" ${masquerade}
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    # As behind any NAT, nothing from outside reaches the LAN unless it answers what went out.
    oifname "${lan}" ct state established,related accept
    oifname "${lan}" drop
    ${only443 ? `iifname "${lan}" tcp dport 443 accept\n    iifname "${lan}" drop` : ''}
    ${noUdp ? `iifname "${lan}" meta l4proto udp drop` : ''}
    ${drops.map((d) => `iifname "${lan}" ${d} drop`).join('\n    ')}
  }
}
`,
    );
  }

  /** Counts, on the server's machine, UDP from the router's address and from the LAN's own addresses. */
  async function countOnServer(): Promise<void> {
    await net.nft(
      net.server,
      `table ip p545count {}
delete table ip p545count
table ip p545count {
  counter nat {}
  counter lan {}
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr ${net.router.ip} meta l4proto udp counter name "nat"
    ip saddr ${net.lanSubnet} meta l4proto udp counter name "lan"
  }
}
`,
    );
  }

  async function counted(name: 'nat' | 'lan'): Promise<number> {
    const { stdout } = await run('ip', [
      ...['netns', 'exec', net.server.name, 'nft', 'list', 'counter', 'ip', 'p545count', name],
    ]);
    return Number(/packets (\d+)/.exec(stdout)?.[1] ?? Number.NaN);
  }

  /**
   * What the router's NAT does with one UDP socket on the LAN sending to two ports of the server: the
   * source port the server sees for each. The same port twice is an endpoint-independent mapping (RFC
   * 4787 §4.1); two ports, an endpoint-dependent one (a "symmetric" NAT).
   */
  async function mappingSeen(): Promise<{ ports: number[]; addresses: string[] }> {
    const listen = net.spawn(net.server, process.execPath, [
      '-e',
      `const d = require('node:dgram');
let ready = 0;
for (const p of [7001, 7002]) {
  const s = d.createSocket('udp4');
  s.on('message', (m, r) => { console.log(JSON.stringify({ to: p, address: r.address, port: r.port })); s.close(); });
  s.bind(p, () => { if (++ready === 2) console.log('ready'); });
}
setTimeout(() => process.exit(0), 30000);`,
    ]);
    let out = '';
    listen.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await eventually('the UDP listeners on the server', () => out.includes('ready'), 30_000);
      const send = net.spawn(net.client, process.execPath, [
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
s.bind(0, () => { for (const p of [7001, 7002]) s.send('probe', p, '${net.server.ip}'); setTimeout(() => s.close(), 1000); });`,
      ]);
      await new Promise((resolve) => send.once('exit', resolve));
      await eventually(
        'both probes to arrive',
        () => out.split('\n').filter((l) => l.startsWith('{')).length === 2,
      );
      const seen = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { to: number; address: string; port: number })
        .sort((a, b) => a.to - b.to);
      return { ports: seen.map((s) => s.port), addresses: seen.map((s) => s.address) };
    } finally {
      listen.kill('SIGTERM');
    }
  }

  interface CallResult {
    chromium: ChromiumPair[];
    node: SelectedPair[];
    framesAtNode: number;
    audioAtNode: number;
  }

  /**
   * Chromium and a bot on `host` join `room` on `url`; resolves once each sees and hears the other,
   * with the candidate pairs they use. `during` runs while the call is still on.
   */
  async function call(
    t: TestContext,
    host: NetHost,
    url: string,
    room: string,
    during?: () => Promise<void>,
    botOptions: { iceTcp?: boolean } = {},
    /** Where the Node client runs (default `host`, beside Chromium). */
    botHost: NetHost = host,
  ): Promise<CallResult> {
    browser = await launchChromium({
      netns: host.name,
      // The server's certificate is self-signed, and so is coturn's: Chromium's TURN client obeys this too.
      args: ['--ignore-certificate-errors'],
      // As for a person: the server is reached on its address, never over loopback.
      loopback: false,
    });
    const person = await openRoom(browser, url, room, 'Chromium');
    try {
      const state: BotProcess = spawnBots(
        (command, args) => {
          bots = net.spawn(botHost, command, args);
          return bots;
        },
        url,
        room,
        botHost.ip,
        [{ name: 'Node', publish: true }],
        { ca: join(dataDir, 'trusted.pem'), pairs: true, ...botOptions },
      );
      const fromChromium = () => state.latest?.Node?.Chromium;
      await eventually(
        `the Node client receives Chromium's video and audio (${JSON.stringify(state.latest)} ${state.stderr})`,
        () => (fromChromium()?.frames ?? 0) > 20 && (fromChromium()?.audioPackets ?? 0) > 50,
        MEDIA_MS,
        200,
      );
      await person.page.locator(`${tileOf('Node')} video`).waitFor({ timeout: NOTICE_MS });
      await waitForFrames(person.page, `${tileOf('Node')} video`, { frames: 10, timeoutMs: MEDIA_MS });
      await waitForSound(person.page, 'Node', MEDIA_MS);
      await eventually(
        'the Node client reports its candidate pairs',
        () => (state.pairs.Node?.length ?? 0) > 0,
      );
      const report = await chromiumReport(person);
      const result: CallResult = {
        chromium: report.pairs,
        node: state.pairs.Node ?? [],
        framesAtNode: fromChromium()?.frames ?? 0,
        audioAtNode: fromChromium()?.audioPackets ?? 0,
      };
      t.diagnostic(`Chromium: ${result.chromium.map(describePair).join('; ')}`);
      t.diagnostic(`Node client: ${result.node.map(describePair).join('; ')}`);
      t.diagnostic(
        `Chromium decoded ${report.framesDecoded} video frames, audio energy ${report.audioEnergy.toFixed(3)}`,
      );
      t.diagnostic(
        `the Node client received ${result.framesAtNode} video frames and ${result.audioAtNode} audio packets from Chromium`,
      );
      assert.deepEqual(person.errors, []);
      assert.ok(result.chromium.length > 0, 'Chromium reports a selected candidate pair');
      await during?.();
      return result;
    } finally {
      await endCall();
    }
  }

  async function endCall(): Promise<void> {
    if (bots && bots.exitCode === null) {
      const child = bots;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    bots = undefined;
    await browser?.close();
    browser = undefined;
  }

  /** `/check` in Chromium on `host`: each row's status by check, and the page's words. */
  async function checkPage(
    host: NetHost,
    base: string,
  ): Promise<{ status: Record<string, string>; text: string }> {
    browser = await launchChromium({
      netns: host.name,
      args: ['--ignore-certificate-errors'],
      loopback: false,
    });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${base}/check`);
      await page.locator('.check-summary[data-done="true"]').waitFor({ timeout: CHECK_MS });
      const status: Record<string, string> = {};
      for (const item of await page.locator('.check-item').all())
        status[(await item.getAttribute('data-check')) ?? '?'] =
          (await item.getAttribute('data-status')) ?? '?';
      return { status, text: await page.locator('main').innerText() };
    } finally {
      await endCall();
    }
  }

  /** `port545 doctor` on `host`, trusting the server's certificate and coturn's: its exit code and lines. */
  async function doctor(host: NetHost, base: string): Promise<{ code: number | null; out: string }> {
    const cli = runCli(['doctor', base, '--ca', join(dataDir, 'trusted.pem')], { wrapper: net.exec(host) });
    const { code } = await withDeadline(cli.exited, CHECK_MS, 'port545 doctor to finish');
    return { code, out: cli.output() };
  }

  before(async () => {
    ensureWebBuild();
    net = await createNatNetwork();
    dataDir = mkdtempSync(join(tmpdir(), 'port545-matrix-'));
    await serve([]);
    // The bots trust the server's certificate and coturn's (made below): one file of both.
    writeFileSync(join(dataDir, 'trusted.pem'), readFileSync(serverCert()));
  });
  after(async () => {
    await endCall().catch(() => {});
    await stopServer().catch(() => {});
    coturn?.kill('SIGTERM');
    await net?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const url = () => `https://${net.server.ip}:545`;

  /** The ports the server's process has bound on its machine (`ss`): listening TCP, or UDP. */
  async function serverPorts(protocol: 'tcp' | 'udp'): Promise<number[]> {
    const flags = protocol === 'tcp' ? '-tlnpH' : '-uanpH';
    const { stdout } = await run('ip', ['netns', 'exec', net.server.name, 'ss', flags]);
    const ports = new Set<number>();
    for (const line of stdout.split('\n')) {
      if (!line.includes(`pid=${server!.child.pid},`)) continue;
      const local = line.trim().split(/\s+/)[3] ?? '';
      ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
    }
    return [...ports].sort((a, b) => a - b);
  }

  it('same host: host candidates over UDP', async (t) => {
    const { chromium, node } = await call(t, net.server, url(), 'matrix-local');
    for (const pair of [...chromium, ...node]) {
      assert.equal(pair.local.type, 'host', describePair(pair));
      assert.equal(pair.local.protocol, 'udp', describePair(pair));
      assert.equal(pair.remote.type, 'host', describePair(pair));
      assert.equal(pair.remote.address, net.server.ip, describePair(pair));
    }
    // What a firewall in front of the server must let through: TCP 545 (the page and signaling) and TCP
    // and UDP 5450 (all media); UDP 5353 is LAN discovery (multicast DNS), which stays on the LAN.
    const [tcp, udp] = [await serverPorts('tcp'), await serverPorts('udp')];
    t.diagnostic(`the server's process binds TCP ${tcp.join(', ')} and UDP ${udp.join(', ')}`);
    assert.deepEqual(tcp, [545, 5450]);
    assert.deepEqual(
      udp.filter((p) => p !== 5353),
      [5450],
    );

    // The connection checks pass here: every path, and the call.
    const check = await checkPage(net.server, url());
    t.diagnostic(`/check on the server's machine:\n${check.text}`);
    assert.deepEqual(
      Object.entries(check.status).filter(([, s]) => s !== 'pass'),
      [],
      check.text,
    );
    assert.match(check.text, /Every check passed/);
    const { code, out } = await doctor(net.server, url());
    t.diagnostic(out);
    assert.equal(code, 0, out);
    assert.match(out, /^PASS {2}UDP media .* udp \S+ -> \w+ udp [\d.]+:5450$/m, out);
    assert.match(out, /^PASS {2}TCP media .* tcp \S+ -> \w+ tcp [\d.]+:5450$/m, out);
    assert.match(out, /^Result: every check passed/m, out);
  });

  for (const cell of [
    { name: 'behind NAT', masquerade: 'masquerade', dependent: false, room: 'matrix-nat' },
    {
      name: 'behind a symmetric NAT',
      masquerade: 'masquerade random,fully-random',
      dependent: true,
      room: 'matrix-symmetric',
    },
  ]) {
    it(`${cell.name}: UDP, the server seeing only the router's address`, async (t) => {
      await routerRules(cell.masquerade);
      const mapping = await mappingSeen();
      t.diagnostic(
        `${cell.masquerade}: one socket seen at ${mapping.addresses.join(', ')} ports ${mapping.ports.join(', ')}`,
      );
      assert.deepEqual(mapping.addresses, [net.router.ip, net.router.ip], 'the server sees the NAT address');
      if (cell.dependent) assert.notEqual(mapping.ports[0], mapping.ports[1], 'a mapping per destination');
      else assert.equal(mapping.ports[0], mapping.ports[1], 'one mapping whatever the destination');

      await countOnServer();
      const { chromium, node } = await call(t, net.client, url(), cell.room);
      for (const pair of [...chromium, ...node]) {
        assert.equal(pair.local.protocol, 'udp', describePair(pair));
        assert.equal(pair.remote.type, 'host', describePair(pair));
        assert.equal(pair.remote.address, net.server.ip, describePair(pair));
      }
      // The clients offered only their LAN addresses, which the server cannot reach: it sees the
      // router's address and port, a peer-reflexive candidate (RFC 8445 §7.3.1.3), and says so in its
      // answers to the checks (XOR-MAPPED-ADDRESS), from which Chromium learns the same candidate as its
      // own local one. The Node client (werift) keeps its host candidate.
      for (const pair of chromium) {
        assert.equal(pair.local.type, 'prflx', describePair(pair));
        assert.equal(pair.local.address, net.router.ip, describePair(pair));
      }
      for (const pair of node) {
        assert.equal(pair.local.type, 'host', describePair(pair));
        assert.equal(pair.local.address, net.client.ip, describePair(pair));
      }
      const fromNat = await counted('nat');
      const fromLan = await counted('lan');
      t.diagnostic(
        `UDP packets at the server: ${fromNat} from the NAT's address, ${fromLan} from LAN addresses`,
      );
      assert.ok(fromNat > 100, `media came from the NAT's address (${fromNat} packets)`);
      assert.equal(fromLan, 0, 'nothing came from a LAN address');
    });
  }

  it('two networks: Chromium behind the NAT and a Node client on a machine of its own call through it', async (t) => {
    await routerRules('masquerade');
    const { chromium, node } = await call(t, net.client, url(), 'matrix-two', undefined, {}, net.other);
    for (const pair of [...chromium, ...node]) {
      assert.equal(pair.local.protocol, 'udp', describePair(pair));
      assert.equal(pair.remote.address, net.server.ip, describePair(pair));
      assert.equal(pair.remote.port, 5450, describePair(pair));
    }
    for (const pair of chromium) assert.equal(pair.local.address, net.router.ip, describePair(pair));
    for (const pair of node) assert.equal(pair.local.address, net.other.ip, describePair(pair));
  });

  it('UDP blocked: ICE over TCP to the media port of the server, TCP 5450', async (t) => {
    await routerRules('masquerade', false, true);
    const { chromium, node } = await call(t, net.client, url(), 'matrix-tcp', undefined, { iceTcp: true });
    for (const pair of [...chromium, ...node]) {
      assert.equal(pair.local.protocol, 'tcp', describePair(pair));
      assert.equal(pair.remote.protocol, 'tcp', describePair(pair));
      assert.equal(pair.remote.address, net.server.ip, describePair(pair));
      assert.equal(pair.remote.port, 5450, describePair(pair));
    }

    // The connection checks name UDP to port 5450 as blocked; TCP and the call pass.
    const check = await checkPage(net.client, url());
    t.diagnostic(`/check behind the router that drops UDP:\n${check.text}`);
    assert.equal(check.status.udp, 'fail', check.text);
    assert.equal(check.status.tcp, 'pass', check.text);
    assert.equal(check.status.call, 'pass', check.text);
    assert.match(check.text, /UDP to the server's media port 5450 is blocked from this network/);
    assert.match(check.text, /1 check failed/);
    const { code, out } = await doctor(net.client, url());
    t.diagnostic(out);
    assert.equal(code, 1, out);
    assert.match(out, /^FAIL {2}UDP media +UDP to the server's media port 5450 is blocked from here/m, out);
    assert.match(out, /^PASS {2}TCP media .* -> host tcp [\d.]+:5450$/m, out);
    assert.match(out, /^PASS {2}Call .*pair host tcp /m, out);
    assert.match(out, /^Result: 1 check failed \(UDP media\); calls still work from here/m, out);
  });

  it('a port forward: the server announces the port clients reach its media on, and media flows there', async (t) => {
    // The server's machine forwards UDP and TCP 6545 to the media port, 5450, as a router's port forward
    // to it would; the server announces that port (--announced-ip ADDR:PORT).
    await net.nft(
      net.server,
      `table ip p545fwd {}
delete table ip p545fwd
table ip p545fwd {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    udp dport 6545 redirect to :5450
    tcp dport 6545 redirect to :5450
  }
}
`,
    );
    // And the LAN reaches the media port only so: the router drops what goes to 5450 itself.
    await routerRules('masquerade', false, false, ['udp dport 5450', 'tcp dport 5450']);
    try {
      await serve(['--announced-ip', `${net.server.ip}:6545`]);
      const { code, out } = await doctor(net.client, url());
      t.diagnostic(out);
      assert.equal(code, 0, out);
      assert.match(out, /^PASS {2}UDP media .* -> host udp [\d.]+:6545$/m, out);
      assert.match(out, /^PASS {2}TCP media .* -> host tcp [\d.]+:6545$/m, out);
      assert.match(out, /^PASS {2}Call .*pair \S+ \S+ \S+ -> host udp [\d.]+:6545;/m, out);
    } finally {
      await net.nft(net.server, 'table ip p545fwd {}\ndelete table ip p545fwd\n');
    }
  });

  it('only TCP to port 443: through coturn over TLS', async (t) => {
    const turnDir = join(dataDir, 'turn');
    const certPath = join(turnDir, 'turn.crt');
    const keyPath = join(turnDir, 'turn.key');
    mkdirSync(turnDir, { recursive: true });
    // A self-signed certificate for the TURN server's address, which the bots are given to trust.
    await run('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-days', '2', '-subj', '/CN=turn.port545.test', '-addext', `subjectAltName=IP:${net.turn.ip}`],
      ...['-keyout', keyPath, '-out', certPath],
    ]);
    writeFileSync(join(dataDir, 'trusted.pem'), `${readFileSync(serverCert())}\n${readFileSync(certPath)}`);
    coturn = await startCoturn(
      turnDir,
      3478,
      TURN_SECRET,
      { port: 443, cert: certPath, key: keyPath },
      {
        ip: net.turn.ip,
        spawn: (command, args) => net.spawn(net.turn, command, args),
        listening: async (port) => {
          const { stdout } = await run('ip', [
            'netns',
            'exec',
            net.turn.name,
            'ss',
            '-tlnH',
            `sport = :${port}`,
          ]);
          return stdout.trim().length > 0;
        },
      },
    );
    await serve(['--port', '443', '--turn-url', `turns:${net.turn.ip}:443?transport=tcp`], {
      PORT545_TURN_SECRET: TURN_SECRET,
    });
    await routerRules('masquerade', true);
    /** TCP connections established to coturn's port 443, while the call is on. */
    let tls = 0;
    const { chromium, node } = await call(
      t,
      net.client,
      `https://${net.server.ip}`,
      'matrix-443',
      async () => {
        const { stdout } = await run('ip', [
          ...['netns', 'exec', net.turn.name, 'ss', '-tnH', 'state', 'established', '( sport = :443 )'],
        ]);
        tls = stdout.split('\n').filter(Boolean).length;
      },
    );
    t.diagnostic(`${tls} TLS connections to coturn's port 443 during the call`);
    for (const pair of [...chromium, ...node]) assert.equal(pair.local.type, 'relay', describePair(pair));
    for (const pair of chromium) assert.equal(pair.relayProtocol, 'tls', describePair(pair));
    assert.ok(tls >= 2, `Chromium and the Node client hold TLS connections to coturn (${tls})`);

    // The connection checks name UDP and TCP to the media port as blocked; the TURN relay over TLS
    // carries the call.
    const base = `https://${net.server.ip}`;
    const check = await checkPage(net.client, base);
    t.diagnostic(`/check where only TCP 443 passes:\n${check.text}`);
    assert.equal(check.status.udp, 'fail', check.text);
    assert.equal(check.status.tcp, 'fail', check.text);
    assert.equal(check.status['turn-tls'], 'pass', check.text);
    assert.equal(check.status.call, 'pass', check.text);
    assert.match(check.text, /UDP to the server's media port 5450 is blocked from this network/);
    assert.match(check.text, /TCP to the server's media port 5450 is blocked from this network/);
    assert.match(check.text, /over the TURN relay over TLS and came back \(relay udp /);
    const { code, out } = await doctor(net.client, base);
    t.diagnostic(out);
    assert.equal(code, 1, out);
    assert.match(out, /^FAIL {2}UDP media +UDP to the server's media port 5450 is blocked from here/m, out);
    assert.match(out, /^FAIL {2}TCP media +TCP to the server's media port 5450 is blocked from here/m, out);
    assert.match(
      out,
      /^PASS {2}TURN over TLS +media went through the server over the TURN relay over TLS/m,
      out,
    );
    assert.match(out, /^PASS {2}Call .*pair relay udp /m, out);
    assert.match(out, /^Result: 2 checks failed \(UDP media, TCP media\); calls still work from here/m, out);
  });
});
