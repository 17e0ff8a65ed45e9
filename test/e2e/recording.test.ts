/**
 * Recording a call in Chromium: a host's Record control (guests have none, and the server refuses them),
 * the indicator everyone sees while the call is recorded (a late joiner on arrival too), the notices when
 * it starts and stops; and a snapshot of a tile's video saved as a PNG download.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserSuite, NOTICE_MS, openRoom, type Person, tileOf } from '../helpers/browser.js';
import { pngPixels } from '../helpers/ffmpeg.js';

const ROOM = 'on-the-record';
const INDICATOR = '.recording-indicator';
const RECORDED = 'This call is being recorded';

/** The page's SDK room (the hook the web client leaves for the developer console). */
interface Hooked {
  port545?: { room?: { startRecording(): Promise<void> } };
}

/** Opens the People panel (its host controls for a host). */
async function openPeople(page: Page): Promise<void> {
  const people = page.getByRole('button', { name: 'People (P)' });
  if ((await people.getAttribute('aria-expanded')) !== 'true') await people.click();
  await page.locator('.people').waitFor({ timeout: NOTICE_MS });
}

describe('recording a call and saving snapshots in the web client', () => {
  const suite = browserSuite({}, { recordings: { movie: false } });
  const people = suite.people;

  it('lets the host record, shows everyone (late joiners too) that the call is recorded', async () => {
    const hana = await openRoom(suite.browser, suite.server.url, ROOM, 'Hana', { query: 'audio=0&video=0' });
    people.push(hana);
    // Ivo's camera is on: the recording has something to record, and his tile a picture.
    const ivo = await openRoom(suite.browser, suite.server.url, ROOM, 'Ivo', { query: 'audio=0' });
    people.push(ivo);
    await hana.page.locator(`${tileOf('Ivo')} video`).waitFor({ timeout: NOTICE_MS });

    // A guest has no Record control, and the server refuses one who asks anyway.
    await openPeople(ivo.page);
    assert.equal(await ivo.page.locator('.host-controls').count(), 0);
    assert.equal(await ivo.page.locator('.record-button').count(), 0);
    const refused = await ivo.page.evaluate(async () => {
      const room = (window as unknown as Hooked).port545?.room;
      if (!room) return 'no room';
      return room.startRecording().then(
        () => 'recording',
        (error: { code?: string }) => error.code ?? String(error),
      );
    });
    assert.equal(refused, 'NOT_HOST');
    assert.equal(await ivo.page.locator(INDICATOR).count(), 0, 'a refused start records nothing');
    await ivo.page.keyboard.press('Escape');

    // The host records from her host controls.
    await openPeople(hana.page);
    const record = hana.page.getByRole('button', { name: 'Record the call', exact: true });
    await record.click();
    for (const p of [hana, ivo]) {
      const indicator = p.page.locator(INDICATOR);
      await indicator.waitFor({ timeout: NOTICE_MS });
      assert.equal(await indicator.getAttribute('aria-label'), RECORDED);
      await p.page.getByRole('status', { name: RECORDED }).waitFor({ timeout: NOTICE_MS });
      assert.match(await indicator.innerText(), /Recording\s+\d\d:\d\d/);
    }
    await hana.page.getByText('Recording started.').waitFor({ timeout: NOTICE_MS });
    await ivo.page.getByText('Recording started by Hana.').waitFor({ timeout: NOTICE_MS });
    // Her control says what it does now.
    await hana.page
      .getByRole('button', { name: 'Stop recording the call', exact: true })
      .waitFor({ timeout: NOTICE_MS });

    // The running time moves on by itself.
    const time = ivo.page.locator(`${INDICATOR} .recording-time`);
    const first = await time.innerText();
    await ivo.page.waitForFunction(
      ({ selector, first }) => document.querySelector(selector)?.textContent !== first,
      { selector: `${INDICATOR} .recording-time`, first },
      { timeout: NOTICE_MS },
    );
    assert.match(await time.innerText(), /^\d\d:\d\d$/);

    // Someone who comes in now sees it on arrival.
    const cy = await openRoom(suite.browser, suite.server.url, ROOM, 'Cy', { query: 'audio=0&video=0' });
    people.push(cy);
    await cy.page.getByRole('status', { name: RECORDED }).waitFor({ timeout: NOTICE_MS });
    await cy.page.getByText('This call is being recorded.').waitFor({ timeout: NOTICE_MS });

    // Someone about to join sees it on the pre-join screen, before they are in the call.
    const dee = await openRoom(suite.browser, suite.server.url, ROOM, 'Dee', {
      join: false,
      query: 'audio=0&video=0',
    });
    people.push(dee);
    const notice = dee.page.locator('.prejoin-recording');
    await notice.waitFor({ timeout: NOTICE_MS });
    assert.equal((await notice.innerText()).trim(), 'This call is being recorded.');

    // A second Record while it records: the host is told, nothing changes (the SDK, as a double click would).
    const again = await hana.page.evaluate(async () => {
      const room = (window as unknown as Hooked).port545?.room;
      return room?.startRecording().then(
        () => 'started twice',
        (error: { code?: string }) => error.code,
      );
    });
    assert.equal(again, 'ALREADY_RECORDING');

    // The host stops: the indicator goes from every screen, and everyone is told.
    await hana.page.getByRole('button', { name: 'Stop recording the call', exact: true }).click();
    for (const p of [hana, ivo, cy]) {
      await p.page.locator(INDICATOR).waitFor({ state: 'detached', timeout: NOTICE_MS });
    }
    await hana.page.getByText('Recording stopped.').waitFor({ timeout: NOTICE_MS });
    await ivo.page.getByText('Recording stopped by Hana.').waitFor({ timeout: NOTICE_MS });
    await cy.page.getByText('Recording stopped by Hana.').waitFor({ timeout: NOTICE_MS });
    await record.waitFor({ timeout: NOTICE_MS });
    // The pre-join screen asks again every few seconds: the notice goes there too.
    await notice.waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual([...hana.errors, ...ivo.errors, ...cy.errors, ...dee.errors], []);
  });

  it('saves a snapshot of a tile’s video as a PNG at the picture’s own size', async () => {
    const [hana] = people as [Person];
    const page = hana.page;
    await page.keyboard.press('Escape');
    // Her own tile shows no video (camera off): nothing to save there.
    await page.locator('.tile[data-self="true"][data-source="camera"] [data-tile-menu]').click();
    await page.getByRole('button', { name: 'Pin for me' }).waitFor({ timeout: NOTICE_MS });
    assert.equal(await page.getByRole('button', { name: 'Save snapshot' }).count(), 0);
    await page.keyboard.press('Escape');

    const video = page.locator(`${tileOf('Ivo')} video`);
    await page.waitForFunction(
      (selector) => (document.querySelector<HTMLVideoElement>(selector)?.videoWidth ?? 0) > 0,
      `${tileOf('Ivo')} video`,
      { timeout: NOTICE_MS },
    );
    const size = await video.evaluate((v: HTMLVideoElement) => ({
      width: v.videoWidth,
      height: v.videoHeight,
    }));
    await page.locator(`${tileOf('Ivo')} [data-tile-menu]`).click();
    const downloading = page.waitForEvent('download', { timeout: NOTICE_MS });
    await page.getByRole('button', { name: 'Save snapshot' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), 'Ivo-snapshot.png');
    const path = await download.path();
    assert.ok(path, 'the download was saved');
    const png = await readFile(path);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG');
    assert.ok(png.length > 1000, `a picture, not an empty canvas (${png.length} bytes)`);
    // IHDR: width and height, big-endian, right after the signature and the chunk's length and type.
    assert.deepEqual({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }, size);
    const pixels = await pngPixels(png);
    assert.equal(pixels.length, size.width * size.height * 3);
    // The test pattern is colourful: far from one flat colour (a blank or black frame).
    const distinct = new Set<number>();
    for (let i = 0; i < pixels.length; i += 3 * 7)
      distinct.add((pixels[i]! >> 4) | ((pixels[i + 1]! >> 4) << 4) | ((pixels[i + 2]! >> 4) << 8));
    assert.ok(distinct.size > 20, `the snapshot shows a picture (${distinct.size} distinct colours)`);
    await page.getByText('Snapshot saved: Ivo-snapshot.png').waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(hana.errors, []);
  });
});
