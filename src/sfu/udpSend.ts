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
