import { audioSuspended, resumeAudio } from '../media/audioLevel.ts';

/**
 * Plays everyone else's audio, one element per track. Chrome also feeds a remote track into WebAudio
 * (the speaking highlight) only while the track plays somewhere, which these elements do.
 */
export class RemoteAudio {
  /** The browser holds sound back until the person interacts with the page (autoplay policy). */
  blocked = false;
  readonly #players = new Map<string, HTMLAudioElement>();
  readonly #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  play(trackId: string, track: MediaStreamTrack): void {
    if (this.#players.has(trackId)) return;
    const audio = new Audio();
    audio.autoplay = true;
    audio.srcObject = new MediaStream([track]);
    this.#players.set(trackId, audio);
    audio.play().catch(() => this.#setBlocked(true));
    if (audioSuspended()) this.#setBlocked(true);
  }

  stop(trackId: string): void {
    const audio = this.#players.get(trackId);
    if (!audio) return;
    audio.srcObject = null;
    this.#players.delete(trackId);
  }

  stopAll(): void {
    for (const id of [...this.#players.keys()]) this.stop(id);
  }

  /** Starts held-back sound; call it from a click or key press. */
  async enable(): Promise<void> {
    await resumeAudio();
    const results = await Promise.allSettled([...this.#players.values()].map((a) => a.play()));
    this.#setBlocked(audioSuspended() || results.some((r) => r.status === 'rejected'));
  }

  #setBlocked(blocked: boolean): void {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    this.#onChange();
  }
}
