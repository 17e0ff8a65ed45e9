import type { Scenario } from '../scenarios.js';
import { cpuShare, type ProcSample } from './proc.js';
import type { FlowState, Mode, WindowResult } from './protocol.js';
import { round } from './stats.js';

/** A step is held when loss stays under this and p99 latency under HELD_P99_MS. */
export const HELD_LOSS_PERCENT = 1;
export const HELD_P99_MS = 50;
/** Above this share of its core the load process, not the server, may be what limits a step. */
export const GENERATOR_BOUND_CPU = 0.85;

export interface StepRow {
  /** What forwarded: `sfu` (this checkout), `sfu-before` (the --baseline revision) or `relay`. */
  system: string;
  mode: Mode;
  step: number;
  label: string;
  participants: number;
  flowing: number;
  joinSeconds: number;
  /**
   * Server CPU per participant who joined in this step, from the first join until everyone flowed, in ms:
   * the CPU of that phase less what the previous step's forwarding (or the idle server) used in as long.
   */
  joinCpuMsPerJoin: number;
  forwardedPps: number;
  mbps: number;
  serverCpuPercent: number;
  /** Of serverCpuPercent: kernel time (socket calls), and the JavaScript main thread. */
  serverSysPercent: number;
  serverMainThreadPercent: number;
  /** Server CPU (user+sys) per 10 000 forwarded packets, in ms. */
  cpuMsPer10k: number;
  /** Forwarded packets per second of server CPU: the rate one fully used core would carry. */
  pktsPerCoreSecond: number;
  rssMB: number;
  rssPerParticipantMB: number;
  lossPercent: number;
  worstReceiverLossPercent: number;
  p50Ms: number;
  p99Ms: number;
  latencySamples: number;
  corruptSamples: number;
  loadCpuPercent: number;
  loadEventLoopP99Ms: number;
  publishedPps: number;
  keyframeRequests: number;
  held: boolean;
  generatorBound: boolean;
  serverBound: boolean;
  /** The measurement window on the monotonic clock (µs), to cut a CPU profile to it. */
  windowUs: [number, number];
  /** The machine's 1-minute load average at the end of the step: above ~2.2 (server + load) others ran too. */
  loadAverage1m: number;
}

export function summarise(input: {
  scenario: Scenario;
  system: string;
  mode: Mode;
  step: number;
  flow: FlowState;
  window: WindowResult;
  idle: ProcSample;
  s0: ProcSample;
  s1: ProcSample;
  l0: ProcSample;
  l1: ProcSample;
  joinSeconds: number;
  /** Server samples around the join phase, the CPU share before it, and how many joined. */
  join: { before: ProcSample; after: ProcSample; baselineShare: number; joined: number };
  windowUs: [number, number];
  loadAverage1m: number;
  /** Cores the server may use (its worker threads in the workers scenario). */
  serverCores?: number;
}): StepRow {
  const { scenario, mode, step, flow, window: w, idle, s0, s1, l0, l1 } = input;
  const participants = scenario.participants(step);
  const pps = w.packets / w.seconds;
  const cpuSeconds = s1.cpuSeconds - s0.cpuSeconds;
  const serverCpu = cpuShare(s0, s1);
  const loadCpu = cpuShare(l0, l1);
  const loss = w.expected > 0 ? Math.max(0, 1 - w.packets / w.expected) * 100 : 100;
  // NaN crosses Node IPC (JSON) as null: a window without latency samples.
  const num = (v: number | null) => (typeof v === 'number' ? v : Number.NaN);
  const p50 = num(w.latency.p50);
  const p99 = num(w.latency.p99);
  const held =
    loss < HELD_LOSS_PERCENT && p99 < HELD_P99_MS && flow.flowing === participants && w.corrupt === 0;
  return {
    system: input.system,
    mode,
    step,
    label: scenario.stepLabel(step),
    participants,
    flowing: flow.flowing,
    joinSeconds: round(input.joinSeconds, 1),
    joinCpuMsPerJoin: joinCpuMs(input.join),
    forwardedPps: Math.round(pps),
    mbps: round((w.bytes * 8) / w.seconds / 1e6, 1),
    serverCpuPercent: round(serverCpu * 100, 1),
    serverSysPercent: round(((s1.sysSeconds - s0.sysSeconds) / ((s1.atMs - s0.atMs) / 1000)) * 100, 1),
    serverMainThreadPercent: round(
      ((s1.mainThreadSeconds - s0.mainThreadSeconds) / ((s1.atMs - s0.atMs) / 1000)) * 100,
      1,
    ),
    cpuMsPer10k: w.packets > 0 ? round((cpuSeconds * 1000) / (w.packets / 10_000), 1) : Number.NaN,
    pktsPerCoreSecond: cpuSeconds > 0 ? Math.round(w.packets / cpuSeconds) : Number.NaN,
    rssMB: round(s1.rssBytes / 2 ** 20, 1),
    rssPerParticipantMB: round((s1.rssBytes - idle.rssBytes) / participants / 2 ** 20, 2),
    lossPercent: round(loss, 2),
    worstReceiverLossPercent: round(w.worstLoss * 100, 2),
    p50Ms: round(p50, 2),
    p99Ms: round(p99, 2),
    latencySamples: w.latency.count,
    corruptSamples: w.corrupt,
    loadCpuPercent: round(loadCpu * 100, 1),
    loadEventLoopP99Ms: round(num(w.loadEventLoopP99Ms), 1),
    publishedPps: Math.round(num(w.sentPps)),
    keyframeRequests: w.keyframeRequests,
    held,
    generatorBound: loadCpu > GENERATOR_BOUND_CPU,
    serverBound: serverCpu > 0.95 * (input.serverCores ?? 1),
    windowUs: input.windowUs,
    loadAverage1m: input.loadAverage1m,
  };
}

function joinCpuMs(j: {
  before: ProcSample;
  after: ProcSample;
  baselineShare: number;
  joined: number;
}): number {
  if (j.joined <= 0) return Number.NaN;
  const wall = (j.after.atMs - j.before.atMs) / 1000;
  const extra = j.after.cpuSeconds - j.before.cpuSeconds - j.baselineShare * wall;
  return round(Math.max(0, extra * 1000) / j.joined, 1);
}

const columns: [string, (r: StepRow) => string][] = [
  ['system', (r) => r.system],
  ['step', (r) => r.label],
  ['fwd pkt/s', (r) => String(r.forwardedPps)],
  ['Mbps', (r) => r.mbps.toFixed(1)],
  ['join CPU ms', (r) => (Number.isNaN(r.joinCpuMsPerJoin) ? '-' : r.joinCpuMsPerJoin.toFixed(1))],
  ['srv CPU%', (r) => r.serverCpuPercent.toFixed(0)],
  ['sys%', (r) => r.serverSysPercent.toFixed(0)],
  ['main%', (r) => r.serverMainThreadPercent.toFixed(0)],
  ['CPU ms/10k', (r) => r.cpuMsPer10k.toFixed(0)],
  ['pkt/core-s', (r) => String(r.pktsPerCoreSecond)],
  ['RSS MB', (r) => r.rssMB.toFixed(0)],
  ['MB/part', (r) => r.rssPerParticipantMB.toFixed(2)],
  ['loss%', (r) => r.lossPercent.toFixed(2)],
  ['p50 ms', (r) => r.p50Ms.toFixed(1)],
  ['p99 ms', (r) => r.p99Ms.toFixed(1)],
  ['load CPU%', (r) => r.loadCpuPercent.toFixed(0)],
  ['PLI', (r) => String(r.keyframeRequests)],
  ['loadavg', (r) => r.loadAverage1m.toFixed(1)],
  [
    'verdict',
    (r) =>
      [
        r.held ? 'held' : 'NOT held',
        r.flowing < r.participants ? `${r.participants - r.flowing} not flowing` : '',
        r.corruptSamples ? `${r.corruptSamples} bad samples` : '',
        r.serverBound ? 'server saturated' : '',
        r.generatorBound ? 'GENERATOR-BOUND' : '',
        r.loadEventLoopP99Ms > 20 ? `load event loop p99 ${r.loadEventLoopP99Ms} ms` : '',
      ]
        .filter(Boolean)
        .join(', '),
  ],
];

export function formatStepTable(rows: StepRow[], header: boolean): string {
  const cells = rows.map((r) => columns.map(([, f]) => f(r)));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    `  ${c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}`;
  return [...(header ? [line(columns.map(([h]) => h))] : []), ...cells.map(line)].join('\n');
}
