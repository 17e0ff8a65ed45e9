import pino, { type Logger } from 'pino';
import type { Config } from '../config/config.js';
import { type Gateways, registerGateways, type SipWorkerOptions } from '../gateways/registerGateways.js';
import { LocalRoomHost } from '../host/LocalRoomHost.js';
import type { RoomDetail } from '../host/RoomHost.js';
import { registerAdminApi } from '../http/adminApi.js';
import { createHttpApp } from '../http/httpBase.js';
import { registerRoomStatus } from '../http/roomStatus.js';

/**
 * The rooms' side of a server: the rooms of one thread, and the routes (WHIP, WHEP, the admin API's room
 * paths, a room's status) that the main thread hands it. It never listens; `RoomService` is the only one that builds it.
 */
export interface RoomServer {
  readonly config: Config;
  readonly log: Logger;
  /** The routes the main thread forwards here, run with `inject`. */
  readonly app: ReturnType<typeof createHttpApp>;
  /** The door to the rooms, which live on this thread (`host.registry`: the rooms themselves). */
  readonly host: LocalRoomHost;
  /** A room and its people (as `ClusterServer.room` answers it). */
  room(name: string): RoomDetail | undefined;
  /** WHIP, WHEP and SIP. */
  readonly gateways: Gateways;
  /** Closes every room (participants are told to rejoin, phones hear BYE). Idempotent. */
  close(): Promise<void>;
}

export interface RoomServerOptions {
  /** The logger to use instead of a new one at `config.logLevel` (a room worker's, with its index). */
  log?: Logger;
  /** SIP calls sent here by the main thread, which holds the SIP sockets. */
  sip?: SipWorkerOptions;
  /** The index of the worker this runs in, shown as `worker` in the admin API's rooms. */
  worker?: number;
}

export function buildRoomServer(config: Config, options: RoomServerOptions = {}): RoomServer {
  const log = options.log ?? pino({ level: config.logLevel, base: undefined });
  // The main thread in front of it enforces the edge's request limits.
  const app = createHttpApp(config, log, { edge: false });
  const host = new LocalRoomHost(config, log);
  const gateways = registerGateways(app, {
    config,
    host,
    log,
    ...(options.sip ? { sip: options.sip } : {}),
  });
  registerAdminApi(app, config, host, log, (id) => gateways.sip?.callStats(id), options.worker);
  registerRoomStatus(app, config, host);
  let closing: Promise<void> | undefined;
  return {
    config,
    log,
    app,
    host,
    room: (name) => host.room(name),
    gateways,
    close() {
      closing ??= host.close().then(() => app.close());
      return closing;
    },
  };
}
