import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';

/** A temporary file beside `path`, unique to this process and moment. */
const temporaryFor = (path: string) => `${path}.${process.pid}.${process.hrtime.bigint()}.tmp`;

/**
 * Writes `path` atomically: a temporary file beside it, renamed over it, so a reader (or a restart after
 * a kill) finds the old content or the new, never half of one. The temporary file goes if it fails.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o600): void {
  const temporary = temporaryFor(path);
  try {
    writeFileSync(temporary, data, { mode });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** `writeFileAtomicSync`, without blocking the thread. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temporary = temporaryFor(path);
  try {
    await writeFile(temporary, data, { mode });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
