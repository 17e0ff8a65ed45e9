/** Below this smoothed amplitude (about -40 dBov) a participant counts as silent. */
export const SPEAKING_LEVEL = 0.01;
/** A challenger must stay the loudest this long before taking over, so a cough does not switch video. */
export const SWITCH_AFTER_MS = 300;
/** While the current speaker still talks, a challenger must be this many times louder (6 dB). */
const INTERRUPT_RATIO = 2;

/**
 * Decides who the active speaker is from everyone's current audio level (linear, 0..1), with hysteresis:
 * the speaker keeps the floor while talking unless someone is clearly louder for SWITCH_AFTER_MS; once
 * they fall silent, whoever talks next takes over after the same delay. Silence changes nothing.
 */
export class ActiveSpeaker {
  current: string | undefined;
  #candidate: string | undefined;
  #candidateSince = 0;

  /** Feeds one observation of every participant's level; returns the active speaker. */
  update(levels: ReadonlyMap<string, number>, now: number): string | undefined {
    let best: string | undefined;
    let bestLevel = SPEAKING_LEVEL;
    for (const [key, level] of levels) {
      if (level > bestLevel) {
        best = key;
        bestLevel = level;
      }
    }
    if (this.current !== undefined && !levels.has(this.current)) this.current = undefined;
    const currentLevel = this.current === undefined ? 0 : (levels.get(this.current) ?? 0);
    const holds = currentLevel >= SPEAKING_LEVEL && bestLevel < currentLevel * INTERRUPT_RATIO;
    if (best === undefined || best === this.current || holds) {
      this.#candidate = undefined;
      return this.current;
    }
    if (this.#candidate !== best) {
      this.#candidate = best;
      this.#candidateSince = now;
    }
    if (this.current === undefined || now - this.#candidateSince >= SWITCH_AFTER_MS) {
      this.current = best;
      this.#candidate = undefined;
    }
    return this.current;
  }
}
