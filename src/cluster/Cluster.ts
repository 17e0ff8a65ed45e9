import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { availableParallelism } from 'node:os';
import { createClient } from '@redis/client';
import type { Logger } from 'pino';
import { CodedError } from '../common/errors.js';

/**
 * One node of a cluster of port545 servers that share a Redis (`--redis URL`). Redis holds three things,
 * all under `port545:`:
 * - `node:<id>`: each live node, as JSON (its URL, region, load), written every heartbeat with a time to
 *   live: a node that stops beating is gone after `deadAfterMs`. `nodes` is the set of their ids.
 * - `room:<name>`: the id of the node a room lives on, placed by the first node asked for it (least
 *   loaded, or in its own region) and kept alive by the owner's heartbeat while the room is open.
 * - `secret`: made once by the first node, the key every node signs what it passes on to another with
 *   (written back by the nodes if Redis loses it).
 *
 * Nothing else is shared: a room, its people and their media live on one node. Another node that gets a
 * join or request for it passes it on (src/cluster/forward.ts); the media goes to the owner directly.
 */

export interface NodeLoad {
  rooms: number;
  participants: number;
  viewers: number;
  /** The process's CPU over the last heartbeat, as a share of all cores (0 to 1). */
  cpu: number;
}

export interface NodeInfo {
  id: string;
  /** Where clients and the other nodes reach it (http or https, its HTTP port). */
  url: string;
  region: string | undefined;
  /** Shutting down: no new room is placed on it. */
  draining: boolean;
  load: NodeLoad;
  /** Epoch ms of its last heartbeat. */
  at: number;
  startedAt: number;
  /** Its self-signed certificate (PEM), which the other nodes trust for it alone. */
  ca?: string;
  /** The port it answers SIP on (UDP and TCP), at its URL's host; absent without SIP. */
  sip?: number;
}

export type RoomRoute = { local: true } | { local: false; node: NodeInfo };

export interface ClusterOptions {
  redis: string;
  /** A PEM file of the CA that signed Redis's certificate (`rediss://` with a private CA). */
  redisCa?: string | undefined;
  id: string;
  url: string;
  region?: string | undefined;
  placement: 'least-loaded' | 'region';
  heartbeatMs: number;
  deadAfterMs: number;
  /** The certificate this node serves when it is self-signed: the other nodes pin it. */
  ca?: string | undefined;
  /** The port SIP listens on, when it does (phones are sent to a room's node there). */
  sipPort?: () => number | undefined;
  /** This node's rooms, participants and viewers now. */
  load(): Promise<Omit<NodeLoad, 'cpu'>>;
  /** The rooms open on this node now: their placement is renewed with every heartbeat. */
  rooms(): Iterable<string>;
  log: Logger;
}

const PREFIX = 'port545:';
const NODES = `${PREFIX}nodes`;
const SECRET = `${PREFIX}secret`;
const nodeKey = (id: string) => `${PREFIX}node:${id}`;
const roomKey = (room: string) => `${PREFIX}room:${room}`;

/**
 * Places a room: its owner if that node is alive (and not the one suspected dead), else the node asked
 * for. ARGV: the node asked for, the room key's time to live, the node key prefix, the suspect (or '').
 */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[4] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then return owner end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

/** Renews this node's rooms (ARGV: its id, the time to live); a room another node took is left to it. */
const RENEW = `
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if not owner or owner == ARGV[1] then redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else table.insert(lost, key) end
end
return lost`;

/** Forgets a room if this node (ARGV[1]) still owns it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** How long one Redis call may take before the cluster counts as unreachable for it. */
const REDIS_DEADLINE_MS = 2000;
/** A signed request older (or newer) than this is refused: a copied header cannot be replayed later. */
const SIGNATURE_WINDOW_MS = 60_000;
/** Room keys live this many heartbeats past the last renewal. */
const ROOM_TTL_BEATS = 5;

export const CLUSTER_HEADERS = {
  node: 'x-port545-node',
  auth: 'x-port545-auth',
  forwardedFor: 'x-port545-forwarded-for',
  /** Asks a node for its own rooms only (the asking node gathers the cluster's). */
  scope: 'x-port545-scope',
} as const;

export class Cluster {
  readonly id: string;
  /** Where clients and the other nodes reach this node. */
  readonly url: string;
  readonly #options: ClusterOptions;
  readonly #client;
  readonly #log: Logger;
  #secret: Buffer | undefined;
  readonly #nodes = new Map<string, NodeInfo>();
  /** Rooms this node placed on each node since that node's last heartbeat (its load does not show them yet). */
  readonly #placedSince = new Map<string, { at: number; count: number }>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #draining = false;
  #closed = false;
  #cpu = { usage: process.cpuUsage(), at: performance.now(), share: 0 };
  readonly #startedAt = Date.now();
  #lastNodes = '';
  /** Told the public URLs of the live nodes whenever they change (clients reconnect to another one). */
  onNodes: ((urls: string[]) => void) | undefined;

  constructor(options: ClusterOptions) {
    this.#options = options;
    this.id = options.id;
    this.url = options.url;
    this.#log = options.log.child({ cluster: options.id });
    this.#client = createClient({
      url: options.redis,
      // Commands fail at once while Redis is away (a join is refused with CLUSTER_UNAVAILABLE) rather than
      // wait in a queue; the client reconnects by itself, up to every 2 s.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: REDIS_DEADLINE_MS,
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000),
        ...(options.redisCa ? { ca: readFileSync(options.redisCa) } : {}),
      },
    });
    let down = false;
    this.#client.on('error', (error: Error) => {
      if (down) return;
      down = true;
      this.#log.warn({ err: error }, 'Redis cannot be reached; open rooms go on, new rooms are refused');
    });
    this.#client.on('ready', () => {
      if (down) this.#log.info('Redis is back');
      down = false;
      void this.#beat();
    });
  }

  /** Connects (or goes on trying in the background) and starts the heartbeat. */
  async start(): Promise<void> {
    // The first heartbeat registers the node; a Redis that is not there yet is waited for in the background.
    const registered = this.#client.connect().then(
      () => this.#beat(),
      () => undefined,
    );
    this.#timer = setInterval(() => void this.#beat(), this.#options.heartbeatMs);
    this.#timer.unref();
    let wait: NodeJS.Timeout | undefined;
    const deadline = new Promise((resolve) => {
      wait = setTimeout(resolve, REDIS_DEADLINE_MS);
    });
    await Promise.race([registered, deadline]);
    clearTimeout(wait);
  }

  /** Whether Redis answers now. */
  get available(): boolean {
    return this.#client.isReady && this.#secret !== undefined;
  }

  /** The live nodes as last seen (this one included while it beats). */
  get nodes(): NodeInfo[] {
    return [...this.#nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The live nodes, asked of Redis now (the admin API). */
  async liveNodes(): Promise<NodeInfo[]> {
    await this.#refreshNodes();
    return this.nodes;
  }

  /**
   * The node of `room`, placing the room when it has none (or its node is gone, or is `suspect`: it just
   * refused a connection). Throws CLUSTER_UNAVAILABLE without Redis.
   */
  async route(room: string, suspect?: string): Promise<RoomRoute> {
    if (!this.available) throw new CodedError('CLUSTER_UNAVAILABLE');
    const choice = this.#choose(suspect);
    if (!choice) throw new CodedError('CLUSTER_UNAVAILABLE', 'No node of the cluster takes new rooms now');
    const owner = String(
      await this.#call(
        this.#client.eval(CLAIM, {
          keys: [roomKey(room)],
          arguments: [
            choice.id,
            String(this.#options.heartbeatMs * ROOM_TTL_BEATS),
            `${PREFIX}node:`,
            suspect ?? '',
          ],
        }),
      ),
    );
    if (owner === choice.id) {
      const since = this.#placedSince.get(owner);
      if (since && since.at === choice.at) since.count++;
      else this.#placedSince.set(owner, { at: choice.at, count: 1 });
    }
    return this.#routeTo(owner);
  }

  /** The node `room` is on, without placing it: undefined when it is on none. */
  async lookup(room: string): Promise<RoomRoute | undefined> {
    if (!this.available) throw new CodedError('CLUSTER_UNAVAILABLE');
    const owner = await this.#call(this.#client.get(roomKey(room)));
    if (!owner) return undefined;
    return this.#routeTo(owner).catch(() => undefined);
  }

  async #routeTo(owner: string): Promise<RoomRoute> {
    if (owner === this.id) return { local: true };
    let node = this.#nodes.get(owner);
    if (!node) {
      const raw = await this.#call(this.#client.get(nodeKey(owner)));
      if (!raw) throw new CodedError('CLUSTER_UNAVAILABLE', 'The node of this room is gone; try again');
      node = JSON.parse(raw) as NodeInfo;
      this.#nodes.set(node.id, node);
    }
    return { local: false, node };
  }

  /**
   * Where a phone's call to `room` goes: undefined for this node, else the SIP address of the room's node
   * (placing the room first). CLUSTER_UNAVAILABLE without Redis, or when that node answers no calls.
   */
  async sipTarget(room: string): Promise<{ host: string; port: number } | undefined> {
    const route = await this.route(room);
    if (route.local) return undefined;
    if (!route.node.sip)
      throw new CodedError('CLUSTER_UNAVAILABLE', 'The node of this room does not answer phone calls');
    return { host: new URL(route.node.url).hostname.replace(/^\[|\]$/g, ''), port: route.node.sip };
  }

  /** A room closed here: it is no longer this node's. */
  release(room: string): void {
    if (!this.available) return;
    this.#client
      .eval(RELEASE, { keys: [roomKey(room)], arguments: [this.id] })
      .catch((error: unknown) => this.#log.debug({ err: error, room }, 'could not release a room'));
  }

  /** No new room is placed here from now on (the server is stopping). */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#beat();
  }

  /** Headers that vouch, to another node, for a request passed on from `address`. */
  sign(address: string): Record<string, string> {
    if (!this.#secret) throw new CodedError('CLUSTER_UNAVAILABLE');
    const at = String(Date.now());
    return {
      [CLUSTER_HEADERS.node]: this.id,
      [CLUSTER_HEADERS.forwardedFor]: address,
      [CLUSTER_HEADERS.auth]: `${at}.${this.#mac(this.id, at, address)}`,
    };
  }

  /**
   * The node that passed a request on, and its client's address, when the signature holds; undefined for
   * anything else (a client's own request, a forged or stale signature).
   */
  verify(headers: IncomingHttpHeaders): { node: string; address: string } | undefined {
    const node = headers[CLUSTER_HEADERS.node];
    const address = headers[CLUSTER_HEADERS.forwardedFor];
    const auth = headers[CLUSTER_HEADERS.auth];
    if (typeof node !== 'string' || typeof address !== 'string' || typeof auth !== 'string') return undefined;
    if (!this.#secret || node.length > 64 || address.length > 64) return undefined;
    const [at, mac] = auth.split('.');
    if (!at || !mac || !/^\d{1,15}$/.test(at)) return undefined;
    if (Math.abs(Date.now() - Number(at)) > SIGNATURE_WINDOW_MS) return undefined;
    const want = Buffer.from(this.#mac(node, at, address), 'hex');
    const got = Buffer.from(mac, 'hex');
    return got.length === want.length && timingSafeEqual(got, want) ? { node, address } : undefined;
  }

  #mac(node: string, at: string, address: string): string {
    return createHmac('sha256', this.#secret!).update(`${node}\n${at}\n${address}`).digest('hex');
  }

  /** The node a new room goes to: the least loaded live node that takes rooms (in this region first). */
  #choose(suspect: string | undefined): NodeInfo | undefined {
    const now = Date.now();
    let candidates = [...this.#nodes.values()].filter(
      (n) => !n.draining && n.id !== suspect && now - n.at < this.#options.deadAfterMs,
    );
    if (this.#options.placement === 'region') {
      const mine = candidates.filter((n) => n.region === this.#options.region);
      if (mine.length > 0) candidates = mine;
    }
    let best: NodeInfo | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const node of candidates) {
      const score = this.#score(node);
      if (score < bestScore || (score === bestScore && node.id === this.id)) {
        best = node;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * A node's load as one number: its participants, a viewer as a tenth of one, a room as five (a room
   * grows), the rooms placed on it since its last heartbeat, and a busy CPU (past 80 %) as a hundred more
   * per tenth.
   */
  #score(node: NodeInfo): number {
    const since = this.#placedSince.get(node.id);
    const placed = since && since.at === node.at ? since.count : 0;
    const { load } = node;
    return (
      load.participants + load.viewers / 10 + 5 * (load.rooms + placed) + Math.max(0, load.cpu - 0.8) * 1000
    );
  }

  /** Registers this node with its load, renews its rooms and reads the other nodes. */
  #beat(): Promise<void> {
    if (this.#closed || !this.#client.isReady) return Promise.resolve();
    this.#beating ??= this.#beatOnce()
      .catch((error: unknown) => this.#log.debug({ err: error }, 'heartbeat failed'))
      .finally(() => {
        this.#beating = undefined;
      });
    return this.#beating;
  }

  async #beatOnce(): Promise<void> {
    // The secret is written back whenever Redis lost it (restarted empty): a node that starts after that
    // would otherwise make a new one, and its signatures and the others' would not match. The first
    // written wins and every node takes the one Redis has.
    const offered = this.#secret?.toString('hex') ?? randomBytes(32).toString('hex');
    await this.#call(this.#client.set(SECRET, offered, { condition: 'NX' }));
    const secret = await this.#call(this.#client.get(SECRET));
    if (secret && secret !== this.#secret?.toString('hex')) this.#secret = Buffer.from(secret, 'hex');
    const info: NodeInfo = {
      id: this.id,
      url: this.#options.url,
      region: this.#options.region,
      draining: this.#draining,
      load: { ...(await this.#options.load()), cpu: this.#cpuShare() },
      at: Date.now(),
      startedAt: this.#startedAt,
      ...(this.#options.ca ? { ca: this.#options.ca } : {}),
      ...(this.#options.sipPort?.() ? { sip: this.#options.sipPort() } : {}),
    };
    await this.#call(
      this.#client
        .multi()
        .set(nodeKey(this.id), JSON.stringify(info), {
          expiration: { type: 'PX', value: this.#options.deadAfterMs },
        })
        .sAdd(NODES, this.id)
        .exec(),
    );
    const rooms = [...this.#options.rooms()].map(roomKey);
    for (let i = 0; i < rooms.length; i += 500) {
      const lost = (await this.#call(
        this.#client.eval(RENEW, {
          keys: rooms.slice(i, i + 500),
          arguments: [this.id, String(this.#options.heartbeatMs * ROOM_TTL_BEATS)],
        }),
      )) as string[];
      if (lost.length > 0)
        this.#log.warn({ rooms: lost.length }, 'rooms open here were placed on another node meanwhile');
    }
    await this.#refreshNodes();
  }

  async #refreshNodes(): Promise<void> {
    const ids = await this.#call(this.#client.sMembers(NODES));
    const raw = ids.length > 0 ? await this.#call(this.#client.mGet(ids.map(nodeKey))) : [];
    this.#nodes.clear();
    const gone: string[] = [];
    for (const [i, id] of ids.entries()) {
      const value = raw[i];
      try {
        if (value) this.#nodes.set(id, JSON.parse(value) as NodeInfo);
        else gone.push(id);
      } catch {
        gone.push(id);
      }
    }
    if (gone.length > 0) await this.#call(this.#client.sRem(NODES, gone));
    for (const id of this.#placedSince.keys()) if (!this.#nodes.has(id)) this.#placedSince.delete(id);
    const urls = this.nodes.filter((n) => !n.draining).map((n) => n.url);
    const key = urls.join(' ');
    if (key !== this.#lastNodes) {
      this.#lastNodes = key;
      this.onNodes?.(urls);
    }
  }

  #cpuShare(): number {
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedMs = now - this.#cpu.at;
    if (elapsedMs >= 200) {
      const usedMs = (usage.user - this.#cpu.usage.user + usage.system - this.#cpu.usage.system) / 1000;
      this.#cpu = { usage, at: now, share: Math.min(1, usedMs / elapsedMs / availableParallelism()) };
    }
    return Math.round(this.#cpu.share * 1000) / 1000;
  }

  /** A Redis call that fails with CLUSTER_UNAVAILABLE when Redis does not answer within its deadline. */
  #call<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CodedError('CLUSTER_UNAVAILABLE')), REDIS_DEADLINE_MS);
    });
    return Promise.race([
      promise.catch((error: unknown) => {
        if (error instanceof CodedError) throw error;
        this.#log.debug({ err: error }, 'Redis call failed');
        throw new CodedError('CLUSTER_UNAVAILABLE');
      }),
      deadline,
    ]).finally(() => clearTimeout(timer));
  }

  /** Leaves the cluster: its rooms' placements and its own entry are removed, and Redis is let go. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#beating;
    if (this.#client.isReady) {
      await this.#call(this.#client.multi().del(nodeKey(this.id)).sRem(NODES, this.id).exec()).catch(
        () => undefined,
      );
    }
    this.#client.destroy();
  }
}
