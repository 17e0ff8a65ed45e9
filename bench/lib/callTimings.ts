/**
 * How quickly people in a call notice what others do, in Debian's Chromium: the timings the web-client
 * tests used to assert ("within 1 s") and now leave to this benchmark, since on a loaded machine they
 * are performance, not function. Each figure runs from the moment the acting page saw the click or key
 * (or the harness closed the tab) to the moment the watching page's DOM showed the result.
 */
import type { Browser, Page } from 'playwright-core';
import {
  audioEnergyDuring,
  countFrames,
  openRoom,
  type Person,
  SILENCE,
  tileOf,
  timedAction,
  watchFor,
} from '../../test/helpers/browser.js';

export interface Spread {
  runs: number[];
  median: number;
  min: number;
  max: number;
}

export function spread(runs: number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export interface CallTimings {
  /** Remote camera frames presented per second, on each page, for each remote camera. */
  remoteFps: Spread;
  /** Click on "Turn off microphone" to the muted badge on another page. */
  mutedBadgeMs: Spread;
  /** Click on mute until a 250 ms window without sound from that person on another page. */
  soundStopsMs: Spread;
  /** Enter in the chat box to the message on a page with the chat open. */
  chatShownMs: Spread;
  /** The same, to the unread badge on a page with the chat closed. */
  unreadBadgeMs: Spread;
  /** Click on "Present your screen" to the first frame of the screen on another page. */
  screenShownMs: Spread;
  /** Click on "Stop presenting" to the screen's tile gone from another page. */
  screenGoneMs: Spread;
  /** Click on "Leave call" to the tile gone from another page. */
  leaveGoneMs: Spread;
  /** A closed tab to the tile gone from another page. */
  tabClosedGoneMs: Spread;
}

/** When `page` first presents a frame of a video matching `selector` (armed now, resolved later). */
async function firstFrameOf(page: Page, selector: string): Promise<() => Promise<number>> {
  const key = `f${Math.random().toString(36).slice(2)}`;
  await page.evaluate(
    ({ key, selector }) => {
      (window as unknown as Record<string, Promise<number>>)[key] = new Promise<number>((resolve) => {
        const scan = () => {
          const video = document.querySelector<HTMLVideoElement>(selector);
          if (!video) return;
          observer.disconnect();
          video.requestVideoFrameCallback(() => resolve(Date.now()));
        };
        const observer = new MutationObserver(scan);
        observer.observe(document.body, { childList: true, subtree: true, attributes: true });
        scan();
      });
    },
    { key, selector },
  );
  return () => page.evaluate((key) => (window as unknown as Record<string, Promise<number>>)[key]!, key);
}

/** Polls `page` in 250 ms windows until `name` is silent; returns when the silent window began. */
async function silentFrom(page: Page, name: string, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const began = Date.now();
    const heard = await audioEnergyDuring(page, 250);
    if ((heard[name] ?? 0) < SILENCE / 4) return began;
  }
  throw new Error(`${name} still heard after ${timeoutMs} ms`);
}

/**
 * Three people in `room` (Ann acts, Bob keeps the chat open, Cid watches with it closed), `runs`
 * rounds of each action. The pages are closed at the end.
 */
export async function measureCallTimings(
  browser: Browser,
  url: string,
  room: string,
  runs: number,
  log: (line: string) => void,
): Promise<CallTimings> {
  const people: Person[] = [];
  const t: Record<keyof CallTimings, number[]> = {
    remoteFps: [],
    mutedBadgeMs: [],
    soundStopsMs: [],
    chatShownMs: [],
    unreadBadgeMs: [],
    screenShownMs: [],
    screenGoneMs: [],
    leaveGoneMs: [],
    tabClosedGoneMs: [],
  };
  try {
    for (const name of ['Ann', 'Bob', 'Cid']) people.push(await openRoom(browser, url, room, name));
    const [ann, bob, cid] = people as [Person, Person, Person];
    for (const p of people)
      for (const o of people.filter((q) => q !== p))
        await p.page.locator(`${tileOf(o.name)}[data-video="on"] video.ready`).waitFor({ timeout: 15_000 });
    await bob.page.keyboard.press('c');
    for (let i = 1; i <= runs; i++) {
      for (const p of people)
        for (const n of await countFrames(
          p.page,
          '.tile[data-self="false"][data-source="camera"] video',
          2000,
        ))
          t.remoteFps.push(n / 2);

      const badge = await watchFor(bob.page, `${tileOf('Ann')}[data-muted="true"] .muted-badge`);
      const muted = await timedAction(ann.page, 'click', () =>
        ann.page.getByRole('button', { name: 'Turn off microphone (M)' }).click(),
      );
      t.mutedBadgeMs.push((await badge()) - muted);
      t.soundStopsMs.push((await silentFrom(cid.page, 'Ann')) - muted);
      const unmuted = await watchFor(bob.page, `${tileOf('Ann')}[data-muted="false"]`);
      await ann.page.keyboard.press('m');
      await unmuted();

      const text = `Message ${i} from Ann`;
      const shown = await watchFor(bob.page, '.chat-message .chat-text', { text });
      const unread = await watchFor(cid.page, `button[aria-label="Chat (C), ${i} unread"]`);
      await ann.page.keyboard.press('c');
      const box = ann.page.getByRole('textbox', { name: 'Message to everyone' });
      await box.fill(text);
      const sent = await timedAction(ann.page, 'keydown', () => box.press('Enter'));
      t.chatShownMs.push((await shown()) - sent);
      t.unreadBadgeMs.push((await unread()) - sent);
      await ann.page.keyboard.press('Escape');

      const screen = `.stage-main ${tileOf('Cid', 'screen')} video`;
      const screenFrame = await firstFrameOf(bob.page, screen);
      const presented = await timedAction(cid.page, 'click', () =>
        cid.page.getByRole('button', { name: 'Present your screen (S)' }).click(),
      );
      t.screenShownMs.push((await screenFrame()) - presented);
      const screenGone = await watchFor(bob.page, tileOf('Cid', 'screen'), { gone: true });
      const stopped = await timedAction(cid.page, 'click', () =>
        cid.page.getByRole('button', { name: 'Stop presenting (S)' }).click(),
      );
      t.screenGoneMs.push((await screenGone()) - stopped);

      const leaver = await openRoom(browser, url, room, `Leaver ${i}`);
      try {
        await bob.page.locator(tileOf(leaver.name)).waitFor({ timeout: 15_000 });
        const gone = await watchFor(bob.page, tileOf(leaver.name), { gone: true });
        const left = await timedAction(leaver.page, 'click', () =>
          leaver.page.getByRole('button', { name: 'Leave call' }).click(),
        );
        t.leaveGoneMs.push((await gone()) - left);
      } finally {
        await leaver.context.close();
      }
      const closer = await openRoom(browser, url, room, `Closer ${i}`);
      try {
        await bob.page.locator(tileOf(closer.name)).waitFor({ timeout: 15_000 });
        const gone = await watchFor(bob.page, tileOf(closer.name), { gone: true });
        const closed = Date.now();
        await closer.page.close();
        t.tabClosedGoneMs.push((await gone()) - closed);
      } finally {
        await closer.context.close();
      }
      log(
        `round ${i}: muted badge ${t.mutedBadgeMs.at(-1)} ms, sound stops ${t.soundStopsMs.at(-1)} ms, ` +
          `chat ${t.chatShownMs.at(-1)} ms, screen ${t.screenShownMs.at(-1)}/${t.screenGoneMs.at(-1)} ms, ` +
          `leave ${t.leaveGoneMs.at(-1)} ms, tab closed ${t.tabClosedGoneMs.at(-1)} ms`,
      );
    }
  } finally {
    await Promise.allSettled(people.map((p) => p.context.close()));
  }
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, spread(v)])) as unknown as CallTimings;
}
