import type { Config } from '../config/config.js';

/**
 * Messages between the main thread and a room worker (`postMessage`, structured clone). The main thread
 * holds the sockets (HTTP, WebSocket); a worker holds rooms, participants and their media.
 */

/** A join (WebSocket) or request (HTTP) the main thread routed to the worker it placed `room` on. */
export interface Route {
  room: string;
  /** Rises with every route to any room; the worker reports the last one when the room is gone. */
  seq: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: Uint8Array;
  remoteAddress: string;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Uint8Array;
}

export type ToWorker =
  /** A WebSocket accepted by the main thread is now handled here under `id`. */
  | { t: 'open'; id: number; address: string }
  | { t: 'frame'; id: number; data: Uint8Array; binary: boolean; route?: Route }
  /** The WebSocket closed (the client, or after an `end`). */
  | { t: 'closed'; id: number; code: number }
  | { t: 'http'; rid: number; request: HttpRequest; route?: Route }
  | { t: 'health'; rid: number }
  | { t: 'shutdown'; rid: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'send'; id: number; data: string }
  /**
   * Several `send`s in order, what the worker sent in one turn of its loop: `data[i]` goes to the next
   * `counts[i]` connections of `ids`.
   */
  | { t: 'sends'; ids: number[]; counts: number[]; data: string[] }
  /** Close the WebSocket with this code and reason. */
  | { t: 'end'; id: number; code: number; reason: string }
  | { t: 'httpReply'; rid: number; reply: HttpReply }
  | { t: 'health'; rid: number; rooms: number; participants: number }
  | { t: 'shutdown'; rid: number }
  /** `room` is not (or no longer) on this worker; `seq` is the last route to it the worker saw. */
  | { t: 'released'; room: string; seq: number };

export interface WorkerData {
  index: number;
  /** The server's config for this worker: no SIP, `workers` 0, its own slice of the RTC port range. */
  config: Config;
}
