import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { int16View, pcmRms } from '../../src/audio/pcm.js';
import { eventually, freePort } from './server.js';

/** baresip, from Debian's baresip package (scripts/test.sh installs it). */
export const BARESIP = process.env.BARESIP ?? 'baresip';
const MODULES = process.env.BARESIP_MODULES ?? '/usr/lib/baresip/modules';

export type BaresipCodec = 'PCMU' | 'PCMA' | 'opus';

export interface BaresipOptions {
  /** The one codec the phone offers (baresip adds telephone-event/8000 to every offer). */
  codec: BaresipCodec;
  /** The tone the phone's microphone plays (a WAV file through baresip's `aufile` source), in Hz. */
  toneHz?: number;
  /** The caller's display name. */
  name?: string;
}

/** An event baresip reports on its control socket (ctrl_tcp): CALL_ESTABLISHED, CALL_CLOSED, … */
export interface BaresipEvent {
  type: string;
  param?: string;
}

const AUDIO_CODECS: Record<BaresipCodec, { sdp: string; rate: number; channels: number }> = {
  PCMU: { sdp: 'PCMU/8000/1', rate: 8000, channels: 1 },
  PCMA: { sdp: 'PCMA/8000/1', rate: 8000, channels: 1 },
  // aufile does not resample or remix: its file must have the codec's rate and channels.
  opus: { sdp: 'opus/48000/2', rate: 48_000, channels: 2 },
};

/**
 * A headless baresip phone: its own config directory in a temp dir (`-f`), the `aufile` module as its
 * microphone, the `sndfile` filter recording what it hears to WAV, `aubridge` as a sound card that plays
 * nowhere, and `ctrl_tcp` to drive it (dial, DTMF, hang up) and hear its events. Everything it binds and
 * everything it sends is on 127.0.0.1 (`net_interface 127.0.0.1`).
 */
export class Baresip {
  readonly events: BaresipEvent[] = [];
  /** stdout and stderr, for a failing test to show. */
  log = '';
  readonly #dir: string;
  readonly #child: ChildProcess;
  readonly #ctrl: Socket;
  #buffer = Buffer.alloc(0);
  #token = 0;
  readonly #pending = new Map<string, (reply: { ok: boolean; data: string }) => void>();

  private constructor(dir: string, child: ChildProcess, ctrl: Socket) {
    this.#dir = dir;
    this.#child = child;
    this.#ctrl = ctrl;
    ctrl.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  static async start(options: BaresipOptions): Promise<Baresip> {
    const dir = await mkdtemp(join(tmpdir(), 'port545-baresip-'));
    const sipPort = await freePort();
    const ctrlPort = await freePort();
    const codec = AUDIO_CODECS[options.codec];
    const microphone = join(dir, 'microphone.wav');
    await writeFile(microphone, sineWav(codec.rate, codec.channels, 60, options.toneHz ?? 440));
    const config = [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${sipPort}`,
      'net_interface 127.0.0.1',
      'call_max_calls 1',
      `audio_source aufile,${microphone}`,
      'audio_player aubridge,nowhere',
      'audio_alert aubridge,nowhere',
      'jitter_buffer_delay 5-10',
      `module_path ${MODULES}`,
      'module g711.so',
      'module opus.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      `snd_path ${dir}`,
      'module_tmp account.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      '',
    ].join('\n');
    const name = options.name ?? 'Baresip Phone';
    await writeFile(join(dir, 'config'), config);
    await writeFile(
      join(dir, 'accounts'),
      `"${name}" <sip:phone@127.0.0.1>;regint=0;audio_codecs=${codec.sdp}\n`,
    );
    await writeFile(join(dir, 'contacts'), '');
    const child = spawn(BARESIP, ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    let log = '';
    let failed: Error | undefined;
    child.stdout!.on('data', (c: Buffer) => {
      log += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      failed =
        error.code === 'ENOENT'
          ? new Error("baresip not found: install Debian's baresip (apt-get install -y baresip)")
          : error;
    });
    // ctrl_tcp listens once the modules are loaded.
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (failed) throw failed;
      try {
        const ctrl = await new Promise<Socket>((resolve, reject) => {
          const socket = connect(ctrlPort, '127.0.0.1', () => resolve(socket));
          socket.once('error', reject);
        });
        const phone = new Baresip(dir, child, ctrl);
        phone.log = log;
        child.stdout!.on('data', (c: Buffer) => {
          phone.log += c.toString();
        });
        child.stderr!.on('data', (c: Buffer) => {
          phone.log += c.toString();
        });
        return phone;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) {
          child.kill('SIGKILL');
          await rm(dir, { recursive: true, force: true });
          throw new Error(`baresip did not open its control port: ${String(error)}\n${log}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** ctrl_tcp speaks JSON in netstrings ("<length>:<json>,") both ways. */
  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const colon = this.#buffer.indexOf(':');
      if (colon < 0) return;
      const length = Number(this.#buffer.subarray(0, colon).toString());
      if (this.#buffer.length < colon + 1 + length + 1) return;
      const json = this.#buffer.subarray(colon + 1, colon + 1 + length).toString();
      this.#buffer = this.#buffer.subarray(colon + 1 + length + 1);
      const message = JSON.parse(json) as {
        event?: boolean;
        type?: string;
        param?: string;
        response?: boolean;
        ok?: boolean;
        data?: string;
        token?: string;
      };
      if (message.event && message.type) this.events.push({ type: message.type, param: message.param });
      if (message.response && message.token)
        this.#pending.get(message.token)?.({ ok: message.ok === true, data: message.data ?? '' });
    }
  }

  /** Runs a baresip command (the menu's long commands: dial, sndcode, hangup, quit). */
  command(command: string, params = ''): Promise<{ ok: boolean; data: string }> {
    const token = String(++this.#token);
    const json = JSON.stringify({ command, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baresip did not answer "${command}"`)), 15_000);
      this.#pending.set(token, (reply) => {
        clearTimeout(timer);
        this.#pending.delete(token);
        resolve(reply);
      });
      this.#ctrl.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  /** Dials `uri` and waits until the call is established. */
  async call(uri: string): Promise<void> {
    const reply = await this.command('dial', uri);
    if (!reply.ok) throw new Error(`baresip could not dial ${uri}: ${reply.data}\n${this.log}`);
    await this.waitFor(['CALL_ESTABLISHED', 'CALL_CLOSED']);
    const closed = this.events.find((e) => e.type === 'CALL_CLOSED');
    if (closed) throw new Error(`the call to ${uri} failed: ${closed.param}\n${this.log}`);
  }

  /** Waits for the first of `types` that baresip reports. */
  async waitFor(types: string | string[], timeoutMs = 20_000): Promise<BaresipEvent> {
    const wanted = typeof types === 'string' ? [types] : types;
    const found = () => this.events.find((e) => wanted.includes(e.type));
    await eventually(
      `baresip reports ${wanted.join(' or ')} (so far: ${this.events.map((e) => e.type).join(', ') || 'nothing'})`,
      () => found() !== undefined,
      timeoutMs,
    );
    return found()!;
  }

  /** Types keys on the keypad, one at a time: baresip sends each as RFC 4733 telephone-events. */
  async typeDigits(digits: string): Promise<void> {
    for (const digit of digits) {
      await this.command('sndcode', digit);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  async hangUp(): Promise<void> {
    await this.command('hangup');
    await this.waitFor('CALL_CLOSED');
  }

  /** What the phone heard, decoded: the WAV the `sndfile` filter wrote (its "-dec" file). */
  async heard(): Promise<{ rms: number; seconds: number }> {
    const file = (await readdir(this.#dir)).find((f) => f.endsWith('-dec.wav'));
    if (!file) throw new Error(`baresip recorded nothing\n${this.log}`);
    return wavLevel(await readFile(join(this.#dir, file)));
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.#child.exitCode !== null) resolve();
      else this.#child.once('close', () => resolve());
    });
    await this.command('quit').catch(() => undefined);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.#ctrl.destroy();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** RMS (0..1) and length of a 16-bit PCM WAV file, all channels together. */
export function wavLevel(wav: Buffer): { rms: number; seconds: number } {
  let offset = 12;
  let rate = 0;
  let channels = 1;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('latin1', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    if (id === 'fmt ') {
      channels = wav.readUInt16LE(offset + 10);
      rate = wav.readUInt32LE(offset + 12);
    }
    if (id === 'data') {
      // A file still being written may say 0 or too much: take what is there.
      const end = Math.min(wav.length, size > 0 ? offset + 8 + size : wav.length);
      const samples = int16View(wav.subarray(offset + 8, end - ((end - offset - 8) % 2)));
      return { rms: pcmRms(samples), seconds: rate ? samples.length / channels / rate : 0 };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error('not a WAV file with a data chunk');
}

/** A 16-bit WAV file of a sine tone (the same in every channel), for a phone's microphone. */
export function sineWav(sampleRate: number, channels: number, seconds: number, frequency: number): Buffer {
  const frames = Math.round(sampleRate * seconds);
  const count = frames * channels;
  const wav = Buffer.alloc(44 + count * 2);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + count * 2, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(channels, 22);
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2 * channels, 28);
  wav.writeUInt16LE(2 * channels, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(count * 2, 40);
  for (let i = 0; i < count; i++) {
    const t = Math.floor(i / channels) / sampleRate;
    wav.writeInt16LE(Math.round(0.3 * 32767 * Math.sin(2 * Math.PI * frequency * t)), 44 + i * 2);
  }
  return wav;
}
