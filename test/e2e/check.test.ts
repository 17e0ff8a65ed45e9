/**
 * The connection check page, /check, in Chromium: every check passes on a test server (with the fake
 * camera and microphone), showing the candidate pair, the round trip and the loss; a denied camera and
 * microphone show the failure and how to allow them; with a TURN server (Debian's coturn), the call that
 * may use nothing but the relay goes through it.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { axeProblems, browserSuite } from '../helpers/browser.js';
import { startCoturn } from '../helpers/coturn.js';
import { freePort, startTestServer } from '../helpers/server.js';

/** The whole check (a WebSocket, the devices, a test call with a 3 s measurement) on a busy machine. */
const CHECK_DEADLINE_MS = 90_000;

async function openCheck(
  suite: ReturnType<typeof browserSuite>,
  options: { initScript?: string; viaHome?: boolean } = {},
): Promise<Page> {
  const context = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  suite.people.push({ name: 'check', context, page, errors: [] });
  if (options.viaHome) {
    // The home page links to the check, and the server serves it at /check.
    await page.goto(`${suite.server.url}/`);
    await page.getByRole('link', { name: 'Check your connection' }).click();
    await page.waitForURL(/\/check$/);
  } else await page.goto(`${suite.server.url}/check`);
  await page.locator('.check-summary[data-done="true"]').waitFor({ timeout: CHECK_DEADLINE_MS });
  return page;
}

const status = (page: Page, id: string) =>
  page.locator(`.check-item[data-check="${id}"]`).getAttribute('data-status');

describe('the connection check page', () => {
  const suite = browserSuite();

  it('passes every check and shows the candidate pair, the round trip and the loss', async () => {
    const page = await openCheck(suite, { viaHome: true });
    const text = await page.locator('main').innerText();
    console.log(text);
    for (const id of ['secure', 'websocket', 'camera', 'microphone', 'udp', 'tcp', 'turn', 'call'])
      assert.equal(await status(page, id), 'pass', `${id}:\n${text}`);
    // Each path on its own: UDP and ICE over TCP to the server's media port.
    assert.match(
      await page.locator('.check-item[data-check="udp"]').innerText(),
      /over UDP and came back \(\S+ udp /,
    );
    assert.match(
      await page.locator('.check-item[data-check="tcp"]').innerText(),
      /over TCP and came back \(\S+ tcp /,
    );
    // This server hands out no TURN relay: the page says what that means.
    assert.match(text, /This server has no TURN relay/);
    // The result is in words, not colour alone.
    assert.match(text, /Passed: Test call through the server/);
    assert.match(text, /Every check passed/);
    const call = await page.locator('.check-item[data-check="call"]').innerText();
    // Chromium may pair its loopback or its LAN address (the server's answers then come from that
    // address too, a peer-reflexive candidate whose address Chromium hides): the types and ports show.
    assert.match(call, /This browser\s+(host|srflx|prflx) udp .+:\d+/);
    assert.match(call, /Server\s+(host|prflx) udp .+:\d+/);
    assert.match(call, /Round trip\s+[\d.]+ ms/);
    assert.match(call, /Packet loss\s+[\d.]+% \(\d+ of \d+ packets in 3 s\)/);
    assert.deepEqual(await axeProblems(page), []);
  });

  it('says how to allow the camera and microphone when the browser denies them', async () => {
    const page = await openCheck(suite, {
      initScript: `navigator.mediaDevices.getUserMedia = () =>
         Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`,
    });
    const text = await page.locator('main').innerText();
    console.log(text);
    for (const kind of ['camera', 'microphone']) {
      assert.equal(await status(page, kind), 'fail', text);
      const item = await page.locator(`.check-item[data-check="${kind}"]`).innerText();
      assert.match(item, /^Failed: /);
      assert.match(item, new RegExp(`Access to the ${kind} was denied`));
      assert.match(item, /What to do: .*site settings.*"Allow"/);
    }
    // The test call does not need the camera: it still passes.
    assert.equal(await status(page, 'call'), 'pass', text);
    assert.match(text, /2 checks failed/);
    assert.deepEqual(await axeProblems(page), []);
  });
});

describe('the connection check page with a TURN relay', () => {
  const secret = randomBytes(24).toString('base64url');
  let dir: string;
  let coturn: ChildProcess | undefined;
  let turnPort: number;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'port545-check-turn-'));
    turnPort = await freePort();
    coturn = await startCoturn(dir, turnPort, secret);
  });
  const suite = browserSuite();
  after(async () => {
    coturn?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('carries the relay-only test call through the TURN server', async () => {
    // The suite's server, restarted with the TURN server's URL and secret.
    await suite.server.close();
    suite.server = await startTestServer({
      dataDir: suite.dataDir,
      turn: { urls: [`turn:127.0.0.1:${turnPort}?transport=udp`], secret },
    });
    const page = await openCheck(suite);
    const text = await page.locator('main').innerText();
    console.log(text);
    // The server hands out TURN over UDP only: one row for it, which passes through the relay.
    assert.equal(await page.locator('.check-item[data-check="turn"]').count(), 0, text);
    assert.equal(await page.locator('.check-item[data-check="turn-tls"]').count(), 0, text);
    assert.equal(await status(page, 'turn-udp'), 'pass', text);
    const turn = await page.locator('.check-item[data-check="turn-udp"]').innerText();
    assert.match(turn, /over the TURN relay over UDP and came back \(relay udp /, turn);
    assert.match(text, /Every check passed/);
  });
});
