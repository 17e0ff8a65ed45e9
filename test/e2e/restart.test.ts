/**
 * A restart of `port545 serve` as people live through it: three people in a call in Chromium, the
 * server killed with -9 (and later stopped with SIGTERM) and started again on the same port and data
 * directory. Nobody touches a page: each comes back by itself, sees the others' video moving again, the
 * host still hosts, the room is still locked and has its password (nobody retypes it), and no page ever
 * says the call ended.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  closeAll,
  ensureWebBuild,
  launchChromium,
  NOTICE_MS,
  openRoom,
  type Person,
  waitForFrames,
} from '../helpers/browser.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/server.js';

const ROOM = 'e2e-restart';
/** Generous on a busy 2-core machine; the figure is 15 s, and the measured times are printed. */
const BACK_WITHIN_MS = 30_000;
const REMOTE_VIDEOS = '.tile[data-self="false"][data-source="camera"] video';

interface Seen {
  reconnecting: boolean;
  /** A remote tile carried the "Reconnecting…" overlay. */
  frozenTiles: boolean;
  /** Notices that someone joined or left (the same people coming back are no news). */
  comings: string[];
  ended: string[];
}

/**
 * Records, in the page, whether it ever showed the call (and the others' frozen tiles) as reconnecting and whether it ever showed an
 * end page (`.end`: call ended, removed, could not be resumed).
 */
async function watchPage(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __seen: Seen };
    w.__seen = { reconnecting: false, frozenTiles: false, comings: [], ended: [] };
    const earlier = new WeakSet(document.querySelectorAll('.notices > *'));
    const look = () => {
      if (document.querySelector('.call[data-status="reconnecting"]')) w.__seen.reconnecting = true;
      if (document.querySelector('.tile[data-self="false"] .tile-overlay')) w.__seen.frozenTiles = true;
      for (const notice of document.querySelectorAll('.notices > *')) {
        if (earlier.has(notice)) continue;
        const text = notice.textContent ?? '';
        if (/ (joined|left)$/.test(text) && !w.__seen.comings.includes(text)) w.__seen.comings.push(text);
      }
      const end = document.querySelector('.end');
      if (end) w.__seen.ended.push(end.textContent ?? '');
    };
    new MutationObserver(look).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-status', 'class'],
    });
  });
}

function seen(page: Page): Promise<Seen> {
  return page.evaluate(() => (window as unknown as { __seen: Seen }).__seen);
}

describe('a server restart in Chromium', () => {
  let browser: Browser;
  let port: number;
  let dataDir: string;
  let server: CliRun | undefined;
  const people: Person[] = [];

  /** `port545 serve` with its rooms on worker threads (the default), media on loopback. */
  async function startServer(): Promise<CliRun> {
    const run = runCli([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--rtc-host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
    ]);
    await run.waitFor(new RegExp(`http://127\\.0\\.0\\.1:${port}/`), 30_000);
    return run;
  }

  before(async () => {
    ensureWebBuild();
    dataDir = mkdtempSync(join(tmpdir(), 'port545-restart-'));
    port = await freePort();
    server = await startServer();
    browser = await launchChromium({ camera: 'small' });
  });

  after(async () => {
    await closeAll(people);
    await browser?.close();
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('after kill -9 and after SIGTERM, all three are back with video, the host hosts, lock and password stay', async (t) => {
    const url = `http://127.0.0.1:${port}`;
    for (const name of ['Ann', 'Bob', 'Cid']) people.push(await openRoom(browser, url, ROOM, name));
    const [ann, bob, cid] = people as [Person, Person, Person];
    for (const p of people)
      await waitForFrames(p.page, REMOTE_VIDEOS, { count: 2, timeoutMs: BACK_WITHIN_MS });
    await ann.page.locator('.call-count .tag.host').waitFor({ timeout: NOTICE_MS });
    await ann.page.keyboard.press('p');
    await ann.page.getByRole('button', { name: 'Lock the room' }).click();
    await ann.page.locator('summary', { hasText: 'Directory listing and password' }).click();
    await ann.page.getByLabel('Set a room password').fill('open sesame');
    await ann.page.getByRole('button', { name: 'Set', exact: true }).click();
    for (const p of people) {
      await p.page.locator('.call-count .tag', { hasText: 'locked' }).waitFor({ timeout: NOTICE_MS });
      await p.page.locator('.call-count .tag', { hasText: 'password' }).waitFor({ timeout: NOTICE_MS });
    }

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      for (const p of people) await watchPage(p.page);
      const stopped = Date.now();
      server!.child.kill(signal);
      const exit = await server!.exited;
      const down = Date.now() - stopped;
      if (signal === 'SIGKILL') assert.equal(exit.signal, 'SIGKILL');
      else assert.equal(exit.code, 0, 'SIGTERM: the server drained and exited');
      server = await startServer();
      const up = Date.now() - stopped;

      // Nobody touches a page: each one comes back by itself, with the two others' video moving.
      const back = await Promise.all(
        people.map(async (p) => {
          await p.page.locator('.call[data-status="connected"]').waitFor({ timeout: BACK_WITHIN_MS });
          await waitForFrames(p.page, REMOTE_VIDEOS, { count: 2, timeoutMs: BACK_WITHIN_MS });
          return Date.now() - stopped;
        }),
      );
      t.diagnostic(
        `${signal}: server exited after ${down} ms, up again after ${up} ms; video back on the pages after ${back.join(', ')} ms`,
      );

      for (const p of people) {
        const s = await seen(p.page);
        assert.equal(s.reconnecting, true, `${signal}: ${p.name}'s page showed the call reconnecting`);
        assert.equal(s.frozenTiles, true, `${signal}: ${p.name}'s page marked the frozen tiles`);
        assert.deepEqual(s.comings, [], `${signal}: ${p.name}'s page announced nobody joining or leaving`);
        assert.deepEqual(s.ended, [], `${signal}: ${p.name}'s page never said the call ended`);
        const remoteTiles = p.page.locator('.tile[data-self="false"][data-source="camera"]');
        assert.equal(await remoteTiles.count(), 2, `${p.name}: two others, no tile left from before`);
      }
      await ann.page.locator('.call-count .tag.host').waitFor({ timeout: NOTICE_MS });
      for (const guest of [bob, cid])
        assert.equal(
          await guest.page.locator('.call-count .tag.host').count(),
          0,
          `${guest.name} is a guest`,
        );
      for (const p of people) {
        await p.page.locator('.call-count .tag', { hasText: 'locked' }).waitFor({ timeout: NOTICE_MS });
        await p.page.locator('.call-count .tag', { hasText: 'password' }).waitFor({ timeout: NOTICE_MS });
      }

      // Somebody new is asked for the password (its hash survived), and even with it is refused: locked.
      const dan = await openRoom(browser, url, ROOM, 'Dan', { join: false, query: 'join=1' });
      try {
        await dan.page.locator('.end[data-end="password"]').waitFor({ timeout: NOTICE_MS });
        await dan.page.getByLabel(`Password for ${ROOM}`).fill('open sesame');
        await dan.page.getByRole('button', { name: 'Join', exact: true }).click();
        await dan.page.getByText('The room is locked.', { exact: false }).waitFor({ timeout: NOTICE_MS });
      } finally {
        await dan.context.close();
      }
    }
  });
});
