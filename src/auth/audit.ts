import type { Logger } from 'pino';
import type { ErrorCode } from '../protocol/errors.js';

/**
 * The audit channel: admin actions, refused credentials and limit hits, one line each, apart from the
 * operational log (`{"channel":"audit",…}` in the JSON log; filter on it to feed an alerting system).
 */
export const AUDIT_CHANNEL = 'audit';

export function auditLog(log: Logger): Logger {
  return log.child({ channel: AUDIT_CHANNEL });
}

/** Refusals that say someone presented a wrong credential or hit a limit: each one is an audit line. */
const AUDITED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'TOKEN_REQUIRED',
  'TOKEN_MALFORMED',
  'TOKEN_ALG_NOT_ALLOWED',
  'TOKEN_BAD_SIGNATURE',
  'TOKEN_EXPIRED',
  'TOKEN_LIFETIME_TOO_LONG',
  'TOKEN_WRONG_ROOM',
  'PASSWORD_WRONG',
  'TOO_MANY_ATTEMPTS',
  'API_KEY_REQUIRED',
  'API_KEY_INVALID',
  'RATE_LIMITED',
  'TOO_MANY_SESSIONS',
  'TOO_MANY_CONNECTIONS',
  'ORIGIN_NOT_ALLOWED',
]);

export function isAudited(code: string): boolean {
  return AUDITED.has(code as ErrorCode);
}
