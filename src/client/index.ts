/**
 * The port545 client SDK: the one way the web app, bots and tests talk to a port545 server.
 * This entry uses the browser's WebSocket and RTCPeerConnection; Node code uses `./node.js`.
 */
import type { ParticipantCard } from '../protocol/messages.js';
import { type ConnectOptions, Room } from './Room.js';

export type { ParticipantCard, SharedFile } from '../protocol/messages.js';
export { type ConnectionState, type ConnectOptions, Room, type RoomEvents, signalingUrl } from './Room.js';
export type { PeerConnectionLike, TrackLike, WebSocketLike } from './rtc.js';
export { turnServersVia } from './rtc.js';
export { ServerError } from './Signal.js';
export { describeSide, inboundTotals, type SelectedPair, selectedPair } from './stats.js';
export { LocalTrack, RemoteParticipant, type RemoteTrack } from './tracks.js';

export interface BrowserConnectOptions {
  url: string;
  room: string;
  name: string;
  rtcConfiguration?: RTCConfiguration;
  /** Access token (a server in secured mode needs one; the web client takes it from `?token=`). */
  token?: string;
  password?: string;
  /** This person's calling card, shown to the others. */
  card?: ParticipantCard;
  /** Join the room's audience: receive only, not a participant (`ConnectOptions.viewer`). */
  viewer?: boolean;
  /** Media over this transport only (`ConnectOptions.iceProtocol`). */
  iceProtocol?: ConnectOptions['iceProtocol'];
  /** Only the server's TURN URLs that reach it this way (`ConnectOptions.turnTransport`). */
  turnTransport?: ConnectOptions['turnTransport'];
}

/** Joins a room from a browser. */
export function connect(options: BrowserConnectOptions): Promise<Room<MediaStreamTrack>> {
  return Room.connect<MediaStreamTrack>({
    url: options.url,
    room: options.room,
    name: options.name,
    token: options.token,
    password: options.password,
    ...(options.card ? { card: options.card } : {}),
    ...(options.viewer ? { viewer: true } : {}),
    ...(options.iceProtocol ? { iceProtocol: options.iceProtocol } : {}),
    ...(options.turnTransport ? { turnTransport: options.turnTransport } : {}),
    createWebSocket: (url) => new WebSocket(url) as unknown as import('./rtc.js').WebSocketLike,
    createPeerConnection: (iceServers) =>
      new RTCPeerConnection({
        ...options.rtcConfiguration,
        iceServers: [...(options.rtcConfiguration?.iceServers ?? []), ...iceServers],
      }) as unknown as import('./rtc.js').PeerConnectionLike,
  });
}
