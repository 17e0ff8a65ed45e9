import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { acquire, type DeviceProblem } from '../media/devices.ts';
import { connect, describeSide, inboundTotals, type Room, selectedCandidatePair } from '../sdk.ts';
import { Logo } from '../ui/Logo.tsx';

/**
 * `/check`: what a call needs, checked from this browser one step at a time (a secure page, the
 * signaling WebSocket, camera and microphone permission, a loopback call through the server), each
 * failure with what to do. The command-line twin is `port545 doctor`.
 */

type CheckId = 'secure' | 'websocket' | 'camera' | 'microphone' | 'call' | 'turn';
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
  call: 'Test call through the server',
  turn: 'Test call through the TURN relay',
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

const UDP_ADVICE =
  "Media could not reach the server: the network between this browser and the server blocks the UDP ports WebRTC uses. Try another network (a phone's hotspot, say) to tell which side blocks it. The server's administrator should open the server's UDP media port (by default the same number as its web port, 545); port545 doctor on a machine of your network tells more.";

const TURN_ADVICE =
  "The server's TURN relay did not carry the test call. People whose network blocks the direct path (UDP) cannot join through it: tell the server's administrator (coturn must run and share the server's TURN secret; see docs/TURN.md).";

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

/**
 * A loopback call through the server: the page joins a throwaway room twice and sends itself a test
 * pattern. `turn`: the same call allowed nothing but the server's TURN relay (when it hands one out), as
 * on a network that blocks everything else.
 */
async function checkCall(update: Update, id: 'call' | 'turn' = 'call'): Promise<void> {
  const relay = id === 'turn';
  update(id, { status: 'running', detail: 'Joining a test room twice…' });
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const room = `check-${Math.random().toString(36).slice(2, 10)}`;
  const rooms: Room[] = [];
  const pattern = testPattern();
  const join = async (name: string) => {
    const joined = connect({
      url: location.origin,
      room,
      name,
      ...(token ? { token } : {}),
      ...(relay ? { rtcConfiguration: { iceTransportPolicy: 'relay' } } : {}),
    });
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
      if (relay && receiver.iceServers.length === 0) {
        update(id, {
          status: 'pass',
          detail:
            'This server has no TURN relay (--turn-url). Calls work from here directly; people whose network blocks UDP could not join.',
        });
        return;
      }
      sender = await join('connection check (sender)');
      await withTimeout(sender.publishTrack(pattern.track, 'camera'), JOIN_TIMEOUT_MS, 'Publishing');
    } catch (error) {
      const message = (error as Error).message;
      update(id, {
        status: 'fail',
        detail: `The test call could not start: ${message}`,
        advice: /TOKEN|AUTH/i.test(message)
          ? 'This server lets in only people with an access token: open this page with the ?token= of your invitation link.'
          : "The server refused the test call. Reload this page; if it happens again, tell the server's administrator.",
      });
      return;
    }
    update(id, { detail: 'Connecting media…' });
    const deadline = Date.now() + ICE_TIMEOUT_MS;
    let pair: Pair | undefined;
    while (Date.now() < deadline) {
      pair = selectedPair(await receiver.getStats('subscriber'));
      if (pair && selectedPair(await sender.getStats('publisher'))) break;
      await sleep(250);
    }
    if (!pair) {
      update(id, {
        status: 'fail',
        detail: `The media connection did not come up within ${ICE_TIMEOUT_MS / 1000} s (no working path for UDP).`,
        advice: relay ? TURN_ADVICE : UDP_ADVICE,
      });
      return;
    }
    update(id, { detail: 'Waiting for the test picture to come back…' });
    const mediaDeadline = Date.now() + MEDIA_TIMEOUT_MS;
    while (Date.now() < mediaDeadline && inbound(await receiver.getStats('subscriber')).received === 0)
      await sleep(250);
    const before = inbound(await receiver.getStats('subscriber'));
    if (before.received === 0) {
      update(id, {
        status: 'fail',
        detail: `The connection is up (${pair.local} → ${pair.remote}) but no media came back within ${MEDIA_TIMEOUT_MS / 1000} s.`,
        advice:
          "A firewall may let the first packets through and then drop the rest. Try another network; tell the server's administrator if it happens everywhere.",
      });
      return;
    }
    update(id, { detail: `Measuring for ${MEASURE_MS / 1000} s…` });
    await sleep(MEASURE_MS);
    const stats = await receiver.getStats('subscriber');
    const after = inbound(stats);
    pair = selectedPair(stats) ?? pair;
    const received = after.received - before.received;
    const lost = Math.max(0, after.lost - before.lost);
    const expected = received + lost;
    const loss = expected > 0 ? (100 * lost) / expected : 0;
    const ok = received > 0;
    update(id, {
      status: ok ? 'pass' : 'fail',
      detail: ok
        ? relay
          ? 'The test picture went through the TURN relay to the server and came back.'
          : 'The test picture went to the server and came back.'
        : 'Media stopped during the measurement.',
      ...(ok ? {} : { advice: relay ? TURN_ADVICE : UDP_ADVICE }),
      facts: [
        ['This browser', pair.local],
        ['Server', pair.remote],
        ['Round trip', pair.rttMs !== undefined ? `${pair.rttMs} ms` : 'not measured'],
        ['Packet loss', `${loss.toFixed(1)}% (${lost} of ${expected} packets in ${MEASURE_MS / 1000} s)`],
      ],
    });
  } catch (error) {
    update(id, {
      status: 'fail',
      detail: `The test call failed: ${(error as Error).message}`,
      advice: 'Reload this page to try again.',
    });
  } finally {
    pattern.stop();
    await Promise.allSettled(rooms.map((r) => r.leave()));
  }
}

const initial = (): Check[] =>
  (Object.keys(NAMES) as CheckId[]).map((id) => ({ id, name: NAMES[id], status: 'pending' }));

export function CheckPage(): JSX.Element {
  const [checks, setChecks] = useState<Check[]>(initial);
  const [round, setRound] = useState(0);
  const [done, setDone] = useState(false);

  useEffect(() => {
    let stopped = false;
    const update: Update = (id, change) => {
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
      await checkCall(update);
      if (stopped) return;
      await checkCall(update, 'turn');
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
