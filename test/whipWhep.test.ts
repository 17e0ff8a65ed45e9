import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { createAccessToken } from '../src/auth/accessToken.js';
import { Bot } from '../src/bot/Bot.js';
import { nodePeerConfig } from '../src/client/node.js';
import { eventually, type InThreadTestServer, LOOPBACK, startInThreadServer } from './helpers/server.js';
import { SDP, whipPublish } from './helpers/whip.js';

/**
 * Offers as GStreamer 1.22's webrtcbin makes them with the max-bundle policy: the second m-line
 * is bundle-only (port 0 and a=bundle-only, RFC 9143 §7), its mid in the BUNDLE group.
 */
function maxBundleOffer(
  direction: 'sendonly' | 'recvonly',
  video: 'VP8' | 'H264' | 'H264 VP8' = 'VP8',
): string {
  const ice = [
    'a=setup:actpass',
    'a=ice-ufrag:JJt35+82BO5ykqpmAWvG9MlqGlX5hij6',
    'a=ice-pwd:XSbvGjViziARV/YCCH29m6I9MjBPIab8',
  ];
  const fingerprint =
    'a=fingerprint:sha-256 85:A6:5A:BA:68:BE:24:27:9A:4A:30:B9:F4:9A:3A:AD:F5:59:A8:E9:A0:58:C3:64:82:FB:A9:31:18:44:A8:2C';
  const videoCodecs: Record<string, string[]> = {
    VP8: ['a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack pli'],
    H264: ['a=rtpmap:102 H264/90000', 'a=fmtp:102 packetization-mode=1;profile-level-id=42e01f'],
  };
  const ssrc = (id: number, track: string) =>
    direction === 'sendonly'
      ? [
          `a=ssrc:${id} msid:user3763159068@host-e3982ac5 ${track}`,
          `a=ssrc:${id} cname:user3763159068@host-e3982ac5`,
        ]
      : [];
  const names = video.split(' ');
  const pts = names.map((n) => (n === 'VP8' ? 96 : 102));
  return [
    'v=0',
    'o=- 2029093155950407333 0 IN IP4 0.0.0.0',
    's=-',
    't=0 0',
    'a=ice-options:trickle',
    'a=group:BUNDLE video0 audio1',
    `m=video 9 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`,
    'c=IN IP4 0.0.0.0',
    ...ice,
    'a=rtcp-mux',
    `a=${direction}`,
    ...names.flatMap((n) => videoCodecs[n]!),
    ...ssrc(314975103, 'webrtctransceiver0'),
    'a=mid:video0',
    fingerprint,
    'a=rtcp-mux-only',
    'm=audio 0 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    ...ice,
    'a=bundle-only',
    'a=rtcp-mux',
    `a=${direction}`,
    'a=rtpmap:111 OPUS/48000/2',
    ...ssrc(313751424, 'webrtctransceiver1'),
    'a=mid:audio1',
    fingerprint,
    'a=rtcp-mux-only',
    '',
  ].join('\r\n');
}

/** The m-line sections of an answer, by mid: port, direction and codec names. */
function answerLines(sdp: string) {
  const group = /a=group:BUNDLE (.*)/.exec(sdp)?.[1]?.trim().split(/\s+/) ?? [];
  const lines = new Map<string, { port: number; direction: string; codecs: string[]; bundled: boolean }>();
  for (const section of sdp.split(/\r\n(?=m=)/).slice(1)) {
    const mid = /a=mid:(\S+)/.exec(section)![1]!;
    lines.set(mid, {
      port: Number(/^m=\S+ (\d+)/.exec(section)![1]),
      direction: /a=(sendrecv|sendonly|recvonly|inactive)/.exec(section)?.[1] ?? 'sendrecv',
      codecs: [...section.matchAll(/a=rtpmap:\d+ ([^/]+)/g)].map((m) => m[1]!.toUpperCase()),
      bundled: group.includes(mid),
    });
  }
  return lines;
}

describe('WHIP and WHEP over HTTP', () => {
  let t: InThreadTestServer;

  before(async () => {
    t = await startInThreadServer();
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
    assert.equal(
      t.rooms.host.registry.participantCount,
      0,
      'no participant is left behind by a refused request',
    );
  });

  it('accepts bundle-only m-lines (max-bundle offers) on WHIP and WHEP', async () => {
    const whip = await t.server.app.inject({
      method: 'POST',
      url: '/whip/bundled?name=webrtcbin',
      headers: SDP,
      payload: maxBundleOffer('sendonly'),
    });
    assert.equal(whip.statusCode, 201, whip.body);
    const published = answerLines(whip.body);
    for (const mid of ['video0', 'audio1']) {
      const line = published.get(mid)!;
      assert.ok(
        line.port !== 0 && line.direction === 'recvonly' && line.bundled,
        `WHIP ${mid}: ${JSON.stringify(line)}`,
      );
    }
    const room = t.rooms.host.registry.rooms.get('bundled')!;
    const publisher = [...room.participants.values()].find((p) => p.name === 'webrtcbin')!;
    assert.deepEqual([...publisher.tracks.values()].map((e) => e.track.kind).sort(), ['audio', 'video']);

    const whep = await t.server.app.inject({
      method: 'POST',
      url: '/whep/bundled',
      headers: SDP,
      payload: maxBundleOffer('recvonly'),
    });
    assert.equal(whep.statusCode, 201, whep.body);
    const played = answerLines(whep.body);
    for (const mid of ['video0', 'audio1']) {
      const line = played.get(mid)!;
      assert.ok(
        line.port !== 0 && line.direction === 'sendonly' && line.bundled,
        `WHEP ${mid}: ${JSON.stringify(line)}`,
      );
    }
    for (const r of [whip, whep])
      await t.server.app.inject({ method: 'DELETE', url: String(r.headers.location) });
  });

  it("refuses a WHEP offer with none of the room's video codecs, naming them; prefers the room's codec", async () => {
    const whip = await t.server.app.inject({
      method: 'POST',
      url: '/whip/vp8-room?name=camera',
      headers: SDP,
      payload: maxBundleOffer('sendonly', 'VP8'),
    });
    assert.equal(whip.statusCode, 201, whip.body);
    const room = t.rooms.host.registry.rooms.get('vp8-room')!;
    for (const url of ['/whep/vp8-room', '/whep/vp8-room/camera']) {
      const h264 = await t.server.app.inject({
        method: 'POST',
        url,
        headers: SDP,
        payload: maxBundleOffer('recvonly', 'H264'),
      });
      assert.equal(h264.statusCode, 400, `${url}: ${h264.body}`);
      const { code, message } = h264.json().error;
      assert.equal(code, 'NO_COMMON_CODEC');
      assert.match(message, /room's video is VP8/);
      assert.match(message, /offers only H264/);
      assert.equal(room.participants.size, 1, 'the refused player did not stay in the room');
    }
    // An offer that prefers H.264 but also takes VP8 is answered with VP8, what the room sends.
    const both = await t.server.app.inject({
      method: 'POST',
      url: '/whep/vp8-room',
      headers: SDP,
      payload: maxBundleOffer('recvonly', 'H264 VP8'),
    });
    assert.equal(both.statusCode, 201, both.body);
    assert.equal(
      answerLines(both.body).get('video0')!.codecs[0],
      'VP8',
      'the codec sent is the first of the answer',
    );
    for (const r of [whip, both])
      await t.server.app.inject({ method: 'DELETE', url: String(r.headers.location) });
  });

  it('answers a WHIP or WHEP body that is not SDP with INVALID_SDP and why', async () => {
    for (const path of ['/whip/lobby', '/whep/lobby']) {
      const garbage = await t.server.app.inject({
        method: 'POST',
        url: path,
        headers: SDP,
        payload: 'hello',
      });
      assert.equal(garbage.statusCode, 400, `${path}: ${garbage.body}`);
      assert.equal(garbage.json().error.code, 'INVALID_SDP', path);
      assert.match(garbage.json().error.message, /v=0/);
    }
  });

  it('says what is wrong with a trickle PATCH whose body is binary or not an SDP fragment', async () => {
    const whip = await t.server.app.inject({
      method: 'POST',
      url: '/whip/trickle',
      headers: SDP,
      payload: maxBundleOffer('sendonly'),
    });
    assert.equal(whip.statusCode, 201, whip.body);
    const location = String(whip.headers.location);
    const fragment = { 'content-type': 'application/trickle-ice-sdpfrag' };
    const binary = await t.server.app.inject({
      method: 'PATCH',
      url: location,
      headers: fragment,
      payload: Buffer.from([0x00, 0x9f, 0x92, 0x96, 0xff, 0x0a, 0x01, 0x02, 0x03]),
    });
    assert.equal(binary.statusCode, 400, binary.body);
    assert.equal(binary.json().error.code, 'INVALID_SDP');
    assert.doesNotMatch(binary.json().error.message, /empty/);
    assert.match(binary.json().error.message, /not .*text|not an SDP fragment/);
    const prose = await t.server.app.inject({
      method: 'PATCH',
      url: location,
      headers: fragment,
      payload: 'please add my candidate',
    });
    assert.equal(prose.statusCode, 400, prose.body);
    assert.match(prose.json().error.message, /not an SDP fragment/);
    const good = await t.server.app.inject({
      method: 'PATCH',
      url: location,
      headers: fragment,
      payload: 'a=mid:video0\r\na=candidate:1 1 UDP 2015364607 127.0.0.1 40000 typ host\r\n',
    });
    assert.equal(good.statusCode, 204, good.body);
    await t.server.app.inject({ method: 'DELETE', url: location });
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
      const room = t.rooms.host.registry.rooms.get('ingest')!;
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
      assert.equal(t.rooms.gateways.whip.size, 0);
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
      assert.equal(t.rooms.host.registry.rooms.get('play')!.participants.size, 1, 'only the bot is left');
    } finally {
      await pc.close();
      await bot.stop();
    }
  });
});

describe('WHIP and WHEP in secured mode', () => {
  it('refuse a missing or bad token with 401, accept a valid one', async () => {
    const secret = 's'.repeat(32);
    const t = await startInThreadServer({
      auth: { mode: 'secured', apiKey: 'k'.repeat(16), apiSecret: secret },
    });
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
        const names = [...t.rooms.host.registry.rooms.get('vault')!.participants.values()].map((p) => p.name);
        assert.deepEqual(names, ['Studio']);
      } finally {
        await whip.stop();
      }
    } finally {
      await t.close();
    }
  });
});
