import { fileURLToPath } from 'node:url';
import {
  MediaStreamTrack,
  PictureLossIndication,
  type RTCDtlsTransport,
  type RTCRtpTransceiver,
  RTP_EXTENSION_URI,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtpHeader,
  type RtpPacket,
  serializeSdesMid,
  serializeSdesRTPStreamID,
} from 'werift';
import type { Room } from '../client/Room.js';
import type { SimulcastEncoding } from '../client/simulcast.js';
import type { LocalTrack } from '../client/tracks.js';
import { ClipSource } from '../media/ClipSource.js';

const clip = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

export interface SimulcastClip extends SimulcastEncoding {
  /** The layer's picture: an IVF of VP8 whose keyframes are at the same frames as the other layers'. */
  videoPath: string;
}

/** A test publisher's simulcast layers: the fixture clip at 320×180, 640×360 and 1280×720 (fixtures/). */
export const SIMULCAST_CLIPS: readonly SimulcastClip[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 250_000, videoPath: clip('clip-180.ivf') },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 900_000, videoPath: clip('clip.ivf') },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_700_000, videoPath: clip('clip-720.ivf') },
];

/** werift's sender keeps the negotiated header extensions out of its typings. */
interface SenderExtensions {
  headerExtensions?: { uri: string; id: number }[];
}

/**
 * A camera sent in simulcast from Node, as a browser sends one: one m-line whose offer lists the layers'
 * `rid`s (RFC 8853), and per layer its own RTP stream (its own SSRC, sequence numbers and timestamps)
 * carrying the MID and RID header extensions (RFC 8843, RFC 8852). werift sends one stream per sender, so
 * the layers' packets are written here to the connection's DTLS transport (which encrypts them), and the
 * keyframe requests the server sends about each layer's SSRC are read from the transport's RTCP.
 */
export class SimulcastVideo {
  readonly layers: {
    rid: string;
    source: ClipSource;
    keyframeRequests: number;
    /** Sent: the server has not paused it (a `layers` message). */
    active: boolean;
    /** RTP packets sent. */
    packetsSent: number;
  }[];
  #midExtension = 0;
  #ridExtension = 0;
  /** The transport whose RTCP is read, and the function that stops reading it. */
  #rtcpOf: RTCDtlsTransport | undefined;
  #stopRtcp: (() => void) | undefined;

  constructor(clips: readonly SimulcastClip[] = SIMULCAST_CLIPS) {
    this.layers = clips.map((c) => ({
      rid: c.rid,
      source: new ClipSource({ video: true, audio: false, videoPath: c.videoPath }),
      keyframeRequests: 0,
      active: true,
      packetsSent: 0,
    }));
  }

  /** Video RTP packets sent, all layers. */
  get packetsSent(): number {
    return this.layers.reduce((n, l) => n + l.packetsSent, 0);
  }

  /** Publishes the camera in `room` and starts its layers. */
  async publish(room: Room<MediaStreamTrack>): Promise<LocalTrack<MediaStreamTrack>> {
    const encodings = this.layers.map(({ rid }, i) => ({
      rid,
      scaleResolutionDownBy: 2 ** (this.layers.length - 1 - i),
      maxBitrate: 0,
    }));
    const local = await room.publishTrack(new MediaStreamTrack({ kind: 'video' }), 'camera', { encodings });
    const transceiver = local.transceiver as unknown as RTCRtpTransceiver;
    for (const ext of (transceiver.sender as unknown as SenderExtensions).headerExtensions ?? []) {
      if (ext.uri === RTP_EXTENSION_URI.sdesMid) this.#midExtension = ext.id;
      if (ext.uri === RTP_EXTENSION_URI.sdesRTPStreamID) this.#ridExtension = ext.id;
    }
    if (!this.#ridExtension)
      throw new Error('the server did not take the RID header extension: no simulcast');
    // A paused layer is not sent; sent again, it starts with a keyframe, as a browser's encoder does.
    room.on('layersActive', (track, active) => {
      if (track !== local) return;
      this.layers.forEach((layer, i) => {
        const on = active[i] ?? true;
        if (on && !layer.active) layer.source.requestKeyframe();
        layer.active = on;
      });
    });
    for (const layer of this.layers) {
      layer.source.onVideoRtp((rtp) => {
        if (layer.active) this.#send(layer, rtp, transceiver);
      });
      layer.source.start();
    }
    return local;
  }

  /** RFC 4585 §6.3.1: a keyframe request for one layer's SSRC. */
  #onRtcp(packet: RtcpPacket): void {
    if (!(packet instanceof RtcpPayloadSpecificFeedback)) return;
    const feedback = packet.feedback;
    if (!(feedback instanceof PictureLossIndication)) return;
    const layer = this.layers.find((l) => l.source.videoSsrc === feedback.mediaSsrc);
    if (!layer) return;
    layer.keyframeRequests++;
    layer.source.requestKeyframe();
  }

  #send(layer: SimulcastVideo['layers'][number], rtp: RtpPacket, transceiver: RTCRtpTransceiver): void {
    const rid = layer.rid;
    const sender = transceiver.sender;
    const dtls = sender.dtlsTransport;
    const codec = sender.codec;
    if (!dtls || dtls.state !== 'connected' || !codec || transceiver.stopped) return;
    if (dtls !== this.#rtcpOf) {
      this.#stopRtcp?.();
      this.#rtcpOf = dtls;
      this.#stopRtcp = dtls.onRtcp.subscribe((packet) => this.#onRtcp(packet)).unSubscribe;
    }
    const extensions = [{ id: this.#ridExtension, payload: serializeSdesRTPStreamID(rid) }];
    if (this.#midExtension && transceiver.mid)
      extensions.push({ id: this.#midExtension, payload: serializeSdesMid(transceiver.mid) });
    extensions.sort((a, b) => a.id - b.id);
    const header = new RtpHeader({
      ...rtp.header,
      payloadType: codec.payloadType,
      extension: true,
      extensions,
    });
    layer.packetsSent++;
    dtls.sendRtp(rtp.payload, header).catch(() => {
      // The connection is closing.
    });
  }

  stop(): void {
    for (const layer of this.layers) layer.source.stop();
    this.#stopRtcp?.();
    this.#stopRtcp = undefined;
    this.#rtcpOf = undefined;
  }
}
