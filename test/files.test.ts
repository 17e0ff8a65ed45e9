/**
 * Sending files in a room: a 20 MB file arrives byte for byte; a file for one person reaches only them;
 * someone not in the room gets nothing; HTML and SVG are served as attachments that no browser renders;
 * a file over the limit is refused while it is still being sent; a dropped upload leaves nothing; and
 * when the room ends, so do its files.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectNode, type Room, ServerError } from '../src/client/node.js';
import { roomFilesDir } from '../src/files/paths.js';
import type { SharedFile } from '../src/protocol/messages.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { startUpload } from './helpers/upload.js';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const join_ = (url: string, room: string, name: string) =>
  connectNode({ url, room, name, hostAddresses: LOOPBACK });
const refusedWith = (code: string) => (error: unknown) => error instanceof ServerError && error.code === code;

describe('files in a room', () => {
  let t: TestServer;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-files-'));
    t = await startTestServer({
      dataDir,
      files: { maxBytes: 24 * 1024 ** 2, roomMaxBytes: 40 * 1024 ** 2 },
    });
  });
  after(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends a 20 MB file that arrives byte for byte; a newcomer finds it', async () => {
    const ann = await join_(t.url, 'share', 'Ann');
    const bob = await join_(t.url, 'share', 'Bob');
    try {
      const data = randomBytes(20 * 1024 ** 2);
      const heard = new Promise<SharedFile>((resolve) => bob.on('file', resolve));
      const sent = await ann.sendFile(data, 'holiday photos.zip');
      assert.equal(sent.size, data.length);
      assert.equal(sent.fromName, 'Ann');
      const told = await heard;
      assert.equal(told.id, sent.id);
      const got = await bob.downloadFile(told);
      assert.equal(sha256(got), sha256(data), 'the same bytes');
      const cy = await join_(t.url, 'share', 'Cy');
      assert.deepEqual(
        cy.files.map((f) => f.name),
        ['holiday photos.zip'],
      );
      await cy.leave();
    } finally {
      await bob.leave();
      await ann.leave();
    }
  });

  it('gives a file for one person to them alone, and nothing to anyone outside the room', async () => {
    const ann = await join_(t.url, 'private', 'Ann');
    const bob = await join_(t.url, 'private', 'Bob');
    const cy = await join_(t.url, 'private', 'Cy');
    const outsider = await join_(t.url, 'elsewhere', 'Eve');
    try {
      let cyHeard = 0;
      cy.on('file', () => cyHeard++);
      const heard = new Promise<SharedFile>((resolve) => bob.on('file', resolve));
      const note = await ann.sendFile(Buffer.from('for Bob only'), 'note.txt', { to: bob.participantId });
      assert.equal((await heard).id, note.id);
      assert.equal(Buffer.from(await bob.downloadFile(note)).toString(), 'for Bob only');
      assert.equal(Buffer.from(await ann.downloadFile(note)).toString(), 'for Bob only', 'its sender has it');
      await assert.rejects(cy.downloadFile(note), refusedWith('FILE_NOT_FOUND'));
      assert.equal(cyHeard, 0, 'Cy was not told');
      assert.deepEqual(cy.files, []);
      // Someone in another room, with a good token for that room, and nobody at all.
      const outsiders = outsider as unknown as Room;
      const other = await fetch(`${t.url}/rooms/private/files/${note.id}`, {
        headers: { authorization: `Bearer ${outsiders.fileToken}` },
      });
      assert.equal(other.status, 403);
      assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'NOT_A_MEMBER');
      const bare = await fetch(`${t.url}/rooms/private/files/${note.id}`);
      assert.equal(bare.status, 403);
      const guessed = await fetch(`${t.url}/rooms/private/files/..%2F..%2Fetc%2Fpasswd`, {
        headers: { authorization: `Bearer ${bob.fileToken}` },
      });
      assert.equal(guessed.status, 404);
      await assert.rejects(
        ann.sendFile(Buffer.from('x'), 'x.txt', { to: 'PA_nobody' }),
        refusedWith('PARTICIPANT_NOT_FOUND'),
      );
      await assert.rejects(
        ann.sendFile(Buffer.from('x'), '../../etc/passwd'),
        refusedWith('INVALID_FILE_NAME'),
      );
    } finally {
      for (const r of [outsider, cy, bob, ann]) await r.leave();
    }
  });

  it('serves HTML and SVG as attachments that never render; an image keeps its type', async () => {
    const ann = await join_(t.url, 'types', 'Ann');
    const bob = await join_(t.url, 'types', 'Bob');
    try {
      const page = await ann.sendFile(Buffer.from('<html><script>alert(1)</script></html>'), 'page.html');
      const svg = await ann.sendFile(
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>',
        ),
        'drawing.svg',
      );
      // A PNG's magic bytes, named as if it were text: its type comes from what it is.
      const png = Buffer.concat([
        Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
        Buffer.from('000000010000000108060000001f15c489', 'hex'),
      ]);
      const image = await ann.sendFile(png, 'looks-like.txt');
      assert.equal(image.type, 'image/png');
      for (const file of [page, svg]) {
        const response = await fetch(`${t.url}/rooms/types/files/${file.id}`, {
          headers: { authorization: `Bearer ${bob.fileToken}` },
        });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'application/octet-stream', file.name);
        assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="/);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        assert.match(response.headers.get('content-security-policy') ?? '', /sandbox/);
      }
      const shown = await fetch(`${t.url}/rooms/types/files/${image.id}`, {
        headers: { authorization: `Bearer ${bob.fileToken}` },
      });
      assert.equal(shown.headers.get('content-type'), 'image/png');
      assert.match(shown.headers.get('content-disposition') ?? '', /^attachment/);
    } finally {
      await bob.leave();
      await ann.leave();
    }
  });

  it('refuses a file over the limit while it is still being sent, and forgets a dropped upload', async () => {
    const ann = await join_(t.url, 'limits', 'Ann');
    const bob = await join_(t.url, 'limits', 'Bob');
    try {
      let announced = 0;
      bob.on('file', () => announced++);
      // 30 MB said, 256 KiB sent: the refusal comes with 29+ MB still unsent.
      const tooBig = await startUpload(
        `${t.url}/rooms/limits/files?name=big.bin`,
        ann.fileToken,
        30 * 1024 ** 2,
        256 * 1024,
      );
      assert.equal(tooBig.status, 413);
      assert.equal(JSON.parse(tooBig.body).error.code, 'FILE_TOO_LARGE');
      assert.ok(tooBig.bytesSentBeforeReply < 30 * 1024 ** 2);
      tooBig.destroy();

      // A dropped upload: 5 of 20 MB, then the connection goes.
      const dropped = new Promise<void>((resolve) => {
        const req = request(`${t.url}/rooms/limits/files?name=half.bin`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ann.fileToken}`, 'content-length': String(20 * 1024 ** 2) },
        });
        req.on('error', () => resolve());
        req.write(randomBytes(5 * 1024 ** 2), () => setTimeout(() => req.destroy(), 200));
        req.on('close', () => resolve());
      });
      await dropped;
      const dir = roomFilesDir(dataDir, 'limits');
      await eventually('the partial file is gone', () => !existsSync(dir) || readdirSync(dir).length === 0);
      // Its reservation was given back: the room's 40 MB still take two files of 19 MB.
      await ann.sendFile(randomBytes(19 * 1024 ** 2), 'one.bin');
      await ann.sendFile(randomBytes(19 * 1024 ** 2), 'two.bin');
      await eventually('both announced', () => announced === 2);
      // A third does not fit in the room: refused before a byte is sent.
      const full = await startUpload(
        `${t.url}/rooms/limits/files?name=big.bin`,
        ann.fileToken,
        5 * 1024 ** 2,
        0,
      );
      assert.equal(full.status, 413);
      assert.equal(JSON.parse(full.body).error.code, 'ROOM_FILES_FULL');
      full.destroy();
      assert.equal(announced, 2, 'nothing else was announced');
    } finally {
      await bob.leave();
      await ann.leave();
    }
  });

  it('ends the files with the room', async () => {
    const ann = await join_(t.url, 'brief', 'Ann');
    const file = await ann.sendFile(Buffer.from('gone soon'), 'brief.txt');
    const token = ann.fileToken;
    const dir = roomFilesDir(dataDir, 'brief');
    assert.ok(existsSync(dir));
    await ann.leave();
    // The test server closes an empty room after 500 ms.
    await eventually('the room’s files are deleted', () => !existsSync(dir));
    const after = await fetch(`${t.url}/rooms/brief/files/${file.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(after.status, 403);
  });
});
