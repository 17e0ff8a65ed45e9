/**
 * Bots in a child process, which can run in another network namespace (Node cannot move a socket into
 * one). Run as a script, it starts the bots named on its command line and prints, every 500 ms, one JSON
 * line: what each bot has received, by the name of the publisher (ids change when someone joins again).
 * `spawnBots` starts it and keeps the latest line.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RTCPeerConnection } from 'werift';
import type { Bot } from '../../src/bot/Bot.js';
import type { SelectedPair } from '../../src/client/stats.js';

export interface BotSpec {
  name: string;
  publish: boolean;
}

/** Per bot: per publisher name, video frames, packets (all kinds) and audio packets received so far. */
export type BotReport = Record<
  string,
  Record<string, { frames: number; packets: number; audioPackets: number }>
>;

/** How a line of candidate pairs starts (every 2 s with `pairs`), told apart from the reports. */
const PAIRS = 'pairs ';

export interface SpawnBotsOptions {
  /** A PEM file the bots trust besides the system's (a self-signed server's and TURN server's). */
  ca?: string;
  /** Report each bot's selected candidate pairs too (`BotProcess.pairs`). */
  pairs?: boolean;
  /** The bots try ICE over TCP to the server's port too (`BotOptions.iceTcp`), as browsers do. */
  iceTcp?: boolean;
}

/** Sums what `bot` has received, by publisher name (`names` remembers those who left). */
export function receivedByName(bot: Bot, names: Map<string, string>): BotReport[string] {
  for (const p of bot.room.participants.values()) names.set(p.id, p.name);
  const out: BotReport[string] = {};
  for (const r of bot.received.values()) {
    const who = names.get(r.participantId) ?? r.participantId;
    const entry = out[who] ?? { frames: 0, packets: 0, audioPackets: 0 };
    entry.frames += r.frames;
    entry.packets += r.packets;
    if (r.kind === 'audio') entry.audioPackets += r.packets;
    out[who] = entry;
  }
  return out;
}

export interface BotProcess {
  latest: BotReport | undefined;
  /** Per bot, the candidate pair each of its peer connections uses (with `pairs`), as last reported. */
  pairs: Record<string, SelectedPair[]>;
  exited: boolean;
  stderr: string;
}

/** Starts `node --import tsx botProcess.ts` with `spawn` (e.g. a namespace's) and follows its reports. */
export function spawnBots(
  spawn: (command: string, args: string[]) => import('node:child_process').ChildProcess,
  url: string,
  room: string,
  hostAddress: string,
  bots: BotSpec[],
  options: SpawnBotsOptions = {},
): BotProcess {
  const script = fileURLToPath(import.meta.url);
  const spec = bots.map((b) => `${b.name}:${b.publish ? 'pub' : 'recv'}`).join(',');
  const child = spawn(process.execPath, [
    '--import',
    'tsx',
    script,
    url,
    room,
    hostAddress,
    spec,
    JSON.stringify(options),
  ]);
  const state: BotProcess = { latest: undefined, pairs: {}, exited: false, stderr: '' };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      if (line.startsWith(PAIRS)) state.pairs = JSON.parse(line.slice(PAIRS.length)) as BotProcess['pairs'];
      else state.latest = JSON.parse(line) as BotReport;
    } catch {
      // not a report
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    state.stderr = (state.stderr + chunk.toString()).slice(-4000);
  });
  child.once('exit', () => {
    state.exited = true;
  });
  return state;
}

async function main(): Promise<void> {
  const { Bot } = await import('../../src/bot/Bot.js');
  const { selectedPair } = await import('../../src/client/stats.js');
  const [url, room, hostAddress, spec, optionsJson] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  const options = JSON.parse(optionsJson ?? '{}') as SpawnBotsOptions;
  const ca = options.ca ? readFileSync(options.ca) : undefined;
  /** Each bot's peer connections, for its candidate pairs. */
  const connections = new Map<string, RTCPeerConnection[]>();
  const bots: Bot[] = [];
  const names = new Map<string, string>();
  let pcs = 0;
  for (const item of spec.split(',')) {
    const [name, mode] = item.split(':') as [string, string];
    const publish = mode === 'pub';
    const own: RTCPeerConnection[] = [];
    connections.set(name, own);
    const onPeerConnection = (pc: RTCPeerConnection) => {
      own.push(pc);
      if (!process.env.BOT_DEBUG) return;
      const n = ++pcs;
      pc.connectionStateChange.subscribe((s) => console.error(Date.now(), name, `pc${n}`, s));
    };
    const bot = await Bot.start({
      url,
      room,
      name,
      video: publish,
      audio: publish,
      hostAddresses: [hostAddress],
      jitterBufferMs: 400,
      onPeerConnection,
      ...(ca ? { ca } : {}),
      ...(options.iceTcp ? { iceTcp: true } : {}),
    });
    if (process.env.BOT_DEBUG) {
      bot.room.on('connectionState', (s) => console.error(Date.now(), name, 'state', s));
      bot.room.on('rejoined', () => console.error(Date.now(), name, 'rejoined'));
    }
    bots.push(bot);
  }
  const timer = setInterval(() => {
    const report: BotReport = {};
    for (const bot of bots) report[bot.room.displayName] = receivedByName(bot, names);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }, 500);
  const pairTimer = options.pairs
    ? setInterval(async () => {
        const pairs: BotProcess['pairs'] = {};
        for (const [name, pcs] of connections) {
          pairs[name] = [];
          for (const pc of pcs) {
            const pair = selectedPair((await pc.getStats()).values());
            if (pair) pairs[name].push(pair);
          }
        }
        process.stdout.write(`${PAIRS}${JSON.stringify(pairs)}\n`);
      }, 2000)
    : undefined;
  const stop = async () => {
    clearInterval(timer);
    clearInterval(pairTimer);
    await Promise.allSettled(bots.map((b) => b.stop()));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
