import { execFileSync } from 'node:child_process';

/**
 * "Sink" subscribers for the workers and broadcast scenarios: real WebRTC subscribers (ICE, DTLS, SRTP
 * keys) whose RTP the kernel counts and drops (their RTCP it drops uncounted) before their socket
 * (nftables, input hook), so thousands of received packets per second cost the load process nothing and
 * the server, not the generator, is what runs out of CPU. STUN and DTLS still reach the sink's werift peer
 * connection (ICE consent keeps working). Needs root and `nft` (Debian package nftables); only traffic to
 * the sink port range that arrives on the given interfaces is touched: loopback, and for Janus the host's
 * end of its namespace's veth link (bench/lib/janus.ts), where Janus's packets arrive.
 */
export const SINK_PORTS: [number, number] = [61000, 64999];
const TABLE = 'port545_bench';

function nft(args: string[], input?: string): string {
  return execFileSync('nft', args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
    ...(input ? { input } : {}),
  });
}

/** Whether sinks can be used here (root and nft). */
export function sinksAvailable(): boolean {
  try {
    nft(['list', 'tables']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the counting filter (replacing one left over from an interrupted run) for datagrams arriving on
 * `interfaces` (by name: a veth link may be created after the filter).
 */
export function installSinkFilter(interfaces: string[] = ['lo']): void {
  removeSinkFilter();
  const iif = `iifname { ${interfaces.map((i) => JSON.stringify(i)).join(', ')} }`;
  // RFC 7983: a first byte of 128..191 is RTP or RTCP (STUN 0..3, DTLS 20..63 pass). RTCP (RFC 5761 §4:
  // a second byte of 192..223; the server's sender reports, about one a second per stream) is dropped
  // uncounted: the count is compared with the RTP packets the publishers sent. A counter per port.
  const ports = `${SINK_PORTS[0]}-${SINK_PORTS[1]}`;
  nft(
    ['-f', '-'],
    `table inet ${TABLE} {
  set sinks { type inet_service; flags dynamic; counter; size 65535; }
  chain input {
    type filter hook input priority -300;
    ${iif} udp dport ${ports} @th,64,2 2 @th,72,8 192-223 drop
    ${iif} udp dport ${ports} @th,64,2 2 update @sinks { udp dport } drop
  }
}
`,
  );
}

export function removeSinkFilter(): void {
  try {
    nft(['delete', 'table', 'inet', TABLE]);
  } catch {}
}

/** RTP datagrams (and their bytes) that reached each sink port since the filter was installed. */
export function readSinkCounters(): Map<number, { packets: number; bytes: number }> {
  const out = new Map<number, { packets: number; bytes: number }>();
  const json = JSON.parse(nft(['-j', 'list', 'set', 'inet', TABLE, 'sinks'])) as {
    nftables: { set?: { elem?: { elem: { val: number; counter: { packets: number; bytes: number } } }[] } }[];
  };
  for (const entry of json.nftables) {
    for (const e of entry.set?.elem ?? []) out.set(e.elem.val, e.elem.counter);
  }
  return out;
}
