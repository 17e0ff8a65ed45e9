import type { ParticipantCard, RemoteParticipant, RemoteTrack } from '../sdk.ts';
import { type CallSession, SELF } from './CallSession.ts';
import type { Quality } from './NetworkQuality.ts';

/** What one tile shows: a person's camera (or initials), or a shared screen. */
export interface TileModel {
  key: string;
  participantId: string;
  name: string;
  self: boolean;
  source: 'camera' | 'screen';
  video: MediaStreamTrack | undefined;
  micMuted: boolean;
  speaking: boolean;
  reconnecting: boolean;
  /** A host of the room (may mute, remove, lock, end). */
  host: boolean;
  /** Their calling card (pronouns, organisation, link, picture). */
  card?: ParticipantCard;
  /** Pinned by this person: shown large whoever speaks. */
  pinned: boolean;
  /** A host put this person in the spotlight: large on everyone's screen. */
  spotlight?: boolean;
  /** How loud this person hears them (0…1). */
  volume: number;
  /** Their camera is on but its picture has not arrived yet. */
  connecting: boolean;
  /** How their media reaches this client (for one's own tile: one's connection), once measured. */
  quality?: Quality;
  /** Their camera should be moving and has not for a while. */
  frozen: boolean;
  /** Their place (1, 2, …) in the queue of raised hands, while their hand is up. */
  handPlace?: number;
  /** Reactions floating over their tile now. */
  reactions: { id: number; emoji: string }[];
}

/** Each raised hand's place in the queue (1 first), by participant id (SELF for this client). */
function handPlaces(session: CallSession): Map<string, number> {
  const raised: [string, number][] = [];
  for (const p of session.remotes) if (p.hand !== undefined) raised.push([p.id, p.hand]);
  if (session.hand !== undefined) raised.push([SELF, session.hand]);
  raised.sort((a, b) => a[1] - b[1]);
  return new Map(raised.map(([id], i) => [id, i + 1]));
}

const floating = (session: CallSession, key: string) =>
  session.reactions.filter((r) => r.participantId === key).map(({ id, emoji }) => ({ id, emoji }));

function trackOf(
  p: RemoteParticipant<MediaStreamTrack>,
  source: RemoteTrack['source'],
): RemoteTrack<MediaStreamTrack> | undefined {
  for (const t of p.tracks.values()) if (t.source === source) return t;
  return undefined;
}

export function selfName(session: CallSession): string {
  return session.room?.displayName ?? session.options.name;
}

/** A tile per person, everyone else in the order they joined, then this client's own. */
export function cameraTiles(session: CallSession): TileModel[] {
  const places = handPlaces(session);
  const tiles: TileModel[] = session.remotes.map((p) => {
    const camera = trackOf(p, 'camera');
    const mic = trackOf(p, 'microphone');
    const key = `${p.id}:camera`;
    const link = session.linkQuality(p.id);
    const spotlight = session.spotlight === p.id;
    const place = places.get(p.id);
    return {
      key,
      ...(place !== undefined ? { handPlace: place } : {}),
      ...(spotlight ? { spotlight } : {}),
      reactions: floating(session, p.id),
      ...(link ? { quality: link.quality } : {}),
      frozen: link?.frozen ?? false,
      pinned: session.pinned === key,
      volume: session.volumeOf(p.id),
      connecting: !!camera && !camera.muted && !camera.mediaTrack,
      participantId: p.id,
      name: p.name,
      self: false,
      source: 'camera',
      video: camera && !camera.muted ? camera.mediaTrack : undefined,
      micMuted: !mic || mic.muted,
      speaking: session.speaking.has(p.id),
      // While this client is cut off, everyone's picture is frozen, not just the one who dropped.
      reconnecting: p.state === 'reconnecting' || session.status === 'reconnecting',
      host: p.role === 'host',
      ...(p.card ? { card: p.card } : {}),
    };
  });
  // Someone who only watches has no tile: they are not in the call.
  if (session.watching) return tiles;
  tiles.push({
    key: `${SELF}:camera`,
    ...(places.has(SELF) ? { handPlace: places.get(SELF)! } : {}),
    ...(session.spotlight === SELF ? { spotlight: true } : {}),
    reactions: floating(session, SELF),
    ...(session.ownQuality ? { quality: session.ownQuality.quality } : {}),
    frozen: false,
    pinned: session.pinned === `${SELF}:camera`,
    volume: 1,
    connecting: false,
    participantId: session.selfId,
    name: selfName(session),
    self: true,
    source: 'camera',
    video: session.selfVideo,
    micMuted: !session.micOn,
    speaking: session.speaking.has(SELF),
    reconnecting: session.status === 'reconnecting',
    host: session.isHost,
    ...(session.card ? { card: session.card } : {}),
  });
  return tiles;
}

/** Shared screens: everyone else's (newest last), then this client's own. */
export function screenTiles(session: CallSession): TileModel[] {
  const tiles: TileModel[] = [];
  for (const p of session.remotes) {
    const screen = trackOf(p, 'screen');
    if (!screen) continue;
    const key = `${p.id}:screen`;
    tiles.push({
      key,
      reactions: [],
      frozen: false,
      pinned: session.pinned === key,
      volume: session.volumeOf(p.id),
      connecting: !screen.mediaTrack,
      participantId: p.id,
      name: p.name,
      self: false,
      source: 'screen',
      video: screen.mediaTrack,
      micMuted: false,
      speaking: false,
      // While this client is cut off, everyone's picture is frozen, not just the one who dropped.
      reconnecting: p.state === 'reconnecting' || session.status === 'reconnecting',
      host: false,
    });
  }
  if (session.screen) {
    tiles.push({
      key: `${SELF}:screen`,
      reactions: [],
      frozen: false,
      pinned: false,
      volume: 1,
      connecting: false,
      participantId: session.selfId,
      name: selfName(session),
      self: true,
      source: 'screen',
      // The presenter sees a placeholder, not their own screen inside their screen (a hall of mirrors).
      video: undefined,
      micMuted: false,
      speaking: false,
      reconnecting: false,
      host: false,
    });
  }
  return tiles;
}
