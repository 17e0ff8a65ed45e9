/**
 * The room's whiteboard, through the Node SDK and a raw socket: strokes and text reach everyone and a
 * late joiner; one person's undo takes back only their own; two people drawing at once both keep their
 * strokes; a restart keeps the board; a host can make it view-only and clear it; malformed updates, an
 * update past the size limit and a flood of cursor updates are refused or dropped, and the room goes on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as encoding from 'lib0/encoding';
import { writeUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import { Bot } from '../src/bot/Bot.js';
import { connectNode, type Room, ServerError } from '../src/client/node.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

const join_ = (url: string, room: string, name: string) =>
  connectNode({ url, room, name, hostAddresses: LOOPBACK });

/** The board's strokes as the SDK's users keep them: a Y.Array of Y.Maps ({ by, points }). */
const strokes = (room: Room) => room.board.doc.getArray<Y.Map<unknown>>('strokes');
const texts = (room: Room) => room.board.doc.getArray<Y.Map<unknown>>('texts');
const byOf = (room: Room) =>
  strokes(room)
    .toArray()
    .map((s) => s.get('by') as string);

function draw(room: Room, by: string, points: number[]): void {
  room.board.doc.transact(() => {
    const stroke = new Y.Map<unknown>();
    stroke.set('by', by);
    stroke.set('points', points);
    strokes(room).push([stroke]);
  }, room.board.doc.clientID);
}

/** A y-protocols sync update message with `update`, base64, as the SDK sends them. */
function updateMessage(update: Uint8Array): string {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  writeUpdate(encoder, update);
  return Buffer.from(encoding.toUint8Array(encoder)).toString('base64');
}

describe('the whiteboard', () => {
  let t: TestServer;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'port545-board-'));
    t = await startTestServer({ dataDir, rooms: { stateMaxAgeMs: 3_600_000, boardMaxBytes: 64 * 1024 } });
  });
  after(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shares strokes and text, gives a late joiner both, and undoes only one’s own', async () => {
    const ann = await join_(t.url, 'board', 'Ann');
    const bob = await join_(t.url, 'board', 'Bob');
    try {
      const undo = new Y.UndoManager(strokes(ann), { trackedOrigins: new Set([ann.board.doc.clientID]) });
      draw(ann, 'Ann', [10, 10, 50, 50]);
      await eventually('Bob sees Ann’s stroke', () => byOf(bob).join() === 'Ann');
      bob.board.doc.transact(() => {
        const text = new Y.Map<unknown>();
        text.set('text', 'hello');
        texts(bob).push([text]);
      });
      draw(bob, 'Bob', [5, 5, 9, 9]);
      const cy = await join_(t.url, 'board', 'Cy');
      await eventually(
        'Cy, who came late, sees both strokes and the text',
        () => byOf(cy).sort().join() === 'Ann,Bob' && texts(cy).get(0)?.get('text') === 'hello',
      );
      undo.undo();
      await eventually('Ann’s undo took back her stroke only, for everyone', () =>
        [ann, bob, cy].every((r) => byOf(r).join() === 'Bob'),
      );
      undo.destroy();

      // Two people drawing at the same moment both keep their strokes.
      for (let i = 0; i < 10; i++) {
        draw(ann, 'Ann', [i, i]);
        draw(cy, 'Cy', [i, -i]);
      }
      await eventually('everyone has all 21 strokes', () =>
        [ann, bob, cy].every((r) => strokes(r).length === 21),
      );
      const counts = (r: Room) => byOf(r).filter((b) => b === 'Cy').length;
      assert.equal(counts(bob), 10);
      await cy.leave();
    } finally {
      await bob.leave();
      await ann.leave();
    }
  });

  it('shows who draws where, and takes their cursor away when they leave', async () => {
    const ann = await join_(t.url, 'cursors', 'Ann');
    const bob = await join_(t.url, 'cursors', 'Bob');
    try {
      ann.board.setPresence({ name: 'Ann', color: '#e33', cursor: { x: 120, y: 80 } });
      const cursorOf = (r: Room, name: string) =>
        [...r.board.awareness.getStates().values()].find((s) => s.name === name)?.cursor as
          | { x: number; y: number }
          | undefined;
      await eventually('Bob sees Ann’s cursor', () => cursorOf(bob, 'Ann')?.x === 120);
      await ann.leave();
      await eventually('Ann’s cursor goes with her', () => cursorOf(bob, 'Ann') === undefined);
    } finally {
      await bob.leave();
      await ann.leave();
    }
  });

  it('lets a host make it view-only and clear it', async () => {
    const host = await join_(t.url, 'locked', 'Hana');
    const guest = await join_(t.url, 'locked', 'Ivo');
    try {
      await host.lockBoard(true);
      await eventually('the guest knows', () => guest.roomState.boardLocked === true);
      const refused = new Promise<Error>((resolve) => guest.on('error', resolve));
      draw(guest, 'Ivo', [1, 2]);
      const error = await refused;
      assert.ok(error instanceof ServerError && error.code === 'BOARD_READ_ONLY', String(error));
      draw(host, 'Hana', [3, 4]);
      await eventually('the host still draws', () => byOf(guest).includes('Hana'));
      assert.ok(!byOf(host).includes('Ivo'), 'the guest’s stroke reached nobody');
      await assert.rejects(
        guest.clearBoard(),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      await host.clearBoard();
      await eventually(
        'the board is empty for everyone',
        () => strokes(host).length === 0 && strokes(guest).length === 0,
      );
      await host.lockBoard(false);
      draw(guest, 'Ivo', [5, 6]);
      await eventually('the guest draws again', () => byOf(host).join() === 'Ivo');
    } finally {
      await guest.leave();
      await host.leave();
    }
  });

  it('refuses what is not an update and what would pass the limit; a cursor flood changes nothing', async () => {
    const ann = await join_(t.url, 'edges', 'Ann');
    const raw = await RawClient.open(t.url);
    try {
      raw.send({ type: 'join', v: 1, room: 'edges', name: 'Raw', rid: 1 });
      await raw.next((m) => m.type === 'joined');
      let reply = await raw.expectError({ type: 'board', data: 'not base64!', rid: 2 });
      assert.equal(reply.code, 'INVALID_MESSAGE');
      reply = await raw.expectError({
        type: 'board',
        data: Buffer.from([7, 7, 7]).toString('base64'),
        rid: 3,
      });
      assert.equal(reply.code, 'INVALID_BOARD_UPDATE');
      reply = await raw.expectError({
        type: 'board',
        data: updateMessage(Buffer.from('garbage that is no update')),
        rid: 4,
      });
      assert.equal(reply.code, 'INVALID_BOARD_UPDATE');
      // 100 KB of text on a board of at most 64 KiB.
      const big = new Y.Doc();
      big.getText('t').insert(0, 'x'.repeat(100_000));
      reply = await raw.expectError({
        type: 'board',
        data: updateMessage(Y.encodeStateAsUpdate(big)),
        rid: 5,
      });
      assert.equal(reply.code, 'BOARD_FULL');

      // 600 presence updates as fast as they go: the server keeps at most 30 a second of them.
      let heard = 0;
      ann.board.on('presence', () => heard++);
      const bob = await join_(t.url, 'edges', 'Bob');
      for (let i = 0; i < 600; i++)
        bob.board.setPresence({ name: 'Bob', color: '#33e', cursor: { x: i, y: i } });
      // The SDK merges its own into one message per 50 ms; a raw flood goes past that.
      const doc = new Y.Doc();
      const { Awareness, encodeAwarenessUpdate } = await import('y-protocols/awareness');
      const awareness = new Awareness(doc);
      const started = Date.now();
      for (let i = 0; i < 600; i++) {
        awareness.setLocalState({ name: 'Raw', cursor: { x: i, y: 0 } });
        const encoder = encoding.createEncoder();
        encoding.writeVarUint(encoder, 1);
        encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(awareness, [doc.clientID]));
        raw.send({ type: 'board', data: Buffer.from(encoding.toUint8Array(encoder)).toString('base64') });
        if (i % 40 === 39) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      awareness.destroy();
      // The room still works: a stroke goes through, and Ann heard far fewer than 600 presence updates.
      draw(ann, 'Ann', [1, 1]);
      await eventually('Bob gets Ann’s stroke after the flood', () => byOf(bob).includes('Ann'));
      const seconds = (Date.now() - started) / 1000;
      assert.ok(heard < 600, `Ann heard ${heard} presence updates in ${seconds.toFixed(1)} s`);
      assert.ok(
        raw.closeCode === undefined || raw.closeCode === 1008,
        'a flood is refused or dropped, never a crash',
      );
      await bob.leave();
    } finally {
      raw.close();
      await ann.leave();
    }
  });

  it('lets people draw over a shared screen, and its presenter turn that off and clear it', async () => {
    const host = await join_(t.url, 'annotate', 'Hana');
    const pia = await Bot.start({ url: t.url, room: 'annotate', name: 'Pia', hostAddresses: LOOPBACK });
    const viewer = await join_(t.url, 'annotate', 'Vic');
    const presenter = pia.room;
    const layer = (room: Room) => room.board.annotation(presenter.participantId);
    const authors = (room: Room) =>
      layer(room)
        .toArray()
        .map((s) => s.get('by') as string)
        .sort()
        .join();
    const mark = (room: Room, by: string) =>
      room.board.doc.transact(() => {
        const stroke = new Y.Map<unknown>();
        stroke.set('kind', 'stroke');
        stroke.set('by', by);
        stroke.set('points', [100, 100, 400, 300]);
        layer(room).push([stroke]);
      }, room.board.doc.clientID);
    try {
      await pia.shareScreen();
      mark(viewer, 'Vic');
      await eventually(
        'the presenter and the host see the viewer’s drawing over the screen',
        () => authors(presenter) === 'Vic' && authors(host) === 'Vic',
      );
      await presenter.allowAnnotation(false);
      await eventually('everyone knows only the presenter draws there now', () =>
        [host, viewer].every((r) => r.roomState.annotationOff?.join() === presenter.participantId),
      );
      mark(viewer, 'Vic');
      mark(presenter, 'Pia');
      await eventually('the viewer’s new drawing was taken back for everyone; the presenter’s stays', () =>
        [host, viewer, presenter].every((r) => authors(r) === 'Pia,Vic'),
      );
      await assert.rejects(
        viewer.allowAnnotation(true, presenter.participantId),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      await assert.rejects(
        viewer.clearAnnotation(presenter.participantId),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
      );
      await host.allowAnnotation(true, presenter.participantId);
      await eventually('a host opened it again', () => viewer.roomState.annotationOff === undefined);
      mark(viewer, 'Vic');
      await eventually('the viewer draws there again', () => authors(host) === 'Pia,Vic,Vic');
      await presenter.clearAnnotation();
      await eventually('the presenter cleared it for everyone', () =>
        [host, viewer, presenter].every((r) => layer(r).length === 0),
      );
      mark(viewer, 'Vic');
      await eventually('one more drawing is there', () => authors(host) === 'Vic');
      await presenter.allowAnnotation(false);
      await pia.stopScreen();
      await eventually(
        'the share ended: its drawings went, and annotation is allowed again',
        () =>
          [host, viewer].every((r) => layer(r).length === 0) && host.roomState.annotationOff === undefined,
      );
      // The board itself was never touched.
      assert.equal(strokes(host).length, 0);
    } finally {
      await viewer.leave();
      await pia.stop();
      await host.leave();
    }
  });

  it('keeps the board across a restart', async () => {
    const ann = await join_(t.url, 'kept', 'Ann');
    draw(ann, 'Ann', [7, 7, 8, 8]);
    await eventually('the stroke reached the server', () => t.server !== undefined && byOf(ann).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The server stops to restart with Ann still in the room (a room that ends takes its board with it).
    await t.close();
    await ann.leave().catch(() => {});
    t = await startTestServer({ dataDir, rooms: { stateMaxAgeMs: 3_600_000, boardMaxBytes: 64 * 1024 } });
    const back = await join_(t.url, 'kept', 'Ann');
    try {
      await eventually('the stroke is back', () => byOf(back).join() === 'Ann');
    } finally {
      await back.leave();
    }
  });
});
