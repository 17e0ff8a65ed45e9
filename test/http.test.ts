import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { resolveWorkers } from '../src/config/config.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { VERSION } from '../src/version.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('HTTP endpoints', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('/.well-known/port545 says what is listening', async () => {
    const res = await t.server.app.inject({ method: 'GET', url: '/.well-known/port545' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      service: 'port545',
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      auth: 'open',
      tls: false,
    });
  });

  it('/healthz reports rooms and participants', async () => {
    const res = await t.server.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    // As `port545 serve` runs by default: with room workers (one per core), health counts them too.
    const workers = resolveWorkers(t.server.config);
    assert.deepEqual(res.json(), {
      status: 'ok',
      rooms: 0,
      participants: 0,
      ...(workers > 0 ? { workers } : {}),
    });
  });

  it('every response, errors included, carries the Server header', async () => {
    for (const url of ['/healthz', '/.well-known/port545', '/no/such/page', '/r/some-room']) {
      const res = await t.server.app.inject({ method: 'GET', url });
      assert.equal(res.headers.server, `port545/${VERSION}`, url);
    }
    const missing = await t.server.app.inject({ method: 'GET', url: '/no/such/page' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'NOT_FOUND');
  });

  it('a WebSocket upgrade anywhere but /ws is refused', async () => {
    // A real WebSocket client: it reports either the server's answer to the upgrade or an open socket.
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}/elsewhere`);
      ws.on('open', () => {
        ws.close();
        resolve('upgraded');
      });
      ws.on('unexpected-response', (_request, response) => {
        resolve(`${response.statusCode} ${response.headers.server}`);
        response.destroy();
      });
      ws.on('error', (error) => resolve(`error: ${error.message}`));
    });
    assert.equal(outcome, `404 port545/${VERSION}`);
  });
});
