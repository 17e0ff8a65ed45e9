import { ServerError, type SharedFile } from '../sdk.ts';
import { messageOf } from './failures.ts';

/**
 * The types the server serves as themselves (everything else comes as application/octet-stream), and
 * the only ones the chat shows inline: an image element cannot run anything.
 */
const PREVIEWED = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/**
 * The largest image the chat previews by itself. Everyone who has the chat open fetches a preview as
 * soon as it is shown; a bigger picture waits until the person asks for it with Download.
 */
export const PREVIEW_MAX_BYTES = 8 * 1024 ** 2;

/** The file is a small enough picture to show in the chat. */
export function previewable(file: SharedFile): boolean {
  return PREVIEWED.has(file.type) && file.size <= PREVIEW_MAX_BYTES;
}

const UNITS = ['KB', 'MB', 'GB', 'TB'];

/** 512 B, 1.5 KB, 64 KB, 100 MB: one decimal below ten, none above; powers of 1024, as the limits are set. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value < 10 ? (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, '') : Math.round(value);
  return `${shown} ${UNITS[unit]}`;
}

/**
 * Why a file was not sent or received, in words a person can act on. `error` is the server's refusal
 * (a `ServerError` with the code of docs/protocol.md) or what the browser said; `toName` is the one
 * person a file was for.
 */
export function fileProblem(error: unknown, name: string, sending: boolean, toName?: string): string {
  if (error instanceof ServerError) {
    const said = messageOf(error);
    switch (error.code) {
      case 'FILE_TOO_LARGE': {
        // The server says how many bytes it takes ("… of at most 104857600").
        const limit = /at most (\d+)/.exec(said)?.[1];
        return limit
          ? `${name} is too large for this server (at most ${humanSize(Number(limit))}).`
          : `${name} is too large for this server.`;
      }
      case 'ROOM_FILES_FULL':
        return `The room has no room for more files: ${name} was not sent. Files go when the call ends.`;
      case 'FILES_DISABLED':
        return 'Sending files is turned off on this server.';
      case 'PARTICIPANT_NOT_FOUND':
        return `${name} was not sent: ${toName ?? 'that person'} has left the call.`;
      case 'INVALID_FILE_NAME':
        return `${name} was not sent: the server takes names of 1 to 255 characters, without slashes.`;
      case 'UPLOAD_INCOMPLETE':
        return `${name} did not arrive whole. Try sending it again.`;
      case 'NOT_A_MEMBER':
        return `${name} was not ${sending ? 'sent' : 'received'}: the server did not find you in the call. Try again.`;
      case 'FILE_NOT_FOUND':
        return `${name} is no longer on the server.`;
      default:
        return `${name} was not ${sending ? 'sent' : 'received'}: ${said}`;
    }
  }
  return `${name} was not ${sending ? 'sent' : 'received'}: ${messageOf(error)}.`;
}

/** Stopped by the person (Cancel), not failed: nothing to tell them. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** A refusal's JSON (`{ error: { code, message } }`) as a `ServerError`; anything else by its status. */
function refusal(status: number, statusText: string, text: string): ServerError {
  let body: { error?: { code?: string; message?: string } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return new ServerError(
    body?.error?.code ?? `HTTP_${status}`,
    body?.error?.message ?? (statusText || `the server answered ${status}`),
  );
}

export interface Sending {
  /** The file as the server took it (everyone it is for hears `file` too). */
  done: Promise<SharedFile>;
  abort(): void;
}

/**
 * POSTs `data` to `url` (`…/files?name=…[&to=…]`) with the file token. XMLHttpRequest rather than
 * fetch: only it reports how much of the body has gone (`upload.onprogress`). A refusal rejects with a
 * `ServerError`, a Cancel with an AbortError.
 */
export function sendBytes(
  url: string,
  token: string,
  data: Blob,
  onProgress: (sent: number) => void,
): Sending {
  const xhr = new XMLHttpRequest();
  const done = new Promise<SharedFile>((resolve, reject) => {
    xhr.open('POST', url);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status >= 300)
        return reject(refusal(xhr.status, xhr.statusText, xhr.responseText));
      try {
        resolve(JSON.parse(xhr.responseText) as SharedFile);
      } catch {
        reject(new Error('the server gave an answer that is not a file'));
      }
    };
    // A refusal sent before the body was read (FILE_TOO_LARGE) arrives as a response when the browser
    // reads it, but a connection that broke off gives nothing to read.
    xhr.onerror = () => reject(new Error('the connection to the server broke off'));
    xhr.onabort = () => reject(new DOMException('Sending stopped', 'AbortError'));
    xhr.send(data);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * GETs a file with the file token, reading the body chunk by chunk to report how much has come
 * (`onProgress(received, total)`). The whole file is kept in memory: the browser saves a Blob, and the
 * server's files are a size a tab holds (config `files.maxBytes`).
 */
export async function receiveBytes(
  url: string,
  token: string,
  expected: number,
  signal: AbortSignal,
  onProgress?: (received: number, total: number) => void,
): Promise<Blob> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    cache: 'no-store',
    signal,
  });
  if (!response.ok) throw refusal(response.status, response.statusText, await response.text());
  const type = response.headers.get('content-type') ?? 'application/octet-stream';
  if (!response.body || !onProgress) return new Blob([await response.arrayBuffer()], { type });
  const total = Number(response.headers.get('content-length')) || expected;
  const reader = response.body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.byteLength;
    onProgress(received, total);
  }
  return new Blob(chunks, { type });
}
