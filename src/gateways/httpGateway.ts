import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { bearerToken, type JoinGrant } from '../auth/authorizeJoin.js';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import type { Member, MemberSink, RoomHost } from '../host/RoomHost.js';
import { type MediaLine, mediaLines } from '../media/mediaLines.js';
import { SdpError } from '../media/SdpError.js';
import { checkSdp } from '../media/sdpCheck.js';
import { checkSdpLimits } from '../media/sdpLimits.js';
import { displayName, roomName } from '../protocol/messages.js';
import type { JoinAuthorizer } from './joinAuth.js';
import type { SessionCaps } from './sessionCaps.js';

/**
 * What WHIP (RFC 9725) and WHEP share: SDP bodies, CORS, resource ids, and the signal sink of a
 * participant that has no signaling channel of its own (HTTP is request/response).
 */

export const SDP_TYPE = 'application/sdp';
/** RFC 8840 §6: trickled candidates (and ICE restarts) travel as an SDP fragment in a PATCH. */
export const SDP_FRAG_TYPE = 'application/trickle-ice-sdpfrag';

/** RFC 9725 §4.1: browsers call WHIP/WHEP from pages of other origins, so every answer allows it. */
export function allowCors(reply: FastifyReply): void {
  reply.header('Access-Control-Allow-Origin', '*');
  reply.header('Access-Control-Allow-Methods', 'POST, PATCH, DELETE, OPTIONS');
  reply.header('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
  reply.header('Access-Control-Expose-Headers', 'Location, ETag, Link, Accept-Patch, Accept-Post');
}

/**
 * Registers the body parsers of a WHIP/WHEP scope: SDP and SDP fragments as text, anything else as text
 * too, so that the handler can refuse it with a clear 415 rather than a framework error.
 */
export function registerSdpParsers(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  scope.addHook('onRequest', async (_request, reply) => allowCors(reply));
}

/**
 * The body of a request that must be `type`: 415 otherwise; 400 when it is empty or not text. Bodies are
 * read as UTF-8, so bytes that are not UTF-8 arrive as U+FFFD; those and control characters other than
 * tab, CR and LF are in no SDP (RFC 8866 §5: a text format of "<type>=<value>" lines).
 */
export function textBody(request: FastifyRequest, type: string): string {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== type)
    throw new CodedError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Unsupported content type "${contentType || '(none)'}": send ${type}`,
    );
  const body = request.body;
  if (typeof body !== 'string' || body.trim() === '')
    throw new CodedError('INVALID_SDP', `The body is empty: send the ${type} in it`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(body))
    throw new CodedError(
      'INVALID_SDP',
      `The body is not text (it has binary bytes): send the ${type} as text`,
    );
  return body;
}

/** An SDP offer: the body checked as a session description (starts with "v=0", has "m=" lines). */
export function sdpBody(request: FastifyRequest): string {
  const body = textBody(request, SDP_TYPE);
  try {
    checkSdp(body);
  } catch (error) {
    throw new CodedError('INVALID_SDP', `The body is not an SDP offer: ${(error as Error).message}`);
  }
  return body;
}

/** An RFC 8840 SDP fragment: "a=" lines (and "m=" lines), nothing else. */
export function sdpFragmentBody(request: FastifyRequest): string {
  const body = textBody(request, SDP_FRAG_TYPE);
  const bad = body.split(/\r?\n/).find((line) => line !== '' && !/^[am]=/.test(line));
  if (bad !== undefined)
    throw new CodedError(
      'INVALID_SDP',
      `The body is not an SDP fragment (RFC 8840: "a=" and "m=" lines): "${bad.slice(0, 40)}" is not one`,
    );
  return body;
}

/**
 * Refuses an offer past the m-line or candidate limits with INVALID_SDP before werift sees it; returns
 * how many candidates it holds (they count towards the session's `candidatesPerSession`).
 */
export function checkOfferLimits(sdp: string, limits: Config['limits']): number {
  try {
    checkSdpLimits(sdp, {
      maxMediaSections: limits.sdpMaxMediaSections,
      maxCandidates: limits.candidatesPerSession,
    });
  } catch (error) {
    if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
    throw error;
  }
  return sdp.split(/\r?\n/).filter((line) => line.startsWith('a=candidate:')).length;
}

export function parseRoomName(raw: string): string {
  const parsed = roomName.safeParse(raw);
  if (!parsed.success)
    throw new CodedError('BAD_REQUEST', `Bad room name: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

export function parseDisplayName(raw: unknown, fallback: string): string {
  if (raw === undefined) return fallback;
  const parsed = displayName.safeParse(raw);
  if (!parsed.success) throw new CodedError('BAD_REQUEST', 'Bad name: 1 to 64 characters');
  return parsed.data;
}

export const newResourceId = () => randomBytes(12).toString('base64url');

/** A participant's sink when it has no signaling channel: messages are dropped; `close` ends it. */
export class HttpSessionSink implements MemberSink {
  readonly #onClose: () => void;

  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  send(): void {
    // WHIP and WHEP clients learn nothing after the answer; the media tells them the rest.
  }

  close(): void {
    this.#onClose();
  }
}

/** Candidate lines of an RFC 8840 SDP fragment, with the mid of the media section each belongs to. */
export function fragmentCandidates(fragment: string): { candidate: string; sdpMid: string | undefined }[] {
  const out: { candidate: string; sdpMid: string | undefined }[] = [];
  let mid: string | undefined;
  for (const line of fragment.split(/\r?\n/)) {
    if (line.startsWith('a=mid:')) mid = line.slice(6).trim();
    else if (line.startsWith('a=candidate:')) out.push({ candidate: line.slice(2).trim(), sdpMid: mid });
  }
  return out;
}

/** A WHIP or WHEP session: a member of `room`, reachable at its resource URL. */
export interface GatewayResource {
  id: string;
  room: string;
  member: Member;
  /** Remote candidates added so far, in the offer and by PATCH. */
  candidates: number;
}

/**
 * The routes on a session's resource URL, `/<kind>/<room>/sessions/<id>`: OPTIONS, PATCH to trickle ICE
 * candidates (RFC 8840) into the participant's `role` connection, DELETE to leave.
 */
export function registerSessionRoutes(
  scope: FastifyInstance,
  kind: 'WHIP' | 'WHEP',
  resources: Map<string, GatewayResource>,
  options: { sdpMaxBytes: number; candidatesPerSession: number; log: Logger },
): void {
  const url = `/${kind.toLowerCase()}/:room/sessions/:id`;
  const role = kind === 'WHIP' ? 'publisher' : 'subscriber';
  const find = (params: { room: string; id: string }): GatewayResource => {
    const resource = resources.get(params.id);
    if (!resource || resource.room !== params.room) throw new CodedError('SESSION_NOT_FOUND');
    return resource;
  };
  scope.options(url, async (_request, reply) =>
    reply.header('Accept-Patch', SDP_FRAG_TYPE).status(204).send(),
  );
  scope.patch<{ Params: { room: string; id: string } }>(
    url,
    { bodyLimit: options.sdpMaxBytes },
    async (request, reply) => {
      const resource = find(request.params);
      const candidates = fragmentCandidates(sdpFragmentBody(request));
      resource.candidates += candidates.length;
      if (resource.candidates > options.candidatesPerSession)
        throw new CodedError(
          'INVALID_CANDIDATE',
          `A session may add at most ${options.candidatesPerSession} ICE candidates`,
        );
      for (const c of candidates) {
        try {
          await resource.member.addCandidate(role, c);
        } catch (error) {
          if (error instanceof CodedError) throw error;
          throw new CodedError('INVALID_CANDIDATE', (error as Error).message);
        }
      }
      return reply.status(204).send();
    },
  );
  scope.delete<{ Params: { room: string; id: string } }>(url, async (request, reply) => {
    const resource = find(request.params);
    resources.delete(resource.id);
    await resource.member.leave('left');
    options.log.info({ room: resource.room, resource: resource.id }, `${kind} session ended`);
    return reply.status(200).send();
  });
}

/** What WHIP and WHEP need to open sessions. */
export interface SessionOptions {
  host: RoomHost;
  sdpMaxBytes: number;
  limits: Config['limits'];
  /** Open sessions per address and token, shared by WHIP and WHEP. */
  caps: SessionCaps;
  authorize: JoinAuthorizer;
  log: Logger;
}

/** What a WHIP or WHEP POST asked for, read and checked at the edge. */
export interface SessionRequest {
  room: string;
  offer: string;
  lines: MediaLine[];
  grant: JoinGrant;
  name: string;
}

/**
 * The opening both share: the room name, the offer (and its limits), the token, the name, the cap on
 * open sessions; then `enter` joins the room through the door and the session is kept under a new
 * resource id until its member leaves. Replies `201 Created` with the answer and the resource URL.
 */
export async function openSession(
  kind: 'WHIP' | 'WHEP',
  request: FastifyRequest<{ Params: { room: string }; Querystring: { name?: string } }>,
  reply: FastifyReply,
  options: SessionOptions & { resources: Map<string, GatewayResource> },
  enter: (request: SessionRequest, sink: MemberSink) => Promise<{ member: Member; answer: string }>,
): Promise<FastifyReply> {
  const room = parseRoomName(request.params.room);
  const offer = sdpBody(request);
  const candidates = checkOfferLimits(offer, options.limits);
  const authorization = request.headers.authorization;
  const grant = await options.authorize(authorization, room);
  const name = parseDisplayName(request.query.name ?? grant.name, kind === 'WHIP' ? 'WHIP' : 'WHEP player');
  const release = options.caps.take(request.ip, bearerToken(authorization));
  const id = newResourceId();
  let member: Member | undefined;
  let answer: string;
  try {
    ({ member, answer } = await enter(
      { room, offer, lines: mediaLines(offer), grant, name },
      new HttpSessionSink(() => void member?.leave('left')),
    ));
  } catch (error) {
    release();
    throw error;
  }
  const { resources } = options;
  resources.set(id, { id, room, member, candidates });
  const left = () => {
    release();
    resources.delete(id);
  };
  if (member.closed) left();
  else member.onClosed(left);
  options.log.info({ room, participant: member.id, resource: id }, `${kind} session started`);
  return reply
    .status(201)
    .header('Location', `/${kind.toLowerCase()}/${encodeURIComponent(room)}/sessions/${id}`)
    .header('ETag', `"${id}"`)
    .header('Accept-Patch', SDP_FRAG_TYPE)
    .type(SDP_TYPE)
    .send(answer);
}
