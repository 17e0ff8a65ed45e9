import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { serializeSipMessage } from '../gateways/sip/SipMessage.js';
import { responsePeer, type SipWire } from '../gateways/sip/SipTransport.js';
import { buildServer } from '../http/buildServer.js';
import { SignalingConnection } from '../signaling/SignalingConnection.js';
import { PortSocket } from './PortSocket.js';
import type { FromWorker, HttpRequest, Route, ToWorker, WorkerData } from './protocol.js';

/**
 * A room worker: a port545 server that never listens. The main thread hands it the WebSockets and HTTP
 * requests of the rooms it placed here; their participants, peer connections and media live here.
 */
const port = parentPort;
if (!port) throw new Error('roomWorker.ts runs as a worker thread');
const { index, config } = workerData as WorkerData;
const log = pino({ level: config.logLevel, base: { worker: index } });
/** Where the main thread's SIP sockets listen (every routed message says). */
let sipPort = 0;
/** This worker's SIP gateway sends through the main thread, which holds the SIP sockets. */
const sipWire: SipWire = {
  get port() {
    return sipPort;
  },
  send(message, peer) {
    post({ t: 'sip', data: serializeSipMessage(message), peer });
  },
  respond(response, peer) {
    sipWire.send(response, responsePeer(response, peer));
  },
};
// Requests arrive here already let through by the main thread's rate limits and Origin check.
const server = buildServer(config, {
  log,
  edge: false,
  worker: index,
  ...(config.sip.enabled
    ? { sip: { wire: sipWire, onCallEnded: (callId: string) => post({ t: 'sipEnded', callId }) } }
    : {}),
});

/**
 * Signaling messages for the clients, sent to the main thread once per turn of the event loop rather than
 * one by one: a join in a room of N is announced to N others, and each message across threads has a fixed
 * cost on both sides (in a 400-person burst of joins, posting was 8 % of the worker's time). Consecutive
 * sends of one string (a broadcast, serialized once) cross once with their list of connections. Other
 * posts flush the batch first, so that everything reaches the main thread in the order it was posted.
 */
let sendIds: number[] = [];
let sendCounts: number[] = [];
let sendData: string[] = [];
const flushSends = (): void => {
  if (sendIds.length === 0) return;
  const message: FromWorker =
    sendIds.length === 1
      ? { t: 'send', id: sendIds[0]!, data: sendData[0]! }
      : { t: 'sends', ids: sendIds, counts: sendCounts, data: sendData };
  sendIds = [];
  sendCounts = [];
  sendData = [];
  port.postMessage(message);
};
function postSend(id: number, data: string): void {
  if (sendIds.length === 0) setImmediate(flushSends);
  sendIds.push(id);
  const last = sendData.length - 1;
  if (last >= 0 && sendData[last] === data) sendCounts[last]!++;
  else {
    sendData.push(data);
    sendCounts.push(1);
  }
}
const post = (message: FromWorker): void => {
  flushSends();
  port.postMessage(message);
};

const sockets = new Map<number, { socket: PortSocket; connection: SignalingConnection }>();
/** The last route the main thread sent for each room this worker may hold. */
const routes = new Map<string, number>();

server.host.registry.on('roomClosed', (room) => {
  const seq = routes.get(room);
  if (seq === undefined) return;
  routes.delete(room);
  post({ t: 'released', room, seq });
});

/** After a routed join or request has been handled: if it left no room here, the placement can go. */
function settle(route: Route, done: Promise<unknown>): void {
  routes.set(route.room, route.seq);
  void done.finally(() => {
    if (server.host.registry.rooms.has(route.room) || routes.get(route.room) !== route.seq) return;
    routes.delete(route.room);
    post({ t: 'released', room: route.room, seq: route.seq });
  });
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

async function http(rid: number, request: HttpRequest): Promise<void> {
  try {
    const response = await server.app.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers as Record<string, string>,
      ...(request.body ? { payload: toBuffer(request.body) } : {}),
      remoteAddress: request.remoteAddress,
    });
    post({
      t: 'httpReply',
      rid,
      reply: { status: response.statusCode, headers: response.headers, body: response.rawPayload },
    });
  } catch (error) {
    log.error({ err: error }, 'routed request failed');
    const body = Buffer.from(
      JSON.stringify({ error: { code: 'INTERNAL_ERROR', message: 'Internal error' } }),
    );
    post({
      t: 'httpReply',
      rid,
      reply: { status: 500, headers: { 'content-type': 'application/json' }, body },
    });
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'open': {
      const { id } = message;
      const socket = new PortSocket(
        (data) => postSend(id, data),
        (code, reason) => post({ t: 'end', id, code, reason }),
      );
      const connection = new SignalingConnection(socket, server.host, config.limits, log, {
        address: message.address,
        auth: config.auth,
        // Posted ahead of the `joined` message itself: the main thread pins the connection here before
        // the client can see that it joined (and send another join).
        onJoined: () => post({ t: 'joined', id }),
      });
      sockets.set(id, { socket, connection });
      server.connections.add(connection);
      return;
    }
    case 'frame': {
      const entry = sockets.get(message.id);
      if (!entry) return;
      entry.socket.deliver(toBuffer(message.data), message.binary);
      if (!message.route) return;
      // A routed frame is a join: once it has run, the room's placement is kept only if it took.
      settle(message.route, entry.connection.idle());
      return;
    }
    case 'closed': {
      const entry = sockets.get(message.id);
      if (!entry) return;
      sockets.delete(message.id);
      server.connections.delete(entry.connection);
      entry.socket.closed(message.code);
      return;
    }
    case 'http': {
      const done = http(message.rid, message.request);
      if (message.route) settle(message.route, done);
      return;
    }
    case 'health':
      post({ t: 'health', rid: message.rid, ...server.host.load });
      return;
    case 'room':
      post({ t: 'room', rid: message.rid, room: server.host.room(message.room) });
      return;
    case 'shutdown':
      void server.close().finally(() => post({ t: 'shutdown', rid: message.rid }));
      return;
    case 'sip': {
      sipPort = message.port;
      const gateway = server.gateways.sip;
      if (!gateway) return;
      const done = gateway.deliver(toBuffer(message.data), message.peer, message.stream);
      if (message.route) settle(message.route, done);
      return;
    }
  }
});

post({ t: 'ready' });
