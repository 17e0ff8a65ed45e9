/**
 * A host on another machine (a network namespace: Node cannot move a socket into one, so this runs as a
 * process there): joins room ARGV[3] on the server at ARGV[2], lists it with topic ARGV[4], prints
 * "listed", and stays in the room until it is ended. ARGV[5], if given, is a PEM certificate to trust
 * (the server's self-signed one).
 */
import { readFileSync } from 'node:fs';
import { connectNode } from '../../src/client/node.js';

const [url, room, topic, caFile] = process.argv.slice(2);
if (!url || !room) throw new Error('usage: listRoom.ts URL ROOM [TOPIC] [CA_FILE]');
const host = await connectNode({
  url,
  room,
  name: 'Lan Host',
  ...(caFile ? { ca: readFileSync(caFile) } : {}),
});
await host.listRoom(true, topic);
console.log('listed');
const leave = () => {
  host.leave().finally(() => process.exit(0));
};
process.on('SIGTERM', leave);
process.on('SIGINT', leave);
