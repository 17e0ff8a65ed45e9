/**
 * One room's audience on every core: a server with two room workers, one room on one of them, and its
 * viewers' media spread over both. The publisher's packets are decrypted once on the room's worker and
 * cross to the other worker once each (not once per viewer there), where they are encrypted and sent
 * to that worker's share of the viewers. Counted with the server's own metrics; what the viewers get is
 * counted by the viewers (bots that reassemble frames).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { eventually, LOOPBACK, startClusterTestServer, type TestServer } from './helpers/server.js';

const API_KEY = 'spread-test-api-key-0123456789';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const VIEWERS = 12;
/**
 * Of 12 viewers, the other worker runs 7: a viewer on the room's own worker counts 1.5 when they are
 * shared out (that worker also receives, decrypts and relays), so the order is other, own, other, own,
 * other, other, own, …
 */
const ELSEWHERE = 7;
const AT_HOME = VIEWERS - ELSEWHERE;

/** One scrape of /metrics: `get(name, where)` is each sample's value by thread. */
async function scrape(url: string) {
  const text = await fetch(`${url}/metrics`, { headers: AUTH }).then((r) => r.text());
  return (name: string, where: Record<string, string> = {}): Map<string, number> => {
    const byThread = new Map<string, number>();
    for (const line of text.split('\n')) {
      const match = /^([a-z_0-9]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const labels = Object.fromEntries(
        [...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const),
      );
      if (!Object.entries(where).every(([k, v]) => labels[k] === v)) continue;
      const thread = labels.thread ?? '';
      byThread.set(thread, (byThread.get(thread) ?? 0) + Number(match[3]));
    }
    return byThread;
  };
}

const framesFrom = (viewer: Bot, from: Bot) =>
  viewer
    .receivedFrom(from.room.participantId)
    .filter((r) => r.kind === 'video')
    .reduce((n, r) => n + r.frames, 0);

describe("a room's viewers spread over the worker threads", () => {
  let t: TestServer;
  let speaker: Bot;
  const viewers: Bot[] = [];

  before(async () => {
    t = await startClusterTestServer(2, {
      limits: { connectionsPerIp: 1000, wsConnectsPerMinute: 1000 },
      auth: { apiKey: API_KEY, apiSecret: 'spread-test-api-secret-0123456789abcdef' },
    });
    speaker = await Bot.start({ url: t.url, room: 'hall', name: 'speaker', hostAddresses: LOOPBACK });
  });
  after(async () => {
    await Promise.allSettled(viewers.map((v) => v.stop()));
    await speaker?.stop();
    await t?.close();
  });

  it('sends every viewer the video, each packet crossing to the other worker once', async () => {
    for (let i = 0; i < VIEWERS; i++)
      viewers.push(
        await Bot.start({
          url: t.url,
          room: 'hall',
          name: `viewer-${i}`,
          hostAddresses: LOOPBACK,
          viewer: true,
          video: false,
          audio: false,
        }),
      );
    const owner = `worker-${t.server.workers.ownerOf('hall')!.index}`;
    const other = owner === 'worker-0' ? 'worker-1' : 'worker-0';

    // Half of the audience has its media on the other worker.
    const first = await scrape(t.url);
    const spread = first('port545_worker_spread_viewers', { side: 'remote' });
    const hosted = first('port545_worker_spread_viewers', { side: 'hosted' });
    assert.equal(spread.get(owner), ELSEWHERE, "most of the room's viewers have their media elsewhere");
    assert.equal(hosted.get(other), ELSEWHERE, 'the other worker runs them');

    // Every viewer, on either worker, gets moving pictures.
    const moving = async () => {
      const before = viewers.map((v) => framesFrom(v, speaker));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return viewers.filter((v, i) => framesFrom(v, speaker) > before[i]!).length;
    };
    await eventually(
      `all ${VIEWERS} viewers receive frames`,
      () => viewers.every((v) => framesFrom(v, speaker) > 20),
      60_000,
    );
    await eventually(
      'every viewer’s video keeps advancing',
      async () => (await moving()) === VIEWERS,
      30_000,
    );
    for (const v of viewers)
      assert.ok(
        v.receivedFrom(speaker.room.participantId).some((r) => r.kind === 'audio' && r.packets > 20),
        `${v.room.name} hears the speaker`,
      );

    // Once per packet to the other worker; there, once per viewer.
    const metrics = await scrape(t.url);
    const received = metrics('port545_packets_received_total').get(owner) ?? 0;
    const relayedOut = metrics('port545_worker_relay_packets_total', { direction: 'out' }).get(owner) ?? 0;
    const relayedIn = metrics('port545_worker_relay_packets_total', { direction: 'in' }).get(other) ?? 0;
    const sentThere = metrics('port545_packets_sent_total').get(other) ?? 0;
    const sentHere = metrics('port545_packets_sent_total').get(owner) ?? 0;
    console.log(
      `# received ${received} on the room's worker; relayed ${relayedOut} (in ${relayedIn}); sent ${sentHere} there, ${sentThere} on the other worker`,
    );
    assert.ok(relayedOut > 100, 'packets crossed to the other worker');
    // (The media counters are read at most every 100 ms: a few packets of slack.)
    assert.ok(
      relayedOut <= received + 50,
      `each packet crosses once, not once per viewer (${relayedOut} relayed of ${received} received)`,
    );
    assert.ok(
      // (Viewers who joined later missed the first packets: half of them is a safe floor.)
      sentThere > relayedIn * (ELSEWHERE / 2),
      `the other worker sends each packet to its ${ELSEWHERE} viewers (${sentThere} sent of ${relayedIn} relayed)`,
    );
    assert.ok(sentHere > 0 && sentThere > 0, 'both workers send media');
  });

  it('ends the viewers of a worker that dies; the room and the others go on', async () => {
    const owner = t.server.workers.ownerOf('hall')!;
    const other = t.server.workers.all.find((w) => w !== owner)!;
    const viewerCount = async () => {
      const room = await fetch(`${t.url}/api/v1/rooms/hall`, { headers: AUTH }).then((r) => r.json());
      return room.viewers as number;
    };
    assert.equal(await viewerCount(), VIEWERS);
    await other.worker.terminate();
    await eventually(
      'the room keeps the viewers whose media was on its own worker',
      async () => (await viewerCount()) === AT_HOME,
    );
    // Those are still watching.
    const before = viewers.map((v) => framesFrom(v, speaker));
    await eventually(
      'the viewers on the room’s worker keep receiving',
      () => viewers.filter((v, i) => framesFrom(v, speaker) > before[i]! + 10).length >= AT_HOME,
      30_000,
    );
    // A new worker took the other's place; the next viewer's media goes to it, and it sees the speaker.
    const replacement = t.server.workers.all[other.index]!;
    await replacement.ready;
    const late = await Bot.start({
      url: t.url,
      room: 'hall',
      name: 'late',
      hostAddresses: LOOPBACK,
      viewer: true,
      video: false,
      audio: false,
    });
    viewers.push(late);
    const hosted = (await scrape(t.url))('port545_worker_spread_viewers', { side: 'hosted' });
    assert.equal(hosted.get(`worker-${other.index}`), 1, 'the new worker runs the late viewer’s media');
    await eventually('the late viewer receives frames', () => framesFrom(late, speaker) > 20, 30_000);
  });

  it('leaves nothing behind on either worker once the viewers have gone', async () => {
    await Promise.allSettled(viewers.splice(0).map((v) => v.stop()));
    const spread = async () => {
      const metrics = await scrape(t.url);
      const count = (side: string) =>
        [...metrics('port545_worker_spread_viewers', { side }).values()].reduce((a, b) => a + b, 0);
      const relayed = [...metrics('port545_worker_relay_packets_total', { direction: 'out' }).values()];
      return {
        remote: count('remote'),
        hosted: count('hosted'),
        relayed: relayed.reduce((a, b) => a + b, 0),
      };
    };
    await eventually('no viewer’s media runs on another worker', async () => {
      const now = await spread();
      return now.remote === 0 && now.hosted === 0;
    });
    // Nobody on the other worker needs the speaker's tracks any more: nothing crosses.
    const before = (await spread()).relayed;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal((await spread()).relayed, before, 'no packet crosses to a worker without viewers');
    const room = await fetch(`${t.url}/api/v1/rooms/hall`, { headers: AUTH }).then((r) => r.json());
    assert.equal(room.viewers, 0);
    assert.equal(room.participants.length, 1, 'the speaker is still there');
  });
});
