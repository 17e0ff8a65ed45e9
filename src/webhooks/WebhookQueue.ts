import { createHmac, randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RoomActivity } from '../host/RoomHost.js';

/** How long one delivery may take before it counts as failed. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** Retries wait 1 s, 2 s, 4 s, … up to this. */
const MAX_BACKOFF_MS = 60_000;
/** The journal is rewritten with what is still pending once it holds this many delivered events. */
const COMPACT_AFTER = 1000;

export interface WebhookOptions {
  url: string;
  /** `whsec_` and base64 (Standard Webhooks). */
  secret: string;
  dataDir: string;
  maxQueued: number;
  retryForMs: number;
  log: Logger;
}

/** One event as kept and sent: the activity with its room's sequence number. */
interface Queued {
  id: string;
  /** When it happened, ms since the epoch. */
  at: number;
  seq: number;
  activity: RoomActivity;
}

/** A line of the journal: an event, a delivery (or a drop) of one, or the counters a rewrite keeps. */
type JournalLine = { event: Queued } | { done: string } | { seqs: Record<string, number> };

/**
 * The webhook sender: each room's activity, numbered per room (`seq` 1, 2, … from `room_started` to
 * `room_finished`), POSTed to one URL in the order it happened, one at a time, signed as Standard Webhooks
 * specify (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256). An event is retried with
 * a growing delay until the receiver answers 2xx, for `retryForMs` at most. Every event is written to a
 * journal in `dataDir` before it is sent and marked when delivered, so what a restart interrupts is sent
 * after it, and nothing twice unless the receiver took it without answering (its `webhook-id` is the same
 * each time: receivers drop repeats by it).
 */
export class WebhookQueue {
  readonly #options: WebhookOptions;
  readonly #key: Buffer;
  readonly #path: string;
  readonly #pending: Queued[] = [];
  /** The last sequence number of each room that has not finished. */
  readonly #seqs = new Map<string, number>();
  #doneSinceCompact = 0;
  #attempts = 0;
  #sending: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #closed = false;
  /** Delivered and dropped events, for tests and metrics. */
  delivered = 0;
  dropped = 0;

  constructor(options: WebhookOptions) {
    this.#options = options;
    this.#key = Buffer.from(options.secret.slice('whsec_'.length), 'base64');
    mkdirSync(options.dataDir, { recursive: true });
    this.#path = join(options.dataDir, 'webhooks.jsonl');
    this.#load();
    this.#compact();
    this.#kick();
  }

  /** Events waiting to be delivered. */
  get pending(): number {
    return this.#pending.length;
  }

  push(activity: RoomActivity): void {
    if (this.#closed) return;
    const seq = (this.#seqs.get(activity.room) ?? 0) + 1;
    // A room's numbers start again when it starts again.
    if (activity.type === 'room_finished') this.#seqs.delete(activity.room);
    else this.#seqs.set(activity.room, seq);
    const event: Queued = { id: `msg_${randomUUID()}`, at: Date.now(), seq, activity };
    this.#write({ event });
    this.#pending.push(event);
    while (this.#pending.length > this.#options.maxQueued) {
      const oldest = this.#pending.shift()!;
      this.#drop(oldest, `more than ${this.#options.maxQueued} events waiting`);
    }
    this.#kick();
  }

  /** Stops sending; what is pending stays in the journal for the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#abort?.abort();
    await this.#sending;
  }

  #kick(): void {
    if (this.#closed || this.#sending || this.#retry || this.#pending.length === 0) return;
    this.#sending = this.#sendHead().finally(() => {
      this.#sending = undefined;
      this.#kick();
    });
  }

  async #sendHead(): Promise<void> {
    const event = this.#pending[0]!;
    if (Date.now() - event.at > this.#options.retryForMs) {
      this.#pending.shift();
      this.#drop(event, `not delivered in ${this.#options.retryForMs} ms`);
      this.#attempts = 0;
      return;
    }
    let failure: string | undefined;
    try {
      const status = await this.#post(event);
      if (status >= 200 && status < 300) {
        if (this.#pending[0] === event) this.#pending.shift();
        this.#write({ done: event.id });
        this.delivered++;
        this.#attempts = 0;
        if (++this.#doneSinceCompact >= COMPACT_AFTER) this.#compact();
        return;
      }
      failure = `HTTP ${status}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    if (this.#closed) return;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.#attempts);
    this.#attempts++;
    this.#options.log.warn(
      { webhook: event.id, type: event.activity.type, attempt: this.#attempts, retryInMs: delay, failure },
      'webhook not delivered; will retry',
    );
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#kick();
    }, delay);
  }

  /** POSTs one event, signed; resolves with the receiver's status. */
  async #post(event: Queued): Promise<number> {
    const body = JSON.stringify({
      type: event.activity.type,
      timestamp: new Date(event.at).toISOString(),
      data: { ...event.activity, seq: event.seq },
    });
    // The signature's timestamp is the attempt's: receivers refuse old ones (replays).
    const timestamp = Math.floor(Date.now() / 1000).toString();
    const signature = createHmac('sha256', this.#key)
      .update(`${event.id}.${timestamp}.${body}`)
      .digest('base64');
    this.#abort = new AbortController();
    const response = await fetch(this.#options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': event.id,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(DELIVERY_TIMEOUT_MS)]),
    });
    await response.body?.cancel();
    return response.status;
  }

  #drop(event: Queued, why: string): void {
    this.#write({ done: event.id });
    this.dropped++;
    this.#options.log.error(
      { webhook: event.id, type: event.activity.type, room: event.activity.room, why },
      'webhook dropped',
    );
  }

  #write(line: JournalLine): void {
    try {
      appendFileSync(this.#path, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    } catch (error) {
      this.#options.log.error({ err: error }, 'webhook journal not written');
    }
  }

  /** Reads the journal a previous run left: its pending events, in order, and the rooms' counters. */
  #load(): void {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch {
      return;
    }
    const events = new Map<string, Queued>();
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let line: JournalLine;
      try {
        line = JSON.parse(raw) as JournalLine;
      } catch {
        // A line cut short by a crash in the middle of a write.
        continue;
      }
      if ('seqs' in line) for (const [room, seq] of Object.entries(line.seqs)) this.#seqs.set(room, seq);
      else if ('done' in line) events.delete(line.done);
      else if ('event' in line) {
        events.set(line.event.id, line.event);
        const { room, type } = line.event.activity;
        if (type === 'room_finished') this.#seqs.delete(room);
        else this.#seqs.set(room, line.event.seq);
      }
    }
    this.#pending.push(...events.values());
    if (this.#pending.length > 0)
      this.#options.log.info(
        { pending: this.#pending.length },
        'webhooks left from the last run will be sent',
      );
  }

  /** Rewrites the journal as what is still pending and the counters of the rooms that have not finished. */
  #compact(): void {
    this.#doneSinceCompact = 0;
    const lines: JournalLine[] = [
      { seqs: Object.fromEntries(this.#seqs) },
      ...this.#pending.map((event) => ({ event })),
    ];
    const temporary = `${this.#path}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { mode: 0o600 });
      renameSync(temporary, this.#path);
    } catch (error) {
      this.#options.log.error({ err: error }, 'webhook journal not rewritten');
    }
  }
}
