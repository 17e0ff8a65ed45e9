import type { FastifyInstance } from 'fastify';
import { CodedError } from '../../common/errors.js';
import {
  type GatewayResource,
  openSession,
  registerSdpParsers,
  registerSessionRoutes,
  SDP_TYPE,
  type SessionOptions,
} from '../httpGateway.js';

/**
 * WHEP playback: `POST /whep/<room>` plays the room (its mixed audio and its active speaker's video),
 * `POST /whep/<room>/<participant>` plays one participant (id or display name). The player's offer is
 * recvonly; the answer comes back with `201 Created` and the session's resource URL; `DELETE` ends it.
 * The player is a participant of the room that publishes nothing (the door's `play`).
 */
export function registerWhep(app: FastifyInstance, options: SessionOptions): Map<string, GatewayResource> {
  const { host } = options;
  const resources = new Map<string, GatewayResource>();

  app.register(async (scope) => {
    registerSdpParsers(scope);
    for (const path of ['/whep/:room', '/whep/:room/:participant']) {
      scope.options(path, async (_request, reply) =>
        reply.header('Accept-Post', SDP_TYPE).status(204).send(),
      );
      scope.post<{ Params: { room: string; participant?: string }; Querystring: { name?: string } }>(
        path,
        { bodyLimit: options.sdpMaxBytes },
        (request, reply) =>
          openSession('WHEP', request, reply, { ...options, resources }, (session, sink) => {
            const receiving = session.lines.filter(
              (m) => (m.kind === 'audio' || m.kind === 'video') && m.live && m.direction !== 'sendonly',
            );
            if (receiving.length === 0)
              throw new CodedError('NO_MEDIA', 'The offer receives no audio or video');
            const { room, name, grant, offer } = session;
            return host.play({ room, follow: request.params.participant, name, grant, offer }, sink);
          }),
      );
    }
    registerSessionRoutes(scope, 'WHEP', resources, {
      sdpMaxBytes: options.sdpMaxBytes,
      candidatesPerSession: options.limits.candidatesPerSession,
      log: options.log,
    });
  });
  return resources;
}
