import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RTCPeerConnection } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import { type ImpairedPeer, impairPeerConnection } from './helpers/impairProxy.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

/**
 * A client that (re)joins while its path is down never gets its media up, and the server ends it after
 * `limits.connectTimeoutMs` (CONNECT_TIMEOUT). The soak saw a bot in a capped namespace join again during
 * a 5-minute cap, be ended that way after the cap was lifted, and stay out of the call for good. It must
 * join again, as after a `bye` with `rejoin`.
 */
describe('a join whose media never connected', () => {
  let t: TestServer;
  let other: Bot;
  let cut: Bot;
  const links: ImpairedPeer[] = [];
  let rejoined = 0;

  before(async () => {
    // Long enough for the clean new join to connect on a busy machine (a short one would end it too).
    t = await startTestServer({ limits: { connectTimeoutMs: 10_000 } });
    other = await Bot.start({ url: t.url, room: 'dead', name: 'other', hostAddresses: LOOPBACK });
    let made = 0;
    cut = await Bot.start({
      url: t.url,
      room: 'dead',
      name: 'cut',
      hostAddresses: LOOPBACK,
      // The first session's two connections lose everything; those of a new join are clean.
      onPeerConnection: (pc: RTCPeerConnection) =>
        links.push(impairPeerConnection(pc, made++ < 2 ? { loss: 1 } : {})),
    });
    cut.room.on('rejoined', () => rejoined++);
  });

  after(async () => {
    await cut?.stop();
    await other?.stop();
    for (const link of links) link.close();
    await t?.close();
  });

  const framesFrom = (receiver: Bot, name: string) =>
    [...receiver.received.values()]
      .filter((r) => receiver.room.participants.get(r.participantId)?.name === name)
      .reduce((n, r) => n + r.frames, 0);

  it('joins again, and media flows both ways', async () => {
    await eventually('the cut bot joined again', () => rejoined > 0, 60_000);
    await eventually(
      'frames both ways after the new join',
      () => framesFrom(cut, 'other') > 10 && framesFrom(other, 'cut') > 10,
      60_000,
    );
    assert.notEqual(cut.room.state, 'disconnected');
  });
});
