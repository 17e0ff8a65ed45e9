import WebSocket from 'ws';

/** A raw WebSocket client that records every message, for tests of the protocol's edge. */
export class RawClient {
  readonly ws: WebSocket;
  readonly messages: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      try {
        this.messages.push(JSON.parse(String(data)) as Record<string, unknown>);
      } catch {
        this.messages.push({ type: '(not json)' });
      }
      this.#wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.#wake();
    });
  }

  /** `options`: e.g. `{ localAddress: '127.0.0.2' }` to come from another loopback address. */
  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, options);
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('error', reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** Waits for the next message (after those already seen) matching `predicate`. */
  async next(
    predicate: (m: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const start = this.messages.length;
    const deadline = Date.now() + timeoutMs;
    let index = start;
    for (;;) {
      for (; index < this.messages.length; index++)
        if (predicate(this.messages[index]!)) return this.messages[index]!;
      if (this.closeCode !== undefined)
        throw new Error(`connection closed (${this.closeCode}) before the message came`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(start))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a message and waits for the `error` reply to it. */
  async expectError(message: unknown): Promise<{ code: string; message: string }> {
    const before = this.messages.length;
    this.send(message);
    const reply = await this.next((m, i = this.messages.indexOf(m)) => i >= before && m.type === 'error');
    return reply as unknown as { code: string; message: string };
  }

  waitClose(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection did not close')), timeoutMs);
      this.ws.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Closes the socket; 1000 or 1001 count as leaving, anything else as a dropped connection. */
  close(code?: number): void {
    this.ws.close(code);
  }
}
