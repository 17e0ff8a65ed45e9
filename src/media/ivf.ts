/**
 * IVF container (the libvpx test format): a 32-byte file header followed by frames, each with a 12-byte
 * header (4-byte little-endian size, 8-byte little-endian presentation timestamp in timebase units).
 */

export interface IvfFrame {
  /** Presentation timestamp in units of timebaseNum / timebaseDen seconds. */
  pts: number;
  data: Buffer;
}

export interface IvfFile {
  fourcc: string;
  width: number;
  height: number;
  /** Timebase denominator (the frame rate for constant-rate files). */
  timebaseDen: number;
  timebaseNum: number;
  frames: IvfFrame[];
}

export interface IvfWriteOptions {
  width: number;
  height: number;
  fps: number;
  fourcc?: string;
}

const FILE_HEADER_SIZE = 32;
const FRAME_HEADER_SIZE = 12;

/** Parses an IVF file. Frame data are views into `buf` (no copies). */
export function readIvf(buf: Buffer): IvfFile {
  if (buf.length < FILE_HEADER_SIZE) {
    throw new RangeError(`IVF: file is ${buf.length} bytes, shorter than the 32-byte header`);
  }
  if (buf.toString('latin1', 0, 4) !== 'DKIF') throw new Error('IVF: missing "DKIF" signature');
  const headerSize = buf.readUInt16LE(6);
  if (headerSize < FILE_HEADER_SIZE || headerSize > buf.length) {
    throw new RangeError(`IVF: invalid header size ${headerSize}`);
  }
  const fourcc = buf.toString('latin1', 8, 12);
  const width = buf.readUInt16LE(12);
  const height = buf.readUInt16LE(14);
  const timebaseDen = buf.readUInt32LE(16);
  const timebaseNum = buf.readUInt32LE(20);
  if (timebaseDen === 0 || timebaseNum === 0) {
    throw new RangeError(`IVF: invalid timebase ${timebaseNum}/${timebaseDen}`);
  }
  const frames: IvfFrame[] = [];
  let offset = headerSize;
  while (offset < buf.length) {
    if (offset + FRAME_HEADER_SIZE > buf.length) {
      throw new RangeError(`IVF: truncated frame header at offset ${offset} (frame ${frames.length})`);
    }
    const size = buf.readUInt32LE(offset);
    const pts = buf.readUInt32LE(offset + 4) + buf.readUInt32LE(offset + 8) * 2 ** 32;
    const start = offset + FRAME_HEADER_SIZE;
    if (start + size > buf.length) {
      throw new RangeError(
        `IVF: frame ${frames.length} at offset ${offset} claims ${size} bytes, only ${buf.length - start} left`,
      );
    }
    frames.push({ pts, data: buf.subarray(start, start + size) });
    offset = start + size;
  }
  return { fourcc, width, height, timebaseDen, timebaseNum, frames };
}

/**
 * Writes frames to an IVF buffer with timebase 1/fps. Plain buffers get pts = their index;
 * `{ pts, data }` frames keep their pts (in 1/fps units).
 */
export function writeIvf(frames: readonly (Buffer | IvfFrame)[], options: IvfWriteOptions): Buffer {
  const fourcc = options.fourcc ?? 'VP80';
  if (fourcc.length !== 4) throw new RangeError(`IVF: fourcc must be 4 characters, got "${fourcc}"`);
  if (!Number.isInteger(options.fps) || options.fps <= 0) {
    throw new RangeError(`IVF: fps must be a positive integer, got ${options.fps}`);
  }
  let total = FILE_HEADER_SIZE;
  for (const frame of frames)
    total += FRAME_HEADER_SIZE + (Buffer.isBuffer(frame) ? frame : frame.data).length;
  const out = Buffer.allocUnsafe(total);
  out.write('DKIF', 0, 'latin1');
  out.writeUInt16LE(0, 4);
  out.writeUInt16LE(FILE_HEADER_SIZE, 6);
  out.write(fourcc, 8, 'latin1');
  out.writeUInt16LE(options.width, 12);
  out.writeUInt16LE(options.height, 14);
  out.writeUInt32LE(options.fps, 16);
  out.writeUInt32LE(1, 20);
  out.writeUInt32LE(frames.length, 24);
  out.writeUInt32LE(0, 28);
  let offset = FILE_HEADER_SIZE;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!;
    const data = Buffer.isBuffer(frame) ? frame : frame.data;
    const pts = Buffer.isBuffer(frame) ? i : frame.pts;
    out.writeUInt32LE(data.length, offset);
    out.writeUInt32LE(pts % 2 ** 32, offset + 4);
    out.writeUInt32LE(Math.floor(pts / 2 ** 32), offset + 8);
    data.copy(out, offset + FRAME_HEADER_SIZE);
    offset += FRAME_HEADER_SIZE + data.length;
  }
  return out;
}
