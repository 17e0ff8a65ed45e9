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
import { Bot, type BotOptions } from '../bot/Bot.js';
import { connectNode } from '../client/node.js';
import { signalingUrl } from '../client/Room.js';
import { candidatePorts, turnTransportOf } from '../client/rtc.js';
import { describeSide, inboundTotals, type SelectedPair, selectedPair } from '../client/stats.js';

export type CheckId =
  | 'http'
  | 'websocket'
  | 'udp'
  | 'tcp'
  | 'turn-udp'
  | 'turn-tcp'
  | 'turn-tls'
  /** No TURN server configured: one result that says so. */
  | 'turn'
  | 'media';

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

/** A way for media to reach the server, each checked by a call of its own. */
export type MediaPath = 'udp' | 'tcp' | 'turn-udp' | 'turn-tcp' | 'turn-tls';

/** What a test call is allowed to use on each path (`BotOptions`). */
const PATH_OPTIONS: Record<MediaPath, Partial<BotOptions>> = {
  udp: { udpOnly: true },
  tcp: { iceTcp: 'only' },
  'turn-udp': { relayOnly: true, turnTransport: 'udp' },
  'turn-tcp': { relayOnly: true, turnTransport: 'tcp' },
  'turn-tls': { relayOnly: true, turnTransport: 'tls' },
};

/** The server's media ports in the descriptions it sent, by transport. */
const serverPorts = (pcs: RTCPeerConnection[]) => candidatePorts(pcs.map((pc) => pc.remoteDescription?.sdp));

/** How a test call ended. */
type CallOutcome =
  | { kind: 'join-failed'; message: string }
  /** The server offered no candidate of the path's transport (a TCP path on a server without ICE-TCP). */
  | { kind: 'not-offered' }
  | { kind: 'ice-failed'; states: string[]; ports: { udp: number[]; tcp: number[] } }
  | { kind: 'dtls-failed'; ports: { udp: number[]; tcp: number[] } }
  | { kind: 'no-media'; pair: SelectedPair | undefined; videoSent: number }
  | {
      kind: 'ok';
      pair: SelectedPair | undefined;
      packets: number;
      frames: number;
      /** With a measurement: what arrived over it and the round trip. */
      window?: { ms: number; received: number; lost: number; expected: number; lossPercent: number };
      rtt?: { ms: number; source: string };
    };

/**
 * A call through the server from Node: two test clients join a throwaway room, one publishes the test
 * clip over `path` (any: whatever works), the other receives it. With `measureMs`, packet loss and the
 * round trip are measured over that long once media flows.
 */
async function testCall(
  url: URL,
  options: DoctorOptions & { pingMs?: number },
  path: MediaPath | 'any',
  measureMs = 0,
): Promise<CallOutcome> {
  const room = `doctor-${randomBytes(5).toString('hex')}`;
  const iceTimeoutMs = options.iceTimeoutMs ?? ICE_TIMEOUT_MS;
  // On loopback, only loopback candidates: the server's own test setups offer nothing else there.
  const hostAddresses = isLoopbackHost(url.hostname)
    ? [url.hostname === '[::1]' || url.hostname === '::1' ? '::1' : '127.0.0.1']
    : undefined;
  // Any path: UDP, ICE over TCP and the server's TURN relay all allowed, as a browser has them.
  const via = path === 'any' ? { iceTcp: true } : PATH_OPTIONS[path];
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
      ...via,
    });
    // A join that comes back after its time-out still leaves.
    started.then(
      (bot) => {
        if (finished) void bot.stop().catch(() => {});
        else bots.push(bot);
      },
      () => {},
    );
    return withTimeout(started, JOIN_TIMEOUT_MS, `joining the room ${room}`);
  };
  try {
    let receiver: Bot;
    let sender: Bot;
    try {
      receiver = await start('doctor (receiver)', false, receiverPcs);
      sender = await start('doctor (sender)', true, senderPcs);
    } catch (error) {
      return { kind: 'join-failed', message: (error as Error).message };
    }
    // ICE, then DTLS: both connections (the sender's to the server, the server's to the receiver) up.
    const deadline = Date.now() + iceTimeoutMs;
    const all = () => [...senderPcs, ...receiverPcs];
    const protocol = via.iceTcp === 'only' ? 'tcp' : via.udpOnly ? 'udp' : undefined;
    while (Date.now() < deadline && !(connected(senderPcs) && connected(receiverPcs))) {
      // The server's answer is in: it may offer nothing on this transport (ICE over TCP turned off).
      const answered = senderPcs.some((pc) => pc.remoteDescription);
      if (protocol && answered && serverPorts(all())[protocol].length === 0) return { kind: 'not-offered' };
      await sleep(100);
    }
    if (!(connected(senderPcs) && connected(receiverPcs))) {
      const ports = serverPorts(all());
      return iceConnected(senderPcs) && iceConnected(receiverPcs)
        ? { kind: 'dtls-failed', ports }
        : { kind: 'ice-failed', states: all().map((pc) => pc.iceConnectionState), ports };
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
    // Media: the receiver gets the clip.
    const mediaDeadline = Date.now() + FIRST_MEDIA_TIMEOUT_MS;
    const packets = () => [...receiver.received.values()].reduce((n, r) => n + r.packets, 0);
    const frames = () => [...receiver.received.values()].reduce((n, r) => n + r.frames, 0);
    while (Date.now() < mediaDeadline && packets() === 0) await sleep(100);
    if (packets() === 0) return { kind: 'no-media', pair: sendPair, videoSent: sender.videoPacketsSent };
    if (measureMs <= 0) return { kind: 'ok', pair: sendPair, packets: packets(), frames: frames() };

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
    const pair = (await pairNow(receiving)) ?? sendPair;
    const rttSeconds = pair?.currentRoundTripTime ?? sendPair?.currentRoundTripTime;
    const rtt =
      rttSeconds !== undefined
        ? { ms: round(rttSeconds * 1000, 2), source: 'ICE (STUN) checks on the media path' }
        : options.pingMs !== undefined
          ? { ms: round(options.pingMs, 2), source: 'signaling WebSocket ping (no media-path measurement)' }
          : undefined;
    return {
      kind: 'ok',
      pair,
      packets: packetsAfter,
      frames: frames(),
      window: { ms: measureMs, received, lost, expected, lossPercent: round(lossPercent, 2) },
      ...(rtt ? { rtt } : {}),
    };
  } finally {
    finished = true;
    await Promise.allSettled(bots.map((bot) => withTimeout(bot.stop(), 5000, 'leaving the test room')));
    for (const pc of [...senderPcs, ...receiverPcs]) await pc.close().catch(() => {});
  }
}

const PATH_WORDS: Record<MediaPath, string> = {
  udp: 'UDP',
  tcp: 'TCP',
  'turn-udp': 'the TURN relay over UDP',
  'turn-tcp': 'the TURN relay over TCP',
  'turn-tls': 'the TURN relay over TLS',
};

const portList = (ports: number[], fallback: string) => (ports.length ? ports.join(', ') : fallback);

/** The result of one path's call, in words: which path is blocked and what to open. */
function pathResult(
  path: MediaPath,
  outcome: CallOutcome,
  turnUrls: string[],
  iceTimeoutMs: number,
): CheckResult {
  const check = path;
  const words = PATH_WORDS[path];
  const relay = path.startsWith('turn-');
  const where = relay ? `(${turnUrls.join(', ')})` : '';
  switch (outcome.kind) {
    case 'ok':
      return {
        check,
        ok: true,
        detail: `media went through the server over ${words}${where ? ` ${where}` : ''}: ${outcome.pair ? describePair(outcome.pair) : 'pair unknown'}`,
        advice: null,
        data: { pair: outcome.pair ?? null, packets: outcome.packets },
      };
    case 'not-offered':
      return {
        check,
        ok: true,
        detail:
          'the server offers no ICE over TCP (it runs with --no-ice-tcp): people whose network blocks UDP need the TURN relay',
        advice: null,
      };
    case 'join-failed':
      return {
        check,
        ok: false,
        detail: `not run: the test call could not join a room (${outcome.message})`,
        advice: 'See the call check below.',
      };
    case 'dtls-failed':
      return {
        check,
        ok: false,
        detail: `ICE over ${words} connected but the encrypted media connection (DTLS) did not come up within ${iceTimeoutMs / 1000} s`,
        advice: `Something on the way alters or drops the DTLS handshake: allow ${relay ? 'the TURN server' : `the server's media port ${portList(path === 'tcp' ? outcome.ports.tcp : outcome.ports.udp, '')}`} both ways, without a rewriting proxy.`,
      };
    case 'no-media':
      return {
        check,
        ok: false,
        detail: `the connections over ${words} are up but no media arrived within ${FIRST_MEDIA_TIMEOUT_MS / 1000} s (${outcome.videoSent} video packets sent)`,
        advice:
          'A firewall may let the first packets through and then drop the rest, or the server is overloaded: look at its log.',
      };
    case 'ice-failed': {
      const states = `ICE did not connect within ${iceTimeoutMs / 1000} s (states: ${outcome.states.join(', ') || 'no connection'})`;
      if (path === 'udp') {
        const ports = portList(
          outcome.ports.udp,
          "the server's media port (the number of its HTTP port unless --udp-port says otherwise)",
        );
        return {
          check,
          ok: false,
          detail: `UDP to the server's media port ${ports} is blocked from here: ${states}`,
          advice: `Open UDP ${ports} to the server, both ways${outcome.ports.udp.length > 1 ? ' (or run the server with all media on one UDP port, its default)' : ''}. Until then calls from this network use TCP or the TURN relay when those pass here, with more delay.`,
          data: { serverPorts: outcome.ports.udp },
        };
      }
      if (path === 'tcp') {
        const ports = portList(outcome.ports.tcp, "the server's media port");
        return {
          check,
          ok: false,
          detail: `TCP to the server's media port ${ports} is blocked from here: ${states}`,
          advice: `Allow TCP ${ports} to the server: it carries the media of people whose network blocks UDP.`,
          data: { serverPorts: outcome.ports.tcp },
        };
      }
      return {
        check,
        ok: false,
        detail: `${words} ${where} is blocked from here or does not relay: ${states}`,
        advice:
          'Check that this network lets the connection to the TURN server through, that coturn runs and is reachable at that URL, that its static-auth-secret equals PORT545_TURN_SECRET (use-auth-secret) and that its relay ports are open (docs/TURN.md).',
      };
    }
  }
}

/**
 * The media paths, each with a call that may use nothing else, side by side: UDP, ICE over TCP and each
 * kind of TURN URL the server hands out (none: one result that says so). `turnUrls`: those URLs.
 */
export async function checkPaths(
  url: URL,
  options: DoctorOptions,
  turnUrls: string[],
): Promise<CheckResult[]> {
  const iceTimeoutMs = options.iceTimeoutMs ?? ICE_TIMEOUT_MS;
  const turnPaths = (['udp', 'tcp', 'tls'] as const)
    .map((t) => ({ path: `turn-${t}` as MediaPath, urls: turnUrls.filter((u) => turnTransportOf(u) === t) }))
    .filter((p) => p.urls.length > 0);
  const paths: { path: MediaPath; urls: string[] }[] = [
    { path: 'udp', urls: [] },
    { path: 'tcp', urls: [] },
    ...turnPaths,
  ];
  const outcomes = await Promise.all(paths.map((p) => testCall(url, options, p.path)));
  const results = paths.map((p, i) => pathResult(p.path, outcomes[i]!, p.urls, iceTimeoutMs));
  if (turnPaths.length === 0)
    results.push({
      check: 'turn',
      ok: true,
      detail:
        'no TURN server configured (--turn-url): people on networks that allow only TLS to port 443 cannot connect',
      advice: null,
    });
  return results;
}

/** The call check when the test call could not join a room. */
function joinFailed(message: string, secured: boolean | undefined): CheckResult {
  return {
    check: 'media',
    ok: false,
    detail: `could not join a test room: ${message}`,
    advice:
      secured || /AUTH|TOKEN|UNAUTHORIZED/i.test(message)
        ? 'This server is in secured mode: pass an access token that may join any room with --token (make one on the server with: port545 token --room "*" --identity doctor).'
        : 'The server refused the test call: look at its log (standard error) for the reason.',
  };
}

/**
 * A call with every path allowed, measured: what people on this network get (its pair, round trip and
 * packet loss). `paths`: the path results, to say why it failed.
 */
export async function checkCall(
  url: URL,
  options: DoctorOptions & { pingMs?: number; secured?: boolean },
  paths: CheckResult[],
): Promise<CheckResult> {
  const working = paths.find((p) => p.ok && p.check !== 'turn' && p.data?.pair);
  // The call goes the way a working path went: werift takes one TURN URL, so the working one.
  const path: MediaPath | 'any' =
    working?.check.startsWith('turn-') === true ? (working.check as MediaPath) : 'any';
  const outcome = await testCall(url, options, path, options.measureMs ?? MEASURE_MS);
  if (outcome.kind === 'join-failed') return joinFailed(outcome.message, options.secured);
  if (outcome.kind !== 'ok') {
    const blocked = paths.filter((p) => !p.ok).map((p) => PATH_WORDS[p.check as MediaPath] ?? p.check);
    return {
      check: 'media',
      ok: false,
      detail:
        outcome.kind === 'no-media'
          ? `the connections are up but no media arrived within ${FIRST_MEDIA_TIMEOUT_MS / 1000} s (${outcome.videoSent} video packets sent)`
          : `no path for media from here${blocked.length ? `: ${blocked.join(', ')} all failed` : ''}`,
      advice:
        outcome.kind === 'no-media'
          ? 'Media does not make it through the server although the connections are up: a firewall may let the first packets through and then drop the rest, or the server is overloaded. Look at its log.'
          : "People on this network cannot be seen or heard: open UDP (or TCP) to the server's media port, or give the server a TURN relay reachable over TLS on port 443 (--turn-url; docs/TURN.md).",
    };
  }
  const window = outcome.window!;
  const ok = window.received > 0;
  return {
    check: 'media',
    ok,
    detail: [
      `media arrived: ${outcome.packets} packets (${outcome.frames} video frames)`,
      `over ${window.ms / 1000} s ${window.received} received of ${window.expected} expected, loss ${window.lossPercent.toFixed(1)}%`,
      outcome.pair ? `pair ${describePair(outcome.pair)}` : 'pair unknown',
      outcome.rtt ? `round trip ${outcome.rtt.ms} ms (${outcome.rtt.source})` : 'round trip not measured',
    ].join('; '),
    advice: ok
      ? null
      : "Media stopped flowing during the measurement: the path drops UDP after a while (a NAT or firewall with a short UDP timeout). Allow the server's UDP ports both ways.",
    data: {
      packets: outcome.packets,
      frames: outcome.frames,
      window,
      pair: outcome.pair ?? null,
      rtt: outcome.rtt ?? null,
    },
  };
}

/** The TURN URLs the server hands a participant (`joined.iceServers`; none configured: []). */
async function turnUrlsOf(url: URL, options: DoctorOptions): Promise<string[]> {
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
  await probe.leave().catch(() => {});
  return probe.iceServers.flatMap((s) => s.urls).filter((u) => turnTransportOf(u) !== undefined);
}

/** The checks in the order they are reported. */
export const MEDIA_CHECKS: CheckId[] = ['udp', 'tcp', 'turn-udp', 'turn-tcp', 'turn-tls', 'turn', 'media'];

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
    for (const check of ['websocket', 'udp', 'tcp', 'media'] as const)
      skip(check, 'the server was not reached');
    return results;
  }
  const ws = await checkWebSocket(input, options);
  report(ws.result);
  if (!ws.result.ok) {
    for (const check of ['udp', 'tcp', 'media'] as const) skip(check, 'no signaling connection');
    return results;
  }
  const secured = http.info?.auth === 'secured';
  let turnUrls: string[];
  try {
    turnUrls = await turnUrlsOf(input, options);
  } catch (error) {
    for (const check of ['udp', 'tcp'] as const) skip(check, 'the test call could not join a room');
    report(joinFailed((error as Error).message, secured));
    return results;
  }
  const paths = await checkPaths(input, options, turnUrls);
  for (const result of paths) report(result);
  report(await checkCall(input, { ...options, pingMs: ws.pingMs, secured }, paths));
  return results;
}
