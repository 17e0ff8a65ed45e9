/** H.264 RTP payload helpers (RFC 6184). */

const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

function isKeyNal(type: number): boolean {
  return type === NAL_IDR || type === NAL_SPS;
}

/**
 * True when an RTP H.264 payload starts a keyframe: a single IDR or SPS NAL unit, a STAP-A aggregating one
 * (§5.7.1), or the start fragment of an FU-A carrying one (§5.8).
 */
export function isH264KeyframeStart(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  if (type >= 1 && type <= 23) return isKeyNal(type);
  if (type === STAP_A) {
    // Each aggregated unit: 16-bit big-endian NALU size, then the NAL unit.
    let offset = 1;
    while (offset + 2 < payload.length) {
      const size = payload.readUInt16BE(offset);
      if (size === 0 || offset + 2 + size > payload.length) return false;
      if (isKeyNal(payload[offset + 2]! & 0x1f)) return true;
      offset += 2 + size;
    }
    return false;
  }
  if (type === FU_A) {
    if (payload.length < 2) return false;
    const fuHeader = payload[1]!;
    return (fuHeader & 0x80) !== 0 && isKeyNal(fuHeader & 0x1f);
  }
  return false;
}
