import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FFMPEG = process.env.FFMPEG ?? 'ffmpeg';

interface FfmpegResult {
  stdout: Buffer;
  stderr: string;
}

/** Runs ffmpeg on `input` written to a temp file named `name`; rejects on spawn failure or non-zero exit. */
async function runFfmpeg(
  input: Buffer,
  name: string,
  args: (file: string) => string[],
): Promise<FfmpegResult> {
  const dir = await mkdtemp(join(tmpdir(), 'port545-ffmpeg-'));
  try {
    const file = join(dir, name);
    await writeFile(file, input);
    return await new Promise<FfmpegResult>((resolve, reject) => {
      const child = spawn(FFMPEG, ['-nostdin', '-hide_banner', '-v', 'error', ...args(file)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new Error(`ffmpeg not found (looked for "${FFMPEG}"; install ffmpeg or set FFMPEG)`)
            : new Error(`cannot run ffmpeg: ${error.message}`),
        );
      });
      child.on('close', (code, signal) => {
        const errText = Buffer.concat(stderr).toString('utf8').trim();
        if (code !== 0) {
          reject(new Error(`ffmpeg exited with ${signal ?? `code ${code}`}: ${errText || '(no output)'}`));
        } else resolve({ stdout: Buffer.concat(stdout), stderr: errText });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Decodes an IVF file with ffmpeg and returns the number of decoded frames; rejects on any decode error. */
export async function countDecodedVp8Frames(ivf: Buffer): Promise<number> {
  const { stdout, stderr } = await runFfmpeg(ivf, 'video.ivf', (file) => [
    '-xerror',
    '-i',
    file,
    '-f',
    'framemd5',
    '-',
  ]);
  if (stderr) throw new Error(`ffmpeg reported decode errors: ${stderr}`);
  let frames = 0;
  for (const line of stdout.toString('latin1').split('\n')) {
    if (line && !line.startsWith('#')) frames++;
  }
  return frames;
}

/** Decodes an Ogg Opus file with ffmpeg to mono 16-bit PCM and returns its RMS level, 0 (silence) to 1. */
export async function opusRms(ogg: Buffer): Promise<number> {
  const { stdout, stderr } = await runFfmpeg(ogg, 'audio.opus', (file) => [
    '-xerror',
    '-i',
    file,
    '-ac',
    '1',
    '-f',
    's16le',
    '-',
  ]);
  if (stderr) throw new Error(`ffmpeg reported decode errors: ${stderr}`);
  const samples = Math.floor(stdout.length / 2);
  if (samples === 0) throw new Error('ffmpeg decoded no audio samples');
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    const s = stdout.readInt16LE(i * 2) / 32768;
    sum += s * s;
  }
  return Math.sqrt(sum / samples);
}

/** The RGB of every pixel of a PNG (a screenshot), decoded by ffmpeg, row by row. */
export async function pngPixels(png: Buffer): Promise<Buffer> {
  const { stdout } = await runFfmpeg(png, 'shot.png', (file) => [
    '-i',
    file,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]);
  return stdout;
}
