/**
 * The web client in Debian's Chromium, the way people use it: fake camera and microphone, real WebRTC to
 * the SFU over loopback. Each assertion is something a person in the call would notice.
 * Screenshots of the call view go to test-results/web-client/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createAccessToken } from '../../src/auth/accessToken.js';
import {
  audioEnergyDuring,
  closeAll,
  countFrames,
  ensureWebBuild,
  launchChromium,
  openRoom,
  type Person,
  tileOf,
} from '../helpers/browser.js';
import { type ClusterTestServer, startClusterTestServer, startTestServer } from '../helpers/server.js';

const SHOTS = 'test-results/web-client';
const ROOM = 'e2e-call';
/** Audio energy (sum of squared samples × seconds) a beeping fake microphone surely exceeds in 1.5 s. */
const SOUND = 0.01;
/** What counts as silence over 1.5 s: a muted microphone sends only zeros. */
const SILENCE = 0.0005;

/**
 * Arms a watch in the page for `selector` to match (or, with `gone`, to stop matching), optionally an
 * element whose text is exactly `text`. Returns a function that resolves with the page's wall-clock time
 * (the same clock as Date.now() here) when it happened.
 */
async function watchFor(
  page: Page,
  selector: string,
  options: { text?: string; gone?: boolean; timeoutMs?: number } = {},
): Promise<() => Promise<number>> {
  const key = `w${Math.random().toString(36).slice(2)}`;
  await page.evaluate(
    ({ key, selector, text, gone, timeoutMs }) => {
      const store = window as unknown as Record<string, Promise<number>>;
      store[key] = new Promise<number>((resolve, reject) => {
        const matches = () =>
          [...document.querySelectorAll(selector)].some((e) => text === undefined || e.textContent === text);
        const check = () => {
          if (matches() === !gone) {
            observer.disconnect();
            clearTimeout(timer);
            resolve(Date.now());
          }
        };
        const observer = new MutationObserver(check);
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${gone ? 'no ' : ''}${selector}`));
        }, timeoutMs);
        observer.observe(document.body, {
          subtree: true,
          childList: true,
          attributes: true,
          characterData: true,
        });
        check();
      });
    },
    {
      key,
      selector,
      text: options.text,
      gone: options.gone ?? false,
      timeoutMs: options.timeoutMs ?? 10_000,
    },
  );
  return () => page.evaluate((key) => (window as unknown as Record<string, Promise<number>>)[key]!, key);
}

/**
 * Does `action` and returns when the page saw the person act (the wall-clock time of the first `event`
 * it dispatched): the latency a person notices starts there, not when the test harness got around to it.
 */
async function timedAction(
  page: Page,
  event: 'click' | 'keydown',
  action: () => Promise<void>,
): Promise<number> {
  await page.evaluate((event) => {
    const w = window as unknown as { __actedAt?: number };
    w.__actedAt = undefined;
    const record = () => {
      w.__actedAt ??= Date.now();
    };
    document.addEventListener(event, record, { capture: true, once: true });
  }, event);
  await action();
  const at = await page.evaluate(() => (window as unknown as { __actedAt?: number }).__actedAt);
  assert.ok(at, `the page saw no ${event}`);
  return at;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

// The call runs as `npm start` runs it on a multi-core machine: rooms on worker threads.
describe('web client in Chromium', () => {
  let server: ClusterTestServer;
  let browser: Browser;
  const people = new Map<string, Person>();
  const person = (name: string): Person => {
    const p = people.get(name);
    assert.ok(p, `${name} is not in the call`);
    return p;
  };
  const others = (...except: string[]) => [...people.values()].filter((p) => !except.includes(p.name));

  before(async () => {
    ensureWebBuild();
    mkdirSync(SHOTS, { recursive: true });
    server = await startClusterTestServer(2);
    browser = await launchChromium();
  });

  after(async () => {
    await closeAll(people.values());
    await browser?.close();
    await server?.close();
  });

  test('three people join from /r/<room>?name=…&join=1; each sees two moving videos and hears two voices', async () => {
    for (const name of ['Ann', 'Bob', 'Cid'])
      people.set(name, await openRoom(browser, server.url, ROOM, name));
    for (const p of people.values()) {
      const remote = others(p.name).map((o) => `${tileOf(o.name)}[data-video="on"] video.ready`);
      for (const selector of remote) await p.page.locator(selector).waitFor({ timeout: 15_000 });
    }
    for (const p of people.values()) {
      const frames = await countFrames(p.page, '.tile[data-self="false"][data-source="camera"] video', 2000);
      assert.equal(frames.length, 2, `${p.name} sees two remote videos`);
      for (const n of frames) assert.ok(n >= 10, `${p.name}: remote video advanced only ${n} frames in 2 s`);
    }
    const energies = await Promise.all([...people.values()].map((p) => audioEnergyDuring(p.page, 1500)));
    for (const [i, p] of [...people.values()].entries()) {
      for (const o of others(p.name)) {
        const e = energies[i]![o.name] ?? 0;
        assert.ok(e > SOUND, `${p.name} hears ${o.name}: audio energy ${e} in 1.5 s`);
      }
    }
    // The fake microphone beeps: each beep lights the speaker's tile on the other pages.
    for (const p of people.values()) {
      await p.page
        .locator('.tile[data-self="false"][data-speaking="true"]')
        .first()
        .waitFor({ timeout: 5000 });
    }
    await shot(person('Ann').page, '01-grid-three');
    for (const p of people.values()) assert.deepEqual(p.errors, [], `${p.name}'s page logged errors`);
  });

  test('mic off: the others show the muted indicator within 1 s and the sound stops; M turns it back on', async (t) => {
    const ann = person('Ann');
    const watchers = await Promise.all(
      others('Ann').map((o) => watchFor(o.page, `${tileOf('Ann')}[data-muted="true"] .muted-badge`)),
    );
    const clicked = await timedAction(ann.page, 'click', () =>
      ann.page.getByRole('button', { name: 'Turn off microphone (M)' }).click(),
    );
    const seen = await Promise.all(watchers.map((w) => w()));
    t.diagnostic(`muted indicator shown after ${seen.map((at) => at - clicked).join(', ')} ms`);
    for (const at of seen) assert.ok(at - clicked <= 1000, `muted indicator after ${at - clicked} ms`);
    await ann.page.locator('.tile[data-self="true"][data-muted="true"]').waitFor({ timeout: 2000 });

    await new Promise((resolve) => setTimeout(resolve, 500)); // what was already buffered plays out
    for (const o of others('Ann')) {
      const heard = await audioEnergyDuring(o.page, 1500);
      assert.ok((heard.Ann ?? 0) < SILENCE, `${o.name} still hears Ann while muted: ${heard.Ann}`);
      const other = o.name === 'Bob' ? 'Cid' : 'Bob';
      assert.ok((heard[other] ?? 0) > SOUND, `${o.name} still hears ${other}: ${heard[other]}`);
    }

    const unmuted = await Promise.all(
      others('Ann').map((o) => watchFor(o.page, `${tileOf('Ann')}[data-muted="false"]`)),
    );
    await ann.page.keyboard.press('m');
    await Promise.all(unmuted.map((w) => w()));
    const heard = await audioEnergyDuring(person('Bob').page, 1500);
    assert.ok((heard.Ann ?? 0) > SOUND, `Bob hears Ann again: ${heard.Ann}`);
  });

  test('camera off: the others see initials; V turns it back on and the video moves again', async () => {
    const bob = person('Bob');
    const watchers = await Promise.all(
      others('Bob').map((o) =>
        watchFor(o.page, `${tileOf('Bob')}[data-video="off"] .initials`, { text: 'B' }),
      ),
    );
    await bob.page.getByRole('button', { name: 'Turn off camera (V)' }).click();
    await Promise.all(watchers.map((w) => w()));
    await bob.page.locator('.tile[data-self="true"][data-video="off"] .initials').waitFor({ timeout: 2000 });
    const camera = await bob.page.evaluate(
      () =>
        (window as unknown as { port545: { session: { camera?: { track: MediaStreamTrack } } } }).port545
          .session.camera?.track.readyState,
    );
    assert.equal(camera, 'ended', 'the camera is released (its light goes off)');
    await shot(person('Ann').page, '02-camera-off-initials');

    await bob.page.keyboard.press('v');
    for (const o of others('Bob')) {
      await o.page.locator(`${tileOf('Bob')}[data-video="on"] video.ready`).waitFor({ timeout: 10_000 });
      const [frames] = await countFrames(o.page, `${tileOf('Bob')} video`, 1500);
      assert.ok((frames ?? 0) >= 5, `${o.name} sees Bob's camera again (${frames} frames in 1.5 s)`);
    }
  });

  test("screen share shows large on the other pages, the sharer's camera still visible, and goes when stopped", async (t) => {
    const cid = person('Cid');
    await cid.page.getByRole('button', { name: 'Present your screen (S)' }).click();
    await cid.page.getByText('You are presenting your screen to everyone.').waitFor({ timeout: 10_000 });
    for (const o of others('Cid')) {
      const stage = o.page.locator(`.stage-main ${tileOf('Cid', 'screen')} video.ready`);
      await stage.waitFor({ timeout: 15_000 });
      const box = await stage.boundingBox();
      const viewport = o.page.viewportSize()!;
      assert.ok(box && box.width > viewport.width * 0.6, `the screen is shown large (${box?.width} px wide)`);
      const [frames] = await countFrames(o.page, `.stage-main ${tileOf('Cid', 'screen')} video`, 2000);
      assert.ok((frames ?? 0) >= 3, `the shared screen moves (${frames} frames in 2 s)`);
      await o.page.locator(`.filmstrip ${tileOf('Cid')}`).waitFor({ timeout: 2000 });
    }
    await shot(person('Ann').page, '03-screen-share');

    const gone = await Promise.all(
      others('Cid').map((o) => watchFor(o.page, tileOf('Cid', 'screen'), { gone: true })),
    );
    const stopped = await timedAction(cid.page, 'click', () =>
      cid.page.getByRole('button', { name: 'Stop presenting (S)' }).click(),
    );
    const at = await Promise.all(gone.map((w) => w()));
    t.diagnostic(`screen share removed after ${at.map((a) => a - stopped).join(', ')} ms`);
    for (const a of at) assert.ok(a - stopped < 3000, `screen tile removed after ${a - stopped} ms`);
    for (const o of others('Cid'))
      assert.equal(await o.page.locator('.stage-main').count(), 0, 'back to the grid');
  });

  test('chat reaches the others within 1 s; a late joiner sees it; markup in names and messages stays text', async (t) => {
    const [ann, bob, cid] = [person('Ann'), person('Bob'), person('Cid')];
    await bob.page.keyboard.press('c');
    await bob.page.getByRole('textbox', { name: 'Message to everyone' }).waitFor();
    const text = 'Hello from Ann — can everyone see this?';
    const onBob = await watchFor(bob.page, '.chat-message .chat-text', { text });
    const badgeOnCid = await watchFor(cid.page, 'button[aria-label="Chat (C), 1 unread"]');
    await ann.page.getByRole('button', { name: 'Chat (C)' }).click();
    const box = ann.page.getByRole('textbox', { name: 'Message to everyone' });
    await box.fill(text);
    const sent = await timedAction(ann.page, 'keydown', () => box.press('Enter'));
    const [bobAt, cidAt] = await Promise.all([onBob(), badgeOnCid()]);
    t.diagnostic(`chat shown after ${bobAt - sent} ms, unread badge after ${cidAt - sent} ms`);
    assert.ok(bobAt - sent <= 1000, `chat shown to Bob after ${bobAt - sent} ms`);
    assert.ok(cidAt - sent <= 1000, `unread badge shown to Cid after ${cidAt - sent} ms`);
    await ann.page.locator('.chat-message.mine .chat-text', { hasText: text }).waitFor({ timeout: 2000 });

    // Longer than the server takes: the page says so and will not send it.
    await box.fill('x'.repeat(2001));
    await ann.page.locator('.chat-count.over', { hasText: '2001 / 2000' }).waitFor({ timeout: 2000 });
    assert.ok(await ann.page.getByRole('button', { name: 'Send message' }).isDisabled(), 'send is disabled');
    await box.press('Enter');
    assert.equal(await ann.page.locator('.chat-message').count(), 1, 'nothing was sent');
    await box.fill('');

    // A late joiner whose name is markup, who then sends markup.
    const evilName = '<img src=x onerror="window.__xss=1">';
    const evilText = '<script>window.__xss=2</script><img src=x onerror="window.__xss=3"><b>bold</b>';
    const dee = await openRoom(browser, server.url, ROOM, evilName);
    people.set(evilName, dee);
    await dee.page.keyboard.press('c');
    await dee.page.locator('.chat-message .chat-text', { hasText: text }).waitFor({ timeout: 5000 });
    const history = await dee.page.locator('.chat-message').count();
    assert.equal(history, 1, 'the late joiner sees the earlier message');
    await dee.page.getByRole('textbox', { name: 'Message to everyone' }).fill(evilText);
    await dee.page.getByRole('textbox', { name: 'Message to everyone' }).press('Enter');
    await bob.page.locator('.chat-message .chat-text', { hasText: 'bold' }).waitFor({ timeout: 5000 });
    await ann.page.keyboard.press('Escape'); // out of the chat's text box, panel closed
    await ann.page.keyboard.press('p');
    await ann.page.locator('.people-list').waitFor({ timeout: 2000 });
    await new Promise((resolve) => setTimeout(resolve, 500)); // an injected onerror would have run by now
    for (const p of [ann, bob, cid, dee]) {
      const found = await p.page.evaluate(
        ({ evilName, evilText }) => ({
          xss: (window as unknown as { __xss?: number }).__xss,
          images: document.querySelectorAll('img, script:not([src]), .chat-text b').length,
          names: [...document.querySelectorAll('.tile-name, .chat-name, .person-name')].map(
            (e) => e.textContent,
          ),
          texts: [...document.querySelectorAll('.chat-text')].map((e) => e.textContent),
          evilTile:
            document.querySelector(`.tile[data-name="${evilName.replace(/["\\]/g, '\\$&')}"]`) !== null,
          evilText,
        }),
        { evilName, evilText },
      );
      assert.equal(found.xss, undefined, `${p.name}: injected script ran`);
      assert.equal(found.images, 0, `${p.name}: markup became elements`);
      assert.ok(found.evilTile, `${p.name}: the tile carries the name as given`);
      if (p !== dee) assert.ok(found.names.includes(evilName), `${p.name}: the name is shown as text`);
      if (p === bob) assert.ok(found.texts.includes(evilText), 'the message is shown as text');
    }
    await shot(bob.page, '04-chat-panel');
    await shot(ann.page, '05-participants-panel');
    await ann.page.keyboard.press('p');
  });

  test('Leave button and a closed tab: their tiles disappear on the other pages within 2 s', async (t) => {
    const dee = [...people.values()].find((p) => p.name.startsWith('<img'))!;
    const deeTile = tileOf(dee.name);
    let watchers = await Promise.all(others(dee.name).map((o) => watchFor(o.page, deeTile, { gone: true })));
    let started = await timedAction(dee.page, 'click', () =>
      dee.page.getByRole('button', { name: 'Leave call' }).click(),
    );
    let removed = await Promise.all(watchers.map((w) => w()));
    t.diagnostic(`tiles removed ${removed.map((at) => at - started).join(', ')} ms after Leave`);
    for (const at of removed) assert.ok(at - started <= 2000, `tile removed ${at - started} ms after Leave`);
    await dee.page.getByRole('heading', { name: 'You left the call' }).waitFor({ timeout: 5000 });
    await dee.context.close();
    people.delete(dee.name);

    const cid = person('Cid');
    watchers = await Promise.all(others('Cid').map((o) => watchFor(o.page, tileOf('Cid'), { gone: true })));
    started = Date.now();
    await cid.page.close();
    removed = await Promise.all(watchers.map((w) => w()));
    t.diagnostic(`tiles removed ${removed.map((at) => at - started).join(', ')} ms after the tab closed`);
    for (const at of removed)
      assert.ok(at - started <= 2000, `tile removed ${at - started} ms after the tab closed`);
    await cid.context.close();
    people.delete('Cid');
  });

  test('a dropped connection shows the reconnecting banner, then the call resumes by itself', async () => {
    const [ann, bob] = [person('Ann'), person('Bob')];
    const banner = await watchFor(ann.page, '.banner.warn', {
      text: 'Connection lost. Reconnecting… Your call resumes by itself.',
    });
    await ann.page.evaluate(() =>
      (window as unknown as { port545: { room: { dropConnection(): void } } }).port545.room.dropConnection(),
    );
    await banner();
    await ann.page.locator('.call[data-status="connected"]').waitFor({ timeout: 15_000 });
    await ann.page.locator('.banner.warn').waitFor({ state: 'detached', timeout: 5000 });
    const [frames] = await countFrames(bob.page, `${tileOf('Ann')} video`, 1500);
    assert.ok((frames ?? 0) >= 5, `Bob still sees Ann after her reconnect (${frames} frames)`);
    const heard = await audioEnergyDuring(bob.page, 1500);
    assert.ok((heard.Ann ?? 0) > SOUND, `Bob still hears Ann: ${heard.Ann}`);
  });

  test('with the camera blocked, the pre-join screen explains it and joins with the microphone only', async () => {
    // The browser refuses the camera as it does when a person blocked it for this site.
    const blockCamera = `(() => {
      const md = navigator.mediaDevices;
      const original = md.getUserMedia.bind(md);
      md.getUserMedia = (c) => c && c.video
        ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
        : original(c);
    })();`;
    const eve = await openRoom(browser, server.url, ROOM, 'Eve Example', {
      join: false,
      initScript: blockCamera,
    });
    people.set('Eve Example', eve);
    const problem = eve.page.locator('.device-problem[data-device="camera"]');
    await problem.waitFor({ timeout: 10_000 });
    assert.match((await problem.textContent()) ?? '', /blocked/);
    await eve.page.waitForFunction(
      () => Number(document.querySelector('.meter')?.getAttribute('data-level')) > 0,
      undefined,
      { timeout: 10_000 },
    );
    assert.equal(await eve.page.locator('#display-name').inputValue(), 'Eve Example');
    await shot(eve.page, '06-prejoin-camera-blocked');
    await eve.page.getByRole('button', { name: 'Join now' }).click();
    await eve.page.locator('.call[data-status="connected"]').waitFor({ timeout: 15_000 });
    await eve.page.locator('.tile[data-self="true"][data-video="off"] .initials').waitFor({ timeout: 5000 });
    const ann = person('Ann');
    await ann.page
      .locator(`${tileOf('Eve Example')}[data-video="off"] .initials`, { hasText: 'EE' })
      .waitFor({
        timeout: 10_000,
      });
    const heard = await audioEnergyDuring(ann.page, 1500);
    assert.ok((heard['Eve Example'] ?? 0) > SOUND, `Ann hears Eve: ${heard['Eve Example']}`);
    await shot(ann.page, '07-audio-only-initials');
  });

  test('?audio=0&video=0 joins with both off; turning them on publishes them; settings switch the microphone', async () => {
    const fay = await openRoom(browser, server.url, ROOM, 'Fay', { query: 'audio=0&video=0' });
    people.set('Fay', fay);
    const ann = person('Ann');
    const fayTile = ann.page.locator(`${tileOf('Fay')}[data-muted="true"][data-video="off"] .initials`);
    await fayTile.waitFor({ timeout: 10_000 });
    const before = await audioEnergyDuring(ann.page, 1000);
    assert.equal(before.Fay, undefined, 'Fay sends no microphone at all');

    await fay.page.keyboard.press('m');
    await ann.page.locator(`${tileOf('Fay')}[data-muted="false"]`).waitFor({ timeout: 10_000 });
    await fay.page.keyboard.press('v');
    await ann.page.locator(`${tileOf('Fay')}[data-video="on"] video.ready`).waitFor({ timeout: 15_000 });
    const [frames] = await countFrames(ann.page, `${tileOf('Fay')} video`, 1500);
    assert.ok((frames ?? 0) >= 5, `Ann sees Fay's camera (${frames} frames in 1.5 s)`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    let heard = await audioEnergyDuring(ann.page, 1500);
    assert.ok((heard.Fay ?? 0) > SOUND, `Ann hears Fay: ${heard.Fay}`);

    await fay.page.getByRole('button', { name: 'Settings' }).click();
    const select = fay.page.getByLabel('Microphone', { exact: true });
    const options = await select.locator('option').allTextContents();
    assert.ok(options.length >= 2, `more than one fake microphone: ${options.join(', ')}`);
    await select.selectOption({ label: options[1]! });
    const label = () =>
      fay.page.evaluate(
        () =>
          (window as unknown as { port545: { session: { mic?: { track: MediaStreamTrack } } } }).port545
            .session.mic?.track.label,
      );
    const deadline = Date.now() + 5000;
    while ((await label()) !== options[1] && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(await label(), options[1], 'the chosen microphone is the one sent');
    await new Promise((resolve) => setTimeout(resolve, 500));
    heard = await audioEnergyDuring(ann.page, 1500);
    assert.ok((heard.Fay ?? 0) > SOUND, `Ann still hears Fay on the other microphone: ${heard.Fay}`);
    await fay.context.close();
    people.delete('Fay');
    await ann.page.locator(tileOf('Fay')).waitFor({ state: 'detached', timeout: 5000 });
  });

  test('speaker view and a phone-sized screen', async () => {
    const bob = person('Bob');
    await bob.page.keyboard.press('Escape'); // closes the chat panel left open, and leaves its text box
    await bob.page.locator('#call-panel').waitFor({ state: 'detached', timeout: 2000 });
    await bob.page.keyboard.press('l');
    await bob.page.locator('.stage-main .tile[data-source="camera"]').waitFor({ timeout: 3000 });
    await shot(bob.page, '08-speaker-view');
    await bob.page.keyboard.press('l');
    await bob.page.keyboard.press('?');
    await bob.page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ timeout: 3000 });
    await shot(bob.page, '09-shortcuts');
    await bob.page.keyboard.press('Escape');

    const ann = person('Ann');
    await ann.page.setViewportSize({ width: 390, height: 844 });
    await ann.page.waitForTimeout(300);
    const overflow = await ann.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'nothing sticks out sideways on a phone');
    const controls = await ann.page.locator('.controls').boundingBox();
    assert.ok(controls && controls.y + controls.height <= 844, 'the controls are on screen');
    await shot(ann.page, '10-phone-grid');
    await ann.page.keyboard.press('c');
    await shot(ann.page, '11-phone-chat');
    await ann.page.keyboard.press('Escape');
    await ann.page.setViewportSize({ width: 1280, height: 720 });
  });

  test('the home page starts a new room or joins one by name or invite link', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await page.getByRole('heading', { name: 'Video calls on your own server' }).waitFor();
      assert.match((await page.locator('.about').textContent()) ?? '', /QuickTime Conferencing/);
      await shot(page, '00-home');
      await page.getByRole('button', { name: 'Start a new call' }).click();
      await page.getByRole('heading', { name: 'Ready to join?' }).waitFor();
      assert.match(new URL(page.url()).pathname, /^\/r\/[a-z]+-[a-z]+-\d{3}$/);
      await page.goBack();
      const input = page.getByLabel('Or join a room by name or link');
      await input.fill('not a room!');
      await input.press('Enter');
      await page.getByRole('alert').waitFor();
      await input.fill(`${server.url}/r/${ROOM}?name=x`);
      await input.press('Enter');
      await page.locator('.room-label', { hasText: ROOM }).waitFor();
      await page.setViewportSize({ width: 390, height: 844 });
      await shot(page, '13-phone-prejoin');
    } finally {
      await context.close();
    }
  });

  test('host controls: mute, room password, remove, lock and end, each seen by the others', async () => {
    const room = 'e2e-host';
    const hana = await openRoom(browser, server.url, room, 'Hana');
    const gus = await openRoom(browser, server.url, room, 'Gus');
    const local = [hana, gus];
    try {
      hana.page.on('dialog', (dialog) => void dialog.accept());
      await hana.page.locator('.call-count .tag.host').waitFor({ timeout: 5000 });
      assert.equal(
        await gus.page.locator('.call-count .tag.host').count(),
        0,
        'the second to join is a guest',
      );
      await gus.page.keyboard.press('p');
      await gus.page.locator('.people-list').waitFor();
      assert.equal(
        await gus.page.getByRole('button', { name: 'Mute Hana' }).count(),
        0,
        'a guest has no host controls',
      );
      await gus.page.keyboard.press('p');

      // Mute: Gus's own page shows his microphone off, and Hana stops hearing him.
      await hana.page.keyboard.press('p');
      await hana.page.getByRole('button', { name: 'Mute Gus' }).click();
      await gus.page.locator('.tile[data-self="true"][data-muted="true"]').waitFor({ timeout: 5000 });
      await gus.page.getByText('A host muted your microphone.', { exact: false }).waitFor({ timeout: 5000 });
      await hana.page.locator(`${tileOf('Gus')}[data-muted="true"]`).waitFor({ timeout: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const heard = await audioEnergyDuring(hana.page, 1500);
      assert.ok((heard.Gus ?? 0) < SILENCE, `Hana still hears Gus after muting him: ${heard.Gus}`);
      await shot(hana.page, '14-host-controls');

      // Password: a newcomer is asked for it, a wrong one is refused, the right one admits.
      await hana.page.getByLabel('Set a room password').fill('open sesame');
      await hana.page.getByRole('button', { name: 'Set', exact: true }).click();
      await gus.page.locator('.call-count .tag', { hasText: 'password' }).waitFor({ timeout: 5000 });
      const ivy = await openRoom(browser, server.url, room, 'Ivy', { join: false, query: 'join=1' });
      local.push(ivy);
      await ivy.page.locator('.end[data-end="password"]').waitFor({ timeout: 10_000 });
      await ivy.page.getByLabel('Password for e2e-host').fill('nope');
      await ivy.page.getByRole('button', { name: 'Join', exact: true }).click();
      await ivy.page.getByText('That password is not right.', { exact: false }).waitFor({ timeout: 10_000 });
      await ivy.page.getByLabel('Password for e2e-host').fill('open sesame');
      await ivy.page.getByRole('button', { name: 'Join', exact: true }).click();
      await ivy.page.locator('.call[data-status="connected"]').waitFor({ timeout: 10_000 });
      await hana.page.getByRole('button', { name: 'Remove the password' }).click();
      await gus.page
        .locator('.call-count .tag', { hasText: 'password' })
        .waitFor({ state: 'detached', timeout: 5000 });

      // Remove: Ivy is told, and her tile goes from the others.
      await hana.page.getByRole('button', { name: 'Remove Ivy from the call' }).click();
      await ivy.page
        .getByRole('heading', { name: 'You were removed from the call' })
        .waitFor({ timeout: 5000 });
      await gus.page.locator(tileOf('Ivy')).waitFor({ state: 'detached', timeout: 5000 });

      // Lock: nobody new gets in, and says why.
      await hana.page.getByRole('button', { name: 'Lock the room' }).click();
      await gus.page.locator('.call-count .tag', { hasText: 'locked' }).waitFor({ timeout: 5000 });
      const jo = await openRoom(browser, server.url, room, 'Jo', { join: false, query: 'join=1' });
      local.push(jo);
      await jo.page.getByText('The room is locked.', { exact: false }).waitFor({ timeout: 10_000 });

      // End: everyone's call ends, with a page that says so.
      await hana.page.getByRole('button', { name: 'End the call for everyone' }).click();
      await gus.page.getByRole('heading', { name: 'The call has ended' }).waitFor({ timeout: 5000 });
      await hana.page.getByRole('heading', { name: 'The call has ended' }).waitFor({ timeout: 5000 });
    } finally {
      await closeAll(local);
    }
  });

  test('secured mode: ?token= joins with the name and role in the token; without one the page says why', async () => {
    const apiSecret = 'e2e-secret-that-is-long-enough-for-hs256!';
    const secured = await startTestServer({
      auth: { mode: 'secured', apiKey: 'e2e-api-key-0123456789', apiSecret },
    });
    const local: Person[] = [];
    try {
      const { token } = await createAccessToken(apiSecret, {
        room: 'vault',
        identity: 'tess',
        name: 'Tess Token',
        role: 'host',
        ttlSeconds: 600,
      });
      const tess = await openRoom(browser, secured.url, 'vault', 'typed name', { query: `token=${token}` });
      local.push(tess);
      await tess.page.locator('.tile[data-self="true"][data-name="Tess Token"]').waitFor({ timeout: 5000 });
      await tess.page.locator('.call-count .tag.host').waitFor({ timeout: 5000 });
      const stranger = await openRoom(browser, secured.url, 'vault', 'Stranger', {
        join: false,
        query: 'join=1',
      });
      local.push(stranger);
      await stranger.page.locator('.end[data-end="refused"]').waitFor({ timeout: 10_000 });
      assert.match((await stranger.page.locator('.end .lead').textContent()) ?? '', /access token/);
    } finally {
      await closeAll(local);
      await secured.close();
    }
  });

  test('a full room says so', async () => {
    const small = await startTestServer({ rooms: { maxParticipants: 1 } });
    const local: Person[] = [];
    try {
      local.push(await openRoom(browser, small.url, 'tiny', 'First'));
      const second = await openRoom(browser, small.url, 'tiny', 'Second', { join: false, query: 'join=1' });
      local.push(second);
      await second.page.locator('.end[data-end="full"]').waitFor({ timeout: 10_000 });
      assert.equal(await second.page.getByRole('heading').first().textContent(), 'This room is full');
    } finally {
      await closeAll(local);
      await small.close();
    }
  });

  test('an unreachable server says so and offers to try again', async () => {
    const gone = await startTestServer();
    const local: Person[] = [];
    try {
      const p = await openRoom(browser, gone.url, 'lonely', 'Solo', { join: false });
      local.push(p);
      await p.page.locator('.preview video.ready').waitFor({ timeout: 10_000 });
      await gone.close();
      await p.page.getByRole('button', { name: 'Join now' }).click();
      await p.page.locator('.end[data-end="unreachable"]').waitFor({ timeout: 15_000 });
      await p.page.getByRole('button', { name: 'Try again' }).waitFor();
      await shot(p.page, '12-unreachable');
    } finally {
      await closeAll(local);
      await gone.close();
    }
  });
});
