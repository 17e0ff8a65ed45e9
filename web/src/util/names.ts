/**
 * Room and display names. Room names follow the server's rule (src/protocol/messages.ts `roomName`):
 * 1–64 of letters, digits, ".", "_" and "-", starting with a letter or digit.
 */
const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MAX_DISPLAY_NAME = 64;

export function isRoomName(name: string): boolean {
  return ROOM_NAME.test(name);
}

/**
 * Reads what someone typed into "join a room": a room name, or a pasted invite link (`…/r/<room>`).
 * Returns undefined when it is neither.
 */
export function parseRoomInput(input: string): string | undefined {
  const text = input.trim();
  if (isRoomName(text)) return text;
  const match = /\/r\/([^/?#\s]+)/.exec(text);
  if (!match) return undefined;
  let room: string;
  try {
    room = decodeURIComponent(match[1]!);
  } catch {
    return undefined;
  }
  return isRoomName(room) ? room : undefined;
}

const ADJECTIVES = (
  'amber brisk calm clear coral crisp dusky early fair gentle golden green honest ivory jolly ' +
  'keen kind lively lucky mellow merry misty noble olive quiet rapid rosy silver steady sunny ' +
  'swift tidy warm wise'
).split(' ');
const NOUNS = (
  'otter heron maple harbor meadow falcon river cedar comet lantern pebble willow badger ' +
  'canyon finch garden island juniper kestrel lagoon orchard panda quartz robin summit tulip ' +
  'valley walrus yarrow zephyr beacon dune'
).split(' ');

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.floor(random() * list.length)]!;
}

/** A name that is easy to read aloud and type: `calm-otter-417`. */
export function randomRoomName(random: () => number = cryptoRandom): string {
  const number = 100 + Math.floor(random() * 900);
  return `${pick(ADJECTIVES, random)}-${pick(NOUNS, random)}-${number}`;
}

function cryptoRandom(): number {
  const buffer = new Uint32Array(1);
  crypto.getRandomValues(buffer);
  return buffer[0]! / 2 ** 32;
}

/** Up to two letters for a tile without video: "Ada Lovelace" → "AL", "grace" → "G", "<b>" → "B". */
export function initials(name: string): string {
  const firsts = name
    .split(/\s+/u)
    .map((word) => /[\p{L}\p{N}]/u.exec(word)?.[0])
    .filter((c): c is string => c !== undefined);
  if (firsts.length === 0) return '?';
  const last = firsts.length > 1 ? firsts[firsts.length - 1] : '';
  return (firsts[0] + last).toUpperCase();
}

/** A stable hue per participant, so tiles without video are told apart at a glance. */
export function hueOf(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % 360;
}
