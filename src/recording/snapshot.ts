import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CodedError } from '../common/errors.js';
import type { PublishedTrack } from '../sfu/index.js';
import { fileExtension, recordedCodec, TrackWriter } from './TrackWriter.js';

/** How long a snapshot waits for the publisher's keyframe. */
const KEYFRAME_WAIT_MS = 5000;
/** A PNG larger than this is not a snapshot of a call's video. */
const MAX_PNG_BYTES = 32 * 1024 * 1024;

/**
 * A still of a published video as it is now (QuickTime Conferencing's PICT snapshot, today a PNG): asks
 * the publisher for a keyframe, writes it and the frames after it to a small temporary file (the
 * recorder's own writer), and has ffmpeg decode the last of them to PNG.
 */
export async function takeSnapshot(
  track: PublishedTrack,
  options: { ffmpeg: string; log: Logger },
): Promise<Buffer> {
  const codec = recordedCodec(track.mimeType);
  if (!codec || track.kind !== 'video')
    throw new CodedError('SNAPSHOT_FAILED', `Cannot decode ${track.mimeType}`);
  const dir = await mkdtemp(join(tmpdir(), 'port545-snapshot-'));
  const path = join(dir, `still.${fileExtension(codec)}`);
  let failure: Error | undefined;
  const writer = new TrackWriter({
    track,
    codec,
    path,
    reserve: (bytes) => {
      if (writer.bytesWritten + bytes > MAX_PNG_BYTES) throw new Error('the keyframe is too large');
    },
    onFailed: (error) => {
      failure = error;
    },
  });
  try {
    // A keyframe and a few frames after it: the picture as it is now, not the keyframe's moment only.
    const deadline = Date.now() + KEYFRAME_WAIT_MS;
    while (writer.framesWritten < 3 && !failure && !writer.closed && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.finish();
    if (writer.framesWritten === 0)
      throw new CodedError(
        'SNAPSHOT_FAILED',
        failure?.message ?? 'No keyframe came from the publisher in time',
      );
    return await decodeLastFrame(options.ffmpeg, path);
  } finally {
    await writer.finish();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The last frame of a short video file as PNG, by ffmpeg. */
function decodeLastFrame(ffmpeg: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      ffmpeg,
      // The frames are few: reversed, the first one out is the newest picture.
      ['-nostdin', '-hide_banner', '-v', 'error', '-i', path, '-vf', 'reverse', '-frames:v', '1'].concat([
        '-f',
        'image2pipe',
        '-c:v',
        'png',
        'pipe:1',
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    let size = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PNG_BYTES) child.kill('SIGKILL');
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-500);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new CodedError(
          'SNAPSHOT_FAILED',
          error.code === 'ENOENT' ? `ffmpeg is not installed (looked for "${ffmpeg}")` : error.message,
        ),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const png = Buffer.concat(out);
      if (code === 0 && png.length > 8) resolve(png);
      else reject(new CodedError('SNAPSHOT_FAILED', `ffmpeg could not decode the picture: ${stderr.trim()}`));
    });
  });
}
