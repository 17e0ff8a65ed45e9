/**
 * `npm run soak`: a long call through bad weather. One server (in this process), three publishing bots and
 * three receive-only bots; one publisher and one subscriber sit in a network namespace behind a veth pair
 * (as root), whose link is capped (tc tbf) for 40 s, 90 s and 5 minutes, and two bots get 5 % loss with
 * 100 ms of jitter for a while (test/helpers/impairProxy.ts). Between the phases the network is clean.
 *
 * It fails when, once the network is clean again and the call had its recovery time, any subscriber's
 * frames from any publisher stop advancing for 2 s; when the process's RSS (after a full GC) grows more
 * than 10 % from the memory baseline (see `memoryBaseline`) to the end; or when, after everyone left, a UDP
 * socket or a timer is left behind. It writes bench/results/soak.json (frames, memory, sockets, timers,
 * event-loop delay and load average over time) and prints a summary.
 *
 *   npm run soak -- [--minutes 30] [--out bench/results/soak.json]
 */
import { createHook } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bot } from '../src/bot/Bot.js';
import { buildServer } from '../src/buildServer.js';
import { parseConfig } from '../src/config/config.js';
import { type BotProcess, type BotReport, receivedByName, spawnBots } from '../test/helpers/botProcess.js';
import { type ImpairedPeer, impairPeerConnection } from '../test/helpers/impairProxy.js';
import { createNetnsLink, netnsUnavailable } from '../test/helpers/netns.js';
import { freePort } from '../test/helpers/server.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    out: { type: 'string', default: 'bench/results/soak.json' },
  },
});
const durationMs = Number(values.minutes) * 60_000;
if (!(durationMs > 0)) throw new Error('--minutes must be a positive number');

/** Frames that stop for this long on a clean network fail the soak. */
const STALL_LIMIT_MS = 2000;
/** After a phase ends, the call has this long to come back (ICE restart, or a new join after the window). */
const RECOVERY_MS = 60_000;
const RSS_GROWTH_LIMIT = 0.1;
const WARMUP_MS = Math.min(120_000, durationMs / 6);
const SAMPLE_MS = 250;

type Phase = { name: string; ms: number; kind: 'cap' | 'loss' | 'clean' };
/** In order; a phase that does not fit in what is left of the run (with its recovery) is skipped. */
const PHASES: Phase[] = [
  { name: 'cap 40 s', ms: 40_000, kind: 'cap' },
  { name: 'clean', ms: 90_000, kind: 'clean' },
  { name: '5 % loss, 100 ms jitter', ms: 120_000, kind: 'loss' },
  { name: 'clean', ms: 90_000, kind: 'clean' },
  { name: 'cap 90 s', ms: 90_000, kind: 'cap' },
  { name: 'clean', ms: 90_000, kind: 'clean' },
  { name: 'cap 5 min', ms: 300_000, kind: 'cap' },
];

/**
 * With PORT545_SOAK_TRACE_TIMERS=1, where each live timer was made, so one left behind can be named (it costs
 * a stack trace per timer, which is why it is not on by default).
 */
// The Error is kept, and its stack formatted only for a timer left behind.
const liveTimers = new Map<number, { made: Error; resource: NodeJS.Timeout }>();
if (process.env.PORT545_SOAK_TRACE_TIMERS) {
  createHook({
    init(id, type, _trigger, resource) {
      if (type === 'Timeout')
        liveTimers.set(id, { made: new Error('timer'), resource: resource as NodeJS.Timeout });
    },
    destroy(id) {
      liveTimers.delete(id);
    },
  }).enable();
}

// Memory is compared after a full garbage collection: between two, the heap alone swings by 30 MiB or more
// (a sawtooth of 40-75 MiB used in a 3-minute run), as much as the growth limit allows.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function settledMemory(): NodeJS.MemoryUsage {
  gc();
  return process.memoryUsage();
}
const MiB = (bytes: number) => Math.round(bytes / 2 ** 20);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const count = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;
const t0 = Date.now();
const elapsed = () => Math.round((Date.now() - t0) / 1000);
const say = (text: string) => console.log(`[${String(elapsed()).padStart(5)} s] ${text}`);

const reason = await netnsUnavailable();
if (reason) {
  console.error(`soak: ${reason}`);
  process.exit(2);
}

const link = await createNetnsLink();
// A port free for TCP and UDP: the media on the one UDP port of the same number, as `port545 serve` has it.
const chosenPort = await freePort();
const server = buildServer(
  parseConfig({
    host: link.hostIp,
    port: chosenPort,
    logLevel: process.env.PORT545_SOAK_LOG ?? 'warn',
    rtc: { hostAddresses: ['127.0.0.1', link.hostIp] },
    rooms: { emptyTimeoutMs: 500 },
    // The soak counts leaks of calls, not TLS: plain signaling (--tls off), as behind a proxy.
    tls: { selfSigned: false },
  }),
  0,
);
const port = await server.listen(chosenPort);
const url = `http://${link.hostIp}:${port}`;
await sleep(500);
const baseline = { udp: count('UDPWrap'), timers: count('Timeout') };
const baselineTimers = new Set(liveTimers.keys());

const impaired = new Set<ImpairedPeer>();
const impair = (pc: Parameters<typeof impairPeerConnection>[0]) => impaired.add(impairPeerConnection(pc, {}));
const near: Bot[] = [];
for (const [name, publish, lossy] of [
  ['pub-1', true, false],
  ['pub-2', true, true],
  ['sub-1', false, false],
  ['sub-2', false, true],
] as const) {
  near.push(
    await Bot.start({
      url,
      room: 'soak',
      name,
      video: publish,
      audio: publish,
      hostAddresses: ['127.0.0.1'],
      // As a browser's: retransmissions fill the gaps a loss leaves, in order.
      jitterBufferMs: 400,
      ...(lossy ? { onPeerConnection: impair } : {}),
    }),
  );
}
const far: BotProcess = spawnBots((c, a) => link.spawn(c, a), url, 'soak', link.nsIp, [
  { name: 'pub-3', publish: true },
  { name: 'sub-3', publish: false },
]);
const publishers = ['pub-1', 'pub-2', 'pub-3'];
const subscribers = ['sub-1', 'sub-2', 'sub-3'];
const names = new Map<string, string>();

function frames(): Record<string, number> {
  const report: BotReport = { ...(far.latest ?? {}) };
  for (const bot of near) report[bot.room.displayName] = receivedByName(bot, names);
  const out: Record<string, number> = {};
  for (const s of subscribers) for (const p of publishers) out[`${s}<-${p}`] = report[s]?.[p]?.frames ?? 0;
  return out;
}

interface Sample {
  t: number;
  phase: string;
  rssMiB: number;
  /** What RSS holds: the JavaScript heap, and memory outside it (Buffers, ArrayBuffers, native objects). */
  heapUsedMiB: number;
  externalMiB: number;
  udpSockets: number;
  timers: number;
  /** Once a minute: RSS and heap used right after a full garbage collection (what is really held). */
  rssAfterGcMiB?: number;
  heapAfterGcMiB?: number;
  frames: Record<string, number>;
  /** The longest this process's event loop was held up since the previous sample (ms). */
  loopDelayMaxMs: number;
  /** The machine's 1-minute load average (2 cores, shared). */
  load: number;
}
// A soak that fails because the machine stood still says so: how long the event loop was held up.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const samples: Sample[] = [];
const failures: string[] = [];
let phase = 'warm-up';
/** When frames must be flowing everywhere (the network is clean and recovery time has passed). */
let strictFrom = Number.POSITIVE_INFINITY;
const lastAdvance = new Map<string, { frames: number; at: number }>();
const stalls: { pair: string; ms: number; at: number; phase: string }[] = [];

const sampler = setInterval(() => {
  const now = Date.now();
  const f = frames();
  for (const [pair, n] of Object.entries(f)) {
    const last = lastAdvance.get(pair);
    if (!last || n > last.frames) {
      if (last && now - last.at >= STALL_LIMIT_MS && last.at >= strictFrom)
        stalls.push({ pair, ms: now - last.at, at: elapsed(), phase });
      lastAdvance.set(pair, { frames: n, at: now });
    }
  }
  if (samples.length === 0 || now - t0 - samples[samples.length - 1]!.t >= 5000) {
    const memory = process.memoryUsage();
    const settled = samples.length % 12 === 0 ? settledMemory() : undefined;
    samples.push({
      t: now - t0,
      phase,
      rssMiB: Math.round(memory.rss / 2 ** 20),
      heapUsedMiB: Math.round(memory.heapUsed / 2 ** 20),
      externalMiB: Math.round(memory.external / 2 ** 20),
      ...(settled ? { rssAfterGcMiB: MiB(settled.rss), heapAfterGcMiB: MiB(settled.heapUsed) } : {}),
      udpSockets: count('UDPWrap'),
      timers: count('Timeout'),
      frames: f,
      loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
      load: Number(loadavg()[0]!.toFixed(1)),
    });
    loopDelay.reset();
  }
}, SAMPLE_MS);

/** Waits until every pair's frames advanced since `since`, or fails the phase after RECOVERY_MS. */
async function recovered(what: string): Promise<number> {
  const since = frames();
  const start = Date.now();
  while (Date.now() - start < RECOVERY_MS) {
    const now = frames();
    if (Object.entries(now).every(([k, n]) => n >= (since[k] ?? 0) + 10)) return Date.now() - start;
    await sleep(SAMPLE_MS);
  }
  const stuck = Object.entries(frames())
    .filter(([k, n]) => n < (since[k] ?? 0) + 10)
    .map(([k]) => k);
  failures.push(
    `${what}: no frames ${RECOVERY_MS / 1000} s after the network was clean again: ${stuck.join(', ')}`,
  );
  return Number.NaN;
}

function openStalls(): string[] {
  const now = Date.now();
  return [...lastAdvance]
    .filter(([, v]) => v.at >= strictFrom && now - v.at >= STALL_LIMIT_MS)
    .map(([k, v]) => `${k} (${now - v.at} ms)`);
}

const recoveries: { phase: string; ms: number }[] = [];
say(`server on ${url}; ${link.nsIp} in namespace ${link.name}; ${values.minutes} min`);
const startupMs = await recovered('start');
say(`everyone receives everyone (${startupMs} ms)`);
strictFrom = Date.now();
phase = 'clean';
await sleep(Math.max(0, WARMUP_MS - (Date.now() - t0)));
const warm = settledMemory();
say(`warm-up over: RSS ${MiB(warm.rss)} MiB, heap ${MiB(warm.heapUsed)} MiB (after a full GC)`);
/**
 * What the memory is compared with at the end. RSS keeps the high-water mark of what the process needed:
 * freed Buffers and heap pages stay mapped (malloc arenas, V8's heap reservations), and each kind of bad
 * weather needs some of its own once (queues behind a cap, packets held for jitter, retransmission caches
 * filled, ICE restarts and new joins). So the baseline is taken once each kind of impairment (a cap, loss)
 * has happened and the call has been clean for a phase since; a leak still shows as growth over the
 * remaining phases (in a 30-minute run: a 90 s cap, a 5-minute cap with new joins, and their recoveries,
 * about 20 minutes). A run too short for that compares with the end of the warm-up.
 */
let memoryBaseline = { memory: warm, at: elapsed(), what: 'the end of the warm-up' };
const seen = new Set<Phase['kind']>();

const endAt = t0 + durationMs;
const skipped: string[] = [];
for (const p of PHASES) {
  if (Date.now() + p.ms + RECOVERY_MS > endAt) {
    skipped.push(p.name);
    continue;
  }
  phase = p.name;
  say(`phase: ${p.name}`);
  if (p.kind === 'clean') {
    await sleep(p.ms);
    if (seen.has('cap') && seen.has('loss') && memoryBaseline.what === 'the end of the warm-up') {
      memoryBaseline = {
        memory: settledMemory(),
        at: elapsed(),
        what: 'after a cap, loss and a clean phase',
      };
      say(
        `memory baseline: RSS ${MiB(memoryBaseline.memory.rss)} MiB, heap ${MiB(memoryBaseline.memory.heapUsed)} MiB`,
      );
    }
    continue;
  }
  seen.add(p.kind);
  strictFrom = Number.POSITIVE_INFINITY;
  if (p.kind === 'cap') await link.cap(300, 100);
  for (const peer of impaired) {
    if (p.kind !== 'loss') continue;
    for (const stage of [peer.send, peer.receive]) stage.options = { loss: 0.05, jitterMs: 100 };
  }
  await sleep(p.ms);
  await link.lift();
  for (const peer of impaired) for (const stage of [peer.send, peer.receive]) stage.options = {};
  phase = `after ${p.name}`;
  const ms = await recovered(p.name);
  recoveries.push({ phase: p.name, ms });
  say(`clean again after ${p.name}: frames everywhere after ${ms} ms`);
  strictFrom = Date.now();
}
phase = 'clean';
await sleep(Math.max(0, endAt - Date.now()));
const open = openStalls();
if (open.length) failures.push(`frames stopped at the end: ${open.join(', ')}`);
const end = settledMemory();
const rssStart = memoryBaseline.memory.rss;
const rssEnd = end.rss;
const rssGrowth = rssEnd / rssStart - 1;
if (rssGrowth > RSS_GROWTH_LIMIT)
  failures.push(`RSS grew ${(rssGrowth * 100).toFixed(1)} % (limit ${RSS_GROWTH_LIMIT * 100} %)`);
for (const s of stalls)
  failures.push(`${s.pair}: frames stopped for ${s.ms} ms on a clean network (${s.phase}, at ${s.at} s)`);

say('everyone leaves');
clearInterval(sampler);
loopDelay.disable();
const finalFrames = frames();
for (const bot of near) await bot.stop();
await link.close();
for (const peer of impaired) peer.close();
const deadline = Date.now() + 15_000;
while (server.workers.all[0]!.inThread!.server.host.registry.rooms.size > 0 && Date.now() < deadline)
  await sleep(100);
// A leaving client waits up to 2 s for the server to close its socket (Room.leave): let those timers end.
await sleep(3000);
const left = { udp: count('UDPWrap') - baseline.udp, timers: count('Timeout') - baseline.timers };
if (server.workers.all[0]!.inThread!.server.host.registry.rooms.size > 0)
  failures.push('the room is still open after everyone left');
if (left.udp > 0) failures.push(`${left.udp} UDP socket(s) left behind`);
if (left.timers > 0) failures.push(`${left.timers} timer(s) left behind`);
const leftTimers = [...liveTimers]
  // `_destroyed`: Node's mark of a timer that fired or was cleared (its destroy hook may still be due).
  .filter(([id, { resource }]) => {
    const done = (resource as unknown as { _destroyed?: boolean })._destroyed;
    return !baselineTimers.has(id) && resource.hasRef() && !done;
  })
  .map(([, { made }]) => made.stack ?? '');
for (const stack of leftTimers) console.log(`a timer still set, made at:\n${stack}`);
await server.close();

const result = {
  startedAt: new Date(t0).toISOString(),
  minutes: Number(values.minutes),
  passed: failures.length === 0,
  failures,
  skippedPhases: skipped,
  recoveries,
  /** After a full GC each: at the baseline (see `memoryBaseline`), at the end, and at the end of the warm-up. */
  memory: {
    baseline: memoryBaseline.what,
    baselineAtS: memoryBaseline.at,
    rssMiB: { warmUp: MiB(warm.rss), start: MiB(rssStart), end: MiB(rssEnd), growthPercent: rssGrowth * 100 },
    heapUsedMiB: {
      warmUp: MiB(warm.heapUsed),
      start: MiB(memoryBaseline.memory.heapUsed),
      end: MiB(end.heapUsed),
    },
  },
  /** The longest the event loop was held up at once, and the highest load average seen. */
  loopDelayMaxMs: Math.max(...samples.map((s) => s.loopDelayMaxMs)),
  loadMax: Math.max(...samples.map((s) => s.load)),
  leftBehind: left,
  finalFrames,
  samples,
};
writeFileSync(values.out, `${JSON.stringify(result, null, 1)}\n`);
console.log('');
console.log('| phase | back after (s) |');
console.log('|---|---|');
for (const r of recoveries)
  console.log(`| ${r.phase} | ${Number.isNaN(r.ms) ? 'never' : (r.ms / 1000).toFixed(1)} |`);
console.log('');
console.log(
  `RSS ${MiB(rssStart)} → ${MiB(rssEnd)} MiB from ${memoryBaseline.what} (${rssGrowth >= 0 ? '+' : ''}${(rssGrowth * 100).toFixed(1)} %); ` +
    `left behind: ${left.udp} UDP sockets, ${left.timers} timers; skipped: ${skipped.join(', ') || 'none'}`,
);
console.log(`frames received (subscriber<-publisher): ${JSON.stringify(finalFrames)}`);
console.log(failures.length ? `FAILED:\n- ${failures.join('\n- ')}` : 'PASSED');
console.log(`report: ${values.out}`);
process.exit(failures.length ? 1 : 0);
