import { isIP } from 'node:net';
import {
  type RTCRtpSender,
  RTP_EXTENSION_URI,
  RtpHeader,
  RtpPacket,
  serializeAbsSendTime,
  serializeRepairedRtpStreamId,
  serializeSdesMid,
  serializeSdesRTPStreamID,
  serializeTransportWideCC,
} from 'werift';
import { ntpTime } from '../werift/ntpTime.js';
import { estimatorOf } from './BandwidthEstimator.js';
import {
  type HeaderExtension,
  type RewrittenFields,
  rtpHeaderSize,
  writeRtpHeader,
} from './rtpHeaderBytes.js';
import { type Keystream, SEAL_OFFSET, SrtpEncryptor } from './SrtpEncryptor.js';
import { scheduleSenderReports } from './senderReports.js';
// RFC 3711 rollover counters in werift's SRTP contexts, among port545's changes to werift.
import '../werift/install.js';
import {
  type CandidatePairInternals,
  type DtlsInternals,
  fastPathCompatible,
  type SenderInternals,
  type SrtpContextInternals,
  type SrtpSsrcState,
  transportCompatible,
} from '../werift/internals.js';
import { type BufferOwner, queueDatagram, sendBatchOpen, sendDatagram } from './udpSend.js';

/** werift's RTP_HISTORY_SIZE: how many sent packets the sender keeps for NACKs. */
const RTP_HISTORY_SIZE = 128;

/** One SRTP encryptor per werift SRTP context (one per subscriber transport), made on first use. */
const encryptors = new WeakMap<SrtpContextInternals, SrtpEncryptor>();
/** The encryptor the fast path made for a werift SRTP context, if it made one (for tests). */
export function srtpEncryptorOf(context: SrtpContextInternals): SrtpEncryptor | undefined {
  return encryptors.get(context);
}
/** Transports checked once for the internals the fast path needs. */
const transportChecked = new WeakMap<DtlsInternals, boolean>();

/**
 * The NTP time of the packet being fanned out. Every subscriber's copy of one incoming packet leaves within
 * the same fan-out loop, so the clock is read (and werift's NTP conversion, ~1 µs, done) once per packet
 * rather than once per subscriber.
 */
let ntpFor: RtpPacket | undefined;
let ntpValue = 0n;
function packetNtpTime(rtp: RtpPacket): bigint {
  if (rtp !== ntpFor) {
    ntpFor = rtp;
    ntpValue = ntpTime();
  }
  return ntpValue;
}

const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;

/**
 * Sends forwarded RTP on a werift RTCRtpSender, doing exactly what werift's `dispatchRtp` does (SSRC and
 * payload type rewrite, sequence/timestamp continuity offsets, header extensions, NACK cache, sender-report
 * counters, SRTP; its sender reports go out from senderReports.ts) but synchronously and without the
 * per-packet work that does not change the bytes on the wire: five chained promises, BigInt arithmetic, a fresh cipher helper per packet and
 * the bandwidth estimator's bookkeeping when transport-wide congestion control is not negotiated.
 *
 * `send` returns false when it cannot take the packet (an unusual configuration such as RED or queued
 * sending, or a werift whose internals changed); the caller then uses `RTCRtpSender.sendRtp`.
 */
export class RtpFastSender {
  readonly #sender: SenderInternals | undefined;
  // The SRTP state of this sender's SSRC in its transport's context, looked up once.
  #context: SrtpContextInternals | undefined;
  #stateSsrc = 0;
  #state: SrtpSsrcState | undefined;
  #encryptor: SrtpEncryptor | undefined;
  #keystream: Keystream | undefined;
  // The transport last checked for the internals the fast path needs.
  #dtls: DtlsInternals | undefined;
  #dtlsOk = false;
  // The ICE candidate pair last sent on, and its remote address when it is a plain UDP pair (else port 0).
  #pair: CandidatePairInternals | undefined;
  #host = '';
  #port = 0;
  /** The NACK cache's entries, reused as the sequence numbers come round (see SentPacket). */
  readonly #sent: SentPacket[] = [];

  constructor(sender: RTCRtpSender) {
    this.#sender = fastPathCompatible(sender) ? sender : undefined;
  }

  get enabled(): boolean {
    return this.#sender !== undefined;
  }

  send(rtp: RtpPacket, padding = false): boolean {
    const s = this.#sender;
    if (!s || s.pendingRtpEnabled || s.redRedundantPayloadType) return false;
    const dtls = s.dtlsTransport;
    const codec = s.codec;
    // werift drops the packet in these cases too (canSendRtp).
    if (s.stopped || !dtls || dtls.state !== 'connected' || !codec) return true;
    if (dtls !== this.#dtls) {
      let checked = transportChecked.get(dtls);
      if (checked === undefined) {
        checked = transportCompatible(dtls);
        transportChecked.set(dtls, checked);
      }
      this.#dtls = dtls;
      this.#dtlsOk = checked;
    }
    if (!this.#dtlsOk || dtls.config.debug?.outboundPacketLoss) return false;
    const context = dtls.srtp!.localContext;

    // --- as RTCRtpSender.dispatchRtp, without cloning the packet ---
    const original = rtp.header;
    const payload = rtp.payload;
    if (s.rtpContinuityPending) {
      if (s.sequenceNumber !== undefined && s.timestamp !== undefined) {
        s.seqOffset = (((s.sequenceNumber + 1) & 0xffff) - original.sequenceNumber) & 0xffff;
        s.timestampOffset = (s.timestamp + s.pendingTimestampStep - original.timestamp) >>> 0;
      }
      s.rtpContinuityPending = false;
      s.pendingTimestampStep = 1;
    }
    const ssrc = s.ssrc;
    const payloadType = codec.payloadType;
    const timestamp = (original.timestamp + s.timestampOffset) >>> 0;
    const sequenceNumber = (original.sequenceNumber + s.seqOffset) & 0xffff;
    s.timestamp = timestamp;
    s.sequenceNumber = sequenceNumber;
    const ntp = packetNtpTime(rtp);
    let twcc = false;
    let extensions = original.extensions;
    if (s.headerExtensions.length > 0) {
      const written = this.#extensions(s, dtls, ntp);
      extensions = written.extensions;
      twcc = written.twcc;
    } else if (!isSorted(extensions)) {
      // The publisher's extensions are forwarded as they came, ordered by id.
      extensions = [...extensions].sort(byId);
    }
    const slot = sequenceNumber % RTP_HISTORY_SIZE;
    let sent = this.#sent[slot];
    if (sent) sent.set(original, payload, ssrc, payloadType, sequenceNumber, timestamp, extensions);
    else {
      sent = new SentPacket(original, payload, ssrc, payloadType, sequenceNumber, timestamp, extensions);
      this.#sent[slot] = sent;
    }
    const headerSize = rtpHeaderSize(original, extensions);
    s.ntpTimestamp = ntp;
    s.rtpTimestamp = timestamp;
    s.octetCount += payload.length;
    s.headerBytesSent += headerSize;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.rtpCache[slot] = sent;

    // --- as RTCDtlsTransport.sendRtp ---
    let size = 0;
    try {
      if (this.#context !== context || this.#state === undefined || this.#stateSsrc !== ssrc) {
        this.#context = context;
        this.#stateSsrc = ssrc;
        this.#state = context.getSrtpSsrcState(ssrc);
        let encryptor = encryptors.get(context);
        if (!encryptor) {
          encryptor = new SrtpEncryptor(context);
          encryptors.set(context, encryptor);
        }
        this.#encryptor = encryptor;
        this.#keystream = encryptor.aesCm?.keystream(ssrc);
      }
      const state = this.#state;
      context.updateRolloverCount(sequenceNumber, state);
      const encryptor = this.#encryptor!;
      const cm = encryptor.aesCm;
      if (cm) {
        // AES-CM: header, encrypted payload and tag are written in the encryptor's buffer, which the
        // next packet reuses unless the socket kept it.
        const buffer = cm.reserve(headerSize + payload.length);
        writeRtpHeader(buffer, headerSize, original, sent, SEAL_OFFSET);
        size = cm.seal(this.#keystream!, headerSize, payload, sequenceNumber, state.rolloverCounter);
        dtls.bytesSent += size;
        dtls.packetsSent++;
        if (!this.#sendOnIce(dtls, cm.packet(size), cm)) cm.release();
      } else {
        const header = Buffer.allocUnsafe(headerSize);
        writeRtpHeader(header, headerSize, original, sent);
        const wire = encryptor.encrypt(header, payload, ssrc, sequenceNumber, state.rolloverCounter);
        dtls.bytesSent += wire.length;
        dtls.packetsSent++;
        size = wire.length;
        this.#sendOnIce(dtls, wire, undefined);
      }
    } catch {
      // werift logs an encryption failure and counts the packet as not sent (size 0); the stream goes on.
    }
    if (!s.rtcpRunning) scheduleSenderReports(s);
    // Transport-wide CC: the subscriber's estimator learns what was sent (werift's own estimator is not
    // fed: its bookkeeping costs per packet and nothing reads it).
    if (twcc) estimatorOf(dtls)?.sent(dtls.transportSequenceNumber, size, undefined, padding);
    return true;
  }

  /**
   * Sends a padding-only packet of `bytes` (1–255) of padding on this stream (RFC 3550 §5.1): the next
   * sequence number, the timestamp of the packet before, no payload. A receiver counts it for bandwidth
   * estimation (it carries the transport-wide sequence number) and skips it. The packets forwarded after it
   * go on one sequence number further. False when nothing was sent on the stream yet or the fast path
   * cannot send.
   */
  sendPadding(bytes: number): boolean {
    const s = this.#sender;
    if (!s || s.rtpContinuityPending || s.sequenceNumber === undefined || s.timestamp === undefined)
      return false;
    const size = Math.max(1, Math.min(255, Math.floor(bytes)));
    const payload = Buffer.alloc(size);
    payload[size - 1] = size;
    // Given as the packet that maps to the next sequence number and the same timestamp.
    const header = new RtpHeader({
      payloadType: 0,
      sequenceNumber: (s.sequenceNumber + 1 - s.seqOffset) & 0xffff,
      timestamp: (s.timestamp - s.timestampOffset) >>> 0,
      ssrc: 0,
      marker: false,
      padding: true,
      extensions: [],
    });
    const octets = s.octetCount;
    if (!this.send(new RtpPacket(header, payload), true)) return false;
    // RFC 3550 §6.4.1: the sender report's octet count is of payload, not padding.
    s.octetCount = octets;
    s.seqOffset = (s.seqOffset + 1) & 0xffff;
    return true;
  }

  /**
   * The stream is no longer sent (its subscription closed): frees its keystream batch in the transport's
   * encryptor (about 19 KB for a video stream), which otherwise lives as long as the connection does, so
   * a subscriber that stays while others come and go would collect one per stream it ever received.
   */
  close(): void {
    if (this.#keystream) this.#encryptor?.aesCm?.forget(this.#keystream.ssrc);
    this.#keystream = undefined;
    this.#state = undefined;
  }

  /**
   * The header extensions werift's sender writes for what was negotiated, sorted by id, and whether
   * transport-wide CC is on. The publisher's own are not forwarded then: their ids are of the publisher's
   * connection and may name another extension on this one (werift forwards them, and lets them win).
   */
  #extensions(
    s: SenderInternals,
    dtls: DtlsInternals,
    ntp: bigint,
  ): { extensions: HeaderExtension[]; twcc: boolean } {
    const out: HeaderExtension[] = [];
    let twcc = false;
    for (const extension of s.headerExtensions) {
      let payload: Buffer | undefined;
      switch (extension.uri) {
        case RTP_EXTENSION_URI.sdesMid:
          if (s.mid) payload = serializeSdesMid(s.mid);
          break;
        case RTP_EXTENSION_URI.sdesRTPStreamID:
          if (s.rtpStreamId) payload = serializeSdesRTPStreamID(s.rtpStreamId);
          break;
        case RTP_EXTENSION_URI.repairedRtpStreamId:
          if (s.repairedRtpStreamId) payload = serializeRepairedRtpStreamId(s.repairedRtpStreamId);
          break;
        case RTP_EXTENSION_URI.transportWideCC:
          dtls.transportSequenceNumber = (dtls.transportSequenceNumber + 1) & 0xffff;
          payload = serializeTransportWideCC(dtls.transportSequenceNumber);
          twcc = true;
          break;
        case RTP_EXTENSION_URI.absSendTime:
          payload = serializeAbsSendTime(ntp);
          break;
      }
      if (payload) out.push({ id: extension.id, payload });
    }
    return { extensions: out.sort(byId), twcc };
  }

  /**
   * As werift's `Connection.send` → `StunProtocol.sendData` → `UdpTransport.send` for a plain UDP candidate
   * pair, minus their three promises; TURN and TCP pairs go through werift. Returns true when `data` may
   * be reused at once (it was sent synchronously, or not at all) or when `owner` will be told (it was
   * queued in an open send batch), false when a send still holds it.
   */
  #sendOnIce(dtls: DtlsInternals, data: Buffer, owner: BufferOwner | undefined): boolean {
    const connection = dtls.iceTransport.connection;
    if (!connection.canSendApplicationData()) return true;
    const pair = connection.nominated!;
    if (pair !== this.#pair) {
      // A pair's remote candidate is fixed, so its address (a new array per read) is read once.
      this.#pair = pair;
      const [host, port] = pair.remoteAddr;
      const udp = pair.protocol.type === 'stun' && pair.protocol.transport?.type === 'udp';
      this.#host = host;
      this.#port = udp && isIP(host) ? port : 0;
    }
    const transport = pair.protocol.transport;
    if (this.#port !== 0 && transport?.socket) {
      let free = true;
      try {
        if (transport.closed) return true;
        if (sendBatchOpen()) queueDatagram(transport.socket, data, this.#port, this.#host, owner);
        else free = sendDatagram(transport.socket, data, this.#port, this.#host);
      } catch {
        // The socket closed under us (the connection is closing); werift swallows this too.
        return false;
      }
      pair.packetsSent++;
      pair.bytesSent += data.length;
      return free;
    }
    connection.send(data).catch(() => {
      // As werift: a failed send of one packet is not an error of the stream.
    });
    return false;
  }
}

/**
 * A sent packet in the sender's NACK cache. werift's NACK handler reads `header` only when a subscriber
 * asks for the packet again (RFC 4585 §6.2.1), so the RtpHeader object is made then, not for every packet.
 */
class SentPacket implements RewrittenFields {
  payload!: Buffer;
  ssrc!: number;
  payloadType!: number;
  sequenceNumber!: number;
  timestamp!: number;
  extensions!: HeaderExtension[];
  #original!: RtpHeader;
  // Taken now: the original header object is shared with the other subscribers' senders.
  #marker!: boolean;
  #padding!: boolean;
  #paddingSize!: number;
  #header: RtpHeader | undefined;

  constructor(
    original: RtpHeader,
    payload: Buffer,
    ssrc: number,
    payloadType: number,
    sequenceNumber: number,
    timestamp: number,
    extensions: HeaderExtension[],
  ) {
    this.set(original, payload, ssrc, payloadType, sequenceNumber, timestamp, extensions);
  }

  /**
   * Makes this entry the packet sent with `sequenceNumber` (the one 128 before it leaves the cache). werift
   * reads an entry's `header` and `payload` synchronously when a NACK asks for it, and the RtpHeader it got
   * stays as it was, so an entry can be reused rather than a new one made for every packet.
   */
  set(
    original: RtpHeader,
    payload: Buffer,
    ssrc: number,
    payloadType: number,
    sequenceNumber: number,
    timestamp: number,
    extensions: HeaderExtension[],
  ): void {
    this.payload = payload;
    this.ssrc = ssrc;
    this.payloadType = payloadType;
    this.sequenceNumber = sequenceNumber;
    this.timestamp = timestamp;
    this.extensions = extensions;
    this.#original = original;
    this.#marker = original.marker;
    this.#padding = original.padding;
    this.#paddingSize = original.paddingSize;
    this.#header = undefined;
  }

  get header(): RtpHeader {
    if (!this.#header) {
      const o = this.#original;
      this.#header = new RtpHeader({
        version: o.version,
        padding: this.#padding,
        paddingSize: this.#paddingSize,
        extension: o.extension,
        marker: this.#marker,
        csrc: o.csrc,
        extensionProfile: o.extensionProfile,
        extensionLength: o.extensionLength,
        ssrc: this.ssrc,
        payloadType: this.payloadType,
        sequenceNumber: this.sequenceNumber,
        timestamp: this.timestamp,
        extensions: this.extensions,
      });
    }
    return this.#header;
  }
}

function isSorted(extensions: { id: number }[]): boolean {
  for (let i = 1; i < extensions.length; i++) if (extensions[i - 1]!.id > extensions[i]!.id) return false;
  return true;
}
