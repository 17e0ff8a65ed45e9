import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { nodePeerConfig } from '../src/client/node.js';
import { peerConfig } from '../src/sfu/peerConfig.js';
import { LOOPBACK } from './helpers/server.js';

/** Host names werift looked up (it resolves a STUN server's name with dns.promises.lookup). */
const lookedUp: string[] = [];
const realLookup = dnsPromises.lookup;

async function gather(pc: RTCPeerConnection): Promise<string> {
  pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  while (pc.iceGatheringState !== 'complete') await new Promise((resolve) => setTimeout(resolve, 5));
  return pc.localDescription!.sdp;
}

describe('no STUN server unless configured', () => {
  before(() => {
    dnsPromises.lookup = ((hostname: string, ...rest: unknown[]) => {
      lookedUp.push(hostname);
      return (realLookup as (...args: unknown[]) => unknown)(hostname, ...rest);
    }) as typeof realLookup;
  });
  after(() => {
    dnsPromises.lookup = realLookup;
  });

  it("a server connection gathers its host candidate without asking Google's STUN server (a DNS query and a datagram to the outside)", async () => {
    lookedUp.length = 0;
    const pc = new RTCPeerConnection(peerConfig({ minPort: 42100, maxPort: 42200, hostAddresses: LOOPBACK }));
    try {
      const sdp = await gather(pc);
      assert.match(sdp, /typ host/);
      assert.doesNotMatch(sdp, /typ srflx/);
      assert.deepEqual(lookedUp, [], `looked up: ${lookedUp.join(', ')}`);
    } finally {
      await pc.close();
    }
  });

  it('a Node client (bots, the bench, tests) does not ask either', async () => {
    lookedUp.length = 0;
    const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
    try {
      await gather(pc);
      assert.deepEqual(lookedUp, [], `looked up: ${lookedUp.join(', ')}`);
    } finally {
      await pc.close();
    }
  });

  it('a configured STUN server is still asked', async () => {
    const stun = createSocket('udp4');
    await new Promise<void>((resolve) => stun.bind(0, '127.0.0.1', () => resolve()));
    const request = new Promise<Buffer>((resolve) => stun.once('message', (data) => resolve(data)));
    const pc = new RTCPeerConnection({
      ...nodePeerConfig(LOOPBACK),
      iceServers: [{ urls: `stun:127.0.0.1:${stun.address().port}` }],
      // Nobody answers: give up on it after a second (werift's default is 5).
      iceStunGatherTimeout: 1,
    });
    try {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const data = await request;
      // RFC 5389 §6: a Binding request (type 0x0001) with the magic cookie.
      assert.equal(data.readUInt16BE(0), 0x0001);
      assert.equal(data.readUInt32BE(4), 0x2112a442);
    } finally {
      await pc.close();
      stun.close();
    }
  });
});
