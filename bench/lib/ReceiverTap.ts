import type { RTCPeerConnection } from 'werift';
import { nowMs, readMarker } from './marker.js';

/** Every SAMPLE_EVERY-th packet of each stream is decrypted and checked; must stay below RFC 3711's
 *  ROC guess window (100 sequence numbers, werift's MaxROCDisorder) so sampled decryption stays in sync. */
const SAMPLE_EVERY = 16;
/** Latency samples kept per measurement window (uniform reservoir beyond this). */
const MAX_SAMPLES = 50_000;

/** Latency samples of one measurement window, shared by every receiver of the load process. */
export class LatencySink {
  samples: number[] = [];
  seen = 0;

  add(ms: number): void {
    this.seen++;
    if (this.samples.length < MAX_SAMPLES) this.samples.push(ms);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.samples[i] = ms;
    }
  }

  reset(): void {
    this.samples = [];
    this.seen = 0;
  }
}

/**
 * What one light subscriber receives, counted at its UDP socket. The plaintext RTP header gives the
 * stream (SSRC); one packet in SAMPLE_EVERY per stream is decrypted, which proves the SRTP is intact
 * and yields the publisher's send time from the payload trailer.
 */
export class ReceiverTap {
  packets = 0;
  bytes = 0;
  verified = 0;
  corrupt = 0;
  readonly streams = new Map<number, number>();
  readonly #sink: LatencySink;
  readonly #markers: boolean;
  readonly #every: number;

  /**
   * `markers: false`: the publisher does not stamp its payloads (a bot of the fixture clip); a sampled
   * packet counts as verified when it decrypts (its SRTP authentication tag checks out). `sampleEvery`:
   * one packet in this many per stream is decrypted and sampled (default SAMPLE_EVERY; at most 100).
   */
  constructor(sink: LatencySink, options: { markers?: boolean; sampleEvery?: number } = {}) {
    this.#sink = sink;
    this.#markers = options.markers ?? true;
    this.#every = Math.min(100, Math.max(1, Math.round(options.sampleEvery ?? SAMPLE_EVERY)));
  }

  onRtp(data: Buffer, decrypt?: (packet: Buffer) => Buffer): void {
    this.packets++;
    this.bytes += data.length;
    const ssrc = data.readUInt32BE(8);
    const n = this.streams.get(ssrc) ?? 0;
    this.streams.set(ssrc, n + 1);
    if (n % this.#every !== 0) return;
    const at = nowMs();
    let plain = data;
    if (decrypt) {
      try {
        plain = decrypt(data);
      } catch {
        this.corrupt++;
        return;
      }
    }
    if (!this.#markers) {
      this.verified++;
      return;
    }
    const sent = readMarker(plain);
    if (sent === undefined) {
      this.corrupt++;
      return;
    }
    this.verified++;
    this.#sink.add(at - sent);
  }
}

/** The werift internals the tap reaches into (not part of werift's typed surface). */
interface UdpTransportLike {
  onData: (data: Buffer, addr: unknown) => void;
}
interface DtlsTransportLike {
  srtp?: { decrypt: (packet: Buffer) => Buffer };
  iceTransport: { connection: { protocols: { transport?: UdpTransportLike }[] } };
}

/**
 * Makes a werift peer connection a light subscriber: once it is connected, RTP arriving at its UDP
 * sockets is counted by `tap` and not handed to werift (no SRTP decryption, depacketising or jitter
 * buffer per packet). STUN, DTLS and RTCP still go to werift, so ICE consent and RTCP keep working.
 */
export function tapPeerConnection(pc: RTCPeerConnection, tap: ReceiverTap): void {
  const tapped = new WeakSet<UdpTransportLike>();
  const install = () => {
    const transports = (pc as unknown as { dtlsTransports: DtlsTransportLike[] }).dtlsTransports;
    for (const dtls of transports) {
      for (const protocol of dtls.iceTransport.connection.protocols) {
        const udp = protocol.transport;
        if (!udp || tapped.has(udp)) continue;
        tapped.add(udp);
        const original = udp.onData;
        udp.onData = (data, addr) => {
          const b0 = data[0]!;
          const b1 = data[1]!;
          // RFC 7983: 128..191 is RTP or RTCP; RFC 5761 §4: RTCP packet types are 192..223.
          if (b0 > 127 && b0 < 192 && (b1 < 192 || b1 > 223) && dtls.srtp && data.length >= 12) {
            tap.onRtp(data, dtls.srtp.decrypt);
            return;
          }
          original(data, addr);
        };
      }
    }
  };
  pc.connectionStateChange.subscribe((state) => {
    if (state === 'connected') install();
  });
  if (pc.connectionState === 'connected') install();
}
