/**
 * `port545 doctor`: checks, step by step, that a port545 server can be reached and that media flows
 * through it: HTTP(S), the signaling WebSocket, the UDP media path (ICE) and a loopback call between two
 * Node clients in a throwaway room. Each check says what to do when it fails.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
import { Bot } from '../bot/Bot.js';
import { connectNode } from '../client/node.js';
import { signalingUrl } from '../client/Room.js';
import { describeSide, inboundTotals, type SelectedPair, selectedPair } from '../client/stats.js';

export type CheckId = 'http' | 'websocket' | 'udp' | 'media' | 'turn';

export interface CheckResult {
  check: CheckId;
  ok: boolean;
  /** What was found, in one line. */
  detail: string;
  /** What to do about a failure, in plain words (null when the check passed). */
  advice: string | null;
  /** Measurements for scripts (the loopback call's candidate pair, round trip and loss). */
  data?: Record<string, unknown>;
}

export interface DoctorOptions {
  /** Extra trust for an https:// server: the PEM of its (self-signed) certificate. */
  ca?: string | Buffer;
  /** Access token, for a server in secured mode (the loopback call joins a room). */
  token?: string;
  /** How long the media connection may take to come up (default 15 s). */
  iceTimeoutMs?: number;
  /** How long packet loss is measured over (default 3 s). */
  measureMs?: number;
  /** Called with each result as soon as it is known. */
  onResult?: (result: CheckResult) => void;
}

const HTTP_TIMEOUT_MS = 8000;
const WS_TIMEOUT_MS = 8000;
const JOIN_TIMEOUT_MS = 15_000;
const ICE_TIMEOUT_MS = 15_000;
const FIRST_MEDIA_TIMEOUT_MS = 10_000;
const MEASURE_MS = 3000;

/** `localhost:545`, `host` and `https://host/` alike, as an http(s) URL; throws on anything else. */
export function parseServerUrl(input: string | undefined): URL {
  const text = (input ?? 'http://localhost:545/').trim();
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  if (url.protocol === 'wss:') url.protocol = 'https:';
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`"${input}" is not an http(s):// URL of a port545 server`);
  if (!url.hostname) throw new Error(`"${input}" names no host`);
  url.pathname = '/';
  url.search = '';
  url.hash = '';
  return url;
}

const isLoopbackHost = (host: string) =>
  host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GETs `path` of `base` as JSON; rejects with the socket's error (its `code`) or a timeout. */
function getJson(
  base: URL,
  path: string,
  ca: string | Buffer | undefined,
): Promise<{ status: number; body: unknown; location?: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', timeout: HTTP_TIMEOUT_MS, ...(ca ? { ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 64 * 1024) text += chunk;
      });
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const { location } = res.headers;
        resolve({ status: res.statusCode ?? 0, body, ...(location ? { location } : {}) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

const where = (url: URL) =>
  `${url.hostname.includes(':') && !url.hostname.startsWith('[') ? `[${url.hostname}]` : url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;

/** Plain words for a failed TCP/TLS connection to `url`. */
function connectAdvice(url: URL, error: NodeJS.ErrnoException): { detail: string; advice: string } {
  const code = error.code ?? '';
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (code === 'ECONNREFUSED')
    return {
      detail: `nothing listens on ${where(url)} (connection refused)`,
      advice: `Start the server (port545 serve) or check the URL and port: the server prints the URLs to open when it starts, and "port545 probe ${where(url)}" tells what listens there.`,
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      detail: `the name ${url.hostname} does not resolve (${code})`,
      advice: "Check the host name in the URL, or use the server's IP address.",
    };
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return {
      detail: `no answer from ${where(url)} (${code})`,
      advice: `Check that this machine can reach ${url.hostname}, and that a firewall lets TCP port ${port} through to the server.`,
    };
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code))
    return {
      detail: `the server's TLS certificate is not trusted here (${code})`,
      advice: `The server uses a certificate this machine does not trust (self-signed: its default without --tls-cert?). Compare its fingerprint with "port545 probe ${where(url)}" and pass its certificate with --ca FILE (for --tls self-signed: <data dir>/tls/self-signed.crt on the server), or give the server a trusted certificate (--tls-cert).`,
    };
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(error.message))
    return {
      detail: `TLS failed with ${where(url)} (${error.message.split('\n')[0]})`,
      advice: `The server may speak plain HTTP on this port: try http://${where(url)}/ instead of https://.`,
    };
  if (code === 'ECONNRESET' || code === 'HPE_INVALID_CONSTANT')
    return {
      detail: `the connection to ${where(url)} was cut (${code || error.message})`,
      advice: `If the server has TLS (its default beyond loopback), use https://${where(url)}/; otherwise check the URL and port.`,
    };
  return {
    detail: `could not connect to ${where(url)}: ${code || error.message}`,
    advice: 'Check the URL and that the server is running.',
  };
}

/** The server information the HTTP check found. */
export interface ServerInfo {
  version: string;
  auth: string | undefined;
  tls: boolean | undefined;
}

/** HTTP(S): `/healthz` answers `status: ok` and `/.well-known/port545` says port545 and its version. */
export async function checkHttp(
  url: URL,
  options: Pick<DoctorOptions, 'ca'> = {},
): Promise<{ result: CheckResult; info?: ServerInfo }> {
  const fail = (detail: string, advice: string) => ({
    result: { check: 'http' as const, ok: false, detail, advice },
  });
  let known: { status: number; body: unknown; location?: string };
  try {
    known = await getJson(url, '/.well-known/port545', options.ca);
  } catch (error) {
    const { detail, advice } = connectAdvice(url, error as NodeJS.ErrnoException);
    return fail(detail, advice);
  }
  // A port545 server with TLS sends another machine's plain HTTP to https:// (308).
  if (url.protocol === 'http:' && known.status === 308 && known.location?.startsWith('https://'))
    return fail(
      `${where(url)} speaks HTTPS to other machines: plain HTTP was sent to ${known.location}`,
      `Use https://${where(url)}/. For the server's self-signed certificate, compare its fingerprint with "port545 probe ${where(url)}" and pass the certificate with --ca FILE (<data dir>/tls/self-signed.crt on the server).`,
    );
  const body = known.body as
    | { service?: unknown; version?: unknown; auth?: unknown; tls?: unknown }
    | undefined;
  if (known.status !== 200 || body?.service !== 'port545' || typeof body.version !== 'string')
    return fail(
      `${where(url)} answers HTTP (status ${known.status}) but is not a port545 server`,
      `Something else listens there: check the URL and port ("port545 probe ${where(url)}" tells what it is). A proxy in front of port545 must pass every path through to it.`,
    );
  let health: { status: number; body: unknown };
  try {
    health = await getJson(url, '/healthz', options.ca);
  } catch (error) {
    const { detail, advice } = connectAdvice(url, error as NodeJS.ErrnoException);
    return fail(`/healthz: ${detail}`, advice);
  }
  const status = (health.body as { status?: unknown } | undefined)?.status;
  if (health.status !== 200 || status !== 'ok')
    return fail(
      `port545 ${body.version} answers, but /healthz says ${health.status} ${JSON.stringify(status ?? null)}`,
      'The server is unwell: look at its log (it writes to standard error) and restart it.',
    );
  const info: ServerInfo = {
    version: body.version,
    auth: typeof body.auth === 'string' ? body.auth : undefined,
    tls: typeof body.tls === 'boolean' ? body.tls : undefined,
  };
  return {
    result: {
      check: 'http',
      ok: true,
      detail: `port545 ${info.version} at ${url.origin} (${url.protocol === 'https:' ? 'HTTPS' : 'plain HTTP'}${info.auth ? `, ${info.auth} mode` : ''}), /healthz ok`,
      advice: null,
      data: { ...info },
    },
    info,
  };
}

/** WebSocket: the signaling socket at /ws opens and answers a ping; resolves with the round trip. */
export async function checkWebSocket(
  url: URL,
  options: Pick<DoctorOptions, 'ca'> = {},
): Promise<{ result: CheckResult; pingMs?: number }> {
  const wsUrl = signalingUrl(url.toString());
  const ws = new WebSocket(wsUrl, {
    handshakeTimeout: WS_TIMEOUT_MS,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`the server answered the upgrade with HTTP ${res.statusCode}`)),
        );
      }),
      WS_TIMEOUT_MS,
      'opening the WebSocket',
    );
    const started = performance.now();
    await withTimeout(
      new Promise<void>((resolve) => {
        ws.once('pong', () => resolve());
        ws.ping();
      }),
      WS_TIMEOUT_MS,
      'a ping on the WebSocket',
    );
    const pingMs = performance.now() - started;
    return {
      result: {
        check: 'websocket',
        ok: true,
        detail: `${wsUrl} opens; ping round trip ${pingMs.toFixed(1)} ms`,
        advice: null,
        data: { url: wsUrl, pingMs: round(pingMs) },
      },
      pingMs,
    };
  } catch (error) {
    return {
      result: {
        check: 'websocket',
        ok: false,
        detail: `${wsUrl} did not open: ${(error as Error).message}`,
        advice:
          'The web page loads but the signaling WebSocket does not: a reverse proxy or firewall in front of port545 must pass WebSocket upgrades (the Upgrade and Connection headers) on /ws, and must not cut idle connections.',
      },
    };
  } finally {
    ws.terminate();
  }
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export const describePair = (p: SelectedPair) => `${describeSide(p.local)} -> ${describeSide(p.remote)}`;

const connected = (pcs: RTCPeerConnection[]) => pcs.some((pc) => pc.connectionState === 'connected');
const iceConnected = (pcs: RTCPeerConnection[]) =>
  pcs.some((pc) => pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed');

/** The UDP ports the server offered media on (its ICE candidates), for the advice. */
function serverPorts(pcs: RTCPeerConnection[]): number[] {
  const ports = new Set<number>();
  for (const pc of pcs) {
    const sdp = pc.remoteDescription?.sdp ?? '';
    for (const m of sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ/gim)) ports.add(Number(m[1]));
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The UDP media path and a loopback call: two Node clients join a throwaway room, one publishes the test
 * clip, the other receives it through the server. Returns the `udp` and `media` results.
 */
export async function checkLoopbackCall(
  url: URL,
  options: DoctorOptions & { pingMs?: number; secured?: boolean; relayOnly?: boolean } = {},
): Promise<CheckResult[]> {
  const room = `doctor-${randomBytes(5).toString('hex')}`;
  const iceTimeoutMs = options.iceTimeoutMs ?? ICE_TIMEOUT_MS;
  const measureMs = options.measureMs ?? MEASURE_MS;
  // On loopback, only loopback candidates: the server's own test setups offer nothing else there.
  const hostAddresses = isLoopbackHost(url.hostname)
    ? [url.hostname === '[::1]' || url.hostname === '::1' ? '::1' : '127.0.0.1']
    : undefined;
  const senderPcs: RTCPeerConnection[] = [];
  const receiverPcs: RTCPeerConnection[] = [];
  const bots: Bot[] = [];
  let finished = false;
  const start = async (name: string, publish: boolean, pcs: RTCPeerConnection[]) => {
    const started = Bot.start({
      url: url.toString(),
      room,
      name,
      video: publish,
      audio: publish,
      ...(hostAddresses ? { hostAddresses } : {}),
      ...(options.token ? { token: options.token } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      onPeerConnection: (pc) => pcs.push(pc),
      ...(options.relayOnly ? { relayOnly: true } : {}),
    });
    // A join that comes back after its time-out still leaves.
    started.then(
      (bot) => {
        if (finished) void bot.stop().catch(() => {});
        else bots.push(bot);
      },
      () => {},
    );
    const bot = await withTimeout(started, JOIN_TIMEOUT_MS, `joining the room ${room}`);
    return bot;
  };
  const notRun = (check: CheckId, why: string): CheckResult => ({
    check,
    ok: false,
    detail: `not run: ${why}`,
    advice: 'Fix the check above first.',
  });
  try {
    let receiver: Bot;
    let sender: Bot;
    try {
      receiver = await start('doctor (receiver)', false, receiverPcs);
      sender = await start('doctor (sender)', true, senderPcs);
    } catch (error) {
      const message = (error as Error).message;
      const secured = /AUTH|TOKEN|UNAUTHORIZED/i.test(message) || options.secured;
      return [
        {
          check: 'udp',
          ok: false,
          detail: 'not run: the test call could not join a room',
          advice: 'See the loopback call check below.',
        },
        {
          check: 'media',
          ok: false,
          detail: `could not join a test room: ${message}`,
          advice: secured
            ? 'This server is in secured mode: pass an access token that may join any room with --token (make one on the server with: port545 token --room "*" --identity doctor).'
            : 'The server refused the test call: look at its log (standard error) for the reason.',
        },
      ];
    }
    // ICE, then DTLS: both connections (the sender's to the server, the server's to the receiver) up.
    const deadline = Date.now() + iceTimeoutMs;
    while (Date.now() < deadline && !(connected(senderPcs) && connected(receiverPcs))) await sleep(100);
    const all = [...senderPcs, ...receiverPcs];
    if (!(connected(senderPcs) && connected(receiverPcs))) {
      const ports = serverPorts(all);
      const portText = ports.length
        ? ports.join(', ')
        : "the server's media port (the number of its HTTP port unless --udp-port says otherwise)";
      const iceUp = iceConnected(senderPcs) && iceConnected(receiverPcs);
      return [
        iceUp
          ? {
              check: 'udp',
              ok: false,
              detail: `ICE connected but the encrypted media connection (DTLS) did not come up within ${iceTimeoutMs / 1000} s`,
              advice: `Something on the way alters or drops the DTLS handshake on UDP ${portText}: allow UDP both ways between this machine and the server, without a UDP-rewriting proxy.`,
            }
          : {
              check: 'udp',
              ok: false,
              detail: `no UDP path to the server's media ports: ICE did not connect within ${iceTimeoutMs / 1000} s (states: ${all.map((pc) => pc.iceConnectionState).join(', ') || 'no connection'})`,
              advice: `UDP to the server's media ports is blocked: open UDP ${portText}${ports.length > 1 ? ' (or run the server with all media on one UDP port, its default)' : ''}.`,
              data: { serverPorts: ports },
            },
        notRun('media', 'no media path'),
      ];
    }
    const pairNow = async (pcs: RTCPeerConnection[]) => {
      for (const pc of pcs) {
        if (pc.connectionState !== 'connected') continue;
        const pair = selectedPair((await pc.getStats()).values());
        if (pair) return pair;
      }
      return undefined;
    };
    const sendPair = await pairNow(senderPcs);
    const udp: CheckResult = {
      check: 'udp',
      ok: true,
      detail: `media connections up (ICE and DTLS)${sendPair ? `: ${describePair(sendPair)}` : ''}`,
      advice: null,
      ...(sendPair ? { data: { pair: sendPair } } : {}),
    };
    // Media: the receiver gets the clip.
    const mediaDeadline = Date.now() + FIRST_MEDIA_TIMEOUT_MS;
    const packets = () => [...receiver.received.values()].reduce((n, r) => n + r.packets, 0);
    while (Date.now() < mediaDeadline && packets() === 0) await sleep(100);
    if (packets() === 0)
      return [
        udp,
        {
          check: 'media',
          ok: false,
          detail: `the connections are up but no media arrived within ${FIRST_MEDIA_TIMEOUT_MS / 1000} s (${sender.videoPacketsSent} video packets sent)`,
          advice:
            'Media does not make it through the server although the connections are up: a firewall may let the first packets through and then drop the rest, or the server is overloaded. Look at its log.',
        },
      ];
    const receiving = receiverPcs.filter((pc) => pc.connectionState === 'connected');
    const totals = async () => {
      const sum = { received: 0, lost: 0 };
      for (const pc of receiving) {
        const t = inboundTotals((await pc.getStats()).values());
        sum.received += t.received;
        sum.lost += t.lost;
      }
      return sum;
    };
    const before = await totals();
    const packetsBefore = packets();
    await sleep(measureMs);
    const after = await totals();
    const packetsAfter = packets();
    // Packets expected over the window: received plus lost (RFC 3550's extended sequence numbers).
    const received = after.received - before.received || packetsAfter - packetsBefore;
    const lost = Math.max(0, after.lost - before.lost);
    const expected = received + lost;
    const lossPercent = expected > 0 ? (100 * lost) / expected : 0;
    const pair = await pairNow(receiving);
    const rttSeconds = pair?.currentRoundTripTime ?? sendPair?.currentRoundTripTime;
    const rtt =
      rttSeconds !== undefined
        ? { ms: round(rttSeconds * 1000, 2), source: 'ICE (STUN) checks on the media path' }
        : options.pingMs !== undefined
          ? { ms: round(options.pingMs, 2), source: 'signaling WebSocket ping (no media-path measurement)' }
          : undefined;
    const frames = [...receiver.received.values()].reduce((n, r) => n + r.frames, 0);
    const ok = received > 0;
    const media: CheckResult = {
      check: 'media',
      ok,
      detail: [
        `media arrived: ${packetsAfter} packets (${frames} video frames)`,
        `over ${measureMs / 1000} s ${received} received of ${expected} expected, loss ${lossPercent.toFixed(1)}%`,
        pair ? `pair ${describePair(pair)}` : 'pair unknown',
        rtt ? `round trip ${rtt.ms} ms (${rtt.source})` : 'round trip not measured',
      ].join('; '),
      advice: ok
        ? null
        : "Media stopped flowing during the measurement: the path drops UDP after a while (a NAT or firewall with a short UDP timeout). Allow the server's UDP ports both ways.",
      data: {
        room,
        packets: packetsAfter,
        frames,
        window: { ms: measureMs, received, lost, expected, lossPercent: round(lossPercent, 2) },
        pair: pair ?? null,
        rtt: rtt ?? null,
      },
    };
    return [udp, media];
  } finally {
    finished = true;
    await Promise.allSettled(bots.map((bot) => withTimeout(bot.stop(), 5000, 'leaving the test room')));
    for (const pc of [...senderPcs, ...receiverPcs]) await pc.close().catch(() => {});
  }
}

/**
 * The TURN server the server hands out (`--turn-url`), if any: a loopback call that may use nothing but
 * the relay, as on a network that blocks everything else. No TURN server configured passes, and says
 * what that means for people on such networks.
 */
export async function checkTurn(url: URL, options: DoctorOptions = {}): Promise<CheckResult> {
  let urls: string[] = [];
  try {
    const probe = await withTimeout(
      connectNode({
        url: url.toString(),
        room: `doctor-${randomBytes(5).toString('hex')}`,
        name: 'doctor (TURN)',
        ...(options.token ? { token: options.token } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
      }),
      JOIN_TIMEOUT_MS,
      'joining a room to read its TURN server',
    );
    urls = probe.iceServers.flatMap((s) => s.urls);
    await probe.leave().catch(() => {});
  } catch (error) {
    return {
      check: 'turn',
      ok: false,
      detail: `not run: ${(error as Error).message}`,
      advice: 'Fix the checks above first.',
    };
  }
  if (urls.length === 0)
    return {
      check: 'turn',
      ok: true,
      detail: 'no TURN server configured (--turn-url): people on networks that block UDP cannot connect',
      advice: null,
    };
  const [path, media] = await checkLoopbackCall(url, { ...options, relayOnly: true });
  if (path?.ok && media?.ok)
    return {
      check: 'turn',
      ok: true,
      detail: `media went through the TURN server (${urls.join(', ')}): ${media.detail}`,
      advice: null,
      ...(media.data ? { data: media.data } : {}),
    };
  return {
    check: 'turn',
    ok: false,
    detail: `a call through the TURN server (${urls.join(', ')}) failed: ${(media?.ok === false && !media.detail.startsWith('not run') ? media : path)?.detail ?? 'no result'}`,
    advice:
      'The TURN server does not relay for this server: check that coturn runs and is reachable at those URLs, that its static-auth-secret equals PORT545_TURN_SECRET (use-auth-secret), and that its relay ports are open (docs/TURN.md).',
  };
}

/** Runs every check in order; a check that cannot run (the HTTP one failed) is reported not run. */
export async function runDoctor(input: URL, options: DoctorOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  const skip = (check: CheckId, why: string) =>
    report({ check, ok: false, detail: `not run: ${why}`, advice: 'Fix the check above first.' });
  const http = await checkHttp(input, options);
  report(http.result);
  if (!http.result.ok) {
    for (const check of ['websocket', 'udp', 'media', 'turn'] as const)
      skip(check, 'the server was not reached');
    return results;
  }
  const ws = await checkWebSocket(input, options);
  report(ws.result);
  if (!ws.result.ok) {
    for (const check of ['udp', 'media', 'turn'] as const) skip(check, 'no signaling connection');
    return results;
  }
  for (const result of await checkLoopbackCall(input, {
    ...options,
    pingMs: ws.pingMs,
    secured: http.info?.auth === 'secured',
  }))
    report(result);
  report(await checkTurn(input, options));
  return results;
}
