import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PulseAudio sound server of the test's own (Debian's `pulseaudio`), with one null sink per name: a
 * browser started with `env(sink)` plays into that sink, and `level(sink)` records its monitor (what
 * a loudspeaker there would play) with `parec`. Nothing reaches the machine's own sound.
 */
export interface PulseServer {
  /** Environment for a process whose sound goes to `sink`. */
  env(sink: string): Record<string, string>;
  /**
   * The RMS level (0…1) of what plays into `sink` over `ms`, from now: the first SETTLE_MS recorded are
   * dropped, since the monitor hands over what it had buffered before (more of it on a busy machine).
   */
  level(sink: string, ms: number): Promise<number>;
  close(): Promise<void>;
}

/** Recorded, then dropped, before a level is measured. */
const SETTLE_MS = 1000;

export async function startPulse(sinks: string[]): Promise<PulseServer> {
  const dir = await mkdtemp(join(tmpdir(), 'port545-pulse-'));
  const socket = join(dir, 'native');
  const config = [
    ...sinks.map((s) => `load-module module-null-sink sink_name=${s} rate=48000 channels=1`),
    `load-module module-native-protocol-unix auth-anonymous=1 socket=${socket}`,
  ].join('\n');
  await writeFile(join(dir, 'default.pa'), `${config}\n`);
  const daemon: ChildProcess = spawn(
    'pulseaudio',
    ['-n', '-F', join(dir, 'default.pa'), '--daemonize=no', '--exit-idle-time=-1', '--disallow-exit'],
    // Its own runtime and state directories, so it shares nothing with a sound server already running.
    { env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir, PULSE_RUNTIME_PATH: dir }, stdio: 'ignore' },
  );
  const server = `unix:${socket}`;
  const ready = async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const check = spawn('pactl', ['list', 'short', 'sinks'], {
          env: { ...process.env, PULSE_SERVER: server },
        });
        check.on('exit', (code) => resolve(code === 0));
        check.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('pulseaudio did not start (is the pulseaudio package installed?)');
  };
  try {
    await ready();
  } catch (error) {
    daemon.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    env: (sink) => {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      return { ...env, PULSE_SERVER: server, PULSE_SINK: sink };
    },
    level: (sink, ms) =>
      new Promise((resolve, reject) => {
        const rec = spawn(
          'parec',
          ['-d', `${sink}.monitor`, '--raw', '--format=s16le', '--rate=48000', '--channels=1'],
          { env: { ...process.env, PULSE_SERVER: server } },
        );
        const chunks: Buffer[] = [];
        rec.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
        rec.on('error', reject);
        setTimeout(() => rec.kill('SIGTERM'), SETTLE_MS + ms);
        rec.on('exit', () => {
          const pcm = Buffer.concat(chunks).subarray(Math.round((SETTLE_MS / 1000) * 48_000) * 2);
          let sum = 0;
          const n = Math.floor(pcm.length / 2);
          for (let i = 0; i < n; i++) sum += pcm.readInt16LE(i * 2) ** 2;
          resolve(n === 0 ? 0 : Math.sqrt(sum / n) / 32768);
        });
      }),
    close: async () => {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));
      daemon.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
