import * as Y from 'yjs';

/**
 * The whiteboard's document. Its first page is `doc.getArray('items')`, a Y.Array of Y.Maps, oldest
 * (bottom) first; each page added later is another such array, named in `doc.getArray('pages')`.
 * The drawings over a shared screen are one more: `screen:<presenter's participant id>`, in coordinates
 * of the presenter's video, 1000 units across.
 *   stroke: { kind: 'stroke', by, name, color, size, points }  points: a Y.Array of [x, y, pressure]
 *     (board coordinates; a plain array of triples, or a flat [x, y, x, y…], is read too)
 *   text:   { kind: 'text', by, name, x, y, text, color, size }  (x, y: the left of its baseline)
 *   shape:  { kind: 'shape', by, name, shape: 'line'|'arrow'|'rect'|'ellipse', x1, y1, x2, y2, color, size }
 *   note:   { kind: 'note', by, name, x, y, text, color }  (a sticky note, NOTE_SIZE square; x, y: top left)
 *   image:  { kind: 'image', by, name, x, y, w, h, src }  (src: a data: URL, WebP or JPEG, ≤ 100 KB)
 * Any item may carry dx, dy: how far it was moved (strokes keep their points as drawn).
 * `by` is the author's participant id, `name` their display name when they drew it.
 */
export type Item = Y.Map<unknown>;
/** One page of the board (or the layer over a shared screen): its items, oldest first. */
export type Page = Y.Array<Item>;
export type Point = [number, number, number];

export const ITEMS = 'items';
export const PAGES = 'pages';
/** A board has at most this many pages. */
export const MAX_PAGES = 20;
/** The width of a shared screen in the annotation layer's units, whatever its pixels. */
export const SCREEN_UNITS = 1000;
/** The board's paper, on screen and in exports. */
export const BACKGROUND = '#fbfbf8';
export const TEXT_SIZE = 22;
export const NOTE_SIZE = 180;
export const NOTE_PAPER = '#fff1a6';
export const NOTE_TEXT_SIZE = 18;
export type ShapeKind = 'line' | 'arrow' | 'rect' | 'ellipse';
export const SHAPES: readonly ShapeKind[] = ['line', 'arrow', 'rect', 'ellipse'];
export const TEXT_FONT = (size: number) =>
  `500 ${size}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;

export const COLORS: readonly { name: string; value: string }[] = [
  { name: 'Black', value: '#1d2127' },
  { name: 'Red', value: '#d7263d' },
  { name: 'Blue', value: '#1f5fd1' },
  { name: 'Green', value: '#138a3e' },
  { name: 'Orange', value: '#e07a00' },
  { name: 'Purple', value: '#7b3fc4' },
];

export const SIZES: readonly { name: string; value: number }[] = [
  { name: 'Thin', value: 4 },
  { name: 'Medium', value: 8 },
  { name: 'Thick', value: 16 },
];

export function itemsOf(doc: Y.Doc): Page {
  return doc.getArray<Item>(ITEMS);
}

/** The names of the board's pages, in order: the first, then each added one (duplicates and junk skipped). */
export function pageNames(doc: Y.Doc): string[] {
  const names = [ITEMS];
  for (const name of doc.getArray<unknown>(PAGES)) {
    if (names.length >= MAX_PAGES) break;
    if (typeof name === 'string' && /^page:[\w-]{1,32}$/.test(name) && !names.includes(name))
      names.push(name);
  }
  return names;
}

/** The page called `name` (one of `pageNames`). */
export function pageOf(doc: Y.Doc, name: string): Page {
  return doc.getArray<Item>(name);
}

/** Adds an empty page after the others; returns its name. */
export function addPage(doc: Y.Doc): string {
  const name = `page:${Math.random().toString(36).slice(2, 10)}`;
  doc.getArray<string>(PAGES).push([name]);
  return name;
}

/** The drawings over `participantId`'s shared screen. */
export function annotationOf(doc: Y.Doc, participantId: string): Page {
  return doc.getArray<Item>(`screen:${participantId}`);
}

/** A stroke's points as [x, y, pressure] triples, whatever form they were stored in. */
export function pointsOf(item: Item): Point[] {
  const raw = item.get('points');
  const list: unknown[] = raw instanceof Y.Array ? raw.toArray() : Array.isArray(raw) ? raw : [];
  const out: Point[] = [];
  if (list.length > 0 && typeof list[0] === 'number') {
    for (let i = 0; i + 1 < list.length; i += 2) {
      const x = Number(list[i]);
      const y = Number(list[i + 1]);
      if (Number.isFinite(x) && Number.isFinite(y)) out.push([x, y, 0.5]);
    }
    return out;
  }
  for (const p of list) {
    if (!Array.isArray(p)) continue;
    const x = Number(p[0]);
    const y = Number(p[1]);
    const pressure = Number(p[2] ?? 0.5);
    if (Number.isFinite(x) && Number.isFinite(y))
      out.push([x, y, Number.isFinite(pressure) ? pressure : 0.5]);
  }
  return out;
}

export function kindOf(item: Item): string {
  const kind = item.get('kind');
  if (typeof kind === 'string') return kind;
  return item.has('text') ? 'text' : 'stroke';
}

export function colorOf(item: Item): string {
  const color = item.get('color');
  return typeof color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(color) ? color : COLORS[0]!.value;
}

export function sizeOf(item: Item, fallback: number): number {
  const size = Number(item.get('size'));
  return Number.isFinite(size) && size > 0 && size <= 200 ? size : fallback;
}

export function textOf(item: Item): string {
  const text = item.get('text');
  return typeof text === 'string' ? text : '';
}

export function numberOf(item: Item, key: string): number {
  const n = Number(item.get(key));
  return Number.isFinite(n) ? n : 0;
}

export function offsetOf(item: Item): { dx: number; dy: number } {
  return { dx: numberOf(item, 'dx'), dy: numberOf(item, 'dy') };
}

const round = (n: number) => Math.round(n * 10) / 10;

type Who = { id: string; name: string };

/**
 * Adds an item of `kind` by `who` with `fields` (numbers rounded to a tenth: board units need no more),
 * as one change of this client's (its undo step).
 */
function addItem(page: Page, kind: string, who: Who, fields: Record<string, unknown>): Item {
  const item = new Y.Map<unknown>();
  const doc = page.doc!;
  doc.transact(() => {
    item.set('kind', kind);
    item.set('by', who.id);
    item.set('name', who.name);
    for (const [key, value] of Object.entries(fields))
      item.set(key, typeof value === 'number' ? round(value) : value);
    page.push([item]);
  }, doc.clientID);
  return item;
}

export function addShape(
  page: Page,
  who: Who,
  shape: ShapeKind,
  x: number,
  y: number,
  color: string,
  size: number,
): Item {
  return addItem(page, 'shape', who, { shape, x1: x, y1: y, x2: x, y2: y, color, size });
}

export function setShapeEnd(doc: Y.Doc, item: Item, x: number, y: number): void {
  if (!item.doc || item._item?.deleted) return;
  doc.transact(() => {
    item.set('x2', round(x));
    item.set('y2', round(y));
  }, doc.clientID);
}

export function addNote(page: Page, who: Who, x: number, y: number, text: string, color: string): void {
  addItem(page, 'note', who, { x, y, text, color });
}

export function addImage(
  page: Page,
  who: Who,
  x: number,
  y: number,
  w: number,
  h: number,
  src: string,
): void {
  addItem(page, 'image', who, { x, y, w, h, src });
}

/** Moves an item to `dx`, `dy` from where it was made. */
export function setOffset(doc: Y.Doc, item: Item, dx: number, dy: number): void {
  if (!item.doc || item._item?.deleted) return;
  doc.transact(() => {
    item.set('dx', round(dx));
    item.set('dy', round(dy));
  }, doc.clientID);
}

/** Starts a stroke at `point`; returns the points array to extend as the pointer moves. */
export function beginStroke(page: Page, who: Who, color: string, size: number, point: Point): Y.Array<Point> {
  const points = new Y.Array<Point>();
  points.push([[round(point[0]), round(point[1]), round(point[2])]]);
  addItem(page, 'stroke', who, { color, size, points });
  return points;
}

export function extendStroke(doc: Y.Doc, points: Y.Array<Point>, more: Point[]): void {
  if (more.length === 0 || !points.doc || points._item?.deleted) return;
  doc.transact(() => {
    points.push(more.map((p) => [round(p[0]), round(p[1]), round(p[2])] as Point));
  }, doc.clientID);
}

export function addText(page: Page, who: Who, x: number, y: number, text: string, color: string): void {
  addItem(page, 'text', who, { x, y, text, color, size: TEXT_SIZE });
}

export function removeItem(page: Page, item: Item): void {
  const doc = page.doc!;
  doc.transact(() => {
    const index = page.toArray().indexOf(item);
    if (index >= 0) page.delete(index, 1);
  }, doc.clientID);
}

/** "Whiteboard: 3 items, drawn by Ann and Bob." — what the canvas says to a screen reader. */
export function describe(page: Page): string {
  const items = page.toArray();
  if (items.length === 0) return 'Whiteboard: empty';
  const names = new Set<string>();
  const counts = new Map<string, number>();
  for (const item of items) {
    const name = item.get('name');
    if (typeof name === 'string' && name) names.add(name);
    const kind = kindOf(item);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const words: Record<string, [string, string]> = {
    stroke: ['drawing', 'drawings'],
    text: ['text', 'texts'],
    shape: ['shape', 'shapes'],
    note: ['sticky note', 'sticky notes'],
    image: ['picture', 'pictures'],
  };
  const kinds = [...counts]
    .filter(([kind]) => words[kind])
    .map(([kind, n]) => `${n} ${words[kind]![n === 1 ? 0 : 1]}`);
  const parts = [
    `${items.length} item${items.length === 1 ? '' : 's'}`,
    ...(kinds.length > 1 ? [`(${kinds.join(', ')})`] : []),
  ];
  const who = [...names];
  const by =
    who.length === 0
      ? ''
      : who.length === 1
        ? `, by ${who[0]}`
        : `, by ${who.slice(0, -1).join(', ')} and ${who[who.length - 1]}`;
  const said = items
    .filter((i) => kindOf(i) === 'text' || kindOf(i) === 'note')
    .map(textOf)
    .filter(Boolean)
    .slice(0, 5);
  return `Whiteboard: ${parts.join(' ')}${by}.${said.length ? ` Text: ${said.map((w) => `“${w}”`).join(', ')}.` : ''}`;
}
