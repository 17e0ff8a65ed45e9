import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { parseAddressPort } from '../common/address.js';
import type { Config } from '../config/config.js';
import type { TlsMaterial } from '../tls/tlsMaterial.js';
import type { ClusterOptions } from './Cluster.js';

/** What the server gives its cluster node besides the config: how to read its load and rooms. */
export interface ClusterHooks {
  load: ClusterOptions['load'];
  rooms: ClusterOptions['rooms'];
  sipPort?: ClusterOptions['sipPort'];
  log: Logger;
}

/**
 * The cluster node's options from the server's config, once its HTTP port is bound: its URL (as given, or
 * its announced or first LAN address with that port and the scheme it serves), its id (as given, or the
 * host name and port) and the certificate the other nodes pin when it is self-signed.
 */
export function clusterOptions(
  config: Config,
  port: number,
  tls: TlsMaterial | undefined,
  hooks: ClusterHooks,
): ClusterOptions {
  const { cluster } = config;
  if (!cluster.redis) throw new Error('clusterOptions needs cluster.redis');
  const scheme = tls ? 'https' : 'http';
  const announced = config.rtc.announcedIp ? parseAddressPort(config.rtc.announcedIp)?.address : undefined;
  const host = announced ?? lanAddress() ?? '127.0.0.1';
  return {
    redis: cluster.redis,
    redisCa: cluster.redisCa,
    id: cluster.nodeId ?? `${hostname()}-${port}`,
    url: (cluster.url ?? `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/$/, ''),
    region: cluster.region,
    placement: cluster.placement,
    heartbeatMs: cluster.heartbeatMs,
    deadAfterMs: cluster.deadAfterMs,
    ca: tls?.selfSigned ? tls.cert.toString('utf8') : undefined,
    ...hooks,
  };
}

function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}
