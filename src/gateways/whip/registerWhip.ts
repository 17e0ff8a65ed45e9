import type { FastifyInstance } from 'fastify';
import { CodedError } from '../../common/errors.js';
import type { TrackSource } from '../../protocol/messages.js';
import {
  type GatewayResource,
  openSession,
  registerSdpParsers,
  registerSessionRoutes,
  SDP_TYPE,
  type SessionOptions,
} from '../httpGateway.js';

/**
 * WHIP ingest (RFC 9725): `POST /whip/<room>` with an SDP offer publishes into the room as a participant
 * (name from `?name=` or the token); the answer comes back with `201 Created` and the session's resource
 * URL in `Location`; `DELETE` on it leaves; `PATCH` trickles candidates (RFC 8840).
 */
export function registerWhip(app: FastifyInstance, options: SessionOptions): Map<string, GatewayResource> {
  const { host } = options;
  const resources = new Map<string, GatewayResource>();

  app.register(async (scope) => {
    registerSdpParsers(scope);

    scope.options('/whip/:room', async (_request, reply) => {
      reply.header('Accept-Post', SDP_TYPE);
      return reply.status(204).send();
    });

    scope.post<{ Params: { room: string }; Querystring: { name?: string } }>(
      '/whip/:room',
      { bodyLimit: options.sdpMaxBytes },
      (request, reply) =>
        openSession('WHIP', request, reply, { ...options, resources }, async (session, sink) => {
          const sending = session.lines.filter(
            (m) =>
              (m.kind === 'audio' || m.kind === 'video') &&
              m.live &&
              m.mid !== undefined &&
              (m.direction === 'sendonly' || m.direction === 'sendrecv'),
          );
          if (sending.length === 0)
            throw new CodedError(
              'NO_MEDIA',
              'The offer sends no audio or video (no sendonly m-line with a mid)',
            );
          const member = await host.join(
            {
              kind: 'whip',
              room: session.room,
              name: session.name,
              grant: session.grant,
              address: request.ip,
            },
            sink,
          );
          try {
            const answer = await member.publish(
              session.offer,
              sending.map((m) => ({
                mid: m.mid!,
                source: (m.kind === 'audio' ? 'microphone' : 'camera') satisfies TrackSource,
                muted: false,
              })),
            );
            return { member, answer: answer.sdp };
          } catch (error) {
            await member.leave('left');
            throw error;
          }
        }),
    );

    registerSessionRoutes(scope, 'WHIP', resources, {
      sdpMaxBytes: options.sdpMaxBytes,
      candidatesPerSession: options.limits.candidatesPerSession,
      log: options.log,
    });
  });
  return resources;
}
