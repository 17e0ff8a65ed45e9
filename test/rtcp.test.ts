import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GenericNack,
  type MediaStreamTrack,
  type RTCRtpReceiver,
  type RTCRtpSender,
  RtcpRrPacket,
  RtcpTransportLayerFeedback,
} from 'werift';
import { Bot } from '../src/bot/Bot.js';
import type { RemoteTrack } from '../src/client/tracks.js';
import { KEYFRAME_REQUEST_INTERVAL_MS } from '../src/sfu/PublishedTrack.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RTCP: NACK, receiver reports and keyframe requests', () => {
  let t: TestServer;
  let publisher: Bot;
  let viewer: Bot;
  let video: RemoteTrack<MediaStreamTrack>;
  const pliAt: number[] = [];
  const reportsAtPublisher: number[] = [];

  before(async () => {
    t = await startTestServer();
    publisher = await Bot.start({
      url: t.url,
      room: 'rtcp',
      name: 'pub',
      audio: false,
      hostAddresses: LOOPBACK,
    });
    const sender = publisher.room.localTracks[0]!.transceiver.sender as unknown as RTCRtpSender;
    sender.onPictureLossIndication.subscribe(() => pliAt.push(Date.now()));
    sender.onRtcp.subscribe((packet) => {
      if (packet.type === RtcpRrPacket.type) reportsAtPublisher.push(Date.now());
    });
    viewer = await Bot.start({
      url: t.url,
      room: 'rtcp',
      name: 'viewer',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    await eventually(
      'the viewer gets video',
      () => [...viewer.received.values()].some((r) => r.frames > 5),
      10_000,
    );
    const remote = [...viewer.room.participants.values()][0]!;
    video = [...remote.tracks.values()].find((tr) => tr.kind === 'video')!;
  });

  after(async () => {
    await viewer.stop();
    await publisher.stop();
    await t.close();
  });

  it('answers a NACK with the same packet from its history', async () => {
    const seen = new Map<number, { count: number; payload: Buffer }>();
    const { unSubscribe } = video.mediaTrack!.onReceiveRtp.subscribe((rtp) => {
      const entry = seen.get(rtp.header.sequenceNumber);
      if (entry) entry.count++;
      else seen.set(rtp.header.sequenceNumber, { count: 1, payload: Buffer.from(rtp.payload) });
    });
    try {
      await eventually('some packets', () => seen.size > 40);
      const seqs = [...seen.keys()];
      const lost = seqs.slice(-30, -25);
      const receiver = video.transceiver!.receiver as unknown as RTCRtpReceiver;
      const nack = new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: video.mediaTrack!.ssrc!, lost }),
      });
      await receiver.dtlsTransport.sendRtcp([nack]);
      await eventually(
        'every NACKed packet arrives a second time',
        () => lost.every((s) => seen.get(s)!.count >= 2),
        2000,
      );
      const retransmitted = seen.get(lost[0]!)!;
      assert.ok(retransmitted.payload.length > 0);
    } finally {
      unSubscribe();
    }
  });

  it('receiver reports reach the publisher', async () => {
    await eventually('a receiver report from the server', () => reportsAtPublisher.length > 0, 8000);
  });

  it('keyframe requests to the publisher are throttled when many subscribe at once', async () => {
    const start = Date.now();
    const burst = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        Bot.start({
          url: t.url,
          room: 'rtcp',
          name: `late-${i}`,
          video: false,
          audio: false,
          hostAddresses: LOOPBACK,
        }),
      ),
    );
    try {
      await eventually(
        'each late joiner gets a picture',
        () => burst.every((b) => [...b.received.values()].some((r) => r.keyframes > 0)),
        10_000,
      );
      await sleep(200);
      const during = pliAt.filter((at) => at >= start);
      const span = Date.now() - start;
      assert.ok(during.length >= 1, 'the publisher was asked for a keyframe');
      const allowed = Math.ceil(span / KEYFRAME_REQUEST_INTERVAL_MS) + 1;
      assert.ok(during.length <= allowed, `${during.length} PLIs in ${span} ms (at most ${allowed})`);
      for (let i = 1; i < during.length; i++) {
        assert.ok(
          during[i]! - during[i - 1]! >= KEYFRAME_REQUEST_INTERVAL_MS - 100,
          'PLIs are spaced out (arrival jitter allowed)',
        );
      }
    } finally {
      await Promise.all(burst.map((b) => b.stop()));
    }
  });
});
