/**
 * A host on another machine (a network namespace: Node cannot move a socket into one, so this runs as a
 * process there): joins room ARGV[3] on the server at ARGV[2], lists it with topic ARGV[4], prints
 * "listed", and stays in the room until it is ended.
 */
import { connectNode } from '../../src/client/node.js';

const [url, room, topic] = process.argv.slice(2);
if (!url || !room) throw new Error('usage: listRoom.ts URL ROOM [TOPIC]');
const host = await connectNode({ url, room, name: 'Lan Host' });
await host.listRoom(true, topic);
console.log('listed');
const leave = () => {
  host.leave().finally(() => process.exit(0));
};
process.on('SIGTERM', leave);
process.on('SIGINT', leave);
