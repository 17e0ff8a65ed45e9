import {
  compactNtp,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  timestampSeconds,
} from 'werift';
import type { SenderInternals } from '../werift/internals.js';

/**
 * Sender reports (RFC 3550 §6.4.1) of the senders the fast path drives, on one timer per thread instead
 * of werift's loop per sender (`RTCRtpSender.runRtcp`: a promise timer with an AbortSignal per report, so
 * a separate wake-up of the thread for every sender about once a second). Each sender still reports at a
 * random 0.5–1.5 s interval (as werift), rounded up to the next tick, and the report is werift's: SR with
 * the sender's counters and its CNAME in an SDES, sent through werift's transport (SRTCP), with the
 * timestamps werift keeps for round-trip times updated the same way.
 */
const TICK_MS = 250;

/** Senders whose reports this module sends, and when each is next due (Date.now() ms). */
const due = new Map<SenderInternals, number>();
let timer: NodeJS.Timeout | undefined;

const nextInterval = () => 500 + Math.random() * 1000;

/**
 * Takes over the sender reports of `s`. Marks the sender's RTCP as running, so werift's own loop does not
 * start; werift's `stop()` clears the mark and the sender is dropped at the next tick.
 */
export function scheduleSenderReports(s: SenderInternals): void {
  if (s.rtcpRunning || s.stopped) return;
  s.rtcpRunning = true;
  due.set(s, Date.now() + nextInterval());
  if (!timer) {
    timer = setInterval(tick, TICK_MS);
    timer.unref();
  }
}

/** How many senders are reported on (for tests). */
export function reportedSenders(): number {
  return due.size;
}

function tick(): void {
  const now = Date.now();
  for (const [s, at] of due) {
    const state = s.dtlsTransport?.state;
    if (s.stopped || !s.rtcpRunning || state === 'closed' || state === 'failed') {
      due.delete(s);
      continue;
    }
    if (at > now) continue;
    due.set(s, now + nextInterval());
    if (state === 'connected') sendReport(s);
  }
  if (due.size === 0 && timer) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** As one turn of werift's `runRtcp`. */
function sendReport(s: SenderInternals): void {
  const packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[] = [
    new RtcpSrPacket({
      ssrc: s.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: s.ntpTimestamp,
        rtpTimestamp: s.rtpTimestamp,
        packetCount: s.packetCount,
        octetCount: s.octetCount,
      }),
    }),
  ];
  s.lastSRtimestamp = compactNtp(s.ntpTimestamp);
  s.lastSentSRTimestamp = timestampSeconds();
  if (s.cname) {
    packets.push(
      new RtcpSourceDescriptionPacket({
        chunks: [
          new SourceDescriptionChunk({
            source: s.ssrc,
            items: [new SourceDescriptionItem({ type: 1, text: s.cname })],
          }),
        ],
      }),
    );
  }
  s.dtlsTransport!.sendRtcp(packets).catch(() => {
    // As werift: a report that cannot be sent (the transport is closing) is skipped.
  });
}
