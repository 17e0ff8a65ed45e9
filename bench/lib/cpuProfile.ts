import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** The parts of V8's .cpuprofile format (written by `node --cpu-prof`) that the summary reads. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
  /** Monotonic clock (CLOCK_MONOTONIC on Linux, µs): the same clock as process.hrtime in any process. */
  startTime: number;
}

/** A span of the monotonic clock, in µs (`process.hrtime.bigint() / 1000n`). */
export interface ClockSpan {
  fromUs: number;
  toUs: number;
}

export interface ProfileItem {
  function: string;
  /** file:line, relative to the repository (node_modules kept in the path). */
  location: string;
  /** Share of the busy (non-idle) time, 0..100. */
  percent: number;
  ms: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  /** Time spent in the function itself. */
  self: ProfileItem[];
  /** Time spent in the function and everything it called. */
  inclusive: ProfileItem[];
}

/** Frames that are always at the bottom of a stack and say nothing about where the time goes. */
const ROOTS = new Set([
  '(root)',
  '(program)',
  '(idle)',
  'processTicksAndRejections',
  'listOnTimeout',
  'processTimers',
]);

/** Summarises a .cpuprofile; with `span`, only the samples taken inside it (e.g. a measurement window). */
export function summariseCpuProfile(path: string, root: string, span?: ClockSpan, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.startsWith('file://') ? relative(root, new URL(url).pathname) : url;
    return `${functionName || '(anonymous)'}\t${file ? `${file}:${lineNumber + 1}` : ''}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (span && (at < span.fromUs || at > span.toUs)) continue;
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const key = keyOf(id);
    self.set(key, (self.get(key) ?? 0) + us);
    const seen = new Set<string>();
    for (let frame: number | undefined = id; frame !== undefined; frame = parent.get(frame)) {
      const k = keyOf(frame);
      if (seen.has(k) || ROOTS.has(byId.get(frame)!.callFrame.functionName)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const items = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => {
        const [fn, location] = key.split('\t');
        return {
          function: fn!,
          location: location!,
          percent: Math.round((us / busyUs) * 1000) / 10,
          ms: Math.round(us / 1000),
        };
      });
  return {
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    self: items(self),
    inclusive: items(inclusive),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [`busy ${summary.busyMs} ms, idle ${summary.idleMs} ms`];
  for (const [title, list] of [
    ['self time', summary.self],
    ['inclusive time', summary.inclusive],
  ] as const) {
    lines.push(`  top by ${title}:`);
    for (const item of list)
      lines.push(`    ${item.percent.toFixed(1).padStart(5)} %  ${item.function}  ${item.location}`);
  }
  return lines.join('\n');
}
