import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { type Gateways, registerGateways } from '../gateways/registerGateways.js';
import { errorCatalog } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { RoomRegistry } from '../room/RoomRegistry.js';
import { CLOSE_POLICY_VIOLATION, SignalingConnection } from '../signaling/SignalingConnection.js';
import { loadTlsMaterial, type TlsMaterial } from '../tls/tlsMaterial.js';
import { VERSION } from '../version.js';
import { registerAdminApi } from './adminApi.js';
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
  /** The certificate served on HTTPS/WSS, once `listen` has loaded it; undefined without TLS. */
  readonly tls: TlsMaterial | undefined;
  /** Binds HTTP and WebSocket; resolves with the bound port. */
  listen(port?: number): Promise<number>;
  /** Closes rooms, WebSockets and the listener. Idempotent. */
  close(): Promise<void>;
}

export const SERVER_HEADER = `port545/${VERSION}`;

/**
 * Sent with every HTTP reply. The page loads nothing from elsewhere and is never framed; no Referer
 * leaves it, so an access token in a room URL (`?token=`) does not travel to another site.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

/** Builds a server from one validated config object. Nothing is bound until `listen`. */
export function buildServer(config: Config): Port545Server {
  const log = pino({ level: config.logLevel, base: undefined });
  const tlsEnabled = Boolean(config.tls.cert || config.tls.selfSigned);
  let tls: TlsMaterial | undefined;
  const app: FastifyInstance = Fastify({
    // Fastify's own per-request lines are noise at info; it logs at warn and above.
    loggerInstance: log.child(
      {},
      { level: config.logLevel === 'silent' ? 'silent' : 'warn' },
    ) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    // HTTPS and WSS on the one port; the certificate is loaded (or made) in `listen`.
    ...(tlsEnabled ? { https: { minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;
  const registry = new RoomRegistry({
    rtc: config.rtc,
    maxRooms: config.rooms.maxRooms,
    maxParticipants: config.rooms.maxParticipants,
    tracksPerParticipant: config.limits.tracksPerParticipant,
    chatHistory: config.rooms.chatHistory,
    emptyTimeoutMs: config.rooms.emptyTimeoutMs,
    resumeWindowMs: config.resumeWindowMs,
    passwordGuard: {
      freeAttempts: config.auth.passwordFreeAttempts,
      backoffMs: config.auth.passwordBackoffMs,
      backoffMaxMs: config.auth.passwordBackoffMaxMs,
    },
    log,
  });
  const connections = new Set<SignalingConnection>();
  /** Open WebSockets per client address key, for `limits.connectionsPerIp`. */
  const connectionsByAddress = new Map<string, number>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.wsMaxMessageBytes });

  // Anyone who finds this port open can tell what listens on it (see the security note on port 545).
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('Server', SERVER_HEADER);
    reply.headers(SECURITY_HEADERS);
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
    /** `open` or `secured` (every join needs an access token). */
    auth: config.auth.mode,
    tls: tlsEnabled,
  }));
  registerAdminApi(app, config, registry);

  const gateways = registerGateways(app, { config, registry, log });
  const ready = registerWebClient(app);

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end(`HTTP/1.1 404 Not Found\r\nServer: ${SERVER_HEADER}\r\nConnection: close\r\n\r\n`);
      return;
    }
    const address = addressKey(request.socket.remoteAddress);
    wss.handleUpgrade(request, socket, head, (ws) => {
      // Over the limit: the client still gets a coded error it can show, then the socket closes.
      const open = connectionsByAddress.get(address) ?? 0;
      if (open >= config.limits.connectionsPerIp) {
        const error = new CodedError('TOO_MANY_CONNECTIONS');
        ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        ws.close(CLOSE_POLICY_VIOLATION, 'too many connections');
        return;
      }
      connectionsByAddress.set(address, open + 1);
      const connection = new SignalingConnection(ws, registry, config.limits, log, {
        address,
        auth: config.auth,
      });
      connections.add(connection);
      ws.on('close', () => {
        connections.delete(connection);
        const left = (connectionsByAddress.get(address) ?? 1) - 1;
        if (left > 0) connectionsByAddress.set(address, left);
        else connectionsByAddress.delete(address);
      });
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
    get tls() {
      return tls;
    },
    async listen(port = config.port) {
      await ready;
      if (tlsEnabled && !tls) {
        tls = await loadTlsMaterial(config);
        if (tls)
          (app.server as unknown as HttpsServer).setSecureContext({
            cert: tls.cert,
            key: tls.key,
            minVersion: 'TLSv1.2',
          });
      }
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
