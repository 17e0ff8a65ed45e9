import type { FastifyInstance } from 'fastify';
import { verifyAccessToken } from '../auth/accessToken.js';
import { bearerToken } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { parseRoomName } from '../gateways/httpGateway.js';
import type { RoomHost } from '../host/RoomHost.js';

/**
 * `GET /rooms/:room/status`: what someone about to join should know before they do, for the pre-join
 * screen: whether the room is being recorded. A room that does not exist is not recorded (the answer is
 * the same, so it tells nobody which rooms exist). In secured mode only a valid access token for the room
 * (`Authorization: Bearer`) gets an answer, as only it could join.
 */
export function registerRoomStatus(app: FastifyInstance, config: Config, host: RoomHost): void {
  app.get<{ Params: { room: string } }>('/rooms/:room/status', async (request, reply) => {
    const name = parseRoomName(request.params.room);
    if (config.auth.mode === 'secured') {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw new CodedError('TOKEN_REQUIRED');
      await verifyAccessToken(config.auth.apiSecret!, token, name);
    }
    const room = host.room(name);
    return reply.header('Cache-Control', 'no-store').send({ recording: room?.recordingSince !== undefined });
  });
}
