import * as crypto from 'node:crypto';
import { type Cipher, createCipheriv, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { endianness } from 'node:os';
import type { SrtpContextInternals } from '../werift/internals.js';
import {
  GCM_TAG_BYTES,
  HMAC_TAG_BYTES,
  PROFILE_AEAD_AES_128_GCM,
  PROFILE_AES_CM_128_HMAC_SHA1_80,
  writeGcmIv,
} from './srtpConstants.js';
import { type BufferOwner, flushSendBatch } from './udpSend.js';

/** SHA-1's block size: the HMAC key pads (RFC 2104 §2). */
const SHA1_BLOCK = 64;
const SHA1_BYTES = 20;

type Words = Int32Array<ArrayBufferLike>;

/**
 * Where a packet starts in an AES-CM encryptor's buffer (`AesCmPackets.buffer`): the 64 bytes before it
 * hold the HMAC inner key pad, so that HMAC-SHA1's inner hash is one hash of one contiguous range.
 */
export const SEAL_OFFSET = SHA1_BLOCK;

/** Keystream is made for this many consecutive packets of a stream at once (one call into OpenSSL). */
const KEYSTREAM_BATCH = 16;

/**
 * Node's one-shot `crypto.hash` (Node ≥ 20.12) with a string result: about a microsecond cheaper per call
 * than a Hash object or a Buffer result. Without it the AES-CM path uses createHmac.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'binary') => string })
  .hash;
/** Counter blocks are written as 32-bit words of the host's byte order (x86 and ARM: little-endian). */
const littleEndian = endianness() === 'LE';
const bswap32 = (x: number) =>
  ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | ((x >>> 24) & 0xff);
const bswap16 = (x: number) => ((x & 0xff) << 8) | ((x >>> 8) & 0xff);

const NO_BUFFER = Buffer.alloc(0);

/** Counter blocks of the batch being encrypted; shared, since a batch is made and used synchronously. */
let counters: Words = new Int32Array(0);

/** The last payload given an Int32Array view: each forwarded payload is sealed once per subscriber. */
let viewedPayload: Buffer | undefined;
let payloadWords: Words = new Int32Array(0);

/**
 * SRTP packet encryption with the session keys of a werift SRTP context, producing the same bytes as
 * werift's CipherAesGcm / CipherAesCtr. What differs is the cost per packet: the keys are imported once
 * as KeyObjects, the IV or counter block is written into one reused buffer, and no helper objects are
 * made per packet. The rollover counter stays in werift's context, so werift's own sends of the same
 * stream (NACK retransmissions) keep agreeing with ours.
 *
 * With AES_CM_128_HMAC_SHA1_80 (`aesCm`) the packet can be sealed in place (`aesCm.seal`): the keystream
 * comes in batches from one reused AES-ECB context and the HMAC from two one-shot hashes, so a packet
 * costs two calls into OpenSSL instead of the five (and a cipher object) AES-GCM takes in Node.
 */
export class SrtpEncryptor {
  readonly #gcm: boolean;
  readonly #key: KeyObject;
  readonly #authKey: KeyObject;
  readonly #salt: Buffer;
  /** 12 bytes (GCM IV) or 16 bytes (AES-CM counter block), rewritten for every packet. */
  readonly #iv: Buffer;
  readonly #roc = Buffer.alloc(4);
  /** The in-place AES-CM sealer, for profile AES_CM_128_HMAC_SHA1_80 on a little-endian host. */
  readonly aesCm: AesCmPackets | undefined;

  constructor(context: SrtpContextInternals) {
    if (context.profile !== PROFILE_AEAD_AES_128_GCM && context.profile !== PROFILE_AES_CM_128_HMAC_SHA1_80)
      throw new RangeError(`SRTP protection profile ${context.profile} is not supported by the fast path`);
    this.#gcm = context.profile === PROFILE_AEAD_AES_128_GCM;
    this.#key = createSecretKey(context.srtpSessionKey);
    this.#authKey = createSecretKey(context.srtpSessionAuthTag);
    this.#salt = Buffer.from(context.srtpSessionSalt);
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
    if (!this.#gcm && littleEndian)
      this.aesCm = new AesCmPackets(
        context.srtpSessionKey,
        context.srtpSessionSalt,
        context.srtpSessionAuthTag,
      );
  }

  /** `header` is the serialized RTP header; returns header ‖ encrypted payload ‖ tag. */
  encrypt(header: Buffer, payload: Buffer, ssrc: number, sequenceNumber: number, roc: number): Buffer {
    if (this.#gcm) return this.#encryptGcm(header, payload, ssrc, sequenceNumber, roc);
    const cm = this.aesCm;
    if (!cm) return this.#encryptCtr(header, payload, ssrc, sequenceNumber, roc);
    const buffer = cm.reserve(header.length + payload.length);
    header.copy(buffer, SEAL_OFFSET);
    const size = cm.seal(cm.keystream(ssrc), header.length, payload, sequenceNumber, roc);
    return Buffer.from(buffer.subarray(SEAL_OFFSET, SEAL_OFFSET + size));
  }

  /** RFC 7714 §8.1: IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt; the header is the AAD (§8.2). */
  #encryptGcm(header: Buffer, payload: Buffer, ssrc: number, seq: number, roc: number): Buffer {
    const iv = writeGcmIv(this.#iv, this.#salt, ssrc, roc, seq);
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
   * §4.2: tag = HMAC-SHA1(auth key, header ‖ encrypted payload ‖ ROC), first 80 bits. (Big-endian hosts.)
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

/** The keystream of one SSRC for a run of consecutive packet indexes (RFC 3711 §3.3.1: ROC · 2^16 + SEQ). */
export class Keystream {
  readonly ssrc: number;
  /** Index of the first packet of the batch; -1 before the first. */
  first = -1;
  /** AES blocks of keystream per packet in the batch. */
  blocks = 0;
  words: Words = new Int32Array(0);

  constructor(ssrc: number) {
    this.ssrc = ssrc;
  }
}

/**
 * SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711) packet sealing in one reusable buffer, for one SRTP session
 * (one transport; its streams are told apart by SSRC).
 *
 * - AES-CM: the keystream block j of the packet with index i is AES(k_e, (k_s · 2^16) XOR (SSRC · 2^64)
 *   XOR (i · 2^16) + j) (§4.1.1). It depends on nothing but the SSRC and the index, and a forwarded
 *   stream's indexes come one after another, so the keystream of the next KEYSTREAM_BATCH packets is made
 *   in one AES-ECB call over their counter blocks, with one ECB context reused for the session's life.
 *   Encrypting is then an XOR, 32 bits at a time.
 * - HMAC-SHA1 (RFC 2104) over header ‖ encrypted payload ‖ ROC (§4.2): the inner key pad is kept in the
 *   64 bytes before the packet, so the inner hash is one one-shot hash of one range; the outer hash is
 *   another of 84 bytes.
 *
 * The caller writes the RTP header at SEAL_OFFSET of `buffer` (after `reserve`), calls `seal`, and sends
 * `buffer[SEAL_OFFSET, SEAL_OFFSET + size)`. The buffer is reused by the next packet: a caller that hands
 * it to something that keeps it (an asynchronous socket send) calls `release` first.
 */
export class AesCmPackets implements BufferOwner {
  /** The buffer's packet waits in a send batch (see udpSend.ts): the next `reserve` sends the batch first. */
  queued = false;
  readonly #ecb: Cipher;
  readonly #authKey: KeyObject;
  /** RFC 2104: (key XOR ipad), the first block of the inner hash; written before each packet. */
  readonly #innerPad: Buffer;
  /** (key XOR opad) ‖ inner hash: the outer hash's input. */
  readonly #outer: Buffer;
  /** Counter block words of the session salt, as host-order words (§4.1.1). */
  readonly #salt0: number;
  readonly #salt1: number;
  readonly #salt2: number;
  /** Bytes 12–13 of the salt, which the sequence number is XORed into. */
  readonly #salt3: number;
  readonly #streams = new Map<number, Keystream>();
  #buffer: Buffer = NO_BUFFER;
  #words: Words = new Int32Array(0);
  /** The last views of the buffer handed out (the packet, what the inner hash covers); reset with it. */
  #packet: Buffer = NO_BUFFER;
  #hashed: Buffer = NO_BUFFER;

  constructor(sessionKey: Buffer, sessionSalt: Buffer, authKey: Buffer) {
    if (sessionKey.length !== 16 || sessionSalt.length !== 14)
      throw new RangeError('AES_CM_128 needs a 16-byte session key and a 14-byte session salt');
    this.#ecb = createCipheriv('aes-128-ecb', sessionKey, null);
    this.#ecb.setAutoPadding(false);
    this.#authKey = createSecretKey(authKey);
    // RFC 2104 §2: a key longer than the block would be hashed first; the SRTP auth key is 20 bytes.
    this.#innerPad = Buffer.alloc(SHA1_BLOCK, 0x36);
    this.#outer = Buffer.alloc(SHA1_BLOCK + SHA1_BYTES, 0x5c);
    for (let i = 0; i < authKey.length; i++) {
      this.#innerPad[i]! ^= authKey[i];
      this.#outer[i]! ^= authKey[i];
    }
    this.#salt0 = bswap32(sessionSalt.readUInt32BE(0));
    this.#salt1 = sessionSalt.readUInt32BE(4);
    this.#salt2 = sessionSalt.readUInt32BE(8);
    this.#salt3 = sessionSalt.readUInt16BE(12);
  }

  /** The buffer to write a packet of `size` bytes (header + payload) into, at SEAL_OFFSET. */
  reserve(size: number): Buffer {
    if (this.queued) flushSendBatch();
    // Room for the packet, then its ROC (hashed) where the tag goes.
    const needed = SEAL_OFFSET + size + HMAC_TAG_BYTES;
    if (this.#buffer.length < needed) this.#renew(Math.max(needed, 1536));
    return this.#buffer;
  }

  /** Gives up the current buffer (its packet is still being sent); the next `reserve` makes another. */
  release(): void {
    this.#buffer = NO_BUFFER;
    this.#packet = this.#hashed = NO_BUFFER;
  }

  /** BufferOwner: the queued packet went out; a send that still holds the buffer keeps it. */
  sent(free: boolean): void {
    if (!free) this.release();
  }

  /**
   * The sealed packet of `size` bytes: a view of the buffer, the same object while the size repeats (most
   * of a video stream's packets have the same size), so no view is made per packet.
   */
  packet(size: number): Buffer {
    if (this.#packet.length !== size) this.#packet = this.#buffer.subarray(SEAL_OFFSET, SEAL_OFFSET + size);
    return this.#packet;
  }

  #renew(size: number): void {
    // 4-byte aligned (Buffer's pool aligns to 8), so the payload at SEAL_OFFSET + header is too.
    let buffer = Buffer.allocUnsafe(size);
    if ((buffer.byteOffset & 3) !== 0) buffer = Buffer.allocUnsafeSlow(size);
    this.#buffer = buffer;
    this.#packet = this.#hashed = NO_BUFFER;
    this.#innerPad.copy(buffer, 0);
    this.#words = new Int32Array(buffer.buffer, buffer.byteOffset, size >>> 2);
  }

  /**
   * Encrypts `payload` after the `headerSize`-byte header at SEAL_OFFSET of the buffer and appends the
   * 80-bit tag; returns the size of the SRTP packet.
   */
  seal(keystream: Keystream, headerSize: number, payload: Buffer, seq: number, roc: number): number {
    const length = payload.length;
    const start = SEAL_OFFSET + headerSize;
    const buffer = this.#buffer;
    if (buffer.length < start + length + HMAC_TAG_BYTES) throw new RangeError('reserve() the packet first');
    const blocks = (length + 15) >>> 4;
    this.#cover(keystream, roc * 0x10000 + seq, blocks);
    const stream = keystream.words;
    let k = (roc * 0x10000 + seq - keystream.first) * keystream.blocks * 4;
    const words = length >>> 2;
    if ((start & 3) === 0 && (payload.byteOffset & 3) === 0) {
      if (payload !== viewedPayload) {
        viewedPayload = payload;
        payloadWords = new Int32Array(payload.buffer, payload.byteOffset, words);
      }
      const out = this.#words;
      const source = payloadWords;
      let o = start >>> 2;
      // Four words per turn: about twice as fast as one in V8 (fewer loop checks per word).
      let w = 0;
      for (; w + 4 <= words; w += 4, o += 4, k += 4) {
        out[o] = source[w]! ^ stream[k]!;
        out[o + 1] = source[w + 1]! ^ stream[k + 1]!;
        out[o + 2] = source[w + 2]! ^ stream[k + 2]!;
        out[o + 3] = source[w + 3]! ^ stream[k + 3]!;
      }
      for (; w < words; w++) out[o++] = source[w]! ^ stream[k++]!;
      for (let b = words * 4; b < length; b++)
        buffer[start + b] = payload[b]! ^ ((stream[k + ((b >>> 2) - words)]! >>> ((b & 3) * 8)) & 0xff);
    } else {
      for (let b = 0; b < length; b++)
        buffer[start + b] = payload[b]! ^ ((stream[k + (b >>> 2)]! >>> ((b & 3) * 8)) & 0xff);
    }
    const end = start + length;
    buffer.writeUInt32BE(roc, end);
    this.#tag(buffer, end);
    return headerSize + length + HMAC_TAG_BYTES;
  }

  /** Writes HMAC-SHA1(auth key, packet ‖ ROC)[0, 10) over the ROC at `end` (RFC 3711 §4.2). */
  #tag(buffer: Buffer, end: number): void {
    if (oneShotHash) {
      if (this.#hashed.length !== end + 4) this.#hashed = buffer.subarray(0, end + 4);
      const inner = oneShotHash('sha1', this.#hashed, 'binary');
      this.#outer.write(inner, SHA1_BLOCK, SHA1_BYTES, 'latin1');
      buffer.write(oneShotHash('sha1', this.#outer, 'binary'), end, HMAC_TAG_BYTES, 'latin1');
      return;
    }
    createHmac('sha1', this.#authKey)
      .update(buffer.subarray(SEAL_OFFSET, end + 4))
      .digest()
      .copy(buffer, end, 0, HMAC_TAG_BYTES);
  }

  /** The keystream state of `ssrc` in this session, to pass to `seal` (callers keep it per stream). */
  keystream(ssrc: number): Keystream {
    let keystream = this.#streams.get(ssrc);
    if (!keystream) {
      keystream = new Keystream(ssrc);
      this.#streams.set(ssrc, keystream);
    }
    return keystream;
  }

  /** Makes sure `keystream`'s batch covers `blocks` blocks of packet `index`, making a new batch if not. */
  #cover(keystream: Keystream, index: number, blocks: number): void {
    const offset = index - keystream.first;
    if (keystream.first >= 0 && offset >= 0 && offset < KEYSTREAM_BATCH && blocks <= keystream.blocks) return;
    const ssrc = keystream.ssrc;
    // A new batch from this packet on (the stream moved past the batch, went back, or grew bigger packets).
    const perPacket = Math.max(blocks, keystream.blocks);
    const total = perPacket * KEYSTREAM_BATCH * 4;
    if (counters.length < total) counters = new Int32Array(total);
    const c0 = this.#salt0;
    const c1 = bswap32(this.#salt1 ^ ssrc);
    let w = 0;
    for (let p = 0; p < KEYSTREAM_BATCH; p++) {
      const i = index + p;
      const roc = Math.floor(i / 0x10000) >>> 0;
      const c2 = bswap32(this.#salt2 ^ roc);
      const seqHalf = bswap16(this.#salt3 ^ (i & 0xffff));
      for (let j = 0; j < perPacket; j++) {
        counters[w++] = c0;
        counters[w++] = c1;
        counters[w++] = c2;
        counters[w++] = seqHalf | (bswap16(j) << 16);
      }
    }
    const bytes = Buffer.from(counters.buffer, counters.byteOffset, total * 4);
    const out = this.#ecb.update(bytes);
    keystream.words =
      (out.byteOffset & 3) === 0
        ? new Int32Array(out.buffer, out.byteOffset, total)
        : new Int32Array(new Uint8Array(out).buffer, 0, total);
    keystream.first = index;
    keystream.blocks = perPacket;
  }

  /** How many streams have a keystream batch. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Forgets the keystream of an SSRC that is no longer sent. */
  forget(ssrc: number): void {
    this.#streams.delete(ssrc);
  }
}
