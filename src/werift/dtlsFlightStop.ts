import { RTCDtlsTransport } from 'werift';
import type { DtlsTransportStopInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * A DTLS handshake that is still retransmitting when its transport stops ends at the next retransmission,
 * for every werift DTLS transport in the process.
 *
 * werift (0.25.2) sends each handshake flight again after 0.5, 1, 1.5 … 5.5 s until the peer's next
 * flight arrives (`Flight.transmit`), and nothing stops that loop when the connection closes: a peer
 * connection closed during its handshake (a refused join, a page that left at once, a test) went on
 * retransmitting into a closed ICE agent for 33 s, and its timer kept a Node process (a bot, a test file)
 * from exiting for as long. The loop stops by itself once the handshake has moved past the flight it
 * waits for (`dtls.flight >= nextFlight`); stopping the transport now says so, also to a flight that had not
 * started yet (werift starts a client's first one 100 ms after the transport, and a close often comes
 * in between: one ClientHello, 0.5 s, and done).
 */

/** Past every flight of the handshake (client flights 1, 3, 5; server 2, 4, 6). */
const PAST_EVERY_FLIGHT = 1_000;

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the old behaviour back silently.
const proto = RTCDtlsTransport.prototype as unknown as DtlsTransportStopInternals;
replaceMethod(
  proto,
  'stop',
  'werift RTCDtlsTransport',
  import.meta.url,
  (original) =>
    function (this: DtlsTransportStopInternals) {
      const context = this.dtls?.dtls;
      // For good: a client transport stopped within werift's 100 ms before its first flight would set
      // it back to 1 and retransmit from there.
      if (context && typeof context.flight === 'number')
        Object.defineProperty(context, 'flight', {
          get: () => PAST_EVERY_FLIGHT,
          set: () => {},
          configurable: true,
        });
      return original.call(this);
    },
);
