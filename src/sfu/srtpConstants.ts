/** SRTP protection profiles as werift numbers them (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const PROFILE_AES_CM_128_HMAC_SHA1_80 = 1;
export const PROFILE_AEAD_AES_128_GCM = 7;
/** RFC 3711 §4.2 / RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_80 keeps 80 bits of the HMAC. */
export const HMAC_TAG_BYTES = 10;
/** RFC 7714 §7.1: the AEAD_AES_128_GCM authentication tag. */
export const GCM_TAG_BYTES = 16;

/** RFC 7714 §8.1: the AES-GCM IV of an SRTP packet, (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR the session salt. */
export function writeGcmIv(iv: Buffer, salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
  iv.writeUInt16BE(0, 0);
  iv.writeUInt32BE(ssrc, 2);
  iv.writeUInt32BE(roc, 6);
  iv.writeUInt16BE(seq, 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i];
  return iv;
}
