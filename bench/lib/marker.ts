/**
 * A 12-byte trailer the load generator appends to every RTP payload it publishes: 'P545' and the send
 * time (Unix ms, float64, sub-millisecond). The SFU forwards payloads untouched, so a subscriber that
 * decrypts a packet finds the trailer at the end and knows when the publisher sent it: forwarding
 * latency on one clock, matched by payload, without a table of sent packets.
 */
export const MARKER_BYTES = 12;
const MAGIC = 0x50353435; // 'P545'

/** Wall-clock ms with sub-ms resolution; comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function withMarker(payload: Buffer, sentAtMs: number): Buffer {
  const out = Buffer.allocUnsafe(payload.length + MARKER_BYTES);
  payload.copy(out, 0);
  out.writeUInt32BE(MAGIC, payload.length);
  out.writeDoubleBE(sentAtMs, payload.length + 4);
  return out;
}

/** The send time in a packet (or payload) that ends with the trailer, else undefined. */
export function readMarker(packet: Buffer): number | undefined {
  const at = packet.length - MARKER_BYTES;
  if (at < 0 || packet.readUInt32BE(at) !== MAGIC) return undefined;
  return packet.readDoubleBE(at + 4);
}
