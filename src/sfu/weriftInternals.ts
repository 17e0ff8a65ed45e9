import type { Socket } from 'node:dgram';
import type { RtpHeader } from 'werift';

/**
 * The parts of werift 0.25's RTP sender, DTLS transport, SRTP context and ICE connection that the fast
 * send path (RtpFastSender) reads and writes. werift keeps them public in JavaScript but leaves them out
 * of its typings. `fastPathCompatible` checks their shape before anything relies on them, so a werift
 * version that changes them makes the SFU fall back to `RTCRtpSender.sendRtp` instead of failing.
 */
export interface SenderInternals {
  stopped: boolean;
  ssrc: number;
  codec?: { payloadType: number };
  dtlsTransport?: DtlsInternals;
  headerExtensions: { id: number; uri: string }[];
  mid?: string;
  rtpStreamId?: string;
  repairedRtpStreamId?: string;
  // Sequence and timestamp rewriting (replaceRTP / scheduleRtpContinuity).
  rtpContinuityPending: boolean;
  pendingTimestampStep: number;
  sequenceNumber?: number;
  timestamp?: number;
  seqOffset: number;
  timestampOffset: number;
  // Sender report state (RFC 3550 §6.4.1) and stats.
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  packetCount: number;
  headerBytesSent: number;
  /**
   * The NACK cache: the packet sent with sequence number n is at n % 128 (RFC 4585 §6.2.1). werift's NACK
   * handler reads only `header` and `payload` of an entry.
   */
  rtpCache: { header: RtpHeader; payload: Buffer }[];
  pendingRtpEnabled: boolean;
  redRedundantPayloadType?: number;
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
  senderBWE: {
    rtpPacketSent(info: { wideSeq: number; size: number; sendingAtMs: number; sentAtMs: number }): void;
  };
}

export interface DtlsInternals {
  state: string;
  srtp?: { localContext: SrtpContextInternals };
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  config: { debug?: { outboundPacketLoss?: number } };
  iceTransport: { connection: IceConnectionInternals };
}

export interface SrtpSsrcState {
  rolloverCounter: number;
  lastSequenceNumber: number;
}

export interface SrtpContextInternals {
  /** SRTP protection profile: 1 AES_CM_128_HMAC_SHA1_80 (RFC 3711), 7 AEAD_AES_128_GCM (RFC 7714). */
  profile: number;
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag: Buffer;
  getSrtpSsrcState(ssrc: number): SrtpSsrcState;
  /** RFC 3711 §3.3.1: the rollover counter guessed from the sequence number. */
  updateRolloverCount(sequenceNumber: number, state: SrtpSsrcState): void;
}

export interface CandidatePairInternals {
  protocol: { type: string; transport?: { type: string; closed: boolean; socket?: Socket } };
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
}

export interface IceConnectionInternals {
  nominated?: CandidatePairInternals;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}

const isFn = (v: unknown) => typeof v === 'function';

/** True when `sender` has every internal the fast path uses, with the expected types. */
export function fastPathCompatible(sender: unknown): sender is SenderInternals {
  const s = sender as Partial<SenderInternals> | undefined;
  return (
    !!s &&
    typeof s.ssrc === 'number' &&
    typeof s.rtpContinuityPending === 'boolean' &&
    typeof s.seqOffset === 'number' &&
    typeof s.timestampOffset === 'number' &&
    typeof s.ntpTimestamp === 'bigint' &&
    typeof s.packetCount === 'number' &&
    typeof s.octetCount === 'number' &&
    typeof s.headerBytesSent === 'number' &&
    Array.isArray(s.rtpCache) &&
    Array.isArray(s.headerExtensions) &&
    typeof s.pendingRtpEnabled === 'boolean' &&
    typeof s.rtcpRunning === 'boolean' &&
    isFn(s.runRtcp) &&
    isFn(s.senderBWE?.rtpPacketSent)
  );
}

/** True when a connected DTLS transport exposes what the fast path needs (checked once per transport). */
export function transportCompatible(dtls: DtlsInternals): boolean {
  const ctx = dtls.srtp?.localContext;
  const conn = dtls.iceTransport?.connection;
  return (
    !!ctx &&
    (ctx.profile === 1 || ctx.profile === 7) &&
    Buffer.isBuffer(ctx.srtpSessionKey) &&
    Buffer.isBuffer(ctx.srtpSessionSalt) &&
    isFn(ctx.getSrtpSsrcState) &&
    isFn(ctx.updateRolloverCount) &&
    typeof dtls.bytesSent === 'number' &&
    typeof dtls.packetsSent === 'number' &&
    typeof dtls.transportSequenceNumber === 'number' &&
    !!conn &&
    isFn(conn.canSendApplicationData) &&
    isFn(conn.send)
  );
}
