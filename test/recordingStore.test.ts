/**
 * The recordings folder's housekeeping: recordings past their retention are deleted, and at start a
 * recording a crash cut short is marked `interrupted` (its files kept); names that are not recording ids
 * name nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  listRecordings,
  newRecordingId,
  type RecordingMeta,
  readMeta,
  recordingsDir,
  sweepRecordings,
  writeMeta,
} from '../src/recording/store.js';

const DAY_MS = 86_400_000;

function meta(room: string, state: RecordingMeta['state'], ageDays: number): RecordingMeta {
  return {
    v: 1,
    id: newRecordingId(),
    room,
    state,
    startedAt: new Date(Date.now() - ageDays * DAY_MS).toISOString(),
    startedBy: 'admin',
    bytes: 0,
    tracks: 0,
  };
}

describe('the recordings folder', () => {
  it('deletes what is past the retention and marks what a crash cut short', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'port545-recstore-'));
    try {
      const old = meta('a', 'ready', 40);
      const recent = meta('a', 'ready', 2);
      const cut = meta('b', 'recording', 0.01);
      const finishing = meta('b', 'processing', 0.01);
      for (const m of [old, recent, cut, finishing]) await writeMeta(dataDir, m);
      // Not recordings: a stray folder, and a folder named like a path trick.
      mkdirSync(join(recordingsDir(dataDir), 'not-a-recording'));
      writeFileSync(join(recordingsDir(dataDir), 'RE_..'), '');

      // An hourly sweep deletes by age only (a recording in progress is some thread's).
      assert.deepEqual(await sweepRecordings(dataDir, 30, false), { interrupted: 0, deleted: 1 });
      assert.equal(await readMeta(dataDir, old.id), undefined);
      assert.equal((await readMeta(dataDir, cut.id))?.state, 'recording');
      // At start nothing is being recorded: what says so was cut short.
      assert.deepEqual(await sweepRecordings(dataDir, 30, true), { interrupted: 2, deleted: 0 });
      assert.equal((await readMeta(dataDir, cut.id))?.state, 'interrupted');
      assert.equal((await readMeta(dataDir, finishing.id))?.state, 'interrupted');
      assert.equal((await readMeta(dataDir, recent.id))?.state, 'ready');

      assert.deepEqual(
        (await listRecordings(dataDir, 'b')).map((m) => m.id).sort(),
        [cut.id, finishing.id].sort(),
      );
      assert.equal((await listRecordings(dataDir)).length, 3);
      // Retention 0 keeps everything.
      assert.deepEqual(await sweepRecordings(dataDir, 0, false), { interrupted: 0, deleted: 0 });
      for (const trick of ['../../etc', 'RE_..', `${recent.id}/..`, ''])
        assert.equal(await readMeta(dataDir, trick), undefined);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
