/**
 * The whiteboard in Chromium: a stroke drawn with the mouse reaches the others (in their document and
 * on their canvas, pixel for pixel), a text box too, and a late joiner sees both; one person's undo takes
 * back only their own stroke; two people drawing at once both keep theirs; cursors show with names and
 * go when the board is closed; Export PNG and SVG save what is drawn; a guest has no Clear, and a host's
 * view-only stops a guest's pen.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { axeProblems, browserSuite, closeAll, NOTICE_MS, openRoom, type Person } from '../helpers/browser.js';
import { pngPixels } from '../helpers/ffmpeg.js';
import { eventually, startTestServer } from '../helpers/server.js';

const run = promisify(execFile);

const ROOM = 'sketch-pad';
/** The colours the board offers (web/src/board/model.ts) and its paper. */
const RED = [0xd7, 0x26, 0x3d] as const;
const BLUE = [0x1f, 0x5f, 0xd1] as const;
const GREEN = [0x13, 0x8a, 0x3e] as const;
const PAPER = [0xfb, 0xfb, 0xf8] as const;

interface ItemView {
  kind: string;
  by: string;
  name: string;
  color: string;
  text: string;
  points: number[][];
  shape: string;
  dx: number;
  dy: number;
  x: number;
  y: number;
  w: number;
  h: number;
  src: string;
}

/** The board's items as the page's SDK room holds them (`window.port545.room`). */
function itemsOn(page: Page): Promise<ItemView[]> {
  return page.evaluate(() => {
    type YMap = { get(key: string): unknown };
    type YArray = { toArray(): unknown[] };
    const room = (
      window as unknown as {
        port545?: { room?: { board: { doc: { getArray(name: string): YArray } } } };
      }
    ).port545?.room;
    if (!room) return [];
    return (room.board.doc.getArray('items').toArray() as YMap[]).map((item) => {
      const points = item.get('points') as YArray | undefined;
      return {
        kind: String(item.get('kind')),
        by: String(item.get('by')),
        name: String(item.get('name')),
        color: String(item.get('color')),
        text: String(item.get('text') ?? ''),
        points: (points?.toArray?.() ?? []) as number[][],
        shape: String(item.get('shape') ?? ''),
        dx: Number(item.get('dx') ?? 0),
        dy: Number(item.get('dy') ?? 0),
        x: Number(item.get('x') ?? 0),
        y: Number(item.get('y') ?? 0),
        w: Number(item.get('w') ?? 0),
        h: Number(item.get('h') ?? 0),
        src: String(item.get('src') ?? ''),
      };
    });
  });
}

function participantIdOf(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      (window as unknown as { port545?: { room?: { participantId: string } } }).port545?.room
        ?.participantId ?? '',
  );
}

/** Waits until `check` holds for the items on `page`; fails with what the page had last. */
async function waitForItems(
  page: Page,
  what: string,
  check: (items: ItemView[]) => boolean,
  timeoutMs = NOTICE_MS,
): Promise<ItemView[]> {
  const deadline = Date.now() + timeoutMs;
  let items: ItemView[] = [];
  while (Date.now() < deadline) {
    items = await itemsOn(page);
    if (check(items)) return items;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not so after ${timeoutMs} ms; the page has ${JSON.stringify(summary(items))}`);
}

function summary(items: ItemView[]) {
  return items.map((i) => ({ kind: i.kind, name: i.name, points: i.points.length, text: i.text }));
}

async function openBoard(page: Page): Promise<{ x: number; y: number; width: number; height: number }> {
  await page.getByRole('button', { name: /^Whiteboard \(W\)/ }).click();
  const canvas = page.locator('canvas.board-canvas');
  await canvas.waitFor({ timeout: NOTICE_MS });
  await page.waitForFunction(
    () =>
      ((document.querySelector('canvas.board-canvas') as HTMLCanvasElement | null)?.clientWidth ?? 0) > 100,
    undefined,
    { timeout: NOTICE_MS },
  );
  const box = await canvas.boundingBox();
  assert.ok(box, 'the canvas is on screen');
  return box;
}

/** Drags the mouse along `points` (board coordinates: the canvas's own, at the initial view). */
async function drag(page: Page, points: [number, number][]): Promise<void> {
  const box = await page.locator('canvas.board-canvas').boundingBox();
  assert.ok(box);
  const [first, ...rest] = points;
  assert.ok(first);
  await page.mouse.move(box.x + first[0], box.y + first[1]);
  await page.mouse.down();
  for (const [x, y] of rest) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
  await page.mouse.up();
}

/** RGB of the canvas's pixels as the page shows them (a screenshot of the canvas, one pixel a CSS pixel). */
async function canvasPixels(page: Page): Promise<{ width: number; height: number; rgb: Buffer }> {
  const png = await page.locator('canvas.board-canvas').screenshot();
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  return { width, height, rgb: await pngPixels(png) };
}

type Rgb = readonly [number, number, number];
const near = (a: Rgb, b: Rgb, tolerance = 24) => a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);

/** Whether `color` is within `radius` pixels of (x, y). */
function hasColorNear(
  image: { width: number; height: number; rgb: Buffer },
  x: number,
  y: number,
  color: Rgb,
  radius = 2,
): boolean {
  for (let dy = -radius; dy <= radius; dy++) {
    for (let dx = -radius; dx <= radius; dx++) {
      const px = Math.round(x) + dx;
      const py = Math.round(y) + dy;
      if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
      const i = (py * image.width + px) * 3;
      if (near([image.rgb[i]!, image.rgb[i + 1]!, image.rgb[i + 2]!], color)) return true;
    }
  }
  return false;
}

function pixelAt(image: { width: number; rgb: Buffer }, x: number, y: number): Rgb {
  const i = (y * image.width + x) * 3;
  return [image.rgb[i]!, image.rgb[i + 1]!, image.rgb[i + 2]!];
}

/** Rooms keep their state (and board) across a restart, as by default. */
const KEEP_ROOMS = { stateMaxAgeMs: 3_600_000 };

describe('the whiteboard in the web client', () => {
  const suite = browserSuite({}, { rooms: KEEP_ROOMS });
  const people = suite.people;
  const open = async (name: string) => {
    const person = await openRoom(suite.browser, suite.server.url, ROOM, name, { query: 'audio=0&video=0' });
    people.push(person);
    return person;
  };

  it('shares strokes and text, gives a late joiner both, undoes only one’s own, keeps simultaneous strokes', async () => {
    const ann = await open('Ann');
    const bob = await open('Bob');
    const annId = await participantIdOf(ann.page);
    await openBoard(ann.page);
    await openBoard(bob.page);
    // The board takes the stage; the tiles go to the strip beside it.
    await ann.page
      .locator('.stage-layout.board-open .filmstrip .tile')
      .first()
      .waitFor({ timeout: NOTICE_MS });

    // Ann picks red and draws a line with the mouse.
    await ann.page.getByRole('button', { name: 'Colour: Red' }).click();
    assert.equal(
      await ann.page.getByRole('button', { name: 'Colour: Red' }).getAttribute('aria-pressed'),
      'true',
    );
    assert.equal(
      await ann.page.getByRole('button', { name: 'Pen', exact: true }).getAttribute('aria-pressed'),
      'true',
    );
    await drag(ann.page, [
      [100, 100],
      [250, 100],
      [400, 100],
    ]);
    const annPoints = (await itemsOn(ann.page))[0]?.points.length ?? 0;
    assert.ok(annPoints > 5, `the stroke has its points (${annPoints})`);
    const onBob = await waitForItems(
      bob.page,
      'Bob has Ann’s whole stroke',
      (items) => items.length === 1 && items[0]!.points.length === annPoints,
    );
    assert.equal(onBob[0]!.kind, 'stroke');
    assert.equal(onBob[0]!.by, annId);
    assert.equal(onBob[0]!.color, '#d7263d');
    // And on his canvas: red where the line is, paper above and below it.
    await bob.page.waitForFunction(
      () => document.querySelector('canvas.board-canvas')?.getAttribute('aria-label')?.includes('1 item'),
      undefined,
      { timeout: NOTICE_MS },
    );
    const seen = await canvasPixels(bob.page);
    for (const x of [150, 250, 350]) {
      assert.ok(hasColorNear(seen, x, 100, RED), `red at (${x}, 100) on Bob’s canvas`);
      assert.ok(near(pixelAt(seen, x, 130), PAPER), `paper at (${x}, 130) on Bob’s canvas`);
    }
    assert.match(
      (await bob.page.locator('canvas.board-canvas').getAttribute('aria-label')) ?? '',
      /1 item, by Ann/,
    );

    // Bob places a text box.
    await bob.page.getByRole('button', { name: 'Text', exact: true }).click();
    const bobBox = await bob.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(bobBox);
    await bob.page.mouse.click(bobBox.x + 120, bobBox.y + 220);
    const input = bob.page.getByRole('textbox', { name: /Text to place on the whiteboard/ });
    await input.waitFor({ timeout: NOTICE_MS });
    await input.fill('hello <board> & all');
    await input.press('Enter');
    await input.waitFor({ state: 'detached', timeout: NOTICE_MS });
    await waitForItems(ann.page, 'Ann has Bob’s text', (items) =>
      items.some((i) => i.kind === 'text' && i.text === 'hello <board> & all' && i.name === 'Bob'),
    );

    // Cy comes late and has both.
    const cy = await open('Cy');
    // His Whiteboard button says there is something on it; opening the board sees it.
    await cy.page
      .getByRole('button', { name: 'Whiteboard (W), 2 new on it', exact: true })
      .waitFor({ timeout: NOTICE_MS });
    await openBoard(cy.page);
    assert.equal(await cy.page.locator('button[aria-label^="Whiteboard (W)"] .badge').count(), 0);
    await waitForItems(
      cy.page,
      'Cy has the stroke and the text',
      (items) => items.length === 2 && items[0]!.points.length === annPoints && items[1]!.kind === 'text',
    );
    await cy.page.waitForFunction(
      () =>
        /2 items.*by Ann and Bob/.test(
          document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );

    // Ann's cursor shows on Cy's board with her name while it is over hers.
    const annBox = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(annBox);
    await ann.page.mouse.move(annBox.x + 300, annBox.y + 300, { steps: 4 });
    await cy.page.locator('.board-cursor', { hasText: 'Ann' }).waitFor({ timeout: NOTICE_MS });

    // Ann's undo (Ctrl+Z) takes back her stroke only, for everyone.
    await ann.page.keyboard.press('Control+z');
    for (const p of [ann, bob, cy])
      await waitForItems(
        p.page,
        `${p.name} has Bob’s text only`,
        (items) => items.length === 1 && items[0]!.kind === 'text' && items[0]!.name === 'Bob',
      );
    // Redo brings it back; undo again leaves the text.
    await ann.page.getByRole('button', { name: /^Redo/ }).click();
    await waitForItems(cy.page, 'the stroke is back for Cy', (items) => items.length === 2);
    await ann.page.getByRole('button', { name: /^Undo/ }).click();
    await waitForItems(cy.page, 'the stroke is gone again for Cy', (items) => items.length === 1);

    // Ann and Bob draw at the same moment: both strokes stay, for everyone.
    await bob.page.getByRole('button', { name: 'Pen', exact: true }).click();
    await bob.page.getByRole('button', { name: 'Colour: Blue' }).click();
    await Promise.all([
      drag(ann.page, [
        [100, 320],
        [300, 330],
        [500, 320],
      ]),
      drag(bob.page, [
        [100, 420],
        [300, 430],
        [500, 420],
      ]),
    ]);
    for (const p of [ann, bob, cy])
      await waitForItems(p.page, `${p.name} has the text and both new strokes`, (items) => {
        const strokes = items.filter((i) => i.kind === 'stroke');
        return (
          items.length === 3 &&
          strokes.some((s) => s.name === 'Ann' && s.points.length > 5) &&
          strokes.some((s) => s.name === 'Bob' && s.points.length > 5)
        );
      });

    // Ann closes the board: her cursor leaves Cy's.
    await ann.page.getByRole('button', { name: 'Close the whiteboard (W)' }).click();
    await cy.page
      .locator('.board-cursor', { hasText: 'Ann' })
      .waitFor({ state: 'detached', timeout: NOTICE_MS });
    await cy.context.close();
    people.splice(people.indexOf(cy), 1);
    assert.deepEqual(
      [...ann.errors, ...bob.errors, ...cy.errors].filter((e) => !e.includes('favicon')),
      [],
    );
  });

  it('exports the board as a PNG and an SVG', async () => {
    const [ann] = people as [Person, Person];
    await ann.page.keyboard.press('w');
    const box = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(box);
    const items = await itemsOn(ann.page);
    const annStroke = items.find((i) => i.kind === 'stroke' && i.name === 'Ann');
    const bobStroke = items.find((i) => i.kind === 'stroke' && i.name === 'Bob');
    assert.ok(annStroke && bobStroke);

    const downloading = ann.page.waitForEvent('download', { timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Export PNG' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), `${ROOM}-whiteboard.png`);
    const path = await download.path();
    assert.ok(path);
    const png = await readFile(path);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG');
    const image = { width: png.readUInt32BE(16), height: png.readUInt32BE(20), rgb: await pngPixels(png) };
    // Everything is in view: the picture is the view, one pixel a board unit.
    assert.deepEqual(
      { width: image.width, height: image.height },
      { width: Math.round(box.width), height: Math.round(box.height) },
    );
    assert.equal(image.rgb.length, image.width * image.height * 3);
    assert.ok(hasColorNear(image, 300, 330 - 0, RED, 6), 'Ann’s red stroke is where she drew it');
    assert.ok(hasColorNear(image, 300, 430, BLUE, 6), 'Bob’s blue stroke is where he drew it');
    for (const [x, y] of [
      [5, 5],
      [700, 40],
      [300, 380],
    ] as const)
      assert.ok(near(pixelAt(image, x, y), PAPER, 2), `the paper at (${x}, ${y}): ${pixelAt(image, x, y)}`);

    const svgDownload = ann.page.waitForEvent('download', { timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Export SVG' }).click();
    const svgFile = await svgDownload;
    assert.equal(svgFile.suggestedFilename(), `${ROOM}-whiteboard.svg`);
    const svg = await readFile((await svgFile.path()) ?? '', 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<path d="M/g) ?? []).length, 2, 'two strokes as outlines');
    assert.match(svg, /<text [^>]*>hello &lt;board&gt; &amp; all<\/text>/, 'the text, escaped');
    assert.match(svg, /fill="#d7263d"/);
  });

  it('gives guests no Clear, and a host’s view-only stops a guest’s pen', async () => {
    const [ann, bob] = people as [Person, Person];
    // Ann (the first in) hosts; Bob is a guest.
    assert.equal(await bob.page.getByRole('button', { name: 'Clear', exact: true }).count(), 0);
    assert.equal(await bob.page.getByRole('button', { name: 'View-only for guests' }).count(), 0);
    await ann.page.getByRole('button', { name: 'Clear', exact: true }).waitFor({ timeout: NOTICE_MS });

    const lock = ann.page.getByRole('button', { name: 'View-only for guests' });
    await lock.click();
    await ann.page.waitForFunction(
      () =>
        document.querySelector('.board-toolbar button[aria-pressed="true"].button')?.textContent ===
        'View-only for guests',
      undefined,
      { timeout: NOTICE_MS },
    );
    await bob.page.locator('.board-banner', { hasText: 'A host made the whiteboard view-only' }).waitFor({
      timeout: NOTICE_MS,
    });
    assert.ok(
      await bob.page.getByRole('button', { name: 'Pen', exact: true }).isDisabled(),
      'no pen for Bob',
    );
    assert.ok(await bob.page.getByRole('button', { name: 'Text', exact: true }).isDisabled());
    assert.ok(await bob.page.getByRole('button', { name: 'Eraser', exact: true }).isDisabled());
    const before = (await itemsOn(bob.page)).length;
    await drag(bob.page, [
      [600, 150],
      [700, 200],
    ]);
    await bob.page.keyboard.press('Control+z');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await itemsOn(bob.page)).length, before, 'Bob’s drag drew nothing');
    assert.equal((await itemsOn(ann.page)).length, before, 'nothing of Bob’s reached Ann');
    assert.ok(!bob.errors.some((e) => e.includes('BOARD_READ_ONLY')), bob.errors.join('\n'));

    // The host still draws, then clears the board for everyone (after saying yes).
    await drag(ann.page, [
      [600, 150],
      [700, 200],
    ]);
    await waitForItems(bob.page, 'Bob sees the host’s new stroke', (items) => items.length === before + 1);
    await ann.page.getByRole('button', { name: 'Clear', exact: true }).click();
    await ann.page.getByRole('button', { name: 'Clear for everyone' }).click();
    await waitForItems(bob.page, 'Bob’s board is empty', (items) => items.length === 0);
    await waitForItems(ann.page, 'Ann’s board is empty', (items) => items.length === 0);
    await bob.page.waitForFunction(
      () => document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') === 'Whiteboard: empty',
      undefined,
      { timeout: NOTICE_MS },
    );

    // The host lets guests draw again; Bob's pen works on the new board.
    await lock.click();
    await bob.page.locator('.board-banner').waitFor({ state: 'detached', timeout: NOTICE_MS });
    await bob.page.getByRole('button', { name: 'Pen', exact: true }).click();
    await drag(bob.page, [
      [200, 200],
      [300, 250],
    ]);
    await waitForItems(ann.page, 'Ann sees Bob’s stroke on the cleared board', (items) =>
      items.some((i) => i.kind === 'stroke' && i.name === 'Bob'),
    );
    // Bob's undo works on the new document too.
    await bob.page.keyboard.press('Control+z');
    await waitForItems(ann.page, 'Bob’s undo took it back', (items) => items.length === 0);
    assert.deepEqual([...ann.errors, ...bob.errors], []);
  });

  it('draws shapes and sticky notes, takes pasted pictures made small, moves and deletes what is selected', async () => {
    const [ann, bob] = people as [Person, Person];
    await ann.page.getByRole('button', { name: 'Colour: Green' }).click();
    // A rectangle and an arrow, dragged out.
    await ann.page.getByRole('button', { name: 'Rectangle', exact: true }).click();
    await drag(ann.page, [
      [100, 100],
      [300, 200],
    ]);
    await ann.page.getByRole('button', { name: 'Arrow', exact: true }).click();
    await drag(ann.page, [
      [350, 150],
      [450, 150],
    ]);
    await waitForItems(bob.page, 'Bob has the rectangle and the arrow', (items) => {
      const shapes = items.filter((i) => i.kind === 'shape');
      return shapes.length === 2 && shapes[0]!.shape === 'rect' && shapes[1]!.shape === 'arrow';
    });
    await bob.page.waitForFunction(
      () => document.querySelector('canvas.board-canvas')?.getAttribute('aria-label')?.includes('2 items'),
      undefined,
      { timeout: NOTICE_MS },
    );
    const shapes = await canvasPixels(bob.page);
    assert.ok(hasColorNear(shapes, 200, 100, GREEN), 'the rectangle’s top edge, green, on Bob’s canvas');
    assert.ok(hasColorNear(shapes, 400, 150, GREEN), 'the arrow, green, on Bob’s canvas');
    assert.ok(near(pixelAt(shapes, 200, 150), PAPER), 'the rectangle is not filled');

    // A sticky note.
    await ann.page.getByRole('button', { name: 'Sticky note', exact: true }).click();
    const annBox = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(annBox);
    await ann.page.mouse.click(annBox.x + 700, annBox.y + 60);
    const note = ann.page.getByRole('textbox', { name: /Text of the sticky note/ });
    await note.fill('buy milk');
    await note.press('Enter');
    await waitForItems(bob.page, 'Bob has the note', (items) =>
      items.some((i) => i.kind === 'note' && i.text === 'buy milk'),
    );
    await bob.page.waitForFunction(
      () =>
        /sticky note.*buy milk/.test(
          document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );

    // Bob pastes a big noisy picture (megabytes as a PNG): it goes on the board made small enough.
    await bob.page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 1800;
      canvas.height = 1200;
      const ctx = canvas.getContext('2d')!;
      const data = ctx.createImageData(1800, 1200);
      for (let i = 0; i < data.data.length; i++) data.data[i] = i % 4 === 3 ? 255 : Math.random() * 256;
      ctx.putImageData(data, 0, 0);
      const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], 'noise.png', { type: 'image/png' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    });
    const withPicture = await waitForItems(
      ann.page,
      'Ann has Bob’s picture',
      (items) => items.some((i) => i.kind === 'image'),
      60_000,
    );
    const picture = withPicture.find((i) => i.kind === 'image')!;
    assert.match(picture.src, /^data:image\/(webp|jpeg);base64,/);
    const bytes = ((picture.src.length - picture.src.indexOf(',') - 1) * 3) / 4;
    assert.ok(bytes <= 100 * 1024, `the picture was made small (${bytes} bytes)`);
    assert.ok(
      picture.w <= 480 && picture.h <= 480 && Math.abs(picture.w / picture.h - 1.5) < 0.05,
      'kept its shape',
    );
    assert.equal(picture.name, 'Bob');

    // Ann selects the rectangle and moves it down; Delete takes it away, her undo brings it back.
    await ann.page.getByRole('button', { name: 'Select and move', exact: true }).click();
    await drag(ann.page, [
      [110, 190],
      [110, 340],
      [110, 490],
    ]);
    await waitForItems(bob.page, 'the rectangle moved down for Bob', (items) => {
      const rect = items.find((i) => i.shape === 'rect');
      return rect !== undefined && Math.abs(rect.dy - 300) <= 1 && Math.abs(rect.dx) <= 1;
    });
    // The arrow keys nudge it.
    await ann.page.keyboard.press('ArrowRight');
    await waitForItems(bob.page, 'the rectangle nudged right for Bob', (items) => {
      const rect = items.find((i) => i.shape === 'rect');
      return rect !== undefined && Math.abs(rect.dx - 10) <= 1;
    });
    await ann.page
      .getByRole('button', { name: 'Delete the selected item (Delete)' })
      .waitFor({ timeout: NOTICE_MS });
    await ann.page.keyboard.press('Delete');
    await waitForItems(
      bob.page,
      'the rectangle is gone for Bob',
      (items) => !items.some((i) => i.shape === 'rect'),
    );
    await ann.page.keyboard.press('Control+z');
    await waitForItems(bob.page, 'the rectangle is back for Bob', (items) =>
      items.some((i) => i.shape === 'rect'),
    );

    // A double click on the note (with Select) changes its words.
    const box = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(box);
    await ann.page.mouse.dblclick(box.x + 850, box.y + 200);
    const edit = ann.page.getByRole('textbox', { name: /Text of the sticky note/ });
    await edit.waitFor({ timeout: NOTICE_MS });
    assert.equal(await edit.inputValue(), 'buy milk');
    await edit.fill('buy oat milk');
    await edit.press('Enter');
    await waitForItems(bob.page, 'Bob has the changed note', (items) =>
      items.some((i) => i.kind === 'note' && i.text === 'buy oat milk'),
    );

    // From the keyboard alone: the Text tool, activated with Enter, opens a text box amid the view.
    await bob.page.getByRole('button', { name: 'Text', exact: true }).focus();
    await bob.page.keyboard.press('Enter');
    const typed = bob.page.getByRole('textbox', { name: /Text to place on the whiteboard/ });
    await typed.waitFor({ timeout: NOTICE_MS });
    // The box takes the focus from an effect after it paints: wait for it there.
    await eventually('the text box has the focus', () => typed.evaluate((e) => e === document.activeElement));
    await bob.page.keyboard.type('typed, no mouse');
    await bob.page.keyboard.press('Enter');
    await waitForItems(ann.page, 'Ann has Bob’s typed text', (items) =>
      items.some((i) => i.kind === 'text' && i.text === 'typed, no mouse'),
    );

    // Zoomed in (about the middle of the view), a stroke lands where the pointer was on the board.
    await ann.page.getByRole('button', { name: 'Zoom in', exact: true }).click();
    await ann.page.getByRole('button', { name: /^125% zoom/ }).waitFor({ timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Pen', exact: true }).click();
    const view = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(view);
    const before = (await itemsOn(ann.page)).length;
    await drag(ann.page, [
      [100, 300],
      [160, 300],
    ]);
    const zoomed = await waitForItems(ann.page, 'the zoomed stroke', (items) => items.length === before + 1);
    const [bx, by] = zoomed[zoomed.length - 1]!.points[0]!;
    const expected = (s: number, size: number) => (s - size / 2) / 1.25 + size / 2;
    assert.ok(Math.abs(bx! - expected(100, view.width)) < 1.5, `x ${bx} ≈ ${expected(100, view.width)}`);
    assert.ok(Math.abs(by! - expected(300, view.height)) < 1.5, `y ${by} ≈ ${expected(300, view.height)}`);
    await ann.page.keyboard.press('Control+z');
    await waitForItems(ann.page, 'the zoomed stroke taken back', (items) => items.length === before);
    // Ctrl+wheel zooms too; "Show everything" fits the board's content, the percentage resets.
    await ann.page.mouse.move(view.x + 200, view.y + 200);
    await ann.page.keyboard.down('Control');
    await ann.page.mouse.wheel(0, -200);
    await ann.page.keyboard.up('Control');
    await ann.page.waitForFunction(
      () => Number.parseInt(document.querySelector('.board-zoom')?.textContent ?? '0', 10) > 125,
      undefined,
      { timeout: NOTICE_MS },
    );
    await ann.page.getByRole('button', { name: 'Show everything on the board' }).click();
    await ann.page.waitForFunction(
      () => Number.parseInt(document.querySelector('.board-zoom')?.textContent ?? '0', 10) <= 100,
      undefined,
      { timeout: NOTICE_MS },
    );
    await ann.page.getByRole('button', { name: /% zoom: reset/ }).click();
    await ann.page.getByRole('button', { name: /^100% zoom/ }).waitFor({ timeout: NOTICE_MS });

    // For a screen reader: the canvas is an image that says what is on it; the tools are buttons, and
    // axe-core finds nothing serious on the call screen with the board open (the host's, and a guest's).
    const canvas = ann.page.locator('canvas.board-canvas');
    assert.equal(await canvas.getAttribute('role'), 'img');
    await ann.page.waitForFunction(
      () =>
        /^Whiteboard: 5 items \(.*\), by Ann and Bob\./.test(
          document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.deepEqual(await axeProblems(ann.page), [], 'the host’s board');
    assert.deepEqual(await axeProblems(bob.page), [], 'the guest’s board');
    // W is in the list of shortcuts.
    await ann.page.keyboard.press('?');
    await ann.page.locator('dialog .shortcuts', { hasText: 'Open or close the whiteboard' }).waitFor({
      timeout: NOTICE_MS,
    });
    await ann.page.keyboard.press('Escape');
    assert.deepEqual([...ann.errors, ...bob.errors], []);
  });

  it('adds pages that each person turns, and exports them all in one PDF', async () => {
    const [ann, bob] = people as [Person, Person];
    for (const p of [ann, bob])
      if (!(await p.page.locator('canvas.board-canvas').isVisible())) await openBoard(p.page);
    await ann.page.getByRole('button', { name: 'Add a page' }).click();
    await ann.page.locator('.board-page', { hasText: 'Page 2 of 2' }).waitFor({ timeout: NOTICE_MS });
    // Bob stays on his page; he is told there are two.
    await bob.page.locator('.board-page', { hasText: 'Page 1 of 2' }).waitFor({ timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Pen', exact: true }).click();
    await ann.page.getByRole('button', { name: 'Colour: Green' }).click();
    await drag(ann.page, [
      [150, 300],
      [350, 320],
      [550, 300],
    ]);
    await ann.page.waitForFunction(
      () =>
        /^Whiteboard, page 2 of 2: 1 item, by Ann\./.test(
          document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.ok(!hasColorNear(await canvasPixels(bob.page), 350, 318, GREEN, 6), 'not on Bob’s first page');
    await bob.page.getByRole('button', { name: 'Next page' }).click();
    await bob.page.locator('.board-page', { hasText: 'Page 2 of 2' }).waitFor({ timeout: NOTICE_MS });
    await bob.page.waitForFunction(
      () =>
        (document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '').startsWith(
          'Whiteboard, page 2 of 2: 1 item',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.ok(hasColorNear(await canvasPixels(bob.page), 350, 318, GREEN, 6), 'Bob sees page 2');

    const downloading = ann.page.waitForEvent('download', { timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Export PDF' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), `${ROOM}-whiteboard.pdf`);
    const pdf = (await download.path()) ?? '';
    const info = (await run('pdfinfo', [pdf])).stdout;
    assert.match(info, /^Pages:\s+2$/m, info);
    // Page 2, drawn at one pixel a board unit (the PDF's 0.75 pt a unit, at 96 dpi), is the green stroke.
    const out = join(suite.dataDir, 'page');
    await run('pdftoppm', ['-r', '96', '-f', '2', '-l', '2', '-png', '-singlefile', pdf, out]);
    const png = await readFile(`${out}.png`);
    const image = { width: png.readUInt32BE(16), height: png.readUInt32BE(20), rgb: await pngPixels(png) };
    const box = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(box);
    assert.ok(
      Math.abs(image.width - box.width) <= 2,
      `page 2 is the view's width (${image.width}, ${box.width})`,
    );
    assert.ok(hasColorNear(image, 350, 318, GREEN, 6), 'the green stroke is on page 2 where Ann drew it');
    assert.ok(near(pixelAt(image, 20, 20), PAPER, 4), `page 2’s paper: ${pixelAt(image, 20, 20)}`);
    // Back to the first page for what follows.
    await ann.page.getByRole('button', { name: 'Previous page' }).click();
    await bob.page.getByRole('button', { name: 'Previous page' }).click();
    assert.deepEqual([...ann.errors, ...bob.errors], []);
  });

  it('puts an export made while the call is recorded into the recording', async () => {
    const [ann, bob] = people as [Person, Person];
    await ann.page.getByRole('button', { name: 'People (P)' }).click();
    await ann.page.getByRole('button', { name: 'Record the call', exact: true }).click();
    await bob.page.getByText('Recording started by Ann.').waitFor({ timeout: NOTICE_MS });
    const downloading = bob.page.waitForEvent('download', { timeout: NOTICE_MS });
    await bob.page.getByRole('button', { name: 'Export PNG' }).click();
    const downloaded = await readFile((await (await downloading).path()) ?? '');
    await bob.page.getByText(/The whiteboard was saved in the recording too/).waitFor({ timeout: NOTICE_MS });
    const recordings = join(suite.dataDir, 'recordings');
    const [id] = await readdir(recordings);
    assert.ok(id, 'a recording');
    const kept = (await readdir(join(recordings, id, 'board'))).filter((f) => f.endsWith('.png'));
    assert.equal(kept.length, 1, `one export in the recording: ${kept}`);
    assert.deepEqual(await readFile(join(recordings, id, 'board', kept[0]!)), downloaded, 'the same PNG');
    await ann.page.getByRole('button', { name: 'Stop recording the call', exact: true }).click();
    await bob.page.getByText('Recording stopped by Ann.').waitFor({ timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Close people' }).click();
  });

  it('keeps the board across a restart of the server', async () => {
    const [ann, bob] = people as [Person, Person];
    await ann.page.getByRole('button', { name: 'Pen', exact: true }).click();
    await ann.page.getByRole('button', { name: 'Colour: Red' }).click();
    // Along the bottom right of her view (reset to where the board starts), clear of what is there
    // and of the notices at the bottom left.
    await ann.page.getByRole('button', { name: /zoom: reset the zoom and position$/ }).click();
    const box = await ann.page.locator('canvas.board-canvas').boundingBox();
    assert.ok(box);
    const low = Math.round(box.height - 40);
    await drag(ann.page, [
      [780, low],
      [880, low + 20],
      [980, low],
    ]);
    const items = await waitForItems(bob.page, 'Bob has Ann’s new stroke', (list) =>
      list.some((i) => i.kind === 'stroke' && i.points.some(([x, y]) => x === 980 && y === low)),
    );
    // The server stops with everyone in the room, and they close their pages while it is away: only
    // the server can give the board back to someone who comes after.
    await suite.server.close();
    await closeAll(people.splice(0));
    suite.server = await startTestServer({ dataDir: suite.dataDir, rooms: KEEP_ROOMS });
    const dee = await open('Dee');
    await openBoard(dee.page);
    const back = await waitForItems(
      dee.page,
      'Dee, new after the restart, has the board',
      (list) => list.length === items.length,
    );
    assert.deepEqual(summary(back), summary(items));
    await dee.page.locator('.board-page', { hasText: 'Page 1 of 2' }).waitFor({ timeout: NOTICE_MS });
    // On her screen: the red stroke where Ann drew it, and on page 2 the green one.
    await dee.page.waitForFunction(
      () =>
        /^Whiteboard, page 1 of 2: \d+ items/.test(
          document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.ok(hasColorNear(await canvasPixels(dee.page), 880, low + 18, RED, 6), 'the red stroke is drawn');
    await dee.page.getByRole('button', { name: 'Next page' }).click();
    await dee.page.locator('.board-page', { hasText: 'Page 2 of 2' }).waitFor({ timeout: NOTICE_MS });
    await dee.page.waitForFunction(
      () =>
        (document.querySelector('canvas.board-canvas')?.getAttribute('aria-label') ?? '').startsWith(
          'Whiteboard, page 2 of 2: 1 item',
        ),
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.ok(hasColorNear(await canvasPixels(dee.page), 350, 318, GREEN, 6), 'and page 2 is kept');
    assert.deepEqual(dee.errors, []);
  });
});

describe('a full whiteboard in the web client', () => {
  // A board of 64 KiB: a picture (up to 100 KB) does not fit, a stroke does.
  const suite = browserSuite({}, { rooms: { boardMaxBytes: 64 * 1024 } });

  it('takes back a picture the server refused, says why, and draws on', async () => {
    const person = await openRoom(suite.browser, suite.server.url, 'full-board', 'Ann', {
      query: 'audio=0&video=0',
    });
    suite.people.push(person);
    const page = person.page;
    await openBoard(page);
    // A noisy picture (as small as it gets, still more than this board's 64 KiB).
    await page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 1600;
      canvas.height = 1200;
      const ctx = canvas.getContext('2d')!;
      const data = ctx.createImageData(1600, 1200);
      for (let i = 0; i < data.data.length; i++) data.data[i] = i % 4 === 3 ? 255 : Math.random() * 256;
      ctx.putImageData(data, 0, 0);
      const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], 'noise.png', { type: 'image/png' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    });
    await page
      .getByText('The whiteboard is full: what you added last was taken back. A host can clear it.')
      .waitFor({ timeout: 60_000 });
    await waitForItems(page, 'the refused picture is taken back', (items) => items.length === 0);
    await drag(page, [
      [100, 100],
      [200, 150],
    ]);
    await waitForItems(page, 'a stroke fits', (items) => items.length === 1 && items[0]!.kind === 'stroke');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await itemsOn(page)).length, 1, 'the stroke stays: the server took it');
  });
});
