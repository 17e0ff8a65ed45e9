/**
 * Sending files in the web client's chat: a picture sent to everyone shows in the others' chat with a
 * preview and downloads byte for byte; a file for one person reaches only them, and a late joiner finds
 * what was sent to everyone; a file over the server's limit is refused with a line saying so, and a
 * file being sent shows its progress and can be cancelled. axe-core finds no serious or critical problem
 * in the chat with files, a refusal, or a file being sent.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { axeProblems, browserSuite, NOTICE_MS, openRoom, type Person } from '../helpers/browser.js';

const CHEAP = { query: 'audio=0&video=0' };
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** CRC-32 (ISO 3309), as PNG chunks carry it. */
function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A `width`×`height` RGB PNG of a colour gradient. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // RGB
  const rows: number[] = [];
  for (let y = 0; y < height; y++) {
    rows.push(0); // no filter
    for (let x = 0; x < width; x++) rows.push((x * 255) / width, (y * 255) / height, 128);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A TCP proxy to the server on `port` that passes on what the browser sends at `bytesPerSecond` (what
 * the server sends back goes at once): a slow uplink. A browser that closes its side (a cancelled
 * upload) takes the rest of its bytes with it. `sent()`: bytes passed on to the server so far.
 */
async function slowUplink(
  port: number,
  bytesPerSecond: number,
): Promise<{ url: string; sent(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let sent = 0;
  const proxy = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    const queue: Buffer[] = [];
    client.on('data', (data: Buffer) => {
      queue.push(data);
      client.pause();
    });
    const slice = Math.max(1, Math.round(bytesPerSecond / 20));
    const timer = setInterval(() => {
      let budget = slice;
      while (budget > 0 && queue.length > 0) {
        const head = queue[0]!;
        const part = head.subarray(0, budget);
        upstream.write(part);
        sent += part.length;
        budget -= part.length;
        if (part.length === head.length) queue.shift();
        else queue[0] = head.subarray(part.length);
      }
      if (queue.length === 0) client.resume();
    }, 50);
    const end = () => {
      clearInterval(timer);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    sent: () => sent,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}

/** Opens the chat panel, unless it is open. */
async function openChat(page: Page): Promise<void> {
  const chat = page.locator('button[aria-label^="Chat (C)"]');
  if ((await chat.getAttribute('aria-expanded')) !== 'true') await chat.click();
  await page.locator('#call-panel .chat').waitFor({ timeout: NOTICE_MS });
}

/** The chat's line for the file named `name`. */
const fileLine = (page: Page, name: string) => page.locator('#call-panel li[data-file]', { hasText: name });

/** The names of the files the page's SDK room holds (what the server let it have). */
function roomFiles(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      (window as unknown as { port545?: { room?: { files: { name: string }[] } } }).port545?.room?.files.map(
        (f) => f.name,
      ) ?? [],
  );
}

/** Page errors and console errors, but for the browser's own log line of a refused request. */
const unexpected = (people: Person[]) =>
  people.flatMap((p) => p.errors).filter((e) => !/Failed to load resource: .* status of 413/.test(e));

describe('sending files in the chat of the web client', () => {
  const suite = browserSuite({}, { files: { maxBytes: 64 * 1024, roomMaxBytes: 1024 * 1024 } });
  const people = suite.people;
  const picture = png(32, 24);

  it('sends a picture to everyone: previewed, and downloaded byte for byte', async () => {
    const ann = await openRoom(suite.browser, suite.server.url, 'swap', 'Ann', CHEAP);
    people.push(ann);
    const bob = await openRoom(suite.browser, suite.server.url, 'swap', 'Bob', CHEAP);
    people.push(bob);
    await openChat(ann.page);
    await openChat(bob.page);
    assert.equal(await ann.page.getByLabel('Send to').inputValue(), '', 'to everyone unless chosen');

    // "Send a file" opens the browser's file chooser.
    const choosing = ann.page.waitForEvent('filechooser', { timeout: NOTICE_MS });
    await ann.page.getByRole('button', { name: 'Send a file', exact: true }).click();
    await (await choosing).setFiles({ name: 'dot.png', mimeType: 'image/png', buffer: picture });

    // Its size as people read it: bytes below a kilobyte, else KB with a decimal below ten.
    const size =
      picture.length < 1024
        ? `${picture.length} B`
        : `${(picture.length / 1024).toFixed(1).replace(/\.0$/, '')} KB`;
    const seen = fileLine(bob.page, 'dot.png');
    await seen.waitFor({ timeout: NOTICE_MS });
    assert.ok(
      (await seen.innerText()).includes(`Ann sent dot.png (${size})`),
      `"${await seen.innerText()}" says Ann sent dot.png (${size})`,
    );
    assert.doesNotMatch(await seen.innerText(), /to you/);
    await fileLine(ann.page, 'dot.png').getByText('You sent dot.png').waitFor({ timeout: NOTICE_MS });

    // The preview is the picture itself, fetched with the file token: it loads.
    const preview = seen.getByRole('img', { name: 'dot.png' });
    await preview.waitFor({ timeout: NOTICE_MS });
    await bob.page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('#call-panel img.chat-preview')?.naturalWidth ?? 0) > 0,
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.deepEqual(
      await preview.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]),
      [32, 24],
    );
    assert.match((await preview.getAttribute('src')) ?? '', /^blob:/);

    const downloading = bob.page.waitForEvent('download', { timeout: NOTICE_MS });
    await seen.getByRole('button', { name: 'Download dot.png' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), 'dot.png');
    const path = await download.path();
    assert.ok(path, 'the download was saved');
    assert.equal(sha256(await readFile(path)), sha256(picture), 'the same bytes');
    // Done: the button is back for another download.
    await seen.getByRole('button', { name: 'Download dot.png' }).waitFor({ timeout: NOTICE_MS });
    assert.deepEqual(unexpected([ann, bob]), []);
  });

  it('gives a file for one person to them alone; a late joiner finds what was for everyone', async () => {
    const [ann, bob] = people as [Person, Person];
    await ann.page.getByLabel('Send to').selectOption({ label: 'Bob' });
    await ann.page
      .locator('#call-panel input[type="file"]')
      .setInputFiles({ name: 'note.txt', mimeType: 'text/plain', buffer: Buffer.from('for Bob only') });

    const seen = fileLine(bob.page, 'note.txt');
    await seen.waitFor({ timeout: NOTICE_MS });
    assert.match(await seen.innerText(), /Ann sent note\.txt \(12 B\) to you/);
    await fileLine(ann.page, 'note.txt').getByText('You sent note.txt (12 B) to Bob').waitFor({
      timeout: NOTICE_MS,
    });
    // Only pictures are shown; a text file's content never is.
    assert.equal(await seen.locator('img').count(), 0);
    assert.equal(await bob.page.getByText('for Bob only').count(), 0);

    const downloading = bob.page.waitForEvent('download', { timeout: NOTICE_MS });
    await seen.getByRole('button', { name: 'Download note.txt' }).click();
    const path = await (await downloading).path();
    assert.equal(await readFile(path, 'utf8'), 'for Bob only');
    assert.deepEqual(
      await axeProblems(bob.page),
      [],
      'the chat with files has no serious or critical problem',
    );

    const cy = await openRoom(suite.browser, suite.server.url, 'swap', 'Cy', CHEAP);
    people.push(cy);
    // What was sent before Cy came is not news: no unread badge for it.
    assert.equal(
      await cy.page.locator('button[aria-label^="Chat (C)"]').getAttribute('aria-label'),
      'Chat (C)',
    );
    await openChat(cy.page);
    const dot = fileLine(cy.page, 'dot.png');
    await dot.waitFor({ timeout: NOTICE_MS });
    assert.match(await dot.innerText(), /Ann sent dot\.png/);
    await cy.page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('#call-panel img.chat-preview')?.naturalWidth ?? 0) > 0,
      undefined,
      { timeout: NOTICE_MS },
    );
    assert.equal(await fileLine(cy.page, 'note.txt').count(), 0, 'Cy does not see the file for Bob');
    assert.deepEqual(await roomFiles(cy.page), ['dot.png']);
    assert.deepEqual(unexpected([ann, bob, cy]), []);
  });

  it('shows the server’s refusal of a file over its limit, and nobody gets a file', async () => {
    const dee = await openRoom(suite.browser, suite.server.url, 'limits', 'Dee', CHEAP);
    people.push(dee);
    const eli = await openRoom(suite.browser, suite.server.url, 'limits', 'Eli', CHEAP);
    people.push(eli);
    await openChat(dee.page);
    await openChat(eli.page);
    await dee.page.locator('#call-panel input[type="file"]').setInputFiles({
      name: 'big.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(200 * 1024, 7),
    });

    const refusal = dee.page.locator('#call-panel .chat-problem');
    await refusal.waitFor({ timeout: NOTICE_MS });
    assert.equal((await refusal.innerText()).trim(), 'big.bin is too large for this server (at most 64 KB).');
    assert.deepEqual(
      await axeProblems(dee.page),
      [],
      'the chat with a refusal has no serious or critical problem',
    );
    // The line of the file being sent is gone with the refusal; nobody has a file.
    await dee.page.locator('#call-panel li[data-upload]').waitFor({ state: 'detached', timeout: NOTICE_MS });
    for (const p of [dee, eli]) {
      assert.equal(await p.page.locator('#call-panel li[data-file]').count(), 0, `${p.name} sees no file`);
      assert.deepEqual(await roomFiles(p.page), [], `${p.name}'s room has no file`);
    }
    await refusal.getByRole('button', { name: 'Dismiss' }).click();
    await refusal.waitFor({ state: 'detached', timeout: NOTICE_MS });
    assert.deepEqual(unexpected([dee, eli]), []);
  });

  it('shows a file’s progress while it is sent, and Cancel stops it', async () => {
    const [dee, eli] = people.slice(-2) as [Person, Person];
    // Fay's uplink is slow (a proxy passes 4 KB of what her browser sends a second): her upload lasts
    // long enough to watch and cancel, however fast this machine is.
    const slow = await slowUplink(suite.server.port, 4 * 1024);
    try {
      const fay = await openRoom(suite.browser, slow.url, 'limits', 'Fay', CHEAP);
      people.push(fay);
      await openChat(fay.page);
      await fay.page.locator('#call-panel input[type="file"]').setInputFiles({
        name: 'slow.bin',
        mimeType: 'application/octet-stream',
        buffer: Buffer.alloc(60 * 1024, 9),
      });
      const progress = fay.page.getByRole('progressbar', { name: 'Sending slow.bin' });
      await progress.waitFor({ timeout: NOTICE_MS });
      assert.deepEqual(
        await axeProblems(fay.page),
        [],
        'the chat sending a file has no serious or critical problem',
      );
      await fay.page.waitForFunction(
        () =>
          (document.querySelector<HTMLProgressElement>('#call-panel li[data-upload] progress')?.value ?? 0) >
          0,
        undefined,
        { timeout: NOTICE_MS },
      );
      assert.match(
        await fay.page.locator('#call-panel li[data-upload]').innerText(),
        /Sending slow\.bin \(60 KB\) to everyone/,
      );
      assert.ok(slow.sent() < 60 * 1024, `the server has ${slow.sent()} bytes of the upload so far`);
      await fay.page.getByRole('button', { name: 'Cancel sending slow.bin' }).click();
      await progress.waitFor({ state: 'detached', timeout: NOTICE_MS });
      // A cancel is no failure to report; nobody gets a file, then or later.
      assert.equal(await fay.page.locator('#call-panel .chat-problem').count(), 0);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const p of [dee, eli, fay])
        assert.deepEqual(await roomFiles(p.page), [], `${p.name}'s room has no file`);
      assert.deepEqual(unexpected([dee, eli, fay]), []);
    } finally {
      await slow.close();
    }
  });
});
