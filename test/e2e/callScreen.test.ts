/**
 * The call screen a person expects from Meet or Jitsi, in Chromium whose fake microphone speaks in
 * bursts with silence between (`speechBursts`): the speaking person's tile gets a ring that others can
 * see (checked on screen pixels) and loses it in the silence; a muted microphone that hears speech says
 * "You are muted".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  BURST_PERIOD_S,
  browserSuite,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
  waitForSound,
} from '../helpers/browser.js';
import { pngPixels } from '../helpers/ffmpeg.js';

/** Polls `check` until it holds (a generous deadline for a busy machine). */
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + NOTICE_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`timed out waiting: ${what}`);
}

/**
 * Polls (every 20 ms) the received audio level of the tile's person and the tile's speaking state:
 * `on`, ms from a sound's arrival (after quiet, with the ring off) to the ring; `off`, ms from the last
 * sound to the ring going.
 */
function ringTiming(page: Page, tile: string, ms: number): Promise<{ on: number[]; off: number[] }> {
  return page.evaluate(
    async ({ tile, ms }) => {
      type Stats = ReadonlyMap<string, { type: string; kind?: string; audioLevel?: number }>;
      const room = (window as unknown as { port545: { room: { getStats(t: string): Promise<Stats> } } })
        .port545.room;
      const ringing = () => (document.querySelector(tile) as HTMLElement | null)?.dataset.speaking === 'true';
      const on: number[] = [];
      const off: number[] = [];
      // A sound's start counts once the level was quiet with the ring off: the ring's own hold and the
      // level's decay are not taken for a new start.
      let armed = false;
      let lastLoud = -1e9;
      let soundStart: number | undefined;
      let was = ringing();
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const now = performance.now();
        let level = 0;
        (await room.getStats('subscriber')).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio') level = Math.max(level, s.audioLevel ?? 0);
        });
        const ring = ringing();
        if (level > 0.02) {
          if (armed && soundStart === undefined) soundStart = now;
          lastLoud = now;
        } else if (!ring) armed = true;
        if (ring && !was) {
          if (soundStart !== undefined) on.push(Math.round(now - soundStart));
          soundStart = undefined;
          armed = false;
        }
        if (!ring && was) {
          off.push(Math.round(now - lastLoud));
          armed = false;
        }
        was = ring;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { on, off };
    },
    { tile, ms },
  );
}

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
  const suite = browserSuite({ microphone: 'speech' });
  const people = suite.people;

  it('rings the tile of whoever speaks, on screen, and not in their silence', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'talk', 'Ann', { query: 'audio=1&video=1' });
    const bob = await openRoom(suite.browser, suite.server.url, 'talk', 'Bob', { query: 'audio=0&video=1' });
    people.push(ann, bob);
    const annTile = tileOf('Ann');
    const b = bob.page;
    await b.locator(`${annTile} video`).waitFor({ timeout: NOTICE_MS });
    // Her bursts of speech come and go: the ring comes with them and goes in the silence between. It
    // fades in and out (150 ms), so the screen is looked at until it shows what is expected.
    const ringSeen = async (seen: boolean) => {
      const deadline = Date.now() + NOTICE_MS;
      let colour: number[] = [];
      while (Date.now() < deadline) {
        colour = await edgeColour(b, annTile);
        if (near(colour, RING) === seen) return;
        await b.waitForTimeout(100);
      }
      assert.fail(`${seen ? 'no ring' : 'still a ring'} at the edge of her tile: rgb(${colour})`);
    };
    for (let burst = 0; burst < 2; burst++) {
      await b.locator(`${annTile}[data-speaking="true"]`).waitFor({ timeout: NOTICE_MS });
      await ringSeen(true);
      await b.locator(`${annTile}[data-speaking="false"]`).waitFor({ timeout: NOTICE_MS });
      await ringSeen(false);
    }
    // Bob sends no sound: his tile never rings on Ann's page.
    assert.equal(await ann.page.locator(`${tileOf('Bob')}[data-speaking="true"]`).count(), 0);
    // How soon the ring follows her sound (its arrival on Bob's page: the received audio level), and
    // how soon it goes after it: measured over three bursts and printed, not asserted.
    const timing = await ringTiming(b, annTile, 3 * BURST_PERIOD_S * 1000);
    console.log(
      `# ring after her sound arrives: ${timing.on.join(', ')} ms; off after silence: ${timing.off.join(', ')} ms`,
    );
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

  it('keeps a pinned tile large while someone else speaks', async () => {
    const [ann, bob] = people as [Person, Person];
    const b = bob.page;
    await b.locator(`${tileOf('Ann')} [data-tile-menu]`).click();
    await b.getByRole('button', { name: 'Pin for me' }).click();
    await b.locator(`.stage-main ${tileOf('Ann')}[data-pinned="true"]`).waitFor({ timeout: NOTICE_MS });
    // Bob pins his own tile instead: it stays large while Ann speaks, through her burst and her silence.
    await b.locator('.filmstrip [data-self="true"] [data-tile-menu]').click();
    await b.getByRole('button', { name: 'Pin for me' }).click();
    await b.locator('.stage-main [data-self="true"][data-pinned="true"]').waitFor({ timeout: NOTICE_MS });
    await b.locator(`.filmstrip ${tileOf('Ann')}[data-speaking="true"]`).waitFor({ timeout: NOTICE_MS });
    assert.equal(
      await b.locator('.stage-main [data-self="true"]').count(),
      1,
      'the pinned tile is still large',
    );
    await b.locator(`.filmstrip ${tileOf('Ann')}[data-speaking="false"]`).waitFor({ timeout: NOTICE_MS });
    assert.equal(await b.locator('.stage-main [data-self="true"]').count(), 1);
    assert.equal(await ann.page.locator('.stage-main').count(), 0, 'a pin is for the person who pins');
    await b.locator('.stage-main [data-self="true"] [data-tile-menu]').click();
    await b.getByRole('button', { name: 'Unpin' }).click();
    await b.locator('.stage-main').waitFor({ state: 'detached', timeout: NOTICE_MS });
  });

  it('mutes a person for me only, and lists the speakers sound can play on', async () => {
    const [ann, bob] = people as [Person, Person];
    const cy = await openRoom(suite.browser, suite.server.url, 'talk', 'Cy', { query: 'audio=0&video=0' });
    people.push(cy);
    const annId = await bob.page.locator(tileOf('Ann')).getAttribute('data-participant');
    const player = (page: Page) => page.locator(`[data-remote-audio] audio[data-participant="${annId}"]`);
    const volume = (page: Page) => player(page).evaluate((a: HTMLAudioElement) => a.volume);
    await player(bob.page).waitFor({ state: 'attached', timeout: NOTICE_MS });
    await player(cy.page).waitFor({ state: 'attached', timeout: NOTICE_MS });
    await bob.page.locator(`${tileOf('Ann')} [data-tile-menu]`).click();
    await bob.page.getByRole('button', { name: 'Mute for me' }).click();
    // Bob's page plays Ann at volume 0; Cy's at full volume, and her voice still reaches Cy.
    assert.equal(await volume(bob.page), 0);
    assert.equal(await volume(cy.page), 1);
    await waitForSound(cy.page, 'Ann');
    assert.equal(
      await cy.page.locator(`${tileOf('Ann')}[data-muted="false"]`).count(),
      1,
      'not a mute for all',
    );
    // The slider sets any level; "Unmute for me" brings her back.
    const slider = bob.page.locator(`${tileOf('Ann')} .tile-volume input`);
    await slider.fill('40');
    assert.equal(await volume(bob.page), 0.4);
    await slider.fill('0');
    await bob.page.getByRole('button', { name: 'Unmute for me' }).click();
    assert.equal(await volume(bob.page), 1);

    await bob.page.keyboard.press('Escape');
    await bob.page.getByRole('button', { name: /^Settings/ }).click();
    // The devices are listed once the panel is open: wait for the list, not for a fixed moment.
    await bob.page.locator('#call-speaker option').first().waitFor({ state: 'attached', timeout: NOTICE_MS });
    const outputs = await bob.page.locator('#call-speaker option').allInnerTexts();
    assert.ok(outputs.length >= 1, `the speaker picker lists the outputs: ${outputs.join(', ')}`);
    await bob.page.selectOption('#call-speaker', { index: outputs.length - 1 });
    const chosen = await bob.page.locator('#call-speaker').inputValue();
    await bob.page.waitForFunction(
      (id) =>
        [...document.querySelectorAll('[data-remote-audio] audio')].every(
          (a) => (a as HTMLAudioElement & { sinkId: string }).sinkId === id,
        ),
      chosen,
      { timeout: NOTICE_MS },
    );
    assert.deepEqual(ann.errors.concat(bob.errors, cy.errors), []);
  });

  it('shows a presenter a placeholder for their own screen, and the others the screen', async () => {
    const [ann, bob] = people as [Person, Person];
    await ann.page.keyboard.press('s');
    const own = ann.page.locator('.tile[data-self="true"][data-source="screen"]');
    await own.waitFor({ timeout: NOTICE_MS });
    assert.match(await own.innerText(), /You are presenting your screen to everyone/);
    assert.equal(await own.locator('video').count(), 0, 'not the screen inside the screen');
    await bob.page.locator(`${tileOf('Ann', 'screen')} video`).waitFor({ timeout: NOTICE_MS });
    await ann.page.keyboard.press('s');
    await own.waitFor({ state: 'detached', timeout: NOTICE_MS });
  });

  it('grades each connection with bars, details one’s own, and marks a frozen picture', async () => {
    const [ann, bob] = people as [Person, Person];
    const b = bob.page;
    await b.locator(`${tileOf('Ann')}[data-quality="good"]`).waitFor({ timeout: NOTICE_MS });
    await b.locator('.tile[data-self="true"][data-source="camera"][data-quality="good"]').waitFor({
      timeout: NOTICE_MS,
    });
    assert.equal(
      await b.locator(`${tileOf('Ann')} .quality-bars`).getAttribute('aria-label'),
      'Connection: good',
    );
    const own = b.locator('.own-connection');
    if ((await own.count()) === 0) await b.getByRole('button', { name: /^Settings/ }).click();
    await own.locator('dl').waitFor({ timeout: NOTICE_MS });
    assert.match(await own.innerText(), /Round trip to the server\s+\d+ ms/);
    await b.keyboard.press('Escape');

    // Ann's camera stops sending pictures without being turned off (a stalled encoder, a dead link):
    // Bob sees her picture marked frozen, and unmarked when pictures come again.
    const swap = (stop: boolean) =>
      ann.page.evaluate(async (stop) => {
        type Local = { source: string; track: MediaStreamTrack; transceiver: RTCRtpTransceiver };
        const room = (window as unknown as { port545: { room: { localTracks: Local[] } } }).port545.room;
        const camera = room.localTracks.find((t) => t.source === 'camera')!;
        await camera.transceiver.sender.replaceTrack(stop ? null : camera.track);
      }, stop);
    await swap(true);
    const frozen = b.locator(`${tileOf('Ann')}[data-frozen="true"]`);
    await frozen.waitFor({ timeout: NOTICE_MS });
    assert.match(await frozen.innerText(), /Video frozen/);
    assert.equal(await frozen.getAttribute('data-quality'), 'poor');
    await swap(false);
    await b.locator(`${tileOf('Ann')}[data-frozen="false"]`).waitFor({ timeout: NOTICE_MS });
  });

  it('switches the browser’s noise suppression off and on, and remembers it', async () => {
    const [ann, bob] = people as [Person, Person];
    const a = ann.page;
    const own = a.locator('.own-connection');
    if ((await own.count()) === 0) await a.getByRole('button', { name: /^Settings/ }).click();
    const choice = a.locator('#call-noise');
    assert.equal(await choice.inputValue(), 'browser', 'the browser’s own by default');
    /** What the microphone track being sent says of itself. */
    const sent = () =>
      a.evaluate(() => {
        const session = (window as unknown as { port545: { session: { mic?: { track: MediaStreamTrack } } } })
          .port545.session;
        const track = session.mic?.track;
        return { label: track?.label ?? '', noiseSuppression: track?.getSettings().noiseSuppression };
      });

    await choice.selectOption('off');
    await waitUntil(
      async () => (await sent()).noiseSuppression === false,
      'the microphone reopened without it',
    );
    const saved = await a.evaluate(() => JSON.parse(localStorage.getItem('port545.preferences') ?? '{}'));
    assert.equal(saved.noiseSuppression, 'off', 'remembered for the next call');

    await waitForSound(bob.page, 'Ann');
    await choice.selectOption('browser');
    await waitUntil(async () => (await sent()).noiseSuppression === true, 'the browser’s own again');
    await waitForSound(bob.page, 'Ann');
  });
});
