import type { ParticipantMedia, PeerRole } from './MediaSession.js';

/**
 * A deadline for each of a session's peer connections to come up (ICE and DTLS: connectionState
 * "connected") once it has been negotiated. A client that sends an offer and never connects holds the
 * connection's UDP socket and a place in the room for as long as nobody notices; `onExpired` is how
 * its owner notices. What happens to a connection after it has connected once (consent freshness, a
 * stall) is not this module's business.
 */
export class ConnectDeadline {
  readonly #session: ParticipantMedia;
  readonly #ms: number;
  readonly #onExpired: (role: PeerRole) => void;
  readonly #timers = new Map<PeerRole, NodeJS.Timeout>();
  readonly #connected = new Set<PeerRole>();
  readonly #off: (() => void)[] = [];

  constructor(session: ParticipantMedia, ms: number, onExpired: (role: PeerRole) => void) {
    this.#session = session;
    this.#ms = ms;
    this.#onExpired = onExpired;
    this.#off.push(
      session.on('connectionState', (role, state) => {
        if (state !== 'connected') return;
        this.#connected.add(role);
        clearTimeout(this.#timers.get(role));
        this.#timers.delete(role);
      }),
      session.on('closed', () => this.cancel()),
    );
  }

  /** Starts the clock for `role`, unless it is running already or that connection has connected. */
  arm(role: PeerRole): void {
    if (this.#session.closed || this.#connected.has(role) || this.#timers.has(role)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(role);
      if (!this.#session.closed && !this.#connected.has(role)) this.#onExpired(role);
    }, this.#ms);
    this.#timers.set(role, timer);
  }

  cancel(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const off of this.#off.splice(0)) off();
  }
}
