import { createHmac } from 'node:crypto';

/** An ICE server as a WebRTC client takes it (`RTCIceServer`). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export interface TurnSettings {
  /** The TURN server's URLs, as clients reach it (`turn:host:3478`, `turns:host:443?transport=tcp`). */
  urls: string[];
  /** The secret shared with the TURN server (coturn's `static-auth-secret`). */
  secret: string;
  /** How long credentials stay good. */
  ttlSeconds: number;
}

/**
 * Time-limited TURN credentials in the TURN REST scheme coturn checks with `use-auth-secret`
 * (draft-uberti-behave-turn-rest): the username is `<expiry, Unix seconds>:<who>`, the password the
 * base64 HMAC-SHA1 of that username keyed with the shared secret. The TURN server needs no list of users,
 * and a credential stops working by itself when it expires.
 */
export function turnCredentials(turn: TurnSettings, who: string, nowMs = Date.now()): IceServer {
  const username = `${Math.floor(nowMs / 1000) + turn.ttlSeconds}:${who}`;
  const credential = createHmac('sha1', turn.secret).update(username).digest('base64');
  return { urls: turn.urls, username, credential };
}
