/**
 * VP8 RTP payload format (RFC 7741). Payload descriptor (§4.2):
 *   byte 0:            |X|R|N|S|R| PID |
 *   if X, byte 1:      |I|L|T|K| RSV   |
 *   if I:              |M| PictureID   |  (+1 byte of PictureID when M=1: 15-bit PictureID)
 *   if L:              |   TL0PICIDX   |
 *   if T or K:         |TID|Y| KEYIDX  |
 * The VP8 payload header (§4.3) follows on the first packet of a frame; its bit 0 (P) is 0 for keyframes.
 */

/** Size of the descriptor written by `packetizeVp8`: X=1, I=1, M=1 (15-bit PictureID). */
export const VP8_DESCRIPTOR_SIZE = 4;

/** Descriptor length, or -1 when the payload is too short to hold its descriptor and one payload byte. */
export function vp8DescriptorLength(payload: Buffer): number {
  if (payload.length < 1) return -1;
  let offset = 1;
  if (payload[0]! & 0x80) {
    if (payload.length < 2) return -1;
    const ext = payload[1]!;
    offset = 2;
    if (ext & 0x80) {
      if (payload.length <= offset) return -1;
      offset += payload[offset]! & 0x80 ? 2 : 1;
    }
    if (ext & 0x40) offset++;
    if (ext & 0x30) offset++;
  }
  return offset < payload.length ? offset : -1;
}

/** Length of the payload descriptor: the offset of the VP8 data in an RTP payload. */
export function vp8PayloadOffset(payload: Buffer): number {
  const offset = vp8DescriptorLength(payload);
  if (offset < 0)
    throw new RangeError(`VP8: ${payload.length}-byte RTP payload is too short for its descriptor`);
  return offset;
}

/** True when the payload starts a VP8 partition 0 (S=1, PID=0), i.e. it is the first packet of a frame. */
export function isVp8FrameStart(payload: Buffer): boolean {
  return payload.length > 0 && (payload[0]! & 0x1f) === 0x10;
}

/** True only for the first packet of a keyframe: S=1, PID=0 and P=0 in the VP8 payload header. */
export function isVp8KeyframeStart(payload: Buffer): boolean {
  if (!isVp8FrameStart(payload)) return false;
  const offset = vp8DescriptorLength(payload);
  return offset > 0 && (payload[offset]! & 0x01) === 0;
}

/** True when a complete VP8 frame (no RTP descriptor) is a keyframe (RFC 6386 §9.1: frame tag bit 0 is 0). */
export function isVp8Keyframe(frame: Buffer): boolean {
  return frame.length > 0 && (frame[0]! & 0x01) === 0;
}

/**
 * Splits one VP8 frame into RTP payloads of at most `maxPayloadSize` bytes, each with a 4-byte descriptor
 * carrying the 15-bit PictureID; S=1 on the first one. The payloads share one allocation.
 */
export function packetizeVp8(frame: Buffer, pictureId: number, maxPayloadSize = 1200): Buffer[] {
  if (frame.length === 0) throw new RangeError('VP8: cannot packetize an empty frame');
  const maxChunk = maxPayloadSize - VP8_DESCRIPTOR_SIZE;
  if (maxChunk < 1) throw new RangeError(`VP8: maxPayloadSize ${maxPayloadSize} leaves no room for data`);
  const count = Math.ceil(frame.length / maxChunk);
  // Even split so the last packet is not a tiny remainder.
  const chunk = Math.ceil(frame.length / count);
  const out = Buffer.allocUnsafe(frame.length + count * VP8_DESCRIPTOR_SIZE);
  const pid0 = 0x80 | ((pictureId >> 8) & 0x7f);
  const pid1 = pictureId & 0xff;
  const payloads = new Array<Buffer>(count);
  let src = 0;
  let dst = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.min(chunk, frame.length - src);
    const start = dst;
    out[dst++] = i === 0 ? 0x90 : 0x80;
    out[dst++] = 0x80;
    out[dst++] = pid0;
    out[dst++] = pid1;
    dst += frame.copy(out, dst, src, src + size);
    src += size;
    payloads[i] = out.subarray(start, dst);
  }
  return payloads;
}
