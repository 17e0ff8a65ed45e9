import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { type Gateways, registerGateways } from '../gateways/registerGateways.js';
import { errorCatalog } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { RoomRegistry } from '../room/RoomRegistry.js';
import { SignalingConnection } from '../signaling/SignalingConnection.js';
import { VERSION } from '../version.js';
import { registerWebClient } from './webClient.js';

export interface Port545Server {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly registry: RoomRegistry;
  readonly log: Logger;
  /** Open signaling connections. */
  readonly connections: Set<SignalingConnection>;
  /** WHIP, WHEP and SIP. */
  readonly gateways: Gateways;
  /** Binds HTTP and WebSocket; resolves with the bound port. */
  listen(port?: number): Promise<number>;
  /** Closes rooms, WebSockets and the listener. Idempotent. */
  close(): Promise<void>;
}

export const SERVER_HEADER = `port545/${VERSION}`;

/** Builds a server from one validated config object. Nothing is bound until `listen`. */
export function buildServer(config: Config): Port545Server {
  const log = pino({ level: config.logLevel, base: undefined });
  const app: FastifyInstance = Fastify({
    // Fastify's own per-request lines are noise at info; it logs at warn and above.
    loggerInstance: log.child(
      {},
      { level: config.logLevel === 'silent' ? 'silent' : 'warn' },
    ) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
  });
  const registry = new RoomRegistry({
    rtc: config.rtc,
    maxRooms: config.rooms.maxRooms,
    maxParticipants: config.rooms.maxParticipants,
    tracksPerParticipant: config.limits.tracksPerParticipant,
    chatHistory: config.rooms.chatHistory,
    emptyTimeoutMs: config.rooms.emptyTimeoutMs,
    resumeWindowMs: config.resumeWindowMs,
    log,
  });
  const connections = new Set<SignalingConnection>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.wsMaxMessageBytes });

  // Anyone who finds this port open can tell what listens on it (see the security note on port 545).
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('Server', SERVER_HEADER);
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof CodedError) {
      return reply.status(error.status).send({ error: { code: error.code, message: error.message } });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.status(status).send({ error: { code: 'BAD_REQUEST', message: (error as Error).message } });
    }
    log.error({ err: error }, 'request failed');
    return reply
      .status(500)
      .send({ error: { code: 'INTERNAL_ERROR', message: errorCatalog.INTERNAL_ERROR.message } });
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: errorCatalog.NOT_FOUND.message } });
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    rooms: registry.rooms.size,
    participants: registry.participantCount,
  }));
  app.get('/.well-known/port545', async () => ({
    service: 'port545',
    version: VERSION,
    protocol: PROTOCOL_VERSION,
  }));

  const gateways = registerGateways(app, { config, registry, log });
  const ready = registerWebClient(app);

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end(`HTTP/1.1 404 Not Found\r\nServer: ${SERVER_HEADER}\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new SignalingConnection(ws, registry, config.limits, log);
      connections.add(connection);
      ws.on('close', () => connections.delete(connection));
    });
  });
  wss.on('headers', (headers) => headers.push(`Server: ${SERVER_HEADER}`));

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    registry,
    log,
    connections,
    gateways,
    async listen(port = config.port) {
      await ready;
      await app.listen({ port, host: config.host });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    close() {
      closing ??= (async () => {
        for (const c of connections) c.send({ type: 'bye', reason: 'server shutting down' });
        await registry.close();
        for (const ws of wss.clients) ws.close(1001, 'server shutting down');
        // Give the close frames a moment, then cut whatever is left.
        await new Promise((resolve) => setTimeout(resolve, 50));
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await app.close();
      })();
      return closing;
    },
  };
}
