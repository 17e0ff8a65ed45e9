import { networkInterfaces } from 'node:os';
import pino from 'pino';
import { buildServer, type Port545Server } from './buildServer.js';
import { isLoopbackHost } from './common/address.js';
import { type Config, FALLBACK_PORT, resolveWorkers } from './config/config.js';
import { Advertiser } from './discovery/mdns.js';
import { RoomStateStore } from './room/RoomStateStore.js';
import { VERSION } from './version.js';

export interface Started {
  server: Port545Server;
  port: number;
  /** Room worker threads (0: rooms on the main thread). */
  workers: number;
  /** Where SIP listens (UDP and TCP), with `--sip`. */
  sipPort: number | undefined;
}

/** Thrown when the server cannot start; the message is for the operator. */
export class StartError extends Error {
  override name = 'StartError';
}

function bindProblem(error: unknown): 'EACCES' | 'EADDRINUSE' | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EADDRINUSE' ? code : undefined;
}

/** Which of the port's sockets could not be bound: the media's UDP one (dgram fails in `bind`) or TCP. */
const protocolOf = (error: unknown) => ((error as NodeJS.ErrnoException).syscall === 'bind' ? 'UDP' : 'TCP');

/**
 * Starts the server on the configured port. When the port was not chosen by the operator and 545 cannot
 * be bound (no privilege, or taken), it falls back to 5450 and says why in one line through `notice`.
 */
export async function startServer(config: Config, notice: (line: string) => void): Promise<Started> {
  const workers = resolveWorkers(config);
  keepRoomStateTidy(config);
  let server = buildServer(config, workers);
  try {
    const port = await server.listen(config.port);
    return { server, port, workers, sipPort: server.sip?.port };
  } catch (error) {
    await server.close();
    const problem = bindProblem(error);
    if (!problem) throw error;
    const what = `${protocolOf(error)} port ${(error as { port?: number }).port ?? config.port}`;
    if (config.portExplicit) {
      throw new StartError(
        problem === 'EACCES'
          ? `cannot bind ${what}: permission denied (ports below 1024 need root or the cap_net_bind_service capability)`
          : `cannot bind ${what}: it is already in use`,
      );
    }
    const why =
      problem === 'EACCES'
        ? 'permission denied; ports below 1024 need root or the cap_net_bind_service capability: sudo setcap cap_net_bind_service=+ep "$(command -v node)"'
        : 'it is already in use';
    notice(
      `port545: cannot bind ${what} (${why}); using ${FALLBACK_PORT} instead, or choose one with --port.`,
    );
    server = buildServer({ ...config, port: FALLBACK_PORT }, workers);
    try {
      const port = await server.listen(FALLBACK_PORT);
      return { server, port, workers, sipPort: server.sip?.port };
    } catch (fallbackError) {
      await server.close();
      if (bindProblem(fallbackError))
        throw new StartError(`cannot bind TCP port ${FALLBACK_PORT} either; choose a free port with --port`);
      throw fallbackError;
    }
  }
}

/** How often saved room state that nobody came back to is looked for and dropped once stale. */
const ROOM_STATE_PRUNE_MS = 10 * 60_000;

/**
 * Drops saved room state that is stale, unreadable or past the room cap: at start, before any room can
 * load it, and every ten minutes for the rooms nobody rejoined after a restart.
 */
function keepRoomStateTidy(config: Config): void {
  if (config.rooms.stateMaxAgeMs <= 0) return;
  const store = new RoomStateStore({
    dataDir: config.dataDir,
    maxAgeMs: config.rooms.stateMaxAgeMs,
    maxRooms: config.rooms.maxRooms,
    log: pino({ level: config.logLevel, base: undefined }),
  });
  store.prune();
  setInterval(() => store.prune(), ROOM_STATE_PRUNE_MS).unref();
}

/**
 * The URLs a person can open: listening on all interfaces, localhost plus every non-internal IPv4
 * address. With TLS the addresses of the LAN are https://, and localhost stays http:// (the port serves
 * plain HTTP to this machine, and a browser gives http://localhost camera and microphone too).
 */
export function urlsFor(host: string, port: number, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const all = host === '::' || host === '0.0.0.0';
  if (!all) return [`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/`];
  const urls = [`http://localhost:${port}/`];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal) urls.push(`${scheme}://${a.address}:${port}/`);
  }
  return urls;
}

/** The start-up lines that say who may join and how the connection is protected. */
export function securityLines(server: Port545Server): string[] {
  const { auth } = server.config;
  const lines =
    auth.mode === 'secured'
      ? ['Access: secured mode: every join needs an access token (port545 token --room R --identity I).']
      : [
          'Access: open mode: anyone who can reach this server and knows a room name can join.',
          '        For a server reachable from the internet, use secured mode (--auth); see docs/SECURITY.md.',
        ];
  lines.push(
    auth.apiKey
      ? 'Admin API: /api/v1 (Authorization: Bearer <PORT545_API_KEY>).'
      : 'Admin API: off (set PORT545_API_KEY and PORT545_API_SECRET to turn it on).',
  );
  return [...lines, ...tlsLines(server)];
}

function tlsLines(server: Port545Server): string[] {
  const tls = server.tls;
  if (!tls) {
    return [
      server.config.tls.selfSigned === false
        ? 'TLS: off (--tls off): plain HTTP for everyone, as behind a proxy that terminates TLS.'
        : 'TLS: off (listening on loopback only).',
      '     Browsers allow camera and microphone only on https:// or http://localhost.',
    ];
  }
  const plain = '     Plain http:// answers this machine only; other machines are sent to https://.';
  if (!tls.selfSigned)
    return [
      `TLS: ${tls.certPath} (${tls.subject}), SHA-256 ${tls.fingerprint256}`,
      '     Renewed files (certbot) are served without a restart.',
      plain,
    ];
  return [
    `TLS: self-signed certificate ${tls.created ? 'made' : 'reused'} (${tls.certPath}).`,
    `     SHA-256 fingerprint ${tls.fingerprint256}`,
    '     On another machine the browser warns before the page opens: Chromium says "Your connection is',
    '     not private" (NET::ERR_CERT_AUTHORITY_INVALID), Firefox "Warning: Potential Security Risk Ahead".',
    "     Compare the certificate's SHA-256 fingerprint the browser shows with the one above; when they",
    '     match, choose Advanced, then Proceed (Firefox: Accept the Risk and Continue). Or import the',
    `     certificate file into that machine's trusted certificates: ${tls.certPath}`,
    plain,
    '     Behind a proxy that terminates TLS, --tls off serves plain HTTP to everyone.',
  ];
}

/** With `--redis`: which node of the cluster this is, where it is reached, and how many nodes there are. */
export function clusterLine(server: Port545Server): string | undefined {
  const { cluster } = server;
  if (!cluster) return undefined;
  // The Redis URL without its password (the log and the terminal are not for secrets).
  const redis = new URL(server.config.cluster.redis!);
  redis.password = '';
  redis.username = '';
  const nodes = cluster.nodes.length;
  return cluster.available
    ? `Cluster: node "${cluster.id}", reached at ${cluster.url}; ${nodes} node${nodes === 1 ? '' : 's'} on ${redis.toString()}.`
    : `Cluster: node "${cluster.id}", reached at ${cluster.url}; Redis ${redis.toString()} cannot be reached yet (new rooms are refused until it answers).`;
}

/**
 * Advertises the server on the LAN (DNS-SD over multicast DNS) unless `--no-mdns` or HTTP listens on
 * loopback only, with the start-up line that says which.
 */
export function advertise(server: Port545Server, port: number): { advertiser?: Advertiser; line: string } {
  const { config } = server;
  if (!config.mdns.enabled) return { line: 'LAN discovery: off (--no-mdns).' };
  if (isLoopbackHost(config.host)) return { line: 'LAN discovery: off (listening on loopback only).' };
  const advertiser = new Advertiser({
    ...(config.mdns.name ? { name: config.mdns.name } : {}),
    port,
    host: config.host,
    version: VERSION,
    mode: config.auth.mode,
    tls: server.tls !== undefined,
    fingerprint256: () => server.tls?.fingerprint256,
    listedRooms: async () => (await server.listedRooms()).length,
    log: server.log.child({ mdns: true }),
  });
  return {
    advertiser,
    line: `LAN discovery: advertised as "${advertiser.name}" (_port545._tcp; port545 browse finds it, --no-mdns turns it off).`,
  };
}
