import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { CodedError } from '../common/errors.js';
import { displayName, type ParticipantRole, participantRole, roomName } from '../protocol/messages.js';

/**
 * Access tokens: JWTs (RFC 7519) signed with HMAC-SHA256 (RFC 7518 §3.2) under the server's API secret.
 * `aud`/`iss` are fixed so that a JWT signed with the same secret for some other purpose is not a
 * port545 token. Only HS256 is accepted: `none` and every other algorithm are refused before the
 * signature is looked at (the classic JWT "alg" downgrade).
 */
export const TOKEN_ISSUER = 'port545';
export const TOKEN_AUDIENCE = 'port545';
/** Tokens live at most this long: a leaked token should not be good for a year. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const ALGORITHM = 'HS256';

/** What a token grants. `room` is a room name or `*` for every room. */
export interface AccessClaims {
  room: string;
  identity: string;
  name: string | undefined;
  role: ParticipantRole;
  canPublish: boolean;
  /** Seconds since the Unix epoch. */
  expiresAt: number;
}

export interface TokenRequest {
  room: string;
  identity: string;
  name?: string;
  role?: ParticipantRole;
  canPublish?: boolean;
  ttlSeconds: number;
}

const identity = z.string().min(1).max(128);
export const tokenRequestSchema = z.object({
  room: z.union([roomName, z.literal('*')]),
  identity,
  name: displayName.optional(),
  role: participantRole.default('guest'),
  canPublish: z.boolean().default(true),
  ttlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS),
});

const claimsSchema = z.object({
  sub: identity,
  room: z.union([roomName, z.literal('*')]),
  name: displayName.optional(),
  role: participantRole.default('guest'),
  canPublish: z.boolean().default(true),
  exp: z.number(),
  iat: z.number().optional(),
});

/** Clock difference allowed between the host that signed a token and this one, in seconds. */
const CLOCK_SKEW_SECONDS = 60;

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Signs a token; throws a ZodError-backed BAD_REQUEST when the request is out of bounds. */
export async function createAccessToken(
  secret: string,
  request: TokenRequest,
): Promise<{ token: string; expiresAt: number }> {
  const parsed = tokenRequestSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CodedError('BAD_REQUEST', `${issue.path.join('.') || 'token'}: ${issue.message}`);
  }
  const r = parsed.data;
  const expiresAt = Math.floor(Date.now() / 1000) + r.ttlSeconds;
  const token = await new SignJWT({
    room: r.room,
    role: r.role,
    canPublish: r.canPublish,
    ...(r.name !== undefined ? { name: r.name } : {}),
  })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(r.identity)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(key(secret));
  return { token, expiresAt };
}

/**
 * Verifies a token for a join to `room`. Each way a token can be wrong has its own code: malformed,
 * a disallowed algorithm, a bad signature, expired, good for longer than 30 days (by `exp − iat` or
 * `exp − now`), or made for another room.
 */
export async function verifyAccessToken(
  secret: string,
  token: string,
  /** The room joined; undefined for a caller that checks the returned `room` itself (the directory). */
  room: string | undefined,
): Promise<AccessClaims> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new CodedError('TOKEN_MALFORMED');
  }
  if (alg !== ALGORITHM)
    throw new CodedError(
      'TOKEN_ALG_NOT_ALLOWED',
      `The access token is signed with "${String(alg).slice(0, 16)}"; only HS256 is accepted`,
    );
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key(secret), {
      algorithms: [ALGORITHM],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new CodedError('TOKEN_EXPIRED');
    if (error instanceof errors.JWSSignatureVerificationFailed) throw new CodedError('TOKEN_BAD_SIGNATURE');
    if (error instanceof errors.JOSEAlgNotAllowed) throw new CodedError('TOKEN_ALG_NOT_ALLOWED');
    if (error instanceof errors.JWTClaimValidationFailed)
      throw new CodedError('TOKEN_MALFORMED', `The access token is not a port545 token: ${error.message}`);
    throw new CodedError('TOKEN_MALFORMED');
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) {
    const issue = claims.error.issues[0]!;
    throw new CodedError('TOKEN_MALFORMED', `The access token's "${issue.path.join('.')}" claim is invalid`);
  }
  const c = claims.data;
  // The 30-day ceiling holds for tokens made elsewhere with the same secret too (docs/SECURITY.md).
  const now = Math.floor(Date.now() / 1000);
  if (
    c.exp - now > MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS ||
    (c.iat !== undefined && c.exp - c.iat > MAX_TOKEN_TTL_SECONDS)
  )
    throw new CodedError('TOKEN_LIFETIME_TOO_LONG');
  if (room !== undefined && c.room !== '*' && c.room !== room)
    throw new CodedError('TOKEN_WRONG_ROOM', `The access token is for room "${c.room}", not "${room}"`);
  return {
    room: c.room,
    identity: c.sub,
    name: c.name,
    role: c.role,
    canPublish: c.canPublish,
    expiresAt: c.exp,
  };
}

/** `90`, `90s`, `15m`, `1h`, `7d` → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new CodedError('BAD_REQUEST', `"${text}" is not a duration like 90s, 15m, 1h or 7d`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
