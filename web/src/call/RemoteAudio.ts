import { audioSuspended, resumeAudio } from '../media/audioLevel.ts';

interface Player {
  participantId: string;
  audio: HTMLAudioElement;
}

/**
 * Plays everyone else's audio, one element per track, at the volume this person chose for each
 * participant (for them only: nothing changes for the others). Chrome also feeds a remote track into
 * WebAudio (the speaking highlight) only while the track plays somewhere, which these elements do. The
 * elements stay out of WebAudio: Chromium's echo cancellation hears only what media elements play.
 */
export class RemoteAudio {
  /** The browser holds sound back until the person interacts with the page (autoplay policy). */
  blocked = false;
  readonly #players = new Map<string, Player>();
  /** Where the sound plays (`setSinkId`); '' is the system's default. */
  speakerId = '';
  /** Volume (0…1) by participant id; 1 when not set. */
  readonly #volumes = new Map<string, number>();
  readonly #onChange: () => void;
  /** Holds the elements in the page (hidden), where they can be found by participant. */
  #holder: HTMLElement | undefined;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  #container(): HTMLElement {
    if (!this.#holder) {
      this.#holder = document.createElement('div');
      this.#holder.hidden = true;
      this.#holder.dataset.remoteAudio = '';
      document.body.append(this.#holder);
    }
    return this.#holder;
  }

  play(trackId: string, participantId: string, track: MediaStreamTrack): void {
    if (this.#players.has(trackId)) return;
    const audio = new Audio();
    audio.autoplay = true;
    audio.dataset.participant = participantId;
    audio.volume = this.volumeOf(participantId);
    if (this.speakerId) void this.#sink(audio);
    audio.srcObject = new MediaStream([track]);
    this.#container().append(audio);
    this.#players.set(trackId, { participantId, audio });
    audio.play().catch(() => this.#setBlocked(true));
    if (audioSuspended()) this.#setBlocked(true);
  }

  stop(trackId: string): void {
    const player = this.#players.get(trackId);
    if (!player) return;
    player.audio.srcObject = null;
    player.audio.remove();
    this.#players.delete(trackId);
  }

  stopAll(): void {
    for (const id of [...this.#players.keys()]) this.stop(id);
  }

  /** Ends playback and takes the elements out of the page. */
  close(): void {
    this.stopAll();
    this.#holder?.remove();
    this.#holder = undefined;
  }

  volumeOf(participantId: string): number {
    return this.#volumes.get(participantId) ?? 1;
  }

  /** Plays `participantId` at `volume` (0 mutes them for this person only). */
  setVolume(participantId: string, volume: number): void {
    const v = Math.min(1, Math.max(0, volume));
    if (v === 1) this.#volumes.delete(participantId);
    else this.#volumes.set(participantId, v);
    for (const p of this.#players.values()) if (p.participantId === participantId) p.audio.volume = v;
    this.#onChange();
  }

  /** Plays every voice on the output `deviceId` (a speaker or headset); false when the browser refused. */
  async useSpeaker(deviceId: string): Promise<boolean> {
    this.speakerId = deviceId;
    const results = await Promise.all([...this.#players.values()].map((p) => this.#sink(p.audio)));
    this.#onChange();
    return results.every(Boolean);
  }

  async #sink(audio: HTMLAudioElement): Promise<boolean> {
    const element = audio as HTMLAudioElement & { setSinkId?(id: string): Promise<void> };
    if (!element.setSinkId) return false;
    try {
      await element.setSinkId(this.speakerId);
      return true;
    } catch {
      return false;
    }
  }

  /** Someone left: their volume is forgotten with them. */
  forget(participantId: string): void {
    this.#volumes.delete(participantId);
  }

  /** Starts held-back sound; call it from a click or key press. */
  async enable(): Promise<void> {
    await resumeAudio();
    const results = await Promise.allSettled([...this.#players.values()].map((p) => p.audio.play()));
    this.#setBlocked(audioSuspended() || results.some((r) => r.status === 'rejected'));
  }

  #setBlocked(blocked: boolean): void {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    this.#onChange();
  }
}
