import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { type BotProcess, type BotReport, receivedByName, spawnBots } from './helpers/botProcess.js';
import { createNetnsLink, type NetnsLink, netnsUnavailable } from './helpers/netns.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue #26: a link capped hard enough that the ICE consent checks (RFC 7675) fail for 30 s left the
 * far side's media dead for good once the cap was lifted. Server and two publishing bots here; a
 * publishing bot and a receive-only bot in a network namespace behind a veth pair, capped with tc tbf
 * (300 kbit/s towards it, 100 kbit/s back) and lifted again. Every subscriber must see every publisher's
 * frames advance again.
 */
const reason = await netnsUnavailable();

describe('a link capped for a while and lifted', { skip: reason }, () => {
  let link: NetnsLink;
  let t: TestServer;
  const local: Bot[] = [];
  let far: BotProcess;
  const names = new Map<string, string>();
  const publishers = ['near-1', 'near-2', 'far-pub'];
  const subscribers = ['near-1', 'near-2', 'far-pub', 'far-recv'];

  /** Video frames each subscriber has had from each publisher, by "subscriber<-publisher". */
  function frames(): Map<string, number> {
    const report: BotReport = { ...(far.latest ?? {}) };
    for (const bot of local) report[bot.room.displayName] = receivedByName(bot, names);
    const out = new Map<string, number>();
    for (const s of subscribers)
      for (const p of publishers) if (s !== p) out.set(`${s}<-${p}`, report[s]?.[p]?.frames ?? 0);
    return out;
  }

  /** Pairs whose frames did not grow by `min` since `since`. */
  function stalled(since: Map<string, number>, min: number): string[] {
    const now = frames();
    return [...now].filter(([k, n]) => n - (since.get(k) ?? 0) < min).map(([k, n]) => `${k} (${n})`);
  }

  async function everyoneFlowing(
    since: Map<string, number>,
    what: string,
    timeoutMs: number,
  ): Promise<number> {
    const start = Date.now();
    await eventually(
      `${what}: ${stalled(since, 10).join(', ')}`,
      () => stalled(since, 10).length === 0,
      timeoutMs,
      250,
    );
    const took = Date.now() - start;
    // And keeps flowing, not a queue draining once.
    const mark = frames();
    await sleep(5000);
    assert.deepEqual(stalled(mark, 5), [], `${what}: frames keep advancing`);
    return took;
  }

  async function cutAndLift(seconds: number) {
    await everyoneFlowing(new Map(), 'before the cap', 90_000);
    await link.cap(300, 100);
    await sleep(seconds * 1000);
    await link.lift();
    const lifted = frames();
    return await everyoneFlowing(lifted, `${seconds} s after lifting the cap`, 90_000);
  }

  before(async () => {
    link = await createNetnsLink();
    t = await startTestServer({
      host: link.hostIp,
      rtc: { hostAddresses: [...LOOPBACK, link.hostIp] },
      rooms: { emptyTimeoutMs: 500 },
      // The test is about media over a congested link: plain signaling (--tls off), as behind a proxy,
      // keeps the bots' set-up as it was; HTTPS to other machines is test/httpsDefault.test.ts's.
      tls: { selfSigned: false },
    });
    const url = `http://${link.hostIp}:${t.port}`;
    for (const name of ['near-1', 'near-2'])
      local.push(await Bot.start({ url, room: 'cut', name, hostAddresses: LOOPBACK }));
    far = spawnBots((c, a) => link.spawn(c, a), url, 'cut', link.nsIp, [
      { name: 'far-pub', publish: true },
      { name: 'far-recv', publish: false },
    ]);
  });

  after(async () => {
    await link?.lift();
    // Bots and server first: closing the link removes the address their connections use.
    for (const bot of local) await bot.stop();
    await t?.close();
    await link?.close();
  });

  it('comes back after a 40 s cap', async (ctx) => {
    ctx.diagnostic(
      `every subscriber had 10 new frames from every publisher ${await cutAndLift(40)} ms after the lift`,
    );
    assert.equal(far.exited, false, far.stderr);
  });

  // npm test keeps to ten minutes; the soak (npm run soak) cuts for 90 s and 5 minutes every time.
  const long = process.env.PORT545_LONG_TESTS
    ? false
    : 'the 90 s cap runs in npm run soak, or here with PORT545_LONG_TESTS=1';
  it('comes back after a 90 s cap', { skip: long }, async (ctx) => {
    ctx.diagnostic(
      `every subscriber had 10 new frames from every publisher ${await cutAndLift(90)} ms after the lift`,
    );
    assert.equal(far.exited, false, far.stderr);
  });
});
