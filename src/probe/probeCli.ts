import { parseArgs } from 'node:util';
import { DEFAULT_PROBE_PORT, isLocalHost, type ProbeResult, parseTarget, printable, probe } from './probe.js';
import { localListeners } from './procNet.js';

const help = `Usage: port545 probe [HOST][:PORT] [--json] [--timeout MS]
Tells whether anything listens on TCP PORT (default ${DEFAULT_PROBE_PORT}) of HOST (default localhost), whether it
is a port545 server (version, open or secured mode, TLS certificate fingerprint) or something else, and,
for this machine on Linux, which process owns the port.
Exit code: 0 a port545 server, 1 nothing listens, 2 something else listens (investigate it).`;

export const EXIT_PORT545 = 0;
export const EXIT_NOTHING = 1;
export const EXIT_OTHER = 2;

/** Text that came from the probed service, made inert for the terminal. */
const text = (s: string) => printable(Buffer.from(s, 'latin1'), 200);

function exitCode(result: ProbeResult): number {
  return result.kind === 'port545' ? EXIT_PORT545 : result.kind === 'nothing' ? EXIT_NOTHING : EXIT_OTHER;
}

/** `port545 probe`: prints a report and resolves with the exit code. */
export async function runProbeCli(argv: string[]): Promise<number> {
  let values: { json?: boolean; timeout?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, timeout: { type: 'string' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    console.error(`port545 probe: ${(error as Error).message}\n\n${help}`);
    return 64; // EX_USAGE: not one of the three answers
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  let target: ReturnType<typeof parseTarget>;
  try {
    target = parseTarget(positionals[0]);
  } catch (error) {
    console.error(`port545 probe: ${(error as Error).message}`);
    return 64;
  }
  const timeoutMs = values.timeout ? Number(values.timeout) : 3000;
  const result = await probe(target, { timeoutMs });
  const local = process.platform === 'linux' && (await isLocalHost(target.host));
  const listeners = local ? await localListeners(target.port) : undefined;

  if (values.json) {
    console.log(
      JSON.stringify({ ...result, exitCode: exitCode(result), localListeners: listeners }, null, 2),
    );
    return exitCode(result);
  }
  const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const out: string[] = [`port545 probe ${where}`];
  switch (result.kind) {
    case 'nothing':
      out.push(`  TCP ${where}: nothing listens (${result.reason}).`);
      break;
    case 'port545':
      out.push(`  TCP ${where}: open (${result.address}).`);
      out.push(
        `  It is a port545 server: version ${result.version}${result.protocol !== undefined ? `, signaling protocol ${result.protocol}` : ''}.`,
      );
      out.push(
        result.auth === 'secured'
          ? '  Mode: secured (every join needs an access token).'
          : result.auth === 'open'
            ? '  Mode: open (anyone who reaches it and knows a room name can join).'
            : '  Mode: not reported (an older port545).',
      );
      if (result.tls)
        out.push(
          `  TLS: yes; certificate SHA-256 fingerprint ${result.tls.fingerprint256}`,
          `       ${text(result.tls.subject)}; valid to ${result.tls.validTo}; ${
            result.tls.trusted
              ? 'trusted by this machine'
              : result.tls.selfSigned
                ? 'self-signed (compare the fingerprint with the one the server printed at start-up)'
                : 'NOT trusted by this machine'
          }`,
        );
      else out.push('  TLS: no (plain HTTP).');
      break;
    case 'unknown':
      out.push(`  TCP ${where}: open (${result.address}).`);
      out.push('  It is NOT a port545 server.');
      if (result.http)
        out.push(
          `  It speaks HTTP: "${text(result.http.statusLine)}"${result.http.server ? `, Server: "${text(result.http.server)}"` : ''}.`,
        );
      if (result.tls)
        out.push(`  TLS certificate: ${text(result.tls.subject)}, SHA-256 ${result.tls.fingerprint256}`);
      out.push(
        result.answer
          ? `  It answered: "${result.answer}"`
          : '  It accepted the connection but answered nothing (not to HTTP, not to TLS).',
      );
      out.push(
        target.port === DEFAULT_PROBE_PORT
          ? '  Port 545 belongs to QuickTime Conferencing, dead since the 1990s: an unknown service listening on it deserves investigation.'
          : `  An unknown service on port ${target.port} deserves investigation if you did not expect it there.`,
      );
      break;
  }
  if (listeners) {
    if (listeners.length === 0) out.push(`  On this machine: no process listens on TCP port ${target.port}.`);
    for (const l of listeners) {
      const who = l.user ? `${l.user} (uid ${l.uid})` : `uid ${l.uid}`;
      const host = l.address.includes(':') ? `[${l.address}]` : l.address;
      if (l.processes.length === 0)
        out.push(
          `  On this machine: ${host}:${l.port} is held by a process of ${who} (run as root to see which).`,
        );
      // A process names itself: print its name and command line as inert text, never terminal codes.
      for (const p of l.processes)
        out.push(
          `  On this machine: ${host}:${l.port} is held by pid ${p.pid} (${printable(Buffer.from(p.command), 64)}) of ${who}: ${printable(Buffer.from(p.cmdline), 400)}`,
        );
    }
  }
  out.push(
    `Result: ${result.kind === 'port545' ? 'port545' : result.kind === 'nothing' ? 'nothing listens' : 'unknown service'} (exit ${exitCode(result)}).`,
  );
  console.log(out.join('\n'));
  return exitCode(result);
}
