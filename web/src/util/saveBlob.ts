/** How long a blob URL outlives the click that downloads it (the download has begun by then). */
const REVOKE_AFTER_MS = 5000;

/** Hands `blob` to the browser as a download named `fileName` (its usual "save" flow, no page opened). */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}
