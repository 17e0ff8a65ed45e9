import { randomInt } from 'node:crypto';
import { RtpHeader, RtpPacket } from 'werift';
import type { RtpListener, RtpSource } from '../sfu/index.js';
import { OpusEncoder, type OpusRate } from './opusCodec.js';
import { pcmAudioLevel } from './pcm.js';

/** Payload type of the packets made here; the SFU's senders rewrite it to what each peer negotiated. */
const OPUS_PAYLOAD_TYPE = 111;
/** RFC 7587 §4.1: the RTP clock of Opus is 48 kHz whatever the sampling rate of the audio. */
const OPUS_CLOCK = 48_000;

/**
 * An Opus track made on the server from PCM frames (the room's mix for a WHEP player, a phone caller's
 * voice): each `push` encodes one frame into one RTP packet, with its RFC 6464 level for active-speaker
 * detection.
 */
export class OpusFrameSource implements RtpSource {
  readonly kind = 'audio' as const;
  readonly mimeType = 'audio/opus';
  readonly sampleRate: OpusRate;
  packetsSent = 0;
  #encoder: OpusEncoder | undefined;
  #listeners = new Set<RtpListener>();
  readonly #ssrc = randomInt(1, 2 ** 32);
  #seq = randomInt(0, 0x10000);
  #timestamp = randomInt(0, 2 ** 32);
  #marker = true;

  constructor(sampleRate: OpusRate) {
    this.sampleRate = sampleRate;
    this.#encoder = new OpusEncoder(sampleRate);
  }

  onRtp(listener: RtpListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Encodes and sends one frame of mono samples at `sampleRate`. */
  push(pcm: Int16Array): void {
    if (!this.#encoder || pcm.length === 0) return;
    const payload = this.#encoder.encode(pcm);
    const header = new RtpHeader({
      payloadType: OPUS_PAYLOAD_TYPE,
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      ssrc: this.#ssrc,
      marker: this.#marker,
    });
    this.#marker = false;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + (pcm.length * OPUS_CLOCK) / this.sampleRate) % 2 ** 32;
    this.packetsSent++;
    const packet = new RtpPacket(header, payload);
    const level = pcmAudioLevel(pcm);
    for (const listener of this.#listeners) listener(packet, level, 0);
  }

  close(): void {
    this.#encoder?.close();
    this.#encoder = undefined;
    this.#listeners.clear();
  }
}
