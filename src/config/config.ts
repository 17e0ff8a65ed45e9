import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { isLoopbackHost, parseAddressPort } from '../common/address.js';

export const DEFAULT_PORT = 545;
/** Where `serve` goes when 545 cannot be bound and no port was asked for. */
export const FALLBACK_PORT = 5450;

const port = z.number().int().min(0).max(65535);
const udpPort = z.number().int().min(1024).max(65535);

export const configSchema = z
  .object({
    /** Interface for HTTP/WebSocket; '::' listens on all IPv6 and IPv4 interfaces. */
    host: z.string().min(1).default('::'),
    /** TCP port for HTTP(S), WebSocket and the web client; 545 falls back to 5450 when it cannot be bound. */
    port: port.default(DEFAULT_PORT),
    /**
     * True when the port was chosen by the operator: then a failure to bind is an error, not a fallback.
     * @internal set by the command line, not a setting
     */
    portExplicit: z.boolean().default(false),
    /** How much the server logs (JSON lines on stdout). */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Worker threads that hold the rooms and their media, a room on one worker (its viewers' media spread
     * over all of them); the main thread keeps HTTP and signaling. 'auto': one per core (none on a single
     * core); 0: everything on the main thread.
     */
    workers: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
    /** WebRTC media. */
    rtc: z
      .object({
        /** Lowest UDP port for media (each worker thread takes its own slice of the range). */
        minPort: udpPort.default(40000),
        /** Highest UDP port for media. */
        maxPort: udpPort.default(49999),
        /**
         * All WebRTC media on this one UDP port (a UDP mux, shared by every worker thread). Unset: the
         * same number as `port` when that is 1024 or above, else 5450 (browsers send no media to a
         * privileged port), or the range when `port` is 0 (an ephemeral port, as embedders and tests
         * listen). 'range': a port per connection from minPort-maxPort.
         */
        udpPort: z.union([z.number().int().min(1).max(65535), z.literal('range')]).optional(),
        /**
         * ICE over TCP (RFC 6544) for networks that block UDP: each connection on the one UDP port also gets
         * a passive TCP candidate on the TCP port of the same number (the HTTP port itself when they are
         * the same). Off: UDP (and TURN) only.
         */
        iceTcp: z.boolean().default(true),
        /**
         * Address written into ICE candidates instead of the local one (server behind 1:1 NAT), with the
         * media port as seen from outside when a port forward maps another one to it (`203.0.113.7:545`,
         * `[2001:db8::7]:545`; with the one UDP port only).
         */
        announcedIp: z
          .string()
          .refine((v) => parseAddressPort(v) !== undefined, {
            message: 'not an IP address, or an IP address with :port ([IPv6]:port)',
          })
          .optional(),
        /** Gather ICE candidates only on these local addresses (default: every non-loopback interface). */
        hostAddresses: z.array(z.string().ip()).optional(),
      })
      .strict()
      .default({})
      .refine((r) => r.minPort < r.maxPort, { message: 'rtc.minPort must be below rtc.maxPort' })
      .refine((r) => r.udpPort !== 'range' || parseAddressPort(r.announcedIp ?? '')?.port === undefined, {
        message: 'rtc.announcedIp with a port needs the media on one UDP port (not --udp-port range)',
      }),
    /** Rooms and how long they live. */
    rooms: z
      .object({
        /** An empty room stays this long before it closes, so a quick rejoin finds it. */
        emptyTimeoutMs: z.number().int().min(0).default(10_000),
        /** People in one room (browsers, WHIP publishers, phones). */
        maxParticipants: z.number().int().min(1).default(100),
        /**
         * The audience of one room: receive-only viewers (a browser's `join.viewer`, a token with role
         * `viewer`, WHEP players), not counted as participants.
         */
        maxViewers: z.number().int().min(0).default(2000),
        /** Rooms open at once, over all worker threads. */
        maxRooms: z.number().int().min(1).default(1000),
        /** Chat messages a newcomer is shown. */
        chatHistory: z.number().int().min(0).max(10_000).default(100),
        /**
         * A room's lock, password and who was admitted are kept in `<dataDir>/rooms/` so that a restart
         * lets the same people back in; state saved longer ago than this is dropped. 0 keeps nothing.
         */
        stateMaxAgeMs: z.number().int().min(0).default(3_600_000),
        /** A room's whiteboard at most, in bytes (kept with the room state across a restart). */
        boardMaxBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .default(8 * 1024 ** 2),
      })
      .strict()
      .default({}),
    /** A participant whose signaling connection drops is kept this long for a resume. */
    resumeWindowMs: z.number().int().min(0).default(15_000),
    /** Where the server keeps what must survive a restart (the self-signed TLS certificate, room state). */
    dataDir: z.string().min(1).default('./data'),
    /** Who may join and who may administer: see docs/SECURITY.md. */
    auth: z
      .object({
        /** 'open': anyone with a room link joins; 'secured': every join needs an access token. */
        mode: z.enum(['open', 'secured']).default('open'),
        /** Bearer credential of the admin API (/api/v1). A secret; it never appears in access tokens. */
        apiKey: z.string().min(16, 'must be at least 16 characters').optional(),
        /** HS256 key that signs and verifies access tokens (RFC 7518 §3.2: at least 256 bits). */
        apiSecret: z.string().min(32, 'must be at least 32 characters').optional(),
        /** Wrong room passwords from one address to one room that are answered at once. */
        passwordFreeAttempts: z.number().int().min(0).default(3),
        /** Delay before answering the next try after that, doubling per wrong password up to the max. */
        passwordBackoffMs: z.number().int().min(0).default(250),
        /** The longest that delay grows to. */
        passwordBackoffMaxMs: z.number().int().min(0).default(5000),
        /**
         * Wrong passwords for one room from all addresses together, per minute; past it every try waits
         * for the next minute (TOO_MANY_ATTEMPTS). Many addresses (a botnet) get no more guesses than this.
         */
        passwordRoomAttemptsPerMinute: z.number().int().min(1).default(30),
      })
      .strict()
      .default({})
      .refine((a) => (a.apiKey === undefined) === (a.apiSecret === undefined), {
        message: 'set both auth.apiKey and auth.apiSecret (PORT545_API_KEY, PORT545_API_SECRET) or neither',
      })
      .refine((a) => a.mode === 'open' || a.apiSecret !== undefined, {
        message:
          'secured mode needs an API key and secret to verify access tokens: set PORT545_API_KEY and PORT545_API_SECRET',
      }),
    /**
     * HTTPS and WSS on the same port: certificate files, or a self-signed certificate kept in dataDir. By
     * default a server that listens beyond loopback makes the self-signed one; plain HTTP stays for
     * clients on this machine (loopback) on the same port.
     */
    tls: z
      .object({
        /** PEM certificate chain file (with `key`); read again when it or the key file changes. */
        cert: z.string().min(1).optional(),
        /** PEM private key file of `cert`. */
        key: z.string().min(1).optional(),
        /**
         * Without certificate files: `true` makes (once) and serves a self-signed certificate kept in
         * `dataDir`, even on a loopback host; `false` is plain HTTP only (`--tls off`, behind a proxy that
         * terminates TLS). Unset: self-signed unless `host` is a loopback address.
         */
        selfSigned: z.boolean().optional(),
      })
      .strict()
      .default({})
      .refine((t) => (t.cert === undefined) === (t.key === undefined), {
        message: 'set both tls.cert and tls.key (--tls-cert, --tls-key) or neither',
      })
      .refine((t) => !(t.selfSigned !== undefined && t.cert), {
        message:
          'choose certificate files (--tls-cert, --tls-key), a self-signed certificate (--tls self-signed) or no TLS (--tls off), not two of them',
      }),
    /** The HTTP edge: which pages may open signaling, and what HTTPS tells browsers. */
    http: z
      .object({
        /**
         * Origins (scheme://host[:port]) whose pages may open `/ws`, besides the server's own (the
         * request's Host). A request without Origin is not from a browser page and is let in.
         */
        allowedOrigins: z.array(z.string().url()).default([]),
        /**
         * Send Strict-Transport-Security on HTTPS. Unset: on with certificate files (--tls-cert), off with
         * a self-signed certificate (a browser that pinned HSTS could not click through its warning).
         */
        hsts: z.boolean().optional(),
      })
      .strict()
      .default({}),
    /** What happens in rooms, POSTed to one URL and signed as Standard Webhooks do it (docs/webhooks.md). */
    webhooks: z
      .object({
        /** Where the events are POSTed (http or https); none: no webhooks. */
        url: z.string().url().optional(),
        /** The signing secret: `whsec_` and the base64 of 24 to 64 random bytes (`port545 token` does not make it). */
        secret: z
          .string()
          .regex(
            /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/,
            'must be whsec_ followed by the base64 of 24 to 64 bytes',
          )
          .optional(),
        /** Events kept (in `dataDir`) while the receiver is down; past it the oldest are dropped, with a log line. */
        maxQueued: z.number().int().min(1).default(10_000),
        /** An event not delivered after trying this long is dropped, with a log line. */
        retryForMs: z.number().int().min(1000).default(86_400_000),
      })
      .strict()
      .default({})
      .refine((w) => (w.url === undefined) === (w.secret === undefined), {
        message:
          'set both webhooks.url and webhooks.secret (PORT545_WEBHOOK_URL, PORT545_WEBHOOK_SECRET) or neither',
      }),
    /** Recording meetings (`<dataDir>/recordings/`): see docs/RECORDING.md. */
    recordings: z
      .object({
        /** Hosts and the admin API may record rooms. */
        enabled: z.boolean().default(true),
        /** A recording stops by itself when its files reach this size (bytes, all tracks together). */
        maxBytes: z
          .number()
          .int()
          .min(1_000_000)
          .default(4 * 1024 ** 3),
        /** Recordings older than this are deleted (checked at start and every hour); 0 keeps them. */
        retentionDays: z.number().min(0).default(30),
        /**
         * After a recording stops, make one movie of it (a grid of the cameras, all voices mixed; MP4, H.264
         * + AAC) with ffmpeg, when ffmpeg is installed. The per-track files are kept either way.
         */
        movie: z.boolean().default(true),
        /** The ffmpeg to run for movies and snapshots. */
        ffmpeg: z.string().min(1).default('ffmpeg'),
      })
      .strict()
      .default({}),
    /**
     * A TURN server for networks where media cannot reach the server directly (UDP blocked, only TLS to
     * 443): each participant gets time-limited credentials for it when it joins (docs/TURN.md).
     */
    turn: z
      .object({
        /** Its URLs as clients reach it, e.g. `turn:turn.example.org:3478`, `turns:turn.example.org:443?transport=tcp`. */
        urls: z.array(z.string().regex(/^turns?:[^\s]+$/, 'must be a turn: or turns: URL')).default([]),
        /** The secret shared with it (coturn's `static-auth-secret`). */
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
        /** How long a participant's credentials stay good. */
        ttlSeconds: z
          .number()
          .int()
          .min(60)
          .max(7 * 86_400)
          .default(86_400),
      })
      .strict()
      .default({})
      .refine((t) => (t.urls.length === 0) === (t.secret === undefined), {
        message: 'set both turn.urls and turn.secret (--turn-url, PORT545_TURN_SECRET) or neither',
      }),
    /** Files people send in a room (`<dataDir>/files/`, kept while the room lasts): docs/protocol.md. */
    files: z
      .object({
        /** People in a room may send each other files. */
        enabled: z.boolean().default(true),
        /** The largest file, in bytes; a larger one is refused before it is sent. */
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(100 * 1024 ** 2),
        /** All of a room's files together, in bytes. */
        roomMaxBytes: z
          .number()
          .int()
          .min(1024)
          .default(1024 ** 3),
        /** Files in one room at most. */
        roomMaxFiles: z.number().int().min(1).default(500),
      })
      .strict()
      .default({})
      .refine((f) => f.maxBytes <= f.roomMaxBytes, {
        message: 'files.maxBytes must be at most files.roomMaxBytes',
      }),
    /**
     * A cluster of port545 nodes that share one Redis (docs/CLUSTER.md): each room lives on one node,
     * placed by load; any node takes any client and passes it on to the room's node. Unset: one server.
     */
    cluster: z
      .object({
        /** `redis://[:password@]host:port[/db]` or `rediss://` (TLS). Its password makes it a secret. */
        redis: z
          .string()
          .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
          .optional(),
        /** A PEM file of the CA that signed Redis's certificate, for `rediss://` with a private CA. */
        redisCa: z.string().min(1).optional(),
        /**
         * Where clients and the other nodes reach this node, e.g. `https://node1.example.org:545`. Unset:
         * this machine's first LAN address (or `--announced-ip`) and the HTTP port.
         */
        url: z.string().url().optional(),
        /** This node's name in the cluster (default: the host name and port). */
        nodeId: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, dots, dashes or underscores')
          .optional(),
        /** A label for where the node runs; with placement `region` rooms stay in the region they were asked for in. */
        region: z.string().min(1).max(64).optional(),
        /** How a new room's node is chosen: the least loaded, or the least loaded of the asking node's region. */
        placement: z.enum(['least-loaded', 'region']).default('least-loaded'),
        /** How often a node tells Redis it is alive, with its load. */
        heartbeatMs: z.number().int().min(100).max(10_000).default(1000),
        /** A node silent this long is gone: its rooms are placed again when asked for. */
        deadAfterMs: z.number().int().min(300).max(60_000).default(3000),
        /** On SIGTERM, how long rooms may go on (no new room is placed here) before they move. */
        drainMs: z.number().int().min(0).max(3_600_000).default(0),
      })
      .strict()
      .default({})
      .refine((c) => c.deadAfterMs > c.heartbeatMs, {
        message: 'cluster.deadAfterMs must be more than cluster.heartbeatMs',
      }),
    /** LAN discovery: the server advertises itself by DNS-SD over multicast DNS (`_port545._tcp`). */
    mdns: z
      .object({
        /**
         * Advertise on the local network, where `port545 browse` and other DNS-SD browsers find it. Never
         * while HTTP listens on loopback only.
         */
        enabled: z.boolean().default(true),
        /** The name people see when browsing; default "port545 on <hostname>" (with the port when not 545). */
        name: z
          .string()
          .min(1)
          .refine(
            (n) =>
              Buffer.byteLength(n) <= 63 && !n.includes('.') && ![...n].some((c) => c.charCodeAt(0) < 0x20),
            'must be one DNS label: at most 63 bytes, no dots or control characters',
          )
          .optional(),
      })
      .strict()
      .default({}),
    /** The SIP gateway (RFC 3261 over UDP and TCP): phones and PBXs call sip:<room>@<host>. */
    sip: z
      .object({
        /** Turn the SIP gateway on. */
        enabled: z.boolean().default(false),
        /** Interface for SIP and its RTP; '::' is every interface. */
        host: z.string().min(1).default('::'),
        /** UDP and TCP port (0: any free port, for tests). */
        port: port.default(5060),
        /** Calls at once; more are answered 503. */
        maxCalls: z.number().int().min(1).default(100),
        /** Ring (180 Ringing) this long before answering; 0 answers at once. */
        ringMs: z.number().int().min(0).max(60_000).default(0),
        /** Wrong PINs before a caller is hung up on. */
        pinAttempts: z.number().int().min(1).max(10).default(3),
        /** How long a caller has to enter the room's PIN. */
        pinTimeoutMs: z.number().int().min(1000).default(30_000),
        /** Hang up on a caller whose RTP stopped this long ago (a phone that vanished); 0 never. */
        rtpTimeoutMs: z.number().int().min(0).default(60_000),
      })
      .strict()
      .default({}),
    /** What one client may send and hold: every input from the network has a cap (docs/SECURITY.md). */
    limits: z
      .object({
        /** The largest signaling message; a larger one closes the connection with 1009. */
        wsMaxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(256 * 1024),
        /** Signaling messages per second per connection (bursts of twice that); past it, RATE_LIMITED. */
        wsMessagesPerSecond: z.number().int().min(1).default(50),
        /** The largest SDP offer or answer (signaling, WHIP, WHEP). */
        sdpMaxBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024),
        /** The longest chat message. */
        chatMaxChars: z.number().int().min(1).default(2000),
        /** Tracks one participant may publish. */
        tracksPerParticipant: z.number().int().min(1).default(8),
        /** A WebSocket that has not joined a room this long after it opened is closed (JOIN_TIMEOUT). */
        joinTimeoutMs: z.number().int().min(100).default(10_000),
        /**
         * A TCP connection to the HTTP port that sends nothing this long is closed; so is one that has
         * not finished its TLS handshake this long.
         */
        handshakeTimeoutMs: z.number().int().min(100).default(10_000),
        /** Open WebSocket connections from one IP address (people behind one NAT share an address). */
        connectionsPerIp: z.number().int().min(1).default(50),
        /** New WebSocket connections from one IP address per minute (each may join once). */
        wsConnectsPerMinute: z.number().int().min(1).default(120),
        /** A peer connection that has not connected (ICE and DTLS) this long after its offer/answer ends its participant. */
        connectTimeoutMs: z.number().int().min(100).default(30_000),
        /** Open WHIP plus WHEP sessions from one IP address. */
        gatewaySessionsPerIp: z.number().int().min(1).default(20),
        /** The same, under one bearer token. */
        gatewaySessionsPerToken: z.number().int().min(1).default(20),
        /** HTTP requests per minute to WHIP, WHEP and a room's status, per IP address and per bearer token. */
        gatewayRequestsPerMinute: z.number().int().min(1).default(120),
        /** HTTP requests per minute to the admin API (/api/v1) and /metrics, per IP address and per bearer key. */
        adminRequestsPerMinute: z.number().int().min(1).default(120),
        /** Media sections (m-lines) in one offer or answer. */
        sdpMaxMediaSections: z.number().int().min(1).default(64),
        /** Remote ICE candidates one participant's connection may add, in its SDP and trickled. */
        candidatesPerSession: z.number().int().min(1).default(100),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Validates a config object, with errors that name the bad setting. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(config)';
    return `  ${path}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/**
 * The one UDP port of the server's WebRTC media, or undefined for the port range: `rtc.udpPort`, or unset
 * the HTTP port's number when that is 1024 or above, and 5450 below it (browsers send no media to a
 * privileged port: Chromium sends no ICE check to a UDP candidate on 545, so a browser behind NAT never
 * connects); the range when the HTTP port is 0 (ephemeral).
 */
export function mediaUdpPort(config: Pick<Config, 'port' | 'rtc'>): number | undefined {
  const { udpPort } = config.rtc;
  if (udpPort === 'range') return undefined;
  if (udpPort !== undefined) return udpPort;
  if (config.port === 0) return undefined;
  return config.port >= 1024 ? config.port : FALLBACK_PORT;
}

/**
 * The config with `rtc.udpPort` as `mediaUdpPort` resolves it (a number, or 'range'), and
 * `rtc.iceTcpPort`: the TCP port of the connections' passive ICE-TCP candidates (with the one UDP port and
 * `rtc.iceTcp`: the same number as the UDP port; the HTTP port's listener takes them when it is that
 * number, else a listener of its own), for the peer connections' settings (src/sfu/peerConfig.ts).
 */
export function withMediaPort<C extends Pick<Config, 'port' | 'rtc'>>(
  config: C,
): C & { rtc: { iceTcpPort?: number } } {
  const udpPort = mediaUdpPort(config);
  const iceTcpPort = udpPort !== undefined && config.rtc.iceTcp && config.port > 0 ? udpPort : undefined;
  return { ...config, rtc: { ...config.rtc, udpPort: udpPort ?? 'range', iceTcpPort } };
}

/** How many room workers `serve` starts: `auto` is one per core, none on a single core. */
export function resolveWorkers(config: Config, cores = availableParallelism()): number {
  return config.workers === 'auto' ? (cores > 1 ? cores : 0) : config.workers;
}

/**
 * How the HTTP port is secured: certificate files, a self-signed certificate (asked for, or by default
 * when the server listens beyond loopback), or nothing (`--tls off`, or a loopback host by default).
 */
export function resolveTls(config: Pick<Config, 'tls' | 'host'>): 'files' | 'self-signed' | 'off' {
  if (config.tls.cert && config.tls.key) return 'files';
  if (config.tls.selfSigned === true) return 'self-signed';
  if (config.tls.selfSigned === false || isLoopbackHost(config.host)) return 'off';
  return 'self-signed';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}
