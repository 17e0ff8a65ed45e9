import type { RtpHeader } from 'werift';

/** RFC 8285 §4.2 one-byte and §4.3 two-byte header extension profiles. */
const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x1000;

export interface HeaderExtension {
  id: number;
  payload: Buffer;
}

/** The fields of a forwarded packet's header that the SFU rewrites; the rest come from the original. */
export interface RewrittenFields {
  ssrc: number;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  extensions: HeaderExtension[];
}

/** Whether the header carries an extension block (werift sets the X bit when there are extensions). */
function hasExtensionBlock(original: RtpHeader, extensions: HeaderExtension[]): boolean {
  return extensions.length > 0 || original.extension === true;
}

/** Size of the RFC 3550 §5.1 header with its RFC 8285 extension block, as werift's `serializeSize`. */
export function rtpHeaderSize(original: RtpHeader, extensions: HeaderExtension[]): number {
  let size = 12 + original.csrc.length * 4;
  if (hasExtensionBlock(original, extensions)) {
    let extSize = 4;
    if (original.extensionProfile === ONE_BYTE_PROFILE)
      for (const e of extensions) extSize += 1 + e.payload.length;
    else if (original.extensionProfile === TWO_BYTE_PROFILE)
      for (const e of extensions) extSize += 2 + e.payload.length;
    else extSize += extensions[0]!.payload.length;
    size += Math.floor((extSize + 3) / 4) * 4;
  }
  return size;
}

/**
 * Writes the header of `original` with the rewritten fields into `out` at `at` (exactly `size` bytes, from
 * rtpHeaderSize), byte for byte what werift's RtpHeader.serialize writes, without its temporary objects.
 */
export function writeRtpHeader(
  out: Buffer,
  size: number,
  original: RtpHeader,
  f: RewrittenFields,
  at = 0,
): void {
  const extension = hasExtensionBlock(original, f.extensions);
  const csrc = original.csrc;
  out[at] =
    ((original.version & 0x3) << 6) |
    (original.padding ? 0x20 : 0) |
    (extension ? 0x10 : 0) |
    (csrc.length & 0xf);
  out[at + 1] = (original.marker ? 0x80 : 0) | (f.payloadType & 0x7f);
  out.writeUInt16BE(f.sequenceNumber, at + 2);
  out.writeUInt32BE(f.timestamp, at + 4);
  out.writeUInt32BE(f.ssrc, at + 8);
  let offset = at + 12;
  for (const c of csrc) {
    out.writeUInt32BE(c, offset);
    offset += 4;
  }
  if (!extension) return;
  const lengthAt = offset + 2;
  out.writeUInt16BE(original.extensionProfile, offset);
  offset += 4;
  const start = offset;
  if (original.extensionProfile === ONE_BYTE_PROFILE) {
    for (const e of f.extensions) {
      out.writeUInt8((e.id << 4) | (e.payload.length - 1), offset++);
      offset += e.payload.copy(out, offset);
    }
  } else if (original.extensionProfile === TWO_BYTE_PROFILE) {
    for (const e of f.extensions) {
      out.writeUInt8(e.id, offset++);
      out.writeUInt8(e.payload.length, offset++);
      offset += e.payload.copy(out, offset);
    }
  } else {
    const raw = f.extensions[0]!.payload;
    if (raw.length % 4 !== 0)
      throw new RangeError('a raw RTP header extension must be a multiple of 4 bytes');
    offset += raw.copy(out, offset);
  }
  // RFC 3550 §5.3.1: the length counts 32-bit words; pad the block with zeros to a word boundary.
  out.writeUInt16BE(Math.trunc((offset - start + 3) / 4), lengthAt);
  out.fill(0, offset, at + size);
}
