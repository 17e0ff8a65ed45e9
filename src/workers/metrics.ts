import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import { type KindTotals, type MediaKind, mediaTotals, onForwarding } from '../sfu/mediaTotals.js';
import type { RoomServer } from './buildRoomServer.js';
import type { LinkTotals } from './WorkerLink.js';

/**
 * The server's Prometheus metrics (`GET /metrics`). Each thread has its own registry, labelled with the
 * thread (`main`, `worker-0`, …); the main thread asks every room worker for its metrics as plain data
 * and serves them all together. Labels never carry a room name or a participant id: only kinds, threads
 * and fixed values.
 */

/** The metrics of one thread, as plain data (what a worker posts to the main thread). */
export type MetricsData = MetricObjectWithValues<MetricValue<string>>[];

const KINDS: MediaKind[] = ['audio', 'video'];

/** A thread's registry, and how to stop what it watches (the event-loop delay monitor). */
export interface ThreadMetrics {
  registry: Registry;
  close(): void;
}

/** The event loop's delay and use on this thread, since the last scrape; returns how to stop watching. */
function eventLoopMetrics(registry: Registry): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let used = performance.eventLoopUtilization();
  new Gauge({
    name: 'port545_event_loop_delay_seconds',
    help: 'Event loop delay on this thread since the last scrape, by quantile',
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      // No sample since the last scrape (two scrapes in one turn of the loop): nothing to say.
      if (delay.count === 0) return;
      this.set({ quantile: '0.5' }, delay.percentile(50) / 1e9);
      this.set({ quantile: '0.99' }, delay.percentile(99) / 1e9);
      this.set({ quantile: '1' }, delay.max / 1e9);
      delay.reset();
    },
  });
  new Gauge({
    name: 'port545_event_loop_utilization',
    help: 'Share of time this thread was busy since the last scrape (0 to 1)',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(now, used);
      if (Number.isFinite(utilization)) this.set(utilization);
      used = now;
    },
  });
  return () => delay.disable();
}

type Totals = ReturnType<typeof mediaTotals>;

/**
 * Metrics by media kind read at scrape time from this thread's media totals: counters (totals that only
 * grow) and gauges (what is true now; `undefined` leaves a kind out, e.g. no receiver report yet).
 */
function mediaMetrics(registry: Registry, totals: () => Totals): void {
  const table: [
    type: 'counter' | 'gauge',
    name: string,
    help: string,
    read: (t: KindTotals) => number | undefined,
  ][] = [
    [
      'counter',
      'port545_packets_received_total',
      'RTP packets received on published tracks',
      (t) => t.packetsIn,
    ],
    [
      'counter',
      'port545_bytes_received_total',
      'RTP payload bytes received on published tracks',
      (t) => t.bytesIn,
    ],
    ['counter', 'port545_packets_sent_total', 'RTP packets forwarded to subscribers', (t) => t.packetsOut],
    ['counter', 'port545_bytes_sent_total', 'RTP payload bytes forwarded to subscribers', (t) => t.bytesOut],
    [
      'counter',
      'port545_keyframe_requests_total',
      'Keyframe requests (PLI) sent to publishers',
      (t) => t.keyframeRequests,
    ],
    [
      'counter',
      'port545_pli_received_total',
      'Picture loss indications (PLI) received from subscribers',
      (t) => t.pliReceived,
    ],
    ['counter', 'port545_nack_received_total', 'NACKs received from subscribers', (t) => t.nacksReceived],
    [
      'counter',
      'port545_packets_retransmitted_total',
      'RTP packets sent again for NACKs',
      (t) => t.retransmitted,
    ],
    ['gauge', 'port545_tracks_published', 'Tracks published now', (t) => t.published],
    [
      'gauge',
      'port545_tracks_subscribed',
      'Subscriptions now (a published track sent to one participant)',
      (t) => t.subscribed,
    ],
    [
      'gauge',
      'port545_subscriber_rtt_seconds',
      "Mean round-trip time of the subscriptions, from their receivers' reports",
      (t) => (t.rttCount > 0 ? t.rttSum / t.rttCount : undefined),
    ],
    [
      'gauge',
      'port545_subscriber_fraction_lost',
      "Mean fraction of packets lost (0 to 1) on the way to subscribers, from their receivers' reports",
      (t) => (t.lossCount > 0 ? t.lossSum / t.lossCount : undefined),
    ],
    [
      'gauge',
      'port545_publisher_jitter_seconds',
      'Mean interarrival jitter (RFC 3550) of the published streams as the server receives them',
      (t) => (t.jitterCount > 0 ? t.jitterSum / t.jitterCount : undefined),
    ],
  ];
  /** Each kind's value now, leaving out a kind that has none. */
  const values = (read: (t: KindTotals) => number | undefined) => {
    const now = totals();
    return KINDS.flatMap((kind) => {
      const value = read(now[kind]);
      return value === undefined ? [] : [{ kind, value }];
    });
  };
  for (const [type, name, help, read] of table) {
    const options = { name, help, labelNames: ['kind'], registers: [registry] };
    if (type === 'counter')
      new Counter({
        ...options,
        collect() {
          // The totals only grow: the counter is set to them (reset, then added).
          this.reset();
          for (const { kind, value } of values(read)) this.inc({ kind }, value);
        },
      });
    else
      new Gauge({
        ...options,
        collect() {
          this.reset();
          for (const { kind, value } of values(read)) this.set({ kind }, value);
        },
      });
  }
}

/** The metrics of a room service: its rooms, people, gateways and media. */
export function roomServiceMetrics(
  server: RoomServer,
  index: number,
  links?: () => LinkTotals,
): ThreadMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ thread: `worker-${index}` });
  if (links) {
    new Counter({
      name: 'port545_worker_relay_packets_total',
      help: "RTP packets handed to other workers for their share of a room's viewers (out), and received from them (in)",
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        const t = links();
        this.reset();
        this.inc({ direction: 'out' }, t.packetsOut);
        this.inc({ direction: 'in' }, t.packetsIn);
      },
    });
    new Counter({
      name: 'port545_cluster_relay_packets_total',
      help: 'In a cluster: RTP packets handed to other nodes for the viewers of a room connected there (out, once per node and track), and received from them (in)',
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        const t = links();
        this.reset();
        this.inc({ direction: 'out' }, t.nodePacketsOut);
        this.inc({ direction: 'in' }, t.nodePacketsIn);
      },
    });
    new Gauge({
      name: 'port545_worker_spread_viewers',
      help: "Viewers whose media runs on another worker than their room's: of this worker's rooms (remote), or run here for another's (hosted)",
      labelNames: ['side'],
      registers: [registry],
      collect() {
        const t = links();
        this.set({ side: 'remote' }, t.remote);
        this.set({ side: 'hosted' }, t.hosted);
      },
    });
  }
  const { host, gateways } = server;
  new Gauge({
    name: 'port545_rooms',
    help: 'Rooms open',
    registers: [registry],
    collect() {
      this.set(host.load.rooms);
    },
  });
  new Gauge({
    name: 'port545_participants',
    help: 'Participants in rooms (browsers, WHIP publishers, phones)',
    registers: [registry],
    collect() {
      this.set(host.load.participants);
    },
  });
  new Gauge({
    name: 'port545_viewers',
    help: "Rooms' audiences: receive-only viewers and WHEP players",
    registers: [registry],
    collect() {
      this.set(host.load.viewers);
    },
  });
  new Gauge({
    name: 'port545_gateway_sessions',
    help: 'Open WHIP and WHEP sessions and SIP calls',
    labelNames: ['gateway'],
    registers: [registry],
    collect() {
      this.set({ gateway: 'whip' }, gateways.whip.size);
      this.set({ gateway: 'whep' }, gateways.whep.size);
      this.set({ gateway: 'sip' }, gateways.sip?.calls.size ?? 0);
    },
  });
  // One read of the media totals serves every media metric of a scrape.
  let cached: { at: number; totals: Totals } | undefined;
  const totals = () => {
    const now = performance.now();
    if (!cached || now - cached.at > 100) cached = { at: now, totals: mediaTotals() };
    return cached.totals;
  };
  mediaMetrics(registry, totals);
  const mediaUp = new Histogram({
    name: 'port545_media_up_seconds',
    help: "Time from a participant's join to its first connected peer connection",
    labelNames: ['kind'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  host.onMediaUp = (seconds, kind) => mediaUp.observe({ kind }, seconds);
  const forwarding = new Histogram({
    name: 'port545_forwarding_seconds',
    help: "Time to hand one received packet to every subscriber's socket (one packet in 32 is timed)",
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01],
    registers: [registry],
  });
  const observe = (seconds: number) => forwarding.observe(seconds);
  onForwarding(observe);
  const stopEventLoop = eventLoopMetrics(registry);
  const close = () => {
    stopEventLoop();
    onForwarding(undefined);
  };
  return { registry, close };
}

/**
 * prom-client's process metrics (CPU, memory, handles, GC), collected once per process: each call of
 * `collectDefaultMetrics` starts observers of its own, and a process may build many servers (tests).
 */
let processMetrics: Registry | undefined;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    processMetrics.setDefaultLabels({ thread: 'main' });
    collectDefaultMetrics({ register: processMetrics, prefix: 'port545_' });
  }
  return processMetrics;
}

/** The main thread's metrics: the process and its own event loop and WebSockets. */
export function mainThreadMetrics(
  connections: () => number,
): ThreadMetrics & { json(): Promise<MetricsData> } {
  const registry = new Registry();
  registry.setDefaultLabels({ thread: 'main' });
  new Gauge({
    name: 'port545_websocket_connections',
    help: 'Open signaling WebSockets',
    registers: [registry],
    collect() {
      this.set(connections());
    },
  });
  const close = eventLoopMetrics(registry);
  const json = async () =>
    [...(await processRegistry().getMetricsAsJSON()), ...(await registry.getMetricsAsJSON())] as MetricsData;
  return { registry, close, json };
}

/** Every thread's metrics as one Prometheus text exposition. */
export async function exposition(threads: MetricsData[]): Promise<{ contentType: string; body: string }> {
  const all = AggregatorRegistry.aggregate(threads);
  return { contentType: all.contentType, body: await all.metrics() };
}
