/**
 * Takes the screenshots of docs/screenshots/ (linked from the README) in Chromium with fake cameras:
 * the pre-join screen with a calling card, a call of four at desktop and phone sizes, a shared screen,
 * and the host's People panel. `npm run docs:screenshots`; needs the build (`npm run build`).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWebBuild, launchChromium, openRoom, tileOf } from '../test/helpers/browser.js';
import { startTestServer } from '../test/helpers/server.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
mkdirSync(OUT, { recursive: true });
const shot = (name: string) => join(OUT, `${name}.png`);
const settle = (ms = 2500) => new Promise((resolve) => setTimeout(resolve, ms));

ensureWebBuild();
const server = await startTestServer();
const browser = await launchChromium();
const cards = {
  Ada: { pronouns: 'she/her', organisation: 'Analytical Engines' },
  Grace: { pronouns: 'she/her', organisation: 'Compilers Inc.' },
};
try {
  // The pre-join screen, card filled in.
  const ada = await openRoom(browser, server.url, 'design-review', 'Ada', { join: false });
  await ada.page.locator('summary').click();
  await ada.page.locator('#prejoin-card-pronouns').fill(cards.Ada.pronouns);
  await ada.page.locator('#prejoin-card-organisation').fill(cards.Ada.organisation);
  await ada.page.locator('#prejoin-card-link').fill('ada.example');
  await ada.page.locator('#prejoin-card-link').press('Tab');
  await settle(1500);
  await ada.page.screenshot({ path: shot('prejoin') });
  await ada.page.emulateMedia({ colorScheme: 'dark' });
  await ada.page.screenshot({ path: shot('prejoin-dark') });
  await ada.page.emulateMedia({ colorScheme: 'light' });
  await ada.page.getByRole('button', { name: 'Join now' }).click();
  await ada.page.locator('.call[data-status="connected"]').waitFor();

  // Four people, each in a browser of their own.
  const grace = await openRoom(browser, server.url, 'design-review', 'Grace');
  await openRoom(browser, server.url, 'design-review', 'Alan', { viewport: { width: 640, height: 360 } });
  const phone = await openRoom(browser, server.url, 'design-review', 'Katherine', {
    viewport: { width: 390, height: 844 },
  });
  await grace.page.evaluate((card) => {
    const room = (window as unknown as { port545: { room: { setCard(c: unknown): Promise<void> } } }).port545
      .room;
    return room.setCard(card);
  }, cards.Grace);
  await settle(4000);
  await ada.page.locator(`${tileOf('Grace')} .card-trigger`).hover();
  await settle(500);
  await ada.page.screenshot({ path: shot('call-desktop') });
  await phone.page.screenshot({ path: shot('call-phone') });

  // The host's People panel.
  await ada.page.mouse.move(0, 0);
  await ada.page.getByRole('button', { name: /^People/ }).click();
  await settle(800);
  await ada.page.screenshot({ path: shot('host-panel') });
  await ada.page.keyboard.press('Escape');

  // Grace presents her screen.
  await grace.page.keyboard.press('s');
  await ada.page.locator(`${tileOf('Grace', 'screen')} video`).waitFor();
  await settle(3000);
  await ada.page.screenshot({ path: shot('screen-share') });
  console.log(`screenshots in ${OUT}`);
} finally {
  await browser.close();
  await server.close();
}
process.exit(0);
