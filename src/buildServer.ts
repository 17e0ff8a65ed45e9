import { rm } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { WebSocket } from 'ws';
import { verifyAccessToken } from './auth/accessToken.js';
import { bearerToken } from './auth/authorizeJoin.js';
import { CodedError } from './common/errors.js';
import type { Config } from './config/config.js';
import { filesRoot } from './files/paths.js';
import type { DirectoryEntry, RoomDetail } from './host/RoomHost.js';
import { requireApiKey } from './http/adminApi.js';
import { registerFilesApi } from './http/filesApi.js';
import {
  acceptWebSockets,
  closeWebSockets,
  createHttpApp,
  type ServerHandle,
  serverHandle,
} from './http/httpBase.js';
import { registerRecordingsApi } from './http/recordingsApi.js';
import { registerWebClient } from './http/webClient.js';
import type { ErrorCode } from './protocol/errors.js';
import { clientMessage, type SharedFile } from './protocol/messages.js';
import { sweepRecordings } from './recording/store.js';
import { WebhookQueue } from './webhooks/WebhookQueue.js';
import { exposition, mainThreadMetrics } from './workers/metrics.js';
import type { FilesCall, HttpReply, HttpRequest, Route } from './workers/protocol.js';
import { type RoomWorker, RoomWorkers } from './workers/RoomWorkers.js';
import { SipRouter } from './workers/SipRouter.js';

export interface Port545Server extends ServerHandle {
  readonly workers: RoomWorkers;
  /** A room and its people, asked of the worker that holds it; undefined when no worker does. */
  room(name: string): Promise<RoomDetail | undefined>;
  /** With SIP on: the SIP sockets, routing each call to the worker of its room. */
  readonly sip: SipRouter | undefined;
  /** The rooms their hosts listed, over every worker (what GET /directory shows an open server's visitors). */
  listedRooms(): Promise<DirectoryEntry[]>;
}

/** How long one answer of the directory serves (every open home page asks every few seconds). */
const DIRECTORY_CACHE_MS = 1000;
/** Recordings past their retention are looked for this often. */
const RECORDING_SWEEP_MS = 3_600_000;
/** The most rooms the directory shows. */
const MAX_LISTED_ROOMS = 200;

/** Reply headers that belong to one hop, not to the reply. */
const HOP_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

/** Paths whose second segment is a room: the request goes to that room's worker. */
const ROOM_PATHS = ['/whip/:room', '/whip/:room/*', '/whep/:room', '/whep/:room/*', '/rooms/:room/status'];
const ADMIN_ROOM_PATHS = ['/api/v1/rooms/:room', '/api/v1/rooms/:room/*'];
const METHODS: ('GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS')[] = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
];

export interface BuildOptions {
  /** The main thread's logger instead of a new one at `config.logLevel` (tests read its audit lines). */
  log?: Logger;
}

/**
 * The one server builder (`port545 serve`, the tests and the benches all use it). Its rooms run on
 * `workerCount` worker threads, the way mediasoup runs a worker per core; with 0, on this thread, behind
 * the same messages (`InThreadWorker`). This thread holds HTTP, the WebSockets, the SIP sockets and the
 * web client; each room, with its participants, peer connections and media, lives on one worker. A
 * WebSocket goes to the worker of the room its `join` names; WHIP, WHEP and the admin API's room paths go
 * to the worker of the room in their path. Nothing is bound until `listen`.
 */
export function buildServer(config: Config, workerCount: number, options: BuildOptions = {}): Port545Server {
  const log = options.log ?? pino({ level: config.logLevel, base: undefined });
  const app = createHttpApp(config, log);
  const workers = new RoomWorkers(config, workerCount, log);
  const sip = config.sip.enabled
    ? new SipRouter(
        workers,
        { host: config.sip.host, port: config.sip.port, maxCalls: config.sip.maxCalls },
        log,
      )
    : undefined;
  const { webhooks: hooks } = config;
  const webhooks =
    hooks.url && hooks.secret
      ? new WebhookQueue({
          url: hooks.url,
          secret: hooks.secret,
          dataDir: config.dataDir,
          maxQueued: hooks.maxQueued,
          retryForMs: hooks.retryForMs,
          log: log.child({ webhooks: true }),
        })
      : undefined;
  if (webhooks) workers.onActivity = (activity) => webhooks.push(activity);
  if (sip)
    app.addHook('onReady', async () => {
      await sip.listen();
    });
  let nextId = 0;

  // The rooms' files: the bytes stream here, the books are kept where each room runs.
  const filesAnswer = async (room: string, call: FilesCall) => {
    const worker = workers.ownerOf(room) ?? workers.lobby();
    const answer = await worker.request<'files'>({ t: 'files', rid: worker.nextRid(), call });
    if (answer.error) throw new CodedError(answer.error.code as ErrorCode, answer.error.message);
    return answer;
  };
  const filesCall = async (room: string, call: FilesCall): Promise<SharedFile | undefined> =>
    (await filesAnswer(room, call)).file;
  registerFilesApi(app, config, {
    reserveFile: async (upload) => (await filesCall(upload.room, { op: 'reserve', upload }))!,
    completeFile: async (room, id, type) => (await filesCall(room, { op: 'complete', room, id, type }))!,
    releaseFile: async (room, id) => {
      await filesCall(room, { op: 'release', room, id });
    },
    fileFor: async (room, token, id) => (await filesCall(room, { op: 'fetch', room, token, id }))!,
    recordingFor: async (room, token) =>
      (await filesAnswer(room, { op: 'recording', room, token })).recording!,
  });
  // Files of rooms before a restart are nobody's now (a room's files last as long as the room).
  app.addHook('onReady', async () => {
    await rm(filesRoot(config.dataDir), { recursive: true, force: true }).catch((error) =>
      log.warn({ err: error }, 'could not clear the files of earlier rooms'),
    );
  });

  // Recordings: listed, downloaded and deleted here (docs/RECORDING.md); a crash's leftovers are marked
  // at start, and those past the retention deleted then and every hour.
  registerRecordingsApi(app, config);
  let sweepTimer: NodeJS.Timeout | undefined;
  const sweep = (atStart: boolean) =>
    sweepRecordings(config.dataDir, config.recordings.retentionDays, atStart)
      .then((swept) => {
        if (swept.deleted + swept.interrupted > 0) log.info(swept, 'recordings swept');
      })
      .catch((error) => log.warn({ err: error }, 'could not sweep the recordings'));
  app.addHook('onReady', async () => {
    await sweep(true);
    sweepTimer = setInterval(() => void sweep(false), RECORDING_SWEEP_MS);
    sweepTimer.unref();
  });
  app.addHook('onClose', async () => clearInterval(sweepTimer));

  app.get('/healthz', async () => {
    const all = await Promise.all(
      workers.all.map((w) => w.request<'health'>({ t: 'health', rid: w.nextRid() })),
    );
    return {
      status: 'ok',
      rooms: all.reduce((n, h) => n + h.rooms, 0),
      participants: all.reduce((n, h) => n + h.participants, 0),
      workers: all.length,
    };
  });

  // The rooms their hosts listed, for the home page (docs/api.md). Every open home page asks every few
  // seconds: one answer serves all that ask within a second.
  let listed: { at: number; rooms: Promise<DirectoryEntry[]> } | undefined;
  const directory = (): Promise<DirectoryEntry[]> => {
    if (listed && Date.now() - listed.at < DIRECTORY_CACHE_MS) return listed.rooms;
    const rooms = Promise.all(
      workers.all.map((w) =>
        w.request<'directory'>({ t: 'directory', rid: w.nextRid() }).then((m) => m.rooms),
      ),
    ).then((all) =>
      all
        .flat()
        .sort((a, b) => a.name.localeCompare(b.name))
        .slice(0, MAX_LISTED_ROOMS),
    );
    listed = { at: Date.now(), rooms };
    rooms.catch(() => {
      listed = undefined;
    });
    return rooms;
  };
  app.get('/directory', async (request, reply) => {
    let rooms = await directory();
    // Secured: a visitor sees the listed rooms their access token opens, and without one nothing.
    if (config.auth.mode === 'secured') {
      const token = bearerToken(request.headers.authorization);
      const claims =
        token === undefined
          ? undefined
          : await verifyAccessToken(config.auth.apiSecret!, token, undefined).catch(() => undefined);
      rooms = claims ? rooms.filter((r) => claims.room === '*' || claims.room === r.name) : [];
    }
    return reply.header('Cache-Control', 'no-store').send({ rooms });
  });

  // Prometheus metrics of every thread, with the API key (docs/api.md).
  const metrics = mainThreadMetrics(() => wss.clients.size);
  app.get('/metrics', async (request, reply) => {
    requireApiKey(config, request, reply);
    const threads = await Promise.all([
      metrics.json(),
      ...workers.all.map((w) =>
        w.request<'metrics'>({ t: 'metrics', rid: w.nextRid() }).then((m) => m.metrics),
      ),
    ]);
    const { contentType, body } = await exposition(threads);
    return reply.type(contentType).send(body);
  });

  app.register(async (scope) => {
    // Bodies go to the worker as they came; the worker's routes parse and validate them.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    const forward = async (
      request: FastifyRequest,
      reply: FastifyReply,
      worker: RoomWorker,
      route?: Route,
    ): Promise<FastifyReply> => send(reply, await worker.http(toRequest(request), route));

    const toRoom = async (request: FastifyRequest, reply: FastifyReply) => {
      const room = (request.params as { room: string }).room;
      const placed = request.method === 'POST' ? workers.place(room) : undefined;
      if (request.method === 'POST' && !placed) throw new CodedError('TOO_MANY_ROOMS');
      if (placed) return forward(request, reply, placed.worker, placed.route);
      return forward(request, reply, workers.ownerOf(room) ?? workers.lobby());
    };
    for (const url of ROOM_PATHS) scope.route({ method: METHODS, url, handler: toRoom });
    for (const url of ADMIN_ROOM_PATHS)
      scope.route({
        method: METHODS,
        url,
        handler: (request, reply) =>
          forward(
            request,
            reply,
            workers.ownerOf((request.params as { room: string }).room) ?? workers.lobby(),
          ),
      });

    // The room list is every worker's rooms; an error (no or wrong API key) is passed on as it came.
    scope.get('/api/v1/rooms', async (request, reply) => {
      const replies = await Promise.all(workers.all.map((w) => w.http(toRequest(request))));
      const failed = replies.find((r) => r.status !== 200);
      if (failed) return send(reply, failed);
      const rooms = replies.flatMap(
        (r) => (JSON.parse(Buffer.from(r.body).toString('utf8')) as { rooms: unknown[] }).rooms,
      );
      return send(reply, { ...replies[0]!, body: Buffer.from(JSON.stringify({ rooms })) });
    });
    scope.route({
      method: METHODS,
      url: '/api/v1/*',
      handler: (request, reply) => forward(request, reply, workers.lobby()),
    });
  });

  const ready = Promise.all([registerWebClient(app), workers.ready()]);

  const wss = acceptWebSockets(app, config, log, (ws, address) => routeSocket(ws, address));

  /**
   * Until it has joined, a connection may still name any room: each valid `join` is routed to that room's
   * worker (moving the connection there if needed). Once the worker says `joined`, it stays there.
   */
  function routeSocket(ws: WebSocket, address: string): void {
    const id = ++nextId;
    let joined = false;
    let worker = workers.lobby();
    /** Workers this connection was on: their replies to earlier messages still reach the client. */
    const visited = new Set<RoomWorker>();
    const attach = (to: RoomWorker) => {
      worker = to;
      visited.add(to);
      to.clients.set(id, {
        send(data: string) {
          if (ws.readyState === ws.OPEN) ws.send(data);
        },
        joined() {
          joined = true;
        },
        // Only the worker the connection is on now may close it.
        end(code: number, reason: string) {
          if (worker !== to) return;
          if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
        },
      });
      to.post({ t: 'open', id, address });
    };
    attach(worker);
    ws.on('message', (raw, binary) => {
      const data = toBuffer(raw);
      let route: Route | undefined;
      if (!joined && !binary) {
        const join = joinOf(data);
        if (join) {
          const placed = workers.place(join.room);
          if (!placed) {
            const error = new CodedError('TOO_MANY_ROOMS');
            const rid = join.rid !== undefined ? { rid: join.rid } : {};
            ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message, ...rid }));
            return;
          }
          if (placed.worker !== worker) {
            // The earlier worker forgets the connection (it has no participant of it: not joined).
            worker.post({ t: 'closed', id, code: 1000 });
            attach(placed.worker);
          }
          route = placed.route;
        }
      }
      worker.post({ t: 'frame', id, data, binary, ...(route ? { route } : {}) });
    });
    ws.on('close', (code) => {
      worker.post({ t: 'closed', id, code });
      for (const w of visited) w.clients.delete(id);
    });
    ws.on('error', (error) => log.debug({ err: error }, 'websocket error'));
  }

  const stop = async () => {
    await ready.catch(() => undefined);
    // The workers say `bye` to their participants (and BYE to their phones) through these sockets before
    // they are closed.
    metrics.close();
    await workers.close();
    // After the rooms: their last events (everyone left, the room finished) are in the journal.
    await webhooks?.close();
    await sip?.close();
    await closeWebSockets(wss);
    await app.close();
  };
  const room = async (name: string): Promise<RoomDetail | undefined> => {
    const worker = workers.ownerOf(name);
    if (!worker) return undefined;
    return (await worker.request<'room'>({ t: 'room', rid: worker.nextRid(), room: name })).room;
  };
  return Object.assign(serverHandle(config, app, log, ready, stop), {
    workers,
    sip,
    room,
    listedRooms: directory,
  });
}

function toBuffer(raw: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return Buffer.from(raw);
}

/**
 * The room and request id of a valid `join` message, else undefined (the worker answers the rest). It is
 * parsed and checked exactly as the worker's SignalingConnection will, so every join the worker accepts
 * has been routed.
 */
function joinOf(data: Buffer): { room: string; rid?: string | number } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if ((json as { type?: unknown } | null)?.type !== 'join') return undefined;
  const parsed = clientMessage.safeParse(json);
  if (!parsed.success || parsed.data.type !== 'join') return undefined;
  return { room: parsed.data.room, ...(parsed.data.rid !== undefined ? { rid: parsed.data.rid } : {}) };
}

function toRequest(request: FastifyRequest): HttpRequest {
  const body = request.body;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    ...(Buffer.isBuffer(body) ? { body } : {}),
    remoteAddress: request.socket.remoteAddress ?? 'unknown',
  };
}

function send(reply: FastifyReply, from: HttpReply): FastifyReply {
  reply.code(from.status);
  for (const [name, value] of Object.entries(from.headers)) {
    if (value === undefined || HOP_HEADERS.has(name.toLowerCase())) continue;
    reply.header(name, value);
  }
  return reply.send(Buffer.from(from.body.buffer, from.body.byteOffset, from.body.byteLength));
}
