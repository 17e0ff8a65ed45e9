import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fileTypeFromFile } from 'file-type';
import { bearerToken } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { FILE_ID, roomFilesDir, sharedFilePath } from '../files/paths.js';
import { parseRoomName as room } from '../gateways/httpGateway.js';
import type { RoomHost } from '../host/RoomHost.js';
import { UNSAFE_TEXT } from '../protocol/messages.js';
import { BOARD_EXPORT_NAME, BOARD_EXPORTS, recordingDir } from '../recording/store.js';

/** What the HTTP door needs of the rooms: their files' bookkeeping, wherever the room runs. */
export type FilesDoor = Pick<
  RoomHost,
  'reserveFile' | 'completeFile' | 'releaseFile' | 'fileFor' | 'recordingFor'
>;

/** Types a browser may show inline (image previews); anything else is served as bytes to save. */
const SHOWN_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const MAX_NAME_CHARS = 255;
/** A whiteboard export put into a recording at most, in bytes, and how many one recording keeps. */
export const MAX_BOARD_EXPORT_BYTES = 32 * 1024 ** 2;
export const MAX_BOARD_EXPORTS = 100;

/**
 * A file name as a person gave it: 1–255 characters, no control characters or ones that reorder text
 * (a name that shows as "photo.jpg" but is "gpj.exe"), no path separators.
 */
function fileName(raw: unknown): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  const bad = !name || [...name].length > MAX_NAME_CHARS || UNSAFE_TEXT.test(name) || /[/\\]/.test(name);
  if (bad || name === '.' || name === '..') throw new CodedError('INVALID_FILE_NAME');
  return name;
}

function token(request: FastifyRequest): string {
  const presented = bearerToken(request.headers.authorization);
  if (!presented)
    throw new CodedError('NOT_A_MEMBER', 'Send your file token: Authorization: Bearer <joined.fileToken>');
  return presented;
}

/** `Content-Disposition: attachment` with the name as ASCII and, for the rest, RFC 8187's UTF-8 form. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** The Content-Length a body must have, within `limit` (LENGTH_REQUIRED, FILE_TOO_LARGE). */
function declaredLength(request: FastifyRequest, limit: number, what: string): number {
  const length = Number(request.headers['content-length']);
  if (request.headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0)
    throw new CodedError('LENGTH_REQUIRED');
  if (length > limit)
    throw new CodedError(
      'FILE_TOO_LARGE',
      `The ${what} is ${length} bytes; this server takes at most ${limit}`,
    );
  return length;
}

/** What a whiteboard export is, from its first bytes: PNG, PDF or SVG (anything else is refused). */
async function exportKind(path: string): Promise<'png' | 'pdf' | 'svg'> {
  const detected = (await fileTypeFromFile(path).catch(() => undefined))?.ext;
  if (detected === 'png' || detected === 'pdf') return detected;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead).toString('utf8');
    if (/^\s*(<\?xml[^>]{0,200}\?>\s*)?<svg[\s>]/.test(text)) return 'svg';
  } finally {
    await handle.close();
  }
  throw new CodedError('INVALID_EXPORT');
}

/**
 * The client went away mid-upload: nobody is there to answer. (Not `request.raw.destroyed`: a body read
 * to its end is destroyed too, and its sender still waits for the answer.)
 */
function connectionGone(request: FastifyRequest): boolean {
  return request.raw.aborted || request.raw.socket?.destroyed !== false;
}

/** Counts what passes and fails past `limit` bytes (a body longer than its Content-Length said). */
function byteCounter(limit: number): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      if (counter.bytes > limit)
        callback(new CodedError('BAD_REQUEST', 'The body is longer than its Content-Length'));
      else callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

/** Writes the request's body to a new file `path`: exactly `size` bytes, or UPLOAD_INCOMPLETE. */
async function receiveBody(request: FastifyRequest, size: number, path: string): Promise<void> {
  const counter = byteCounter(size);
  const body = (request.body as Readable | undefined) ?? null;
  if (body) await pipeline(body, counter, createWriteStream(path, { flags: 'wx' }));
  if (counter.bytes !== size)
    throw new CodedError('UPLOAD_INCOMPLETE', `${counter.bytes} of the ${size} bytes came`);
}

/** What an upload that failed is answered with: its coded error, or UPLOAD_INCOMPLETE. */
const asUploadError = (error: unknown): CodedError =>
  error instanceof CodedError ? error : new CodedError('UPLOAD_INCOMPLETE', (error as Error).message);

/**
 * The room's files over HTTP, on the main thread, which streams the bytes to and from the data directory
 * while the room's host keeps the books (`FilesDoor`, wherever the room runs):
 *
 * - `POST /rooms/:room/files?name=<name>[&to=<participant id>]`, the bytes as the body with a
 *   Content-Length, `Authorization: Bearer <joined.fileToken>`. The size is checked against the limits
 *   and reserved before a byte is read (FILE_TOO_LARGE, ROOM_FILES_FULL: the sender hears it while still
 *   sending); a body that ends early or runs long is deleted and its reservation given back. The type is
 *   found from the content (file-type), never taken from the sender. `201` with the file; everyone it is
 *   for hears `file`.
 * - `GET /rooms/:room/files/:id`, with the file token of someone in the room it is for: always an
 *   attachment, `nosniff`, a sandboxing CSP, and a type that no browser renders as a page.
 */
export function registerFilesApi(app: FastifyInstance, config: Config, door: FilesDoor): void {
  const { dataDir } = config;
  app.register(async (scope) => {
    // The body is the file: the route streams it to disk itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.post<{ Params: { room: string }; Querystring: { name?: string; to?: string } }>(
      '/rooms/:room/files',
      {
        // Refused before the body is read: the sender learns it at once, not after sending it all.
        onRequest: async (request) => {
          // Bytes are bytes: without a type Fastify would not hand the body to the parser above.
          request.headers['content-type'] ??= 'application/octet-stream';
          if (!config.files.enabled) throw new CodedError('FILES_DISABLED');
          token(request);
          declaredLength(request, config.files.maxBytes, 'file');
        },
      },
      async (request, reply) => {
        const name = room(request.params.room);
        const size = Number(request.headers['content-length']);
        const to = request.query.to;
        const file = await door.reserveFile({
          room: name,
          token: token(request),
          name: fileName(request.query.name),
          size,
          ...(typeof to === 'string' && to !== '' ? { to: to.slice(0, 64) } : {}),
        });
        const dir = roomFilesDir(dataDir, name);
        const path = sharedFilePath(dataDir, name, file.id);
        const part = `${path}.part`;
        try {
          await mkdir(dir, { recursive: true });
          await receiveBody(request, size, part);
          const type =
            (await fileTypeFromFile(part).catch(() => undefined))?.mime ?? 'application/octet-stream';
          await rename(part, path);
          const done = await door.completeFile(name, file.id, type);
          return reply.status(201).header('Cache-Control', 'no-store').send(done);
        } catch (error) {
          await rm(part, { force: true });
          await rm(path, { force: true });
          await door.releaseFile(name, file.id);
          // A connection that went away mid-upload has nobody to answer.
          if (connectionGone(request)) return reply.hijack();
          throw asUploadError(error);
        }
      },
    );

    // A whiteboard export (PNG, SVG, PDF) from someone in a room being recorded, kept beside its movie.
    scope.post<{ Params: { room: string } }>(
      '/rooms/:room/board/exports',
      {
        onRequest: async (request) => {
          request.headers['content-type'] ??= 'application/octet-stream';
          token(request);
          declaredLength(request, MAX_BOARD_EXPORT_BYTES, 'export');
        },
      },
      async (request, reply) => {
        const name = room(request.params.room);
        const size = Number(request.headers['content-length']);
        const recording = await door.recordingFor(name, token(request));
        const dir = join(recordingDir(dataDir, recording), BOARD_EXPORTS);
        await mkdir(dir, { recursive: true });
        const kept = (await readdir(dir)).filter((f) => BOARD_EXPORT_NAME.test(f));
        if (kept.length >= MAX_BOARD_EXPORTS) throw new CodedError('TOO_MANY_EXPORTS');
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const part = join(dir, `.upload-${stamp}-${process.hrtime.bigint()}.part`);
        try {
          await receiveBody(request, size, part);
          const kind = await exportKind(part);
          const file = `board-${stamp}-${String(kept.length + 1).padStart(3, '0')}.${kind}`;
          await rename(part, join(dir, file));
          return reply.status(201).header('Cache-Control', 'no-store').send({ name: file, bytes: size });
        } catch (error) {
          await rm(part, { force: true });
          if (connectionGone(request)) return reply.hijack();
          throw asUploadError(error);
        }
      },
    );

    scope.get<{ Params: { room: string; id: string } }>('/rooms/:room/files/:id', async (request, reply) => {
      const name = room(request.params.room);
      if (!FILE_ID.test(request.params.id)) throw new CodedError('FILE_NOT_FOUND');
      const file = await door.fileFor(name, token(request), request.params.id);
      const path = sharedFilePath(dataDir, name, file.id);
      const { size } = await stat(path).catch(() => {
        throw new CodedError('FILE_NOT_FOUND');
      });
      return reply
        .header('Content-Type', SHOWN_TYPES.has(file.type) ? file.type : 'application/octet-stream')
        .header('Content-Length', size)
        .header('Content-Disposition', attachment(file.name))
        .header('X-Content-Type-Options', 'nosniff')
        .header('Content-Security-Policy', "sandbox; default-src 'none'")
        .header('Cache-Control', 'private, no-store')
        .send(createReadStream(path));
    });
  });
}
