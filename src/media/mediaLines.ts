import { bundleOnlyMids } from './bundleOnly.js';

/**
 * The media sections of an SDP: kind, mid and direction (RFC 8866 §6.7: sendrecv when unstated), and
 * whether the line is live: a port other than 0 (RFC 3264 §6), or bundle-only (RFC 9143 §7: port
 * 0 there means "bundled only", as max-bundle offerers such as GStreamer's webrtcbin send it).
 */
export interface MediaLine {
  kind: string;
  mid: string | undefined;
  live: boolean;
  /** Codec names of its a=rtpmap lines (e.g. "VP8", "OPUS"), in the offer's order. */
  codecs: string[];
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

/** The media sections of an SDP, in order (`MediaLine`). */
export function mediaLines(sdp: string): MediaLine[] {
  const bundleOnly = bundleOnlyMids(sdp);
  return sdp
    .split(/\r?\n(?=m=)/)
    .slice(1)
    .map((section) => {
      const [, kind = '', port = '0'] = /^m=(\S+) (\d+)/.exec(section) ?? [];
      const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
      const direction =
        (/\r?\na=(sendrecv|sendonly|recvonly|inactive)\b/.exec(section)?.[1] as MediaLine['direction']) ??
        'sendrecv';
      const live = Number(port) !== 0 || (mid !== undefined && bundleOnly.has(mid));
      const codecs = [...section.matchAll(/\r?\na=rtpmap:\d+ ([^/\s]+)/g)].map((c) => c[1]!.toUpperCase());
      return { kind, mid, live, codecs, direction };
    });
}
