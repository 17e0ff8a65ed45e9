import { MediaStreamTrack, type RTCRtpSender } from 'werift';
import { connectNode } from '../client/node.js';
import type { Room } from '../client/Room.js';
import type { RemoteTrack } from '../client/tracks.js';
import { ClipSource } from '../media/ClipSource.js';
import { type Vp8Frame, Vp8FrameAssembler } from '../media/Vp8FrameAssembler.js';
import { isVp8KeyframeStart } from '../media/vp8.js';

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
  /** Extra trust for a wss:// server: the PEM of its self-signed certificate. */
  ca?: string | Buffer;
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
  /** When the first complete keyframe was reassembled (video). */
  firstKeyframeAt: number | undefined;
  subscribedAt: number;
  firstPacketAt: number | undefined;
  /** Received frames (video) or Opus packets (audio) when `keepMedia` is set. */
  media: Buffer[];
}

/**
 * A participant made of code: joins a room, publishes a looped test clip (VP8 + Opus) and records what
 * it receives of everyone else. Newcomers use it to see someone in a room; tests and benchmarks use it.
 */
export class Bot {
  readonly room: Room<MediaStreamTrack>;
  readonly received = new Map<string, ReceivedTrack>();
  readonly #source: ClipSource | undefined;
  readonly #disposers: (() => void)[] = [];
  #stopped = false;

  private constructor(room: Room<MediaStreamTrack>, source: ClipSource | undefined, keepMedia: boolean) {
    this.room = room;
    this.#source = source;
    room.on('trackSubscribed', (track) => this.#record(track, keepMedia));
    for (const p of room.participants.values())
      for (const t of p.tracks.values()) if (t.mediaTrack) this.#record(t, keepMedia);
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
    });
    const video = options.video ?? true;
    const audio = options.audio ?? true;
    const source = video || audio ? new ClipSource({ video, audio }) : undefined;
    const bot = new Bot(room, source, options.keepMedia ?? false);
    if (source) {
      if (video) {
        const track = new MediaStreamTrack({ kind: 'video' });
        source.onVideoRtp((rtp) => track.writeRtp(rtp));
        const local = await room.publishTrack(track, 'camera');
        // The SFU asks for a keyframe when a subscriber joins or loses the picture (RFC 4585 §6.3.1).
        const sender = local.transceiver.sender as unknown as RTCRtpSender;
        const pli = sender.onPictureLossIndication.subscribe(() => source.requestKeyframe());
        bot.#disposers.push(pli.unSubscribe);
      }
      if (audio) {
        const track = new MediaStreamTrack({ kind: 'audio' });
        source.onAudioRtp((rtp) => track.writeRtp(rtp));
        await room.publishTrack(track, 'microphone');
      }
      source.start();
    }
    return bot;
  }

  #record(track: RemoteTrack<MediaStreamTrack>, keepMedia: boolean): void {
    const media = track.mediaTrack;
    if (!media || this.received.has(track.id)) return;
    const stats: ReceivedTrack = {
      trackId: track.id,
      participantId: track.participantId,
      kind: track.kind,
      packets: 0,
      bytes: 0,
      frames: 0,
      keyframes: 0,
      startedWithKeyframe: undefined,
      firstKeyframeAt: undefined,
      subscribedAt: Date.now(),
      firstPacketAt: undefined,
      media: [],
    };
    this.received.set(track.id, stats);
    const onFrame = (frame: Vp8Frame) => {
      stats.frames++;
      if (frame.keyframe) {
        stats.keyframes++;
        stats.firstKeyframeAt ??= Date.now();
      }
      if (keepMedia) stats.media.push(frame.data);
    };
    const assembler = track.kind === 'video' ? new Vp8FrameAssembler(onFrame) : undefined;
    const { unSubscribe } = media.onReceiveRtp.subscribe((rtp) => {
      stats.packets++;
      stats.bytes += rtp.payload.length;
      if (stats.firstPacketAt === undefined) {
        stats.firstPacketAt = Date.now();
        if (assembler) stats.startedWithKeyframe = isVp8KeyframeStart(rtp.payload);
      }
      if (assembler) assembler.push({ ...rtp.header, payload: rtp.payload });
      else if (keepMedia) stats.media.push(rtp.payload);
    });
    this.#disposers.push(unSubscribe);
  }

  /** Received-track records of one remote participant. */
  receivedFrom(participantId: string): ReceivedTrack[] {
    return [...this.received.values()].filter((r) => r.participantId === participantId);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#source?.stop();
    for (const dispose of this.#disposers) dispose();
    await this.room.leave();
  }
}
