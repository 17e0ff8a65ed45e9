import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, type ConfigInput, parseConfig } from './config.js';

/** Command-line flags of `port545 serve`, each with its environment variable and config-file path. */
export const settings = [
  { flag: 'host', env: 'PORT545_HOST', path: ['host'], type: 'string' },
  { flag: 'port', env: 'PORT545_PORT', path: ['port'], type: 'int' },
  { flag: 'log-level', env: 'PORT545_LOG_LEVEL', path: ['logLevel'], type: 'string' },
  { flag: 'workers', env: 'PORT545_WORKERS', path: ['workers'], type: 'workers' },
  { flag: 'rtc-min-port', env: 'PORT545_RTC_MIN_PORT', path: ['rtc', 'minPort'], type: 'int' },
  { flag: 'rtc-max-port', env: 'PORT545_RTC_MAX_PORT', path: ['rtc', 'maxPort'], type: 'int' },
  { flag: 'udp-port', env: 'PORT545_UDP_PORT', path: ['rtc', 'udpPort'], type: 'udpPort' },
  { flag: 'ice-tcp', env: 'PORT545_ICE_TCP', path: ['rtc', 'iceTcp'], type: 'bool' },
  { flag: 'announced-ip', env: 'PORT545_ANNOUNCED_IP', path: ['rtc', 'announcedIp'], type: 'string' },
  { flag: 'rtc-host', env: 'PORT545_RTC_HOST', path: ['rtc', 'hostAddresses'], type: 'list' },
  {
    flag: 'max-participants',
    env: 'PORT545_MAX_PARTICIPANTS',
    path: ['rooms', 'maxParticipants'],
    type: 'int',
  },
  { flag: 'max-viewers', env: 'PORT545_MAX_VIEWERS', path: ['rooms', 'maxViewers'], type: 'int' },
  { flag: 'resume-window-ms', env: 'PORT545_RESUME_WINDOW_MS', path: ['resumeWindowMs'], type: 'int' },
  { flag: 'auth', env: 'PORT545_AUTH', path: ['auth', 'mode'], type: 'auth' },
  { flag: 'tls', env: 'PORT545_TLS', path: ['tls', 'selfSigned'], type: 'tls' },
  { flag: 'tls-cert', env: 'PORT545_TLS_CERT', path: ['tls', 'cert'], type: 'string' },
  { flag: 'tls-key', env: 'PORT545_TLS_KEY', path: ['tls', 'key'], type: 'string' },
  { flag: 'hsts', env: 'PORT545_HSTS', path: ['http', 'hsts'], type: 'bool' },
  {
    flag: 'allowed-origins',
    env: 'PORT545_ALLOWED_ORIGINS',
    path: ['http', 'allowedOrigins'],
    type: 'list',
  },
  { flag: 'data-dir', env: 'PORT545_DATA_DIR', path: ['dataDir'], type: 'string' },
  { flag: 'sip', env: 'PORT545_SIP', path: ['sip', 'enabled'], type: 'bool' },
  { flag: 'sip-port', env: 'PORT545_SIP_PORT', path: ['sip', 'port'], type: 'int' },
  { flag: 'sip-host', env: 'PORT545_SIP_HOST', path: ['sip', 'host'], type: 'string' },
  { flag: 'webhook-url', env: 'PORT545_WEBHOOK_URL', path: ['webhooks', 'url'], type: 'string' },
  { flag: 'mdns', env: 'PORT545_MDNS', path: ['mdns', 'enabled'], type: 'bool' },
  { flag: 'recording', env: 'PORT545_RECORDING', path: ['recordings', 'enabled'], type: 'bool' },
  {
    flag: 'recording-max-bytes',
    env: 'PORT545_RECORDING_MAX_BYTES',
    path: ['recordings', 'maxBytes'],
    type: 'int',
  },
  {
    flag: 'recording-retention-days',
    env: 'PORT545_RECORDING_RETENTION_DAYS',
    path: ['recordings', 'retentionDays'],
    type: 'int',
  },
  { flag: 'ffmpeg', env: 'PORT545_FFMPEG', path: ['recordings', 'ffmpeg'], type: 'string' },
  { flag: 'files', env: 'PORT545_FILES', path: ['files', 'enabled'], type: 'bool' },
  { flag: 'file-max-bytes', env: 'PORT545_FILE_MAX_BYTES', path: ['files', 'maxBytes'], type: 'int' },
  { flag: 'mdns-name', env: 'PORT545_MDNS_NAME', path: ['mdns', 'name'], type: 'string' },
  { flag: 'turn-url', env: 'PORT545_TURN_URL', path: ['turn', 'urls'], type: 'list' },
  { flag: 'redis', env: 'PORT545_REDIS', path: ['cluster', 'redis'], type: 'string' },
  { flag: 'redis-ca', env: 'PORT545_REDIS_CA', path: ['cluster', 'redisCa'], type: 'string' },
  { flag: 'cluster-url', env: 'PORT545_CLUSTER_URL', path: ['cluster', 'url'], type: 'string' },
  { flag: 'node-id', env: 'PORT545_NODE_ID', path: ['cluster', 'nodeId'], type: 'string' },
  { flag: 'region', env: 'PORT545_REGION', path: ['cluster', 'region'], type: 'string' },
  { flag: 'placement', env: 'PORT545_PLACEMENT', path: ['cluster', 'placement'], type: 'string' },
  { flag: 'drain-ms', env: 'PORT545_DRAIN_MS', path: ['cluster', 'drainMs'], type: 'int' },
] as const;

/** Secrets come from the environment or the config file only: a command line is visible to every user (ps). */
export const secretSettings = [
  { env: 'PORT545_API_KEY', path: ['auth', 'apiKey'] },
  { env: 'PORT545_API_SECRET', path: ['auth', 'apiSecret'] },
  { env: 'PORT545_WEBHOOK_SECRET', path: ['webhooks', 'secret'] },
  { env: 'PORT545_TURN_SECRET', path: ['turn', 'secret'] },
] as const;

export const serveFlagHelp = `Options (each also PORT545_<NAME> in the environment, or a key in --config FILE):
  --host ADDR            interface for HTTP and WebSocket (default: all, "::")
  --port N               TCP port for HTTP and WebSocket (default 545, falls back to 5450)
  --workers N|auto       worker threads for rooms and their media, each room on one of them
                         (default auto: one per core); 0 keeps everything on the main thread
  --udp-port N|range     all WebRTC media on this one UDP port (default: the number of --port when
                         that is 1024 or above, else 5450: browsers send no media to a lower port);
                         "range" gives each connection its own port from --rtc-min-port..--rtc-max-port
  --no-ice-tcp           no ICE over TCP on the TCP port of the media port's number (default on, with
                         the one UDP port: for networks that block UDP)
  --rtc-min-port N       lowest UDP port of the range (default 40000; also SIP's RTP)
  --rtc-max-port N       highest UDP port of the range (default 49999)
  --announced-ip ADDR[:PORT]  address to put in ICE candidates when behind NAT, and the media port
                         as seen from outside when a port forward maps another one to it
  --rtc-host ADDR[,ADDR] gather ICE candidates only on these local addresses
  --turn-url URL[,URL]   a TURN server (coturn) for clients whose network blocks media; each gets
                         credentials for it, signed with PORT545_TURN_SECRET (environment or config
                         file only); see docs/TURN.md
  --max-participants N   people per room (default 100)
  --max-viewers N        receive-only viewers per room, besides its people (default 2000)
  --resume-window-ms N   how long a dropped participant may come back (default 15000)
  --auth                 secured mode: every join needs an access token (PORT545_AUTH=secured);
                         needs PORT545_API_KEY and PORT545_API_SECRET (environment or config file only)
  --tls-cert FILE        PEM certificate (chain) for HTTPS and WSS on the same port; read again when
                         the files change (renewals)
  --tls-key FILE         PEM private key of that certificate
  --tls self-signed|off  self-signed: make a certificate once, keep it in the data directory, reuse it
                         (the default without --tls-cert, unless --host is a loopback address);
                         off: plain HTTP for everyone (behind a proxy that terminates TLS). With TLS,
                         plain HTTP still answers this machine (loopback) on the same port
  --hsts                 send Strict-Transport-Security on HTTPS (default: on with --tls-cert, off
                         with a self-signed certificate; PORT545_HSTS=off turns it off)
  --allowed-origins URL[,URL]
                         other origins whose pages may open the WebSocket (default: the server's own)
  --data-dir DIR         where the server keeps state between runs (default ./data)
  --sip                  answer phone calls: SIP over UDP and TCP, sip:<room>@<host> joins <room>
  --sip-port N           UDP and TCP port for SIP (default 5060)
  --sip-host ADDR        interface for SIP and its RTP (default: all, "::")
  --webhook-url URL      POST what happens in rooms there, signed with PORT545_WEBHOOK_SECRET
                         (environment or config file only)
  --no-mdns              do not advertise this server on the local network (DNS-SD over multicast
                         DNS, _port545._tcp; on by default unless listening on loopback only)
  --mdns-name NAME       the name people see in \`port545 browse\` (default "port545 on <hostname>")
  --redis URL            join a cluster of port545 nodes sharing this Redis (redis:// or rediss://;
                         with a password, give it as PORT545_REDIS, not on the command line)
  --redis-ca FILE        the CA of Redis's TLS certificate (rediss:// with a private CA)
  --cluster-url URL      where clients and other nodes reach this node (default: its LAN address)
  --node-id ID           this node's name in the cluster (default: host name and port)
  --region LABEL         where this node runs; --placement region keeps rooms in their region
  --placement least-loaded|region
                         how a new room's node is chosen (default least-loaded)
  --drain-ms N           on SIGTERM, how long rooms go on here before they move (default 0)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default info)
  --config FILE          JSON config file (PORT545_CONFIG)`;

function convert(
  name: string,
  type: 'string' | 'int' | 'list' | 'auth' | 'tls' | 'bool' | 'workers' | 'udpPort',
  raw: string,
): unknown {
  if (type === 'string') return raw;
  if (type === 'workers' && raw.trim() === 'auto') return 'auto';
  if (type === 'udpPort' && raw.trim() === 'range') return 'range';
  if (type === 'bool') {
    // A bare `--sip` arrives as "true"; the environment may say 1/0, true/false, yes/no, on/off.
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`invalid configuration:\n  ${name}: "${raw}" is not true or false`);
  }
  if (type === 'auth') {
    // `--auth` alone (parsed as a boolean flag, passed on as "true") means secured.
    if (raw === 'true' || raw === 'secured') return 'secured';
    if (raw === 'open') return 'open';
    throw new ConfigError(`invalid configuration:\n  ${name}: "${raw}" is not "open" or "secured"`);
  }
  if (type === 'tls') {
    if (raw === 'self-signed') return true;
    if (raw === 'off') return false;
    throw new ConfigError(
      `invalid configuration:\n  ${name}: "${raw}" is not "self-signed" or "off" (for certificate files use --tls-cert and --tls-key)`,
    );
  }
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
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const s of settings) {
    options[s.flag] = { type: s.type === 'auth' || s.type === 'bool' ? 'boolean' : 'string' };
    if (s.type === 'bool') options[`no-${s.flag}`] = { type: 'boolean' };
  }
  let values: Record<string, string | undefined>;
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
    values = Object.fromEntries(
      Object.entries(parsed).map(([k, v]) => [k, v === undefined ? undefined : String(v)]),
    );
    // Node 20's parseArgs has no negated flags: `--no-mdns` is `--mdns` set to false.
    for (const s of settings)
      if (s.type === 'bool' && values[`no-${s.flag}`] === 'true') values[s.flag] = 'false';
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
  for (const s of secretSettings) {
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') setPath(input, s.path, fromEnv);
  }
  input.portExplicit = portFromFile || portFromOutside;
  return parseConfig(input);
}

export type { Config, ConfigInput };
