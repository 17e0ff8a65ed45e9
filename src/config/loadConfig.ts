import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, type ConfigInput, parseConfig } from './config.js';

/** Command-line flags of `port545 serve`, each with its environment variable and config-file path. */
const settings = [
  { flag: 'host', env: 'PORT545_HOST', path: ['host'], type: 'string' },
  { flag: 'port', env: 'PORT545_PORT', path: ['port'], type: 'int' },
  { flag: 'log-level', env: 'PORT545_LOG_LEVEL', path: ['logLevel'], type: 'string' },
  { flag: 'rtc-min-port', env: 'PORT545_RTC_MIN_PORT', path: ['rtc', 'minPort'], type: 'int' },
  { flag: 'rtc-max-port', env: 'PORT545_RTC_MAX_PORT', path: ['rtc', 'maxPort'], type: 'int' },
  { flag: 'announced-ip', env: 'PORT545_ANNOUNCED_IP', path: ['rtc', 'announcedIp'], type: 'string' },
  { flag: 'rtc-host', env: 'PORT545_RTC_HOST', path: ['rtc', 'hostAddresses'], type: 'list' },
  {
    flag: 'max-participants',
    env: 'PORT545_MAX_PARTICIPANTS',
    path: ['rooms', 'maxParticipants'],
    type: 'int',
  },
  { flag: 'resume-window-ms', env: 'PORT545_RESUME_WINDOW_MS', path: ['resumeWindowMs'], type: 'int' },
] as const;

export const serveFlagHelp = `Options (each also PORT545_<NAME> in the environment, or a key in --config FILE):
  --host ADDR            interface for HTTP and WebSocket (default: all, "::")
  --port N               TCP port for HTTP and WebSocket (default 545, falls back to 5450)
  --rtc-min-port N       lowest UDP port for WebRTC media (default 40000)
  --rtc-max-port N       highest UDP port for WebRTC media (default 49999)
  --announced-ip ADDR    address to put in ICE candidates when behind NAT
  --rtc-host ADDR[,ADDR] gather ICE candidates only on these local addresses
  --max-participants N   people per room (default 100)
  --resume-window-ms N   how long a dropped participant may come back (default 15000)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default info)
  --config FILE          JSON config file (PORT545_CONFIG)`;

function convert(name: string, type: 'string' | 'int' | 'list', raw: string): unknown {
  if (type === 'string') return raw;
  if (type === 'list')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (!/^-?\d+$/.test(raw.trim()))
    throw new ConfigError(`invalid configuration:\n  ${name}: "${raw}" is not a number`);
  return Number(raw);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * Builds the server config from, in rising precedence: defaults, the config file, PORT545_* environment
 * variables, command-line flags. The port counts as explicit when any of the three set it.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const s of settings) options[s.flag] = { type: 'string' };
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values as Record<
      string,
      string | undefined
    >;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }

  let input: Record<string, unknown> = {};
  const file = values.config ?? env.PORT545_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
    try {
      input = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  const portFromFile = 'port' in input;
  let portFromOutside = false;
  for (const s of settings) {
    const fromEnv = env[s.env];
    const fromFlag = values[s.flag];
    if (fromEnv !== undefined && fromEnv !== '') {
      setPath(input, s.path, convert(s.env, s.type, fromEnv));
      if (s.flag === 'port') portFromOutside = true;
    }
    if (fromFlag !== undefined) {
      setPath(input, s.path, convert(`--${s.flag}`, s.type, fromFlag));
      if (s.flag === 'port') portFromOutside = true;
    }
  }
  input.portExplicit = portFromFile || portFromOutside;
  return parseConfig(input);
}

export type { Config, ConfigInput };
