/**
 * Drawing over a shared screen in Chromium: Pia presents her screen; Vic, who sees it large, draws on it
 * with the mouse; Pia (the presenter) and Hal (a third person) see the drawing, each at the same spot of
 * the shared picture whatever the size of their tile; Pia keeps drawing to herself (Vic's pen goes, and
 * the server takes back what he sends anyway), clears the drawings, and when she stops presenting they
 * are gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  axeProblems,
  browserSuite,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
  waitForFrames,
} from '../helpers/browser.js';
import { pngPixels } from '../helpers/ffmpeg.js';

const ROOM = 'marked-up';
/** The first ink over a screen (web/src/board/ScreenAnnotation.tsx): the board's red. */
const RED = [0xd7, 0x26, 0x3d] as const;
const OWN_SCREEN = '.tile[data-self="true"][data-source="screen"]';

/** The strokes over `presenterId`'s screen in the page's document: their authors' names and points. */
function layerOn(page: Page, presenterId: string): Promise<{ name: string; points: number[][] }[]> {
  return page.evaluate((id) => {
    type YMap = { get(key: string): unknown };
    type YArray = { toArray(): unknown[] };
    const room = (window as unknown as { port545?: { room?: { board: { annotation(id: string): YArray } } } })
      .port545?.room;
    return ((room?.board.annotation(id).toArray() ?? []) as YMap[]).map((item) => ({
      name: String(item.get('name')),
      points: (() => {
        const points = item.get('points') as YArray | unknown[] | undefined;
        return (Array.isArray(points) ? points : (points?.toArray?.() ?? [])) as number[][];
      })(),
    }));
  }, presenterId);
}

async function waitForLayer(
  page: Page,
  presenterId: string,
  what: string,
  check: (strokes: { name: string; points: number[][] }[]) => boolean,
): Promise<{ name: string; points: number[][] }[]> {
  const deadline = Date.now() + NOTICE_MS;
  let strokes = await layerOn(page, presenterId);
  while (!check(strokes)) {
    if (Date.now() > deadline) throw new Error(`${what}: the page has ${JSON.stringify(strokes)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    strokes = await layerOn(page, presenterId);
  }
  return strokes;
}

/**
 * Where a point of the shared picture (annotation units: the picture is 1000 across) shows in the tile's
 * annotation canvas, in CSS pixels from the canvas's top left: the picture is fitted whole in the tile.
 */
function pixelOf(page: Page, tile: string, unit: [number, number]): Promise<[number, number]> {
  return page.evaluate(
    ({ tile, unit }) => {
      const canvas = document.querySelector(`${tile} .annotation-canvas`) as HTMLCanvasElement;
      const video = document.querySelector(`${tile} video`) as HTMLVideoElement | null;
      const own = (
        window as unknown as { port545: { session: { screen?: { track: MediaStreamTrack } } } }
      ).port545.session.screen?.track.getSettings();
      const width = video?.videoWidth || own?.width || 0;
      const height = video?.videoHeight || own?.height || 0;
      const scale = Math.min(canvas.clientWidth / width, canvas.clientHeight / height);
      const x0 = (canvas.clientWidth - width * scale) / 2;
      const y0 = (canvas.clientHeight - height * scale) / 2;
      const perUnit = (width * scale) / 1000;
      return [x0 + unit[0] * perUnit, y0 + unit[1] * perUnit] as [number, number];
    },
    { tile, unit },
  );
}

/** Red pixels of the annotation canvas in `tile`, within `radius` of (x, y), and in all. */
async function redIn(page: Page, tile: string, at: [number, number], radius = 8) {
  const png = await page.locator(`${tile} .annotation-canvas`).screenshot();
  const width = png.readUInt32BE(16);
  const rgb = await pngPixels(png);
  const red = (i: number) =>
    Math.abs(rgb[i]! - RED[0]) < 40 &&
    Math.abs(rgb[i + 1]! - RED[1]) < 40 &&
    Math.abs(rgb[i + 2]! - RED[2]) < 40;
  let near = 0;
  let all = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    if (!red(i)) continue;
    all++;
    const x = (i / 3) % width;
    const y = Math.floor(i / 3 / width);
    if (Math.abs(x - at[0]) <= radius && Math.abs(y - at[1]) <= radius) near++;
  }
  return { near, all };
}

describe('drawing over a shared screen in the web client', () => {
  const suite = browserSuite();
  const people = suite.people;
  const open = async (name: string) => {
    const person = await openRoom(suite.browser, suite.server.url, ROOM, name, { query: 'audio=0&video=0' });
    people.push(person);
    return person;
  };

  it('is seen by the presenter and a third person, and the presenter can keep it to herself and clear it', async () => {
    const pia = await open('Pia');
    const vic = await open('Vic');
    const hal = await open('Hal');
    const piaId = await pia.page.evaluate(
      () =>
        (window as unknown as { port545: { room: { participantId: string } } }).port545.room.participantId,
    );
    await pia.page.getByRole('button', { name: 'Present your screen (S)' }).click();
    await pia.page.getByText('You are presenting your screen to everyone.').waitFor({ timeout: NOTICE_MS });
    const stage = `.stage-main ${tileOf('Pia', 'screen')}`;
    for (const p of [vic, hal]) {
      await p.page.locator(`${stage} video.ready`).waitFor({ timeout: NOTICE_MS });
      await waitForFrames(p.page, `${stage} video`, { frames: 2 });
    }

    // Vic takes the pen over Pia's screen and draws a line across its middle.
    await vic.page.getByRole('button', { name: 'Draw on this screen' }).click();
    const box = await vic.page.locator(`${stage} .annotation-canvas`).boundingBox();
    assert.ok(box);
    const from = await pixelOf(vic.page, stage, [250, 200]);
    const to = await pixelOf(vic.page, stage, [750, 200]);
    await vic.page.mouse.move(box.x + from[0], box.y + from[1]);
    await vic.page.mouse.down();
    await vic.page.mouse.move(box.x + to[0], box.y + to[1], { steps: 12 });
    await vic.page.mouse.up();
    const [stroke] = await waitForLayer(pia.page, piaId, 'Pia has Vic’s drawing', (s) => s.length === 1);
    assert.equal(stroke?.name, 'Vic');
    // In the picture's own units: where Vic drew, whatever the size of his window.
    const middle = stroke!.points[Math.floor(stroke!.points.length / 2)] as [number, number];
    assert.ok(Math.abs(middle[1] - 200) < 3 && middle[0] > 300 && middle[0] < 700, `the middle: ${middle}`);

    // Hal, a third person, sees it on his screen where it is on the picture.
    await hal.page
      .locator(`${stage} .annotation-canvas[data-annotations="1"]`)
      .waitFor({ timeout: NOTICE_MS });
    const onHal = await redIn(hal.page, stage, await pixelOf(hal.page, stage, middle));
    assert.ok(onHal.near > 5, `Hal sees the red line at its spot: ${JSON.stringify(onHal)}`);
    // Pia, the presenter, sees it over her own screen's place, in its smaller tile.
    await pia.page
      .locator(`${OWN_SCREEN} .annotation-canvas[data-annotations="1"]`)
      .waitFor({ timeout: NOTICE_MS });
    const onPia = await redIn(pia.page, OWN_SCREEN, await pixelOf(pia.page, OWN_SCREEN, middle), 6);
    assert.ok(onPia.near > 3, `Pia sees the red line at its spot: ${JSON.stringify(onPia)}`);
    assert.deepEqual(await axeProblems(vic.page), [], 'the drawing tools, to a screen reader');

    // Pia keeps her screen to herself: Vic's pen goes, and a stroke his page sends anyway is taken back.
    await pia.page.locator(`${OWN_SCREEN} button`, { hasText: 'Others may draw' }).click();
    await vic.page
      .locator(stage, { hasText: 'The presenter turned drawing off' })
      .waitFor({ timeout: NOTICE_MS });
    assert.equal(await vic.page.getByRole('button', { name: /Draw on this screen/ }).count(), 0);
    const sent = await vic.page.evaluate((id) => {
      type YMap = { set(key: string, value: unknown): void };
      type Layer = { length: number; get(i: number): YMap; push(items: YMap[]): void };
      const board = (window as unknown as { port545: { room: { board: { annotation(id: string): Layer } } } })
        .port545.room.board;
      const layer = board.annotation(id);
      // A Y.Map made as the page's Yjs makes them (the class of the drawing already there).
      const YMapClass = (layer.get(0) as unknown as { constructor: new () => YMap }).constructor;
      const item = new YMapClass();
      item.set('kind', 'stroke');
      item.set('by', 'Vic');
      item.set('points', [100, 100, 900, 500]);
      layer.push([item]);
      return layer.length;
    }, piaId);
    assert.equal(sent, 2, 'Vic’s page added a drawing of its own');
    await waitForLayer(vic.page, piaId, 'the server took Vic’s back', (s) => s.length === 1);
    assert.equal((await layerOn(hal.page, piaId)).length, 1, 'Hal has just the one drawing');

    // Pia clears the drawings for everyone.
    await pia.page.locator(`${OWN_SCREEN} button`, { hasText: 'Clear drawings' }).click();
    for (const p of [pia, vic, hal])
      await waitForLayer(p.page, piaId, `${p.name}: cleared`, (s) => s.length === 0);
    assert.equal((await redIn(hal.page, stage, [0, 0])).all, 0, 'nothing red left on Hal’s screen');

    // She lets others draw again, and stops presenting: what was drawn goes with the screen.
    await pia.page.locator(`${OWN_SCREEN} button`, { hasText: 'Others may draw' }).click();
    await vic.page.getByRole('button', { name: 'Draw on this screen' }).waitFor({ timeout: NOTICE_MS });
    await vic.page.getByRole('button', { name: 'Draw on this screen' }).click();
    await vic.page.mouse.move(box.x + from[0], box.y + from[1] + 40);
    await vic.page.mouse.down();
    await vic.page.mouse.move(box.x + to[0], box.y + to[1] + 40, { steps: 8 });
    await vic.page.mouse.up();
    await waitForLayer(hal.page, piaId, 'Hal sees Vic’s second drawing', (s) => s.length === 1);
    await pia.page.getByRole('button', { name: 'Stop presenting (S)' }).click();
    for (const p of [vic, hal]) {
      await p.page.locator(tileOf('Pia', 'screen')).waitFor({ state: 'detached', timeout: NOTICE_MS });
      await waitForLayer(
        p.page,
        piaId,
        `${p.name}: the drawings went with the screen`,
        (s) => s.length === 0,
      );
    }
    assert.deepEqual(
      people.flatMap((p: Person) => p.errors),
      [],
    );
  });
});
