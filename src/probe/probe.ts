import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export const DEFAULT_PROBE_PORT = 545;

export interface ProbeTarget {
  host: string;
  port: number;
}

export interface ProbeOptions {
  /** For the TCP connect, and for each answer waited for. */
  timeoutMs?: number;
  /** How long to listen for a service that speaks first (SSH, SMTP, FTP) before sending anything. */
  bannerMs?: number;
}

export interface TlsInfo {
  fingerprint256: string;
  subject: string;
  issuer: string;
  validTo: string;
  /** The chain verifies against this machine's trusted CAs for the host name. */
  trusted: boolean;
  selfSigned: boolean;
}

export interface HttpAnswer {
  statusLine: string;
  server: string | undefined;
  body: string;
}

export type ProbeResult =
  | { kind: 'nothing'; target: ProbeTarget; reason: string }
  | {
      kind: 'port545';
      target: ProbeTarget;
      address: string;
      version: string;
      protocol: number | undefined;
      /** `open`, `secured`, or undefined for a server too old to say. */
      auth: string | undefined;
      tls: TlsInfo | undefined;
    }
  | {
      kind: 'unknown';
      target: ProbeTarget;
      address: string;
      /** What the service sent, as printable text (non-printable bytes as \xNN); empty if nothing. */
      answer: string;
      http: HttpAnswer | undefined;
      tls: TlsInfo | undefined;
    };

/** `host`, `host:port`, `:port`, `[v6]:port`, a bare IPv6 address or a bare port; default localhost:545. */
export function parseTarget(text: string | undefined): ProbeTarget {
  const t = (text ?? '').trim();
  const port = (p: string): number => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new Error(`"${p}" is not a TCP port (1-65535)`);
    return n;
  };
  if (t === '') return { host: 'localhost', port: DEFAULT_PROBE_PORT };
  if (/^\d+$/.test(t)) return { host: 'localhost', port: port(t) };
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(t);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ? port(bracketed[2]) : DEFAULT_PROBE_PORT };
  if (isIP(t) === 6) return { host: t, port: DEFAULT_PROBE_PORT };
  const i = t.lastIndexOf(':');
  if (i < 0) return { host: t, port: DEFAULT_PROBE_PORT };
  return { host: t.slice(0, i) || 'localhost', port: port(t.slice(i + 1)) };
}

function connectTcp(target: ProbeTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`no answer to a TCP connection within ${timeoutMs} ms (filtered, or the host is down)`),
      );
    }, timeoutMs);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const why: Record<string, string> = {
        ECONNREFUSED: 'connection refused: nothing listens there',
        EHOSTUNREACH: 'host unreachable',
        ENETUNREACH: 'network unreachable',
        ENOTFOUND: `unknown host "${target.host}"`,
        EAI_AGAIN: `cannot resolve "${target.host}"`,
      };
      reject(new Error(why[error.code ?? ''] ?? error.message));
    });
    socket.connect({ host: target.host, port: target.port }, () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

/** Collects what a socket sends until it closes, `limit` bytes arrive, or `ms` pass without the end. */
function collect(socket: Socket | TLSSocket, ms: number, limit = 64 * 1024): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
      socket.off('end', finish);
      socket.off('error', finish);
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) finish();
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.once('close', finish);
    socket.once('end', finish);
    socket.once('error', finish);
  });
}

/** Waits for the first bytes a service sends unasked, or `ms`. */
function banner(socket: Socket, ms: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const done = (data: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      resolve(data);
    };
    const onData = (chunk: Buffer) => done(chunk);
    const timer = setTimeout(() => done(Buffer.alloc(0)), ms);
    socket.on('data', onData);
  });
}

function request(target: ProbeTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return [
    'GET /.well-known/port545 HTTP/1.1',
    `Host: ${host}:${target.port}`,
    'User-Agent: port545-probe',
    'Accept: application/json',
    'Connection: close',
    '',
    '',
  ].join('\r\n');
}

function parseHttp(data: Buffer): HttpAnswer | undefined {
  const text = data.toString('latin1');
  if (!text.startsWith('HTTP/')) return undefined;
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  let server: string | undefined;
  let chunked = false;
  for (const line of lines) {
    const [name = '', ...rest] = line.split(':');
    const value = rest.join(':').trim();
    if (name.toLowerCase() === 'server') server = value;
    if (name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value)) chunked = true;
  }
  let body =
    end < 0 ? '' : data.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8');
  if (chunked) body = body.replace(/(^|\r\n)[0-9a-fA-F]+\r\n/g, '$1').replace(/\r\n/g, '');
  return { statusLine, server, body };
}

/** The service's bytes as one line of text a person can read. */
export function printable(data: Buffer, max = 300): string {
  let out = '';
  for (const byte of data.subarray(0, max)) {
    if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return data.length > max ? `${out}…` : out;
}

interface Port545Info {
  version: string;
  protocol: number | undefined;
  auth: string | undefined;
}

/** True when the server said (in /.well-known/port545) that the port speaks TLS too. */
function saysTls(http: HttpAnswer | undefined): boolean {
  try {
    return (JSON.parse(http?.body ?? '') as { tls?: unknown }).tls === true;
  } catch {
    return false;
  }
}

/** A port545 server with TLS answers plain HTTP from another machine with a redirect to https://. */
function sentToHttps(http: HttpAnswer | undefined): boolean {
  return Boolean(
    http && /^HTTP\/1\.[01] 30[178]/.test(http.statusLine) && http.server?.startsWith('port545/'),
  );
}

/** A port545 server answers /.well-known/port545 with `{"service":"port545","version":…}`. */
function asPort545(http: HttpAnswer | undefined): Port545Info | undefined {
  if (!http || !/^HTTP\/1\.[01] 200/.test(http.statusLine)) return undefined;
  try {
    const body = JSON.parse(http.body) as Record<string, unknown>;
    if (body.service !== 'port545' || typeof body.version !== 'string') return undefined;
    return {
      version: body.version,
      protocol: typeof body.protocol === 'number' ? body.protocol : undefined,
      auth: typeof body.auth === 'string' ? body.auth : undefined,
    };
  } catch {
    return undefined;
  }
}

function tlsHandshake(target: ProbeTarget, address: string, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: address,
      port: target.port,
      ...(isIP(target.host) ? {} : { servername: target.host }),
      // The probe looks at the certificate; it does not trust it. `authorized` still tells whether it would.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no TLS handshake'));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

function tlsInfo(socket: TLSSocket): TlsInfo | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.fingerprint256) return undefined;
  const name = (n: Record<string, string | string[]> | undefined) =>
    Object.entries(n ?? {})
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
      .join(', ');
  const subject = name(cert.subject as unknown as Record<string, string>);
  const issuer = name(cert.issuer as unknown as Record<string, string>);
  return {
    fingerprint256: cert.fingerprint256,
    subject,
    issuer,
    validTo: cert.valid_to,
    trusted: socket.authorized,
    selfSigned: subject === issuer,
  };
}

/**
 * Tells what listens on a TCP port: nothing, a port545 server, or something else. The port545 check is
 * `GET /.well-known/port545`, over plain TCP and then over TLS; a service that speaks first (a banner)
 * is not port545. The probe identifies; it does not authenticate: anything can claim to be port545, so
 * compare the TLS fingerprint and, on this machine, the owning process.
 */
export async function probe(target: ProbeTarget, options: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 3000;
  let socket: Socket;
  try {
    socket = await connectTcp(target, timeoutMs);
  } catch (error) {
    return { kind: 'nothing', target, reason: (error as Error).message };
  }
  const address = socket.remoteAddress ?? target.host;
  let first: Buffer;
  let http: HttpAnswer | undefined;
  try {
    first = await banner(socket, options.bannerMs ?? 400);
    if (first.length === 0) {
      socket.resume();
      socket.write(request(target));
      first = await collect(socket, timeoutMs);
      http = parseHttp(first);
    }
  } finally {
    socket.destroy();
  }
  const plain = asPort545(http);
  if (plain && !saysTls(http)) return { kind: 'port545', target, address, ...plain, tls: undefined };
  // Silence, or bytes that are not HTTP (a TLS alert): try TLS, as a port545 server with a certificate.
  // So too for a port545 server that serves TLS beside plain HTTP for loopback, or sends this machine to
  // https://: its certificate is what the probe shows.
  const tlsBytes = first.length === 0 || first[0] === 0x15 || first[0] === 0x16;
  if ((!http && tlsBytes) || plain || sentToHttps(http)) {
    try {
      const secure = await tlsHandshake(target, address, timeoutMs);
      const info = tlsInfo(secure);
      secure.write(request(target));
      const data = await collect(secure, timeoutMs);
      secure.destroy();
      const httpOverTls = parseHttp(data);
      const found = asPort545(httpOverTls);
      if (found) return { kind: 'port545', target, address, ...found, tls: info };
      return { kind: 'unknown', target, address, answer: printable(data), http: httpOverTls, tls: info };
    } catch {
      // Not TLS either: report what the plain connection showed.
    }
  }
  if (plain) return { kind: 'port545', target, address, ...plain, tls: undefined };
  return { kind: 'unknown', target, address, answer: printable(first), http, tls: undefined };
}

/** True when `host` is this machine: loopback, an unspecified address, or one of its interfaces. */
export async function isLocalHost(host: string): Promise<boolean> {
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return false;
  }
  const local = new Set(['::', '0.0.0.0']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) local.add(a.address);
  return addresses.some((a) => a === '::1' || a.startsWith('127.') || local.has(a));
}
