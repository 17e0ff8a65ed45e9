/**
 * What this thread's media plane has moved since it started, for the server's metrics: live tracks are
 * read when asked (their own counters, kept for each packet anyway), and a track that closes adds its
 * counts to the totals of its kind. Nothing here runs per packet.
 */
export type MediaKind = 'audio' | 'video';

export interface KindTotals {
  /** RTP packets that arrived on published tracks (a publisher's, or a phone's voice). */
  packetsIn: number;
  /** Their payload bytes. */
  bytesIn: number;
  /** RTP packets sent to subscribers. */
  packetsOut: number;
  bytesOut: number;
  /** Keyframe requests (PLI) sent to publishers. */
  keyframeRequests: number;
  /** Picture loss indications (PLI) received from subscribers. */
  pliReceived: number;
  /** NACKs received from subscribers, and packets sent again for them. */
  nacksReceived: number;
  retransmitted: number;
  /**
   * Live subscriptions whose receiver reports gave a round-trip time and a loss fraction: their sum and
   * count (the metrics show the mean).
   */
  rttSum: number;
  rttCount: number;
  lossSum: number;
  lossCount: number;
  /** Live published tracks whose interarrival jitter is known: its sum (seconds) and count. */
  jitterSum: number;
  jitterCount: number;
  /** Tracks published and subscriptions open now. */
  published: number;
  subscribed: number;
}

interface Counted {
  readonly kind: MediaKind;
  /** Adds its counts to `into`; once closed, only what it moved (not `published`, RTT or loss). */
  add(into: KindTotals): void;
}

const empty = (): KindTotals => ({
  packetsIn: 0,
  bytesIn: 0,
  packetsOut: 0,
  bytesOut: 0,
  keyframeRequests: 0,
  pliReceived: 0,
  nacksReceived: 0,
  retransmitted: 0,
  rttSum: 0,
  rttCount: 0,
  lossSum: 0,
  lossCount: 0,
  jitterSum: 0,
  jitterCount: 0,
  published: 0,
  subscribed: 0,
});
const closed: Record<MediaKind, KindTotals> = { audio: empty(), video: empty() };
const live = new Set<Counted>();

/** Counts `item` from now on (a published track or a subscription). */
export function countMedia(item: Counted): void {
  live.add(item);
}

/** `item` closed: what it counted stays in the totals. */
export function uncountMedia(item: Counted): void {
  if (!live.delete(item)) return;
  item.add(closed[item.kind]);
}

/** The totals by kind, live items included; `published` and `subscribed` are the live ones only. */
export function mediaTotals(): Record<MediaKind, KindTotals> {
  // A closed item added only what it moved, none of what is true now (published, RTT, loss): those come
  // from the live items alone.
  const totals = { audio: { ...closed.audio }, video: { ...closed.video } };
  for (const item of live) item.add(totals[item.kind]);
  return totals;
}

let forwardingObserver: ((seconds: number) => void) | undefined;

/**
 * Where sampled fan-out times go (the metrics' histogram): how long the media plane took to hand one
 * packet to every subscriber's socket, on this thread.
 */
export function onForwarding(observer: ((seconds: number) => void) | undefined): void {
  forwardingObserver = observer;
}

export function observeForwarding(seconds: number): void {
  forwardingObserver?.(seconds);
}
