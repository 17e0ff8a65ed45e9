import { randomBytes } from 'node:crypto';
import { request } from 'node:http';

/** A raw upload: sends the headers and `sent` bytes of a body said to be `length` long, then waits. */
export function startUpload(
  url: string,
  token: string,
  length: number,
  sent: number,
): Promise<{ status: number; body: string; bytesSentBeforeReply: number; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-length': String(length) },
    });
    let written = 0;
    req.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body,
          bytesSentBeforeReply: written,
          destroy: () => req.destroy(),
        }),
      );
    });
    req.on('error', reject);
    // The headers go now, whatever follows: the server answers from them.
    req.flushHeaders();
    const chunk = randomBytes(Math.min(sent, 64 * 1024));
    while (written < sent) {
      req.write(chunk.subarray(0, Math.min(chunk.length, sent - written)));
      written += Math.min(chunk.length, sent - written);
    }
  });
}
