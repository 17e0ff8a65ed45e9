/** SRTP protection profiles as werift numbers them (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const PROFILE_AES_CM_128_HMAC_SHA1_80 = 1;
export const PROFILE_AEAD_AES_128_GCM = 7;
/** RFC 3711 §4.2 / RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_80 keeps 80 bits of the HMAC. */
export const HMAC_TAG_BYTES = 10;
/** RFC 7714 §7.1: the AEAD_AES_128_GCM authentication tag. */
export const GCM_TAG_BYTES = 16;
