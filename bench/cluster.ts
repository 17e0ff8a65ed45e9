/**
 * `npm run bench -- --only cluster`: what passing a join on costs in a cluster (docs/CLUSTER.md). A real
 * `redis-server` on a loopback port and two `port545 serve --redis` processes (the build, `dist/cli.js`:
 * run `npm run build` first), node A in region `a` and node B in region `b`, placement by region: the
 * room, opened through A, is placed on A. Bots then join it one at a time, in turn through A itself and
 * through B (which passes the WebSocket on to A; the media goes to A directly). Reported for each: the
 * time to `joined` (signaling) and to the first whole video frame of the room's publisher.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliRun, runCli } from '../test/helpers/cli.js';
import { type TestRedis, testRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/server.js';
import type { JoinTimeResult } from './lib/protocol.js';
import { percentile, round } from './lib/stats.js';

/** Joins in all, half through each node (a quick run: 10). */
export const CLUSTER_JOINS = 80;
export const CLUSTER_QUICK_JOINS = 10;
export const CLUSTER_ROOM = 'cluster-join';
export const CLUSTER_API_KEY = 'bench-cluster-api-key-0123456789';

export interface BenchNode {
  id: string;
  url: string;
  run: CliRun;
}

export interface BenchCluster {
  redis: TestRedis;
  nodes: BenchNode[];
  /** Stops every node and Redis, whatever state they are in, and removes their files. */
  stop(): Promise<void>;
}

/**
 * Redis and one node per region (`a`, `b`, …), each on its own port, media port range and data directory,
 * with the per-address limits lifted (every bot comes from 127.0.0.1). Whatever was started is stopped
 * again when a start fails.
 */
export async function startCluster(regions: string[]): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'port545-bench-cluster-'));
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      workers: 1,
      rooms: { maxParticipants: 1000 },
      limits: { connectionsPerIp: 5000, wsConnectsPerMinute: 1_000_000 },
    }),
  );
  const redis = testRedis(await freePort());
  const nodes: BenchNode[] = [];
  const stop = async () => {
    for (const node of nodes) if (node.run.child.exitCode === null) node.run.child.kill('SIGKILL');
    await Promise.allSettled(nodes.map((n) => n.run.exited));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await redis.start();
    for (const [i, region] of regions.entries()) {
      const id = region.toUpperCase();
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const run = runCli(
        [
          ...['serve', '--host', '127.0.0.1', '--port', String(port), '--config', config],
          ...['--redis', redis.url, '--cluster-url', url, '--node-id', id],
          ...['--region', region, '--placement', 'region'],
          ...['--rtc-host', '127.0.0.1', '--rtc-min-port', String(52000 + i * 2000)],
          ...['--rtc-max-port', String(52000 + i * 2000 + 1999)],
          ...['--data-dir', join(dir, id), '--log-level', 'warn'],
        ],
        {
          env: {
            NODE_ENV: 'production',
            PORT545_API_KEY: CLUSTER_API_KEY,
            PORT545_API_SECRET: `${CLUSTER_API_KEY}${CLUSTER_API_KEY}`,
          },
        },
      );
      nodes.push({ id, url, run });
      await run.waitFor(/is listening/);
    }
    // Every node has seen every other (they place rooms only on nodes they know).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const counts = await Promise.all(nodes.map((n) => liveNodes(n).catch(() => 0)));
      if (counts.every((c) => c === nodes.length)) break;
      if (Date.now() > deadline) throw new Error('the nodes did not all see each other within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { redis, nodes, stop };
}

async function liveNodes(node: BenchNode): Promise<number> {
  const response = await fetch(`${node.url}/api/v1/nodes`, {
    headers: { authorization: `Bearer ${CLUSTER_API_KEY}` },
  });
  return ((await response.json()) as { nodes: unknown[] }).nodes.length;
}

/** The node each open room is on, asked of `node` (which gathers every node's rooms). */
export async function roomNodes(node: BenchNode): Promise<Map<string, string>> {
  const response = await fetch(`${node.url}/api/v1/rooms`, {
    headers: { authorization: `Bearer ${CLUSTER_API_KEY}` },
  });
  const { rooms } = (await response.json()) as { rooms: { name: string; node: string }[] };
  return new Map(rooms.map((r) => [r.name, r.node]));
}

/** Median and p95 of the time to `joined` and to the first frame, per node the joins went through. */
export interface ThroughNode {
  joins: number;
  failures: number;
  joinedP50Ms: number;
  joinedP95Ms: number;
  firstFrameP50Ms: number;
  firstFrameP95Ms: number;
  firstPacketP50Ms: number;
  joinedMs: number[];
  firstFrameMs: number[];
}

export function clusterJoinSummary(
  result: JoinTimeResult,
  nodes: BenchNode[],
): { through: Record<string, ThroughNode>; passOnJoinedMs: number; passOnFirstFrameMs: number } {
  const through: Record<string, ThroughNode> = {};
  for (const [index, node] of nodes.entries()) {
    const mine = (values: number[]) => values.filter((_, i) => result.via?.[i] === index);
    const joined = mine(result.phases.joined);
    const frames = mine(result.joins);
    through[node.id] = {
      joins: frames.length,
      failures: result.failuresVia?.[index] ?? 0,
      joinedP50Ms: percentile(joined, 50),
      joinedP95Ms: percentile(joined, 95),
      firstFrameP50Ms: percentile(frames, 50),
      firstFrameP95Ms: percentile(frames, 95),
      firstPacketP50Ms: percentile(mine(result.phases.firstPacket), 50),
      joinedMs: joined,
      firstFrameMs: frames,
    };
  }
  const a = through[nodes[0]!.id]!;
  const b = through[nodes[1]!.id]!;
  return {
    through,
    /** What going through the other node adds, median against median. */
    passOnJoinedMs: round(b.joinedP50Ms - a.joinedP50Ms, 1),
    passOnFirstFrameMs: round(b.firstFrameP50Ms - a.firstFrameP50Ms, 1),
  };
}
