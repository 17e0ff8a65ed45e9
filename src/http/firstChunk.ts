import type { Server as NetServer, Socket } from 'node:net';

/**
 * Calls `then` with a connection's first chunk once it comes, the socket paused and the chunk put back for
 * whoever reads it next. A connection that sends nothing within `timeoutMs`, fails, or ends before its
 * first byte is closed: the servers' sockets are half-open, and one left so would hold the server's close
 * (a browser's ICE-TCP candidate that connected and gave up does that).
 */
export function onFirstChunk(socket: Socket, timeoutMs: number, then: (chunk: Buffer) => void): void {
  const drop = () => socket.destroy();
  socket.on('error', drop);
  socket.once('end', drop);
  socket.setTimeout(timeoutMs);
  socket.once('timeout', drop);
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    socket.setTimeout(0);
    socket.removeListener('timeout', drop);
    socket.removeListener('error', drop);
    socket.removeListener('end', drop);
    socket.unshift(chunk);
    then(chunk);
  });
}

/**
 * Hands each connection of `server` whose first byte `wanted` accepts to `divert`, before the server's own
 * handlers see it; every other connection goes on to them as before, its first bytes put back. (ICE over
 * TCP on the HTTP port: src/werift/iceTcp.ts.)
 */
export function divertConnections(
  server: NetServer,
  wanted: (firstByte: number | undefined) => boolean,
  divert: (socket: Socket) => void,
  timeoutMs: number,
): void {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) =>
    onFirstChunk(socket, timeoutMs, (chunk) => {
      if (wanted(chunk[0])) {
        divert(socket);
        return;
      }
      for (const listener of listeners) listener.call(server, socket);
      // The HTTP server reads a paused socket only once it flows again.
      socket.resume();
    }),
  );
}
