/**
 * G.711 (ITU-T G.711, 1988): 8 kHz telephone audio, one byte per sample. μ-law is RTP payload type 0
 * (PCMU), A-law payload type 8 (PCMA) (RFC 3551 §4.5.14). Samples are 16-bit signed PCM.
 */

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

/** One 16-bit sample to μ-law (G.711 §2, the segment/mantissa encoding with bias 132). */
export function linearToMuLaw(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > MULAW_CLIP) s = MULAW_CLIP;
  s += MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function muLawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

/** One 16-bit sample to A-law (G.711 §3: 13-bit magnitude, segments, even bits inverted with 0x55). */
export function linearToALaw(sample: number): number {
  let s = sample >> 3; // A-law works on 13 bits
  let sign = 0x80;
  if (s < 0) {
    sign = 0;
    s = -s - 1;
  }
  if (s > 0xfff) s = 0xfff;
  let byte: number;
  if (s < 32) byte = s >> 1;
  else {
    let exponent = 1;
    while (s >> (exponent + 5) > 0 && exponent < 7) exponent++;
    byte = (exponent << 4) | ((s >> exponent) & 0x0f);
  }
  return (byte | sign) ^ 0x55;
}

export function aLawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  let magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  magnitude = Math.min(magnitude, 32767);
  return a & 0x80 ? magnitude : -magnitude;
}

const MULAW_DECODE = Int16Array.from({ length: 256 }, (_, b) => muLawToLinear(b));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, b) => aLawToLinear(b));

export type G711Law = 'mulaw' | 'alaw';

export function encodeG711(pcm: Int16Array, law: G711Law): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  const encode = law === 'mulaw' ? linearToMuLaw : linearToALaw;
  for (let i = 0; i < pcm.length; i++) out[i] = encode(pcm[i]!);
  return out;
}

export function decodeG711(bytes: Uint8Array, law: G711Law): Int16Array {
  const table = law === 'mulaw' ? MULAW_DECODE : ALAW_DECODE;
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
  return out;
}
