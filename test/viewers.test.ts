/**
 * A room's audience: viewers receive every track but are not participants. One publishing bot (its camera
 * in three simulcast layers) and 300 receive-only Node clients (werift, through the client SDK with
 * `viewer: true`), who show it small and so get its smallest layer, on a server wired as `port545 serve`
 * wires it, whose rooms take 2 participants at most: every viewer receives the publisher's video
 * (counted at its UDP socket, one packet in 16 decrypted), the room still has one participant, and
 * nobody was told of any viewer but through the count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
import { LatencySink, ReceiverTap, tapPeerConnection } from '../bench/lib/ReceiverTap.js';
import { createAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { ServerError } from '../src/client/index.js';
import { connectNode, nodePeerConfig } from '../src/client/node.js';
import { Room } from '../src/client/Room.js';
import type { PeerConnectionLike, WebSocketLike } from '../src/client/rtc.js';
import { LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'viewers-test-key';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const VIEWERS = 300;
/** Joins in flight at once: a crowd arriving, not one at a time. */
const AT_ONCE = 25;

interface Viewer {
  room: Room<never>;
  tap: ReceiverTap;
  /** Errors the server sent it (a viewer that only watches is sent none). */
  errors: string[];
}

async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  state?: () => string,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`timed out: ${what}${state ? ` (${state()})` : ''}`);
}

/** A receive-only client whose RTP is counted at its socket (the benchmarks' light subscriber). */
async function watch(url: string, room: string, name: string, sink: LatencySink): Promise<Viewer> {
  const tap = new ReceiverTap(sink, { markers: false });
  const client = await Room.connect<never>({
    url,
    room,
    name,
    viewer: true,
    createWebSocket: (u) => new WebSocket(u, { allowSynchronousEvents: false }) as unknown as WebSocketLike,
    createPeerConnection: () => {
      const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
      tapPeerConnection(pc, tap);
      return pc as unknown as PeerConnectionLike;
    },
  });
  const errors: string[] = [];
  client.on('error', (error) => errors.push(error instanceof ServerError ? error.code : String(error)));
  return { room: client, tap, errors };
}

describe('a room with an audience', () => {
  let t: TestServer;
  let bot: Bot;
  const viewers: Viewer[] = [];
  const sink = new LatencySink();

  before(async () => {
    t = await startTestServer({
      rooms: { maxParticipants: 2, maxViewers: VIEWERS + 1 },
      // A real audience comes from many addresses; here all of it comes from 127.0.0.1.
      limits: { connectionsPerIp: 1000, wsConnectsPerMinute: 1000 },
      auth: { apiKey: API_KEY, apiSecret: 'viewers-test-secret-0123456789abcdef' },
    });
    bot = await Bot.start({
      url: t.url,
      room: 'stage',
      name: 'speaker',
      simulcast: true,
      hostAddresses: LOOPBACK,
    });
  });
  after(async () => {
    await Promise.allSettled(viewers.map((v) => v.room.leave()));
    await bot?.stop();
    await t?.close();
  });

  it(`sends the publisher's video to ${VIEWERS} viewers, who are not participants`, async () => {
    const joined: string[] = [];
    bot.room.on('participantJoined', (p) => joined.push(p.name));
    for (let i = 0; i < VIEWERS; i += AT_ONCE) {
      const batch = Array.from({ length: Math.min(AT_ONCE, VIEWERS - i) }, (_, k) =>
        watch(t.url, 'stage', `viewer-${i + k}`, sink),
      );
      viewers.push(...(await Promise.all(batch)));
    }
    for (const v of viewers) {
      // A player of 320×180: the smallest layer.
      const speaker = [...v.room.participants.values()][0];
      const camera = [...(speaker?.tracks.values() ?? [])].find((tr) => tr.source === 'camera');
      if (camera) v.room.setVideoSize(camera.id, 320, 180);
      assert.equal(v.room.role, 'viewer');
      assert.equal(v.room.canPublish, false);
      assert.deepEqual(
        [...v.room.participants.values()].map((p) => p.name),
        ['speaker'],
        'a viewer sees the participants, not the other viewers',
      );
    }
    // Every viewer gets video: packets of two streams (the clip's video and audio), some decrypted.
    const receiving = () => viewers.filter((v) => v.tap.streams.size >= 2 && v.tap.verified > 0).length;
    const state = () => {
      const streams = new Map<number, number>();
      for (const v of viewers) streams.set(v.tap.streams.size, (streams.get(v.tap.streams.size) ?? 0) + 1);
      const verifiedNone = viewers.filter((v) => v.tap.verified === 0).length;
      // The media port's routing, when a viewer is missing: what it dropped, and what it holds.
      const mux = t.server.workers.udpMux;
      const muxState = mux ? `; media port ${JSON.stringify(mux.stats)} ${JSON.stringify(mux.sizes())}` : '';
      return `${receiving()} receiving; viewers by streams seen: ${JSON.stringify([...streams])}; none verified: ${verifiedNone}${muxState}`;
    };
    await eventually(
      `all ${VIEWERS} viewers receive audio and video`,
      () => receiving() === VIEWERS,
      120_000,
      state,
    );
    const before = viewers.map((v) => v.tap.packets);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const stuck = viewers.filter((v, i) => v.tap.packets <= before[i]!).length;
    assert.equal(stuck, 0, 'every viewer keeps receiving');
    assert.equal(
      viewers.reduce((n, v) => n + v.tap.corrupt, 0),
      0,
      'no packet fails its SRTP check',
    );
    assert.deepEqual(
      viewers.flatMap((v) => v.errors),
      [],
      'a viewer that only watches sends nothing the server refuses',
    );

    // The room: one participant, 300 viewers; the speaker heard of no one joining, but of the count.
    const listed = await fetch(`${t.url}/api/v1/rooms`, { headers: AUTH }).then((r) => r.json());
    const stage = listed.rooms.find((r: { name: string }) => r.name === 'stage');
    assert.equal(stage.participants, 1);
    // Three layers, and the speaker stops sending the two nobody is sent.
    const layers = async () => {
      const room = await fetch(`${t.url}/api/v1/rooms/stage`, { headers: AUTH }).then((r) => r.json());
      const camera = room.participants[0].tracks.find((tr: { source: string }) => tr.source === 'camera');
      return JSON.stringify(camera.layers.map((l: { rid: string; paused: boolean }) => [l.rid, l.paused]));
    };
    await eventually(
      'the two larger layers paused',
      async () =>
        (await layers()) ===
        JSON.stringify([
          ['q', false],
          ['h', true],
          ['f', true],
        ]),
      20_000,
    );
    assert.ok(
      bot.simulcast!.layers.every((l) => l.active === (l.rid === 'q')),
      'the speaker sends its smallest layer only',
    );
    assert.equal(stage.viewers, VIEWERS);
    assert.deepEqual(joined, []);
    await eventually('the speaker is told the audience’s size', () => bot.room.viewers === VIEWERS, 10_000);
    const packets = viewers.reduce((n, v) => n + v.tap.packets, 0);
    const verified = viewers.reduce((n, v) => n + v.tap.verified, 0);
    console.log(`# ${VIEWERS} viewers receiving: ${packets} packets, ${verified} sampled and decrypted`);
  });

  it('lets one more viewer in past the participant limit, up to the viewer limit', async () => {
    // The room takes 2 participants: a 301st viewer is not one of them.
    viewers.push(await watch(t.url, 'stage', 'viewer-extra', sink));
    await eventually('the extra viewer receives', () => viewers.at(-1)!.tap.streams.size >= 2, 30_000);
    // The viewer limit (301 here) is the one that applies.
    await assert.rejects(
      watch(t.url, 'stage', 'one-too-many', sink),
      (error: unknown) => error instanceof ServerError && error.code === 'VIEWERS_FULL',
    );
  });

  it('refuses what a viewer sends to the room, naming why', async () => {
    const viewer = viewers[0]!.room;
    const refused: string[] = [];
    viewer.on('error', (error) => refused.push(error instanceof ServerError ? error.code : String(error)));
    viewer.sendChat('hello from the audience');
    await eventually('the chat is refused', () => refused.includes('VIEWER_CANNOT'), 10_000);
    await assert.rejects(
      viewer.react('👏'),
      (error: unknown) => error instanceof ServerError && error.code === 'VIEWER_CANNOT',
    );
    // The viewer is still watching.
    const before = viewers[0]!.tap.packets;
    await eventually('it still receives', () => viewers[0]!.tap.packets > before + 20, 10_000);
  });

  it('keeps a room open for a viewer who came before anyone speaks, and sends the speaker when they come', async () => {
    const early = await watch(t.url, 'early', 'early-viewer', sink);
    viewers.push(early);
    // Longer than an empty room is kept (500 ms in these tests): the viewer holds it open.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const speaker = await Bot.start({
      url: t.url,
      room: 'early',
      name: 'late speaker',
      hostAddresses: LOOPBACK,
    });
    try {
      await eventually('the early viewer receives the speaker', () => early.tap.streams.size >= 2, 30_000);
      assert.deepEqual(
        [...early.room.participants.values()].map((p) => p.name),
        ['late speaker'],
      );
    } finally {
      await speaker.stop();
    }
  });

  it('counts viewers leaving, and tells nobody who', async () => {
    const left: string[] = [];
    bot.room.on('participantLeft', (p) => left.push(p.name));
    const leaving = viewers.splice(0, 100);
    await Promise.all(leaving.map((v) => v.room.leave()));
    const staying = viewers.filter((v) => v.room.name === 'stage').length;
    await eventually('the speaker is told the smaller audience', () => bot.room.viewers === staying, 10_000);
    assert.deepEqual(left, []);
  });
});

describe('a viewer by access token', () => {
  const secret = 'viewer-token-secret-0123456789abcdef';
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ auth: { mode: 'secured', apiKey: 'viewer-token-key', apiSecret: secret } });
  });
  after(async () => {
    await t?.close();
  });

  it('joins the audience whatever its join says, and cannot publish', async () => {
    const token = async (identity: string, role: 'host' | 'viewer') =>
      (await createAccessToken(secret, { room: 'keynote', identity, role, ttlSeconds: 600 })).token;
    const host = await Bot.start({
      url: t.url,
      room: 'keynote',
      name: 'host',
      hostAddresses: LOOPBACK,
      token: await token('host', 'host'),
    });
    try {
      const joined: string[] = [];
      host.room.on('participantJoined', (p) => joined.push(p.name));
      // Asks to join as a participant; the token says viewer.
      const viewer = await connectNode({
        url: t.url,
        room: 'keynote',
        name: 'guest',
        hostAddresses: LOOPBACK,
        token: await token('watcher', 'viewer'),
      });
      try {
        assert.equal(viewer.role, 'viewer');
        assert.equal(viewer.canPublish, false);
        await eventually('the host is told of one viewer', () => host.room.viewers === 1, 10_000);
        assert.deepEqual(joined, []);
        await assert.rejects(
          viewer.publishTrack(new MediaStreamTrack({ kind: 'audio' }), 'microphone'),
          (error: unknown) => error instanceof ServerError && error.code === 'VIEWER_CANNOT',
        );
      } finally {
        await viewer.leave();
      }
    } finally {
      await host.stop();
    }
  });
});

/** A bot in the audience: it publishes nothing and records what it receives. */
const viewerBot = (url: string, room: string, name: string) =>
  Bot.start({ url, room, name, hostAddresses: LOOPBACK, viewer: true, video: false, audio: false });

describe('the stage', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  it('brings a viewer with a raised hand on stage, and sends them back to the audience', async () => {
    const host = await Bot.start({ url: t.url, room: 'panel', name: 'Hosting', hostAddresses: LOOPBACK });
    const vi = await viewerBot(t.url, 'panel', 'Vi');
    try {
      assert.equal(host.room.role, 'host');
      const left: string[] = [];
      host.room.on('participantLeft', (p) => left.push(p.name));
      // Vi watches, raises a hand; the host sees it, with Vi's name.
      await eventually(
        'Vi receives the host',
        () => vi.receivedFrom(host.room.participantId).length >= 2,
        20_000,
      );
      await vi.room.raiseHand(true);
      await eventually('the host sees the hand', () => host.room.audienceHands.size === 1, 10_000);
      const [[viId, hand]] = [...host.room.audienceHands];
      assert.equal(hand.name, 'Vi');
      assert.equal(viId, vi.room.participantId);

      // On stage: Vi is a guest who may publish, the host sees Vi join, and Vi's screen reaches the host.
      const onStage = new Promise<boolean>((resolve) => vi.room.once('stage', resolve));
      await host.room.setOnStage(viId, true);
      assert.equal(await onStage, true);
      assert.equal(vi.room.role, 'guest');
      assert.equal(vi.room.canPublish, true);
      await eventually('the host sees Vi in the call', () => host.room.participants.has(viId), 10_000);
      assert.equal(host.room.audienceHands.size, 0, 'the hand went down');
      await vi.shareScreen();
      await eventually(
        'the host receives frames from Vi',
        () => host.receivedFrom(viId).some((r) => r.frames > 5),
        20_000,
      );

      // Back to the audience: Vi's screen ends, Vi leaves the call but keeps watching.
      const offStage = new Promise<boolean>((resolve) => vi.room.once('stage', resolve));
      await host.room.setOnStage(viId, false);
      assert.equal(await offStage, false);
      assert.equal(vi.room.role, 'viewer');
      await eventually('Vi is out of the host’s call', () => !host.room.participants.has(viId), 10_000);
      assert.deepEqual(left, ['Vi']);
      const before = vi.receivedFrom(host.room.participantId).reduce((n, r) => n + r.packets, 0);
      await eventually(
        'Vi still receives the host',
        () => vi.receivedFrom(host.room.participantId).reduce((n, r) => n + r.packets, 0) > before + 50,
        10_000,
      );
      await eventually('the host is told of one viewer again', () => host.room.viewers === 1, 10_000);
    } finally {
      await vi.stop();
      await host.stop();
    }
  });

  it('lets only a host bring someone on stage', async () => {
    const host = await Bot.start({ url: t.url, room: 'panel-2', name: 'Hosting', hostAddresses: LOOPBACK });
    const guest = await Bot.start({
      url: t.url,
      room: 'panel-2',
      name: 'Guest',
      hostAddresses: LOOPBACK,
      video: false,
    });
    const vi = await viewerBot(t.url, 'panel-2', 'Vi');
    try {
      await assert.rejects(
        guest.room.setOnStage(vi.room.participantId, true),
        (error: unknown) => error instanceof ServerError && error.code === 'NOT_HOST',
      );
      await assert.rejects(
        vi.room.setOnStage(vi.room.participantId, true),
        (error: unknown) => error instanceof ServerError && error.code === 'VIEWER_CANNOT',
      );
      await assert.rejects(
        host.room.setOnStage(host.room.participantId, false),
        (error: unknown) => error instanceof ServerError && error.code === 'BAD_REQUEST',
      );
      assert.equal(vi.room.role, 'viewer');
    } finally {
      await vi.stop();
      await guest.stop();
      await host.stop();
    }
  });
});
