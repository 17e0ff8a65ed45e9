/**
 * Limits on every input. Each limit is exceeded here and answered with its code while two participants
 * already in a room keep receiving each other's media; then 1,000 junk UDP datagrams hit each of the
 * server's media ports (found from the candidates in its SDP) and change nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpSender } from 'werift';
import WebSocket from 'ws';
import { Bot } from '../src/bot/Bot.js';
import { nodePeerConfig } from '../src/client/node.js';
import { Room } from '../src/client/Room.js';
import type { PeerConnectionLike, WebSocketLike } from '../src/client/rtc.js';
import { ClipSource } from '../src/media/ClipSource.js';
import { iceGuardStats } from '../src/werift/iceGuard.js';
import { eventually, LOOPBACK, startInThreadServer, type TestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LIMITS = {
  // A port per connection, for the junk test: it is about each port's ICE gate (src/werift/iceGuard.ts).
  // Junk at the one shared media port, the default, is test/udpMux.test.ts's.
  rtc: { udpPort: 'range' as const },
  rooms: { maxParticipants: 3, maxRooms: 2 },
  limits: {
    wsMaxMessageBytes: 128 * 1024,
    wsMessagesPerSecond: 50,
    sdpMaxBytes: 32 * 1024,
    chatMaxChars: 500,
    tracksPerParticipant: 2,
    connectionsPerIp: 6,
    joinTimeoutMs: 800,
  },
};

/**
 * A participant made with the SDK directly (not a Bot) so the test can read the server's SDP: every
 * signaling message it receives is kept. It publishes the test clip's video and records what arrives.
 */
class Recorded {
  readonly serverSdps: string[] = [];
  received = 0;
  room!: Room<MediaStreamTrack>;
  #source = new ClipSource({ video: true, audio: false });

  static async join(url: string, roomName: string, name: string): Promise<Recorded> {
    const r = new Recorded();
    r.room = await Room.connect<MediaStreamTrack>({
      url,
      room: roomName,
      name,
      createPeerConnection: () =>
        new RTCPeerConnection(nodePeerConfig(LOOPBACK)) as unknown as PeerConnectionLike,
      createWebSocket: (u) => {
        const ws = new WebSocket(u);
        ws.on('message', (data) => {
          const m = JSON.parse(String(data)) as { type: string; sdp?: string };
          if ((m.type === 'offer' || m.type === 'answer') && m.sdp) r.serverSdps.push(m.sdp);
        });
        return ws as unknown as WebSocketLike;
      },
    });
    r.room.on('trackSubscribed', (track) => {
      track.mediaTrack?.onReceiveRtp.subscribe(() => {
        r.received++;
      });
    });
    const track = new MediaStreamTrack({ kind: 'video' });
    r.#source.onVideoRtp((rtp) => track.writeRtp(rtp));
    const local = await r.room.publishTrack(track, 'camera');
    (local.transceiver.sender as unknown as RTCRtpSender).onPictureLossIndication.subscribe(() =>
      r.#source.requestKeyframe(),
    );
    r.#source.start();
    return r;
  }

  /** The server's UDP ports, from the host candidates of every description it sent (RFC 8839 §5.1). */
  get serverPorts(): number[] {
    const ports = new Set<number>();
    for (const sdp of this.serverSdps)
      for (const m of sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host/gim))
        if (m[1] === '127.0.0.1') ports.add(Number(m[2]));
    return [...ports];
  }

  async stop(): Promise<void> {
    this.#source.stop();
    await this.room.leave();
  }
}

const packetsOf = (bot: Bot) => [...bot.received.values()].reduce((n, r) => n + r.packets, 0);

// In-thread: the junk-datagram test counts the ICE gate's decisions (`iceGuardStats`) on this thread.
describe('limits on every input, while media between others keeps flowing', () => {
  let t: TestServer;
  let bot: Bot;
  let recorded: Recorded;

  before(async () => {
    t = await startInThreadServer(LIMITS);
    recorded = await Recorded.join(t.url, 'steady', 'recorded');
    bot = await Bot.start({ url: t.url, room: 'steady', name: 'bot', hostAddresses: LOOPBACK });
    await eventually('both receive each other', () => packetsOf(bot) > 50 && recorded.received > 50, 10_000);
  });

  after(async () => {
    await bot.stop();
    await recorded.stop();
    await t.close();
  });

  /** Leaves and waits until the server has let the participant go, so the room is back to its two. */
  async function leave(c: RawClient): Promise<void> {
    c.send({ type: 'leave' });
    await c.waitClose();
    await eventually(
      'the room is back to two',
      async () => (await t.server.room('steady'))?.participants === 2,
    );
  }

  /** Runs `abuse`, then checks that both participants in "steady" received fresh media meanwhile. */
  async function whileMediaFlows(abuse: () => Promise<void>): Promise<void> {
    const before = [packetsOf(bot), recorded.received];
    await abuse();
    await sleep(300);
    assert.ok(packetsOf(bot) > before[0]! + 10, 'the bot kept receiving media');
    assert.ok(recorded.received > before[1]! + 10, 'the other participant kept receiving media');
  }

  it('WebSocket message size: a 1 MiB message closes that connection with 1009 (message too big)', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send(JSON.stringify({ type: 'chat', text: 'x'.repeat(1024 * 1024) }));
      assert.equal(await c.waitClose(), 1009);
    });
  });

  it('message rate: a flood gets RATE_LIMITED, then the connection is closed with 1008', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      for (let i = 0; i < 400; i++) c.send({ type: 'ping' });
      const error = await c.next((m) => m.type === 'error' && m.code === 'RATE_LIMITED');
      assert.match(String(error.message), /slow down/);
      assert.equal(await c.waitClose(), 1008);
    });
  });

  it('SDP size: an offer over sdpMaxBytes gets SDP_TOO_LARGE', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: 1, room: 'steady', name: 'sdp' });
      await c.next((m) => m.type === 'joined');
      const sdp = `v=0\r\n${'a=x-padding\r\n'.repeat(3000)}`; // 39 kB, under the message limit
      assert.equal((await c.expectError({ type: 'offer', sdp, tracks: [] })).code, 'SDP_TOO_LARGE');
      await leave(c);
    });
  });

  it('chat length: over chatMaxChars gets CHAT_TOO_LONG; at the limit it reaches everyone', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: 1, room: 'steady', name: 'talker' });
      await c.next((m) => m.type === 'joined');
      const tooLong = await c.expectError({ type: 'chat', text: 'y'.repeat(501) });
      assert.equal(tooLong.code, 'CHAT_TOO_LONG');
      assert.match(tooLong.message, /500/, 'the error says the limit');
      const arrived = new Promise<number>((resolve) => bot.room.once('chat', (m) => resolve(m.text.length)));
      c.send({ type: 'chat', text: 'z'.repeat(500) });
      assert.equal(await arrived, 500);
      await leave(c);
    });
  });

  it('participants per room: the one past maxParticipants gets ROOM_FULL', async () => {
    await whileMediaFlows(async () => {
      const third = await RawClient.open(t.url);
      third.send({ type: 'join', v: 1, room: 'steady', name: 'third' });
      await third.next((m) => m.type === 'joined');
      const fourth = await RawClient.open(t.url);
      assert.equal(
        (await fourth.expectError({ type: 'join', v: 1, room: 'steady', name: 'fourth' })).code,
        'ROOM_FULL',
      );
      fourth.close(1000);
      await leave(third);
    });
  });

  it('rooms per server: the room past maxRooms gets TOO_MANY_ROOMS', async () => {
    await whileMediaFlows(async () => {
      const second = await RawClient.open(t.url);
      second.send({ type: 'join', v: 1, room: 'spare', name: 'a' });
      await second.next((m) => m.type === 'joined');
      const third = await RawClient.open(t.url);
      assert.equal(
        (await third.expectError({ type: 'join', v: 1, room: 'extra', name: 'b' })).code,
        'TOO_MANY_ROOMS',
      );
      assert.equal(await t.server.room('extra'), undefined);
      second.send({ type: 'leave' });
      await second.waitClose();
      third.close(1000);
    });
    await eventually(
      'the spare room closes once empty',
      async () => (await t.server.room('spare')) === undefined,
      3000,
    );
  });

  it('tracks per participant: an offer with more than tracksPerParticipant gets TOO_MANY_TRACKS', async () => {
    await whileMediaFlows(async () => {
      const c = await RawClient.open(t.url);
      c.send({ type: 'join', v: 1, room: 'steady', name: 'many' });
      await c.next((m) => m.type === 'joined');
      const tracks = ['0', '1', '2'].map((mid) => ({ mid, source: 'camera' }));
      assert.equal((await c.expectError({ type: 'offer', sdp: 'v=0\r\n', tracks })).code, 'TOO_MANY_TRACKS');
      await leave(c);
    });
  });

  it('connections per address: the one past connectionsPerIp gets TOO_MANY_CONNECTIONS; another address is let in', async () => {
    await whileMediaFlows(async () => {
      // The two participants hold one connection each from 127.0.0.1.
      const held: RawClient[] = [];
      for (let i = 0; i < 4; i++) held.push(await RawClient.open(t.url));
      const over = await RawClient.open(t.url);
      // The refusal comes right after the handshake, maybe before `open` resolved: look at all messages.
      assert.equal(await over.waitClose(), 1008);
      assert.deepEqual(
        over.messages.map((m) => m.code),
        ['TOO_MANY_CONNECTIONS'],
      );
      const elsewhere = await RawClient.open(t.url, { localAddress: '127.0.0.2' });
      elsewhere.send({ type: 'ping', rid: 1 });
      await elsewhere.next((m) => m.type === 'pong');
      // A connection that ends frees its place.
      held.pop()!.close();
      await sleep(100);
      const again = await RawClient.open(t.url);
      again.send({ type: 'ping', rid: 2 });
      await again.next((m) => m.type === 'pong');
      for (const c of [...held, elsewhere, again]) c.close(1000);
    });
  });

  it('join timeout: a connection that never joins gets JOIN_TIMEOUT and is closed with 1008', async () => {
    await whileMediaFlows(async () => {
      const started = Date.now();
      const c = await RawClient.open(t.url);
      const error = await c.next((m) => m.type === 'error', 3000);
      assert.equal(error.code, 'JOIN_TIMEOUT');
      assert.equal(await c.waitClose(), 1008);
      assert.ok(Date.now() - started >= 780, 'not before joinTimeoutMs');
    });
  });

  it('joining and leaving at once, 20 times over, leaves no media socket behind', async (t2) => {
    // Each join opens an ICE socket for the subscriber connection; one left open per join would let
    // anyone use up the media port range (and file descriptors) by joining and leaving in a loop.
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    await whileMediaFlows(async () => {
      const before = udp();
      for (let i = 0; i < 20; i++) {
        const c = await RawClient.open(t.url);
        c.send({ type: 'join', v: 1, room: 'steady', name: `drive-by-${i}` });
        await c.next((m) => m.type === 'joined');
        await leave(c);
      }
      await sleep(300);
      t2.diagnostic(`UDP sockets in this process: ${before} before, ${udp()} after 20 join-and-leave`);
      assert.ok(udp() <= before, `${udp() - before} UDP sockets left behind`);
    });
  });

  it('1,000 junk UDP datagrams at each media port change nothing', async (t2) => {
    const ports = recorded.serverPorts;
    assert.ok(
      ports.length >= 2,
      `the server's publisher and subscriber ports, from its SDP: ${ports.join(', ')}`,
    );
    // Let earlier tests' connections and timers settle before taking the baseline.
    await sleep(1500);
    const handlesBefore = process.getActiveResourcesInfo().length;
    // Count the gate's decisions on datagrams from the junk senders only (media from the peers goes on).
    const junkPorts = new Set<number>();
    const fromJunk = { accepted: 0, dropped: 0 };
    iceGuardStats.observer = (accepted, [host, port]) => {
      if (host === '127.0.0.1' && junkPorts.has(port)) fromJunk[accepted ? 'accepted' : 'dropped']++;
    };
    const heapBefore = process.memoryUsage().heapUsed;
    const before = [packetsOf(bot), recorded.received];

    // RFC 7983 §7: the first byte sorts a datagram into STUN (0-3), DTLS (20-63) or RTP/RTCP (128-191).
    // Send each kind, malformed, plus plain noise, from 10 source ports so that no per-sender state hides.
    const ufrags = recorded.serverSdps.flatMap((sdp) =>
      [...sdp.matchAll(/^a=ice-ufrag:(\S+)/gm)].map((m) => m[1]!),
    );
    /** A well-formed ICE check (RFC 8445 §7.2.2) that claims to nominate, with a made-up integrity. */
    const forgedCheck = (i: number): Buffer => {
      const attribute = (type: number, value: Buffer) => {
        const head = Buffer.alloc(4);
        head.writeUInt16BE(type, 0);
        head.writeUInt16BE(value.length, 2);
        return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
      };
      const attributes = Buffer.concat([
        attribute(0x0006, Buffer.from(`${ufrags[i % ufrags.length]}:evil`)), // USERNAME
        attribute(0x802a, randomBytes(8)), // ICE-CONTROLLING
        attribute(0x0025, Buffer.alloc(0)), // USE-CANDIDATE
        attribute(0x0008, randomBytes(20)), // MESSAGE-INTEGRITY, not made with the password
      ]);
      const header = Buffer.alloc(20);
      header.writeUInt16BE(0x0001, 0); // Binding request
      header.writeUInt16BE(attributes.length, 2);
      header.writeUInt32BE(0x2112a442, 4);
      randomBytes(12).copy(header, 8);
      return Buffer.concat([header, attributes]);
    };
    const junk = (i: number): Buffer => {
      const body = randomBytes(20 + (i % 400));
      switch (i % 5) {
        case 0: // an ICE check from nobody, with the server's real ufrag
          return forgedCheck(i);
        case 1: {
          // DTLS from nobody (RFC 6347 §4.1 record: type, version, epoch, sequence, length): a handshake
          // record, or a record of a type DTLS does not have (24-63), which made werift close DTLS.
          const record = Buffer.alloc(13);
          record.writeUInt8(i % 2 ? 22 : 24 + (i % 40), 0);
          record.writeUInt16BE(0xfefd, 1);
          record.writeUIntBE(i, 5, 6);
          record.writeUInt16BE(body.length, 11);
          return Buffer.concat([record, body]);
        }
        case 2: // RTP with a random SSRC and payload type
          return Buffer.concat([Buffer.from([0x80, 96 + (i % 32)]), body]);
        case 3: // RTCP sender report / NACK / PLI shapes
          return Buffer.concat([Buffer.from([0x81, 200 + (i % 6)]), body]);
        default:
          return randomBytes(1 + (i % 1200));
      }
    };
    const senders: Socket[] = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = createSocket('udp4');
            s.bind(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    for (const s of senders) junkPorts.add(s.address().port);
    let sent = 0;
    for (const port of ports) {
      for (let i = 0; i < 1000; i++) {
        await new Promise<void>((resolve) =>
          senders[i % 10]!.send(junk(i), port, '127.0.0.1', () => resolve()),
        );
        sent++;
        if (i % 100 === 99) await sleep(10);
      }
    }
    for (const s of senders) s.close();
    await sleep(1500);

    const handlesAfter = process.getActiveResourcesInfo().length;
    iceGuardStats.observer = undefined;
    const heapAfter = process.memoryUsage().heapUsed;
    const media = [packetsOf(bot) - before[0]!, recorded.received - before[1]!];
    t2.diagnostic(
      `${sent} junk datagrams to ports ${ports.join(', ')}, ${fromJunk.dropped} reached the gate and were dropped, ${fromJunk.accepted} let through: handles ${handlesBefore} → ${handlesAfter}, heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB; media meanwhile: bot ${media[0]} packets, other ${media[1]}`,
    );
    assert.ok(media[0]! > 50 && media[1]! > 50, 'media kept flowing both ways');
    assert.equal(fromJunk.accepted, 0, 'no junk datagram got past the gate to DTLS, SRTP or ICE');
    // The kernel may drop a few of a burst when its buffer is full; most must have reached the gate.
    assert.ok(fromJunk.dropped >= sent * 0.9, `only ${fromJunk.dropped} of ${sent} reached the gate`);
    assert.ok(handlesAfter <= handlesBefore + 2, `handles grew from ${handlesBefore} to ${handlesAfter}`);
    assert.ok(heapAfter - heapBefore < 32 * 2 ** 20, 'the heap did not grow by tens of MiB');
    const health = await fetch(`${t.url}/healthz`);
    assert.equal(health.status, 200, 'the server still answers');
    assert.equal((await health.json()).participants, 2);
    // Still flowing a moment later: nothing was left broken.
    const after = [packetsOf(bot), recorded.received];
    await sleep(500);
    assert.ok(packetsOf(bot) > after[0]! + 10 && recorded.received > after[1]! + 10, 'media still flows');
  });
});
