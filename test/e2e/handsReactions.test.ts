/**
 * Raise hand and reactions in Chromium: a hand raised with H shows on the others' tiles with its place
 * in line and in the People panel's queue, a host lowers it from there; a reaction floats over the
 * sender's tile on everyone's screen and goes away by itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserSuite, NOTICE_MS, openRoom, type Person, tileOf } from '../helpers/browser.js';

describe('raise hand and reactions in the web client', () => {
  const suite = browserSuite();
  const people = suite.people;

  it('queues raised hands for everyone, and the host lowers one', async () => {
    const hana = await openRoom(suite.browser, suite.server.url, 'hands-up', 'Hana', {
      query: 'audio=0&video=0',
    });
    const ivo = await openRoom(suite.browser, suite.server.url, 'hands-up', 'Ivo', {
      query: 'audio=0&video=0',
    });
    people.push(hana, ivo);
    // Ivo raises his hand with the H key; Hana (the host) sees it on his tile, first in line.
    await ivo.page.keyboard.press('h');
    await ivo.page.locator('button[aria-label^="Lower hand"]').waitFor({ timeout: NOTICE_MS });
    const badge = hana.page.locator(`${tileOf('Ivo')} .hand-badge`);
    await badge.waitFor({ timeout: NOTICE_MS });
    assert.equal(await badge.getAttribute('aria-label'), 'Hand raised, 1st in line');
    await hana.page.getByText('Ivo raised a hand').waitFor({ timeout: NOTICE_MS });
    // Hana raises hers: second in line, on Ivo's screen.
    await hana.page.getByRole('button', { name: /^Raise hand/ }).click();
    await ivo.page
      .locator(`${tileOf('Hana')} .hand-badge[aria-label="Hand raised, 2nd in line"]`)
      .waitFor({ timeout: NOTICE_MS });
    // The People panel lists the queue; the host lowers Ivo's hand from it.
    await hana.page.keyboard.press('p');
    const queue = hana.page.locator('.hand-list li');
    await queue.nth(1).waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(await queue.locator('.hand-name').allInnerTexts(), ['Ivo', 'Hana (you)']);
    await hana.page.getByRole('button', { name: "Lower Ivo's hand" }).click();
    await ivo.page.getByText('A host lowered your hand.').waitFor({ timeout: NOTICE_MS });
    await ivo.page.locator('button[aria-label^="Raise hand"]').waitFor({ timeout: NOTICE_MS });
    // Hana moves up to first.
    await ivo.page
      .locator(`${tileOf('Hana')} .hand-badge[aria-label="Hand raised, 1st in line"]`)
      .waitFor({ timeout: NOTICE_MS });
    assert.equal(await hana.page.locator(`${tileOf('Ivo')} .hand-badge`).count(), 0);
  });

  it('floats a reaction over the sender’s tile on every screen, then lets it go', async () => {
    const [hana, ivo] = people as [Person, Person];
    await ivo.page.getByRole('button', { name: 'Send a reaction' }).click();
    await ivo.page.getByRole('button', { name: 'React 🎉' }).click();
    const onHana = hana.page.locator(`${tileOf('Ivo')} .reaction`, { hasText: '🎉' });
    await onHana.waitFor({ timeout: NOTICE_MS });
    await ivo.page
      .locator('.tile[data-self="true"][data-source="camera"] .reaction', { hasText: '🎉' })
      .waitFor({ timeout: NOTICE_MS });
    await onHana.waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(hana.errors.concat(ivo.errors), []);
  });

  it('lets the host put someone in the spotlight on everyone’s screen', async () => {
    const [hana, ivo] = people as [Person, Person];
    await hana.page.locator(`${tileOf('Ivo')} [data-tile-menu]`).click();
    await hana.page.getByRole('button', { name: 'Spotlight for everyone' }).click();
    // Ivo sees himself large, and is told.
    await ivo.page
      .locator('.stage-main .tile[data-self="true"][data-spotlight="true"]')
      .waitFor({ timeout: NOTICE_MS });
    await ivo.page.getByText('You are in the spotlight.').waitFor({ timeout: NOTICE_MS });
    await hana.page.locator(`.stage-main ${tileOf('Ivo')}`).waitFor({ timeout: NOTICE_MS });
    // A guest has no spotlight to give.
    await ivo.page.locator(`${tileOf('Hana')} [data-tile-menu]`).click();
    await ivo.page.getByRole('button', { name: 'Pin for me' }).waitFor({ timeout: NOTICE_MS });
    assert.equal(await ivo.page.getByRole('button', { name: 'Spotlight for everyone' }).count(), 0);
    await ivo.page.keyboard.press('Escape');
    await hana.page.locator(`${tileOf('Ivo')} [data-tile-menu]`).click();
    await hana.page.getByRole('button', { name: 'End the spotlight' }).click();
    await ivo.page.locator('.stage-main').waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(hana.errors.concat(ivo.errors), []);
  });
});
