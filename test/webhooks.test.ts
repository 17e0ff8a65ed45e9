/**
 * Webhooks: a scripted meeting reaches a receiver that verifies every signature with the Standard
 * Webhooks library, each event once and in order per room, also after the receiver was down for 10 s and
 * after a server restart while events were waiting.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { Bot } from '../src/bot/Bot.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from './helpers/server.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Delivered {
  id: string;
  type: string;
  data: {
    room: string;
    seq: number;
    participant?: { name: string };
    trackId?: string;
    track?: { id: string };
    recording?: { id: string; startedBy: string; stopReason?: string; movie?: string };
  };
}

/** A webhook receiver on loopback that can be taken down and brought back on the same port. */
class Receiver {
  readonly events: Delivered[] = [];
  /** Deliveries whose webhook-id had been delivered before. */
  repeats = 0;
  refused = 0;
  readonly #verifier = new Webhook(SECRET);
  #server: Server | undefined;
  port = 0;

  async up(): Promise<void> {
    this.#server = createServer((request, response) => void this.#take(request, response));
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async #take(request: IncomingMessage, response: import('node:http').ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of request) body += chunk;
    let event: Delivered;
    try {
      event = {
        id: String(request.headers['webhook-id']),
        ...(this.#verifier.verify(body, request.headers as Record<string, string>) as Omit<Delivered, 'id'>),
      };
    } catch {
      this.refused++;
      response.writeHead(400).end();
      return;
    }
    if (this.events.some((e) => e.id === event.id)) this.repeats++;
    else this.events.push(event);
    response.writeHead(204).end();
  }

  of(room: string): Delivered[] {
    return this.events.filter((e) => e.data.room === room);
  }
}

/** Two people meet in `room`, each publishing audio and video, then leave; the room closes. */
async function meeting(url: string, room: string): Promise<void> {
  const ada = await Bot.start({ url, room, name: 'Ada', hostAddresses: LOOPBACK });
  const grace = await Bot.start({ url, room, name: 'Grace', hostAddresses: LOOPBACK });
  await eventually(`both in ${room} receive each other`, () =>
    [ada, grace].every((b) => [...b.received.values()].some((r) => r.packets > 10)),
  );
  await grace.stop();
  await ada.stop();
}

/** What a room's events must be: numbered 1… without gaps, started first, finished last, every leave
 * after its join and every unpublish after its publish. */
function assertWholeRoom(events: Delivered[], room: string, people: number): void {
  const types = events.map((e) => e.type);
  assert.deepEqual(
    events.map((e) => e.data.seq),
    events.map((_, i) => i + 1),
    `${room}: numbered in order without gaps: ${types.join(', ')}`,
  );
  assert.equal(types[0], 'room_started');
  assert.equal(types.at(-1), 'room_finished');
  assert.equal(types.filter((t) => t === 'participant_joined').length, people);
  assert.equal(types.filter((t) => t === 'participant_left').length, people);
  assert.equal(types.filter((t) => t === 'track_published').length, people * 2);
  assert.equal(types.filter((t) => t === 'track_unpublished').length, people * 2);
  events.forEach((e, i) => {
    if (e.type === 'participant_left')
      assert.ok(
        events
          .slice(0, i)
          .some(
            (j) => j.type === 'participant_joined' && j.data.participant?.name === e.data.participant?.name,
          ),
        `${room}: ${e.data.participant?.name} left after joining`,
      );
    if (e.type === 'track_unpublished')
      assert.ok(
        events.slice(0, i).some((p) => p.type === 'track_published' && p.data.track?.id === e.data.trackId),
        `${room}: track ${e.data.trackId} unpublished after it was published`,
      );
  });
}

describe('webhooks', () => {
  const receiver = new Receiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'port545-webhooks-'));
  let t: TestServer;
  const start = () => startTestServer({ dataDir, webhooks: { url: receiver.url, secret: SECRET } });

  before(async () => {
    await receiver.up();
    t = await start();
  });
  after(async () => {
    await t.close();
    await receiver.down();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends a meeting, signed, each event once and in order', async () => {
    await meeting(t.url, 'standup');
    await eventually('the room has finished at the receiver', () =>
      receiver.of('standup').some((e) => e.type === 'room_finished'),
    );
    assertWholeRoom(receiver.of('standup'), 'standup', 2);
    assert.equal(receiver.refused, 0, 'every signature verified');
  });

  it('says when a recording started, stopped and is ready', async () => {
    const ada = await Bot.start({ url: t.url, room: 'recorded', name: 'Ada', hostAddresses: LOOPBACK });
    try {
      await ada.room.startRecording();
      await sleep(2000);
      await ada.room.stopRecording();
      await eventually(
        'the recording is ready at the receiver',
        () => receiver.of('recorded').some((e) => e.type === 'recording_ready'),
        120_000,
      );
    } finally {
      await ada.stop();
    }
    const recording = receiver.of('recorded').filter((e) => e.type.startsWith('recording_'));
    assert.deepEqual(
      recording.map((e) => e.type),
      ['recording_started', 'recording_stopped', 'recording_ready'],
    );
    const [started, stopped, ready] = recording.map((e) => e.data.recording!);
    assert.match(started!.id, /^RE_/);
    assert.ok(stopped!.id === started!.id && ready!.id === started!.id, 'one recording');
    assert.equal(started!.startedBy, ada.room.participantId);
    assert.equal(stopped!.stopReason, 'stopped');
    assert.equal(ready!.movie, 'ready');
  });

  it('sends what happened while the receiver was down for 10 s, once it is back', async () => {
    await receiver.down();
    await meeting(t.url, 'outage');
    await sleep(10_000);
    assert.equal(receiver.of('outage').length, 0, 'nothing arrived while it was down');
    await receiver.up();
    await eventually(
      'the events of the outage arrive',
      () => receiver.of('outage').some((e) => e.type === 'room_finished'),
      60_000,
    );
    assertWholeRoom(receiver.of('outage'), 'outage', 2);
  });

  it('sends what was waiting when the server restarted, after the restart, and nothing twice', async () => {
    await receiver.down();
    await meeting(t.url, 'restart');
    await t.close();
    t = await start();
    await receiver.up();
    await eventually(
      'the events queued before the restart arrive',
      () => receiver.of('restart').some((e) => e.type === 'room_finished'),
      60_000,
    );
    assertWholeRoom(receiver.of('restart'), 'restart', 2);
    await sleep(2000);
    assert.equal(receiver.repeats, 0, 'no event was delivered twice');
    assert.equal(receiver.refused, 0, 'every signature verified');
    // Each room's events, in the order the receiver got them, are each room's order.
    for (const room of ['standup', 'outage', 'restart']) assertWholeRoom(receiver.of(room), room, 2);
  });
});
