import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  RTCPeerConnection,
  type RTCRtpTransceiver,
  RtcpSrPacket,
  RtpHeader,
  RtpPacket,
  SrtpAuthenticationError,
  SrtpSession,
} from 'werift';
import { nodePeerConfig } from '../src/client/node.js';
import { PublishedTrack } from '../src/sfu/PublishedTrack.js';
import { RtpFastSender, srtpEncryptorOf } from '../src/sfu/RtpFastSender.js';
import type { RtpListener, RtpSource } from '../src/sfu/RtpSource.js';
import { rtpHeaderSize, writeRtpHeader } from '../src/sfu/rtpHeaderBytes.js';
import { accelerateSrtpReceive } from '../src/sfu/SrtpDecryptor.js';
import { SrtpEncryptor } from '../src/sfu/SrtpEncryptor.js';
import { reportedSenders } from '../src/sfu/senderReports.js';
import { preferSrtpProfiles, type SrtpContextInternals } from '../src/werift/internals.js';
import { eventually, LOOPBACK } from './helpers/server.js';

const PROFILES = [
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: 1, saltBytes: 14 },
  { name: 'AEAD_AES_128_GCM', profile: 7, saltBytes: 12 },
];

describe('SRTP encryption of the fast send path', () => {
  for (const { name, profile, saltBytes } of PROFILES) {
    it(`${name}: the same bytes as werift's cipher, across sequence wrap and rollover counters`, () => {
      const session = new SrtpSession({
        keys: {
          localMasterKey: randomBytes(16),
          localMasterSalt: randomBytes(saltBytes),
          remoteMasterKey: randomBytes(16),
          remoteMasterSalt: randomBytes(saltBytes),
        },
        profile,
      });
      const context = session.localContext as unknown as SrtpContextInternals & {
        cipher: { encryptRtp(h: RtpHeader, p: Buffer, roc: number): Buffer };
      };
      const ours = new SrtpEncryptor(context);
      const withExtension: Partial<RtpHeader> = {
        extension: true,
        extensionProfile: 0xbede as RtpHeader['extensionProfile'],
        extensions: [{ id: 1, payload: Buffer.from([0x80 | 30]) }],
      };
      for (const [seq, roc, size, extra] of [
        [0, 0, 1200, {}],
        [65535, 0, 1, {}],
        [0, 1, 160, withExtension],
        [31337, 7, 999, { marker: true }],
      ] as [number, number, number, Partial<RtpHeader>][]) {
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: seq,
          timestamp: 123456,
          ssrc: 0xdeadbeef,
          ...extra,
        });
        const payload = randomBytes(size);
        const expected = context.cipher.encryptRtp(header, payload, roc);
        const actual = ours.encrypt(header.serialize(header.serializeSize), payload, header.ssrc, seq, roc);
        assert.deepEqual(actual, expected, `seq ${seq}, ROC ${roc}, ${size}-byte payload`);
      }
    });
  }
});

describe('RTP header bytes of the fast send path', () => {
  it("writes what werift's RtpHeader.serialize writes: CSRCs, padding, marker, one- and two-byte extensions", () => {
    const ext = (id: number, n: number) => ({ id, payload: randomBytes(n) });
    const variants: Partial<RtpHeader>[] = [
      {},
      { marker: true, csrc: [1, 2, 3] },
      { padding: true, paddingSize: 4 },
      {
        extension: true,
        extensionProfile: 0xbede as RtpHeader['extensionProfile'],
        extensions: [ext(1, 1), ext(3, 3)],
      },
      {
        extension: true,
        extensionProfile: 0x1000 as RtpHeader['extensionProfile'],
        extensions: [ext(2, 5), ext(7, 0)],
      },
      { extension: true, extensionProfile: 0xbede as RtpHeader['extensionProfile'], extensions: [] },
    ];
    for (const v of variants) {
      const original = new RtpHeader({ payloadType: 111, sequenceNumber: 9, timestamp: 99, ssrc: 999, ...v });
      const fields = {
        ssrc: 0xfeedf00d,
        payloadType: 96,
        sequenceNumber: 65535,
        timestamp: 2 ** 32 - 1,
        extensions: original.extensions,
      };
      const expected = new RtpHeader({ ...original, ...fields });
      const size = rtpHeaderSize(original, fields.extensions);
      assert.equal(size, expected.serializeSize, `size of ${JSON.stringify(v)}`);
      const out = Buffer.alloc(size, 0xaa);
      writeRtpHeader(out, size, original, fields);
      assert.deepEqual(out, expected.serialize(size), `bytes of ${JSON.stringify(v)}`);
    }
  });
});

for (const { name, profile } of PROFILES)
  describe(`the fast send path on a real connection, ${name}`, () => {
    let a: RTCPeerConnection;
    let b: RTCPeerConnection;
    let transceiver: RTCRtpTransceiver;
    const received: RtpPacket[] = [];

    before(async () => {
      const config = nodePeerConfig(LOOPBACK);
      a = new RTCPeerConnection(config);
      b = new RTCPeerConnection(config);
      a.onicecandidate = ({ candidate }) => candidate && b.addIceCandidate(candidate);
      b.onicecandidate = ({ candidate }) => candidate && a.addIceCandidate(candidate);
      // Both ends put this profile first, so it is chosen whichever end is the DTLS server.
      const order = [profile, ...PROFILES.map((p) => p.profile).filter((p) => p !== profile)];
      assert.equal(preferSrtpProfiles(a, order), true);
      assert.equal(preferSrtpProfiles(b, order), true);
      transceiver = a.addTransceiver('video', { direction: 'sendonly' });
      b.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => received.push(rtp)));
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription!);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription!);
      await eventually(
        'both peers connect',
        () => a.connectionState === 'connected' && b.connectionState === 'connected',
        10_000,
      );
    });

    after(async () => {
      await a.close();
      await b.close();
    });

    it('takes the packets, and the peer gets them as from werift: one stream, sequence numbers continuous', async () => {
      const fast = new RtpFastSender(transceiver.sender);
      assert.equal(fast.enabled, true, 'the werift internals the fast path needs are there');
      const dtls = transceiver.sender.dtlsTransport as unknown as {
        srtp: { localContext: { profile: number } };
      };
      assert.equal(dtls.srtp.localContext.profile, profile, `${name} was negotiated`);
      const sender = transceiver.sender;
      const counters = sender as unknown as { packetCount: number; octetCount: number };
      const payloads: Buffer[] = [];
      const packet = (i: number) => {
        const payload = randomBytes(100 + i);
        payloads.push(payload);
        return new RtpPacket(
          new RtpHeader({
            payloadType: 100,
            sequenceNumber: 60_000 + i,
            timestamp: 3000 * i,
            ssrc: 42,
            marker: true,
          }),
          payload,
        );
      };
      // Fast path, then werift's own path, then the fast path again: one stream for the receiver.
      for (let i = 0; i < 10; i++) assert.equal(fast.send(packet(i)), true);
      for (let i = 10; i < 20; i++) await sender.sendRtp(packet(i));
      for (let i = 20; i < 30; i++) fast.send(packet(i));
      await eventually('the peer receives 30 packets', () => received.length >= 30, 5000);

      assert.equal(new Set(received.map((r) => r.header.ssrc)).size, 1, 'one SSRC');
      assert.equal(received[0]!.header.ssrc, sender.ssrc);
      assert.ok(
        received.every((r) => r.header.payloadType === sender.codec!.payloadType),
        'negotiated payload type',
      );
      const sorted = [...received].sort((x, y) => x.header.timestamp - y.header.timestamp);
      for (let i = 0; i < 30; i++) {
        assert.deepEqual(sorted[i]!.payload, payloads[i], `payload ${i}`);
        assert.equal(sorted[i]!.header.sequenceNumber, (60_000 + i) & 0xffff, `sequence number ${i}`);
      }
      assert.equal(counters.packetCount, 30, 'sender report packet count');
      assert.equal(
        counters.octetCount,
        payloads.reduce((n, p) => n + p.length, 0),
        'sender report octet count',
      );
      // The NACK cache holds what was sent: werift's retransmission re-encrypts exactly this header and payload.
      const cached = (sender as unknown as { rtpCache: RtpPacket[] }).rtpCache[(60_000 + 29) % 128]!;
      assert.equal(cached.header.sequenceNumber, 60_029, 'the last packet is in the NACK cache');
      assert.equal(cached.header.ssrc, sender.ssrc);
      assert.equal(cached.header.timestamp, 3000 * 29);
      assert.deepEqual(cached.payload, payloads[29]);
      // Cache entries are reused 128 packets later; a header werift already took stays as it was.
      const taken = cached.header;
      for (let i = 30; i < 30 + 128; i++) fast.send(packet(i));
      const reused = (sender as unknown as { rtpCache: RtpPacket[] }).rtpCache[(60_000 + 29) % 128]!;
      assert.equal(reused.header.sequenceNumber, 60_029 + 128, 'the entry now holds the newer packet');
      assert.deepEqual(reused.payload, payloads[29 + 128]);
      assert.equal(taken.sequenceNumber, 60_029, 'the header taken before is unchanged');
      assert.equal(taken.timestamp, 3000 * 29);

      // Sender reports (senderReports.ts): the peer gets an SR for the stream with the sender's counters.
      assert.ok(reportedSenders() >= 1, 'the sender is on the report timer');
      const reports: RtcpSrPacket[] = [];
      const receiver = b.getTransceivers()[0]!.receiver;
      const { unSubscribe } = receiver.onRtcp.subscribe((rtcp) => {
        if (rtcp instanceof RtcpSrPacket) reports.push(rtcp);
      });
      try {
        await eventually('a sender report arrives', () => reports.length > 0, 4000);
      } finally {
        unSubscribe();
      }
      assert.equal(reports[0]!.ssrc, sender.ssrc);
      assert.equal(reports[0]!.senderInfo.packetCount, 30 + 128, 'the packets sent so far');
      assert.equal(
        reports[0]!.senderInfo.octetCount,
        payloads.reduce((n, p) => n + p.length, 0),
      );
    });

    it("frees the stream's keystream when the sender is closed, and makes it again if it sends", () => {
      const context = (transceiver.sender.dtlsTransport as unknown as { srtp: { localContext: object } }).srtp
        .localContext as SrtpContextInternals;
      const cm = () => srtpEncryptorOf(context)?.aesCm;
      if (profile !== 1) return assert.equal(cm(), undefined, 'AES-GCM has no keystream batches');
      const fast = new RtpFastSender(transceiver.sender);
      const send = (seq: number) =>
        fast.send(
          new RtpPacket(
            new RtpHeader({ payloadType: 100, sequenceNumber: seq, timestamp: seq, ssrc: 42 }),
            randomBytes(500),
          ),
        );
      send(100);
      assert.equal(cm()!.streamCount, 1);
      fast.close();
      assert.equal(cm()!.streamCount, 0, 'closed: no keystream kept');
      send(101);
      assert.equal(cm()!.streamCount, 1);
    });
  });

describe('SRTP decryption of the receive path', () => {
  for (const { name, profile, saltBytes } of PROFILES) {
    it(`${name}: the same bytes, rollover state and failures as werift's session`, () => {
      const keys = {
        localMasterKey: randomBytes(16),
        localMasterSalt: randomBytes(saltBytes),
        remoteMasterKey: randomBytes(16),
        remoteMasterSalt: randomBytes(saltBytes),
      };
      const sender = new SrtpSession({ keys, profile });
      const mirrored = {
        localMasterKey: keys.remoteMasterKey,
        localMasterSalt: keys.remoteMasterSalt,
        remoteMasterKey: keys.localMasterKey,
        remoteMasterSalt: keys.localMasterSalt,
      };
      const werift = new SrtpSession({ keys: mirrored, profile });
      const ours = new SrtpSession({ keys: mirrored, profile });
      const weriftDecrypt = ours.decrypt;
      accelerateSrtpReceive({ dtlsTransports: [{ srtp: ours }] } as unknown as RTCPeerConnection);
      assert.notEqual(ours.decrypt, weriftDecrypt, 'the session decrypts with SrtpDecryptor');
      const ext = (id: number, n: number) => ({ id, payload: randomBytes(n) });
      const shapes: Partial<RtpHeader>[] = [
        {},
        { csrc: [7, 8] },
        {
          extension: true,
          extensionProfile: 0xbede as RtpHeader['extensionProfile'],
          extensions: [ext(1, 1), ext(4, 2)],
        },
        {
          extension: true,
          extensionProfile: 0x1000 as RtpHeader['extensionProfile'],
          extensions: [ext(3, 4)],
        },
      ];
      // Sequence numbers run across the 16-bit wrap, so the rollover counter moves (RFC 3711 §3.3.1).
      for (let i = 0; i < 200; i++) {
        const seq = (65_500 + i) & 0xffff;
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: seq,
          timestamp: i * 90,
          ssrc: 4242,
          ...shapes[i % 4],
        });
        let packet = sender.encrypt(randomBytes(20 + (i % 50)), header);
        if (i % 37 === 5) packet = Buffer.concat([packet.subarray(0, -1), Buffer.from([packet.at(-1)! ^ 1])]);
        if (i % 53 === 7) packet = packet.subarray(0, 15);
        let expected: Buffer | Error;
        let actual: Buffer | Error;
        try {
          expected = werift.decrypt(packet);
        } catch (error) {
          expected = error as Error;
        }
        try {
          actual = ours.decrypt(packet);
        } catch (error) {
          actual = error as Error;
        }
        if (expected instanceof Error) {
          assert.ok(
            actual instanceof SrtpAuthenticationError,
            `packet ${i} fails as in werift: ${String(actual)}`,
          );
        } else {
          assert.deepEqual(actual, expected, `packet ${i} (seq ${seq})`);
        }
      }
      const states = (s: SrtpSession) =>
        JSON.stringify((s.remoteContext as unknown as { srtpSSRCStates: unknown }).srtpSSRCStates);
      assert.equal(states(ours), states(werift), 'the same rollover state');
      assert.match(states(ours), /"rolloverCounter":1/, 'the sequence wrapped');
    });
  }
});

describe('Forwarding under overload: packets may be dropped, never duplicated or sent too late', () => {
  /** A published track fed by hand, and the sequence numbers its one subscriber is given. */
  function track(): { feed(seq: number, ssrc?: number): void; forwarded: number[] } {
    let listener: RtpListener | undefined;
    const source: RtpSource = {
      kind: 'video',
      mimeType: 'video/VP8',
      onRtp(l) {
        listener = l;
        return () => {
          listener = undefined;
        };
      },
    };
    const published = new PublishedTrack('t', source);
    const forwarded: number[] = [];
    published.addSink({ write: (rtp) => forwarded.push(rtp.header.sequenceNumber), close() {} });
    const feed = (sequenceNumber: number, ssrc = 1234) =>
      listener!(
        new RtpPacket(
          new RtpHeader({ ssrc, sequenceNumber, timestamp: 0, payloadType: 96 }),
          Buffer.alloc(10),
        ),
        undefined,
        0,
      );
    return { feed, forwarded };
  }

  it('a packet a publisher sends again (repeated NACKs of an overloaded server) is forwarded once', () => {
    const t = track();
    for (let seq = 65530; seq < 65536; seq++) t.feed(seq);
    for (let seq = 0; seq < 5; seq++) t.feed(seq);
    // A retransmission of each, some more than once (werift repeats a NACK every 5 ms, up to 10 times).
    for (const seq of [65533, 65533, 2, 4, 4, 4, 65535]) t.feed(seq);
    t.feed(5);
    assert.deepEqual(t.forwarded, [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5]);
  });

  it('a packet that was lost is forwarded when its retransmission comes, unless it is too late', () => {
    const t = track();
    for (let seq = 65500; seq < 65536; seq++) if (seq !== 65510 && seq !== 65530) t.feed(seq);
    for (let seq = 0; seq < 150; seq++) t.feed(seq);
    // 65530 is 156 behind: an SRTP receiver guesses the rollover counter only within 100 sequence numbers
    // (werift's MaxROCDisorder), so it would be undecryptable (and useless to a jitter buffer) by now.
    t.feed(65530);
    t.feed(120); // a duplicate within the window
    t.feed(110 - 200 + 65536); // 200 behind: too late
    t.feed(100); // a retransmission of one that was forwarded
    assert.equal(t.forwarded.length, 34 + 150);
    assert.equal(new Set(t.forwarded).size, t.forwarded.length);
    assert.ok(!t.forwarded.includes(65530) && !t.forwarded.includes(65510));

    // Lost, then retransmitted in time: forwarded, once.
    t.feed(152);
    t.feed(151);
    t.feed(151);
    assert.deepEqual(t.forwarded.slice(-2), [152, 151]);
  });

  it('a stream that starts over (new SSRC, or sequence numbers far back) is forwarded from its new start', () => {
    const t = track();
    for (let seq = 1000; seq < 1010; seq++) t.feed(seq);
    for (let seq = 5; seq < 8; seq++) t.feed(seq, 999);
    for (let seq = 40000; seq < 40003; seq++) t.feed(seq, 999);
    for (let seq = 10; seq < 13; seq++) t.feed(seq, 999);
    assert.deepEqual(t.forwarded.slice(10), [5, 6, 7, 40000, 40001, 40002, 10, 11, 12]);
  });
});
