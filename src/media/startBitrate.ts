/**
 * Chromium's send-side bandwidth estimate starts at 300 kbit/s and, with no transport-wide congestion
 * control feedback from the server (werift's receiver reports only losses), climbs by 8 % a second: a
 * simulcast camera's largest layer would wait half a minute. `x-google-start-bitrate` (kbit/s) in the
 * video codec's parameters of the answer it gets (a nonstandard parameter that Chromium reads and every
 * other endpoint ignores) starts it where a camera's layers fit; a path that cannot carry that loses
 * packets, and the loss brings the estimate down.
 */
export const PUBLISHER_START_KBPS = 2000;

const VIDEO_CODECS = /^a=rtpmap:(\d+) (?:VP8|VP9|H264|AV1)\/90000/gim;

/** `sdp` with `x-google-start-bitrate=<kbps>` in the parameters of each video codec it lists. */
export function withStartBitrate(sdp: string, kbps = PUBLISHER_START_KBPS): string {
  const payloadTypes = new Set<string>();
  for (const match of sdp.matchAll(VIDEO_CODECS)) payloadTypes.add(match[1]!);
  if (payloadTypes.size === 0) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  const withFmtp = new Set<string>();
  const out: string[] = [];
  for (const line of lines) {
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp && payloadTypes.has(fmtp[1]!)) {
      withFmtp.add(fmtp[1]!);
      out.push(/x-google-start-bitrate=/.test(fmtp[2]!) ? line : `${line};x-google-start-bitrate=${kbps}`);
      continue;
    }
    out.push(line);
    const rtpmap = /^a=rtpmap:(\d+) /.exec(line);
    if (rtpmap && payloadTypes.has(rtpmap[1]!) && !sdp.includes(`a=fmtp:${rtpmap[1]} `))
      out.push(`a=fmtp:${rtpmap[1]} x-google-start-bitrate=${kbps}`);
  }
  return out.join(eol);
}
