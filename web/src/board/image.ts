/** The most bytes a picture on the board may take (a board update message carries at most 150 KiB). */
export const MAX_IMAGE_BYTES = 100 * 1024;
/** The longest side a picture is kept at, in pixels. */
const MAX_SIDE = 1600;

export interface FittedImage {
  /** A data: URL (WebP, or JPEG where the browser makes no WebP). */
  src: string;
  width: number;
  height: number;
}

/** Bytes of the data a base64 data: URL holds. */
export function dataUrlBytes(url: string): number {
  const comma = url.indexOf(',');
  return Math.floor(((url.length - comma - 1) * 3) / 4);
}

/**
 * `file` (a picture pasted, dropped or picked) re-encoded to fit the board: at most MAX_SIDE pixels a
 * side, WebP or JPEG, within MAX_IMAGE_BYTES (smaller and plainer until it fits).
 */
export async function fitImage(file: Blob): Promise<FittedImage> {
  const bitmap = await createImageBitmap(file);
  try {
    let scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    for (let attempt = 0; attempt < 12; attempt++) {
      const width = Math.max(1, Math.round(bitmap.width * scale));
      const height = Math.max(1, Math.round(bitmap.height * scale));
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      if (!ctx) throw new Error('this browser cannot draw the picture');
      // Transparent parts on white, as JPEG has no transparency.
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, width, height);
      ctx.drawImage(bitmap, 0, 0, width, height);
      for (const quality of [0.85, 0.7, 0.5]) {
        let src = canvas.toDataURL('image/webp', quality);
        if (!src.startsWith('data:image/webp')) src = canvas.toDataURL('image/jpeg', quality);
        if (dataUrlBytes(src) <= MAX_IMAGE_BYTES) return { src, width, height };
      }
      scale *= 0.7;
    }
    throw new Error('the picture does not get small enough');
  } finally {
    bitmap.close();
  }
}
