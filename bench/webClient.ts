/**
 * `npm run bench:web`: what the web client costs a person. Prints a table and writes JSON to
 * bench/results/web-client-<time>.json.
 *
 *   - bundle: the built web client's size, raw and gzip (what a first visit downloads);
 *   - join to first frame: from the click on "Join now" (pre-join screen, devices already open) to the
 *     first remote camera frame presented on the page (requestVideoFrameCallback), in Debian's Chromium
 *     with a fake camera, against two people already in the room. Five runs, median reported.
 *   - camera to the server: a page publishes its camera with WHIP (camera already allowed); from the
 *     POST of its offer to the first RTP packet of it the server receives, and from the answer to it
 *     (ICE and the DTLS handshake). Same runs, median reported.
 *   - in a call of three: remote frame rate, and how soon the others see a mute, a chat message, a
 *     screen share start and stop, a Leave and a closed tab (`lib/callTimings.ts`), median and spread;
 *   - a WHEP player of the room switching to whoever talks (`lib/speakerSwitch.ts`).
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
import { startInThreadServer } from '../test/helpers/server.js';
import { type CallTimings, measureCallTimings, type Spread } from './lib/callTimings.js';
import { measureSpeakerSwitch } from './lib/speakerSwitch.js';

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

const server = await startInThreadServer();
// Chromium's own fake camera at the size the page asks for, closer to a real camera than the tests' one.
const browser = await launchChromium({ camera: 'chromium' });
const chromium = browser.version();
const present: Person[] = [];
const joins: number[] = [];
const publishes: { fromPost: number; fromAnswer: number }[] = [];
let call: CallTimings | undefined;
let speakerSwitchMs: Spread | undefined;
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
  console.log(`\nCamera to the server over WHIP (${runs} runs)`);
  for (let i = 1; i <= runs; i++) {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      await p.goto(`${server.url}/healthz`);
      // The camera allowed and opened once before, as for someone who has been in a call.
      await p.evaluate(async () => {
        for (const t of (await navigator.mediaDevices.getUserMedia({ video: true })).getTracks()) t.stop();
      });
      const room = `bench-whip-${i}`;
      const stream = await p.evaluateHandle(() =>
        navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } }),
      );
      const postAt = Date.now();
      const answeredAt = await p.evaluate(
        async ({ url, stream }) => {
          const pc = new RTCPeerConnection();
          for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise<void>((resolve) => {
            if (pc.iceGatheringState === 'complete') return resolve();
            pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
          });
          const r = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/sdp' },
            body: pc.localDescription!.sdp,
          });
          await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
          (window as unknown as { pc: RTCPeerConnection }).pc = pc;
          return Date.now();
        },
        { url: `${server.url}/whip/${room}?name=Camera`, stream },
      );
      let firstAt = 0;
      while (!firstAt && Date.now() - postAt < 10_000) {
        const people = server.rooms.host.registry.rooms.get(room)?.participants.values() ?? [];
        if ([...people].some((q) => q.session.publishedTracks.some((t) => t.packetsReceived > 0)))
          firstAt = Date.now();
        else await new Promise((r) => setTimeout(r, 2));
      }
      if (!firstAt) throw new Error(`run ${i}: no packet of the camera reached the server in 10 s`);
      publishes.push({ fromPost: firstAt - postAt, fromAnswer: firstAt - answeredAt });
      console.log(
        `run ${i}: ${firstAt - postAt} ms from the POST, ${firstAt - answeredAt} ms from the answer`,
      );
    } finally {
      await context.close();
    }
  }
  await closeAll(present);
  console.log(`\nIn a call of three (${runs} rounds)`);
  call = await measureCallTimings(browser, server.url, 'bench-call', runs, (line) => console.log(line));
  console.log(`\nA WHEP player of the room follows the active speaker (${runs * 2} switches)`);
  speakerSwitchMs = await measureSpeakerSwitch(browser, server.url, 'bench-speaker', runs, (line) =>
    console.log(line),
  );
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
  cameraToServerMs: {
    runs: publishes,
    medianFromPost: median(publishes.map((p) => p.fromPost)),
    medianFromAnswer: median(publishes.map((p) => p.fromAnswer)),
  },
  call,
  speakerSwitchMs,
  joinToFirstFrameMs: {
    runs: joins,
    median: median(joins),
    min: Math.min(...joins),
    max: Math.max(...joins),
  },
};
console.log(
  `\ncamera to the server: median ${result.cameraToServerMs.medianFromPost} ms from the POST, ${result.cameraToServerMs.medianFromAnswer} ms from the answer`,
);
console.log(
  `median ${result.joinToFirstFrameMs.median} ms (min ${result.joinToFirstFrameMs.min}, max ${result.joinToFirstFrameMs.max}); bundle ${kB(total.gzip)} gzip`,
);
if (call && speakerSwitchMs) {
  console.log(
    `\n${'in a call of three'.padEnd(44)}${'median'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}`,
  );
  for (const [what, s] of Object.entries({ ...call, whepSpeakerSwitchMs: speakerSwitchMs }))
    console.log(
      `${what.padEnd(44)}${String(s.median).padStart(8)}${String(s.min).padStart(8)}${String(s.max).padStart(8)}`,
    );
}
mkdirSync(RESULTS, { recursive: true });
const file = join(RESULTS, `web-client-${result.startedAt.replace(/:/g, '-').replace(/\..*$/, '')}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${file}`);
