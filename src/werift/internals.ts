import type { Socket } from 'node:dgram';
import type { RtpHeader, RtpPacket } from 'werift';

/**
 * The parts of werift 0.25 that port545 reads or replaces and werift leaves out of its typings (they are
 * public in its JavaScript): one declaration per werift class, for every file that uses it.
 * - The fast send path (RtpFastSender, SrtpEncryptor, senderReports) uses the RTP sender, DTLS transport,
 *   SRTP context and ICE connection; `fastPathCompatible` and `transportCompatible` check their shape
 *   before anything relies on them, so a werift version that changes them makes the SFU fall back to
 *   `RTCRtpSender.sendRtp` instead of failing.
 * - The modules of this folder that change werift's behaviour check the shape they need when installed
 *   and throw if it changed.
 */

/** werift's `RTCRtpSender`. */
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
  /** NACKs (RFC 4585 §6.2.1) the subscriber sent, and the packets sent again for them. */
  nackCount: number;
  retransmittedPacketsSent: number;
  /** From the subscriber's receiver reports (RFC 3550 §6.4.1): smoothed round-trip time in seconds, and the fraction lost (0–1). */
  rtt?: number;
  remoteFractionLost?: number;
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

/** werift's `RTCDtlsTransport`. */
export interface DtlsInternals {
  state: string;
  /** The DTLS-SRTP protection profiles it offers (see `preferSrtpProfiles`). */
  srtpProfiles: number[];
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
  srtp?: SrtpSessionInternals;
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  config: { debug?: { outboundPacketLoss?: number } };
  iceTransport: IceTransportInternals;
}

/** werift's `RTCDtlsTransport`, as stopping it is seen: its DTLS socket and that socket's handshake state. */
export interface DtlsTransportStopInternals {
  dtls?: { dtls?: { flight: number } };
  stop(): Promise<void>;
}

/** werift's `RTCIceTransport`. */
export interface IceTransportInternals {
  state: string;
  /** How many times werift restarted this transport. */
  iceRestarts: number;
  /** Set while a `start` runs; a later `start` waits for it. */
  waitStart: unknown;
  connection: IceConnectionInternals;
  start(): Promise<void>;
}

/** werift's `RTCPeerConnection`. */
export interface PeerConnectionInternals {
  dtlsTransports: DtlsInternals[];
  secureManager: { setConnectionState(state: string): void };
  connect(): Promise<void>;
  createDtlsTransport(...args: unknown[]): DtlsInternals;
}

/** werift's `SrtpSession` of a DTLS transport: one context to encrypt, one to decrypt. */
export interface SrtpSessionInternals {
  localContext: SrtpContextInternals;
  remoteContext: SrtpContextInternals;
  decrypt: (packet: Buffer) => Buffer;
}

export interface SrtpSsrcState {
  rolloverCounter: number;
  lastSequenceNumber: number;
}

/** werift's SRTP `Context`. */
export interface SrtpContextInternals {
  /** SRTP protection profile: 1 AES_CM_128_HMAC_SHA1_80 (RFC 3711), 7 AEAD_AES_128_GCM (RFC 7714). */
  profile: number;
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag: Buffer;
  getSrtpSsrcState(ssrc: number): SrtpSsrcState;
  srtpSSRCStates: Record<number, SrtpSsrcState & { ssrc: number }>;
  /** RFC 3711 §3.3.1: the rollover counter guessed from the sequence number. */
  updateRolloverCount(sequenceNumber: number, state: SrtpSsrcState): void;
}

/** werift's ICE `CandidatePair`. */
export interface CandidatePairInternals {
  /** werift's `CandidatePairState` (3: succeeded). */
  state: number;
  protocol: { type: string; transport?: { type: string; closed: boolean; socket?: Socket } };
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
}

/** werift's ICE `Connection` (the agent of one ICE transport). */
export interface IceConnectionInternals {
  state: string;
  nominated?: CandidatePairInternals;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
  localUsername: string;
  localPassword: string;
  remoteUsername: string;
  remotePassword: string;
  /** Earlier local credentials (before an ICE restart), by username. */
  userHistory?: Record<string, string>;
  checkList: CandidatePairInternals[];
  /** Its sockets, one per local candidate. */
  protocols: unknown[];
  remoteCandidates: unknown[];
  /** Pairs a remote candidate with each local one it may pair with (onto `checkList`). */
  pairRemoteCandidate(candidate: unknown): void;
  /** Checks that came before the remote description. */
  earlyChecks: unknown[];
  connect(): Promise<void>;
  options?: { stunServer?: unknown };
  stunServer?: unknown;
  applyStunTurnServersFromOptions(): void;
}

/** werift's ICE `StunProtocol`: one UDP socket of an ICE agent. */
export interface IceProtocolInternals {
  datagramReceived: (data: Buffer, addr: [string, number]) => void;
}

/** werift's ICE `StunProtocol.request`: one STUN request, and the wait for its answer. */
export interface StunProtocolInternals {
  request(
    request: unknown,
    addr: unknown,
    integrityKey: unknown,
    retransmissionsOrOptions?:
      | number
      | { retransmissions?: number; responseTimeout?: number; signal?: AbortSignal },
    onRequestSent?: unknown,
  ): Promise<unknown>;
}

/** werift's `NackHandler`: the NACK generator of an `RTCRtpReceiver`. */
export interface NackHandlerInternals {
  newEstSeqNum: number;
  _lost: Record<number, number>;
  mediaSourceSsrc: number | undefined;
  getLost(seq: number): number | undefined;
  setLost(seq: number, count: number): void;
  removeLost(seq: number): void;
  pruneLost(): void;
  addPacket(packet: RtpPacket): void;
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
  const p = pc as Partial<PeerConnectionInternals>;
  if (typeof p.createDtlsTransport !== 'function') return false;
  const create = p.createDtlsTransport.bind(pc);
  const apply = (transport: Partial<DtlsInternals>) => {
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
