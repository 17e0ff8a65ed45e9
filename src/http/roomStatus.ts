import type { FastifyInstance } from 'fastify';
import { verifyAccessToken } from '../auth/accessToken.js';
import { bearerToken } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { RoomHost } from '../host/RoomHost.js';
import { roomName } from '../protocol/messages.js';

/**
 * `GET /rooms/:room/status`: what someone about to join should know before they do, for the pre-join
 * screen: whether the room is being recorded. A room that does not exist is not recorded (the answer is
 * the same, so it tells nobody which rooms exist). In secured mode only a valid access token for the room
 * (`Authorization: Bearer`) gets an answer, as only it could join.
 */
export function registerRoomStatus(app: FastifyInstance, config: Config, host: RoomHost): void {
  app.get<{ Params: { room: string } }>('/rooms/:room/status', async (request, reply) => {
    const name = roomName.safeParse(request.params.room);
    if (!name.success) throw new CodedError('BAD_REQUEST', 'Not a room name');
    if (config.auth.mode === 'secured') {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw new CodedError('TOKEN_REQUIRED');
      await verifyAccessToken(config.auth.apiSecret!, token, name.data);
    }
    const room = host.room(name.data);
    return reply.header('Cache-Control', 'no-store').send({ recording: room?.recordingSince !== undefined });
  });
}
