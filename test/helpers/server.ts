import { type Config, type ConfigInput, parseConfig } from '../../src/config/config.js';
import { buildServer, type Port545Server } from '../../src/http/buildServer.js';
import { buildClusterServer, type ClusterServer } from '../../src/workers/buildClusterServer.js';

/** Every test peer and server stays on loopback. */
export const LOOPBACK = ['127.0.0.1'];

export interface TestServer {
  server: Port545Server;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** A config for tests: an ephemeral loopback port, media on loopback only, rooms that close quickly. */
export function testConfig(overrides: ConfigInput = {}): Config {
  return parseConfig({
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env.PORT545_TEST_LOG ?? 'silent',
    ...overrides,
    rtc: { hostAddresses: LOOPBACK, ...overrides.rtc },
    // Tests share the working directory: rooms keep no state there unless a test gives its own dataDir.
    rooms: { emptyTimeoutMs: 500, stateMaxAgeMs: 0, ...overrides.rooms },
  });
}

/** Starts a server with its rooms on this thread (the test can look inside them). */
export async function startTestServer(overrides: ConfigInput = {}): Promise<TestServer> {
  const server = buildServer(testConfig(overrides));
  const port = await server.listen(0);
  return { server, port, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

export interface ClusterTestServer extends Omit<TestServer, 'server'> {
  server: ClusterServer;
}

/** Starts a server with its rooms on `workers` worker threads. */
export async function startClusterTestServer(
  workers: number,
  overrides: ConfigInput = {},
): Promise<ClusterTestServer> {
  const server = buildClusterServer(testConfig(overrides), workers);
  const port = await server.listen(0);
  return { server, port, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/**
 * The shortest wait for a condition: on a busy 2-core machine (tests, browsers and a CPU hog sharing
 * it) what takes 50 ms when idle can take seconds, and a wait only ends early when it succeeds.
 */
export const MIN_WAIT_MS = 20_000;

/**
 * Polls `check` until it returns true or the deadline passes (`timeoutMs`, never less than
 * MIN_WAIT_MS); then fails with `what`. How quickly something happens is a benchmark's question.
 */
export async function eventually(
  what: string,
  check: () => boolean,
  timeoutMs = MIN_WAIT_MS,
  stepMs = 20,
): Promise<void> {
  timeoutMs = Math.max(timeoutMs, MIN_WAIT_MS);
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

/** Resolves as `promise` does, or fails with `what` if it has not settled after `timeoutMs`. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
