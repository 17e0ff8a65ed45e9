/**
 * RFC 9143 §6–7 (and the "max-bundle" policy of JSEP, RFC 8829): an offerer that only wants an m-line
 * bundled gives it port 0 and `a=bundle-only`, and lists its mid in the BUNDLE group. Port 0 otherwise
 * means a rejected m-line (RFC 3264 §6), and werift reads it so: it answered such a line port 0 /
 * inactive and left it out of the group, so GStreamer's webrtcbin with max-bundle reached a room
 * with its video only. An answerer that accepts the line answers it like the other bundled lines
 * (RFC 9143 §7.3), which is what werift does once the line carries a port of its own.
 */

/** The mids of the m-lines that are bundle-only: port 0, `a=bundle-only`, and in a BUNDLE group. */
export function bundleOnlyMids(sdp: string): Set<string> {
  const bundled = new Set<string>();
  for (const [, mids = ''] of sdp.matchAll(/^a=group:BUNDLE(.*)$/gm))
    for (const mid of mids.trim().split(/\s+/)) if (mid !== '') bundled.add(mid);
  const out = new Set<string>();
  for (const section of sdp.split(/\r?\n(?=m=)/).slice(1)) {
    if (!/^m=\S+ 0[ /]/.test(section) || !/\r?\na=bundle-only\s*(\r?\n|$)/.test(section)) continue;
    const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
    if (mid !== undefined && bundled.has(mid)) out.add(mid);
  }
  return out;
}

/**
 * The offer with each bundle-only m-line given port 9, the placeholder "discard" port: the line
 * is then negotiated as what it is, a bundled line whose media uses the BUNDLE transport (JSEP, RFC 8829
 * §5.2.1, uses port 9 the same way for a line that has no candidate yet).
 */
export function acceptBundleOnly(sdp: string): string {
  const mids = bundleOnlyMids(sdp);
  if (mids.size === 0) return sdp;
  return sdp
    .split(/(?=\r?\nm=)/)
    .map((section) => {
      const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
      return mid !== undefined && mids.has(mid) ? section.replace(/^(\r?\nm=\S+ )0(?=[ /])/, '$19') : section;
    })
    .join('');
}
