import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GenericNack, RTCRtpReceiver, RtpHeader, RtpPacket } from 'werift';
import '../src/sfu/nackWrap.js';

/** The NACK generator of a real werift receiver (the SFU's, for each published track; a bot's, downstream). */
function nackHandler() {
  const receiver = new RTCRtpReceiver({} as never, 'video', 1234);
  const handler = (receiver as unknown as { nack: NackHandlerLike }).nack;
  return { handler, close: () => handler.close() };
}

interface NackHandlerLike {
  addPacket(packet: RtpPacket): void;
  readonly lostSeqNumbers: number[];
  close(): void;
}

const packet = (sequenceNumber: number) =>
  new RtpPacket(new RtpHeader({ sequenceNumber, ssrc: 42, payloadType: 96 }), Buffer.alloc(10));

/**
 * RTP sequence numbers are 16 bits and wrap (RFC 3550 §A.1): a publisher that starts at a random number
 * passes 65535 → 0 within 11 minutes at 100 packets/s. A loss across the wrap must still be asked for again
 * (RFC 4585 §6.2.1), and so must every loss after it.
 */
describe('NACKs across the sequence number wrap', () => {
  it('asks again for packets lost across the wrap, and for losses after it', () => {
    const { handler, close } = nackHandler();
    try {
      for (const seq of [65530, 65531, 65532, 65533]) handler.addPacket(packet(seq));
      // 65534, 65535 and 0 are lost.
      handler.addPacket(packet(1));
      assert.deepEqual(
        [...handler.lostSeqNumbers].sort((a, b) => ((a - 65000) & 0xffff) - ((b - 65000) & 0xffff)),
        [65534, 65535, 0],
        'the packets lost across the wrap are asked for',
      );
      for (const seq of [65534, 65535, 0]) handler.addPacket(packet(seq));
      assert.deepEqual(handler.lostSeqNumbers, [], 'the retransmissions end the requests');
      handler.addPacket(packet(2));
      // 3 and 4 are lost, well after the wrap.
      handler.addPacket(packet(5));
      assert.deepEqual(
        [...handler.lostSeqNumbers].sort((a, b) => a - b),
        [3, 4],
        'losses after the wrap are asked for',
      );
    } finally {
      close();
    }
  });

  it('takes a late packet from before the wrap as late, not as a jump back', () => {
    const { handler, close } = nackHandler();
    try {
      for (const seq of [65534, 65535, 0, 1]) handler.addPacket(packet(seq));
      handler.addPacket(packet(65533));
      handler.addPacket(packet(3));
      assert.deepEqual(handler.lostSeqNumbers, [2]);
    } finally {
      close();
    }
  });

  it('reads a NACK whose bitmask crosses the wrap as the sequence numbers it names', () => {
    // As a browser writes it: PID 65535, and bits 0 and 2 of the bitmask (BLP) naming 0 and 2.
    const fci = Buffer.alloc(12);
    fci.writeUInt32BE(1, 0);
    fci.writeUInt32BE(2, 4);
    fci.writeUInt16BE(65535, 8);
    fci.writeUInt16BE(0b101, 10);
    const read = GenericNack.deSerialize(fci, new GenericNack().header);
    assert.deepEqual(read.lost, [65535, 0, 2]);
  });
});
