import { randomBytes } from 'node:crypto';
import { VERSION } from '../../version.js';
import { header, headers, type SipMessage, type SipRequest, type SipResponse } from './SipMessage.js';

export const USER_AGENT = `port545/${VERSION}`;
/** Methods this gateway answers (RFC 3261 §20.5, sent in Allow). */
export const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO';
/** RFC 3261 §8.1.1.7: branch parameters that start with the magic cookie are RFC 3261 transaction ids. */
export const MAGIC_COOKIE = 'z9hG4bK';

const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  513: 'Message Too Large',
};

export const reasonPhrase = (status: number) => REASONS[status] ?? 'Unknown';
export const newTag = () => randomBytes(8).toString('hex');
export const newBranch = () => `${MAGIC_COOKIE}${randomBytes(10).toString('hex')}`;
export const newCallId = () => randomBytes(12).toString('hex');

export interface ResponseOptions {
  reason?: string;
  /** Added to To when it has no tag yet (§8.2.6.2); never on 100 Trying. */
  toTag?: string;
  headers?: [string, string][];
  /** Why a request is refused, for a person to read: `Warning: 399 port545 "<why>"` (RFC 3261 §20.43). */
  warning?: string;
  body?: Buffer;
  contentType?: string;
}

/**
 * A response to `request` (§8.2.6.2): Via, From, To, Call-ID and CSeq copied from it. Works on a
 * partly parsed request too (a 400 to a malformed one), copying what is there.
 */
export function makeResponse(
  request: SipMessage,
  status: number,
  options: ResponseOptions = {},
): SipResponse {
  const h = new Map<string, string[]>();
  const via = headers(request, 'via');
  if (via.length) h.set('via', [...via]);
  const from = header(request, 'from');
  if (from !== undefined) h.set('from', [from]);
  let to = header(request, 'to');
  if (to !== undefined && status > 100 && options.toTag && !/;\s*tag=/i.test(to))
    to = `${to};tag=${options.toTag}`;
  if (to !== undefined) h.set('to', [to]);
  for (const name of ['call-id', 'cseq']) {
    const value = header(request, name);
    if (value !== undefined) h.set(name, [value]);
  }
  h.set('server', [USER_AGENT]);
  const extra = options.headers ?? [];
  const fields: [string, string][] =
    options.warning === undefined
      ? extra
      : [...extra, ['Warning', `399 port545 "${options.warning.replace(/["\\\r\n]/g, "'")}"`]];
  for (const [name, value] of fields) {
    const list = h.get(name.toLowerCase());
    if (list) list.push(value);
    else h.set(name.toLowerCase(), [value]);
  }
  const body = options.body ?? Buffer.alloc(0);
  if (body.length) h.set('content-type', [options.contentType ?? 'application/sdp']);
  return { kind: 'response', status, reason: options.reason ?? reasonPhrase(status), headers: h, body };
}

export function makeRequest(
  method: string,
  uri: string,
  fields: [string, string][],
  body: Buffer = Buffer.alloc(0),
  contentType = 'application/sdp',
): SipRequest {
  const h = new Map<string, string[]>();
  for (const [name, value] of fields) {
    const list = h.get(name.toLowerCase());
    if (list) list.push(value);
    else h.set(name.toLowerCase(), [value]);
  }
  if (!h.has('max-forwards')) h.set('max-forwards', ['70']);
  h.set('user-agent', [USER_AGENT]);
  if (body.length) h.set('content-type', [contentType]);
  return { kind: 'request', method, uri, headers: h, body };
}
