/**
 * Reading a WebRTC statistics report (`getStats()`), a browser's or werift's alike: which candidate pair
 * a connection uses, and how many packets came and were lost. The web client's /check page and
 * `port545 doctor` report both.
 */

/** One entry of a stats report, as plain data. */
export type StatsEntry = { type?: unknown; id?: unknown; [key: string]: unknown };

/** One side of a candidate pair: its type (`host`, `srflx`, `prflx`, `relay`), protocol and address. */
export interface PairSide {
  type: string;
  protocol: string;
  /** Empty when the browser hides it (a peer-reflexive candidate's). */
  address: string;
  port: number;
}

/** The candidate pair a connection uses. */
export interface SelectedPair {
  local: PairSide;
  remote: PairSide;
  /** Seconds, from the pair's STUN checks (consent freshness), when measured. */
  currentRoundTripTime: number | undefined;
}

/** The transport's selected pair, else the nominated succeeded one, else any succeeded one. */
export function selectedPair(stats: Iterable<unknown>): SelectedPair | undefined {
  const all = [...stats] as StatsEntry[];
  const byId = new Map(all.map((s) => [s.id, s]));
  const selectedId = all.find(
    (s) => s.type === 'transport' && s.selectedCandidatePairId,
  )?.selectedCandidatePairId;
  const pairs = all.filter((s) => s.type === 'candidate-pair');
  const pair =
    (selectedId ? byId.get(selectedId) : undefined) ??
    pairs.find((p) => p.nominated && p.state === 'succeeded') ??
    pairs.find((p) => p.state === 'succeeded');
  if (!pair) return undefined;
  const side = (id: unknown): PairSide => {
    const c: StatsEntry = byId.get(id) ?? {};
    return {
      type: String(c.candidateType ?? '?'),
      protocol: String(c.protocol ?? '?'),
      address: String(c.address ?? c.ip ?? ''),
      port: Number(c.port ?? 0),
    };
  };
  const rtt = pair.currentRoundTripTime;
  return {
    local: side(pair.localCandidateId),
    remote: side(pair.remoteCandidateId),
    currentRoundTripTime: typeof rtt === 'number' && Number.isFinite(rtt) ? rtt : undefined,
  };
}

/** "relay udp 192.0.2.7:49152" (an IPv6 address in brackets; a hidden one said so). */
export function describeSide(side: PairSide): string {
  const address = !side.address
    ? '(address hidden by the browser)'
    : side.address.includes(':')
      ? `[${side.address}]`
      : side.address;
  return `${side.type} ${side.protocol} ${address}:${side.port || '?'}`;
}

/** Packets received and lost so far over every inbound RTP stream of a report. */
export function inboundTotals(stats: Iterable<unknown>): { received: number; lost: number } {
  let received = 0;
  let lost = 0;
  for (const s of stats as Iterable<StatsEntry>) {
    if (s.type !== 'inbound-rtp') continue;
    received += Number(s.packetsReceived ?? 0);
    lost += Number(s.packetsLost ?? 0);
  }
  return { received, lost };
}
