import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaStreamTrack } from 'werift';
import { connectNode } from '../src/client/node.js';
import { eventually, LOOPBACK, startInThreadServer } from './helpers/server.js';

describe('client SDK', () => {
  it('publishes a camera and a microphone published together in one offer', async () => {
    const t = await startInThreadServer();
    const alice = await connectNode({ url: t.url, room: 'pair', name: 'Alice', hostAddresses: LOOPBACK });
    const bob = await connectNode({ url: t.url, room: 'pair', name: 'Bob', hostAddresses: LOOPBACK });
    try {
      const room = t.rooms.host.registry.rooms.get('pair')!;
      let offers = 0;
      const publish = room.publish.bind(room);
      room.publish = (...args: Parameters<typeof room.publish>) => {
        offers++;
        return publish(...args);
      };
      const [camera, microphone] = await Promise.all([
        alice.publishTrack(new MediaStreamTrack({ kind: 'video' }), 'camera'),
        alice.publishTrack(new MediaStreamTrack({ kind: 'audio' }), 'microphone'),
      ]);
      assert.equal(offers, 1, 'one publisher offer carried both tracks');
      assert.ok(camera.id && microphone.id && camera.id !== microphone.id, 'each track got its id');
      await eventually(
        'Bob is told of both tracks',
        () => bob.participants.get(alice.participantId)?.tracks.size === 2,
      );
      // A track published later is negotiated on its own.
      await alice.publishTrack(new MediaStreamTrack({ kind: 'video' }), 'screen');
      assert.equal(offers, 2);
    } finally {
      await alice.leave();
      await bob.leave();
      await t.close();
    }
  });
});
