/**
 * Calling cards in Chromium: a person fills in their card on the pre-join screen (with a picture from a
 * file), and the others see it: the picture on the tile, the card over the name on hover, the lines in
 * the People list. The card is kept in the browser for the next call, changed during a call from the
 * People panel, and whatever a card says is shown as text, never as markup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { connectNode } from '../../src/client/node.js';
import { browserSuite, NOTICE_MS, openRoom, tileOf } from '../helpers/browser.js';
import { LOOPBACK } from '../helpers/server.js';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** A `width`×`height` PNG of one colour: a photo as a person would pick it, larger than an avatar. */
function solidPng(width: number, height: number, [r, g, b]: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3).fill(Buffer.from([r, g, b]))]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The picture on `name`'s tile: its size as decoded and the colour of its centre. */
function tilePicture(page: Page, name: string) {
  return page.locator(`${tileOf(name)} img.avatar-image`).evaluate((img: HTMLImageElement) => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d')!;
    context.drawImage(img, 0, 0);
    const [r, g, b] = context.getImageData(img.naturalWidth / 2, img.naturalHeight / 2, 1, 1).data;
    return { width: img.naturalWidth, height: img.naturalHeight, rgb: [r, g, b] };
  });
}

describe('calling cards in the web client', () => {
  const suite = browserSuite();
  const people = suite.people;

  it('shows a card set on the pre-join screen to the others, keeps it, and takes changes in the call', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'card-room', 'Ann', {
      join: false,
      query: 'audio=0&video=0',
    });
    people.push(ann);
    const a = ann.page;
    await a.locator('summary', { hasText: 'Add a calling card' }).click();
    await a.locator('#prejoin-card-pronouns').fill('she/her');
    await a.locator('#prejoin-card-organisation').fill('Acme Film Club');
    await a.locator('#prejoin-card-link').fill('ann.example');
    await a.locator('#prejoin-card-link').press('Enter');
    assert.equal(
      await a.locator('#prejoin-card-link').inputValue(),
      'https://ann.example',
      'a bare domain is a web link',
    );
    await a
      .locator('#prejoin-card-avatar')
      .setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: solidPng(400, 300, [200, 40, 40]) });
    await a.locator('.card-picture-preview img').waitFor({ timeout: NOTICE_MS });
    await a.getByRole('button', { name: 'Join now' }).click();
    await a.locator('.call[data-status="connected"]').waitFor({ timeout: NOTICE_MS });

    const bob = await openRoom(suite.browser, suite.server.url, 'card-room', 'Bob', {
      query: 'audio=0&video=0',
    });
    people.push(bob);
    const b = bob.page;
    // Ann's camera is off: her tile shows her picture, made 96×96 from the 400×300 file, still red.
    await b.locator(`${tileOf('Ann')} img.avatar-image`).waitFor({ timeout: NOTICE_MS });
    const picture = await tilePicture(b, 'Ann');
    assert.equal(picture.width, 96);
    assert.equal(picture.height, 96);
    const [r, g, bl] = picture.rgb as number[];
    assert.ok(r! > 150 && g! < 90 && bl! < 90, `the picture is the one Ann chose: ${picture.rgb}`);

    // Pointing at her name shows her card.
    const name = b.locator(`${tileOf('Ann')} .card-trigger`);
    assert.match(await name.innerText(), /Ann \(she\/her\)/);
    await name.hover();
    const card = b.locator(`${tileOf('Ann')} .tile-card`);
    await card.waitFor({ timeout: NOTICE_MS });
    assert.match(await card.innerText(), /Ann[\s\S]*she\/her · Acme Film Club[\s\S]*ann\.example/);
    assert.equal(await card.locator('a').getAttribute('href'), 'https://ann.example');
    assert.equal(await card.locator('a').getAttribute('rel'), 'noopener noreferrer nofollow');

    // And the People list says the same.
    await b.getByRole('button', { name: /^People/ }).click();
    const row = b.locator('.person', { hasText: 'Ann' });
    await row.waitFor({ timeout: NOTICE_MS });
    assert.match(await row.innerText(), /Ann \(she\/her\)[\s\S]*Acme Film Club[\s\S]*ann\.example/);

    // Ann changes her card during the call, from the People panel.
    await a.getByRole('button', { name: /^People/ }).click();
    await a.getByRole('button', { name: 'Edit your card' }).click();
    await a.locator('#call-card-pronouns').fill('they/them');
    await a.getByRole('button', { name: 'Save card' }).click();
    await b
      .locator(`${tileOf('Ann')} .card-trigger`, { hasText: '(they/them)' })
      .waitFor({ timeout: NOTICE_MS });
    await b.locator('.person', { hasText: '(they/them)' }).waitFor({ timeout: NOTICE_MS });

    // A card's words are text: markup in them is shown, never run or rendered.
    const cy = await connectNode({
      url: suite.server.url,
      room: 'card-room',
      name: 'Cy',
      hostAddresses: LOOPBACK,
      card: { organisation: '<img src=x onerror="window.pwned=1">', pronouns: '<b>he</b>' },
    });
    try {
      const cyRow = b.locator('.person', { hasText: 'Cy' });
      await cyRow.waitFor({ timeout: NOTICE_MS });
      assert.match(await cyRow.innerText(), /<img src=x onerror="window.pwned=1">/);
      assert.equal(await cyRow.locator('img, b').count(), 0, 'no element made of a card');
      assert.equal(await b.evaluate(() => (window as { pwned?: number }).pwned), undefined);
    } finally {
      await cy.leave();
    }

    // The card is kept in Ann's browser: the next visit's pre-join screen has it.
    await a.goto(`${suite.server.url}/r/another-room?name=Ann&audio=0&video=0`);
    await a.locator('summary', { hasText: 'Your calling card' }).click();
    assert.equal(await a.locator('#prejoin-card-pronouns').inputValue(), 'they/them');
    assert.equal(await a.locator('#prejoin-card-organisation').inputValue(), 'Acme Film Club');
    await a.locator('.card-picture-preview img').waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(ann.errors.concat(bob.errors), []);
  });
});
