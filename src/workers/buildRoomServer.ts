import pino, { type Logger } from 'pino';
import type { Config } from '../config/config.js';
import { type Gateways, registerGateways, type SipWorkerOptions } from '../gateways/registerGateways.js';
import { LocalRoomHost } from '../host/LocalRoomHost.js';
import type { RoomDetail } from '../host/RoomHost.js';
import { SignalingConnection } from '../signaling/SignalingConnection.js';
import { registerAdminApi } from './adminApi.js';
import {
  acceptWebSockets,
  closeWebSockets,
  createHttpApp,
  type ServerHandle,
  serverHandle,
} from './httpBase.js';
import { registerWebClient } from './webClient.js';

export { SERVER_HEADER, type ServerHandle } from './httpBase.js';

export interface Port545Server extends ServerHandle {
  /** The door to this server's rooms, which live on this thread (`host.registry`: the rooms themselves). */
  readonly host: LocalRoomHost;
  /** A room and its people (as `ClusterServer.room` answers it). */
  room(name: string): Promise<RoomDetail | undefined>;
  /** Open signaling connections. */
  readonly connections: Set<SignalingConnection>;
  /** WHIP, WHEP and SIP. */
  readonly gateways: Gateways;
}

export interface BuildOptions {
  /** The logger to use instead of a new one at `config.logLevel` (a room worker's, with its index). */
  log?: Logger;
  /** False for a room worker: the main thread in front of it enforces the edge's request limits. */
  edge?: boolean;
  /** A room worker's SIP: calls sent here by the main thread, which holds the SIP sockets. */
  sip?: SipWorkerOptions;
  /** A room worker's index, shown as `worker` in the admin API's rooms. */
  worker?: number;
}

/**
 * Builds a server that holds its rooms in this thread, from one validated config object. Nothing is
 * bound until `listen`. A room worker runs one of these without ever listening.
 */
export function buildServer(config: Config, options: BuildOptions = {}): Port545Server {
  const log = options.log ?? pino({ level: config.logLevel, base: undefined });
  const app = createHttpApp(config, log, { edge: options.edge ?? true });
  const host = new LocalRoomHost(config, log);
  const connections = new Set<SignalingConnection>();

  app.get('/healthz', async () => ({ status: 'ok', ...host.load }));
  const gateways = registerGateways(app, {
    config,
    host,
    log,
    ...(options.sip ? { sip: options.sip } : {}),
  });
  registerAdminApi(app, config, host, log, (id) => gateways.sip?.callStats(id), options.worker);
  const ready = registerWebClient(app);

  const wss = acceptWebSockets(app, config, log, (ws, address) => {
    const connection = new SignalingConnection(ws, host, config.limits, log, {
      address,
      auth: config.auth,
    });
    connections.add(connection);
    ws.on('close', () => connections.delete(connection));
  });

  const stop = async () => {
    // The participants' rooms tell them to rejoin; a connection that has not joined just hears why it ends.
    for (const c of connections) if (!c.member) c.send({ type: 'bye', reason: 'server shutting down' });
    await host.close();
    await closeWebSockets(wss);
    await app.close();
  };
  return Object.assign(serverHandle(config, app, log, ready, stop), {
    host,
    room: async (name: string) => host.room(name),
    connections,
    gateways,
  });
}
