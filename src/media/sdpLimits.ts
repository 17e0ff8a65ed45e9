import { SdpError } from './SdpError.js';

export interface SdpLimits {
  /** Media sections (m-lines) in one description. */
  maxMediaSections: number;
  /** Candidate lines (`a=candidate:`) in one description. */
  maxCandidates: number;
}

/**
 * Bounds on a remote description, checked at the edge before anything parses it for real: werift's
 * work (and the transceivers it makes) grows with every m-line and candidate, so an offer of 500
 * m-lines is refused here with a reason (werift spent the 5 s negotiation timeout on one, on the thread
 * that forwards everyone's media, and answered with a timeout that told the client nothing).
 */
export function checkSdpLimits(sdp: string, limits: SdpLimits): void {
  const sections = sdp.split(/\r?\n(?=m=)/).slice(1);
  if (sections.length > limits.maxMediaSections)
    throw new SdpError(
      `the description has ${sections.length} media sections (m-lines); at most ${limits.maxMediaSections} are accepted`,
    );
  let candidates = 0;
  for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) candidates++;
  if (candidates > limits.maxCandidates)
    throw new SdpError(
      `the description has ${candidates} ICE candidates; at most ${limits.maxCandidates} are accepted`,
    );
}
