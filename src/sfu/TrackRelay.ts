import { RtpPacket } from 'werift';
import { PublishedTrack } from './PublishedTrack.js';
import type { RtpListener, RtpSink, RtpSource, SenderReportListener } from './RtpSource.js';

/**
 * A published track carried to another place that forwards it (another worker thread; later another
 * machine): the track is decrypted once where its publisher's connection is, each of its packets crosses
 * once to each place that has subscribers of it, and there a mirror of the track (a `PublishedTrack` of
 * its own, same id) fans it out, encrypting for each subscriber there. What goes back is what a publisher
 * hears from subscribers: keyframe requests and which simulcast layers are wanted.
 *
 * The link itself (how bytes cross) is the caller's: `RelayOut` is what an export needs of it.
 */
export interface RelayOut {
  /** One RTP packet of feed `feed`, simulcast layer `layer`, serialized; sent on at once. */
  rtp(feed: number, layer: number, packet: Buffer): void;
  /** The publisher's sender report, for the mirror's subscribers' lip sync. */
  senderReport(feed: number, wallMs: number, rtpTimestamp: number): void;
  /** The track ended where it is published: the mirror ends too. */
  ended(feed: number): void;
}

/** What a mirror tells the place its track comes from. */
export interface RelayBack {
  /** A subscriber of the mirror needs a keyframe of `layer`. */
  keyframe(feed: number, layer: number): void;
  /** Simulcast: the layers the mirror's subscribers want (said every second, and when one is resumed). */
  want(feed: number, active: boolean[]): void;
}

/** What a place needs to make a mirror: the track's description, sent once before its packets. */
export interface FeedInfo {
  feed: number;
  track: string;
  kind: 'audio' | 'video';
  mimeType: string;
  layers?: string[];
}

/**
 * The sending end: a sink on the published track (like a subscriber's DownTrack) that hands each packet to
 * the link once, whatever the number of subscribers on the other side.
 */
export class TrackExport implements RtpSink {
  readonly relay = true;
  readonly feed: number;
  readonly track: PublishedTrack;
  readonly #out: RelayOut;
  readonly #offReports: () => void;
  #closed = false;
  /** Called once when the export ends (its track closed, or `close`). */
  onClosed: (() => void) | undefined;

  constructor(feed: number, track: PublishedTrack, out: RelayOut) {
    this.feed = feed;
    this.track = track;
    this.#out = out;
    this.#offReports = track.onSenderReport((report) =>
      out.senderReport(feed, report.wallMs, report.rtpTimestamp),
    );
    track.addSink(this);
  }

  get info(): FeedInfo {
    const t = this.track;
    return {
      feed: this.feed,
      track: t.id,
      kind: t.kind,
      mimeType: t.mimeType,
      ...(t.simulcast ? { layers: t.layers.map((l) => l.rid) } : {}),
    };
  }

  write(rtp: RtpPacket, layer: number): void {
    this.#out.rtp(this.feed, layer, rtp.serialize());
  }

  /** The other side asks for a keyframe of one layer (throttled by the track, as any subscriber's). */
  keyframe(layer: number): void {
    this.track.requestKeyframe(layer);
  }

  /** The other side's subscribers want these layers: they are not paused while wanted. */
  want(active: boolean[]): void {
    for (let i = 0; i < active.length; i++) if (active[i]) this.track.want(i);
  }

  /** The track ended, or nobody on the other side subscribes any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offReports();
    this.track.removeSink(this);
    this.#out.ended(this.feed);
    this.onClosed?.();
  }
}

/**
 * The receiving end: a mirror of the track, fed by the link. Its own sinks (the subscribers here) choose
 * layers and ask for keyframes as they would of the original; those go back over the link.
 */
export class TrackImport {
  readonly feed: number;
  readonly track: PublishedTrack;
  #listener: RtpListener | undefined;
  readonly #reports = new Set<SenderReportListener>();

  constructor(info: FeedInfo, back: RelayBack) {
    this.feed = info.feed;
    const feed = info.feed;
    const source: RtpSource = {
      kind: info.kind,
      mimeType: info.mimeType,
      ...(info.layers && info.layers.length > 1 ? { layers: info.layers } : {}),
      onRtp: (listener) => {
        this.#listener = listener;
        return () => {
          this.#listener = undefined;
        };
      },
      requestKeyframe: (layer) => back.keyframe(feed, layer),
      onSenderReport: (listener) => {
        this.#reports.add(listener);
        return () => this.#reports.delete(listener);
      },
    };
    // Counted where it is published, not again here.
    this.track = new PublishedTrack(info.track, source, { counted: false });
    // A layer one of the subscribers here wants again is asked for at once, not at the next report.
    if (this.track.simulcast) this.track.on('layersActive', (active) => back.want(feed, active));
  }

  deliver(packet: Buffer, layer: number): void {
    this.#listener?.(RtpPacket.deSerialize(packet), undefined, layer);
  }

  senderReport(wallMs: number, rtpTimestamp: number): void {
    for (const listener of this.#reports) listener({ wallMs, rtpTimestamp });
  }

  /** Every second: the layers' state here (flowing, sizes), and which of them are wanted here. */
  check(back: RelayBack): void {
    if (!this.track.simulcast || this.track.closed) return;
    this.track.checkLayers();
    back.want(
      this.feed,
      this.track.layers.map((l) => !l.paused),
    );
  }

  close(): void {
    this.#reports.clear();
    this.track.close();
  }
}
