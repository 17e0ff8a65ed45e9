/**
 * The bare UDP relay of `npm run bench`: the limit a Node process reaches when forwarding costs nothing
 * but the socket. No ICE, DTLS, SRTP, RTCP or header rewriting: every datagram a member sends is sent
 * as-is to every other member of its room, the same fan-out the SFU does when everyone is subscribed to
 * everything. Members join with a datagram `HELO <room>`; all traffic is on one address (127.0.0.1, or
 * with `--janus` also the link to a network namespace: the address is the first argument), so a member is
 * known by its port.
 */
import { createSocket } from 'node:dgram';

interface Member {
  port: number;
  address: string;
  room: string;
}

const socket = createSocket('udp4');
const members = new Map<number, Member>();
/** For each member's port, the members its packets go to (every other member of its room). */
const targets = new Map<number, Member[]>();

function rebuild(room: string): void {
  const inRoom = [...members.values()].filter((m) => m.room === room);
  for (const m of inRoom)
    targets.set(
      m.port,
      inRoom.filter((o) => o !== m),
    );
}

socket.on('message', (data, rinfo) => {
  const to = targets.get(rinfo.port);
  // RTP (RFC 3550 version 2) is forwarded; anything else is a control datagram.
  if (to && data[0]! >= 128) {
    for (let i = 0; i < to.length; i++) socket.send(data, to[i]!.port, to[i]!.address);
    return;
  }
  const text = data.toString();
  if (text.startsWith('HELO ')) {
    const room = text.slice(5);
    members.set(rinfo.port, { port: rinfo.port, address: rinfo.address, room });
    rebuild(room);
    socket.send('OK', rinfo.port, rinfo.address);
  }
});

const address = process.argv[2] ?? '127.0.0.1';
socket.bind(0, address, () => {
  console.log(`relay listening on ${address}:${socket.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
