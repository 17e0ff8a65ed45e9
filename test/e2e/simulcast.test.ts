/**
 * Simulcast from Chromium, and the layer each viewer gets by the size of its tile: a 640×360 camera is
 * sent in two layers (320×180 and 640×360); a viewer whose tile is made small gets the small one (the
 * frame width drops), made large again gets the large one, and a tile moved off screen gets no video at
 * all until it is back. Another viewer's picture stays large throughout. When nobody shows it large, the
 * publisher's browser stops sending the large layer, and sends it again when someone does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { LayerInfo } from '../../src/sfu/index.js';
import { browserSuite, NOTICE_MS, openRoom, tileOf, waitForFrames } from '../helpers/browser.js';
import { eventually } from '../helpers/server.js';

const API_KEY = 'simulcast-admin-key-0123456789';
const ANN_VIDEO = `${tileOf('Ann')} video`;

/** Width of the picture Ann's tile shows now (the decoded frame's, not the element's). */
const frameWidth = (page: Page) =>
  page.evaluate((s) => document.querySelector<HTMLVideoElement>(s)?.videoWidth ?? 0, ANN_VIDEO);

/** Video bytes this page has received in all (its subscriber connection's inbound RTP). */
async function videoBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    type Stat = { type: string; kind?: string; bytesReceived?: number };
    const room = (
      window as unknown as { port545: { room: { getStats(t: string): Promise<Map<string, Stat>> } } }
    ).port545.room;
    let bytes = 0;
    for (const stat of (await room.getStats('subscriber')).values())
      if (stat.type === 'inbound-rtp' && stat.kind === 'video') bytes += stat.bytesReceived ?? 0;
    return bytes;
  });
}

describe('simulcast from the web client, a layer per tile', () => {
  const suite = browserSuite(
    { camera: 'hd' },
    { auth: { apiKey: API_KEY, apiSecret: 'simulcast-e2e-secret-0123456789abcdef' } },
  );
  const people = suite.people;

  /** Ann's camera's layers, as the server sees them (the admin API). */
  async function layers(): Promise<LayerInfo[]> {
    const response = await fetch(`${suite.server.url}/api/v1/rooms/layers`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    if (!response.ok) return [];
    const room = (await response.json()) as {
      participants: { name: string; tracks: { source: string; layers?: LayerInfo[] }[] }[];
    };
    const ann = room.participants.find((p) => p.name === 'Ann');
    return ann?.tracks.find((t) => t.source === 'camera')?.layers ?? [];
  }

  it('sends a small tile the small layer, a large one the large layer, and a tile off screen nothing', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'layers', 'Ann', {
      query: 'audio=0&video=1',
    });
    people.push(ann);
    // Ann's camera arrives in two layers of different sizes, both flowing.
    let sizes: number[] = [];
    await eventually('the server receives two layers of Ann’s camera, each with its size', async () => {
      const now = await layers();
      sizes = now.map((l) => l.width).sort((a, b) => a - b);
      return now.length === 2 && now.every((l) => l.flowing && l.width > 0) && sizes[0]! < sizes[1]!;
    });
    const [small, large] = sizes as [number, number];

    const bob = await openRoom(suite.browser, suite.server.url, 'layers', 'Bob', {
      query: 'audio=0&video=0',
    });
    const cat = await openRoom(suite.browser, suite.server.url, 'layers', 'Cat', {
      query: 'audio=0&video=0',
    });
    people.push(bob, cat);
    for (const p of [bob, cat]) await p.page.locator(ANN_VIDEO).waitFor({ timeout: NOTICE_MS });
    await waitForFrames(bob.page, ANN_VIDEO);

    // A large tile (two tiles side by side on 1280×720): the large layer.
    const bigPicture = (page: Page) =>
      eventually('a large picture', async () => (await frameWidth(page)) > small);
    await bigPicture(bob.page);
    await bigPicture(cat.page);

    // Bob's window shrinks to a phone's width: his tile is smaller than the small layer, which he gets.
    await bob.page.setViewportSize({ width: 360, height: 400 });
    await eventually('Bob’s picture drops to the small layer', async () => {
      const width = await frameWidth(bob.page);
      return width > 0 && width <= small;
    });
    await waitForFrames(bob.page, ANN_VIDEO);
    // Cat's tile did not change: her picture stays large.
    assert.ok((await frameWidth(cat.page)) > small, 'Cat still gets the large layer');

    // Large again: the large layer comes back.
    await bob.page.setViewportSize({ width: 1280, height: 720 });
    await bigPicture(bob.page);
    await waitForFrames(bob.page, ANN_VIDEO);

    // Ann's tile moved off Bob's screen: her video stops coming (his received bytes stop growing).
    const moveTile = (page: Page, offScreen: boolean) =>
      page.evaluate(
        ({ selector, offScreen }) => {
          const tile = document.querySelector<HTMLElement>(selector)!;
          tile.style.transform = offScreen ? 'translateY(-5000px)' : '';
        },
        { selector: tileOf('Ann'), offScreen },
      );
    await moveTile(bob.page, true);
    let before = await videoBytes(bob.page);
    await eventually(
      'no video comes while Ann’s tile is off screen',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const now = await videoBytes(bob.page);
        const still = now === before;
        before = now;
        return still;
      },
      NOTICE_MS * 2,
    );
    assert.ok((await frameWidth(cat.page)) > small, 'Cat still gets the large layer');
    // Back on screen: it comes again, and moves.
    await moveTile(bob.page, false);
    await eventually(
      'video comes again once the tile is back',
      async () => (await videoBytes(bob.page)) > before,
    );
    await waitForFrames(bob.page, ANN_VIDEO);
    await bigPicture(bob.page);
    assert.ok(large > small);

    // Both viewers' windows small: nobody is sent the large layer, so Ann's browser stops encoding it.
    for (const p of [bob, cat]) await p.page.setViewportSize({ width: 360, height: 400 });
    const sentOfLarge = () =>
      ann.page.evaluate(async () => {
        type Stat = { type: string; rid?: string; bytesSent?: number; frameWidth?: number };
        const room = (
          window as unknown as { port545: { room: { getStats(t: string): Promise<Map<string, Stat>> } } }
        ).port545.room;
        let most = { bytes: 0, width: 0 };
        for (const stat of (await room.getStats('publisher')).values())
          if (stat.type === 'outbound-rtp' && (stat.frameWidth ?? 0) >= most.width && stat.rid === 'f')
            most = { bytes: stat.bytesSent ?? 0, width: stat.frameWidth ?? 0 };
        return most.bytes;
      });
    let sent = await sentOfLarge();
    await eventually(
      'Ann’s browser stops sending the large layer',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const now = await sentOfLarge();
        const still = now === sent;
        sent = now;
        return still;
      },
      NOTICE_MS * 2,
    );
    // And sends it again when Cat's window grows.
    await cat.page.setViewportSize({ width: 1280, height: 720 });
    await bigPicture(cat.page);
    assert.ok((await sentOfLarge()) > sent, 'the large layer is sent again');
    assert.deepEqual(ann.errors.concat(bob.errors, cat.errors), []);
  });
});
