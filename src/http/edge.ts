import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../auth/authorizeJoin.js';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';
import { type Config, resolveTls } from '../config/config.js';

/**
 * What the server checks where a request first arrives, before it is routed (with worker threads, on
 * the main thread, the one that sees the client's address): request rates on the admin API, WHIP and
 * WHEP; the rate of new WebSockets; the Origin of a WebSocket's page; HSTS.
 */

const MINUTE_MS = 60_000;

/** Which limit a request path falls under, if any. */
function areaOf(url: string): 'admin' | 'gateway' | undefined {
  // The metrics are read with the API key, and counted with the admin API.
  if (/^\/(api\/v1|metrics)(\/|\?|$)/.test(url)) return 'admin';
  // A room's doors: WHIP, WHEP, and the status the pre-join screen asks for.
  if (/^\/(whip|whep|rooms)(\/|\?|$)/.test(url)) return 'gateway';
  return undefined;
}

/** A bearer credential as a rate-limit key: a hash, so the secret itself is never kept in the store. */
const tokenKey = (authorization: string | undefined): string | undefined => {
  const token = bearerToken(authorization);
  return token ? createHash('sha256').update(token).digest('base64url') : undefined;
};

/**
 * Per-address and per-bearer-token request limits (@fastify/rate-limit's store, fixed one-minute
 * windows) on `/api/v1`, `/whip`, `/whep` and `/rooms/<room>/status`. A request over either limit is
 * answered 429 RATE_LIMITED with Retry-After (RFC 9110 §10.2.3) in seconds.
 */
export function registerRateLimits(
  app: FastifyInstance,
  config: Config,
  exempt?: (request: FastifyRequest) => boolean,
): void {
  void app.register(rateLimit, { global: false });
  type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
  let limiters: Map<string, { ip: Limiter; token: Limiter }> | undefined;
  const make = () => {
    const map = new Map<string, { ip: Limiter; token: Limiter }>();
    for (const [name, perMinute] of [
      ['admin', config.limits.adminRequestsPerMinute],
      ['gateway', config.limits.gatewayRequestsPerMinute],
    ] as const) {
      const options = { max: perMinute, timeWindow: MINUTE_MS };
      map.set(name, {
        ip: app.createRateLimit({ ...options, keyGenerator: (r) => `${name} ip ${addressKey(r.ip)}` }),
        token: app.createRateLimit({
          ...options,
          keyGenerator: (r) => `${name} token ${tokenKey(r.headers.authorization)}`,
        }),
      });
    }
    return map;
  };
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // The route that matched, not the raw URL: `/ap%69/v1/…` reaches the admin API too.
    const area = areaOf(request.routeOptions.url ?? request.url);
    // CORS preflights carry no credential and do nothing (RFC 9725 §4.1).
    if (!area || request.method === 'OPTIONS') return;
    // A request another node of the cluster passes on was counted at the node the client reached.
    if (exempt?.(request)) return;
    // The plugin's decorators exist once it has loaded, which is before the first request.
    limiters ??= make();
    const limiter = limiters.get(area)!;
    const checks = [limiter.ip];
    if (tokenKey(request.headers.authorization)) checks.push(limiter.token);
    for (const check of checks) {
      const result = await check(request);
      if (result.isAllowed || !result.isExceeded) continue;
      reply.header('Retry-After', String(Math.max(1, result.ttlInSeconds)));
      throw new CodedError(
        'RATE_LIMITED',
        `Too many requests (at most ${result.max} a minute per ${check === limiter.ip ? 'address' : 'token'}); retry in ${Math.max(1, result.ttlInSeconds)} s`,
      );
    }
  });
}

/**
 * Counts events per key in fixed one-minute windows: new WebSockets per address (each can join once),
 * checked before the upgrade, where there is no Fastify request for the plugin to work on.
 */
export class MinuteCounter {
  readonly #max: number;
  readonly #windows = new Map<string, { count: number; startedAt: number }>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts one event for `key`; returns 0 if it is within the limit, else the seconds until it is. */
  hit(key: string, now = Date.now()): number {
    let w = this.#windows.get(key);
    if (!w || now - w.startedAt >= MINUTE_MS) {
      if (this.#windows.size >= 10_000) this.#prune(now);
      w = { count: 0, startedAt: now };
      this.#windows.set(key, w);
    }
    w.count++;
    return w.count > this.#max ? Math.ceil((w.startedAt + MINUTE_MS - now) / 1000) : 0;
  }

  #prune(now: number): void {
    for (const [key, w] of this.#windows) if (now - w.startedAt >= MINUTE_MS) this.#windows.delete(key);
  }
}

/**
 * Whether a WebSocket upgrade's page may open signaling (RFC 6455 §10.2: the server must check Origin,
 * or any site a visitor opens could talk to this server with the visitor's cookies and address).
 * Allowed: no Origin (not a browser page), the server's own origin (same host and port as the request's
 * Host header), or one listed in `http.allowedOrigins`.
 */
export function originAllowed(request: IncomingMessage, config: Config): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  const host = request.headers.host;
  if (host !== undefined && parsed.host.toLowerCase() === host.toLowerCase()) return true;
  return config.http.allowedOrigins.some((allowed) => new URL(allowed).origin === parsed.origin);
}

/** True when HTTPS replies carry Strict-Transport-Security (see `http.hsts`). */
export function hstsEnabled(config: Config): boolean {
  const tls = resolveTls(config);
  if (tls === 'off') return false;
  return config.http.hsts ?? tls === 'files';
}

/** RFC 6797 §6.1: one year, the usual value; no includeSubDomains (the server speaks for its host only). */
export const HSTS_VALUE = 'max-age=31536000';
