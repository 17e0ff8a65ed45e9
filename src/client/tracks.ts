import type {
  ParticipantCard,
  ParticipantInfo,
  ParticipantRole,
  TrackInfo,
  TrackSource,
} from '../protocol/messages.js';
import type { TrackLike, TransceiverLike } from './rtc.js';
import type { SimulcastEncoding } from './simulcast.js';

/** A track someone else publishes. `mediaTrack` is set while this client receives it. */
export interface RemoteTrack<T extends TrackLike = TrackLike> {
  readonly id: string;
  readonly kind: 'audio' | 'video';
  readonly source: TrackSource;
  readonly codec: string;
  readonly participantId: string;
  muted: boolean;
  mediaTrack: T | undefined;
  /** The subscriber connection's transceiver that carries it, while subscribed (for stats and RTCP). */
  transceiver?: TransceiverLike;
}

export class RemoteParticipant<T extends TrackLike = TrackLike> {
  readonly id: string;
  name: string;
  /** A host may mute, remove, lock and end; shown so people know who runs the room. */
  role: ParticipantRole;
  state: ParticipantInfo['state'];
  /** Their calling card (pronouns, organisation, link, avatar), when they set one. */
  card: ParticipantCard | undefined;
  /** Their place in the queue of raised hands (lower first), while their hand is up. */
  hand: number | undefined;
  readonly tracks = new Map<string, RemoteTrack<T>>();

  constructor(info: ParticipantInfo) {
    this.id = info.id;
    this.name = info.name;
    this.role = info.role ?? 'guest';
    this.state = info.state;
    this.card = info.card;
    this.hand = info.hand;
    for (const t of info.tracks) this.addTrack(t);
  }

  addTrack(info: TrackInfo): RemoteTrack<T> {
    const track: RemoteTrack<T> = {
      ...info,
      participantId: this.id,
      mediaTrack: undefined,
      transceiver: undefined,
    };
    this.tracks.set(info.id, track);
    return track;
  }
}

/** A track this client publishes. `id` is the server's name for it, set once the server accepted it. */
export class LocalTrack<T extends TrackLike = TrackLike> {
  id: string | undefined;
  readonly source: TrackSource;
  /** The media being sent; `Room.replaceTrack` swaps it (another camera) without renegotiating. */
  track: T;
  /** Replaced when the client joins again after the server ended a session whose media was lost. */
  transceiver: TransceiverLike;
  muted: boolean;
  /** The simulcast layers it is sent in; undefined for one stream. */
  readonly encodings: SimulcastEncoding[] | undefined;

  constructor(
    track: T,
    source: TrackSource,
    transceiver: TransceiverLike,
    muted: boolean,
    encodings?: SimulcastEncoding[],
  ) {
    this.track = track;
    this.source = source;
    this.transceiver = transceiver;
    this.muted = muted;
    this.encodings = encodings;
  }

  get kind(): 'audio' | 'video' {
    return this.track.kind === 'audio' ? 'audio' : 'video';
  }
}
