/**
 * `npm run soak:cluster -- [--minutes N]` (default 10): a cluster under churn for a while, to show that
 * nothing in it grows or stalls. A real `redis-server` and three `port545 serve --redis` nodes (the build:
 * `npm run build` first), placement by region. Three publishers stay for the whole run, each in its own
 * room, joined through a node of its own; meanwhile, every two seconds, a viewer or a participant joins a
 * random room through a random node (passed on to the room's node; a viewer's media from the node it
 * reached, over a node link) and leaves 10–30 s later. Every 30 s each node's memory (RSS of its process),
 * open handles, WebSockets, rooms and what crossed its node links are sampled; at the end, with everyone
 * gone, the nodes must be back to their rooms and connections of the start.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Bot } from '../src/bot/Bot.js';
import { type BenchNode, CLUSTER_API_KEY, startCluster } from './cluster.js';

const { values } = parseArgs({ options: { minutes: { type: 'string' } } });
const MINUTES = Number(values.minutes ?? 10);
const ROOMS = ['soak-a', 'soak-b', 'soak-c'];

interface Sample {
  at: number;
  node: string;
  rssMb: number;
  handles: number;
  websockets: number;
  rooms: number;
  relayOut: number;
}

async function metrics(node: BenchNode): Promise<Map<string, number>> {
  const text = await (
    await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${CLUSTER_API_KEY}` } })
  ).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const name = line.slice(0, line.search(/[{ ]/));
    sums.set(name, (sums.get(name) ?? 0) + Number(line.split(' ').pop()));
  }
  return sums;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function sample(nodes: BenchNode[]): Promise<Sample[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const m = await metrics(node);
      return {
        at: Date.now(),
        node: node.id,
        rssMb: Math.round(rssMb(node.run.child.pid!)),
        handles: m.get('port545_nodejs_active_handles_total') ?? 0,
        websockets: m.get('port545_websocket_connections') ?? 0,
        rooms: m.get('port545_rooms') ?? 0,
        relayOut: m.get('port545_cluster_relay_packets_total') ?? 0,
      };
    }),
  );
}

async function main(): Promise<void> {
  const cluster = await startCluster(['a', 'b', 'c']);
  const { nodes } = cluster;
  const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!;
  const bots = new Set<Bot>();
  let joins = 0;
  let failures = 0;
  let stop = false;
  try {
    const publishers = await Promise.all(
      ROOMS.map((room, i) =>
        Bot.start({ url: nodes[i]!.url, room, name: `pub-${room}`, hostAddresses: ['127.0.0.1'] }),
      ),
    );
    const start = await sample(nodes);
    const samples: Sample[] = [...start];
    console.log('start', JSON.stringify(start));
    const end = Date.now() + MINUTES * 60_000;
    const churn = (async () => {
      while (!stop && Date.now() < end) {
        const viewer = Math.random() < 0.6;
        const node = pick(nodes);
        joins++;
        Bot.start({
          url: node.url,
          room: pick(ROOMS),
          name: `${viewer ? 'viewer' : 'guest'}-${joins}`,
          video: false,
          audio: false,
          ...(viewer ? { viewer: true } : {}),
          hostAddresses: ['127.0.0.1'],
        }).then(
          (bot) => {
            bots.add(bot);
            setTimeout(
              () => {
                bots.delete(bot);
                void bot.stop();
              },
              10_000 + Math.random() * 20_000,
            );
          },
          (error: unknown) => {
            failures++;
            console.error('join failed:', (error as Error).message);
          },
        );
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })();
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 30_000));
      const now = await sample(nodes);
      samples.push(...now);
      console.log(
        `${Math.round((Date.now() - start[0]!.at) / 1000)} s`,
        now
          .map(
            (s) => `${s.node}: ${s.rssMb} MB, ${s.handles} handles, ${s.websockets} ws, relay ${s.relayOut}`,
          )
          .join('; '),
        `bots ${bots.size}`,
      );
    }
    stop = true;
    await churn;
    // Everyone leaves but the publishers; what is left must be what was there at the start, once the
    // idle links between the nodes have closed (30 s after their last viewer).
    for (const bot of bots) await bot.stop();
    bots.clear();
    await new Promise((resolve) => setTimeout(resolve, 40_000));
    const last = await sample(nodes);
    console.log('end', JSON.stringify(last));
    console.log(
      JSON.stringify({
        minutes: MINUTES,
        joins,
        failures,
        rssMb: Object.fromEntries(
          nodes.map((n) => [n.id, samples.filter((s) => s.node === n.id).map((s) => s.rssMb)]),
        ),
        handlesStartEnd: Object.fromEntries(
          nodes.map((n, i) => [n.id, [start[i]!.handles, last[i]!.handles]]),
        ),
        websocketsStartEnd: Object.fromEntries(
          nodes.map((n, i) => [n.id, [start[i]!.websockets, last[i]!.websockets]]),
        ),
      }),
    );
    await Promise.all(publishers.map((p) => p.stop()));
  } finally {
    stop = true;
    await Promise.allSettled([...bots].map((b) => b.stop()));
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
