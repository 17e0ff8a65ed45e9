import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** What `npm start` and the `port545` bin run: the build of `src/`. */
const CLI = join(REPO, 'dist', 'cli.js');

/** The newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return time;
}

let checked = false;
/** The CLI tests run the build, as users do; a build older than the sources would test old code. */
function assertBuilt(): void {
  if (checked) return;
  let built: number;
  try {
    built = statSync(CLI).mtimeMs;
  } catch {
    throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  }
  if (newest(join(REPO, 'src')) > built)
    throw new Error(`${CLI} is older than src/: run \`npm run build\` first (npm test does)`);
  checked = true;
}

export interface CliRun {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the output matches `pattern`; rejects on exit or after `timeoutMs` (30 s: a busy machine starts a server slowly). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `port545 <args>` as `npm start` does (`node dist/cli.js`), optionally under a wrapper such as
 * setpriv. The build must be newer than `src/`.
 */
export function runCli(
  args: string[],
  options: { wrapper?: string[]; env?: NodeJS.ProcessEnv } = {},
): CliRun {
  assertBuilt();
  const command = [...(options.wrapper ?? []), process.execPath, CLI, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: REPO,
    // No multicast DNS announcements onto this machine's real network: the LAN discovery test turns it on
    // inside network namespaces of its own.
    env: { ...process.env, PORT545_MDNS: 'off', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null) {
            done();
            reject(new Error(`exited (${child.exitCode}) before printing ${pattern}; output:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
