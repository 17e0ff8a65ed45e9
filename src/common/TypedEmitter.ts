/**
 * A small typed event emitter. Events are declared as a map of tuple types:
 *   type RoomEvents = { participantJoined: [Participant]; closed: [] };
 * A listener that throws is caught and reported through `onListenerError`, so one bad listener never
 * breaks the emitter or the other listeners (mediasoup's `safeEmit`).
 */
// biome-ignore lint/suspicious/noExplicitAny: listener argument tuples are checked through the event map.
type Listener = (...args: any[]) => void;

export type EventMap<E> = { [K in keyof E]: unknown[] };

export class TypedEmitter<E extends EventMap<E>> {
  #listeners = new Map<keyof E, Set<Listener>>();

  /** Called when a listener throws; defaults to printing the error to stderr. */
  onListenerError: (event: string, error: unknown) => void = (event, error) => {
    console.error(`listener for "${event}" threw:`, error);
  };

  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    const wrapped = (...args: E[K]) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) this.#listeners.delete(event);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(String(event), error);
      }
    }
  }

  listenerCount(event?: keyof E): number {
    if (event !== undefined) return this.#listeners.get(event)?.size ?? 0;
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}

/** Resolves when `event` fires (with its arguments), rejects after `timeoutMs`. */
export function waitFor<E extends EventMap<E>, K extends keyof E>(
  emitter: TypedEmitter<E>,
  event: K,
  timeoutMs = 10_000,
  predicate: (...args: E[K]) => boolean = () => true,
): Promise<E[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${String(event)}"`));
    }, timeoutMs);
    const off = emitter.on(event, (...args: E[K]) => {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}
