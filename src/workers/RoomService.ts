import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { serializeSipMessage } from '../gateways/sip/SipMessage.js';
import { responsePeer, type SipWire } from '../gateways/sip/SipTransport.js';
import type { SharedFile } from '../protocol/messages.js';
import { SignalingConnection } from '../signaling/SignalingConnection.js';
import { buildRoomServer, type RoomServer } from './buildRoomServer.js';
import { type MetricsData, roomServiceMetrics, type ThreadMetrics } from './metrics.js';
import { PortSocket } from './PortSocket.js';
import type { FilesCall, FromWorker, HttpRequest, Route, ToWorker } from './protocol.js';
import { WorkerLinks } from './WorkerLink.js';

/**
 * The rooms' side of a server: a room server that never listens. The main thread hands it the
 * WebSockets, HTTP requests and SIP messages of the rooms it placed here (`receive`); their participants,
 * peer connections and media live here. What it has to say goes back through `post`.
 *
 * The same class runs on a worker thread (`roomWorker.ts`, `post` is the thread's port) and, with
 * `--workers 0`, on the main thread itself (`InThreadWorker`): one dispatch for both.
 */
export class RoomService {
  readonly server: RoomServer;
  readonly #metrics: ThreadMetrics;
  /** Channels to the other workers, made by the main thread (none on the main thread itself). */
  readonly links: WorkerLinks;
  #nextRemoteSession = 0;
  readonly #post: (message: FromWorker, transfer?: MessagePort[]) => void;
  #closing: Promise<void> | undefined;
  /** Where the main thread's SIP sockets listen (every routed message says). */
  #sipPort = 0;
  readonly #sockets = new Map<number, { socket: PortSocket; connection: SignalingConnection }>();
  /** The last route the main thread sent for each room this service may hold. */
  readonly #routes = new Map<string, number>();
  /**
   * Signaling messages for the clients, posted once per turn of the event loop rather than one by one: a
   * join in a room of N is announced to N others, and each message across threads has a fixed cost on
   * both sides (in a 400-person burst of joins, posting was 8 % of the worker's time). Consecutive sends
   * of one string (a broadcast, serialized once) cross once with their list of connections. Other posts
   * flush the batch first, so that everything reaches the main thread in the order it was posted.
   */
  #sendIds: number[] = [];
  #sendCounts: number[] = [];
  #sendData: string[] = [];

  constructor(
    index: number,
    config: Config,
    log: Logger,
    post: (message: FromWorker, transfer?: MessagePort[]) => void,
  ) {
    this.#post = post;
    // This service's SIP gateway sends through the main thread, which holds the SIP sockets.
    const sipWire: SipWire = {
      get port() {
        return service.#sipPort;
      },
      send(message, peer) {
        service.#postNow({ t: 'sip', data: serializeSipMessage(message), peer });
      },
      respond(response, peer) {
        sipWire.send(response, responsePeer(response, peer));
      },
    };
    const service = this;
    // Requests arrive here already let through by the main thread's rate limits and Origin check.
    this.server = buildRoomServer(config, {
      log,
      worker: index,
      ...(config.sip.enabled
        ? {
            sip: {
              wire: sipWire,
              onCallEnded: (callId: string) => this.#postNow({ t: 'sipEnded', callId }),
            },
          }
        : {}),
    });
    // A link to another node of the cluster is carried by the main thread, which holds the sockets.
    this.links = new WorkerLinks(index, config.rtc, log, (node, port) =>
      this.#postNow({ t: 'nodeLink', node, port }, [port]),
    );
    // A viewer's media goes to another worker, or in a cluster to the node the viewer is connected to.
    this.server.host.spreadViewers = (room, local, via) => {
      const id = `${this.links.self}.${++this.#nextRemoteSession}`;
      return via ? this.links.nodeViewerMedia(via, id) : this.links.viewerMedia(room, id, local);
    };
    this.#metrics = roomServiceMetrics(this.server, index, () => this.links.totals);
    // With webhooks on, what happens in rooms goes to the main thread, which sends them.
    if (config.webhooks.url)
      this.server.host.onActivity = (activity) => this.#postNow({ t: 'activity', activity });
    this.server.host.registry.on('roomClosed', (room) => {
      const seq = this.#routes.get(room);
      if (seq === undefined) return;
      this.#routes.delete(room);
      this.#postNow({ t: 'released', room, seq });
    });
  }

  /** One message from the main thread. */
  receive(message: ToWorker): void {
    switch (message.t) {
      case 'open': {
        const { id } = message;
        const socket = new PortSocket(
          (data) => this.#postSend(id, data),
          (code, reason) => this.#postNow({ t: 'end', id, code, reason }),
        );
        const connection = new SignalingConnection(
          socket,
          this.server.host,
          this.server.config.limits,
          this.server.log,
          {
            address: message.address,
            ...(message.via ? { via: message.via } : {}),
            auth: this.server.config.auth,
            // Posted ahead of the `joined` message itself: the main thread pins the connection here before
            // the client can see that it joined (and send another join).
            onJoined: () => this.#postNow({ t: 'joined', id }),
          },
        );
        this.#sockets.set(id, { socket, connection });
        return;
      }
      case 'frame': {
        const entry = this.#sockets.get(message.id);
        if (!entry) return;
        entry.socket.deliver(toBuffer(message.data), message.binary);
        // A routed frame is a join: once it has run, the room's placement is kept only if it took.
        if (message.route) this.#settle(message.route, entry.connection.idle());
        return;
      }
      case 'closed': {
        const entry = this.#sockets.get(message.id);
        if (!entry) return;
        this.#sockets.delete(message.id);
        entry.socket.closed(message.code);
        return;
      }
      case 'http': {
        const done = this.#http(message.rid, message.request);
        if (message.route) this.#settle(message.route, done);
        return;
      }
      case 'health':
        this.#postNow({ t: 'health', rid: message.rid, ...this.server.host.load });
        return;
      case 'room':
        this.#postNow({ t: 'room', rid: message.rid, room: this.server.host.room(message.room) });
        return;
      case 'directory':
        this.#postNow({ t: 'directory', rid: message.rid, rooms: this.server.host.directory() });
        return;
      case 'files':
        void this.#files(message.rid, message.call);
        return;
      case 'metrics':
        void this.#metrics.registry
          .getMetricsAsJSON()
          .then((metrics) =>
            this.#postNow({ t: 'metrics', rid: message.rid, metrics: metrics as MetricsData }),
          );
        return;
      case 'shutdown':
        void this.close().finally(() => this.#postNow({ t: 'shutdown', rid: message.rid }));
        return;
      case 'link': {
        this.links.connect(message.peer, message.port);
        return;
      }
      case 'nodes':
        this.server.host.cluster.nodes = message.urls;
        return;
      case 'sip': {
        this.#sipPort = message.port;
        const gateway = this.server.gateways.sip;
        if (!gateway) return;
        const done = gateway.deliver(toBuffer(message.data), message.peer, message.stream);
        if (message.route) this.#settle(message.route, done);
        return;
      }
    }
  }

  /** Runs a call of the files door on this worker's host; a coded refusal goes back as data. */
  async #files(rid: number, call: FilesCall): Promise<void> {
    const host = this.server.host;
    try {
      let file: SharedFile | undefined;
      if (call.op === 'recording') {
        const recording = await host.recordingFor(call.room, call.token);
        this.#postNow({ t: 'files', rid, recording });
        return;
      }
      if (call.op === 'reserve') file = await host.reserveFile(call.upload);
      else if (call.op === 'complete') file = await host.completeFile(call.room, call.id, call.type);
      else if (call.op === 'fetch') file = await host.fileFor(call.room, call.token, call.id);
      else await host.releaseFile(call.room, call.id);
      this.#postNow({ t: 'files', rid, ...(file ? { file } : {}) });
    } catch (error) {
      const coded = error instanceof CodedError ? error : new CodedError('INTERNAL_ERROR');
      if (!(error instanceof CodedError)) this.server.log.error({ err: error }, 'files call failed');
      this.#postNow({ t: 'files', rid, error: { code: coded.code, message: coded.message } });
    }
  }

  /** Closes every room (participants get `bye`, phones BYE) and the connections that have not joined. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The participants' rooms tell them to rejoin; a connection that has not joined hears why it ends.
      for (const { connection } of this.#sockets.values())
        if (!connection.member) connection.send({ type: 'bye', reason: 'server shutting down' });
      await this.server.close();
      await this.links.close();
      this.#metrics.close();
      this.#flushSends();
    })();
    return this.#closing;
  }

  readonly #flushSends = (): void => {
    if (this.#sendIds.length === 0) return;
    const message: FromWorker =
      this.#sendIds.length === 1
        ? { t: 'send', id: this.#sendIds[0]!, data: this.#sendData[0]! }
        : { t: 'sends', ids: this.#sendIds, counts: this.#sendCounts, data: this.#sendData };
    this.#sendIds = [];
    this.#sendCounts = [];
    this.#sendData = [];
    this.#post(message);
  };

  #postSend(id: number, data: string): void {
    if (this.#sendIds.length === 0) setImmediate(this.#flushSends);
    this.#sendIds.push(id);
    const last = this.#sendData.length - 1;
    if (last >= 0 && this.#sendData[last] === data) this.#sendCounts[last]!++;
    else {
      this.#sendData.push(data);
      this.#sendCounts.push(1);
    }
  }

  #postNow(message: FromWorker, transfer?: MessagePort[]): void {
    this.#flushSends();
    this.#post(message, transfer);
  }

  /** After a routed join or request has been handled: if it left no room here, the placement can go. */
  #settle(route: Route, done: Promise<unknown>): void {
    this.#routes.set(route.room, route.seq);
    void done.finally(() => {
      if (this.server.host.registry.rooms.has(route.room) || this.#routes.get(route.room) !== route.seq)
        return;
      this.#routes.delete(route.room);
      this.#postNow({ t: 'released', room: route.room, seq: route.seq });
    });
  }

  async #http(rid: number, request: HttpRequest): Promise<void> {
    try {
      const response = await this.server.app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: request.headers as Record<string, string>,
        ...(request.body ? { payload: toBuffer(request.body) } : {}),
        remoteAddress: request.remoteAddress,
      });
      this.#postNow({
        t: 'httpReply',
        rid,
        reply: { status: response.statusCode, headers: response.headers, body: response.rawPayload },
      });
    } catch (error) {
      this.server.log.error({ err: error }, 'routed request failed');
      const body = Buffer.from(
        JSON.stringify({ error: { code: 'INTERNAL_ERROR', message: 'Internal error' } }),
      );
      this.#postNow({
        t: 'httpReply',
        rid,
        reply: { status: 500, headers: { 'content-type': 'application/json' }, body },
      });
    }
  }
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
