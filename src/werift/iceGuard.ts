import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RTCPeerConnection } from 'werift';
import type { IceConnectionInternals, IceProtocolInternals } from './internals.js';

/**
 * A gate in front of werift's ICE sockets, for UDP datagrams that belong to no session.
 *
 * werift 0.25 hands every non-STUN datagram that reaches a media port to DTLS/SRTP whatever its source,
 * and a DTLS record of an unknown content type makes it close the DTLS transport: one forged datagram
 * from anywhere ended a participant's media. It also acts on STUN binding requests without checking
 * USERNAME or MESSAGE-INTEGRITY, learning a peer-reflexive candidate and a pair (and sending checks) per
 * forged source. The gate keeps only what RFC 8445 lets through:
 * - STUN binding requests whose USERNAME starts with our ufrag and whose MESSAGE-INTEGRITY verifies with
 *   our password (RFC 8445 §7.3, RFC 5389 §10.1.2); other STUN (responses, which werift checks against its
 *   transactions; indications) passes;
 * - anything else only from the remote address of a pair that succeeded its checks (the peer's own
 *   address), and DTLS only with a real content type (RFC 6347 §4.1: 20–23).
 * A dropped datagram costs a few comparisons and leaves nothing behind.
 */

/** werift's `CandidatePairState.SUCCEEDED`. */
const PAIR_SUCCEEDED = 3;
const STUN_MAGIC_COOKIE = 0x2112a442;
const STUN_BINDING_REQUEST = 0x0001;
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;

/** What the gate did in this process, for tests and diagnostics. */
export const iceGuardStats: {
  dropped: number;
  guardedSockets: number;
  /** Called for every datagram with the gate's decision (tests watch particular senders with it). */
  observer: ((accepted: boolean, from: [string, number]) => void) | undefined;
} = { dropped: 0, guardedSockets: 0, observer: undefined };

const guarded = new WeakSet<object>();

function isConnection(value: unknown): value is IceConnectionInternals {
  const c = value as IceConnectionInternals | undefined;
  return (
    typeof c?.localUsername === 'string' &&
    typeof c.localPassword === 'string' &&
    Array.isArray(c.checkList) &&
    Array.isArray(c.protocols)
  );
}

function isProtocol(value: unknown): value is IceProtocolInternals {
  return typeof (value as IceProtocolInternals | undefined)?.datagramReceived === 'function';
}

const sameAddress = (a: [string, number] | undefined, b: [string, number]) =>
  a !== undefined && a[0] === b[0] && a[1] === b[1];

/** True for a STUN binding request we may answer: our ufrag, and an integrity that verifies. */
function authenticBindingRequest(data: Buffer, connection: IceConnectionInternals): boolean {
  let offset = 20;
  let username: string | undefined;
  const length = 20 + data.readUInt16BE(2);
  if (length > data.length) return false;
  while (offset + 4 <= length) {
    const type = data.readUInt16BE(offset);
    const size = data.readUInt16BE(offset + 2);
    const value = offset + 4;
    if (value + size > length) return false;
    if (type === ATTR_USERNAME) username = data.toString('utf8', value, value + size);
    if (type === ATTR_MESSAGE_INTEGRITY) {
      if (size !== 20 || username === undefined) return false;
      // RFC 8445 §7.2.2: USERNAME is "<our ufrag>:<their ufrag>".
      const ufrag = username.split(':')[0]!;
      const password =
        connection.userHistory?.[ufrag] ??
        (ufrag === connection.localUsername ? connection.localPassword : undefined);
      if (password === undefined) return false;
      // RFC 5389 §15.4: HMAC-SHA1 over the message up to the attribute, its length counting the attribute.
      const covered = Buffer.from(data.subarray(0, offset));
      covered.writeUInt16BE(offset + 24 - 20, 2);
      const expected = createHmac('sha1', password).update(covered).digest();
      return timingSafeEqual(expected, data.subarray(value, value + 20));
    }
    offset = value + size + ((4 - (size % 4)) % 4);
  }
  return false;
}

function accept(data: Buffer, addr: [string, number], connection: IceConnectionInternals): boolean {
  if (data.length === 0) return false;
  const first = data[0]!;
  // RFC 7983 §7: 0–3 is STUN.
  if (first <= 3) {
    if (data.length < 20 || data.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return false;
    if (data.readUInt16BE(0) !== STUN_BINDING_REQUEST) return true;
    return authenticBindingRequest(data, connection);
  }
  let known = sameAddress(connection.nominated?.remoteAddr, addr);
  for (const pair of connection.checkList) {
    if (known) break;
    known = pair.state === PAIR_SUCCEEDED && sameAddress(pair.remoteAddr, addr);
  }
  if (!known) return false;
  // 20–63 is DTLS; werift closes the transport on a record type it does not know.
  if (first >= 20 && first <= 63) return first <= 23;
  return true;
}

/**
 * Puts the gate in front of every ICE socket of `pc` that does not have it yet. Call it when gathering
 * completes (new sockets appear only then). Leaves werift untouched when its internals have changed shape.
 */
export function guardIce(pc: RTCPeerConnection): boolean {
  let all = true;
  for (const transport of pc.iceTransports) {
    const connection: unknown = (transport as unknown as { connection?: unknown }).connection;
    if (!isConnection(connection)) {
      all = false;
      continue;
    }
    for (const protocol of connection.protocols) {
      if (!isProtocol(protocol) || guarded.has(protocol)) continue;
      guarded.add(protocol);
      const original = protocol.datagramReceived.bind(protocol);
      protocol.datagramReceived = (data, addr) => {
        const accepted = accept(data, addr, connection);
        iceGuardStats.observer?.(accepted, addr);
        if (accepted) original(data, addr);
        else iceGuardStats.dropped++;
      };
      iceGuardStats.guardedSockets++;
    }
  }
  return all;
}
