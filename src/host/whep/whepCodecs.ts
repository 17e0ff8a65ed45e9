import { CodedError } from '../../common/errors.js';
import type { MediaLine } from '../../media/mediaLines.js';
import type { Participant } from '../../room/Participant.js';

/**
 * What a WHEP offer can play of a room. Forwarding never transcodes, so a video m-line that offers none
 * of the codecs the room's cameras send would be answered, connect, and stay black: such an offer is
 * refused with the room's codecs named instead. The room's audio, when the player follows the room, is
 * the server's Opus mix, so only a player of one participant depends on their audio codec.
 */

/** Codec names (e.g. "VP8") of `kind` the players' sources send, in the order first seen. */
export function sourceCodecs(sources: Iterable<Participant>, kind: 'audio' | 'video'): string[] {
  const names = new Set<string>();
  for (const p of sources)
    for (const { track } of p.tracks.values())
      if (track.kind === kind) names.add(track.mimeType.split('/')[1]!.toUpperCase());
  return [...names];
}

/**
 * Refuses an offer whose live `kind` m-lines offer none of `codecs` (when the room has any); otherwise
 * returns the offer with those codecs first on each such m-line, so that the answer picks one the room
 * sends (the answerer takes the offerer's first codec it supports, and the offerer's order is only a
 * preference, RFC 3264 §6.1).
 */
export function preferRoomCodecs(
  offer: string,
  lines: MediaLine[],
  kind: 'audio' | 'video',
  codecs: string[],
): string {
  if (codecs.length === 0) return offer;
  const wanted = new Set(codecs);
  for (const line of lines) {
    if (line.kind !== kind || !line.live || line.direction === 'sendonly') continue;
    if (!line.codecs.some((c) => wanted.has(c)))
      throw new CodedError(
        'NO_COMMON_CODEC',
        `The room's ${kind} is ${codecs.join(' or ')}, and the offer's ${kind} m-line${line.mid === undefined ? '' : ` (mid ${line.mid})`} offers only ${line.codecs.join(', ') || 'no codec'}: offer ${codecs.join(' or ')} to play it (the server forwards, it does not transcode)`,
      );
  }
  return offer
    .split(/(?=\r?\nm=)/)
    .map((section) => {
      const m = /^(\r?\nm=(\S+) \S+ \S+)((?: \S+)+)/.exec(section);
      if (!m || m[2] !== kind) return section;
      const payloads = m[3]!.trim().split(' ');
      const name = (pt: string) =>
        new RegExp(`\\r?\\na=rtpmap:${pt} ([^/\\s]+)`).exec(section)?.[1]?.toUpperCase() ?? '';
      const first = payloads.filter((pt) => wanted.has(name(pt)));
      const rest = payloads.filter((pt) => !wanted.has(name(pt)));
      return `${m[1]} ${[...first, ...rest].join(' ')}${section.slice(m[0].length)}`;
    })
    .join('');
}
