import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Bot } from '../../src/bot/Bot.js';
import { launchChromium, NOTICE_MS, waitForFrames } from '../helpers/browser.js';
import { eventually, type InThreadTestServer, LOOPBACK, startInThreadServer } from '../helpers/server.js';
import { openWhipWhepPage, type WhipWhepClient } from '../helpers/whipWhepPage.js';

describe('WHIP and WHEP with Chromium', () => {
  let t: InThreadTestServer;
  let browser: Browser;
  const pages: Page[] = [];

  async function page(): Promise<Page> {
    const p = await openWhipWhepPage(browser, t.url);
    pages.push(p);
    return p;
  }

  before(async () => {
    t = await startInThreadServer();
    browser = await launchChromium();
  });
  after(async () => {
    for (const p of pages) await p.context().close();
    await browser.close();
    await t.close();
  });

  it('a WHIP page publishes its camera; a WHEP page and a bot in the room see its frames advance; DELETE ends it', async () => {
    const bot = await Bot.start({
      url: t.url,
      room: 'studio',
      name: 'Bot',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    try {
      const publisher = await page();
      const location = await publisher.evaluate(
        (url) => (window as unknown as WhipWhepClient).whipCamera(url),
        `${t.url}/whip/studio?name=Camera`,
      );
      assert.match(location, /^\/whip\/studio\/sessions\//);
      const room = t.rooms.host.registry.rooms.get('studio')!;
      const camera = [...room.participants.values()].find((p) => p.name === 'Camera');
      assert.ok(camera, 'the WHIP publisher is a participant named from ?name=');
      await eventually(
        'the bot receives the WHIP video',
        () => bot.receivedFrom(camera.id).some((r) => r.frames > 30),
        15_000,
      );

      const player = await page();
      await player.evaluate(
        (url) => (window as unknown as WhipWhepClient).whep(url),
        `${t.url}/whep/studio/Camera`,
      );
      await player.waitForFunction(
        () => (window as unknown as WhipWhepClient).video.videoWidth > 0,
        undefined,
        { timeout: NOTICE_MS },
      );
      // The picture moves: the WHEP page presents frames of the camera, one after another.
      await waitForFrames(player, 'video', { frames: 10 });

      const status = await publisher.evaluate(
        async (loc) => (await fetch(loc, { method: 'DELETE' })).status,
        location,
      );
      assert.equal(status, 200);
      await eventually('the publisher left the room', () => !room.participants.has(camera.id));
      await eventually(
        'the WHEP session of the publisher ended with it',
        () => t.rooms.gateways.whep.size === 0,
      );
    } finally {
      await bot.stop();
    }
  });

  it("a WHEP page plays the room: the active speaker's video, switching when another speaks, and the room's audio", async () => {
    const red = await page();
    const blue = await page();
    await red.evaluate(
      (url) => (window as unknown as WhipWhepClient).whipColour(url, '#e00000'),
      `${t.url}/whip/panel?name=Red`,
    );
    await blue.evaluate(
      (url) => (window as unknown as WhipWhepClient).whipColour(url, '#0000e0'),
      `${t.url}/whip/panel?name=Blue`,
    );
    const player = await page();
    await red.evaluate(() => (window as unknown as WhipWhepClient).speak(true));
    await player.evaluate((url) => (window as unknown as WhipWhepClient).whep(url), `${t.url}/whep/panel`);
    const colourIs = async (want: string, timeoutMs: number) => {
      const start = Date.now();
      while (Date.now() - start < timeoutMs) {
        if ((await player.evaluate(() => (window as unknown as WhipWhepClient).colour())) === want)
          return Date.now() - start;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(
        `the WHEP page did not show ${want} within ${timeoutMs} ms (shows ${await player.evaluate(() => (window as unknown as WhipWhepClient).colour())})`,
      );
    };
    await colourIs('red', 20_000);
    const energyBefore = await player.evaluate(() => (window as unknown as WhipWhepClient).audioEnergy());
    let energyAfter = energyBefore;
    const heard = () =>
      energyAfter.packets > energyBefore.packets + 20 && energyAfter.energy > energyBefore.energy;
    for (let deadline = Date.now() + 20_000; !heard() && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      energyAfter = await player.evaluate(() => (window as unknown as WhipWhepClient).audioEnergy());
    }
    assert.ok(
      heard(),
      `the room's audio reaches the WHEP page: ${JSON.stringify(energyBefore)} → ${JSON.stringify(energyAfter)}`,
    );

    await red.evaluate(() => (window as unknown as WhipWhepClient).speak(false));
    await blue.evaluate(() => (window as unknown as WhipWhepClient).speak(true));
    // How fast it switches is measured by npm run bench:web; here, that it follows the speaker.
    const toBlue = await colourIs('blue', 20_000);
    console.log(`  WHEP switched to the new speaker's video ${toBlue} ms after they started talking`);
    await blue.evaluate(() => (window as unknown as WhipWhepClient).speak(false));
    await red.evaluate(() => (window as unknown as WhipWhepClient).speak(true));
    const toRed = await colourIs('red', 20_000);
    console.log(`  …and back in ${toRed} ms`);
  });
});
