import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { withDeadline } from './server.js';

/**
 * A real `redis-server` (Debian's) of a test's own, on a loopback port, keeping nothing on disk. `stop`
 * and `start` again on the same port play Redis going away and coming back empty.
 */
export interface TestRedis {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function testRedis(
  port: number,
  options: { password?: string; tls?: { cert: string; key: string } } = {},
): TestRedis {
  let child: ChildProcess | undefined;
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  // With TLS: only the TLS port, with the certificate given (clients need not present one).
  if (options.tls)
    args.push(
      ...['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert],
      ...['--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.cert],
      ...['--tls-auth-clients', 'no'],
    );
  else args.push('--port', String(port));
  if (options.password) args.push('--requirepass', options.password);
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      const started = child;
      await withDeadline(
        (async () => {
          while (!(await answers(port))) {
            if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode})`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        })(),
        20_000,
        'redis-server to listen',
      );
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
}

/** Whether something accepts TCP connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
