import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { bearerToken } from '../../auth/authorizeJoin.js';
import { CodedError } from '../../common/errors.js';
import type { Config } from '../../config/config.js';
import type { Participant } from '../../room/Participant.js';
import type { RoomRegistry } from '../../room/RoomRegistry.js';
import { ConnectDeadline, SdpError } from '../../sfu/index.js';
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
import { RoomMixes } from './RoomMix.js';
import { WhepSession } from './WhepSession.js';
import { preferRoomCodecs, sourceCodecs } from './whepCodecs.js';

export interface WhepOptions {
  registry: RoomRegistry;
  sdpMaxBytes: number;
  limits: Config['limits'];
  /** Open sessions per address and token, shared with WHIP. */
  caps: SessionCaps;
  authorize: JoinAuthorizer;
  log: Logger;
}

interface WhepResource extends GatewayResource {
  session: WhepSession;
}

/**
 * WHEP playback: `POST /whep/<room>` plays the room (its mixed audio and its active speaker's video),
 * `POST /whep/<room>/<participant>` plays one participant (id or display name). The player's offer is
 * recvonly; the answer comes back with `201 Created` and the session's resource URL; `DELETE` ends it.
 * The player is a participant of the room that publishes nothing.
 */
export function registerWhep(app: FastifyInstance, options: WhepOptions): Map<string, WhepResource> {
  const { registry, log } = options;
  const resources = new Map<string, WhepResource>();
  const mixes = new RoomMixes();

  const start = async (
    roomRaw: string,
    followRaw: string | undefined,
    authorization: string | undefined,
    nameRaw: string | undefined,
    offer: string,
    address: string,
  ) => {
    const roomName = parseRoomName(roomRaw);
    const candidates = checkOfferLimits(offer, options.limits);
    const grant = await options.authorize(authorization, roomName);
    const name = parseDisplayName(nameRaw ?? grant.name, 'WHEP player');
    const lines = mediaLines(offer);
    const receiving = lines.filter(
      (m) => (m.kind === 'audio' || m.kind === 'video') && m.live && m.direction !== 'sendonly',
    );
    if (receiving.length === 0) throw new CodedError('NO_MEDIA', 'The offer receives no audio or video');
    const room = registry.rooms.get(roomName);
    if (!room) throw new CodedError('ROOM_NOT_FOUND', `There is no room "${roomName}" to play`);
    let follow: string | undefined;
    if (followRaw !== undefined) {
      const target =
        room.participants.get(followRaw) ?? [...room.participants.values()].find((p) => p.name === followRaw);
      if (!target)
        throw new CodedError('PARTICIPANT_NOT_FOUND', `Nobody called "${followRaw}" is in the room`);
      follow = target.id;
    }
    const sources = follow === undefined ? [...room.participants.values()] : [room.participants.get(follow)!];
    let playable = preferRoomCodecs(offer, lines, 'video', sourceCodecs(sources, 'video'));
    if (follow !== undefined)
      playable = preferRoomCodecs(playable, lines, 'audio', sourceCodecs(sources, 'audio'));
    const release = options.caps.take(address, bearerToken(authorization));
    let participant: Participant;
    try {
      participant = room.join(
        name,
        new HttpSessionSink(() => void room.leave(participant, 'left')),
        undefined,
        { media: { subscriptions: 'routed' }, grant },
      );
    } catch (error) {
      release();
      throw error;
    }
    participant.on('closed', release);
    let answer: string;
    try {
      answer = await participant.session.answerSubscriberOffer(playable);
    } catch (error) {
      await room.leave(participant, 'left');
      if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
      throw error;
    }
    const id = newResourceId();
    const session = new WhepSession({ room, participant, follow, mixes, log });
    resources.set(id, { id, room: roomName, participant: session.participant, session, candidates });
    participant.on('closed', () => {
      session.close();
      resources.delete(id);
    });
    participant.session.on('connectionState', (role, state) => {
      if (role === 'subscriber' && (state === 'failed' || state === 'closed'))
        void room.leave(participant, 'disconnected');
    });
    if (follow !== undefined) {
      // Playing one person: when they leave there is nothing more to play.
      const followed = room.participants.get(follow)!;
      const off = followed.on('closed', () => void room.leave(participant, 'left'));
      participant.on('closed', off);
    }
    // A player that never connects would hold its socket and its place in the room for good.
    new ConnectDeadline(participant.session, options.limits.connectTimeoutMs, () => {
      log.info({ room: roomName, resource: id }, 'WHEP session ended: it never connected');
      void room.leave(participant, 'disconnected');
    }).arm('subscriber');
    try {
      session.start();
    } catch (error) {
      // Whatever failed (the mix's Opus encoder, say), the player must not stay behind without media.
      await room.leave(participant, 'left');
      throw error;
    }
    log.info({ room: roomName, participant: participant.id, follow, resource: id }, 'WHEP session started');
    return { id, roomName, answer };
  };

  app.register(async (scope) => {
    registerSdpParsers(scope);
    for (const path of ['/whep/:room', '/whep/:room/:participant']) {
      scope.options(path, async (_request, reply) =>
        reply.header('Accept-Post', SDP_TYPE).status(204).send(),
      );
      scope.post<{ Params: { room: string; participant?: string }; Querystring: { name?: string } }>(
        path,
        { bodyLimit: options.sdpMaxBytes },
        async (request, reply) => {
          const offer = sdpBody(request);
          const { id, roomName, answer } = await start(
            request.params.room,
            request.params.participant,
            request.headers.authorization,
            request.query.name,
            offer,
            request.ip,
          );
          return reply
            .status(201)
            .header('Location', `/whep/${encodeURIComponent(roomName)}/sessions/${id}`)
            .header('ETag', `"${id}"`)
            .header('Accept-Patch', SDP_FRAG_TYPE)
            .type(SDP_TYPE)
            .send(answer);
        },
      );
    }
    registerSessionRoutes(scope, 'WHEP', resources, {
      sdpMaxBytes: options.sdpMaxBytes,
      candidatesPerSession: options.limits.candidatesPerSession,
      log,
    });
  });
  return resources;
}
