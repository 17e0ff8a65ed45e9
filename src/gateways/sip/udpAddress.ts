import { isIP } from 'node:net';

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:127.0.0.1`). */
export const plainAddress = (address: string): string =>
  address.startsWith('::ffff:') ? address.slice(7) : address;

/**
 * The destination to give `send` on a UDP socket. A `udp6` socket bound to `::` is dual-stack, but Node
 * refuses to send from it to an IPv4 address (EINVAL): IPv4 peers are reached at their IPv4-mapped
 * IPv6 address (RFC 4291 §2.5.5.2), which is where their packets appear to come from too.
 */
export const sendAddress = (ipv6Socket: boolean, address: string): string =>
  ipv6Socket && isIP(address) === 4 ? `::ffff:${address}` : address;
