/**
 * Janus (the C server, Debian package `janus`) as a third system in `npm run bench -- --janus`: its
 * VideoRoom plugin forwards the same clip to the same subscribers, so the SFU's CPU per forwarded packet
 * can be set beside a C server's under the same load (issue 6's reference).
 *
 * Janus gathers ICE candidates on every interface but loopback, and the bench sends nothing to the
 * machine's own network. So Janus runs in a network namespace of its own, joined to the host by a veth
 * pair with two private addresses (10.254.45.1 on the host, .2 in the namespace): its API and its media
 * are on that link, and it is removed with the namespace afterwards. Needs root and `ip` (iproute2).
 *
 * Two parts: `startJanus` (runner side) writes a configuration that loads only the VideoRoom plugin and
 * the HTTP transport, creates the namespace and starts the daemon; `JanusApi` (load side) speaks Janus's HTTP/JSON
 * API: one session for the whole load process, one plugin handle per peer connection, and one long poll
 * that hands each asynchronous event to the request that waits for it (by transaction).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Managed } from './processes.js';

const LIB = '/usr/lib/x86_64-linux-gnu/janus';
/** Plugins and transports the Debian package ships that the bench does not use (not loaded). */
const UNUSED_PLUGINS = [
  'audiobridge',
  'duktape',
  'echotest',
  'lua',
  'nosip',
  'recordplay',
  'sip',
  'streaming',
  'textroom',
  'videocall',
  'voicemail',
];
const UNUSED_TRANSPORTS = ['websockets', 'mqtt', 'nanomsg', 'pfunix', 'rabbitmq'];

/** The `janus` binary's path, or undefined when the package is not installed. */
export function janusBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v janus'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The namespace's link: the load process's address (host side) and the far side's (in the namespace). */
const NETNS = 'port545-janus';
const HOST_ADDRESS = '10.254.45.1';
const JANUS_ADDRESS = '10.254.45.2';
const API_PORT = 8088;
/** The host's end of the veth pair: what Janus sends the load process arrives on it (sinkFilter.ts). */
export const HOST_INTERFACE = 'p545-janus-h';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A network namespace joined to the host by one veth pair; what runs in it is reached at `address`. */
export interface NamespaceLink {
  /** Prefix of a command line that runs in the namespace (`ip netns exec …`; it execs, the pid stays). */
  exec: string[];
  /** The far end, in the namespace. */
  address: string;
  /** The host's end: the load process sends from it. */
  hostAddress: string;
  remove(): void;
}

/**
 * Creates the namespace (loopback and the veth link, nothing else; one at a time). Needs root and `ip`.
 * Also used for the bare relay, to measure what the link itself costs beside loopback.
 */
export function createNamespaceLink(): NamespaceLink {
  const remove = () => {
    // The veth pair first: deleting it is synchronous, while the kernel tears a namespace down (and the
    // pair with it) in the background, so the next link could find the old names still taken.
    for (const args of [
      ['link', 'delete', HOST_INTERFACE],
      ['netns', 'delete', NETNS],
    ]) {
      try {
        ip(...args);
      } catch {}
    }
  };
  remove();
  ip('netns', 'add', NETNS);
  try {
    ip('link', 'add', HOST_INTERFACE, 'type', 'veth', 'peer', 'name', 'p545-janus-n');
    ip('link', 'set', 'p545-janus-n', 'netns', NETNS);
    ip('addr', 'add', `${HOST_ADDRESS}/30`, 'dev', HOST_INTERFACE);
    ip('link', 'set', HOST_INTERFACE, 'up');
    ip('-n', NETNS, 'addr', 'add', `${JANUS_ADDRESS}/30`, 'dev', 'p545-janus-n');
    ip('-n', NETNS, 'link', 'set', 'p545-janus-n', 'up');
    ip('-n', NETNS, 'link', 'set', 'lo', 'up');
  } catch (error) {
    remove();
    throw error;
  }
  return { exec: ['ip', 'netns', 'exec', NETNS], address: JANUS_ADDRESS, hostAddress: HOST_ADDRESS, remove };
}

export interface JanusProcess extends Managed {
  /** Base URL of the HTTP API, e.g. http://10.254.45.2:8088/janus */
  url: string;
  /** The address the load process gathers its ICE candidates on (the host end of the link). */
  localAddress: string;
}

/**
 * Starts Janus in its namespace, pinned like the SFU. `eventLoops`: Janus's `event_loops` (handles share
 * that many media threads); 0 keeps its default, a thread per handle.
 */
export async function startJanus(pin: string[], eventLoops = 0): Promise<JanusProcess> {
  const binary = janusBinary();
  if (!binary) throw new Error('janus is not installed (apt-get install janus)');
  const dir = mkdtempSync(join(tmpdir(), 'port545-janus-'));
  const list = (names: string[]) => names.map((n) => `libjanus_${n}.so`).join(',');
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${LIB}/plugins"
  transports_folder = "${LIB}/transports"
  events_folder = "${LIB}/events"
  loggers_folder = "${LIB}/loggers"
  debug_level = 3
  session_timeout = 0
${eventLoops ? `  event_loops = ${eventLoops}\n` : ''}}
media: {
  rtp_port_range = "40000-49999"
}
nat: {
  ice_enforce_list = "p545-janus-n"
}
plugins: {
  disable = "${list(UNUSED_PLUGINS)}"
}
transports: {
  disable = "${list(UNUSED_TRANSPORTS)}"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
`,
  );
  writeFileSync(
    join(dir, 'janus.transport.http.jcfg'),
    `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${API_PORT}
  ip = "${JANUS_ADDRESS}"
  https = false
}
admin: {
  admin_http = false
}
`,
  );
  writeFileSync(join(dir, 'janus.plugin.videoroom.jcfg'), 'general: {\n}\n');
  const link = createNamespaceLink();
  // `ip netns exec` and `taskset` exec in turn: the child's pid is Janus's, for /proc.
  const [cmd, ...rest] = [
    ...link.exec,
    ...pin,
    binary,
    '--configs-folder',
    dir,
    '--config',
    join(dir, 'janus.jcfg'),
    '--interface',
    JANUS_ADDRESS,
    '--disable-colors',
  ];
  const child: ChildProcess = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    if (output.length < 20_000) output += chunk.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://${JANUS_ADDRESS}:${API_PORT}/janus`;
  const fail = (why: string) => {
    child.kill('SIGKILL');
    link.remove();
    return new Error(`${why}:\n${output}`);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw fail(`janus exited (code ${child.exitCode})`);
    try {
      const r = await fetch(`${url}/info`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) throw fail(`janus did not answer on ${url} within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    url,
    localAddress: link.hostAddress,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      link.remove();
    },
  };
}

interface JanusMessage {
  janus: string;
  transaction?: string;
  sender?: number;
  data?: { id: number };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: { type: 'offer' | 'answer'; sdp: string };
  error?: { code: number; reason: string };
}

/** An asynchronous plugin reply: its data and its SDP, if any. */
export interface JanusEvent {
  data: Record<string, unknown>;
  jsep?: { type: 'offer' | 'answer'; sdp: string };
}

/** The load process's side of Janus's HTTP API (https://janus.conf.meetecho.com/docs/rest.html). */
export class JanusApi {
  readonly #url: string;
  #session = 0;
  #nextTransaction = 1;
  readonly #waiting = new Map<string, { resolve: (e: JanusEvent) => void; reject: (e: Error) => void }>();
  #closed = false;
  readonly #rooms = new Map<string, Promise<number>>();

  constructor(url: string) {
    this.#url = url;
  }

  async #post(path: string, body: Record<string, unknown>): Promise<JanusMessage> {
    const transaction = String(this.#nextTransaction++);
    const r = await fetch(`${this.#url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, transaction }),
    });
    const reply = (await r.json()) as JanusMessage;
    if (reply.janus === 'error')
      throw new Error(`janus: ${body.janus}: ${reply.error?.code} ${reply.error?.reason}`);
    return reply;
  }

  async open(): Promise<void> {
    const reply = await this.#post('', { janus: 'create' });
    this.#session = reply.data!.id;
    void this.#poll();
  }

  /** The long poll: every asynchronous event of every handle in the session comes through it. */
  async #poll(): Promise<void> {
    while (!this.#closed) {
      let events: JanusMessage[];
      try {
        const r = await fetch(`${this.#url}/${this.#session}?maxev=50`);
        const body = (await r.json()) as JanusMessage | JanusMessage[];
        events = Array.isArray(body) ? body : [body];
      } catch (error) {
        if (this.#closed) return;
        for (const w of this.#waiting.values()) w.reject(error as Error);
        this.#waiting.clear();
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const e of events) {
        if (e.janus !== 'event' || !e.transaction) continue;
        const w = this.#waiting.get(e.transaction);
        if (!w) continue;
        this.#waiting.delete(e.transaction);
        const data = e.plugindata?.data ?? {};
        if (typeof data.error === 'string') w.reject(new Error(`janus: ${data.error_code} ${data.error}`));
        else w.resolve({ data, ...(e.jsep ? { jsep: e.jsep } : {}) });
      }
    }
  }

  /** A VideoRoom handle (one per peer connection). */
  async attach(): Promise<number> {
    const reply = await this.#post(`/${this.#session}`, {
      janus: 'attach',
      plugin: 'janus.plugin.videoroom',
    });
    return reply.data!.id;
  }

  /** A plugin request answered at once (e.g. `create`): its data. */
  async request(handle: number, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = await this.#post(`/${this.#session}/${handle}`, { janus: 'message', body });
    const data = reply.plugindata?.data ?? {};
    if (typeof data.error === 'string') throw new Error(`janus: ${data.error_code} ${data.error}`);
    return data;
  }

  /** A plugin request answered by an event (join, configure, start), optionally carrying an SDP. */
  async message(
    handle: number,
    body: Record<string, unknown>,
    jsep?: { type: string; sdp: string },
    timeoutMs = 10_000,
  ): Promise<JanusEvent> {
    const transaction = String(this.#nextTransaction++);
    const event = new Promise<JanusEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(transaction);
        reject(new Error(`janus: no reply to ${String(body.request)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(transaction, {
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    const r = await fetch(`${this.#url}/${this.#session}/${handle}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ janus: 'message', body, transaction, ...(jsep ? { jsep } : {}) }),
    });
    const reply = (await r.json()) as JanusMessage;
    if (reply.janus === 'error') {
      this.#waiting.delete(transaction);
      throw new Error(`janus: ${String(body.request)}: ${reply.error?.code} ${reply.error?.reason}`);
    }
    return event;
  }

  /** Tells Janus there are no more candidates than those in the SDP (it does half-trickle). */
  async endOfCandidates(handle: number): Promise<void> {
    await this.#post(`/${this.#session}/${handle}`, { janus: 'trickle', candidate: { completed: true } });
  }

  async detach(handle: number): Promise<void> {
    await this.#post(`/${this.#session}/${handle}`, { janus: 'detach' }).catch(() => {});
  }

  /** The VideoRoom room for a bench room name, created on first use (no bitrate cap, VP8 + Opus). */
  room(name: string, handle: number): Promise<number> {
    let id = this.#rooms.get(name);
    if (!id) {
      const room = 1000 + this.#rooms.size;
      id = this.request(handle, {
        request: 'create',
        room,
        description: name,
        publishers: 16,
        bitrate: 0,
        fir_freq: 0,
        videocodec: 'vp8',
        audiocodec: 'opus',
        notify_joining: false,
      }).then(() => room);
      this.#rooms.set(name, id);
    }
    return id;
  }

  close(): void {
    this.#closed = true;
  }
}

/** Only the candidates on `address` (Janus's end of the link): the bench sends nowhere else. */
export function candidatesOn(sdp: string, address: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || line.includes(` ${address} `))
    .join('\r\n');
}
