import type { RemoteParticipant, Room } from '../sdk.ts';

/** How often the connection statistics are read (`getStats`). */
const SAMPLE_MS = 2000;
/** A video that decoded no new frame for this long, while it should be playing, is frozen. */
const FROZEN_MS = 2500;

export type Quality = 'good' | 'fair' | 'poor';

/** What a person's connection looks like from here. */
export interface LinkQuality {
  quality: Quality;
  /** Packets lost on the way here during the last interval, 0…1. */
  loss: number;
  /** Interarrival jitter, seconds. */
  jitter: number;
  /** Their video should be moving and has not for a while. */
  frozen: boolean;
}

/** This client's own connection to the server. */
export interface OwnQuality {
  quality: Quality;
  /** Round trip to the server, seconds. */
  rtt: number | undefined;
  /** What the browser estimates it may send, bits per second. */
  sendBitrate: number | undefined;
  /** Loss the server reports for what this client sends, 0…1. */
  sendLoss: number | undefined;
  /** Loss of what this client receives, 0…1. */
  receiveLoss: number;
  jitter: number | undefined;
}

type Stats = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function grade(loss: number, jitter: number | undefined, rtt: number | undefined, frozen = false): Quality {
  if (frozen || loss > 0.1 || (rtt ?? 0) > 0.6) return 'poor';
  if (loss > 0.02 || (jitter ?? 0) > 0.05 || (rtt ?? 0) > 0.3) return 'fair';
  return 'good';
}

interface Counters {
  received: number;
  lost: number;
  frames: number;
  /** When `frames` last grew (performance.now()). */
  movedAt: number;
}

/**
 * Reads the peer connections' statistics every two seconds and grades each person's link (loss, jitter,
 * frozen video) and this client's own (round trip, loss both ways, send estimate), as Meet's bars do.
 */
export class NetworkQuality {
  readonly byParticipant = new Map<string, LinkQuality>();
  own: OwnQuality | undefined;
  readonly #onChange: () => void;
  readonly #counters = new Map<string, Counters>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #room: Room<MediaStreamTrack> | undefined;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  start(room: Room<MediaStreamTrack>): void {
    this.#room = room;
    this.#timer ??= setInterval(() => void this.#sample().catch(() => {}), SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#room = undefined;
  }

  async #sample(): Promise<void> {
    const room = this.#room;
    if (!room) return;
    const [sub, pub] = await Promise.all([room.getStats('subscriber'), room.getStats('publisher')]);
    const now = performance.now();
    const inbound = new Map<string, Stats>();
    sub?.forEach((s) => {
      const stat = s as Stats;
      if (stat.type === 'inbound-rtp' && typeof stat.trackIdentifier === 'string')
        inbound.set(stat.trackIdentifier, stat);
    });
    let receivedAll = 0;
    let lostAll = 0;
    const seen = new Set<string>();
    for (const p of room.participants.values()) {
      const link = this.#grade(p, inbound, now, seen);
      if (!link) continue;
      this.byParticipant.set(p.id, link.quality);
      receivedAll += link.received;
      lostAll += link.lost;
    }
    for (const id of [...this.byParticipant.keys()])
      if (!room.participants.has(id)) this.byParticipant.delete(id);
    for (const key of [...this.#counters.keys()]) if (!seen.has(key)) this.#counters.delete(key);

    let rtt: number | undefined;
    let sendBitrate: number | undefined;
    let sendLoss: number | undefined;
    let jitter: number | undefined;
    pub?.forEach((s) => {
      const stat = s as Stats;
      if (stat.type === 'candidate-pair' && (stat.nominated || stat.state === 'succeeded')) {
        rtt = num(stat.currentRoundTripTime) ?? rtt;
        sendBitrate = num(stat.availableOutgoingBitrate) ?? sendBitrate;
      }
      if (stat.type === 'remote-inbound-rtp') {
        const lost = num(stat.fractionLost);
        if (lost !== undefined) sendLoss = Math.max(sendLoss ?? 0, lost);
        const j = num(stat.jitter);
        if (j !== undefined) jitter = Math.max(jitter ?? 0, j);
      }
    });
    const receiveLoss = receivedAll + lostAll > 0 ? lostAll / (receivedAll + lostAll) : 0;
    this.own = {
      quality: grade(Math.max(receiveLoss, sendLoss ?? 0), jitter, rtt),
      rtt,
      sendBitrate,
      sendLoss,
      receiveLoss,
      jitter,
    };
    this.#onChange();
  }

  /** One person's link over the last interval, from the inbound streams of their tracks. */
  #grade(
    p: RemoteParticipant<MediaStreamTrack>,
    inbound: Map<string, Stats>,
    now: number,
    seen: Set<string>,
  ): { quality: LinkQuality; received: number; lost: number } | undefined {
    let received = 0;
    let lost = 0;
    let jitter = 0;
    let frozen = false;
    let any = false;
    for (const t of p.tracks.values()) {
      const stat = t.mediaTrack ? inbound.get(t.mediaTrack.id) : undefined;
      if (!stat) continue;
      any = true;
      const key = `${p.id}:${t.id}`;
      seen.add(key);
      const total = { received: num(stat.packetsReceived) ?? 0, lost: num(stat.packetsLost) ?? 0 };
      const frames = num(stat.framesDecoded) ?? 0;
      const before = this.#counters.get(key);
      const movedAt = !before || frames > before.frames ? now : before.movedAt;
      this.#counters.set(key, { ...total, frames, movedAt });
      if (before) {
        received += Math.max(0, total.received - before.received);
        lost += Math.max(0, total.lost - before.lost);
      }
      if (t.kind === 'audio') jitter = Math.max(jitter, num(stat.jitter) ?? 0);
      // A shared screen that does not change sends no new frames: only a camera can freeze.
      if (t.source === 'camera' && !t.muted && now - movedAt >= FROZEN_MS) frozen = true;
    }
    if (!any) return undefined;
    const loss = received + lost > 0 ? lost / (received + lost) : 0;
    return {
      quality: { quality: grade(loss, jitter, undefined, frozen), loss, jitter, frozen },
      received,
      lost,
    };
  }
}
