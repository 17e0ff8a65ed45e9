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

/**
 * The frame size a VP8 keyframe's first packet declares (RFC 6386 §9.1: a 3-byte frame tag, the start
 * code 9d 01 2a, then 14-bit width and height, little-endian), or undefined for any other packet.
 */
export function vp8KeyframeSize(payload: Buffer): { width: number; height: number } | undefined {
  if (!isVp8KeyframeStart(payload)) return undefined;
  return vp8FrameSize(payload, vp8DescriptorLength(payload));
}

/** The picture size of a VP8 keyframe that starts at `at` of `data` (a whole frame: 0), else undefined. */
export function vp8FrameSize(data: Buffer, at = 0): { width: number; height: number } | undefined {
  if (at < 0 || data.length < at + 10 || (data[at]! & 0x01) !== 0) return undefined;
  if (data[at + 3] !== 0x9d || data[at + 4] !== 0x01 || data[at + 5] !== 0x2a) return undefined;
  return { width: data.readUInt16LE(at + 6) & 0x3fff, height: data.readUInt16LE(at + 8) & 0x3fff };
}

/** Where a payload descriptor keeps its PictureID and TL0PICIDX (RFC 7741 §4.2), as byte offsets. */
export interface Vp8Indices {
  /** Offset of the PictureID, -1 when absent. */
  pictureIdAt: number;
  /** 15 when the PictureID is 15 bits long (M=1), 7 when 7 bits, 0 when absent. */
  pictureIdBits: 0 | 7 | 15;
  pictureId: number;
  /** Offset of the TL0PICIDX, -1 when absent. */
  tl0At: number;
  tl0: number;
}

/** Reads the PictureID and TL0PICIDX of a VP8 payload descriptor; undefined when the descriptor is cut short. */
export function vp8Indices(payload: Buffer): Vp8Indices | undefined {
  if (vp8DescriptorLength(payload) < 0) return undefined;
  const indices: Vp8Indices = { pictureIdAt: -1, pictureIdBits: 0, pictureId: 0, tl0At: -1, tl0: 0 };
  if (!(payload[0]! & 0x80)) return indices;
  const ext = payload[1]!;
  let at = 2;
  if (ext & 0x80) {
    indices.pictureIdAt = at;
    if (payload[at]! & 0x80) {
      indices.pictureIdBits = 15;
      indices.pictureId = payload.readUInt16BE(at) & 0x7fff;
      at += 2;
    } else {
      indices.pictureIdBits = 7;
      indices.pictureId = payload[at]! & 0x7f;
      at += 1;
    }
  }
  if (ext & 0x40) {
    indices.tl0At = at;
    indices.tl0 = payload[at]!;
  }
  return indices;
}

/**
 * A copy of `payload` whose PictureID is `pictureId` and TL0PICIDX `tl0` (where the descriptor has them),
 * for an SFU that splices several streams into one: the receiver's decoder must see them continue.
 */
export function withVp8Indices(payload: Buffer, indices: Vp8Indices, pictureId: number, tl0: number): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  payload.copy(out);
  if (indices.pictureIdBits === 15) out.writeUInt16BE(0x8000 | (pictureId & 0x7fff), indices.pictureIdAt);
  else if (indices.pictureIdBits === 7) out[indices.pictureIdAt] = pictureId & 0x7f;
  if (indices.tl0At >= 0) out[indices.tl0At] = tl0 & 0xff;
  return out;
}
