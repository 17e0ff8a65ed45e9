import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { createAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { nodePeerConfig } from '../src/client/node.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { SDP, whipPublish } from './helpers/whip.js';

describe('WHIP and WHEP over HTTP', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('answers OPTIONS with CORS and Accept-Post', async () => {
    for (const path of ['/whip/lobby', '/whep/lobby']) {
      const r = await t.server.app.inject({ method: 'OPTIONS', url: path });
      assert.equal(r.statusCode, 204);
      assert.equal(r.headers['accept-post'], 'application/sdp');
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.match(String(r.headers['access-control-expose-headers']), /Location/);
    }
  });

  it('refuses a wrong content type with 415, bad SDP with 400, unknown sessions with 404', async () => {
    for (const path of ['/whip/lobby', '/whep/lobby']) {
      const json = await t.server.app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/json' },
        payload: '{"sdp":"v=0"}',
      });
      assert.equal(json.statusCode, 415, path);
      assert.equal(json.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(json.json().error.message, /application\/sdp/);
      const none = await t.server.app.inject({ method: 'POST', url: path });
      assert.equal(none.statusCode, 415, `${path} without a body`);
      const garbage = await t.server.app.inject({
        method: 'POST',
        url: path,
        headers: SDP,
        payload: 'hello',
      });
      assert.equal(garbage.statusCode, 400, `${path} garbage: ${garbage.body}`);
      const del = await t.server.app.inject({ method: 'DELETE', url: `${path}/sessions/nope` });
      assert.equal(del.statusCode, 404);
      assert.equal(del.json().error.code, 'SESSION_NOT_FOUND');
    }
    // An SDP with only a data channel has nothing to publish.
    const dataOnly =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n';
    const r = await t.server.app.inject({
      method: 'POST',
      url: '/whip/lobby',
      headers: SDP,
      payload: dataOnly,
    });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'NO_MEDIA');
    const bad = await t.server.app.inject({
      method: 'POST',
      url: '/whip/bad%20room',
      headers: SDP,
      payload: 'v=0',
    });
    assert.equal(bad.statusCode, 400);
    const noRoom = await t.server.app.inject({
      method: 'POST',
      url: '/whep/nobody-here',
      headers: SDP,
      payload: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\n',
    });
    assert.equal(noRoom.statusCode, 404);
    assert.equal(noRoom.json().error.code, 'ROOM_NOT_FOUND');
    assert.equal(t.server.registry.participantCount, 0, 'no participant is left behind by a refused request');
  });

  it('a WHIP publisher is a participant whose media others receive; DELETE ends it', async () => {
    const bot = await Bot.start({
      url: t.url,
      room: 'ingest',
      name: 'viewer',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    const whip = await whipPublish(t.url, 'ingest', 'OBS');
    try {
      const room = t.server.registry.rooms.get('ingest')!;
      const publisher = [...room.participants.values()].find((p) => p.name === 'OBS');
      assert.ok(publisher, 'the WHIP publisher appears in the room under its name');
      await eventually(
        'the bot receives audio and video from WHIP',
        () => {
          const r = bot.receivedFrom(publisher.id);
          return r.length === 2 && r.every((x) => x.packets > 20) && r.some((x) => x.frames > 10);
        },
        10_000,
      );
      const del = await fetch(`${t.url}${whip.location}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      await eventually('the bot is told the publisher left', () => !bot.room.participants.has(publisher.id));
      assert.equal(t.server.gateways.whip.size, 0);
      const again = await fetch(`${t.url}${whip.location}`, { method: 'DELETE' });
      assert.equal(again.status, 404);
    } finally {
      await whip.stop();
      await bot.stop();
    }
  });

  it('a WHEP player of one participant receives their audio and video', async () => {
    const bot = await Bot.start({ url: t.url, room: 'play', name: 'Ada', hostAddresses: LOOPBACK });
    const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
    try {
      const audio = pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = pc.addTransceiver('video', { direction: 'recvonly' });
      let audioPackets = 0;
      let videoPackets = 0;
      audio.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => audioPackets++));
      video.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => videoPackets++));
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(`${t.url}/whep/play/Ada`, {
        method: 'POST',
        headers: SDP,
        body: pc.localDescription!.sdp,
      });
      assert.equal(response.status, 201, await response.clone().text());
      assert.match(response.headers.get('location')!, /^\/whep\/play\/sessions\//);
      await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
      await eventually(
        'the player receives audio and video',
        () => audioPackets > 20 && videoPackets > 20,
        10_000,
      );
      const missing = await fetch(`${t.url}/whep/play/Nobody`, {
        method: 'POST',
        headers: SDP,
        body: pc.localDescription!.sdp,
      });
      assert.equal(missing.status, 404);
      const del = await fetch(`${t.url}${response.headers.get('location')}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      assert.equal(t.server.registry.rooms.get('play')!.participants.size, 1, 'only the bot is left');
    } finally {
      await pc.close();
      await bot.stop();
    }
  });
});

describe('WHIP and WHEP in secured mode', () => {
  it('refuse a missing or bad token with 401, accept a valid one', async () => {
    const secret = 's'.repeat(32);
    const t = await startTestServer({ auth: { mode: 'secured', apiKey: 'k'.repeat(16), apiSecret: secret } });
    try {
      const offer = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n';
      for (const path of ['/whip/vault', '/whep/vault']) {
        const none = await t.server.app.inject({ method: 'POST', url: path, headers: SDP, payload: offer });
        assert.equal(none.statusCode, 401, `${path} without a token`);
        assert.equal(none.json().error.code, 'TOKEN_REQUIRED');
        const bad = await t.server.app.inject({
          method: 'POST',
          url: path,
          headers: { ...SDP, authorization: 'Bearer not.a.jwt' },
          payload: offer,
        });
        assert.equal(bad.statusCode, 401, `${path} with a bad token`);
        const other = await createAccessToken(secret, { room: 'other', identity: 'x', ttlSeconds: 60 });
        const wrongRoom = await t.server.app.inject({
          method: 'POST',
          url: path,
          headers: { ...SDP, authorization: `Bearer ${other.token}` },
          payload: offer,
        });
        assert.equal(wrongRoom.statusCode, 403, `${path} with a token for another room`);
      }
      // A valid token gets past the door: the WHIP publisher joins under the token's name.
      const { token } = await createAccessToken(secret, {
        room: 'vault',
        identity: 'obs-1',
        name: 'Studio',
        ttlSeconds: 60,
      });
      const whip = await whipPublish(t.url, 'vault', 'ignored', token);
      try {
        const names = [...t.server.registry.rooms.get('vault')!.participants.values()].map((p) => p.name);
        assert.deepEqual(names, ['Studio']);
      } finally {
        await whip.stop();
      }
    } finally {
      await t.close();
    }
  });
});
