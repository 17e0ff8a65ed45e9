import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Participant } from '../../room/Participant.js';
import type { Room } from '../../room/Room.js';
import { ActiveSpeaker, type MediaSlot, type PublishedTrack } from '../../sfu/index.js';
import type { RoomMix, RoomMixes } from './RoomMix.js';

/** How often the active speaker is re-evaluated. */
const SPEAKER_INTERVAL_MS = 100;

export interface WhepSessionOptions {
  room: Room;
  /** The player, a participant with a routed media session whose offer has been answered. */
  participant: Participant;
  /** Play this participant only; undefined follows the room's active speaker. */
  follow: string | undefined;
  /** Where the room's mix comes from, shared with the room's other players. */
  mixes: RoomMixes;
  log: Logger;
}

/**
 * What a WHEP player receives. Following the room: audio is the mix of everyone (decoded, mixed and
 * encoded to Opus on the server once for all the room's players, `RoomMix`: one m-line cannot carry
 * several voices otherwise), and video is the
 * active speaker's camera, switched with a keyframe request when someone else talks. Following one
 * participant: their own audio and video, forwarded untouched.
 */
export class WhepSession {
  readonly room: Room;
  readonly participant: Participant;
  readonly follow: string | undefined;
  readonly speaker = new ActiveSpeaker();
  closed = false;
  /** Participant whose video is being routed, and when the routing last changed (performance.now). */
  videoOf: string | undefined;
  readonly #log: Logger;
  readonly #audioSlot: MediaSlot | undefined;
  readonly #videoSlot: MediaSlot | undefined;
  readonly #mixes: RoomMixes;
  /** The room's mix this player plays (following the room with an audio line). */
  mix: RoomMix | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #offs: (() => void)[] = [];

  constructor(options: WhepSessionOptions) {
    this.room = options.room;
    this.participant = options.participant;
    this.follow = options.follow;
    this.#log = options.log;
    this.#mixes = options.mixes;
    const slots = this.participant.session.slots;
    this.#audioSlot = slots.find((s) => s.kind === 'audio');
    this.#videoSlot = slots.find((s) => s.kind === 'video');
  }

  start(): void {
    const session = this.participant.session;
    if (this.follow === undefined && this.#audioSlot) {
      this.mix = this.#mixes.hold(this.room);
      this.#audioSlot.route(this.mix.track);
    }
    this.#offs.push(
      session.on('trackAvailable', (track) => this.#onAvailable(track)),
      session.on('trackUnavailable', (track) => {
        this.mix?.remove(track.id);
        this.#select();
      }),
    );
    for (const track of session.availableTracks) this.#onAvailable(track);
    if (this.follow === undefined) this.#timer = setInterval(() => this.#select(), SPEAKER_INTERVAL_MS);
    this.#select();
  }

  /** The participant that owns a track, if still in the room. */
  #owner(track: PublishedTrack): Participant | undefined {
    for (const p of this.room.participants.values()) if (p.tracks.has(track.id)) return p;
    return undefined;
  }

  #onAvailable(track: PublishedTrack): void {
    if (this.mix && track.kind === 'audio') this.mix.add(track);
    this.#select();
  }

  #select(): void {
    if (this.closed) return;
    if (this.follow !== undefined) return this.#selectFollowed();
    const levels = new Map<string, number>();
    const tracks = this.participant.session.availableTracks;
    for (const track of tracks) {
      if (track.kind !== 'audio') continue;
      const owner = this.#owner(track);
      if (owner) levels.set(owner.id, Math.max(levels.get(owner.id) ?? 0, track.audioLevel));
    }
    const speaker = this.speaker.update(levels, performance.now());
    const slot = this.#videoSlot;
    if (!slot) return;
    const videoOf = (id: string | undefined) =>
      tracks.find((t) => slot.accepts(t) && id !== undefined && this.#owner(t)?.id === id);
    // The speaker's camera; else keep what plays; else anyone's video, so the player is never blank.
    const next =
      videoOf(speaker) ??
      (slot.track && !slot.track.closed ? slot.track : undefined) ??
      tracks.find((t) => slot.accepts(t));
    if (next !== slot.track) {
      slot.route(next);
      this.videoOf = next ? this.#owner(next)?.id : undefined;
      this.#log.debug(
        { room: this.room.name, player: this.participant.id, video: this.videoOf },
        'WHEP video',
      );
    }
  }

  #selectFollowed(): void {
    const tracks = this.participant.session.availableTracks.filter((t) => this.#owner(t)?.id === this.follow);
    for (const slot of [this.#audioSlot, this.#videoSlot]) {
      if (!slot || (slot.track && !slot.track.closed)) continue;
      const track = tracks.find((t) => slot.accepts(t));
      if (track) slot.route(track);
    }
    this.videoOf = this.#videoSlot?.track ? this.follow : undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const off of this.#offs) off();
    this.mix?.release();
    this.mix = undefined;
  }
}
