/**
 * `GET /metrics`: the Prometheus text of every thread (main and each room worker), read as a Prometheus
 * server would with a parser we did not write; its counters move as bots join, publish and leave.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bot } from '../src/bot/Bot.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'metrics-test-api-key-0123456789';
const API_SECRET = 'metrics-test-api-secret-0123456789abcdef';
/** Scrapes at most once a second while waiting: the metrics count against the admin API's request limit. */
const SCRAPE_PACE = [30_000, 1000] as const;

interface Family {
  name: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number | string }[];
}

/** Prometheus's own Python client's text-format parser (python3-prometheus-client), as a scraper reads. */
function parseExposition(text: string): Family[] {
  const run = spawnSync(
    '/usr/bin/python3',
    [fileURLToPath(new URL('./helpers/promparse.py', import.meta.url))],
    {
      input: text,
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, `the exposition parses: ${run.stderr}`);
  return JSON.parse(run.stdout) as Family[];
}

/** One scrape, parsed: the sum of a sample's values over threads, with labels matching `where`. */
class Scrape {
  readonly families: Family[];
  constructor(readonly text: string) {
    this.families = parseExposition(text);
  }
  has(sample: string, where: Record<string, string> = {}): boolean {
    return this.families.some((f) =>
      f.samples.some((s) => s.name === sample && Object.entries(where).every(([k, v]) => s.labels[k] === v)),
    );
  }
  sum(sample: string, where: Record<string, string> = {}): number {
    return this.families
      .flatMap((f) => f.samples)
      .filter((s) => s.name === sample && Object.entries(where).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + Number(s.value), 0);
  }
}

describe('metrics for Prometheus', () => {
  let t: TestServer;
  const bots: Bot[] = [];

  before(async () => {
    t = await startTestServer({ auth: { apiKey: API_KEY, apiSecret: API_SECRET } });
  });
  after(async () => {
    for (const b of bots) await b.stop();
    await t.close();
  });

  async function scrape(): Promise<Scrape> {
    const response = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(response.status, 200, await response.clone().text());
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return new Scrape(await response.text());
  }

  it('needs the API key, and says so', async () => {
    const none = await fetch(`${t.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'API_KEY_REQUIRED');
    const wrong = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer not-the-key' } });
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'API_KEY_INVALID');
  });

  it('counts rooms, people, tracks and packets as bots join, publish and leave; names nobody', async () => {
    const empty = await scrape();
    const threads = new Set(empty.families.flatMap((f) => f.samples.map((m) => m.labels.thread)));
    assert.ok(threads.has('main'), 'the main thread reports');
    assert.ok(
      t.server.workers.all.every((w) => threads.has(`worker-${w.index}`)),
      `every room worker reports (threads: ${[...threads].join(', ')})`,
    );
    assert.equal(empty.sum('port545_rooms'), 0);

    for (const name of ['Ada', 'Grace'])
      bots.push(await Bot.start({ url: t.url, room: 'metered', name, hostAddresses: LOOPBACK }));
    let first: Scrape | undefined;
    await eventually(
      'two people each publish audio and video, and receive each other',
      async () => {
        first = await scrape();
        return (
          first.sum('port545_rooms') === 1 &&
          first.sum('port545_participants') === 2 &&
          first.sum('port545_tracks_published', { kind: 'video' }) === 2 &&
          first.sum('port545_tracks_published', { kind: 'audio' }) === 2 &&
          first.sum('port545_tracks_subscribed', { kind: 'video' }) === 2 &&
          first.sum('port545_packets_sent_total', { kind: 'video' }) > 0 &&
          // Each bot's first peer connection came up, and the time it took was observed.
          first.sum('port545_media_up_seconds_count', { kind: 'browser' }) === 2
        );
      },
      ...SCRAPE_PACE,
    );
    assert.equal(first!.sum('port545_websocket_connections'), 2);
    for (const sample of ['port545_process_cpu_seconds_total', 'port545_event_loop_delay_seconds'])
      assert.ok(first!.has(sample), `the metrics have ${sample}`);
    for (const secret of ['metered', 'Ada', 'Grace', ...bots.map((b) => b.room.participantId)])
      assert.ok(!first!.text.includes(secret), `the metrics do not name ${secret}`);

    let second: Scrape | undefined;
    await eventually(
      'the packet and byte counters move while media flows',
      async () => {
        second = await scrape();
        // The subscribers' receiver reports give round-trip times and loss.
        if (!second.has('port545_subscriber_rtt_seconds') || !second.has('port545_subscriber_fraction_lost'))
          return false;
        // The server's receivers measure the publishers' jitter; fan-outs are timed, one packet in 32.
        if (!second.has('port545_publisher_jitter_seconds', { kind: 'audio' })) return false;
        if (!second.has('port545_publisher_jitter_seconds', { kind: 'video' })) return false;
        if (!(second.sum('port545_forwarding_seconds_count') > 0)) return false;
        return ['packets_received', 'bytes_received', 'packets_sent', 'bytes_sent'].every(
          (what) =>
            second!.sum(`port545_${what}_total`, { kind: 'video' }) >
              first!.sum(`port545_${what}_total`, { kind: 'video' }) &&
            second!.sum(`port545_${what}_total`, { kind: 'audio' }) >
              first!.sum(`port545_${what}_total`, { kind: 'audio' }),
        );
      },
      ...SCRAPE_PACE,
    );

    // Every metric the Grafana dashboard in docs/ plots is one the server serves.
    const dashboard = readFileSync(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8');
    const plotted = new Set(dashboard.match(/port545_[a-z0-9_]+/g));
    assert.ok(plotted.size > 10, 'the dashboard plots the metrics');
    for (const sample of plotted) assert.ok(second!.has(sample), `the dashboard's ${sample} is served`);

    for (const b of bots.splice(0)) await b.stop();
    let gone: Scrape | undefined;
    await eventually(
      'everyone has left and the room has closed',
      async () => {
        gone = await scrape();
        return gone.sum('port545_participants') === 0 && gone.sum('port545_rooms') === 0;
      },
      ...SCRAPE_PACE,
    );
    assert.equal(gone!.sum('port545_tracks_published'), 0);
    assert.equal(gone!.sum('port545_tracks_subscribed'), 0);
    for (const what of ['packets_received', 'packets_sent', 'bytes_received', 'bytes_sent'])
      assert.ok(
        gone!.sum(`port545_${what}_total`) >= second!.sum(`port545_${what}_total`),
        `${what} kept what the closed tracks counted`,
      );
  });
});
