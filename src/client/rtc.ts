/**
 * The slice of the WebRTC API the SDK uses, typed structurally so that both the browser's
 * RTCPeerConnection and werift's (in Node) fit.
 */
export interface TrackLike {
  readonly kind: string;
  enabled: boolean;
  stop(): void;
}

export interface TransceiverLike {
  readonly mid: string | null;
  readonly sender: {
    readonly track: TrackLike | null;
    // biome-ignore lint/suspicious/noExplicitAny: the browser and werift differ in the track type accepted.
    replaceTrack(track: any): Promise<unknown>;
  };
  readonly receiver: { readonly track: TrackLike };
  direction: string;
  stop(): void;
}

export interface DescriptionLike {
  type: string;
  sdp?: string;
}

export interface CandidateLike {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface PeerConnectionLike {
  readonly connectionState: string;
  readonly localDescription: DescriptionLike | null;
  readonly remoteDescription: DescriptionLike | null;
  readonly signalingState: string;
  onicecandidate: ((event: { candidate?: CandidateLike | null }) => void) | null;
  onconnectionstatechange: ((event?: unknown) => void) | null;
  addTransceiver(
    // biome-ignore lint/suspicious/noExplicitAny: the browser and werift differ in the track type accepted.
    trackOrKind: any,
    // biome-ignore lint/suspicious/noExplicitAny: the browser and werift differ in these types.
    init?: { direction?: any; streams?: any[]; sendEncodings?: any[] },
  ): TransceiverLike;
  getTransceivers(): TransceiverLike[];
  createOffer(options?: { iceRestart?: boolean }): Promise<DescriptionLike>;
  createAnswer(): Promise<DescriptionLike>;
  // biome-ignore lint/suspicious/noExplicitAny: description init types differ between implementations.
  setLocalDescription(description: any): Promise<unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: description init types differ between implementations.
  setRemoteDescription(description: any): Promise<unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: candidate init types differ between implementations.
  addIceCandidate(candidate: any): Promise<unknown>;
  /** Standard WebRTC statistics (an RTCStatsReport: a map of stats objects by id). */
  getStats(): Promise<ReadonlyMap<string, unknown>>;
  close(): unknown;
}

/** A TURN (or STUN) server for a peer connection, as `joined.iceServers` gives them. */
export interface IceServerConfig {
  urls: string[];
  username: string;
  credential: string;
}

/** Makes a peer connection, with the ICE servers the server handed this participant (none: []). */
export type PeerConnectionFactory = (iceServers: IceServerConfig[]) => PeerConnectionLike;

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export function candidateToJson(c: CandidateLike): CandidateLike {
  return {
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? null,
    sdpMLineIndex: c.sdpMLineIndex ?? null,
    ...(c.usernameFragment ? { usernameFragment: c.usernameFragment } : {}),
  };
}

/** The transport protocol a call may use (`ConnectOptions.iceProtocol`), or any. */
export type IceProtocol = 'udp' | 'tcp';

/** The transport of an `a=candidate` line or candidate string: `udp`, `tcp`, or '' when unreadable. */
export function candidateProtocol(candidate: string): string {
  return (candidate.replace(/^a=/, '').split(' ')[2] ?? '').toLowerCase();
}

/** `sdp` with only the candidates of `protocol` (the others' `a=candidate` lines dropped). */
export function keepCandidates(sdp: string, protocol: IceProtocol | undefined): string {
  if (!protocol) return sdp;
  return sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') || candidateProtocol(line) === protocol)
    .join('\r\n');
}

/** How a TURN URL reaches its server: `udp`, `tcp` or `tls` (`turns:`). */
export type TurnTransport = 'udp' | 'tcp' | 'tls';

export function turnTransportOf(url: string): TurnTransport | undefined {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  if (scheme === 'turns') return 'tls';
  if (scheme !== 'turn') return undefined;
  return /[?&]transport=tcp\b/i.test(url) ? 'tcp' : 'udp';
}

/** The ICE servers with only their TURN URLs of `transport`; servers left with none are dropped. */
export function turnServersVia(
  servers: readonly IceServerConfig[],
  transport: TurnTransport | undefined,
): IceServerConfig[] {
  if (!transport) return [...servers];
  return servers
    .map((s) => ({ ...s, urls: s.urls.filter((u) => turnTransportOf(u) === transport) }))
    .filter((s) => s.urls.length > 0);
}

/**
 * The ports of the ICE candidates in descriptions, by transport; for TCP only passive candidates (an
 * active one's port is 9: it dials and takes no connection).
 */
export function candidatePorts(sdps: (string | undefined)[]): { udp: number[]; tcp: number[] } {
  const ports = { udp: new Set<number>(), tcp: new Set<number>() };
  for (const sdp of sdps)
    for (const m of (sdp ?? '').matchAll(/^a=candidate:\S+ \d+ (udp|tcp) \d+ \S+ (\d+) typ .*$/gim))
      if (!/tcptype active/i.test(m[0])) ports[m[1]!.toLowerCase() as IceProtocol].add(Number(m[2]));
  const sorted = (set: Set<number>) => [...set].sort((a, b) => a - b);
  return { udp: sorted(ports.udp), tcp: sorted(ports.tcp) };
}
