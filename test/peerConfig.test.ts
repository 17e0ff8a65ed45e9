import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { icePortSearch, peerConfig } from '../src/sfu/peerConfig.js';
import { LOOPBACK } from './helpers/server.js';

describe('ICE port search', () => {
  it('starts each search after the previous one and wraps before the top of the range', () => {
    const first = icePortSearch(41000, 41040);
    assert.deepEqual(first, [41000, 41040]);
    assert.deepEqual(icePortSearch(41000, 41040), [41001, 41040]);
    for (let i = 0; i < 23; i++) icePortSearch(41000, 41040);
    // 41025 would leave fewer than 16 ports to try: the search starts at the bottom again.
    assert.deepEqual(icePortSearch(41000, 41040), [41000, 41040]);
    assert.deepEqual(icePortSearch(41000, 41040), [41001, 41040], 'another range keeps its own place');
  });

  it('a new connection gets a free port past many taken ones', async () => {
    const taken: Socket[] = [];
    for (let port = 41100; port < 41160; port++) {
      const s = createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(port, '127.0.0.1', () => resolve()));
      taken.push(s);
    }
    const settings = { minPort: 41100, maxPort: 41400, hostAddresses: LOOPBACK };
    // The first search in this range starts at the bottom: past 60 taken ports.
    const pcs = [new RTCPeerConnection(peerConfig(settings)), new RTCPeerConnection(peerConfig(settings))];
    try {
      const ports: number[] = [];
      for (const pc of pcs) {
        pc.addTransceiver('audio', { direction: 'recvonly' });
        await pc.setLocalDescription(await pc.createOffer());
        const port = Number(
          /a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host/.exec(pc.localDescription!.sdp)?.[1],
        );
        ports.push(port);
      }
      assert.ok(
        ports.every((p) => p >= 41160 && p <= 41400),
        `ports ${ports.join(', ')} are free ones in range`,
      );
      assert.notEqual(ports[0], ports[1]);
    } finally {
      for (const pc of pcs) await pc.close();
      for (const s of taken) s.close();
    }
  });
});
