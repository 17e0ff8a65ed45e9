/** The client SDK in Node: werift for WebRTC, `ws` for the WebSocket. Used by bots, tests and benchmarks. */
import { type MediaStreamTrack, type PeerConfig, RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
// No STUN server unless configured (werift would ask Google's for every connection).
import '../sfu/noDefaultStun.js';
// The DTLS handshake's X25519 and ECDSA in OpenSSL, not JavaScript.
import '../sfu/nativeDtlsCrypto.js';
// An ICE restart runs its checks (a connection whose consent expired comes back).
import '../sfu/iceRestart.js';
// SRTP rollover counters guessed as RFC 3711 says: with werift's guess, a subscriber that lost more than
// ~100 packets of a stream across a sequence wrap (a capped link) rejected every later packet of it.
import '../sfu/srtpRollover.js';
// Losses across the RTP sequence number wrap are asked for again like any other.
import '../sfu/nackWrap.js';
// A consent check answered late (a loaded machine, a growing queue) still counts (RFC 7675 §5.1).
import '../sfu/consentWait.js';
import { Room } from './Room.js';
import type { PeerConnectionLike, WebSocketLike } from './rtc.js';

export { ServerError } from './Signal.js';
export { LocalTrack, RemoteParticipant, type RemoteTrack } from './tracks.js';
export { Room };

export interface NodeConnectOptions {
  url: string;
  room: string;
  name: string;
  /** Gather ICE candidates only on these addresses (tests use ['127.0.0.1']). */
  hostAddresses?: string[];
  resumeWindowMs?: number;
  token?: string;
  password?: string;
  /** Extra trust for a wss:// server, e.g. the PEM of a self-signed certificate. */
  ca?: string | Buffer;
  /** Called with each peer connection as it is created (tests put an impaired link in front of it). */
  onPeerConnection?: (pc: RTCPeerConnection) => void;
}

export function nodePeerConfig(hostAddresses?: string[]): Partial<PeerConfig> {
  // One transport for all m-lines: with werift's default policy a second ICE transport is opened for
  // the offer, dropped when the answer bundles, and its UDP socket is never closed.
  // No STUN server: werift's default lists Google's (see src/sfu/noDefaultStun.ts); the SFU is reachable at
  // its candidates and learns this side's address from its checks (peer-reflexive).
  const bundle: Partial<PeerConfig> = { bundlePolicy: 'max-bundle', iceServers: [] };
  if (!hostAddresses?.length) return bundle;
  return { ...bundle, iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: hostAddresses };
}

/** Joins a room from Node. Remote tracks' `mediaTrack` are werift tracks (`onReceiveRtp`). */
export function connectNode(options: NodeConnectOptions): Promise<Room<MediaStreamTrack>> {
  const config = nodePeerConfig(options.hostAddresses);
  return Room.connect<MediaStreamTrack>({
    url: options.url,
    room: options.room,
    name: options.name,
    resumeWindowMs: options.resumeWindowMs,
    token: options.token,
    password: options.password,
    createWebSocket: (url) =>
      new WebSocket(url, {
        maxPayload: 16 * 1024 * 1024,
        ...(options.ca ? { ca: options.ca } : {}),
      }) as unknown as WebSocketLike,
    createPeerConnection: () => {
      const pc = new RTCPeerConnection(config);
      options.onPeerConnection?.(pc);
      return pc as unknown as PeerConnectionLike;
    },
  });
}
