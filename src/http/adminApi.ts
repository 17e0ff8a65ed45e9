import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createAccessToken, MAX_TOKEN_TTL_SECONDS, parseTtl } from '../auth/accessToken.js';
import { checkApiKey } from '../auth/apiKey.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { displayName, participantRole, roomName } from '../protocol/messages.js';
import type { Participant } from '../room/Participant.js';
import type { Room } from '../room/Room.js';
import type { RoomRegistry } from '../room/RoomRegistry.js';

export const ADMIN_PREFIX = '/api/v1';

const tokenBody = z
  .object({
    room: z.union([roomName, z.literal('*')]),
    identity: z.string().min(1).max(128),
    name: displayName.optional(),
    role: participantRole.default('guest'),
    canPublish: z.boolean().default(true),
    /** Seconds, or a duration such as "1h". */
    ttl: z.union([z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS), z.string().max(16)]).default('1h'),
  })
  .strict();
const muteBody = z.object({ trackId: z.string().min(1).max(64).optional() }).strict();

function parse<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new CodedError('BAD_REQUEST', `${what}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
}

function participantView(p: Participant) {
  return {
    id: p.id,
    name: p.name,
    identity: p.identity ?? null,
    role: p.role,
    canPublish: p.canPublish,
    state: p.state,
    joinedAt: new Date(p.joinedAt).toISOString(),
    tracks: [...p.tracks.values()].map(({ info, track }) => ({
      ...info,
      paused: track.paused,
      stalled: track.stalled,
    })),
  };
}

function roomView(room: Room) {
  return {
    name: room.name,
    participants: room.participants.size,
    stalledTracks: room.stalledTracks,
    ...room.access.state,
    createdAt: new Date(room.createdAt).toISOString(),
  };
}

/**
 * The admin HTTP API (docs/api.md): rooms and participants, removal, ending a room, and access tokens.
 * Every route needs `Authorization: Bearer <API key>`; without a configured key the API is off.
 */
export function registerAdminApi(app: FastifyInstance, config: Config, registry: RoomRegistry): void {
  app.register(
    async (api) => {
      api.addHook('onRequest', async (request, reply) => {
        reply.header('Cache-Control', 'no-store');
        try {
          checkApiKey(config, request.headers.authorization);
        } catch (error) {
          if (error instanceof CodedError && error.status === 401) reply.header('WWW-Authenticate', 'Bearer');
          throw error;
        }
      });

      const roomOf = (name: string): Room => {
        const room = registry.rooms.get(name);
        if (!room || room.closed) throw new CodedError('ROOM_NOT_FOUND', `No room "${name.slice(0, 64)}"`);
        return room;
      };

      api.get('/rooms', async () => ({ rooms: [...registry.rooms.values()].map(roomView) }));

      api.get<{ Params: { room: string } }>('/rooms/:room', async (request) => {
        const room = roomOf(request.params.room);
        return { ...roomView(room), participants: [...room.participants.values()].map(participantView) };
      });

      api.get<{ Params: { room: string } }>('/rooms/:room/participants', async (request) => ({
        participants: [...roomOf(request.params.room).participants.values()].map(participantView),
      }));

      api.delete<{ Params: { room: string; id: string } }>(
        '/rooms/:room/participants/:id',
        async (request, reply) => {
          await roomOf(request.params.room).removeParticipant('admin', request.params.id);
          return reply.status(204).send();
        },
      );

      api.post<{ Params: { room: string; id: string } }>(
        '/rooms/:room/participants/:id/mute',
        async (request, reply) => {
          const { trackId } = parse(muteBody, request.body, 'mute');
          roomOf(request.params.room).hostMute('admin', request.params.id, trackId);
          return reply.status(204).send();
        },
      );

      api.delete<{ Params: { room: string } }>('/rooms/:room', async (request, reply) => {
        roomOf(request.params.room);
        await registry.closeRoom(request.params.room, 'ended by the administrator');
        return reply.status(204).send();
      });

      api.post('/tokens', async (request, reply) => {
        const body = parse(tokenBody, request.body, 'token');
        const ttlSeconds = typeof body.ttl === 'number' ? body.ttl : parseTtl(body.ttl);
        const { token, expiresAt } = await createAccessToken(config.auth.apiSecret!, {
          room: body.room,
          identity: body.identity,
          name: body.name,
          role: body.role,
          canPublish: body.canPublish,
          ttlSeconds,
        });
        return reply.status(201).send({
          token,
          room: body.room,
          identity: body.identity,
          role: body.role,
          canPublish: body.canPublish,
          expiresAt: new Date(expiresAt * 1000).toISOString(),
        });
      });
    },
    { prefix: ADMIN_PREFIX },
  );
}
