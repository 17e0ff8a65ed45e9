/**
 * The call screen a person expects from Meet or Jitsi, in Chromium whose fake microphone speaks in
 * bursts with silence between (`speechBursts`): the speaking person's tile gets a ring that others can
 * see (checked on screen pixels) and loses it in the silence; a muted microphone that hears speech says
 * "You are muted".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  ensureWebBuild,
  launchChromium,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
} from '../helpers/browser.js';
import { pngPixels } from '../helpers/ffmpeg.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The speaking ring's colour (--speaking). */
const RING = [0x6f, 0xe0, 0xcf];

/** The colour on screen one pixel inside the left edge of `selector`, half-way down. */
async function edgeColour(page: Page, selector: string): Promise<number[]> {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box, `${selector} is on screen`);
  const png = await page.screenshot({
    clip: { x: Math.round(box.x) + 1, y: Math.round(box.y + box.height / 2), width: 1, height: 1 },
  });
  return [...(await pngPixels(png)).subarray(0, 3)];
}
const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 24);

describe('the call screen', () => {
  let server: TestServer;
  let browser: Browser;
  const people: Person[] = [];

  before(async () => {
    ensureWebBuild();
    server = await startTestServer();
    browser = await launchChromium({ microphone: 'speech' });
  });
  after(async () => {
    for (const p of people) await p.context.close();
    await browser?.close();
    await server?.close();
  });

  it('rings the tile of whoever speaks, on screen, and not in their silence', async () => {
    const ann = await openRoom(browser, server.url, 'talk', 'Ann', { query: 'audio=1&video=1' });
    const bob = await openRoom(browser, server.url, 'talk', 'Bob', { query: 'audio=0&video=1' });
    people.push(ann, bob);
    const annTile = tileOf('Ann');
    const b = bob.page;
    await b.locator(`${annTile} video`).waitFor({ timeout: NOTICE_MS });
    // Her bursts of speech come and go: the ring comes with them and goes in the silence between.
    for (let burst = 0; burst < 2; burst++) {
      await b.locator(`${annTile}[data-speaking="true"]`).waitFor({ timeout: NOTICE_MS });
      const colour = await edgeColour(b, annTile);
      assert.ok(near(colour, RING), `the ring is seen over her video while she speaks: rgb(${colour})`);
      await b.locator(`${annTile}[data-speaking="false"]`).waitFor({ timeout: NOTICE_MS });
      const quiet = await edgeColour(b, annTile);
      assert.ok(!near(quiet, RING), `no ring in her silence: rgb(${quiet})`);
    }
    // Bob sends no sound: his tile never rings on Ann's page.
    assert.equal(await ann.page.locator(`${tileOf('Bob')}[data-speaking="true"]`).count(), 0);
  });

  it('tells a person who talks while muted that they are muted', async () => {
    const a = people[0]!.page;
    const nudge = a.locator('[data-nudge="muted"]');
    assert.equal(await nudge.count(), 0, 'no nudge while the microphone is on');
    await a.keyboard.press('m');
    await a.locator('button[aria-label^="Turn on microphone"]').waitFor({ timeout: NOTICE_MS });
    await nudge.waitFor({ timeout: NOTICE_MS });
    assert.match(await nudge.innerText(), /You are muted/);
    await nudge.getByRole('button', { name: 'Dismiss' }).click();
    await nudge.waitFor({ state: 'detached', timeout: NOTICE_MS });
    // The next burst nudges again; Unmute turns the microphone on and the nudge goes.
    await nudge.waitFor({ timeout: NOTICE_MS });
    await nudge.getByRole('button', { name: 'Unmute' }).click();
    await a.locator('button[aria-label^="Turn off microphone"]').waitFor({ timeout: NOTICE_MS });
    await nudge.waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(
      people.flatMap((p) => p.errors),
      [],
    );
  });
});
