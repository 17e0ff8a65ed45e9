/** RFC 4733 §3.2 telephone events 0-15: the DTMF digits. */
const EVENTS = '0123456789*#ABCD';

export interface DtmfEvent {
  digit: string;
  end: boolean;
  /** Duration so far in RTP clock ticks. */
  duration: number;
}

/** Parses one telephone-event payload (RFC 4733 §2.3): event, E bit, volume, duration. */
export function parseDtmfPayload(payload: Buffer): DtmfEvent | undefined {
  if (payload.length < 4) return undefined;
  const event = payload[0]!;
  if (event >= EVENTS.length) return undefined;
  return { digit: EVENTS[event]!, end: (payload[1]! & 0x80) !== 0, duration: payload.readUInt16BE(2) };
}

export function dtmfPayload(digit: string, end: boolean, duration: number): Buffer {
  const event = EVENTS.indexOf(digit);
  if (event < 0) throw new RangeError(`not a DTMF digit: ${digit}`);
  return Buffer.from([event, (end ? 0x80 : 0) | 10, (duration >> 8) & 0xff, duration & 0xff]);
}

/**
 * Turns a stream of telephone-event packets into digits: one digit per event, however many packets
 * (and end-of-event retransmissions, §2.5.1.4) carry it. A new event has a new RTP timestamp or another
 * digit, or starts again (E bit clear) after the last one ended; some senders reuse timestamps.
 */
export class DtmfDetector {
  #timestamp: number | undefined;
  #digit: string | undefined;
  #ended = false;

  /** Returns the digit when this packet starts a new event. */
  push(timestamp: number, payload: Buffer): string | undefined {
    const event = parseDtmfPayload(payload);
    if (!event) return undefined;
    const fresh = timestamp !== this.#timestamp || event.digit !== this.#digit || (this.#ended && !event.end);
    this.#timestamp = timestamp;
    this.#digit = event.digit;
    this.#ended = event.end;
    return fresh ? event.digit : undefined;
  }
}

/** Parses a SIP INFO body of type application/dtmf-relay ("Signal=5\r\nDuration=160"). */
export function parseDtmfRelay(body: string): string | undefined {
  const m = /^Signal\s*=\s*([0-9*#A-Da-d])\s*$/im.exec(body);
  return m?.[1]?.toUpperCase();
}
