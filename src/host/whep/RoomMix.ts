import { randomBytes } from 'node:crypto';
import { AudioMixer } from '../../audio/AudioMixer.js';
import { OpusFrameSource } from '../../audio/OpusFrameSource.js';
import type { Room } from '../../room/Room.js';
import { PublishedTrack } from '../../sfu/index.js';

/**
 * A room's voices mixed into one Opus track, made once for every WHEP player of the room: each player
 * mixing and encoding for itself cost a decoder per voice and an encoder per player, and about sixty
 * players exhausted the WebAssembly heap that the Opus codec shares across the process (libopus aborted,
 * and every encode after that failed, phones' included). Held by its players; the last one out closes it.
 */
export class RoomMix {
  readonly track: PublishedTrack;
  readonly #mixer = new AudioMixer(48_000);
  readonly #source = new OpusFrameSource(48_000);
  #players = 0;
  readonly #onEmpty: () => void;
  closed = false;

  constructor(onEmpty: () => void) {
    this.#onEmpty = onEmpty;
    this.track = new PublishedTrack(`TR_mix_${randomBytes(4).toString('hex')}`, this.#source);
    this.#mixer.on('frame', (frame) => this.#source.push(frame));
    this.#mixer.start();
  }

  /** Packets of the mix sent so far (to all its players at once). */
  get packetsSent(): number {
    return this.#source.packetsSent;
  }

  /** Mixes a published audio track in (once, however many players saw it appear). */
  add(track: PublishedTrack): void {
    this.#mixer.add(track);
  }

  remove(trackId: string): void {
    this.#mixer.remove(trackId);
  }

  hold(): void {
    this.#players++;
  }

  release(): void {
    if (this.closed || --this.#players > 0) return;
    this.closed = true;
    this.#mixer.close();
    this.track.close();
    this.#source.close();
    this.#onEmpty();
  }
}

/** The mixes of one server's rooms, by room (a room closed and made again under its name gets a new one). */
export class RoomMixes {
  readonly #byRoom = new Map<Room, RoomMix>();

  /** The room's mix, made if it has none; the caller releases it when its player leaves. */
  hold(room: Room): RoomMix {
    let mix = this.#byRoom.get(room);
    if (!mix) {
      const made: RoomMix = new RoomMix(() => {
        if (this.#byRoom.get(room) === made) this.#byRoom.delete(room);
      });
      mix = made;
      this.#byRoom.set(room, mix);
    }
    mix.hold();
    return mix;
  }

  get size(): number {
    return this.#byRoom.size;
  }
}
