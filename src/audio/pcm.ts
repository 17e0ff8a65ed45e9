/** Helpers for 16-bit mono PCM frames. */

/** Root mean square of the samples, 0 (silence) to 1 (full scale). */
export function pcmRms(pcm: Int16Array): number {
  if (pcm.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i]! / 32768;
    sum += s * s;
  }
  return Math.sqrt(sum / pcm.length);
}

/** The RFC 6464 level of a frame: -dBov from 0 (full scale) to 127 (silence). */
export function pcmAudioLevel(pcm: Int16Array): number {
  const rms = pcmRms(pcm);
  if (rms <= 0) return 127;
  return Math.max(0, Math.min(127, Math.round(-20 * Math.log10(rms))));
}

/** The samples of a little-endian 16-bit PCM buffer, without copying when it is aligned. */
export function int16View(buffer: Buffer): Int16Array {
  if (buffer.byteOffset % 2 === 0)
    return new Int16Array(buffer.buffer, buffer.byteOffset, buffer.length >> 1);
  const copy = new Int16Array(buffer.length >> 1);
  for (let i = 0; i < copy.length; i++) copy[i] = buffer.readInt16LE(i * 2);
  return copy;
}
