import { Connection } from 'werift';
import type { IceConnectionInternals } from './internals.js';
import { replaceMethod } from './replaceMethod.js';

/**
 * No STUN server unless one is configured, for every werift ICE connection in the process.
 *
 * werift (0.25.2) asks a STUN server for a server-reflexive candidate on every IPv4 host candidate it
 * gathers: its default configuration lists Google's (`stun.l.google.com:19302`), and an empty `iceServers`
 * does not turn it off (`Connection.applyStunTurnServersFromOptions` falls back to the same). For a self-hosted
 * server that means a DNS query and STUN packets to an outside service for every peer connection, and a
 * gathering that waits for them: with a slow resolver, `setLocalDescription` took 4.7–5 s and joins failed
 * at the negotiation timeout (seen in `npm run bench -- --only workers` when 120 people joined at once).
 * port545 needs no server-reflexive candidate (a server is reachable at its host address, or at
 * `announcedIp` behind a 1:1 NAT), and clients talking to it are found as peer-reflexive candidates.
 *
 * So port545's peer configurations (src/sfu/peerConfig.ts, src/client/node.ts) set `iceServers: []`, and
 * this module replaces that method on werift's `Connection` prototype: a STUN server configured in
 * `iceServers` is kept, and there is none when nothing is. TURN is untouched.
 */

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if
// werift's shape changed, so an upgrade cannot bring the default back silently.
const proto = Connection.prototype as unknown as IceConnectionInternals;
replaceMethod(
  proto,
  'applyStunTurnServersFromOptions',
  'werift Connection',
  import.meta.url,
  (original) =>
    function (this: IceConnectionInternals) {
      original.call(this);
      if (!this.options?.stunServer) this.stunServer = undefined;
    },
);
