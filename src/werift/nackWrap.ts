import { GenericNack, RTCRtpReceiver, type RtpPacket } from 'werift';
import type { NackHandlerInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * NACKs across the RTP sequence number wrap, for every werift receiver and sender in the process.
 *
 * werift (0.25.2) compares 16-bit sequence numbers as plain numbers (RFC 3550 §A.1 says: modulo 2^16).
 * - Its receiver's NACK generator (`NackHandler.addPacket`) takes a packet that follows a loss across
 *   65535 → 0 as older than the last one it saw: the loss is never asked for again, and neither is any
 *   loss after it, until the numbers come round to where it stopped (11 minutes at 100 packets/s). A
 *   publisher starts at a random number, so on a lossy path one call in a few dozen lost its repairs for
 *   minutes: the SFU stopped NACKing that publisher, every loss became a keyframe request, and the
 *   picture froze half the time (`test/impairment.test.ts` saw it once; `test/nackWrap.test.ts` shows it).
 * - Its NACK reader (`GenericNack.deSerialize`) names packets past 65535 for a bitmask that crosses the
 *   wrap (65536 instead of 0), which no sender's history holds: those retransmissions were never sent.
 * Both are replaced here with the same logic done modulo 2^16.
 */

/** werift's LOST_SIZE: how many lost packets a receiver asks for at most. */
const LOST_SIZE = 150;
/** Receivers that have seen their first packet (werift takes sequence number 0 for "none yet"). */
const started = new WeakSet<object>();

/** How far `seq` is ahead of `base`, modulo 2^16: 1..32767 ahead, 0 the same, 32768..65535 behind. */
const ahead = (seq: number, base: number) => (seq - base) & 0xffff;

let installed = false;

/** Idempotent; throws if werift's shape changed, so an upgrade cannot bring the old behaviour back silently. */
export function installNackWrap(): void {
  if (installed) return;
  const probe = new RTCRtpReceiver({} as never, 'video', 0) as unknown as { nack?: NackHandlerInternals };
  const proto = probe.nack && (Object.getPrototypeOf(probe.nack) as NackHandlerInternals);
  (probe.nack as unknown as { close?: () => void } | undefined)?.close?.();
  if (!proto || typeof proto.addPacket !== 'function' || typeof proto.setLost !== 'function')
    throw new Error('werift RTCRtpReceiver has no NackHandler: check src/werift/nackWrap.ts');

  proto.addPacket = function (this: NackHandlerInternals, packet: RtpPacket) {
    const { sequenceNumber: seq, ssrc } = packet.header;
    this.mediaSourceSsrc = ssrc;
    if (!started.has(this)) {
      started.add(this);
      this.newEstSeqNum = seq;
      return;
    }
    if (this.getLost(seq)) {
      this.removeLost(seq);
      return;
    }
    const gap = ahead(seq, this.newEstSeqNum);
    // The same packet again, or one from before the newest (late, not asked for): nothing to do.
    if (gap === 0 || gap >= 0x8000) return;
    // Everything between the newest and this one is lost; past LOST_SIZE it would be pruned at once.
    for (let i = Math.max(1, gap - LOST_SIZE); i < gap; i++)
      this.setLost((this.newEstSeqNum + i) & 0xffff, 1);
    this.newEstSeqNum = seq;
    if (gap > 1) this.pruneLost();
  };

  proto.pruneLost = function (this: NackHandlerInternals) {
    const lost = Object.keys(this._lost).map(Number);
    if (lost.length <= LOST_SIZE) return;
    // Keep the newest: those least far behind the newest packet seen.
    lost.sort((a, b) => ahead(this.newEstSeqNum, a) - ahead(this.newEstSeqNum, b));
    const kept: Record<number, number> = {};
    for (const seq of lost.slice(0, LOST_SIZE)) kept[seq] = this._lost[seq]!;
    this._lost = kept;
  };

  // Oldest first, so that a NACK's bitmasks cover runs across the wrap in order.
  Object.defineProperty(proto, 'lostSeqNumbers', {
    configurable: true,
    get(this: NackHandlerInternals) {
      return Object.keys(this._lost)
        .map(Number)
        .sort((a, b) => ahead(this.newEstSeqNum, b) - ahead(this.newEstSeqNum, a));
    },
  });

  replaceMethod(
    GenericNack,
    'deSerialize',
    'werift GenericNack',
    import.meta.url,
    (deSerialize) =>
      function (this: unknown, ...args: Parameters<typeof GenericNack.deSerialize>) {
        const nack: GenericNack = deSerialize.apply(this, args);
        nack.lost = nack.lost.map((seq) => seq & 0xffff);
        return nack;
      },
  );
  installed = true;
}

installNackWrap();
