/** The client SDK in Node: werift for WebRTC, `ws` for the WebSocket. Used by bots, tests and benchmarks. */
import {
  type MediaStreamTrack,
  type PeerConfig,
  RTCPeerConnection,
  useSdesMid,
  useSdesRTPStreamId,
} from 'werift';
import WebSocket from 'ws';
// port545's changes to werift, for every peer connection in the process.
import '../werift/install.js';
import type { ParticipantCard } from '../protocol/messages.js';
import { Room } from './Room.js';
import type { PeerConnectionLike, TurnTransport, WebSocketLike } from './rtc.js';

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
  /** This participant's calling card, shown to the others. */
  card?: ParticipantCard;
  /**
   * Extra trust for a wss:// server and for a TURN relay over TLS (`turns:` in `joined.iceServers`), e.g.
   * the PEM of a self-signed certificate.
   */
  ca?: string | Buffer;
  /** Called with each peer connection as it is created (tests put an impaired link in front of it). */
  onPeerConnection?: (pc: RTCPeerConnection) => void;
  /** Only through the server's TURN relay (`joined.iceServers`), as on a network that blocks the rest. */
  relayOnly?: boolean;
  /**
   * Also try ICE over TCP to the server's port (its passive candidates, as browsers do), for a network
   * that blocks UDP; with 'only', nothing but TCP (`ConnectOptions.iceProtocol`).
   */
  iceTcp?: boolean | 'only';
  /** Media over UDP only, even where ICE over TCP is on (`ConnectOptions.iceProtocol`). */
  udpOnly?: boolean;
  /** Only the server's TURN URLs that reach it this way (`ConnectOptions.turnTransport`). */
  turnTransport?: TurnTransport;
  /** Join the room's audience: receive only, not a participant (`ConnectOptions.viewer`). */
  viewer?: boolean;
}

export function nodePeerConfig(hostAddresses?: string[]): Partial<PeerConfig> {
  // One transport for all m-lines: with werift's default policy a second ICE transport is opened for
  // the offer, dropped when the answer bundles, and its UDP socket is never closed.
  // No STUN server: werift's default lists Google's (see src/werift/noDefaultStun.ts); the SFU is reachable at
  // its candidates and learns this side's address from its checks (peer-reflexive).
  // The MID and RID header extensions name each packet's stream when a bot sends simulcast (Bot).
  const bundle: Partial<PeerConfig> = {
    bundlePolicy: 'max-bundle',
    iceServers: [],
    headerExtensions: { audio: [], video: [useSdesMid(), useSdesRTPStreamId()] },
  };
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
    ...(options.card ? { card: options.card } : {}),
    ...(options.viewer ? { viewer: true } : {}),
    ...(options.iceTcp === 'only'
      ? { iceProtocol: 'tcp' as const }
      : options.udpOnly
        ? { iceProtocol: 'udp' as const }
        : {}),
    ...(options.turnTransport ? { turnTransport: options.turnTransport } : {}),
    createWebSocket: (url) =>
      new WebSocket(url, {
        maxPayload: 16 * 1024 * 1024,
        ...(options.ca ? { ca: options.ca } : {}),
      }) as unknown as WebSocketLike,
    createPeerConnection: (iceServers) => {
      const pc = new RTCPeerConnection({
        ...config,
        ...(iceServers.length > 0 ? { iceServers } : {}),
        ...(options.relayOnly ? { iceTransportPolicy: 'relay' as const } : {}),
        ...(options.iceTcp ? { iceUseTcp: true, iceTcpPassive: false } : {}),
        ...(options.iceTcp === 'only'
          ? { iceFilterCandidatePair: (pair: { protocol: { type: string } }) => pair.protocol.type === 'tcp' }
          : {}),
        ...(options.ca ? { turnTlsOptions: { ca: options.ca } } : {}),
      });
      options.onPeerConnection?.(pc);
      return pc as unknown as PeerConnectionLike;
    },
  });
}
