/**
 * The subscriber bandwidth estimator against a simulated bottleneck: a link of a given capacity with a
 * queue that drops what does not fit (as `tc tbf` does), a sender that sends the largest of three layers
 * (200 kbit/s, 800 kbit/s, 1.5 Mbit/s) its estimate allows and probes for the next one with padding (as
 * the SFU does), and feedback every 50 ms as a browser sends it. Time is simulated, so the figures are the
 * controller's, not the machine's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BandwidthEstimator, type FeedbackPacket } from '../src/sfu/BandwidthEstimator.js';

const LAYERS = [200_000, 800_000, 1_500_000];
const PACKET_BYTES = 1200;
/** A padding-only packet: at most 255 bytes of padding, a header and SRTP's tag. */
const PADDING_BYTES = 290;

/** Runs `seconds` of a sender through a link whose capacity is `capacity(t)` bits per second. */
function simulate(capacity: (t: number) => number, seconds: number) {
  const bwe = new BandwidthEstimator();
  let t = 0;
  let seq = 0;
  let linkFreeAt = 0;
  let queuedBytes = 0;
  const inFlight: { seq: number; arrives: number; lost: boolean; sent: number }[] = [];
  const layerAt: number[] = [];
  /** Media packets (not padding) sent and lost at each second. */
  const mediaSent: number[] = [];
  const mediaLost: number[] = [];
  let paddingSent = 0;
  let nextFeedback = 0.05;
  let sendCredit = 0;
  let padCredit = 0;
  const step = 0.001;
  const send = (bytes: number, media: boolean) => {
    const rate = capacity(t);
    bwe.sent(seq, bytes, t * 1000, !media);
    // A queue of more than 30 KB (as a tbf with a small limit) drops the packet.
    const lost = queuedBytes + bytes > 30_000;
    let arrives = 0;
    if (!lost) {
      queuedBytes += bytes;
      linkFreeAt = Math.max(linkFreeAt, t) + (bytes * 8) / rate;
      arrives = linkFreeAt + 0.01;
    }
    if (media) {
      const second = Math.floor(t);
      mediaSent[second] = (mediaSent[second] ?? 0) + 1;
      if (lost) mediaLost[second] = (mediaLost[second] ?? 0) + 1;
    } else paddingSent++;
    inFlight.push({ seq, arrives, lost, sent: t });
    seq = (seq + 1) & 0xffff;
  };
  while (t < seconds) {
    let layer = 0;
    for (let i = 0; i < LAYERS.length; i++) if (LAYERS[i]! <= bwe.allocatable) layer = i;
    if (layer + 1 < LAYERS.length) bwe.probe(LAYERS[layer + 1]!, t * 1000);
    layerAt.push(layer);
    sendCredit += (LAYERS[layer]! * step) / 8;
    // The link drains its queue at its rate.
    queuedBytes = Math.max(0, queuedBytes - (capacity(t) * step) / 8);
    while (sendCredit >= PACKET_BYTES) {
      sendCredit -= PACKET_BYTES;
      send(PACKET_BYTES, true);
    }
    // A probe's padding, paced every 20 ms as the SFU paces it.
    if (Math.round(t / step) % 20 === 0) {
      padCredit = Math.min(padCredit + (bwe.paddingRate(t * 1000) * 0.02) / 8, 10 * PADDING_BYTES);
      if (!bwe.probing) padCredit = 0;
      while (padCredit >= PADDING_BYTES) {
        padCredit -= PADDING_BYTES;
        send(PADDING_BYTES, false);
      }
    }
    if (t >= nextFeedback) {
      nextFeedback += 0.05;
      const report: FeedbackPacket[] = [];
      while (inFlight.length && (inFlight[0]!.lost ? inFlight[0]!.sent + 0.02 : inFlight[0]!.arrives) <= t) {
        const p = inFlight.shift()!;
        // The receiver's clock is not the sender's: an offset of an hour changes nothing.
        report.push({ sequenceNumber: p.seq, received: !p.lost, receivedAtMs: p.arrives * 1000 + 3_600_000 });
      }
      if (report.length) bwe.feedback(report, t * 1000);
    }
    t += step;
  }
  /** The share of media packets lost from second `from` on. */
  const mediaLoss = (from: number) => {
    let sent = 0;
    let lost = 0;
    for (let i = from; i < mediaSent.length; i++) {
      sent += mediaSent[i] ?? 0;
      lost += mediaLost[i] ?? 0;
    }
    return sent ? lost / sent : 0;
  };
  return { bwe, layerAt, step, mediaLoss, paddingSent };
}

describe('the subscriber bandwidth estimator', () => {
  it('comes down below a 500 kbit/s cap within seconds and stays there, probing rarely', () => {
    const { layerAt, step, mediaLoss, paddingSent } = simulate(() => 500_000, 60);
    const after = (s: number) => layerAt.slice(Math.round(s / step));
    // Within 5 s it sends the low layer; over the minute, the time on a layer the link cannot carry.
    const firstLow = layerAt.findIndex((l, i) => i > 0 && l === 0) * step;
    assert.ok(firstLow >= 0 && firstLow < 5, `low layer after ${firstLow.toFixed(2)} s`);
    const over = after(5).filter((l) => l > 0).length * step;
    const lost = mediaLoss(5);
    console.log(
      `# capped at 500 kbit/s: low layer after ${firstLow.toFixed(2)} s; ${over.toFixed(2)} s of 55 s above it; ` +
        `${(lost * 100).toFixed(2)} % of media packets lost after that; ${paddingSent} padding packets (probes)`,
    );
    // Probes are padding: the layer stays down, and what the probes cost the picture is a little loss.
    assert.equal(over, 0, `${over.toFixed(2)} s on a layer over the cap`);
    assert.ok(paddingSent > 0, 'it probes');
    assert.ok(lost < 0.02, `${(lost * 100).toFixed(2)} % of the media lost`);
  });

  it('goes back to the high layer within 10 s of the cap being lifted', () => {
    const { layerAt, step } = simulate((t) => (t < 20 ? 500_000 : 10_000_000), 40);
    assert.equal(layerAt[Math.round(19 / step)], 0, 'low layer while capped');
    const high = layerAt.findIndex((l, i) => i * step > 20 && l === 2) * step;
    console.log(`# cap lifted at 20 s: high layer at ${high.toFixed(2)} s`);
    assert.ok(high > 20 && high < 30, `high layer ${(high - 20).toFixed(2)} s after the cap was lifted`);
    assert.equal(layerAt[layerAt.length - 1], 2, 'and stays there');
  });

  it('keeps the high layer on a link that carries it', () => {
    const { bwe, layerAt } = simulate(() => 5_000_000, 20);
    assert.ok(layerAt.slice(-1000).every((l) => l === 2));
    assert.ok(bwe.loss < 0.02, `loss ${bwe.loss}`);
  });
});
