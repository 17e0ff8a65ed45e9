import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { ConfigInput } from '../../src/config/config.js';
import { startTestServer, type TestServer } from './server.js';

/** Debian's Chromium; CHROME_PATH elsewhere. */
export const CHROME_PATH = process.env.CHROME_PATH ?? '/usr/bin/chromium';

/**
 * Fake camera (a moving test pattern), fake microphone (a beep) and fake screen capture, permission
 * prompts answered yes, and nothing that reaches beyond this machine. Chromium leaves loopback out of
 * ICE unless told otherwise, and the test server offers media on 127.0.0.1 only.
 */
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
  '--autoplay-policy=no-user-gesture-required',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  // Pages in background tabs must keep decoding and timing like a person's foreground tab.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILT = join(ROOT, 'web/dist/index.html');
const SOURCES = [
  'web/src',
  'web/index.html',
  'web/vite.config.ts',
  'web/public',
  'src/client',
  'src/protocol',
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Builds the web client when web/dist is missing or older than its sources (`npm run build:web`). */
export function ensureWebBuild(): void {
  const built = existsSync(BUILT) ? statSync(BUILT).mtimeMs : 0;
  const sources = Math.max(...SOURCES.map((s) => newestMtime(join(ROOT, s))));
  if (built >= sources) return;
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'web/vite.config.ts'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

/** Where the fake devices' files are made, once, and kept between runs. */
const FIXTURES = join(tmpdir(), 'port545-test');

/**
 * The fixture `name` in FIXTURES, made by `make` (into the path it is given) when it is not there yet;
 * made under a name of this process's and renamed, so a concurrent run never reads half a file.
 */
function fixture(name: string, make: (partial: string) => void): string {
  const file = join(FIXTURES, name);
  if (existsSync(file)) return file;
  mkdirSync(FIXTURES, { recursive: true });
  const partial = `${file}.${process.pid}${name.slice(name.lastIndexOf('.'))}`;
  make(partial);
  renameSync(partial, file);
  return file;
}

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/**
 * A small moving test pattern (160×120 at 15 fps, four seconds looped) for the fake camera. Chromium's
 * own fake camera gives the 1280×720 at 30 fps the web client asks for, and a few pages encoding and
 * decoding that saturate a 2-core machine; what the tests check (frames arrive and advance) needs no
 * more than this. Made once with ffmpeg and kept in the temporary directory.
 */
export function smallFakeCamera(): string {
  return fixture('camera-160x120-15fps.y4m', (partial) =>
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '4', '-pix_fmt', 'yuv420p', partial]),
  );
}

/**
 * A moving test pattern of 640×360 at 15 fps (four seconds looped): large enough for the web client to
 * send its camera in two simulcast layers (320×180 and 640×360, `simulcastEncodings`).
 */
export function hdFakeCamera(): string {
  return fixture('camera-640x360-15fps.y4m', (partial) =>
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=15', '-t', '4', '-pix_fmt', 'yuv420p', partial]),
  );
}

/**
 * Speech-like fake microphone input: a voiced 1.5 s burst (a 180 Hz buzz with its harmonics, its loudness
 * swinging four times a second like syllables) then 2.5 s of silence, over and over (Chromium loops the
 * file). Made once with ffmpeg and kept in the temporary directory.
 */
export const BURST_ON_S = 1.5;
export const BURST_PERIOD_S = 4;
export function speechBursts(): string {
  const voice = `aevalsrc='0.3*(sin(2*PI*180*t)+0.5*sin(2*PI*360*t)+0.25*sin(2*PI*540*t))*(0.6+0.4*sin(2*PI*4*t))*lt(mod(t,${BURST_PERIOD_S}),${BURST_ON_S})':s=48000:d=${BURST_PERIOD_S * 2}`;
  return fixture('speech-bursts-48k.wav', (partial) =>
    ffmpeg(['-f', 'lavfi', '-i', voice, '-ac', '1', partial]),
  );
}

/**
 * A person at their desk for the fake camera: NASA's portrait of astronaut Eileen Collins (public domain),
 * shipped as `astronaut.png` in Debian's python3-skimage package, which the test script unpacks into
 * the temporary directory (PORTRAIT_PNG). The person stands in the middle; a flag on the left and a
 * model shuttle on the right are the room. 320×240, still.
 */
export const PORTRAIT_PNG = join(FIXTURES, 'astronaut.png');
export function portraitCamera(): string {
  return fixture('portrait-320x240.y4m', (partial) => {
    if (!existsSync(PORTRAIT_PNG))
      throw new Error(`${PORTRAIT_PNG} is missing: scripts/test.sh unpacks it from Debian's python3-skimage`);
    ffmpeg([
      ...['-loop', '1', '-i', PORTRAIT_PNG, '-t', '1', '-r', '10'],
      ...['-vf', 'scale=320:320,crop=320:240:0:20,format=yuv420p', partial],
    ]);
  });
}

/**
 * A voice in a noisy room for the fake microphone: a spoken sentence (espeak-ng) then silence, over a
 * steady hiss like a fan's, every NOISY_PERIOD_S seconds.
 */
export const NOISY_PERIOD_S = 6;
export function noisySpeech(): string {
  return fixture('noisy-speech-48k.wav', (partial) => {
    const voice = `${partial}.voice.wav`;
    const sentence = 'Good morning everyone, can you all hear me clearly now?';
    execFileSync('espeak-ng', ['-s', '150', '-w', voice, sentence]);
    const hiss = `anoisesrc=color=pink:amplitude=0.06:sample_rate=48000:duration=${NOISY_PERIOD_S}`;
    const mix = `[0]aresample=48000,apad=whole_dur=${NOISY_PERIOD_S}[v];[v][1]amix=inputs=2:normalize=0`;
    ffmpeg([
      '-i',
      voice,
      '-f',
      'lavfi',
      '-i',
      hiss,
      '-filter_complex',
      mix,
      '-ac',
      '1',
      '-t',
      String(NOISY_PERIOD_S),
      partial,
    ]);
    rmSync(voice, { force: true });
  });
}

export interface LaunchOptions {
  /**
   * `small` (the default): the fake camera shows the small test pattern of `smallFakeCamera`.
   * `chromium`: Chromium's own fake camera at whatever size the page asks for (what the join-time
   * benchmark measures, closer to a real camera's cost). `portrait`: a person in a room
   * (`portraitCamera`), for what tells a person from the room. `hd`: a 640×360 test pattern
   * (`hdFakeCamera`), sent in simulcast layers.
   */
  camera?: 'small' | 'chromium' | 'portrait' | 'hd';
  /**
   * `beep` (the default): Chromium's fake microphone, a short beep every second. `speech`: bursts of a
   * voice-like sound and silence (`speechBursts`), for what depends on who speaks when. `noisy`: a
   * spoken sentence over a steady hiss (`noisySpeech`), for noise removal.
   */
  microphone?: 'beep' | 'speech' | 'noisy';
  /**
   * Plays sound into a sound server of the test's own (`startPulse`'s `env(sink)`): Playwright mutes
   * Chromium unless told otherwise, so with this the sound is played, and can be recorded there.
   */
  soundTo?: Record<string, string>;
  /** Runs Chromium inside this network namespace (`createNetnsLink`'s `name`), behind its link. */
  netns?: string;
  /** More command-line switches (e.g. `--ignore-certificate-errors` for a self-signed server). */
  args?: string[];
  /**
   * `false`: Chromium leaves loopback out of ICE, as it does for people (for a server it reaches on
   * another address). By default it offers loopback candidates, for the test server on 127.0.0.1.
   */
  loopback?: boolean;
}

/** An executable that starts Debian's Chromium inside network namespace `name` (Playwright's pipe fds pass). */
function chromiumIn(name: string): string {
  const wrapper = join(FIXTURES, `chromium-in-${name}.sh`);
  mkdirSync(FIXTURES, { recursive: true });
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${name} ${CHROME_PATH} "$@"\n`, { mode: 0o755 });
  return wrapper;
}

export function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const cameraFile = {
    small: smallFakeCamera,
    portrait: portraitCamera,
    hd: hdFakeCamera,
    chromium: undefined,
  }[options.camera ?? 'small'];
  const camera = cameraFile ? [`--use-file-for-fake-video-capture=${cameraFile()}`] : [];
  const microphoneFile = { speech: speechBursts, noisy: noisySpeech, beep: undefined }[
    options.microphone ?? 'beep'
  ];
  const microphone = microphoneFile ? [`--use-file-for-fake-audio-capture=${microphoneFile()}`] : [];
  return chromium.launch({
    executablePath: options.netns ? chromiumIn(options.netns) : CHROME_PATH,
    headless: true,
    args: [
      ...CHROMIUM_ARGS.filter(
        (a) => options.loopback !== false || a !== '--allow-loopback-in-peer-connection',
      ),
      ...camera,
      ...microphone,
      ...(options.args ?? []),
    ],
    ...(options.soundTo ? { env: options.soundTo, ignoreDefaultArgs: ['--mute-audio'] } : {}),
    timeout: 60_000,
  });
}

export interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Page errors and console errors, for a failing test to show. */
  errors: string[];
}

export interface OpenOptions {
  /** Extra query parameters, e.g. `audio=0`. */
  query?: string;
  /** Skip the pre-join screen (`join=1`, the default) or stop at it. */
  join?: boolean;
  viewport?: { width: number; height: number };
  /** Runs in the page before its scripts (stubs of browser APIs). */
  initScript?: string;
}

/** A person in their own browser profile (own storage), on the room's page. */
export async function openRoom(
  browser: Browser,
  baseUrl: string,
  room: string,
  name: string,
  options: OpenOptions = {},
): Promise<Person> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 720 } });
  // tsx compiles the functions these tests hand to page.evaluate with esbuild's keepNames, which wraps
  // named functions in a `__name(fn, "name")` helper that exists only in Node: give the page one too.
  await context.addInitScript('globalThis.__name = (fn) => fn;');
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  const params = new URLSearchParams({ name });
  if (options.join ?? true) params.set('join', '1');
  const query = options.query ? `&${options.query}` : '';
  await page.goto(`${baseUrl}/r/${encodeURIComponent(room)}?${params}${query}`);
  if (options.join ?? true) await page.locator('.call[data-status="connected"]').waitFor({ timeout: 20_000 });
  return { name, context, page, errors };
}

/** CSS selector of the tiles showing `name`'s camera (or initials) on someone else's page. */
export function tileOf(name: string, source: 'camera' | 'screen' = 'camera'): string {
  return `.tile[data-self="false"][data-source="${source}"][data-name="${cssString(name)}"]`;
}

export function cssString(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}

/**
 * Counts the frames each matching video element presents during `ms` (requestVideoFrameCallback fires
 * once per frame composited), in document order.
 */
export function countFrames(page: Page, selector: string, ms = 1500): Promise<number[]> {
  return page.evaluate(
    ({ selector, ms }) =>
      Promise.all(
        [...document.querySelectorAll<HTMLVideoElement>(selector)].map(
          (video) =>
            new Promise<number>((resolve) => {
              let frames = 0;
              let done = false;
              const step = () => {
                if (done) return;
                frames++;
                video.requestVideoFrameCallback(step);
              };
              video.requestVideoFrameCallback(step);
              setTimeout(() => {
                done = true;
                resolve(frames);
              }, ms);
            }),
        ),
      ),
    { selector, ms },
  );
}

interface StatsHook {
  port545?: {
    room?: {
      participants: Map<
        string,
        { name: string; tracks: Map<string, { source: string; mediaTrack?: { id: string } }> }
      >;
      getStats(target: 'publisher' | 'subscriber'): Promise<ReadonlyMap<string, Record<string, unknown>>>;
    };
  };
}

/**
 * Total audio energy received so far from each remote person's microphone, by display name: W3C
 * webrtc-stats `RTCInboundRtpStreamStats.totalAudioEnergy`, which grows only while there is sound.
 */
export function remoteAudioEnergy(page: Page): Promise<Record<string, number>> {
  return page.evaluate(async () => {
    const room = (window as unknown as StatsHook).port545?.room;
    if (!room) return {};
    const stats = await room.getStats('subscriber');
    const energy = new Map<string, number>();
    stats?.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio')
        energy.set(String(s.trackIdentifier), Number(s.totalAudioEnergy ?? 0));
    });
    const out: Record<string, number> = {};
    for (const p of room.participants.values()) {
      for (const t of p.tracks.values()) {
        if (t.source === 'microphone' && t.mediaTrack) out[p.name] = energy.get(t.mediaTrack.id) ?? 0;
      }
    }
    return out;
  });
}

/** How long a test waits for something a person would notice before calling it a failure. */
export const NOTICE_MS = 20_000;
/** Audio energy (sum of squared samples × seconds) a beeping fake microphone surely exceeds in a second. */
export const SOUND = 0.005;
/** What counts as silence over a second: a muted microphone sends only zeros. */
export const SILENCE = 0.0005;

/**
 * Waits until every video element matching `selector` has presented `frames` new frames (the picture
 * moves), or fails after `timeoutMs` with how many each one showed. No rate is asserted: a loaded
 * machine shows fewer frames a second, and that is a benchmark's business.
 */
export async function waitForFrames(
  page: Page,
  selector: string,
  options: { frames?: number; timeoutMs?: number; count?: number } = {},
): Promise<void> {
  const frames = options.frames ?? 5;
  const timeoutMs = options.timeoutMs ?? NOTICE_MS;
  const deadline = Date.now() + timeoutMs;
  if (options.count !== undefined) {
    await page.waitForFunction(
      ({ selector, count }) => document.querySelectorAll(selector).length === count,
      { selector, count: options.count },
      { timeout: timeoutMs },
    );
  }
  const seen = await page.evaluate(
    ({ selector, frames, ms }) =>
      Promise.all(
        [...document.querySelectorAll<HTMLVideoElement>(selector)].map(
          (video) =>
            new Promise<number>((resolve) => {
              let n = 0;
              const timer = setTimeout(() => resolve(n), ms);
              const step = () => {
                if (++n >= frames) {
                  clearTimeout(timer);
                  resolve(n);
                } else video.requestVideoFrameCallback(step);
              };
              video.requestVideoFrameCallback(step);
            }),
        ),
      ),
    { selector, frames, ms: Math.max(1000, deadline - Date.now()) },
  );
  if (seen.length === 0) throw new Error(`no video matches ${selector}`);
  if (seen.some((n) => n < frames))
    throw new Error(
      `${selector}: videos presented ${seen.join(', ')} of ${frames} frames in ${timeoutMs} ms`,
    );
}

/**
 * Waits until `page` hears `name`: a one-second window with sound from their microphone. Fails after
 * `timeoutMs` with the last window's energy.
 */
export async function waitForSound(page: Page, name: string, timeoutMs = NOTICE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  do {
    last = (await audioEnergyDuring(page, 1000))[name];
    if ((last ?? 0) > SOUND) return;
  } while (Date.now() < deadline);
  throw new Error(`no sound from ${name} in ${timeoutMs} ms (last second's energy: ${last})`);
}

/**
 * Waits until `page` no longer hears `name`: a one-second window without sound from their microphone
 * (what was already on its way has played out). Fails after `timeoutMs` with the last window's energy.
 */
export async function waitForSilence(page: Page, name: string, timeoutMs = NOTICE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  do {
    last = (await audioEnergyDuring(page, 1000))[name];
    if ((last ?? 0) < SILENCE) return;
  } while (Date.now() < deadline);
  throw new Error(`${name} is still heard after ${timeoutMs} ms (last second's energy: ${last})`);
}

/**
 * Arms a watch in the page for `selector` to match (or, with `gone`, to stop matching), optionally an
 * element whose text is exactly `text`. Returns a function that resolves with the page's wall-clock time
 * (the same clock as Date.now() here) when it happened.
 */
export async function watchFor(
  page: Page,
  selector: string,
  options: { text?: string; gone?: boolean; timeoutMs?: number } = {},
): Promise<() => Promise<number>> {
  const key = `w${Math.random().toString(36).slice(2)}`;
  await page.evaluate(
    ({ key, selector, text, gone, timeoutMs }) => {
      const store = window as unknown as Record<string, Promise<number>>;
      store[key] = new Promise<number>((resolve, reject) => {
        const matches = () =>
          [...document.querySelectorAll(selector)].some((e) => text === undefined || e.textContent === text);
        const check = () => {
          if (matches() === !gone) {
            observer.disconnect();
            clearTimeout(timer);
            resolve(Date.now());
          }
        };
        const observer = new MutationObserver(check);
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${gone ? 'no ' : ''}${selector}`));
        }, timeoutMs);
        observer.observe(document.body, {
          subtree: true,
          childList: true,
          attributes: true,
          characterData: true,
        });
        check();
      });
    },
    {
      key,
      selector,
      text: options.text,
      gone: options.gone ?? false,
      timeoutMs: options.timeoutMs ?? NOTICE_MS,
    },
  );
  return () => page.evaluate((key) => (window as unknown as Record<string, Promise<number>>)[key]!, key);
}

/**
 * Does `action` and returns when the page saw the person act (the wall-clock time of the first `event`
 * it dispatched): the latency a person notices starts there, not when the harness got around to it.
 */
export async function timedAction(
  page: Page,
  event: 'click' | 'keydown',
  action: () => Promise<void>,
): Promise<number> {
  await page.evaluate((event) => {
    const w = window as unknown as { __actedAt?: number };
    w.__actedAt = undefined;
    const record = () => {
      w.__actedAt ??= Date.now();
    };
    document.addEventListener(event, record, { capture: true, once: true });
  }, event);
  await action();
  const at = await page.evaluate(() => (window as unknown as { __actedAt?: number }).__actedAt);
  if (!at) throw new Error(`the page saw no ${event}`);
  return at;
}

/** How much audio energy arrived from each remote person during `ms`. */
export async function audioEnergyDuring(page: Page, ms: number): Promise<Record<string, number>> {
  const before = await remoteAudioEnergy(page);
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = await remoteAudioEnergy(page);
  const delta: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) delta[name] = value - (before[name] ?? 0);
  return delta;
}

/**
 * Resolves with the wall-clock time (ms since the epoch, the same clock as Node's Date.now()) at which
 * the first remote camera frame was presented on this page.
 */
export function firstRemoteFrameAt(page: Page, timeoutMs = 20_000): Promise<number> {
  return page.evaluate(
    (timeoutMs) =>
      new Promise<number>((resolve, reject) => {
        const watching = new WeakSet<HTMLVideoElement>();
        const timer = setTimeout(() => reject(new Error('no remote frame')), timeoutMs);
        const scan = () => {
          for (const video of document.querySelectorAll<HTMLVideoElement>(
            '.tile[data-self="false"][data-source="camera"] video',
          )) {
            if (watching.has(video)) continue;
            watching.add(video);
            video.requestVideoFrameCallback(() => {
              clearTimeout(timer);
              observer.disconnect();
              resolve(Date.now());
            });
          }
        };
        const observer = new MutationObserver(scan);
        observer.observe(document.body, { childList: true, subtree: true });
        scan();
      }),
    timeoutMs,
  );
}

export async function closeAll(people: Iterable<Person>): Promise<void> {
  await Promise.allSettled([...people].map((p) => p.context.close()));
}

/** What `browserSuite` gives the tests of one `describe`: set once its `before` hook has run. */
export interface BrowserSuite {
  server: TestServer;
  browser: Browser;
  /** Every person opened here is closed after the suite (push them as they are opened). */
  people: Person[];
  /** The server's data directory (a restart on it keeps what the server keeps). */
  dataDir: string;
}

/**
 * A test server and a Chromium for the tests of the enclosing `describe`: started before them, and
 * closed after them with every person's page in `people`. `server` changes the server's config; what
 * it writes (recordings, files, boards) goes to a temporary data directory of its own, removed after.
 */
export function browserSuite(options: LaunchOptions = {}, server: ConfigInput = {}): BrowserSuite {
  const suite = { people: [] as Person[] } as BrowserSuite;
  let dataDir: string | undefined;
  before(async () => {
    ensureWebBuild();
    dataDir = await mkdtemp(join(tmpdir(), 'port545-e2e-'));
    suite.dataDir = dataDir;
    suite.server = await startTestServer({ dataDir, ...server });
    suite.browser = await launchChromium(options);
  });
  after(async () => {
    for (const p of suite.people) await p.context.close();
    await suite.browser?.close();
    await suite.server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return suite;
}

/** axe-core's script, run in the page through the DevTools protocol (the page's CSP allows no inline script). */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** The serious and critical findings of axe-core on the page as it is now. */
export async function axeProblems(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
}
