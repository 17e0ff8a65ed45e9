import { deserialize, serialize } from 'node:v8';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { RoomWorker } from '../workers/RoomWorkers.js';
import type { LinkMessage } from '../workers/WorkerLink.js';
import type { Cluster } from './Cluster.js';
import { openUpstream } from './forward.js';

/**
 * One broadcast over several nodes. A viewer connected to node B of a room on node A has its media run on
 * B: the room's worker on A opens a worker link (src/workers/WorkerLink.ts) to B, whose one end the two
 * main threads carry over a WebSocket between the nodes, and a worker of B hosts every viewer of that
 * room's worker connected to B. Each track crosses to B **once**, whatever the number of its viewers
 * there; B encrypts and sends to each. The link's messages are the worker link's own, serialized with
 * v8's structured clone (the nodes vouch for each other: the WebSocket is signed as a passed-on
 * connection is).
 */

/** Marks a node's WebSocket as a worker link, not a client's connection passed on. */
export const LINK_HEADER = 'x-port545-link';
/**
 * Bytes that may wait to be sent on a link before packets are dropped: a node that cannot keep up loses
 * packets, as a congested network would, rather than make this one hold them without end.
 */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** A room worker here opened a link to `node` for its viewers there: carries `port` to it. */
export async function carryNodeLink(
  cluster: Cluster,
  node: string,
  port: MessagePort,
  maxPayload: number,
  log: Logger,
): Promise<void> {
  const info = cluster.nodes.find((n) => n.id === node);
  if (!info) {
    log.warn({ node }, 'no such node for a viewer link');
    port.close();
    return;
  }
  try {
    const ws = await openUpstream(info, { ...cluster.sign('cluster'), [LINK_HEADER]: '1' }, maxPayload);
    bridge(port, ws, log.child({ link: node }));
  } catch (error) {
    log.warn({ node, err: error }, 'cannot open a viewer link to a node');
    port.close();
  }
}

/** Another node's room worker linked to this node, for its viewers here: one of this node's workers takes it. */
export function acceptNodeLink(ws: WebSocket, from: string, worker: RoomWorker, log: Logger): void {
  const { port1, port2 } = new MessageChannel();
  worker.post({ t: 'link', peer: `node:${from}`, port: port1 }, [port1]);
  bridge(port2, ws, log.child({ link: from }));
}

/** Carries a worker link's messages between `port` and a WebSocket to the other node, both ways. */
function bridge(port: MessagePort, ws: WebSocket, log: Logger): void {
  let dropped = 0;
  port.on('message', (message: LinkMessage) => {
    if (ws.readyState !== ws.OPEN) return;
    if (message.t === 'rtp' && ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      if (dropped++ % 1000 === 0) log.warn({ dropped }, 'a node link is congested: packets dropped');
      return;
    }
    ws.send(serialize(message));
  });
  ws.on('message', (data: Buffer, binary: boolean) => {
    let message: LinkMessage;
    try {
      if (!binary) throw new Error('text frame');
      message = deserialize(data) as LinkMessage;
    } catch (error) {
      log.warn({ err: error }, 'unreadable node link message; closing the link');
      ws.close(1007, 'unreadable link message');
      return;
    }
    if (message?.t === 'rtp') {
      // A buffer of its own at offset 0, handed over: its payload is aligned for the SRTP seal there.
      const data = new Uint8Array(message.data.byteLength);
      data.set(message.data);
      message.data = data;
      port.postMessage(message, [data.buffer]);
    } else port.postMessage(message);
  });
  ws.on('close', () => port.close());
  ws.on('error', (error) => log.debug({ err: error }, 'node link error'));
  // The worker's end closed (its link ended, or the worker stopped).
  port.on('close', () => ws.close(1000));
}
