import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { WebSocket } from 'ws';
import type { HttpReply, HttpRequest } from '../workers/protocol.js';
import type { NodeInfo } from './Cluster.js';

/**
 * How a node passes a client on to the node its room lives on: an HTTP request as one request, a
 * WebSocket as a second WebSocket whose frames are copied both ways. The client keeps talking to the node
 * it reached (a load balancer's choice, or any node's address); only the media goes to the owner directly
 * (its ICE candidates are the owner's own addresses).
 */

/** How long a node waits for another to accept a passed-on connection or answer a request. */
const CONNECT_DEADLINE_MS = 5000;
const REPLY_DEADLINE_MS = 30_000;

/** Request headers that belong to the hop, not the request (and the cluster's own, set afresh). */
const DROPPED = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
  'x-port545-node',
  'x-port545-auth',
  'x-port545-forwarded-for',
]);

/** The node could not be reached at all (refused, timed out before connecting): it may be dead. */
export class NodeUnreachable extends Error {
  override name = 'NodeUnreachable';
}

/** TLS options that trust a node's own self-signed certificate and nothing else for it. */
function tlsFor(node: NodeInfo): { ca?: string; checkServerIdentity?: () => undefined } {
  // The pinned certificate is the node's identity; the name in it is the machine's, not the URL's.
  return node.ca ? { ca: node.ca, checkServerIdentity: () => undefined } : {};
}

/** Passes an HTTP request on to `node`, with `headers` that vouch for it. */
export function forwardHttp(
  node: NodeInfo,
  request: HttpRequest,
  headers: Record<string, string>,
): Promise<HttpReply> {
  const url = new URL(request.url, node.url);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (value !== undefined && !DROPPED.has(name.toLowerCase())) out[name] = value;
  Object.assign(out, headers);
  if (request.body) out['content-length'] = String(request.body.byteLength);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let connected = false;
    const req = send(url, { method: request.method, headers: out, ...tlsFor(node) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 502,
          headers: res.headers as HttpReply['headers'],
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    const connectTimer = setTimeout(
      () => req.destroy(new NodeUnreachable('connect timeout')),
      CONNECT_DEADLINE_MS,
    );
    req.setTimeout(REPLY_DEADLINE_MS, () => req.destroy(new Error(`node ${node.id} did not answer`)));
    req.on('socket', (socket) => {
      const onConnect = () => {
        connected = true;
        clearTimeout(connectTimer);
      };
      if (!socket.connecting) onConnect();
      else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', onConnect);
    });
    req.on('close', () => clearTimeout(connectTimer));
    req.on('error', (error) =>
      reject(connected || error instanceof NodeUnreachable ? error : new NodeUnreachable(error.message)),
    );
    req.end(request.body ? Buffer.from(request.body) : undefined);
  });
}

/**
 * Streams a request on to `node` and its reply back, as they come (a file sent in a room, up to
 * `files.maxBytes`, is not held in memory on the way). NodeUnreachable if the node cannot be reached
 * before anything was answered.
 */
export function streamHttp(
  node: NodeInfo,
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  const url = new URL(req.url ?? '/', node.url);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers))
    if (
      value !== undefined &&
      (!DROPPED.has(name) || name === 'content-length' || name === 'transfer-encoding')
    )
      out[name] = value;
  Object.assign(out, headers);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const upstream = send(url, { method: req.method ?? 'GET', headers: out, ...tlsFor(node) }, (reply) => {
      const passed: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(reply.headers))
        if (value !== undefined && name !== 'connection' && name !== 'keep-alive') passed[name] = value;
      res.writeHead(reply.statusCode ?? 502, passed);
      reply.pipe(res);
      reply.on('end', () => resolve());
      reply.on('error', reject);
    });
    upstream.setTimeout(REPLY_DEADLINE_MS, () =>
      upstream.destroy(new Error(`node ${node.id} did not answer`)),
    );
    upstream.on('error', (error) => reject(res.headersSent ? error : new NodeUnreachable(error.message)));
    // A client that goes away mid-file ends the upstream request too.
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
}

/** Opens a WebSocket to `node`'s signaling, vouched for by `headers`; NodeUnreachable if it cannot. */
export function openUpstream(
  node: NodeInfo,
  headers: Record<string, string>,
  maxPayload: number,
): Promise<WebSocket> {
  const url = new URL('/ws', node.url);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers,
      maxPayload,
      handshakeTimeout: CONNECT_DEADLINE_MS,
      perMessageDeflate: false,
      ...tlsFor(node),
    });
    const fail = (error: Error) => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(new NodeUnreachable(error.message));
    };
    const onOpen = () => {
      ws.off('error', fail);
      ws.on('error', () => undefined);
      resolve(ws);
    };
    ws.once('open', onOpen);
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`node answered ${res.statusCode}`)));
  });
}

/**
 * Copies frames between a client's WebSocket and the owner's, in order, until either closes; the other
 * then closes with the same code (or 1011 for a code that cannot be sent: the client resumes).
 */
export function pipeSockets(client: WebSocket, upstream: WebSocket): void {
  upstream.on('message', (data, binary) => {
    if (client.readyState === client.OPEN) client.send(data, { binary });
  });
  upstream.on('close', (code, reason) => {
    if (client.readyState !== client.OPEN && client.readyState !== client.CONNECTING) return;
    client.close(sendable(code) ? code : 1011, reason.toString() || "the room's node went away");
  });
  client.on('close', (code) => {
    if (upstream.readyState === upstream.OPEN) upstream.close(sendable(code) ? code : 1000);
    else upstream.terminate();
  });
}

/** Close codes an endpoint may send (RFC 6455 §7.4: not 1005, 1006 or 1015). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
