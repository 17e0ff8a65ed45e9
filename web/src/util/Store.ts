/** A minimal observable: components re-render when `changed()` was called since their last render. */
export class Store {
  #listeners = new Set<() => void>();
  #scheduled = false;
  version = 0;

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Marks the state as changed; listeners hear about it once per microtask, however many changes. */
  protected changed(): void {
    this.version++;
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const listener of [...this.#listeners]) listener();
    });
  }
}
