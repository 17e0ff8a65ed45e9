/**
 * `npm run bench:web`: what the web client costs a person. Prints a table and writes JSON to
 * bench/results/web-client-<time>.json.
 *
 *   - bundle: the built web client's size, raw and gzip (what a first visit downloads);
 *   - join to first frame: from the click on "Join now" (pre-join screen, devices already open) to the
 *     first remote camera frame presented on the page (requestVideoFrameCallback), in Debian's Chromium
 *     with a fake camera, against two people already in the room. Five runs, median reported.
 *
 *   npm run bench:web                  5 runs
 *   npm run bench:web -- --runs 9
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  closeAll,
  ensureWebBuild,
  firstRemoteFrameAt,
  launchChromium,
  openRoom,
  type Person,
} from '../test/helpers/browser.js';
import { startTestServer } from '../test/helpers/server.js';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'web', 'dist');
const RESULTS = join(ROOT, 'bench', 'results');

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Number(args.runs));

interface FileSize {
  file: string;
  bytes: number;
  gzip: number;
}

function bundleSizes(): FileSize[] {
  const files = ['index.html', ...readdirSync(join(DIST, 'assets')).map((f) => `assets/${f}`)];
  return files
    .filter((f) => /\.(html|js|css)$/.test(f))
    .map((file) => {
      const content = readFileSync(join(DIST, file));
      return { file, bytes: content.length, gzip: gzipSync(content, { level: 9 }).length };
    });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;

ensureWebBuild();
const sizes = bundleSizes();
const total = sizes.reduce((a, s) => ({ bytes: a.bytes + s.bytes, gzip: a.gzip + s.gzip }), {
  bytes: 0,
  gzip: 0,
});
console.log('\nWeb client bundle');
console.log('file'.padEnd(36), 'raw'.padStart(10), 'gzip'.padStart(10));
for (const s of sizes) console.log(s.file.padEnd(36), kB(s.bytes).padStart(10), kB(s.gzip).padStart(10));
console.log('total'.padEnd(36), kB(total.bytes).padStart(10), kB(total.gzip).padStart(10));

const server = await startTestServer();
const browser = await launchChromium();
const chromium = browser.version();
const present: Person[] = [];
const joins: number[] = [];
try {
  for (const name of ['Ann', 'Bob']) present.push(await openRoom(browser, server.url, 'bench-web', name));
  console.log(`\nJoin to first remote frame (${runs} runs, 2 people already in the room)`);
  for (let i = 1; i <= runs; i++) {
    const p = await openRoom(browser, server.url, 'bench-web', `Run ${i}`, { join: false });
    try {
      await p.page.locator('.preview video.ready').waitFor({ timeout: 15_000 });
      await p.page.evaluate(() => {
        const w = window as unknown as { __clickAt?: number };
        const record = () => {
          w.__clickAt ??= Date.now();
        };
        document.addEventListener('click', record, { capture: true, once: true });
      });
      const frame = firstRemoteFrameAt(p.page);
      await p.page.getByRole('button', { name: 'Join now' }).click();
      const frameAt = await frame;
      const clickAt = await p.page.evaluate(() => (window as unknown as { __clickAt: number }).__clickAt);
      joins.push(frameAt - clickAt);
      console.log(`run ${i}: ${frameAt - clickAt} ms`);
      await p.page.getByRole('button', { name: 'Leave call' }).click();
    } finally {
      await p.context.close();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
} finally {
  await closeAll(present);
  await browser.close();
  await server.close();
}

const result = {
  startedAt: new Date().toISOString(),
  machine: {
    cpus: availableParallelism(),
    model: cpus()[0]?.model ?? 'unknown',
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    chromium,
    node: process.version,
  },
  bundle: { files: sizes, total },
  joinToFirstFrameMs: {
    runs: joins,
    median: median(joins),
    min: Math.min(...joins),
    max: Math.max(...joins),
  },
};
console.log(
  `\nmedian ${result.joinToFirstFrameMs.median} ms (min ${result.joinToFirstFrameMs.min}, max ${result.joinToFirstFrameMs.max}); bundle ${kB(total.gzip)} gzip`,
);
mkdirSync(RESULTS, { recursive: true });
const file = join(RESULTS, `web-client-${result.startedAt.replace(/:/g, '-').replace(/\..*$/, '')}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${file}`);
