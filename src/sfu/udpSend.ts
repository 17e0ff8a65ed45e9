import type { Socket } from 'node:dgram';

/**
 * A datagram send on a bound, unconnected `dgram` socket without `Socket.send`'s per-call work: the
 * address "lookup" of an IP literal (a closure and a `process.nextTick` per datagram), the argument
 * normalisation and the async-hooks scope. It calls what `Socket.send` ends in — the socket handle's
 * `send`, which tries the kernel send synchronously (libuv `uv_udp_try_send`) and queues the datagram only
 * when the kernel would block — and it tells the caller which happened: after a synchronous send (or an
 * error) the data buffer may be reused at once.
 *
 * The handle and its request object are Node internals (`lib/dgram.js` `doSend`, Node 18–22). They are
 * looked up once and checked; without them, or on a socket that is not bound and unconnected, this falls
 * back to `Socket.send`, which keeps the buffer until its deferred send (the caller must not reuse it).
 */

interface UdpHandle {
  send(
    req: SendRequest,
    list: Buffer[],
    count: number,
    port: number,
    address: string,
    callback: boolean,
  ): number;
}
interface SendRequest {
  list?: Buffer[];
}
interface SocketState {
  handle: UdpHandle | null;
  bindState: number;
  connectState: number;
}

/** lib/internal/dgram.js: bindState BIND_STATE_BOUND, connectState CONNECT_STATE_DISCONNECTED. */
const BOUND = 2;
const DISCONNECTED = 0;

type SendRequestClass = new () => SendRequest;

let internals: { SendWrap: SendRequestClass; state: symbol } | null | undefined;

function lookUpInternals(socket: Socket): typeof internals {
  try {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    const binding = (process as unknown as { binding?: (name: string) => { SendWrap?: unknown } }).binding?.(
      'udp_wrap',
    );
    const s = state && (socket as unknown as Record<symbol, Partial<SocketState> | undefined>)[state];
    if (
      state &&
      typeof binding?.SendWrap === 'function' &&
      s &&
      'handle' in s &&
      typeof s.bindState === 'number' &&
      typeof s.connectState === 'number'
    )
      return { SendWrap: binding.SendWrap as SendRequestClass, state };
  } catch {
    // No process.binding (or it throws): Socket.send it is.
  }
  return null;
}

/** One request object and list, reused while sends complete synchronously. */
let request: SendRequest | undefined;
let list: Buffer[] = [];

/** Sends count when the fast path was taken (for tests). */
export const udpSendStats = { direct: 0, queued: 0, fallback: 0 };

/**
 * Sends `data` to `address`:`port` (an IP literal of the socket's family). Returns true when `data` is
 * no longer referenced (sent synchronously, or the send failed), false when something still holds it.
 * Errors are dropped, as `Socket.send` without a callback drops them.
 */
export function sendDatagram(socket: Socket, data: Buffer, port: number, address: string): boolean {
  if (internals === undefined) internals = lookUpInternals(socket);
  const state = internals && (socket as unknown as Record<symbol, SocketState | undefined>)[internals.state];
  const handle = state?.handle;
  if (!internals || !handle || state.bindState !== BOUND || state.connectState !== DISCONNECTED) {
    udpSendStats.fallback++;
    socket.send(data, port, address);
    return false;
  }
  request ??= new internals.SendWrap();
  list[0] = data;
  const result = handle.send(request, list, 1, port, address, false);
  if (result === 0) {
    // Queued in libuv until the socket is writable: the request (kept alive by libuv) holds the data.
    request.list = list;
    request = undefined;
    list = [];
    udpSendStats.queued++;
    return false;
  }
  // ≥ 1: sent synchronously (the datagram's length + 1); < 0: an error (dropped, as Socket.send would).
  list[0] = EMPTY;
  udpSendStats.direct++;
  return true;
}

const EMPTY = Buffer.alloc(0);

/** What owns a queued datagram's buffer: told when the send is done, and whether something still holds it. */
export interface BufferOwner {
  /** The buffer is in the send queue (or, after `sent(false)`, held by the socket): do not write it. */
  queued: boolean;
  sent(free: boolean): void;
}

/**
 * Batched sends. Between `beginSendBatch` and `endSendBatch`, `queueDatagram` collects datagrams and the
 * end sends them back to back. A forwarded packet goes to every subscriber in one loop; encrypting all
 * copies first and then sending them in one tight run makes the burst on the wire short, so receivers on
 * the same host are woken (and contend for their socket queues) once per burst rather than for each
 * datagram, which is most of the kernel's cost per send on loopback.
 */
let batchDepth = 0;
const queuedSockets: Socket[] = [];
const queuedData: Buffer[] = [];
const queuedPorts: number[] = [];
const queuedAddresses: string[] = [];
const queuedOwners: (BufferOwner | undefined)[] = [];
let queuedCount = 0;

export function beginSendBatch(): void {
  batchDepth++;
}

export function endSendBatch(): void {
  if (--batchDepth === 0) flushSendBatch();
}

/** True while a batch is open: `queueDatagram` then queues rather than sends. */
export function sendBatchOpen(): boolean {
  return batchDepth > 0;
}

/**
 * Queues a datagram until the batch ends (call only while `sendBatchOpen()`); `owner.sent(free)` says
 * afterwards whether its buffer may be reused. An owner must not write its buffer while `queued`; it may
 * call `flushSendBatch` to send the queue early.
 */
export function queueDatagram(
  socket: Socket,
  data: Buffer,
  port: number,
  address: string,
  owner: BufferOwner | undefined,
): void {
  const i = queuedCount++;
  queuedSockets[i] = socket;
  queuedData[i] = data;
  queuedPorts[i] = port;
  queuedAddresses[i] = address;
  queuedOwners[i] = owner;
  if (owner) owner.queued = true;
}

/** Sends what is queued, in order. */
export function flushSendBatch(): void {
  const n = queuedCount;
  queuedCount = 0;
  for (let i = 0; i < n; i++) {
    const owner = queuedOwners[i];
    let free = false;
    try {
      free = sendDatagram(queuedSockets[i]!, queuedData[i]!, queuedPorts[i]!, queuedAddresses[i]!);
    } catch {
      // The socket closed since the packet was queued (Socket.send throws then); dropped, as werift would.
    }
    if (owner) {
      owner.queued = false;
      owner.sent(free);
    }
    queuedData[i] = EMPTY;
    queuedOwners[i] = undefined;
    queuedSockets[i] = NO_SOCKET;
  }
}

/** Placeholder in the queue's slots, so that a sent batch keeps no closed socket alive. */
const NO_SOCKET = undefined as unknown as Socket;
