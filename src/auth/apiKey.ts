import { createHash, timingSafeEqual } from 'node:crypto';
import { CodedError } from '../common/errors.js';
import type { Config } from '../config/config.js';
import { bearerToken } from './authorizeJoin.js';

/**
 * Checks the admin API's `Authorization: Bearer <API key>` header. The comparison hashes both sides
 * first, so it takes the same time whatever the length and content of the guess.
 */
export function checkApiKey(config: Pick<Config, 'auth'>, authorization: string | undefined): void {
  const expected = config.auth.apiKey;
  if (!expected) throw new CodedError('ADMIN_API_DISABLED');
  const presented = bearerToken(authorization);
  if (!presented) throw new CodedError('API_KEY_REQUIRED');
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  if (!timingSafeEqual(a, b)) throw new CodedError('API_KEY_INVALID');
}
