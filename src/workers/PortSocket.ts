import { EventEmitter } from 'node:events';
import type { SignalSocket } from '../signaling/SignalingConnection.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * A room worker's stand-in for a WebSocket the main thread holds: what the connection sends goes to the
 * main thread, and the main thread delivers the client's messages and the close here.
 */
export class PortSocket extends EventEmitter implements SignalSocket {
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  #state = OPEN;
  readonly #send: (data: string) => void;
  readonly #end: (code: number, reason: string) => void;

  constructor(send: (data: string) => void, end: (code: number, reason: string) => void) {
    super();
    this.#send = send;
    this.#end = end;
  }

  get readyState(): number {
    return this.#state;
  }

  send(data: string): void {
    if (this.#state === OPEN) this.#send(data);
  }

  close(code: number, reason: string): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#end(code, reason);
  }

  /** A message from the client. */
  deliver(data: Buffer, binary: boolean): void {
    if (this.#state === OPEN) this.emit('message', data, binary);
  }

  /** The WebSocket is closed. */
  closed(code: number): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.emit('close', code);
  }
}
