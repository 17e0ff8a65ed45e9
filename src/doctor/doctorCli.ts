import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CheckResult, parseServerUrl, runDoctor } from './doctor.js';

const help = `Usage: port545 doctor [URL] [--json] [--ca FILE] [--token T]
Checks that a port545 server (default http://localhost:545/) can be reached and that media flows through
it: HTTP(S) and /healthz, the signaling WebSocket, then each media path on its own with a test call that
may use nothing else (UDP to the server's media port, ICE over TCP to it, and each kind of TURN URL the
server hands out: UDP, TCP, TLS), and last a call between two test clients in a throwaway room with
every path allowed (candidate pair, round trip, packet loss over 3 s). A blocked path is named.
  --json       print an array of {check, ok, detail, advice} instead of lines
  --ca FILE    trust this PEM certificate (an https:// server with a self-signed certificate)
  --token T    access token for a server in secured mode (port545 token --room "*" --identity doctor)
Exit code: 0 every check passed, 1 a check failed, 2 a bad argument.
Camera and microphone permission can only be checked in a browser: open <URL>/check.`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const NAMES: Record<CheckResult['check'], string> = {
  http: 'HTTP(S)',
  websocket: 'WebSocket',
  udp: 'UDP media',
  tcp: 'TCP media',
  'turn-udp': 'TURN over UDP',
  'turn-tcp': 'TURN over TCP',
  'turn-tls': 'TURN over TLS',
  turn: 'TURN relay',
  media: 'Call',
};

function line(result: CheckResult): string {
  const mark = result.ok ? 'PASS' : result.detail.startsWith('not run') ? 'SKIP' : 'FAIL';
  const out = [`${mark}  ${NAMES[result.check].padEnd(13)} ${result.detail}`];
  if (result.advice) out.push(`      ${''.padEnd(13)} What to do: ${result.advice}`);
  return out.join('\n');
}

/** `port545 doctor`: runs the checks, prints them and resolves with the exit code. */
export async function runDoctorCli(argv: string[]): Promise<number> {
  let values: { json?: boolean; ca?: string; token?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        ca: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
    if (positionals.length > 1) throw new Error(`one URL at most (got ${positionals.length})`);
  } catch (error) {
    console.error(`port545 doctor: ${(error as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  if (values.help) {
    console.log(help);
    return EXIT_OK;
  }
  let url: URL;
  let ca: Buffer | undefined;
  try {
    url = parseServerUrl(positionals[0]);
    if (values.ca) ca = readFileSync(values.ca);
  } catch (error) {
    console.error(`port545 doctor: ${(error as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  if (!values.json) console.log(`port545 doctor ${url.origin}`);
  const results = await runDoctor(url, {
    ...(ca ? { ca } : {}),
    ...(values.token ? { token: values.token } : {}),
    onResult: values.json ? undefined : (result) => console.log(line(result)),
  });
  const failed = results.filter((r) => !r.ok);
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else {
    const notRun = failed.filter((r) => r.detail.startsWith('not run')).length;
    const fails = failed.filter((r) => !r.detail.startsWith('not run'));
    const call = results.find((r) => r.check === 'media');
    console.log(
      failed.length === 0
        ? `Result: every check passed. (Camera and microphone permission are checked in a browser: open ${new URL('/check', url)}.)`
        : `Result: ${fails.length} check${fails.length === 1 ? '' : 's'} failed (${fails.map((r) => NAMES[r.check]).join(', ')})${notRun ? `, ${notRun} not run` : ''}${call?.ok ? '; calls still work from here, over the path the call shows' : ''} (exit 1).`,
    );
  }
  // Whatever a test call left behind (a socket closing slowly) must not keep the command from ending.
  setTimeout(() => process.exit(), 3000).unref();
  return failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}
