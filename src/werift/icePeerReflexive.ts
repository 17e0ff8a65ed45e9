import { Connection } from 'werift';
import type { IceConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * An ICE agent with no candidate from its peer waits for the peer's checks, for every werift ICE
 * connection in the process.
 *
 * werift (0.25.2) starts connectivity checks when the local description is applied and, if it has no
 * remote candidate at that moment, fails at once (`Connection.connect`: an empty check list is "ICE
 * negotiation failed"). A browser page without camera or microphone permission (a viewer, a WHEP player)
 * hides its addresses behind mDNS names, which the server does not resolve (sdpCheck.ts), so its offer or
 * answer carries no usable candidate: the connection failed before the browser's first check arrived, and
 * the join was refused. RFC 8445 §7.3.1.3 has the answer: a check from an unknown address makes a
 * peer-reflexive candidate. So `connect` first waits until a remote candidate pairs with a local one or
 * a check comes from the peer (werift keeps checks that come before `connect` and answers them), for up
 * to WAIT_FOR_PEER_MS; then werift's own `connect` runs, and fails as before if nothing came.
 *
 * "Pairs", not "exists": a client that offers only active ICE-TCP candidates (it dials; UDP blocked or
 * not wanted) gives the server candidates it never pairs (a passive candidate pairs only with the
 * peer-reflexive candidate of a connection that came in, and the server does not dial), so its check
 * list was empty too, and the connection failed before the client's TCP connection arrived.
 */

/** How long an agent without remote candidates waits for the peer's first check. */
const WAIT_FOR_PEER_MS = 15_000;
const POLL_MS = 20;

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the old behaviour back silently.
const proto = Connection.prototype as unknown as IceConnectionInternals;
replaceMethod(
  proto,
  'connect',
  'werift Connection',
  import.meta.url,
  (original) =>
    async function (this: IceConnectionInternals) {
      if (
        Array.isArray(this.remoteCandidates) &&
        Array.isArray(this.earlyChecks) &&
        typeof this.pairRemoteCandidate === 'function'
      ) {
        const deadline = Date.now() + WAIT_FOR_PEER_MS;
        // werift's own pairing (what `connect` does first), so the check list says whether any paired.
        const pairs = () => {
          for (const candidate of this.remoteCandidates) this.pairRemoteCandidate(candidate);
          return this.checkList.length;
        };
        while (
          pairs() === 0 &&
          this.earlyChecks.length === 0 &&
          this.state !== 'closed' &&
          Date.now() < deadline
        )
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      return original.call(this);
    },
);
