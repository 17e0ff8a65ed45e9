import OpusScript from 'opusscript';
import { int16View } from './pcm.js';

/** Sample rates libopus can decode to and encode from. */
export type OpusRate = 8000 | 12000 | 16000 | 24000 | 48000;

/**
 * libopus (as WebAssembly, from the opusscript package) for one mono stream. Decoding straight to 8 kHz
 * and encoding straight from it lets libopus do the resampling for G.711 calls. Call `close` to free the
 * WebAssembly memory. RTP timestamps of Opus always count 48 kHz (RFC 7587 §4.1), whatever the rate here.
 */
export class OpusDecoder {
  readonly sampleRate: OpusRate;
  #opus: OpusScript | undefined;

  constructor(sampleRate: OpusRate) {
    this.sampleRate = sampleRate;
    this.#opus = new OpusScript(sampleRate, 1, OpusScript.Application.VOIP);
  }

  /** Decodes one packet to mono samples; undefined when the packet is corrupt. */
  decode(packet: Buffer): Int16Array | undefined {
    if (!this.#opus || packet.length === 0) return undefined;
    try {
      return int16View(this.#opus.decode(packet));
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.#opus?.delete();
    this.#opus = undefined;
  }
}

export class OpusEncoder {
  readonly sampleRate: OpusRate;
  #opus: OpusScript | undefined;

  constructor(sampleRate: OpusRate, bitrate = 32_000) {
    this.sampleRate = sampleRate;
    this.#opus = new OpusScript(sampleRate, 1, OpusScript.Application.VOIP);
    this.#opus.setBitrate(bitrate);
  }

  /** Encodes one frame (2.5 to 60 ms of mono samples at `sampleRate`). */
  encode(pcm: Int16Array): Buffer {
    if (!this.#opus) throw new Error('the Opus encoder is closed');
    return this.#opus.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), pcm.length);
  }

  close(): void {
    this.#opus?.delete();
    this.#opus = undefined;
  }
}
