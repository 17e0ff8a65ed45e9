import { RTCRtpSender } from 'werift';
import { replaceMethod } from './replaceMethod.js';

type Method = (...args: unknown[]) => unknown;

/**
 * NTP timestamps (RFC 5905 §6: seconds since 1900 in the high 32 bits, the fraction of a second in the
 * low 32 bits, in units of 2^-32 s) as werift should have made them, for every werift sender and receiver
 * in the process.
 *
 * werift 0.25.2's `ntpTime()` puts the *decimal digits* of the fraction in the low word
 * (`seconds.toString().split('.')`): 0.5 s becomes 5 × 2^-32 s. Every sender report it sends (RFC 3550
 * §6.4.1) so carries the time truncated to the whole second, each stream by a different part of a
 * second, while its RTP timestamp is exact: a receiver that lines up a person's audio and video from
 * their sender reports (a browser's lip sync, port545's recorder) is off by up to a second. werift's
 * function is internal to its bundle, so what it stamped is stamped again (below); port545's own fast
 * path (`RtpFastSender`) uses `ntpTime` here. `test/ntpTime.test.ts` fails without it.
 */
const NTP_UNIX_OFFSET_MS = Date.UTC(1900, 0, 1);
const FRACTION = 2 ** 32;

/** Now as a 64-bit NTP timestamp. */
export function ntpTime(): bigint {
  const ms = performance.timeOrigin + performance.now() - NTP_UNIX_OFFSET_MS;
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * FRACTION);
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

/** A 64-bit NTP timestamp as ms since 1970. */
export function ntpTimeToEpochMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n);
  const fraction = Number(ntp & 0xffff_ffffn) / FRACTION;
  return (seconds + fraction) * 1000 + NTP_UNIX_OFFSET_MS;
}

// werift's senders stamp each packet's send time on themselves (`ntpTimestamp`, what their next sender
// report says) in `dispatchRtp`, before its first `await`: it is stamped again here, correctly, right after.
// Only a packet that was sent is stamped (an early return leaves the old stamp).
const proto = RTCRtpSender.prototype as unknown as { dispatchRtp: Method; ntpTimestamp?: bigint };
replaceMethod(
  proto,
  'dispatchRtp',
  'werift RTCRtpSender',
  import.meta.url,
  (original) =>
    function (this: { ntpTimestamp?: bigint }, ...args: unknown[]) {
      const before = this.ntpTimestamp;
      const sent = original.apply(this, args);
      if (this.ntpTimestamp !== before) this.ntpTimestamp = ntpTime();
      return sent;
    },
);
