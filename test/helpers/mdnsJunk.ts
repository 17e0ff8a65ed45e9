/**
 * Sends junk to multicast DNS (port 5353) of ARGV[2] and to the mDNS group: random bytes, truncated
 * headers, a name that points at itself, and queries with counts that lie. Run inside a namespace.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

const target = process.argv[2];
if (!target) throw new Error('usage: mdnsJunk.ts ADDRESS [COUNT]');
const count = Number(process.argv[3] ?? 2000);
const header = (qd: number, an: number) =>
  Buffer.from([0, 0, 0, 0, qd >> 8, qd & 255, an >> 8, an & 255, 0, 0, 0, 0]);
const shapes = [
  () => randomBytes(1 + Math.floor(Math.random() * 1400)),
  () => header(1, 0).subarray(0, Math.floor(Math.random() * 12)),
  () => Buffer.concat([header(1, 0), Buffer.from([0xc0, 0x0c, 0, 255, 0, 1])]),
  () => Buffer.concat([header(65535, 65535), Buffer.from([8]), Buffer.from('_port545'), Buffer.from([0])]),
  () => Buffer.concat([header(0, 1), randomBytes(64)]),
];
const socket = createSocket('udp4');
let sent = 0;
for (let i = 0; i < count; i++) {
  const packet = shapes[i % shapes.length]!();
  const to = i % 2 === 0 ? target : '224.0.0.251';
  await new Promise<void>((resolve) =>
    socket.send(packet, 5353, to, () => {
      sent++;
      resolve();
    }),
  );
}
socket.close();
console.log(`sent ${sent}`);
