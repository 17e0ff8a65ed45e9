/**
 * How soon a WHEP player of a room shows whoever starts talking: two WHIP pages publish a coloured
 * canvas and a tone they turn on and off ("speak"), a third page plays `/whep/<room>`; each round the
 * other one speaks and the time runs until the player's picture has their colour.
 */
import type { Browser, Page } from 'playwright-core';
import { openWhipWhepPage, type WhipWhepClient } from '../../test/helpers/whipWhepPage.js';
import { type Spread, spread } from './callTimings.js';

async function colourAfter(player: Page, want: string, timeoutMs = 20_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if ((await player.evaluate(() => (window as unknown as WhipWhepClient).colour())) === want)
      return Date.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the WHEP player did not show ${want} within ${timeoutMs} ms`);
}

export async function measureSpeakerSwitch(
  browser: Browser,
  url: string,
  room: string,
  runs: number,
  log: (line: string) => void,
): Promise<Spread> {
  const pages: Page[] = [];
  const switches: number[] = [];
  try {
    const speakers: [Page, string][] = [];
    for (const [name, colour] of [
      ['Red', '#e00000'],
      ['Blue', '#0000e0'],
    ] as const) {
      const page = await openWhipWhepPage(browser, url);
      pages.push(page);
      await page.evaluate(
        ({ url, colour }) => (window as unknown as WhipWhepClient).whipColour(url, colour),
        { url: `${url}/whip/${room}?name=${name}`, colour },
      );
      speakers.push([page, name.toLowerCase()]);
    }
    const player = await openWhipWhepPage(browser, url);
    pages.push(player);
    await speakers[0]![0].evaluate(() => (window as unknown as WhipWhepClient).speak(true));
    await player.evaluate((u) => (window as unknown as WhipWhepClient).whep(u), `${url}/whep/${room}`);
    await colourAfter(player, 'red');
    for (let i = 1; i <= runs * 2; i++) {
      const [quiet] = speakers[(i + 1) % 2]!;
      const [talker, colour] = speakers[i % 2]!;
      await quiet.evaluate(() => (window as unknown as WhipWhepClient).speak(false));
      await talker.evaluate(() => (window as unknown as WhipWhepClient).speak(true));
      switches.push(await colourAfter(player, colour));
      log(`switch ${i}: to ${colour} in ${switches.at(-1)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await Promise.allSettled(pages.map((p) => p.context().close()));
  }
  return spread(switches);
}
