import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { type ImpairedPeer, impairPeerConnection } from './helpers/impairProxy.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One-way delay added once the call is up: a 1.4 s round trip, where the first checks measured ~1 ms. */
const DELAY_MS = 700;
/** ICE consent expires 30 s after the last answer (RFC 7675 §5.1); watch past that, with room to spare. */
const WATCH_MS = 45_000;

/**
 * A path whose delay grows after the call started (a queue building up behind a capped uplink, or, as in
 * the soak, a machine so busy that the server and the bots answer late) keeps its connections: every ICE
 * consent check is answered, only later than werift waited for (src/werift/consentWait.ts). Without that,
 * both ends declared consent expired after 30 s, media stopped, and the others saw the participant
 * `reconnecting`.
 */
describe('ICE consent over a path whose delay grew', () => {
  let t: TestServer;
  let near: Bot;
  let slow: Bot;
  const links: ImpairedPeer[] = [];

  before(async () => {
    t = await startTestServer();
    near = await Bot.start({ url: t.url, room: 'slow', name: 'near', hostAddresses: LOOPBACK });
    slow = await Bot.start({
      url: t.url,
      room: 'slow',
      name: 'slow',
      hostAddresses: LOOPBACK,
      onPeerConnection: (pc) => links.push(impairPeerConnection(pc, {})),
    });
  });

  after(async () => {
    await slow?.stop();
    await near?.stop();
    for (const link of links) link.close();
    await t?.close();
  });

  const framesFrom = (receiver: Bot, sender: Bot) =>
    receiver.receivedFrom(sender.room.participantId).reduce((n, r) => n + r.frames, 0);

  it('stays connected, and media keeps flowing both ways, past the consent timeout', async () => {
    await eventually('frames both ways', () => framesFrom(near, slow) > 10 && framesFrom(slow, near) > 10);
    const lost: string[] = [];
    slow.room.on('connectionState', (state) => {
      if (state !== 'connected') lost.push(`slow: ${state}`);
    });
    near.room.on('participantState', (p) => {
      if (p.state !== 'connected') lost.push(`near sees ${p.name}: ${p.state}`);
    });
    for (const link of links)
      for (const stage of [link.send, link.receive]) stage.options = { delayMs: DELAY_MS };
    await sleep(WATCH_MS);
    assert.deepEqual(lost, [], 'nobody lost the connection');
    const before = { down: framesFrom(slow, near), up: framesFrom(near, slow) };
    await eventually(
      'frames still advancing both ways',
      () => framesFrom(slow, near) >= before.down + 30 && framesFrom(near, slow) >= before.up + 30,
    );
  });
});
