import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { createAccessToken, MAX_TOKEN_TTL_SECONDS, parseTtl } from '../auth/accessToken.js';
import { checkApiKey } from '../auth/apiKey.js';
import { auditLog } from '../auth/audit.js';
import { addressKey } from '../common/address.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { SipCallStats } from '../gateways/sip/SipGateway.js';
import type { ParticipantSummary, RoomHost, RoomSummary } from '../host/RoomHost.js';
import { displayName, participantRole, roomName } from '../protocol/messages.js';

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

/** The phone call behind a participant, when the SIP gateway brought it in. */
export type SipCallLookup = (participantId: string) => SipCallStats | undefined;

/** What an audit line says about a token that was made: for whom and what, never the token. */
function tokenAuditFields(body: unknown): Record<string, unknown> {
  const parsed = tokenBody.safeParse(body ?? {});
  if (!parsed.success) return {};
  const { room, identity, role, ttl } = parsed.data;
  return { token: { room, identity, role, ttl } };
}

function participantView(p: ParticipantSummary, sipCall?: SipCallLookup) {
  const sip = sipCall?.(p.id);
  return { ...p, ...(sip && { sip }) };
}

function roomView(room: RoomSummary, worker: number | undefined) {
  return { ...room, ...(worker !== undefined && { worker }) };
}

/**
 * Lets the request through only with `Authorization: Bearer <API key>` (a 401 says how to authenticate);
 * what it answers is never cached.
 */
export function requireApiKey(config: Config, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('Cache-Control', 'no-store');
  try {
    checkApiKey(config, request.headers.authorization);
  } catch (error) {
    if (error instanceof CodedError && error.status === 401) reply.header('WWW-Authenticate', 'Bearer');
    throw error;
  }
}

/**
 * The admin HTTP API (docs/api.md): rooms and participants, removal, ending a room, and access tokens.
 * Every route needs `Authorization: Bearer <API key>`; without a configured key the API is off.
 */
export function registerAdminApi(
  app: FastifyInstance,
  config: Config,
  host: RoomHost,
  log: Logger,
  sipCall?: SipCallLookup,
  /** The room worker this API answers for (`worker` in room views), when rooms run on worker threads. */
  worker?: number,
): void {
  const view = (p: ParticipantSummary) => participantView(p, sipCall);
  const viewRoom = (room: RoomSummary) => roomView(room, worker);
  const audit = auditLog(log);
  app.register(
    async (api) => {
      // Every change made through the API is an audit line (refused keys are logged where they are refused).
      api.addHook('onResponse', async (request, reply) => {
        if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
        if (reply.statusCode >= 400) return;
        audit.info(
          {
            address: addressKey(request.ip),
            method: request.method,
            path: request.url.split('?')[0]!.slice(0, 200),
            status: reply.statusCode,
            ...(request.url.endsWith('/tokens') ? tokenAuditFields(request.body) : {}),
          },
          'admin action',
        );
      });
      api.addHook('onRequest', async (request, reply) => requireApiKey(config, request, reply));

      const roomOf = (name: string) => {
        const room = host.room(name);
        if (!room) throw new CodedError('ROOM_NOT_FOUND', `No room "${name.slice(0, 64)}"`);
        return room;
      };

      api.get('/rooms', async () => ({ rooms: host.rooms().map(viewRoom) }));

      api.get<{ Params: { room: string } }>('/rooms/:room', async (request) => {
        const { people, ...room } = roomOf(request.params.room);
        return { ...viewRoom(room), participants: people.map(view) };
      });

      api.get<{ Params: { room: string } }>('/rooms/:room/participants', async (request) => ({
        participants: roomOf(request.params.room).people.map(view),
      }));

      api.delete<{ Params: { room: string; id: string } }>(
        '/rooms/:room/participants/:id',
        async (request, reply) => {
          await host.administer(request.params.room, { type: 'remove', participantId: request.params.id });
          return reply.status(204).send();
        },
      );

      api.post<{ Params: { room: string; id: string } }>(
        '/rooms/:room/participants/:id/mute',
        async (request, reply) => {
          const { trackId } = parse(muteBody, request.body, 'mute');
          await host.administer(request.params.room, {
            type: 'mute',
            participantId: request.params.id,
            trackId,
          });
          return reply.status(204).send();
        },
      );

      api.post<{ Params: { room: string } }>('/rooms/:room/recording', async (request, reply) =>
        reply.status(201).send(await host.startRecording(request.params.room)),
      );

      api.delete<{ Params: { room: string } }>('/rooms/:room/recording', async (request) =>
        host.stopRecording(request.params.room),
      );

      api.get<{ Params: { room: string; id: string } }>(
        '/rooms/:room/participants/:id/snapshot',
        async (request, reply) => {
          const png = await host.snapshot(request.params.room, request.params.id);
          return reply
            .header('Content-Type', 'image/png')
            .header('Content-Disposition', 'inline; filename="snapshot.png"')
            .header('X-Content-Type-Options', 'nosniff')
            .send(png);
        },
      );

      api.delete<{ Params: { room: string } }>('/rooms/:room', async (request, reply) => {
        await host.closeRoom(request.params.room, 'ended by the administrator');
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
