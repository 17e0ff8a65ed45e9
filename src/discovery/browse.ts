import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIPv4 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Bonjour, type Service } from 'bonjour-service';
import { z } from 'zod';
import { SERVICE_TYPE } from './mdns.js';

/** A port545 server that answered on the local network. */
export interface FoundServer {
  /** Its DNS-SD instance name ("port545 on <hostname>"). */
  name: string;
  /** The address it answered from (IPv4 where it has one). */
  address: string;
  port: number;
  /** Where a person opens it. */
  url: string;
  version?: string;
  mode?: string;
  tls: boolean;
  /** With TLS: the SHA-256 fingerprint its TXT record gives for its certificate (hex, no colons). */
  fingerprint?: string;
  /** The rooms listed there, by its TXT record (the directory may show fewer in secured mode). */
  listedRooms: number;
  /** The rooms from its GET /directory, when asked and it answered. */
  rooms?: DirectoryRoom[];
  /** Why the directory could not be read. */
  directoryError?: string;
}

const directoryRoom = z.object({
  name: z.string().max(200),
  topic: z.string().max(500).optional(),
  people: z.number().int().min(0),
  locked: z.boolean(),
  passwordProtected: z.boolean(),
});
export type DirectoryRoom = z.infer<typeof directoryRoom>;
const directoryReply = z.object({ rooms: z.array(directoryRoom).max(1000) });

/** The most bytes of one /directory reply that are read. */
const MAX_DIRECTORY_BYTES = 1024 * 1024;
/** How often the question is asked again while browsing (a multicast packet can be lost). */
const QUERY_EVERY_MS = 1000;

function txtOf(service: Service): Record<string, string> {
  const txt = service.txt as Record<string, unknown> | undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(txt ?? {}))
    if (typeof v === 'string') out[k] = v;
    else if (Buffer.isBuffer(v)) out[k] = v.toString('utf8');
  return out;
}

function foundServer(service: Service): FoundServer | undefined {
  const referer = service.referer?.address;
  const address =
    referer && isIPv4(referer) ? referer : (service.addresses?.find((a) => isIPv4(a)) ?? referer);
  if (!address || !Number.isInteger(service.port) || service.port <= 0 || service.port > 65535)
    return undefined;
  const txt = txtOf(service);
  const tls = txt.tls === '1';
  const host = address.includes(':') ? `[${address}]` : address;
  const rooms = Number(txt.rooms);
  return {
    name: service.name,
    address,
    port: service.port,
    url: `${tls ? 'https' : 'http'}://${host}:${service.port}/`,
    ...(txt.version ? { version: txt.version } : {}),
    ...(txt.mode ? { mode: txt.mode } : {}),
    tls,
    listedRooms: Number.isInteger(rooms) && rooms >= 0 ? rooms : 0,
    ...(tls && txt.fp && /^[0-9a-f]{64}$/.test(txt.fp) ? { fingerprint: txt.fp } : {}),
  };
}

/**
 * Asks the local network for port545 servers for `timeoutMs` and resolves with every one that answered
 * (one entry per instance name), then, unless `rooms` is false, reads each one's directory.
 */
export async function browse(options: {
  timeoutMs: number;
  rooms?: boolean;
  onError?: (error: Error) => void;
}): Promise<FoundServer[]> {
  const bonjour = new Bonjour({}, (error: Error) => options.onError?.(error));
  const found = new Map<string, Service>();
  const browser = bonjour.find({ type: SERVICE_TYPE, protocol: 'tcp' }, (service) =>
    found.set(service.fqdn, service),
  );
  browser.on('down', (service) => found.delete(service.fqdn));
  const again = setInterval(() => browser.update(), QUERY_EVERY_MS);
  await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  clearInterval(again);
  browser.stop();
  await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  const servers = [...found.values()]
    .map(foundServer)
    .filter((s): s is FoundServer => s !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (options.rooms === false) return servers;
  await Promise.all(
    servers.map(async (server) => {
      try {
        server.rooms = await readDirectory(server);
      } catch (error) {
        server.directoryError = (error as Error).message;
      }
    }),
  );
  return servers;
}

/**
 * GET /directory of a found server. Over TLS with a fingerprint in its TXT record the certificate must
 * have that fingerprint (a LAN server's certificate is often self-signed); without one it must verify.
 */
function readDirectory(server: FoundServer): Promise<DirectoryRoom[]> {
  const url = new URL('directory', server.url);
  const pinned = server.fingerprint;
  return new Promise((resolve, reject) => {
    const options = { timeout: 3000, headers: { accept: 'application/json' } };
    const req = server.tls
      ? httpsRequest(url, { ...options, ...(pinned ? { rejectUnauthorized: false } : {}) })
      : httpRequest(url, options);
    if (server.tls && pinned)
      req.on('socket', (socket) =>
        socket.once('secureConnect', () => {
          const cert = (socket as TLSSocket).getPeerCertificate();
          const got = cert.fingerprint256?.replaceAll(':', '').toLowerCase();
          if (got !== pinned)
            req.destroy(new Error('its certificate is not the one it advertised (fingerprint differs)'));
        }),
      );
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET /directory answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_DIRECTORY_BYTES) req.destroy(new Error('GET /directory answered too much'));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve(directoryReply.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))).rooms);
        } catch {
          reject(new Error('GET /directory did not answer a room list'));
        }
      });
    });
    req.end();
  });
}
