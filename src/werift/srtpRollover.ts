import { SrtpSession } from 'werift';

/**
 * SRTP rollover counters as RFC 3711 §3.3.1 guesses them, for every werift SRTP context in the process.
 *
 * A packet's SRTP index is ROC · 2^16 + SEQ, and the rollover counter (ROC) never travels: each side keeps
 * it. werift (0.25.2, `Context.updateRolloverCount` in its rtp package) steps the counter only when two
 * consecutive packets sit within 100 sequence numbers of the wrap on either side of it. When more than
 * about 100 packets of a stream in a row are lost across a wrap, the next packet keeps the old counter:
 * as a sender, werift then encrypts with a counter one lower than a browser (libsrtp, which guesses as RFC
 * 3711 says) uses to decrypt, and every later packet of that stream fails authentication at the browser;
 * as a receiver, it rejects every later packet of the publisher. Both for good, since the counter never
 * catches up.
 *
 * RFC 3711's guess is relative to the highest sequence number seen, s_l, and its counter: the packet's
 * counter is ROC − 1, ROC or ROC + 1, whichever puts its index nearest to s_l's, so any gap or
 * reordering under 2^15 packets is right. This module replaces werift's method on the shared context
 * prototype (so werift's own encrypt and decrypt, the fast send path in RtpFastSender.ts and the receive
 * path in SrtpDecryptor.ts all use it) and keeps s_l and its counter in two more fields of werift's
 * per-SSRC state. The fields werift reads stay as werift means them: `rolloverCounter` and
 * `lastSequenceNumber` are those of the packet at hand. Receivers work on a copy of the state that is
 * kept only when the packet authenticates (werift's `decryptRtp`, `SrtpDecryptor.decrypt`), so a forged
 * packet cannot move s_l.
 */

/** werift's per-SSRC SRTP state, with the two fields this module adds. */
export interface RolloverState {
  rolloverCounter: number;
  lastSequenceNumber: number;
  rolloverHasProcessed?: boolean;
  /** s_l: the highest sequence number (by index) sent, or received and authenticated. */
  highestSequence?: number;
  /** The rollover counter of s_l. */
  highestRollover?: number;
}

const HALF = 0x8000;
const SEQ_MODULO = 0x10000;

/**
 * Sets `s.rolloverCounter` to the rollover counter of `sequenceNumber` (RFC 3711 §3.3.1) and moves s_l
 * forward when the packet is the newest so far.
 */
export function updateRolloverCount(sequenceNumber: number, s: RolloverState): void {
  if (!s.rolloverHasProcessed || s.highestSequence === undefined || s.highestRollover === undefined) {
    if (!s.rolloverHasProcessed) {
      // The first packet of the stream: its counter is the initial one (0 unless set), and it is s_l.
      s.rolloverHasProcessed = true;
      s.highestSequence = sequenceNumber;
      s.highestRollover = s.rolloverCounter;
      s.lastSequenceNumber = sequenceNumber;
      return;
    }
    // A state werift's own method has been keeping: take its last packet as s_l.
    s.highestSequence = s.lastSequenceNumber;
    s.highestRollover = s.rolloverCounter;
  }
  const sl = s.highestSequence;
  const roc = s.highestRollover;
  let v = roc;
  if (sl < HALF) {
    if (sequenceNumber - sl > HALF) v = roc - 1;
  } else if (sl - HALF > sequenceNumber) {
    v = roc + 1;
  }
  if (v < 0) {
    // A packet from before the stream's first one: there is no counter below 0, and it is not the newest.
    s.rolloverCounter = 0;
    s.lastSequenceNumber = sequenceNumber;
    return;
  }
  if (v * SEQ_MODULO + sequenceNumber > roc * SEQ_MODULO + sl) {
    s.highestSequence = sequenceNumber;
    s.highestRollover = v;
  }
  s.rolloverCounter = v;
  s.lastSequenceNumber = sequenceNumber;
}

interface ContextPrototype {
  updateRolloverCount(sequenceNumber: number, s: RolloverState): void;
}

let installed = false;

/**
 * Puts `updateRolloverCount` on werift's SRTP context prototype (found through an SrtpSession, since
 * werift does not export the class). Idempotent; throws if werift's shape changed, so that an upgrade
 * cannot silently bring the old guess back.
 */
export function installRfc3711Rollover(): void {
  if (installed) return;
  const probe = new SrtpSession({
    keys: {
      localMasterKey: Buffer.alloc(16),
      localMasterSalt: Buffer.alloc(14),
      remoteMasterKey: Buffer.alloc(16),
      remoteMasterSalt: Buffer.alloc(14),
    },
    profile: 1,
  });
  let proto: unknown = Object.getPrototypeOf(probe.localContext);
  while (proto && !Object.hasOwn(proto, 'updateRolloverCount')) proto = Object.getPrototypeOf(proto);
  if (!proto || typeof (proto as ContextPrototype).updateRolloverCount !== 'function')
    throw new Error('werift SRTP context has no updateRolloverCount: check src/werift/srtpRollover.ts');
  (proto as ContextPrototype).updateRolloverCount = updateRolloverCount;
  installed = true;
}

installRfc3711Rollover();
