import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config/config.js';
import type { SipPeer } from '../gateways/sip/SipTransport.js';
import type { DirectoryEntry, FileUpload, RoomActivity, RoomDetail } from '../host/RoomHost.js';
import type { SharedFile } from '../protocol/messages.js';
import type { MetricsData } from './metrics.js';

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
  | {
      t: 'open';
      id: number;
      address: string;
      /** In a cluster: the node that passed the connection on (a viewer's media then runs there). */
      via?: string;
    }
  | { t: 'frame'; id: number; data: Uint8Array; binary: boolean; route?: Route }
  /** The WebSocket closed (the client, or after an `end`). */
  | { t: 'closed'; id: number; code: number }
  | { t: 'http'; rid: number; request: HttpRequest; route?: Route }
  | { t: 'health'; rid: number }
  /** One room of this worker's host, as plain data (`RoomHost.room`). */
  | { t: 'room'; rid: number; room: string }
  | { t: 'shutdown'; rid: number }
  /** This worker's Prometheus metrics, as plain data. */
  | { t: 'metrics'; rid: number }
  /** The rooms of this worker that their hosts listed (`RoomHost.directory`). */
  | { t: 'directory'; rid: number }
  /** A call of the room's files door (`RoomHost.reserveFile` and the others), answered with `files`. */
  | { t: 'files'; rid: number; call: FilesCall }
  /**
   * A SIP message the main thread's sockets read, for this worker's gateway: a call's messages go to the
   * worker of its room (`route` with its INVITE), the rest to any worker. `port`: the SIP port.
   */
  | { t: 'sip'; data: Uint8Array; peer: SipPeer; stream: boolean; port: number; route?: Route }
  /**
   * This worker's end of a channel to worker `peer` (src/workers/WorkerLink.ts): a room's viewers' media
   * may run on the other worker. A new channel to the same index replaces the old (its worker died).
   */
  | { t: 'link'; peer: number | string; port: MessagePort }
  /** The public URLs of the cluster's live nodes (`joined.nodes`), whenever they change. */
  | { t: 'nodes'; urls: string[] };

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
  /** The connection's join (or resume) was taken: it stays on this worker, and no later `join` is routed. */
  | { t: 'joined'; id: number }
  | { t: 'httpReply'; rid: number; reply: HttpReply }
  | { t: 'health'; rid: number; rooms: number; participants: number; viewers: number }
  | { t: 'room'; rid: number; room: RoomDetail | undefined }
  | { t: 'shutdown'; rid: number }
  | { t: 'metrics'; rid: number; metrics: MetricsData }
  | { t: 'directory'; rid: number; rooms: DirectoryEntry[] }
  /** The answer to a `files` call: its result, or the coded error it threw. */
  | {
      t: 'files';
      rid: number;
      file?: SharedFile;
      /** The answer to `recording`: the id of the room's recording in progress. */
      recording?: string;
      error?: { code: string; message: string };
    }
  /** What happened in one of this worker's rooms (for the webhooks), in the order it happened. */
  | { t: 'activity'; activity: RoomActivity }
  /** `room` is not (or no longer) on this worker; `seq` is the last route to it the worker saw. */
  | { t: 'released'; room: string; seq: number }
  /** A SIP message this worker's gateway sends, through the main thread's sockets. */
  | { t: 'sip'; data: Uint8Array; peer: SipPeer }
  /**
   * In a cluster: this worker's end of a link to another node (for the viewers of its rooms that are
   * connected there) is `port`'s other end; the main thread carries it to `node` (src/cluster/nodeLinks.ts).
   */
  | { t: 'nodeLink'; node: string; port: MessagePort }
  /** A call of this worker's ended, or its INVITE started none: its Call-ID can be forgotten soon. */
  | { t: 'sipEnded'; callId: string };

/** The calls of the files door (`RoomHost`), as plain data. */
export type FilesCall =
  | { op: 'reserve'; upload: FileUpload }
  | { op: 'complete'; room: string; id: string; type: string }
  | { op: 'release'; room: string; id: string }
  | { op: 'fetch'; room: string; token: string; id: string }
  | { op: 'recording'; room: string; token: string };

export interface WorkerData {
  index: number;
  /**
   * The server's config for this worker: `workers` 0, its own slice of the RTC port range (for WebRTC and
   * for its phone calls' RTP); with SIP on, its gateway sends through the main thread's sockets.
   */
  config: Config;
  /** With `rtc.udpPort`: this worker's end of the main thread's UDP mux (src/werift/udpMuxRelay.ts). */
  udpMux?: MessagePort;
}
