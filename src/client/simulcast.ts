/**
 * Simulcast (RFC 8853): a camera sent as several streams of one track, each a smaller copy, so that the
 * server can send each viewer the one that fits its tile and its bandwidth. Listed smallest first, named
 * by their `rid` (RFC 8851).
 */
export interface SimulcastEncoding {
  rid: string;
  scaleResolutionDownBy: number;
  maxBitrate: number;
}

/** Every layer there may be: a quarter, a half and the whole picture. */
const LAYERS: readonly SimulcastEncoding[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The layers to send a camera of `width`×`height` in, or undefined for one stream: three from 540 lines
 * (960×540: 240×135, 480×270 and the whole), two from 270 lines (the half and the whole), none below.
 * Browsers send no more layers than that either (libwebrtc's simulcast limits by resolution), and a
 * layer they would drop is better not asked for: the server would wait for it.
 */
export function simulcastEncodings(width: number, height: number): SimulcastEncoding[] | undefined {
  const lines = Math.min(width, height);
  if (lines >= 540) return LAYERS.map((layer) => ({ ...layer }));
  if (lines >= 270) return LAYERS.slice(1).map((layer) => ({ ...layer }));
  return undefined;
}
