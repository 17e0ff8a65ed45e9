/**
 * ICE ufrags of 48 random bits (src/werift/iceUfrag.ts): werift's own are 4 hex digits, and with every
 * connection's checks routed by ufrag on one UDP port, two of 300 connections shared one about every other
 * time, and one of them never connected.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, RTCPeerConnection } from 'werift';
import '../src/werift/install.js';
import { peerConfig } from '../src/sfu/peerConfig.js';
import { LOOPBACK } from './helpers/server.js';

const ufragOf = (sdp: string) => /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];

describe('ICE ufrags', () => {
  it('are 12 hex digits in a server connection offer, and new ones after an ICE restart', async () => {
    const pc = new RTCPeerConnection(peerConfig({ minPort: 42300, maxPort: 42400, hostAddresses: LOOPBACK }));
    try {
      pc.addTransceiver('video', { direction: 'sendonly' });
      const first = ufragOf((await pc.createOffer()).sdp);
      assert.match(first ?? '', /^[0-9a-f]{12}$/, `ufrag ${first}`);
      await pc.setLocalDescription(await pc.createOffer());
      assert.equal(ufragOf(pc.localDescription!.sdp), first, 'the offer made keeps it');
      const restarted = ufragOf((await pc.createOffer({ iceRestart: true })).sdp);
      assert.match(restarted ?? '', /^[0-9a-f]{12}$/, `ufrag after the restart ${restarted}`);
      assert.notEqual(restarted, first);
    } finally {
      await pc.close();
    }
  });

  it('do not repeat among 20,000 connections (werift made 65,536 different ones at most)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const c = new Connection(true, {}) as unknown as {
        localUsername: string;
        localPassword: string;
        userHistory: Record<string, string>;
      };
      assert.equal(c.userHistory[c.localUsername], c.localPassword, 'its checks find its password');
      assert.equal(Object.keys(c.userHistory).length, 1, "werift's short ufrag is forgotten");
      seen.add(c.localUsername);
    }
    assert.equal(seen.size, 20_000);
  });
});
