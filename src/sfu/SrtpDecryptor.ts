import { createDecipheriv, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { type RTCPeerConnection, SrtpAuthenticationError } from 'werift';
import type { SrtpContextInternals, SrtpSessionInternals } from '../werift/internals.js';
import {
  GCM_TAG_BYTES,
  HMAC_TAG_BYTES,
  PROFILE_AEAD_AES_128_GCM,
  PROFILE_AES_CM_128_HMAC_SHA1_80,
  writeGcmIv,
} from './srtpConstants.js';
// RFC 3711 rollover counters in werift's SRTP contexts, among port545's changes to werift.
import '../werift/install.js';

/** RFC 8285 §4.2 / §4.3 header extension profiles. */
const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x1000;
const FAILED = 'Failed to authenticate SRTP packet';

const accelerated = new WeakSet<SrtpSessionInternals>();

/**
 * Where werift's RTP header parser puts the payload (RtpHeader.deSerialize, including its handling of
 * extension id 15), or -1 when the header does not fit before `end`.
 */
function payloadOffset(packet: Buffer, end: number): number {
  let offset = 12 + (packet[0]! & 0x0f) * 4;
  if (offset > end) return -1;
  if ((packet[0]! & 0x10) === 0) return offset;
  if (offset + 4 > end) return -1;
  const profile = packet.readUInt16BE(offset);
  const length = packet.readUInt16BE(offset + 2) * 4;
  offset += 4;
  const stop = offset + length;
  if (profile === ONE_BYTE_PROFILE) {
    while (offset < stop) {
      const b = packet[offset];
      if (b === undefined) return -1;
      if (b === 0) {
        offset++;
        continue;
      }
      offset++;
      if (b >> 4 === 15) break;
      offset += (b & 0x0f) + 1;
    }
  } else if (profile === TWO_BYTE_PROFILE) {
    while (offset < stop) {
      const b = packet[offset];
      if (b === undefined) return -1;
      if (b === 0) {
        offset++;
        continue;
      }
      const len = packet[offset + 1];
      if (len === undefined) return -1;
      offset += 2 + len;
    }
  } else {
    // werift takes the block as one extension, cut at the end of the packet.
    offset = Math.min(stop, end);
  }
  return offset;
}

/**
 * SRTP decryption for a werift transport's remote context, with the same result as werift's
 * `SrtpSession.decrypt` — the same bytes, the same rollover-counter bookkeeping, SrtpAuthenticationError
 * for anything that does not authenticate — at a fraction of the cost: the header is not parsed into an
 * object (werift parses it again right after), the keys are imported once, no helper objects per packet.
 */
export class SrtpDecryptor {
  readonly #context: SrtpContextInternals;
  readonly #gcm: boolean;
  readonly #key: KeyObject;
  readonly #authKey: KeyObject;
  readonly #salt: Buffer;
  readonly #iv: Buffer;
  readonly #roc = Buffer.alloc(4);

  constructor(context: SrtpContextInternals) {
    if (context.profile !== PROFILE_AEAD_AES_128_GCM && context.profile !== PROFILE_AES_CM_128_HMAC_SHA1_80)
      throw new RangeError(`SRTP protection profile ${context.profile} is not supported`);
    this.#context = context;
    this.#gcm = context.profile === PROFILE_AEAD_AES_128_GCM;
    this.#key = createSecretKey(context.srtpSessionKey);
    this.#authKey = createSecretKey(context.srtpSessionAuthTag);
    this.#salt = Buffer.from(context.srtpSessionSalt);
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
  }

  /** Decrypts an SRTP packet into header ‖ payload (without the tag), as werift's session does. */
  decrypt(packet: Buffer): Buffer {
    const tagBytes = this.#gcm ? GCM_TAG_BYTES : HMAC_TAG_BYTES;
    if (packet.length < 12 + tagBytes) throw new SrtpAuthenticationError(FAILED);
    const end = packet.length - tagBytes;
    const headerEnd = payloadOffset(packet, end);
    if (headerEnd < 12 || headerEnd > end) throw new SrtpAuthenticationError(FAILED);
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    // As werift: the rollover guess goes into a copy, kept only if the packet authenticates.
    const states = this.#context.srtpSSRCStates;
    const existing = states[ssrc];
    const next = existing ? { ...existing } : { ssrc, rolloverCounter: 0, lastSequenceNumber: 0 };
    this.#context.updateRolloverCount(seq, next);
    const roc = next.rolloverCounter;
    // Its own memory, not a slice of Buffer's shared pool: the payload lives on in werift's and the
    // senders' NACK caches, and a pool slice would keep a whole 8 KB pool block alive with it.
    const out = Buffer.allocUnsafeSlow(end);
    packet.copy(out, 0, 0, headerEnd);
    if (this.#gcm) this.#openGcm(packet, headerEnd, end, ssrc, seq, roc, out);
    else this.#openCtr(packet, headerEnd, end, ssrc, seq, roc, out);
    // RFC 3550 §5.1: with P set, the last byte counts the padding, which must fit in the payload.
    if (packet[0]! & 0x20) {
      const padding = out[end - 1]!;
      if (!(end > headerEnd) || !(padding > 0 && padding <= end - headerEnd))
        throw new SrtpAuthenticationError(FAILED);
    }
    if (existing) Object.assign(existing, next);
    else states[ssrc] = next;
    return out;
  }

  /** RFC 7714 §8.1/§8.2: IV = (0 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt, header as AAD, 16-byte tag. */
  #openGcm(
    packet: Buffer,
    headerEnd: number,
    end: number,
    ssrc: number,
    seq: number,
    roc: number,
    out: Buffer,
  ) {
    const iv = writeGcmIv(this.#iv, this.#salt, ssrc, roc, seq);
    const decipher = createDecipheriv('aes-128-gcm', this.#key, iv);
    decipher.setAAD(packet.subarray(0, headerEnd));
    decipher.setAuthTag(packet.subarray(end));
    const plain = decipher.update(packet.subarray(headerEnd, end));
    try {
      decipher.final();
    } catch {
      throw new SrtpAuthenticationError(FAILED);
    }
    plain.copy(out, headerEnd);
  }

  /** RFC 3711 §4.2 then §4.1.1: check HMAC-SHA1(header ‖ encrypted payload ‖ ROC), then AES-CM. */
  #openCtr(
    packet: Buffer,
    headerEnd: number,
    end: number,
    ssrc: number,
    seq: number,
    roc: number,
    out: Buffer,
  ) {
    this.#roc.writeUInt32BE(roc, 0);
    const expected = createHmac('sha1', this.#authKey)
      .update(packet.subarray(0, end))
      .update(this.#roc)
      .digest()
      .subarray(0, HMAC_TAG_BYTES);
    if (!timingSafeEqual(expected, packet.subarray(end))) throw new SrtpAuthenticationError(FAILED);
    const iv = this.#iv;
    iv.writeUInt32BE(0, 0);
    iv.writeUInt32BE(ssrc, 4);
    iv.writeUInt32BE(roc, 8);
    iv.writeUInt32BE(seq * 0x10000, 12);
    for (let i = 0; i < 14; i++) iv[i]! ^= this.#salt[i];
    createDecipheriv('aes-128-ctr', this.#key, iv)
      .update(packet.subarray(headerEnd, end))
      .copy(out, headerEnd);
  }
}

function remoteContextCompatible(session: Partial<SrtpSessionInternals> | undefined): boolean {
  const c = session?.remoteContext;
  return (
    typeof session?.decrypt === 'function' &&
    !!c &&
    (c.profile === PROFILE_AEAD_AES_128_GCM || c.profile === PROFILE_AES_CM_128_HMAC_SHA1_80) &&
    Buffer.isBuffer(c.srtpSessionKey) &&
    Buffer.isBuffer(c.srtpSessionSalt) &&
    Buffer.isBuffer(c.srtpSessionAuthTag) &&
    typeof c.srtpSSRCStates === 'object' &&
    typeof c.updateRolloverCount === 'function'
  );
}

/**
 * Has the connected transports of `pc` decrypt incoming SRTP with SrtpDecryptor instead of werift's
 * cipher (werift then parses and routes the packet as before). Call when the connection is connected;
 * transports whose internals are not what it expects keep werift's decryption.
 */
export function accelerateSrtpReceive(pc: RTCPeerConnection): void {
  for (const dtls of (pc as unknown as { dtlsTransports: { srtp?: SrtpSessionInternals }[] })
    .dtlsTransports) {
    const session = dtls.srtp;
    if (!session || accelerated.has(session) || !remoteContextCompatible(session)) continue;
    const decryptor = new SrtpDecryptor(session.remoteContext);
    session.decrypt = (packet) => decryptor.decrypt(packet);
    accelerated.add(session);
  }
}
