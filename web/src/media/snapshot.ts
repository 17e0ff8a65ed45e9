import { saveBlob } from '../util/saveBlob.ts';

/**
 * Saves the frame `video` shows now as a PNG download named `fileName`: at the picture's own size
 * (videoWidth × videoHeight, not the tile's), as it is sent, unmirrored. Throws with what to tell the
 * person when there is no picture yet.
 */
export async function saveSnapshot(video: HTMLVideoElement, fileName: string): Promise<void> {
  const { videoWidth: width, videoHeight: height } = video;
  if (!width || !height) throw new Error('there is no picture yet');
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('this browser cannot draw it');
  context.drawImage(video, 0, 0, width, height);
  const png = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!png) throw new Error('this browser could not make the picture');
  saveBlob(png, fileName);
}

/** `<name>-snapshot.png`, without the characters file systems refuse. */
export function snapshotFileName(name: string, screen = false): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is taken out
  const safe = name.replace(/[\u0000-\u001f\\/:*?"<>|]+/g, '_').trim() || 'port545';
  return `${safe}${screen ? '-screen' : ''}-snapshot.png`;
}
