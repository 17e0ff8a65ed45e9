/**
 * The watch page (`/r/<room>?watch=1`): one of the room's audience, in Chromium. No camera or
 * microphone is asked for, the speaker is seen and heard, nothing offers to speak or write, and the
 * people in the call see how many watch without anyone being announced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  axeProblems,
  browserSuite,
  NOTICE_MS,
  openRoom,
  tileOf,
  waitForFrames,
  waitForSound,
} from '../helpers/browser.js';

/** Counts the page's calls to getUserMedia (a device prompt, in a browser without fake media). */
const COUNT_DEVICE_REQUESTS = `
  window.__deviceRequests = 0;
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => {
    window.__deviceRequests++;
    return original(constraints);
  };
`;

describe('the watch page', () => {
  const suite = browserSuite();
  const people = suite.people;

  it('shows and plays the speaker without asking for a camera or microphone, and counts the audience', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'keynote', 'Ann', {
      query: 'audio=1&video=1',
    });
    people.push(ann);
    const vic = await openRoom(suite.browser, suite.server.url, 'keynote', 'Vic', {
      query: 'watch=1',
      initScript: COUNT_DEVICE_REQUESTS,
    });
    people.push(vic);
    const v = vic.page;

    // Vic sees Ann's video move and hears her.
    await v.locator(`${tileOf('Ann')} video`).waitFor({ timeout: NOTICE_MS });
    await waitForFrames(v, `${tileOf('Ann')} video`);
    await waitForSound(v, 'Ann');
    assert.equal(
      await v.evaluate(() => (window as unknown as { __deviceRequests: number }).__deviceRequests),
      0,
    );
    // Nothing of his own: no tile, no microphone, camera, screen, chat or whiteboard (a hand, to ask).
    assert.equal(await v.locator('.tile[data-self="true"]').count(), 0);
    for (const name of [/microphone/, /camera/, /Present your screen/, /^Chat/, /^Whiteboard/]) {
      assert.equal(await v.getByRole('button', { name }).count(), 0, `no ${name} button`);
    }
    await v.getByRole('button', { name: 'Leave call' }).waitFor();
    assert.match(await v.locator('.call-count').innerText(), /1 watching/);
    // The shortcut for the microphone does nothing either.
    await v.keyboard.press('m');
    await v.waitForTimeout(500);
    assert.equal(
      await v.evaluate(() => (window as unknown as { __deviceRequests: number }).__deviceRequests),
      0,
    );

    // Ann is still alone in the call, and sees one watching; nobody was announced.
    await ann.page.locator('.call-count [data-viewers="1"]').waitFor({ timeout: NOTICE_MS });
    assert.match(await ann.page.locator('.call-count').innerText(), /^\s*1\b/);
    assert.equal(await ann.page.locator('.tile[data-self="false"]').count(), 0, 'no tile for the viewer');
    assert.equal(await ann.page.getByText('Vic', { exact: false }).count(), 0, 'no word of Vic');

    assert.deepEqual(await axeProblems(v), []);

    // He leaves: the count goes.
    await v.getByRole('button', { name: 'Leave call' }).click();
    await ann.page.locator('.call-count [data-viewers]').waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(ann.errors.concat(vic.errors), []);
  });

  it('brings a viewer who raised a hand on stage, and sends them back to watch', async () => {
    const hal = await openRoom(suite.browser, suite.server.url, 'panel', 'Hal', { query: 'audio=0&video=1' });
    people.push(hal);
    const wes = await openRoom(suite.browser, suite.server.url, 'panel', 'Wes', { query: 'watch=1' });
    people.push(wes);
    const h = hal.page;
    const w = wes.page;
    await w.locator(`${tileOf('Hal')} video`).waitFor({ timeout: NOTICE_MS });
    await waitForFrames(w, `${tileOf('Hal')} video`);

    // Wes asks; Hal (the host) sees the hand in the audience and brings him on stage.
    await w.getByRole('button', { name: /^Raise hand/ }).click();
    await h.getByRole('button', { name: /^People/ }).click();
    await h.getByRole('button', { name: 'Bring Wes on stage' }).click();
    // Wes's page turns into a participant's: the camera button is there, and his camera reaches Hal.
    await w.getByRole('button', { name: /^Turn on camera/ }).click();
    await h.locator(`${tileOf('Wes')} video`).waitFor({ timeout: NOTICE_MS });
    await waitForFrames(h, `${tileOf('Wes')} video`);
    assert.equal(await w.locator('.tile[data-self="true"]').count(), 1, 'Wes has his own tile now');

    // Back to the audience: his tile goes from Hal's page, his camera is let go, he watches on.
    await h.getByRole('button', { name: 'More for Wes' }).click();
    await h.getByRole('button', { name: 'Move Wes to the audience' }).click();
    await h.locator(tileOf('Wes')).waitFor({ state: 'detached', timeout: NOTICE_MS });
    await w.getByRole('button', { name: /camera/ }).waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.equal(await w.locator('.tile[data-self="true"]').count(), 0);
    const liveCameras = await w.evaluate(() => {
      const session = (window as unknown as { port545: { session: { camera?: unknown } } }).port545.session;
      return session.camera === undefined;
    });
    assert.ok(liveCameras, 'no camera held');
    await waitForFrames(w, `${tileOf('Hal')} video`);
    assert.deepEqual(hal.errors.concat(wes.errors), []);
  });
});
