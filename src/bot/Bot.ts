import {
  MediaStreamTrack,
  type RTCPeerConnection,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import { connectNode } from '../client/node.js';
import type { Room } from '../client/Room.js';
import type { TurnTransport } from '../client/rtc.js';
import type { RemoteTrack } from '../client/tracks.js';
import { ClipSource } from '../media/ClipSource.js';
import { ReorderBuffer } from '../media/ReorderBuffer.js';
import { type Vp8Frame, Vp8FrameAssembler } from '../media/Vp8FrameAssembler.js';
import { isVp8KeyframeStart, vp8FrameSize } from '../media/vp8.js';
import { SimulcastVideo } from './simulcast.js';

/** A receiving bot asks for a keyframe at most this often while it throws frames away. */
const KEYFRAME_REQUEST_MS = 2000;

export interface BotOptions {
  url: string;
  room: string;
  name?: string;
  /** Publish the fixture clip's video (default true). */
  video?: boolean;
  /** Publish the fixture clip's audio (default true). */
  audio?: boolean;
  /** Keep every received video frame and audio packet (tests decode them with ffmpeg). */
  keepMedia?: boolean;
  hostAddresses?: string[];
  /** Access token, for a server in secured mode. */
  token?: string;
  /** Room password, for a room whose host set one. */
  password?: string;
  /** Extra trust for a wss:// server and a `turns:` relay: the PEM of a self-signed certificate. */
  ca?: string | Buffer;
  /** Called with each peer connection as it is created (tests put an impaired link in front of it). */
  /** Join the room's audience (receive only): then publish nothing (`video` and `audio` false). */
  viewer?: boolean;
  onPeerConnection?: (pc: RTCPeerConnection) => void;
  /** Only through the server's TURN relay, as on a network that blocks the rest. */
  relayOnly?: boolean;
  /** ICE over TCP to the server's port too (`NodeConnectOptions.iceTcp`). */
  iceTcp?: boolean | 'only';
  /** Media over UDP only (`NodeConnectOptions.udpOnly`). */
  udpOnly?: boolean;
  /** Only the server's TURN URLs that reach it this way (`NodeConnectOptions.turnTransport`). */
  turnTransport?: TurnTransport;
  /**
   * Put received video in sequence order, waiting up to this long for a missing packet (a retransmission)
   * before giving it up, and ask for a keyframe when frames must be thrown away, as a browser's jitter
   * buffer and decoder do; without it packets are taken as they come.
   */
  jitterBufferMs?: number;
  /** Keep each received video frame's RTP timestamp and arrival time (`frameTimes`), to measure freezes. */
  recordFrameTimes?: boolean;
  /** The first RTP sequence number of the published video (default random; see ClipSource). */
  firstVideoSequenceNumber?: number;
  /** The clip to publish instead of the fixture's (an IVF of VP8, an Ogg Opus file). */
  videoPath?: string;
  /**
   * Publish the camera in simulcast, as a browser sends one: three layers, the fixture clip at 320×180,
   * 640×360 and 1280×720 (`SimulcastVideo`). `videoPath` is then not used.
   */
  simulcast?: boolean;
  audioPath?: string;
}

/** What a bot has received of one remote track. */
export interface ReceivedTrack {
  trackId: string;
  participantId: string;
  kind: 'audio' | 'video';
  packets: number;
  bytes: number;
  /** Complete VP8 frames reassembled (video). */
  frames: number;
  keyframes: number;
  /** Whether the very first RTP packet received started a keyframe (video): a picture from the start. */
  startedWithKeyframe: boolean | undefined;
  /** The picture size of the last keyframe (video; 0 before one). */
  width: number;
  height: number;
  /** When the first complete keyframe was reassembled (video). */
  firstKeyframeAt: number | undefined;
  subscribedAt: number;
  firstPacketAt: number | undefined;
  /** Received frames (video) or Opus packets (audio) when `keepMedia` is set. */
  media: Buffer[];
  /** Per video frame, [RTP timestamp, Date.now() at arrival], when `recordFrameTimes` is set. */
  frameTimes: [number, number][];
}

/**
 * A participant made of code: joins a room, publishes a looped test clip (VP8 + Opus) and records what
 * it receives of everyone else. Newcomers use it to see someone in a room; tests and benchmarks use it.
 */
export class Bot {
  readonly room: Room<MediaStreamTrack>;
  readonly received = new Map<string, ReceivedTrack>();
  readonly #source: ClipSource | undefined;
  /** The camera's layers, when it is sent in simulcast. */
  simulcast: SimulcastVideo | undefined;
  readonly #disposers: (() => void)[] = [];
  /** The listener on each remote track's current media, by track id. */
  readonly #listening = new Map<string, () => void>();
  #stopped = false;

  readonly #jitterBufferMs: number;
  readonly #recordFrameTimes: boolean;

  private constructor(
    room: Room<MediaStreamTrack>,
    source: ClipSource | undefined,
    keepMedia: boolean,
    options: Pick<BotOptions, 'jitterBufferMs' | 'recordFrameTimes'> = {},
  ) {
    this.room = room;
    this.#source = source;
    this.#jitterBufferMs = options.jitterBufferMs ?? 0;
    this.#recordFrameTimes = options.recordFrameTimes ?? false;
    room.on('trackSubscribed', (track) => this.#record(track, keepMedia));
    room.on('trackUnsubscribed', (track) => {
      this.#listening.get(track.id)?.();
      this.#listening.delete(track.id);
    });
    for (const p of room.participants.values())
      for (const t of p.tracks.values()) if (t.mediaTrack) this.#record(t, keepMedia);
  }

  /** Video RTP packets this bot has published (retransmissions not counted). */
  get videoPacketsSent(): number {
    return (this.#source?.videoPacketsSent ?? 0) + (this.simulcast?.packetsSent ?? 0);
  }

  static async start(options: BotOptions): Promise<Bot> {
    const room = await connectNode({
      url: options.url,
      room: options.room,
      name: options.name ?? 'bot',
      hostAddresses: options.hostAddresses,
      token: options.token,
      password: options.password,
      ca: options.ca,
      onPeerConnection: options.onPeerConnection,
      ...(options.relayOnly ? { relayOnly: true } : {}),
      ...(options.iceTcp ? { iceTcp: options.iceTcp } : {}),
      ...(options.udpOnly ? { udpOnly: true } : {}),
      ...(options.turnTransport ? { turnTransport: options.turnTransport } : {}),
      ...(options.viewer ? { viewer: true } : {}),
    });
    const simulcast = (options.video ?? true) && options.simulcast === true;
    const video = (options.video ?? true) && !simulcast;
    const audio = options.audio ?? true;
    const source =
      video || audio
        ? new ClipSource({
            video,
            audio,
            firstVideoSequenceNumber: options.firstVideoSequenceNumber,
            ...(options.videoPath !== undefined ? { videoPath: options.videoPath } : {}),
            ...(options.audioPath !== undefined ? { audioPath: options.audioPath } : {}),
          })
        : undefined;
    const bot = new Bot(room, source, options.keepMedia ?? false, options);
    try {
      if (simulcast) {
        bot.simulcast = new SimulcastVideo();
        await bot.simulcast.publish(room);
      }
      if (source) {
        if (video) await bot.#publishVideo(source, 'camera');
        if (audio) {
          const track = new MediaStreamTrack({ kind: 'audio' });
          source.onAudioRtp((rtp) => track.writeRtp(rtp));
          await room.publishTrack(track, 'microphone');
        }
        source.start();
      }
    } catch (error) {
      // A bot that could not publish leaves rather than stay half-joined with its connections open.
      await bot.stop().catch(() => {});
      throw error;
    }
    return bot;
  }

  #record(track: RemoteTrack<MediaStreamTrack>, keepMedia: boolean): void {
    const media = track.mediaTrack;
    if (!media || this.#listening.has(track.id)) return;
    // Received again on a new connection (after a new join): keep counting into the same record.
    const stats: ReceivedTrack = this.received.get(track.id) ?? {
      trackId: track.id,
      participantId: track.participantId,
      kind: track.kind,
      packets: 0,
      bytes: 0,
      frames: 0,
      keyframes: 0,
      startedWithKeyframe: undefined,
      width: 0,
      height: 0,
      firstKeyframeAt: undefined,
      subscribedAt: Date.now(),
      firstPacketAt: undefined,
      media: [],
      frameTimes: [],
    };
    this.received.set(track.id, stats);
    let firstPacket = true;
    const onFrame = (frame: Vp8Frame) => {
      stats.frames++;
      if (frame.keyframe) {
        stats.keyframes++;
        const size = vp8FrameSize(frame.data);
        if (size) {
          stats.width = size.width;
          stats.height = size.height;
        }
        stats.firstKeyframeAt ??= Date.now();
      }
      if (keepMedia) stats.media.push(frame.data);
      if (this.#recordFrameTimes) stats.frameTimes.push([frame.timestamp, Date.now()]);
    };
    const assembler = track.kind === 'video' ? new Vp8FrameAssembler(onFrame) : undefined;
    // Like a decoder that lost a frame: ask for a keyframe (RFC 4585 §6.3.1) rather than wait for the next
    // one, at most every KEYFRAME_REQUEST_MS while frames are being thrown away.
    const receiver = (track.transceiver as unknown as RTCRtpTransceiver | undefined)?.receiver;
    let lost = 0;
    let lastPli = 0;
    const jitterBuffer = this.#jitterBufferMs > 0;
    const assemble = (rtp: RtpPacket) => {
      assembler!.push({ ...rtp.header, payload: rtp.payload });
      const now = Date.now();
      const waiting = assembler!.droppedFrames + assembler!.skippedFrames;
      // Only a bot that acts as a browser does (a jitter buffer) asks: the clip skips ahead to answer.
      if (!jitterBuffer || waiting === lost || now - lastPli < KEYFRAME_REQUEST_MS || !stats.firstKeyframeAt)
        return;
      lost = waiting;
      lastPli = now;
      receiver?.sendRtcpPLI(rtp.header.ssrc).catch(() => {});
    };
    const reorder =
      assembler && jitterBuffer ? new ReorderBuffer<RtpPacket>(this.#jitterBufferMs, assemble) : undefined;
    const subscription = media.onReceiveRtp.subscribe((rtp) => {
      stats.packets++;
      stats.bytes += rtp.payload.length;
      if (firstPacket) {
        firstPacket = false;
        stats.firstPacketAt ??= Date.now();
        if (assembler) stats.startedWithKeyframe ??= isVp8KeyframeStart(rtp.payload);
      }
      if (reorder) reorder.push(rtp);
      else if (assembler) assemble(rtp);
      else if (keepMedia) stats.media.push(rtp.payload);
    });
    this.#listening.set(track.id, () => {
      subscription.unSubscribe();
      reorder?.close();
    });
  }

  /** Received-track records of one remote participant. */
  receivedFrom(participantId: string): ReceivedTrack[] {
    return [...this.received.values()].filter((r) => r.participantId === participantId);
  }

  /** Publishes `source`'s video as a track of `kind`; returns the published track. */
  async #publishVideo(source: ClipSource, kind: 'camera' | 'screen') {
    const room = this.room;
    const track = new MediaStreamTrack({ kind: 'video' });
    source.onVideoRtp((rtp) => track.writeRtp(rtp));
    const local = await room.publishTrack(track, kind);
    // The SFU asks for a keyframe when a subscriber joins or loses the picture (RFC 4585 §6.3.1).
    const onPli = () => {
      const sender = local.transceiver.sender as unknown as RTCRtpSender;
      const pli = sender.onPictureLossIndication.subscribe(() => source.requestKeyframe());
      this.#disposers.push(pli.unSubscribe);
    };
    onPli();
    // A new join (after the server ended a session whose media was lost) sends on a new transceiver.
    this.#disposers.push(
      room.on('rejoined', () => {
        onPli();
        source.requestKeyframe();
      }),
    );
    return local;
  }

  #screen: { source: ClipSource; stop: () => Promise<void> } | undefined;

  /** Shares a "screen": a second video track (source `screen`) playing `videoPath` (default the fixture). */
  async shareScreen(videoPath?: string): Promise<void> {
    if (this.#screen) return;
    const source = new ClipSource({ video: true, audio: false, ...(videoPath ? { videoPath } : {}) });
    const local = await this.#publishVideo(source, 'screen');
    source.start();
    this.#screen = {
      source,
      stop: async () => {
        source.stop();
        await this.room.unpublishTrack(local);
      },
    };
  }

  /** Stops sharing the screen. */
  async stopScreen(): Promise<void> {
    const screen = this.#screen;
    this.#screen = undefined;
    await screen?.stop();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#source?.stop();
    this.simulcast?.stop();
    this.#screen?.source.stop();
    for (const dispose of this.#disposers) dispose();
    for (const dispose of this.#listening.values()) dispose();
    this.#listening.clear();
    await this.room.leave();
  }
}
