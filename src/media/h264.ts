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

/** Reads an H.264 RBSP bit by bit (exp-Golomb codes, ITU-T H.264 §9.1); throws past its end. */
class BitReader {
  #bytes: Buffer;
  #bit = 0;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  bit(): number {
    const byte = this.#bytes[this.#bit >> 3];
    if (byte === undefined) throw new RangeError('past the end of the SPS');
    const value = (byte >> (7 - (this.#bit & 7))) & 1;
    this.#bit++;
    return value;
  }
  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.bit();
    return value;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) if (++zeros > 31) throw new RangeError('an exp-Golomb code too long');
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** The NAL units of an Annex B stream (split at 00 00 01 and 00 00 00 01 start codes). */
export function annexBUnits(stream: Buffer): Buffer[] {
  const units: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] !== 0 || stream[i + 1] !== 0 || stream[i + 2] !== 1) continue;
    if (start >= 0) units.push(stream.subarray(start, stream[i - 1] === 0 ? i - 1 : i));
    start = i + 3;
    i += 2;
  }
  if (start >= 0 && start < stream.length) units.push(stream.subarray(start));
  return units;
}

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices (§7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/**
 * The picture size an H.264 keyframe's sequence parameter set gives (ITU-T H.264 §7.3.2.1.1 and the
 * frame cropping of §7.4.2.1.1), from an Annex B access unit; undefined without an SPS or when it does
 * not parse. A recorder needs it before the first frame is written.
 */
export function h264PictureSize(accessUnit: Buffer): { width: number; height: number } | undefined {
  const sps = annexBUnits(accessUnit).find((unit) => (unit[0]! & 0x1f) === NAL_SPS);
  if (!sps) return undefined;
  // Emulation prevention bytes (00 00 03) out: the RBSP.
  const rbsp: number[] = [];
  for (let i = 1; i < sps.length; i++) {
    if (i >= 3 && sps[i] === 3 && sps[i - 1] === 0 && sps[i - 2] === 0) continue;
    rbsp.push(sps[i]!);
  }
  try {
    const r = new BitReader(Buffer.from(rbsp));
    const profile = r.bits(8);
    r.bits(16); // constraint flags, level
    r.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    let separateColourPlanes = 0;
    if (HIGH_PROFILES.has(profile)) {
      chromaFormat = r.ue();
      if (chromaFormat === 3) separateColourPlanes = r.bit();
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
          if (!r.bit()) continue;
          // scaling_list(): deltas until the next scale is 0 (§7.3.2.1.1.1).
          const size = i < 6 ? 16 : 64;
          let last = 8;
          let next = 8;
          for (let j = 0; j < size && next !== 0; j++) {
            next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const cycle = r.ue();
      for (let i = 0; i < cycle; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthInMbs = r.ue() + 1;
    const heightInMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let width = widthInMbs * 16;
    let height = (2 - frameMbsOnly) * heightInMapUnits * 16;
    if (r.bit()) {
      const [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
      const chroma = separateColourPlanes ? 0 : chromaFormat;
      const cropX = chroma === 1 || chroma === 2 ? 2 : 1;
      const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
      width -= (left + right) * cropX;
      height -= (top + bottom) * cropY;
    }
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}
