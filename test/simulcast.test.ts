/**
 * Simulcast through the SFU, with werift peers: a publisher sends its camera in three layers (320×180,
 * 640×360, 1280×720, each its own RTP stream named by its rid) and each subscriber gets the one layer that
 * fits the size it shows the video at. What a subscriber's decoder sees is one stream: a switch happens at
 * a keyframe of the new layer, and sequence numbers, timestamps and VP8 picture ids go on without a jump.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaStreamTrack, RtpPacket } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import type { RemoteTrack } from '../src/client/tracks.js';
import { vp8Indices } from '../src/media/vp8.js';
import type { LayerInfo } from '../src/sfu/index.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'simulcast-test-key-0123456789';

/** What a subscriber saw of one video, packet by packet. */
interface Seen {
  seq: number;
  timestamp: number;
  pictureId: number;
  /** The first packet of a frame (S=1, partition 0). */
  frameStart: boolean;
}

function record(track: RemoteTrack<MediaStreamTrack>): Seen[] {
  const seen: Seen[] = [];
  track.mediaTrack!.onReceiveRtp.subscribe((rtp: RtpPacket) => {
    seen.push({
      seq: rtp.header.sequenceNumber,
      timestamp: rtp.header.timestamp,
      pictureId: vp8Indices(rtp.payload)?.pictureId ?? -1,
      frameStart: (rtp.payload[0]! & 0x1f) === 0x10,
    });
  });
  return seen;
}

/**
 * Fails when the packets seen do not read as one stream: a sequence number, timestamp or picture id that
 * jumps (each layer's start at random values, so a seam left unmended jumps by thousands). A packet lost
 * on a busy machine, and its retransmission coming late, are a few numbers off and pass.
 */
function assertContinuous(seen: Seen[], what: string): void {
  const near = (d: number, modulo: number) => Math.min(d, modulo - d);
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!;
    const b = seen[i]!;
    const seqStep = near((b.seq - a.seq) & 0xffff, 0x10000);
    assert.ok(seqStep <= 64, `${what}: sequence numbers go on (at ${i}: ${a.seq} → ${b.seq})`);
    const step = (b.timestamp - a.timestamp) >>> 0;
    const back = 0x1_0000_0000 - step;
    assert.ok(
      step < 90_000 * 60 || back < 90_000,
      `${what}: timestamps go forward (at ${i}: ${a.timestamp} → ${b.timestamp})`,
    );
    if (a.pictureId >= 0 && b.pictureId >= 0) {
      const ids = near((b.pictureId - a.pictureId) & 0x7fff, 0x8000);
      assert.ok(ids <= 8, `${what}: picture ids go on (at ${i}: ${a.pictureId} → ${b.pictureId})`);
    }
  }
}

describe('simulcast: a layer for each subscriber', () => {
  let t: TestServer;
  let speaker: Bot;
  const bots: Bot[] = [];

  before(async () => {
    t = await startTestServer({
      auth: { apiKey: API_KEY, apiSecret: 'simulcast-test-secret-0123456789abcdef' },
    });
    speaker = await Bot.start({
      url: t.url,
      room: 'layers',
      name: 'speaker',
      simulcast: true,
      audio: false,
      hostAddresses: LOOPBACK,
    });
  });
  after(async () => {
    await Promise.allSettled(bots.map((b) => b.stop()));
    await speaker?.stop();
    await t?.close();
  });

  async function layers(): Promise<LayerInfo[]> {
    const room = await fetch(`${t.url}/api/v1/rooms/layers`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    }).then((r) => r.json());
    return room.participants?.[0]?.tracks?.[0]?.layers ?? [];
  }

  async function viewer(name: string): Promise<{ bot: Bot; track: RemoteTrack<MediaStreamTrack> }> {
    const bot = await Bot.start({
      url: t.url,
      room: 'layers',
      name,
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    bots.push(bot);
    let track: RemoteTrack<MediaStreamTrack> | undefined;
    await eventually(`${name} receives the speaker's camera`, () => {
      for (const p of bot.room.participants.values())
        for (const tr of p.tracks.values()) if (tr.mediaTrack && tr.kind === 'video') track = tr;
      return track !== undefined;
    });
    return { bot, track: track! };
  }

  const received = (bot: Bot) => [...bot.received.values()].find((r) => r.kind === 'video');

  it('receives three layers, each flowing, each its own size', async () => {
    await eventually('the server sees three layers flowing', async () => {
      const now = await layers();
      return now.length === 3 && now.every((l) => l.flowing && l.width > 0);
    });
    const now = await layers();
    assert.deepEqual(
      now.map((l) => [l.rid, l.width, l.height]),
      [
        ['q', 320, 180],
        ['h', 640, 360],
        ['f', 1280, 720],
      ],
    );
    for (const l of now) assert.ok(l.bitrate > 0, `layer ${l.rid} has a bitrate`);
  });

  it('sends each subscriber the layer that fits its view, switching without a seam', async () => {
    const ann = await viewer('ann');
    const bob = await viewer('bob');
    const seen = record(ann.track);
    // No size said: the largest layer.
    await eventually('ann gets 1280×720', () => received(ann.bot)?.width === 1280);
    // A small tile: the smallest layer that fills it.
    ann.bot.room.setVideoSize(ann.track.id, 300, 170);
    await eventually('ann gets 320×180', () => received(ann.bot)?.width === 320);
    const framesAtSmall = received(ann.bot)!.frames;
    await eventually('ann’s small picture moves', () => received(ann.bot)!.frames > framesAtSmall + 10);
    // In between: the middle one. Then large again.
    ann.bot.room.setVideoSize(ann.track.id, 600, 340);
    await eventually('ann gets 640×360', () => received(ann.bot)?.width === 640);
    ann.bot.room.setVideoSize(ann.track.id, 1920, 1080);
    await eventually('ann gets 1280×720 again', () => received(ann.bot)?.width === 1280);
    const framesAtLarge = received(ann.bot)!.frames;
    await eventually('ann’s large picture moves', () => received(ann.bot)!.frames > framesAtLarge + 10);
    assertContinuous(seen, 'ann, across three switches');
    // Bob said nothing: he kept the largest layer all along, every frame whole.
    assert.equal(received(bob.bot)!.width, 1280);
    assert.equal(received(bob.bot)!.startedWithKeyframe, true);
    // The switches asked each layer for a keyframe (its own SSRC's PLI reached the publisher's layer).
    const asked = speaker.simulcast!.layers.map((l) => l.keyframeRequests);
    assert.ok(asked[0]! > 0 && asked[1]! > 0, `keyframe requests per layer: ${asked}`);
  });

  it('has the publisher stop the layers nobody is sent, and send one again when someone needs it', async () => {
    const dan = await viewer('dan');
    const eve = await viewer('eve');
    for (const bot of bots) {
      const video = [...bot.room.participants.values()][0]!.tracks.values().next().value!;
      bot.room.setVideoSize(video.id, 320, 180);
    }
    const layer = (rid: string) => speaker.simulcast!.layers.find((l) => l.rid === rid)!;
    await eventually(
      'the speaker stops sending its two larger layers',
      () => !layer('h').active && !layer('f').active,
    );
    const sent = layer('f').packetsSent;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(layer('f').packetsSent, sent, 'no packet of a paused layer');
    assert.ok(layer('q').active, 'the smallest layer is always sent');
    const paused = (await layers()).map((l) => [l.rid, l.paused]);
    assert.deepEqual(paused, [
      ['q', false],
      ['h', true],
      ['f', true],
    ]);
    // Eve's window grows: the largest layer comes back, for her only.
    eve.bot.room.setVideoSize(eve.track.id, 1920, 1080);
    await eventually('eve gets 1280×720 again', () => received(eve.bot)?.width === 1280);
    assert.ok(layer('f').active);
    assert.equal(received(dan.bot)?.width, 320, 'dan keeps the small layer');
  });

  it('sends no video to a subscriber that shows it nowhere, and starts again at a keyframe', async () => {
    const cat = await viewer('cat');
    const seen = record(cat.track);
    await eventually('cat gets video', () => (received(cat.bot)?.frames ?? 0) > 5);
    cat.bot.room.setVideoSize(cat.track.id, 0, 0);
    // Packets already on their way may still come; then nothing for seconds.
    let last = received(cat.bot)!.packets;
    await eventually('no more video comes', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const now = received(cat.bot)!.packets;
      const still = now === last;
      last = now;
      return still;
    });
    const before = seen.length;
    cat.bot.room.setVideoSize(cat.track.id, 320, 180);
    await eventually(
      'video comes again, small',
      () => received(cat.bot)!.width === 320 && seen.length > before + 20,
    );
    assert.ok(seen[before]!.frameStart, 'the first packet after the pause starts a frame');
    assertContinuous(seen, 'cat, across the pause');
  });
});
