import { RTCPeerConnection } from 'werift';
import type { PeerConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * An ICE restart that actually runs its checks, for every werift peer connection in the process.
 *
 * werift (0.25.2) restarts an ICE transport when an offer asks for it (`createOffer({ iceRestart })`) or a
 * remote description brings new ICE credentials: new ufrag and password, no selected pair.
 * But `RTCPeerConnection.connect`, which runs once the answer is applied, skips every transport whose DTLS
 * is already connected, before starting ICE: after a restart the connection said `connected` at once,
 * while its ICE agent never checked a pair, had none selected, and sent nothing (RFC 7675: no consent, no
 * data). A connection whose consent expired (`failed`) therefore never carried media again. Here
 * `connect` runs the checks of such transports (RFC 8445 §9: a restart keeps DTLS, RFC 8842 §4) and only
 * then says `connected`, or `failed` when they fail, as werift does for a first connection. A restart
 * made while the checks of the previous one still run does not wait for them (they never end).
 * `test/capAndLift.test.ts` fails without it.
 */

/** The restart (werift's `iceRestarts`) whose checks ran last, per ICE transport. */
const checked = new WeakMap<object, number>();

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the old behaviour back silently.
const proto = RTCPeerConnection.prototype as unknown as PeerConnectionInternals;
replaceMethod(
  proto,
  'connect',
  'werift RTCPeerConnection',
  import.meta.url,
  (original) =>
    async function (this: PeerConnectionInternals) {
      const restarted = (this.dtlsTransports ?? []).filter(
        (d) =>
          d.state === 'connected' &&
          d.iceTransport.iceRestarts > (checked.get(d.iceTransport) ?? 0) &&
          d.iceTransport.connection.remoteUsername !== '' &&
          d.iceTransport.connection.remotePassword !== '',
      );
      if (restarted.length === 0) return original.call(this);
      for (const d of restarted) {
        checked.set(d.iceTransport, d.iceTransport.iceRestarts);
        // A restart during the checks of the one before (a path still dead) left that start waiting on a
        // check list the restart replaced, for ever; the next start would wait behind it, for ever.
        d.iceTransport.waitStart = undefined;
      }
      this.secureManager.setConnectionState('connecting');
      const results = await Promise.allSettled(restarted.map((d) => d.iceTransport.start()));
      // Transports not restarted (none with max-bundle) go through werift's own path.
      if (restarted.length < this.dtlsTransports.length) await original.call(this);
      const failed = results.some((r) => r.status === 'rejected');
      this.secureManager.setConnectionState(failed ? 'failed' : 'connected');
    },
);
