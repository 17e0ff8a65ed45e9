/**
 * "Mute for me" and a person's volume, measured by what a loudspeaker would play: each Chromium plays
 * into a sink of a PulseAudio server the test starts (`startPulse`), and the test records the sinks.
 * Bob listens in one browser; Ann (speaking in bursts) and Cy (listening) are in another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  BURST_PERIOD_S,
  ensureWebBuild,
  launchChromium,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
  waitForSound,
} from '../helpers/browser.js';
import { type PulseServer, startPulse } from '../helpers/pulse.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A whole burst-and-silence period of Ann's speech and a little more. */
const LISTEN_MS = BURST_PERIOD_S * 1000 + 500;
/** Louder than this is heard; the bursts play at about 0.08. */
const HEARD = 0.01;

describe('volume for me, measured at the loudspeaker', () => {
  let pulse: PulseServer;
  let server: TestServer;
  let bobs: Browser;
  let others: Browser;
  const people: Person[] = [];

  before(async () => {
    ensureWebBuild();
    pulse = await startPulse(['bob', 'others']);
    server = await startTestServer();
    bobs = await launchChromium({ microphone: 'speech', soundTo: pulse.env('bob') });
    others = await launchChromium({ microphone: 'speech', soundTo: pulse.env('others') });
  });
  after(async () => {
    for (const p of people) await p.context.close();
    await bobs?.close();
    await others?.close();
    await server?.close();
    await pulse?.close();
  });

  it('silences a person for me only, and brings them back', async () => {
    const ann = await openRoom(others, server.url, 'loud', 'Ann', { query: 'audio=1&video=0' });
    const cy = await openRoom(others, server.url, 'loud', 'Cy', { query: 'audio=0&video=0' });
    const bob = await openRoom(bobs, server.url, 'loud', 'Bob', { query: 'audio=0&video=0' });
    people.push(ann, cy, bob);
    await waitForSound(bob.page, 'Ann');
    await waitForSound(cy.page, 'Ann');

    const heard = await pulse.level('bob', LISTEN_MS);
    assert.ok(heard > HEARD, `Bob's loudspeaker plays Ann: ${heard}`);

    await bob.page.locator(`${tileOf('Ann')} [data-tile-menu]`).click();
    await bob.page.getByRole('button', { name: 'Mute for me' }).click();
    const [muted, cyHears] = await Promise.all([
      pulse.level('bob', LISTEN_MS),
      pulse.level('others', LISTEN_MS),
    ]);
    assert.ok(muted < HEARD / 10, `Bob's loudspeaker is silent: ${muted}`);
    assert.ok(cyHears > HEARD, `Cy still hears Ann: ${cyHears}`);

    // Unmute, then the slider at 40 %: about 0.4 of the level (the bursts vary; a wide margin).
    await bob.page.getByRole('button', { name: 'Unmute for me' }).click();
    const back = await pulse.level('bob', LISTEN_MS);
    assert.ok(back > HEARD, `Bob hears Ann again: ${back}`);
    await bob.page.locator(`${tileOf('Ann')} .tile-volume input`).fill('40');
    const quieter = await pulse.level('bob', LISTEN_MS);
    assert.ok(quieter > HEARD / 4 && quieter < back * 0.7, `at 40 %: ${quieter} of ${back}`);
    console.log(
      `# Bob's loudspeaker: ${heard.toFixed(4)}, muted for him ${muted.toFixed(5)} (Cy ${cyHears.toFixed(4)}), back ${back.toFixed(4)}, at 40 % ${quieter.toFixed(4)}`,
    );
    await bob.page.locator('.call').waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(ann.errors.concat(bob.errors, cy.errors), []);
  });
});
