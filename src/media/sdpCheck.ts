import { isIP } from 'node:net';
import { SdpError } from './SdpError.js';

/**
 * A structural check of a remote session description before werift parses it: werift accepts some
 * garbage silently and can stall on it, so what is plainly not an SDP is refused here with a reason.
 * RFC 8866 §5: a session description starts with "v=0" and media sections start with "m=".
 */
export function checkSdp(sdp: string, mids: readonly string[] = []): void {
  if (!/^v=0\r?\n/.test(sdp)) throw new SdpError('not a session description: it must start with "v=0"');
  const sections = sdp.split(/\r?\nm=/).slice(1);
  if (sections.length === 0) throw new SdpError('the session description has no media sections ("m=" lines)');
  for (const line of sdp.split(/\r?\n/)) {
    if (line !== '' && !/^[a-z]=/.test(line))
      throw new SdpError(`malformed SDP line: "${line.slice(0, 40)}"`);
  }
  const present = new Set<string>();
  for (const section of sections) {
    const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
    if (mid !== undefined) present.add(mid);
  }
  for (const mid of mids) {
    if (!present.has(mid))
      throw new SdpError(`the offer lists mid ${mid}, but the SDP has no m-line with that mid`);
  }
}

/** Rejects with an SdpError when `promise` takes longer than `ms` (werift can stall on odd input). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SdpError(`${what} did not complete within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * True for an ICE candidate whose address is a host name (an mDNS ".local" name, RFC 8839 §5.1, or any
 * other name) rather than an IP literal. `candidate` is the attribute value ("candidate:…"), with or
 * without "a=".
 *
 * The SFU drops such candidates: werift would resolve a ".local" name by multicast DNS on the server's
 * network (a socket on port 5353 and a query per candidate) and any other name by DNS, so a client could
 * make the server send queries for names it chooses. The server needs neither: a client's connectivity
 * checks tell it the client's address (a peer-reflexive candidate, RFC 8445 §7.3.1.3; see
 * icePeerReflexive.ts). Browsers send only ".local" names when the page has no camera or microphone
 * permission, e.g. a viewer.
 */
export function isNamedCandidate(candidate: string): boolean {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  const address = candidate.trim().split(/\s+/)[4];
  return address !== undefined && isIP(address) === 0;
}

/** The session description without its named candidates (see isNamedCandidate). */
export function withoutNamedCandidates(sdp: string): string {
  if (!sdp.includes('a=candidate:')) return sdp;
  return sdp
    .split(/(?<=\n)/)
    .filter((line) => !(line.startsWith('a=candidate:') && isNamedCandidate(line)))
    .join('');
}
