import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { RtpHeader, RtpPacket } from 'werift';
import { AudioMixer } from '../../audio/AudioMixer.js';
import { decodeG711, encodeG711, type G711Law } from '../../audio/g711.js';
import { OpusFrameSource } from '../../audio/OpusFrameSource.js';
import { OpusDecoder, OpusEncoder } from '../../audio/opusCodec.js';
import { pcmAudioLevel } from '../../audio/pcm.js';
import { TypedEmitter } from '../../common/TypedEmitter.js';
import type { PhoneAudio, RoomTrack, RtpListener, RtpSource } from '../../host/RoomHost.js';
import { DtmfDetector } from './dtmf.js';
import type { Codec, Direction } from './sipSdp.js';
import { ToneGenerator, type TonePattern } from './tones.js';
import { plainAddress, sendAddress } from './udpAddress.js';

export interface SipMediaEvents {
  dtmf: [string];
}

export interface RemoteMedia {
  address: string;
  port: number;
  direction: Direction;
}

/** The caller's Opus packets, forwarded to the room untouched (no transcoding for Opus phones). */
class RelaySource implements RtpSource {
  readonly kind = 'audio' as const;
  readonly mimeType = 'audio/opus';
  readonly listeners = new Set<RtpListener>();
  onRtp(listener: RtpListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * The RTP side of one phone call (RFC 3550 over UDP, no SRTP). Toward the caller: the room's audio
 * mixed on a 20 ms clock and encoded to the negotiated codec, with call-progress tones laid over it.
 * From the caller: G.711 is decoded and re-encoded as Opus (libopus resamples 8 → 48 kHz), Opus is
 * relayed as is; either way the room gets an Opus track (`voice`). telephone-event packets become
 * `dtmf` events. Packets are accepted only from the caller's signalled media or signalling address.
 */
export class SipMedia extends TypedEmitter<SipMediaEvents> implements PhoneAudio {
  readonly port: number;
  closed = false;
  packetsSent = 0;
  packetsReceived = 0;
  /** Packets the socket refused to send (no route, an address of the other family): counted, never dropped silently. */
  sendErrors = 0;
  lastPacketAt = 0;
  codec: Codec | undefined;
  /** The caller's voice as Opus, set by `configure`. */
  voice: RtpSource | undefined;
  #socket: Socket;
  readonly #ipv6: boolean;
  readonly #log: Logger;
  #remote: RemoteMedia | undefined;
  #allowed = new Set<string>();
  #dtmfPayloadType: number | undefined;
  readonly #dtmf = new DtmfDetector();
  #mixer: AudioMixer | undefined;
  #tone: ToneGenerator | undefined;
  #encode: ((pcm: Int16Array) => Buffer) | undefined;
  #receive: ((rtp: RtpPacket) => void) | undefined;
  #dispose: (() => void)[] = [];
  readonly #ssrc = randomInt(1, 2 ** 32);
  #seq = randomInt(0, 0x10000);
  #timestamp = randomInt(0, 2 ** 32);
  #marker = true;

  private constructor(socket: Socket, log: Logger) {
    super();
    this.#socket = socket;
    this.#log = log;
    const address = socket.address();
    this.port = address.port;
    this.#ipv6 = address.family === 'IPv6';
    socket.on('message', (data, rinfo) => this.#onPacket(data, rinfo));
    socket.on('error', (error) => this.#sendFailed(error));
  }

  /** Binds an even UDP port in [min, max] (RFC 3550 §11: RTP on even ports). */
  static async open(host: string, min: number, max: number, log: Logger): Promise<SipMedia> {
    const type = isIP(host) === 6 || host === '::' ? 'udp6' : 'udp4';
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = min + 2 * randomInt(0, Math.floor((max - min) / 2) + 1);
      const socket = createSocket(type);
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, host, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        return new SipMedia(socket, log);
      } catch {
        socket.close();
      }
    }
    throw new Error(`no free UDP port for RTP between ${min} and ${max}`);
  }

  /** Sets the codec (once) and where the caller's media is; `signalling` is the SIP peer's address. */
  configure(
    codec: Codec,
    dtmfPayloadType: number | undefined,
    remote: RemoteMedia,
    signalling: string,
  ): void {
    this.#dtmfPayloadType = dtmfPayloadType;
    this.setRemote(remote);
    this.#allowed.add(plainAddress(signalling));
    if (this.codec) return;
    this.codec = codec;
    const rate = codec.name === 'opus' ? 48_000 : 8000;
    if (codec.name === 'opus') {
      const encoder = new OpusEncoder(48_000);
      const levels = new OpusDecoder(8000);
      const relay = new RelaySource();
      this.#encode = (pcm) => encoder.encode(pcm);
      this.#receive = (rtp) => {
        const pcm = levels.decode(rtp.payload);
        const level = pcm ? pcmAudioLevel(pcm) : undefined;
        for (const listener of relay.listeners) listener(rtp, level, 0);
      };
      this.voice = relay;
      this.#dispose.push(
        () => encoder.close(),
        () => levels.close(),
      );
    } else {
      const law: G711Law = codec.name === 'PCMU' ? 'mulaw' : 'alaw';
      const source = new OpusFrameSource(8000);
      // Re-frame whatever packet time the phone uses into 20 ms Opus frames.
      let pending = new Int16Array(0);
      this.#encode = (pcm) => encodeG711(pcm, law);
      this.#receive = (rtp) => {
        const pcm = decodeG711(rtp.payload, law);
        const joined = new Int16Array(pending.length + pcm.length);
        joined.set(pending);
        joined.set(pcm, pending.length);
        let offset = 0;
        for (; offset + 160 <= joined.length; offset += 160) source.push(joined.slice(offset, offset + 160));
        pending = joined.slice(offset);
      };
      this.voice = source;
      this.#dispose.push(() => source.close());
    }
    const mixer = new AudioMixer(rate);
    mixer.on('frame', (frame) => this.#send(frame));
    mixer.start();
    this.#mixer = mixer;
  }

  setRemote(remote: RemoteMedia): void {
    this.#remote = remote;
    this.#allowed.add(plainAddress(remote.address));
  }

  /** Mixes a room track into what the caller hears. */
  hear(track: RoomTrack): void {
    this.#mixer?.add(track);
  }

  forget(trackId: string): void {
    this.#mixer?.remove(trackId);
  }

  /** Lays a tone pattern over the caller's audio until it ends or another one starts. */
  play(pattern: TonePattern | undefined): void {
    this.#tone = pattern && this.#mixer ? new ToneGenerator(pattern, this.#mixer.sampleRate) : undefined;
  }

  #send(frame: Int16Array): void {
    const remote = this.#remote;
    const codec = this.codec;
    if (!remote || !codec || !this.#encode) return;
    const tone = this.#tone?.next(frame.length);
    if (this.#tone && !tone) this.#tone = undefined;
    if (tone)
      for (let i = 0; i < frame.length; i++)
        frame[i] = Math.max(-32768, Math.min(32767, frame[i]! + tone[i]!));
    const ticks = (frame.length * codec.clockRate) / (this.#mixer?.sampleRate ?? codec.clockRate);
    const header = new RtpHeader({
      payloadType: codec.payloadType,
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      ssrc: this.#ssrc,
      marker: this.#marker,
    });
    // Keep the clock running while on hold, so that resuming is not a jump backwards.
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + ticks) % 2 ** 32;
    const sending = remote.direction === 'sendrecv' || remote.direction === 'recvonly';
    if (!sending || remote.port === 0 || remote.address === '0.0.0.0' || remote.address === '::') return;
    this.#marker = false;
    const packet = new RtpPacket(header, this.#encode(frame)).serialize();
    this.#socket.send(packet, remote.port, sendAddress(this.#ipv6, remote.address), (error) => {
      if (error) this.#sendFailed(error);
      else this.packetsSent++;
    });
  }

  /** The caller hears nothing while sends fail: the first failure of a call is logged, all are counted. */
  #sendFailed(error: Error): void {
    if (this.closed) return;
    this.sendErrors++;
    if (this.sendErrors === 1)
      this.#log.warn(
        { err: error, remote: this.#remote?.address, port: this.#remote?.port },
        'SIP call: cannot send RTP to the caller',
      );
  }

  #onPacket(data: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || !this.#allowed.has(plainAddress(rinfo.address))) return;
    if (data.length < 12 || data[0]! >> 6 !== 2) return;
    let rtp: RtpPacket;
    try {
      rtp = RtpPacket.deSerialize(data);
    } catch {
      return;
    }
    this.packetsReceived++;
    this.lastPacketAt = Date.now();
    const pt = rtp.header.payloadType;
    if (pt === this.#dtmfPayloadType) {
      const digit = this.#dtmf.push(rtp.header.timestamp, rtp.payload);
      if (digit) this.emit('dtmf', digit);
      return;
    }
    if (pt === this.codec?.payloadType && rtp.payload.length > 0) this.#receive?.(rtp);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#mixer?.close();
    this.#mixer = undefined;
    for (const dispose of this.#dispose) dispose();
    this.#dispose = [];
    this.#socket.close();
    this.removeAllListeners();
  }
}
