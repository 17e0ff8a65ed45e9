import { spawn } from 'node:child_process';
import { createSocket, type Socket, type SocketType } from 'node:dgram';

/**
 * Copies of a UDP socket's file descriptor, so that worker threads can send from the one port
 * (src/werift/udpMuxRelay.ts).
 *
 * Node 20 has no way to duplicate a descriptor (no `dup`, no `reusePort` for dgram, and a socket cannot be
 * handed to a worker thread). A worker can open a socket on a descriptor number (`bind({ fd })`), but the
 * main thread's own descriptor must not be used that way: a worker that ends closes the descriptor it
 * opened, which would take the port away from every thread. What does make a copy is the kernel's
 * SCM_RIGHTS, which Node uses to pass sockets to a child process: the socket is sent to a short-lived child
 * (`process.execPath`, a one-line echo) and comes back as a new descriptor of the same socket. Each worker
 * gets a copy of its own; when it ends and closes it, the port and the other copies stay open.
 *
 * The main thread's handle on a returned copy is stopped at once (it never reads: the main socket reads
 * for everyone) and is kept, never closed: closing it after the worker closed the same number could close
 * whatever the process opened on that number since. One is kept per worker start and family.
 */

/** The Node internals reached here: dgram's state (lib/internal/dgram.js) and its UDP handle. */
interface UdpHandleInternals {
  fd: number;
  recvStop(): number;
}
interface DgramState {
  handle: UdpHandleInternals | null;
}

function stateOf(socket: Socket): DgramState | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = key && (socket as unknown as Record<symbol, DgramState | undefined>)[key];
  return state && typeof state.handle?.recvStop === 'function' ? state : undefined;
}

/** Stops a socket's reading (it only sends) and returns its descriptor; undefined on an unknown Node. */
function sendOnly(socket: Socket): number | undefined {
  const handle = stateOf(socket)?.handle;
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
  handle.recvStop();
  socket.unref();
  return handle.fd;
}

/** The main thread's handles on the copies it handed out: kept so that none is closed (see above). */
const held = new Set<Socket>();

/** A new descriptor of a socket, for one worker to open with `openSendSocket`. */
export interface SocketCopy {
  fd: number;
  /** Closes the copy: only when no thread opened it (the worker it was for ended first). */
  discard(): void;
}

/** The child: sends each socket back; it ends when the parent disconnects (or ends). */
const ECHO = "process.on('message',(m,h)=>process.send(m,h))";

/**
 * `count` new descriptors of `socket`, each to be opened by one worker with `openSendSocket` (which then
 * owns it). Rejects after `timeoutMs` or when the copy cannot be made on this Node.
 */
export function copySocket(socket: Socket, count: number, timeoutMs = 10_000): Promise<SocketCopy[]> {
  if (count === 0) return Promise.resolve([]);
  if (!stateOf(socket)) return Promise.reject(new Error('this Node has no dgram internals to copy a socket'));
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    // Not the parent's loaders (a test runner's tsx): the echo is plain JavaScript.
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['-e', ECHO], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env,
    });
    const copies: SocketCopy[] = [];
    const timer = setTimeout(() => finish(new Error('copying the UDP socket took too long')), timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      child.removeAllListeners();
      child.on('error', () => {});
      if (child.connected) child.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill();
      if (error) {
        for (const copy of copies) copy.discard();
        reject(error);
      } else resolve(copies);
    };
    child.on('error', finish);
    child.on('exit', () => finish(new Error('the socket copier ended early')));
    child.on('message', (_message: unknown, copy: unknown) => {
      if (!(copy && typeof copy === 'object' && 'send' in copy)) return;
      const handle = copy as Socket;
      const fd = sendOnly(handle);
      held.add(handle);
      if (fd === undefined) return finish(new Error('a copied socket has no descriptor'));
      copies.push({
        fd,
        discard: () => {
          if (held.delete(handle)) handle.close();
        },
      });
      if (copies.length === count) finish();
    });
    for (let i = 0; i < count; i++) child.send({ i }, socket);
  });
}

/** A socket of this thread on a copied descriptor, for sending only; closing it closes the copy. */
export function openSendSocket(fd: number, type: SocketType): Socket | undefined {
  const socket = createSocket({ type });
  try {
    socket.bind({ fd });
  } catch {
    return undefined;
  }
  // Errors of an unconnected UDP socket are of one send.
  socket.on('error', () => {});
  if (sendOnly(socket) === undefined) {
    socket.close();
    return undefined;
  }
  return socket;
}
