import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { bearerToken } from '../../auth/authorizeJoin.js';
import { CodedError } from '../../common/errors.js';
import type { Config } from '../../config/config.js';
import type { TrackSource } from '../../protocol/messages.js';
import type { Participant } from '../../room/Participant.js';
import type { RoomRegistry } from '../../room/RoomRegistry.js';
import { ConnectDeadline } from '../../sfu/index.js';
import {
  checkOfferLimits,
  type GatewayResource,
  HttpSessionSink,
  mediaLines,
  newResourceId,
  parseDisplayName,
  parseRoomName,
  registerSdpParsers,
  registerSessionRoutes,
  SDP_FRAG_TYPE,
  SDP_TYPE,
  sdpBody,
} from '../httpGateway.js';
import type { JoinAuthorizer } from '../joinAuth.js';
import type { SessionCaps } from '../sessionCaps.js';

export interface WhipOptions {
  registry: RoomRegistry;
  sdpMaxBytes: number;
  limits: Config['limits'];
  /** Open sessions per address and token, shared with WHEP. */
  caps: SessionCaps;
  authorize: JoinAuthorizer;
  log: Logger;
}

/**
 * WHIP ingest (RFC 9725): `POST /whip/<room>` with an SDP offer publishes into the room as a participant
 * (name from `?name=` or the token); the answer comes back with `201 Created` and the session's resource
 * URL in `Location`; `DELETE` on it leaves; `PATCH` trickles candidates (RFC 8840).
 */
export function registerWhip(app: FastifyInstance, options: WhipOptions): Map<string, GatewayResource> {
  const { registry, log } = options;
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
      async (request, reply) => {
        const roomName = parseRoomName(request.params.room);
        const offer = sdpBody(request);
        const candidates = checkOfferLimits(offer, options.limits);
        const grant = await options.authorize(request.headers.authorization, roomName);
        const name = parseDisplayName(request.query.name ?? grant.name, 'WHIP');
        const sending = mediaLines(offer).filter(
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

        const release = options.caps.take(request.ip, bearerToken(request.headers.authorization));
        let room: ReturnType<typeof registry.getOrCreate>;
        let participant: Participant;
        try {
          room = registry.getOrCreate(roomName);
          participant = room.join(
            name,
            new HttpSessionSink(() => void room.leave(participant, 'left')),
            undefined,
            { grant },
          );
        } catch (error) {
          release();
          throw error;
        }
        const id = newResourceId();
        resources.set(id, { id, room: roomName, participant, candidates });
        participant.on('closed', () => {
          release();
          resources.delete(id);
        });
        // No signaling channel: a connection that fails or closes is the end of the session.
        participant.session.on('connectionState', (role, state) => {
          if (role === 'publisher' && (state === 'failed' || state === 'closed'))
            void room.leave(participant, 'disconnected');
        });
        let answer: Awaited<ReturnType<typeof room.publish>>;
        try {
          answer = await room.publish(
            participant,
            offer,
            sending.map((m) => ({
              mid: m.mid!,
              source: (m.kind === 'audio' ? 'microphone' : 'camera') satisfies TrackSource,
              muted: false,
            })),
          );
        } catch (error) {
          await room.leave(participant, 'left');
          throw error;
        }
        // A publisher that never connects would hold its socket and its place in the room for good.
        new ConnectDeadline(participant.session, options.limits.connectTimeoutMs, () => {
          log.info({ room: roomName, resource: id }, 'WHIP session ended: it never connected');
          void room.leave(participant, 'disconnected');
        }).arm('publisher');
        log.info({ room: roomName, participant: participant.id, resource: id }, 'WHIP session started');
        const location = `/whip/${encodeURIComponent(roomName)}/sessions/${id}`;
        return reply
          .status(201)
          .header('Location', location)
          .header('ETag', `"${id}"`)
          .header('Accept-Patch', SDP_FRAG_TYPE)
          .type(SDP_TYPE)
          .send(answer.sdp);
      },
    );

    registerSessionRoutes(scope, 'WHIP', resources, {
      sdpMaxBytes: options.sdpMaxBytes,
      candidatesPerSession: options.limits.candidatesPerSession,
      log,
    });
  });
  return resources;
}
