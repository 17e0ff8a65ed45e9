import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeG711, encodeG711 } from '../src/audio/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/audio/opusCodec.js';
import { pcmAudioLevel, pcmRms } from '../src/audio/pcm.js';
import { DtmfDetector, dtmfPayload, parseDtmfRelay } from '../src/gateways/sip/dtmf.js';
import { buildAnswer, negotiate, parseSdp } from '../src/gateways/sip/sipSdp.js';
import { ActiveSpeaker, SWITCH_AFTER_MS } from '../src/sfu/ActiveSpeaker.js';

const sine = (n: number, rate: number, amplitude = 8000, f = 440) =>
  Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * f * i) / rate)));

describe('audio codecs', () => {
  it('G.711 μ-law and A-law keep a tone within their 8-bit precision', () => {
    const pcm = sine(160, 8000);
    for (const law of ['mulaw', 'alaw'] as const) {
      const back = decodeG711(encodeG711(pcm, law), law);
      for (let i = 0; i < pcm.length; i++)
        assert.ok(Math.abs(back[i]! - pcm[i]!) <= 256, `${law} sample ${i}`);
      assert.ok(Math.abs(pcmRms(back) - pcmRms(pcm)) < 0.005);
    }
    // Silence encodes to the codes phones send for silence.
    assert.equal(encodeG711(new Int16Array(1), 'mulaw')[0], 0xff);
    assert.equal(encodeG711(new Int16Array(1), 'alaw')[0], 0xd5);
  });

  it('Opus (libopus as WebAssembly) round-trips 8 kHz and 48 kHz speech-band audio', () => {
    for (const rate of [8000, 48_000] as const) {
      const encoder = new OpusEncoder(rate);
      const decoder = new OpusDecoder(rate);
      const n = rate / 50;
      let out = 0;
      for (let f = 0; f < 25; f++) {
        const decoded = decoder.decode(encoder.encode(sine(n, rate)))!;
        assert.equal(decoded.length, n);
        if (f > 5) out = Math.max(out, pcmRms(decoded));
      }
      assert.ok(Math.abs(out - pcmRms(sine(n, rate))) < 0.03, `${rate} Hz: RMS ${out}`);
      assert.equal(decoder.decode(Buffer.from([0xff, 0xff, 0xff])), undefined, 'a corrupt packet is dropped');
      encoder.close();
      decoder.close();
    }
    assert.equal(pcmAudioLevel(new Int16Array(160)), 127);
    assert.equal(pcmAudioLevel(sine(160, 8000, 32767)), 3);
  });
});

describe('DTMF and SDP for phone calls', () => {
  it('turns RFC 4733 packets, including end retransmissions and reused timestamps, into one digit each', () => {
    const d = new DtmfDetector();
    const digits: string[] = [];
    const feed = (ts: number, digit: string, end: boolean) => {
      const got = d.push(ts, dtmfPayload(digit, end, 160));
      if (got) digits.push(got);
    };
    for (const [ts, digit] of [
      [100, '1'],
      [900, '2'],
      [900, '3'],
    ] as const) {
      feed(ts, digit, false);
      feed(ts, digit, false);
      feed(ts, digit, true);
      feed(ts, digit, true);
    }
    feed(900, '3', false); // the same key again with the same timestamp
    feed(900, '3', true);
    assert.deepEqual(digits, ['1', '2', '3', '3']);
    assert.equal(parseDtmfRelay('Signal=#\r\nDuration=160\r\n'), '#');
  });

  it("answers with the offerer's first codec and refuses what it cannot do with port 0", () => {
    const offer = parseSdp(
      'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n' +
        'm=audio 4000 RTP/AVP 9 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n' +
        'm=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n',
    );
    const n = negotiate(offer);
    assert.equal(n.codec.name, 'PCMA', 'G.722 (9) is skipped, PCMA is the first one supported');
    assert.equal(n.dtmfPayloadType, 101);
    const answer = buildAnswer(offer, n, { address: '127.0.0.1', port: 5004, sessionId: 1, version: 1 });
    assert.match(answer, /m=audio 5004 RTP\/AVP 8 101\r\n/);
    assert.match(answer, /m=video 0 RTP\/AVP 96\r\n/);
    assert.throws(
      () => negotiate(parseSdp('v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 9\r\n')),
      /no common codec/,
    );
    assert.throws(
      () => negotiate(parseSdp('v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/SAVP 0\r\n')),
      /RTP\/AVP only/,
    );
    const opus = negotiate(
      parseSdp('v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n'),
    );
    assert.equal(opus.codec.name, 'opus');
  });
});

describe('active speaker', () => {
  it('switches to whoever talks after a hold time, and holds the floor through pauses', () => {
    const s = new ActiveSpeaker();
    const at = (levels: Record<string, number>, now: number) =>
      s.update(new Map(Object.entries(levels)), now);
    assert.equal(at({ a: 0.3, b: 0 }, 0), 'a', 'the first speaker is chosen at once');
    assert.equal(at({ a: 0.3, b: 0.35 }, 100), 'a', 'someone slightly louder does not interrupt');
    assert.equal(at({ a: 0, b: 0.3 }, 200), 'a');
    assert.equal(at({ a: 0, b: 0.3 }, 200 + SWITCH_AFTER_MS - 1), 'a', 'not before the hold time');
    assert.equal(at({ a: 0, b: 0.3 }, 200 + SWITCH_AFTER_MS), 'b');
    assert.equal(at({ a: 0, b: 0 }, 2000), 'b', 'silence keeps the last speaker');
    assert.equal(at({ a: 0 }, 2100), undefined, 'a speaker who left is forgotten');
  });
});
