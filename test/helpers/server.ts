import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { buildServer, type Port545Server } from '../../src/buildServer.js';
import { type Config, type ConfigInput, parseConfig, resolveWorkers } from '../../src/config/config.js';
import type { RoomServer } from '../../src/workers/buildRoomServer.js';

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

/**
 * Starts a server wired as `port545 serve` wires it by default (`workers: auto`, src/serve.ts): rooms on
 * one worker thread per core behind the main thread's HTTP, WebSocket and SIP edge; on one core, the
 * same edge in front of rooms on this thread. A test that looks inside rooms uses `startInThreadServer`.
 */
export async function startTestServer(overrides: ConfigInput = {}): Promise<TestServer> {
  const config = testConfig({ port: await freePort(), ...overrides });
  return listening(buildServer(config, resolveWorkers(config)), config.port);
}

/** A server run as `port545 serve --workers 0`, whose rooms a test can look inside (`rooms.host.registry`). */
export interface InThreadTestServer extends TestServer {
  /** The rooms' side of the server, on the test's thread. */
  rooms: RoomServer;
}

/**
 * Starts a server as `port545 serve --workers 0` runs it: the same edge and messages as with worker
 * threads, the room service on this thread, where a test can look inside its rooms.
 */
export async function startInThreadServer(overrides: ConfigInput = {}): Promise<InThreadTestServer> {
  const config = testConfig({ port: await freePort(), ...overrides });
  const t = await listening(buildServer(config, 0), config.port);
  const service = t.server.workers.all[0]!.inThread!;
  return { ...t, rooms: service.server };
}

/**
 * Listens on `port`; a server that cannot (a bad certificate) is closed, its workers too. A test server
 * listens as `port545 serve` does: its media on one UDP port of the same number as its HTTP port (found
 * free for both by `freePort`), unless the test chose otherwise.
 */
async function listening(server: Port545Server, port: number): Promise<TestServer> {
  try {
    port = await server.listen(port);
  } catch (error) {
    await server.close();
    throw error;
  }
  return { server, port, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** Starts a server with its rooms on `workers` worker threads. */
export async function startClusterTestServer(
  workers: number,
  overrides: ConfigInput = {},
): Promise<TestServer> {
  const config = testConfig({ port: await freePort(), ...overrides });
  return listening(buildServer(config, workers), config.port);
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

/**
 * A free port on loopback for both UDP and TCP: for a server run as its own process, which binds the
 * port it is given (sipp binds both for its own SIP port).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      // Every address, as the server's media port binds.
      udp.bind(port, '0.0.0.0', () => resolve(true));
    });
    await new Promise<void>((resolve) => (ok ? udp.close(() => resolve()) : resolve()));
    if (ok) return port;
  }
}
