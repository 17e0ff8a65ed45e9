import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { verifyAccessToken } from '../auth/accessToken.js';
import { checkApiKey } from '../auth/apiKey.js';
import { bearerToken } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import {
  deleteRecording,
  listRecordings,
  RECORDING_ID,
  type RecordingMeta,
  readMeta,
  recordingFiles,
} from '../recording/store.js';
import { ADMIN_PREFIX } from './adminApi.js';

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  json: 'application/json',
  png: 'image/png',
  pdf: 'application/pdf',
};

/** Which rooms' recordings a request may see: every room (the API key), or one (a host's access token). */
type Access = { all: true } | { all: false; room: string };

/**
 * Recordings through the admin API, answered on the main thread straight from the data directory (a
 * movie is not copied through a worker's messages): list, one recording with its files, download, delete.
 * Besides the API key, a host's access token opens its own room's recordings (a token for `*` every room's);
 * another room's recording is refused with RECORDING_OF_OTHER_ROOM. Ids are checked against their form
 * before they name a folder, and file names against the recording's own list.
 */
export function registerRecordingsApi(app: FastifyInstance, config: Config): void {
  const dataDir = config.dataDir;

  async function access(request: FastifyRequest): Promise<Access> {
    const presented = bearerToken(request.headers.authorization);
    const secret = config.auth.apiSecret;
    // A port545 access token is a JWT (three dot-separated parts); anything else is taken as an API key.
    if (presented && secret && presented.split('.').length === 3) {
      const claims = await verifyAccessToken(secret, presented, undefined);
      if (claims.role !== 'host') throw new CodedError('NOT_HOST', 'Only a host token opens recordings');
      return claims.room === '*' ? { all: true } : { all: false, room: claims.room };
    }
    checkApiKey(config, request.headers.authorization);
    return { all: true };
  }

  async function recording(request: FastifyRequest, id: string): Promise<RecordingMeta> {
    const allowed = await access(request);
    if (!RECORDING_ID.test(id)) throw new CodedError('INVALID_RECORDING_ID');
    const meta = await readMeta(dataDir, id);
    if (!meta) throw new CodedError('RECORDING_NOT_FOUND');
    if (!allowed.all && allowed.room !== meta.room) throw new CodedError('RECORDING_OF_OTHER_ROOM');
    return meta;
  }

  app.register(
    async (api) => {
      api.addHook('onRequest', async (_request, reply) => {
        reply.header('Cache-Control', 'no-store');
      });

      api.get<{ Querystring: { room?: string } }>('/recordings', async (request) => {
        const allowed = await access(request);
        const room = allowed.all ? request.query.room : allowed.room;
        if (room !== undefined && (typeof room !== 'string' || room.length > 256))
          throw new CodedError('BAD_REQUEST', 'room: not a room name');
        return { recordings: await listRecordings(dataDir, room) };
      });

      api.get<{ Params: { id: string } }>('/recordings/:id', async (request) => {
        const meta = await recording(request, request.params.id);
        const files = await recordingFiles(dataDir, meta.id);
        return { ...meta, files: files.map(({ name, bytes }) => ({ name, bytes })) };
      });

      api.get<{ Params: { id: string; name: string } }>(
        '/recordings/:id/files/:name',
        async (request, reply) => {
          const meta = await recording(request, request.params.id);
          const file = (await recordingFiles(dataDir, meta.id)).find((f) => f.name === request.params.name);
          if (!file)
            throw new CodedError(
              'RECORDING_NOT_FOUND',
              `The recording has no file "${request.params.name.slice(0, 64)}"`,
            );
          const ext = file.name.slice(file.name.lastIndexOf('.') + 1);
          const room = meta.room.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
          return reply
            .header('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream')
            .header('Content-Length', file.bytes)
            .header('Content-Disposition', `attachment; filename="${room}-${meta.id}-${file.name}"`)
            .header('X-Content-Type-Options', 'nosniff')
            .header('Content-Security-Policy', "sandbox; default-src 'none'")
            .send(createReadStream(file.path));
        },
      );

      api.delete<{ Params: { id: string } }>('/recordings/:id', async (request, reply) => {
        const meta = await recording(request, request.params.id);
        if (meta.state === 'recording' || meta.state === 'processing') throw new CodedError('RECORDING_BUSY');
        await deleteRecording(dataDir, meta.id);
        return reply.status(204).send();
      });
    },
    { prefix: ADMIN_PREFIX },
  );
}
