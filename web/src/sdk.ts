/** The one door to the server: the port545 client SDK (src/client), bundled into the web app by Vite. */
export {
  type ConnectionState,
  connect,
  describeSide,
  inboundTotals,
  type LocalTrack,
  type RemoteParticipant,
  type RemoteTrack,
  type Room,
  ServerError,
  selectedPair as selectedCandidatePair,
  turnServersVia,
} from '../../src/client/index.ts';
export type {
  ChatMessage,
  ParticipantCard,
  RoomAccessState,
  SharedFile,
} from '../../src/protocol/messages.ts';
export { REACTIONS, type Reaction } from '../../src/protocol/reactions.ts';
