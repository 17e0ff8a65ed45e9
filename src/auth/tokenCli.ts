import { parseArgs } from 'node:util';
import { CodedError } from '../common/errors.js';
import { loadConfig } from '../config/loadConfig.js';
import { participantRole } from '../protocol/messages.js';
import { createAccessToken, parseTtl } from './accessToken.js';

const help = `Usage: port545 token --room ROOM --identity ID [--name NAME] [--role host|guest|viewer] [--ttl 1h]
                     [--no-publish] [--config FILE]
Prints an access token (a JWT signed with PORT545_API_SECRET, or auth.apiSecret of the config file).
  --room ROOM     the room it admits to, or "*" for every room
  --identity ID   who it is for (stable: a host's removal keeps this identity out of the room)
  --name NAME     display name shown to the others (the client cannot change it)
  --role ROLE     host (may mute, remove, lock, end), guest (default) or viewer (watches only)
  --ttl DURATION  how long it is valid: 90s, 15m, 1h (default), 7d; at most 30d
  --no-publish    may watch and listen but not send audio or video
Give it to the web client as ?token=… in the room URL, or to the SDK as connect({ token }).`;

/** `port545 token`: prints a token on stdout (nothing else), errors on stderr with exit code 2. */
export async function runTokenCli(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        room: { type: 'string' },
        identity: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string' },
        ttl: { type: 'string' },
        'no-publish': { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`port545 token: ${(error as Error).message}\n\n${help}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    console.log(help);
    return;
  }
  const fail = (message: string) => {
    console.error(`port545 token: ${message}`);
    process.exitCode = 2;
  };
  if (typeof values.room !== 'string' || typeof values.identity !== 'string')
    return fail(`--room and --identity are required\n\n${help}`);
  const role = participantRole.safeParse(values.role ?? 'guest');
  if (!role.success) return fail(`--role must be "host", "guest" or "viewer", not "${String(values.role)}"`);
  const config = loadConfig(typeof values.config === 'string' ? ['--config', values.config] : []);
  const secret = config.auth.apiSecret;
  if (!secret) return fail('no API secret: set PORT545_API_KEY and PORT545_API_SECRET (or auth in --config)');
  try {
    const { token } = await createAccessToken(secret, {
      room: values.room,
      identity: values.identity,
      name: typeof values.name === 'string' ? values.name : undefined,
      role: role.data,
      canPublish: !values['no-publish'],
      ttlSeconds: parseTtl(typeof values.ttl === 'string' ? values.ttl : '1h'),
    });
    console.log(token);
  } catch (error) {
    if (error instanceof CodedError) return fail(error.message);
    throw error;
  }
}
