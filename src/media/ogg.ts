/**
 * Ogg Opus reading and writing: Ogg pages per RFC 3533, the Opus mapping (OpusHead, OpusTags, granule
 * positions in 48 kHz samples) per RFC 7845.
 */
import { opusPacketDurationSamples } from './opus.js';

export interface OggOpus {
  channels: number;
  /** Samples (48 kHz) to discard from the start of the decoded output. */
  preSkip: number;
  inputSampleRate: number;
  /** Q7.8 dB gain to apply to the decoded output. */
  outputGain: number;
  /** Audio packets only (OpusHead and OpusTags excluded). */
  packets: Buffer[];
}

export interface OggOpusWriteOptions {
  channels: 1 | 2;
  /** Samples (48 kHz) the decoder discards from the start; 0 by default (RFC 7845 §4.2). */
  preSkip?: number;
  inputSampleRate?: number;
  /** Ogg bitstream serial number; random by default. */
  serial?: number;
  vendor?: string;
}

const PAGE_HEADER_SIZE = 27;
const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
const MAX_SEGMENTS = 255;
// Audio pages are closed after this many packets or bytes (1 s of 20 ms packets keeps pages small).
const PACKETS_PER_PAGE = 50;
const BYTES_PER_PAGE = 8192;

// CRC-32 with polynomial 0x04c11db7, initial value 0, no reflection, no final XOR (RFC 3533 §6).
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

function crcUpdate(crc: number, buf: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ buf[i]!) & 0xff]!) >>> 0;
  return crc;
}

/** CRC of the page at `start`, computed with its CRC field (bytes 22-25) taken as zero. */
function pageCrc(buf: Buffer, start: number, end: number): number {
  let crc = crcUpdate(0, buf, start, start + 22);
  for (let i = 0; i < 4; i++) crc = ((crc << 8) ^ CRC_TABLE[(crc >>> 24) & 0xff]!) >>> 0;
  return crcUpdate(crc, buf, start + 26, end);
}

/** Parses the first logical stream of an Ogg Opus file. Packets that fit in one page are views into `buf`. */
export function readOggOpus(buf: Buffer): OggOpus {
  let serial: number | undefined;
  let head: Omit<OggOpus, 'packets'> | undefined;
  let packetCount = 0;
  const packets: Buffer[] = [];
  const pending: Buffer[] = [];
  let pageIndex = 0;
  let offset = 0;

  const onPacket = (packet: Buffer): void => {
    if (packetCount === 0) head = parseOpusHead(packet);
    else if (packetCount === 1) {
      if (packet.length < 8 || packet.toString('latin1', 0, 8) !== 'OpusTags') {
        throw new Error('Ogg Opus: second packet is not an OpusTags header');
      }
    } else packets.push(packet);
    packetCount++;
  };

  while (offset < buf.length) {
    if (offset + PAGE_HEADER_SIZE > buf.length) {
      throw new RangeError(`Ogg: truncated page header at offset ${offset}`);
    }
    if (buf.toString('latin1', offset, offset + 4) !== 'OggS') {
      throw new Error(`Ogg: no "OggS" capture pattern at offset ${offset}`);
    }
    if (buf[offset + 4] !== 0)
      throw new Error(`Ogg: unsupported stream structure version ${buf[offset + 4]}`);
    const flags = buf[offset + 5]!;
    const pageSerial = buf.readUInt32LE(offset + 14);
    const segments = buf[offset + 26]!;
    const bodyStart = offset + PAGE_HEADER_SIZE + segments;
    if (bodyStart > buf.length) throw new RangeError(`Ogg: truncated segment table at offset ${offset}`);
    let bodyLength = 0;
    for (let i = 0; i < segments; i++) bodyLength += buf[offset + PAGE_HEADER_SIZE + i]!;
    const pageEnd = bodyStart + bodyLength;
    if (pageEnd > buf.length) {
      throw new RangeError(`Ogg: page ${pageIndex} at offset ${offset} is truncated`);
    }
    if (pageCrc(buf, offset, pageEnd) !== buf.readUInt32LE(offset + 22))
      throw new Error(`Ogg: CRC mismatch on page ${pageIndex} at offset ${offset}`);

    if (serial === undefined) {
      if (!(flags & FLAG_BOS)) throw new Error('Ogg: first page is not a beginning-of-stream page');
      serial = pageSerial;
    }
    if (pageSerial === serial) {
      const continued = (flags & FLAG_CONTINUED) !== 0;
      if (continued !== pending.length > 0) {
        throw new Error(
          continued
            ? `Ogg: page ${pageIndex} continues a packet that was never started`
            : `Ogg: page ${pageIndex} does not continue the unfinished packet before it`,
        );
      }
      let packetStart = bodyStart;
      let pos = bodyStart;
      for (let i = 0; i < segments; i++) {
        const lacing = buf[offset + PAGE_HEADER_SIZE + i]!;
        pos += lacing;
        if (lacing < 255) {
          const tail = buf.subarray(packetStart, pos);
          if (pending.length === 0) onPacket(tail);
          else {
            pending.push(tail);
            onPacket(Buffer.concat(pending));
            pending.length = 0;
          }
          packetStart = pos;
        }
      }
      // The page ends with a 255 lacing value: the packet continues on the next page.
      if (packetStart < pos) pending.push(buf.subarray(packetStart, pos));
      if (flags & FLAG_EOS) break;
    }
    offset = pageEnd;
    pageIndex++;
  }
  if (!head) throw new Error('Ogg Opus: no OpusHead header found');
  if (packetCount < 2) throw new Error('Ogg Opus: no OpusTags header found');
  if (pending.length > 0) throw new RangeError('Ogg Opus: the stream ends in the middle of a packet');
  return { ...head, packets };
}

function parseOpusHead(packet: Buffer): Omit<OggOpus, 'packets'> {
  if (packet.length < 19 || packet.toString('latin1', 0, 8) !== 'OpusHead') {
    throw new Error('Ogg Opus: first packet is not an OpusHead header');
  }
  const version = packet[8]!;
  if (version >> 4 !== 0) throw new Error(`Ogg Opus: unsupported OpusHead version ${version}`);
  const channels = packet[9]!;
  if (channels === 0) throw new Error('Ogg Opus: OpusHead has a channel count of 0');
  return {
    channels,
    preSkip: packet.readUInt16LE(10),
    inputSampleRate: packet.readUInt32LE(12),
    outputGain: packet.readInt16LE(16),
  };
}

/** Writes Opus packets as an Ogg Opus stream (mapping family 0: mono or stereo). */
export function writeOggOpus(packets: readonly Buffer[], options: OggOpusWriteOptions): Buffer {
  const { channels } = options;
  if (channels !== 1 && channels !== 2)
    throw new RangeError(`Ogg Opus: channels must be 1 or 2, got ${channels}`);
  const preSkip = options.preSkip ?? 0;
  const serial = options.serial ?? Math.floor(Math.random() * 2 ** 32);
  const vendor = Buffer.from(options.vendor ?? 'port545', 'utf8');
  const pages: Buffer[] = [];
  let sequence = 0;

  const writePage = (flags: number, granule: number, lacing: number[], chunks: Buffer[], size: number) => {
    const page = Buffer.allocUnsafe(PAGE_HEADER_SIZE + lacing.length + size);
    page.write('OggS', 0, 'latin1');
    page[4] = 0;
    page[5] = flags;
    if (granule < 0) {
      // -1: no packet finishes on this page (RFC 3533 §6).
      page.writeUInt32LE(0xffffffff, 6);
      page.writeUInt32LE(0xffffffff, 10);
    } else {
      page.writeUInt32LE(granule % 2 ** 32, 6);
      page.writeUInt32LE(Math.floor(granule / 2 ** 32), 10);
    }
    page.writeUInt32LE(serial >>> 0, 14);
    page.writeUInt32LE(sequence++, 18);
    page[26] = lacing.length;
    for (let i = 0; i < lacing.length; i++) page[PAGE_HEADER_SIZE + i] = lacing[i]!;
    let pos = PAGE_HEADER_SIZE + lacing.length;
    for (const chunk of chunks) pos += chunk.copy(page, pos);
    page.writeUInt32LE(pageCrc(page, 0, page.length), 22);
    pages.push(page);
  };

  // RFC 7845 §5.1: OpusHead alone on the first (BOS) page; §5.2: OpusTags on the next page.
  const opusHead = Buffer.alloc(19);
  opusHead.write('OpusHead', 0, 'latin1');
  opusHead[8] = 1;
  opusHead[9] = channels;
  opusHead.writeUInt16LE(preSkip, 10);
  opusHead.writeUInt32LE(options.inputSampleRate ?? 48000, 12);
  writePage(FLAG_BOS, 0, [opusHead.length], [opusHead], opusHead.length);
  const opusTags = Buffer.alloc(8 + 4 + vendor.length + 4);
  opusTags.write('OpusTags', 0, 'latin1');
  opusTags.writeUInt32LE(vendor.length, 8);
  vendor.copy(opusTags, 12);
  writePage(0, 0, [opusTags.length], [opusTags], opusTags.length);

  let granule = 0;
  let lacing: number[] = [];
  let chunks: Buffer[] = [];
  let size = 0;
  let pageGranule = -1;
  let pagePackets = 0;
  let continued = false;
  const flush = (flags: number, nextContinued: boolean) => {
    writePage(flags | (continued ? FLAG_CONTINUED : 0), pageGranule, lacing, chunks, size);
    lacing = [];
    chunks = [];
    size = 0;
    pageGranule = -1;
    pagePackets = 0;
    continued = nextContinued;
  };

  for (const packet of packets) {
    granule += opusPacketDurationSamples(packet);
    // A packet is laced as floor(len / 255) segments of 255 and a final segment of len % 255 (maybe 0).
    let pos = 0;
    for (;;) {
      if (lacing.length === MAX_SEGMENTS) flush(0, true);
      const segment = Math.min(255, packet.length - pos);
      lacing.push(segment);
      chunks.push(packet.subarray(pos, pos + segment));
      size += segment;
      pos += segment;
      if (segment < 255) break;
    }
    pageGranule = granule;
    pagePackets++;
    if (pagePackets >= PACKETS_PER_PAGE || size >= BYTES_PER_PAGE) flush(0, false);
  }
  if (lacing.length > 0 || pages.length === 2) {
    if (pageGranule < 0) pageGranule = granule;
    flush(FLAG_EOS, false);
  } else {
    // The last page was already written: rewrite it with the EOS flag.
    const last = pages[pages.length - 1]!;
    last[5] = last[5]! | FLAG_EOS;
    last.writeUInt32LE(pageCrc(last, 0, last.length), 22);
  }
  return Buffer.concat(pages);
}
