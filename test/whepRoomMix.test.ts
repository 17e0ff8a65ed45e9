/**
 * Everyone playing a room by WHEP hears the same mix of its voices, made once for the room: one Opus
 * encoder however many players. Each player used to mix and encode for itself; with two voices in the room
 * about sixty players grew the WebAssembly memory the Opus codec shares across the process, its views
 * of that memory went stale ("detached ArrayBuffer") and every encode failed from then on: every player,
 * and every phone caller, heard nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { Bot } from '../src/bot/Bot.js';
import { nodePeerConfig } from '../src/client/node.js';
import { eventually, LOOPBACK, startInThreadServer } from './helpers/server.js';
import { SDP } from './helpers/whip.js';

const PLAYERS = 80;

/** A WHEP player of the room's audio made of werift: counts the audio packets it receives. */
async function listen(url: string) {
  const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
  const transceiver = pc.addTransceiver('audio', { direction: 'recvonly' });
  let packets = 0;
  transceiver.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => packets++));
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(url, { method: 'POST', headers: SDP, body: pc.localDescription!.sdp });
  assert.equal(response.status, 201, await response.clone().text());
  await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  return { packets: () => packets, close: () => pc.close() };
}

describe('WHEP players of a room', () => {
  it(`a player keeps hearing the room after ${PLAYERS} more players came to listen`, async (ctx) => {
    const t = await startInThreadServer({
      rooms: { maxParticipants: PLAYERS + 10 },
      limits: { gatewaySessionsPerIp: PLAYERS + 10, gatewayRequestsPerMinute: 10 * PLAYERS },
    });
    const voices = await Promise.all(
      ['Ann', 'Bob'].map((name) =>
        Bot.start({ url: t.url, room: 'hall', name, video: false, hostAddresses: LOOPBACK }),
      ),
    );
    const player = await listen(`${t.url}/whep/hall`);
    try {
      await eventually('the first player hears the room', () => player.packets() > 50);
      // Players that never connect still get the room's mix made for them from their answer on.
      const other = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
      other.addTransceiver('audio', { direction: 'recvonly' });
      await other.setLocalDescription(await other.createOffer());
      const offer = other.localDescription!.sdp;
      await other.close();
      const refused: string[] = [];
      for (let i = 0; i < PLAYERS; i += 10) {
        const replies = await Promise.all(
          Array.from({ length: 10 }, () =>
            fetch(`${t.url}/whep/hall`, { method: 'POST', headers: SDP, body: offer }),
          ),
        );
        for (const r of replies) if (r.status !== 201) refused.push(`${r.status} ${await r.text()}`);
      }
      assert.deepEqual(refused, [], `${refused.length} of ${PLAYERS} players refused`);
      const before = player.packets();
      await eventually('the first player still hears the room', () => player.packets() > before + 100);
      const mixes = t.rooms.host.mixes.size;
      ctx.diagnostic(`${PLAYERS + 1} players, ${mixes} mix`);
      assert.equal(t.rooms.gateways.whep.size, PLAYERS + 1, 'every player has its session');
      assert.equal(mixes, 1, 'one mix for the room');
    } finally {
      await player.close();
      for (const v of voices) await v.stop();
      await t.close();
    }
  });
});
