import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { acquire, type DeviceProblem } from '../media/devices.ts';
import {
  connect,
  describeSide,
  inboundTotals,
  type Room,
  selectedCandidatePair,
  turnServersVia,
} from '../sdk.ts';
import { Logo } from '../ui/Logo.tsx';

/**
 * `/check`: what a call needs, checked from this browser one step at a time (a secure page, the
 * signaling WebSocket, camera and microphone permission), then each way media can reach the server on
 * its own (UDP to its media port, TCP to it, each kind of TURN relay it hands out), each with a test call
 * that may use nothing else, so a blocked path is named; last a loopback call through the server with
 * every path allowed, measured. Each failure says what to do. The command-line twin is `port545 doctor`.
 */

type PathId = 'udp' | 'tcp' | 'turn-udp' | 'turn-tcp' | 'turn-tls';
type CheckId = 'secure' | 'websocket' | 'camera' | 'microphone' | PathId | 'turn' | 'call';
type Status = 'pending' | 'running' | 'pass' | 'fail';

interface Check {
  id: CheckId;
  name: string;
  status: Status;
  detail?: string;
  advice?: string;
  /** The loopback call's measurements, shown as a list. */
  facts?: [string, string][];
}

const NAMES: Record<CheckId, string> = {
  secure: 'Secure page',
  websocket: 'Connection to the server',
  camera: 'Camera',
  microphone: 'Microphone',
  udp: 'Media over UDP',
  tcp: 'Media over TCP',
  turn: 'TURN relay',
  'turn-udp': 'TURN relay over UDP',
  'turn-tcp': 'TURN relay over TCP',
  'turn-tls': 'TURN relay over TLS',
  call: 'Test call through the server',
};

/** What each path's test call may use (`connect` options), and the path in words. */
const PATHS: Record<PathId, { words: string; options: Partial<Parameters<typeof connect>[0]> }> = {
  udp: { words: 'UDP', options: { iceProtocol: 'udp' } },
  tcp: { words: 'TCP', options: { iceProtocol: 'tcp' } },
  'turn-udp': {
    words: 'the TURN relay over UDP',
    options: { turnTransport: 'udp', rtcConfiguration: { iceTransportPolicy: 'relay' } },
  },
  'turn-tcp': {
    words: 'the TURN relay over TCP',
    options: { turnTransport: 'tcp', rtcConfiguration: { iceTransportPolicy: 'relay' } },
  },
  'turn-tls': {
    words: 'the TURN relay over TLS',
    options: { turnTransport: 'tls', rtcConfiguration: { iceTransportPolicy: 'relay' } },
  },
};

const STATUS_TEXT: Record<Status, string> = {
  pending: 'Waiting',
  running: 'Checking…',
  pass: 'Passed',
  fail: 'Failed',
};

const WS_TIMEOUT_MS = 10_000;
const JOIN_TIMEOUT_MS = 15_000;
const ICE_TIMEOUT_MS = 15_000;
const MEDIA_TIMEOUT_MS = 10_000;
const MEASURE_MS = 3000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const siteSettings = (device: string) =>
  `Your browser blocks the ${device} for this site. Click the lock (or ${device}) icon at the left of the address bar, open the site settings, set ${device === 'camera' ? 'Camera' : 'Microphone'} to "Allow", then reload this page.`;

function deviceAdvice(
  kind: 'camera' | 'microphone',
  problem: DeviceProblem,
): { detail: string; advice: string } {
  switch (problem) {
    case 'denied':
      return { detail: `Access to the ${kind} was denied.`, advice: siteSettings(kind) };
    case 'notFound':
      return {
        detail: `No ${kind} was found.`,
        advice: `Plug in a ${kind} (or turn it on in your computer's settings) and reload this page. You can still join calls without one.`,
      };
    case 'inUse':
      return {
        detail: `The ${kind} could not start.`,
        advice: `Another app (or another tab) may be using the ${kind}: close it and reload this page.`,
      };
    case 'unsupported':
      return {
        detail: `This page cannot use a ${kind}.`,
        advice:
          'Browsers offer a camera and microphone only to secure pages: open this server over HTTPS (see "Secure page" above).',
      };
    default:
      return {
        detail: `The ${kind} could not be opened.`,
        advice: `Check the ${kind} in your computer's settings and reload this page.`,
      };
  }
}

interface Pair {
  local: string;
  remote: string;
  rttMs: number | undefined;
}

/** The selected candidate pair of a stats report, in words. */
function selectedPair(stats: ReadonlyMap<string, unknown> | undefined): Pair | undefined {
  const pair = stats && selectedCandidatePair(stats.values());
  if (!pair) return undefined;
  const rtt = pair.currentRoundTripTime;
  return {
    local: describeSide(pair.local),
    remote: describeSide(pair.remote),
    rttMs: rtt !== undefined ? Math.round(rtt * 10_000) / 10 : undefined,
  };
}

const inbound = (stats: ReadonlyMap<string, unknown> | undefined) => inboundTotals(stats?.values() ?? []);

/** A moving picture drawn on a canvas: the test call needs no camera (its permission is checked apart). */
function testPattern(): { track: MediaStreamTrack; stop: () => void } {
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 120;
  const context = canvas.getContext('2d')!;
  let frame = 0;
  const draw = () => {
    frame++;
    context.fillStyle = '#1f6f6b';
    context.fillRect(0, 0, 160, 120);
    context.fillStyle = '#fff';
    context.fillRect((frame * 4) % 160, 40, 24, 40);
  };
  draw();
  const timer = setInterval(draw, 66);
  const track = canvas.captureStream(15).getVideoTracks()[0]!;
  return {
    track,
    stop: () => {
      clearInterval(timer);
      track.stop();
    },
  };
}

const TURN_ADVICE =
  "The server's TURN relay did not carry the test call. People whose network lets nothing else through cannot join: tell the server's administrator (coturn must run, be reachable this way and share the server's TURN secret; see docs/TURN.md).";

type Update = (id: CheckId, change: Partial<Check>) => void;

async function checkWebSocket(update: Update): Promise<void> {
  update('websocket', { status: 'running' });
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  const started = performance.now();
  const ws = new WebSocket(url);
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('the connection was refused or cut'));
      }),
      WS_TIMEOUT_MS,
      'Opening the connection',
    );
    update('websocket', {
      status: 'pass',
      detail: `The WebSocket to ${url} opened in ${Math.round(performance.now() - started)} ms.`,
    });
  } catch (error) {
    update('websocket', {
      status: 'fail',
      detail: `The WebSocket to ${url} did not open: ${(error as Error).message}.`,
      advice:
        'Something between this browser and the server (a proxy, a firewall, a browser extension) stops WebSockets. A proxy in front of port545 must pass WebSocket upgrades on /ws. Try another network or disable extensions that filter traffic.',
    });
  } finally {
    ws.close();
  }
}

async function checkDevices(update: Update): Promise<void> {
  update('camera', { status: 'running' });
  update('microphone', { status: 'running' });
  const got = await acquire({ camera: {}, microphone: {} });
  for (const kind of ['camera', 'microphone'] as const) {
    const track = got[kind];
    const problem = got.problems[kind];
    if (track) {
      update(kind, {
        status: 'pass',
        detail: `The ${kind} opened${track.label ? ` (${track.label})` : ''}.`,
      });
      track.stop();
    } else update(kind, { status: 'fail', ...deviceAdvice(kind, problem ?? 'other') });
  }
}

/** How a test call ended. */
type CallOutcome =
  | { kind: 'join-failed'; message: string }
  | { kind: 'no-turn' }
  | { kind: 'no-path'; ports: { udp: number[]; tcp: number[] } }
  | { kind: 'no-media'; pair: Pair }
  | { kind: 'ok'; pair: Pair; facts?: [string, string][]; ok: boolean };

/**
 * A loopback call through the server: the page joins a throwaway room twice and sends itself a test
 * pattern, over `path` only (UDP, TCP or one kind of TURN relay) or any way. `measure`: the round trip
 * and loss over MEASURE_MS. `progress` says what it is doing.
 */
async function testCall(
  path: PathId | 'any',
  measure: boolean,
  progress: (detail: string) => void,
): Promise<CallOutcome> {
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const room = `check-${Math.random().toString(36).slice(2, 10)}`;
  const rooms: Room[] = [];
  const pattern = testPattern();
  const only = path === 'any' ? {} : PATHS[path].options;
  const join = async (name: string) => {
    const joined = connect({ url: location.origin, room, name, ...(token ? { token } : {}), ...only });
    joined.then(
      (r) => rooms.push(r),
      () => {},
    );
    return withTimeout(joined, JOIN_TIMEOUT_MS, 'Joining the test room');
  };
  try {
    let sender: Room;
    let receiver: Room;
    try {
      receiver = await join('connection check (receiver)');
      if (only.turnTransport && turnServersOf(receiver, only.turnTransport).length === 0)
        return { kind: 'no-turn' };
      sender = await join('connection check (sender)');
      await withTimeout(sender.publishTrack(pattern.track, 'camera'), JOIN_TIMEOUT_MS, 'Publishing');
    } catch (error) {
      return { kind: 'join-failed', message: (error as Error).message };
    }
    progress('Connecting media…');
    const deadline = Date.now() + ICE_TIMEOUT_MS;
    let pair: Pair | undefined;
    while (Date.now() < deadline) {
      pair = selectedPair(await receiver.getStats('subscriber'));
      if (pair && selectedPair(await sender.getStats('publisher'))) break;
      pair = undefined;
      await sleep(250);
    }
    if (!pair) return { kind: 'no-path', ports: sender.serverMediaPorts() };
    progress('Waiting for the test picture to come back…');
    const mediaDeadline = Date.now() + MEDIA_TIMEOUT_MS;
    while (Date.now() < mediaDeadline && inbound(await receiver.getStats('subscriber')).received === 0)
      await sleep(250);
    const before = inbound(await receiver.getStats('subscriber'));
    if (before.received === 0) return { kind: 'no-media', pair };
    if (!measure) return { kind: 'ok', pair, ok: true };
    progress(`Measuring for ${MEASURE_MS / 1000} s…`);
    await sleep(MEASURE_MS);
    const stats = await receiver.getStats('subscriber');
    const after = inbound(stats);
    pair = selectedPair(stats) ?? pair;
    const received = after.received - before.received;
    const lost = Math.max(0, after.lost - before.lost);
    const expected = received + lost;
    const loss = expected > 0 ? (100 * lost) / expected : 0;
    return {
      kind: 'ok',
      pair,
      ok: received > 0,
      facts: [
        ['This browser', pair.local],
        ['Server', pair.remote],
        ['Round trip', pair.rttMs !== undefined ? `${pair.rttMs} ms` : 'not measured'],
        ['Packet loss', `${loss.toFixed(1)}% (${lost} of ${expected} packets in ${MEASURE_MS / 1000} s)`],
      ],
    };
  } finally {
    pattern.stop();
    await Promise.allSettled(rooms.map((r) => r.leave()));
  }
}

/** The TURN servers a participant was handed that reach their server this way. */
const turnServersOf = (room: Room, transport: 'udp' | 'tcp' | 'tls') =>
  turnServersVia(room.iceServers, transport);

const joinAdvice = (message: string) =>
  /TOKEN|AUTH/i.test(message)
    ? 'This server lets in only people with an access token: open this page with the ?token= of your invitation link.'
    : "The server refused the test call. Reload this page; if it happens again, tell the server's administrator.";

const portWords = (ports: number[]) =>
  ports.length === 0 ? "the server's media port" : `the server's media port ${ports.join(', ')}`;

/** One path's test call, reported on its row: passed, or blocked and what to do. */
async function checkPath(update: Update, id: PathId): Promise<void> {
  const { words } = PATHS[id];
  update(id, { status: 'running', detail: 'Joining a test room twice…' });
  try {
    const outcome = await testCall(id, false, (detail) => update(id, { detail }));
    switch (outcome.kind) {
      case 'ok':
        update(id, {
          status: 'pass',
          detail: `The test picture went to the server over ${words} and came back (${outcome.pair.local} → ${outcome.pair.remote}).`,
        });
        return;
      case 'no-turn':
        update(id, {
          status: 'pass',
          detail: `This server hands out no TURN relay over ${id.slice(5).toUpperCase()}.`,
        });
        return;
      case 'join-failed':
        update(id, {
          status: 'fail',
          detail: `The test call could not start: ${outcome.message}`,
          advice: joinAdvice(outcome.message),
        });
        return;
      case 'no-media':
        update(id, {
          status: 'fail',
          detail: `The connection over ${words} is up (${outcome.pair.local} → ${outcome.pair.remote}) but no media came back within ${MEDIA_TIMEOUT_MS / 1000} s.`,
          advice:
            "A firewall may let the first packets through and then drop the rest. Try another network; tell the server's administrator if it happens everywhere.",
        });
        return;
      case 'no-path':
        if (id === 'tcp' && outcome.ports.tcp.length === 0) {
          update(id, {
            status: 'pass',
            detail:
              'This server does not offer media over TCP (it runs with --no-ice-tcp): where UDP is blocked, only a TURN relay helps.',
          });
          return;
        }
        update(id, {
          status: 'fail',
          detail:
            id === 'udp'
              ? `UDP to ${portWords(outcome.ports.udp)} is blocked from this network: no media connection within ${ICE_TIMEOUT_MS / 1000} s.`
              : id === 'tcp'
                ? `TCP to ${portWords(outcome.ports.tcp)} is blocked from this network: no media connection within ${ICE_TIMEOUT_MS / 1000} s.`
                : `No media connection through ${words} within ${ICE_TIMEOUT_MS / 1000} s: it is blocked from this network or does not relay.`,
          advice:
            id === 'udp'
              ? `The network between this browser and the server blocks UDP to ${portWords(outcome.ports.udp)}. Calls still work when media over TCP or a TURN relay passes here, with more delay; for the best calls, the network's administrator should allow UDP ${outcome.ports.udp.join(', ') || 'to the server'}.`
              : id === 'tcp'
                ? `The network between this browser and the server blocks TCP to ${portWords(outcome.ports.tcp)}, which carries calls where UDP is blocked. Its administrator should allow it.`
                : TURN_ADVICE,
        });
        return;
    }
  } catch (error) {
    update(id, {
      status: 'fail',
      detail: `The test call failed: ${(error as Error).message}`,
      advice: 'Reload this page to try again.',
    });
  }
}

/** The loopback call with every path allowed, measured: what a call from here gets. */
async function checkCall(update: Update, blocked: () => string[]): Promise<void> {
  update('call', { status: 'running', detail: 'Joining a test room twice…' });
  try {
    const outcome = await testCall('any', true, (detail) => update('call', { detail }));
    switch (outcome.kind) {
      case 'ok':
        update('call', {
          status: outcome.ok ? 'pass' : 'fail',
          detail: outcome.ok
            ? 'The test picture went to the server and came back.'
            : 'Media stopped during the measurement.',
          ...(outcome.ok
            ? {}
            : { advice: "Try another network; tell the server's administrator if it happens everywhere." }),
          ...(outcome.facts ? { facts: outcome.facts } : {}),
        });
        return;
      case 'join-failed':
        update('call', {
          status: 'fail',
          detail: `The test call could not start: ${outcome.message}`,
          advice: joinAdvice(outcome.message),
        });
        return;
      case 'no-media':
        update('call', {
          status: 'fail',
          detail: `The connection is up (${outcome.pair.local} → ${outcome.pair.remote}) but no media came back within ${MEDIA_TIMEOUT_MS / 1000} s.`,
          advice:
            "A firewall may let the first packets through and then drop the rest. Try another network; tell the server's administrator if it happens everywhere.",
        });
        return;
      default: {
        const paths = blocked();
        update('call', {
          status: 'fail',
          detail: `No way for media from this network to the server${paths.length ? `: ${paths.join(', ')} all failed` : ''}.`,
          advice:
            "People on this network cannot be seen or heard. Try another network (a phone's hotspot, say); tell the server's administrator, who can open UDP or TCP to the server's media port or add a TURN relay on port 443 (docs/TURN.md).",
        });
      }
    }
  } catch (error) {
    update('call', {
      status: 'fail',
      detail: `The test call failed: ${(error as Error).message}`,
      advice: 'Reload this page to try again.',
    });
  }
}

/** The TURN rows this server needs: one per kind of relay URL it hands out (none: one row that says so). */
async function turnRows(): Promise<PathId[] | 'none' | Error> {
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  try {
    const room = await withTimeout(
      connect({
        url: location.origin,
        room: `check-${Math.random().toString(36).slice(2, 10)}`,
        name: 'connection check',
        ...(token ? { token } : {}),
      }),
      JOIN_TIMEOUT_MS,
      'Joining a test room',
    );
    const kinds = (['udp', 'tcp', 'tls'] as const).filter((t) => turnServersOf(room, t).length > 0);
    await room.leave().catch(() => {});
    return kinds.length ? kinds.map((t) => `turn-${t}` as PathId) : 'none';
  } catch (error) {
    return error as Error;
  }
}

/** The rows at the start: the TURN row turns into one per kind of relay the server hands out. */
const FIRST_ROWS: CheckId[] = ['secure', 'websocket', 'camera', 'microphone', 'udp', 'tcp', 'turn', 'call'];

const initial = (): Check[] => FIRST_ROWS.map((id) => ({ id, name: NAMES[id], status: 'pending' }));

export function CheckPage(): JSX.Element {
  const [checks, setChecks] = useState<Check[]>(initial);
  const [round, setRound] = useState(0);
  const [done, setDone] = useState(false);

  useEffect(() => {
    let stopped = false;
    const statuses = new Map<CheckId, Status>();
    const update: Update = (id, change) => {
      if (change.status) statuses.set(id, change.status);
      if (!stopped) setChecks((all) => all.map((c) => (c.id === id ? { ...c, ...change } : c)));
    };
    setChecks(initial());
    setDone(false);
    void (async () => {
      if (window.isSecureContext)
        update('secure', {
          status: 'pass',
          detail: `${location.protocol === 'https:' ? 'HTTPS' : 'This computer (localhost)'}: the browser may offer a camera and microphone.`,
        });
      else
        update('secure', {
          status: 'fail',
          detail:
            'This page is plain HTTP on another machine, so the browser will not offer a camera or microphone.',
          advice:
            'Open this server over HTTPS: start it with --tls self-signed (or --tls-cert with a certificate of yours) and use the https:// address it prints.',
        });
      await checkWebSocket(update);
      if (stopped) return;
      await checkDevices(update);
      if (stopped) return;
      // Each path on its own, side by side (a blocked one waits out its time-out), then the call.
      const turn = await turnRows();
      if (stopped) return;
      const paths: PathId[] = ['udp', 'tcp'];
      if (turn === 'none')
        update('turn', {
          status: 'pass',
          detail:
            'This server has no TURN relay (--turn-url). People whose network lets only HTTPS (TCP 443) through could not join.',
        });
      else if (Array.isArray(turn)) {
        paths.push(...turn);
        setChecks((all) => {
          const at = all.findIndex((c) => c.id === 'turn');
          const rows = turn.map((id) => ({ id, name: NAMES[id], status: 'pending' as Status }));
          return [...all.slice(0, at), ...rows, ...all.slice(at + 1)];
        });
      } else
        update('turn', {
          status: 'fail',
          detail: `The test call could not start: ${turn.message}`,
          advice: joinAdvice(turn.message),
        });
      await Promise.all(paths.map((id) => checkPath(update, id)));
      if (stopped) return;
      await checkCall(update, () =>
        paths.filter((id) => statuses.get(id) === 'fail').map((id) => PATHS[id].words),
      );
      if (!stopped) setDone(true);
    })();
    return () => {
      stopped = true;
    };
  }, [round]);

  const failed = checks.filter((c) => c.status === 'fail').length;
  return (
    <div class="page page-light">
      <header class="topbar">
        <Logo />
      </header>
      <main class="check-page">
        <h1>Check your connection</h1>
        <p class="lead">
          This page tests what a call needs, from this browser to this server. It takes a few seconds (up to
          half a minute on a poor network).
        </p>
        <ol class="check-list">
          {checks.map((c) => (
            <li key={c.id} class="check-item" data-check={c.id} data-status={c.status}>
              <h2 class="check-name">
                <span class="check-status">{STATUS_TEXT[c.status]}</span>
                <span class="check-separator">: </span>
                {c.name}
              </h2>
              {c.detail && <p class="check-detail">{c.detail}</p>}
              {c.facts && (
                <dl class="check-facts">
                  {c.facts.map(([term, value]) => (
                    <div key={term}>
                      <dt>{term}</dt>
                      <dd>{value}</dd>
                    </div>
                  ))}
                </dl>
              )}
              {c.advice && (
                <p class="check-advice">
                  <strong>What to do: </strong>
                  {c.advice}
                </p>
              )}
            </li>
          ))}
        </ol>
        <output class="check-summary" data-done={done ? 'true' : 'false'}>
          {!done
            ? 'Checking…'
            : failed === 0
              ? 'Every check passed: calls should work from here.'
              : `${failed} check${failed === 1 ? '' : 's'} failed: see what to do above.`}
        </output>
        <div class="check-actions">
          <button type="button" class="button" disabled={!done} onClick={() => setRound((n) => n + 1)}>
            Check again
          </button>
          <a class="button" href="/">
            Home page
          </a>
        </div>
      </main>
    </div>
  );
}
