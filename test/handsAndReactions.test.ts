/**
 * Raise hand and reactions: raised hands form a queue everyone sees in the same order (a newcomer too),
 * a host lowers someone's hand and a guest may not; reactions reach everyone, are a fixed few, and are
 * limited to five in ten seconds, past which the room goes on and nobody gets the extra ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectNode, ServerError } from '../src/client/node.js';
import type { Reaction } from '../src/protocol/messages.js';
import { eventually, LOOPBACK, startTestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const join = (url: string, room: string, name: string) =>
  connectNode({ url, room, name, hostAddresses: LOOPBACK });

describe('raise hand and reactions', () => {
  it('queues raised hands in order for everyone, and lets a host lower one', async () => {
    const t = await startTestServer();
    const host = await join(t.url, 'hands', 'Hana');
    const a = await join(t.url, 'hands', 'Ann');
    const b = await join(t.url, 'hands', 'Bob');
    try {
      assert.equal(host.role, 'host');
      await b.raiseHand(true);
      await a.raiseHand(true);
      // Everyone sees the same queue: Bob first, then Ann.
      const queue = (room: typeof host) =>
        [...room.participants.values()]
          .filter((p) => p.hand !== undefined)
          .sort((x, y) => x.hand! - y.hand!)
          .map((p) => p.name);
      await eventually('the host sees both hands in order', () => queue(host).join() === 'Bob,Ann');
      await eventually('Ann sees Bob’s hand', () => queue(a).join() === 'Bob');
      assert.ok(a.hand !== undefined && b.hand !== undefined && b.hand < a.hand, 'each knows their place');
      // A newcomer gets the queue with the room.
      const late = await join(t.url, 'hands', 'Cy');
      assert.equal(queue(late).join(), 'Bob,Ann');

      // A guest cannot lower someone else's hand; the host can.
      await assert.rejects(
        a.lowerHand(b.participantId),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      const lowered = new Promise<string | undefined>((resolve) =>
        b.on('hand', (id, hand, by) => id === b.participantId && hand === undefined && resolve(by)),
      );
      await host.lowerHand(b.participantId);
      assert.equal(await lowered, host.participantId, 'Bob hears the host lowered his hand');
      await eventually(
        'Bob’s hand is down for all',
        () => queue(late).join() === 'Ann' && b.hand === undefined,
      );
      // Ann lowers her own; raising again goes to the back of the queue.
      await a.raiseHand(false);
      await b.raiseHand(true);
      await a.raiseHand(true);
      await eventually('the new queue', () => queue(late).join() === 'Bob,Ann');
      await late.leave();
    } finally {
      for (const r of [host, a, b]) await r.leave();
      await t.close();
    }
  });

  it('sends reactions to everyone, five in ten seconds at most, and only the allowed few', async () => {
    const t = await startTestServer();
    const a = await join(t.url, 'cheers', 'Ann');
    const b = await join(t.url, 'cheers', 'Bob');
    try {
      const seen: Reaction[] = [];
      b.on('reaction', (id, emoji) => id === a.participantId && seen.push(emoji));
      for (const emoji of ['👍', '👏', '😂', '❤️', '🎉'] as const) await a.react(emoji);
      await assert.rejects(
        a.react('😮'),
        (e: unknown) => e instanceof ServerError && e.code === 'TOO_MANY_REACTIONS',
      );
      await eventually('Bob saw the five', () => seen.length === 5);
      assert.deepEqual(seen, ['👍', '👏', '😂', '❤️', '🎉']);
      // The room goes on: chat still flows from Ann, and the sixth reaction reached nobody.
      const chat = new Promise<string>((resolve) => b.once('chat', (m) => resolve(m.text)));
      a.sendChat('still here');
      assert.equal(await chat, 'still here');
      assert.equal(seen.length, 5);

      // Anything but the fixed reactions is refused at the edge: no text rides in a reaction.
      const raw = await RawClient.open(t.url);
      raw.send({ type: 'join', v: 1, room: 'cheers', name: 'Eve' });
      await raw.next((m) => m.type === 'joined');
      const bad = await raw.expectError({ type: 'react', emoji: 'buy crypto', rid: 2 });
      assert.equal(bad.code, 'INVALID_MESSAGE');
      assert.match(bad.message, /emoji/);
      raw.ws.close();
    } finally {
      await a.leave();
      await b.leave();
      await t.close();
    }
  });

  it('lets a host put one person in the spotlight for everyone, until they leave', async () => {
    const t = await startTestServer();
    const host = await join(t.url, 'stage', 'Hana');
    const a = await join(t.url, 'stage', 'Ann');
    const b = await join(t.url, 'stage', 'Bob');
    try {
      await assert.rejects(
        b.spotlight(a.participantId),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      await assert.rejects(
        host.spotlight('PA_nobody'),
        (e: unknown) => e instanceof ServerError && e.code === 'PARTICIPANT_NOT_FOUND',
      );
      await host.spotlight(a.participantId);
      for (const r of [host, a, b])
        await eventually(
          `${r.displayName} sees Ann in the spotlight`,
          () => r.roomState.spotlight === a.participantId,
        );
      const late = await join(t.url, 'stage', 'Cy');
      assert.equal(late.roomState.spotlight, a.participantId, 'a newcomer sees the spotlight');
      await a.leave();
      await eventually('the spotlight goes out with Ann', () => late.roomState.spotlight === undefined);
      await host.spotlight(b.participantId);
      await eventually('Bob now', () => late.roomState.spotlight === b.participantId);
      await host.spotlight(null);
      await eventually(
        'and off',
        () => late.roomState.spotlight === undefined && b.roomState.spotlight === undefined,
      );
      await late.leave();
    } finally {
      for (const r of [host, b]) await r.leave();
      await t.close();
    }
  });
});
