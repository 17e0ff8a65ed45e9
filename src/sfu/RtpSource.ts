import {
  type Extensions,
  type MediaStreamTrack,
  type RTCRtpReceiver,
  RtcpSrPacket,
  type RtpPacket,
} from 'werift';

/** RFC 6464 client-to-mixer audio level header extension. */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/**
 * Called for each RTP packet of a source. `audioLevel` is the RFC 6464 level of the packet in -dBov
 * (0 loudest, 127 silence) when the source knows it; `layer` is the simulcast layer it belongs to (0 when
 * the source has one stream).
 */
export type RtpListener = (rtp: RtpPacket, audioLevel: number | undefined, layer: number) => void;

/**
 * Where a published track's media comes from. A WebRTC publisher's receiver is one; a server-side
 * producer (the SIP gateway turning a phone call into Opus) is another.
 */
export interface RtpSource {
  readonly kind: 'audio' | 'video';
  /** Codec of the packets, e.g. `audio/opus`, `video/VP8`. */
  readonly mimeType: string;
  /**
   * Simulcast (RFC 8853): the names (`rid`s) of the streams a publisher sends of this one track, each the
   * same picture at another size, in the order its offer lists them; absent for a single stream.
   */
  readonly layers?: readonly string[];
  /** Starts delivering packets to `listener`; returns the function that stops it. */
  onRtp(listener: RtpListener): () => void;
  /** Asks the producer for a keyframe (video) of one layer (0 without simulcast); absent when it cannot. */
  requestKeyframe?(layer: number): void;
  /** The interarrival jitter of its packets now (RFC 3550 §6.4.1), in seconds; absent when unknown. */
  jitterSeconds?(): number | undefined;
  /**
   * Calls `listener` with each RTCP sender report of the stream (RFC 3550 §6.4.1): which RTP timestamp the
   * publisher's clock read at which wall-clock time. Absent when the source sends none (a phone's voice).
   */
  onSenderReport?(listener: SenderReportListener): () => void;
}

/** A sender report's mapping of the publisher's RTP clock to its wall clock (ms since 1970). */
export type SenderReportListener = (report: { wallMs: number; rtpTimestamp: number }) => void;

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** An NTP timestamp (RFC 5905 §6: 32.32 fixed-point seconds since 1900) in ms since 1970. */
export function ntpToUnixMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n) - NTP_UNIX_OFFSET_S;
  const fraction = Number(ntp & 0xffff_ffffn) / 2 ** 32;
  return (seconds + fraction) * 1000;
}

/** What werift's receiver keeps per incoming SSRC (its `StreamStatistics`, not in its typings). */
interface ReceiverStreams {
  remoteStreams?: Record<number, { jitter: number; clockRate: number } | undefined>;
}

/** Where a published track's packets go: a DownTrack to one subscriber, or a server-side consumer. */
export interface RtpSink {
  /** A packet of simulcast layer `layer` (always 0 without simulcast): a sink keeps to one layer at a time. */
  write(rtp: RtpPacket, layer: number): void;
  /** Simulcast: the layers that are flowing changed (see `PublishedTrack.flowing`). */
  layersChanged?(): void;
  /** Simulcast: the layer this sink wants now (-1: none); layers no sink wants are paused. */
  readonly wantedLayer?: number;
  /**
   * A relay to another place that forwards (`TrackRelay.ts`): written before the subscribers here, so that
   * the subscribers there do not wait for this fan-out.
   */
  readonly relay?: boolean;
  /** The track ended: the sink must let go of it. */
  close(): void;
}

/**
 * The source of a track a WebRTC publisher sends: werift's remote track and its receiver; with simulcast,
 * werift's remote track of each `rid` is a layer.
 */
export function receiverSource(track: MediaStreamTrack, receiver: RTCRtpReceiver): RtpSource {
  const kind = track.kind === 'audio' ? 'audio' : 'video';
  const simulcast = receiver.tracks.filter((t) => t.rid);
  const tracks = simulcast.length > 1 ? simulcast : [track];
  // A simulcast layer's SSRC is learnt from its packets (its offer names it by rid only).
  const ssrcs = tracks.map((t) => t.ssrc);
  // The receiver's statistics and sender reports are read of the largest stream, listed last by convention.
  const mainSsrc = () => ssrcs[ssrcs.length - 1];
  return {
    kind,
    mimeType: track.codec?.mimeType ?? (kind === 'audio' ? 'audio/opus' : 'video/VP8'),
    ...(tracks.length > 1 ? { layers: tracks.map((t) => t.rid!) } : {}),
    onRtp(listener) {
      const subscriptions = tracks.map((t, layer) =>
        t.onReceiveRtp.subscribe((rtp, extensions?: Extensions) => {
          ssrcs[layer] = rtp.header.ssrc;
          const level = extensions?.[AUDIO_LEVEL_URI] as { level: number } | undefined;
          listener(rtp, level?.level, layer);
        }),
      );
      return () => {
        for (const { unSubscribe } of subscriptions) unSubscribe();
      };
    },
    requestKeyframe(layer) {
      const ssrc = ssrcs[layer];
      if (ssrc === undefined) return;
      // RFC 4585 §6.3.1 Picture Loss Indication.
      receiver.sendRtcpPLI(ssrc).catch(() => {
        // The transport closed under us; the track is about to close too.
      });
    },
    onSenderReport(listener) {
      const { unSubscribe } = receiver.onRtcp.subscribe((rtcp) => {
        if (!(rtcp instanceof RtcpSrPacket) || rtcp.ssrc !== mainSsrc()) return;
        const { ntpTimestamp, rtpTimestamp } = rtcp.senderInfo;
        listener({ wallMs: ntpToUnixMs(ntpTimestamp), rtpTimestamp });
      });
      return unSubscribe;
    },
    jitterSeconds() {
      const ssrc = mainSsrc();
      if (ssrc === undefined) return undefined;
      // The same statistics werift's receiver reports to the publisher in its RTCP receiver reports.
      const stream = (receiver as unknown as ReceiverStreams).remoteStreams?.[ssrc];
      return stream?.clockRate ? stream.jitter / stream.clockRate : undefined;
    },
  };
}
