import { rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { WebSocket } from 'ws';
import { verifyAccessToken } from './auth/accessToken.js';
import { bearerToken } from './auth/authorizeJoin.js';
import { CLUSTER_HEADERS, Cluster, type NodeInfo, type RoomRoute } from './cluster/Cluster.js';
import { clusterOptions } from './cluster/clusterOptions.js';
import { forwardHttp, NodeUnreachable, openUpstream, pipeSockets, streamHttp } from './cluster/forward.js';
import { acceptNodeLink, carryNodeLink, LINK_HEADER } from './cluster/nodeLinks.js';
import { CodedError } from './common/errors.js';
import { type Config, withMediaPort } from './config/config.js';
import { filesRoot } from './files/paths.js';
import type { DirectoryEntry, RoomDetail } from './host/RoomHost.js';
import { requireApiKey } from './http/adminApi.js';
import { registerFilesApi } from './http/filesApi.js';
import { divertConnections } from './http/firstChunk.js';
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
import { CLOSE_POLICY_VIOLATION } from './signaling/SignalingConnection.js';
import type { TlsMaterial } from './tls/tlsMaterial.js';
import { WebhookQueue } from './webhooks/WebhookQueue.js';
import { startsIceTcp } from './werift/iceTcp.js';
import { exposition, mainThreadMetrics } from './workers/metrics.js';
import type { FilesCall, HttpReply, HttpRequest, Route } from './workers/protocol.js';
import { type RoomWorker, RoomWorkers } from './workers/RoomWorkers.js';
import { SipRouter } from './workers/SipRouter.js';

export interface Port545Server extends ServerHandle {
  readonly workers: RoomWorkers;
  /** With `--redis`: this node of the cluster (src/cluster/Cluster.ts). */
  readonly cluster: Cluster | undefined;
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
/** Messages a connection may send while the cluster is asked where its join's room is. */
const MAX_WAITING_FRAMES = 32;
/** The routes of a room's files (src/http/filesApi.ts): in a cluster, streamed to the room's node. */
const FILE_PATHS = new Set(['/rooms/:room/files', '/rooms/:room/files/:id', '/rooms/:room/board/exports']);
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
export function buildServer(input: Config, workerCount: number, options: BuildOptions = {}): Port545Server {
  // The media's one UDP port (the HTTP port's number unless set), or the range: resolved once, here.
  const config = withMediaPort(input);
  const log = options.log ?? pino({ level: config.logLevel, base: undefined });
  const workers = new RoomWorkers(config, workerCount, log);
  // With `--redis`, a node of a cluster: rooms are placed over every node, and what comes here for a room
  // on another node is passed on to it (src/cluster). Made when the server listens (its URL has the port).
  let cluster: Cluster | undefined;
  /** The node that passed a request on (and vouched for it), with its client's address. */
  const vouched = (headers: IncomingHttpHeaders) => cluster?.verify(headers);
  const app = createHttpApp(config, log, { exempt: (request) => vouched(request.headers) !== undefined });
  // ICE over TCP on this same port, told apart by its first byte (src/werift/iceTcp.ts).
  if (config.rtc.iceTcpPort !== undefined)
    divertConnections(
      app.server,
      startsIceTcp,
      (socket) => workers.acceptIceTcp(socket),
      config.limits.handshakeTimeoutMs,
    );
  /** Joins the cluster once the port is bound (the node's URL has it). */
  const joinCluster = async (port: number, tls: TlsMaterial | undefined) => {
    cluster = new Cluster(
      clusterOptions(config, port, tls, {
        load: async () => {
          const all = await Promise.all(
            workers.all.map((w) => w.request<'health'>({ t: 'health', rid: w.nextRid() })),
          );
          return {
            rooms: workers.roomCount,
            participants: all.reduce((n, h) => n + h.participants, 0),
            viewers: all.reduce((n, h) => n + h.viewers, 0),
          };
        },
        rooms: () => workers.roomNames(),
        ...(sip ? { sipPort: () => sip.port || undefined } : {}),
        log,
      }),
    );
    // Clients that lose this node reconnect to another (`joined.nodes`).
    cluster.onNodes = (urls) => {
      for (const w of workers.all) w.post({ t: 'nodes', urls });
    };
    workers.onReleased = (room) => cluster?.release(room);
    if (sip) sip.redirect = (room) => cluster!.sipTarget(room);
    workers.onNodeLink = (node, port) => {
      if (cluster) void carryNodeLink(cluster, node, port, config.limits.wsMaxMessageBytes, log);
      else port.close();
    };
    await cluster.start();
  };
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

  /** The other live nodes of the cluster (none without one). */
  const otherNodes = (): NodeInfo[] =>
    cluster
      ? cluster.nodes.filter((n) => n.id !== cluster?.id && Date.now() - n.at < config.cluster.deadAfterMs)
      : [];
  /** Passes a client's request on to `node`, vouched for with the client's address. */
  const forwardToNode = (node: NodeInfo, request: FastifyRequest, extra: Record<string, string> = {}) => {
    const passed = toRequest(request, clientAddress(request));
    return forwardHttp(node, passed, { ...cluster!.sign(passed.remoteAddress), ...extra });
  };
  /** A GET of this node's own to another node, for that node's part only (no client behind it). */
  const askNode = (node: NodeInfo, url: string) =>
    forwardHttp(
      node,
      { method: 'GET', url, headers: {}, remoteAddress: 'cluster' },
      { ...cluster!.sign('cluster'), [CLUSTER_HEADERS.scope]: 'node' },
    );
  /** A node gathering the cluster's rooms or directory asks for this node's own part. */
  const localOnly = (request: FastifyRequest) =>
    request.headers[CLUSTER_HEADERS.scope] === 'node' && vouched(request.headers) !== undefined;
  /** The client's address: its socket's, or the one another node vouched for. */
  const clientAddress = (request: FastifyRequest) =>
    vouched(request.headers)?.address ?? request.socket.remoteAddress ?? 'unknown';
  const unreachable = (error: unknown) => {
    log.warn({ err: error }, "the room's node cannot be reached");
    return new CodedError('CLUSTER_UNAVAILABLE', "This room's node cannot be reached; try again shortly");
  };

  // In a cluster, a room's files and whiteboard exports are kept on its node: what comes here for a room
  // on another node streams there and back.
  app.addHook('onRequest', async (request, reply) => {
    if (!cluster || !FILE_PATHS.has(request.routeOptions.url ?? '')) return;
    const room = (request.params as { room?: string }).room;
    if (!room || workers.ownerOf(room)) return;
    const route = await cluster.lookup(room);
    if (!route || route.local) return;
    reply.hijack();
    const address = clientAddress(request);
    await streamHttp(route.node, request.raw, reply.raw, cluster.sign(address)).catch((error: unknown) => {
      const coded = unreachable(error);
      if (reply.raw.headersSent) return void reply.raw.destroy();
      reply.raw.writeHead(coded.status, { 'content-type': 'application/json' });
      reply.raw.end(JSON.stringify({ error: { code: coded.code, message: coded.message } }));
    });
  });
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
      ...(cluster ? { node: cluster.id, cluster: cluster.available ? 'ok' : 'unavailable' } : {}),
    };
  });

  // The rooms their hosts listed, for the home page (docs/api.md). Every open home page asks every few
  // seconds: one answer serves all that ask within a second.
  let listed: { at: number; rooms: Promise<DirectoryEntry[]> } | undefined;
  const localDirectory = () =>
    Promise.all(
      workers.all.map((w) =>
        w.request<'directory'>({ t: 'directory', rid: w.nextRid() }).then((m) => m.rooms),
      ),
    ).then((all) => all.flat());
  const directory = (): Promise<DirectoryEntry[]> => {
    if (listed && Date.now() - listed.at < DIRECTORY_CACHE_MS) return listed.rooms;
    // In a cluster, every node's listed rooms (a node that does not answer is left out).
    const rooms = Promise.all([
      localDirectory(),
      ...otherNodes().map((node) =>
        askNode(node, '/directory')
          .then((r) => (r.status === 200 ? (parseBody(r) as { rooms: DirectoryEntry[] }).rooms : []))
          .catch(() => []),
      ),
    ]).then((all) =>
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
    let rooms = localOnly(request) ? await localDirectory() : await directory();
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
    ): Promise<FastifyReply> =>
      send(reply, await worker.http(toRequest(request, clientAddress(request)), route));

    /**
     * In a cluster, a request for a room on another node is passed on to it: a POST (a WHIP or WHEP
     * session, which may open the room) places the room first. True when it was.
     */
    const toNode = async (
      request: FastifyRequest,
      reply: FastifyReply,
      room: string,
      place: boolean,
    ): Promise<boolean> => {
      if (!cluster || workers.ownerOf(room)) return false;
      let route = place ? await cluster.route(room) : await cluster.lookup(room);
      if (!route || route.local) return false;
      try {
        await send(reply, await forwardToNode(route.node, request));
      } catch (error) {
        if (!(error instanceof NodeUnreachable) || !place) throw unreachable(error);
        // The room's node is gone: the room is placed again, and the request goes there.
        route = await cluster.route(room, route.node.id);
        if (route.local) return false;
        await send(
          reply,
          await forwardToNode(route.node, request).catch((e) => Promise.reject(unreachable(e))),
        );
      }
      return true;
    };

    const toRoom = async (request: FastifyRequest, reply: FastifyReply) => {
      const room = (request.params as { room: string }).room;
      if (await toNode(request, reply, room, request.method === 'POST')) return reply;
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
        handler: async (request, reply) => {
          const room = (request.params as { room: string }).room;
          if (await toNode(request, reply, room, false)) return reply;
          return forward(request, reply, workers.ownerOf(room) ?? workers.lobby());
        },
      });

    // The room list is every worker's rooms; an error (no or wrong API key) is passed on as it came.
    // In a cluster, every node's: each room says its `node`.
    scope.get('/api/v1/rooms', async (request, reply) => {
      const replies = await Promise.all(workers.all.map((w) => w.http(toRequest(request))));
      const failed = replies.find((r) => r.status !== 200);
      if (failed) return send(reply, failed);
      const mine = (r: HttpReply) =>
        (parseBody(r) as { rooms: object[] }).rooms.map((room) =>
          cluster ? { ...room, node: cluster.id } : room,
        );
      const rooms = replies.flatMap(mine);
      if (!localOnly(request)) {
        const others = await Promise.all(
          otherNodes().map((node) =>
            forwardToNode(node, request, { [CLUSTER_HEADERS.scope]: 'node' }).catch(() => undefined),
          ),
        );
        for (const r of others)
          if (r?.status === 200) rooms.push(...(parseBody(r) as { rooms: object[] }).rooms);
      }
      return send(reply, { ...replies[0]!, body: Buffer.from(JSON.stringify({ rooms })) });
    });
    // The cluster's live nodes, with their load (docs/api.md).
    scope.get('/api/v1/nodes', async (request, reply) => {
      requireApiKey(config, request, reply);
      if (!cluster) return reply.send({ nodes: [] });
      const nodes = await cluster.liveNodes();
      return reply.header('Cache-Control', 'no-store').send({
        nodes: nodes.map(({ ca: _ca, ...node }) => ({ ...node, self: node.id === cluster?.id })),
      });
    });
    scope.route({
      method: METHODS,
      url: '/api/v1/*',
      handler: (request, reply) => forward(request, reply, workers.lobby()),
    });
  });

  const ready = Promise.all([registerWebClient(app), workers.ready()]);

  const wss = acceptWebSockets(
    app,
    config,
    log,
    (ws, address, request, via) => {
      // Another node's room worker linking to this node for its viewers here.
      if (via && request.headers[LINK_HEADER] === '1') return acceptNodeLink(ws, via, workers.lobby(), log);
      routeSocket(ws, address, via);
    },
    (request) => vouched(request.headers),
  );

  /**
   * Until it has joined, a connection may still name any room: each valid `join` is routed to that room's
   * worker (moving the connection there if needed), or in a cluster passed on to the room's node. Once
   * the worker says `joined`, it stays there. `via`: the node of the cluster that passed it on here.
   */
  function routeSocket(ws: WebSocket, address: string, via?: string): void {
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
      to.post({ t: 'open', id, address, ...(via ? { via } : {}) });
    };
    attach(worker);
    const refuse = (join: { rid?: string | number }, error: CodedError) => {
      const rid = join.rid !== undefined ? { rid: join.rid } : {};
      if (ws.readyState === ws.OPEN)
        ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message, ...rid }));
    };
    /** A frame for a room on this node's workers (a join places the room on one of them). */
    const deliver = (data: Buffer, binary: boolean, join: ReturnType<typeof joinOf>) => {
      let route: Route | undefined;
      if (join) {
        const placed = workers.place(join.room);
        if (!placed) return refuse(join, new CodedError('TOO_MANY_ROOMS'));
        if (placed.worker !== worker) {
          // The earlier worker forgets the connection (it has no participant of it: not joined).
          worker.post({ t: 'closed', id, code: 1000 });
          attach(placed.worker);
        }
        route = placed.route;
      }
      worker.post({ t: 'frame', id, data, binary, ...(route ? { route } : {}) });
    };
    /** In a cluster: the connection passed on to the node of the room its join named. */
    let upstream: WebSocket | undefined;
    /** Frames that came while the cluster was asked where a join's room is, in order. */
    let waiting: { data: Buffer; binary: boolean }[] | undefined;
    const onFrame = (data: Buffer, binary: boolean) => {
      if (upstream) return upstream.send(data, { binary });
      if (waiting) {
        // A client has no reason to send more than a few messages before its join is answered.
        if (waiting.length >= MAX_WAITING_FRAMES)
          return ws.close(CLOSE_POLICY_VIOLATION, 'too many messages');
        return void waiting.push({ data, binary });
      }
      const join = !joined && !binary ? joinOf(data) : undefined;
      if (join && cluster && !workers.ownerOf(join.room)) {
        waiting = [];
        void routeJoin(join, data).finally(() => {
          const held = waiting ?? [];
          waiting = undefined;
          for (const frame of held) onFrame(frame.data, frame.binary);
        });
        return;
      }
      deliver(data, binary, join);
    };
    /**
     * Asks the cluster where the join's room is (placing it): here, or passed on to its node. A node that
     * refuses the connection is taken for dead once: the room is placed again without it.
     */
    const routeJoin = async (join: { room: string; rid?: string | number }, data: Buffer) => {
      let suspect: string | undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        let route: RoomRoute;
        try {
          route = await cluster!.route(join.room, suspect);
        } catch (error) {
          return refuse(join, error instanceof CodedError ? error : unreachable(error));
        }
        if (route.local) return deliver(data, false, join);
        try {
          const up = await openUpstream(route.node, cluster!.sign(address), config.limits.wsMaxMessageBytes);
          if (ws.readyState !== ws.OPEN) return void up.close();
          // The worker it waited on forgets it; from now on its frames go to the room's node and back.
          worker.post({ t: 'closed', id, code: 1000 });
          for (const w of visited) w.clients.delete(id);
          upstream = up;
          pipeSockets(ws, up);
          up.send(data, { binary: false });
          return;
        } catch (error) {
          if (!(error instanceof NodeUnreachable)) return refuse(join, unreachable(error));
          log.warn(
            { node: route.node.id, err: error },
            'a node refused a connection; placing its room again',
          );
          suspect = route.node.id;
        }
      }
      refuse(join, unreachable(new Error('no node took the room')));
    };
    ws.on('message', (raw, binary) => onFrame(toBuffer(raw), binary));
    ws.on('close', (code) => {
      worker.post({ t: 'closed', id, code });
      for (const w of visited) w.clients.delete(id);
    });
    ws.on('error', (error) => log.debug({ err: error }, 'websocket error'));
  }

  const stop = async () => {
    await ready.catch(() => undefined);
    // No room is placed here any more; with `--drain-ms`, the rooms may go on that long (or until they
    // empty) before their people are told to rejoin, which places them on other nodes.
    if (cluster) {
      await cluster.drain().catch(() => undefined);
      const until = Date.now() + config.cluster.drainMs;
      while (workers.roomCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    }
    // The workers say `bye` to their participants (and BYE to their phones) through these sockets before
    // they are closed.
    metrics.close();
    await workers.close();
    // After the rooms: their last events (everyone left, the room finished) are in the journal.
    await webhooks?.close();
    await sip?.close();
    await closeWebSockets(wss);
    await cluster?.close();
    await app.close();
  };
  const room = async (name: string): Promise<RoomDetail | undefined> => {
    const worker = workers.ownerOf(name);
    if (!worker) return undefined;
    return (await worker.request<'room'>({ t: 'room', rid: worker.nextRid(), room: name })).room;
  };
  /** ICE over TCP on the media port, when that is not the HTTP port (src/werift/iceTcp.ts). */
  let iceTcpListener: NetServer | undefined;
  const listenIceTcp = async (httpPort: number) => {
    const port = config.rtc.iceTcpPort;
    if (port === undefined || port === httpPort || iceTcpListener) return;
    // What is not ICE over TCP is closed.
    const listener = createNetServer((socket) => socket.destroy());
    divertConnections(
      listener,
      startsIceTcp,
      (socket) => workers.acceptIceTcp(socket),
      config.limits.handshakeTimeoutMs,
    );
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port, host: config.host }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    iceTcpListener = listener;
  };
  const stopAll = async () => {
    // Its streams end with the rooms' connections (stop), then it is closed.
    const closed = new Promise<void>((resolve) =>
      iceTcpListener ? iceTcpListener.close(() => resolve()) : resolve(),
    );
    await stop();
    await closed;
  };
  const handle = Object.assign(serverHandle(config, app, log, ready, stopAll), {
    workers,
    sip,
    room,
    listedRooms: directory,
  }) as Port545Server;
  // Made once the port is bound: read when asked.
  Object.defineProperty(handle, 'cluster', { get: () => cluster, enumerable: true });
  const listen = handle.listen;
  handle.listen = async (port) => {
    const bound = await listen(port);
    try {
      await listenIceTcp(bound);
    } catch (error) {
      await handle.close();
      throw error;
    }
    if (config.cluster.redis && !cluster) await joinCluster(bound, handle.tls);
    return bound;
  };
  return handle;
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

function toRequest(request: FastifyRequest, address?: string): HttpRequest {
  const body = request.body;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    ...(Buffer.isBuffer(body) ? { body } : {}),
    remoteAddress: address ?? request.socket.remoteAddress ?? 'unknown',
  };
}

function parseBody(reply: HttpReply): unknown {
  return JSON.parse(Buffer.from(reply.body).toString('utf8'));
}

function send(reply: FastifyReply, from: HttpReply): FastifyReply {
  reply.code(from.status);
  for (const [name, value] of Object.entries(from.headers)) {
    if (value === undefined || HOP_HEADERS.has(name.toLowerCase())) continue;
    reply.header(name, value);
  }
  return reply.send(Buffer.from(from.body.buffer, from.body.byteOffset, from.body.byteLength));
}
