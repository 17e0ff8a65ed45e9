/**
 * A small, strict SIP message parser and serializer (RFC 3261 §7, §20, §25). It accepts what the
 * grammar allows that real peers send (compact header names, folded lines, header values split over
 * several headers) and refuses the rest with a SipParseError that says why; it never throws anything
 * else, whatever the input. Limits keep a hostile peer from making it work hard.
 */

export const MAX_MESSAGE_BYTES = 32 * 1024;
export const MAX_HEADER_LINE_BYTES = 4096;
export const MAX_HEADERS = 100;

export class SipParseError extends Error {
  override name = 'SipParseError';
}

/** RFC 3261 §7.3.3: compact forms of header names. */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
};

/** Canonical spelling of the header names this gateway writes. */
const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
};

/** Header names whose values may be comma-separated lists that mean several headers (§7.3.1). */
const LIST_HEADERS = new Set(['via', 'route', 'record-route', 'allow', 'supported', 'require']);

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

export interface SipBase {
  /** Header values by lower-case full name, in order of appearance. */
  headers: Map<string, string[]>;
  body: Buffer;
}

export interface SipRequest extends SipBase {
  kind: 'request';
  method: string;
  uri: string;
}

export interface SipResponse extends SipBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

export function header(message: SipBase, name: string): string | undefined {
  return message.headers.get(name.toLowerCase())?.[0];
}

export function headers(message: SipBase, name: string): string[] {
  return message.headers.get(name.toLowerCase()) ?? [];
}

/** Splits a header value at commas that are outside quotes and angle brackets. */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth = Math.max(0, depth - 1);
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v !== '');
}

/** Where the header section ends: the index of the empty line's CRLFCRLF (or LFLF), and its length. */
function headerEnd(data: Buffer): { at: number; length: number } | undefined {
  const crlf = data.indexOf('\r\n\r\n');
  const lf = data.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}

export interface ParseOptions {
  /** Over a stream (TCP) Content-Length is mandatory and says where the message ends (§18.3). */
  stream?: boolean;
}

/**
 * Parses one message. Over UDP `data` is the whole datagram; over TCP use `frameStream` first. Throws a
 * SipParseError; when the start line and the headers needed for a reply were read, the error carries
 * the partial message so a 400 can be answered (`error.partial`).
 */
export function parseSipMessage(data: Buffer, options: ParseOptions = {}): SipMessage {
  if (data.length > MAX_MESSAGE_BYTES)
    throw new SipParseError(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
  const end = headerEnd(data);
  if (!end) throw new SipParseError('no empty line after the headers');
  const head = data.subarray(0, end.at).toString('latin1');
  const lines = head.split(/\r?\n/);
  // RFC 3261 §7.5: empty lines before the start line are ignored (keep-alives).
  while (lines.length > 0 && lines[0] === '') lines.shift();
  const startLine = lines.shift();
  if (startLine === undefined) throw new SipParseError('no start line');
  const message = parseStartLine(startLine);
  let count = 0;
  for (const line of lines) {
    if (line.length > MAX_HEADER_LINE_BYTES)
      throw partial(message, `a header line is longer than ${MAX_HEADER_LINE_BYTES} bytes`);
    if (line === '') throw partial(message, 'empty header line');
    if (line[0] === ' ' || line[0] === '\t') {
      // §7.3.1: a line starting with whitespace continues the previous header value.
      const last = [...message.headers.values()].at(-1);
      if (!last || last.length === 0) throw partial(message, 'continuation line before any header');
      last[last.length - 1] = `${last[last.length - 1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw partial(message, `malformed header line "${line.slice(0, 40)}"`);
    let name = line.slice(0, colon).trim().toLowerCase();
    if (!TOKEN.test(name)) throw partial(message, `bad header name "${name.slice(0, 40)}"`);
    name = COMPACT[name] ?? name;
    if (++count > MAX_HEADERS) throw partial(message, `more than ${MAX_HEADERS} headers`);
    const value = line.slice(colon + 1).trim();
    const values = LIST_HEADERS.has(name) ? splitList(value) : [value];
    const list = message.headers.get(name);
    if (list) list.push(...values);
    else message.headers.set(name, values);
  }
  const bodyStart = end.at + end.length;
  const available = data.length - bodyStart;
  const lengthHeader = header(message, 'content-length');
  let length: number;
  if (lengthHeader === undefined) {
    if (options.stream) throw partial(message, 'Content-Length is required over TCP');
    length = available;
  } else {
    if (!/^\d{1,9}$/.test(lengthHeader))
      throw partial(message, `bad Content-Length "${lengthHeader.slice(0, 20)}"`);
    length = Number(lengthHeader);
    // §18.3: over UDP a Content-Length larger than the body gets a 400.
    if (length > available)
      throw partial(message, `Content-Length ${length} is larger than the body (${available})`);
  }
  message.body = data.subarray(bodyStart, bodyStart + length);
  validate(message);
  return message;
}

function parseStartLine(line: string): SipMessage {
  if (line.startsWith('SIP/')) {
    const m = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/.exec(line);
    if (!m) throw new SipParseError('bad status line');
    return {
      kind: 'response',
      status: Number(m[1]),
      reason: m[2]!,
      headers: new Map(),
      body: Buffer.alloc(0),
    };
  }
  const m = /^(\S+) (\S+) SIP\/2\.0$/.exec(line);
  if (!m) throw new SipParseError('bad request line: expected "METHOD URI SIP/2.0"');
  const [, method, uri] = m as unknown as [string, string, string];
  if (!TOKEN.test(method)) throw new SipParseError('bad method name');
  if (!/^(sips?|tel):[^\s<>]+$/i.test(uri)) throw new SipParseError('bad Request-URI');
  return { kind: 'request', method: method.toUpperCase(), uri, headers: new Map(), body: Buffer.alloc(0) };
}

/** A SipParseError that keeps what was parsed, so that a 400 can still be addressed. */
export class SipPartialError extends SipParseError {
  readonly partial: SipMessage;
  constructor(message: string, partialMessage: SipMessage) {
    super(message);
    this.partial = partialMessage;
  }
}

function partial(message: SipMessage, reason: string): SipPartialError {
  return new SipPartialError(reason, message);
}

/** §8.1.1: the headers every request needs, and their syntax where the gateway relies on it. */
function validate(message: SipMessage): void {
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!header(message, name)) throw partial(message, `missing ${canonicalName(name)} header`);
  }
  const cseq = parseCSeq(header(message, 'cseq')!);
  if (!cseq) throw partial(message, 'bad CSeq header');
  if (
    message.kind === 'request' &&
    cseq.method !== message.method &&
    !(message.method === 'ACK' && cseq.method === 'ACK')
  )
    throw partial(message, `CSeq method ${cseq.method} does not match ${message.method}`);
  if (!parseVia(header(message, 'via')!)) throw partial(message, 'bad Via header');
}

export interface Via {
  transport: string;
  host: string;
  port: number | undefined;
  params: Map<string, string | undefined>;
}

/** Parses one Via value, e.g. `SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport`. */
export function parseVia(value: string): Via | undefined {
  const m =
    /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::(\d{1,5}))?\s*(;.*)?$/.exec(
      value,
    );
  if (!m) return undefined;
  const params = parseParams(m[4] ?? '');
  if (!params) return undefined;
  return {
    transport: m[1]!.toUpperCase(),
    host: m[2]!.replace(/^\[|\]$/g, ''),
    port: m[3] === undefined ? undefined : Number(m[3]),
    params,
  };
}

/** `;a=b;c` → {a: 'b', c: undefined}; undefined when malformed. */
export function parseParams(text: string): Map<string, string | undefined> | undefined {
  const params = new Map<string, string | undefined>();
  if (text.trim() === '') return params;
  if (!text.trim().startsWith(';')) return undefined;
  for (const part of text.trim().slice(1).split(';')) {
    const [k, ...rest] = part.split('=');
    const key = k!.trim().toLowerCase();
    if (!TOKEN.test(key)) return undefined;
    params.set(key, rest.length ? rest.join('=').trim().replace(/^"|"$/g, '') : undefined);
  }
  return params;
}

export function parseCSeq(value: string): { seq: number; method: string } | undefined {
  const m = /^(\d{1,10})\s+(\S+)$/.exec(value.trim());
  if (!m || Number(m[1]) >= 2 ** 31 || !TOKEN.test(m[2]!)) return undefined;
  return { seq: Number(m[1]), method: m[2]!.toUpperCase() };
}

export interface NameAddr {
  display: string | undefined;
  uri: string;
  params: Map<string, string | undefined>;
}

/** Parses a From/To/Contact value: `"Alice" <sip:alice@host>;tag=1` or `sip:alice@host;tag=1`. */
export function parseNameAddr(value: string): NameAddr | undefined {
  const v = value.trim();
  const angle = /^(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]+)>\s*(;.*)?$/.exec(v);
  if (angle) {
    const params = parseParams(angle[4] ?? '');
    if (!params) return undefined;
    const display = (angle[1] ?? angle[2] ?? '').trim() || undefined;
    return { display, uri: angle[3]!.trim(), params };
  }
  const bare = /^([^;\s<>]+)(;.*)?$/.exec(v);
  if (!bare) return undefined;
  const params = parseParams(bare[2] ?? '');
  if (!params) return undefined;
  return { display: undefined, uri: bare[1]!, params };
}

export interface SipUri {
  scheme: string;
  user: string | undefined;
  host: string;
  port: number | undefined;
  params: Map<string, string | undefined>;
}

/** Parses `sip:user@host:port;params` (RFC 3261 §19.1.1). User is percent-decoded. */
export function parseSipUri(uri: string): SipUri | undefined {
  const m =
    /^(sips?):(?:([^@;?]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?$/i.exec(
      uri,
    );
  if (!m) return undefined;
  const params = parseParams(m[5] ?? '');
  if (!params) return undefined;
  let user: string | undefined;
  if (m[2] !== undefined) {
    try {
      user = decodeURIComponent(m[2].split(':')[0]!);
    } catch {
      return undefined;
    }
  }
  return {
    scheme: m[1]!.toLowerCase(),
    user,
    host: m[3]!.replace(/^\[|\]$/g, ''),
    port: m[4] === undefined ? undefined : Number(m[4]),
    params,
  };
}

function canonicalName(name: string): string {
  return (
    CANONICAL[name] ?? name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
  );
}

/** Serializes a message; Content-Length is always written from the body. */
export function serializeSipMessage(message: SipMessage): Buffer {
  const start =
    message.kind === 'request'
      ? `${message.method} ${message.uri} SIP/2.0`
      : `SIP/2.0 ${message.status} ${message.reason}`;
  const lines = [start];
  for (const [name, values] of message.headers) {
    if (name === 'content-length') continue;
    for (const value of values) lines.push(`${canonicalName(name)}: ${value}`);
  }
  lines.push(`Content-Length: ${message.body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), message.body]);
}

/**
 * Cuts whole messages out of a TCP byte stream (§18.3: the header's Content-Length says where each ends).
 * Returns the messages found and what is left over; throws SipParseError when the stream cannot be
 * framed (the connection must then be closed).
 */
export function frameStream(buffer: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let rest = buffer;
  for (;;) {
    // RFC 5626 §3.5.1 keep-alives (CRLF) between messages.
    let skip = 0;
    while (skip < rest.length && (rest[skip] === 0x0d || rest[skip] === 0x0a)) skip++;
    rest = rest.subarray(skip);
    if (rest.length === 0) break;
    const end = headerEnd(rest);
    if (!end) {
      if (rest.length > MAX_MESSAGE_BYTES) throw new SipParseError('headers larger than the message limit');
      break;
    }
    const head = rest.subarray(0, end.at).toString('latin1');
    const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*$/im.exec(head);
    if (!m) throw new SipParseError('Content-Length is required over TCP');
    const total = end.at + end.length + Number(m[1]);
    if (total > MAX_MESSAGE_BYTES) throw new SipParseError(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
    if (rest.length < total) break;
    frames.push(rest.subarray(0, total));
    rest = rest.subarray(total);
  }
  return { frames, rest };
}
