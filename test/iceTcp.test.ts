import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RTCPeerConnection } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import { ICE_TCP_STREAMS_PER_CONNECTION, type UdpMux, udpMuxes } from '../src/werift/udpMux.js';
import type { UdpMuxRelay } from '../src/werift/udpMuxRelay.js';
import {
  eventually,
  LOOPBACK,
  startInThreadServer,
  startTestServer,
  type TestServer,
} from './helpers/server.js';
import { bindingRequest, serverCredentials } from './helpers/stun.js';

/**
 * ICE over TCP on the server's port (src/werift/iceTcp.ts), as a server started with its defaults has it:
 * the HTTP port's connections that start with an RFC 4571 frame go to the media's connections, and only
 * when their first frame is a binding request that verifies for one of them. A call over ICE-TCP from
 * Chromium and a Node client behind a router that drops UDP is in test/e2e/connectivityMatrix.test.ts.
 */

/** An RFC 4571 frame: a 16-bit length, then the message. */
const frame = (message: Buffer) =>
  Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);

/** A TCP connection to the server's port; resolves once connected. */
function tcp(port: number): Promise<Socket & { received: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }) as Socket & { received: Buffer[] };
    socket.received = [];
    socket.on('data', (d: Buffer) => socket.received.push(d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

for (const mode of ['rooms on worker threads', 'rooms on the main thread'] as const)
  describe(`ICE over TCP on the server port, ${mode}`, () => {
    let t: TestServer;
    /** With worker threads, the main thread's end, which counts the streams it carries. */
    let relay: UdpMuxRelay | undefined;
    const streams = () => relay?.tcpStreams;
    const bots: Bot[] = [];
    const pcs: RTCPeerConnection[] = [];
    const sockets: Socket[] = [];

    before(async () => {
      // The handshake deadline short, so that the silent connection's end is seen soon.
      const overrides = { limits: { handshakeTimeoutMs: 2000 } };
      t =
        mode === 'rooms on worker threads'
          ? await startTestServer(overrides)
          : await startInThreadServer(overrides);
      relay = t.server.workers.udpMux;
      if (mode === 'rooms on worker threads') assert.ok(relay, 'media on one UDP port by default');
      for (const name of ['ada', 'bob'])
        bots.push(
          await Bot.start({
            url: t.url,
            room: 'ice-tcp',
            name,
            hostAddresses: LOOPBACK,
            onPeerConnection: (pc) => pcs.push(pc),
          }),
        );
    });

    after(async () => {
      for (const s of sockets) s.destroy();
      for (const bot of bots) await bot.stop().catch(() => {});
      await t?.close();
    });

    it('offers a passive TCP candidate on the port, beside the UDP one', () => {
      const sdp = pcs[0]!.remoteDescription!.sdp;
      assert.match(
        sdp,
        new RegExp(`a=candidate:\\S+ 1 tcp \\d+ 127\\.0\\.0\\.1 ${t.port} typ host tcptype passive`),
      );
      assert.match(sdp, new RegExp(`a=candidate:\\S+ 1 udp \\d+ 127\\.0\\.0\\.1 ${t.port} typ host`));
    });

    it('answers a check with the right password over the same stream, and keeps at most 8 per connection', async () => {
      const c = serverCredentials(pcs[0]!);
      const opened: (Socket & { received: Buffer[] })[] = [];
      for (let i = 0; i < ICE_TCP_STREAMS_PER_CONNECTION + 2; i++) {
        const s = await tcp(t.port);
        sockets.push(s);
        opened.push(s);
        s.write(frame(bindingRequest(`${c.ufrag}:${c.clientUfrag}`, c.pwd)));
        // One at a time, so that the ones past the cap are the last two.
        if (i < ICE_TCP_STREAMS_PER_CONNECTION)
          await eventually(
            'a binding success response, framed',
            () => Buffer.concat(s.received).length >= 22,
          );
      }
      for (const s of opened.slice(0, ICE_TCP_STREAMS_PER_CONNECTION)) {
        // The first frame (a triggered check of the server's may follow it).
        const reply = Buffer.concat(s.received);
        assert.ok(reply.length >= 2 + reply.readUInt16BE(0), 'an RFC 4571 frame');
        assert.equal(reply.readUInt16BE(2), 0x0101, 'a binding success response');
      }
      await eventually('the streams past the cap are closed', () => opened.slice(-2).every((s) => s.closed));
      if (relay) assert.equal(streams(), ICE_TCP_STREAMS_PER_CONNECTION);
      for (const s of opened) s.destroy();
      if (relay) await eventually('the relay forgets closed streams', () => streams() === 0);
    });

    it('closes a stream whose first frame fails the check, is no STUN, or never comes; HTTP goes on', async () => {
      const c = serverCredentials(pcs[0]!);
      const forged = await tcp(t.port);
      const junk = await tcp(t.port);
      const silent = await tcp(t.port);
      const tooLong = await tcp(t.port);
      sockets.push(forged, junk, silent, tooLong);
      const mux = relay ?? (udpMuxes().get(t.port) as UdpMux);
      const droppedBefore = mux.stats.droppedStunAuth;
      const junkBefore = mux.stats.droppedKind;
      forged.write(frame(bindingRequest(`${c.ufrag}:${c.clientUfrag}`, 'wrong-password-xxxxxxxxxx')));
      junk.write(frame(Buffer.alloc(100, 7)));
      // The first byte only: an RFC 4571 length that never completes.
      silent.write(Buffer.from([0]));
      tooLong.write(Buffer.from([0x03, 0xff]));
      await eventually('all four closed', () => [forged, junk, silent, tooLong].every((s) => s.closed));
      for (const s of [forged, junk, silent, tooLong])
        assert.equal(Buffer.concat(s.received).length, 0, 'no answer');
      assert.ok(mux.stats.droppedStunAuth > droppedBefore, 'the forged check was counted as a failed check');
      assert.ok(mux.stats.droppedKind > junkBefore, 'the frame that is no STUN was counted as such');
      if (relay) assert.equal(streams(), 0);
      const health = await fetch(`${t.url}/healthz`);
      assert.equal(health.status, 200);
      // And the call goes on.
      const since = bots.map((b) => [...b.received.values()].reduce((n, r) => n + r.frames, 0));
      await eventually('frames keep arriving', () =>
        bots.every((b, i) => [...b.received.values()].reduce((n, r) => n + r.frames, 0) > since[i]! + 10),
      );
    });
  });
