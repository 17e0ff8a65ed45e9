/**
 * `npm run bench -- --only udp-mux`: the same forwarding with media on the port range (a UDP socket per
 * peer connection, `--udp-port range`) and on one UDP port (port545's default, src/werift/udpMux.ts), in the
 * same run, each with the rooms on a worker thread (`--workers 1`, the bench's default: the mux's socket
 * is then on the main thread and datagrams cross to the worker, src/werift/udpMuxRelay.ts) and on the
 * main thread (`--workers 0`: the mux's socket on the rooms' own thread). Reported: the server's CPU per
 * forwarded packet of each, and mux / range.
 */
import { createSocket } from 'node:dgram';
import type { StepRow } from './lib/report.js';
import { round } from './lib/stats.js';

/** The livestream's steps (subscribers of one publisher) the comparison runs. */
export const UDP_MUX_STEPS = [50, 100, 200];
export const UDP_MUX_QUICK_STEPS = [20];

/** A UDP port free on loopback now, for the mux (never 545 or 5450). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Rounds of the range and the mux with a worker, taken in turn: a machine that drifts weighs on both. */
export const UDP_MUX_ROUNDS = 2;

/**
 * The passes in the order they run: `port545 serve` flags of each, by name. The range and the mux with a
 * worker (the comparison the target is about) in UDP_MUX_ROUNDS alternating rounds, then once each on
 * the main thread.
 */
export function udpMuxPasses(
  udpPort: number,
  rounds = UDP_MUX_ROUNDS,
): { name: string; serveArgs: string[] }[] {
  const passes: { name: string; serveArgs: string[] }[] = [];
  for (let round = 0; round < rounds; round++)
    passes.push(
      { name: 'range', serveArgs: ['--workers', '1', '--udp-port', 'range'] },
      { name: 'mux', serveArgs: ['--workers', '1', '--udp-port', String(udpPort)] },
    );
  passes.push(
    { name: 'range-w0', serveArgs: ['--workers', '0', '--udp-port', 'range'] },
    { name: 'mux-w0', serveArgs: ['--workers', '0', '--udp-port', String(udpPort)] },
  );
  return passes;
}

/**
 * One pass's rows from its rounds: at each step the mean CPU per forwarded packet of all its rounds (a
 * round whose p99 missed still measured its CPU; counting only the rounds that held would compare one
 * system's cheaper rounds with the other's all) and held when a round held it; each round's own figures
 * are in the JSON. The rest from the first round.
 */
export function combineRounds(rounds: StepRow[][]): StepRow[] {
  const [first = []] = rounds;
  return first.map((row) => {
    const same = rounds.map((r) => r.find((x) => x.step === row.step)).filter((x) => x !== undefined);
    const cpu = same.map((x) => x.cpuMsPer10k);
    return {
      ...row,
      held: same.some((x) => x.held),
      cpuMsPer10k: round(cpu.reduce((a, b) => a + b, 0) / cpu.length, 1),
    };
  });
}

/** CPU per forwarded packet of each pass at each step, and mux over range where both held the step. */
export function udpMuxSummary(rows: Record<string, StepRow[]>): Record<string, unknown> {
  const at = (name: string, step: number) => rows[name]?.find((r) => r.step === step);
  const steps = [...new Set(Object.values(rows).flatMap((list) => list.map((r) => r.step)))].sort(
    (a, b) => a - b,
  );
  const perStep = steps.map((step) => {
    const cpu = (name: string) => at(name, step)?.cpuMsPer10k ?? null;
    const ratio = (mux: string, range: string) => {
      const m = at(mux, step);
      const r = at(range, step);
      return m && r && m.held && r.held ? round(m.cpuMsPer10k / r.cpuMsPer10k, 3) : null;
    };
    return {
      step,
      forwardedPps: at('range', step)?.forwardedPps ?? null,
      cpuMsPer10k: { range: cpu('range'), mux: cpu('mux'), rangeW0: cpu('range-w0'), muxW0: cpu('mux-w0') },
      muxOverRange: ratio('mux', 'range'),
      muxOverRangeW0: ratio('mux-w0', 'range-w0'),
      held: Object.fromEntries(Object.keys(rows).map((name) => [name, at(name, step)?.held ?? null])),
    };
  });
  return { steps: perStep };
}
