import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { nodePeerConfig } from '../src/client/node.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { SDP, whipPublish } from './helpers/whip.js';

/**
 * The server answers an offer as the DTLS server (`a=setup:passive`), so the client's handshake starts as
 * soon as ICE is up: werift as the DTLS client waits 100 ms before its first message.
 */
describe('DTLS role in the server’s answers', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('a WHIP publisher’s offer (actpass) is answered passive, and its media reaches the room', async () => {
    const whip = await whipPublish(t.url, 'dtls', 'Cam');
    try {
      assert.match(whip.pc.localDescription!.sdp, /a=setup:actpass/);
      assert.match(whip.pc.remoteDescription!.sdp, /a=setup:passive/);
      assert.doesNotMatch(whip.pc.remoteDescription!.sdp, /a=setup:active/);
      await eventually(
        'the server receives the publisher’s packets',
        () =>
          [...(t.server.registry.rooms.get('dtls')?.participants.values() ?? [])].some((p) =>
            p.session.publishedTracks.some((track) => track.packetsReceived > 0),
          ),
        10_000,
      );
    } finally {
      await whip.stop();
    }
  });

  it('a WHEP player’s offer is answered passive and connects', async () => {
    const whip = await whipPublish(t.url, 'dtls-play', 'Cam');
    const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(`${t.url}/whep/dtls-play`, {
        method: 'POST',
        headers: SDP,
        body: pc.localDescription!.sdp,
      });
      assert.equal(r.status, 201, await r.clone().text());
      const answer = await r.text();
      assert.match(answer, /a=setup:passive/);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      await eventually('the WHEP connection to come up', () => pc.connectionState === 'connected', 10_000);
    } finally {
      await pc.close();
      await whip.stop();
    }
  });
});
