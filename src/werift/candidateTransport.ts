import { Connection } from 'werift';
import { replaceMethod } from './replaceMethod.js';

/**
 * An incoming ICE check is matched to the remote candidate of its transport (RFC 8445 §7.2.5.2.1: a
 * candidate is a transport address, protocol included).
 *
 * werift's `checkIncoming` takes the first remote candidate with the check's IP address and port, whatever
 * its protocol. A port545 server offers a UDP and a passive TCP candidate on the same address and port
 * (src/werift/iceTcp.ts), so a UDP check could be paired with the TCP candidate: media still flowed (the
 * pair sends to the address), but the pair reported TCP for a UDP path (`port545 doctor`, the stats).
 * Before werift looks, the candidates of the check's transport are put ahead of the others at that
 * address; nothing else about them changes.
 */

interface CandidateLike {
  host: string;
  port: number;
  transport: string;
}
interface ProtocolLike {
  localCandidate?: { transport?: string };
}
type CheckIncoming = (message: unknown, addr: [string, number], protocol: ProtocolLike) => unknown;

// Runs once, when this module is first imported (src/werift/install.ts); replaceMethod throws if werift's
// shape changed.
replaceMethod(
  Connection.prototype as unknown as { checkIncoming: CheckIncoming },
  'checkIncoming',
  'werift Connection',
  import.meta.url,
  (original) =>
    function (
      this: { _remoteCandidates?: CandidateLike[] },
      message: unknown,
      addr: [string, number],
      protocol: ProtocolLike,
    ) {
      const list = this._remoteCandidates;
      const transport = (protocol.localCandidate?.transport ?? 'udp').toLowerCase();
      if (Array.isArray(list)) {
        const at = (c: CandidateLike) => c.host === addr[0] && c.port === addr[1];
        const first = list.findIndex(at);
        if (first >= 0 && list[first]!.transport.toLowerCase() !== transport) {
          const match = list.findIndex((c) => at(c) && c.transport.toLowerCase() === transport);
          if (match > first) {
            // The matching candidate moves to where the first one at that address was.
            const [candidate] = list.splice(match, 1);
            list.splice(first, 0, candidate!);
          }
        }
      }
      return original.call(this, message, addr, protocol);
    },
);
