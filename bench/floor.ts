/**
 * `npm run bench:floor`: what one forwarded packet cannot cost less than, measured piece by piece in one
 * process, and so how close to the bare relay's rate an SFU with per-subscriber SRTP can come.
 *
 * - the send: one datagram to a receiver in another process on loopback, as the relay sends it
 *   (`Socket.send`) and as port545 sends it (`sendDatagram`, src/sfu/udpSend.ts);
 * - the SRTP: sealing one packet for one subscriber (AES_CM_128_HMAC_SHA1_80, RFC 3711), as port545 does
 *   it (src/sfu/SrtpEncryptor.ts: keystream in batches from one AES-ECB context, XOR, HMAC-SHA1 from two
 *   one-shot hashes), with as many subscriber sessions as a livestream step has.
 *
 * The relay pays the send; an SFU pays at least the send and the SRTP. The ratio of the two is the most
 * an SFU can reach of the relay's rate per core even if everything else it does (RTP header rewriting,
 * NACK cache, receive path, RTCP, timers) cost nothing. CPU is user + system time of this process
 * (`process.cpuUsage`), the way `npm run bench` counts the server's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { AesCmPackets, SEAL_OFFSET } from '../src/sfu/SrtpEncryptor.js';
import { sendDatagram } from '../src/sfu/udpSend.js';
import { round } from './lib/stats.js';

/** Subscriber sessions sealed for, and datagrams sent in a burst: one fan-out of a livestream step. */
const SUBSCRIBERS = 400;
const PACKETS_PER_SIZE = 200_000;
const SIZES = [
  { name: 'video', payload: 1100 },
  { name: 'audio', payload: 90 },
];
const HEADER = 12;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A receiver in another process that reads and drops every datagram (as the bench's subscribers do). */
async function startSink(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:dgram').createSocket('udp4');
       s.on('message', () => {});
       s.bind(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: Number(String(line).trim()) };
}

/**
 * CPU per datagram of `send`, in bursts of one fan-out (as a packet's copies leave a server), with the
 * turn of the event loop between bursts counted too: `Socket.send` sends on the next tick. The same loop
 * without sends is measured and taken off.
 */
async function sendCost(send: ((data: Buffer) => void) | undefined, payload: number): Promise<number> {
  const data = randomBytes(HEADER + payload + 10);
  data[0] = 0x80;
  const burst = send
    ? () => {
        for (let i = 0; i < SUBSCRIBERS; i++) send(data);
      }
    : () => {};
  for (let i = 0; i < 20; i++) {
    burst(); // warm-up
    await tick();
  }
  const c0 = cpuMs();
  for (let sent = 0; sent < PACKETS_PER_SIZE; sent += SUBSCRIBERS) {
    burst();
    // Let the sends finish and the receiver drain, as the time between a server's incoming packets does.
    await tick();
  }
  return ((cpuMs() - c0) * 1000) / PACKETS_PER_SIZE;
}

/** CPU per packet sealed, cycling through SUBSCRIBERS sessions as a fan-out does. */
function sealCost(payloadSize: number): number {
  const sessions = Array.from(
    { length: SUBSCRIBERS },
    () => new AesCmPackets(randomBytes(16), randomBytes(14), randomBytes(20)),
  );
  const ssrc = 0x1234_5678;
  const keystreams = sessions.map((s) => s.keystream(ssrc));
  // One payload per incoming packet, sealed for every subscriber (Buffer's pool aligns it to 8 bytes).
  const payload = Buffer.from(randomBytes(payloadSize));
  const header = randomBytes(HEADER);
  header[0] = 0x80;
  const seal = (seq: number) => {
    for (let s = 0; s < SUBSCRIBERS; s++) {
      const cm = sessions[s]!;
      const buffer = cm.reserve(HEADER + payloadSize);
      header.copy(buffer, SEAL_OFFSET);
      const size = cm.seal(keystreams[s]!, HEADER, payload, seq & 0xffff, seq >>> 16);
      cm.packet(size);
    }
  };
  for (let seq = 0; seq < 64; seq++) seal(seq); // warm-up
  const rounds = Math.ceil(PACKETS_PER_SIZE / SUBSCRIBERS);
  const c0 = cpuMs();
  for (let seq = 64; seq < 64 + rounds; seq++) seal(seq);
  return ((cpuMs() - c0) * 1000) / (rounds * SUBSCRIBERS);
}

async function main(): Promise<void> {
  const sink = await startSink();
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  console.log(
    `bench:floor — Node ${process.version}, ${PACKETS_PER_SIZE} packets per measure, fan-out of ${SUBSCRIBERS}, CPU µs per forwarded packet`,
  );
  const rows = [];
  try {
    for (const size of SIZES) {
      const relaySend = await sendCost((d) => socket.send(d, sink.port, '127.0.0.1'), size.payload);
      const fastSend = await sendCost(
        (d) => void sendDatagram(socket, d, sink.port, '127.0.0.1'),
        size.payload,
      );
      const srtp = sealCost(size.payload);
      const floor = fastSend + srtp;
      rows.push({
        packet: `${size.name} (${size.payload} B payload)`,
        'relay send (Socket.send) µs': round(relaySend, 2),
        'port545 send (sendDatagram) µs': round(fastSend, 2),
        'SRTP seal µs': round(srtp, 2),
        'SFU floor (send + SRTP) µs': round(floor, 2),
        'most an SFU reaches of the relay': round(relaySend / floor, 2),
      });
    }
  } finally {
    socket.close();
    sink.child.kill();
  }
  console.table(rows);
}

await main();
