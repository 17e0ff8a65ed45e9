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

/** Where coturn runs: a machine of the test's own, such as one of a `NatNetwork`. */
export interface CoturnHost {
  /** Its address: coturn listens and relays there. */
  ip: string;
  /** Starts a process on it. */
  spawn(command: string, args: string[]): ChildProcess;
  /** Whether something there takes TCP connections on `port`. */
  listening(port: number): Promise<boolean>;
}

/** Whether something on loopback here takes TCP connections on `port`. */
function listeningHere(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const LOOPBACK_HOST: CoturnHost = {
  ip: '127.0.0.1',
  spawn: (command, args) => spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }),
  listening: listeningHere,
};

/**
 * coturn with `use-auth-secret`, on loopback unless `host` says where; resolves once it takes TCP
 * connections (and TLS ones).
 */
export async function startCoturn(
  dir: string,
  port: number,
  secret: string,
  tls?: CoturnTls,
  host: CoturnHost = LOOPBACK_HOST,
): Promise<ChildProcess> {
  const relayMin = 49_200 + Math.floor(Math.random() * 400);
  const turn = host.spawn('turnserver', [
    '-n',
    `--listening-ip=${host.ip}`,
    `--listening-port=${port}`,
    `--relay-ip=${host.ip}`,
    `--min-port=${relayMin}`,
    `--max-port=${relayMin + 99}`,
    '--use-auth-secret',
    `--static-auth-secret=${secret}`,
    '--realm=port545.test',
    // The test's peers are on loopback; a deployment keeps coturn's refusal of loopback peers.
    '--allow-loopback-peers',
    ...(tls ? [`--tls-listening-port=${tls.port}`, `--cert=${tls.cert}`, `--pkey=${tls.key}`] : ['--no-tls']),
    '--no-dtls',
    '--no-cli',
    '--no-multicast-peers',
    `--userdb=${join(dir, 'turndb')}`,
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    '--log-file=stdout',
    '--simple-log',
  ]);
  let output = '';
  turn.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  turn.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  const listening = (p: number) => host.listening(p);
  await eventually(`coturn listening on ${port}${tls ? ` and ${tls.port}` : ''} (${output})`, async () => {
    if (turn.exitCode !== null) throw new Error(`coturn exited ${turn.exitCode}: ${output}`);
    return (await listening(port)) && (!tls || (await listening(tls.port)));
  });
  return turn;
}
