import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FFMPEG = process.env.FFMPEG ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE ?? 'ffprobe';

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

/**
 * Runs ffmpeg or ffprobe (`FFMPEG`, `FFPROBE` or the PATH's) with `args` and returns what it printed;
 * rejects on spawn failure or non-zero exit.
 */
export function runMediaTool(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
): Promise<{ stdout: Buffer; stderr: string }> {
  const command = tool === 'ffmpeg' ? FFMPEG : FFPROBE;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(`${command} not found (install ffmpeg, or set FFMPEG and FFPROBE)`)
          : new Error(`cannot run ${command}: ${error.message}`),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout: Buffer.concat(stdout), stderr: stderr.trim() });
      else
        reject(
          new Error(`${command} exited with ${signal ?? `code ${code}`}: ${stderr.trim() || '(no output)'}`),
        );
    });
  });
}

/** What ffprobe reads of a media file: its first stream's codec and the span of its packets, in seconds. */
export async function mediaSpan(
  file: string,
): Promise<{ codec: string; first: number; end: number; seconds: number }> {
  const probe = async (entries: string) =>
    (await runMediaTool('ffprobe', ['-v', 'error', '-show_entries', entries, '-of', 'csv=p=0', file])).stdout
      .toString()
      .trim();
  const codec = (await probe('stream=codec_name')).split('\n')[0] ?? '';
  let first = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const line of (await probe('packet=pts_time,duration_time')).split('\n')) {
    const [pts, duration] = line.split(',').map(Number);
    if (!Number.isFinite(pts)) continue;
    first = Math.min(first, pts!);
    end = Math.max(end, pts! + (Number.isFinite(duration) ? duration! : 0));
  }
  if (!Number.isFinite(first)) first = 0;
  return { codec, first, end, seconds: end - first };
}

/** What ffmpeg says when it decodes every frame of `file` ('' when every frame decodes). */
export async function decodeErrors(file: string): Promise<string> {
  return (await runMediaTool('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'])).stderr;
}
