import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { eventually } from './server.js';

/** TURN over TLS too (RFC 8656 §3.1), on its own port, with this certificate and key (PEM files). */
export interface CoturnTls {
  port: number;
  cert: string;
  key: string;
}

/** coturn on loopback with `use-auth-secret`; resolves once it takes TCP connections (and TLS ones). */
export async function startCoturn(
  dir: string,
  port: number,
  secret: string,
  tls?: CoturnTls,
): Promise<ChildProcess> {
  const relayMin = 49_200 + Math.floor(Math.random() * 400);
  const turn = spawn(
    'turnserver',
    [
      '-n',
      '--listening-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--relay-ip=127.0.0.1',
      `--min-port=${relayMin}`,
      `--max-port=${relayMin + 99}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=port545.test',
      // The test's peers are on loopback; a deployment keeps coturn's refusal of loopback peers.
      '--allow-loopback-peers',
      ...(tls
        ? [`--tls-listening-port=${tls.port}`, `--cert=${tls.cert}`, `--pkey=${tls.key}`]
        : ['--no-tls']),
      '--no-dtls',
      '--no-cli',
      '--no-multicast-peers',
      `--userdb=${join(dir, 'turndb')}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      '--log-file=stdout',
      '--simple-log',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  turn.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  turn.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  const listening = (p: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(p, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  await eventually(`coturn listening on ${port}${tls ? ` and ${tls.port}` : ''} (${output})`, async () => {
    if (turn.exitCode !== null) throw new Error(`coturn exited ${turn.exitCode}: ${output}`);
    return (await listening(port)) && (!tls || (await listening(tls.port)));
  });
  return turn;
}
