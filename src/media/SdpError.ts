/** A session description or candidate the media plane cannot apply; the message says why. */
export class SdpError extends Error {
  override name = 'SdpError';
}
