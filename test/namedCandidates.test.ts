import assert from 'node:assert/strict';
import { Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import { nodePeerConfig } from '../src/client/node.js';
import { ClipSource } from '../src/media/ClipSource.js';
import { isNamedCandidate, withoutNamedCandidates } from '../src/media/sdpCheck.js';
import { eventually, type InThreadTestServer, LOOPBACK, startInThreadServer } from './helpers/server.js';
import { SDP } from './helpers/whip.js';

/** multicast DNS: werift resolves a ".local" name on a socket bound to this port. */
const MDNS_PORT = 5353;

describe('ICE candidates named by host name', () => {
  it('are told from IP literals and taken out of a session description', () => {
    assert.equal(isNamedCandidate('candidate:1 1 udp 2122260223 5f1c3b2a-9d1e.local 54321 typ host'), true);
    assert.equal(isNamedCandidate('a=candidate:1 1 udp 2122260223 turn.example.org 3478 typ relay'), true);
    assert.equal(isNamedCandidate('candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host'), false);
    assert.equal(isNamedCandidate('candidate:1 1 udp 2122260223 ::1 54321 typ host'), false);
    const lines = (named: boolean) =>
      [
        'v=0',
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        ...(named ? ['a=candidate:1 1 udp 2122260223 5f1c3b2a-9d1e.local 54321 typ host'] : []),
        'a=candidate:2 1 udp 2122260223 127.0.0.1 54322 typ host',
        'a=mid:0',
        '',
      ].join('\r\n');
    assert.equal(withoutNamedCandidates(lines(true)), lines(false));
  });

  describe('from a client', () => {
    let t: InThreadTestServer;
    const bound: unknown[] = [];
    const realBind = Socket.prototype.bind;

    before(async () => {
      t = await startInThreadServer();
      Socket.prototype.bind = function (this: Socket, ...args: unknown[]) {
        const a = args[0];
        bound.push(typeof a === 'object' && a !== null ? (a as { port?: number }).port : a);
        return (realBind as (...x: unknown[]) => Socket).apply(this, args);
      } as typeof realBind;
    });
    after(async () => {
      Socket.prototype.bind = realBind;
      await t.close();
    });

    it('a publisher whose offer names its address only by mDNS joins, found from its checks, and nothing is resolved', async () => {
      const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
      const source = new ClipSource({ video: true, audio: false });
      const video = new MediaStreamTrack({ kind: 'video' });
      source.onVideoRtp((rtp) => video.writeRtp(rtp));
      pc.addTransceiver(video, { direction: 'sendonly' });
      try {
        await pc.setLocalDescription(await pc.createOffer());
        // As a browser without camera permission writes it: the host candidate under an mDNS name.
        const offer = pc.localDescription!.sdp.replace(
          / 127\.0\.0\.1 (\d+) typ host/g,
          ' 0d2b8f3e-5a61-4c1e.local $1 typ host',
        );
        assert.match(offer, /\.local \d+ typ host/);
        assert.doesNotMatch(offer, / 127\.0\.0\.1 \d+ typ host/);
        const response = await fetch(`${t.url}/whip/named?name=viewer`, {
          method: 'POST',
          headers: SDP,
          body: offer,
        });
        assert.equal(response.status, 201, await response.clone().text());
        await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
        source.start();
        await eventually('the connection to come up', () => pc.connectionState === 'connected', 10_000);
        // The server gets the publisher's video: its track is published in the room.
        await eventually(
          'the published track in the room',
          () =>
            [...(t.rooms.host.registry.rooms.get('named')?.participants.values() ?? [])].some(
              (p) => p.session.publishedTracks.length > 0,
            ),
          5000,
        );
        assert.ok(!bound.includes(MDNS_PORT), `a socket was bound to port ${MDNS_PORT} (multicast DNS)`);
      } finally {
        source.stop();
        await pc.close();
      }
    });
  });
});
