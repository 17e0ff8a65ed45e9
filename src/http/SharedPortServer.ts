import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { addressKey, isLoopback } from '../common/address.js';
import { errorCatalog } from '../protocol/errors.js';
import { onFirstChunk } from './firstChunk.js';

/** RFC 8446 §5.1: a TLS connection opens with a record of ContentType handshake(22). */
const TLS_HANDSHAKE = 0x16;

export interface SharedPortServerOptions {
  /** Options of the HTTPS side; the certificate comes later, with `setSecureContext`. */
  tls: TlsOptions;
  /** A connection that sends nothing this long, or has not finished its TLS handshake, is closed. */
  handshakeTimeoutMs: number;
  /** The settings Fastify gives a server it makes itself, given to both HTTP sides here. */
  keepAliveTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  maxRequestsPerSocket: number;
  /** The `Server` header of the redirect and refusal replies. */
  serverHeader: string;
}

/**
 * HTTPS and, for this machine only, plain HTTP on one TCP port. Each connection's first byte says which it
 * speaks: a TLS handshake goes to the HTTPS server; plain HTTP from a loopback address (a developer's
 * browser at http://localhost, a reverse proxy on this machine) to the plain one; plain HTTP from
 * anywhere else is sent to the same URL on https:// (308) and its WebSocket upgrades are refused, so that
 * nothing a person types in on another machine travels in the clear. Both HTTP servers run the same
 * request handler (Fastify's, through `serverFactory`), and their `upgrade` and `clientError` events are
 * this server's.
 */
export class SharedPortServer extends NetServer {
  readonly secure: HttpsServer;
  readonly plain: HttpServer;
  readonly #redirect: HttpServer;
  readonly #options: SharedPortServerOptions;

  constructor(handler: RequestListener, options: SharedPortServerOptions) {
    super();
    this.#options = options;
    this.secure = createHttpsServer(
      { ...options.tls, handshakeTimeout: options.handshakeTimeoutMs },
      handler,
    );
    this.plain = createHttpServer(handler);
    this.#redirect = createHttpServer((request, response) => this.#redirectToHttps(request, response));
    for (const server of [this.secure, this.plain, this.#redirect]) {
      server.keepAliveTimeout = options.keepAliveTimeout;
      server.requestTimeout = options.requestTimeout;
      server.setTimeout(options.connectionTimeout);
      if (options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
      server.on('clientError', (error: Error, socket: Duplex) => {
        if (!this.emit('clientError', error, socket)) socket.destroy();
      });
    }
    for (const server of [this.secure, this.plain])
      server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!this.emit('upgrade', request, socket, head)) socket.destroy();
      });
    this.#redirect.on('upgrade', (_request: IncomingMessage, socket: Duplex) => this.#refuseUpgrade(socket));
    this.on('connection', (socket: Socket) => this.#sniff(socket));
    // An http.Server tracks its connections (the request and header timeouts, closing idle ones) from its
    // 'listening' event on; these three never listen themselves, this one does for them.
    this.on('listening', () => {
      for (const server of [this.secure, this.plain, this.#redirect]) server.emit('listening');
    });
  }

  /** The certificate and key of the HTTPS side; connections made from now on get them. */
  setSecureContext(options: SecureContextOptions): void {
    this.secure.setSecureContext(options);
  }

  closeIdleConnections(): void {
    for (const server of [this.secure, this.plain, this.#redirect]) server.closeIdleConnections();
  }

  closeAllConnections(): void {
    for (const server of [this.secure, this.plain, this.#redirect]) server.closeAllConnections();
  }

  override close(callback?: (error?: Error) => void): this {
    super.close(callback);
    // Stops their connection checks; they were never bound, so their own close has nothing else to do.
    for (const server of [this.secure, this.plain, this.#redirect]) server.close(() => {});
    return this;
  }

  /** Waits for the first byte, then gives the socket, that byte put back, to the server that speaks it. */
  #sniff(socket: Socket): void {
    onFirstChunk(socket, this.#options.handshakeTimeoutMs, (chunk) => {
      if (chunk[0] === TLS_HANDSHAKE) {
        // The TLS socket reads what was put back before anything new (node:_tls_wrap initRead).
        this.secure.emit('connection', socket);
        return;
      }
      const server = isLoopback(addressKey(socket.remoteAddress)) ? this.plain : this.#redirect;
      server.emit('connection', socket);
      // The HTTP server reads a paused socket only once it flows again.
      socket.resume();
    });
  }

  /** RFC 9110 §15.4.9: 308 keeps the method and body; same host (with its port) and path, on https. */
  #redirectToHttps(request: IncomingMessage, response: ServerResponse): void {
    const host = request.headers.host;
    const headers = { Server: this.#options.serverHeader, Connection: 'close' };
    if (!host || !/^[A-Za-z0-9.\-:[\]]+$/.test(host)) {
      response.writeHead(400, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('This server speaks HTTPS to other machines: open it with https://\n');
      return;
    }
    const location = `https://${host}${request.url?.startsWith('/') ? request.url : '/'}`;
    response.writeHead(308, { ...headers, Location: location, 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(`Use ${location}\n`);
  }

  /** A WebSocket cannot follow a redirect: the upgrade is refused with the reason. */
  #refuseUpgrade(socket: Duplex): void {
    const body = JSON.stringify({
      error: { code: 'HTTPS_REQUIRED', message: errorCatalog.HTTPS_REQUIRED.message },
    });
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nServer: ${this.#options.serverHeader}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}
