import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

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

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROME_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
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
