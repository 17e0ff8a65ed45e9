/**
 * The room directory in Chromium: a room its host listed appears on another visitor's home page and
 * opens with a click; an unlisted room never appears.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { connectNode } from '../../src/client/node.js';
import { ensureWebBuild, launchChromium, NOTICE_MS } from '../helpers/browser.js';
import { LOOPBACK, startTestServer, type TestServer } from '../helpers/server.js';

describe('the room directory on the home page', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    ensureWebBuild();
    server = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows a listed room to a visitor, who joins it with a click; an unlisted room never shows', async () => {
    const host = await connectNode({
      url: server.url,
      room: 'open-house',
      name: 'Ann',
      hostAddresses: LOOPBACK,
    });
    const hidden = await connectNode({
      url: server.url,
      room: 'private-talk',
      name: 'Cy',
      hostAddresses: LOOPBACK,
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      await host.listRoom(true, 'Questions welcome');
      // The page asks again every few seconds: the listed room appears without a reload.
      const entry = page.locator('.directory-room', { hasText: 'open-house' });
      await entry.waitFor({ timeout: NOTICE_MS });
      assert.match(await entry.innerText(), /Questions welcome/);
      assert.match(await entry.innerText(), /1 person/);
      assert.equal(await page.locator('.directory', { hasText: 'private-talk' }).count(), 0);
      await entry.click();
      await page.waitForURL(/\/r\/open-house$/, { timeout: NOTICE_MS });
      await page.locator('main.prejoin').waitFor({ timeout: NOTICE_MS });
    } finally {
      await context.close();
      await host.leave();
      await hidden.leave();
    }
  });
});
