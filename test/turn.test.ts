/**
 * A TURN server for networks that block the direct path: coturn from Debian, configured with a secret
 * shared with port545 (TURN REST credentials). Each participant gets time-limited credentials in
 * `joined`; two bots that may use nothing but the relay (as on a network that lets nothing else through)
 * see each other's media through coturn over UDP, over TCP and over TLS (`turns:`, for networks that let
 * only TLS out); credentials signed with another secret get nobody through.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { RTCPeerConnection } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import { selectedPair } from '../src/client/stats.js';
import { ensureSelfSignedCertificate } from '../src/tls/selfSigned.js';
import { runCli } from './helpers/cli.js';
import { startCoturn } from './helpers/coturn.js';
import {
  eventually,
  freePort,
  LOOPBACK,
  startTestServer,
  type TestServer,
  withDeadline,
} from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const run = promisify(execFile);
const SECRET = randomBytes(24).toString('base64url');
const TTL_SECONDS = 600;

/** Frames this bot has received from others. */
const framesOf = (bot: Bot) => [...bot.received.values()].reduce((n, r) => n + r.frames, 0);

/** The candidate pair one of these connections uses, from werift's stats. */
async function pairOf(pcs: RTCPeerConnection[]): Promise<ReturnType<typeof selectedPair>> {
  for (const pc of pcs) {
    const report = (await pc.getStats()) as unknown as Map<string, { type: string; id: string }>;
    const pair = selectedPair(report.values());
    if (pair) return pair;
  }
  return undefined;
}

describe('TURN: media through coturn when nothing else gets through', () => {
  let dir: string;
  let coturn: ChildProcess;
  let turnPort: number;
  let tlsPort: number;
  /** The self-signed certificate coturn's TLS listener presents (the clients are given it to trust). */
  let certPem: Buffer;
  let t: TestServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'port545-turn-'));
    turnPort = await freePort();
    tlsPort = await freePort();
    const cert = await ensureSelfSignedCertificate(dir);
    certPem = readFileSync(cert.certPath);
    coturn = await startCoturn(dir, turnPort, SECRET, {
      port: tlsPort,
      cert: cert.certPath,
      key: cert.keyPath,
    });
    t = await startTestServer({
      turn: {
        urls: [`turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`],
        secret: SECRET,
        ttlSeconds: TTL_SECONDS,
      },
    });
  });
  after(async () => {
    await t?.close();
    coturn?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands each participant time-limited credentials for it in joined', async () => {
    const raw = await RawClient.open(t.url);
    try {
      raw.send({ type: 'join', v: 1, room: 'turn-creds', name: 'Raw', rid: 1 });
      const joined = (await raw.next((m) => m.type === 'joined')) as {
        self: { id: string };
        iceServers?: { urls: string[]; username: string; credential: string }[];
      };
      const [server] = joined.iceServers ?? [];
      assert.ok(server, 'an ICE server');
      assert.deepEqual(server.urls, [
        `turn:127.0.0.1:${turnPort}?transport=udp`,
        `turn:127.0.0.1:${turnPort}?transport=tcp`,
      ]);
      const [expiry, who] = server.username.split(':');
      assert.equal(who, joined.self.id);
      const left = Number(expiry) - Date.now() / 1000;
      assert.ok(left > TTL_SECONDS - 60 && left <= TTL_SECONDS, `good for ${left} s`);
      assert.equal(server.credential, createHmac('sha1', SECRET).update(server.username).digest('base64'));
    } finally {
      raw.ws.close();
    }
  });

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`carries two relay-only bots' media over TURN/${transport.toUpperCase()}`, async () => {
      const url =
        transport === 'tls'
          ? `turns:127.0.0.1:${tlsPort}?transport=tcp`
          : `turn:127.0.0.1:${turnPort}?transport=${transport}`;
      const relayed = await startTestServer({ turn: { urls: [url], secret: SECRET } });
      const room = `turn-${transport}`;
      const bots: Bot[] = [];
      const anasConnections: RTCPeerConnection[] = [];
      try {
        for (const name of ['Ana', 'Ben'])
          bots.push(
            await Bot.start({
              url: relayed.url,
              room,
              name,
              hostAddresses: LOOPBACK,
              relayOnly: true,
              // coturn's TLS certificate is self-signed: trusted as a deployment's own CA would be.
              ca: certPem,
              ...(name === 'Ana'
                ? { onPeerConnection: (pc: RTCPeerConnection) => anasConnections.push(pc) }
                : {}),
            }),
          );
        for (const bot of bots)
          await eventually(
            `${bot.room.displayName} receives the other's video`,
            () => framesOf(bot) > 30,
            30_000,
          );
        const pair = await pairOf(anasConnections);
        assert.ok(pair, 'a selected candidate pair');
        assert.equal(pair.local.type, 'relay', JSON.stringify(pair));
        // Which way the bots reach coturn: TCP connections to its plain port only when told to use TCP,
        // to its TLS port only when told to use TLS.
        const established = async (port: number) => {
          const { stdout } = await run('ss', ['-tnH', 'state', 'established', `( dport = :${port} )`]);
          return stdout.split('\n').filter(Boolean).length;
        };
        const tcpToTurn = await established(turnPort);
        const tlsToTurn = await established(tlsPort);
        if (transport === 'tcp')
          assert.ok(tcpToTurn >= 2, `each bot holds a TCP connection to coturn (${tcpToTurn})`);
        else assert.equal(tcpToTurn, 0, `no plain TCP to coturn over ${transport}`);
        if (transport === 'tls')
          assert.ok(tlsToTurn >= 2, `each bot holds a TLS connection to coturn (${tlsToTurn})`);
        else assert.equal(tlsToTurn, 0, `no TLS to coturn over ${transport}`);
        console.log(
          `TURN/${transport}: ${tcpToTurn} TCP and ${tlsToTurn} TLS connections to coturn, ${JSON.stringify(pair)}`,
        );
      } finally {
        await Promise.all(bots.map((b) => b.stop()));
        await relayed.close();
      }
    });
  }

  it('is checked by port545 doctor: a relay-only call passes through it', async () => {
    const doctor = runCli(['doctor', t.url]);
    const { code } = await withDeadline(doctor.exited, 120_000, 'doctor to finish');
    const out = doctor.output();
    assert.equal(code, 0, out);
    // One check per kind of TURN URL the server hands out (here UDP and TCP), each a call through it only.
    for (const name of ['UDP', 'TCP'])
      assert.match(
        out,
        new RegExp(
          `^PASS {2}TURN over ${name} +media went through the server over the TURN relay over ${name} .*: relay udp `,
          'm',
        ),
        out,
      );
    assert.doesNotMatch(out, /TURN over TLS/, out);
    console.log(out);
  });

  it('gets nobody through with credentials signed by another secret', async () => {
    const wrong = await startTestServer({
      turn: {
        urls: [`turn:127.0.0.1:${turnPort}?transport=udp`],
        secret: randomBytes(24).toString('base64url'),
      },
    });
    const bots: Bot[] = [];
    const refused: string[] = [];
    try {
      for (const name of ['Cy', 'Di']) {
        // Its connection fails (coturn answers 401 to every allocation), or it joins and nothing flows.
        await Bot.start({
          url: wrong.url,
          room: 'turn-wrong',
          name,
          hostAddresses: LOOPBACK,
          relayOnly: true,
        }).then(
          (bot) => bots.push(bot),
          (error: Error) => refused.push(error.message),
        );
      }
      // Long enough for media to flow on a working relay (it does within seconds above); doctor says why.
      const doctor = runCli(['doctor', wrong.url]);
      const { code } = await withDeadline(doctor.exited, 120_000, 'doctor to finish');
      const out = doctor.output();
      assert.equal(code, 1, out);
      assert.match(
        out,
        /^FAIL {2}TURN over UDP .*does not relay.*\n.*What to do: .*static-auth-secret/m,
        out,
      );
      assert.match(out, /^PASS {2}UDP media/m, 'the direct path still works');
      assert.match(out, /^PASS {2}Call /m, 'the direct path still works');
      assert.deepEqual(
        bots.map(framesOf).filter((n) => n > 0),
        [],
        `no media without a relay that takes the credentials (refused: ${refused.join('; ')})`,
      );
    } finally {
      await Promise.all(bots.map((b) => b.stop()));
      await wrong.close();
    }
  });
});
