/**
 * The call screen for people who do not use a mouse or a big screen: a keyboard-only person joins, pins
 * someone, mutes, chats and leaves; an axe-core scan (a maintained accessibility checker) of the
 * pre-join and call screens finds nothing serious or critical; on a 390×844 phone every name is on
 * screen and nothing covers it, notices included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { axeProblems, browserSuite, NOTICE_MS, openRoom, tileOf } from '../helpers/browser.js';

/** Presses Tab until `selector` has the focus; fails after `max` presses. */
async function tabTo(page: Page, selector: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${selector}`);
}

describe('the call screen without a mouse, for a screen reader, and on a phone', () => {
  const suite = browserSuite();
  const people = suite.people;

  it('joins, pins, mutes, chats and leaves with the keyboard alone', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'keys', 'Ann', { query: 'audio=0&video=1' });
    people.push(ann);
    const kay = await openRoom(suite.browser, suite.server.url, 'keys', 'Kay', {
      join: false,
      query: 'audio=1&video=1',
    });
    people.push(kay);
    const k = kay.page;
    const problems = await axeProblems(k);
    assert.deepEqual(problems, [], 'the pre-join screen has no serious or critical accessibility problem');

    await tabTo(k, 'button[type="submit"]');
    await k.keyboard.press('Enter');
    await k.locator('.call[data-status="connected"]').waitFor({ timeout: NOTICE_MS });
    await k.locator(`${tileOf('Ann')} video`).waitFor({ timeout: NOTICE_MS });

    // To Ann's tile, open its options, pin her.
    await tabTo(k, '[data-tile-menu]');
    for (let i = 0; i < 4; i++) {
      const on = await k.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
      if (on.includes('Ann')) break;
      await k.keyboard.press('ArrowRight');
    }
    assert.match(await k.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? ''), /Ann/);
    await k.keyboard.press('Enter');
    await tabTo(k, '.tile-menu button', 3);
    assert.equal(await k.evaluate(() => document.activeElement?.textContent?.trim()), 'Pin for me');
    await k.keyboard.press('Enter');
    await k.locator(`.stage-main ${tileOf('Ann')}[data-pinned="true"]`).waitFor({ timeout: NOTICE_MS });

    // The shortcuts: M mutes, C opens the chat (its box takes the focus), Escape closes it.
    await k.keyboard.press('m');
    await k.locator('button[aria-label^="Turn on microphone"]').waitFor({ timeout: NOTICE_MS });
    await k.keyboard.press('c');
    await k.locator('#call-panel').waitFor({ timeout: NOTICE_MS });
    // The box takes the focus once the panel has drawn (an effect after the paint): wait for it
    // rather than pressing Tab, which would move the focus on if it came late.
    await k.waitForFunction(
      () => document.activeElement?.matches('#call-panel textarea, #call-panel input[type="text"]') ?? false,
      undefined,
      { timeout: NOTICE_MS },
    );
    await k.keyboard.type('hello from the keyboard');
    await k.keyboard.press('Enter');
    await ann.page.waitForFunction(
      () =>
        (window as unknown as { port545?: { room?: { chat: { text: string }[] } } }).port545?.room?.chat.some(
          (m) => m.text === 'hello from the keyboard',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    const inCall = await axeProblems(k);
    assert.deepEqual(
      inCall,
      [],
      'the call screen, chat open, has no serious or critical accessibility problem',
    );
    await k.keyboard.press('Escape');
    await k.locator('#call-panel').waitFor({ state: 'detached', timeout: NOTICE_MS });

    await tabTo(k, 'button[aria-label="Leave call"]');
    await k.keyboard.press('Enter');
    await ann.page.locator(tileOf('Kay')).waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(ann.errors.concat(kay.errors), []);
  });

  it('shows every name uncovered on a 390×844 phone, with a notice showing', async () => {
    const dee = await openRoom(suite.browser, suite.server.url, 'pocket', 'Dee', {
      query: 'audio=0&video=1',
      viewport: { width: 390, height: 844 },
    });
    people.push(dee);
    for (const name of ['Eve', 'Fay'])
      people.push(
        await openRoom(suite.browser, suite.server.url, 'pocket', name, { query: 'audio=0&video=1' }),
      );
    const d = dee.page;
    await d.locator('.notice', { hasText: 'Fay joined' }).waitFor({ timeout: NOTICE_MS });
    await d.locator('.tile').nth(2).waitFor({ timeout: NOTICE_MS });
    const labels = await d.evaluate(() =>
      [...document.querySelectorAll('.tile-label')].map((label) => {
        const box = label.getBoundingClientRect();
        const x = box.left + Math.min(box.width / 2, 20);
        const y = box.top + box.height / 2;
        const top = document.elementFromPoint(x, y);
        return {
          name: label.textContent ?? '',
          inside: box.left >= 0 && box.top >= 0 && box.right <= innerWidth && box.bottom <= innerHeight,
          uncovered: !!top && label.contains(top),
        };
      }),
    );
    assert.equal(labels.length, 3, JSON.stringify(labels));
    for (const l of labels) {
      assert.ok(l.inside, `${l.name} is on screen`);
      assert.ok(l.uncovered, `${l.name} is not covered`);
    }
    // The tiles use the phone's width: not one narrow column in the middle.
    const widths = await d
      .locator('.tile')
      .evaluateAll((tiles) => tiles.map((t) => t.getBoundingClientRect().width));
    for (const w of widths) assert.ok(w > 300, `a tile is ${w}px wide on a 390px screen`);
    assert.deepEqual(
      people.flatMap((p) => p.errors),
      [],
    );
  });

  it('keeps the light pages readable in a dark system setting', async () => {
    const zoe = await openRoom(suite.browser, suite.server.url, 'night', 'Zoe', { join: false });
    people.push(zoe);
    const z = zoe.page;
    await z.emulateMedia({ colorScheme: 'dark' });
    await z.locator('summary', { hasText: 'calling card' }).click();
    const paper = await z.evaluate(
      () => getComputedStyle(document.querySelector('.page-light')!).backgroundColor,
    );
    assert.notEqual(paper, 'rgb(245, 246, 248)', 'the pre-join page is dark in a dark setting');
    assert.deepEqual(
      await axeProblems(z),
      [],
      'the pre-join screen, dark, has no serious or critical problem',
    );
    await z.goto(`${suite.server.url}/`);
    await z.locator('h1').waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(await axeProblems(z), [], 'the home page, dark, has no serious or critical problem');
  });
});
