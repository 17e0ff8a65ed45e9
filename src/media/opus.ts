/** Opus packet helpers (RFC 6716). Durations are in 48 kHz samples. */

/** Maximum duration of one Opus packet: 120 ms (RFC 6716 §3.2.5). */
export const OPUS_MAX_PACKET_SAMPLES = 5760;

// Frame size per TOC config (RFC 6716 §3.1, table 2): SILK 10/20/40/60 ms, Hybrid 10/20 ms,
// CELT 2.5/5/10/20 ms.
const FRAME_SAMPLES = new Uint16Array([
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 480, 960, 120, 240, 480, 960,
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
]);

/** Duration of one frame of a packet, from its TOC byte. */
export function opusFrameSamples(toc: number): number {
  return FRAME_SAMPLES[(toc >> 3) & 0x1f]!;
}

/** Duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count (RFC 6716 §3.1-3.2). */
export function opusPacketDurationSamples(packet: Buffer): number {
  if (packet.length === 0) throw new RangeError('Opus: empty packet has no TOC byte');
  const toc = packet[0]!;
  let frames: number;
  switch (toc & 0x03) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default:
      // Code 3: the frame count M is in the low 6 bits of the second byte (§3.2.5).
      if (packet.length < 2) throw new RangeError('Opus: code 3 packet is missing its frame count byte');
      frames = packet[1]! & 0x3f;
      if (frames === 0) throw new RangeError('Opus: code 3 packet with a frame count of 0');
  }
  const samples = frames * opusFrameSamples(toc);
  if (samples > OPUS_MAX_PACKET_SAMPLES) {
    throw new RangeError(`Opus: packet lasts ${samples} samples, more than the 120 ms maximum`);
  }
  return samples;
}
