import { LevelMeter, SPEAKING_RMS } from '../media/audioLevel.ts';

const SAMPLE_INTERVAL_MS = 100;
/** Sound this long while muted is someone talking, not a cough or a door. */
const SPEECH_MS = 400;
/** A pause this long ends a burst of speech: the next burst may nudge again. */
const BURST_END_MS = 1500;
/** The nudge goes away by itself this long after the speech stopped. */
const HIDE_AFTER_MS = 4000;

/**
 * "You are muted": hears speech on the microphone while it is muted, and says so once per burst of
 * speech. A muted microphone track is disabled and reads as silence, so this listens to a clone of it
 * that is analysed on the page only; nothing of it is sent.
 */
export class MutedSpeech {
  /** The nudge is showing. */
  shown = false;
  readonly #onChange: () => void;
  #clone: MediaStreamTrack | undefined;
  #meter: LevelMeter | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #loudSince = 0;
  #lastLoud = 0;
  /** This burst has nudged already (shown, or dismissed). */
  #nudged = false;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  /** Listens to `track` while the microphone is muted (replacing what it listened to). */
  listen(track: MediaStreamTrack): void {
    this.stop();
    try {
      const clone = track.clone();
      clone.enabled = true;
      this.#clone = clone;
      this.#meter = new LevelMeter(clone);
    } catch {
      // No WebAudio: no nudge; the call is unaffected.
      this.stop();
      return;
    }
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
  }

  /** The microphone is on again (or gone): no listening, no nudge. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#meter?.close();
    this.#meter = undefined;
    this.#clone?.stop();
    this.#clone = undefined;
    this.#loudSince = 0;
    this.#nudged = false;
    this.#set(false);
  }

  dismiss(): void {
    this.#set(false);
  }

  #sample(): void {
    const now = performance.now();
    const level = this.#meter?.level() ?? 0;
    if (level >= SPEAKING_RMS) {
      this.#lastLoud = now;
      this.#loudSince ||= now;
      if (!this.#nudged && now - this.#loudSince >= SPEECH_MS) {
        this.#nudged = true;
        this.#set(true);
      }
      return;
    }
    const quiet = now - this.#lastLoud;
    if (quiet >= BURST_END_MS) {
      this.#loudSince = 0;
      this.#nudged = false;
    }
    if (this.shown && quiet >= HIDE_AFTER_MS) this.#set(false);
  }

  #set(shown: boolean): void {
    if (this.shown === shown) return;
    this.shown = shown;
    this.#onChange();
  }
}
