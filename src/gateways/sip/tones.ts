/**
 * Call-progress tones the gateway plays to a caller instead of recorded prompts: a steady pattern
 * means "enter your PIN and press #", a low tone means "wrong PIN". Frequencies follow ITU-T E.180.
 */
export interface TonePattern {
  /** Hz; two for dual tones. */
  frequencies: number[];
  onMs: number;
  offMs: number;
  /** Repeat this many times; Infinity until stopped. */
  repeat: number;
}

/** 425 Hz beep, twice, then a pause: "please enter the PIN". */
export const PIN_PROMPT: TonePattern = { frequencies: [425], onMs: 200, offMs: 1800, repeat: Infinity };
/** Low 300 Hz tone: "wrong PIN". */
export const PIN_WRONG: TonePattern = { frequencies: [300], onMs: 600, offMs: 200, repeat: 1 };
/** 880 Hz blip: "you are in". */
export const PIN_OK: TonePattern = { frequencies: [880], onMs: 150, offMs: 0, repeat: 1 };

/** Generates a pattern frame by frame; `next` returns undefined once it is over. */
export class ToneGenerator {
  readonly #pattern: TonePattern;
  readonly #rate: number;
  #sample = 0;

  constructor(pattern: TonePattern, sampleRate: number) {
    this.#pattern = pattern;
    this.#rate = sampleRate;
  }

  next(samples: number): Int16Array | undefined {
    const { frequencies, onMs, offMs, repeat } = this.#pattern;
    const period = ((onMs + offMs) * this.#rate) / 1000;
    const on = (onMs * this.#rate) / 1000;
    if (this.#sample >= period * repeat) return undefined;
    const out = new Int16Array(samples);
    const amplitude = 8000 / frequencies.length;
    for (let i = 0; i < samples; i++) {
      const n = this.#sample + i;
      if (n % period >= on) continue;
      let s = 0;
      for (const f of frequencies) s += Math.sin((2 * Math.PI * f * n) / this.#rate);
      out[i] = Math.round(s * amplitude);
    }
    this.#sample += samples;
    return out;
  }
}
