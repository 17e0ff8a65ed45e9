import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtpPacket } from 'werift';
import { decodeG711 } from '../../src/audio/g711.js';
import { pcmRms } from '../../src/audio/pcm.js';
import { Bot } from '../../src/bot/Bot.js';
import type { ConfigInput } from '../../src/config/config.js';
import { eventually, freePort, type InThreadTestServer, LOOPBACK, startInThreadServer } from './server.js';

/** sipp, from Debian's sip-tester package (scripts/test.sh installs it). */
export const SIPP = process.env.SIPP ?? 'sipp';
/** The pcaps sip-tester ships: a G.711 A-law recording and one RFC 4733 event per DTMF key. */
export const SIPP_PCAP_DIR = process.env.SIPP_PCAP_DIR ?? '/usr/share/sip-tester';
export const SCENARIOS = fileURLToPath(new URL('../sipp/', import.meta.url));

/**
 * A server with SIP on, bound as it is by default: HTTP, SIP and the calls' RTP sockets on `::` (dual
 * stack), not on loopback only, so that IPv4 phones meet the IPv6 sockets they meet in production.
 * Peers still reach it on 127.0.0.1 only; WebRTC media stays on loopback (`rtc.hostAddresses`).
 */
export function startSipServer(overrides: ConfigInput = {}): Promise<InThreadTestServer> {
  return startInThreadServer({ ...overrides, host: '::', sip: { enabled: true, port: 0, ...overrides.sip } });
}

/**
 * Waits until the room gets `name`'s audio: a bot's connection can take seconds on a busy machine, and a
 * phone that calls before then hears silence.
 */
export async function roomHearsParticipant(t: InThreadTestServer, room: string, name: string): Promise<void> {
  await eventually(
    `the room receives ${name}'s audio`,
    () =>
      [...(t.rooms.host.registry.rooms.get(room)?.participants.values() ?? [])].some(
        (p) =>
          p.name === name &&
          [...p.tracks.values()].some(({ track }) => track.kind === 'audio' && track.packetsReceived > 25),
      ),
    30_000,
  );
}

/**
 * A bot named Ada that speaks in `room` (the clip's audio, no video) and keeps what it receives, once the
 * room hears her: what a phone caller should hear, and the ear that checks the caller is heard.
 */
export async function startSpeakingBot(t: InThreadTestServer, room: string): Promise<Bot> {
  const bot = await Bot.start({
    url: t.url,
    room,
    name: 'Ada',
    video: false,
    keepMedia: true,
    hostAddresses: LOOPBACK,
  });
  await roomHearsParticipant(t, room, 'Ada');
  return bot;
}

export interface SippOptions {
  scenario: string;
  /** The server's SIP port on 127.0.0.1 (or ::1 with `ipv6`). */
  port: number;
  /** Call from ::1 to [::1]: SIP and the SDP's c= line over IPv6. */
  ipv6?: boolean;
  transport?: 'udp' | 'tcp';
  /** The user part of the Request-URI: the room. */
  service: string;
  /** `-key name value` pairs, used as [name] in the scenario. */
  keys?: Record<string, string | number>;
  timeoutS?: number;
  /** Length of a plain <pause/> in the scenario (`-d`), in ms. */
  pauseMs?: number;
}

export interface SippResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** sipp's log of messages sent and received, for a failing test to show. */
  messages: string;
  errors: string;
}

/** Runs one sipp call as a UAC against 127.0.0.1:port; resolves when sipp exits (0: the call succeeded). */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  const dir = await mkdtemp(join(tmpdir(), 'port545-sipp-'));
  try {
    const transport = options.transport ?? 'udp';
    const local = options.ipv6 ? '::1' : '127.0.0.1';
    const args = [
      options.ipv6 ? `[::1]:${options.port}` : `127.0.0.1:${options.port}`,
      '-sf',
      join(SCENARIOS, options.scenario),
      '-s',
      options.service,
      '-i',
      local,
      '-p',
      String(await freePort()),
      '-mi',
      local,
      '-mp',
      String(await freePort()),
      '-t',
      transport === 'udp' ? 'u1' : 't1',
      '-m',
      '1',
      '-nostdin',
      '-timeout',
      `${options.timeoutS ?? 30}s`,
      '-timeout_error',
      '-trace_msg',
      '-message_file',
      join(dir, 'messages.log'),
      '-trace_err',
      '-error_file',
      join(dir, 'errors.log'),
    ];
    for (const [k, v] of Object.entries(options.keys ?? {})) args.push('-key', k, String(v));
    if (options.pauseMs !== undefined) args.push('-d', String(options.pauseMs));
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(SIPP, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
        });
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
        });
        child.on('error', (error: NodeJS.ErrnoException) =>
          reject(
            error.code === 'ENOENT'
              ? new Error(`sipp not found: install Debian's sip-tester (apt-get install -y sip-tester)`)
              : error,
          ),
        );
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      },
    );
    const read = (name: string) => readFile(join(dir, name), 'utf8').catch(() => '');
    void readdir;
    return { ...result, messages: await read('messages.log'), errors: await read('errors.log') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** RMS (0..1) of the A-law RTP packets a listener collected, and how many there were. */
export function alawRms(packets: Buffer[]): { rms: number; count: number } {
  const samples: Int16Array[] = [];
  for (const p of packets) {
    const rtp = RtpPacket.deSerialize(p);
    if (rtp.header.payloadType === 8) samples.push(decodeG711(rtp.payload, 'alaw'));
  }
  const all = new Int16Array(samples.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of samples) {
    all.set(s, o);
    o += s.length;
  }
  return { rms: pcmRms(all), count: samples.length };
}

/** A UDP socket on loopback standing in for a phone's RTP port: collects what the server sends. */
export class RtpListener {
  readonly socket: Socket;
  readonly packets: Buffer[] = [];
  readonly #host: string;
  port = 0;

  constructor(family: 4 | 6 = 4) {
    this.#host = family === 6 ? '::1' : '127.0.0.1';
    this.socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    this.socket.on('message', (data) => this.packets.push(data));
  }

  async open(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(port, this.#host, () => resolve()));
    this.port = this.socket.address().port;
    return this.port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
