/**
 * At most `max` events in any `windowMs`: the times of the last ones are kept (never more than `max`), and
 * an event is let through only while fewer than `max` fell inside the window before it.
 */
export class SlidingWindow {
  readonly #times: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Counts an event at `now`; false (and not counted) when the window is full. */
  take(now = Date.now()): boolean {
    const times = this.#times;
    while (times.length > 0 && now - times[0]! >= this.windowMs) times.shift();
    if (times.length >= this.max) return false;
    times.push(now);
    return true;
  }
}
