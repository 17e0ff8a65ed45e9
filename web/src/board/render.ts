import { getStroke } from 'perfect-freehand';
import * as Y from 'yjs';
import {
  BACKGROUND,
  colorOf,
  type Item,
  kindOf,
  NOTE_PAPER,
  NOTE_SIZE,
  NOTE_TEXT_SIZE,
  numberOf,
  offsetOf,
  type Page,
  type Point,
  pointsOf,
  SIZES,
  sizeOf,
  TEXT_FONT,
  TEXT_SIZE,
  textOf,
} from './model.ts';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** How board coordinates map to the canvas's CSS pixels: screen = board × zoom + pan. */
export interface View {
  zoom: number;
  panX: number;
  panY: number;
}

interface Shape {
  /** The points it was made from, and how many: a stroke still being drawn is made again as they grow. */
  raw: unknown;
  count: number;
  path: string;
  path2d: Path2D | undefined;
  bounds: Rect;
  points: Point[];
}

const shapes = new WeakMap<Item, Shape>();

/** The outline of a stroke (perfect-freehand), as SVG path data. */
export function strokeOutline(points: Point[], size: number): string {
  const outline = getStroke(points, {
    size,
    thinning: 0.5,
    smoothing: 0.5,
    streamline: 0.4,
    simulatePressure: false,
    last: true,
  });
  return svgPath(outline);
}

function svgPath(outline: number[][]): string {
  const n = outline.length;
  if (n < 2) return '';
  const f = (v: number) => (Math.round(v * 100) / 100).toString();
  let d = `M${f(outline[0]![0]!)},${f(outline[0]![1]!)} Q`;
  for (let i = 0; i < n; i++) {
    const a = outline[i]!;
    const b = outline[(i + 1) % n]!;
    d += `${f(a[0]!)},${f(a[1]!)} ${f((a[0]! + b[0]!) / 2)},${f((a[1]! + b[1]!) / 2)} `;
  }
  return `${d}Z`;
}

function strokeShape(item: Item): Shape {
  const raw = item.get('points');
  const count = raw instanceof Y.Array || Array.isArray(raw) ? raw.length : 0;
  const cached = shapes.get(item);
  if (cached && cached.raw === raw && cached.count === count) return cached;
  const points = pointsOf(item);
  const size = sizeOf(item, SIZES[1]!.value);
  const path = strokeOutline(points, size);
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of points) {
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  const r = size;
  const bounds =
    points.length === 0
      ? { x: 0, y: 0, width: 0, height: 0 }
      : { x: minX - r, y: minY - r, width: maxX - minX + 2 * r, height: maxY - minY + 2 * r };
  const shape: Shape = {
    raw,
    count,
    path,
    path2d: typeof Path2D === 'function' && path ? new Path2D(path) : undefined,
    bounds,
    points,
  };
  shapes.set(item, shape);
  return shape;
}

let measurer: CanvasRenderingContext2D | null | undefined;
function textWidth(text: string, size: number): number {
  if (measurer === undefined) measurer = document.createElement('canvas').getContext('2d');
  if (!measurer) return text.length * size * 0.55;
  measurer.font = TEXT_FONT(size);
  return measurer.measureText(text).width;
}

export function textBounds(item: Item): Rect {
  const size = sizeOf(item, TEXT_SIZE);
  const text = textOf(item);
  return {
    x: numberOf(item, 'x'),
    y: numberOf(item, 'y') - size,
    width: textWidth(text, size),
    height: size * 1.3,
  };
}

function shapeEnds(item: Item) {
  return {
    x1: numberOf(item, 'x1'),
    y1: numberOf(item, 'y1'),
    x2: numberOf(item, 'x2'),
    y2: numberOf(item, 'y2'),
  };
}

/** The line width of a shape of `size` (a pen size). */
const shapeWidth = (item: Item) => Math.max(2, sizeOf(item, SIZES[1]!.value) / 2);

/** Where an item lies as it was made (without its move). */
function baseBounds(item: Item): Rect {
  switch (kindOf(item)) {
    case 'text':
      return textBounds(item);
    case 'note':
      return { x: numberOf(item, 'x'), y: numberOf(item, 'y'), width: NOTE_SIZE, height: NOTE_SIZE };
    case 'image':
      return {
        x: numberOf(item, 'x'),
        y: numberOf(item, 'y'),
        width: Math.max(0, numberOf(item, 'w')),
        height: Math.max(0, numberOf(item, 'h')),
      };
    case 'shape': {
      const { x1, y1, x2, y2 } = shapeEnds(item);
      const pad = shapeWidth(item) + (item.get('shape') === 'arrow' ? 14 : 0);
      return {
        x: Math.min(x1, x2) - pad,
        y: Math.min(y1, y2) - pad,
        width: Math.abs(x2 - x1) + 2 * pad,
        height: Math.abs(y2 - y1) + 2 * pad,
      };
    }
    default:
      return strokeShape(item).bounds;
  }
}

export function boundsOf(item: Item): Rect {
  const b = baseBounds(item);
  const { dx, dy } = offsetOf(item);
  return { ...b, x: b.x + dx, y: b.y + dy };
}

/** Everything on the board, or undefined when it is empty. */
export function contentBounds(page: Page): Rect | undefined {
  let box: Rect | undefined;
  for (const item of page) {
    const b = boundsOf(item);
    if (b.width === 0 && b.height === 0) continue;
    box = box ? union(box, b) : b;
  }
  return box;
}

export function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

const images = new WeakMap<Item, HTMLImageElement>();

/** The picture of an image item, loading; `onLoad` is called once it can be drawn. */
function imageOf(item: Item, onLoad?: () => void): HTMLImageElement | undefined {
  const src = item.get('src');
  if (typeof src !== 'string' || !/^data:image\/(webp|jpeg|png|gif);base64,/.test(src)) return undefined;
  let image = images.get(item);
  if (!image || image.getAttribute('src') !== src) {
    image = new Image();
    image.src = src;
    images.set(item, image);
  }
  if (!image.complete && onLoad) image.addEventListener('load', onLoad, { once: true });
  return image;
}

/** Waits until the board's pictures can be drawn (for an export). */
export async function imagesReady(page: Page): Promise<void> {
  await Promise.all(
    page
      .toArray()
      .filter((i) => kindOf(i) === 'image')
      .map((i) =>
        imageOf(i)
          ?.decode()
          .catch(() => undefined),
      ),
  );
}

/** A note's text, in lines that fit its width (words longer than a line are cut). */
export function noteLines(text: string, measure: (t: string) => number): string[] {
  const width = NOTE_SIZE - 24;
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/)) {
      const next = line ? `${line} ${word}` : word;
      if (measure(next) <= width || !line) line = next;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  const max = Math.floor((NOTE_SIZE - 24) / (NOTE_TEXT_SIZE * 1.3));
  return lines.slice(0, max);
}

function arrowHead(x1: number, y1: number, x2: number, y2: number, width: number): [number, number][] {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  const length = 10 + width * 2;
  return [
    [x2 - length * Math.cos(angle - 0.45), y2 - length * Math.sin(angle - 0.45)],
    [x2, y2],
    [x2 - length * Math.cos(angle + 0.45), y2 - length * Math.sin(angle + 0.45)],
  ];
}

/** Paints every item (oldest first) on `ctx`, whose transform already maps board coordinates. */
export function paint(ctx: CanvasRenderingContext2D, page: Page, onImageLoad?: () => void): void {
  for (const item of page) {
    const kind = kindOf(item);
    const color = colorOf(item);
    const { dx, dy } = offsetOf(item);
    ctx.save();
    ctx.translate(dx, dy);
    ctx.fillStyle = color;
    ctx.strokeStyle = color;
    if (kind === 'text') {
      const size = sizeOf(item, TEXT_SIZE);
      ctx.font = TEXT_FONT(size);
      ctx.textBaseline = 'alphabetic';
      ctx.fillText(textOf(item), numberOf(item, 'x'), numberOf(item, 'y'));
    } else if (kind === 'stroke') {
      const shape = strokeShape(item);
      if (shape.path2d) ctx.fill(shape.path2d);
    } else if (kind === 'shape') {
      const { x1, y1, x2, y2 } = shapeEnds(item);
      const width = shapeWidth(item);
      ctx.lineWidth = width;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.beginPath();
      const shape = item.get('shape');
      if (shape === 'rect')
        ctx.rect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
      else if (shape === 'ellipse')
        ctx.ellipse(
          (x1 + x2) / 2,
          (y1 + y2) / 2,
          Math.abs(x2 - x1) / 2,
          Math.abs(y2 - y1) / 2,
          0,
          0,
          2 * Math.PI,
        );
      else {
        ctx.moveTo(x1, y1);
        ctx.lineTo(x2, y2);
        if (shape === 'arrow' && (x1 !== x2 || y1 !== y2)) {
          const [a, b, c] = arrowHead(x1, y1, x2, y2, width);
          ctx.moveTo(a![0], a![1]);
          ctx.lineTo(b![0], b![1]);
          ctx.lineTo(c![0], c![1]);
        }
      }
      ctx.stroke();
    } else if (kind === 'note') {
      const x = numberOf(item, 'x');
      const y = numberOf(item, 'y');
      ctx.shadowColor = 'rgb(0 0 0 / 0.18)';
      ctx.shadowBlur = 6;
      ctx.shadowOffsetY = 2;
      ctx.fillStyle = NOTE_PAPER;
      ctx.fillRect(x, y, NOTE_SIZE, NOTE_SIZE);
      ctx.shadowColor = 'transparent';
      ctx.fillStyle = color;
      ctx.font = TEXT_FONT(NOTE_TEXT_SIZE);
      ctx.textBaseline = 'alphabetic';
      const lines = noteLines(textOf(item), (t) => ctx.measureText(t).width);
      lines.forEach((line, i) => {
        ctx.fillText(line, x + 12, y + 12 + NOTE_TEXT_SIZE * (1 + i * 1.3));
      });
    } else if (kind === 'image') {
      const image = imageOf(item, onImageLoad);
      const b = baseBounds(item);
      if (image?.complete && image.naturalWidth > 0) ctx.drawImage(image, b.x, b.y, b.width, b.height);
      else {
        ctx.fillStyle = '#e4e6ea';
        ctx.fillRect(b.x, b.y, b.width, b.height);
      }
    }
    ctx.restore();
  }
}

/** A dashed frame around `rect` (the selected item). */
export function paintSelection(ctx: CanvasRenderingContext2D, rect: Rect, zoom: number): void {
  ctx.save();
  ctx.strokeStyle = '#1f6f6b';
  ctx.lineWidth = 1.5 / zoom;
  ctx.setLineDash([6 / zoom, 4 / zoom]);
  ctx.strokeRect(rect.x - 4 / zoom, rect.y - 4 / zoom, rect.width + 8 / zoom, rect.height + 8 / zoom);
  ctx.restore();
}

/** The topmost item under board point (x, y), within `slop` board units. */
export function itemAt(page: Page, x: number, y: number, slop: number): Item | undefined {
  const items = page.toArray();
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    const { dx, dy } = offsetOf(item);
    const kind = kindOf(item);
    if (kind !== 'stroke') {
      const b = boundsOf(item);
      if (x < b.x - slop || x > b.x + b.width + slop || y < b.y - slop || y > b.y + b.height + slop) continue;
      if (kind === 'shape' && (item.get('shape') === 'line' || item.get('shape') === 'arrow')) {
        const { x1, y1, x2, y2 } = shapeEnds(item);
        if (distanceToSegment(x - dx, y - dy, x1, y1, x2, y2) > shapeWidth(item) / 2 + slop) continue;
      }
      return item;
    }
    const px = x - dx;
    const py = y - dy;
    const shape = strokeShape(item);
    const b = shape.bounds;
    if (px < b.x - slop || px > b.x + b.width + slop || py < b.y - slop || py > b.y + b.height + slop)
      continue;
    const reach = sizeOf(item, SIZES[1]!.value) / 2 + slop;
    const pts = shape.points;
    for (let j = 0; j < pts.length; j++) {
      const a = pts[j]!;
      const c = pts[Math.min(j + 1, pts.length - 1)]!;
      if (distanceToSegment(px, py, a[0], a[1], c[0], c[1]) <= reach) return item;
    }
  }
  return undefined;
}

function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const length = dx * dx + dy * dy;
  const t = length === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** What an export covers: what is in view, and whatever lies beyond it, with a margin. */
export function exportArea(page: Page, visible: Rect): Rect {
  const content = contentBounds(page);
  if (!content) return roundRect(visible);
  const margin = 24;
  const padded = {
    x: content.x - margin,
    y: content.y - margin,
    width: content.width + 2 * margin,
    height: content.height + 2 * margin,
  };
  return roundRect(union(visible, padded));
}

function roundRect(r: Rect): Rect {
  const x = Math.floor(r.x);
  const y = Math.floor(r.y);
  return {
    x,
    y,
    width: Math.max(1, Math.ceil(r.x + r.width) - x),
    height: Math.max(1, Math.ceil(r.y + r.height) - y),
  };
}

/** The largest export, in pixels a side (a canvas this big is what every browser can make). */
const MAX_EXPORT_SIDE = 8192;

/** The board as a PNG: `area` (board units) at one pixel a unit, on the board's paper. */
export async function exportPng(page: Page, area: Rect): Promise<Blob> {
  const canvas = await pageCanvas(page, area);
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('the picture was not made'))),
      'image/png',
    ),
  );
}

/** `area` of a page drawn on a canvas of its own, at one pixel a unit (at most MAX_EXPORT_SIDE a side). */
export async function pageCanvas(page: Page, area: Rect): Promise<HTMLCanvasElement> {
  await imagesReady(page);
  const scale = Math.min(1, MAX_EXPORT_SIDE / Math.max(area.width, area.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(area.width * scale));
  canvas.height = Math.max(1, Math.round(area.height * scale));
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw the picture');
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(scale, 0, 0, scale, -area.x * scale, -area.y * scale);
  paint(ctx, page);
  return canvas;
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

/** The board as an SVG document: strokes as filled outlines, text as text, on the board's paper. */
export function exportSvg(page: Page, area: Rect): string {
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${area.width}" height="${area.height}" viewBox="${area.x} ${area.y} ${area.width} ${area.height}">`,
    `<rect x="${area.x}" y="${area.y}" width="${area.width}" height="${area.height}" fill="${BACKGROUND}"/>`,
  ];
  const font = 'font-weight="500" font-family="system-ui, sans-serif" xml:space="preserve"';
  for (const item of page) {
    const color = escapeXml(colorOf(item));
    const { dx, dy } = offsetOf(item);
    const open = dx || dy ? `<g transform="translate(${dx} ${dy})">` : '';
    if (open) parts.push(open);
    const kind = kindOf(item);
    if (kind === 'text') {
      const size = sizeOf(item, TEXT_SIZE);
      parts.push(
        `<text x="${numberOf(item, 'x')}" y="${numberOf(item, 'y')}" fill="${color}" font-size="${size}" ${font}>${escapeXml(textOf(item))}</text>`,
      );
    } else if (kind === 'stroke') {
      const path = strokeShape(item).path;
      if (path) parts.push(`<path d="${path}" fill="${color}"/>`);
    } else if (kind === 'shape') {
      const { x1, y1, x2, y2 } = shapeEnds(item);
      const width = shapeWidth(item);
      const stroke = `fill="none" stroke="${color}" stroke-width="${width}" stroke-linecap="round" stroke-linejoin="round"`;
      const shape = item.get('shape');
      if (shape === 'rect')
        parts.push(
          `<rect x="${Math.min(x1, x2)}" y="${Math.min(y1, y2)}" width="${Math.abs(x2 - x1)}" height="${Math.abs(y2 - y1)}" ${stroke}/>`,
        );
      else if (shape === 'ellipse')
        parts.push(
          `<ellipse cx="${(x1 + x2) / 2}" cy="${(y1 + y2) / 2}" rx="${Math.abs(x2 - x1) / 2}" ry="${Math.abs(y2 - y1) / 2}" ${stroke}/>`,
        );
      else {
        let d = `M${x1},${y1} L${x2},${y2}`;
        if (shape === 'arrow' && (x1 !== x2 || y1 !== y2)) {
          const [a, b, c] = arrowHead(x1, y1, x2, y2, width).map(
            ([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`,
          );
          d += ` M${a} L${b} L${c}`;
        }
        parts.push(`<path d="${d}" ${stroke}/>`);
      }
    } else if (kind === 'note') {
      const x = numberOf(item, 'x');
      const y = numberOf(item, 'y');
      parts.push(`<rect x="${x}" y="${y}" width="${NOTE_SIZE}" height="${NOTE_SIZE}" fill="${NOTE_PAPER}"/>`);
      const lines = noteLines(textOf(item), (t) => textWidth(t, NOTE_TEXT_SIZE));
      lines.forEach((line, i) => {
        parts.push(
          `<text x="${x + 12}" y="${y + 12 + NOTE_TEXT_SIZE * (1 + i * 1.3)}" fill="${color}" font-size="${NOTE_TEXT_SIZE}" ${font}>${escapeXml(line)}</text>`,
        );
      });
    } else if (kind === 'image') {
      const src = item.get('src');
      const b = baseBounds(item);
      if (typeof src === 'string' && /^data:image\/(webp|jpeg|png|gif);base64,[A-Za-z0-9+/=]+$/.test(src))
        parts.push(`<image x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" href="${src}"/>`);
    }
    if (open) parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n');
}
