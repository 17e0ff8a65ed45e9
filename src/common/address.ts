import { isIP, isIPv6 } from 'node:net';

/**
 * The key that per-address limits count under. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
 * dual-stack socket reports) counts as its IPv4 address. An IPv6 address counts as its /64: one
 * subscriber line usually gets a whole /64, so counting single addresses would let one client look like
 * 2^64 different ones.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  if (address === '::1') return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...new Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** True for a loopback address: 127.0.0.0/8 or ::1 (only this machine reaches it). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** True for a listening host that only this machine reaches (`localhost`, a loopback address). */
export function isLoopbackHost(host: string): boolean {
  // addressKey turns an IPv4-mapped address (::ffff:127.0.0.1) into its IPv4 one.
  return host === 'localhost' || isLoopback(addressKey(host));
}

/**
 * An IP address with an optional port: `203.0.113.7`, `203.0.113.7:545`, `2001:db8::7` or
 * `[2001:db8::7]:545`. Undefined when it is none of these.
 */
export function parseAddressPort(text: string): { address: string; port?: number } | undefined {
  if (isIP(text)) return { address: text };
  const m = /^(?:\[([^\]]+)\]|(\d+\.\d+\.\d+\.\d+)):(\d{1,5})$/.exec(text);
  const address = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!address || !isIP(address) || !(port >= 1 && port <= 65535)) return undefined;
  return { address, port };
}
