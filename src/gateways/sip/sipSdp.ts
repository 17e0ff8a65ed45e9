/**
 * SDP offer/answer for phone calls (RFC 3264, RFC 4566): one audio stream over plain RTP/AVP with PCMU,
 * PCMA or Opus (RFC 7587), plus telephone-event (RFC 4733) for DTMF. Other media are refused in the
 * answer with port 0, as §6 of RFC 3264 says.
 */

export type CodecName = 'PCMU' | 'PCMA' | 'opus';

export interface Codec {
  name: CodecName;
  payloadType: number;
  /** RTP clock rate: 8000 for G.711, 48000 for Opus. */
  clockRate: number;
  channels: number;
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface MediaSection {
  kind: string;
  port: number;
  proto: string;
  formats: string[];
  /** rtpmap by payload type: "opus/48000/2". */
  rtpmap: Map<number, string>;
  direction: Direction;
  address: string | undefined;
}

export interface SessionDescription {
  address: string | undefined;
  media: MediaSection[];
}

export class SdpNegotiationError extends Error {
  override name = 'SdpNegotiationError';
}

/** Parses the parts of an SDP a phone call needs; throws SdpNegotiationError on structural errors. */
export function parseSdp(text: string): SessionDescription {
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0] !== 'v=0') throw new SdpNegotiationError('not an SDP: it must start with v=0');
  const sdp: SessionDescription = { address: undefined, media: [] };
  let sessionDirection: Direction = 'sendrecv';
  let current: MediaSection | undefined;
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) throw new SdpNegotiationError(`malformed SDP line "${line.slice(0, 40)}"`);
    const value = line.slice(2);
    switch (line[0]) {
      case 'm': {
        const m = /^(\S+) (\d{1,5})(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(value);
        if (!m) throw new SdpNegotiationError(`bad m= line "${line.slice(0, 60)}"`);
        current = {
          kind: m[1]!,
          port: Number(m[2]),
          proto: m[3]!,
          formats: m[4]!.trim().split(/\s+/).filter(Boolean),
          rtpmap: new Map(),
          direction: sessionDirection,
          address: undefined,
        };
        sdp.media.push(current);
        break;
      }
      case 'c': {
        const c = /^IN IP[46] ([0-9A-Fa-f:.]+)(?:\/\d+)*$/.exec(value);
        if (!c) throw new SdpNegotiationError(`bad c= line "${line.slice(0, 60)}"`);
        if (current) current.address = c[1];
        else sdp.address = c[1];
        break;
      }
      case 'a': {
        const rtpmap = /^rtpmap:(\d{1,3}) (\S+)$/.exec(value);
        if (rtpmap && current) current.rtpmap.set(Number(rtpmap[1]), rtpmap[2]!);
        if (/^(sendrecv|sendonly|recvonly|inactive)$/.test(value)) {
          if (current) current.direction = value as Direction;
          else sessionDirection = value as Direction;
        }
        break;
      }
    }
  }
  return sdp;
}

/** The codec a payload type stands for in a media section, static types included (RFC 3551 table 4). */
function codecOf(section: MediaSection, pt: number): Codec | undefined {
  const map = section.rtpmap.get(pt);
  if (map === undefined) {
    if (pt === 0) return { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 };
    if (pt === 8) return { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 };
    return undefined;
  }
  const [name = '', rate = '', channels = '1'] = map.split('/');
  const lower = name.toLowerCase();
  if (lower === 'pcmu' && rate === '8000')
    return { name: 'PCMU', payloadType: pt, clockRate: 8000, channels: 1 };
  if (lower === 'pcma' && rate === '8000')
    return { name: 'PCMA', payloadType: pt, clockRate: 8000, channels: 1 };
  // RFC 7587 §7: Opus is always "opus/48000/2" in SDP, whatever is actually sent.
  if (lower === 'opus' && rate === '48000')
    return { name: 'opus', payloadType: pt, clockRate: 48000, channels: Number(channels) };
  return undefined;
}

export interface Negotiated {
  codec: Codec;
  /** telephone-event payload type (RFC 4733), if the offer has one at a clock rate we take. */
  dtmfPayloadType: number | undefined;
  /** Its clock rate: the codec's, or 8000 when only that was offered. */
  dtmfClockRate: number;
  remoteAddress: string;
  remotePort: number;
  direction: Direction;
  /** Index of the audio m-line used. */
  index: number;
}

/**
 * Picks the first audio stream this gateway can serve and, within it, the offerer's most preferred codec
 * (RFC 3264 §6.1). Throws SdpNegotiationError when there is none (answered with 488).
 */
export function negotiate(offer: SessionDescription): Negotiated {
  let reason = 'the offer has no audio stream';
  for (const [index, section] of offer.media.entries()) {
    if (section.kind !== 'audio' || section.port === 0) continue;
    if (section.proto !== 'RTP/AVP') {
      reason = `audio over ${section.proto} is not supported (plain RTP/AVP only)`;
      continue;
    }
    const codec = section.formats.map((f) => codecOf(section, Number(f))).find((c) => c !== undefined);
    if (!codec) {
      reason = 'no common codec: offer PCMU, PCMA or Opus';
      continue;
    }
    // RFC 4733 §2.1 puts telephone-event on the codec's clock, but PBXs and softphones (baresip,
    // Asterisk) offer it at 8000 Hz next to Opus too: take the codec's rate if offered, else 8000.
    const events = new Map<number, number>();
    for (const [pt, map] of section.rtpmap) {
      const [name = '', rate = ''] = map.split('/');
      if (name.toLowerCase() === 'telephone-event' && section.formats.includes(String(pt)))
        events.set(Number(rate), pt);
    }
    const dtmfClockRate = events.has(codec.clockRate) ? codec.clockRate : 8000;
    const dtmfPayloadType = events.get(dtmfClockRate);
    const remoteAddress = section.address ?? offer.address;
    if (!remoteAddress) throw new SdpNegotiationError('the audio stream has no c= address');
    return {
      codec,
      dtmfPayloadType,
      dtmfClockRate,
      remoteAddress,
      remotePort: section.port,
      direction: section.direction,
      index,
    };
  }
  throw new SdpNegotiationError(reason);
}

const REVERSE: Record<Direction, Direction> = {
  sendrecv: 'sendrecv',
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
};

export interface LocalSdpOptions {
  address: string;
  port: number;
  sessionId: number;
  version: number;
}

function header(options: LocalSdpOptions): string[] {
  const ipv = options.address.includes(':') ? 'IP6' : 'IP4';
  return [
    'v=0',
    `o=port545 ${options.sessionId} ${options.version} IN ${ipv} ${options.address}`,
    's=port545',
    `c=IN ${ipv} ${options.address}`,
    't=0 0',
  ];
}

function audioLines(
  port: number,
  codecs: Codec[],
  dtmf: { pt: number; rate: number }[],
  direction: Direction,
): string[] {
  const formats = [...codecs.map((c) => c.payloadType), ...dtmf.map((d) => d.pt)];
  const lines = [`m=audio ${port} RTP/AVP ${formats.join(' ')}`];
  for (const c of codecs) {
    lines.push(`a=rtpmap:${c.payloadType} ${c.name}/${c.clockRate}${c.name === 'opus' ? '/2' : ''}`);
    if (c.name === 'opus') lines.push(`a=fmtp:${c.payloadType} useinbandfec=1`);
  }
  for (const d of dtmf) {
    lines.push(`a=rtpmap:${d.pt} telephone-event/${d.rate}`, `a=fmtp:${d.pt} 0-16`);
  }
  lines.push('a=ptime:20', `a=${direction}`);
  return lines;
}

/** The answer to `offer`: the negotiated audio line, every other m-line refused with port 0. */
export function buildAnswer(offer: SessionDescription, chosen: Negotiated, options: LocalSdpOptions): string {
  const lines = header(options);
  for (const [index, section] of offer.media.entries()) {
    if (index === chosen.index) {
      const dtmf =
        chosen.dtmfPayloadType === undefined
          ? []
          : [{ pt: chosen.dtmfPayloadType, rate: chosen.dtmfClockRate }];
      lines.push(...audioLines(options.port, [chosen.codec], dtmf, REVERSE[chosen.direction]));
    } else {
      lines.push(`m=${section.kind} 0 ${section.proto} ${section.formats.join(' ') || '0'}`);
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The codecs this gateway offers when the caller sent no offer (RFC 3261 §13.2.1 delayed offer). */
export const OFFERED_CODECS: Codec[] = [
  { name: 'opus', payloadType: 111, clockRate: 48000, channels: 2 },
  { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
  { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
];

export function buildOffer(options: LocalSdpOptions): string {
  const dtmf = [
    { pt: 101, rate: 8000 },
    { pt: 102, rate: 48000 },
  ];
  return `${[...header(options), ...audioLines(options.port, OFFERED_CODECS, dtmf, 'sendrecv')].join('\r\n')}\r\n`;
}
