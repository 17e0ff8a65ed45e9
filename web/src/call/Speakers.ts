import { LevelMeter, SPEAKING_RMS } from '../media/audioLevel.ts';

/** How long someone stays highlighted after their level last crossed the threshold. */
const SPEAKING_HOLD_MS = 600;
/** The active speaker changes only after they have been quiet this long: no flicker between two voices. */
const SPEAKER_SWITCH_MS = 1200;
const SAMPLE_INTERVAL_MS = 100;

interface Watched {
  /** Whose voice: a participant id, or SELF. */
  key: string;
  meter: LevelMeter;
  loudAt: number;
}

/**
 * Who is speaking, from the audio level of each watched track (WebAudio AnalyserNode, every 100 ms),
 * and who the active speaker is. `onChange` runs when either changes, not on every sample.
 */
export class Speakers {
  /** Keys whose audio is above the speaking threshold, held briefly so a highlight does not flicker. */
  speaking: ReadonlySet<string> = new Set();
  /** The participant shown large in speaker view (never `exclude`: one does not watch oneself talk). */
  active: string | undefined;
  readonly #watched = new Map<string, Watched>();
  readonly #onChange: () => void;
  readonly #exclude: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #activeSince = 0;

  constructor(onChange: () => void, exclude: string) {
    this.#onChange = onChange;
    this.#exclude = exclude;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
  }

  /** Watches `track` under `id` (replacing what was watched under it) as the voice of `key`. */
  watch(id: string, key: string, track: MediaStreamTrack): void {
    this.unwatch(id);
    try {
      this.#watched.set(id, { key, meter: new LevelMeter(track), loudAt: 0 });
    } catch {
      // No WebAudio: no speaking highlight, the call itself is unaffected.
    }
  }

  unwatch(id: string): void {
    this.#watched.get(id)?.meter.close();
    this.#watched.delete(id);
  }

  /** Someone left: they are neither speaking nor the active speaker any more. */
  forget(key: string, next: string | undefined): void {
    if (this.active === key) this.active = next;
    if (this.speaking.has(key)) this.speaking = new Set([...this.speaking].filter((k) => k !== key));
  }

  /** Makes `key` the active speaker if there is none yet. */
  offer(key: string | undefined): void {
    this.active ??= key;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watched.values()) w.meter.close();
    this.#watched.clear();
    this.speaking = new Set();
  }

  #sample(): void {
    const now = performance.now();
    const loud = new Map<string, number>();
    for (const w of this.#watched.values()) {
      // A muted track is disabled, and a disabled track reads as silence.
      const level = w.meter.level();
      if (level >= SPEAKING_RMS) {
        w.loudAt = now;
        loud.set(w.key, Math.max(level, loud.get(w.key) ?? 0));
      } else if (now - w.loudAt < SPEAKING_HOLD_MS && !loud.has(w.key)) {
        loud.set(w.key, 0);
      }
    }
    let changed = loud.size !== this.speaking.size || [...loud.keys()].some((k) => !this.speaking.has(k));
    if (changed) this.speaking = new Set(loud.keys());

    let loudest: string | undefined;
    let loudestLevel = 0;
    for (const [key, level] of loud) {
      if (key === this.#exclude || level <= loudestLevel) continue;
      loudest = key;
      loudestLevel = level;
    }
    if (this.active && this.speaking.has(this.active)) this.#activeSince = now;
    if (loudest && loudest !== this.active && (!this.active || now - this.#activeSince > SPEAKER_SWITCH_MS)) {
      this.active = loudest;
      this.#activeSince = now;
      changed = true;
    }
    if (changed) this.#onChange();
  }
}
