import { type Config, type ConfigInput, parseConfig, resolveWorkers } from '../../src/config/config.js';
import { buildServer, type Port545Server, type ServerHandle } from '../../src/http/buildServer.js';
import { buildClusterServer, type ClusterServer } from '../../src/workers/buildClusterServer.js';

/** Every test peer and server stays on loopback. */
export const LOOPBACK = ['127.0.0.1'];

/** A server as `port545 serve` builds it: rooms on worker threads, or on this thread with one core. */
export type ServeServer = Port545Server | ClusterServer;

export interface TestServer<S extends ServerHandle = ServeServer> {
  server: S;
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

/**
 * Starts a server wired as `port545 serve` wires it by default (`workers: auto`, src/serve.ts): rooms on
 * one worker thread per core behind the main thread's HTTP, WebSocket and SIP edge; on one core, all on
 * one thread. A test that needs to look inside rooms uses `startInThreadServer`.
 */
export async function startTestServer(overrides: ConfigInput = {}): Promise<TestServer> {
  const config = testConfig(overrides);
  const workers = resolveWorkers(config);
  const server = workers > 0 ? buildClusterServer(config, workers) : buildServer(config);
  return listening(server);
}

/** Starts a server with its rooms on this thread, for a test that looks inside them (`server.host.registry`). */
export function startInThreadServer(overrides: ConfigInput = {}): Promise<InThreadTestServer> {
  return listening(buildServer(testConfig(overrides)));
}

/** Listens on an ephemeral port; a server that cannot (a bad certificate) is closed, its workers too. */
async function listening<S extends ServerHandle>(server: S): Promise<TestServer<S>> {
  let port: number;
  try {
    port = await server.listen(0);
  } catch (error) {
    await server.close();
    throw error;
  }
  return { server, port, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

export type ClusterTestServer = TestServer<ClusterServer>;
export type InThreadTestServer = TestServer<Port545Server>;

/** Starts a server with its rooms on `workers` worker threads. */
export async function startClusterTestServer(
  workers: number,
  overrides: ConfigInput = {},
): Promise<ClusterTestServer> {
  return listening(buildClusterServer(testConfig(overrides), workers));
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
  check: () => boolean | Promise<boolean>,
  timeoutMs = MIN_WAIT_MS,
  stepMs = 20,
): Promise<void> {
  timeoutMs = Math.max(timeoutMs, MIN_WAIT_MS);
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
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
