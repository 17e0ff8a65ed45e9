import { randomBytes } from 'node:crypto';
import { Connection } from 'werift';
import type { IceConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * ICE usernames (ufrags) with 48 random bits, for every werift ICE connection in the process.
 *
 * werift (0.25.2) makes a connection's local ufrag of 4 hex digits (`Connection.restart`): 16 bits, where
 * RFC 8445 §5.3 asks for at least 24. With every connection's media on one UDP port
 * (src/werift/udpMux.ts), checks are routed by that ufrag, and among 300 connections two share one about
 * every other time (the birthday bound: 1 − e^(−300²/2¹⁷) ≈ 0.5). The newer then took the older's checks,
 * which failed their integrity there, and the older never connected: the 300-viewer test lost 2 viewers so
 * in about one run of three. Twelve hex digits (48 bits) make a clash among 10,000 connections about one
 * in 5 million. The password stays werift's (22 hex digits, 88 bits: RFC 8445 asks for 128 bits of
 * randomness, but the ufrag is what routes).
 */
export const UFRAG_BYTES = 6;

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the old behaviour back silently.
type Restart = (this: UfragInternals) => Promise<void>;
interface UfragInternals extends Pick<IceConnectionInternals, 'localUsername' | 'localPassword'> {
  userHistory: Record<string, string>;
  protocols: { localCandidate?: { ufrag?: string } }[];
}
replaceMethod(
  Connection.prototype as unknown as { restart: Restart },
  'restart',
  'werift Connection',
  import.meta.url,
  (original) =>
    function (this: UfragInternals) {
      // werift's restart does its work before its first await: the new credentials are set on return.
      const done = original.call(this);
      const short = this.localUsername;
      const ufrag = randomBytes(UFRAG_BYTES).toString('hex');
      if (this.userHistory && this.userHistory[short] === this.localPassword) delete this.userHistory[short];
      if (this.userHistory) this.userHistory[ufrag] = this.localPassword;
      this.localUsername = ufrag;
      for (const protocol of this.protocols ?? [])
        if (protocol.localCandidate?.ufrag === short) protocol.localCandidate.ufrag = ufrag;
      return done;
    },
);
