import { TypedEmitter } from '../common/TypedEmitter.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import type { WebSocketFactory, WebSocketLike } from './rtc.js';

/** An error reply from the server, with the catalog code (docs/protocol.md). */
export class ServerError extends Error {
  override name = 'ServerError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface SignalEvents {
  message: [ServerMessage];
  close: [code: number, reason: string];
}

type Outgoing = ClientMessage extends infer M ? (M extends ClientMessage ? Omit<M, 'rid'> : never) : never;

/** One WebSocket to the server: JSON in and out, and requests matched to replies by `rid`. */
export class Signal extends TypedEmitter<SignalEvents> {
  readonly #ws: WebSocketLike;
  #nextRid = 1;
  readonly #pending = new Map<number, { resolve: (m: ServerMessage) => void; reject: (e: Error) => void }>();
  closed = false;
  readonly #backlog: ServerMessage[] = [];

  private constructor(ws: WebSocketLike) {
    super();
    this.#ws = ws;
    ws.onmessage = (event) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(String(event.data)) as ServerMessage;
      } catch {
        return;
      }
      const rid = 'rid' in message ? message.rid : undefined;
      if (typeof rid === 'number' && this.#pending.has(rid)) {
        const pending = this.#pending.get(rid)!;
        this.#pending.delete(rid);
        if (message.type === 'error') pending.reject(new ServerError(message.code, message.message));
        else pending.resolve(message);
        return;
      }
      // A message can arrive in the same read as the reply to `join`, before the room listens.
      if (this.listenerCount('message') === 0) this.#backlog.push(message);
      else this.emit('message', message);
    };
    ws.onclose = (event) => {
      this.closed = true;
      for (const p of this.#pending.values()) p.reject(new Error(`connection closed (${event.code})`));
      this.#pending.clear();
      this.emit('close', event.code, event.reason);
    };
  }

  static open(url: string, factory: WebSocketFactory, timeoutMs = 10_000): Promise<Signal> {
    return new Promise((resolve, reject) => {
      const ws = factory(url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`could not reach ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new Signal(ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`could not connect to ${url}`));
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        reject(
          new Error(`connection to ${url} closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`),
        );
      };
    });
  }

  /** Delivers messages that arrived before anyone listened; call after subscribing to `message`. */
  flushBacklog(): void {
    for (const message of this.#backlog.splice(0)) this.emit('message', message);
  }

  send(message: Outgoing): void {
    if (this.closed || this.#ws.readyState !== 1) return;
    this.#ws.send(JSON.stringify(message));
  }

  /** Sends a message and resolves with the reply that carries the same `rid` (an `error` rejects). */
  request(message: Outgoing, timeoutMs = 15_000): Promise<ServerMessage> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    const rid = this.#nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(new Error(`no reply to "${message.type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(rid, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify({ ...message, rid }));
    });
  }

  /** Drops the connection without a close handshake where the WebSocket allows it (Node's `ws`). */
  terminate(): void {
    const ws = this.#ws as WebSocketLike & { terminate?: () => void };
    if (ws.terminate) ws.terminate();
    else ws.close(4000, 'dropped');
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.#ws.close(code, reason);
  }
}
