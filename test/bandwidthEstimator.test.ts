/**
 * The subscriber bandwidth estimator against a simulated bottleneck: a link of a given capacity with a
 * queue that drops what does not fit (as `tc tbf` does), a sender that sends the largest of three layers
 * (200 kbit/s, 800 kbit/s, 1.5 Mbit/s) its estimate allows and probes for the next one, and feedback every
 * 50 ms as a browser sends it. Time is simulated, so the figures are the controller's, not the machine's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BandwidthEstimator, type FeedbackPacket } from '../src/sfu/BandwidthEstimator.js';

const LAYERS = [200_000, 800_000, 1_500_000];
const PACKET_BYTES = 1200;

/** Runs `seconds` of a sender through a link whose capacity is `capacity(t)` bits per second. */
function simulate(capacity: (t: number) => number, seconds: number) {
  const bwe = new BandwidthEstimator();
  let t = 0;
  let seq = 0;
  let linkFreeAt = 0;
  let queuedBytes = 0;
  const inFlight: { seq: number; arrives: number; lost: boolean; sent: number }[] = [];
  const layerAt: number[] = [];
  let nextFeedback = 0.05;
  let sendCredit = 0;
  const step = 0.001;
  while (t < seconds) {
    let layer = 0;
    for (let i = 0; i < LAYERS.length; i++) if (LAYERS[i]! <= bwe.estimate) layer = i;
    if (layer + 1 < LAYERS.length) bwe.probe(LAYERS[layer + 1]!, t * 1000);
    layerAt.push(layer);
    sendCredit += (LAYERS[layer]! * step) / 8;
    const rate = capacity(t);
    // The link drains its queue at its rate.
    queuedBytes = Math.max(0, queuedBytes - (rate * step) / 8);
    while (sendCredit >= PACKET_BYTES) {
      sendCredit -= PACKET_BYTES;
      bwe.sent(seq, PACKET_BYTES, t * 1000);
      // A queue of more than 30 KB (as a tbf with a small limit) drops the packet.
      const lost = queuedBytes + PACKET_BYTES > 30_000;
      let arrives = 0;
      if (!lost) {
        queuedBytes += PACKET_BYTES;
        linkFreeAt = Math.max(linkFreeAt, t) + (PACKET_BYTES * 8) / rate;
        arrives = linkFreeAt + 0.01;
      }
      inFlight.push({ seq, arrives, lost, sent: t });
      seq = (seq + 1) & 0xffff;
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
  return { bwe, layerAt, step };
}

describe('the subscriber bandwidth estimator', () => {
  it('comes down below a 500 kbit/s cap within seconds and stays there, probing rarely', () => {
    const { layerAt, step } = simulate(() => 500_000, 60);
    const after = (s: number) => layerAt.slice(Math.round(s / step));
    // Within 5 s it sends the low layer; over the minute, the time on a layer the link cannot carry.
    const firstLow = layerAt.findIndex((l, i) => i > 0 && l === 0) * step;
    assert.ok(firstLow >= 0 && firstLow < 5, `low layer after ${firstLow.toFixed(2)} s`);
    const over = after(5).filter((l) => l > 0).length * step;
    console.log(
      `# capped at 500 kbit/s: low layer after ${firstLow.toFixed(2)} s; ${over.toFixed(2)} s of 55 s above it (probes)`,
    );
    assert.ok(over < 55 * 0.1, `${over.toFixed(2)} s on a layer over the cap`);
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
