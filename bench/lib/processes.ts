import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadCommand, LoadReply } from './protocol.js';

/** `taskset -c <core>` when taskset exists and the machine has that core; else nothing. */
export function pinTo(core: number, cpus: number): string[] {
  if (cpus < 2) return [];
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return ['taskset', '-c', String(core)];
  } catch {
    return [];
  }
}

function start(pin: string[], args: string[], ipc: boolean, cwd: string): ChildProcess {
  const [cmd, ...rest] = [...pin, process.execPath, ...args];
  return spawn(cmd!, rest, {
    cwd,
    stdio: ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
}

/** Resolves with the first stdout match of `pattern`, or rejects when the process exits or time runs out. */
function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let ready = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      // After the ready line, the output is dropped (or shown with BENCH_SHOW_OUTPUT=1, e.g. for --trace-gc).
      if (ready) {
        if (process.env.BENCH_SHOW_OUTPUT) process.stderr.write(chunk);
        return;
      }
      text += chunk.toString();
      const m = pattern.exec(text);
      if (m) {
        ready = true;
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}) before it was ready`));
    });
  });
}

export interface Managed {
  pid: number;
  /** Ends the process (SIGINT first, so a CPU profile gets written) and waits for it. */
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ServerProcess extends Managed {
  url: string;
}

/**
 * A config file lifting the per-room and per-address limits: every load participant comes from 127.0.0.1.
 * Only keys the server at `root` knows are written (its config schema is strict, and `--baseline` runs an
 * older server).
 */
function benchConfig(root: string): string {
  const schema = readFileSync(join(root, 'src', 'config', 'config.ts'), 'utf8');
  const config: Record<string, unknown> = { rooms: { maxParticipants: 1000 } };
  const limits: Record<string, number> = {};
  if (schema.includes('connectionsPerIp')) limits.connectionsPerIp = 5000;
  // A burst of hundreds of joins from 127.0.0.1 is the load, not an attack.
  if (schema.includes('wsConnectsPerMinute')) limits.wsConnectsPerMinute = 1_000_000;
  if (schema.includes('gatewayRequestsPerMinute')) {
    limits.gatewayRequestsPerMinute = 1_000_000;
    limits.gatewaySessionsPerIp = 5000;
  }
  if (Object.keys(limits).length > 0) config.limits = limits;
  // One room worker: what `--workers auto` runs per core (the workers scenario passes --workers).
  if (schema.includes('workers:')) config.workers = 1;
  const path = join(mkdtempSync(join(tmpdir(), 'port545-bench-')), 'config.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** The compiled entry point of each checkout's server, built once per run. */
const builtEntries = new Map<string, string | undefined>();

/**
 * Compiles the server of the checkout at `root` into root/dist (what `npm run build` does, without the
 * web client), so that the bench runs what `npm start` runs: from source, tsx's loader hooks alone cost
 * about 1.6 % of a core even when the server is idle (23 against 7 clock ticks in 10 s). Undefined, and
 * the server runs from source with tsx, for a checkout without tsconfig.build.json, when the build fails,
 * or with BENCH_SERVER_FROM_SOURCE=1.
 */
function compiledEntry(root: string): string | undefined {
  if (builtEntries.has(root)) return builtEntries.get(root);
  let entry: string | undefined;
  const config = join(root, 'tsconfig.build.json');
  if (!process.env.BENCH_SERVER_FROM_SOURCE && existsSync(config)) {
    try {
      execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      if (existsSync(join(root, 'dist', 'cli.js'))) entry = join(root, 'dist', 'cli.js');
    } catch (error) {
      console.error(
        `bench: building the server in ${root} failed, it runs from source: ${(error as Error).message}`,
      );
    }
  }
  builtEntries.set(root, entry);
  return entry;
}

/** Starts `port545 serve` on loopback, media on loopback only, on an ephemeral TCP port. */
export async function startServer(
  root: string,
  pin: string[],
  extraNodeArgs: string[] = [],
  serveArgs: string[] = [],
): Promise<ServerProcess> {
  const entry = compiledEntry(root);
  const child = start(
    pin,
    [
      ...extraNodeArgs,
      ...(entry ? [entry] : ['--import', 'tsx', 'src/cli.ts']),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--rtc-host',
      '127.0.0.1',
      '--rtc-min-port',
      '52000',
      '--rtc-max-port',
      '59999',
      '--config',
      benchConfig(root),
      '--log-level',
      'warn',
      ...serveArgs,
    ],
    false,
    root,
  );
  const m = await waitForLine(child, /http:\/\/127\.0\.0\.1:(\d+)\//, 'the port545 server');
  return { pid: child.pid!, url: `http://127.0.0.1:${m[1]}`, stop: () => stopChild(child, 8000) };
}

export interface RelayProcess extends Managed {
  port: number;
  address: string;
}

/** The bare relay on `address` (`prefix`: e.g. `ip netns exec NS` and taskset, which exec in turn). */
export async function startRelay(
  root: string,
  prefix: string[],
  address = '127.0.0.1',
): Promise<RelayProcess> {
  const child = start(prefix, ['--import', 'tsx', 'bench/relay.ts', address], false, root);
  const m = await waitForLine(child, /relay listening on ([\d.]+):(\d+)/, 'the bare relay');
  return { pid: child.pid!, address: m[1]!, port: Number(m[2]), stop: () => stopChild(child, 3000) };
}

export interface LoadProcess extends Managed {
  request<T>(command: LoadCommand, timeoutMs?: number): Promise<T>;
}

export async function startLoad(root: string, pin: string[]): Promise<LoadProcess> {
  // BENCH_LOAD_NODE_ARGS: Node flags for the load process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
  const nodeArgs = (process.env.BENCH_LOAD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = start(pin, [...nodeArgs, '--import', 'tsx', 'bench/load.ts'], true, root);
  child.stdout!.pipe(process.stdout);
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (reply: LoadReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new Error(`load process: ${reply.error}`));
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`the load process exited (code ${code})`));
    pending.clear();
  });
  const request = <T>(command: LoadCommand, timeoutMs = 120_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`load process: no reply to ${command.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, command });
    });
  return {
    pid: child.pid!,
    request,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      await request({ cmd: 'shutdown' }, 5000).catch(() => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
