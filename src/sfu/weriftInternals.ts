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
  /** Sender report bookkeeping werift reads back for round-trip times (RFC 3550 §6.4.1 LSR/DLSR). */
  lastSRtimestamp?: number;
  lastSentSRTimestamp?: number;
  cname?: string;
  senderBWE: {
    rtpPacketSent(info: { wideSeq: number; size: number; sendingAtMs: number; sentAtMs: number }): void;
  };
}

export interface DtlsInternals {
  state: string;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
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

/** RFC 5764 §4.1.2 DTLS-SRTP protection profiles (werift's SRTP_PROFILE). */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 1;
export const SRTP_AEAD_AES_128_GCM = 7;

interface PeerConnectionTransports {
  createDtlsTransport(...args: unknown[]): { srtpProfiles: number[] };
  dtlsTransports: { state: string; srtpProfiles: number[] }[];
}

/**
 * Makes the DTLS transports of `pc` offer `profiles` in this order of preference instead of werift's
 * (AEAD_AES_128_GCM, then AES128_CM_HMAC_SHA1_80). When port545 is the DTLS server it picks the first of
 * them that the peer offers (werift's `findMatchingSRTPProfile`); as a client it only states the order.
 * werift passes one shared list to every transport it makes (`RTCDtlsTransport.srtpProfiles`, read when
 * the handshake starts), so this wraps the connection's `createDtlsTransport` and gives each transport of
 * this connection its own list. Returns false when werift's internals are not as expected (the
 * connection then keeps werift's order).
 */
export function preferSrtpProfiles(pc: unknown, profiles: readonly number[]): boolean {
  const p = pc as Partial<PeerConnectionTransports>;
  if (typeof p.createDtlsTransport !== 'function') return false;
  const create = p.createDtlsTransport.bind(pc);
  const apply = (transport: { srtpProfiles?: unknown }) => {
    if (Array.isArray(transport?.srtpProfiles)) transport.srtpProfiles = [...profiles];
  };
  p.createDtlsTransport = (...args: unknown[]) => {
    const transport = create(...args);
    apply(transport);
    return transport;
  };
  for (const transport of p.dtlsTransports ?? []) if (transport.state === 'new') apply(transport);
  return true;
}
