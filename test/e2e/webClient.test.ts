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
  ensureWebBuild,
  launchChromium,
  NOTICE_MS,
  openRoom,
  type Person,
  tileOf,
  waitForFrames,
  waitForSilence,
  waitForSound,
  watchFor,
} from '../helpers/browser.js';
import { startClusterTestServer, startTestServer, type TestServer } from '../helpers/server.js';

const SHOTS = 'test-results/web-client';
const ROOM = 'e2e-call';
/** The late joiner whose name is markup (the chat test brings them in, the Leave test sends them off). */
const EVIL_NAME = '<img src=x onerror="window.__xss=1">';

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

// The call runs as `npm start` runs it on a multi-core machine: rooms on worker threads.
describe('web client in Chromium', () => {
  let server: TestServer;
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
      for (const selector of remote) await p.page.locator(selector).waitFor({ timeout: NOTICE_MS });
      await waitForFrames(p.page, '.tile[data-self="false"][data-source="camera"] video', { count: 2 });
    }
    for (const p of people.values()) for (const o of others(p.name)) await waitForSound(p.page, o.name);
    // The fake microphone beeps: each beep lights the speaker's tile on the other pages.
    for (const p of people.values()) {
      await p.page
        .locator('.tile[data-self="false"][data-speaking="true"]')
        .first()
        .waitFor({ timeout: NOTICE_MS });
    }
    await shot(person('Ann').page, '01-grid-three');
    for (const p of people.values()) assert.deepEqual(p.errors, [], `${p.name}'s page logged errors`);
  });

  test('mic off: the others show the muted indicator and the sound stops; M turns it back on', async () => {
    const ann = person('Ann');
    await ann.page.getByRole('button', { name: 'Turn off microphone (M)' }).click();
    for (const o of others('Ann'))
      await o.page
        .locator(`${tileOf('Ann')}[data-muted="true"] .muted-badge`)
        .waitFor({ timeout: NOTICE_MS });
    await ann.page.locator('.tile[data-self="true"][data-muted="true"]').waitFor({ timeout: NOTICE_MS });
    for (const o of others('Ann')) {
      await waitForSilence(o.page, 'Ann');
      await waitForSound(o.page, o.name === 'Bob' ? 'Cid' : 'Bob');
    }

    await ann.page.keyboard.press('m');
    for (const o of others('Ann'))
      await o.page.locator(`${tileOf('Ann')}[data-muted="false"]`).waitFor({ timeout: NOTICE_MS });
    await waitForSound(person('Bob').page, 'Ann');
  });

  test('camera off: the others see initials; V turns it back on and the video moves again', async () => {
    const bob = person('Bob');
    await bob.page.getByRole('button', { name: 'Turn off camera (V)' }).click();
    for (const o of others('Bob'))
      await o.page
        .locator(`${tileOf('Bob')}[data-video="off"] .initials`, { hasText: /^B$/ })
        .waitFor({ timeout: NOTICE_MS });
    await bob.page
      .locator('.tile[data-self="true"][data-video="off"] .initials')
      .waitFor({ timeout: NOTICE_MS });
    const camera = await bob.page.evaluate(
      () =>
        (window as unknown as { port545: { session: { camera?: { track: MediaStreamTrack } } } }).port545
          .session.camera?.track.readyState,
    );
    assert.equal(camera, 'ended', 'the camera is released (its light goes off)');
    await shot(person('Ann').page, '02-camera-off-initials');

    await bob.page.keyboard.press('v');
    for (const o of others('Bob')) {
      await o.page.locator(`${tileOf('Bob')}[data-video="on"] video.ready`).waitFor({ timeout: NOTICE_MS });
      await waitForFrames(o.page, `${tileOf('Bob')} video`);
    }
  });

  test("screen share shows large on the other pages, the sharer's camera still visible, and goes when stopped", async () => {
    const cid = person('Cid');
    await cid.page.getByRole('button', { name: 'Present your screen (S)' }).click();
    // The banner says it, and so may the sharer's own screen tile: either one will do.
    await cid.page
      .getByText('You are presenting your screen to everyone.')
      .first()
      .waitFor({ timeout: NOTICE_MS });
    for (const o of others('Cid')) {
      const stage = o.page.locator(`.stage-main ${tileOf('Cid', 'screen')} video.ready`);
      await stage.waitFor({ timeout: NOTICE_MS });
      const box = await stage.boundingBox();
      const viewport = o.page.viewportSize()!;
      assert.ok(box && box.width > viewport.width * 0.6, `the screen is shown large (${box?.width} px wide)`);
      // A still screen sends few frames; two presented ones show the picture is live.
      await waitForFrames(o.page, `.stage-main ${tileOf('Cid', 'screen')} video`, { frames: 2 });
      await o.page.locator(`.filmstrip ${tileOf('Cid')}`).waitFor({ timeout: NOTICE_MS });
    }
    await shot(person('Ann').page, '03-screen-share');

    await cid.page.getByRole('button', { name: 'Stop presenting (S)' }).click();
    for (const o of others('Cid')) {
      await o.page.locator(tileOf('Cid', 'screen')).waitFor({ state: 'detached', timeout: NOTICE_MS });
      assert.equal(await o.page.locator('.stage-main').count(), 0, 'back to the grid');
    }
  });

  test('chat reaches the others; a late joiner sees it; markup in names and messages stays text', async () => {
    const [ann, bob, cid] = [person('Ann'), person('Bob'), person('Cid')];
    await bob.page.keyboard.press('c');
    await bob.page.getByRole('textbox', { name: 'Message to everyone' }).waitFor();
    const text = 'Hello from Ann — can everyone see this?';
    await ann.page.getByRole('button', { name: 'Chat (C)' }).click();
    const box = ann.page.getByRole('textbox', { name: 'Message to everyone' });
    await box.fill(text);
    await box.press('Enter');
    await bob.page.locator('.chat-message .chat-text', { hasText: text }).waitFor({ timeout: NOTICE_MS });
    await cid.page.locator('button[aria-label="Chat (C), 1 unread"]').waitFor({ timeout: NOTICE_MS });
    await ann.page
      .locator('.chat-message.mine .chat-text', { hasText: text })
      .waitFor({ timeout: NOTICE_MS });

    // Longer than the server takes: the page says so and will not send it.
    await box.fill('x'.repeat(2001));
    await ann.page.locator('.chat-count.over', { hasText: '2001 / 2000' }).waitFor({ timeout: NOTICE_MS });
    assert.ok(await ann.page.getByRole('button', { name: 'Send message' }).isDisabled(), 'send is disabled');
    await box.press('Enter');
    assert.equal(await ann.page.locator('.chat-message').count(), 1, 'nothing was sent');
    await box.fill('');

    // A late joiner whose name is markup, who then sends markup.
    const evilText = '<script>window.__xss=2</script><img src=x onerror="window.__xss=3"><b>bold</b>';
    const dee = await openRoom(browser, server.url, ROOM, EVIL_NAME);
    people.set(EVIL_NAME, dee);
    // What was said before they came is history, not unread.
    await dee.page.getByRole('button', { name: 'Chat (C)', exact: true }).waitFor({ timeout: NOTICE_MS });
    assert.equal(await dee.page.locator('button[aria-label^="Chat (C), "]').count(), 0, 'no unread badge');
    await dee.page.keyboard.press('c');
    await dee.page.locator('.chat-message .chat-text', { hasText: text }).waitFor({ timeout: NOTICE_MS });
    const history = await dee.page.locator('.chat-message').count();
    assert.equal(history, 1, 'the late joiner sees the earlier message');
    await dee.page.getByRole('textbox', { name: 'Message to everyone' }).fill(evilText);
    await dee.page.getByRole('textbox', { name: 'Message to everyone' }).press('Enter');
    await bob.page.locator('.chat-message .chat-text', { hasText: 'bold' }).waitFor({ timeout: NOTICE_MS });
    await ann.page.keyboard.press('Escape'); // out of the chat's text box, panel closed
    await ann.page.keyboard.press('p');
    await ann.page.locator('.people-list').waitFor({ timeout: NOTICE_MS });
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
        { evilName: EVIL_NAME, evilText },
      );
      // No element was made from the markup, so no onerror handler can ever run.
      assert.equal(found.images, 0, `${p.name}: markup became elements`);
      assert.equal(found.xss, undefined, `${p.name}: injected script ran`);
      assert.ok(found.evilTile, `${p.name}: the tile carries the name as given`);
      if (p !== dee) assert.ok(found.names.includes(EVIL_NAME), `${p.name}: the name is shown as text`);
      if (p === bob) assert.ok(found.texts.includes(evilText), 'the message is shown as text');
    }
    await shot(bob.page, '04-chat-panel');
    await shot(ann.page, '05-participants-panel');
    await ann.page.keyboard.press('p');
  });

  test('Leave button and a closed tab: their tiles disappear on the other pages', async () => {
    // The late joiner of the chat test; joined here if that test did not get as far.
    const dee = people.get(EVIL_NAME) ?? (await openRoom(browser, server.url, ROOM, EVIL_NAME));
    people.set(EVIL_NAME, dee);
    for (const o of others(EVIL_NAME))
      await o.page.locator(tileOf(EVIL_NAME)).first().waitFor({ timeout: NOTICE_MS });
    await dee.page.getByRole('button', { name: 'Leave call' }).click();
    for (const o of others(EVIL_NAME))
      await o.page.locator(tileOf(EVIL_NAME)).waitFor({ state: 'detached', timeout: NOTICE_MS });
    await dee.page.getByRole('heading', { name: 'You left the call' }).waitFor({ timeout: NOTICE_MS });
    await dee.context.close();
    people.delete(EVIL_NAME);

    const cid = person('Cid');
    await cid.page.close();
    for (const o of others('Cid'))
      await o.page.locator(tileOf('Cid')).waitFor({ state: 'detached', timeout: NOTICE_MS });
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
    await ann.page.locator('.call[data-status="connected"]').waitFor({ timeout: NOTICE_MS });
    await ann.page.locator('.banner.warn').waitFor({ state: 'detached', timeout: NOTICE_MS });
    await waitForFrames(bob.page, `${tileOf('Ann')} video`);
    await waitForSound(bob.page, 'Ann');
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
    await problem.waitFor({ timeout: NOTICE_MS });
    assert.match((await problem.textContent()) ?? '', /blocked/);
    await eve.page.waitForFunction(
      () => Number(document.querySelector('.meter')?.getAttribute('data-level')) > 0,
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.equal(await eve.page.locator('#display-name').inputValue(), 'Eve Example');
    await shot(eve.page, '06-prejoin-camera-blocked');
    await eve.page.getByRole('button', { name: 'Join now' }).click();
    await eve.page.locator('.call[data-status="connected"]').waitFor({ timeout: NOTICE_MS });
    await eve.page
      .locator('.tile[data-self="true"][data-video="off"] .initials')
      .waitFor({ timeout: NOTICE_MS });
    const ann = person('Ann');
    await ann.page
      .locator(`${tileOf('Eve Example')}[data-video="off"] .initials`, { hasText: 'EE' })
      .waitFor({ timeout: NOTICE_MS });
    await waitForSound(ann.page, 'Eve Example');
    await shot(ann.page, '07-audio-only-initials');
    // Fewer pages for the tests after this one: Eve has shown what she came for.
    await eve.context.close();
    people.delete('Eve Example');
  });

  test('?audio=0&video=0 joins with both off; turning them on publishes them; settings switch the microphone', async () => {
    const fay = await openRoom(browser, server.url, ROOM, 'Fay', { query: 'audio=0&video=0' });
    people.set('Fay', fay);
    const ann = person('Ann');
    const fayTile = ann.page.locator(`${tileOf('Fay')}[data-muted="true"][data-video="off"] .initials`);
    await fayTile.waitFor({ timeout: NOTICE_MS });
    const before = await audioEnergyDuring(ann.page, 1000);
    assert.equal(before.Fay, undefined, 'Fay sends no microphone at all');

    await fay.page.keyboard.press('m');
    await ann.page.locator(`${tileOf('Fay')}[data-muted="false"]`).waitFor({ timeout: NOTICE_MS });
    await fay.page.keyboard.press('v');
    await ann.page.locator(`${tileOf('Fay')}[data-video="on"] video.ready`).waitFor({ timeout: NOTICE_MS });
    await waitForFrames(ann.page, `${tileOf('Fay')} video`);
    await waitForSound(ann.page, 'Fay');

    await fay.page.getByRole('button', { name: 'Settings' }).click();
    const select = fay.page.getByLabel('Microphone', { exact: true });
    // The list fills in once the browser has listed its devices, after the dialog opens.
    await select
      .locator('option')
      .nth(1)
      .waitFor({ state: 'attached', timeout: NOTICE_MS })
      .catch(() => undefined);
    const options = await select.locator('option').allTextContents();
    assert.ok(options.length >= 2, `more than one fake microphone: ${options.join(', ')}`);
    await select.selectOption({ label: options[1]! });
    await fay.page.waitForFunction(
      (label) =>
        (window as unknown as { port545: { session: { mic?: { track: MediaStreamTrack } } } }).port545.session
          .mic?.track.label === label,
      options[1],
      { timeout: NOTICE_MS },
    );
    await waitForSound(ann.page, 'Fay');
    await fay.context.close();
    people.delete('Fay');
    await ann.page.locator(tileOf('Fay')).waitFor({ state: 'detached', timeout: NOTICE_MS });
  });

  test('speaker view and a phone-sized screen', async () => {
    const bob = person('Bob');
    await bob.page.keyboard.press('Escape'); // closes the chat panel left open, and leaves its text box
    await bob.page.locator('#call-panel').waitFor({ state: 'detached', timeout: NOTICE_MS });
    await bob.page.keyboard.press('l');
    await bob.page.locator('.stage-main .tile[data-source="camera"]').waitFor({ timeout: NOTICE_MS });
    await shot(bob.page, '08-speaker-view');
    await bob.page.keyboard.press('l');
    await bob.page.keyboard.press('?');
    await bob.page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ timeout: NOTICE_MS });
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
    // The first call is over: its pages would only share the two cores with this room's.
    await closeAll(people.values());
    people.clear();
    const room = 'e2e-host';
    const hana = await openRoom(browser, server.url, room, 'Hana');
    const gus = await openRoom(browser, server.url, room, 'Gus');
    const local = [hana, gus];
    try {
      hana.page.on('dialog', (dialog) => void dialog.accept());
      await hana.page.locator('.call-count .tag.host').waitFor({ timeout: NOTICE_MS });
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
      await waitForSound(hana.page, 'Gus');
      await hana.page.keyboard.press('p');
      await hana.page.getByRole('button', { name: 'Mute Gus' }).click();
      await gus.page.locator('.tile[data-self="true"][data-muted="true"]').waitFor({ timeout: NOTICE_MS });
      await gus.page
        .getByText('A host muted your microphone.', { exact: false })
        .waitFor({ timeout: NOTICE_MS });
      await hana.page.locator(`${tileOf('Gus')}[data-muted="true"]`).waitFor({ timeout: NOTICE_MS });
      await waitForSilence(hana.page, 'Gus');
      await shot(hana.page, '14-host-controls');

      // Password: a newcomer is asked for it, a wrong one is refused, the right one admits.
      await hana.page.locator('summary', { hasText: 'Directory listing and password' }).click();
      await hana.page.getByLabel('Set a room password').fill('open sesame');
      await hana.page.getByRole('button', { name: 'Set', exact: true }).click();
      await gus.page.locator('.call-count .tag', { hasText: 'password' }).waitFor({ timeout: NOTICE_MS });
      const ivy = await openRoom(browser, server.url, room, 'Ivy', { join: false, query: 'join=1' });
      local.push(ivy);
      await ivy.page.locator('.end[data-end="password"]').waitFor({ timeout: NOTICE_MS });
      await ivy.page.getByLabel('Password for e2e-host').fill('nope');
      await ivy.page.getByRole('button', { name: 'Join', exact: true }).click();
      await ivy.page
        .getByText('That password is not right.', { exact: false })
        .waitFor({ timeout: NOTICE_MS });
      await ivy.page.getByLabel('Password for e2e-host').fill('open sesame');
      await ivy.page.getByRole('button', { name: 'Join', exact: true }).click();
      await ivy.page.locator('.call[data-status="connected"]').waitFor({ timeout: NOTICE_MS });
      await hana.page.getByRole('button', { name: 'Remove the password' }).click();
      await gus.page
        .locator('.call-count .tag', { hasText: 'password' })
        .waitFor({ state: 'detached', timeout: NOTICE_MS });

      // Remove: Ivy is told, and her tile goes from the others.
      await hana.page.getByRole('button', { name: 'More for Ivy' }).click();
      await hana.page.getByRole('button', { name: 'Remove Ivy from the call' }).click();
      await ivy.page
        .getByRole('heading', { name: 'You were removed from the call' })
        .waitFor({ timeout: NOTICE_MS });
      await gus.page.locator(tileOf('Ivy')).waitFor({ state: 'detached', timeout: NOTICE_MS });

      // Lock: nobody new gets in, and says why.
      await hana.page.getByRole('button', { name: 'Lock the room' }).click();
      await gus.page.locator('.call-count .tag', { hasText: 'locked' }).waitFor({ timeout: NOTICE_MS });
      const jo = await openRoom(browser, server.url, room, 'Jo', { join: false, query: 'join=1' });
      local.push(jo);
      await jo.page.getByText('The room is locked.', { exact: false }).waitFor({ timeout: NOTICE_MS });

      // End: everyone's call ends, with a page that says so.
      await hana.page.getByRole('button', { name: 'End the call for everyone' }).click();
      await gus.page.getByRole('heading', { name: 'The call has ended' }).waitFor({ timeout: NOTICE_MS });
      await hana.page.getByRole('heading', { name: 'The call has ended' }).waitFor({ timeout: NOTICE_MS });
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
      await tess.page
        .locator('.tile[data-self="true"][data-name="Tess Token"]')
        .waitFor({ timeout: NOTICE_MS });
      await tess.page.locator('.call-count .tag.host').waitFor({ timeout: NOTICE_MS });
      const stranger = await openRoom(browser, secured.url, 'vault', 'Stranger', {
        join: false,
        query: 'join=1',
      });
      local.push(stranger);
      await stranger.page.locator('.end[data-end="refused"]').waitFor({ timeout: NOTICE_MS });
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
      await second.page.locator('.end[data-end="full"]').waitFor({ timeout: NOTICE_MS });
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
      await p.page.locator('.preview video.ready').waitFor({ timeout: NOTICE_MS });
      await gone.close();
      await p.page.getByRole('button', { name: 'Join now' }).click();
      await p.page.locator('.end[data-end="unreachable"]').waitFor({ timeout: NOTICE_MS });
      await p.page.getByRole('button', { name: 'Try again' }).waitFor();
      await shot(p.page, '12-unreachable');
    } finally {
      await closeAll(local);
      await gone.close();
    }
  });
});
