import { createCipheriv, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { SrtpContextInternals } from './weriftInternals.js';

const PROFILE_AES_CM_128_HMAC_SHA1_80 = 1;
const PROFILE_AEAD_AES_128_GCM = 7;
/** RFC 3711 §4.2 / RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_80 keeps 80 bits of the HMAC. */
const HMAC_TAG_BYTES = 10;
/** RFC 7714 §7.1: the AEAD_AES_128_GCM authentication tag. */
const GCM_TAG_BYTES = 16;

/**
 * SRTP packet encryption with the session keys of a werift SRTP context, producing the same bytes as
 * werift's CipherAesGcm / CipherAesCtr. What differs is the cost per packet: the keys are imported once
 * as KeyObjects, the IV or counter block is written into one reused buffer, and no helper objects are
 * made per packet. The rollover counter stays in werift's context, so werift's own sends of the same
 * stream (NACK retransmissions) keep agreeing with ours.
 */
export class SrtpEncryptor {
  readonly #gcm: boolean;
  readonly #key: KeyObject;
  readonly #authKey: KeyObject;
  readonly #salt: Buffer;
  /** 12 bytes (GCM IV) or 16 bytes (AES-CM counter block), rewritten for every packet. */
  readonly #iv: Buffer;
  readonly #roc = Buffer.alloc(4);

  constructor(context: SrtpContextInternals) {
    if (context.profile !== PROFILE_AEAD_AES_128_GCM && context.profile !== PROFILE_AES_CM_128_HMAC_SHA1_80)
      throw new RangeError(`SRTP protection profile ${context.profile} is not supported by the fast path`);
    this.#gcm = context.profile === PROFILE_AEAD_AES_128_GCM;
    this.#key = createSecretKey(context.srtpSessionKey);
    this.#authKey = createSecretKey(context.srtpSessionAuthTag);
    this.#salt = Buffer.from(context.srtpSessionSalt);
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
  }

  /** `header` is the serialized RTP header; returns header ‖ encrypted payload ‖ tag. */
  encrypt(header: Buffer, payload: Buffer, ssrc: number, sequenceNumber: number, roc: number): Buffer {
    return this.#gcm
      ? this.#encryptGcm(header, payload, ssrc, sequenceNumber, roc)
      : this.#encryptCtr(header, payload, ssrc, sequenceNumber, roc);
  }

  /** RFC 7714 §8.1: IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt; the header is the AAD (§8.2). */
  #encryptGcm(header: Buffer, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer {
    const iv = this.#iv;
    iv.writeUInt16BE(0, 0);
    iv.writeUInt32BE(ssrc, 2);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.#salt[i];
    const cipher = createCipheriv('aes-128-gcm', this.#key, iv);
    cipher.setAAD(header);
    const encrypted = cipher.update(payload);
    cipher.final();
    return Buffer.concat(
      [header, encrypted, cipher.getAuthTag()],
      header.length + encrypted.length + GCM_TAG_BYTES,
    );
  }

  /**
   * RFC 3711 §4.1.1: counter = (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16), index = ROC · 2^16 + SEQ;
   * §4.2: tag = HMAC-SHA1(auth key, header ‖ encrypted payload ‖ ROC), first 80 bits.
   */
  #encryptCtr(header: Buffer, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer {
    const iv = this.#iv;
    iv.writeUInt32BE(0, 0);
    iv.writeUInt32BE(ssrc, 4);
    iv.writeUInt32BE(roc, 8);
    iv.writeUInt32BE(seq * 0x10000, 12);
    for (let i = 0; i < 14; i++) iv[i]! ^= this.#salt[i];
    const encrypted = createCipheriv('aes-128-ctr', this.#key, iv).update(payload);
    this.#roc.writeUInt32BE(roc, 0);
    const tag = createHmac('sha1', this.#authKey).update(header).update(encrypted).update(this.#roc).digest();
    return Buffer.concat(
      [header, encrypted, tag.subarray(0, HMAC_TAG_BYTES)],
      header.length + encrypted.length + HMAC_TAG_BYTES,
    );
  }
}
