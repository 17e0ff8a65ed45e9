import { StunProtocol } from 'werift';
import type { StunProtocolInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * ICE consent checks wait long enough for their answer, for every werift ICE connection in the process.
 *
 * werift (0.25.2, `Connection.queryConsent`) sends a consent check (RFC 7675) every 4–6 s, once, and waits
 * for its answer 2 × the pair's last measured round trip + 200 ms, at least 500 ms. The round trip is
 * measured only from answers that came in time, so on loopback, where the first checks took a millisecond,
 * it waits 500 ms for ever. When the path's delay grows past that (a queue behind a capped uplink, or a
 * process whose event loop is busy for a while: the server and bots of the soak, on a loaded machine, hold
 * answers for longer than 500 ms) every check times out although every one is answered, the round trip is
 * never measured again, and after 30 s the connection is `failed` (consent expired): media stops until an
 * ICE restart, or the session ends. The soak saw it on connections that were never impaired.
 *
 * RFC 7675 §5.1 lets consent expire only after 30 s without any answer; an answer is an answer however late.
 * Here a consent check (werift's only UDP request sent without retransmissions and with an abort signal)
 * waits at least CONSENT_ANSWER_WAIT_MS, still less than the 4 s before werift sends the next one and
 * stops waiting for this. Connectivity checks (retransmitted, RFC 8445 §14.3) are untouched.
 * `test/consentWait.test.ts` fails without it.
 */
export const CONSENT_ANSWER_WAIT_MS = 3500;

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the old wait back silently.
const proto = StunProtocol.prototype as unknown as StunProtocolInternals;
replaceMethod(
  proto,
  'request',
  'werift StunProtocol',
  import.meta.url,
  (original) =>
    function (this: unknown, request, addr, integrityKey, options, onRequestSent) {
      if (
        typeof options === 'object' &&
        options.retransmissions === 0 &&
        options.signal !== undefined &&
        (options.responseTimeout ?? 0) < CONSENT_ANSWER_WAIT_MS
      )
        options = { ...options, responseTimeout: CONSENT_ANSWER_WAIT_MS };
      return original.call(this, request, addr, integrityKey, options, onRequestSent);
    },
);
