import { parseArgs } from 'node:util';
import { browse, type FoundServer } from './browse.js';

const help = `Usage: port545 browse [--timeout SECONDS] [--json]
Lists the port545 servers on the local network (DNS-SD over multicast DNS, _port545._tcp) and the rooms
their hosts listed. Listens for --timeout seconds (default 3).
Exit code: 0 at least one server answered, 1 none did.`;

/**
 * Names, topics and versions come from the network: control characters (and the ones that reorder text)
 * would drive the terminal, so they are shown as "?".
 */
function inert(text: string, max = 120): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what is removed
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function describe(server: FoundServer): string[] {
  const about = [
    server.version ? `port545 ${inert(server.version, 20)}` : undefined,
    server.mode ? `${inert(server.mode, 10)} mode` : undefined,
    server.tls ? (server.fingerprint ? 'TLS (advertised certificate)' : 'TLS') : undefined,
  ].filter(Boolean);
  const lines = [`${inert(server.name, 63)}  ${server.url}${about.length ? `  (${about.join(', ')})` : ''}`];
  if (server.directoryError)
    lines.push(
      `  ${server.listedRooms} listed room${server.listedRooms === 1 ? '' : 's'}; the directory could not be read: ${inert(server.directoryError)}`,
    );
  else if (!server.rooms?.length)
    lines.push(
      server.listedRooms > 0
        ? `  ${server.listedRooms} listed room${server.listedRooms === 1 ? '' : 's'}, none open to a visitor without an access token`
        : '  no listed rooms',
    );
  else
    for (const room of server.rooms) {
      const notes = [
        `${room.people} ${room.people === 1 ? 'person' : 'people'}`,
        room.passwordProtected ? 'password' : undefined,
        room.locked ? 'locked' : undefined,
      ].filter(Boolean);
      const topic = room.topic ? `  "${inert(room.topic, 80)}"` : '';
      lines.push(
        `  ${inert(room.name, 64)}${topic}  (${notes.join(', ')})  ${server.url}r/${encodeURIComponent(room.name)}`,
      );
    }
  return lines;
}

/** `port545 browse`: prints what answered and resolves with the exit code. */
export async function runBrowseCli(argv: string[]): Promise<number> {
  let values: { json?: boolean; timeout?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, timeout: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    console.error(`port545 browse: ${(error as Error).message}\n\n${help}`);
    return 64;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  const seconds = values.timeout === undefined ? 3 : Number(values.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) {
    console.error('port545 browse: --timeout is a number of seconds from 0 to 60');
    return 64;
  }
  const servers = await browse({
    timeoutMs: seconds * 1000,
    onError: (error) => console.error(`port545 browse: multicast DNS: ${error.message}`),
  });
  if (values.json) console.log(JSON.stringify({ servers }, null, 2));
  else if (servers.length === 0)
    console.log(
      `No port545 server answered on the local network within ${seconds} s (multicast DNS, _port545._tcp).`,
    );
  else {
    console.log(`${servers.length} port545 server${servers.length === 1 ? '' : 's'} on the local network:`);
    for (const server of servers) for (const line of describe(server)) console.log(line);
  }
  return servers.length > 0 ? 0 : 1;
}
