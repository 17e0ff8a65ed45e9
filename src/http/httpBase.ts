import type { Server as HttpServer, IncomingMessage, RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { auditLog, isAudited } from '../auth/audit.js';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';
import { type Config, resolveTls } from '../config/config.js';
import { type ErrorCode, errorCatalog } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { CLOSE_POLICY_VIOLATION } from '../signaling/SignalingConnection.js';
import { CertificateWatcher } from '../tls/CertificateWatcher.js';
import { loadTlsMaterial, type TlsMaterial } from '../tls/tlsMaterial.js';
import { VERSION } from '../version.js';
import { HSTS_VALUE, hstsEnabled, MinuteCounter, originAllowed, registerRateLimits } from './edge.js';
import { SharedPortServer } from './SharedPortServer.js';

export const SERVER_HEADER = `port545/${VERSION}`;

/**
 * Sent with every HTTP reply. The page loads nothing from elsewhere and is never framed; no Referer
 * leaves it, so an access token in a room URL (`?token=`) does not travel to another site. Scripts
 * may compile WebAssembly ('wasm-unsafe-eval', which allows no JavaScript eval): the background blur and
 * the noise removal run as WebAssembly.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

/** True when the port speaks HTTPS (and plain HTTP to loopback clients only): see `resolveTls`. */
export function tlsEnabled(config: Config): boolean {
  return resolveTls(config) !== 'off';
}

/**
 * TLS 1.3 (preferred: a client that speaks it gets it) and, on TLS 1.2, only forward-secret AEAD suites
 * (ECDHE with AES-GCM or ChaCha20-Poly1305, as Mozilla's "intermediate" profile): no CBC, no SHA-1 MAC,
 * no static RSA key exchange.
 */
export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2' as const,
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
};

export interface HttpAppOptions {
  /**
   * True (the default) for the app that faces clients: it enforces request rate limits. A room worker's
   * app gets requests the main thread has already let through, so it does not count them again.
   */
  edge?: boolean;
  /** Requests the edge does not count: those another node of the cluster vouches for (it counted them). */
  exempt?: (request: FastifyRequest) => boolean;
}

/**
 * The Fastify app every port545 server starts from: the Server and security headers on every reply,
 * coded JSON errors, the 404 reply and `/.well-known/port545`.
 */
export function createHttpApp(config: Config, log: Logger, options: HttpAppOptions = {}): FastifyInstance {
  const audit = auditLog(log);
  const hsts = hstsEnabled(config);
  const app: FastifyInstance = Fastify({
    // Fastify's own per-request lines are noise at info; it logs at warn and above.
    loggerInstance: log.child(
      {},
      { level: config.logLevel === 'silent' ? 'silent' : 'warn' },
    ) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    // HTTPS and WSS on the one port, plain HTTP there for loopback clients only; the certificate is
    // loaded (or made) in `listen`. A room worker's app is never bound.
    ...((options.edge ?? true) && tlsEnabled(config)
      ? {
          serverFactory: (handler: RequestListener, opts: FastifyServerOptions) =>
            new SharedPortServer(handler, {
              tls: TLS_OPTIONS,
              handshakeTimeoutMs: config.limits.handshakeTimeoutMs,
              keepAliveTimeout: opts.keepAliveTimeout!,
              requestTimeout: opts.requestTimeout!,
              connectionTimeout: opts.connectionTimeout!,
              maxRequestsPerSocket: opts.maxRequestsPerSocket ?? 0,
              serverHeader: SERVER_HEADER,
            }) as unknown as HttpServer,
        }
      : {}),
  }) as unknown as FastifyInstance;

  // Anyone who finds this port open can tell what listens on it (see the security note on port 545).
  app.addHook('onRequest', async (request, reply) => {
    reply.header('Server', SERVER_HEADER);
    reply.headers(SECURITY_HEADERS);
    // RFC 6797 §7.2: over HTTPS only (a loopback client's plain HTTP does not get it).
    if (hsts && (request.raw.socket as { encrypted?: boolean }).encrypted)
      reply.header('Strict-Transport-Security', HSTS_VALUE);
  });
  if (options.edge ?? true) registerRateLimits(app, config, options.exempt);

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof CodedError) {
      if (isAudited(error.code))
        audit.warn(
          {
            address: addressKey(request.ip),
            method: request.method,
            path: request.url.split('?')[0]!.slice(0, 200),
            code: error.code,
          },
          'request refused',
        );
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

  app.get('/.well-known/port545', async () => ({
    service: 'port545',
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    /** `open` or `secured` (every join needs an access token). */
    auth: config.auth.mode,
    tls: tlsEnabled(config),
  }));
  return app;
}

/**
 * Accepts WebSockets at `/ws` on the app's server, at most `limits.connectionsPerIp` per client address;
 * a client over the limit gets a coded error before the socket closes. `onSocket` takes each accepted one.
 */
export function acceptWebSockets(
  app: FastifyInstance,
  config: Config,
  log: Logger,
  onSocket: (ws: WebSocket, address: string, request: IncomingMessage, via?: string) => void,
  vouched?: (request: IncomingMessage) => { node: string; address: string } | undefined,
): WebSocketServer {
  const audit = auditLog(log);
  const connectionsByAddress = new Map<string, number>();
  const connectsByAddress = new MinuteCounter(config.limits.wsConnectsPerMinute);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.wsMaxMessageBytes });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end(`HTTP/1.1 404 Not Found\r\nServer: ${SERVER_HEADER}\r\nConnection: close\r\n\r\n`);
      return;
    }
    // A connection another node of the cluster passes on: its client's address, its checks done there.
    const forwarded = vouched?.(request);
    if (forwarded !== undefined) {
      wss.handleUpgrade(request, socket, head, (ws) =>
        onSocket(ws, addressKey(forwarded.address), request, forwarded.node),
      );
      return;
    }
    const address = addressKey(request.socket.remoteAddress);
    // Refused before the upgrade: a browser shows the status, and no WebSocket is ever made.
    const refuse = (status: string, code: ErrorCode, extra = '') => {
      audit.warn({ address, origin: request.headers.origin?.slice(0, 200), code }, 'WebSocket refused');
      const body = JSON.stringify({ error: { code, message: errorCatalog[code].message } });
      socket.end(
        `HTTP/1.1 ${status}\r\nServer: ${SERVER_HEADER}\r\nContent-Type: application/json\r\n${extra}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (!originAllowed(request, config)) return refuse('403 Forbidden', 'ORIGIN_NOT_ALLOWED');
    const wait = connectsByAddress.hit(address);
    if (wait > 0) return refuse('429 Too Many Requests', 'RATE_LIMITED', `Retry-After: ${wait}\r\n`);
    wss.handleUpgrade(request, socket, head, (ws) => {
      // Over the limit: the client still gets a coded error it can show, then the socket closes.
      const open = connectionsByAddress.get(address) ?? 0;
      if (open >= config.limits.connectionsPerIp) {
        const error = new CodedError('TOO_MANY_CONNECTIONS');
        audit.warn({ address, code: error.code }, 'WebSocket refused');
        ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        ws.close(CLOSE_POLICY_VIOLATION, 'too many connections');
        return;
      }
      connectionsByAddress.set(address, open + 1);
      ws.on('close', () => {
        const left = (connectionsByAddress.get(address) ?? 1) - 1;
        if (left > 0) connectionsByAddress.set(address, left);
        else connectionsByAddress.delete(address);
      });
      onSocket(ws, address, request);
    });
  });
  wss.on('headers', (headers) => headers.push(`Server: ${SERVER_HEADER}`));
  return wss;
}

/** Closes every WebSocket with 1001, gives the close frames a moment, then cuts what is left. */
export async function closeWebSockets(wss: WebSocketServer): Promise<void> {
  for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const ws of wss.clients) ws.terminate();
  wss.close();
}

/** The listen/close surface of what `port545 serve` runs (`buildServer` in src/buildServer.ts). */
export interface ServerHandle {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly log: Logger;
  /**
   * The certificate served on HTTPS/WSS once `listen` has loaded it (the renewed one after its files
   * changed); undefined without TLS.
   */
  readonly tls: TlsMaterial | undefined;
  /** Binds HTTP and WebSocket; resolves with the bound port. */
  listen(port?: number): Promise<number>;
  /** Closes rooms, WebSockets and the listener. Idempotent. */
  close(): Promise<void>;
}

/**
 * The listen/close surface of a server: `listen` waits for `ready` and binds (with TLS when on, and with
 * certificate files watched for renewals), `close` runs `stop` once.
 */
export function serverHandle(
  config: Config,
  app: FastifyInstance,
  log: Logger,
  ready: Promise<unknown>,
  stop: () => Promise<void>,
): ServerHandle {
  let tls: TlsMaterial | undefined;
  let watcher: CertificateWatcher | undefined;
  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    log,
    get tls() {
      return tls;
    },
    async listen(port = config.port) {
      await ready;
      if (tlsEnabled(config) && !tls) {
        tls = await loadTlsMaterial(config);
        if (tls) secureContext(app, tls);
      }
      if (tls && !tls.selfSigned && !watcher)
        watcher = new CertificateWatcher({
          certPath: tls.certPath,
          keyPath: tls.keyPath,
          fingerprint256: tls.fingerprint256,
          onReload: (renewed) => {
            secureContext(app, renewed);
            tls = renewed;
          },
          log,
        });
      await app.listen({ port, host: config.host });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    close() {
      watcher?.close();
      closing ??= stop();
      return closing;
    },
  };
}

/** New TLS connections get this certificate; those already open keep theirs. */
function secureContext(app: FastifyInstance, tls: TlsMaterial): void {
  (app.server as unknown as SharedPortServer).setSecureContext({
    cert: tls.cert,
    key: tls.key,
    ...TLS_OPTIONS,
  });
}
