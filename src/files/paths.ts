import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';

/**
 * Where the files people send in a room are kept: `<dataDir>/files/<SHA-256 of the room name>/<id>`, for
 * the room's lifetime (the folder goes when the room closes, and at start). Ids are 128 random bits and
 * are checked against `FILE_ID` before they name anything on disk.
 */
export const FILE_ID = /^FI_[A-Za-z0-9_-]{22}$/;

export const newFileId = () => `FI_${randomBytes(16).toString('base64url')}`;

export const filesRoot = (dataDir: string) => join(dataDir, 'files');

export function roomFilesDir(dataDir: string, room: string): string {
  return join(filesRoot(dataDir), createHash('sha256').update(room).digest('hex'));
}

/** The path of file `id` of `room`; throws for anything that is not a file id. */
export function sharedFilePath(dataDir: string, room: string, id: string): string {
  if (!FILE_ID.test(id)) throw new Error(`not a file id: ${id.slice(0, 40)}`);
  return join(roomFilesDir(dataDir, room), id);
}
